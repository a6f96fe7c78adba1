//! oxcd: an etcd-v3-compatible, Raft-replicated key-value server.

pub mod actors;
pub mod api;
pub mod config;
mod entry;
pub mod failpoints;
pub mod logging;
pub mod membership;
pub mod metrics;
pub mod peer_dial;
pub mod prefix;
pub mod proto;
pub mod server;
mod snapshot_cli;
pub mod storage;
pub mod tls;
pub mod version;

pub use entry::run;
