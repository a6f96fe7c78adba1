//! `range KEY [END]`: the same RangeRequest every time.

use super::{kv_client, Load, Outcome, Worker};
use crate::args::RangeArgs;
use oxcd::prefix::prefix_end;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::RangeRequest;
use std::sync::Arc;
use tonic::transport::Channel;

pub struct RangeLoad {
    request: Arc<RangeRequest>,
}

impl RangeLoad {
    pub fn new(args: &RangeArgs, serializable: bool) -> RangeLoad {
        let key = args.key.as_bytes().to_vec();
        let range_end = if args.prefix {
            prefix_end(&key)
        } else if args.from_key {
            vec![0]
        } else {
            args.end.as_deref().unwrap_or("").as_bytes().to_vec()
        };
        RangeLoad {
            request: Arc::new(RangeRequest {
                key,
                range_end,
                limit: args.limit,
                serializable,
                count_only: args.count_only,
                ..Default::default()
            }),
        }
    }
}

impl Load for RangeLoad {
    type Worker = RangeWorker;

    fn name(&self) -> &'static str {
        "range"
    }

    async fn worker(&self, _client: u64, channel: Channel) -> Result<RangeWorker, String> {
        Ok(RangeWorker {
            kv: kv_client(channel),
            request: Arc::clone(&self.request),
        })
    }
}

pub struct RangeWorker {
    kv: KvClient<super::Authed>,
    request: Arc<RangeRequest>,
}

impl Worker for RangeWorker {
    async fn request(&mut self, _n: u64) -> Outcome {
        self.kv.range(RangeRequest::clone(&self.request)).await?;
        Ok(None)
    }
}
