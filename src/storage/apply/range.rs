//! Range: the store lookup plus etcd's filtering, sorting and limit rules.

use std::cmp::Ordering;

use super::header;
use crate::proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::proto::etcdserverpb::{RangeRequest, RangeResponse};
use crate::proto::mvccpb::KeyValue;
use crate::storage::{RangeOptions, RangeSource, ReadTxn, StorageResult};

/// A Range on any view: a read view (outside raft, linearizable after
/// ReadIndex or serializable — `serializable` changes nothing here) or a
/// write txn that sees its own writes. The header revision is the view's
/// current revision, not `req.revision`.
pub fn range<S: RangeSource + ?Sized>(src: &S, req: &RangeRequest) -> StorageResult<RangeResponse> {
    let filtered = is_filtered(req);
    let result = src.range(&req.key, &req.range_end, fetch_options(req))?;

    let mut kvs = result.kvs;
    if filtered {
        kvs.retain(|kv| passes_filters(req, kv));
    }
    sort(&mut kvs, req);

    let mut more = false;
    if let Ok(limit) = usize::try_from(req.limit) {
        if limit > 0 && kvs.len() > limit {
            kvs.truncate(limit);
            more = true;
        }
    }
    if req.keys_only {
        for kv in &mut kvs {
            // Free the value, not just empty it: a keys-only list of big
            // values must not hold them until the response is sent.
            kv.value = Vec::new();
        }
    }
    Ok(RangeResponse {
        header: header(result.rev),
        kvs,
        more,
        // The count ignores the revision filters, as in etcd.
        count: result.count,
    })
}

/// What [`range`] will load for `req` from a read view, in bytes as stored
/// (0 for `count_only`), measured without loading it.
pub fn range_bytes(view: &ReadTxn<'_>, req: &RangeRequest) -> StorageResult<u64> {
    view.range_bytes(&req.key, &req.range_end, fetch_options(req))
}

fn is_filtered(req: &RangeRequest) -> bool {
    req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0
}

/// What to load: sorting or filtering needs every key before the limit is
/// applied; otherwise one extra key tells whether there are more.
fn fetch_options(req: &RangeRequest) -> RangeOptions {
    let limit = if req.sort_order != SortOrder::None as i32 || is_filtered(req) || req.limit <= 0 {
        0
    } else {
        req.limit.saturating_add(1)
    };
    RangeOptions {
        limit,
        // etcd treats any revision <= 0 as "current".
        rev: req.revision.max(0),
        count_only: req.count_only,
    }
}

/// The min/max mod/create revision filters (0 = unset).
fn passes_filters(req: &RangeRequest, kv: &KeyValue) -> bool {
    let above = |value: i64, max: i64| max != 0 && value > max;
    let below = |value: i64, min: i64| min != 0 && value < min;
    !(above(kv.mod_revision, req.max_mod_revision)
        || below(kv.mod_revision, req.min_mod_revision)
        || above(kv.create_revision, req.max_create_revision)
        || below(kv.create_revision, req.min_create_revision))
}

/// Sorts as etcd does: order NONE with a non-KEY target means ascending;
/// KEY/NONE keeps the store's key order. Unknown enum values leave the order
/// alone. The sort is stable, so ties stay in key order.
fn sort(kvs: &mut [KeyValue], req: &RangeRequest) {
    let order =
        if req.sort_order == SortOrder::None as i32 && req.sort_target != SortTarget::Key as i32 {
            SortOrder::Ascend as i32
        } else {
            req.sort_order
        };
    let Ok(target) = SortTarget::try_from(req.sort_target) else {
        return;
    };
    match SortOrder::try_from(order) {
        Ok(SortOrder::Ascend) => kvs.sort_by(|a, b| by_target(target, a, b)),
        Ok(SortOrder::Descend) => kvs.sort_by(|a, b| by_target(target, b, a)),
        _ => {}
    }
}

fn by_target(target: SortTarget, a: &KeyValue, b: &KeyValue) -> Ordering {
    match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::storage::StorageError;

    fn sorted(limit: i64, order: SortOrder, target: SortTarget) -> RangeRequest {
        RangeRequest {
            limit,
            sort_order: order as i32,
            sort_target: target as i32,
            ..range_req(b"a", b"z")
        }
    }

    #[test]
    fn single_key_hit_and_miss() {
        let (_dir, store) = open_store();
        put_keys(&store, &["foo", "bar"]);
        let hit = read(&store, &range_req(b"foo", b"")).unwrap();
        assert_eq!(keys(&hit), ["foo"]);
        assert_eq!(hit.count, 1);
        assert!(!hit.more);
        assert_eq!(rev_of(&hit.header), 3);
        let miss = read(&store, &range_req(b"baz", b"")).unwrap();
        assert!(miss.kvs.is_empty());
        assert_eq!(miss.count, 0);
        assert_eq!(rev_of(&miss.header), 3);
    }

    #[test]
    fn multi_key_ranges() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "b", "c", "d", "e"]);
        let cases: [(&[u8], &[u8], &[&str]); 8] = [
            (b"a", b"z", &["a", "b", "c", "d", "e"]),
            (b"b", b"d", &["b", "c"]),
            (b"f", b"z", &[]),
            (b"c", b"c", &[]),
            (b"d", b"b", &[]),
            (b"\0", b"\0", &["a", "b", "c", "d", "e"]),
            // from key
            (b"c", b"\0", &["c", "d", "e"]),
            // prefix "b" -> ["b", "c")
            (b"b", b"c", &["b"]),
        ];
        for (key, end, want) in cases {
            let resp = read(&store, &range_req(key, end)).unwrap();
            assert_eq!(keys(&resp), want, "{key:?}..{end:?}");
            assert_eq!(resp.count, want.len() as i64);
            assert_eq!(rev_of(&resp.header), 6);
        }
    }

    #[test]
    fn by_revision_keeps_current_header_revision() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "b", "c", "d", "e"]);
        let want: [&[&str]; 4] = [&["a", "b", "c", "d", "e"], &[], &["a"], &["a", "b"]];
        for (rev, want) in want.iter().enumerate() {
            let req = RangeRequest {
                revision: rev as i64,
                ..range_req(b"a", b"z")
            };
            let resp = read(&store, &req).unwrap();
            assert_eq!(keys(&resp), *want, "rev {rev}");
            assert_eq!(rev_of(&resp.header), 6);
        }
    }

    #[test]
    fn future_and_compacted_revisions() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "a", "a"]);
        let at = |rev: i64| {
            let req = RangeRequest {
                revision: rev,
                ..range_req(b"a", b"")
            };
            read(&store, &req)
        };
        assert!(matches!(at(5), Err(StorageError::FutureRevision)));
        compact(&store, 3).unwrap();
        assert!(matches!(at(2), Err(StorageError::Compacted)));
        // A read at the compacted revision itself is allowed.
        let resp = at(3).unwrap();
        assert_eq!(resp.kvs[0].version, 2);
        assert_eq!(at(4).unwrap().kvs[0].version, 3);
    }

    #[test]
    fn limit_sets_more_and_count_stays_total() {
        let (_dir, store) = open_store();
        put_keys(&store, &["foo", "bar"]);
        let limited = |limit| {
            read(
                &store,
                &RangeRequest {
                    limit,
                    ..range_req(b"a", b"z")
                },
            )
            .unwrap()
        };
        let one = limited(1);
        assert_eq!(keys(&one), ["bar"]);
        assert!(one.more);
        assert_eq!(one.count, 2);
        let two = limited(2);
        assert_eq!(keys(&two), ["bar", "foo"]);
        assert!(!two.more);
        let negative = limited(-1);
        assert_eq!(keys(&negative), ["bar", "foo"]);
        assert!(!negative.more);
    }

    #[test]
    fn sort_orders_and_targets() {
        let (_dir, store) = open_store();
        // b@2, a@3, c@4 then c@6 (version 2), d@5
        put_keys(&store, &["b", "a", "c", "d", "c"]);
        let cases: [(RangeRequest, &[&str], bool); 6] = [
            (sorted(1, SortOrder::Ascend, SortTarget::Key), &["a"], true),
            (sorted(1, SortOrder::Descend, SortTarget::Key), &["d"], true),
            (
                sorted(1, SortOrder::Ascend, SortTarget::Create),
                &["b"],
                true,
            ),
            (sorted(1, SortOrder::Descend, SortTarget::Mod), &["c"], true),
            (
                RangeRequest {
                    key: b"z".to_vec(),
                    range_end: b"z".to_vec(),
                    ..sorted(1, SortOrder::Descend, SortTarget::Create)
                },
                &[],
                false,
            ),
            // NONE with a non-KEY target sorts ascending.
            (
                sorted(10, SortOrder::None, SortTarget::Create),
                &["b", "a", "c", "d"],
                false,
            ),
        ];
        for (i, (req, want, more)) in cases.into_iter().enumerate() {
            let resp = read(&store, &req).unwrap();
            assert_eq!(keys(&resp), want, "case {i}");
            assert_eq!(resp.more, more, "case {i}");
            assert_eq!(rev_of(&resp.header), 6, "case {i}");
        }
    }

    #[test]
    fn sort_by_version_and_value_is_stable() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "b", "c", "b"]);
        apply(&store, put_req(b"d", b"aaa")).unwrap();
        let by_version = read(&store, &sorted(0, SortOrder::Descend, SortTarget::Version)).unwrap();
        // b has version 2; ties (version 1) stay in key order.
        assert_eq!(keys(&by_version), ["b", "a", "c", "d"]);
        let by_value = read(&store, &sorted(0, SortOrder::Ascend, SortTarget::Value)).unwrap();
        assert_eq!(keys(&by_value), ["d", "a", "b", "c"]);
    }

    #[test]
    fn limit_applies_after_sorting() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "b", "c", "d"]);
        let resp = read(&store, &sorted(2, SortOrder::Descend, SortTarget::Key)).unwrap();
        assert_eq!(keys(&resp), ["d", "c"]);
        assert!(resp.more);
        assert_eq!(resp.count, 4);
    }

    #[test]
    fn unknown_sort_values_leave_key_order() {
        let (_dir, store) = open_store();
        put_keys(&store, &["b", "a"]);
        let req = RangeRequest {
            sort_order: 9,
            sort_target: SortTarget::Create as i32,
            ..range_req(b"a", b"z")
        };
        assert_eq!(keys(&read(&store, &req).unwrap()), ["a", "b"]);
    }

    #[test]
    fn keys_only_drops_values_but_not_metadata() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a"]);
        let req = RangeRequest {
            keys_only: true,
            ..range_req(b"a", b"")
        };
        let resp = read(&store, &req).unwrap();
        let kv = &resp.kvs[0];
        assert!(kv.value.is_empty());
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
    }

    #[test]
    fn count_only_returns_no_kvs_and_no_more() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "b", "c"]);
        let req = RangeRequest {
            count_only: true,
            limit: 1,
            ..range_req(b"a", b"z")
        };
        let resp = read(&store, &req).unwrap();
        assert!(resp.kvs.is_empty());
        assert_eq!(resp.count, 3);
        assert!(!resp.more);
    }

    #[test]
    fn mod_revision_filters() {
        let (_dir, store) = open_store();
        put_keys(&store, &["rev2", "rev3", "rev4", "rev5", "rev6"]);
        let cases: [(i64, i64, &[&str]); 4] = [
            (3, 0, &["rev3", "rev4", "rev5", "rev6"]),
            (0, 3, &["rev2", "rev3"]),
            (3, 5, &["rev3", "rev4", "rev5"]),
            (0, 10, &["rev2", "rev3", "rev4", "rev5", "rev6"]),
        ];
        for (min, max, want) in cases {
            let req = RangeRequest {
                min_mod_revision: min,
                max_mod_revision: max,
                ..range_req(b"\0", b"\0")
            };
            let resp = read(&store, &req).unwrap();
            assert_eq!(keys(&resp), want, "min {min} max {max}");
            assert_eq!(resp.count, 5, "count ignores filters");
        }
    }

    #[test]
    fn create_revision_filters() {
        let (_dir, store) = open_store();
        put_keys(&store, &["rev2", "rev3", "rev2", "rev2", "rev6", "rev3"]);
        let cases: [(i64, i64, &[&str]); 4] = [
            (3, 0, &["rev3", "rev6"]),
            (0, 3, &["rev2", "rev3"]),
            (3, 5, &["rev3"]),
            (0, 10, &["rev2", "rev3", "rev6"]),
        ];
        for (min, max, want) in cases {
            let req = RangeRequest {
                min_create_revision: min,
                max_create_revision: max,
                ..range_req(b"\0", b"\0")
            };
            assert_eq!(
                keys(&read(&store, &req).unwrap()),
                want,
                "min {min} max {max}"
            );
        }
    }

    #[test]
    fn filters_with_limit_compute_more_after_filtering() {
        let (_dir, store) = open_store();
        put_keys(&store, &["rev2", "rev3", "rev4", "rev5", "rev6"]);
        let with = |min, limit| {
            let req = RangeRequest {
                min_mod_revision: min,
                limit,
                ..range_req(b"\0", b"\0")
            };
            read(&store, &req).unwrap()
        };
        let cut = with(3, 2);
        assert_eq!(keys(&cut), ["rev3", "rev4"]);
        assert!(cut.more);
        assert_eq!(cut.count, 5);
        // Only two keys survive the filter: no more, although count > limit.
        let fits = with(5, 2);
        assert_eq!(keys(&fits), ["rev5", "rev6"]);
        assert!(!fits.more);
        assert_eq!(fits.count, 5);
    }

    #[test]
    fn serializable_flag_changes_nothing() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a"]);
        let plain = read(&store, &range_req(b"a", b"")).unwrap();
        let req = RangeRequest {
            serializable: true,
            ..range_req(b"a", b"")
        };
        assert_eq!(read(&store, &req).unwrap(), plain);
    }
}
