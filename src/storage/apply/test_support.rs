//! Helpers shared by the applier's unit tests: a fresh store in a temp dir
//! and short constructors for requests.

use tempfile::TempDir;

use super::{apply_request, ApplyResponse, LeaseLookup, NoLeases};
use crate::proto::etcdserverpb::{
    compare, request_op, CompactionRequest, Compare, DeleteRangeRequest, InternalRaftRequest,
    PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::proto::mvccpb::Event;
use crate::storage::{StorageResult, Store, StoreOptions};

/// Leases that exist, by id.
pub struct SomeLeases(pub Vec<i64>);

impl LeaseLookup for SomeLeases {
    fn lease_exists(&self, id: i64) -> bool {
        self.0.contains(&id)
    }
}

pub fn open_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { map_size: 64 << 20 }).unwrap();
    (dir, store)
}

/// Applies and commits one request, as the raft apply loop would.
pub fn apply_with(
    store: &Store,
    req: InternalRaftRequest,
    leases: &dyn LeaseLookup,
) -> StorageResult<(ApplyResponse, Vec<Event>)> {
    let mut batch = store.begin_batch().unwrap();
    let result = apply_request(&mut batch, &req, leases);
    batch.commit(store.consistent_index() + 1).unwrap();
    // Compactions purge at once here; the steps are tested in mvcc.
    store.finish_purge().unwrap();
    result
}

/// Puts `key` with lease `lease` (which must exist in the store) at raft
/// index `index`.
pub fn put_with_lease(store: &Store, key: &str, lease: i64, index: u64) {
    let mut req = put_req(key.as_bytes(), b"v");
    if let Some(put) = req.put.as_mut() {
        put.lease = lease;
    }
    let mut batch = store.begin_batch().unwrap();
    apply_request(&mut batch, &req, store).unwrap();
    batch.commit(index).unwrap();
}

pub fn apply(
    store: &Store,
    req: InternalRaftRequest,
) -> StorageResult<(ApplyResponse, Vec<Event>)> {
    apply_with(store, req, &NoLeases)
}

pub fn put_req(key: &[u8], value: &[u8]) -> InternalRaftRequest {
    InternalRaftRequest {
        put: Some(put_op_req(key, value)),
        ..Default::default()
    }
}

pub fn put_op_req(key: &[u8], value: &[u8]) -> PutRequest {
    PutRequest {
        key: key.to_vec(),
        value: value.to_vec(),
        ..Default::default()
    }
}

/// Puts each key in order (one revision each) with value "bar".
pub fn put_keys(store: &Store, keys: &[&str]) {
    for k in keys {
        apply(store, put_req(k.as_bytes(), b"bar")).unwrap();
    }
}

pub fn range_req(key: &[u8], end: &[u8]) -> RangeRequest {
    RangeRequest {
        key: key.to_vec(),
        range_end: end.to_vec(),
        ..Default::default()
    }
}

pub fn compact(store: &Store, revision: i64) -> StorageResult<(ApplyResponse, Vec<Event>)> {
    apply(
        store,
        InternalRaftRequest {
            compaction: Some(CompactionRequest {
                revision,
                physical: false,
            }),
            ..Default::default()
        },
    )
}

/// A Range on a fresh read view of the store.
pub fn read(store: &Store, req: &RangeRequest) -> StorageResult<RangeResponse> {
    let view = store.read()?;
    super::range(&view, req)
}

pub fn keys(resp: &RangeResponse) -> Vec<String> {
    resp.kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

pub fn rev_of(header: &Option<ResponseHeader>) -> i64 {
    header.as_ref().map(|h| h.revision).unwrap_or(-1)
}

pub fn op_put(key: &[u8], value: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(put_op_req(key, value))),
    }
}

pub fn op_range(key: &[u8], end: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(range_req(key, end))),
    }
}

pub fn op_delete(key: &[u8], end: &[u8]) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(
            DeleteRangeRequest {
                key: key.to_vec(),
                range_end: end.to_vec(),
                prev_kv: false,
            },
        )),
    }
}

pub fn op_txn(txn: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestTxn(txn)),
    }
}

pub fn cmp(
    key: &[u8],
    target: compare::CompareTarget,
    result: compare::CompareResult,
    union: compare::TargetUnion,
) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.to_vec(),
        range_end: Vec::new(),
        target_union: Some(union),
    }
}

pub fn txn_req(txn: TxnRequest) -> InternalRaftRequest {
    InternalRaftRequest {
        txn: Some(txn),
        ..Default::default()
    }
}

/// Applies a txn and unwraps its response.
pub fn run_txn(store: &Store, txn: TxnRequest) -> StorageResult<(TxnResponse, Vec<Event>)> {
    run_txn_with(store, txn, &NoLeases)
}

pub fn run_txn_with(
    store: &Store,
    txn: TxnRequest,
    leases: &dyn LeaseLookup,
) -> StorageResult<(TxnResponse, Vec<Event>)> {
    let (resp, events) = apply_with(store, txn_req(txn), leases)?;
    match resp {
        ApplyResponse::Txn(t) => Ok((t, events)),
        other => panic!("expected a txn response, got {other:?}"),
    }
}
