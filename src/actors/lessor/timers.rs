//! Each lease's deadline, and a queue that finds the expired ones without
//! scanning every lease. The queue holds about one entry per lease, at or
//! before its deadline: a renewal only moves the deadline later, so it
//! leaves the entry alone, and an entry that comes due for a renewed lease
//! is put back at the new deadline. The queue's size follows the number of
//! leases, not the rate of keep-alives.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

struct Timer {
    /// Granted TTL, seconds.
    ttl: i64,
    expiry: Instant,
    /// The remaining TTL last checkpointed through raft (0: none).
    checkpointed: i64,
}

#[derive(Default)]
pub struct LeaseTimers {
    leases: HashMap<i64, Timer>,
    queue: BinaryHeap<Reverse<(Instant, i64)>>,
}

/// What a renewal did.
#[derive(Debug, PartialEq)]
pub struct Renewed {
    pub ttl: i64,
    /// A remaining TTL was checkpointed and no longer holds.
    pub clear_checkpoint: bool,
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(n.max(0) as u64)
}

impl LeaseTimers {
    /// A lease found in the store: it has its checkpointed remaining TTL
    /// left, or its whole TTL when none was checkpointed.
    pub fn restore(&mut self, id: i64, ttl: i64, remaining_ttl: i64, now: Instant) {
        let left = if remaining_ttl > 0 {
            remaining_ttl
        } else {
            ttl
        };
        self.set(id, ttl, now + secs(left), remaining_ttl.max(0));
    }

    /// A new leader's lessor: every lease gets its checkpointed remaining
    /// TTL (or its whole TTL) from now, as after a restart.
    pub fn promote(&mut self, now: Instant) {
        let leases: Vec<(i64, i64, i64)> = self
            .leases
            .iter()
            .map(|(id, t)| (*id, t.ttl, t.checkpointed))
            .collect();
        self.queue.clear();
        for (id, ttl, checkpointed) in leases {
            self.restore(id, ttl, checkpointed, now);
        }
    }

    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) {
        self.set(id, ttl, now + secs(ttl), 0);
    }

    fn set(&mut self, id: i64, ttl: i64, expiry: Instant, checkpointed: i64) {
        self.leases.insert(
            id,
            Timer {
                ttl,
                expiry,
                checkpointed,
            },
        );
        self.queue.push(Reverse((expiry, id)));
    }

    pub fn remove(&mut self, id: i64) {
        self.leases.remove(&id);
    }

    pub fn checkpointed(&mut self, id: i64, remaining_ttl: i64) {
        if let Some(timer) = self.leases.get_mut(&id) {
            timer.checkpointed = remaining_ttl;
        }
    }

    /// Up to `max` leases past their deadline that `wanted` accepts, soonest
    /// first. Leases `wanted` refuses are dropped from the queue (the caller
    /// puts them back with `expire_now` if it must).
    pub fn expired(&mut self, now: Instant, max: usize, wanted: impl Fn(i64) -> bool) -> Vec<i64> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        while out.len() < max {
            let Some(Reverse((at, id))) = self.queue.peek().copied() else {
                break;
            };
            if at > now {
                break;
            }
            self.queue.pop();
            let Some(timer) = self.leases.get(&id) else {
                continue;
            };
            if timer.expiry > now {
                // Renewed since this entry was queued.
                self.queue.push(Reverse((timer.expiry, id)));
            } else if seen.insert(id) && wanted(id) {
                out.push(id);
            }
        }
        out
    }

    /// Makes a lease due at once (a failed revoke to be tried again).
    pub fn expire_now(&mut self, id: i64, now: Instant) {
        if let Some(timer) = self.leases.get_mut(&id) {
            timer.expiry = now;
            self.queue.push(Reverse((now, id)));
        }
    }

    /// A keep-alive: the lease lives a whole TTL from now. `None` when it
    /// does not exist or has already expired.
    pub fn renew(&mut self, id: i64, now: Instant) -> Option<Renewed> {
        let timer = self.leases.get_mut(&id)?;
        if timer.expiry <= now {
            return None;
        }
        timer.expiry = now + secs(timer.ttl);
        let renewed = Renewed {
            ttl: timer.ttl,
            clear_checkpoint: timer.checkpointed > 0,
        };
        timer.checkpointed = 0;
        Some(renewed)
    }

    /// (granted TTL, whole seconds left, truncated; negative once expired).
    pub fn status(&self, id: i64, now: Instant) -> Option<(i64, i64)> {
        let timer = self.leases.get(&id)?;
        let left = if timer.expiry >= now {
            timer.expiry.duration_since(now).as_secs() as i64
        } else {
            -(now.duration_since(timer.expiry).as_secs() as i64)
        };
        Some((timer.ttl, left))
    }

    /// (id, remaining TTL rounded up) for every live lease that has used
    /// part of its TTL since it was granted, renewed or last checkpointed.
    pub fn checkpoints_due(&self, now: Instant) -> Vec<(i64, i64)> {
        let mut due: Vec<(i64, i64)> = self
            .leases
            .iter()
            .filter(|(_, t)| t.expiry > now)
            .filter_map(|(id, t)| {
                let left = t.expiry.duration_since(now);
                let remaining = left.as_secs() as i64 + i64::from(left.subsec_nanos() > 0);
                (remaining < t.ttl && remaining != t.checkpointed).then_some((*id, remaining))
            })
            .collect();
        due.sort_unstable();
        due
    }

    /// Entries in the expiry queue (tests: it must not grow with renewals).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Every lease id, soonest deadline first.
    pub fn ids_by_expiry(&self) -> Vec<i64> {
        let mut ids: Vec<(Instant, i64)> =
            self.leases.iter().map(|(id, t)| (t.expiry, *id)).collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_finds_due_leases_and_skips_renewed_ones() {
        let t0 = Instant::now();
        let mut timers = LeaseTimers::default();
        timers.grant(1, 5, t0);
        timers.grant(2, 10, t0);
        timers.grant(3, 5, t0);
        assert!(timers.expired(t0 + secs(4), 10, |_| true).is_empty());
        // Lease 3 renewed at t0+4: due at t0+9, not t0+5.
        assert_eq!(
            timers.renew(3, t0 + secs(4)),
            Some(Renewed {
                ttl: 5,
                clear_checkpoint: false
            })
        );
        assert_eq!(timers.expired(t0 + secs(6), 10, |_| true), vec![1]);
        assert_eq!(
            timers.renew(1, t0 + secs(6)),
            None,
            "expired leases stay expired"
        );
        let mut due = timers.expired(t0 + secs(11), 10, |_| true);
        due.sort_unstable();
        assert_eq!(due, vec![2, 3]);
    }

    #[test]
    fn renewals_do_not_grow_the_queue() {
        let t0 = Instant::now();
        let mut timers = LeaseTimers::default();
        timers.grant(1, 5, t0);
        for ms in 0..10_000u64 {
            timers.renew(1, t0 + Duration::from_millis(ms));
        }
        assert_eq!(timers.queued(), 1);
        // Due at t0 + 9.999 s + 5 s, found then and not before.
        assert!(timers.expired(t0 + secs(14), 10, |_| true).is_empty());
        assert_eq!(timers.expired(t0 + secs(15), 10, |_| true), vec![1]);
    }

    #[test]
    fn at_most_max_per_call_and_the_rest_later() {
        let t0 = Instant::now();
        let mut timers = LeaseTimers::default();
        for id in 0..10 {
            timers.grant(id, 1, t0);
        }
        let later = t0 + secs(2);
        assert_eq!(timers.expired(later, 4, |_| true).len(), 4);
        assert_eq!(timers.expired(later, 4, |id| id != 5).len(), 4);
        assert_eq!(timers.expired(later, 4, |_| true).len(), 1);
        timers.expire_now(5, later);
        assert_eq!(timers.expired(later, 4, |_| true), vec![5]);
    }

    #[test]
    fn restored_leases_resume_from_their_checkpoint() {
        let t0 = Instant::now();
        let mut timers = LeaseTimers::default();
        timers.restore(1, 100, 30, t0);
        timers.restore(2, 100, 0, t0);
        assert_eq!(timers.status(1, t0 + secs(10)), Some((100, 20)));
        assert_eq!(timers.status(2, t0 + secs(10)), Some((100, 90)));
        assert_eq!(
            timers.renew(1, t0 + secs(10)).map(|r| r.clear_checkpoint),
            Some(true)
        );
        assert_eq!(timers.status(1, t0 + secs(10)), Some((100, 100)));
    }

    #[test]
    fn checkpoints_cover_leases_that_used_part_of_their_ttl() {
        let t0 = Instant::now();
        let mut timers = LeaseTimers::default();
        timers.grant(1, 60, t0);
        timers.grant(2, 60, t0 + secs(20));
        assert_eq!(timers.checkpoints_due(t0), vec![]);
        let now = t0 + Duration::from_millis(20_500);
        // Lease 2 has 59.5 s left: rounded up, still its whole TTL.
        assert_eq!(timers.checkpoints_due(now), vec![(1, 40)]);
        timers.checkpointed(1, 40);
        assert_eq!(timers.checkpoints_due(now), vec![]);
        assert_eq!(timers.ids_by_expiry(), vec![1, 2]);
    }
}
