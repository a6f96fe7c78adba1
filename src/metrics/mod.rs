//! The metrics `/metrics` exposes, under etcd's names and labels so that
//! dashboards and alerts written for etcd work unchanged. One registry for
//! the process; every layer records into it through [`metrics()`].
//!
//! Counters and histograms are recorded where things happen (an fsync, a
//! commit, a leader change). Gauges that mirror state another part already
//! keeps (raft indexes, database size) are set when `/metrics` is read
//! (`api::http::metrics`), so the request path pays nothing for them.

mod definitions;

use std::sync::LazyLock;

pub use definitions::Metrics;

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::register);

/// The process's metrics (registered on first use).
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Every registered metric in Prometheus' text format.
pub fn encode_text() -> String {
    use prometheus::Encoder as _;
    let families = metrics().registry.gather();
    let mut out = Vec::new();
    // Encoding gathered families into a Vec cannot fail.
    let _ = prometheus::TextEncoder::new().encode(&families, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `time.Duration.Seconds()` for an `Instant` interval.
pub fn seconds_since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_etcds_names_and_process_metrics() {
        metrics().server.leader_changes_seen_total.inc();
        metrics().disk.wal_fsync_duration_seconds.observe(0.002);
        let text = encode_text();
        for name in [
            "etcd_server_has_leader",
            "etcd_server_leader_changes_seen_total",
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"}",
            "etcd_server_version{server_version=\"3.5.",
            "process_resident_memory_bytes",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
