//! `put`: one PutRequest per request, random value, key from the key space.

use super::{kv_client, KvData, Load, Outcome, Worker};
use crate::keys::Rng;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::PutRequest;
use tokio::task::JoinSet;
use tonic::transport::Channel;

pub struct PutLoad {
    data: KvData,
}

impl PutLoad {
    pub fn new(data: KvData) -> PutLoad {
        PutLoad { data }
    }
}

impl Load for PutLoad {
    type Worker = PutWorker;

    fn name(&self) -> &'static str {
        "put"
    }

    async fn worker(&self, client: u64, channel: Channel) -> Result<PutWorker, String> {
        Ok(PutWorker {
            kv: kv_client(channel),
            data: self.data.clone(),
            rng: Rng::seeded(client),
        })
    }
}

pub struct PutWorker {
    kv: KvClient<super::Authed>,
    data: KvData,
    rng: Rng,
}

impl Worker for PutWorker {
    async fn request(&mut self, n: u64) -> Outcome {
        let index = self.data.keys.pick(n, &mut self.rng);
        self.kv.put(put_request(&self.data, index, n)).await?;
        Ok(None)
    }
}

/// The put of key number `index` carrying value number `n`.
pub fn put_request(data: &KvData, index: u64, n: u64) -> PutRequest {
    PutRequest {
        key: data.keys.key(index),
        value: data.values.get(n).to_vec(),
        ..Default::default()
    }
}

/// Put every key of the key space once, `concurrency` requests at a time spread over
/// `channels` (not measured).
pub async fn prefill(data: &KvData, channels: &[Channel], concurrency: u64) -> Result<(), String> {
    let size = data.keys.size();
    let lanes = concurrency.clamp(1, size);
    let mut tasks = JoinSet::new();
    for lane in 0..lanes {
        let channel = channels[(lane % channels.len() as u64) as usize].clone();
        let data = data.clone();
        tasks.spawn(async move {
            let mut kv = kv_client(channel);
            let mut index = lane;
            while index < size {
                kv.put(put_request(&data, index, index))
                    .await
                    .map_err(|s| format!("prefill put: {}", s.message()))?;
                index += lanes;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| format!("prefill task: {e}"))??;
    }
    Ok(())
}
