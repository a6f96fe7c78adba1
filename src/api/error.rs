//! The API layer's error type and the ONE place where oxcd errors become
//! etcd's gRPC status codes and messages (etcd's rpctypes).

use tonic::{Code, Status};

use crate::actors::AuthError;
use crate::actors::ServerError;

/// Request validation failures (checked before anything is proposed) and
/// everything the layers below report.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("key is not provided")]
    EmptyKey,
    #[error("value is provided")]
    ValueProvided,
    #[error("lease is provided")]
    LeaseProvided,
    #[error("too many operations in txn request")]
    TooManyOps,
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    #[error("too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("member ID already exist")]
    MemberExists,
    #[error("Peer URLs already exists")]
    PeerUrlExists,
    #[error("given member URLs are invalid")]
    MemberBadUrls,
    #[error("member not found")]
    MemberNotFound,
    #[error("can only promote a learner member")]
    MemberNotLearner,
    #[error("can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("too many learner members in cluster")]
    TooManyLearners,
    #[error("unhealthy cluster")]
    Unhealthy,
    /// Proclaim on a key that is no longer the leader's (v3election).
    #[error("election: not leader")]
    ElectionNotLeader,
    /// Leader of an election nobody holds.
    #[error("election: no leader")]
    ElectionNoLeader,
    /// Proclaim or Resign without the leader key.
    #[error("\"leader\" field must be provided")]
    MissingLeaderKey,
    /// A lock or campaign wait whose watch ended (the server stopping).
    #[error("lost watcher waiting for delete")]
    LostWatcher,
    /// The caller went away while a lock or campaign waited.
    #[error("context canceled")]
    Canceled,
    /// bcrypt could not hash a password (etcd passes bcrypt's text on).
    #[error("{0}")]
    PasswordHash(String),
    #[error(transparent)]
    Server(#[from] ServerError),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// etcd's (code, message) for an error.
pub fn status_parts(err: &ApiError) -> (Code, String) {
    use Code::*;
    let (code, msg): (Code, &str) = match err {
        ApiError::EmptyKey => (InvalidArgument, "etcdserver: key is not provided"),
        ApiError::ValueProvided => (InvalidArgument, "etcdserver: value is provided"),
        ApiError::LeaseProvided => (InvalidArgument, "etcdserver: lease is provided"),
        ApiError::TooManyOps => (
            InvalidArgument,
            "etcdserver: too many operations in txn request",
        ),
        ApiError::DuplicateKey => (
            InvalidArgument,
            "etcdserver: duplicate key given in txn request",
        ),
        ApiError::LeaseTtlTooLarge => (OutOfRange, "etcdserver: too large lease TTL"),
        ApiError::MemberExists => (FailedPrecondition, "etcdserver: member ID already exist"),
        ApiError::PeerUrlExists => (FailedPrecondition, "etcdserver: Peer URLs already exists"),
        ApiError::MemberBadUrls => (InvalidArgument, "etcdserver: given member URLs are invalid"),
        ApiError::MemberNotFound => (NotFound, "etcdserver: member not found"),
        ApiError::MemberNotLearner => (
            FailedPrecondition,
            "etcdserver: can only promote a learner member",
        ),
        ApiError::LearnerNotReady => (
            FailedPrecondition,
            "etcdserver: can only promote a learner member which is in sync with leader",
        ),
        ApiError::Unhealthy => (Unavailable, "etcdserver: unhealthy cluster"),
        ApiError::PasswordHash(text) => return (Unknown, text.clone()),
        // etcd's concurrency errors are plain Go errors: grpc-go sends them
        // as Unknown with their text.
        ApiError::ElectionNotLeader => (Unknown, "election: not leader"),
        ApiError::ElectionNoLeader => (Unknown, "election: no leader"),
        ApiError::MissingLeaderKey => (Unknown, "\"leader\" field must be provided"),
        ApiError::LostWatcher => (Unknown, "lost watcher waiting for delete"),
        ApiError::Canceled => (Cancelled, "context canceled"),
        ApiError::TooManyLearners => (
            FailedPrecondition,
            "etcdserver: too many learner members in cluster",
        ),
        ApiError::Server(server) => match server {
            ServerError::TooManyRequests => (ResourceExhausted, "etcdserver: too many requests"),
            ServerError::Timeout => (Unavailable, "etcdserver: request timed out"),
            ServerError::RequestTooLarge => (InvalidArgument, "etcdserver: request is too large"),
            ServerError::NoSpace | ServerError::DiskFull => (
                ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            ServerError::Corrupt => (DataLoss, "etcdserver: corrupt cluster"),
            ServerError::WrongDowngradeVersionFormat => (
                InvalidArgument,
                "etcdserver: wrong downgrade target version format",
            ),
            ServerError::InvalidDowngradeTarget => (
                InvalidArgument,
                "etcdserver: invalid downgrade target version",
            ),
            ServerError::DowngradeInProcess => (
                FailedPrecondition,
                "etcdserver: cluster has a downgrade job in progress",
            ),
            ServerError::NoInflightDowngrade => {
                (FailedPrecondition, "etcdserver: no inflight downgrade job")
            }
            ServerError::UnknownMethod => (Unknown, "etcdserver: unknown method"),
            ServerError::NoLeader => (Unavailable, "etcdserver: no leader"),
            ServerError::NotLeader => (FailedPrecondition, "etcdserver: not leader"),
            ServerError::BadLeaderTransferee => {
                (FailedPrecondition, "etcdserver: bad leader transferee")
            }
            ServerError::LeaderTransferTimeout => (
                Unavailable,
                "etcdserver: request timed out, leader transfer took too long",
            ),
            ServerError::Stopped => (Unavailable, "etcdserver: server stopped"),
            ServerError::PermissionDenied => (PermissionDenied, "etcdserver: permission denied"),
            ServerError::Compacted => (
                OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            ServerError::FutureRevision => (
                OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
            ServerError::KeyNotFound => (InvalidArgument, "etcdserver: key not found"),
            ServerError::LeaseNotFound => (NotFound, "etcdserver: requested lease not found"),
            ServerError::LeaseExists => (FailedPrecondition, "etcdserver: lease already exists"),
            ServerError::Auth(auth) => auth_status(auth),
            ServerError::AuthByProvider => (
                FailedPrecondition,
                "etcdserver: auth is managed by --auth-provider; etcd's own auth stays off",
            ),
            ServerError::UnexpectedResponse(_) => return (Internal, server.to_string()),
            // Internal failures: etcd surfaces these as the raw error text.
            ServerError::Storage(storage) => return (Unknown, storage.to_string()),
        },
    };
    (code, msg.to_string())
}

/// etcd's codes and messages for the auth store's errors.
fn auth_status(err: &AuthError) -> (Code, &'static str) {
    use Code::*;
    match err {
        AuthError::UserEmpty => (InvalidArgument, "etcdserver: user name is empty"),
        AuthError::UserAlreadyExists => {
            (FailedPrecondition, "etcdserver: user name already exists")
        }
        AuthError::UserNotFound => (FailedPrecondition, "etcdserver: user name not found"),
        AuthError::RoleEmpty => (InvalidArgument, "etcdserver: role name is empty"),
        AuthError::RoleAlreadyExists => {
            (FailedPrecondition, "etcdserver: role name already exists")
        }
        AuthError::RoleNotFound => (FailedPrecondition, "etcdserver: role name not found"),
        AuthError::RoleNotGranted => (
            FailedPrecondition,
            "etcdserver: role is not granted to the user",
        ),
        AuthError::PermissionNotGranted => (
            FailedPrecondition,
            "etcdserver: permission is not granted to the role",
        ),
        AuthError::PermissionNotGiven => (InvalidArgument, "etcdserver: permission not given"),
        AuthError::InvalidAuthMgmt => (InvalidArgument, "etcdserver: invalid auth management"),
        AuthError::RootUserNotExist => (FailedPrecondition, "etcdserver: root user does not exist"),
        AuthError::RootRoleNotExist => (
            FailedPrecondition,
            "etcdserver: root user does not have root role",
        ),
        AuthError::OldRevision => (InvalidArgument, "etcdserver: revision of auth store is old"),
        AuthError::PermissionDenied => (PermissionDenied, "etcdserver: permission denied"),
        AuthError::AuthNotEnabled => (
            FailedPrecondition,
            "etcdserver: authentication is not enabled",
        ),
        AuthError::AuthFailed => (
            InvalidArgument,
            "etcdserver: authentication failed, invalid user ID or password",
        ),
        AuthError::InvalidAuthToken => (Unauthenticated, "etcdserver: invalid auth token"),
        // Not one of etcd's gRPC errors: its text as etcd passes it on.
        AuthError::VerifyOnly => (
            Unknown,
            "auth: token signing attempted with verify-only key",
        ),
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let (code, msg) = status_parts(&err);
        Status::new(code, msg)
    }
}

/// The status of an error met by the Lock and Election services. etcd runs
/// them over its Go client, which turns etcd's own errors into plain Go
/// errors: they reach the caller as `Unknown` with etcd's text (e.g.
/// "etcdserver: requested lease not found"); other errors keep their code.
pub fn via_etcd_client(err: ApiError) -> Status {
    let (code, msg) = status_parts(&err);
    if msg.starts_with("etcdserver: ") {
        Status::new(Code::Unknown, msg)
    } else {
        Status::new(code, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacted_maps_to_out_of_range_with_etcd_text() {
        let status = Status::from(ApiError::from(ServerError::Compacted));
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(
            status.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
    }

    #[test]
    fn lease_not_found_is_not_found() {
        let status = Status::from(ApiError::from(ServerError::LeaseNotFound));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "etcdserver: requested lease not found");
    }

    #[test]
    fn too_many_requests_is_resource_exhausted() {
        let status = Status::from(ApiError::Server(ServerError::TooManyRequests));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "etcdserver: too many requests");
    }
}
