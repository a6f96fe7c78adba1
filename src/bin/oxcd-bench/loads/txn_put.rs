//! `txn-put`: a Txn with no compares and one put in the success branch.

use super::put::put_request;
use super::{kv_client, KvData, Load, Outcome, Worker};
use crate::keys::Rng;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::request_op::Request;
use oxcd::proto::etcdserverpb::{RequestOp, TxnRequest};
use tonic::transport::Channel;

pub struct TxnPutLoad {
    data: KvData,
}

impl TxnPutLoad {
    pub fn new(data: KvData) -> TxnPutLoad {
        TxnPutLoad { data }
    }
}

impl Load for TxnPutLoad {
    type Worker = TxnPutWorker;

    fn name(&self) -> &'static str {
        "txn-put"
    }

    async fn worker(&self, client: u64, channel: Channel) -> Result<TxnPutWorker, String> {
        Ok(TxnPutWorker {
            kv: kv_client(channel),
            data: self.data.clone(),
            rng: Rng::seeded(client),
        })
    }
}

pub struct TxnPutWorker {
    kv: KvClient<super::Authed>,
    data: KvData,
    rng: Rng,
}

impl Worker for TxnPutWorker {
    async fn request(&mut self, n: u64) -> Outcome {
        let index = self.data.keys.pick(n, &mut self.rng);
        let put = put_request(&self.data, index, n);
        let txn = TxnRequest {
            compare: Vec::new(),
            success: vec![RequestOp {
                request: Some(Request::RequestPut(put)),
            }],
            failure: Vec::new(),
        };
        self.kv.txn(txn).await?;
        Ok(None)
    }
}
