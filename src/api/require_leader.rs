//! etcd's "require leader" metadata: a client that sends `hasleader: true`
//! (clientv3's WithRequireLeader, which etcdctl uses for watches) wants an
//! error rather than an answer from a member cut off from its leader. Every
//! call is refused with "etcdserver: no leader" while this member knows no
//! leader, and such watch streams are cancelled after three election
//! timeouts without one.

use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::ApiError;
use crate::actors::status::RaftStatusBoard;
use crate::actors::ServerError;

const REQUIRE_LEADER_KEY: &str = "hasleader";
const HAS_LEADER: &str = "true";

/// Election timeouts without a leader before a require-leader stream ends.
pub const NO_LEADER_TIMEOUTS: u32 = 3;

pub fn wants_leader(metadata: &MetadataMap) -> bool {
    metadata
        .get(REQUIRE_LEADER_KEY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == HAS_LEADER)
}

pub fn no_leader() -> Status {
    ApiError::from(ServerError::NoLeader).into()
}

/// Refuses require-leader calls while there is no leader.
#[derive(Clone)]
pub struct RequireLeader {
    pub board: Arc<RaftStatusBoard>,
}

impl Interceptor for RequireLeader {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if wants_leader(request.metadata()) && self.board.read().leader == 0 {
            return Err(no_leader());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(require: bool) -> Request<()> {
        let mut request = Request::new(());
        if require {
            request
                .metadata_mut()
                .insert(REQUIRE_LEADER_KEY, HAS_LEADER.parse().expect("ascii"));
        }
        request
    }

    #[test]
    fn only_require_leader_calls_are_refused_without_a_leader() {
        let board = Arc::new(RaftStatusBoard::default());
        let mut check = RequireLeader {
            board: board.clone(),
        };
        let refused = check.call(request(true)).expect_err("no leader");
        assert_eq!(refused.message(), "etcdserver: no leader");
        assert!(check.call(request(false)).is_ok());
        board.publish_term_and_leader(2, 7);
        assert!(check.call(request(true)).is_ok());
    }
}
