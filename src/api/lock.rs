//! v3lock: etcd's server-side distributed lock. Lock puts `name/<lease>`
//! with the caller's lease (a new 60 s lease if none is given) and waits
//! until every key under `name/` created before it is deleted; its key is
//! the lock's key. Unlock deletes that key. A lease that expires deletes
//! the key, which releases the lock. A caller that goes away while waiting
//! has its key deleted, as etcd does.

use actix::Addr;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::concurrency::{
    create_or_get, key_prefix, prefix_end, session_key, until_caller_leaves, RecipeSource, Recipes,
};
use super::error::via_etcd_client;
use super::header::HeaderFiller;
use super::ApiError;
use crate::actors::frontend::FrontEnd;
use crate::actors::watch_hub::WatchHub;
use crate::proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::proto::etcdserverpb::{request_op, response_op, RangeRequest, RequestOp, TxnResponse};
use crate::proto::v3lockpb::lock_server::Lock;
use crate::proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

pub struct LockService {
    source: RecipeSource,
}

impl LockService {
    pub fn new(frontend: Addr<FrontEnd>, hub: Addr<WatchHub>, header: HeaderFiller) -> Self {
        LockService {
            source: RecipeSource {
                frontend,
                hub,
                header,
            },
        }
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    #[tracing::instrument(name = "lock.lock", level = "debug", skip_all)]
    async fn lock(&self, request: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let recipes = self.source.recipes(&request);
        let LockRequest { name, lease } = request.into_inner();
        let locked = until_caller_leaves(|gone| acquire(recipes, name, lease, gone))
            .await
            .map_err(via_etcd_client)?;
        Ok(Response::new(locked))
    }

    #[tracing::instrument(name = "lock.unlock", level = "debug", skip_all)]
    async fn unlock(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let recipes = self.source.recipes(&request);
        let deleted = recipes
            .delete(&request.into_inner().key)
            .await
            .map_err(via_etcd_client)?;
        Ok(Response::new(UnlockResponse {
            header: deleted.header,
        }))
    }
}

/// etcd's `Mutex.Lock`: one txn puts this session's key (or finds it from
/// an earlier Lock of the same lease) and reads the oldest key; if that is
/// not ours, wait for every older key to go.
async fn acquire(
    recipes: Recipes,
    name: Vec<u8>,
    lease: i64,
    mut gone: oneshot::Receiver<()>,
) -> Result<LockResponse, ApiError> {
    let lease = recipes.session_lease(lease).await?;
    let prefix = key_prefix(&name);
    let key = session_key(&prefix, lease);
    let owner = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: prefix.clone(),
            range_end: prefix_end(&prefix),
            limit: 1,
            sort_order: SortOrder::Ascend as i32,
            sort_target: SortTarget::Create as i32,
            ..Default::default()
        })),
    };
    let response = recipes
        .txn(create_or_get(&key, b"", lease, vec![owner]))
        .await?;
    let header = response.header;
    let my_rev = if response.succeeded {
        header.as_ref().map_or(0, |h| h.revision)
    } else {
        first_kv_of(&response, 0).map_or(0, |kv| kv.create_revision)
    };
    let holder = first_kv_of(&response, 1).map(|kv| kv.create_revision);
    if holder.is_none_or(|rev| rev == my_rev) {
        return Ok(LockResponse { header, key });
    }
    let waited = tokio::select! {
        waited = recipes.wait_deletes(&prefix, my_rev - 1) => waited,
        _ = &mut gone => Err(ApiError::Canceled),
    };
    match waited {
        Ok(header) => Ok(LockResponse {
            header: Some(header),
            key,
        }),
        Err(err) => {
            // Not waiting any more: leave the line (etcd's Unlock on error).
            let _ = recipes.delete(&key).await;
            Err(err)
        }
    }
}

/// The first key of the `i`th response of a txn (a range).
pub(super) fn first_kv_of(
    response: &TxnResponse,
    i: usize,
) -> Option<&crate::proto::mvccpb::KeyValue> {
    match response.responses.get(i)?.response.as_ref()? {
        response_op::Response::ResponseRange(range) => range.kvs.first(),
        _ => None,
    }
}
