//! The `--config-file`: oxcd's TOML or etcd's YAML (etcd.conf.yml). Keys are
//! flag names without the leading dashes (`name`, `heartbeat-interval`,
//! `listen-client-urls`); values mean exactly what they mean on the command
//! line. etcd's YAML also nests the TLS flags under `client-transport-security`
//! and `peer-transport-security`; both formats accept those sections.
//!
//! The format comes from the extension (`.toml`, `.yml`, `.yaml`); any other
//! name is read as TOML and, if that fails, as YAML.

mod toml_doc;
mod yaml_doc;

use std::path::Path;

use super::error::ConfigError;
use super::settings::{Settings, Source};
use super::table::{self, FlagSpec, Kind};
use super::types::ProviderSettings;

/// A value as the file wrote it, before it becomes command-line text.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    /// YAML's empty value or `null`: keep the default, as etcd does.
    Absent,
    Text(String),
    Int(i64),
    Bool(bool),
    /// A list of scalars, given to the flag comma-separated.
    List(Vec<String>),
    /// A value no flag can take; the text says what it was.
    Unsupported(&'static str),
}

/// One `key: value` of the file, sections already flattened into flag names.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: String,
    value: Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    Yaml,
}

/// oxcd's table of auth provider settings: `[auth-providers.NAME]`.
const PROVIDERS_TABLE: &str = "auth-providers";

/// The sections etcd's YAML nests TLS settings in, with the prefix their keys
/// take as flags, and the keys etcd 3.4 reads there.
const SECTIONS: &[(&str, &str)] = &[
    ("client-transport-security", ""),
    ("peer-transport-security", "peer-"),
];
const SECTION_KEYS: &[&str] = &[
    "cert-file",
    "key-file",
    "client-cert-auth",
    "trusted-ca-file",
    "auto-tls",
];

/// The flag name a key inside `section` stands for, or None when `section`
/// is not a TLS section or the key is not one etcd reads there.
fn section_key(section: &str, key: &str) -> Option<String> {
    let (_, prefix) = SECTIONS.iter().find(|(name, _)| *name == section)?;
    SECTION_KEYS
        .contains(&key)
        .then(|| format!("{prefix}{key}"))
}

/// Which parser reads the file at `path`.
fn format_of(path: &str) -> Option<Format> {
    let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "toml" => Some(Format::Toml),
        "yml" | "yaml" => Some(Format::Yaml),
        _ => None,
    }
}

/// Reads the entries of `text` in the format the path names, or by trying
/// TOML then YAML.
fn entries(text: &str, path: &str) -> Result<(Format, Vec<Entry>), ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_string(),
        reason,
    };
    match format_of(path) {
        Some(Format::Toml) => toml_doc::entries(text).map(|e| (Format::Toml, e)),
        Some(Format::Yaml) => yaml_doc::entries(text).map(|e| (Format::Yaml, e)),
        None => toml_doc::entries(text)
            .map(|e| (Format::Toml, e))
            .or_else(|toml_err| {
                yaml_doc::entries(text)
                    .map(|e| (Format::Yaml, e))
                    .map_err(|_| toml_err)
            }),
    }
    .map_err(file_error)
}

/// The command-line text for `value` given to the flag `spec`.
fn flag_text(spec: &FlagSpec, value: Raw, format: Format) -> Result<Option<String>, String> {
    Ok(Some(match value {
        Raw::Absent => return Ok(None),
        // etcd reads durations from YAML as Go's time.Duration in JSON: an
        // integer count of nanoseconds.
        Raw::Int(n) if format == Format::Yaml && spec.kind == Kind::Duration => format!("{n}ns"),
        Raw::Int(n) => n.to_string(),
        Raw::Bool(b) => b.to_string(),
        // YAML 1.1, which etcd's parser follows, spells booleans these ways too.
        Raw::Text(t) if format == Format::Yaml && spec.kind == Kind::Bool => {
            yaml_1_1_bool(&t).map_or(t, |b| b.to_string())
        }
        Raw::Text(t) => t,
        Raw::List(items) => items.join(","),
        Raw::Unsupported(what) => {
            return Err(format!(
                "key {:?} must be a string, integer, boolean or list of those, not {what}",
                spec.name
            ))
        }
    }))
}

fn yaml_1_1_bool(word: &str) -> Option<bool> {
    match word {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Parses config file text into (flag, value) pairs, in file order. Keys
/// with an empty value are left out (the flag keeps its default).
pub fn parse(text: &str, path: &str) -> Result<Vec<(&'static FlagSpec, String)>, ConfigError> {
    let (format, entries) = entries(text, path)?;
    let mut out = Vec::with_capacity(entries.len());
    for Entry { key, value } in entries {
        let spec = table::spec(&key)
            .filter(|s| s.settable_outside_command_line())
            .ok_or_else(|| ConfigError::UnknownFileKey {
                path: path.to_string(),
                key: key.clone(),
            })?;
        let text = flag_text(spec, value, format).map_err(|reason| ConfigError::File {
            path: path.to_string(),
            reason,
        })?;
        if let Some(text) = text {
            out.push((spec, text));
        }
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

/// The settings of auth provider `name` from the TOML config file at
/// `path` (none from a YAML file: etcd's format has no such section).
pub fn provider_settings(path: &Path, name: &str) -> Result<ProviderSettings, ConfigError> {
    let shown = path.display().to_string();
    if format_of(&shown) == Some(Format::Yaml) {
        return Ok(ProviderSettings::default());
    }
    let file_error = |reason: String| ConfigError::File {
        path: shown.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let toml = match toml_doc::provider_table(&text, name) {
        Ok(toml) if !toml.is_empty() => toml,
        // No table, or not TOML after all (YAML with another extension).
        _ => return Ok(ProviderSettings::default()),
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(ProviderSettings { toml, base_dir })
}

#[cfg(test)]
mod tests;
