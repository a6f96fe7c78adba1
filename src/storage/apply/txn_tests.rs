//! Unit tests for txn.rs: compares, branches, nesting, checks, revisions.

use super::super::test_support::*;
use super::*;
use crate::proto::etcdserverpb::compare::{
    CompareResult as R, CompareTarget as T, TargetUnion as U,
};
use crate::proto::etcdserverpb::{Compare, PutRequest, RangeResponse};
use crate::proto::mvccpb::event::EventType;
use crate::storage::Store;

fn range_resp(resp: &TxnResponse, i: usize) -> &RangeResponse {
    match &resp.responses[i].response {
        Some(Response::ResponseRange(r)) => r,
        other => panic!("op {i} is not a range: {other:?}"),
    }
}

fn nested_resp(resp: &TxnResponse, i: usize) -> &TxnResponse {
    match &resp.responses[i].response {
        Some(Response::ResponseTxn(r)) => r,
        other => panic!("op {i} is not a txn: {other:?}"),
    }
}

fn succeeds(store: &Store, c: Compare) -> bool {
    let txn = TxnRequest {
        compare: vec![c],
        ..Default::default()
    };
    run_txn(store, txn).unwrap().0.succeeded
}

fn value_of(store: &Store, key: &[u8]) -> Option<Vec<u8>> {
    read(store, &range_req(key, b""))
        .unwrap()
        .kvs
        .into_iter()
        .next()
        .map(|kv| kv.value)
}

#[test]
fn compare_targets_and_results_on_an_existing_key() {
    let (_dir, store) = open_store();
    // k: create 2, mod 3, version 2, value "v2", lease 0
    apply(&store, put_req(b"k", b"v1")).unwrap();
    apply(&store, put_req(b"k", b"v2")).unwrap();
    let cases = [
        (T::Version, R::Equal, U::Version(2), true),
        (T::Version, R::Greater, U::Version(1), true),
        (T::Version, R::Less, U::Version(2), false),
        (T::Version, R::NotEqual, U::Version(2), false),
        (T::Create, R::Equal, U::CreateRevision(2), true),
        (T::Create, R::Less, U::CreateRevision(3), true),
        (T::Mod, R::Equal, U::ModRevision(3), true),
        (T::Mod, R::Greater, U::ModRevision(3), false),
        (T::Value, R::Equal, U::Value(b"v2".to_vec()), true),
        (T::Value, R::Greater, U::Value(b"v1".to_vec()), true),
        (T::Value, R::Less, U::Value(b"v3".to_vec()), true),
        (T::Value, R::NotEqual, U::Value(b"v2".to_vec()), false),
        (T::Lease, R::Equal, U::Lease(0), true),
        (T::Lease, R::Greater, U::Lease(0), false),
    ];
    for (target, result, union, want) in cases {
        let c = cmp(b"k", target, result, union.clone());
        assert_eq!(succeeds(&store, c), want, "{target:?} {result:?} {union:?}");
    }
    assert_eq!(store.current_revision(), 3, "compares never write");
}

#[test]
fn compare_on_an_absent_key_uses_zero_fields_except_value() {
    let (_dir, store) = open_store();
    let cases = [
        (T::Version, R::Equal, U::Version(0), true),
        (T::Create, R::Equal, U::CreateRevision(0), true),
        (T::Mod, R::Less, U::ModRevision(1), true),
        (T::Lease, R::Equal, U::Lease(0), true),
        (T::Version, R::Greater, U::Version(0), false),
        // A value compare on a missing key always fails, even NOT_EQUAL / empty.
        (T::Value, R::Equal, U::Value(Vec::new()), false),
        (T::Value, R::NotEqual, U::Value(b"x".to_vec()), false),
        (T::Value, R::Less, U::Value(b"x".to_vec()), false),
    ];
    for (target, result, union, want) in cases {
        let c = cmp(b"missing", target, result, union.clone());
        assert_eq!(succeeds(&store, c), want, "{target:?} {result:?} {union:?}");
    }
}

#[test]
fn compare_with_mismatched_or_missing_union_uses_zero() {
    let (_dir, store) = open_store();
    apply(&store, put_req(b"k", b"")).unwrap();
    // VERSION target with a value union: compares version (1) against 0.
    let c = cmp(b"k", T::Version, R::Greater, U::Value(b"zzz".to_vec()));
    assert!(succeeds(&store, c));
    // VALUE target with no union: compares against the empty value.
    let mut c = cmp(b"k", T::Value, R::Equal, U::Lease(0));
    c.target_union = None;
    assert!(succeeds(&store, c));
    // Unknown result values pass.
    let mut c = cmp(b"k", T::Version, R::Equal, U::Version(99));
    c.result = 42;
    assert!(succeeds(&store, c));
}

#[test]
fn range_compares_need_every_key() {
    let (_dir, store) = open_store();
    put_keys(&store, &["/a/2", "/a/3", "/a/4", "/f/5"]);
    let ranged = |end: &[u8], target, result, union| Compare {
        range_end: end.to_vec(),
        ..cmp(b"/a/", target, result, union)
    };
    let cases = [
        (
            ranged(b"\0", T::Create, R::Less, U::CreateRevision(6)),
            true,
        ),
        (
            ranged(b"\0", T::Create, R::Less, U::CreateRevision(5)),
            false,
        ),
        (
            ranged(b"/a0", T::Create, R::Less, U::CreateRevision(5)),
            true,
        ),
        (
            ranged(b"/a0", T::Create, R::Less, U::CreateRevision(4)),
            false,
        ),
        (ranged(b"/a0", T::Lease, R::Greater, U::Lease(0)), false),
        (ranged(b"/a0", T::Lease, R::Equal, U::Lease(0)), true),
        (
            Compare {
                key: b"/b/".to_vec(),
                ..ranged(b"/b0", T::Value, R::Equal, U::Value(b"x".to_vec()))
            },
            false,
        ),
        // An empty range compares like an absent key.
        (
            Compare {
                key: b"/b/".to_vec(),
                ..ranged(b"/b0", T::Version, R::Equal, U::Version(0))
            },
            true,
        ),
    ];
    for (i, (c, want)) in cases.into_iter().enumerate() {
        assert_eq!(succeeds(&store, c), want, "case {i}");
    }
}

#[test]
fn all_compares_must_hold() {
    let (_dir, store) = open_store();
    apply(&store, put_req(b"k", b"v")).unwrap();
    let txn = TxnRequest {
        compare: vec![
            cmp(b"k", T::Version, R::Equal, U::Version(1)),
            cmp(b"k", T::Value, R::Equal, U::Value(b"nope".to_vec())),
        ],
        success: vec![op_put(b"s", b"1")],
        failure: vec![op_put(b"f", b"1")],
    };
    let (resp, _) = run_txn(&store, txn).unwrap();
    assert!(!resp.succeeded);
    assert!(matches!(
        resp.responses[0].response,
        Some(Response::ResponsePut(_))
    ));
    assert_eq!(value_of(&store, b"f"), Some(b"1".to_vec()));
    assert_eq!(value_of(&store, b"s"), None);
}

#[test]
fn writes_share_one_revision_and_reads_see_them() {
    let (_dir, store) = open_store();
    put_keys(&store, &["old"]);
    let txn = TxnRequest {
        success: vec![
            op_range(b"a", b""),
            op_put(b"a", b"1"),
            op_range(b"a", b""),
            op_put(b"b", b"2"),
            op_delete(b"old", b""),
            op_range(b"\0", b"\0"),
        ],
        ..Default::default()
    };
    let (resp, events) = run_txn(&store, txn).unwrap();
    assert!(resp.succeeded);
    assert_eq!(rev_of(&resp.header), 3);
    // Before the first write the txn still reads at the old revision.
    let before = range_resp(&resp, 0);
    assert!(before.kvs.is_empty());
    assert_eq!(rev_of(&before.header), 2);
    let after = range_resp(&resp, 2);
    assert_eq!(after.kvs[0].value, b"1");
    assert_eq!(rev_of(&after.header), 3);
    assert_eq!(keys(range_resp(&resp, 5)), ["a", "b"]);
    for i in [1, 3, 4] {
        let header = match &resp.responses[i].response {
            Some(Response::ResponsePut(p)) => &p.header,
            Some(Response::ResponseDeleteRange(d)) => &d.header,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(rev_of(header), 3, "op {i}");
    }
    let kinds: Vec<_> = events.iter().map(|e| e.r#type).collect();
    assert_eq!(
        kinds,
        [
            EventType::Put as i32,
            EventType::Put as i32,
            EventType::Delete as i32
        ]
    );
    for e in &events {
        assert_eq!(e.kv.as_ref().unwrap().mod_revision, 3);
    }
    assert_eq!(store.current_revision(), 3);
}

#[test]
fn txns_without_changes_keep_the_revision() {
    let (_dir, store) = open_store();
    put_keys(&store, &["abc"]);
    let reads = TxnRequest {
        success: vec![op_range(b"abc", b"")],
        ..Default::default()
    };
    let (resp, events) = run_txn(&store, reads).unwrap();
    assert_eq!(rev_of(&resp.header), 2);
    assert!(events.is_empty());
    let no_op_delete = TxnRequest {
        success: vec![op_delete(b"def", b"")],
        ..Default::default()
    };
    let (resp, _) = run_txn(&store, no_op_delete).unwrap();
    assert_eq!(rev_of(&resp.header), 2);
    let empty = TxnRequest::default();
    let (resp, _) = run_txn(&store, empty).unwrap();
    assert!(resp.succeeded);
    assert!(resp.responses.is_empty());
    assert_eq!(rev_of(&resp.header), 2);
    assert_eq!(store.current_revision(), 2);
}

#[test]
fn delete_after_write_reports_the_txn_revision() {
    let (_dir, store) = open_store();
    let txn = TxnRequest {
        success: vec![op_put(b"a", b"1"), op_delete(b"zzz", b"")],
        ..Default::default()
    };
    let (resp, _) = run_txn(&store, txn).unwrap();
    match &resp.responses[1].response {
        Some(Response::ResponseDeleteRange(d)) => {
            assert_eq!((d.deleted, rev_of(&d.header)), (0, 2));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn nested_txns_follow_their_own_compares() {
    let (_dir, store) = open_store();
    let yes = || cmp(b"k", T::Version, R::Equal, U::Version(0));
    let no = || cmp(b"k", T::Version, R::Equal, U::Version(1));
    // Build a 6-deep chain alternating true/false compares.
    let want = [true, false, false, true, true, false];
    let mut inner: Option<TxnRequest> = None;
    for &ok in want.iter().rev() {
        let ops: Vec<RequestOp> = inner.take().map(op_txn).into_iter().collect();
        let txn = if ok {
            TxnRequest {
                compare: vec![yes()],
                success: ops,
                ..Default::default()
            }
        } else {
            TxnRequest {
                compare: vec![no()],
                failure: ops,
                ..Default::default()
            }
        };
        inner = Some(txn);
    }
    let (resp, _) = run_txn(&store, inner.unwrap()).unwrap();
    let mut cur = &resp;
    for (depth, &ok) in want.iter().enumerate() {
        assert_eq!(cur.succeeded, ok, "depth {depth}");
        if depth + 1 < want.len() {
            cur = nested_resp(cur, 0);
            // etcd leaves nested txn headers empty.
            assert_eq!(cur.header, Some(ResponseHeader::default()));
        }
    }
}

#[test]
fn nested_compares_see_the_state_before_the_txn() {
    let (_dir, store) = open_store();
    let inner = TxnRequest {
        compare: vec![cmp(b"k", T::Version, R::Equal, U::Version(0))],
        success: vec![op_put(b"saw-nothing", b"1")],
        failure: vec![op_put(b"saw-put", b"1")],
    };
    let outer = TxnRequest {
        success: vec![op_put(b"k", b"v"), op_txn(inner), op_range(b"k", b"")],
        ..Default::default()
    };
    let (resp, events) = run_txn(&store, outer).unwrap();
    assert!(nested_resp(&resp, 1).succeeded);
    assert_eq!(value_of(&store, b"saw-nothing"), Some(b"1".to_vec()));
    assert_eq!(value_of(&store, b"saw-put"), None);
    assert_eq!(range_resp(&resp, 2).kvs[0].value, b"v");
    assert_eq!(events.len(), 2);
    assert_eq!(store.current_revision(), 2);
}

#[test]
fn missing_lease_in_chosen_branch_fails_whole_txn() {
    let (_dir, store) = open_store();
    let bad = RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            lease: 123456,
            ..put_op_req(b"foo", b"")
        })),
    };
    let cases = [
        // in success
        TxnRequest {
            success: vec![op_put(b"other", b"x"), bad.clone()],
            ..Default::default()
        },
        // in failure, chosen
        TxnRequest {
            compare: vec![cmp(b"bar", T::Create, R::Greater, U::CreateRevision(0))],
            failure: vec![op_put(b"other", b"x"), bad.clone()],
            ..Default::default()
        },
        // nested
        TxnRequest {
            success: vec![
                op_put(b"other", b"x"),
                op_txn(TxnRequest {
                    success: vec![bad.clone()],
                    ..Default::default()
                }),
            ],
            ..Default::default()
        },
    ];
    for (i, txn) in cases.into_iter().enumerate() {
        let err = run_txn(&store, txn).unwrap_err();
        assert!(
            matches!(err, StorageError::LeaseNotFound),
            "case {i}: {err:?}"
        );
        assert_eq!(store.current_revision(), 1, "case {i}");
        assert_eq!(value_of(&store, b"other"), None, "case {i}");
    }
    // In the branch not taken the bad lease is ignored.
    let fine = TxnRequest {
        success: vec![op_range(b"bar", b"")],
        failure: vec![bad.clone()],
        ..Default::default()
    };
    assert!(run_txn(&store, fine).unwrap().0.succeeded);
    // With the lease present the put goes through.
    let txn = TxnRequest {
        success: vec![bad],
        ..Default::default()
    };
    run_txn_with(&store, txn, &SomeLeases(vec![123456])).unwrap();
    let kv = read(&store, &range_req(b"foo", b"")).unwrap().kvs.remove(0);
    assert_eq!(kv.lease, 123456);
}

#[test]
fn ignore_value_and_lease_in_txn_need_the_key() {
    let (_dir, store) = open_store();
    let ignoring = |ignore_value: bool| RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: b"foo".to_vec(),
            value: if ignore_value {
                Vec::new()
            } else {
                b"new".to_vec()
            },
            ignore_value,
            ignore_lease: !ignore_value,
            ..Default::default()
        })),
    };
    for ignore_value in [true, false] {
        let txn = TxnRequest {
            success: vec![op_put(b"other", b"x"), ignoring(ignore_value)],
            ..Default::default()
        };
        let err = run_txn(&store, txn).unwrap_err();
        assert!(matches!(err, StorageError::KeyNotFound), "{err:?}");
        assert_eq!(store.current_revision(), 1);
    }
    apply(&store, put_req(b"foo", b"bar")).unwrap();
    let txn = TxnRequest {
        success: vec![ignoring(true)],
        ..Default::default()
    };
    run_txn(&store, txn).unwrap();
    assert_eq!(value_of(&store, b"foo"), Some(b"bar".to_vec()));
    let txn = TxnRequest {
        success: vec![ignoring(false)],
        ..Default::default()
    };
    run_txn(&store, txn).unwrap();
    assert_eq!(value_of(&store, b"foo"), Some(b"new".to_vec()));
}

#[test]
fn put_checks_run_in_op_order_key_before_lease() {
    let (_dir, store) = open_store();
    let leased = |ignore_value: bool, key: &[u8]| RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: key.to_vec(),
            lease: 5,
            ignore_value,
            ..Default::default()
        })),
    };
    // Within one op the missing key is reported before the missing lease.
    let txn = TxnRequest {
        success: vec![leased(true, b"a")],
        ..Default::default()
    };
    let err = run_txn(&store, txn).unwrap_err();
    assert!(matches!(err, StorageError::KeyNotFound), "{err:?}");
    // Across ops the first failing op wins.
    let txn = TxnRequest {
        success: vec![leased(false, b"a"), leased(true, b"b")],
        ..Default::default()
    };
    let err = run_txn(&store, txn).unwrap_err();
    assert!(matches!(err, StorageError::LeaseNotFound), "{err:?}");
}

#[test]
fn range_revisions_are_checked_before_writing() {
    let (_dir, store) = open_store();
    put_keys(&store, &["foo", "foo", "foo"]);
    compact(&store, 2).unwrap();
    let with_rev = |revision| TxnRequest {
        success: vec![
            op_put(b"foo", b"bar"),
            RequestOp {
                request: Some(Request::RequestRange(RangeRequest {
                    revision,
                    ..range_req(b"foo", b"")
                })),
            },
        ],
        ..Default::default()
    };
    let err = run_txn(&store, with_rev(100)).unwrap_err();
    assert!(matches!(err, StorageError::FutureRevision), "{err:?}");
    let err = run_txn(&store, with_rev(1)).unwrap_err();
    assert!(matches!(err, StorageError::Compacted), "{err:?}");
    // The txn's own revision does not exist yet when ranges are checked.
    let err = run_txn(&store, with_rev(5)).unwrap_err();
    assert!(matches!(err, StorageError::FutureRevision), "{err:?}");
    assert_eq!(store.current_revision(), 4);
    let (resp, _) = run_txn(&store, with_rev(2)).unwrap();
    assert_eq!(range_resp(&resp, 1).kvs[0].version, 1);
    assert_eq!(rev_of(&range_resp(&resp, 1).header), 5);
}

#[test]
fn empty_ops_get_empty_responses() {
    let (_dir, store) = open_store();
    let txn = TxnRequest {
        success: vec![RequestOp { request: None }, op_put(b"a", b"1")],
        ..Default::default()
    };
    let (resp, _) = run_txn(&store, txn).unwrap();
    assert_eq!(resp.responses.len(), 2);
    assert!(resp.responses[0].response.is_none());
}

#[test]
fn read_only_detection_is_top_level_ranges_only() {
    let ranges = TxnRequest {
        success: vec![op_range(b"a", b"")],
        failure: vec![op_range(b"b", b"")],
        ..Default::default()
    };
    assert!(is_txn_read_only(&ranges));
    assert!(is_txn_read_only(&TxnRequest::default()));
    let nested = TxnRequest {
        success: vec![op_txn(ranges.clone())],
        ..Default::default()
    };
    assert!(!is_txn_read_only(&nested));
    let writes = TxnRequest {
        failure: vec![op_delete(b"a", b"")],
        ..ranges
    };
    assert!(!is_txn_read_only(&writes));
}

#[test]
fn read_only_txn_on_a_read_view() {
    let (_dir, store) = open_store();
    put_keys(&store, &["k"]);
    let txn = TxnRequest {
        compare: vec![cmp(b"k", T::Version, R::Equal, U::Version(1))],
        success: vec![op_range(b"k", b"")],
        failure: vec![op_range(b"nope", b"")],
    };
    let view = store.read().unwrap();
    let resp = txn_read_only(&view, &txn).unwrap();
    assert!(resp.succeeded);
    assert_eq!(rev_of(&resp.header), 2);
    assert_eq!(keys(range_resp(&resp, 0)), ["k"]);
    let future = TxnRequest {
        success: vec![RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                revision: 9,
                ..range_req(b"k", b"")
            })),
        }],
        ..Default::default()
    };
    assert!(matches!(
        txn_read_only(&view, &future),
        Err(StorageError::FutureRevision)
    ));
    let writes = TxnRequest {
        success: vec![op_put(b"k", b"v")],
        ..Default::default()
    };
    assert!(matches!(
        txn_read_only(&view, &writes),
        Err(StorageError::InvalidRequest(_))
    ));
}

#[test]
fn ignore_put_after_deleting_its_key_fails_before_writing() {
    let (_dir, store) = open_store();
    put_keys(&store, &["a", "b"]);
    let ignore_b = || RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: b"b".to_vec(),
            ignore_value: true,
            ..Default::default()
        })),
    };
    // A from-key delete passes etcd's duplicate check; etcd then crashes.
    let txn = TxnRequest {
        success: vec![op_put(b"x", b"1"), op_delete(b"a", b"\0"), ignore_b()],
        ..Default::default()
    };
    let err = run_txn(&store, txn).unwrap_err();
    assert!(matches!(err, StorageError::KeyNotFound), "{err:?}");
    assert_eq!(store.current_revision(), 3);
    assert_eq!(value_of(&store, b"x"), None);
    // Same through a nested txn.
    let txn = TxnRequest {
        success: vec![
            op_txn(TxnRequest {
                success: vec![op_delete(b"b", b"")],
                ..Default::default()
            }),
            ignore_b(),
        ],
        ..Default::default()
    };
    assert!(matches!(
        run_txn(&store, txn),
        Err(StorageError::KeyNotFound)
    ));
    // Deleting other keys, or putting the key back first, is fine.
    let txn = TxnRequest {
        success: vec![
            op_delete(b"a", b""),
            op_delete(b"b", b""),
            op_put(b"b", b"again"),
            ignore_b(),
        ],
        ..Default::default()
    };
    run_txn(&store, txn).unwrap();
    assert_eq!(value_of(&store, b"b"), Some(b"again".to_vec()));
    assert_eq!(value_of(&store, b"a"), None);
}

#[test]
fn wire_range_coverage() {
    assert!(covers(b"a", b"", b"a"));
    assert!(!covers(b"a", b"", b"ab"));
    assert!(covers(b"a", b"\0", b"zzz"));
    assert!(!covers(b"b", b"\0", b"a"));
    assert!(covers(b"a", b"c", b"b"));
    assert!(!covers(b"a", b"c", b"c"));
}
