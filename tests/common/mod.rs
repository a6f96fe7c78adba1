//! Shared helpers for the integration tests: `mod common;` in a test file.
//!
//! - [`server`]: start oxcd or the reference etcd (one member or a cluster) on free loopback
//!   ports with a fresh temp data dir, wait until it serves, kill -9 / restart, stop on drop.
//! - [`grpc`]: tonic KV and Watch clients.
//! - [`proxy`]: a fault-injecting TCP proxy (block / unblock / delay) and a [`proxy::Mesh`]
//!   of them in front of cluster members' peer listeners, to partition members.
//! - [`ctl`]: run `etcdctl` with `--endpoints`, optional stdin and a deadline.
//! - [`linearizability`]: record a concurrent history of register operations (put, get,
//!   compare-and-swap; outcomes may be unknown) and check it for linearizability.
//! - [`normalize`], [`scenario`], [`diff`]: the differential scenario harness
//!   (see docs/testing.md).
#![allow(dead_code)]

pub mod ctl;
pub mod diff;
pub mod grpc;
pub mod header_script;
pub mod http;
pub mod linearizability;
pub mod normalize;
pub mod pki;
pub mod proxy;
pub mod robustness;
pub mod scenario;
pub mod server;
pub mod snapshot_history;
pub mod standalone;
pub mod status;

#[allow(unused_imports)]
pub use ctl::{etcdctl, etcdctl_bin, etcdctl_until_ok, BgProcess, CtlOutput, CTL_TIMEOUT};
#[allow(unused_imports)]
pub use server::{
    etcd_available, etcd_bin, free_port, oxcd_bin, proc_status_kib, require_etcd, Cluster,
    ClusterBuilder, Member, Server, ServerKind,
};
