//! etcd's `etcd_mvcc_{put,delete,range,txn}_total`, counted from what was
//! applied or served.

use crate::proto::etcdserverpb::response_op::Response;
use crate::proto::etcdserverpb::ResponseOp;
use crate::storage::apply::ApplyResponse;

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    puts: u64,
    deletes: u64,
    ranges: u64,
    txns: u64,
}

impl Counts {
    /// Adds the operations one Txn ran (the branch it took, nested txns
    /// included); like etcd, the txn itself counts only when it ran more
    /// than one operation.
    fn add_txn(&mut self, ops: &[ResponseOp]) {
        let before = self.puts + self.deletes + self.ranges;
        for op in ops {
            match &op.response {
                Some(Response::ResponsePut(_)) => self.puts += 1,
                Some(Response::ResponseDeleteRange(_)) => self.deletes += 1,
                Some(Response::ResponseRange(_)) => self.ranges += 1,
                Some(Response::ResponseTxn(inner)) => self.add_txn(&inner.responses),
                None => {}
            }
        }
        if self.puts + self.deletes + self.ranges - before > 1 {
            self.txns += 1;
        }
    }

    fn of(response: &ApplyResponse) -> Counts {
        let mut counts = Counts::default();
        match response {
            ApplyResponse::Put(_) => counts.puts = 1,
            ApplyResponse::DeleteRange(_) => counts.deletes = 1,
            ApplyResponse::Range(_) => counts.ranges = 1,
            ApplyResponse::Txn(txn) => counts.add_txn(&txn.responses),
            _ => {}
        }
        counts
    }
}

/// Counts one applied request.
pub(super) fn count_applied(response: &ApplyResponse) {
    let counts = Counts::of(response);
    let mvcc = &crate::metrics::metrics().mvcc;
    for (counter, n) in [
        (&mvcc.put_total, counts.puts),
        (&mvcc.delete_total, counts.deletes),
        (&mvcc.range_total, counts.ranges),
        (&mvcc.txn_total, counts.txns),
    ] {
        if n > 0 {
            counter.inc_by(n);
        }
    }
}

/// Counts one Range served from the local store.
pub(super) fn count_range() {
    crate::metrics::metrics().mvcc.range_total.inc();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{PutResponse, RangeResponse, ResponseOp, TxnResponse};

    fn op(response: Response) -> ResponseOp {
        ResponseOp {
            response: Some(response),
        }
    }

    #[test]
    fn txns_count_their_operations_and_count_when_they_ran_several() {
        let put = || op(Response::ResponsePut(PutResponse::default()));
        let range = || op(Response::ResponseRange(RangeResponse::default()));
        let single = TxnResponse {
            responses: vec![put()],
            ..Default::default()
        };
        assert_eq!(
            Counts::of(&ApplyResponse::Txn(single.clone())),
            Counts {
                puts: 1,
                ..Default::default()
            }
        );
        let nested = TxnResponse {
            responses: vec![range(), op(Response::ResponseTxn(single))],
            ..Default::default()
        };
        assert_eq!(
            Counts::of(&ApplyResponse::Txn(nested)),
            Counts {
                puts: 1,
                ranges: 1,
                txns: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            Counts::of(&ApplyResponse::Txn(TxnResponse::default())),
            Counts::default()
        );
        assert_eq!(
            Counts::of(&ApplyResponse::Put(PutResponse::default())),
            Counts {
                puts: 1,
                ..Default::default()
            }
        );
    }
}
