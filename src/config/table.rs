//! The flag table: every flag oxcd accepts, with etcd's default, its value
//! kind and whether oxcd honours it yet.
//!
//! This is the one place that says which etcd features are built. When a
//! feature lands, flip its entry from [`Status::NotBuiltYet`] to
//! [`Status::Honoured`], teach `build.rs` to read it, and regenerate the row in
//! `docs/configuration.md` (a test compares the two).

/// How oxcd treats a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed, validated and acted upon.
    Honoured,
    /// Accepted only with etcd's default value; any other value is an error
    /// saying the flag is not supported yet.
    NotBuiltYet,
    /// An obsolete etcd flag that etcd itself accepts and ignores with a
    /// warning; oxcd does the same.
    Ignored,
    /// Controls the loader itself (`--config-file`, `--version`).
    Meta,
    /// An etcd feature oxcd does not have by design (see
    /// [`why_not_applicable`]): accepted only with etcd's default value;
    /// any other value is an error saying why.
    NotApplicable,
}

/// Why a [`Status::NotApplicable`] flag has no meaning in oxcd.
pub fn why_not_applicable(name: &str) -> &'static str {
    match name {
        "enable-v2" | "experimental-enable-v2v3" => {
            "oxcd serves only the v3 API (the v2 API is deprecated in etcd 3.4 and gone in 3.6)"
        }
        n if n.starts_with("proxy") => {
            "the v2 proxy is etcd's v2 API feature (gone in etcd 3.6); use a plain TCP load balancer or `etcd grpc-proxy`"
        }
        "discovery" | "discovery-fallback" | "discovery-proxy" => {
            "bootstrap through a v2 discovery service needs the v2 API; list the members in --initial-cluster"
        }
        "enable-pprof" => "it serves Go runtime profiles; profile oxcd with `perf` instead",
        "experimental-backend-bbolt-freelist-type" => {
            "oxcd's backend is LMDB, which has no bbolt freelist"
        }
        "log-package-levels" => {
            "it sets capnslog package levels; use --log-level, or RUST_LOG=module=level"
        }
        _ => "etcd-only feature",
    }
}

/// How a flag's value is written (Go's flag syntax, as etcd parses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true`/`false` (also Go's `1`, `t`, `T`, `TRUE`, `True`, ...); may be
    /// given without a value on the command line.
    Bool,
    /// A non-negative decimal integer.
    Uint,
    /// A signed decimal integer.
    Int,
    /// A Go duration such as `5s`, `2h`, `1h30m` or `0`.
    Duration,
    /// Free text.
    Text,
    /// A comma-separated list (order and duplicates do not matter).
    List,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// Which section of `--help` a flag appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Member,
    Clustering,
    Security,
    Auth,
    Profiling,
    Logging,
    Proxy,
    Experimental,
    Unsafe,
    Deprecated,
    Oxcd,
    Loader,
}

impl Group {
    /// Heading used in `--help` and in the docs.
    pub fn heading(self) -> &'static str {
        match self {
            Group::Member => "Member",
            Group::Clustering => "Clustering",
            Group::Security => "Security",
            Group::Auth => "Auth",
            Group::Profiling => "Profiling and monitoring",
            Group::Logging => "Logging",
            Group::Proxy => "v2 proxy",
            Group::Experimental => "Experimental",
            Group::Unsafe => "Unsafe",
            Group::Deprecated => "Deprecated",
            Group::Oxcd => "oxcd-specific",
            Group::Loader => "Configuration",
        }
    }
}

/// Whose flag this is: etcd's (environment prefix `ETCD_`) or oxcd's own
/// (prefix `OXCD_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Etcd,
    Oxcd,
}

/// One row of the flag table.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    /// The long flag name without dashes; also the TOML key.
    pub name: &'static str,
    /// The default, written the way a user would write it. An empty string
    /// means "empty" (for `--data-dir` it means `${name}.oxcd`).
    pub default: &'static str,
    pub kind: Kind,
    pub status: Status,
    pub group: Group,
    pub origin: Origin,
    /// What the flag does, in oxcd's words.
    pub help: &'static str,
}

impl FlagSpec {
    /// The environment variable read for this flag, e.g. `ETCD_DATA_DIR`.
    pub fn env_var(&self) -> String {
        let prefix = match self.origin {
            Origin::Etcd => "ETCD",
            Origin::Oxcd => "OXCD",
        };
        format!("{prefix}_{}", self.name.to_uppercase().replace('-', "_"))
    }

    /// Whether the flag may be given in the TOML file and the environment.
    pub fn settable_outside_command_line(&self) -> bool {
        self.status != Status::Meta
    }
}

const fn flag(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    status: Status,
    group: Group,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        default,
        kind,
        status,
        group,
        origin: Origin::Etcd,
        help,
    }
}

const fn ignored(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        default: "",
        kind: Kind::Bool,
        status: Status::Ignored,
        group: Group::Deprecated,
        origin: Origin::Etcd,
        help: "Obsolete etcd flag; accepted and ignored with a warning.",
    }
}

use Group as G;
use Kind as K;
use Status as S;

/// Every flag oxcd knows: all flags of etcd 3.4.23 (including the ones its
/// `--help` does not list) plus oxcd's own.
#[rustfmt::skip]
pub const FLAGS: &[FlagSpec] = &[
    // Loader.
    flag("config-file", "", K::Text, S::Meta, G::Loader,
        "TOML or etcd YAML file with settings (keys are flag names without the dashes). Flags given on the command line override it."),
    flag("version", "false", K::Bool, S::Meta, G::Loader,
        "Print oxcd's version and the etcd API version it speaks, then exit."),
    // Member.
    flag("name", "default", K::Text, S::Honoured, G::Member,
        "Name of this member, as listed in --initial-cluster."),
    flag("data-dir", "", K::Text, S::Honoured, G::Member,
        "Directory for this member's data."),
    flag("wal-dir", "", K::Text, S::Honoured, G::Member,
        "Put the write-ahead log in this directory instead of inside --data-dir."),
    flag("snapshot-count", "100000", K::Uint, S::Honoured, G::Member,
        "Applied entries after which LMDB is flushed and the WAL before that point released (also done every second; 0: the default). The leader keeps at most this many entries for a slow follower; one further behind gets a snapshot."),
    flag("heartbeat-interval", "100", K::Uint, S::Honoured, G::Member,
        "Raft heartbeat period in milliseconds."),
    flag("election-timeout", "1000", K::Uint, S::Honoured, G::Member,
        "Raft election timeout in milliseconds: at least 5 heartbeats, at most 50000."),
    flag("initial-election-tick-advance", "true", K::Bool, S::Honoured, G::Member,
        "Skip most of the first election timeout after start-up: a lone member campaigns at once; one with peers skips all but two election ticks once a peer answers and no leader is known. false: wait a whole (randomized) election timeout."),
    flag("listen-peer-urls", "http://localhost:2380", K::List, S::Honoured, G::Member,
        "Comma-separated http://IP:port URLs to accept peer (Raft) connections on."),
    flag("listen-client-urls", "http://localhost:2379", K::List, S::Honoured, G::Member,
        "Comma-separated http://IP:port URLs to serve clients on (localhost means 127.0.0.1)."),
    flag("max-snapshots", "5", K::Uint, S::Honoured, G::Member,
        "How many snapshot files to keep; 0 keeps every one built. oxcd deletes an older one as soon as a newer exists, so it never keeps more than 1."),
    flag("max-wals", "5", K::Uint, S::Honoured, G::Member,
        "How many WAL files to keep; 0 keeps every segment, even those LMDB no longer needs. oxcd deletes a segment as soon as LMDB holds all of it, so it never keeps more than it needs."),
    flag("quota-backend-bytes", "0", K::Int, S::Honoured, G::Member,
        "Backend size that raises the NOSPACE alarm (0: 2 GiB; above 8 GiB only warns)."),
    flag("backend-batch-interval", "0s", K::Duration, S::Honoured, G::Member,
        "Longest time applied entries wait before LMDB is flushed (oxcd's durable backend commit; 0: oxcd's 1s). The WAL covers what is not flushed yet."),
    flag("backend-batch-limit", "0", K::Int, S::Honoured, G::Member,
        "Most applied entries between LMDB flushes (0 or above --snapshot-count: --snapshot-count)."),
    flag("max-txn-ops", "128", K::Uint, S::Honoured, G::Member,
        "Most operations allowed in one transaction."),
    flag("max-request-bytes", "1572864", K::Uint, S::Honoured, G::Member,
        "Largest client request, in bytes, the server accepts."),
    flag("max-concurrent-streams", "4294967295", K::Uint, S::Honoured, G::Member,
        "Most concurrent gRPC streams per client connection."),
    flag("grpc-keepalive-min-time", "5s", K::Duration, S::Honoured, G::Member,
        "Shortest interval at which clients may ping the server while an RPC is open (as grpc-go: without one, pings must be 2h apart; the third early ping gets GOAWAY too_many_pings; 0: grpc-go's 5m)."),
    flag("grpc-keepalive-interval", "2h", K::Duration, S::Honoured, G::Member,
        "How often the server pings idle client connections (0: never)."),
    flag("grpc-keepalive-timeout", "20s", K::Duration, S::Honoured, G::Member,
        "How long to wait for a ping reply before closing the connection (0: forever)."),
    // Clustering.
    flag("initial-advertise-peer-urls", "http://localhost:2380", K::List, S::Honoured, G::Clustering,
        "Comma-separated peer URLs this member tells the rest of the cluster about."),
    flag("initial-cluster", "default=http://localhost:2380", K::Text, S::Honoured, G::Clustering,
        "Bootstrap membership as name=peer-url pairs separated by commas; when not given, ${name}=${initial-advertise-peer-urls}."),
    flag("initial-cluster-state", "new", K::Choice(&["new", "existing"]), S::Honoured, G::Clustering,
        "'new' to bootstrap a new cluster, 'existing' to join a running one."),
    flag("initial-cluster-token", "etcd-cluster", K::Text, S::Honoured, G::Clustering,
        "Token that keeps members of different clusters apart during bootstrap."),
    flag("advertise-client-urls", "http://localhost:2379", K::List, S::Honoured, G::Clustering,
        "Comma-separated client URLs this member publishes; required when --listen-client-urls is given on the command line."),
    flag("discovery", "", K::Text, S::NotApplicable, G::Clustering,
        "Discovery service URL used to bootstrap the cluster."),
    flag("discovery-fallback", "proxy", K::Choice(&["proxy", "exit"]), S::NotApplicable, G::Clustering,
        "What to do when the discovery service fails: 'exit' or 'proxy'."),
    flag("discovery-proxy", "", K::Text, S::NotApplicable, G::Clustering,
        "HTTP proxy for reaching the discovery service."),
    flag("discovery-srv", "", K::Text, S::Honoured, G::Clustering,
        "DNS domain whose SRV records (_etcd-server-ssl._tcp and _etcd-server._tcp) give the initial cluster on first start; excludes --initial-cluster."),
    flag("discovery-srv-name", "", K::Text, S::Honoured, G::Clustering,
        "Suffix added to the SRV service names looked up for discovery (_etcd-server-ssl-NAME._tcp ...)."),
    flag("strict-reconfig-check", "true", K::Bool, S::Honoured, G::Clustering,
        "Refuse membership changes that would lose quorum."),
    flag("pre-vote", "false", K::Bool, S::Honoured, G::Clustering,
        "Run Raft's pre-vote phase before starting an election."),
    flag("auto-compaction-retention", "0", K::Text, S::Honoured, G::Clustering,
        "History kept by automatic compaction: hours or a duration (periodic mode) or revisions (revision mode); 0 disables it."),
    flag("auto-compaction-mode", "periodic", K::Text, S::Honoured, G::Clustering,
        "How to read --auto-compaction-retention: 'periodic' or 'revision'."),
    flag("enable-v2", "false", K::Bool, S::NotApplicable, G::Clustering,
        "Serve the etcd v2 API."),
    // Security.
    flag("cert-file", "", K::Text, S::Honoured, G::Security,
        "TLS certificate for client connections."),
    flag("key-file", "", K::Text, S::Honoured, G::Security,
        "TLS private key for client connections."),
    flag("client-cert-auth", "false", K::Bool, S::Honoured, G::Security,
        "Require clients to present a certificate."),
    flag("client-crl-file", "", K::Text, S::Honoured, G::Security,
        "Certificate revocation list for client certificates."),
    flag("client-cert-allowed-hostname", "", K::Text, S::Honoured, G::Security,
        "Only accept client certificates valid for this host name."),
    flag("trusted-ca-file", "", K::Text, S::Honoured, G::Security,
        "CA bundle used to verify client certificates."),
    flag("auto-tls", "false", K::Bool, S::Honoured, G::Security,
        "Serve clients over TLS with a generated self-signed certificate."),
    flag("peer-cert-file", "", K::Text, S::Honoured, G::Security,
        "TLS certificate for peer connections."),
    flag("peer-key-file", "", K::Text, S::Honoured, G::Security,
        "TLS private key for peer connections."),
    flag("peer-client-cert-auth", "false", K::Bool, S::Honoured, G::Security,
        "Require peers to present a certificate."),
    flag("peer-trusted-ca-file", "", K::Text, S::Honoured, G::Security,
        "CA bundle used to verify peer certificates."),
    flag("peer-cert-allowed-cn", "", K::Text, S::Honoured, G::Security,
        "Only accept peer certificates with this common name."),
    flag("peer-cert-allowed-hostname", "", K::Text, S::Honoured, G::Security,
        "Only accept peer certificates valid for this host name."),
    flag("peer-auto-tls", "false", K::Bool, S::Honoured, G::Security,
        "Talk to peers over TLS with a generated self-signed certificate."),
    flag("peer-crl-file", "", K::Text, S::Honoured, G::Security,
        "Certificate revocation list for peer certificates."),
    flag("cipher-suites", "", K::List, S::Honoured, G::Security,
        "Comma-separated TLS cipher suites to allow, in Go's names (empty: rustls' choice)."),
    flag("self-signed-cert-validity", "1", K::Uint, S::Honoured, G::Security,
        "Years a certificate made by --auto-tls or --peer-auto-tls is valid (etcd 3.5's flag)."),
    flag("cors", "*", K::List, S::Honoured, G::Security,
        "Comma-separated origins given CORS headers on the client port's HTTP endpoints ('*': any); OPTIONS preflights are answered 200."),
    flag("host-whitelist", "*", K::List, S::Honoured, G::Security,
        "Comma-separated Host names accepted by the client port's HTTP endpoints on plain-HTTP listeners ('*': any); others get 421 (DNS rebinding, CVE-2018-5702). TLS listeners accept any."),
    // Auth.
    flag("auth-token", "simple", K::Text, S::Honoured, G::Auth,
        "Kind of auth token and its options: 'simple' or 'jwt,pub-key=..,priv-key=..,sign-method=..,ttl=..'."),
    flag("bcrypt-cost", "10", K::Uint, S::Honoured, G::Auth,
        "bcrypt work factor for stored passwords (4 to 31; others fall back to 10 with a warning, as in etcd)."),
    flag("auth-token-ttl", "300", K::Uint, S::Honoured, G::Auth,
        "Seconds a simple auth token stays valid after its last use."),
    // Profiling and monitoring.
    flag("enable-pprof", "false", K::Bool, S::NotApplicable, G::Profiling,
        "Serve Go runtime profiles under /debug/pprof/ on the client URLs."),
    flag("metrics", "basic", K::Choice(&["basic", "extensive"]), S::Honoured, G::Profiling,
        "Detail of exported metrics: 'basic' or 'extensive'."),
    flag("listen-metrics-urls", "", K::List, S::Honoured, G::Profiling,
        "Extra URLs serving only the metrics and health endpoints."),
    // Logging.
    flag("logger", "capnslog", K::Choice(&["zap", "capnslog"]), S::Honoured, G::Logging,
        "etcd's logger choice; 'zap' and 'capnslog' are both accepted and mean the same: oxcd logs through tracing."),
    flag("log-outputs", "default", K::List, S::Honoured, G::Logging,
        "Comma-separated places logs go, each line to every one: 'stderr', 'stdout', 'default' (stderr) or file paths (appended to)."),
    flag("log-level", "info", K::Choice(&["debug", "info", "warn", "error", "panic", "fatal"]), S::Honoured, G::Logging,
        "Lowest level logged: debug, info, warn, error, panic or fatal."),
    // v2 proxy.
    flag("proxy", "off", K::Choice(&["off", "readonly", "on"]), S::NotApplicable, G::Proxy,
        "Run as a v2 proxy: 'off', 'readonly' or 'on'."),
    flag("proxy-failure-wait", "5000", K::Uint, S::NotApplicable, G::Proxy,
        "Milliseconds a failed endpoint is skipped by the proxy."),
    flag("proxy-refresh-interval", "30000", K::Uint, S::NotApplicable, G::Proxy,
        "Milliseconds between refreshes of the proxy's endpoint list."),
    flag("proxy-dial-timeout", "1000", K::Uint, S::NotApplicable, G::Proxy,
        "Milliseconds the proxy waits for a connection (0: no limit)."),
    flag("proxy-write-timeout", "5000", K::Uint, S::NotApplicable, G::Proxy,
        "Milliseconds the proxy waits for a write (0: no limit)."),
    flag("proxy-read-timeout", "0", K::Uint, S::NotApplicable, G::Proxy,
        "Milliseconds the proxy waits for a read (0: no limit)."),
    // Experimental.
    flag("experimental-initial-corrupt-check", "false", K::Bool, S::Honoured, G::Experimental,
        "Compare data with the other members before serving."),
    flag("experimental-corrupt-check-time", "0s", K::Duration, S::Honoured, G::Experimental,
        "Period of the cluster-wide corruption check (0: off)."),
    flag("experimental-enable-v2v3", "", K::Text, S::NotApplicable, G::Experimental,
        "Serve the v2 API from the v3 store under this key prefix."),
    flag("experimental-backend-bbolt-freelist-type", "array", K::Text, S::NotApplicable, G::Experimental,
        "bbolt freelist layout: 'array' or 'map'."),
    flag("experimental-enable-lease-checkpoint", "false", K::Bool, S::Honoured, G::Experimental,
        "Checkpoint remaining lease TTLs through raft. Always on in oxcd; the flag is accepted."),
    flag("experimental-enable-lease-checkpoint-persist", "false", K::Bool, S::Honoured, G::Experimental,
        "Persist checkpointed lease TTLs. Always on in oxcd; the flag is accepted."),
    flag("experimental-compaction-batch-limit", "1000", K::Int, S::Honoured, G::Experimental,
        "Most records a compaction's purge goes through per backend transaction, with a 10ms pause between (0: 1000). Reads see the compaction at once."),
    flag("experimental-peer-skip-client-san-verification", "false", K::Bool, S::Honoured, G::Experimental,
        "Do not check a peer's client certificate against the address it connects from (by default, as in etcd, a certificate naming IPs or DNS names must name that address or a name resolving to it)."),
    flag("experimental-watch-progress-notify-interval", "10m", K::Duration, S::Honoured, G::Experimental,
        "Period of progress notifications sent to idle watchers (0: 10m; at least 100ms)."),
    flag("experimental-warning-apply-duration", "100ms", K::Duration, S::Honoured, G::Experimental,
        "Log 'apply request took too long' and count etcd_server_slow_apply_total when applying takes longer than this (oxcd applies in batches: a slow batch counts once)."),
    // Unsafe.
    flag("force-new-cluster", "false", K::Bool, S::Honoured, G::Unsafe,
        "Restart as a one-member cluster holding this member's data: uncommitted entries are dropped and every other member is removed through the log (disaster recovery after losing quorum; ignored on a new data dir)."),
    flag("unsafe-no-fsync", "false", K::Bool, S::Honoured, G::Unsafe,
        "Disables fsync, unsafe, will cause data loss (etcd's words): no WAL or backend sync at all. For tests only; logged as a warning at start."),
    // Deprecated in etcd.
    flag("debug", "false", K::Bool, S::Honoured, G::Deprecated,
        "Same as --log-level=debug."),
    flag("log-package-levels", "", K::Text, S::NotApplicable, G::Deprecated,
        "Per-package log levels such as 'etcdserver=DEBUG'."),
    flag("log-output", "default", K::List, S::Honoured, G::Deprecated,
        "Older spelling of --log-outputs (used when --log-outputs is not given, with a warning)."),
    flag("enable-grpc-gateway", "true", K::Bool, S::Honoured, G::Deprecated,
        "Serve the JSON gateway for the v3 API over HTTP (/v3/..., /v3beta/...)."),
    ignored("cluster-active-size"),
    ignored("cluster-remove-delay"),
    ignored("cluster-sync-interval"),
    ignored("config"),
    ignored("force"),
    ignored("max-result-buffer"),
    ignored("max-retry-attempts"),
    ignored("peer-heartbeat-interval"),
    ignored("peer-election-timeout"),
    ignored("retry-interval"),
    ignored("snapshot"),
    ignored("v"),
    ignored("vv"),
    // oxcd's own.
    FlagSpec {
        name: "log-format",
        default: "text",
        kind: K::Choice(&["text", "json"]),
        status: S::Honoured,
        group: G::Oxcd,
        origin: Origin::Oxcd,
        help: "Log line format: 'text' or 'json'.",
    },
    FlagSpec {
        name: "auth-provider",
        default: "builtin",
        kind: K::Text,
        status: S::Honoured,
        group: G::Oxcd,
        origin: Origin::Oxcd,
        help: "Name of the authentication provider to use (checked when the server starts).",
    },
    FlagSpec {
        name: "range-memory-budget",
        default: "1073741824",
        kind: K::Uint,
        status: S::Honoured,
        group: G::Oxcd,
        origin: Origin::Oxcd,
        help: "Bytes that ranges over many keys may hold at once while they are loaded and sent (each is charged twice its stored size; one that waits more than a minute gets 'too many requests'). 0 means no limit.",
    },
    FlagSpec {
        name: "lease-checkpoint-interval",
        default: "5m",
        kind: K::Duration,
        status: S::Honoured,
        group: G::Oxcd,
        origin: Origin::Oxcd,
        help: "How often remaining lease TTLs are checkpointed through raft, so a restart resumes them (etcd's fixed 5m).",
    },
];

/// Looks a flag up by name (without dashes).
pub fn spec(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The default of a flag, or "" for a name not in the table.
pub fn default_of(name: &str) -> &'static str {
    spec(name).map(|f| f.default).unwrap_or("")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every flag listed by `etcd --help` of etcd 3.4.23.
    pub(crate) const ETCD_3_4_23_HELP_FLAGS: &[&str] = &[
        "config-file",
        "version",
        "name",
        "data-dir",
        "wal-dir",
        "snapshot-count",
        "heartbeat-interval",
        "election-timeout",
        "initial-election-tick-advance",
        "listen-peer-urls",
        "listen-client-urls",
        "max-snapshots",
        "max-wals",
        "quota-backend-bytes",
        "backend-batch-interval",
        "backend-batch-limit",
        "max-txn-ops",
        "max-request-bytes",
        "max-concurrent-streams",
        "grpc-keepalive-min-time",
        "grpc-keepalive-interval",
        "grpc-keepalive-timeout",
        "initial-advertise-peer-urls",
        "initial-cluster",
        "initial-cluster-state",
        "initial-cluster-token",
        "advertise-client-urls",
        "discovery",
        "discovery-fallback",
        "discovery-proxy",
        "discovery-srv",
        "discovery-srv-name",
        "strict-reconfig-check",
        "pre-vote",
        "auto-compaction-retention",
        "auto-compaction-mode",
        "enable-v2",
        "cert-file",
        "key-file",
        "client-cert-auth",
        "client-crl-file",
        "client-cert-allowed-hostname",
        "trusted-ca-file",
        "auto-tls",
        "peer-cert-file",
        "peer-key-file",
        "peer-client-cert-auth",
        "peer-trusted-ca-file",
        "peer-cert-allowed-cn",
        "peer-cert-allowed-hostname",
        "peer-auto-tls",
        "peer-crl-file",
        "cipher-suites",
        "cors",
        "host-whitelist",
        "auth-token",
        "bcrypt-cost",
        "auth-token-ttl",
        "enable-pprof",
        "metrics",
        "listen-metrics-urls",
        "logger",
        "log-outputs",
        "log-level",
        "proxy",
        "proxy-failure-wait",
        "proxy-refresh-interval",
        "proxy-dial-timeout",
        "proxy-write-timeout",
        "proxy-read-timeout",
        "experimental-initial-corrupt-check",
        "experimental-corrupt-check-time",
        "experimental-enable-v2v3",
        "experimental-backend-bbolt-freelist-type",
        "experimental-enable-lease-checkpoint",
        "experimental-compaction-batch-limit",
        "experimental-peer-skip-client-san-verification",
        "experimental-watch-progress-notify-interval",
        "experimental-warning-apply-duration",
        "force-new-cluster",
        "debug",
        "log-package-levels",
    ];

    #[test]
    fn every_etcd_help_flag_is_in_the_table() {
        let missing: Vec<_> = ETCD_3_4_23_HELP_FLAGS
            .iter()
            .filter(|n| spec(n).is_none())
            .collect();
        assert!(missing.is_empty(), "missing flags: {missing:?}");
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let mut seen = BTreeSet::new();
        for f in FLAGS {
            assert!(seen.insert(f.name), "duplicate flag {}", f.name);
            assert!(!f.name.starts_with('-'), "{}", f.name);
            assert!(!f.help.is_empty(), "{}", f.name);
        }
    }

    #[test]
    fn honoured_flags_match_the_plan() {
        let honoured: BTreeSet<_> = FLAGS
            .iter()
            .filter(|f| f.status == Status::Honoured)
            .map(|f| f.name)
            .collect();
        for name in [
            "name",
            "data-dir",
            "wal-dir",
            "listen-client-urls",
            "advertise-client-urls",
            "listen-peer-urls",
            "initial-advertise-peer-urls",
            "initial-cluster",
            "initial-cluster-state",
            "initial-cluster-token",
            "quota-backend-bytes",
            "max-request-bytes",
            "max-txn-ops",
            "heartbeat-interval",
            "election-timeout",
            "snapshot-count",
            "auto-compaction-mode",
            "auto-compaction-retention",
            "log-level",
            "logger",
            "log-outputs",
            "grpc-keepalive-interval",
            "grpc-keepalive-timeout",
            "debug",
            "strict-reconfig-check",
            "pre-vote",
            "log-format",
            "auth-provider",
        ] {
            assert!(honoured.contains(name), "{name} should be honoured");
        }
        assert_eq!(
            spec("grpc-keepalive-min-time").map(|f| f.status),
            Some(Status::Honoured)
        );
    }

    /// The row `docs/configuration.md` must carry for a flag.
    pub(crate) fn doc_row(f: &FlagSpec) -> String {
        let default = match (f.name, f.default) {
            ("data-dir", _) => "`${name}.oxcd`".to_string(),
            (_, "") => "''".to_string(),
            (_, d) => format!("`{d}`"),
        };
        let status = match f.status {
            Status::Honoured => "honoured",
            Status::NotBuiltYet => "not built yet",
            Status::Ignored => "ignored",
            Status::Meta => "honoured",
            Status::NotApplicable => "not in oxcd",
        };
        let toml_key = if f.settable_outside_command_line() {
            format!("`{}`", f.name)
        } else {
            "-".to_string()
        };
        let env = match f.name {
            "version" => "-".to_string(),
            _ => format!("`{}`", f.env_var()),
        };
        format!(
            "| `--{}` | {toml_key} | {env} | {default} | {status} | {} |",
            f.name, f.help
        )
    }

    #[test]
    fn docs_list_every_flag_with_its_status() {
        let doc = include_str!("../../docs/configuration.md");
        for f in FLAGS {
            let row = doc_row(f);
            assert!(
                doc.contains(&row),
                "docs/configuration.md lacks (or has an outdated) row:\n{row}\n\
                 (run scripts/regen-flag-docs.sh)"
            );
        }
    }

    /// Prints the flag tables for `docs/configuration.md`.
    #[test]
    #[ignore]
    fn print_docs_table() {
        let mut group = None;
        for f in FLAGS {
            if group != Some(f.group) {
                group = Some(f.group);
                println!("\n### {}\n", f.group.heading());
                println!("| Flag | TOML key | Environment | Default | Status | Meaning |");
                println!("|---|---|---|---|---|---|");
            }
            println!("{}", doc_row(f));
        }
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            spec("data-dir").map(|f| f.env_var()).as_deref(),
            Some("ETCD_DATA_DIR")
        );
        assert_eq!(
            spec("log-format").map(|f| f.env_var()).as_deref(),
            Some("OXCD_LOG_FORMAT")
        );
    }
}
