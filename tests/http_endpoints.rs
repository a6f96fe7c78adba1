//! The HTTP endpoints etcd serves beside gRPC on the client port and on
//! `--listen-metrics-urls`: `/health`, `/livez`, `/readyz`, `/version` and
//! `/metrics` (parsed by the Prometheus project's own text parser), with
//! etcd 3.5's bodies and status codes, and values that follow the cluster.

use crate::common;

use std::time::{Duration, Instant};

use common::http::{get, parse_metrics, request, sample};
use common::{free_port, Cluster, ServerKind};

fn metrics_of(endpoint: &str) -> Vec<(String, f64)> {
    let answer = get(endpoint, "/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse_metrics(&answer.body)
}

fn value(samples: &[(String, f64)], name: &str) -> f64 {
    sample(samples, name).unwrap_or_else(|| {
        let names: Vec<&str> = samples.iter().map(|(k, _)| k.as_str()).collect();
        panic!("no sample {name} among {names:?}")
    })
}

const PUT_OK: &str = r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;
const RANGE_FUTURE_REV: &str = r#"grpc_server_handled_total{grpc_code="OutOfRange",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;

#[test]
fn health_version_and_probes_answer_as_etcd_3_5() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let ep = cluster.endpoint();

    let health = get(&ep, "/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.body, r#"{"health":"true","reason":""}"#);
    assert_eq!(get(&ep, "/health?serializable=true").status, 200);

    let version = get(&ep, "/version");
    assert_eq!(version.header("content-type"), Some("application/json"));
    assert_eq!(
        version.body,
        r#"{"etcdserver":"3.5.13","etcdcluster":"3.5.0"}"#
    );

    assert_eq!(get(&ep, "/livez").body, "ok\n");
    assert_eq!(
        get(&ep, "/readyz?verbose").body,
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n"
    );
    assert_eq!(
        get(&ep, "/readyz?verbose&exclude=linearizable_read").body,
        "[+]data_corruption ok\n[+]serializable_read ok\nok\n"
    );
    assert_eq!(
        get(&ep, "/livez/serializable_read?verbose").body,
        "[+]serializable_read ok\nok\n"
    );
    assert_eq!(get(&ep, "/readyz/no_such_check").status, 404);
    assert_eq!(get(&ep, "/no/such/path").status, 404);

    let post = request(&ep, "POST", "/health");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));
    assert_eq!(post.body, "Method Not Allowed\n");

    // gRPC on the same port is unaffected.
    let put = cluster.ctl(&["put", "k", "v"]);
    assert!(put.success(), "{put:?}");
}

#[test]
fn metrics_parse_and_move_with_requests() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let ep = cluster.endpoint();
    let before = metrics_of(&ep);
    assert_eq!(value(&before, "etcd_server_has_leader"), 1.0);
    assert_eq!(value(&before, "etcd_server_is_leader"), 1.0);
    assert!(value(&before, "etcd_server_leader_changes_seen_total") >= 1.0);
    assert!(value(&before, "process_resident_memory_bytes") > 0.0);
    assert!(value(&before, "etcd_mvcc_db_total_size_in_bytes") > 0.0);
    assert_eq!(
        value(&before, r#"etcd_server_version{server_version="3.5.13"}"#),
        1.0
    );
    assert_eq!(
        value(&before, "etcd_server_quota_backend_bytes"),
        2.0 * 1024.0 * 1024.0 * 1024.0
    );
    let puts_before = sample(&before, PUT_OK).unwrap_or(0.0);

    for i in 0..3 {
        let put = cluster.ctl(&["put", &format!("key{i}"), "v"]);
        assert!(put.success(), "{put:?}");
    }
    let future = cluster.ctl(&["get", "key0", "--rev=100000"]);
    assert!(!future.success(), "{future:?}");
    let del = cluster.ctl(&["del", "key2"]);
    assert!(del.success(), "{del:?}");
    let get = cluster.ctl(&["get", "key0"]);
    assert!(get.success(), "{get:?}");

    let after = metrics_of(&ep);
    let moved = |name: &str| value(&after, name) - value(&before, name);
    assert!(moved("etcd_server_proposals_committed_total") >= 3.0);
    assert!(moved("etcd_server_proposals_applied_total") >= 3.0);
    assert_eq!(moved("etcd_debugging_mvcc_keys_total"), 2.0);
    assert_eq!(moved("etcd_mvcc_put_total"), 3.0);
    assert_eq!(moved("etcd_mvcc_delete_total"), 1.0);
    assert!(moved("etcd_mvcc_range_total") >= 1.0);
    assert!(moved("etcd_disk_wal_fsync_duration_seconds_count") >= 1.0);
    assert!(value(&after, "etcd_disk_backend_commit_duration_seconds_count") >= 1.0);
    assert_eq!(value(&after, PUT_OK) - puts_before, 3.0);
    assert_eq!(value(&after, RANGE_FUTURE_REV), 1.0);
    assert_eq!(value(&after, "etcd_server_proposals_pending"), 0.0);
    assert_eq!(value(&after, "etcd_server_proposals_failed_total"), 0.0);
    // Only --metrics extensive adds handling times.
    assert!(!after
        .iter()
        .any(|(k, _)| k.starts_with("grpc_server_handling_seconds")));
}

#[test]
fn metrics_urls_serve_metrics_and_health_only() {
    let port = free_port();
    let cluster = Cluster::start_with_args(
        ServerKind::Oxcd,
        &[
            format!("--listen-metrics-urls=http://127.0.0.1:{port}"),
            "--metrics=extensive".to_string(),
        ],
    );
    let metrics_ep = format!("127.0.0.1:{port}");
    let put = cluster.ctl(&["put", "k", "v"]);
    assert!(put.success(), "{put:?}");

    let samples = metrics_of(&metrics_ep);
    let handling = r#"grpc_server_handling_seconds_count{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;
    assert_eq!(value(&samples, handling), 1.0);
    assert_eq!(get(&metrics_ep, "/health").status, 200);
    assert_eq!(get(&metrics_ep, "/readyz").body, "ok\n");
    // etcd serves /version on client URLs only.
    assert_eq!(get(&metrics_ep, "/version").status, 404);
}

/// Polls `f` until it holds or `limit` passes.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn health_turns_false_on_a_member_cut_off_from_its_peers() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let ep = cluster.endpoint();
    assert_eq!(get(&ep, "/health").status, 200);

    // Peers are probed for round-trip times while they are connected.
    let rtt_seen = eventually(Duration::from_secs(15), || {
        metrics_of(&ep).iter().any(|(k, v)| {
            k.starts_with("etcd_network_peer_round_trip_time_seconds_count{To=") && *v >= 1.0
        })
    });
    assert!(rtt_seen, "no peer round-trip time recorded");

    cluster.kill9(1);
    cluster.kill9(2);
    let unhealthy = eventually(Duration::from_secs(20), || {
        get(&ep, "/health").status == 503
    });
    assert!(unhealthy, "/health stayed true without peers");
    let health = get(&ep, "/health");
    assert_eq!(
        health.body,
        "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}\n"
    );
    // A local read still works: liveness and serializable health hold.
    assert_eq!(get(&ep, "/health?serializable=true").status, 200);
    assert_eq!(get(&ep, "/livez").status, 200);
    let ready = get(&ep, "/readyz");
    assert_eq!(ready.status, 503);
    assert!(
        ready
            .body
            .contains("[+]serializable_read ok\n[-]linearizable_read failed: "),
        "{ready:?}"
    );
    let samples = metrics_of(&ep);
    assert_eq!(value(&samples, "etcd_server_has_leader"), 0.0);
    // The parser reads counters the OpenMetrics way: etcd's (and oxcd's)
    // `etcd_server_health_failures` comes back with `_total` added.
    assert!(get(&ep, "/metrics")
        .body
        .contains("\netcd_server_health_failures "));
    assert!(value(&samples, "etcd_server_health_failures_total") >= 1.0);
}
