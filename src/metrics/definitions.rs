//! Each metric with etcd's name, type, labels and buckets.

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::version::{ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION};

pub struct Metrics {
    pub(super) registry: Registry,
    pub server: ServerMetrics,
    pub mvcc: MvccMetrics,
    pub disk: DiskMetrics,
    pub network: NetworkMetrics,
    pub grpc: GrpcMetrics,
    pub health: HealthMetrics,
}

pub struct ServerMetrics {
    pub has_leader: IntGauge,
    pub is_leader: IntGauge,
    pub is_learner: IntGauge,
    pub leader_changes_seen_total: IntCounter,
    /// etcd exposes these two as gauges holding raft indexes.
    pub proposals_committed_total: IntGauge,
    pub proposals_applied_total: IntGauge,
    pub proposals_pending: IntGauge,
    pub proposals_failed_total: IntCounter,
    pub slow_apply_total: IntCounter,
    pub quota_backend_bytes: IntGauge,
    pub server_id: IntGaugeVec,
    server_version: IntGaugeVec,
    cluster_version: IntGaugeVec,
}

pub struct MvccMetrics {
    pub db_total_size_in_bytes: IntGauge,
    pub db_total_size_in_use_in_bytes: IntGauge,
    pub keys_total: IntGauge,
    pub current_revision: IntGauge,
    /// Operations applied or served by this member, counted as etcd counts
    /// them (a txn counts when it ran more than one operation).
    pub put_total: IntCounter,
    pub delete_total: IntCounter,
    pub range_total: IntCounter,
    pub txn_total: IntCounter,
    /// oxcd's own (`--range-memory-budget`): bytes held by large ranges, ranges
    /// that waited for their share, and ranges refused after waiting.
    pub range_budget_held_bytes: IntGauge,
    pub range_budget_waits_total: IntCounter,
    pub range_budget_refused_total: IntCounter,
    /// A compaction's purge: each step but the last (the writes it held
    /// up), the whole purge, and the records it deleted.
    pub compaction_pause_duration_milliseconds: Histogram,
    pub compaction_total_duration_milliseconds: Histogram,
    pub compaction_keys_total: IntCounter,
}

pub struct DiskMetrics {
    pub wal_fsync_duration_seconds: Histogram,
    pub backend_commit_duration_seconds: Histogram,
    /// oxcd's own: LMDB runs without fsync per commit, and this flush is
    /// what makes committed batches durable (etcd's commit does both).
    pub backend_flush_duration_seconds: Histogram,
    pub backend_defrag_duration_seconds: Histogram,
    /// 1 while a defragmentation runs.
    pub defrag_inflight: IntGauge,
}

pub struct NetworkMetrics {
    /// Label `To`: the peer's member id in hex.
    pub peer_round_trip_time_seconds: HistogramVec,
}

/// grpc-go's server metrics (go-grpc-prometheus), as etcd registers them.
pub struct GrpcMetrics {
    pub started_total: IntCounterVec,
    pub handled_total: IntCounterVec,
    /// Only with `--metrics extensive`.
    pub handling_seconds: HistogramVec,
}

pub struct HealthMetrics {
    pub success: IntCounter,
    pub failures: IntCounter,
    /// 1 when the last check of that type and name passed.
    pub healthcheck: IntGaugeVec,
    pub healthchecks_total: IntCounterVec,
}

/// Registers `metric`; names are fixed and distinct, so this cannot clash.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    if let Err(err) = registry.register(Box::new(metric.clone())) {
        tracing::error!("metric not registered: {err}");
    }
    metric
}

fn opts(subsystem: &str, name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("etcd").subsystem(subsystem)
}

/// The constructors fail only on malformed names or buckets, which are
/// literals here: a failure is a programming error caught by the tests.
macro_rules! built {
    ($e:expr) => {
        $e.expect("metric definition")
    };
}

impl Metrics {
    pub(super) fn register() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        // process_*: CPU, memory, open files, start time.
        let process = prometheus::process_collector::ProcessCollector::for_self();
        if let Err(err) = r.register(Box::new(process)) {
            tracing::error!("process metrics not registered: {err}");
        }
        let gauge = |sub: &str, name: &str, help: &str| {
            registered(r, built!(IntGauge::with_opts(opts(sub, name, help))))
        };
        let counter = |sub: &str, name: &str, help: &str| {
            registered(r, built!(IntCounter::with_opts(opts(sub, name, help))))
        };
        let disk_seconds = |name: &str, help: &str| {
            let buckets = built!(exponential_buckets(0.001, 2.0, 14));
            let opts = HistogramOpts::new(name, help)
                .namespace("etcd")
                .subsystem("disk")
                .buckets(buckets);
            registered(r, built!(Histogram::with_opts(opts)))
        };

        // etcd's compaction histograms, in milliseconds.
        let milliseconds = |name: &str, help: &str, start: f64, count: usize| {
            let opts = HistogramOpts::new(name, help)
                .namespace("etcd")
                .subsystem("debugging_mvcc")
                .buckets(built!(exponential_buckets(start, 2.0, count)));
            registered(r, built!(Histogram::with_opts(opts)))
        };

        let server = ServerMetrics {
            has_leader: gauge(
                "server",
                "has_leader",
                "1 when a leader exists, 0 when not.",
            ),
            is_leader: gauge("server", "is_leader", "1 when this member is the leader."),
            is_learner: gauge("server", "is_learner", "1 when this member is a learner."),
            leader_changes_seen_total: counter(
                "server",
                "leader_changes_seen_total",
                "Leader changes this member has seen.",
            ),
            proposals_committed_total: gauge(
                "server",
                "proposals_committed_total",
                "Raft index of the last committed entry.",
            ),
            proposals_applied_total: gauge(
                "server",
                "proposals_applied_total",
                "Raft index of the last applied entry.",
            ),
            proposals_pending: gauge(
                "server",
                "proposals_pending",
                "Proposals waiting to be applied.",
            ),
            proposals_failed_total: counter(
                "server",
                "proposals_failed_total",
                "Proposals that failed (timed out, dropped or lost with a leader).",
            ),
            slow_apply_total: counter(
                "server",
                "slow_apply_total",
                "Applies slower than the warning threshold.",
            ),
            quota_backend_bytes: gauge(
                "server",
                "quota_backend_bytes",
                "The backend size quota in bytes.",
            ),
            server_id: registered(
                r,
                built!(IntGaugeVec::new(
                    opts("server", "id", "This member's id, as a label."),
                    &["server_id"],
                )),
            ),
            server_version: registered(
                r,
                built!(IntGaugeVec::new(
                    opts("server", "version", "The etcd version this member reports."),
                    &["server_version"],
                )),
            ),
            cluster_version: registered(
                r,
                built!(IntGaugeVec::new(
                    opts("cluster", "version", "The cluster version."),
                    &["cluster_version"],
                )),
            ),
        };
        server
            .server_version
            .with_label_values(&[ETCD_SERVER_VERSION])
            .set(1);
        server
            .cluster_version
            .with_label_values(&[ETCD_CLUSTER_VERSION])
            .set(1);

        let mvcc = MvccMetrics {
            db_total_size_in_bytes: gauge(
                "mvcc",
                "db_total_size_in_bytes",
                "Size of the backend database file, in bytes.",
            ),
            db_total_size_in_use_in_bytes: gauge(
                "mvcc",
                "db_total_size_in_use_in_bytes",
                "Bytes of the backend database in use (the rest is free pages).",
            ),
            keys_total: gauge("debugging_mvcc", "keys_total", "Live keys."),
            current_revision: gauge(
                "debugging_mvcc",
                "current_revision",
                "The current revision of the store.",
            ),
            put_total: counter(
                "mvcc",
                "put_total",
                "Total number of puts seen by this member.",
            ),
            delete_total: counter(
                "mvcc",
                "delete_total",
                "Total number of deletes seen by this member.",
            ),
            range_total: counter(
                "mvcc",
                "range_total",
                "Total number of ranges seen by this member.",
            ),
            txn_total: counter(
                "mvcc",
                "txn_total",
                "Total number of txns seen by this member.",
            ),
            range_budget_held_bytes: registered(
                r,
                built!(IntGauge::with_opts(
                    Opts::new(
                        "range_budget_held_bytes",
                        "Bytes of the range memory budget held by ranges being loaded or sent.",
                    )
                    .namespace("oxcd")
                    .subsystem("mvcc")
                )),
            ),
            range_budget_waits_total: registered(
                r,
                built!(IntCounter::with_opts(
                    Opts::new(
                        "range_budget_waits_total",
                        "Ranges that waited for their share of the range memory budget.",
                    )
                    .namespace("oxcd")
                    .subsystem("mvcc")
                )),
            ),
            range_budget_refused_total: registered(
                r,
                built!(IntCounter::with_opts(
                    Opts::new(
                        "range_budget_refused_total",
                        "Ranges refused (too many requests) after waiting for the range memory budget.",
                    )
                    .namespace("oxcd")
                    .subsystem("mvcc")
                )),
            ),
            compaction_pause_duration_milliseconds: milliseconds(
                "db_compaction_pause_duration_milliseconds",
                "Bucketed histogram of db compaction pause duration.",
                1.0,
                13,
            ),
            compaction_total_duration_milliseconds: milliseconds(
                "db_compaction_total_duration_milliseconds",
                "Bucketed histogram of db compaction total duration.",
                100.0,
                14,
            ),
            compaction_keys_total: counter(
                "debugging_mvcc",
                "db_compaction_keys_total",
                "Total number of db keys compacted.",
            ),
        };

        let disk = DiskMetrics {
            wal_fsync_duration_seconds: disk_seconds(
                "wal_fsync_duration_seconds",
                "Latency of the WAL's fsync.",
            ),
            backend_commit_duration_seconds: disk_seconds(
                "backend_commit_duration_seconds",
                "Latency of a backend (LMDB) write-batch commit.",
            ),
            backend_flush_duration_seconds: {
                let buckets = built!(exponential_buckets(0.001, 2.0, 14));
                let opts = HistogramOpts::new(
                    "backend_flush_duration_seconds",
                    "Latency of flushing committed backend pages to disk.",
                )
                .namespace("oxcd")
                .subsystem("disk")
                .buckets(buckets);
                registered(r, built!(Histogram::with_opts(opts)))
            },
            backend_defrag_duration_seconds: {
                // etcd's buckets: 100 ms to about 400 s.
                let buckets = built!(exponential_buckets(0.1, 2.0, 13));
                let opts = HistogramOpts::new(
                    "backend_defrag_duration_seconds",
                    "The latency distribution of backend defragmentation.",
                )
                .namespace("etcd")
                .subsystem("disk")
                .buckets(buckets);
                registered(r, built!(Histogram::with_opts(opts)))
            },
            defrag_inflight: gauge(
                "disk",
                "defrag_inflight",
                "Whether or not defrag is active on the member. 1 means active, 0 means not.",
            ),
        };

        let network = NetworkMetrics {
            peer_round_trip_time_seconds: registered(
                r,
                built!(HistogramVec::new(
                    HistogramOpts::new(
                        "peer_round_trip_time_seconds",
                        "Round-trip time to each peer.",
                    )
                    .namespace("etcd")
                    .subsystem("network")
                    .buckets(built!(exponential_buckets(0.0001, 2.0, 16))),
                    &["To"],
                )),
            ),
        };

        let method_labels = &["grpc_type", "grpc_service", "grpc_method"];
        let grpc = GrpcMetrics {
            started_total: registered(
                r,
                built!(IntCounterVec::new(
                    Opts::new("grpc_server_started_total", "RPCs started on the server."),
                    method_labels,
                )),
            ),
            handled_total: registered(
                r,
                built!(IntCounterVec::new(
                    Opts::new(
                        "grpc_server_handled_total",
                        "RPCs completed on the server, by status code.",
                    ),
                    &["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
                )),
            ),
            handling_seconds: built!(HistogramVec::new(
                HistogramOpts::new(
                    "grpc_server_handling_seconds",
                    "Time from an RPC's start to its end on the server.",
                ),
                method_labels,
            )),
        };

        let health = HealthMetrics {
            success: counter("server", "health_success", "Successful /health checks."),
            failures: counter("server", "health_failures", "Failed /health checks."),
            healthcheck: registered(
                r,
                built!(IntGaugeVec::new(
                    opts("server", "healthcheck", "The result of each kind of check."),
                    &["type", "name"],
                )),
            ),
            healthchecks_total: registered(
                r,
                built!(IntCounterVec::new(
                    opts(
                        "server",
                        "healthchecks_total",
                        "Checks run, by kind and result."
                    ),
                    &["type", "name", "status"],
                )),
            ),
        };

        Metrics {
            registry,
            server,
            mvcc,
            disk,
            network,
            grpc,
            health,
        }
    }

    /// Registers what `--metrics extensive` adds.
    pub fn enable_extensive(&self) {
        let _ = self
            .registry
            .register(Box::new(self.grpc.handling_seconds.clone()));
    }
}
