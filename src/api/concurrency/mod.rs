//! etcd's concurrency recipes (clientv3/concurrency: a session's lease, the
//! mutex's and the election's waits) run inside the server for the v3lock
//! and v3election services, as etcd runs them over an in-process client.
//! Every step is an ordinary request through the front end (raft writes,
//! linearizable reads) or a watch on the watch hub, made with the caller's
//! credentials: it works through any member, and a leader change is to it
//! what it is to any client request.

mod key_watch;

use actix::Addr;

pub use key_watch::KeyWatch;

pub use crate::prefix::prefix_end;

use super::header::HeaderFiller;
use super::propose::propose;
use super::ApiError;
use crate::actors::auth::Credentials;
use crate::actors::frontend::{FrontEnd, Read};
use crate::actors::watch_hub::WatchHub;
use crate::actors::ServerError;
use crate::proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::proto::etcdserverpb::{
    compare, request_op, Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseGrantRequest,
    PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::proto::mvccpb::event::EventType;

/// clientv3/concurrency's session TTL when no lease is given, seconds.
const DEFAULT_SESSION_TTL: i64 = 60;

/// What the Lock and Election services hold: the actors a recipe talks to.
#[derive(Clone)]
pub struct RecipeSource {
    pub frontend: Addr<FrontEnd>,
    pub hub: Addr<WatchHub>,
    pub header: HeaderFiller,
}

impl RecipeSource {
    /// Recipes run as the caller of `request`.
    pub fn recipes<T>(&self, request: &tonic::Request<T>) -> Recipes {
        Recipes {
            frontend: self.frontend.clone(),
            hub: self.hub.clone(),
            header: self.header.clone(),
            credentials: super::propose::credentials_of(request),
        }
    }
}

/// What a recipe needs to make requests as the caller.
#[derive(Clone)]
pub struct Recipes {
    pub frontend: Addr<FrontEnd>,
    pub hub: Addr<WatchHub>,
    pub header: HeaderFiller,
    pub credentials: Credentials,
}

impl Recipes {
    /// `lease`, or (0) a new lease of the session TTL; never kept alive
    /// here (etcd's services orphan their sessions).
    pub async fn session_lease(&self, lease: i64) -> Result<i64, ApiError> {
        if lease != 0 {
            return Ok(lease);
        }
        let grant = LeaseGrantRequest {
            ttl: DEFAULT_SESSION_TTL,
            id: 0,
        };
        let granted = propose(&self.frontend, grant, self.credentials.clone()).await?;
        Ok(granted.id)
    }

    pub async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, ApiError> {
        let mut response = propose(&self.frontend, request, self.credentials.clone()).await?;
        self.header.fill(&mut response.header);
        Ok(response)
    }

    pub async fn range(&self, request: RangeRequest) -> Result<RangeResponse, ApiError> {
        let read = Read {
            request,
            credentials: self.credentials.clone(),
        };
        // The recipes read a few keys: their budget share (if any) goes now.
        let mut response = self
            .frontend
            .send(read)
            .await
            .map_err(ServerError::from)??
            .response;
        self.header.fill(&mut response.header);
        Ok(response)
    }

    pub async fn delete(&self, key: &[u8]) -> Result<DeleteRangeResponse, ApiError> {
        let request = DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        let mut response = propose(&self.frontend, request, self.credentials.clone()).await?;
        self.header.fill(&mut response.header);
        Ok(response)
    }

    /// The oldest key under `prefix` (etcd's `WithFirstCreate`).
    pub async fn first_created(&self, prefix: &[u8]) -> Result<RangeResponse, ApiError> {
        self.range(RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            limit: 1,
            sort_order: SortOrder::Ascend as i32,
            sort_target: SortTarget::Create as i32,
            ..Default::default()
        })
        .await
    }

    /// Waits until no key under `prefix` created at or before
    /// `max_create_rev` is left (etcd's `waitDeletes`): watches the newest
    /// such key until it is deleted, then looks again. The header of the
    /// last look.
    pub async fn wait_deletes(
        &self,
        prefix: &[u8],
        max_create_rev: i64,
    ) -> Result<ResponseHeader, ApiError> {
        loop {
            let newest = self
                .range(RangeRequest {
                    key: prefix.to_vec(),
                    range_end: prefix_end(prefix),
                    limit: 1,
                    sort_order: SortOrder::Descend as i32,
                    sort_target: SortTarget::Create as i32,
                    max_create_revision: max_create_rev,
                    ..Default::default()
                })
                .await?;
            let Some(kv) = newest.kvs.first() else {
                return Ok(newest.header.unwrap_or_default());
            };
            let revision = newest.header.as_ref().map_or(0, |h| h.revision);
            self.wait_delete(&kv.key, revision).await?;
        }
    }

    /// Waits for a delete of `key` at or after revision `from`.
    pub async fn wait_delete(&self, key: &[u8], from: i64) -> Result<(), ApiError> {
        let mut watch = KeyWatch::start(&self.hub, key, &[], from).await?;
        while let Some(response) = watch.next().await {
            if response
                .events
                .iter()
                .any(|e| e.r#type == EventType::Delete as i32)
            {
                return Ok(());
            }
        }
        Err(ApiError::LostWatcher)
    }
}

/// Runs a recipe that may wait (Lock, Campaign) in a task of its own and
/// waits for it; the recipe gets a receiver that fires when this call is
/// dropped (the caller went away), so it can undo its key as etcd does.
pub async fn until_caller_leaves<T, F, Fut>(recipe: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let (_gone_on_drop, gone) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(recipe(gone))
        .await
        .map_err(|_| ApiError::Server(ServerError::Stopped))?
}

/// A put of `key` only if it does not exist (create revision 0), else a
/// read of it: the first step of both recipes.
pub fn create_or_get(key: &[u8], value: &[u8], lease: i64, also: Vec<RequestOp>) -> TxnRequest {
    let put = RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        })),
    };
    let get = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })),
    };
    let mut success = vec![put];
    success.extend(also.iter().cloned());
    let mut failure = vec![get];
    failure.extend(also);
    TxnRequest {
        compare: vec![create_revision_is(key, 0)],
        success,
        failure,
    }
}

/// `op` only while `key` is the one created at revision `rev` (the leader
/// key's guard in Proclaim and Resign).
pub fn if_created_at(key: &[u8], rev: i64, op: request_op::Request) -> TxnRequest {
    TxnRequest {
        compare: vec![create_revision_is(key, rev)],
        success: vec![RequestOp { request: Some(op) }],
        failure: Vec::new(),
    }
}

/// `create_revision(key) == rev`.
pub fn create_revision_is(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(rev)),
        ..Default::default()
    }
}

/// `name/`: the prefix under which a lock's or an election's keys live.
pub fn key_prefix(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

/// `name/<lease in hex>`: one session's key.
pub fn session_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_are_name_slash_hex_lease() {
        assert_eq!(
            session_key(&key_prefix(b"lock"), 0x694d7c0e6b4c7f0a),
            b"lock/694d7c0e6b4c7f0a"
        );
    }
}
