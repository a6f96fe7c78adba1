//! DeleteRange: single key, range, prefix or from-key, with prev_kv.

use super::{header, read_all, KvWrite};
use crate::proto::etcdserverpb::{DeleteRangeRequest, DeleteRangeResponse};
use crate::storage::StorageResult;

/// Deletes every live key in the range. The header revision is the txn's
/// revision afterwards, so deleting nothing (in an otherwise unchanged txn)
/// reports the current revision.
pub(super) fn delete_range<T: KvWrite + ?Sized>(
    t: &mut T,
    req: &DeleteRangeRequest,
) -> StorageResult<DeleteRangeResponse> {
    let prev_kvs = if req.prev_kv {
        read_all(&*t, &req.key, &req.range_end)?
    } else {
        Vec::new()
    };
    let deleted = t.delete_range(&req.key, &req.range_end)?;
    Ok(DeleteRangeResponse {
        header: header(t.rev()),
        deleted,
        prev_kvs,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ApplyResponse;
    use super::*;
    use crate::proto::etcdserverpb::InternalRaftRequest;
    use crate::proto::mvccpb::event::EventType;
    use crate::proto::mvccpb::Event;
    use crate::storage::Store;

    fn delete(
        store: &Store,
        key: &[u8],
        end: &[u8],
        prev_kv: bool,
    ) -> (DeleteRangeResponse, Vec<Event>) {
        let raft = InternalRaftRequest {
            delete_range: Some(DeleteRangeRequest {
                key: key.to_vec(),
                range_end: end.to_vec(),
                prev_kv,
            }),
            ..Default::default()
        };
        match apply(store, raft).unwrap() {
            (ApplyResponse::DeleteRange(d), events) => (d, events),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn all_keys(store: &Store) -> Vec<String> {
        keys(&read(store, &range_req(b"\0", b"\xff")).unwrap())
    }

    /// One row of etcd's DeleteRange table.
    struct Case {
        set: &'static [&'static str],
        begin: &'static str,
        end: &'static str,
        prev_kv: bool,
        left: &'static [&'static str],
        deleted: i64,
    }

    const FOO_SET: &[&str] = &["foo", "foo/abc", "fop"];

    #[test]
    fn etcd_delete_range_table() {
        let case = |set, begin, end, prev_kv, left, deleted| Case {
            set,
            begin,
            end,
            prev_kv,
            left,
            deleted,
        };
        let cases = [
            case(FOO_SET, "foo/", "fop", false, &["foo", "fop"], 1),
            case(FOO_SET, "foo/", "foo/", false, FOO_SET, 0),
            case(FOO_SET, "fo", "fop", false, &["fop"], 2),
            case(FOO_SET, "foo/", "fos", false, &["foo"], 2),
            case(FOO_SET, "foo/abc", "", false, &["foo", "fop"], 1),
            case(&["foo"], "foo", "foo", false, &["foo"], 0),
            case(FOO_SET, "foo/", "fop", true, &["foo", "fop"], 1),
            // from key
            case(&["a", "b", "c"], "b", "\0", true, &["a"], 2),
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let (_dir, store) = open_store();
            put_keys(&store, c.set);
            let (resp, events) = delete(&store, c.begin.as_bytes(), c.end.as_bytes(), c.prev_kv);
            assert_eq!(resp.deleted, c.deleted, "case {i}");
            assert_eq!(events.len() as i64, c.deleted, "case {i}");
            if c.prev_kv {
                assert_eq!(resp.prev_kvs.len() as i64, c.deleted, "case {i}");
            } else {
                assert!(resp.prev_kvs.is_empty(), "case {i}");
            }
            assert_eq!(all_keys(&store), c.left, "case {i}");
            let after = read(&store, &range_req(b"\0", b"\xff")).unwrap();
            assert_eq!(rev_of(&resp.header), rev_of(&after.header), "case {i}");
        }
    }

    #[test]
    fn deleting_nothing_keeps_the_revision() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a"]);
        let (resp, events) = delete(&store, b"zzz", b"", true);
        assert_eq!((resp.deleted, rev_of(&resp.header)), (0, 2));
        assert!(events.is_empty());
        assert!(resp.prev_kvs.is_empty());
        assert_eq!(store.current_revision(), 2);
    }

    #[test]
    fn prefix_delete_returns_prev_kvs_and_delete_events() {
        let (_dir, store) = open_store();
        put_keys(&store, &["p/1", "p/2", "q"]);
        let (resp, events) = delete(&store, b"p/", b"p0", true);
        assert_eq!(resp.deleted, 2);
        assert_eq!(rev_of(&resp.header), 5);
        let prev: Vec<_> = resp
            .prev_kvs
            .iter()
            .map(|kv| (kv.key.clone(), kv.mod_revision))
            .collect();
        assert_eq!(prev, [(b"p/1".to_vec(), 2), (b"p/2".to_vec(), 3)]);
        for (event, key) in events.iter().zip([b"p/1", b"p/2"]) {
            assert_eq!(event.r#type, EventType::Delete as i32);
            let kv = event.kv.as_ref().unwrap();
            assert_eq!((kv.key.as_slice(), kv.mod_revision), (&key[..], 5));
        }
        assert_eq!(all_keys(&store), ["q"]);
    }

    #[test]
    fn delete_everything_from_nul() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "b"]);
        let (resp, _) = delete(&store, b"\0", b"\0", false);
        assert_eq!(resp.deleted, 2);
        assert!(all_keys(&store).is_empty());
    }
}
