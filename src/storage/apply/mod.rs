//! Runs raft-committed KV requests against the MVCC store with etcd 3.5's
//! semantics: which revision each response reports, how a txn picks its
//! branch, and which checks happen before anything is written.

pub mod alarm;
pub mod auth;
mod compaction;
mod compare;
mod delete;
pub mod downgrade;
mod lease;
pub mod membership;
mod put;
mod range;
mod txn;

#[cfg(test)]
pub(crate) mod auth_tests;
#[cfg(test)]
pub(crate) mod test_support;

pub use range::{range, range_bytes};
pub use txn::{is_txn_read_only, txn_read_only};

use crate::proto::etcdserverpb::{
    AlarmResponse, CompactionResponse, DeleteRangeResponse, InternalRaftRequest,
    LeaseCheckpointResponse, LeaseGrantResponse, LeaseRevokeResponse, PutResponse, RangeResponse,
    ResponseHeader, TxnResponse,
};
use crate::proto::mvccpb::{Event, KeyValue};
use crate::storage::auth::requests::{self, Caller};
use crate::storage::{
    RangeOptions, RangeResult, RangeSource, StorageError, StorageResult, Store, TxnWrite,
    WriteBatch,
};

/// Whether a put's lease exists (the store's lease table, or a stand-in in
/// tests and for read-only txns).
pub trait LeaseLookup {
    fn lease_exists(&self, id: i64) -> bool;
}

impl LeaseLookup for Store {
    fn lease_exists(&self, id: i64) -> bool {
        self.leases().exists(id)
    }
}

/// No lease exists: any put naming a lease fails with `LeaseNotFound`.
pub struct NoLeases;

impl LeaseLookup for NoLeases {
    fn lease_exists(&self, _id: i64) -> bool {
        false
    }
}

/// The response of one applied KV request.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyResponse {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    Range(RangeResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    LeaseCheckpoint(LeaseCheckpointResponse),
    /// A member published its attributes (no client waits on this one).
    MemberAttrs,
    /// A membership change was applied: the member list afterwards.
    Members(Vec<crate::proto::etcdserverpb::Member>),
    /// An auth request (users, roles, status).
    Auth(auth::AuthApplied),
    /// An alarm request (get, activate, deactivate).
    Alarm(AlarmResponse),
    /// A downgrade job was enabled or cancelled (etcd answers nothing).
    Downgrade,
}

/// Applies one raft-committed request inside the batch's LMDB txn. Errors
/// leave the store unchanged: like etcd, every check (leases, ignore_* keys,
/// range revisions of the chosen txn branch) runs before the first write.
/// KV requests (range/put/delete_range/txn/compaction), lease requests
/// (grant/revoke/checkpoint), member attributes and auth requests are
/// handled here; anything else is `InvalidRequest`.
pub fn apply_request(
    batch: &mut WriteBatch<'_>,
    req: &InternalRaftRequest,
    leases: &dyn LeaseLookup,
) -> StorageResult<(ApplyResponse, Vec<Event>)> {
    // etcd checks permissions here, at apply time, so a change of users or
    // roles is in force for every request raft orders after it.
    if batch.auth_enabled() {
        authorize(batch, req)?;
    }
    alarm::check(batch, req)?;
    if let Some(r) = &req.range {
        return in_txn(batch, |t| range(&*t, r).map(ApplyResponse::Range));
    }
    if let Some(r) = &req.put {
        put::check_lease(r, leases)?;
        return in_txn(batch, |t| put::put(t, r).map(ApplyResponse::Put));
    }
    if let Some(r) = &req.delete_range {
        return in_txn(batch, |t| {
            delete::delete_range(t, r).map(ApplyResponse::DeleteRange)
        });
    }
    if let Some(r) = &req.txn {
        return in_txn(batch, |t| {
            txn::apply_txn(t, r, leases).map(ApplyResponse::Txn)
        });
    }
    if let Some(r) = &req.compaction {
        let resp = compaction::compact(batch, r)?;
        return Ok((ApplyResponse::Compaction(resp), Vec::new()));
    }
    if let Some(r) = &req.lease_grant {
        let resp = lease::grant(batch, r)?;
        return Ok((ApplyResponse::LeaseGrant(resp), Vec::new()));
    }
    if let Some(r) = &req.lease_revoke {
        let (resp, events) = lease::revoke(batch, r)?;
        return Ok((ApplyResponse::LeaseRevoke(resp), events));
    }
    if let Some(r) = &req.lease_checkpoint {
        let resp = lease::checkpoint(batch, r)?;
        return Ok((ApplyResponse::LeaseCheckpoint(resp), Vec::new()));
    }
    if let Some(r) = &req.alarm {
        return Ok((ApplyResponse::Alarm(alarm::apply(batch, r)?), Vec::new()));
    }
    if let Some(r) = &req.downgrade_info_set {
        downgrade::apply(batch, r)?;
        return Ok((ApplyResponse::Downgrade, Vec::new()));
    }
    if auth::is_auth(req) {
        return Ok((ApplyResponse::Auth(auth::apply(batch, req)?), Vec::new()));
    }
    if let Some(r) = &req.cluster_member_attr_set {
        membership::set_member_attrs(batch, r)?;
        return Ok((ApplyResponse::MemberAttrs, Vec::new()));
    }
    Err(StorageError::InvalidRequest(
        "not a KV, lease, member, alarm, downgrade or auth request",
    ))
}

/// Checks `req` against the auth record for the user and auth revision
/// its header carries.
fn authorize(batch: &WriteBatch<'_>, req: &InternalRaftRequest) -> StorageResult<()> {
    let header = req.header.clone().unwrap_or_default();
    let caller = Caller {
        user: &header.username,
        revision: header.auth_revision,
    };
    let store = batch.store();
    let lease_keys = |id: i64| store.leases().keys(id);
    batch.with_auth(|auth| requests::authorize(auth, caller, req, &lease_keys))?;
    Ok(())
}

/// Runs `f` as one MVCC txn (one revision at most) and collects its events.
fn in_txn(
    batch: &mut WriteBatch<'_>,
    f: impl FnOnce(&mut TxnWrite<'_, '_>) -> StorageResult<ApplyResponse>,
) -> StorageResult<(ApplyResponse, Vec<Event>)> {
    let mut t = batch.txn();
    let result = f(&mut t);
    // Logical errors come from checks that run before any write, so ending
    // here changes nothing; an LMDB failure marks the batch failed instead.
    let outcome = t.end();
    result.map(|resp| (resp, outcome.events))
}

/// A response header carrying only the revision; the API layer fills the rest.
fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

/// Where a request's writes go: the batch's write txn, or (for read-only
/// txns served outside raft) a read view that refuses writes.
trait KvWrite: RangeSource {
    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> StorageResult<()>;
    fn delete_range(&mut self, key: &[u8], end: &[u8]) -> StorageResult<i64>;
}

impl KvWrite for TxnWrite<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> StorageResult<()> {
        TxnWrite::put(self, key, value, lease)
    }

    fn delete_range(&mut self, key: &[u8], end: &[u8]) -> StorageResult<i64> {
        TxnWrite::delete_range(self, key, end)
    }
}

/// A read view dressed as a write target, for read-only txns.
struct ReadOnly<'a, S: ?Sized>(&'a S);

impl<S: RangeSource + ?Sized> RangeSource for ReadOnly<'_, S> {
    fn range(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> StorageResult<RangeResult> {
        self.0.range(key, end, opts)
    }

    fn rev(&self) -> i64 {
        self.0.rev()
    }
}

impl<S: RangeSource + ?Sized> KvWrite for ReadOnly<'_, S> {
    fn put(&mut self, _key: &[u8], _value: &[u8], _lease: i64) -> StorageResult<()> {
        Err(StorageError::InvalidRequest("put in a read-only txn"))
    }

    fn delete_range(&mut self, _key: &[u8], _end: &[u8]) -> StorageResult<i64> {
        Err(StorageError::InvalidRequest("delete in a read-only txn"))
    }
}

/// Every live key in `[key, end)` at the source's current revision.
fn read_all<S: RangeSource + ?Sized>(
    src: &S,
    key: &[u8],
    end: &[u8],
) -> StorageResult<Vec<KeyValue>> {
    let opts = RangeOptions {
        limit: 0,
        rev: 0,
        count_only: false,
    };
    Ok(src.range(key, end, opts)?.kvs)
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::proto::etcdserverpb::{LeaseGrantRequest, PutRequest};

    #[test]
    fn other_requests_are_rejected_without_changes() {
        let (_dir, store) = open_store();
        let req = InternalRaftRequest {
            cluster_version_set: Some(Default::default()),
            ..Default::default()
        };
        let err = apply(&store, req).unwrap_err();
        assert!(matches!(err, StorageError::InvalidRequest(_)), "{err:?}");
        assert_eq!(store.current_revision(), 1);
    }

    #[test]
    fn lease_grant_dispatches_and_records_the_lease() {
        let (_dir, store) = open_store();
        let req = InternalRaftRequest {
            lease_grant: Some(LeaseGrantRequest { ttl: 30, id: 5 }),
            ..Default::default()
        };
        let (resp, events) = apply(&store, req).unwrap();
        assert!(matches!(resp, ApplyResponse::LeaseGrant(ref g) if g.id == 5 && g.ttl == 30));
        assert!(events.is_empty());
        assert!(store.leases().exists(5));
    }

    #[test]
    fn empty_request_is_rejected() {
        let (_dir, store) = open_store();
        let err = apply(&store, InternalRaftRequest::default()).unwrap_err();
        assert!(matches!(err, StorageError::InvalidRequest(_)), "{err:?}");
    }

    #[test]
    fn put_dispatch_returns_events_and_revision() {
        let (_dir, store) = open_store();
        let (resp, events) = apply(&store, put_req(b"a", b"1")).unwrap();
        match resp {
            ApplyResponse::Put(p) => assert_eq!(rev_of(&p.header), 2),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kv.as_ref().unwrap().key, b"a");
    }

    #[test]
    fn put_with_lease_and_no_leases_is_lease_not_found() {
        let (_dir, store) = open_store();
        let req = InternalRaftRequest {
            put: Some(PutRequest {
                key: b"a".to_vec(),
                lease: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = apply(&store, req).unwrap_err();
        assert!(matches!(err, StorageError::LeaseNotFound), "{err:?}");
        assert_eq!(store.current_revision(), 1);
    }
}
