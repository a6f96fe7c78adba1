//! `oxcd-bench`: a load generator for etcd v3 servers (oxcd or etcd itself).
//!
//! `oxcd-bench [global flags] <put | range KEY [END] | txn-put | mixed | watch-latency |
//! lease-keepalive>`; see docs/bench-tool.md. Module map: `args` (command line), `conn`
//! (gRPC channels), `keys` (keys, values, PRNG), `loads` (one module per subcommand),
//! `runner` (client loops), `stats` (per-client histograms, summary), `report` (text /
//! JSON), `progress` (bar).

mod args;
mod conn;
mod history;
mod keys;
mod loads;
mod progress;
mod report;
mod runner;
mod stats;

use args::{
    CheckHistoryArgs, Cli, Command, GlobalArgs, LeaseKeepaliveArgs, TrafficArgs, WatchLatencyArgs,
    DEFAULT_TOTAL,
};
use clap::Parser;
use keys::{KeySpace, Values};
use loads::authenticate::AuthenticateLoad;
use loads::gateway::{GatewayLoad, GatewayOp};
use loads::lease_keepalive;
use loads::lock::LockLoad;
use loads::mixed::MixedLoad;
use loads::put::PutLoad;
use loads::range::RangeLoad;
use loads::traffic::kubernetes::KubernetesLoad;
use loads::traffic::kv::KvLoad;
use loads::traffic::RecordedLoad;
use loads::txn_put::TxnPutLoad;
use loads::watch_latency;
use loads::{KvData, Load};
use report::RunInfo;
use runner::{Plan, Stop};
use stats::Summary;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use tonic::transport::Channel;

/// The client stack allocates per request (headers, frames, futures); mimalloc makes that
/// noticeably cheaper than the system allocator, leaving more CPU to the server under test.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concurrent puts used by `mixed --prefill`.
const PREFILL_CONCURRENCY: u64 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oxcd-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxcd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The TLS client for https endpoints, when --cacert or
/// --insecure-skip-tls-verify is given.
fn tls_config(g: &GlobalArgs) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    if g.cacert.is_none() && !g.insecure_skip_tls_verify {
        return Ok(None);
    }
    let identity = g.cert.as_deref().zip(g.tls_key.as_deref());
    oxcd::tls::dialer_config(g.cacert.as_deref(), identity)
        .map(Some)
        .map_err(|e| e.to_string())
}

async fn bench(cli: Cli) -> Result<(), String> {
    let g = &cli.global;
    if let Command::CheckHistory(a) = &cli.command {
        return check_history(a, g.json);
    }
    let plan = plan(g)?;
    let channels = conn::connect_all(
        &g.endpoints,
        g.conns,
        conn::Dial {
            connect_timeout: g.dial_timeout,
            request_timeout: g.request_timeout,
            tls: tls_config(g)?,
        },
    )
    .await?;
    let serializable = g.consistency.serializable();
    if let Some(user) = &g.user {
        if !matches!(cli.command, Command::Authenticate) {
            loads::authenticate::log_in(channels[0].clone(), user).await?;
        }
    }
    let (load, summary) = match &cli.command {
        Command::Put => run(PutLoad::new(kv_data(g)?), &channels, &plan).await?,
        Command::Range(a) => run(RangeLoad::new(a, serializable), &channels, &plan).await?,
        Command::TxnPut => run(TxnPutLoad::new(kv_data(g)?), &channels, &plan).await?,
        Command::Mixed(a) => {
            let prefill = a.prefill.then_some(PREFILL_CONCURRENCY);
            let load = MixedLoad::new(kv_data(g)?, a.read_ratio, serializable, prefill);
            run(load, &channels, &plan).await?
        }
        Command::WatchLatency(a) => return watch(g, a, &channels, plan.progress).await,
        Command::LeaseKeepalive(a) => return lease(g, a, &channels, &plan).await,
        Command::Authenticate => {
            let credentials = g.user.as_deref().ok_or("authenticate needs --user")?;
            let (user, password) = loads::authenticate::split_user(credentials)?;
            run(AuthenticateLoad::new(user, password), &channels, &plan).await?
        }
        Command::Lock(a) => run(LockLoad::new(a.names), &channels, &plan).await?,
        Command::GatewayPut => {
            let load = GatewayLoad::new(&g.endpoints, GatewayOp::Put(kv_data(g)?));
            run(load, &channels, &plan).await?
        }
        Command::GatewayRange(a) => {
            let op = GatewayOp::Range(a.key.clone().into_bytes());
            run(GatewayLoad::new(&g.endpoints, op), &channels, &plan).await?
        }
        Command::Kubernetes(a) => traffic(KubernetesLoad::new(a), a, &channels, &plan).await?,
        Command::Kv(a) => traffic(KvLoad::new(a), a, &channels, &plan).await?,
        Command::CheckHistory(_) => return Err("check-history takes no endpoints".into()),
    };
    let info = RunInfo {
        load: load.to_string(),
        endpoints: g.endpoints.clone(),
        clients: g.clients,
        conns: g.conns,
    };
    if g.json {
        println!("{}", report::json(&info, &summary));
    } else {
        print!("{}", report::text(&info, &summary));
    }
    Ok(())
}

/// `watch-latency`: its own run and report; fails (after the report) when events are missing.
async fn watch(
    g: &GlobalArgs,
    args: &WatchLatencyArgs,
    channels: &[Channel],
    progress: bool,
) -> Result<(), String> {
    let summary = watch_latency::run(g, args, channels, progress).await?;
    let info = RunInfo {
        load: watch_latency::NAME.to_string(),
        endpoints: g.endpoints.clone(),
        clients: g.clients,
        conns: g.conns,
    };
    if g.json {
        println!("{}", report::watch_json(&info, &summary));
    } else {
        print!("{}", report::watch_text(&info, &summary));
    }
    if summary.events_missing > 0 {
        return Err(format!(
            "{} of {} watch events missing",
            summary.events_missing, summary.events_expected
        ));
    }
    if summary.puts == 0 {
        return Err("no put succeeded".into());
    }
    Ok(())
}

/// `lease-keepalive`: its own run, the request report plus the lease figures.
async fn lease(
    g: &GlobalArgs,
    args: &LeaseKeepaliveArgs,
    channels: &[Channel],
    plan: &Plan,
) -> Result<(), String> {
    let run = lease_keepalive::run(args, channels, plan).await?;
    let info = RunInfo {
        load: lease_keepalive::NAME.to_string(),
        endpoints: g.endpoints.clone(),
        clients: run.clients,
        conns: g.conns,
    };
    let lease = report::LeaseInfo {
        leases: run.leases,
        lease_ttl: run.lease_ttl,
        window: run.window,
        grant_seconds: run.grant_seconds,
        open_seconds: run.open_seconds,
        leases_revoked: run.leases_revoked,
    };
    if g.json {
        println!("{}", report::lease_json(&info, &run.summary, &lease));
    } else {
        print!("{}", report::lease_text(&info, &run.summary, &lease));
    }
    Ok(())
}

async fn run<L: Load>(
    load: L,
    channels: &[Channel],
    plan: &Plan,
) -> Result<(&'static str, Summary), String> {
    let result = runner::run(&load, channels, plan).await?;
    Ok((load.name(), result.stats.summarize(result.elapsed)))
}

/// A recorded traffic profile: the run, then the watchers' catch-up and the history file.
async fn traffic<L: RecordedLoad>(
    load: L,
    args: &TrafficArgs,
    channels: &[Channel],
    plan: &Plan,
) -> Result<(&'static str, Summary), String> {
    let result = runner::run(&load, channels, plan).await?;
    let summary = result.stats.summarize(result.elapsed);
    let history = load.finish(channels).await?;
    if let Some(path) = &args.record {
        history::recorder::write(&history, path)?;
    }
    Ok((load.name(), summary))
}

/// `check-history FILE`: the checks' report; an error when anything is violated.
fn check_history(args: &CheckHistoryArgs, json: bool) -> Result<(), String> {
    let history = history::recorder::read(&args.file)?;
    let report = history::check::check(&history);
    if json {
        let text = serde_json::to_string(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", report::history_text(&report));
    }
    if report.ok() {
        Ok(())
    } else {
        Err(format!("{} violation(s)", report.violations.len()))
    }
}

fn plan(g: &GlobalArgs) -> Result<Plan, String> {
    if !(g.rate.is_finite() && g.rate >= 0.0) {
        return Err(format!("--rate must be >= 0, got {}", g.rate));
    }
    let stop = match (g.total, g.duration) {
        (_, Some(d)) => Stop::Duration(d),
        (Some(n), None) => Stop::Total(n),
        (None, None) => Stop::Total(DEFAULT_TOTAL),
    };
    Ok(Plan {
        clients: g.clients,
        stop,
        rate: g.rate,
        progress: !g.no_progress && std::io::stderr().is_terminal(),
    })
}

fn kv_data(g: &GlobalArgs) -> Result<KvData, String> {
    let keys = KeySpace::new(
        g.key_space_size,
        g.key_size,
        g.key_format,
        g.sequential_keys,
    )?;
    Ok(KvData {
        keys: Arc::new(keys),
        values: Arc::new(Values::random(g.val_size)),
    })
}
