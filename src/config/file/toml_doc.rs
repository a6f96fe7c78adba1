//! oxcd's TOML config file read into entries.

use toml::Value;

use super::{section_key, Entry, Raw, PROVIDERS_TABLE, SECTIONS};

fn raw(value: &Value) -> Raw {
    match value {
        Value::String(s) => Raw::Text(s.clone()),
        Value::Integer(i) => Raw::Int(*i),
        Value::Boolean(b) => Raw::Bool(*b),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some(s.clone()),
                Value::Integer(i) => Some(i.to_string()),
                Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map_or(
                Raw::Unsupported("a list holding lists, tables or floats"),
                Raw::List,
            ),
        Value::Float(_) => Raw::Unsupported("a float"),
        Value::Datetime(_) => Raw::Unsupported("a date"),
        Value::Table(_) => Raw::Unsupported("a table"),
    }
}

/// The file's keys in order; a TLS section's keys become their flag names.
pub(super) fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    let mut out = Vec::with_capacity(doc.len());
    for (key, value) in &doc {
        match value {
            // Auth providers' own settings, read by `provider_table`.
            Value::Table(_) if key == PROVIDERS_TABLE => {}
            Value::Table(section) if SECTIONS.iter().any(|(name, _)| name == key) => {
                for (inner, value) in section {
                    out.push(Entry {
                        key: section_key(key, inner).unwrap_or_else(|| format!("{key}.{inner}")),
                        value: raw(value),
                    });
                }
            }
            _ => out.push(Entry {
                key: key.clone(),
                value: raw(value),
            }),
        }
    }
    Ok(out)
}

/// The `[auth-providers.NAME]` table, as TOML text ("" when absent).
pub(super) fn provider_table(text: &str, name: &str) -> Result<String, String> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    match doc.get(PROVIDERS_TABLE).and_then(|t| t.get(name)) {
        None => Ok(String::new()),
        Some(Value::Table(table)) => toml::to_string(table).map_err(|e| e.to_string()),
        Some(_) => Err(format!("{PROVIDERS_TABLE}.{name} must be a table")),
    }
}
