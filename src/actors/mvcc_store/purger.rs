//! The purger: deletes what compactions left in LMDB, a step of at most
//! `--experimental-compaction-batch-limit` records at a time with a pause
//! between steps for writes to go on (etcd's scheduled compaction), on a
//! thread of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::metrics::metrics;
use crate::storage::Store;

/// etcd 3.4's fixed pause between compaction batches.
const PAUSE: Duration = Duration::from_millis(10);

pub struct Purger {
    store: Arc<Store>,
    batch_limit: usize,
}

impl Purger {
    pub fn new(store: Arc<Store>, batch_limit: usize) -> Self {
        Purger {
            store,
            batch_limit: batch_limit.max(1),
        }
    }
}

impl Actor for Purger {
    type Context = SyncContext<Self>;
}

/// A compaction was committed (or the store opened with one unfinished):
/// purge until nothing is left.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Purge;

impl Handler<Purge> for Purger {
    type Result = ();

    fn handle(&mut self, _: Purge, _: &mut Self::Context) {
        let started = Instant::now();
        let mvcc = &metrics().mvcc;
        loop {
            let step_started = Instant::now();
            let step = {
                let _span = tracing::debug_span!("mvcc.purge_step").entered();
                self.store.purge_step(self.batch_limit)
            };
            match step {
                Ok(None) => return,
                Ok(Some(step)) => {
                    mvcc.compaction_keys_total.inc_by(step.deleted as u64);
                    if step.finished {
                        mvcc.compaction_total_duration_milliseconds
                            .observe(started.elapsed().as_secs_f64() * 1000.0);
                        // etcd's wording, which operators grep for.
                        tracing::info!(
                            "compact-revision" = step.rev,
                            took = ?started.elapsed(),
                            "finished scheduled compaction"
                        );
                        return;
                    }
                    mvcc.compaction_pause_duration_milliseconds
                        .observe(step_started.elapsed().as_secs_f64() * 1000.0);
                    std::thread::sleep(PAUSE);
                }
                Err(err) => {
                    // Left scheduled: the next compaction or restart resumes.
                    tracing::error!(%err, "failed to purge compacted revisions");
                    return;
                }
            }
        }
    }
}
