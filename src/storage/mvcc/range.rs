//! Range reads shared by read views and write txns: pick revisions from the
//! index, then load their records from LMDB.

use heed::RoTxn;
use prost::Message;

use crate::proto::mvccpb::KeyValue;
use crate::storage::backend::RawDb;
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::key_index::TreeIndex;
use crate::storage::revision::Revision;

/// Options of a range read; zeros mean "no limit" and "current revision".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeOptions {
    pub limit: i64,
    pub rev: i64,
    pub count_only: bool,
}

/// Keys found by a range read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeResult {
    /// Sorted by key, at most `limit` of them (none when `count_only`).
    pub kvs: Vec<KeyValue>,
    /// The revision the read observed (current revision of the view/txn).
    pub rev: i64,
    /// Keys in the range at the read revision, regardless of `limit`.
    pub count: i64,
}

/// Anything ranges can run on (a read view or a write txn that sees its own
/// writes).
pub trait RangeSource {
    fn range(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> StorageResult<RangeResult>;
    /// Current revision as seen by this view/txn.
    fn rev(&self) -> i64;
}

/// What a range must load, decided under the index lock.
pub(super) struct RangePlan {
    revs: Vec<Revision>,
    count: i64,
    rev: i64,
}

/// Checks the requested revision against the view's current and compacted
/// revisions and collects the revisions to load.
pub(super) fn plan(
    index: &TreeIndex,
    key: &[u8],
    end: &[u8],
    opts: RangeOptions,
    current: i64,
    compacted: i64,
) -> StorageResult<RangePlan> {
    if opts.rev > current {
        return Err(StorageError::FutureRevision);
    }
    let at = if opts.rev <= 0 { current } else { opts.rev };
    // reading at the compacted revision itself is still allowed
    if at < compacted {
        return Err(StorageError::Compacted);
    }
    if opts.count_only {
        let count = index.count(key, end, at) as i64;
        return Ok(RangePlan {
            revs: Vec::new(),
            count,
            rev: current,
        });
    }
    let mut revs = index.revisions(key, end, at);
    let count = revs.len() as i64;
    if opts.limit > 0 && opts.limit < count {
        revs.truncate(opts.limit as usize);
    }
    Ok(RangePlan {
        revs,
        count,
        rev: current,
    })
}

/// Loads the planned records from an LMDB snapshot that contains them.
pub(super) fn fetch(db: RawDb, txn: &RoTxn<'_>, plan: RangePlan) -> StorageResult<RangeResult> {
    let mut kvs = Vec::with_capacity(plan.revs.len());
    for rev in plan.revs {
        kvs.push(load(db, txn, rev)?);
    }
    Ok(RangeResult {
        kvs,
        rev: plan.rev,
        count: plan.count,
    })
}

/// The stored size of the planned records, read from LMDB's pages without
/// copying or decoding them: what materializing the range will allocate.
pub(super) fn measure(db: RawDb, txn: &RoTxn<'_>, plan: &RangePlan) -> StorageResult<u64> {
    let mut bytes = 0u64;
    for rev in &plan.revs {
        bytes += db
            .get(txn, &rev.to_key(false))?
            .map_or(0, |b| b.len() as u64);
    }
    Ok(bytes)
}

/// The live (non-tombstone) record at `rev`; the index only points at those.
pub(super) fn load(db: RawDb, txn: &RoTxn<'_>, rev: Revision) -> StorageResult<KeyValue> {
    let bytes = db.get(txn, &rev.to_key(false))?.ok_or_else(|| {
        StorageError::Corrupt(format!("index points at missing revision {rev:?}"))
    })?;
    decode_kv(bytes)
}

pub(super) fn decode_kv(bytes: &[u8]) -> StorageResult<KeyValue> {
    KeyValue::decode(bytes).map_err(|e| StorageError::Corrupt(format!("bad KeyValue: {e}")))
}
