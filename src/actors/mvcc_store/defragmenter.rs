//! The defragmenter: rewrites the LMDB file compacted on a thread of its
//! own while the member serves reads and writes (`Store::defragment`).
//! One thread, so a second Defragment waits for the first, as etcd's does.

use std::sync::Arc;

use actix::prelude::*;

use crate::metrics::{metrics, seconds_since};
use crate::storage::mvcc::DefragReport;
use crate::storage::{StorageResult, Store};

pub struct Defragmenter {
    store: Arc<Store>,
}

impl Defragmenter {
    pub fn new(store: Arc<Store>) -> Self {
        Defragmenter { store }
    }
}

impl Actor for Defragmenter {
    type Context = SyncContext<Self>;
}

/// Maintenance.Defragment.
#[derive(Message)]
#[rtype(result = "StorageResult<DefragReport>")]
pub struct Defragment;

impl Handler<Defragment> for Defragmenter {
    type Result = StorageResult<DefragReport>;

    fn handle(&mut self, _: Defragment, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::info_span!("mvcc.defragment").entered();
        let size_before = self.store.backend_size();
        // etcd's messages and field names, which operators grep for.
        tracing::info!("current-db-size-bytes" = size_before, "defragmenting");
        let disk = &metrics().disk;
        disk.defrag_inflight.set(1);
        let started = std::time::Instant::now();
        let report = self.store.defragment();
        disk.defrag_inflight.set(0);
        disk.backend_defrag_duration_seconds
            .observe(seconds_since(started));
        match &report {
            Ok(done) => tracing::info!(
                "current-db-size-bytes-diff" = done.size_after as i64 - done.size_before as i64,
                "current-db-size-bytes" = done.size_after,
                rounds = done.rounds,
                writes_held = ?done.paused,
                took = ?started.elapsed(),
                "defragmented"
            ),
            Err(err) => tracing::warn!(%err, "failed to defragment"),
        }
        report
    }
}
