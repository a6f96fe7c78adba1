//! Raw flag values gathered from the environment, the config file and the
//! command line, in rising order of precedence, plus typed getters whose
//! errors name the flag and where its value came from.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::ConfigError;
use super::table::{self, FlagSpec};
use super::values;

/// Where an explicitly given value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An environment variable (its name).
    Env(String),
    /// The config file (its path).
    File(String),
    /// The command line.
    Flag,
}

/// The explicitly given values; anything absent takes the table default.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Settings {
    /// Records a value, replacing any value from a lower-precedence source.
    pub fn set(&mut self, spec: &'static FlagSpec, value: String, source: Source) {
        self.values.insert(spec.name, (value, source));
    }

    /// The raw value: the explicit one, or the table default.
    pub fn raw(&self, name: &str) -> &str {
        match self.values.get(name) {
            Some((value, _)) => value,
            None => table::default_of(name),
        }
    }

    /// Whether a value was given at all (by any source).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Where the value came from, if it was given.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.values.get(name).map(|(_, source)| source)
    }

    /// Explicitly given values, in flag-name order.
    pub fn explicit(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values
            .iter()
            .map(|(name, (value, _))| (*name, value.as_str()))
    }

    /// The flag as named in messages: `--name`, plus where the value came
    /// from when that was not the command line.
    pub fn describe(&self, name: &str) -> String {
        match self.source(name) {
            Some(Source::Env(var)) => format!("--{name} (from {var})"),
            Some(Source::File(path)) => format!("--{name} (from config file {path})"),
            _ => format!("--{name}"),
        }
    }

    fn typed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = self.raw(name);
        parse(raw).map_err(|reason| ConfigError::invalid_value(self.describe(name), raw, reason))
    }

    pub fn text(&self, name: &str) -> &str {
        self.raw(name)
    }

    pub fn bool(&self, name: &str) -> Result<bool, ConfigError> {
        self.typed(name, values::parse_bool)
    }

    pub fn uint(&self, name: &str) -> Result<u64, ConfigError> {
        self.typed(name, values::parse_uint)
    }

    pub fn int(&self, name: &str) -> Result<i64, ConfigError> {
        self.typed(name, values::parse_int)
    }

    pub fn duration(&self, name: &str) -> Result<Duration, ConfigError> {
        self.typed(name, values::parse_duration)
    }

    /// An invalid-value error for this flag's current value.
    pub fn invalid(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid_value(self.describe(name), self.raw(name), reason)
    }

    /// A not-supported-yet error for this flag.
    pub fn unsupported(&self, name: &str, detail: impl Into<String>) -> ConfigError {
        ConfigError::not_supported(self.describe(name), detail)
    }

    pub fn not_applicable(&self, name: &str, why: &'static str, detail: String) -> ConfigError {
        ConfigError::NotApplicable {
            flag: self.describe(name),
            why,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static FlagSpec {
        match table::spec(name) {
            Some(s) => s,
            None => panic!("no flag {name}"),
        }
    }

    #[test]
    fn later_sources_win_and_defaults_fill_in() {
        let mut s = Settings::default();
        assert_eq!(s.raw("name"), "default");
        assert!(!s.is_set("name"));
        s.set(spec("name"), "a".into(), Source::Env("ETCD_NAME".into()));
        assert_eq!(s.describe("name"), "--name (from ETCD_NAME)");
        s.set(spec("name"), "b".into(), Source::Flag);
        assert_eq!(s.raw("name"), "b");
        assert_eq!(s.describe("name"), "--name");
        assert_eq!(s.explicit().collect::<Vec<_>>(), vec![("name", "b")]);
    }

    #[test]
    fn typed_errors_name_the_source() {
        let mut s = Settings::default();
        s.set(spec("max-wals"), "x".into(), Source::File("a.toml".into()));
        let err = s.uint("max-wals").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("oxcd: invalid value \"x\" for --max-wals (from config file a.toml): expected a non-negative whole number")
        );
        assert_eq!(
            s.duration("grpc-keepalive-interval").ok(),
            Some(Duration::from_secs(7200))
        );
    }
}
