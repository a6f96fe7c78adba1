//! Server configuration: every etcd 3.4 flag by name, an optional TOML file,
//! and etcd's `ETCD_*` environment variables.
//!
//! Precedence, lowest first: defaults, environment, `--config-file`, command
//! line. (etcd instead ignores flags and environment when a config file is
//! given.) Flags whose feature is not built yet are accepted only with etcd's
//! default value; see [`table`] and `docs/configuration.md`.

mod build;
mod env;
mod error;
mod file;
mod flags;
mod settings;
pub mod table;
mod tls;
mod types;
mod unsupported;
mod urls;
mod values;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use build::{
    DEFAULT_AUTH_TOKEN_TTL, DEFAULT_BCRYPT_COST, DEFAULT_QUOTA_BYTES, DEFAULT_SNAPSHOT_COUNT,
    DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL,
};
pub use error::ConfigError;
pub use types::{
    AuthToken, AutoCompaction, ClusterState, GrpcKeepalive, JwtOptions, LogFormat, LogLevel,
    LogOutput, ProviderSettings,
};
pub use urls::{is_tls, BindAddr, Endpoint};

/// etcd's default `--experimental-compaction-batch-limit`.
pub const DEFAULT_COMPACTION_BATCH_LIMIT: usize = 1000;

/// The validated configuration of one oxcd member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `--name`.
    pub name: String,
    /// `--data-dir` (default `${name}.oxcd`).
    pub data_dir: PathBuf,
    /// `--wal-dir`; `None` keeps the WAL inside the data directory.
    pub wal_dir: Option<PathBuf>,
    /// `--listen-client-urls`, with the addresses to bind.
    pub listen_client_urls: Vec<Endpoint>,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: Vec<String>,
    /// `--listen-metrics-urls`: extra listeners for /metrics and health.
    pub listen_metrics_urls: Vec<Endpoint>,
    /// `--metrics extensive` (adds gRPC handling-time histograms).
    pub extensive_metrics: bool,
    /// The client side's TLS flags (used by https client and metrics URLs).
    pub client_tls: crate::tls::TlsOptions,
    /// The peer side's TLS flags (`--peer-*`).
    pub peer_tls: crate::tls::TlsOptions,
    /// `--max-concurrent-streams`: gRPC streams per client connection
    /// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); `None` for etcd's default,
    /// 2^32-1, which is no limit.
    pub max_concurrent_streams: Option<u32>,
    /// `--experimental-initial-corrupt-check`: compare hashes with the peers
    /// before serving.
    pub initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time`: the leader compares hashes with
    /// every member this often (None: never).
    pub corrupt_check_time: Option<std::time::Duration>,
    /// `--experimental-peer-skip-client-san-verification`.
    pub peer_skip_client_san_verification: bool,
    /// `--cipher-suites` in Go's names (empty: rustls' defaults).
    pub cipher_suites: Vec<String>,
    /// `--self-signed-cert-validity`, in years.
    pub self_signed_cert_validity: u32,
    /// `--listen-peer-urls`, with the addresses to bind.
    pub listen_peer_urls: Vec<Endpoint>,
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--initial-cluster` as (member name, peer URL) pairs, in given order.
    pub initial_cluster: Vec<(String, String)>,
    /// `--discovery-srv`: the initial cluster comes from this domain's SRV
    /// records at first start (`initial_cluster` is then empty).
    pub discovery_srv: Option<String>,
    /// `--discovery-srv-name`: suffix of the SRV service names.
    pub discovery_srv_name: String,
    /// `--initial-cluster-state`.
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: String,
    /// `--quota-backend-bytes` (0 already replaced by 2 GiB).
    pub quota_backend_bytes: u64,
    /// `--max-request-bytes`.
    pub max_request_bytes: u64,
    /// `--max-txn-ops`.
    pub max_txn_ops: u64,
    /// `--heartbeat-interval`.
    pub heartbeat_interval: Duration,
    /// `--election-timeout`.
    pub election_timeout: Duration,
    /// `--snapshot-count` (0 already replaced by 100000).
    pub snapshot_count: u64,
    /// `--backend-batch-interval`: the longest LMDB goes unflushed while
    /// entries are applied (`None`: oxcd's 1 s).
    pub backend_batch_interval: Option<Duration>,
    /// `--backend-batch-limit`: most applied entries between LMDB flushes
    /// (0: `--snapshot-count`).
    pub backend_batch_limit: u64,
    /// `--experimental-compaction-batch-limit`: most records a compaction's
    /// purge examines per LMDB transaction (0 or less: etcd's 1000).
    pub compaction_batch_limit: usize,
    /// `--max-snapshots` (0: unlimited).
    pub max_snapshots: u64,
    /// `--max-wals` (0: unlimited).
    pub max_wals: u64,
    /// `--strict-reconfig-check`.
    pub strict_reconfig_check: bool,
    /// `--cors` (`*` or empty: any origin).
    pub cors: Vec<String>,
    /// `--host-whitelist` (`*` or empty: any host).
    pub host_whitelist: Vec<String>,
    /// `--enable-grpc-gateway`: the JSON gateway on the client port.
    pub enable_grpc_gateway: bool,
    /// `--pre-vote`.
    pub pre_vote: bool,
    /// `--experimental-warning-apply-duration`: an apply slower than this
    /// is logged and counted in `etcd_server_slow_apply_total`.
    pub warning_apply_duration: Duration,
    /// `--unsafe-no-fsync`: no fsync anywhere (tests only).
    pub unsafe_no_fsync: bool,
    /// `--initial-election-tick-advance`.
    pub initial_election_tick_advance: bool,
    /// `--force-new-cluster`: restart as a one-member cluster (see
    /// `server::force_new_cluster`).
    pub force_new_cluster: bool,
    /// `--experimental-watch-progress-notify-interval` (0 already replaced by 10 min,
    /// values under 100 ms raised to 100 ms).
    pub watch_progress_notify_interval: Duration,
    /// `--lease-checkpoint-interval` (oxcd's own; at least 1 s).
    pub lease_checkpoint_interval: Duration,
    /// `--range-memory-budget` (oxcd's own): bytes large ranges may hold; 0 = no limit.
    pub range_memory_budget: u64,
    /// `--auto-compaction-mode` + `--auto-compaction-retention`; `None` is off.
    pub auto_compaction: Option<AutoCompaction>,
    /// `--grpc-keepalive-min-time`, `-interval`, `-timeout`.
    pub grpc_keepalive: GrpcKeepalive,
    /// `--log-level` (`--debug` forces debug).
    pub log_level: LogLevel,
    /// `--log-format` (oxcd's own).
    pub log_format: LogFormat,
    /// `--log-outputs` (or the older `--log-output`): where logs go, each
    /// line to every one.
    pub log_outputs: Vec<LogOutput>,
    /// `--bcrypt-cost` (out of 4..=31 already replaced by 10).
    pub bcrypt_cost: u32,
    /// `--auth-token` and `--auth-token-ttl`.
    pub auth_token: AuthToken,
    /// `--auth-provider` (oxcd's own); checked by the auth module.
    pub auth_provider: String,
    /// The `[auth-providers.NAME]` table of the config file for the
    /// provider `auth_provider` names (empty when there is none).
    pub auth_provider_settings: ProviderSettings,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Non-fatal remarks to log once logging is set up.
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// The configuration oxcd runs with when given no flags.
    fn default() -> Self {
        let localhost = |port: u16| Endpoint {
            url: format!("http://localhost:{port}"),
            addr: BindAddr::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        };
        Config {
            name: "default".to_string(),
            data_dir: PathBuf::from("default.oxcd"),
            wal_dir: None,
            listen_client_urls: vec![localhost(2379)],
            advertise_client_urls: vec!["http://localhost:2379".to_string()],
            listen_metrics_urls: Vec::new(),
            extensive_metrics: false,
            client_tls: crate::tls::TlsOptions::default(),
            peer_tls: crate::tls::TlsOptions::default(),
            initial_corrupt_check: false,
            corrupt_check_time: None,
            max_concurrent_streams: None,
            cipher_suites: Vec::new(),
            peer_skip_client_san_verification: false,
            self_signed_cert_validity: 1,
            listen_peer_urls: vec![localhost(2380)],
            initial_advertise_peer_urls: vec!["http://localhost:2380".to_string()],
            initial_cluster: vec![("default".to_string(), "http://localhost:2380".to_string())],
            discovery_srv: None,
            discovery_srv_name: String::new(),
            initial_cluster_state: ClusterState::New,
            initial_cluster_token: "etcd-cluster".to_string(),
            quota_backend_bytes: DEFAULT_QUOTA_BYTES,
            max_request_bytes: 1_572_864,
            max_txn_ops: 128,
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
            snapshot_count: DEFAULT_SNAPSHOT_COUNT,
            backend_batch_interval: None,
            backend_batch_limit: 0,
            compaction_batch_limit: DEFAULT_COMPACTION_BATCH_LIMIT,
            max_snapshots: 5,
            max_wals: 5,
            strict_reconfig_check: true,
            enable_grpc_gateway: true,
            cors: vec!["*".to_string()],
            host_whitelist: vec!["*".to_string()],
            pre_vote: false,
            force_new_cluster: false,
            unsafe_no_fsync: false,
            warning_apply_duration: Duration::from_millis(100),
            initial_election_tick_advance: true,
            auto_compaction: None,
            lease_checkpoint_interval: Duration::from_secs(300),
            range_memory_budget: 1 << 30,
            watch_progress_notify_interval: DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL,
            grpc_keepalive: GrpcKeepalive::default(),
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            log_outputs: vec![LogOutput::Stderr],
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            auth_token: AuthToken::Simple {
                ttl: DEFAULT_AUTH_TOKEN_TTL,
            },
            auth_provider: "builtin".to_string(),
            auth_provider_settings: ProviderSettings::default(),
            config_file: None,
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// Election timeout in heartbeats (etcd: election-timeout / heartbeat-interval).
    pub fn election_ticks(&self) -> u64 {
        let tick = self.heartbeat_interval.as_millis().max(1);
        (self.election_timeout.as_millis() / tick) as u64
    }

    /// The shortest lease TTL granted, in seconds: one and a half election
    /// timeouts, rounded up (etcd's minLeaseTTL; 2 s with the defaults).
    pub fn min_lease_ttl(&self) -> i64 {
        let tick_ms = self.heartbeat_interval.as_millis().max(1) as u64;
        let min_ms = 3 * self.election_ticks() * tick_ms / 2;
        min_ms.div_ceil(1000) as i64
    }

    /// How long a client request may wait for the cluster: etcd's
    /// 5 s + 2 × election timeout (counted in whole heartbeats, as etcd does).
    pub fn request_timeout(&self) -> Duration {
        let ticks = u32::try_from(self.election_ticks()).unwrap_or(u32::MAX);
        Duration::from_secs(5)
            + self
                .heartbeat_interval
                .saturating_mul(ticks.saturating_mul(2))
    }
}

/// Loads the configuration from `args` (including argv[0]), the process
/// environment and the config file.
pub fn load_from_args<I, T>(args: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let lookup = |var: &str| std::env::var(var).ok();
    let mut config = load_from_args_and_env(args, &lookup)?;
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    config.warnings.extend(env::unrecognized(names));
    Ok(config)
}

/// Like [`load_from_args`], reading environment variables through `env`.
pub fn load_from_args_and_env<I, T>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let from_command_line = flags::parse_args(args)?;
    let mut config_file = None;
    for (spec, value) in &from_command_line {
        match spec.name {
            "version" => match values::parse_bool(value) {
                Ok(true) => return Err(ConfigError::Version(crate::version::version_text())),
                Ok(false) => {}
                Err(reason) => return Err(ConfigError::invalid_value("--version", value, reason)),
            },
            "config-file" => config_file = Some(value.clone()),
            _ => {}
        }
    }
    let config_file = config_file
        .or_else(|| env::lookup(env, env::CONFIG_FILE_VAR))
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);

    let mut settings = settings::Settings::default();
    env::apply(&mut settings, env);
    if let Some(path) = &config_file {
        file::apply(&mut settings, path)?;
    }
    for (spec, value) in from_command_line {
        if spec.settable_outside_command_line() {
            settings.set(spec, value, settings::Source::Flag);
        }
    }

    let warnings = unsupported::check(&settings)?;
    let mut config = build::build(&settings, warnings)?;
    if let Some(path) = &config_file {
        config.auth_provider_settings = file::provider_settings(path, &config.auth_provider)?;
    }
    config.config_file = config_file;
    Ok(config)
}

/// Loads the configuration from the process arguments and environment;
/// prints help/version (exit 0) or the error (exit 1 or 2) and exits if
/// loading does not produce a configuration.
pub fn load_or_exit() -> Config {
    match load_from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(e) if e.is_info() => {
            print!("{e}");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests;
