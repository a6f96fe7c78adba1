//! End-to-end tests of loading: command line, environment and file together.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;

use super::table::tests::ETCD_3_4_23_HELP_FLAGS;
use super::*;

fn load(args: &[&str]) -> Result<Config, ConfigError> {
    load_with_env(args, &[])
}

fn load_with_env(args: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |k: &str| vars.get(k).cloned();
    let argv = std::iter::once("oxcd").chain(args.iter().copied());
    load_from_args_and_env(argv, &env)
}

fn ok(args: &[&str]) -> Config {
    match load(args) {
        Ok(c) => c,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn err(args: &[&str]) -> String {
    match load(args) {
        Ok(c) => panic!("{args:?} should fail, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => panic!("tempfile: {e}"),
    };
    if let Err(e) = f.write_all(text.as_bytes()) {
        panic!("write: {e}");
    }
    f
}

fn path_of(f: &tempfile::NamedTempFile) -> String {
    f.path().display().to_string()
}

fn addr(s: &str) -> BindAddr {
    match s.parse::<SocketAddr>() {
        Ok(a) => BindAddr::Tcp(a),
        Err(e) => panic!("{s}: {e}"),
    }
}

#[test]
fn defaults_with_no_flags() {
    let c = ok(&[]);
    assert_eq!(c, Config::default());
    assert_eq!(c.data_dir, PathBuf::from("default.oxcd"));
    assert_eq!(c.listen_client_urls[0].addr, addr("127.0.0.1:2379"));
    assert_eq!(c.listen_client_urls[0].url, "http://localhost:2379");
    assert_eq!(c.listen_peer_urls[0].addr, addr("127.0.0.1:2380"));
    assert_eq!(c.request_timeout(), Duration::from_secs(7));
    assert_eq!(c.election_ticks(), 10);
}

#[test]
fn every_honoured_flag_is_parsed() {
    let c = ok(&[
        "--name=m1",
        "--data-dir=/data/m1",
        "--wal-dir=/wal/m1",
        "--listen-client-urls=http://127.0.0.1:12379,http://0.0.0.0:12479",
        "--advertise-client-urls=http://m1.example:12379",
        "--listen-peer-urls=http://127.0.0.1:12380",
        "--initial-advertise-peer-urls=http://127.0.0.1:12380",
        "--initial-cluster=m1=http://127.0.0.1:12380,m2=http://127.0.0.2:12380",
        "--initial-cluster-state=new",
        "--initial-cluster-token=tok",
        "--quota-backend-bytes=1048576",
        "--max-request-bytes=2097152",
        "--max-txn-ops=64",
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--snapshot-count=1000",
        "--auto-compaction-mode=revision",
        "--auto-compaction-retention=500",
        "--log-level=warn",
        "--logger=zap",
        "--log-outputs=stdout",
        "--grpc-keepalive-interval=1m",
        "--grpc-keepalive-timeout=3s",
        "--enable-pprof=false",
        "--strict-reconfig-check=false",
        "--pre-vote",
        "--log-format=json",
        "--auth-provider=custom",
    ]);
    assert_eq!(c.name, "m1");
    assert_eq!(c.data_dir, PathBuf::from("/data/m1"));
    assert_eq!(c.wal_dir, Some(PathBuf::from("/wal/m1")));
    let listen: Vec<_> = c
        .listen_client_urls
        .iter()
        .map(|e| e.addr.clone())
        .collect();
    assert_eq!(listen, vec![addr("127.0.0.1:12379"), addr("0.0.0.0:12479")]);
    assert_eq!(c.advertise_client_urls, vec!["http://m1.example:12379"]);
    assert_eq!(c.listen_peer_urls[0].addr, addr("127.0.0.1:12380"));
    assert_eq!(
        c.initial_advertise_peer_urls,
        vec!["http://127.0.0.1:12380"]
    );
    assert_eq!(
        c.initial_cluster,
        vec![
            ("m1".to_string(), "http://127.0.0.1:12380".to_string()),
            ("m2".to_string(), "http://127.0.0.2:12380".to_string()),
        ]
    );
    assert_eq!(c.initial_cluster_state, ClusterState::New);
    assert_eq!(c.initial_cluster_token, "tok");
    assert_eq!(c.quota_backend_bytes, 1_048_576);
    assert_eq!(c.max_request_bytes, 2_097_152);
    assert_eq!(c.max_txn_ops, 64);
    assert_eq!(c.heartbeat_interval, Duration::from_millis(50));
    assert_eq!(c.election_timeout, Duration::from_millis(500));
    assert_eq!(c.request_timeout(), Duration::from_secs(6));
    assert_eq!(c.snapshot_count, 1000);
    assert_eq!(c.auto_compaction, Some(AutoCompaction::Revision(500)));
    assert_eq!(c.log_level, LogLevel::Warn);
    assert_eq!(c.log_outputs, vec![LogOutput::Stdout]);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(
        c.grpc_keepalive,
        GrpcKeepalive {
            min_time: Duration::from_secs(5),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(3),
        }
    );
    assert_eq!((c.max_snapshots, c.max_wals), (5, 5));
    assert!(!c.strict_reconfig_check);
    assert!(c.pre_vote);
    assert_eq!(c.auth_provider, "custom");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.config_file, None);
}

#[test]
fn debug_flag_and_go_spellings() {
    let c = ok(&["-debug", "-name", "x", "-log-format=json"]);
    assert_eq!(c.log_level, LogLevel::Debug);
    assert_eq!(c.name, "x");
    assert_eq!(c.data_dir, PathBuf::from("x.oxcd"));
    assert_eq!(c.log_format, LogFormat::Json);
    // A lone name changes the default initial cluster too, as in etcd.
    assert_eq!(
        c.initial_cluster,
        vec![("x".to_string(), "http://localhost:2380".to_string())]
    );
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let f = toml_file(
        r#"
# a member
name = "file-name"
data-dir = "/from/file"
heartbeat-interval = 200
election-timeout = 2000
listen-client-urls = ["http://127.0.0.1:3379"]
pre-vote = true
"#,
    );
    let path = path_of(&f);
    let c = ok(&["--config-file", &path, "--name=flag-name"]);
    assert_eq!(c.name, "flag-name");
    assert_eq!(c.data_dir, PathBuf::from("/from/file"));
    assert_eq!(c.heartbeat_interval, Duration::from_millis(200));
    assert_eq!(c.election_timeout, Duration::from_millis(2000));
    assert_eq!(c.listen_client_urls[0].addr, addr("127.0.0.1:3379"));
    assert!(c.pre_vote);
    assert_eq!(c.config_file, Some(PathBuf::from(&path)));
    // listen-client-urls from a file does not demand advertise-client-urls.
    assert_eq!(c.advertise_client_urls, vec!["http://localhost:2379"]);
}

#[test]
fn environment_is_read_with_lowest_precedence() {
    let f = toml_file("data-dir = \"/file/dir\"\n");
    let path = path_of(&f);
    let c = load_with_env(
        &["--config-file", &path, "--max-txn-ops=9"],
        &[
            ("ETCD_NAME", "env-name"),
            ("ETCD_DATA_DIR", "/env/dir"),
            ("ETCD_MAX_TXN_OPS", "7"),
            ("ETCD_SNAPSHOT_COUNT", "42"),
            ("OXCD_AUTH_PROVIDER", "env-auth"),
        ],
    );
    let c = match c {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.name, "env-name");
    assert_eq!(c.data_dir, PathBuf::from("/file/dir"));
    assert_eq!(c.max_txn_ops, 9);
    assert_eq!(c.snapshot_count, 42);
    assert_eq!(c.auth_provider, "env-auth");
}

#[test]
fn config_file_can_come_from_the_environment() {
    let f = toml_file("name = \"via-env-file\"\n");
    let path = path_of(&f);
    let c = load_with_env(&[], &[("ETCD_CONFIG_FILE", &path)]);
    assert_eq!(c.map(|c| c.name).ok().as_deref(), Some("via-env-file"));
}

#[test]
fn environment_errors_name_the_variable() {
    let e = load_with_env(&[], &[("ETCD_HEARTBEAT_INTERVAL", "fast")]);
    assert_eq!(
        e.err().map(|e| e.to_string()).as_deref(),
        Some("oxcd: invalid value \"fast\" for --heartbeat-interval (from ETCD_HEARTBEAT_INTERVAL): expected a non-negative whole number")
    );
    // etcd also demands advertise URLs when listen URLs come from the environment.
    let e = load_with_env(&[], &[("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:1")]);
    assert_eq!(
        e.err().map(|e| e.to_string()).as_deref(),
        Some(
            "oxcd: --advertise-client-urls is required when --listen-client-urls is set explicitly"
        )
    );
}

/// An etcd YAML config file, in the shape of etcd.conf.yml.sample, works
/// unchanged: empty values keep defaults, TLS sits in its sections.
#[test]
fn etcd_yaml_config_file_is_read() {
    let mut f = match tempfile::Builder::new().suffix(".yml").tempfile() {
        Ok(f) => f,
        Err(e) => panic!("tempfile: {e}"),
    };
    let text = r#"
name: 'yaml-member'
data-dir:
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
listen-peer-urls: http://localhost:12380
listen-client-urls: http://localhost:12379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: http://localhost:12380
advertise-client-urls: http://localhost:12379
discovery:
discovery-fallback: 'proxy'
initial-cluster:
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-v2: true
proxy: 'off'
client-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
peer-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: true
log-level: debug
logger: zap
log-outputs: [stderr]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
"#;
    if let Err(e) = f.write_all(
        text.replace("enable-v2: true", "enable-v2: false")
            .as_bytes(),
    ) {
        panic!("write: {e}");
    }
    let path = f.path().display().to_string();
    let c = ok(&["--config-file", &path]);
    assert_eq!(c.name, "yaml-member");
    assert_eq!(c.data_dir, PathBuf::from("yaml-member.oxcd"));
    assert_eq!(c.snapshot_count, 10000);
    assert_eq!(c.listen_client_urls[0].url, "http://localhost:12379");
    assert!(c.peer_tls.auto_tls);
    assert!(!c.client_tls.auto_tls);
    assert!(!c.strict_reconfig_check);
    assert!(c.auto_compaction.is_some());
    // A feature oxcd lacks is refused by name, from YAML as from TOML.
    if let Err(e) = std::fs::write(f.path(), text) {
        panic!("write: {e}");
    }
    assert_eq!(
        err(&["--config-file", &path]),
        format!("oxcd: --enable-v2 (from config file {path}) does not apply to oxcd: oxcd serves only the v3 API (the v2 API is deprecated in etcd 3.4 and gone in 3.6) (only etcd's default false is accepted, got \"true\")")
    );
}

#[test]
fn unknown_toml_key_is_an_error() {
    let f = toml_file("name = \"a\"\nlisten-client-url = \"http://127.0.0.1:1\"\n");
    let path = path_of(&f);
    assert_eq!(
        err(&["--config-file", &path]),
        format!("oxcd: unknown key \"listen-client-url\" in config file {path}")
    );
}

#[test]
fn file_values_are_validated_like_flags() {
    let f = toml_file("enable-v2 = true\n");
    let path = path_of(&f);
    assert_eq!(
        err(&["--config-file", &path]),
        format!("oxcd: --enable-v2 (from config file {path}) does not apply to oxcd: oxcd serves only the v3 API (the v2 API is deprecated in etcd 3.4 and gone in 3.6) (only etcd's default false is accepted, got \"true\")")
    );
    let f = toml_file("election-timeout = 100\n");
    let path = path_of(&f);
    assert_eq!(
        err(&["--config-file", &path]),
        "oxcd: --election-timeout[100ms] should be at least as 5 times as --heartbeat-interval[100ms]"
    );
}

#[test]
fn unsupported_flags_error_unless_default() {
    assert_eq!(
        err(&["--enable-v2"]),
        "oxcd: --enable-v2 does not apply to oxcd: oxcd serves only the v3 API (the v2 API is deprecated in etcd 3.4 and gone in 3.6) (only etcd's default false is accepted, got \"true\")"
    );
    ok(&["--enable-v2=false"]);
    ok(&[
        "--proxy=off",
        "--cors=*",
        "--auth-token=simple",
        "--max-concurrent-streams=4294967295",
    ]);
    ok(&[
        "--experimental-watch-progress-notify-interval=10m",
        "--enable-grpc-gateway",
    ]);
    assert!(err(&["--auth-token=bogus"]).contains("unknown token type \"bogus\""));
    assert!(err(&["--enable-pprof"]).starts_with("oxcd: --enable-pprof does not apply to oxcd"));
    // Once honoured; now accepted only at etcd's default.
    let c = ok(&["--max-snapshots=2", "--max-wals=0"]);
    assert_eq!((c.max_snapshots, c.max_wals), (2, 0));
    let c = ok(&["--grpc-keepalive-min-time=1s"]);
    assert_eq!(c.grpc_keepalive.min_time, std::time::Duration::from_secs(1));
    let c = load_with_env(&[], &[("ETCD_MAX_WALS", "7")]).map(|c| c.max_wals);
    assert_eq!(c.ok(), Some(7));
}

#[test]
fn url_validation_messages() {
    assert_eq!(
        err(&["--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379"]),
        "oxcd: TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme"
    );
    assert_eq!(
        err(&["--listen-peer-urls=http://127.0.0.1:70000"]),
        "oxcd: invalid value \"http://127.0.0.1:70000\" for --listen-peer-urls: URL port is out of range: http://127.0.0.1:70000"
    );
    assert_eq!(
        err(&["--advertise-client-urls=unix:///tmp/x.sock"]),
        "oxcd: invalid value \"unix:///tmp/x.sock\" for --advertise-client-urls: URL address does not have the form \"host:port\": unix:///tmp/x.sock"
    );
    assert_eq!(
        err(&["--initial-advertise-peer-urls=localhost:2380"]),
        "oxcd: invalid value \"localhost:2380\" for --initial-advertise-peer-urls: URL scheme must be http, https, unix, or unixs: localhost:2380"
    );
}

#[test]
fn validation_messages_through_the_loader() {
    for (args, expected) in [
        (
            vec!["--heartbeat-interval=300"],
            "oxcd: --election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]",
        ),
        (
            vec!["--election-timeout=50001"],
            "oxcd: --election-timeout[50001ms] is too long, and should be set less than 50000ms",
        ),
        (
            vec!["--initial-cluster-state=maybe"],
            "oxcd: invalid value \"maybe\" for --initial-cluster-state: expected 'new' or 'existing'",
        ),
        (
            vec!["--auto-compaction-mode=hourly"],
            "oxcd: invalid value \"hourly\" for --auto-compaction-mode: expected 'periodic' or 'revision'",
        ),
        (
            vec!["--log-level=verbose"],
            "oxcd: invalid value \"verbose\" for --log-level: only supports debug, info, warn, error, panic, or fatal",
        ),
        (
            vec!["--max-request-bytes=0"],
            "oxcd: invalid value \"0\" for --max-request-bytes: must be greater than 0",
        ),
        (
            vec!["--quota-backend-bytes=-1"],
            "oxcd: --quota-backend-bytes is not supported yet (a negative value, which disables the quota in etcd)",
        ),
        (
            vec!["--name=m9", "--initial-cluster=m1=http://127.0.0.1:2380"],
            "oxcd: couldn't find local name \"m9\" in the initial cluster configuration (--initial-cluster=m1=http://127.0.0.1:2380)",
        ),
        (
            vec!["--listen-client-urls=http://127.0.0.1:1"],
            "oxcd: --advertise-client-urls is required when --listen-client-urls is set explicitly",
        ),
    ] {
        assert_eq!(err(&args), expected, "{args:?}");
    }
}

#[test]
fn help_and_version() {
    match load(&["--version"]) {
        Err(ConfigError::Version(text)) => {
            assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
            assert!(text.starts_with("etcd Version: 3.5."), "{text}");
        }
        other => panic!("{other:?}"),
    }
    match load(&["--help"]) {
        Err(e @ ConfigError::Help(_)) => {
            assert_eq!(e.exit_code(), 0);
            let text = e.to_string();
            assert!(text.contains("--config-file"), "{text}");
            assert!(text.contains("--auth-provider"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let e = load(&["--bogus"]).err();
    assert_eq!(e.as_ref().map(ConfigError::exit_code), Some(2));
}

#[test]
fn parser_knows_every_etcd_help_flag() {
    let command = flags::command();
    for name in ETCD_3_4_23_HELP_FLAGS {
        assert!(
            command.get_arguments().any(|a| a.get_long() == Some(*name)),
            "--{name} is not a known flag"
        );
        let spec = match table::spec(name) {
            Some(s) => s,
            None => panic!("--{name} is not in the table"),
        };
        // Giving the flag with etcd's default value must not be rejected.
        let default = if *name == "data-dir" {
            "/tmp/x"
        } else {
            spec.default
        };
        let arg = format!("--{name}={default}");
        let args: Vec<&str> = match *name {
            "listen-client-urls" => vec![&arg, "--advertise-client-urls=http://localhost:2379"],
            _ => vec![&arg],
        };
        match load(&args) {
            Ok(_) => {}
            Err(ConfigError::Version(_)) => panic!("--version=false printed the version"),
            Err(e) => assert!(
                *name == "config-file",
                "--{name}={default} was rejected: {e}"
            ),
        }
    }
}

#[test]
fn warnings_are_collected() {
    let c = ok(&["--snapshot", "--debug"]);
    assert_eq!(
        c.warnings,
        vec![
            "--snapshot is an obsolete etcd flag; ignoring it".to_string(),
            "--debug is deprecated; use --log-level=debug".to_string(),
        ]
    );
}

#[test]
fn real_process_loader_works() {
    let c = load_from_args(["oxcd", "--name=proc"]);
    assert_eq!(c.map(|c| c.name).ok().as_deref(), Some("proc"));
}

fn example(file: &str) -> Config {
    let path = format!("{}/config/{file}", env!("CARGO_MANIFEST_DIR"));
    match load(&["--config-file", &path]) {
        Ok(c) => c,
        Err(e) => panic!("{file}: {e}"),
    }
}

#[test]
fn example_files_load() {
    for file in ["single.toml", "single.yml"] {
        let single = example(file);
        assert_eq!(
            Config {
                config_file: None,
                ..single
            },
            Config::default(),
            "{file}"
        );
    }
    for (name, port) in [("a", 2379), ("b", 22379), ("c", 32379)] {
        let member = example(&format!("cluster-3/{name}.toml"));
        assert_eq!(member.name, name);
        assert_eq!(member.initial_cluster.len(), 3);
        assert_eq!(
            member.listen_client_urls[0].addr,
            addr(&format!("127.0.0.1:{port}"))
        );
    }
    let member = example("cluster-member-1.toml");
    assert_eq!(member.name, "m1");
    assert_eq!(member.initial_cluster.len(), 3);
    assert_eq!(member.listen_client_urls[0].addr, addr("0.0.0.0:2379"));
    assert!(member.pre_vote);
    assert_eq!(
        member.auto_compaction,
        Some(AutoCompaction::Periodic(Duration::from_secs(3600)))
    );
}

#[test]
fn bcrypt_cost_out_of_range_falls_back_to_the_default_with_a_warning() {
    assert_eq!(ok(&["--bcrypt-cost=12"]).bcrypt_cost, 12);
    let c = ok(&["--bcrypt-cost=3"]);
    assert_eq!(c.bcrypt_cost, 10);
    assert!(
        c.warnings.iter().any(|w| w.contains("given-cost 3")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn jwt_token_options_are_read_as_etcd_names_them() {
    let c = ok(&["--auth-token=jwt,pub-key=p.pem,priv-key=k.pem,sign-method=RS256,ttl=10m"]);
    assert_eq!(
        c.auth_token,
        AuthToken::Jwt(JwtOptions {
            sign_method: "RS256".into(),
            pub_key: Some(PathBuf::from("p.pem")),
            priv_key: Some(PathBuf::from("k.pem")),
            ttl: Duration::from_secs(600),
        })
    );
    let c = ok(&["--auth-token=jwt,pub-key=p.pem,sign-method=ES256"]);
    assert!(
        matches!(c.auth_token, AuthToken::Jwt(o) if o.ttl == Duration::from_secs(300) && o.priv_key.is_none())
    );
    assert!(err(&["--auth-token=jwt,pub-key=p.pem"]).contains("jwt needs sign-method"));
    assert!(err(&["--auth-token=jwt,sign-method=RS256,ttl=5m,ttl=1m"]).contains("given twice"));
    assert!(err(&["--auth-token=jwt,sign-method=RS256,pubkey=x"]).contains("unknown jwt option"));
    assert!(err(&["--auth-token=jwt,sign-method"]).contains("not key=value"));
}

#[test]
fn range_memory_budget_from_flag_and_file() {
    let flag = load(&["--range-memory-budget", "0"]).expect("flag");
    assert_eq!(flag.range_memory_budget, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("budget.toml");
    std::fs::write(&file, "range-memory-budget = 268435456\n").expect("write");
    let path = file.to_string_lossy().into_owned();
    let from_file = load(&["--config-file", &path]).expect("file");
    assert_eq!(from_file.range_memory_budget, 256 << 20);
    assert!(load(&["--range-memory-budget", "-1"]).is_err());
}

/// Issue 19's flags reach the configuration from the command line and from
/// a TOML file alike.
#[test]
fn recovery_and_start_up_flags_are_read() {
    let c = ok(&[]);
    assert!(!c.force_new_cluster);
    assert!(c.initial_election_tick_advance);
    let c = ok(&[
        "--force-new-cluster",
        "--initial-election-tick-advance=false",
    ]);
    assert!(c.force_new_cluster);
    assert!(!c.initial_election_tick_advance);
    let f = toml_file("force-new-cluster = true\ninitial-election-tick-advance = false\n");
    let c = ok(&["--config-file", &path_of(&f)]);
    assert!(c.force_new_cluster);
    assert!(!c.initial_election_tick_advance);
}

#[test]
fn discovery_srv_replaces_the_initial_cluster() {
    let c = ok(&[
        "--name=infra0",
        "--discovery-srv=example.com",
        "--discovery-srv-name=blue",
        "--initial-advertise-peer-urls=http://10.0.1.10:2380",
    ]);
    assert_eq!(c.discovery_srv.as_deref(), Some("example.com"));
    assert_eq!(c.discovery_srv_name, "blue");
    // Resolved at first start, not from the flags.
    assert!(c.initial_cluster.is_empty());
    assert_eq!(
        err(&[
            "--discovery-srv=example.com",
            "--initial-cluster=default=http://localhost:2380",
        ]),
        "oxcd: multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""
    );
}
