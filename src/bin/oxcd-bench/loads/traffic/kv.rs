//! `kv`: what plain etcd users send, on keys under `/kv/`: gets (linearizable and
//! serializable), lists, txns writing several keys at once, compare-and-set, puts (some
//! with a lease), lease revokes and deletes, under the watchers.

use super::{range, Session, Traffic};
use crate::args::TrafficArgs;
use crate::history::{prefix_end, History, Request};
use crate::loads::{Load, Outcome, Worker};
use std::sync::Arc;
use tonic::transport::Channel;

pub const NAME: &str = "kv";
const PREFIX: &str = "/kv/";

pub struct KvLoad {
    traffic: Arc<Traffic>,
}

impl KvLoad {
    pub fn new(args: &TrafficArgs) -> KvLoad {
        KvLoad {
            traffic: Arc::new(Traffic::new(args, PREFIX)),
        }
    }
}

impl super::RecordedLoad for KvLoad {
    async fn finish(&self, channels: &[Channel]) -> Result<History, String> {
        self.traffic.finish(channels, NAME).await
    }
}

impl Load for KvLoad {
    type Worker = KvWorker;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn prepare(&self, channels: &[Channel]) -> Result<(), String> {
        self.traffic.prepare(channels).await
    }

    async fn worker(&self, client: u64, channel: Channel) -> Result<KvWorker, String> {
        Ok(KvWorker {
            session: self.traffic.session(client, channel),
            objects: self.traffic.args.objects,
        })
    }
}

pub struct KvWorker {
    session: Session,
    objects: u64,
}

impl KvWorker {
    fn key(&mut self) -> String {
        format!("{PREFIX}key-{}", self.session.rng.below(self.objects))
    }
}

impl Worker for KvWorker {
    async fn request(&mut self, n: u64) -> Outcome {
        let roll = self.session.rng.below(100);
        let key = self.key();
        match roll {
            0..20 => self.session.get(&key, false).await?,
            20..30 => self.session.get(&key, true).await?,
            30..40 => {
                self.session
                    .send(range(PREFIX, &prefix_end(PREFIX)))
                    .await?;
            }
            40..50 => {
                // Several keys in one revision: the watchers must see them together.
                // (etcd refuses a txn that writes one key twice.)
                let (second, third) = (self.key(), self.key());
                let mut keys = vec![key];
                if !keys.contains(&second) {
                    keys.push(second);
                }
                let mut success = Vec::new();
                for k in &keys {
                    let value = self.session.value(n);
                    success.push(Request::Put {
                        key: k.clone(),
                        value,
                        lease: 0,
                    });
                }
                if !keys.contains(&third) {
                    success.push(Request::Delete { key: third });
                }
                let txn = Request::Txn {
                    compares: Vec::new(),
                    success,
                    failure: Vec::new(),
                };
                self.session.send(txn).await?;
            }
            50..65 => {
                let value = self.session.value(n);
                let put = Request::Put {
                    key: key.clone(),
                    value,
                    lease: 0,
                };
                self.session.compare_and(&key, put).await?
            }
            65..80 => {
                let value = self.session.value(n);
                let put = Request::Put {
                    key,
                    value,
                    lease: 0,
                };
                self.session.send(put).await?;
            }
            80..88 => self.session.leased_put(&key, n).await?,
            88..93 => self.session.revoke_lease().await?,
            _ => {
                self.session.send(Request::Delete { key }).await?;
            }
        }
        Ok(None)
    }
}
