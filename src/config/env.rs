//! Environment variables: `ETCD_<FLAG>` (dashes become underscores, upper
//! case) for etcd's flags, `OXCD_<FLAG>` for oxcd's own. Empty values are
//! ignored, as etcd does.

use super::settings::{Settings, Source};
use super::table::{Status, FLAGS};

/// The variable naming the config file (read only when `--config-file` is
/// not on the command line).
pub const CONFIG_FILE_VAR: &str = "ETCD_CONFIG_FILE";

/// Reads a variable through `env`, treating an empty value as unset.
pub fn lookup(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    env(var).filter(|v| !v.is_empty())
}

/// Copies every flag's variable that is set into `settings`.
pub fn apply(settings: &mut Settings, env: &dyn Fn(&str) -> Option<String>) {
    for spec in FLAGS.iter().filter(|s| s.settable_outside_command_line()) {
        let var = spec.env_var();
        if let Some(value) = lookup(env, &var) {
            settings.set(spec, value, Source::Env(var));
        }
    }
}

/// Warnings for `ETCD_*`/`OXCD_*` variables that match no flag (etcd warns
/// about these too). `ETCD_VERSION`, often set in container images, is
/// deliberately not read and not warned about.
pub fn unrecognized<I: IntoIterator<Item = String>>(names: I) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| n.starts_with("ETCD_") || n.starts_with("OXCD_"))
        .filter(|n| n != CONFIG_FILE_VAR && n != "ETCD_VERSION")
        .filter(|n| {
            !FLAGS
                .iter()
                .any(|s| s.status != Status::Meta && s.env_var() == *n)
        })
        .map(|n| format!("unrecognized environment variable {n}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prefixed_variables_and_skips_empty_ones() {
        let env = |k: &str| match k {
            "ETCD_NAME" => Some("n1".to_string()),
            "ETCD_DATA_DIR" => Some(String::new()),
            "OXCD_LOG_FORMAT" => Some("json".to_string()),
            "ETCD_VERSION" => Some("3.4.23".to_string()),
            _ => None,
        };
        let mut s = Settings::default();
        apply(&mut s, &env);
        assert_eq!(s.raw("name"), "n1");
        assert!(!s.is_set("data-dir"));
        assert_eq!(s.raw("log-format"), "json");
        assert!(!s.is_set("version"));
        assert_eq!(s.describe("name"), "--name (from ETCD_NAME)");
    }

    #[test]
    fn warns_about_unknown_variables() {
        let warnings = unrecognized(
            [
                "ETCD_NAME",
                "ETCD_BOGUS",
                "ETCD_VERSION",
                "ETCD_CONFIG_FILE",
                "PATH",
            ]
            .map(String::from),
        );
        assert_eq!(
            warnings,
            vec!["unrecognized environment variable ETCD_BOGUS"]
        );
    }
}
