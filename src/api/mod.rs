//! gRPC front end: tonic services that turn protobuf requests into actor
//! messages and replies into protobuf. Owns no state, never touches storage.

pub mod ask;
pub mod auth;
pub mod budget_body;
pub mod cluster;
pub mod concurrency;
pub mod connections;
pub mod direct_route;
pub mod election;
pub mod error;
pub mod grpc_metrics;
pub mod header;
pub mod http;
pub mod kv;
pub mod lease;
pub mod lenient_authority;
pub mod listener;
pub mod lock;
pub mod maintenance;
pub mod oversize;
pub mod peer;
pub mod peer_snapshot;
pub mod ping_policed;
pub mod ping_policy;
pub mod propose;
pub mod require_leader;
pub mod server;
pub mod shutdown;
pub mod snapshot_stream;
pub use error::{ApiError, ApiResult};
pub mod validate;
pub mod watch;
pub mod watch_fragment;
