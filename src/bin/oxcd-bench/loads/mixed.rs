//! `mixed`: single-key gets and puts over the key space; a request is a read with
//! probability `--read-ratio`.

use super::put::{prefill, put_request};
use super::{kv_client, KvData, Load, Outcome, Worker};
use crate::keys::Rng;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::RangeRequest;
use tonic::transport::Channel;

pub struct MixedLoad {
    data: KvData,
    read_ratio: f64,
    serializable: bool,
    /// Prefill the key space with this many concurrent puts (None: no prefill).
    prefill: Option<u64>,
}

impl MixedLoad {
    pub fn new(
        data: KvData,
        read_ratio: f64,
        serializable: bool,
        prefill: Option<u64>,
    ) -> MixedLoad {
        MixedLoad {
            data,
            read_ratio,
            serializable,
            prefill,
        }
    }
}

impl Load for MixedLoad {
    type Worker = MixedWorker;

    fn name(&self) -> &'static str {
        "mixed"
    }

    async fn prepare(&self, channels: &[Channel]) -> Result<(), String> {
        match self.prefill {
            Some(concurrency) => prefill(&self.data, channels, concurrency).await,
            None => Ok(()),
        }
    }

    async fn worker(&self, client: u64, channel: Channel) -> Result<MixedWorker, String> {
        Ok(MixedWorker {
            kv: kv_client(channel),
            data: self.data.clone(),
            rng: Rng::seeded(client),
            read_ratio: self.read_ratio,
            serializable: self.serializable,
        })
    }
}

pub struct MixedWorker {
    kv: KvClient<super::Authed>,
    data: KvData,
    rng: Rng,
    read_ratio: f64,
    serializable: bool,
}

impl Worker for MixedWorker {
    async fn request(&mut self, n: u64) -> Outcome {
        let index = self.data.keys.pick(n, &mut self.rng);
        if self.rng.unit() < self.read_ratio {
            let get = RangeRequest {
                key: self.data.keys.key(index),
                serializable: self.serializable,
                ..Default::default()
            };
            self.kv.range(get).await?;
        } else {
            self.kv.put(put_request(&self.data, index, n)).await?;
        }
        Ok(None)
    }
}
