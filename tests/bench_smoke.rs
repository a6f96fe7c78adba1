//! Smoke test for the `oxcd-bench` load generator against oxcd: each load runs briefly
//! with `--json`, the report parses and shows no errors, and the written keys are there;
//! `watch-latency` delivers every expected event; `lease-keepalive` renews its leases and
//! revokes them (against etcd for now, see its test).

use crate::common;

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::{LeaseLeasesRequest, RangeRequest};
use serde_json::Value;
use std::process::Command;

/// Run `oxcd-bench --endpoints <endpoint> --json --no-progress <args>` and parse its report.
fn bench(endpoint: &str, args: &[&str]) -> Value {
    let report = bench_json(endpoint, args);
    check_report(&report, args);
    report
}

/// Run oxcd-bench as [`bench`] does, expecting success and one JSON object, unchecked.
fn bench_json(endpoint: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_oxcd-bench"))
        .args(["--endpoints", endpoint, "--json", "--no-progress"])
        .args(args)
        .output()
        .expect("run oxcd-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "oxcd-bench {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("oxcd-bench {args:?}: bad JSON ({e}): {stdout}"))
}

/// Every load's report: the documented schema, some successful requests, no errors.
fn check_report(r: &Value, args: &[&str]) {
    let requests = r["requests"].as_u64().expect("requests");
    assert!(requests > 0, "{args:?}: no requests: {r}");
    assert_eq!(r["errors"], 0, "{args:?}: errors: {r}");
    assert_eq!(r["errors_by_message"], serde_json::json!({}), "{r}");
    assert_eq!(r["load"], args[0], "{r}");
    let duration = r["duration_s"].as_f64().expect("duration_s");
    let rps = r["requests_per_sec"].as_f64().expect("requests_per_sec");
    assert!(duration > 0.0 && (rps - requests as f64 / duration).abs() < 1e-6 * rps.max(1.0));
    let lat = &r["latency_ms"];
    let p = |k: &str| {
        lat[k]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_ms.{k}: {r}"))
    };
    assert!(p("avg") > 0.0, "{r}");
    assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p999"));
    assert!(p("p999") <= p("max"), "{r}");
    let buckets = r["histogram"].as_array().expect("histogram");
    let counted: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, requests, "histogram counts: {r}");
    assert!(buckets
        .iter()
        .all(|b| b["le_ms"].is_f64() || b["le_ms"].is_u64()));
}

/// Every key in the store with its value's length, in key order.
fn all_keys(endpoint: &str) -> Vec<(Vec<u8>, usize)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut kv = KvClient::connect(format!("http://{endpoint}"))
            .await
            .expect("connect")
            .max_decoding_message_size(64 << 20);
        let resp = kv
            .range(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                ..Default::default()
            })
            .await
            .expect("range")
            .into_inner();
        assert_eq!(resp.count as usize, resp.kvs.len());
        resp.kvs
            .into_iter()
            .map(|kv| (kv.key, kv.value.len()))
            .collect()
    })
}

/// The keys of length `len`, as strings.
fn keys_of_len(keys: &[(Vec<u8>, usize)], len: usize) -> Vec<String> {
    keys.iter()
        .filter(|(k, _)| k.len() == len)
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn numbered(width: usize, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:0width$}")).collect()
}

#[test]
fn bench_loads_run_against_oxcd_and_write_their_keys() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let ep = cluster.member(0).endpoint();

    // put: exactly 300 sequential keys 00000000..00000299, 100-byte values.
    let put = bench(
        &ep,
        &[
            "put",
            "--total",
            "300",
            "--sequential-keys",
            "--key-space-size",
            "100000",
            "--val-size",
            "100",
            "--clients",
            "4",
            "--conns",
            "2",
        ],
    );
    assert_eq!(put["requests"], 300, "{put}");
    assert_eq!(put["clients"], 4);
    assert_eq!(put["conns"], 2);
    assert_eq!(put["endpoints"], serde_json::json!([ep.clone()]));
    let keys = all_keys(&ep);
    assert_eq!(keys_of_len(&keys, 8), numbered(8, 300), "keys after put");
    assert_eq!(keys.len(), 300);
    assert!(keys.iter().all(|(_, value_len)| *value_len == 100));

    // range: about a second of serializable reads over those keys.
    bench(
        &ep,
        &[
            "range",
            "00000000",
            "00000300",
            "--duration",
            "1s",
            "--consistency",
            "s",
            "--clients",
            "4",
        ],
    );

    // mixed: reads and writes within the same 300 keys, so the count stays 300.
    let mixed = bench(
        &ep,
        &[
            "mixed",
            "--duration",
            "1s",
            "--key-space-size",
            "300",
            "--read-ratio",
            "0.5",
            "--clients",
            "8",
            "--conns",
            "2",
        ],
    );
    assert_eq!(mixed["load"], "mixed");
    assert_eq!(all_keys(&ep).len(), 300, "keys after mixed");

    // txn-put: 50 new 9-byte keys (sequential), alongside the 8-byte ones.
    let txn = bench(
        &ep,
        &[
            "txn-put",
            "--total",
            "50",
            "--sequential-keys",
            "--key-size",
            "9",
            "--key-space-size",
            "1000",
        ],
    );
    assert_eq!(txn["requests"], 50, "{txn}");
    let keys = all_keys(&ep);
    assert_eq!(keys_of_len(&keys, 9), numbered(9, 50), "keys after txn-put");
    assert_eq!(keys.len(), 350);
}

#[test]
fn watch_latency_delivers_every_event_to_every_watcher() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let ep = cluster.member(0).endpoint();
    let pid = cluster.member(0).pid().expect("server pid").to_string();
    let r = bench_json(
        &ep,
        &[
            "watch-latency",
            "--watchers",
            "200",
            "--watch-keys",
            "10",
            "--streams",
            "20",
            "--put-rate",
            "200",
            "--duration",
            "1s",
            "--conns",
            "3",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(r["load"], "watch-latency", "{r}");
    assert_eq!(r["watchers"], 200, "{r}");
    assert_eq!(r["streams"], 20, "{r}");
    assert_eq!(r["watch_keys"], 10, "{r}");
    assert_eq!(r["conns"], 3, "{r}");
    assert_eq!(r["put_errors"], 0, "{r}");
    let puts = r["puts"].as_u64().expect("puts");
    assert!(puts > 0, "{r}");
    // 200 watchers on 10 keys: every put reaches 20 of them.
    let expected = r["events_expected"].as_u64().expect("events_expected");
    assert_eq!(expected, puts * 20, "{r}");
    assert_eq!(r["events_received"], expected, "{r}");
    assert_eq!(r["events_missing"], 0, "{r}");
    assert_eq!(r["events_unexpected"], 0, "{r}");
    assert!(
        r["create_seconds"].as_f64().expect("create_seconds") > 0.0,
        "{r}"
    );
    let lat = &r["latency_ms"];
    let p = |k: &str| {
        lat[k]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_ms.{k}: {r}"))
    };
    assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p999"));
    assert!(p("p999") <= p("max") && p("max") > 0.0, "{r}");
    for rss in ["rss_after_watch_mib", "rss_peak_mib", "rss_final_mib"] {
        assert!(r[rss].as_f64().is_some_and(|mib| mib > 0.0), "{rss}: {r}");
    }
    assert!(r["rss_peak_mib"].as_f64() >= r["rss_after_watch_mib"].as_f64());
    // Every put landed on one of the 10 watched keys, round-robin.
    let keys = all_keys(&ep);
    assert_eq!(keys_of_len(&keys, 8), numbered(8, 10.min(puts as usize)));
}

/// The ids of every lease the server holds.
fn lease_ids(endpoint: &str) -> Vec<i64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut lease = LeaseClient::connect(format!("http://{endpoint}"))
            .await
            .expect("connect");
        let resp = lease
            .lease_leases(LeaseLeasesRequest {})
            .await
            .expect("lease leases")
            .into_inner();
        resp.leases.into_iter().map(|l| l.id).collect()
    })
}

/// Against oxcd always, and against the real etcd when it is installed (the
/// load must behave the same on both for the side-by-side figures to mean
/// anything).
#[test]
fn lease_keepalive_renews_every_lease_and_revokes_them() {
    lease_keepalive_against(ServerKind::Oxcd);
    if common::require_etcd("lease_keepalive_renews_every_lease_and_revokes_them") {
        lease_keepalive_against(ServerKind::Etcd);
    }
}

fn lease_keepalive_against(kind: ServerKind) {
    let cluster = Cluster::start(kind);
    let ep = cluster.member(0).endpoint();

    // A fixed number of renewals, two in flight per stream.
    let r = bench(
        &ep,
        &[
            "lease-keepalive",
            "--leases",
            "200",
            "--lease-ttl",
            "30",
            "--window",
            "2",
            "--total",
            "2000",
            "--clients",
            "8",
            "--conns",
            "2",
        ],
    );
    assert_eq!(r["requests"], 2000, "{r}");
    assert_eq!(r["clients"], 8, "{r}");
    assert_eq!(r["conns"], 2, "{r}");
    assert_eq!(r["leases"], 200, "{r}");
    assert_eq!(r["lease_ttl"], 30, "{r}");
    assert_eq!(r["window"], 2, "{r}");
    assert_eq!(r["leases_revoked"], 200, "{r}");
    assert!(r["grant_seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    assert!(r["open_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{r}");
    assert!(lease_ids(&ep).is_empty(), "leases left after the run");

    // For a duration, with more clients than leases (cut down to one lease each).
    let r = bench(
        &ep,
        &[
            "lease-keepalive",
            "--leases",
            "5",
            "--duration",
            "500ms",
            "--clients",
            "10",
        ],
    );
    assert_eq!(r["clients"], 5, "{r}");
    assert_eq!(r["leases_revoked"], 5, "{r}");
    assert!(lease_ids(&ep).is_empty(), "leases left after the run");
}

#[test]
fn bench_fails_cleanly_on_an_unreachable_endpoint() {
    let port = common::free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_oxcd-bench"))
        .args([
            "--endpoints",
            &format!("127.0.0.1:{port}"),
            "--dial-timeout",
            "2s",
        ])
        .args(["--json", "put", "--total", "10"])
        .output()
        .expect("run oxcd-bench");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no report on failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("oxcd-bench:"), "{stderr}");
}
