//! The auto-compactor (`--auto-compaction-mode/-retention`): proposes etcd
//! Compaction requests through the front end like any client would.
//!
//! - revision mode keeps the last `retention` revisions, checking every
//!   5 minutes (etcd's interval);
//! - periodic mode keeps `retention` of history: it samples the revision every
//!   retention/10 (at most hourly) and compacts to the sample that has become
//!   `retention` old.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::auth::Credentials;
use super::frontend::{FrontEnd, Propose, WriteRequest};
use super::mvcc_store::{GetBackendStatus, MvccReader};
use crate::config::AutoCompaction;
use crate::proto::etcdserverpb::CompactionRequest;

const REVISION_MODE_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MAX_PERIODIC_SAMPLE_INTERVAL: Duration = Duration::from_secs(60 * 60);

pub struct Compactor {
    schedule: Schedule,
    frontend: Addr<FrontEnd>,
    readers: Addr<MvccReader>,
}

/// When to compact to what: plain state, apart from the actor for testing.
struct Schedule {
    policy: AutoCompaction,
    /// Periodic mode: (when, revision) samples, oldest first.
    samples: VecDeque<(Instant, i64)>,
    last_target: i64,
}

impl Compactor {
    pub fn new(
        policy: AutoCompaction,
        frontend: Addr<FrontEnd>,
        readers: Addr<MvccReader>,
    ) -> Self {
        let schedule = Schedule {
            policy,
            samples: VecDeque::new(),
            last_target: 0,
        };
        Compactor {
            schedule,
            frontend,
            readers,
        }
    }
}

impl Schedule {
    fn interval(&self) -> Duration {
        match self.policy {
            AutoCompaction::Revision(_) => REVISION_MODE_INTERVAL,
            AutoCompaction::Periodic(retention) => {
                (retention / 10).clamp(Duration::from_secs(1), MAX_PERIODIC_SAMPLE_INTERVAL)
            }
        }
    }

    /// The revision to compact to, given the current one (None: nothing to do).
    fn target(&mut self, now: Instant, current: i64) -> Option<i64> {
        let target = match self.policy {
            AutoCompaction::Revision(keep) => current - keep as i64,
            AutoCompaction::Periodic(retention) => {
                self.samples.push_back((now, current));
                let mut target = 0;
                while let Some(&(at, rev)) = self.samples.front() {
                    if now.duration_since(at) < retention {
                        break;
                    }
                    target = rev;
                    self.samples.pop_front();
                }
                target
            }
        };
        if target <= self.last_target || target <= 0 {
            return None;
        }
        self.last_target = target;
        Some(target)
    }
}

impl Compactor {
    fn run_once(&mut self, ctx: &mut Context<Self>) {
        let (readers, frontend) = (self.readers.clone(), self.frontend.clone());
        async move { readers.send(GetBackendStatus).await }
            .into_actor(self)
            .map(move |status, compactor, _| {
                let Ok(Ok(status)) = status else {
                    return;
                };
                let Some(revision) = compactor.schedule.target(Instant::now(), status.revision)
                else {
                    return;
                };
                tracing::info!(revision, "auto-compaction");
                let request = WriteRequest::Compaction(CompactionRequest {
                    revision,
                    physical: false,
                });
                frontend.do_send(Propose {
                    body: request,
                    credentials: Credentials::internal(),
                });
            })
            .wait(ctx);
    }
}

impl Actor for Compactor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.schedule.interval(), |compactor, ctx| {
            compactor.run_once(ctx)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(policy: AutoCompaction) -> Schedule {
        Schedule {
            policy,
            samples: VecDeque::new(),
            last_target: 0,
        }
    }

    #[test]
    fn revision_mode_keeps_the_last_n_revisions() {
        let mut c = schedule(AutoCompaction::Revision(10));
        let now = Instant::now();
        assert_eq!(c.target(now, 5), None);
        assert_eq!(c.target(now, 25), Some(15));
    }

    #[test]
    fn periodic_mode_compacts_to_the_sample_that_aged_out() {
        let mut c = schedule(AutoCompaction::Periodic(Duration::from_secs(100)));
        let t0 = Instant::now();
        assert_eq!(c.target(t0, 10), None);
        assert_eq!(c.target(t0 + Duration::from_secs(50), 20), None);
        assert_eq!(c.target(t0 + Duration::from_secs(100), 30), Some(10));
        assert_eq!(c.target(t0 + Duration::from_secs(150), 40), Some(20));
    }
}
