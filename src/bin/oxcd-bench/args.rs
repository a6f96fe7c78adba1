//! Command line: global flags (shared by every load, accepted before or after the
//! subcommand) and one subcommand per load.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::time::Duration;

/// Requests sent when neither `--total` nor `--duration` is given (etcd's benchmark default).
pub const DEFAULT_TOTAL: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(
    name = "oxcd-bench",
    version,
    about = "Load generator for etcd v3 servers (oxcd or etcd)",
    after_help = "Global flags may be given before or after the subcommand. \
                  See docs/bench-tool.md for examples."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every load understands.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Comma-separated gRPC endpoints (host:port or http://host:port); connections are
    /// spread over them round-robin.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// Number of gRPC connections (HTTP/2 channels).
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub conns: u64,
    /// Number of concurrent request loops, spread round-robin over the connections.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,
    /// Total number of requests to send (default 10000 unless --duration is given).
    #[arg(long, global = true, conflicts_with = "duration")]
    pub total: Option<u64>,
    /// Send requests for this long instead of a fixed count (e.g. 10s, 500ms, 1m30s).
    #[arg(long, global = true, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Cap on requests per second over all clients (0 = unlimited).
    #[arg(long, global = true, default_value_t = 0.0)]
    pub rate: f64,
    /// Key size in bytes; every key is exactly this long.
    #[arg(long, global = true, default_value_t = 8)]
    pub key_size: usize,
    /// Value size in bytes (random bytes).
    #[arg(long, global = true, default_value_t = 256)]
    pub val_size: usize,
    /// Number of distinct keys written / read.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub key_space_size: u64,
    /// Use keys 0,1,2,... (modulo the key space) in request order instead of random keys.
    #[arg(long, global = true)]
    pub sequential_keys: bool,
    /// How a key number becomes a key: zero-padded decimal, or etcd benchmark's varint bytes.
    #[arg(long, global = true, value_enum, default_value_t = KeyFormat::Decimal)]
    pub key_format: KeyFormat,
    /// Read consistency for range/mixed reads: l (linearizable) or s (serializable).
    #[arg(long, global = true, value_enum, default_value_t = Consistency::L)]
    pub consistency: Consistency,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long, global = true)]
    pub json: bool,
    /// Never show the progress bar (it is shown only when stderr is a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Time allowed to establish each connection.
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration)]
    pub dial_timeout: Duration,
    /// Per-request deadline (sent as grpc-timeout); unlimited when not given.
    #[arg(long, global = true, value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// CA bundle that verifies https endpoints (etcd benchmark's --cacert).
    #[arg(long, global = true)]
    pub cacert: Option<std::path::PathBuf>,
    /// Client certificate for https endpoints (with --key).
    #[arg(long, global = true, requires = "tls_key")]
    pub cert: Option<std::path::PathBuf>,
    /// Client private key for https endpoints (with --cert). (Its id is not
    /// `key`: the range load's KEY argument has that one.)
    #[arg(long = "key", id = "tls_key", global = true, requires = "cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate (self-signed, e.g. --auto-tls).
    #[arg(long, global = true, conflicts_with = "cacert")]
    pub insecure_skip_tls_verify: bool,
    /// NAME:PASSWORD: log in once (Authenticate) and send the token with
    /// every request, as etcdctl's --user; the `authenticate` load logs in
    /// with it on every request instead.
    #[arg(long, global = true)]
    pub user: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Put random values under keys from the key space.
    Put,
    /// Range requests over KEY (or KEY..END).
    Range(RangeArgs),
    /// Txn with no compares and one put in the success branch.
    TxnPut,
    /// Single-key gets and puts over the key space, mixed by --read-ratio.
    Mixed(MixedArgs),
    /// Many watchers on a few keys; paced puts; latency from put ack to watch event.
    WatchLatency(WatchLatencyArgs),
    /// Grant many leases, then renew them over LeaseKeepAlive streams (one per client).
    LeaseKeepalive(LeaseKeepaliveArgs),
    /// Authenticate with --user on every request (the cost of logins: bcrypt).
    Authenticate,
    /// Lock then Unlock (v3lock) per request, each client with its own lease.
    Lock(LockArgs),
    /// Puts through the JSON gateway (POST /v3/kv/put over HTTP/1.1).
    GatewayPut,
    /// Ranges of KEY through the JSON gateway (POST /v3/kv/range over HTTP/1.1).
    GatewayRange(GatewayRangeArgs),
    /// What Kubernetes' apiserver sends: paginated lists, gets, optimistic-concurrency
    /// creates/updates/deletes, leased events, watches with prev_kv and progress, compaction.
    Kubernetes(TrafficArgs),
    /// Plain KV users: gets (linearizable and serializable), lists, multi-op txns,
    /// compare-and-set, puts (some with leases), lease revokes, deletes, under watches.
    Kv(TrafficArgs),
    /// Check a history recorded with --record: linearizability and watch guarantees.
    CheckHistory(CheckHistoryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TrafficArgs {
    /// Objects (keys) the load works on; fewer objects, more conflicts.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub objects: u64,
    /// Watch streams over the load's whole prefix (prev_kv, progress_notify,
    /// require-leader), resumed after failures from the last revision they saw.
    #[arg(long, default_value_t = 2)]
    pub watchers: u64,
    /// Keys per page of a list (kubernetes) .
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..))]
    pub page: i64,
    /// TTL of the leases the load grants, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..))]
    pub lease_ttl: i64,
    /// How often client 0 compacts as the apiserver does (a CAS on compact_rev_key, then
    /// Compact to the revision of the previous round); 0s: never.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub compact_every: Duration,
    /// How often each watcher sends a RequestProgress.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub progress_every: Duration,
    /// Write the history (requests, answers, times, watch responses) to this JSON file
    /// for `check-history`.
    #[arg(long)]
    pub record: Option<std::path::PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct CheckHistoryArgs {
    /// A history written by `kubernetes --record FILE` or `kv --record FILE`.
    pub file: std::path::PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct LockArgs {
    /// Distinct lock names; client i takes lock i mod NAMES (1: all contend).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub names: u64,
}

#[derive(Args, Debug, Clone)]
pub struct GatewayRangeArgs {
    /// The key read.
    pub key: String,
}

#[derive(Args, Debug, Clone)]
pub struct RangeArgs {
    /// Key (or start of the range).
    pub key: String,
    /// Exclusive end of the range; "\0" style ends can be given with --prefix or --from-key.
    pub end: Option<String>,
    /// Range over every key with KEY as prefix (END must not be given).
    #[arg(long, conflicts_with_all = ["end", "from_key"])]
    pub prefix: bool,
    /// Range over every key >= KEY (END must not be given).
    #[arg(long, conflicts_with = "end")]
    pub from_key: bool,
    /// Maximum number of keys returned (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Ask only for the count.
    #[arg(long)]
    pub count_only: bool,
}

#[derive(Args, Debug, Clone)]
pub struct MixedArgs {
    /// Fraction of requests that are reads (0.0 ..= 1.0).
    #[arg(long, default_value_t = 0.9, value_parser = parse_ratio)]
    pub read_ratio: f64,
    /// Before measuring, put every key of the key space once (so reads hit keys).
    #[arg(long)]
    pub prefill: bool,
}

#[derive(Args, Debug, Clone)]
pub struct WatchLatencyArgs {
    /// Number of watchers (watches); watcher i watches key i mod --watch-keys.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub watchers: u64,
    /// Number of distinct keys watched (and written).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub watch_keys: u64,
    /// Watch streams the watchers are spread over (each carries many watches); streams are
    /// spread round-robin over the --conns connections.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub streams: u64,
    /// Puts per second (one paced put loop over the watched keys, round-robin).
    #[arg(long, default_value_t = 100.0, value_parser = parse_positive_rate)]
    pub put_rate: f64,
    /// Pid of the server: its RSS (VmRSS) is read after the watches are created and
    /// sampled every 100 ms while the puts run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Time allowed for creating every watch.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub create_timeout: Duration,
    /// Time allowed, after the last put, for the last events to arrive.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct LeaseKeepaliveArgs {
    /// Leases granted before the run (revoked after it), spread over the clients.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub leases: u64,
    /// TTL of every lease, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..))]
    pub lease_ttl: i64,
    /// Keep-alive requests each client keeps in flight on its stream.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub window: u64,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// Zero-padded decimal digits, e.g. 00000042 for --key-size 8.
    Decimal,
    /// Zig-zag varint of the key number, zero-padded (etcd's benchmark keys).
    Binary,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Linearizable reads.
    #[value(alias = "linearizable")]
    L,
    /// Serializable reads.
    #[value(alias = "serializable")]
    S,
}

impl Consistency {
    pub fn serializable(self) -> bool {
        self == Consistency::S
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not within 0.0..=1.0"))
    }
}

fn parse_positive_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not a positive rate"))
    }
}

/// Go-style durations: `10s`, `500ms`, `1m30s`, `1.5s`, `250us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        if num_len == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert!(parse_duration("10").is_ok());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn tls_flags_do_not_clash_with_the_range_key() {
        let cli = Cli::try_parse_from([
            "oxcd-bench",
            "range",
            "foo",
            "--cacert",
            "ca.pem",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(
            cli.global.tls_key.as_deref(),
            Some(std::path::Path::new("k.pem"))
        );
        assert!(matches!(cli.command, Command::Range(ref r) if r.key == "foo"));
    }

    #[test]
    fn cli_parses_global_flags_after_subcommand() {
        let cli = Cli::try_parse_from([
            "oxcd-bench",
            "put",
            "--clients",
            "10",
            "--endpoints",
            "a:1,b:2",
            "--duration",
            "2s",
        ])
        .unwrap();
        assert_eq!(cli.global.clients, 10);
        assert_eq!(cli.global.endpoints, vec!["a:1", "b:2"]);
        assert_eq!(cli.global.duration, Some(Duration::from_secs(2)));
        assert!(matches!(cli.command, Command::Put));
    }

    #[test]
    fn total_and_duration_conflict() {
        let r = Cli::try_parse_from(["oxcd-bench", "--total", "5", "--duration", "1s", "put"]);
        assert!(r.is_err());
    }

    #[test]
    fn consistency_and_ratio() {
        let cli = Cli::try_parse_from([
            "oxcd-bench",
            "mixed",
            "--read-ratio",
            "0.25",
            "--consistency",
            "s",
        ])
        .unwrap();
        assert!(cli.global.consistency.serializable());
        match cli.command {
            Command::Mixed(m) => assert_eq!(m.read_ratio, 0.25),
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from(["oxcd-bench", "mixed", "--read-ratio", "1.5"]).is_err());
    }

    #[test]
    fn watch_latency_flags_and_defaults() {
        let cli = Cli::try_parse_from(["oxcd-bench", "watch-latency", "--duration", "1s"]).unwrap();
        match cli.command {
            Command::WatchLatency(w) => {
                assert_eq!(w.watchers, 10_000);
                assert_eq!(w.watch_keys, 100);
                assert_eq!(w.streams, 100);
                assert_eq!(w.put_rate, 100.0);
                assert_eq!(w.server_pid, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "oxcd-bench",
            "--conns",
            "4",
            "watch-latency",
            "--watchers",
            "200",
            "--watch-keys",
            "10",
            "--streams",
            "20",
            "--put-rate",
            "250",
            "--server-pid",
            "42",
        ])
        .unwrap();
        assert_eq!(cli.global.conns, 4);
        match cli.command {
            Command::WatchLatency(w) => {
                assert_eq!((w.watchers, w.watch_keys, w.streams), (200, 10, 20));
                assert_eq!(w.put_rate, 250.0);
                assert_eq!(w.server_pid, Some(42));
            }
            other => panic!("unexpected {other:?}"),
        }
        for bad in [
            ["watch-latency", "--put-rate", "0"],
            ["lease-keepalive", "--leases", "0"],
            ["lease-keepalive", "--lease-ttl", "0"],
            ["lease-keepalive", "--window", "0"],
            ["watch-latency", "--watchers", "0"],
            ["watch-latency", "--streams", "0"],
        ] {
            let argv = std::iter::once("oxcd-bench").chain(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lease_keepalive_flags_and_defaults() {
        let cli = Cli::try_parse_from(["oxcd-bench", "lease-keepalive"]).unwrap();
        match cli.command {
            Command::LeaseKeepalive(l) => {
                assert_eq!((l.leases, l.lease_ttl, l.window), (10_000, 60, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "oxcd-bench",
            "lease-keepalive",
            "--leases",
            "500",
            "--lease-ttl",
            "30",
            "--window",
            "4",
            "--clients",
            "20",
            "--conns",
            "2",
        ])
        .unwrap();
        assert_eq!((cli.global.clients, cli.global.conns), (20, 2));
        match cli.command {
            Command::LeaseKeepalive(l) => {
                assert_eq!((l.leases, l.lease_ttl, l.window), (500, 30, 4));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
