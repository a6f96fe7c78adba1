//! `range KEY [END]`: the same RangeRequest every time.

use super::{kv_client, Load, Outcome, Worker};
use crate::args::RangeArgs;
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

/// The smallest key after every key starting with `prefix` ("\0" when there is none).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
