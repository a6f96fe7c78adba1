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
    /// The WAL or LMDB found no disk space; writes are refused until a
    /// retry succeeds (reported to clients as etcd's space error).
    #[error("mvcc: database space exceeded (no space left on device)")]
    DiskFull,
    /// A CORRUPT alarm is active: KV requests are refused.
    #[error("corrupt cluster")]
    Corrupt,
    /// Downgrade: the target is not a version.
    #[error("wrong downgrade target version format")]
    WrongDowngradeVersionFormat,
    /// Downgrade: not one minor version below the cluster's.
    #[error("invalid downgrade target version")]
    InvalidDowngradeTarget,
    #[error("cluster has a downgrade job in progress")]
    DowngradeInProcess,
    #[error("no inflight downgrade job")]
    NoInflightDowngrade,
    /// A request naming an action etcd does not know.
    #[error("unknown method")]
    UnknownMethod,
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
    /// etcd's MVCC and lease rules, as storage reports them; named here so
    /// the API maps the actors' error alone.
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    #[error("key not found")]
    KeyNotFound,
    #[error("requested lease not found")]
    LeaseNotFound,
    #[error("lease already exists")]
    LeaseExists,
    /// An auth change etcd refuses, as storage reports it.
    #[error(transparent)]
    Auth(#[from] crate::storage::auth::AuthError),
    /// AuthEnable while a custom `--auth-provider` decides.
    #[error("auth is managed by the auth provider")]
    AuthByProvider,
    /// The front end answered a proposal with a result of another kind (a
    /// bug, never a client's fault).
    #[error("oxcd: applier returned a response of the wrong kind for {0}")]
    UnexpectedResponse(&'static str),
    /// Anything else that failed below: LMDB, files, a bug.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for ServerError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Compacted => ServerError::Compacted,
            StorageError::FutureRevision => ServerError::FutureRevision,
            StorageError::KeyNotFound => ServerError::KeyNotFound,
            StorageError::LeaseNotFound => ServerError::LeaseNotFound,
            StorageError::LeaseExists => ServerError::LeaseExists,
            StorageError::Auth(auth) => ServerError::Auth(auth),
            StorageError::NoSpace => ServerError::NoSpace,
            StorageError::AlarmCorrupt => ServerError::Corrupt,
            other => ServerError::Storage(other),
        }
    }
}

pub type ServerResult<T> = Result<T, ServerError>;

impl From<actix::MailboxError> for ServerError {
    fn from(_: actix::MailboxError) -> Self {
        ServerError::Stopped
    }
}
