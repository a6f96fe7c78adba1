//! `lock`: one Lock and one Unlock (v3lock) per request, each client with a
//! lease of its own; `--names 1` makes every client contend for one lock
//! (a request then includes waiting for the others), `--names` = clients
//! gives each its own.

use super::{Load, Outcome, Worker};
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::LeaseGrantRequest;
use oxcd::proto::v3lockpb::lock_client::LockClient;
use oxcd::proto::v3lockpb::{LockRequest, UnlockRequest};
use tonic::transport::Channel;

pub struct LockLoad {
    names: u64,
}

impl LockLoad {
    pub fn new(names: u64) -> Self {
        LockLoad { names }
    }
}

impl Load for LockLoad {
    type Worker = LockWorker;

    fn name(&self) -> &'static str {
        "lock"
    }

    async fn worker(&self, client: u64, channel: Channel) -> Result<LockWorker, String> {
        let lease = LeaseClient::new(channel.clone())
            .lease_grant(LeaseGrantRequest { ttl: 600, id: 0 })
            .await
            .map_err(|s| format!("lease grant: {}", s.message()))?
            .into_inner()
            .id;
        Ok(LockWorker {
            locks: LockClient::new(channel),
            name: format!("bench-lock-{}", client % self.names).into_bytes(),
            lease,
        })
    }
}

pub struct LockWorker {
    locks: LockClient<Channel>,
    name: Vec<u8>,
    lease: i64,
}

impl Worker for LockWorker {
    async fn request(&mut self, _n: u64) -> Outcome {
        let key = self
            .locks
            .lock(LockRequest {
                name: self.name.clone(),
                lease: self.lease,
            })
            .await?
            .into_inner()
            .key;
        self.locks.unlock(UnlockRequest { key }).await?;
        Ok(None)
    }
}
