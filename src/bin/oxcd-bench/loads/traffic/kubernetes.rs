//! `kubernetes`: the requests Kubernetes' apiserver sends to etcd, as etcd's robustness
//! suite models them. Pods live under `/registry/pods/default/`, events (with leases) under
//! `/registry/events/default/`. Lists are paginated at one revision (`limit`, then the last
//! key + "\0" at the first page's revision); counts use `count_only`; creates, updates and
//! deletes are txns comparing the mod revision last seen, reading the key when it changed;
//! client 0 compacts every `--compact-every` after a compare-and-set on
//! `/registry/compact_rev_key`, to the revision it saw the round before, as the apiserver's
//! compactor does. The watchers watch all of `/registry/`.

use super::{range, Session, Traffic};
use crate::args::TrafficArgs;
use crate::history::{prefix_end, Compare, CompareTarget, History, Request, Response};
use crate::loads::{Load, Outcome, Worker};
use std::sync::Arc;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Status;

pub const NAME: &str = "kubernetes";
const PREFIX: &str = "/registry/";
const PODS: &str = "/registry/pods/default/";
const EVENTS: &str = "/registry/events/default/";
const COMPACT_KEY: &str = "/registry/compact_rev_key";

pub struct KubernetesLoad {
    traffic: Arc<Traffic>,
}

impl KubernetesLoad {
    pub fn new(args: &TrafficArgs) -> KubernetesLoad {
        KubernetesLoad {
            traffic: Arc::new(Traffic::new(args, PREFIX)),
        }
    }
}

impl super::RecordedLoad for KubernetesLoad {
    async fn finish(&self, channels: &[Channel]) -> Result<History, String> {
        self.traffic.finish(channels, NAME).await
    }
}

impl Load for KubernetesLoad {
    type Worker = KubernetesWorker;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn prepare(&self, channels: &[Channel]) -> Result<(), String> {
        self.traffic.prepare(channels).await
    }

    async fn worker(&self, client: u64, channel: Channel) -> Result<KubernetesWorker, String> {
        let every = self.traffic.args.compact_every;
        Ok(KubernetesWorker {
            session: self.traffic.session(client, channel),
            objects: self.traffic.args.objects,
            page: self.traffic.args.page,
            compactor: (client == 0 && !every.is_zero()).then(|| Compactor {
                every,
                next: Instant::now() + every,
                version: 0,
                revision: 0,
            }),
        })
    }
}

/// Client 0's compaction rounds.
struct Compactor {
    every: std::time::Duration,
    next: Instant,
    /// The version of compact_rev_key this compactor last saw.
    version: i64,
    /// The revision seen at the previous round: what the next round compacts to.
    revision: i64,
}

pub struct KubernetesWorker {
    session: Session,
    objects: u64,
    page: i64,
    compactor: Option<Compactor>,
}

fn pod(i: u64) -> String {
    format!("{PODS}pod-{i}")
}

impl KubernetesWorker {
    /// A list of all pods, page by page at the first page's revision.
    async fn list(&mut self) -> Result<(), Status> {
        let end = prefix_end(PODS);
        let mut key = PODS.to_string();
        let mut at = 0;
        loop {
            let request = Request::Range {
                key: key.clone(),
                end: end.clone(),
                limit: self.page,
                revision: at,
                serializable: false,
                keys_only: false,
                count_only: false,
            };
            let Response::Range {
                revision,
                kvs,
                more,
                ..
            } = self.session.send(request).await?
            else {
                return Ok(());
            };
            match kvs.last() {
                Some(last) if more => {
                    key = format!("{}\0", last.key);
                    if at == 0 {
                        at = revision;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    async fn count(&mut self, keys_only: bool) -> Result<(), Status> {
        let request = Request::Range {
            key: PODS.to_string(),
            end: prefix_end(PODS),
            limit: 0,
            revision: 0,
            serializable: false,
            keys_only,
            count_only: !keys_only,
        };
        self.session.send(request).await.map(|_| ())
    }

    /// A create: only if the pod does not exist.
    async fn create(&mut self, key: &str, n: u64) -> Result<(), Status> {
        let value = self.session.value(n);
        let request = Request::Txn {
            compares: vec![Compare {
                key: key.to_string(),
                target: CompareTarget::ModRevision(0),
            }],
            success: vec![Request::Put {
                key: key.to_string(),
                value,
                lease: 0,
            }],
            failure: vec![range(key, "")],
        };
        self.session.send(request).await.map(|_| ())
    }

    async fn compact(&mut self, n: u64) -> Result<(), Status> {
        let Some(c) = self.compactor.as_mut() else {
            return Ok(());
        };
        c.next += c.every;
        let (version, target) = (c.version, c.revision);
        let value = format!("{target}@{}", self.session.value(n));
        let request = Request::Txn {
            compares: vec![Compare {
                key: COMPACT_KEY.to_string(),
                target: CompareTarget::Version(version),
            }],
            success: vec![Request::Put {
                key: COMPACT_KEY.to_string(),
                value,
                lease: 0,
            }],
            failure: vec![range(COMPACT_KEY, "")],
        };
        let response = self.session.send(request).await?;
        let Some(c) = self.compactor.as_mut() else {
            return Ok(());
        };
        let Response::Txn {
            succeeded,
            revision,
            results,
        } = response
        else {
            return Ok(());
        };
        c.revision = revision;
        if !succeeded {
            // Another compactor won the round: take its version and wait for the next.
            if let Some(Response::Range { kvs, .. }) = results.first() {
                c.version = kvs.first().map_or(0, |kv| kv.version);
            }
            return Ok(());
        }
        c.version = version + 1;
        if target > 0 {
            self.session
                .send(Request::Compact { revision: target })
                .await?;
        }
        Ok(())
    }
}

impl Worker for KubernetesWorker {
    async fn request(&mut self, n: u64) -> Outcome {
        if self
            .compactor
            .as_ref()
            .is_some_and(|c| Instant::now() >= c.next)
        {
            self.compact(n).await?;
            return Ok(None);
        }
        let roll = self.session.rng.below(100);
        let key = pod(self.session.rng.below(self.objects));
        match roll {
            0..15 => self.list().await?,
            15..20 => self.count(false).await?,
            20..25 => self.count(true).await?,
            25..45 => self.session.get(&key, false).await?,
            45..55 => self.create(&key, n).await?,
            55..80 => {
                let value = self.session.value(n);
                let put = Request::Put {
                    key: key.clone(),
                    value,
                    lease: 0,
                };
                self.session.compare_and(&key, put).await?
            }
            80..90 => {
                let delete = Request::Delete { key: key.clone() };
                self.session.compare_and(&key, delete).await?
            }
            _ => {
                let event = format!("{EVENTS}ev-{}", self.session.rng.below(self.objects));
                self.session.leased_put(&event, n).await?
            }
        }
        Ok(None)
    }
}
