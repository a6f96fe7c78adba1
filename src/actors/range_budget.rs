//! The memory budget of large Ranges (`--range-memory-budget`): a range over
//! many keys is measured before it is loaded (record sizes from LMDB, nothing
//! copied), and loads only once it holds its share of the budget, until its
//! answer has left the process. Each range is charged twice its stored size
//! (the decoded records and the encoded message exist together while it is
//! encoded). A range that does not get its share within a minute (or the
//! client's deadline) is refused with etcd's "too many requests"; one larger than the whole
//! budget waits for all of it and then runs alone. Single-key ranges and
//! small ones (under [`FREE_BYTES`]) are never charged.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Ranges this small load without a charge: the budget is for lists.
pub const FREE_BYTES: u64 = 1 << 20;

/// The semaphore counts KiB, so that a u32 of permits covers 4 TiB.
const UNIT: u64 = 1024;

#[derive(Clone, Debug)]
pub struct RangeBudget {
    permits: Arc<Semaphore>,
    capacity: u32,
}

/// A range's share of the budget; dropped once its answer is sent.
#[derive(Clone, Debug)]
pub struct BudgetHold {
    _permit: Arc<HeldPermit>,
}

impl RangeBudget {
    /// A budget of `bytes`; `None` (no budget) for 0.
    pub fn new(bytes: u64) -> Option<RangeBudget> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
        let units = units.min(Semaphore::MAX_PERMITS as u32);
        (units > 0).then(|| RangeBudget {
            permits: Arc::new(Semaphore::new(units as usize)),
            capacity: units,
        })
    }

    /// What a range of `stored` bytes is charged, in units; `None` when it is free.
    pub fn charge(&self, stored: u64) -> Option<u32> {
        let charged = stored.saturating_mul(2);
        if charged < FREE_BYTES {
            return None;
        }
        let units = u32::try_from(charged.div_ceil(UNIT)).unwrap_or(u32::MAX);
        Some(units.min(self.capacity))
    }

    /// The share, if it is free now.
    pub fn try_hold(&self, units: u32) -> Option<BudgetHold> {
        Arc::clone(&self.permits)
            .try_acquire_many_owned(units)
            .ok()
            .map(hold)
    }

    /// The share, once it is free (waiters are served in order).
    pub async fn hold(&self, units: u32) -> Option<BudgetHold> {
        Arc::clone(&self.permits)
            .acquire_many_owned(units)
            .await
            .ok()
            .map(hold)
    }

    /// Bytes held by ranges now.
    pub fn held_bytes(&self) -> u64 {
        u64::from(self.capacity - self.permits.available_permits() as u32) * UNIT
    }
}

fn hold(permit: OwnedSemaphorePermit) -> BudgetHold {
    let bytes = i64::from(permit.num_permits() as u32) * UNIT as i64;
    crate::metrics::metrics()
        .mvcc
        .range_budget_held_bytes
        .add(bytes);
    BudgetHold {
        _permit: Arc::new(HeldPermit {
            _permit: permit,
            bytes,
        }),
    }
}

/// The permit, and the gauge taken back down when it goes.
#[derive(Debug)]
struct HeldPermit {
    _permit: OwnedSemaphorePermit,
    bytes: i64,
}

impl Drop for HeldPermit {
    fn drop(&mut self) {
        crate::metrics::metrics()
            .mvcc
            .range_budget_held_bytes
            .sub(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ranges_are_free_and_a_huge_one_takes_everything() {
        let budget = RangeBudget::new(64 << 20).expect("a budget");
        assert_eq!(budget.charge(1000), None);
        assert_eq!(budget.charge(1 << 20), Some(2048));
        assert_eq!(budget.charge(1 << 40), Some(64 * 1024));
        assert!(RangeBudget::new(0).is_none());
    }

    #[tokio::test]
    async fn a_share_is_given_back_when_its_hold_is_dropped() {
        let budget = RangeBudget::new(4 << 20).expect("a budget");
        let all = budget.charge(2 << 20).expect("charged");
        let first = budget.try_hold(all).expect("free at first");
        assert!(budget.try_hold(1).is_none());
        assert_eq!(budget.held_bytes(), 4 << 20);
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.hold(all).await.is_some() })
        };
        drop(first);
        assert!(waiter.await.expect("joined"));
        assert_eq!(budget.held_bytes(), 0);
    }
}
