//! Txn compares: one key or a range against a version, revision, value or
//! lease.

use std::cmp::Ordering;

use super::read_all;
use crate::proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::proto::etcdserverpb::Compare;
use crate::proto::mvccpb::KeyValue;
use crate::storage::{RangeSource, StorageResult};

/// Every key in the compare's range must satisfy it. An empty range compares
/// as one key with all-zero fields, except that a VALUE compare on it always
/// fails (a missing value cannot be told from an empty one).
pub(super) fn compare_holds<S: RangeSource + ?Sized>(src: &S, c: &Compare) -> StorageResult<bool> {
    let kvs = read_all(src, &c.key, &c.range_end)?;
    if kvs.is_empty() {
        if c.target == CompareTarget::Value as i32 {
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(kvs.iter().all(|kv| compare_kv(c, kv)))
}

/// A target union of the wrong kind (or none) compares against zero / empty.
fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let union = c.target_union.as_ref();
    let ordering = match CompareTarget::try_from(c.target) {
        Ok(CompareTarget::Value) => {
            let want = match union {
                Some(TargetUnion::Value(v)) => v.as_slice(),
                _ => &[],
            };
            kv.value.as_slice().cmp(want)
        }
        Ok(CompareTarget::Create) => kv
            .create_revision
            .cmp(&int_of(union, CompareTarget::Create)),
        Ok(CompareTarget::Mod) => kv.mod_revision.cmp(&int_of(union, CompareTarget::Mod)),
        Ok(CompareTarget::Version) => kv.version.cmp(&int_of(union, CompareTarget::Version)),
        Ok(CompareTarget::Lease) => kv.lease.cmp(&int_of(union, CompareTarget::Lease)),
        Err(_) => Ordering::Equal,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ordering == Ordering::Equal,
        Ok(CompareResult::NotEqual) => ordering != Ordering::Equal,
        Ok(CompareResult::Greater) => ordering == Ordering::Greater,
        Ok(CompareResult::Less) => ordering == Ordering::Less,
        // etcd lets an unknown result pass.
        Err(_) => true,
    }
}

fn int_of(union: Option<&TargetUnion>, target: CompareTarget) -> i64 {
    match (target, union) {
        (CompareTarget::Create, Some(TargetUnion::CreateRevision(v)))
        | (CompareTarget::Mod, Some(TargetUnion::ModRevision(v)))
        | (CompareTarget::Version, Some(TargetUnion::Version(v)))
        | (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => *v,
        _ => 0,
    }
}
