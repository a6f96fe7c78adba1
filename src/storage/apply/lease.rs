//! Lease requests as the state machine applies them: grant, revoke (every
//! attached key deleted in one revision) and checkpoint (remaining TTLs
//! recorded so they survive a restart).

use crate::proto::etcdserverpb::{
    LeaseCheckpointRequest, LeaseCheckpointResponse, LeaseGrantRequest, LeaseGrantResponse,
    LeaseRevokeRequest, LeaseRevokeResponse,
};
use crate::proto::mvccpb::Event;
use crate::storage::lease::LeaseRecord;
use crate::storage::{StorageError, StorageResult, WriteBatch};

use super::header;

/// Records a new lease. The id and the TTL (already raised to the minimum)
/// were chosen before the proposal, so every member records the same.
pub fn grant(
    batch: &mut WriteBatch<'_>,
    req: &LeaseGrantRequest,
) -> StorageResult<LeaseGrantResponse> {
    if batch.store().leases().exists(req.id) {
        return Err(StorageError::LeaseExists);
    }
    let record = LeaseRecord {
        ttl: req.ttl,
        remaining_ttl: 0,
    };
    batch.put_lease(req.id, record)?;
    Ok(LeaseGrantResponse {
        header: header(batch.rev()),
        id: req.id,
        ttl: req.ttl,
        error: String::new(),
    })
}

/// Deletes the lease's keys (one revision, even for many keys) and the lease.
pub fn revoke(
    batch: &mut WriteBatch<'_>,
    req: &LeaseRevokeRequest,
) -> StorageResult<(LeaseRevokeResponse, Vec<Event>)> {
    let keys = {
        let leases = batch.store().leases();
        if !leases.exists(req.id) {
            return Err(StorageError::LeaseNotFound);
        }
        leases.keys(req.id)
    };
    let mut txn = batch.txn();
    let mut deleted = Ok(());
    for key in &keys {
        deleted = txn.delete_range(key, &[]).map(drop);
        if deleted.is_err() {
            break;
        }
    }
    let outcome = txn.end();
    deleted?;
    batch.delete_lease(req.id)?;
    let response = LeaseRevokeResponse {
        header: header(outcome.rev),
    };
    Ok((response, outcome.events))
}

/// Records remaining TTLs; leases that are gone are skipped.
pub fn checkpoint(
    batch: &mut WriteBatch<'_>,
    req: &LeaseCheckpointRequest,
) -> StorageResult<LeaseCheckpointResponse> {
    for cp in &req.checkpoints {
        let Some(mut record) = batch.store().leases().record(cp.id) else {
            continue;
        };
        record.remaining_ttl = cp.remaining_ttl;
        batch.put_lease(cp.id, record)?;
    }
    Ok(LeaseCheckpointResponse {
        header: header(batch.rev()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::LeaseCheckpoint;
    use crate::proto::mvccpb::event::EventType;
    use crate::storage::apply::test_support::{open_store, put_with_lease};

    fn grant_req(id: i64, ttl: i64) -> LeaseGrantRequest {
        LeaseGrantRequest { ttl, id }
    }

    #[test]
    fn revoke_deletes_every_attached_key_in_one_revision() {
        let (_dir, store) = open_store();
        let mut batch = store.begin_batch().expect("batch");
        grant(&mut batch, &grant_req(7, 30)).expect("grant");
        batch.commit(1).expect("commit");
        put_with_lease(&store, "a", 7, 2);
        put_with_lease(&store, "b", 7, 3);
        put_with_lease(&store, "c", 0, 4);
        assert_eq!(store.leases().keys(7).len(), 2);

        let mut batch = store.begin_batch().expect("batch");
        let (resp, events) = revoke(&mut batch, &LeaseRevokeRequest { id: 7 }).expect("revoke");
        batch.commit(5).expect("commit");
        assert_eq!(resp.header.expect("header").revision, 5);
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.r#type == EventType::Delete as i32
            && e.kv.as_ref().map(|kv| kv.mod_revision) == Some(5)));
        assert!(!store.leases().exists(7));
        assert_eq!(store.current_revision(), 5);

        let mut batch = store.begin_batch().expect("batch");
        let again = revoke(&mut batch, &LeaseRevokeRequest { id: 7 });
        assert!(matches!(again, Err(StorageError::LeaseNotFound)));
    }

    #[test]
    fn grant_refuses_a_duplicate_and_checkpoint_records_remaining() {
        let (_dir, store) = open_store();
        let mut batch = store.begin_batch().expect("batch");
        let resp = grant(&mut batch, &grant_req(9, 60)).expect("grant");
        assert_eq!((resp.id, resp.ttl), (9, 60));
        assert!(matches!(
            grant(&mut batch, &grant_req(9, 5)),
            Err(StorageError::LeaseExists)
        ));
        let cp = LeaseCheckpointRequest {
            checkpoints: vec![
                LeaseCheckpoint {
                    id: 9,
                    remaining_ttl: 42,
                },
                LeaseCheckpoint {
                    id: 10,
                    remaining_ttl: 1,
                },
            ],
        };
        checkpoint(&mut batch, &cp).expect("checkpoint");
        batch.commit(1).expect("commit");
        let record = store.leases().record(9).expect("lease");
        assert_eq!((record.ttl, record.remaining_ttl), (60, 42));
        assert!(!store.leases().exists(10));
    }

    #[test]
    fn leases_and_their_keys_survive_reopening_the_store() {
        let (dir, store) = open_store();
        let mut batch = store.begin_batch().expect("batch");
        grant(&mut batch, &grant_req(3, 90)).expect("grant");
        grant(&mut batch, &grant_req(4, 90)).expect("grant");
        let cp = LeaseCheckpointRequest {
            checkpoints: vec![LeaseCheckpoint {
                id: 3,
                remaining_ttl: 12,
            }],
        };
        checkpoint(&mut batch, &cp).expect("checkpoint");
        batch.commit(1).expect("commit");
        put_with_lease(&store, "x", 3, 2);
        put_with_lease(&store, "y", 4, 3);
        put_with_lease(&store, "y", 0, 4);
        drop(store);

        let store = crate::storage::Store::open(
            dir.path(),
            crate::storage::StoreOptions { map_size: 64 << 20 },
        )
        .expect("reopen");
        let leases = store.leases();
        assert_eq!(leases.keys(3), vec![b"x".to_vec()]);
        assert!(leases.keys(4).is_empty(), "y was re-put without a lease");
        let record = leases.record(3).expect("lease 3");
        assert_eq!((record.ttl, record.remaining_ttl), (90, 12));
    }
}
