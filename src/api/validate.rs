//! Request checks done before anything is proposed, as etcd's v3rpc layer
//! does: empty keys, contradictory put flags, txn size and duplicate keys.

use std::collections::HashSet;

use super::{ApiError, ApiResult};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::request_op::Request;
use crate::proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

pub fn check_range(req: &RangeRequest) -> ApiResult<()> {
    non_empty(&req.key)
}

pub fn check_put(req: &PutRequest) -> ApiResult<()> {
    non_empty(&req.key)?;
    if req.ignore_value && !req.value.is_empty() {
        return Err(ApiError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(ApiError::LeaseProvided);
    }
    Ok(())
}

pub fn check_delete_range(req: &DeleteRangeRequest) -> ApiResult<()> {
    non_empty(&req.key)
}

/// `max_txn_ops` bounds the compares and each branch separately; a nested
/// txn gets what its parent left over. Success and failure are checked for
/// duplicate keys independently (only one of them runs).
pub fn check_txn(req: &TxnRequest, max_txn_ops: usize) -> ApiResult<()> {
    check_txn_shape(req, i64::try_from(max_txn_ops).unwrap_or(i64::MAX))?;
    // After the shape check, so an oversized txn is rejected before the
    // quadratic overlap check runs.
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

fn non_empty(key: &[u8]) -> ApiResult<()> {
    if key.is_empty() {
        return Err(ApiError::EmptyKey);
    }
    Ok(())
}

/// Signed budget: a nested txn's budget can go negative, as in etcd.
fn check_txn_shape(req: &TxnRequest, max_ops: i64) -> ApiResult<()> {
    let widest = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len());
    let ops = i64::try_from(widest).unwrap_or(i64::MAX);
    if ops > max_ops {
        return Err(ApiError::TooManyOps);
    }
    if req.compare.iter().any(|c| c.key.is_empty()) {
        return Err(ApiError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        check_op(op, max_ops - ops)?;
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_ops: i64) -> ApiResult<()> {
    match &op.request {
        Some(Request::RequestRange(r)) => check_range(r),
        Some(Request::RequestPut(p)) => check_put(p),
        Some(Request::RequestDeleteRange(d)) => check_delete_range(d),
        Some(Request::RequestTxn(t)) => check_txn_shape(t, max_ops),
        // etcd answers an empty op with "key not found" (InvalidArgument).
        None => Err(ApiError::from(ServerError::KeyNotFound)),
    }
}

/// A deleted span: one key, or `[start, end)` with a non-empty end.
struct Deleted<'a> {
    start: &'a [u8],
    end: Option<&'a [u8]>,
}

impl Deleted<'_> {
    /// etcd builds `[key, range_end)` literally, so a from-key delete
    /// (`range_end == "\0"`) covers nothing here and never conflicts.
    fn covers(&self, key: &[u8]) -> bool {
        match self.end {
            None => key == self.start,
            Some(end) => self.start <= key && key < end,
        }
    }
}

/// Puts and deletes of one op list (and its nested txns) that must not touch
/// the same key. Mirrors etcd's walk exactly, including its order: a nested
/// txn's puts are checked against this level's deletes and the deletes of
/// earlier nested txns, but not against later siblings' deletes.
fn check_intervals(ops: &[RequestOp]) -> ApiResult<(HashSet<&[u8]>, Vec<Deleted<'_>>)> {
    let mut dels: Vec<Deleted<'_>> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(Deleted {
                start: &d.key,
                end: (!d.range_end.is_empty()).then_some(d.range_end.as_slice()),
            }),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[Deleted<'_>], key: &[u8]| dels.iter().any(|d| d.covers(key));

    let mut puts: HashSet<&[u8]> = HashSet::new();
    for op in ops {
        let Some(Request::RequestTxn(inner)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&inner.success)?;
        let (puts_else, dels_else) = check_intervals(&inner.failure)?;
        for &key in &puts_then {
            if puts.contains(key) || deleted(&dels, key) {
                return Err(ApiError::DuplicateKey);
            }
            puts.insert(key);
        }
        for &key in &puts_else {
            // The same key in both branches is fine: only one branch runs.
            let clash = puts.contains(key) && !puts_then.contains(key);
            if clash || deleted(&dels, key) {
                return Err(ApiError::DuplicateKey);
            }
            puts.insert(key);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        let key = p.key.as_slice();
        if puts.contains(key) || deleted(&dels, key) {
            return Err(ApiError::DuplicateKey);
        }
        puts.insert(key);
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::status_parts;
    use crate::proto::etcdserverpb::Compare;
    use tonic::Code;

    fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
        }
    }

    fn del(key: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: key.as_bytes().to_vec(),
                range_end: end.as_bytes().to_vec(),
                prev_kv: false,
            })),
        }
    }

    fn get(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                key: key.as_bytes().to_vec(),
                ..Default::default()
            })),
        }
    }

    fn nested(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestTxn(TxnRequest {
                compare: Vec::new(),
                success,
                failure,
            })),
        }
    }

    fn then(success: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            success,
            ..Default::default()
        }
    }

    fn compare(key: &str) -> Compare {
        Compare {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn is_dup(r: ApiResult<()>) -> bool {
        matches!(r, Err(ApiError::DuplicateKey))
    }

    #[test]
    fn empty_keys_are_rejected() {
        assert!(matches!(
            check_range(&RangeRequest::default()),
            Err(ApiError::EmptyKey)
        ));
        assert!(matches!(
            check_put(&PutRequest::default()),
            Err(ApiError::EmptyKey)
        ));
        assert!(matches!(
            check_delete_range(&DeleteRangeRequest::default()),
            Err(ApiError::EmptyKey)
        ));
        let ok = RangeRequest {
            key: b"k".to_vec(),
            ..Default::default()
        };
        assert!(check_range(&ok).is_ok());
    }

    #[test]
    fn put_flag_conflicts() {
        let base = PutRequest {
            key: b"k".to_vec(),
            ..Default::default()
        };
        let value = PutRequest {
            value: b"v".to_vec(),
            ignore_value: true,
            ..base.clone()
        };
        assert!(matches!(check_put(&value), Err(ApiError::ValueProvided)));
        let lease = PutRequest {
            lease: 1,
            ignore_lease: true,
            ..base.clone()
        };
        assert!(matches!(check_put(&lease), Err(ApiError::LeaseProvided)));
        let both_ignored = PutRequest {
            ignore_value: true,
            ignore_lease: true,
            ..base.clone()
        };
        assert!(check_put(&both_ignored).is_ok());
        // A lease with ignore_value (or a value with ignore_lease) is fine.
        let mixed = PutRequest {
            lease: 1,
            ignore_value: true,
            ..base
        };
        assert!(check_put(&mixed).is_ok());
    }

    #[test]
    fn too_many_ops_in_each_part() {
        let max = 4;
        let five_puts = || (0..5).map(|i| put(&format!("k{i}"))).collect::<Vec<_>>();
        let compares = TxnRequest {
            compare: (0..5).map(|i| compare(&format!("k{i}"))).collect(),
            ..Default::default()
        };
        let success = then(five_puts());
        let failure = TxnRequest {
            failure: five_puts(),
            ..Default::default()
        };
        let nested_txns = then(
            (0..5)
                .map(|i| nested(vec![put(&format!("n{i}"))], vec![]))
                .collect(),
        );
        for (i, txn) in [compares, success, failure, nested_txns].iter().enumerate() {
            assert!(
                matches!(check_txn(txn, max), Err(ApiError::TooManyOps)),
                "case {i}"
            );
        }
        let fits = then((0..4).map(|i| put(&format!("k{i}"))).collect());
        assert!(check_txn(&fits, max).is_ok());
    }

    #[test]
    fn nested_txns_get_the_leftover_budget() {
        // 3 top-level ops leave a budget of 1 for the nested txn.
        let inner = |n: usize| nested((0..n).map(|i| put(&format!("in{i}"))).collect(), vec![]);
        let ok = then(vec![put("a"), put("b"), inner(1)]);
        assert!(check_txn(&ok, 4).is_ok());
        let too_big = then(vec![put("a"), put("b"), inner(2)]);
        assert!(matches!(check_txn(&too_big, 4), Err(ApiError::TooManyOps)));
        // A full parent leaves 0: only an empty nested txn passes.
        let full = then(vec![put("a"), put("b"), put("c"), inner(0)]);
        assert!(check_txn(&full, 4).is_ok());
        let full = then(vec![put("a"), put("b"), put("c"), inner(1)]);
        assert!(matches!(check_txn(&full, 4), Err(ApiError::TooManyOps)));
    }

    #[test]
    fn nested_and_compare_keys_are_checked() {
        let txn = TxnRequest {
            compare: vec![compare("")],
            ..Default::default()
        };
        assert!(matches!(check_txn(&txn, 128), Err(ApiError::EmptyKey)));
        let txn = then(vec![nested(vec![], vec![get("")])]);
        assert!(matches!(check_txn(&txn, 128), Err(ApiError::EmptyKey)));
        let bad_put = RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ignore_value: true,
                ..Default::default()
            })),
        };
        let txn = TxnRequest {
            failure: vec![bad_put],
            ..Default::default()
        };
        assert!(matches!(check_txn(&txn, 128), Err(ApiError::ValueProvided)));
    }

    #[test]
    fn empty_op_is_key_not_found() {
        let txn = then(vec![RequestOp { request: None }]);
        let err = check_txn(&txn, 128).unwrap_err();
        assert_eq!(
            status_parts(&err),
            (
                Code::InvalidArgument,
                "etcdserver: key not found".to_string()
            )
        );
    }

    #[test]
    fn too_many_ops_wins_over_duplicates() {
        let txn = then(vec![put("a"), put("a"), put("b")]);
        assert!(matches!(check_txn(&txn, 2), Err(ApiError::TooManyOps)));
        assert!(is_dup(check_txn(&txn, 3)));
    }

    #[test]
    fn etcd_duplicate_key_table() {
        let put_abc = || put("abc");
        let del_abc = || del("abc", "");
        let del_in = || del("a", "b");
        let del_out = || del("abb", "abc");
        let txn_del = || nested(vec![del_in()], vec![]);
        let txn_del_two = || nested(vec![del_in()], vec![del_in()]);
        let txn_put = || nested(vec![put_abc()], vec![]);
        let txn_put_two = || nested(vec![put_abc()], vec![put_abc()]);
        let cases: Vec<(Vec<RequestOp>, bool)> = vec![
            (vec![put_abc(), put_abc()], true),
            (vec![put_abc(), del_abc()], true),
            (vec![put_abc(), del_in()], true),
            (vec![put_abc(), txn_del()], true),
            (vec![del_in(), txn_put()], true),
            (vec![txn_put_two(), txn_put_two()], true),
            (vec![del_out(), txn_put_two()], false),
            (vec![txn_del(), txn_del_two()], false),
            (vec![del_abc(), del_in(), del_abc(), del_in()], false),
            (vec![put_abc(), del_out()], false),
        ];
        for (i, (ops, dup)) in cases.into_iter().enumerate() {
            let result = check_txn(&then(ops), 128);
            assert_eq!(is_dup(result), dup, "case {i}");
        }
    }

    #[test]
    fn branches_are_checked_separately() {
        let txn = TxnRequest {
            success: vec![put("k")],
            failure: vec![put("k"), del("l", "z")],
            ..Default::default()
        };
        assert!(check_txn(&txn, 128).is_ok());
        let txn = TxnRequest {
            success: vec![del("a", "z")],
            failure: vec![put("k")],
            ..Default::default()
        };
        assert!(check_txn(&txn, 128).is_ok());
        let txn = TxnRequest {
            failure: vec![put("k"), del("a", "z")],
            ..Default::default()
        };
        assert!(is_dup(check_txn(&txn, 128)));
    }

    #[test]
    fn range_ops_never_conflict() {
        let txn = then(vec![put("k"), get("k"), del("x", ""), get("x")]);
        assert!(check_txn(&txn, 128).is_ok());
    }

    #[test]
    fn interval_edges() {
        // [a, c) covers a and b but not c; prefix delete covers the prefix.
        assert!(is_dup(check_txn(&then(vec![del("a", "c"), put("a")]), 128)));
        assert!(is_dup(check_txn(
            &then(vec![del("a", "c"), put("b\u{7f}")]),
            128
        )));
        assert!(check_txn(&then(vec![del("a", "c"), put("c")]), 128).is_ok());
        assert!(is_dup(check_txn(
            &then(vec![del("p/", "p0"), put("p/x")]),
            128
        )));
        // Inverted or empty ranges cover nothing.
        assert!(check_txn(&then(vec![del("c", "a"), put("b")]), 128).is_ok());
        assert!(check_txn(&then(vec![del("b", "b"), put("b")]), 128).is_ok());
        // A point delete does not cover longer keys.
        assert!(check_txn(&then(vec![del("ab", ""), put("abc")]), 128).is_ok());
    }

    #[test]
    fn from_key_delete_does_not_conflict_like_etcd() {
        // etcd 3.5 builds [key, "\0") literally: it covers nothing.
        assert!(check_txn(&then(vec![del("a", "\0"), put("b")]), 128).is_ok());
        assert!(check_txn(&then(vec![del("\0", "\0"), put("b")]), 128).is_ok());
        let nested_from_key = then(vec![
            nested(vec![del("a", "\0")], vec![]),
            nested(vec![put("b")], vec![]),
        ]);
        assert!(check_txn(&nested_from_key, 128).is_ok());
    }

    #[test]
    fn nested_order_matters_like_etcd() {
        // A later sibling's puts meet earlier siblings' deletes...
        let del_first = then(vec![
            nested(vec![del("a", "")], vec![]),
            nested(vec![put("a")], vec![]),
        ]);
        assert!(is_dup(check_txn(&del_first, 128)));
        // ...but an earlier sibling's puts never meet later deletes.
        let put_first = then(vec![
            nested(vec![put("a")], vec![]),
            nested(vec![del("a", "")], vec![]),
        ]);
        assert!(check_txn(&put_first, 128).is_ok());
        // This level's puts meet every nested delete.
        let top_put = then(vec![put("a"), nested(vec![], vec![del("a", "")])]);
        assert!(is_dup(check_txn(&top_put, 128)));
    }

    #[test]
    fn else_branch_reuse_is_only_safe_within_one_nested_txn() {
        // Key in a sibling's then and this txn's else: conflict.
        let txn = then(vec![
            nested(vec![put("k")], vec![]),
            nested(vec![], vec![put("k")]),
        ]);
        assert!(is_dup(check_txn(&txn, 128)));
        // Top-level put and nested else-put of the same key: conflict.
        let txn = then(vec![put("k"), nested(vec![], vec![put("k")])]);
        assert!(is_dup(check_txn(&txn, 128)));
        // Deeply nested then/else pair with the same key: fine.
        let deep = nested(vec![nested(vec![put("k")], vec![put("k")])], vec![]);
        assert!(check_txn(&then(vec![deep]), 128).is_ok());
    }
}
