//! The TOML config file: a flat table whose keys are flag names without the
//! leading dashes (`name = "m1"`, `heartbeat-interval = 100`,
//! `listen-client-urls = ["http://127.0.0.1:2379"]`). Values mean exactly
//! what they mean on the command line.

use std::path::Path;

use toml::Value;

use super::error::ConfigError;
use super::settings::{Settings, Source};
use super::table::{self, FlagSpec};

/// Turns one TOML value into the string the command line would carry.
/// Arrays become comma-separated lists.
fn flatten(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Array(_) | Value::Table(_) => None,
                other => flatten(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        Value::Float(_) | Value::Datetime(_) | Value::Table(_) => None,
    }
}

/// Parses config file text into (flag, value) pairs, in file order.
pub fn parse(text: &str, path: &str) -> Result<Vec<(&'static FlagSpec, String)>, ConfigError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| ConfigError::File {
        path: path.to_string(),
        reason: e.to_string().trim_end().to_string(),
    })?;
    let mut out = Vec::with_capacity(doc.len());
    for (key, value) in &doc {
        let spec = table::spec(key)
            .filter(|s| s.settable_outside_command_line())
            .ok_or_else(|| ConfigError::UnknownFileKey {
                path: path.to_string(),
                key: key.clone(),
            })?;
        let flat = flatten(value).ok_or_else(|| ConfigError::File {
            path: path.to_string(),
            reason: format!("key {key:?} must be a string, integer, boolean or array of those"),
        })?;
        out.push((spec, flat));
    }
    Ok(out)
}

/// Reads the file at `path` and records its values in `settings`.
pub fn apply(settings: &mut Settings, path: &Path) -> Result<(), ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    for (spec, value) in parse(&text, &shown)? {
        settings.set(spec, value, Source::File(shown.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Result<Vec<(&'static str, String)>, ConfigError> {
        parse(text, "c.toml").map(|v| v.into_iter().map(|(s, val)| (s.name, val)).collect())
    }

    #[test]
    fn values_of_every_shape() {
        let got = pairs(
            r#"
name = "m1"
heartbeat-interval = 100
pre-vote = true
listen-client-urls = ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]
log-format = "json"
"#,
        );
        let mut got = got.unwrap_or_default();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("heartbeat-interval", "100".to_string()),
                (
                    "listen-client-urls",
                    "http://127.0.0.1:2379,http://127.0.0.1:22379".to_string()
                ),
                ("log-format", "json".to_string()),
                ("name", "m1".to_string()),
                ("pre-vote", "true".to_string()),
            ]
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = pairs("name = \"a\"\nbogus-key = 1\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("oxcd: unknown key \"bogus-key\" in config file c.toml")
        );
    }

    #[test]
    fn loader_keys_are_not_allowed() {
        assert!(matches!(
            pairs("config-file = \"x\""),
            Err(ConfigError::UnknownFileKey { .. })
        ));
        assert!(matches!(
            pairs("version = true"),
            Err(ConfigError::UnknownFileKey { .. })
        ));
    }

    #[test]
    fn bad_values_and_syntax() {
        let err = pairs("[member]\nname = \"a\"\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("oxcd: unknown key \"member\" in config file c.toml")
        );
        let err = pairs("max-wals = 1.5")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"max-wals\" must be a string"), "{err}");
        let err = pairs("name = ")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("oxcd: cannot load config file c.toml: "),
            "{err}"
        );
    }

    #[test]
    fn missing_file() {
        let mut s = Settings::default();
        let err = apply(&mut s, Path::new("/nonexistent/oxcd.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("oxcd: cannot load config file /nonexistent/oxcd.toml: "),
            "{err}"
        );
    }
}
