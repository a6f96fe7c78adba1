//! The MVCC readers: Range, the member list, backend figures, HashKV and
//! snapshot builds, each on an LMDB read transaction of its own, on a small
//! thread pool in parallel with the writer.

use std::sync::Arc;

use actix::prelude::*;

use crate::actors::range_budget::{BudgetHold, RangeBudget};
use crate::proto::etcdserverpb::{AlarmMember, RangeRequest, RangeResponse};
use crate::proto::membershippb::DowngradeInfoSetRequest;
use crate::storage::apply;
use crate::storage::mvcc::KvHash;
use crate::storage::snapshot::{BuiltSnapshot, SnapshotDir};
use crate::storage::{StorageResult, Store};

pub struct MvccReader {
    store: Arc<Store>,
}

impl MvccReader {
    pub fn new(store: Arc<Store>) -> Self {
        MvccReader { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Actor for MvccReader {
    type Context = SyncContext<Self>;
}

/// A Range served from the local store (after ReadIndex when linearizable).
/// With a budget, a range over several keys is measured first and loaded
/// only with its share of the budget (`held`, or taken here if free now).
#[derive(Message)]
#[rtype(result = "StorageResult<RangeRead>")]
pub struct ReadRange {
    pub request: RangeRequest,
    pub budget: Option<RangeBudget>,
    pub held: Option<BudgetHold>,
}

pub enum RangeRead {
    /// The answer, and the share it holds until it is sent.
    Done(RangeResponse, Option<BudgetHold>),
    /// Not loaded: wait for `units` of the budget, then ask again.
    NeedsBudget { units: u32, request: RangeRequest },
}

impl Handler<ReadRange> for MvccReader {
    type Result = StorageResult<RangeRead>;

    fn handle(&mut self, msg: ReadRange, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.range").entered();
        let view = self.store.read()?;
        let mut held = msg.held;
        let several_keys = !msg.request.range_end.is_empty() && !msg.request.count_only;
        if let (None, Some(budget), true) = (&held, &msg.budget, several_keys) {
            if let Some(units) = budget.charge(apply::range_bytes(&view, &msg.request)?) {
                match budget.try_hold(units) {
                    Some(hold) => held = Some(hold),
                    None => {
                        return Ok(RangeRead::NeedsBudget {
                            units,
                            request: msg.request,
                        })
                    }
                }
            }
        }
        let response = apply::range(&view, &msg.request)?;
        super::op_counts::count_range();
        Ok(RangeRead::Done(response, held))
    }
}

/// The member list as last applied (Cluster.MemberList).
#[derive(Message)]
#[rtype(result = "StorageResult<Vec<crate::proto::etcdserverpb::Member>>")]
pub struct GetMembers;

impl Handler<GetMembers> for MvccReader {
    type Result = StorageResult<Vec<crate::proto::etcdserverpb::Member>>;

    fn handle(&mut self, _: GetMembers, _: &mut Self::Context) -> Self::Result {
        crate::storage::apply::membership::applied_members(&self.store)
    }
}

/// Backend figures for Maintenance.Status.
#[derive(Message)]
#[rtype(result = "StorageResult<BackendStatus>")]
pub struct GetBackendStatus;

#[derive(Debug, Clone, Default)]
pub struct BackendStatus {
    pub db_size: u64,
    pub db_size_in_use: u64,
    pub revision: i64,
    /// The active alarms (every member's), as this member applied them.
    pub alarms: Vec<AlarmMember>,
    /// The downgrade job, as applied.
    pub downgrade: DowngradeInfoSetRequest,
}

impl Handler<GetBackendStatus> for MvccReader {
    type Result = StorageResult<BackendStatus>;

    fn handle(&mut self, _: GetBackendStatus, _: &mut Self::Context) -> Self::Result {
        let (db_size, db_size_in_use) = self.store.db_size()?;
        Ok(BackendStatus {
            db_size,
            db_size_in_use,
            revision: self.store.current_revision(),
            alarms: self.store.alarms().alarms,
            downgrade: apply::downgrade::current(&self.store)?,
        })
    }
}

/// How many keys are live (etcd's `keys_total`); walks the whole index, so
/// only `/metrics` asks.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountLiveKeys;

impl Handler<CountLiveKeys> for MvccReader {
    type Result = usize;

    fn handle(&mut self, _: CountLiveKeys, _: &mut Self::Context) -> usize {
        self.store.live_keys()
    }
}

/// Leader: copy LMDB into a raft snapshot file (on a reader thread: the copy
/// reads the whole file).
#[derive(Message)]
#[rtype(result = "StorageResult<BuiltSnapshot>")]
pub struct BuildSnapshot {
    pub dir: SnapshotDir,
}

impl Handler<BuildSnapshot> for MvccReader {
    type Result = StorageResult<BuiltSnapshot>;

    fn handle(&mut self, msg: BuildSnapshot, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::info_span!("mvcc.build_snapshot").entered();
        msg.dir.build(&self.store)
    }
}

/// Maintenance.HashKV: the hash of the key space up to `revision`.
#[derive(Message)]
#[rtype(result = "StorageResult<KvHash>")]
pub struct HashKv {
    pub revision: i64,
}

impl Handler<HashKv> for MvccReader {
    type Result = StorageResult<KvHash>;

    fn handle(&mut self, msg: HashKv, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.hash_kv").entered();
        self.store.read()?.hash_kv(msg.revision)
    }
}

/// Maintenance.Hash: the whole backend, and the revision it was read at.
#[derive(Message)]
#[rtype(result = "StorageResult<(u32, i64)>")]
pub struct HashBackend;

impl Handler<HashBackend> for MvccReader {
    type Result = StorageResult<(u32, i64)>;

    fn handle(&mut self, _: HashBackend, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.hash").entered();
        let view = self.store.read()?;
        Ok((view.hash_backend()?, view.revision()))
    }
}

/// The downgrade job as last applied.
#[derive(Message)]
#[rtype(result = "StorageResult<DowngradeInfoSetRequest>")]
pub struct GetDowngrade;

impl Handler<GetDowngrade> for MvccReader {
    type Result = StorageResult<DowngradeInfoSetRequest>;

    fn handle(&mut self, _: GetDowngrade, _: &mut Self::Context) -> Self::Result {
        apply::downgrade::current(&self.store)
    }
}

/// Maintenance.Snapshot: the store as etcd's backend file at `path`; its
/// size and revision.
#[derive(Message)]
#[rtype(result = "StorageResult<(u64, i64)>")]
pub struct ExportEtcdSnapshot {
    pub path: std::path::PathBuf,
    /// The raft term now (etcd 3.5 records the applied entry's term; a
    /// restore replaces it, 3.6 needs it present).
    pub term: u64,
}

impl Handler<ExportEtcdSnapshot> for MvccReader {
    type Result = StorageResult<(u64, i64)>;

    fn handle(&mut self, msg: ExportEtcdSnapshot, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::info_span!("mvcc.export_etcd_snapshot").entered();
        crate::storage::bbolt::export_etcd(&self.store, &msg.path, msg.term)
    }
}
