//! Refuses flags whose feature is not built yet when they are set to
//! anything but etcd's default, and collects warnings for the obsolete etcd
//! flags that etcd itself ignores.

use super::error::ConfigError;
use super::settings::Settings;
use super::table::{self, FlagSpec, Kind, Status};
use super::values;

/// A value reduced so that equal meanings compare equal
/// (`false`/`0`/`F`, `1m`/`60s`, list order).
#[derive(Debug, PartialEq, Eq)]
enum Normal {
    Bool(bool),
    Int(i128),
    Nanos(i128),
    Text(String),
    List(Vec<String>),
}

fn normalise(kind: Kind, raw: &str) -> Result<Normal, String> {
    Ok(match kind {
        Kind::Bool => Normal::Bool(values::parse_bool(raw)?),
        Kind::Uint => Normal::Int(values::parse_uint(raw)?.into()),
        Kind::Int => Normal::Int(values::parse_int(raw)?.into()),
        Kind::Duration => Normal::Nanos(values::parse_go_duration(raw)?),
        Kind::Text => Normal::Text(raw.to_string()),
        Kind::Choice(options) => {
            if !options.contains(&raw) {
                return Err(format!("expected one of: {}", options.join(", ")));
            }
            Normal::Text(raw.to_string())
        }
        Kind::List => {
            let mut items = values::split_list(raw);
            items.sort();
            items.dedup();
            Normal::List(items)
        }
    })
}

fn check_one(s: &Settings, spec: &FlagSpec) -> Result<(), ConfigError> {
    let Err(detail) = at_default(s, spec)? else {
        return Ok(());
    };
    Err(match spec.status {
        Status::NotApplicable => {
            s.not_applicable(spec.name, table::why_not_applicable(spec.name), detail)
        }
        _ => s.unsupported(spec.name, detail),
    })
}

/// `Ok(Ok(()))` when the flag holds etcd's default (in any spelling),
/// `Ok(Err(detail))` when it does not.
fn at_default(s: &Settings, spec: &FlagSpec) -> Result<Result<(), String>, ConfigError> {
    let raw = s.raw(spec.name);
    let given = normalise(spec.kind, raw).map_err(|reason| s.invalid(spec.name, reason))?;
    let default = normalise(spec.kind, spec.default)
        .map_err(|reason| s.invalid(spec.name, format!("bad built-in default: {reason}")))?;
    if given == default {
        return Ok(Ok(()));
    }
    let shown_default = if spec.default.is_empty() {
        "''"
    } else {
        spec.default
    };
    Ok(Err(format!(
        "only etcd's default {shown_default} is accepted, got {raw:?}"
    )))
}

/// Errors on the first not-built-yet flag set to a non-default value
/// (in flag-name order). Returns warnings for ignored obsolete flags.
pub fn check(s: &Settings) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for (name, _) in s.explicit() {
        let Some(spec) = table::spec(name) else {
            continue;
        };
        match spec.status {
            Status::NotBuiltYet | Status::NotApplicable => check_one(s, spec)?,
            Status::Ignored => warnings.push(format!(
                "{} is an obsolete etcd flag; ignoring it",
                s.describe(name)
            )),
            Status::Honoured | Status::Meta => {}
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::super::settings::Source;
    use super::super::table::FLAGS;
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Settings {
        let mut s = Settings::default();
        for (name, value) in pairs {
            if let Some(spec) = table::spec(name) {
                s.set(spec, value.to_string(), Source::Flag);
            }
        }
        s
    }

    #[test]
    fn every_not_built_flag_accepts_its_default() {
        let refused = [Status::NotBuiltYet, Status::NotApplicable];
        for spec in FLAGS.iter().filter(|f| refused.contains(&f.status)) {
            let s = with(&[(spec.name, spec.default)]);
            assert_eq!(check(&s), Ok(vec![]), "{}", spec.name);
        }
    }

    #[test]
    fn equivalent_spellings_of_the_default_are_accepted() {
        for (name, value) in [
            ("enable-v2", "0"),
            ("enable-v2", "F"),
            ("initial-election-tick-advance", "true"),
            ("experimental-watch-progress-notify-interval", "600s"),
            ("experimental-backend-bbolt-freelist-type", "array"),
            ("proxy", "off"),
        ] {
            assert_eq!(check(&with(&[(name, value)])), Ok(vec![]), "{name}={value}");
        }
    }

    #[test]
    fn non_default_values_are_refused_naming_the_flag() {
        let err = check(&with(&[("enable-v2", "true")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("oxcd: --enable-v2 does not apply to oxcd: oxcd serves only the v3 API (the v2 API is deprecated in etcd 3.4 and gone in 3.6) (only etcd's default false is accepted, got \"true\")")
        );
        for (name, value) in [
            ("enable-pprof", "true"),
            ("discovery", "https://discovery.etcd.io/x"),
            ("proxy", "on"),
            ("experimental-enable-v2v3", "/v2"),
            ("log-package-levels", "etcdserver=DEBUG"),
        ] {
            let err = check(&with(&[(name, value)])).err().map(|e| e.to_string());
            let msg = err.unwrap_or_default();
            assert!(
                msg.starts_with(&format!("oxcd: --{name} does not apply to oxcd: ")),
                "{msg}"
            );
        }
    }

    #[test]
    fn unparsable_values_are_invalid() {
        let err = check(&with(&[("enable-v2", "maybe")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("oxcd: invalid value \"maybe\" for --enable-v2: expected true or false")
        );
        let err = check(&with(&[("proxy", "sometimes")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "oxcd: invalid value \"sometimes\" for --proxy: expected one of: off, readonly, on"
            )
        );
    }

    #[test]
    fn env_source_is_named() {
        let mut s = Settings::default();
        if let Some(spec) = table::spec("enable-v2") {
            s.set(spec, "true".into(), Source::Env("ETCD_ENABLE_V2".into()));
        }
        let msg = check(&s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("oxcd: --enable-v2 (from ETCD_ENABLE_V2) does not apply to oxcd"),
            "{msg}"
        );
    }

    #[test]
    fn ignored_flags_warn() {
        assert_eq!(
            check(&with(&[("snapshot", "true")])),
            Ok(vec![
                "--snapshot is an obsolete etcd flag; ignoring it".to_string()
            ])
        );
    }
}
