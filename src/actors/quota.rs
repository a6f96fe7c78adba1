//! The quota actor: admits a request only if its encoded size is within
//! `--max-request-bytes` and, for puts and lease grants, only while the
//! backend stays under `--quota-backend-bytes` (etcd's quota alarmer; the
//! front end raises NOSPACE when this refuses). An admitted proposal goes on
//! to the raft node, a refused one back to the front end: both one-way
//! messages, so a write waits on no reply before raft has it.

use std::sync::Arc;

use actix::prelude::*;

use super::protocol::Refused;
use super::raft_node::ProposeData;
use super::status::RaftStatusBoard;
use super::{ServerError, ServerResult};
use crate::storage::{quota, Store};

pub struct Quota {
    max_request_bytes: usize,
    backend_quota: u64,
    store: Arc<Store>,
    /// Says when the WAL or LMDB is out of disk space.
    board: Arc<RaftStatusBoard>,
    /// Where admitted proposals go (the raft node).
    proposals: Recipient<ProposeData>,
    /// Where refusals go (the front end's waiters).
    refusals: Recipient<Refused>,
}

impl Quota {
    pub fn new(
        max_request_bytes: usize,
        backend_quota: u64,
        store: Arc<Store>,
        board: Arc<RaftStatusBoard>,
        proposals: Recipient<ProposeData>,
        refusals: Recipient<Refused>,
    ) -> Self {
        Quota {
            max_request_bytes,
            backend_quota,
            store,
            board,
            proposals,
            refusals,
        }
    }

    /// May a proposal of `encoded_len` bytes, charged `cost` against the
    /// backend quota (`storage::quota::cost`), go to raft?
    fn check(&self, encoded_len: usize, cost: u64) -> ServerResult<()> {
        if encoded_len > self.max_request_bytes {
            return Err(ServerError::RequestTooLarge);
        }
        if cost > 0 && !quota::fits(self.store.backend_size(), cost, self.backend_quota) {
            return Err(ServerError::NoSpace);
        }
        // Out of disk: earlier writes are waiting for space; do not queue
        // more behind them (the answer is etcd's space error, the alarm
        // is not raised: the quota was not reached).
        if cost > 0 && self.board.disk_full() {
            return Err(ServerError::DiskFull);
        }
        Ok(())
    }
}

impl Actor for Quota {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
    }
}

/// An encoded proposal (request `id`, charged `cost` against the backend
/// quota) on its way to raft.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Admit {
    pub id: u64,
    pub cost: u64,
    pub data: Vec<u8>,
}

impl Handler<Admit> for Quota {
    type Result = ();

    fn handle(&mut self, msg: Admit, _: &mut Self::Context) {
        match self.check(msg.data.len(), msg.cost) {
            Ok(()) => self.proposals.do_send(ProposeData {
                id: msg.id,
                data: msg.data,
            }),
            Err(error) => self.refusals.do_send(Refused { id: msg.id, error }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOptions;

    /// Stands in for the raft node and the front end: records where each
    /// request id went (`None`: admitted to raft).
    #[derive(Default)]
    struct Outcomes(Vec<(u64, Option<ServerError>)>);

    impl Actor for Outcomes {
        type Context = Context<Self>;
    }

    impl Handler<ProposeData> for Outcomes {
        type Result = ();
        fn handle(&mut self, msg: ProposeData, _: &mut Self::Context) {
            self.0.push((msg.id, None));
        }
    }

    impl Handler<Refused> for Outcomes {
        type Result = ();
        fn handle(&mut self, msg: Refused, _: &mut Self::Context) {
            self.0.push((msg.id, Some(msg.error)));
        }
    }

    #[derive(Message)]
    #[rtype(result = "Vec<(u64, Option<ServerError>)>")]
    struct Take;

    impl Handler<Take> for Outcomes {
        type Result = MessageResult<Take>;
        fn handle(&mut self, _: Take, _: &mut Self::Context) -> Self::Result {
            MessageResult(std::mem::take(&mut self.0))
        }
    }

    #[actix_rt::test]
    async fn admits_to_raft_and_refuses_to_the_front_end_only_over_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), StoreOptions { map_size: 1 << 20 }).unwrap());
        let size = store.backend_size();
        let board = Arc::new(RaftStatusBoard::default());
        let outcomes = Outcomes::default().start();
        let quota = Quota::new(
            100,
            size + 300,
            store,
            board.clone(),
            outcomes.clone().recipient(),
            outcomes.clone().recipient(),
        )
        .start();
        let admit = |id, len, cost| {
            quota.do_send(Admit {
                id,
                cost,
                data: vec![0; len],
            })
        };
        admit(1, 100, 0);
        admit(2, 101, 0);
        admit(3, 10, 299);
        admit(4, 10, 300);
        // Sent after the others, so it reaches the quota actor last.
        let flushed = quota.send(Admit {
            id: 0,
            cost: 0,
            data: Vec::new(),
        });
        flushed.await.unwrap();
        board.set_disk_full(true, "test");
        admit(5, 10, 1);
        admit(6, 10, 0);
        quota
            .send(Admit {
                id: 7,
                cost: 0,
                data: Vec::new(),
            })
            .await
            .unwrap();
        let seen = outcomes.send(Take).await.unwrap();
        let went: Vec<(u64, &str)> = seen
            .iter()
            .map(|(id, outcome)| {
                let to = match outcome {
                    None => "raft",
                    Some(ServerError::RequestTooLarge) => "too large",
                    Some(ServerError::NoSpace) => "no space",
                    Some(ServerError::DiskFull) => "disk full",
                    Some(_) => "other",
                };
                (*id, to)
            })
            .collect();
        assert_eq!(
            went,
            [
                (1, "raft"),
                (2, "too large"),
                (3, "raft"),
                (4, "no space"),
                (0, "raft"),
                (5, "disk full"),
                (6, "raft"),
                (7, "raft"),
            ],
            "deletes (no cost) still go when the disk is full"
        );
    }
}
