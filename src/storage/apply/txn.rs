//! Txn: branch choice (incl. nested txns), pre-write checks and execution
//! of the chosen ops as one revision.

use super::compare::compare_holds;
use super::{delete, header, put, range, KvWrite, LeaseLookup, NoLeases, ReadOnly};
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::response_op::Response;
use crate::proto::etcdserverpb::{
    PutRequest, RangeRequest, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::storage::{RangeOptions, RangeSource, StorageError, StorageResult};

/// Which branch each txn on the chosen path takes. `nested` has one entry per
/// nested txn op of the chosen branch, in order.
struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

/// etcd serves a txn outside raft only when every top-level op is a range;
/// a nested txn, even of ranges only, makes it a write txn.
pub fn is_txn_read_only(req: &TxnRequest) -> bool {
    req.success
        .iter()
        .chain(&req.failure)
        .all(|op| matches!(op.request, Some(Request::RequestRange(_))))
}

/// A read-only txn (see `is_txn_read_only`) on a read view, outside raft.
/// The header revision is the view's revision.
pub fn txn_read_only<S: RangeSource + ?Sized>(
    src: &S,
    req: &TxnRequest,
) -> StorageResult<TxnResponse> {
    if !is_txn_read_only(req) {
        return Err(StorageError::InvalidRequest("txn has writes"));
    }
    let mut view = ReadOnly(src);
    run(&mut view, req, &NoLeases)
}

/// A txn inside raft apply, on the batch's write txn.
pub(super) fn apply_txn<T: KvWrite + ?Sized>(
    t: &mut T,
    req: &TxnRequest,
    leases: &dyn LeaseLookup,
) -> StorageResult<TxnResponse> {
    run(t, req, leases)
}

/// etcd's order: every compare (nested ones too) is evaluated on the state
/// before the txn, then the chosen ops are checked, and only then written.
/// No check may fail once writing has started: the batch cannot undo one
/// txn, so a late error would commit half a txn.
fn run<T: KvWrite + ?Sized>(
    t: &mut T,
    req: &TxnRequest,
    leases: &dyn LeaseLookup,
) -> StorageResult<TxnResponse> {
    let path = choose_path(&*t, req)?;
    let mut earlier: Vec<&Request> = Vec::new();
    for_each_op(req, &path, &mut |op| {
        if let Request::RequestPut(p) = op {
            put::check_in_txn(&*t, p, leases)?;
            if ignores_missing_key(&earlier, p) {
                return Err(StorageError::KeyNotFound);
            }
        }
        earlier.push(op);
        Ok(())
    })?;
    for_each_op(req, &path, &mut |op| match op {
        Request::RequestRange(r) => check_range_revision(&*t, r),
        _ => Ok(()),
    })?;
    let mut resp = execute(t, req, &path)?;
    resp.header = header(t.rev());
    Ok(resp)
}

/// An ignore_value/ignore_lease put whose key an earlier op of the same txn
/// deleted (and did not put back). etcd's check only looks at the state
/// before the txn and then crashes on such a put; a from-key delete slips
/// past its duplicate-key check, so this is reachable. We refuse it up front.
fn ignores_missing_key(earlier: &[&Request], p: &PutRequest) -> bool {
    if !(p.ignore_value || p.ignore_lease) {
        return false;
    }
    for op in earlier.iter().rev() {
        match op {
            Request::RequestPut(prev) if prev.key == p.key => return false,
            Request::RequestDeleteRange(d) if covers(&d.key, &d.range_end, &p.key) => return true,
            _ => {}
        }
    }
    false
}

/// Whether `key` falls in the wire range (`end` empty: one key; `"\0"`: from key).
fn covers(start: &[u8], end: &[u8], key: &[u8]) -> bool {
    match end {
        [] => key == start,
        [0] => key >= start,
        _ => start <= key && key < end,
    }
}

fn choose_path<S: RangeSource + ?Sized>(src: &S, req: &TxnRequest) -> StorageResult<Path> {
    let mut succeeded = true;
    for c in &req.compare {
        if !compare_holds(src, c)? {
            succeeded = false;
            break;
        }
    }
    let nested = branch(req, succeeded)
        .iter()
        .filter_map(nested_txn)
        .map(|inner| choose_path(src, inner))
        .collect::<StorageResult<_>>()?;
    Ok(Path { succeeded, nested })
}

fn branch(req: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &req.success
    } else {
        &req.failure
    }
}

fn nested_txn(op: &RequestOp) -> Option<&TxnRequest> {
    match &op.request {
        Some(Request::RequestTxn(inner)) => Some(inner),
        _ => None,
    }
}

/// Calls `f` on every non-txn op of the chosen path, depth first.
fn for_each_op<'r>(
    req: &'r TxnRequest,
    path: &Path,
    f: &mut dyn FnMut(&'r Request) -> StorageResult<()>,
) -> StorageResult<()> {
    let mut nested = path.nested.iter();
    for op in branch(req, path.succeeded) {
        match &op.request {
            Some(Request::RequestTxn(inner)) => for_each_op(inner, next_path(&mut nested)?, f)?,
            Some(other) => f(other)?,
            None => {}
        }
    }
    Ok(())
}

fn next_path<'a>(nested: &mut std::slice::Iter<'a, Path>) -> StorageResult<&'a Path> {
    nested.next().ok_or(StorageError::InvalidRequest(
        "txn path does not match the request",
    ))
}

/// A range inside a txn must name a revision that exists before the txn:
/// the txn's own (future) revision is rejected too, as in etcd. Unlike a
/// standalone range, etcd rejects negative revisions here as compacted.
fn check_range_revision<S: RangeSource + ?Sized>(src: &S, req: &RangeRequest) -> StorageResult<()> {
    match req.revision {
        0 => return Ok(()),
        r if r < 0 => return Err(StorageError::Compacted),
        _ => {}
    }
    // A count at that revision fails exactly when the revision is compacted
    // or in the future.
    let probe = RangeOptions {
        limit: 0,
        rev: req.revision,
        count_only: true,
    };
    src.range(&req.key, &[], probe).map(|_| ())
}

/// Runs the chosen ops. Nested txn responses keep an empty header (revision
/// 0), as etcd leaves them; the caller sets the top-level header.
fn execute<T: KvWrite + ?Sized>(
    t: &mut T,
    req: &TxnRequest,
    path: &Path,
) -> StorageResult<TxnResponse> {
    let ops = branch(req, path.succeeded);
    let mut nested = path.nested.iter();
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => Some(Response::ResponseRange(range(&*t, r)?)),
            Some(Request::RequestPut(p)) => Some(Response::ResponsePut(put::put(t, p)?)),
            Some(Request::RequestDeleteRange(d)) => {
                Some(Response::ResponseDeleteRange(delete::delete_range(t, d)?))
            }
            Some(Request::RequestTxn(inner)) => Some(Response::ResponseTxn(execute(
                t,
                inner,
                next_path(&mut nested)?,
            )?)),
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok(TxnResponse {
        header: Some(ResponseHeader::default()),
        succeeded: path.succeeded,
        responses,
    })
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
