//! The server's actors, one file each, with the messages they take beside
//! them; what the applier publishes back up the chain is in `protocol`.
//!
//! Commands: front end -> quota, auth -> raft node -> WAL writer; raft node
//! -> applier -> MVCC writer. Reads: front end -> raft node (ReadIndex) ->
//! MVCC readers. Back up, through `Recipient`s wired at boot: the applier
//! -> front end (trigger waiters), raft node, lessor, watch hub.

pub mod applier;
pub mod auth;
mod auth_proposals;
pub mod compactor;
pub mod error;
pub mod frontend;
pub mod lessor;
pub mod mvcc_history;
pub mod mvcc_store;
pub mod peer_net;
pub mod proposal;
pub mod protocol;
pub mod quota;
pub mod raft_node;
pub mod range_budget;
pub mod snapshot_receiver;
pub mod status;
pub mod wal_writer;
pub mod watch_hub;
/// The auth store's refusals, as the API maps them to etcd's errors.
pub use crate::storage::auth::AuthError;
pub use error::{ServerError, ServerResult};

/// Mailbox size for actors on the request path: large, so bursts of
/// thousands of clients queue instead of waiting on actix's default of 16
/// (actix caps capacities well below usize::MAX).
pub const MAILBOX_CAPACITY: usize = 1 << 20;
