//! The KV service: validates each request as etcd's v3rpc layer does, sends
//! it to the front end actor, and fills the response header.

use actix::Addr;
use tonic::{Request, Response, Status};

use super::propose::credentials_of;

use super::header::HeaderFiller;
use super::propose::{propose, unexpected};
use super::{validate, ApiError};
use crate::actors::auth::Credentials;
use crate::actors::frontend::{FrontEnd, Read, WriteRequest};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::storage::apply::ApplyResponse;

pub struct KvService {
    frontend: Addr<FrontEnd>,
    header: HeaderFiller,
    max_txn_ops: usize,
}

impl KvService {
    pub fn new(frontend: Addr<FrontEnd>, header: HeaderFiller, max_txn_ops: usize) -> Self {
        KvService {
            frontend,
            header,
            max_txn_ops,
        }
    }

    async fn propose(
        &self,
        body: WriteRequest,
        credentials: Credentials,
    ) -> Result<ApplyResponse, ApiError> {
        propose(&self.frontend, body, credentials).await
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    #[tracing::instrument(name = "kv.range", skip_all)]
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_range(&request)?;
        let read = Read {
            request,
            credentials,
        };
        let mut response = self
            .frontend
            .send(read)
            .await
            .map_err(ServerError::from)
            .map_err(ApiError::from)?
            .map_err(ApiError::from)?;
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "kv.put", skip_all)]
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_put(&request)?;
        match self
            .propose(WriteRequest::Put(request), credentials)
            .await?
        {
            ApplyResponse::Put(mut response) => {
                self.header.fill(&mut response.header);
                Ok(Response::new(response))
            }
            _ => Err(unexpected("put")),
        }
    }

    #[tracing::instrument(name = "kv.delete_range", skip_all)]
    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_delete_range(&request)?;
        match self
            .propose(WriteRequest::DeleteRange(request), credentials)
            .await?
        {
            ApplyResponse::DeleteRange(mut response) => {
                self.header.fill(&mut response.header);
                Ok(Response::new(response))
            }
            _ => Err(unexpected("delete_range")),
        }
    }

    #[tracing::instrument(name = "kv.txn", skip_all)]
    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_txn(&request, self.max_txn_ops)?;
        match self
            .propose(WriteRequest::Txn(request), credentials)
            .await?
        {
            ApplyResponse::Txn(mut response) => {
                // Only the top header: nested responses carry just their revision, as in etcd.
                self.header.fill(&mut response.header);
                Ok(Response::new(response))
            }
            _ => Err(unexpected("txn")),
        }
    }

    #[tracing::instrument(name = "kv.compact", skip_all)]
    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        match self
            .propose(WriteRequest::Compaction(request), credentials)
            .await?
        {
            ApplyResponse::Compaction(mut response) => {
                self.header.fill(&mut response.header);
                Ok(Response::new(response))
            }
            _ => Err(unexpected("compact")),
        }
    }
}
