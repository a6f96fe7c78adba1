//! `oxcd`: the server daemon. Flags are etcd's (plus `--config-file`).

use std::process::ExitCode;

use oxcd::config::{self, ConfigError};
use oxcd::logging;

/// gRPC, HTTP/2 and protobuf allocate per request; mimalloc is faster than
/// glibc's allocator for that pattern and returns memory more readily.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match config::load_from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(err) => return report_config_error(&err),
    };
    logging::init(
        config.log_level.filter(),
        config.log_format.into(),
        config.log_output.is_stdout(),
    );
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(name = %config.name, data_dir = %config.data_dir.display(), "starting oxcd");
    match oxcd::server::run(config) {
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
