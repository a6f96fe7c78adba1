//! Every integration test, in one test binary: `tests/common` and the
//! dependencies are compiled and linked once instead of once per file, and
//! the test threads stay busy from one file's tests to the next.
//!
//! One file per subject, each a module here; run one of them with
//! `cargo test --features failpoints --test integration <file>::`.

mod common;

mod auth_cluster;
mod auth_grpc;
mod auth_jwt;
mod auth_matrix;
mod auth_provider;
mod bench_smoke;
mod cluster;
mod cluster_lease_forwarding;
mod cluster_linearizable;
mod cluster_membership;
mod cluster_partition;
mod compaction_batches;
mod crash;
mod daemon_output;
mod data_dir_lock;
mod differential;
mod differential_headers;
mod discovery_srv;
mod disk_full;
mod flag_behaviour;
mod force_new_cluster;
mod gateway;
mod graceful_stop;
mod grpc_limits;
mod http_endpoints;
mod initial_corrupt_check;
mod keepalive_min_time;
mod kv_grpc;
mod lease_grpc;
mod linearizability_checker;
mod lock_cluster;
mod lock_election;
mod maintenance;
mod proxy;
mod range_memory;
mod retention;
mod robustness;
mod snapshot;
mod snapshot_restore;
mod tls;
mod tls_peer;
mod unix_sockets;
mod watch_grpc;
mod watch_guarantees;
mod watch_memory;
mod watch_slow;
