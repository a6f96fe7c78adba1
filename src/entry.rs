//! The daemon's entry point, in the library so that a custom build can add
//! auth providers and start the same server (see `examples/`).

use std::ffi::OsString;
use std::process::ExitCode;

use crate::actors::auth::registry::ProviderRegistry;
use crate::config::{self, ConfigError};
use crate::logging;

/// Reads etcd's flags (and `--config-file`) from `args`, sets up logging and
/// runs the server until it stops; `--auth-provider` names one of
/// `providers`.
pub fn run<I, T>(args: I, providers: ProviderRegistry) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if crate::snapshot_cli::is_snapshot_command(&args) {
        return crate::snapshot_cli::run(args);
    }
    let config = match config::load_from_args(args) {
        Ok(config) => config,
        Err(err) => return report_config_error(&err),
    };
    crate::failpoints::setup();
    if let Err(err) = logging::init(
        config.log_level.filter(),
        config.log_format.into(),
        &config.log_outputs,
    ) {
        eprintln!("oxcd: --log-outputs: {err}");
        return ExitCode::FAILURE;
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(name = %config.name, data_dir = %config.data_dir.display(), "starting oxcd");
    match crate::server::run_with(config, &providers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("oxcd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `--help`/`--version` go to stdout, errors to stderr; a reader that went
/// away (`oxcd --help | head`) is not an error worth a panic.
fn report_config_error(err: &ConfigError) -> ExitCode {
    use std::io::Write as _;
    let _ = if err.is_info() {
        writeln!(std::io::stdout(), "{err}")
    } else {
        writeln!(std::io::stderr(), "{err}")
    };
    ExitCode::from(err.exit_code() as u8)
}
