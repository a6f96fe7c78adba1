//! etcd's YAML config file (etcd.conf.yml) read into entries.

use yaml_rust2::{Yaml, YamlLoader};

use super::{section_key, Entry, Raw, SECTIONS};

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn raw(value: &Yaml) -> Raw {
    match value {
        Yaml::Null => Raw::Absent,
        Yaml::String(s) => Raw::Text(s.clone()),
        Yaml::Integer(i) => Raw::Int(*i),
        Yaml::Boolean(b) => Raw::Bool(*b),
        Yaml::Real(_) => Raw::Unsupported("a float"),
        Yaml::Array(items) => items
            .iter()
            .map(scalar_text)
            .collect::<Option<Vec<_>>>()
            .map_or(
                Raw::Unsupported("a list holding lists or mappings"),
                Raw::List,
            ),
        Yaml::Hash(_) => Raw::Unsupported("a mapping"),
        Yaml::Alias(_) | Yaml::BadValue => Raw::Unsupported("an alias"),
    }
}

fn key_text(key: &Yaml) -> Result<String, String> {
    scalar_text(key).ok_or_else(|| format!("keys must be plain words, found {key:?}"))
}

/// The file's keys in order; a TLS section's keys become their flag names.
pub(super) fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let top = match docs.as_slice() {
        [] | [Yaml::Null] => return Ok(Vec::new()),
        [Yaml::Hash(top)] => top,
        [_] => return Err("the file must be a mapping of flag names to values".into()),
        _ => return Err("the file must hold one YAML document".into()),
    };
    let mut out = Vec::with_capacity(top.len());
    for (key, value) in top {
        let key = key_text(key)?;
        match value {
            Yaml::Hash(section) if SECTIONS.iter().any(|(name, _)| *name == key) => {
                for (inner, value) in section {
                    let inner = key_text(inner)?;
                    out.push(Entry {
                        key: section_key(&key, &inner).unwrap_or_else(|| format!("{key}.{inner}")),
                        value: raw(value),
                    });
                }
            }
            // An empty section (every key commented out) sets nothing.
            Yaml::Null if SECTIONS.iter().any(|(name, _)| *name == key) => {}
            _ => out.push(Entry {
                key,
                value: raw(value),
            }),
        }
    }
    Ok(out)
}
