//! Put: prev_kv, leases, ignore_value and ignore_lease.

use super::{header, read_all, KvWrite, LeaseLookup};
use crate::proto::etcdserverpb::{PutRequest, PutResponse};
use crate::storage::{RangeSource, StorageError, StorageResult};

/// A standalone put checks its lease before touching the store.
pub(super) fn check_lease(req: &PutRequest, leases: &dyn LeaseLookup) -> StorageResult<()> {
    if req.lease != 0 && !leases.lease_exists(req.lease) {
        return Err(StorageError::LeaseNotFound);
    }
    Ok(())
}

/// The checks etcd runs on a txn's puts before the txn writes anything, so a
/// failing put leaves the whole txn unapplied. Order matters when both fail:
/// the missing key is reported before the missing lease.
pub(super) fn check_in_txn<S: RangeSource + ?Sized>(
    src: &S,
    req: &PutRequest,
    leases: &dyn LeaseLookup,
) -> StorageResult<()> {
    if (req.ignore_value || req.ignore_lease) && read_all(src, &req.key, &[])?.is_empty() {
        return Err(StorageError::KeyNotFound);
    }
    check_lease(req, leases)
}

/// Writes one key. With ignore_value/ignore_lease the value/lease come from
/// the existing key, which must exist. Header revision: the txn's revision
/// after the write.
pub(super) fn put<T: KvWrite + ?Sized>(t: &mut T, req: &PutRequest) -> StorageResult<PutResponse> {
    let needs_prev = req.ignore_value || req.ignore_lease || req.prev_kv;
    let prev = if needs_prev {
        read_all(&*t, &req.key, &[])?.into_iter().next()
    } else {
        None
    };
    let (value, lease) = match &prev {
        Some(kv) => (
            if req.ignore_value {
                &kv.value
            } else {
                &req.value
            },
            if req.ignore_lease {
                kv.lease
            } else {
                req.lease
            },
        ),
        None if req.ignore_value || req.ignore_lease => return Err(StorageError::KeyNotFound),
        None => (&req.value, req.lease),
    };
    t.put(&req.key, value, lease)?;
    Ok(PutResponse {
        header: header(t.rev()),
        prev_kv: if req.prev_kv { prev } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ApplyResponse;
    use super::*;
    use crate::proto::etcdserverpb::InternalRaftRequest;
    use crate::proto::mvccpb::event::EventType;

    fn put(
        store: &crate::storage::Store,
        req: PutRequest,
        leases: &[i64],
    ) -> StorageResult<PutResponse> {
        let raft = InternalRaftRequest {
            put: Some(req),
            ..Default::default()
        };
        match apply_with(store, raft, &SomeLeases(leases.to_vec()))?.0 {
            ApplyResponse::Put(p) => Ok(p),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn get(store: &crate::storage::Store, key: &[u8]) -> Option<crate::proto::mvccpb::KeyValue> {
        read(store, &range_req(key, b""))
            .unwrap()
            .kvs
            .into_iter()
            .next()
    }

    #[test]
    fn put_creates_then_updates() {
        let (_dir, store) = open_store();
        let (resp, events) = apply(&store, put_req(b"foo", b"bar")).unwrap();
        let ApplyResponse::Put(first) = resp else {
            panic!("not a put")
        };
        assert_eq!(rev_of(&first.header), 2);
        assert!(first.prev_kv.is_none());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].r#type, EventType::Put as i32);
        let second = put(&store, put_op_req(b"foo", b"baz"), &[]).unwrap();
        assert_eq!(rev_of(&second.header), 3);
        let kv = get(&store, b"foo").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert_eq!(kv.value, b"baz");
    }

    #[test]
    fn prev_kv_is_returned_only_when_asked() {
        let (_dir, store) = open_store();
        let absent = put(
            &store,
            PutRequest {
                prev_kv: true,
                ..put_op_req(b"k", b"v1")
            },
            &[],
        )
        .unwrap();
        assert!(absent.prev_kv.is_none());
        let present = put(
            &store,
            PutRequest {
                prev_kv: true,
                ..put_op_req(b"k", b"v2")
            },
            &[],
        )
        .unwrap();
        let prev = present.prev_kv.unwrap();
        assert_eq!(
            (prev.value.as_slice(), prev.mod_revision, prev.version),
            (&b"v1"[..], 2, 1)
        );
        let silent = put(&store, put_op_req(b"k", b"v3"), &[]).unwrap();
        assert!(silent.prev_kv.is_none());
    }

    #[test]
    fn missing_lease_fails_without_writing() {
        let (_dir, store) = open_store();
        let req = PutRequest {
            lease: 123456,
            ..put_op_req(b"foo", b"")
        };
        let err = put(&store, req.clone(), &[1]).unwrap_err();
        assert!(matches!(err, StorageError::LeaseNotFound), "{err:?}");
        assert_eq!(store.current_revision(), 1);
        assert!(get(&store, b"foo").is_none());
        put(&store, req, &[123456]).unwrap();
        assert_eq!(get(&store, b"foo").unwrap().lease, 123456);
    }

    #[test]
    fn ignore_value_needs_the_key_and_keeps_its_value() {
        let (_dir, store) = open_store();
        let ignoring = |lease| PutRequest {
            key: b"foo".to_vec(),
            lease,
            ignore_value: true,
            ..Default::default()
        };
        let err = put(&store, ignoring(0), &[]).unwrap_err();
        assert!(matches!(err, StorageError::KeyNotFound), "{err:?}");
        assert_eq!(store.current_revision(), 1);

        put(&store, put_op_req(b"foo", b"bar"), &[]).unwrap();
        let resp = put(&store, ignoring(5), &[5]).unwrap();
        assert!(resp.prev_kv.is_none());
        let kv = get(&store, b"foo").unwrap();
        assert_eq!(
            (kv.value.as_slice(), kv.lease, kv.version),
            (&b"bar"[..], 5, 2)
        );
        // ignore_value with lease 0 detaches the lease but keeps the value.
        put(&store, ignoring(0), &[]).unwrap();
        let kv = get(&store, b"foo").unwrap();
        assert_eq!((kv.value.as_slice(), kv.lease), (&b"bar"[..], 0));
    }

    #[test]
    fn ignore_lease_needs_the_key_and_keeps_its_lease() {
        let (_dir, store) = open_store();
        let ignoring = |value: &[u8]| PutRequest {
            key: b"zoo".to_vec(),
            value: value.to_vec(),
            ignore_lease: true,
            ..Default::default()
        };
        let err = put(&store, ignoring(b"bar"), &[]).unwrap_err();
        assert!(matches!(err, StorageError::KeyNotFound), "{err:?}");
        put(
            &store,
            PutRequest {
                lease: 9,
                ..put_op_req(b"zoo", b"bar")
            },
            &[9],
        )
        .unwrap();
        // The lease need not be re-validated: it is taken from the key.
        put(&store, ignoring(b"bar1"), &[]).unwrap();
        let kv = get(&store, b"zoo").unwrap();
        assert_eq!((kv.value.as_slice(), kv.lease), (&b"bar1"[..], 9));
        // A plain put detaches the lease.
        put(&store, put_op_req(b"zoo", b"bar"), &[]).unwrap();
        assert_eq!(get(&store, b"zoo").unwrap().lease, 0);
    }

    #[test]
    fn put_after_delete_starts_a_new_generation() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "a"]);
        apply(
            &store,
            InternalRaftRequest {
                delete_range: Some(crate::proto::etcdserverpb::DeleteRangeRequest {
                    key: b"a".to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
        put_keys(&store, &["a"]);
        let kv = get(&store, b"a").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
    }
}
