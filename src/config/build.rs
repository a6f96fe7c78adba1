//! Turns validated raw settings into a [`Config`], applying etcd's rules and
//! error messages for the honoured flags.

use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::settings::{Settings, Source};
use super::tls;
use super::types::{
    AuthToken, AutoCompaction, ClusterState, GrpcKeepalive, JwtOptions, LogFormat, LogLevel,
    LogOutput,
};
use super::urls;
use super::values;
use super::Config;

/// Quota used when `--quota-backend-bytes` is 0 (etcd's: 2 GiB).
pub const DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Largest quota etcd recommends (8 GiB); more only warns.
pub const MAX_RECOMMENDED_QUOTA_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// Largest request size etcd recommends (10 MiB); more only warns.
pub const MAX_RECOMMENDED_REQUEST_BYTES: u64 = 10 * 1024 * 1024;
/// Snapshot count used when `--snapshot-count` is 0 (etcd's).
pub const DEFAULT_SNAPSHOT_COUNT: u64 = 100_000;
/// How long a simple token lives unused when `--auth-token-ttl` is 0 (etcd's).
pub const DEFAULT_AUTH_TOKEN_TTL: Duration = Duration::from_secs(300);
/// etcd's JWT lifetime when `ttl` is not given.
pub const DEFAULT_JWT_TTL: Duration = Duration::from_secs(300);
/// etcd's (and bcrypt's) default work factor for password hashes.
pub const DEFAULT_BCRYPT_COST: u32 = 10;
/// etcd's period of progress notifications to idle watchers.
pub const DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);
/// The shortest period etcd accepts; shorter values are raised to it.
const MIN_WATCH_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_millis(100);
/// Upper bound of `--election-timeout` in milliseconds (etcd's).
pub const MAX_ELECTION_MS: u64 = 50_000;

struct Logging {
    level: LogLevel,
    format: LogFormat,
    outputs: Vec<LogOutput>,
}

fn logging(s: &Settings, warnings: &mut Vec<String>) -> Result<Logging, ConfigError> {
    match s.text("logger") {
        "zap" | "capnslog" => {}
        _ => {
            return Err(s.invalid(
                "logger",
                "unknown logger option; expected 'zap' or 'capnslog'",
            ))
        }
    }
    // etcd 3.4 still reads the older single-value `--log-output`.
    let mut outputs_flag = "log-outputs";
    if s.is_set("log-output") && !s.is_set("log-outputs") {
        warnings.push("--log-output is deprecated; use --log-outputs".to_string());
        outputs_flag = "log-output";
    }
    let mut outputs: Vec<LogOutput> = Vec::new();
    for value in values::split_list(s.text(outputs_flag)) {
        let output = LogOutput::parse(&value);
        if !outputs.contains(&output) {
            outputs.push(output);
        }
    }
    if outputs.is_empty() {
        return Err(s.invalid(
            outputs_flag,
            "expected 'stderr', 'stdout', 'default' or file paths",
        ));
    }
    let mut level = LogLevel::parse(s.text("log-level")).ok_or_else(|| {
        s.invalid(
            "log-level",
            "only supports debug, info, warn, error, panic, or fatal",
        )
    })?;
    if s.bool("debug")? {
        warnings.push("--debug is deprecated; use --log-level=debug".to_string());
        level = LogLevel::Debug;
    }
    let format = match s.text("log-format") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        _ => return Err(s.invalid("log-format", "expected 'text' or 'json'")),
    };
    Ok(Logging {
        level,
        format,
        outputs,
    })
}

/// Heartbeat interval and election timeout, with etcd's checks and messages.
fn raft_timing(s: &Settings) -> Result<(Duration, Duration), ConfigError> {
    let tick = s.uint("heartbeat-interval")?;
    let election = s.uint("election-timeout")?;
    if tick == 0 {
        return Err(ConfigError::Invalid(
            "--heartbeat-interval must be >0 (set to 0ms)".to_string(),
        ));
    }
    if election == 0 {
        return Err(ConfigError::Invalid(
            "--election-timeout must be >0 (set to 0ms)".to_string(),
        ));
    }
    if 5 * u128::from(tick) > u128::from(election) {
        return Err(ConfigError::Invalid(format!(
            "--election-timeout[{election}ms] should be at least as 5 times as --heartbeat-interval[{tick}ms]"
        )));
    }
    if election > MAX_ELECTION_MS {
        return Err(ConfigError::Invalid(format!(
            "--election-timeout[{election}ms] is too long, and should be set less than {MAX_ELECTION_MS}ms"
        )));
    }
    Ok((Duration::from_millis(tick), Duration::from_millis(election)))
}

/// `--auto-compaction-mode` and `--auto-compaction-retention`, read like
/// etcd: a plain number is hours (periodic) or revisions (revision); a Go
/// duration is accepted in periodic mode. Zero disables compaction.
fn auto_compaction(s: &Settings) -> Result<Option<AutoCompaction>, ConfigError> {
    const MODE: &str = "auto-compaction-mode";
    const RETENTION: &str = "auto-compaction-retention";
    let periodic = match s.text(MODE) {
        "periodic" => true,
        "revision" => false,
        _ => return Err(s.invalid(MODE, "expected 'periodic' or 'revision'")),
    };
    let raw = s.text(RETENTION);
    let compaction = match values::parse_int(raw) {
        Ok(n) if n >= 0 => {
            let n = n as u64;
            if periodic {
                let secs = n
                    .checked_mul(3600)
                    .ok_or_else(|| s.invalid(RETENTION, "too many hours"))?;
                AutoCompaction::Periodic(Duration::from_secs(secs))
            } else {
                AutoCompaction::Revision(n)
            }
        }
        _ if !periodic => {
            return Err(s.invalid(
                RETENTION,
                "in revision mode the retention is a non-negative number of revisions",
            ))
        }
        _ => {
            let nanos = values::parse_go_duration(raw).map_err(|e| s.invalid(RETENTION, e))?;
            if nanos < 0 {
                return Err(s.invalid(RETENTION, "retention must not be negative"));
            }
            AutoCompaction::Periodic(Duration::from_nanos(nanos as u64))
        }
    };
    Ok(match compaction {
        AutoCompaction::Periodic(d) if d.is_zero() => None,
        AutoCompaction::Revision(0) => None,
        other => Some(other),
    })
}

fn quota(s: &Settings, warnings: &mut Vec<String>) -> Result<u64, ConfigError> {
    let quota = s.int("quota-backend-bytes")?;
    if quota < 0 {
        return Err(s.unsupported(
            "quota-backend-bytes",
            "a negative value, which disables the quota in etcd",
        ));
    }
    let quota = if quota == 0 {
        DEFAULT_QUOTA_BYTES
    } else {
        quota as u64
    };
    if quota > MAX_RECOMMENDED_QUOTA_BYTES {
        warnings.push(format!(
            "backend quota {quota} exceeds maximum recommended quota {MAX_RECOMMENDED_QUOTA_BYTES}"
        ));
    }
    Ok(quota)
}

fn watch_progress_interval(
    s: &Settings,
    warnings: &mut Vec<String>,
) -> Result<Duration, ConfigError> {
    let interval = s.duration("experimental-watch-progress-notify-interval")?;
    if interval.is_zero() {
        return Ok(DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL);
    }
    if interval < MIN_WATCH_PROGRESS_NOTIFY_INTERVAL {
        warnings.push(format!(
            "adjusting watch progress notify interval to minimum period {}ms",
            MIN_WATCH_PROGRESS_NOTIFY_INTERVAL.as_millis()
        ));
        return Ok(MIN_WATCH_PROGRESS_NOTIFY_INTERVAL);
    }
    Ok(interval)
}

fn max_request_bytes(s: &Settings, warnings: &mut Vec<String>) -> Result<u64, ConfigError> {
    let bytes = s.uint("max-request-bytes")?;
    if bytes == 0 {
        return Err(s.invalid("max-request-bytes", "must be greater than 0"));
    }
    if bytes > MAX_RECOMMENDED_REQUEST_BYTES {
        warnings.push(format!(
            "--max-request-bytes {bytes} exceeds maximum recommended size {MAX_RECOMMENDED_REQUEST_BYTES}"
        ));
    }
    Ok(bytes)
}

fn cluster_state(s: &Settings) -> Result<ClusterState, ConfigError> {
    match s.text("initial-cluster-state") {
        "new" => Ok(ClusterState::New),
        "existing" => Ok(ClusterState::Existing),
        _ => Err(s.invalid("initial-cluster-state", "expected 'new' or 'existing'")),
    }
}

/// etcd insists on advertised client URLs when the listen URLs were set on
/// the command line (or through the environment) but these were not.
fn check_advertise_client_urls(s: &Settings) -> Result<(), ConfigError> {
    let listen_set_explicitly = matches!(
        s.source("listen-client-urls"),
        Some(Source::Flag | Source::Env(_))
    );
    if listen_set_explicitly && !s.is_set("advertise-client-urls") {
        return Err(ConfigError::Invalid(
            "--advertise-client-urls is required when --listen-client-urls is set explicitly"
                .to_string(),
        ));
    }
    Ok(())
}

/// `--max-concurrent-streams`: 1 to 2^32-1; the maximum means no limit.
fn max_concurrent_streams(s: &Settings) -> Result<Option<u32>, ConfigError> {
    let n = s.uint("max-concurrent-streams")?;
    match u32::try_from(n) {
        Ok(0) => Err(s.invalid("max-concurrent-streams", "must be at least 1")),
        Ok(u32::MAX) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(s.invalid("max-concurrent-streams", "must be at most 4294967295")),
    }
}

/// Builds the configuration. `warnings` receives non-fatal remarks.
pub fn build(s: &Settings, mut warnings: Vec<String>) -> Result<Config, ConfigError> {
    let log = logging(s, &mut warnings)?;
    let name = s.text("name").to_string();
    let data_dir = match s.text("data-dir") {
        "" => PathBuf::from(format!("{name}.oxcd")),
        dir => PathBuf::from(dir),
    };
    let wal_dir = match s.text("wal-dir") {
        "" => None,
        dir => Some(PathBuf::from(dir)),
    };
    let listen_peer_urls = urls::listen_urls(s, "listen-peer-urls")?;
    let listen_client_urls = urls::listen_urls(s, "listen-client-urls")?;
    let listen_metrics_urls = match s.raw("listen-metrics-urls") {
        "" => Vec::new(),
        _ => urls::listen_urls(s, "listen-metrics-urls")?,
    };
    let client_tls = tls::client_tls(s)?;
    let served: Vec<&urls::Endpoint> = listen_client_urls
        .iter()
        .chain(&listen_metrics_urls)
        .collect();
    tls::check_urls(tls::Side::Client, &served, &client_tls, &mut warnings)?;
    let peer_tls = tls::peer_tls(s)?;
    let peer_urls: Vec<&urls::Endpoint> = listen_peer_urls.iter().collect();
    tls::check_urls(tls::Side::Peer, &peer_urls, &peer_tls, &mut warnings)?;
    let initial_advertise_peer_urls = urls::advertise_urls(s, "initial-advertise-peer-urls")?;
    let advertise_client_urls = urls::advertise_urls(s, "advertise-client-urls")?;
    let initial_cluster_state = cluster_state(s)?;
    let (heartbeat_interval, election_timeout) = raft_timing(s)?;
    check_advertise_client_urls(s)?;
    let auto_compaction = auto_compaction(s)?;
    let discovery_srv = Some(s.text("discovery-srv").trim().to_string()).filter(|d| !d.is_empty());
    let initial_cluster = if discovery_srv.is_some() {
        if s.is_set("initial-cluster") {
            return Err(ConfigError::Invalid(
                "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\"".into(),
            ));
        }
        // Resolved at first start (server::discovery_srv), checked there.
        Vec::new()
    } else {
        let initial_cluster = if s.is_set("initial-cluster") {
            urls::initial_cluster(s)?
        } else {
            initial_advertise_peer_urls
                .iter()
                .map(|url| (name.clone(), url.clone()))
                .collect()
        };
        urls::check_local_member(
            &name,
            &initial_cluster,
            &initial_advertise_peer_urls,
            initial_cluster_state == ClusterState::New,
        )?;
        initial_cluster
    };
    let quota_backend_bytes = quota(s, &mut warnings)?;
    let max_request_bytes = max_request_bytes(s, &mut warnings)?;
    let snapshot_count = match s.uint("snapshot-count")? {
        0 => DEFAULT_SNAPSHOT_COUNT,
        n => n,
    };
    let watch_progress_notify_interval = watch_progress_interval(s, &mut warnings)?;
    let range_memory_budget = s.uint("range-memory-budget")?;
    let lease_checkpoint_interval = s.duration("lease-checkpoint-interval")?;
    if lease_checkpoint_interval < Duration::from_secs(1) {
        return Err(s.invalid("lease-checkpoint-interval", "must be at least 1s"));
    }
    let bcrypt_cost = bcrypt_cost(s, &mut warnings)?;
    let auth_token = auth_token(s)?;
    let auth_provider = s.text("auth-provider").to_string();
    if auth_provider.is_empty() {
        return Err(s.invalid("auth-provider", "must not be empty"));
    }
    Ok(Config {
        name,
        data_dir,
        wal_dir,
        listen_client_urls,
        advertise_client_urls,
        listen_metrics_urls,
        extensive_metrics: s.text("metrics") == "extensive",
        client_tls,
        peer_tls,
        initial_corrupt_check: s.bool("experimental-initial-corrupt-check")?,
        corrupt_check_time: Some(s.duration("experimental-corrupt-check-time")?)
            .filter(|t| !t.is_zero()),
        max_concurrent_streams: max_concurrent_streams(s)?,
        cipher_suites: tls::cipher_suites(s),
        peer_skip_client_san_verification: s
            .bool("experimental-peer-skip-client-san-verification")?,
        self_signed_cert_validity: tls::self_signed_cert_validity(s)?,
        listen_peer_urls,
        initial_advertise_peer_urls,
        initial_cluster,
        discovery_srv,
        discovery_srv_name: s.text("discovery-srv-name").trim().to_string(),
        initial_cluster_state,
        initial_cluster_token: s.text("initial-cluster-token").to_string(),
        quota_backend_bytes,
        max_request_bytes,
        max_txn_ops: s.uint("max-txn-ops")?,
        heartbeat_interval,
        election_timeout,
        snapshot_count,
        backend_batch_interval: Some(s.duration("backend-batch-interval")?)
            .filter(|d| !d.is_zero()),
        backend_batch_limit: u64::try_from(s.int("backend-batch-limit")?).unwrap_or(0),
        compaction_batch_limit: match s.int("experimental-compaction-batch-limit")? {
            n if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => super::DEFAULT_COMPACTION_BATCH_LIMIT,
        },
        max_snapshots: s.uint("max-snapshots")?,
        max_wals: s.uint("max-wals")?,
        strict_reconfig_check: s.bool("strict-reconfig-check")?,
        enable_grpc_gateway: s.bool("enable-grpc-gateway")?,
        cors: urls::cors_origins(s)?,
        host_whitelist: values::split_list(s.text("host-whitelist")),
        pre_vote: s.bool("pre-vote")?,
        force_new_cluster: s.bool("force-new-cluster")?,
        unsafe_no_fsync: s.bool("unsafe-no-fsync")?,
        warning_apply_duration: s.duration("experimental-warning-apply-duration")?,
        initial_election_tick_advance: s.bool("initial-election-tick-advance")?,
        auto_compaction,
        watch_progress_notify_interval,
        lease_checkpoint_interval,
        range_memory_budget,
        grpc_keepalive: GrpcKeepalive {
            min_time: s.duration("grpc-keepalive-min-time")?,
            interval: s.duration("grpc-keepalive-interval")?,
            timeout: s.duration("grpc-keepalive-timeout")?,
        },
        log_level: log.level,
        log_format: log.format,
        log_outputs: log.outputs,
        bcrypt_cost,
        auth_token,
        auth_provider,
        auth_provider_settings: Default::default(),
        config_file: None,
        warnings,
    })
}

/// `--auth-token` and `--auth-token-ttl` (etcd: 0 means its default).
fn auth_token(s: &Settings) -> Result<AuthToken, ConfigError> {
    let ttl = match s.uint("auth-token-ttl")? {
        0 => DEFAULT_AUTH_TOKEN_TTL,
        n => Duration::from_secs(n),
    };
    let spec = s.text("auth-token");
    let mut parts = spec.split(',');
    match parts.next().unwrap_or_default() {
        "simple" => Ok(AuthToken::Simple { ttl }),
        "jwt" => jwt_options(parts)
            .map(AuthToken::Jwt)
            .map_err(|reason| s.invalid("auth-token", reason)),
        other => Err(s.invalid(
            "auth-token",
            format!("unknown token type {other:?} (simple or jwt)"),
        )),
    }
}

/// `key=value` options after `jwt`, as etcd reads them: each once, known
/// ones only (etcd warns about unknown ones; oxcd refuses them, as a typo
/// would otherwise leave a key unset).
fn jwt_options<'a>(parts: impl Iterator<Item = &'a str>) -> Result<JwtOptions, String> {
    let mut options = JwtOptions {
        sign_method: String::new(),
        pub_key: None,
        priv_key: None,
        ttl: DEFAULT_JWT_TTL,
    };
    let mut seen = Vec::new();
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("jwt option {part:?} is not key=value"))?;
        if seen.contains(&key) {
            return Err(format!("jwt option {key:?} given twice"));
        }
        seen.push(key);
        match key {
            "sign-method" => options.sign_method = value.to_string(),
            "pub-key" => options.pub_key = Some(PathBuf::from(value)),
            "priv-key" => options.priv_key = Some(PathBuf::from(value)),
            "ttl" => {
                options.ttl =
                    values::parse_duration(value).map_err(|e| format!("jwt ttl {value:?}: {e}"))?
            }
            other => return Err(format!("unknown jwt option {other:?}")),
        }
    }
    if options.sign_method.is_empty() {
        return Err("jwt needs sign-method".into());
    }
    Ok(options)
}

/// bcrypt's own bounds; etcd warns and uses its default outside them.
fn bcrypt_cost(s: &Settings, warnings: &mut Vec<String>) -> Result<u32, ConfigError> {
    let cost = s.uint("bcrypt-cost")?;
    if (4..=31).contains(&cost) {
        return Ok(cost as u32);
    }
    warnings.push(format!(
        "use default bcrypt cost instead of the invalid given cost (min-cost 4, max-cost 31, default-cost {DEFAULT_BCRYPT_COST}, given-cost {cost})"
    ));
    Ok(DEFAULT_BCRYPT_COST)
}

#[cfg(test)]
mod tests {
    use super::super::table;
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut s = Settings::default();
        for (name, value) in pairs {
            match table::spec(name) {
                Some(spec) => s.set(spec, value.to_string(), Source::Flag),
                None => panic!("unknown flag {name}"),
            }
        }
        s
    }

    fn built(pairs: &[(&str, &str)]) -> Config {
        match build(&settings(pairs), Vec::new()) {
            Ok(c) => c,
            Err(e) => panic!("{pairs:?}: {e}"),
        }
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        match build(&settings(pairs), Vec::new()) {
            Ok(c) => panic!("{pairs:?} should fail, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn raft_timing_rules() {
        assert_eq!(
            error(&[("election-timeout", "10")]),
            "oxcd: --election-timeout[10ms] should be at least as 5 times as --heartbeat-interval[100ms]"
        );
        assert_eq!(
            error(&[
                ("election-timeout", "60000"),
                ("heartbeat-interval", "1000")
            ]),
            "oxcd: --election-timeout[60000ms] is too long, and should be set less than 50000ms"
        );
        assert_eq!(
            error(&[("heartbeat-interval", "0")]),
            "oxcd: --heartbeat-interval must be >0 (set to 0ms)"
        );
        assert_eq!(
            error(&[("election-timeout", "0")]),
            "oxcd: --election-timeout must be >0 (set to 0ms)"
        );
        assert_eq!(
            error(&[("heartbeat-interval", "abc")]),
            "oxcd: invalid value \"abc\" for --heartbeat-interval: expected a non-negative whole number"
        );
        let c = built(&[
            ("election-timeout", "50000"),
            ("heartbeat-interval", "10000"),
        ]);
        assert_eq!(c.election_timeout, Duration::from_secs(50));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(10));
    }

    #[test]
    fn compaction_rules() {
        let periodic = |r: &str| built(&[("auto-compaction-retention", r)]).auto_compaction;
        assert_eq!(periodic("0"), None);
        assert_eq!(periodic("0s"), None);
        assert_eq!(
            periodic("1"),
            Some(AutoCompaction::Periodic(Duration::from_secs(3600)))
        );
        assert_eq!(
            periodic("30m"),
            Some(AutoCompaction::Periodic(Duration::from_secs(1800)))
        );
        assert_eq!(
            periodic("1h30m"),
            Some(AutoCompaction::Periodic(Duration::from_secs(5400)))
        );
        let c = built(&[
            ("auto-compaction-mode", "revision"),
            ("auto-compaction-retention", "1000"),
        ]);
        assert_eq!(c.auto_compaction, Some(AutoCompaction::Revision(1000)));
        assert_eq!(
            error(&[("auto-compaction-mode", "daily")]),
            "oxcd: invalid value \"daily\" for --auto-compaction-mode: expected 'periodic' or 'revision'"
        );
        assert_eq!(
            error(&[("auto-compaction-retention", "1x")]),
            "oxcd: invalid value \"1x\" for --auto-compaction-retention: time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            error(&[("auto-compaction-retention", "-1h")]),
            "oxcd: invalid value \"-1h\" for --auto-compaction-retention: retention must not be negative"
        );
        assert_eq!(
            error(&[("auto-compaction-mode", "revision"), ("auto-compaction-retention", "1h")]),
            "oxcd: invalid value \"1h\" for --auto-compaction-retention: in revision mode the retention is a non-negative number of revisions"
        );
    }

    #[test]
    fn quota_rules() {
        assert_eq!(built(&[]).quota_backend_bytes, DEFAULT_QUOTA_BYTES);
        assert_eq!(
            built(&[("quota-backend-bytes", "1024")]).quota_backend_bytes,
            1024
        );
        let big = built(&[("quota-backend-bytes", "17179869184")]);
        assert_eq!(big.quota_backend_bytes, 17_179_869_184);
        assert_eq!(
            big.warnings,
            vec!["backend quota 17179869184 exceeds maximum recommended quota 8589934592"]
        );
        assert_eq!(
            error(&[("quota-backend-bytes", "-1")]),
            "oxcd: --quota-backend-bytes is not supported yet (a negative value, which disables the quota in etcd)"
        );
        assert_eq!(
            error(&[("quota-backend-bytes", "lots")]),
            "oxcd: invalid value \"lots\" for --quota-backend-bytes: expected a whole number"
        );
    }

    #[test]
    fn request_size_rules() {
        assert_eq!(
            error(&[("max-request-bytes", "0")]),
            "oxcd: invalid value \"0\" for --max-request-bytes: must be greater than 0"
        );
        let c = built(&[("max-request-bytes", "20971520")]);
        assert_eq!(c.max_request_bytes, 20_971_520);
        assert_eq!(
            c.warnings,
            vec!["--max-request-bytes 20971520 exceeds maximum recommended size 10485760"]
        );
    }

    #[test]
    fn logging_rules() {
        let c = built(&[
            ("log-level", "warn"),
            ("log-outputs", "stdout"),
            ("log-format", "json"),
            ("logger", "zap"),
        ]);
        assert_eq!(
            (c.log_level, c.log_outputs, c.log_format),
            (LogLevel::Warn, vec![LogOutput::Stdout], LogFormat::Json)
        );
        let c = built(&[("debug", "true")]);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(
            c.warnings,
            vec!["--debug is deprecated; use --log-level=debug"]
        );
        assert_eq!(
            built(&[("log-outputs", "stderr")]).log_outputs,
            vec![LogOutput::Stderr]
        );
        assert_eq!(
            error(&[("log-level", "trace")]),
            "oxcd: invalid value \"trace\" for --log-level: only supports debug, info, warn, error, panic, or fatal"
        );
        assert_eq!(
            error(&[("logger", "slog")]),
            "oxcd: invalid value \"slog\" for --logger: unknown logger option; expected 'zap' or 'capnslog'"
        );
        assert_eq!(
            built(&[("log-outputs", "default,/var/log/oxcd.log,stderr")]).log_outputs,
            vec![
                LogOutput::Stderr,
                LogOutput::File("/var/log/oxcd.log".into())
            ]
        );
        let c = built(&[("log-output", "stdout")]);
        assert_eq!(c.log_outputs, vec![LogOutput::Stdout]);
        assert_eq!(
            c.warnings,
            vec!["--log-output is deprecated; use --log-outputs"]
        );
        assert_eq!(
            built(&[("log-output", "stdout"), ("log-outputs", "stderr")]).log_outputs,
            vec![LogOutput::Stderr],
            "the newer flag wins"
        );
        assert_eq!(
            error(&[("log-format", "xml")]),
            "oxcd: invalid value \"xml\" for --log-format: expected 'text' or 'json'"
        );
        assert_eq!(
            error(&[("debug", "yes")]),
            "oxcd: invalid value \"yes\" for --debug: expected true or false"
        );
    }

    #[test]
    fn cluster_rules() {
        assert_eq!(
            error(&[("initial-cluster-state", "old")]),
            "oxcd: invalid value \"old\" for --initial-cluster-state: expected 'new' or 'existing'"
        );
        assert_eq!(
            error(&[("listen-client-urls", "http://127.0.0.1:2379")]),
            "oxcd: --advertise-client-urls is required when --listen-client-urls is set explicitly"
        );
        // The default initial cluster follows the name and advertised peer URLs.
        let c = built(&[
            ("name", "m1"),
            ("initial-advertise-peer-urls", "http://10.0.0.1:2380"),
        ]);
        assert_eq!(
            c.initial_cluster,
            vec![("m1".to_string(), "http://10.0.0.1:2380".to_string())]
        );
        assert_eq!(
            error(&[("name", "m1"), ("initial-cluster", "m2=http://localhost:2380")]),
            "oxcd: couldn't find local name \"m1\" in the initial cluster configuration (--initial-cluster=m2=http://localhost:2380)"
        );
        assert_eq!(
            error(&[("initial-cluster", "default=http://10.0.0.9:2380")]),
            "oxcd: --initial-cluster has default=http://10.0.0.9:2380 but missing from --initial-advertise-peer-urls=http://localhost:2380"
        );
        let c = built(&[
            ("initial-cluster-state", "existing"),
            (
                "initial-cluster",
                "default=http://10.0.0.9:2380,b=http://10.0.0.8:2380",
            ),
        ]);
        assert_eq!(c.initial_cluster_state, ClusterState::Existing);
        assert_eq!(c.initial_cluster.len(), 2);
    }

    #[test]
    fn misc_values() {
        let c = built(&[
            ("snapshot-count", "0"),
            ("auth-provider", "ldap"),
            ("data-dir", "/var/lib/oxcd"),
            ("wal-dir", "/wal"),
        ]);
        assert_eq!(c.snapshot_count, DEFAULT_SNAPSHOT_COUNT);
        assert_eq!(
            c.watch_progress_notify_interval,
            DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL
        );
        assert_eq!(c.auth_provider, "ldap");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/oxcd"));
        assert_eq!(c.wal_dir, Some(PathBuf::from("/wal")));
        assert_eq!(
            error(&[("auth-provider", "")]),
            "oxcd: invalid value \"\" for --auth-provider: must not be empty"
        );
        assert_eq!(
            error(&[("grpc-keepalive-timeout", "-1s")]),
            "oxcd: invalid value \"-1s\" for --grpc-keepalive-timeout: duration must not be negative"
        );
        assert_eq!(
            error(&[("pre-vote", "maybe")]),
            "oxcd: invalid value \"maybe\" for --pre-vote: expected true or false"
        );
    }

    #[test]
    fn min_lease_ttl_is_one_and_a_half_election_timeouts_rounded_up() {
        assert_eq!(built(&[]).min_lease_ttl(), 2);
        let slow = built(&[("heartbeat-interval", "500"), ("election-timeout", "5000")]);
        assert_eq!(slow.min_lease_ttl(), 8);
        assert_eq!(
            error(&[("lease-checkpoint-interval", "10ms")]),
            "oxcd: invalid value \"10ms\" for --lease-checkpoint-interval: must be at least 1s"
        );
    }

    #[test]
    fn watch_progress_interval_defaults_and_minimum() {
        const FLAG: &str = "experimental-watch-progress-notify-interval";
        assert_eq!(
            built(&[(FLAG, "0s")]).watch_progress_notify_interval,
            DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL
        );
        assert_eq!(
            built(&[(FLAG, "2s")]).watch_progress_notify_interval,
            Duration::from_secs(2)
        );
        let raised = built(&[(FLAG, "10ms")]);
        assert_eq!(
            raised.watch_progress_notify_interval,
            MIN_WATCH_PROGRESS_NOTIFY_INTERVAL
        );
        assert!(raised.warnings.iter().any(|w| w.contains("minimum period")));
    }
}
