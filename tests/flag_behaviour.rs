//! etcd flags that change how a member behaves, each shown changing it (not
//! only parsed): one test per flag group of issue 19.

use crate::common;

use std::time::Instant;

use common::{Cluster, ServerKind};

/// Seconds from spawning a lone member to its first linearizable read (it
/// needs a leader).
fn seconds_to_serve(args: &[&str]) -> f64 {
    let started = Instant::now();
    let _server = Cluster::start_with_args(ServerKind::Oxcd, args);
    started.elapsed().as_secs_f64()
}

#[test]
fn initial_election_tick_advance_decides_whether_a_lone_member_waits() {
    let slow_election = ["--heartbeat-interval=100", "--election-timeout=4000"];
    let advanced = seconds_to_serve(&slow_election);
    let mut args = slow_election.to_vec();
    args.push("--initial-election-tick-advance=false");
    let waited = seconds_to_serve(&args);
    // Raft campaigns no sooner than one election timeout unless advanced.
    assert!(
        waited >= 4.0,
        "without the advance it served after {waited:.2}s"
    );
    assert!(
        advanced < waited - 2.0,
        "with it {advanced:.2}s, without {waited:.2}s"
    );
}

/// How much `metric` grows while a lone member started with `args` takes 20
/// puts, and the member's log.
fn counted_during_20_puts(args: &[&str], metric: &str) -> (f64, String) {
    let server = Cluster::start_with_args(ServerKind::Oxcd, args);
    let read = || {
        let page = common::http::get(&server.endpoint(), "/metrics").body;
        common::http::sample(&common::http::parse_metrics(&page), metric)
            .unwrap_or_else(|| panic!("no {metric}"))
    };
    let before = read();
    for i in 0..20 {
        assert!(server.ctl(&["put", &format!("k{i}"), "v"]).success());
    }
    (read() - before, server.member(0).log_tail(400))
}

const WAL_FSYNCS: &str = "etcd_disk_wal_fsync_duration_seconds_count";

#[test]
fn unsafe_no_fsync_turns_syncs_off_with_a_warning() {
    let (synced, _) = counted_during_20_puts(&[], WAL_FSYNCS);
    assert!(synced >= 20.0, "{synced} fsyncs for 20 puts");
    let (unsynced, log) = counted_during_20_puts(&["--unsafe-no-fsync"], WAL_FSYNCS);
    assert_eq!(unsynced, 0.0, "no fsync with --unsafe-no-fsync");
    assert!(log.contains("fsync is disabled"), "{log}");
}

const SLOW_APPLIES: &str = "etcd_server_slow_apply_total";

#[test]
fn warning_apply_duration_sets_what_counts_as_a_slow_apply() {
    let (usual, _) = counted_during_20_puts(&[], SLOW_APPLIES);
    // Every apply takes longer than a nanosecond.
    let (all, log) =
        counted_during_20_puts(&["--experimental-warning-apply-duration=1ns"], SLOW_APPLIES);
    assert!(all >= 20.0, "{all} slow applies of 20 puts");
    assert!(usual < 10.0, "{usual} applies of a one-key put over 100ms");
    assert!(log.contains("apply request took too long"), "{log}");
}

/// `--log-outputs` with a file and `--log-format json`: every line reaches
/// both outputs as one JSON object with etcd's keys, and the messages
/// operators grep etcd's logs for are there.
#[test]
fn logs_go_to_every_output_as_etcd_shaped_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("member.log");
    let outputs = format!("--log-outputs=stderr,{}", file.display());
    let server = Cluster::start_with_args(
        ServerKind::Oxcd,
        &[
            outputs.as_str(),
            "--log-format=json",
            "--experimental-warning-apply-duration=1ns",
        ],
    );
    for i in 0..3 {
        assert!(server.ctl(&["put", "k", &i.to_string()]).success());
    }
    assert!(server.ctl(&["compact", "3"]).success());
    assert!(server.ctl(&["defrag"]).success());
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        for key in ["level", "ts", "caller", "msg"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    let has = |msg: &str| {
        lines
            .iter()
            .any(|l| l["msg"].as_str().unwrap().contains(msg))
    };
    for msg in [
        "elected leader",
        "apply request took too long",
        "finished scheduled compaction",
        "defragmented",
    ] {
        assert!(has(msg), "no {msg:?} in {text}");
    }
    let compaction = lines
        .iter()
        .find(|l| l["msg"] == "finished scheduled compaction")
        .unwrap();
    assert_eq!(compaction["compact-revision"], 3);
    // The same lines on stderr (the harness's log of the member).
    let stderr = std::fs::read_to_string(&server.member(0).log_path).unwrap();
    assert!(stderr.contains("\"msg\":\"defragmented\""), "{stderr}");
}

/// What a member answers on its HTTP port: status, the CORS origin header
/// and the first line of the body.
fn http_answer(
    server: &Cluster,
    method: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let a = common::http::request_with(&server.endpoint(), method, "/health", headers);
    let origin = a.header("access-control-allow-origin").map(str::to_string);
    let first = a.body.trim().lines().next().unwrap_or_default().to_string();
    (a.status, origin, first)
}

/// `--host-whitelist` and `--cors` on the HTTP endpoints, the same on
/// oxcd as on etcd 3.4.23 (when installed).
#[test]
fn host_whitelist_and_cors_guard_the_http_endpoints_as_on_etcd() {
    let mut kinds = vec![ServerKind::Oxcd];
    if common::require_etcd("host_whitelist_and_cors_guard_the_http_endpoints_as_on_etcd") {
        kinds.push(ServerKind::Etcd);
    }
    let mut answers = Vec::new();
    for kind in kinds {
        let server = Cluster::start_with_args(
            kind,
            &[
                "--host-whitelist=db.example,127.0.0.1",
                "--cors=http://app.example:8080",
            ],
        );
        let seen = vec![
            http_answer(&server, "GET", &[]),
            http_answer(&server, "GET", &[("Host", "db.example:2379")]),
            http_answer(&server, "GET", &[("Host", "evil.example")]),
            http_answer(&server, "GET", &[("Origin", "http://app.example:8080")]),
            http_answer(&server, "GET", &[("Origin", "https://other.example")]),
            http_answer(&server, "OPTIONS", &[("Origin", "http://app.example:8080")]),
        ];
        let default = Cluster::start(kind);
        let any = http_answer(&default, "GET", &[("Host", "evil.example")]);
        answers.push((kind, seen, any));
    }
    let (_, oxcd, oxcd_default) = &answers[0];
    assert_eq!(oxcd[0].0, 200);
    assert_eq!(oxcd[1].0, 200, "a listed host");
    assert_eq!(oxcd[2].0, 421, "an unlisted host");
    assert_eq!(
        oxcd[2].2,
        "etcd received your request, but the Host header was unrecognized."
    );
    assert_eq!(oxcd[3].1.as_deref(), Some("http://app.example:8080"));
    assert_eq!(oxcd[4].1, None, "an origin not listed gets no CORS header");
    assert_eq!((oxcd[5].0, oxcd[5].2.as_str()), (200, ""), "a preflight");
    assert_eq!(oxcd_default.0, 200, "by default any host");
    assert_eq!(
        oxcd_default.1.as_deref(),
        Some("*"),
        "by default any origin"
    );
    if let Some((_, etcd, etcd_default)) = answers.get(1) {
        // Bodies aside: /health answers in 3.5's words on oxcd.
        let codes = |all: &[(u16, Option<String>, String)]| -> Vec<(u16, Option<String>)> {
            all.iter().map(|(s, o, _)| (*s, o.clone())).collect()
        };
        assert_eq!(codes(oxcd), codes(etcd), "oxcd answers as etcd does");
        assert_eq!(oxcd[2].2, etcd[2].2);
        assert_eq!(
            codes(std::slice::from_ref(oxcd_default)),
            codes(std::slice::from_ref(etcd_default))
        );
    }
}

/// LMDB flushes.
const FLUSHES: &str = "oxcd_disk_backend_flush_duration_seconds_count";

#[test]
fn backend_batch_flags_set_how_often_lmdb_is_flushed() {
    let usual = counted_during_20_puts(&[], FLUSHES).0;
    let by_limit = counted_during_20_puts(&["--backend-batch-limit=1"], FLUSHES).0;
    let by_interval = counted_during_20_puts(&["--backend-batch-interval=1ms"], FLUSHES).0;
    assert!(usual < 10.0, "{usual} flushes for 20 puts by default (1 s)");
    assert!(by_limit >= 19.0, "{by_limit} flushes with a limit of 1");
    assert!(by_interval >= 19.0, "{by_interval} flushes every 1ms");
}
