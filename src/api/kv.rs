//! The KV service: validates each request as etcd's v3rpc layer does, sends
//! it to the front end actor, and fills the response header.

use actix::Addr;
use tonic::{Request, Response, Status};

use super::propose::credentials_of;

use super::header::HeaderFiller;
use super::propose::propose;
use super::{validate, ApiError};
use crate::actors::frontend::{FrontEnd, Ranged, Read};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};

pub struct KvService {
    frontend: Addr<FrontEnd>,
    header: HeaderFiller,
    max_txn_ops: usize,
    purged: tokio::sync::watch::Receiver<i64>,
}

impl KvService {
    pub fn new(
        frontend: Addr<FrontEnd>,
        header: HeaderFiller,
        max_txn_ops: usize,
        purged: tokio::sync::watch::Receiver<i64>,
    ) -> Self {
        KvService {
            frontend,
            header,
            max_txn_ops,
            purged,
        }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    #[tracing::instrument(name = "kv.range", level = "debug", skip_all)]
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
        let Ranged { mut response, hold } = self
            .frontend
            .send(read)
            .await
            .map_err(ServerError::from)
            .map_err(ApiError::from)?
            .map_err(ApiError::from)?;
        self.header.fill(&mut response.header);
        let mut response = Response::new(response);
        // Kept by the response body until the answer has been sent.
        if let Some(hold) = hold {
            response.extensions_mut().insert(hold);
        }
        Ok(response)
    }

    #[tracing::instrument(name = "kv.put", level = "debug", skip_all)]
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_put(&request)?;
        let mut response = propose(&self.frontend, request, credentials).await?;
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "kv.delete_range", level = "debug", skip_all)]
    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_delete_range(&request)?;
        let mut response = propose(&self.frontend, request, credentials).await?;
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "kv.txn", level = "debug", skip_all)]
    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        validate::check_txn(&request, self.max_txn_ops)?;
        let mut response = propose(&self.frontend, request, credentials).await?;
        // Only the top header: nested responses carry just their revision, as in etcd.
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "kv.compact", level = "debug", skip_all)]
    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let credentials = credentials_of(&request);
        let request = request.into_inner();
        let (physical, revision) = (request.physical, request.revision);
        let mut response = propose(&self.frontend, request, credentials).await?;
        if physical {
            // etcd's `physical`: answered once this member's records below
            // the revision are gone. Only a stopping server ends the wait.
            let mut purged = self.purged.clone();
            let _ = purged.wait_for(|&done| done >= revision).await;
        }
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }
}
