//! Compaction: drop history below a revision.

use super::header;
use crate::proto::etcdserverpb::{CompactionRequest, CompactionResponse};
use crate::storage::{StorageResult, WriteBatch};

/// Compacts synchronously, so `physical` needs no extra wait. Errors:
/// `Compacted` when `revision` is at or below the last compaction,
/// `FutureRevision` when it is above the current revision. The header
/// carries the current revision (compaction never creates one).
pub(super) fn compact(
    batch: &mut WriteBatch<'_>,
    req: &CompactionRequest,
) -> StorageResult<CompactionResponse> {
    batch.compact(req.revision)?;
    Ok(CompactionResponse {
        header: header(batch.rev()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::ApplyResponse;
    use crate::storage::StorageError;

    #[test]
    fn compaction_reports_current_revision() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "a", "a"]);
        let (resp, events) = compact(&store, 3).unwrap();
        let ApplyResponse::Compaction(c) = resp else {
            panic!("not a compaction")
        };
        assert_eq!(rev_of(&c.header), 4);
        assert!(events.is_empty());
        assert_eq!(store.current_revision(), 4);
        assert_eq!(store.compacted_revision(), 3);
    }

    #[test]
    fn compaction_errors() {
        let (_dir, store) = open_store();
        // Like etcd, a fresh store accepts revision 0 once; below it is compacted.
        assert!(matches!(compact(&store, -1), Err(StorageError::Compacted)));
        compact(&store, 0).unwrap();
        assert!(matches!(compact(&store, 0), Err(StorageError::Compacted)));
        put_keys(&store, &["a", "a"]);
        assert!(matches!(
            compact(&store, 4),
            Err(StorageError::FutureRevision)
        ));
        compact(&store, 2).unwrap();
        assert!(matches!(compact(&store, 2), Err(StorageError::Compacted)));
        assert!(matches!(compact(&store, 1), Err(StorageError::Compacted)));
        // Compacting at the current revision is allowed.
        compact(&store, 3).unwrap();
        assert_eq!(store.current_revision(), 3);
    }

    #[test]
    fn physical_flag_behaves_the_same() {
        let (_dir, store) = open_store();
        put_keys(&store, &["a", "a"]);
        let req = crate::proto::etcdserverpb::InternalRaftRequest {
            compaction: Some(crate::proto::etcdserverpb::CompactionRequest {
                revision: 2,
                physical: true,
            }),
            ..Default::default()
        };
        apply(&store, req).unwrap();
        let old = crate::proto::etcdserverpb::RangeRequest {
            revision: 1,
            ..range_req(b"a", b"")
        };
        assert!(matches!(read(&store, &old), Err(StorageError::Compacted)));
        let at = crate::proto::etcdserverpb::RangeRequest {
            revision: 2,
            ..range_req(b"a", b"")
        };
        assert_eq!(read(&store, &at).unwrap().kvs[0].version, 1);
    }
}
