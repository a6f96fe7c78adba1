//! Alarm requests (etcd's `applierV3backend.Alarm`) and the two modes an
//! active alarm puts the applier in: NOSPACE refuses what would grow the
//! store (etcd's capped applier), CORRUPT refuses KV requests.

use crate::proto::etcdserverpb::{
    alarm_request::AlarmAction, AlarmRequest, AlarmResponse, AlarmType, InternalRaftRequest,
    RequestOp, TxnRequest,
};
use crate::storage::alarms;
use crate::storage::{StorageError, StorageResult, WriteBatch};

/// Runs GET, ACTIVATE or DEACTIVATE; only a real change is written.
pub fn apply(batch: &mut WriteBatch<'_>, req: &AlarmRequest) -> StorageResult<AlarmResponse> {
    let mut state = batch.alarms();
    let alarms = match AlarmAction::try_from(req.action) {
        Ok(AlarmAction::Get) => alarms::get(&state, req.alarm),
        // etcd 3.5 ignores an activation of "no alarm".
        Ok(AlarmAction::Activate) if req.alarm == AlarmType::None as i32 => Vec::new(),
        Ok(AlarmAction::Activate) => {
            let changed = alarms::activate(&mut state, req.member_id, req.alarm);
            if let Some(alarm) = &changed {
                tracing::warn!(alarm = alarm.alarm, from = %format!("{:x}", alarm.member_id), "alarm raised");
                batch.put_alarms(state)?;
            }
            changed.into_iter().collect()
        }
        Ok(AlarmAction::Deactivate) => {
            let changed = alarms::deactivate(&mut state, req.member_id, req.alarm);
            if let Some(alarm) = &changed {
                tracing::warn!(alarm = alarm.alarm, from = %format!("{:x}", alarm.member_id), "alarm disarmed");
                batch.put_alarms(state)?;
            }
            changed.into_iter().collect()
        }
        // etcd's switch has no case for an unknown action: an empty answer.
        Err(_) => Vec::new(),
    };
    Ok(AlarmResponse {
        header: super::header(batch.store().current_revision()),
        alarms,
    })
}

/// Refuses `req` if an active alarm forbids it.
pub fn check(batch: &WriteBatch<'_>, req: &InternalRaftRequest) -> StorageResult<()> {
    if batch.alarm_active(AlarmType::Corrupt)
        && (req.put.is_some()
            || req.range.is_some()
            || req.delete_range.is_some()
            || req.txn.is_some()
            || req.compaction.is_some()
            || req.lease_grant.is_some()
            || req.lease_revoke.is_some())
    {
        return Err(StorageError::AlarmCorrupt);
    }
    if batch.alarm_active(AlarmType::Nospace)
        && (req.put.is_some()
            || req.lease_grant.is_some()
            || req.txn.as_ref().is_some_and(txn_puts))
    {
        return Err(StorageError::NoSpace);
    }
    Ok(())
}

/// Whether either branch of the txn holds a put (etcd's quota cost > 0;
/// puts in nested txns are not counted, as etcd counts).
fn txn_puts(txn: &TxnRequest) -> bool {
    let is_put = |op: &RequestOp| {
        matches!(
            op.request,
            Some(crate::proto::etcdserverpb::request_op::Request::RequestPut(
                _
            ))
        )
    };
    txn.success.iter().chain(&txn.failure).any(is_put)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{self as support, *};
    use super::{AlarmAction, AlarmRequest, AlarmType, InternalRaftRequest, RequestOp, TxnRequest};
    use crate::proto::etcdserverpb::{
        CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
    };
    use crate::storage::apply::ApplyResponse;
    use crate::storage::StorageError;

    fn alarm(action: AlarmAction, member: u64, kind: AlarmType) -> InternalRaftRequest {
        InternalRaftRequest {
            alarm: Some(AlarmRequest {
                action: action as i32,
                member_id: member,
                alarm: kind as i32,
            }),
            ..Default::default()
        }
    }

    fn answered(resp: ApplyResponse) -> Vec<(u64, i32)> {
        match resp {
            ApplyResponse::Alarm(r) => r.alarms.iter().map(|a| (a.member_id, a.alarm)).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn ranged(key: &[u8]) -> InternalRaftRequest {
        InternalRaftRequest {
            range: Some(range_req(key, b"")),
            ..Default::default()
        }
    }

    fn txn(success: Vec<RequestOp>) -> InternalRaftRequest {
        txn_req(TxnRequest {
            success,
            ..Default::default()
        })
    }

    #[test]
    fn activate_get_deactivate_as_etcd() {
        let (_dir, store) = open_store();
        let nospace = AlarmType::Nospace as i32;
        let (r, _) =
            support::apply(&store, alarm(AlarmAction::Activate, 7, AlarmType::Nospace)).unwrap();
        assert_eq!(answered(r), [(7, nospace)]);
        let (r, _) =
            support::apply(&store, alarm(AlarmAction::Activate, 7, AlarmType::Nospace)).unwrap();
        assert!(answered(r).is_empty(), "already active: no alarm answered");
        let (r, _) = support::apply(&store, alarm(AlarmAction::Get, 0, AlarmType::None)).unwrap();
        assert_eq!(answered(r), [(7, nospace)]);
        let (r, _) =
            support::apply(&store, alarm(AlarmAction::Get, 0, AlarmType::Corrupt)).unwrap();
        assert!(answered(r).is_empty());
        let (r, _) =
            support::apply(&store, alarm(AlarmAction::Activate, 7, AlarmType::None)).unwrap();
        assert!(answered(r).is_empty(), "NONE is not an alarm");
        assert_eq!(store.alarms().alarms.len(), 1);
        let (r, _) = support::apply(
            &store,
            alarm(AlarmAction::Deactivate, 9, AlarmType::Nospace),
        )
        .unwrap();
        assert!(answered(r).is_empty(), "unknown member: nothing");
        assert!(store.nospace_alarm());
        let (r, _) = support::apply(
            &store,
            alarm(AlarmAction::Deactivate, 7, AlarmType::Nospace),
        )
        .unwrap();
        assert_eq!(answered(r), [(7, nospace)]);
        assert!(!store.nospace_alarm());
    }

    #[test]
    fn nospace_refuses_only_what_grows_the_store() {
        let (_dir, store) = open_store();
        support::apply(&store, put_req(b"a", b"1")).unwrap();
        support::apply(&store, alarm(AlarmAction::Activate, 1, AlarmType::Nospace)).unwrap();
        let rev = store.current_revision();
        let refused = [
            put_req(b"b", b"2"),
            InternalRaftRequest {
                lease_grant: Some(LeaseGrantRequest { ttl: 5, id: 3 }),
                ..Default::default()
            },
            txn(vec![op_delete(b"a", b""), op_put(b"c", b"3")]),
        ];
        for req in refused {
            let err = support::apply(&store, req).unwrap_err();
            assert!(matches!(err, StorageError::NoSpace), "{err:?}");
        }
        assert_eq!(store.current_revision(), rev, "nothing written");
        let allowed = [
            ranged(b"a"),
            txn(vec![op_range(b"a", b"")]),
            InternalRaftRequest {
                compaction: Some(CompactionRequest {
                    revision: rev,
                    physical: false,
                }),
                ..Default::default()
            },
            InternalRaftRequest {
                delete_range: Some(DeleteRangeRequest {
                    key: b"a".to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        for req in allowed {
            support::apply(&store, req).unwrap();
        }
        // Revoking a lease that does not exist fails for that reason only.
        let revoke = InternalRaftRequest {
            lease_revoke: Some(LeaseRevokeRequest { id: 42 }),
            ..Default::default()
        };
        assert!(matches!(
            support::apply(&store, revoke).unwrap_err(),
            StorageError::LeaseNotFound
        ));
        support::apply(
            &store,
            alarm(AlarmAction::Deactivate, 1, AlarmType::Nospace),
        )
        .unwrap();
        support::apply(&store, put_req(b"b", b"2")).unwrap();
    }

    #[test]
    fn corrupt_refuses_kv_requests_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::storage::StoreOptions { map_size: 64 << 20 };
        {
            let store = crate::storage::Store::open(dir.path(), opts.clone()).unwrap();
            support::apply(&store, alarm(AlarmAction::Activate, 2, AlarmType::Corrupt)).unwrap();
        }
        let store = crate::storage::Store::open(dir.path(), opts).unwrap();
        assert!(store.corrupt_alarm());
        for req in [put_req(b"a", b"1"), ranged(b"a")] {
            let err = support::apply(&store, req).unwrap_err();
            assert!(matches!(err, StorageError::AlarmCorrupt), "{err:?}");
        }
        let (r, _) = support::apply(&store, alarm(AlarmAction::Get, 0, AlarmType::None)).unwrap();
        assert_eq!(answered(r), [(2, AlarmType::Corrupt as i32)]);
    }
}
