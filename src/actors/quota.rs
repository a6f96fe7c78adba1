//! The quota actor: admits a request only if its encoded size is within
//! `--max-request-bytes` and, for puts and lease grants, only while the
//! backend stays under `--quota-backend-bytes` (etcd's quota alarmer; the
//! front end raises NOSPACE when this refuses).

use std::sync::Arc;

use actix::prelude::*;

use super::status::RaftStatusBoard;
use super::{ServerError, ServerResult};
use crate::storage::{quota, Store};

pub struct Quota {
    max_request_bytes: usize,
    backend_quota: u64,
    store: Arc<Store>,
    /// Says when the WAL or LMDB is out of disk space.
    board: Arc<RaftStatusBoard>,
}

impl Quota {
    pub fn new(
        max_request_bytes: usize,
        backend_quota: u64,
        store: Arc<Store>,
        board: Arc<RaftStatusBoard>,
    ) -> Self {
        Quota {
            max_request_bytes,
            backend_quota,
            store,
            board,
        }
    }
}

impl Actor for Quota {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
    }
}

/// May a proposal of `encoded_len` bytes, charged `cost` against the
/// backend quota (`storage::quota::cost`), go to raft?
#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct CheckQuota {
    pub encoded_len: usize,
    pub cost: u64,
}

impl Handler<CheckQuota> for Quota {
    type Result = ServerResult<()>;

    fn handle(&mut self, msg: CheckQuota, _: &mut Self::Context) -> Self::Result {
        if msg.encoded_len > self.max_request_bytes {
            return Err(ServerError::RequestTooLarge);
        }
        if msg.cost > 0 && !quota::fits(self.store.backend_size(), msg.cost, self.backend_quota) {
            return Err(ServerError::NoSpace);
        }
        // Out of disk: earlier writes are waiting for space; do not queue
        // more behind them (the answer is etcd's space error, the alarm
        // is not raised: the quota was not reached).
        if msg.cost > 0 && self.board.disk_full() {
            return Err(ServerError::DiskFull);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;

    #[actix_rt::test]
    async fn rejects_only_requests_over_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), StoreOptions { map_size: 1 << 20 }).unwrap());
        let size = store.backend_size();
        let board = Arc::new(RaftStatusBoard::default());
        let quota = Quota::new(100, size + 300, store, board.clone()).start();
        let check = |encoded_len, cost| quota.send(CheckQuota { encoded_len, cost });
        assert!(check(100, 0).await.unwrap().is_ok());
        let over = check(101, 0).await.unwrap();
        assert!(matches!(over, Err(ServerError::RequestTooLarge)));
        assert!(check(10, 299).await.unwrap().is_ok());
        let full = check(10, 300).await.unwrap();
        assert!(matches!(full, Err(ServerError::NoSpace)), "{full:?}");
        board.set_disk_full(true, "test");
        let disk = check(10, 1).await.unwrap();
        assert!(matches!(disk, Err(ServerError::DiskFull)), "{disk:?}");
        assert!(check(10, 0).await.unwrap().is_ok(), "deletes still go");
    }
}
