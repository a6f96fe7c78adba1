//! Fills etcd's ResponseHeader: cluster id, member id, raft term (revision is
//! set by whoever produced the response).

use std::sync::Arc;

use actix::Addr;

use super::ask::ask;
use super::ApiError;
use crate::actors::mvcc_store::{BackendStatus, GetBackendStatus, MvccReader};

use crate::actors::status::RaftStatusBoard;
use crate::proto::etcdserverpb::ResponseHeader;

#[derive(Clone)]
pub struct HeaderFiller {
    pub cluster_id: u64,
    pub member_id: u64,
    pub board: Arc<RaftStatusBoard>,
}

impl HeaderFiller {
    pub fn fill(&self, header: &mut Option<ResponseHeader>) {
        let header = header.get_or_insert_with(ResponseHeader::default);
        header.cluster_id = self.cluster_id;
        header.member_id = self.member_id;
        header.raft_term = self.board.term();
    }

    /// A header for responses that carry only the current revision.
    pub fn with_revision(&self, revision: i64) -> Option<ResponseHeader> {
        let mut header = Some(ResponseHeader {
            revision,
            ..Default::default()
        });
        self.fill(&mut header);
        header
    }
}

/// Backend figures (revision, sizes) for headers and Status.
pub async fn backend_status(readers: &Addr<MvccReader>) -> Result<BackendStatus, ApiError> {
    ask(readers, GetBackendStatus).await
}
