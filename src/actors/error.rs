//! The actor layer's one error type: what etcd's server package reports
//! (`etcdserver: ...`), plus storage failures passed through.

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// committed index ran too far ahead of applied (etcd's gap of 5000).
    #[error("too many requests")]
    TooManyRequests,
    /// The request was not applied within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// The encoded request is over `--max-request-bytes`.
    #[error("request is too large")]
    RequestTooLarge,
    /// The backend is over `--quota-backend-bytes` (NOSPACE alarm).
    #[error("mvcc: database space exceeded")]
    NoSpace,
    /// This member knows no leader right now.
    #[error("no leader")]
    NoLeader,
    /// Only the leader can do this (MoveLeader).
    #[error("not leader")]
    NotLeader,
    /// MoveLeader to a member that is not a voter.
    #[error("bad leader transferee")]
    BadLeaderTransferee,
    /// MoveLeader did not see the new leader in time.
    #[error("request timed out, leader transfer took too long")]
    LeaderTransferTimeout,
    /// The server is shutting down or an actor it needs is gone.
    #[error("server stopped")]
    Stopped,
    /// The auth actor refused the request.
    #[error("permission denied")]
    PermissionDenied,
    /// Applying the request failed on an etcd rule or in storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type ServerResult<T> = Result<T, ServerError>;

impl From<actix::MailboxError> for ServerError {
    fn from(_: actix::MailboxError) -> Self {
        ServerError::Stopped
    }
}
