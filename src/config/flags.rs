//! The command line: a clap command built from the flag table, accepting
//! etcd's spellings (`--flag value`, `--flag=value`, `-flag value`, bare
//! boolean flags).

use std::collections::BTreeSet;
use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command};

use super::error::ConfigError;
use super::table::{self, FlagSpec, Kind, Status, FLAGS};

const ABOUT: &str = "oxcd: an etcd-v3-compatible key-value server";

const AFTER_HELP: &str = "\
Settings are read from, lowest precedence first: built-in defaults, ETCD_<FLAG>
environment variables (OXCD_<FLAG> for oxcd's own flags), the --config-file TOML
file, then the command line. Unlike etcd, a config file does not disable flags
and environment variables. Flags marked [not built yet] accept only their etcd
default. See docs/configuration.md for details.

Snapshots (etcdctl's snapshot commands, for etcd's backend files):
  oxcd snapshot restore FILE [--data-dir D --name N --initial-cluster C ...]
  oxcd snapshot status FILE [-w simple|table|json|fields]
See oxcd snapshot --help and docs/migration.md.";

/// Subcommands of etcd that oxcd does not have.
const ETCD_SUBCOMMANDS: &[&str] = &["gateway", "grpc-proxy"];

fn help_text(spec: &FlagSpec) -> String {
    let default = match (spec.name, spec.default) {
        ("data-dir", _) => "${name}.oxcd".to_string(),
        (_, "") => "''".to_string(),
        (_, d) => d.to_string(),
    };
    let status = match spec.status {
        Status::NotBuiltYet => " [not built yet]",
        Status::NotApplicable => " [not in oxcd]",
        _ => "",
    };
    format!("{} [default: {default}]{status}", spec.help)
}

fn arg_for(spec: &'static FlagSpec) -> Arg {
    let arg = Arg::new(spec.name)
        .long(spec.name)
        .action(ArgAction::Append)
        .help(help_text(spec))
        .help_heading(spec.group.heading())
        .hide(spec.status == Status::Ignored);
    if spec.kind == Kind::Bool {
        // Go booleans: `--flag` or `--flag=false`, never `--flag false`.
        arg.num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_name("BOOL")
    } else {
        arg.num_args(1)
            .allow_hyphen_values(true)
            .value_name("VALUE")
    }
}

/// The clap command for oxcd's command line.
pub fn command() -> Command {
    FLAGS.iter().fold(
        Command::new("oxcd")
            .about(ABOUT)
            .after_help(AFTER_HELP)
            .disable_version_flag(true),
        |cmd, spec| cmd.arg(arg_for(spec)),
    )
}

/// Rewrites Go's single-dash long flags (`-name x`, `-debug`) to `--name`,
/// leaving values of value-taking flags alone.
fn normalise_dashes(args: Vec<OsString>) -> Vec<OsString> {
    let known: BTreeSet<&str> = FLAGS.iter().map(|f| f.name).chain(["help"]).collect();
    let mut out = Vec::with_capacity(args.len());
    let mut expecting_value = false;
    let mut rest_is_positional = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || rest_is_positional || expecting_value {
            expecting_value = false;
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest_is_positional = true;
            out.push(arg);
            continue;
        }
        let body = text
            .strip_prefix("--")
            .or_else(|| text.strip_prefix('-'))
            .filter(|b| !b.is_empty());
        let Some(body) = body else {
            out.push(arg);
            continue;
        };
        let (name, has_value) = match body.split_once('=') {
            Some((name, _)) => (name, true),
            None => (body, false),
        };
        if !known.contains(name) {
            out.push(arg);
            continue;
        }
        expecting_value = !has_value && table::spec(name).is_some_and(|s| s.kind != Kind::Bool);
        out.push(OsString::from(format!("--{body}")));
    }
    out
}

fn usage_error(err: &clap::Error) -> ConfigError {
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("").trim();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    ConfigError::Usage(message.to_string())
}

/// Parses the command line (including argv[0]) into the flags it sets, each
/// with its last value. `--help` comes back as [`ConfigError::Help`].
pub fn parse_args(args: Vec<OsString>) -> Result<Vec<(&'static FlagSpec, String)>, ConfigError> {
    if let Some(sub) = args.get(1).and_then(|a| a.to_str()) {
        if ETCD_SUBCOMMANDS.contains(&sub) {
            return Err(ConfigError::not_supported(
                format!("the '{sub}' command"),
                "oxcd only runs as a server",
            ));
        }
    }
    let matches = match command().try_get_matches_from(normalise_dashes(args)) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            return Err(ConfigError::Help(e.render().to_string()))
        }
        Err(e) => return Err(usage_error(&e)),
    };
    let mut given = Vec::new();
    for spec in FLAGS {
        if matches.value_source(spec.name) != Some(ValueSource::CommandLine) {
            continue;
        }
        let last = matches
            .get_many::<String>(spec.name)
            .and_then(|mut values| values.next_back())
            .cloned()
            .unwrap_or_default();
        given.push((spec, last));
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Vec<(&'static str, String)>, ConfigError> {
        let args = std::iter::once("oxcd")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse_args(args).map(|v| v.into_iter().map(|(s, val)| (s.name, val)).collect())
    }

    #[test]
    fn clap_command_is_consistent() {
        command().debug_assert();
    }

    fn sorted(args: &[&str]) -> Vec<(&'static str, String)> {
        let mut got = parse(args).unwrap_or_default();
        got.sort();
        got
    }

    #[test]
    fn value_spellings() {
        assert_eq!(
            sorted(&[
                "--name",
                "a",
                "--data-dir=/d",
                "-wal-dir",
                "/w",
                "-max-wals=3"
            ]),
            vec![
                ("data-dir", "/d".to_string()),
                ("max-wals", "3".to_string()),
                ("name", "a".to_string()),
                ("wal-dir", "/w".to_string()),
            ]
        );
    }

    #[test]
    fn booleans_and_repeats() {
        assert_eq!(
            sorted(&["--debug", "--pre-vote=false", "--name", "a", "--name", "b"]),
            vec![
                ("debug", "true".to_string()),
                ("name", "b".to_string()),
                ("pre-vote", "false".to_string()),
            ]
        );
    }

    #[test]
    fn values_may_start_with_a_dash() {
        assert_eq!(
            parse(&["--name", "-x"]),
            Ok(vec![("name", "-x".to_string())])
        );
        assert_eq!(
            parse(&["--name", "-debug"]),
            Ok(vec![("name", "-debug".to_string())])
        );
    }

    #[test]
    fn bool_with_separate_value_is_an_error() {
        let err = parse(&["--debug", "true"]).err();
        assert!(matches!(err, Some(ConfigError::Usage(_))), "{err:?}");
    }

    #[test]
    fn unknown_flag_is_a_usage_error() {
        let err = parse(&["--no-such-flag"]).err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(msg.contains("--no-such-flag"), "{msg}");
        assert!(msg.starts_with("oxcd: "), "{msg}");
    }

    #[test]
    fn help_is_reported() {
        for flag in ["--help", "-h", "-help"] {
            match parse(&[flag]) {
                Err(ConfigError::Help(text)) => {
                    assert!(text.contains("--listen-client-urls"), "{text}");
                    assert!(text.contains("[not built yet]"), "{text}");
                }
                other => panic!("{flag}: {other:?}"),
            }
        }
    }

    #[test]
    fn etcd_subcommands_are_rejected() {
        let err = parse(&["gateway", "start"]).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("oxcd: the 'gateway' command is not supported yet (oxcd only runs as a server)")
        );
    }

    #[test]
    fn ignored_legacy_flags_are_accepted() {
        assert_eq!(parse(&["-v"]), Ok(vec![("v", "true".to_string())]));
    }
}
