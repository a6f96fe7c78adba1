//! etcd's backend quota: what a request is charged against
//! `--quota-backend-bytes`, and whether it still fits.

use crate::proto::etcdserverpb::{request_op, InternalRaftRequest, PutRequest, TxnRequest};

/// etcd's estimate of a key's metadata, charged with every put.
const KV_OVERHEAD: u64 = 256;
/// etcd's estimate of a stored lease.
const LEASE_OVERHEAD: u64 = 64;

/// The charge of one request: puts and lease grants cost, everything else
/// is free (and always fits).
pub fn cost(req: &InternalRaftRequest) -> u64 {
    if let Some(put) = &req.put {
        return put_cost(put);
    }
    if let Some(txn) = &req.txn {
        return txn_cost(txn);
    }
    if req.lease_grant.is_some() {
        return LEASE_OVERHEAD;
    }
    0
}

fn put_cost(put: &PutRequest) -> u64 {
    KV_OVERHEAD + put.key.len() as u64 + put.value.len() as u64
}

/// The dearer branch's top-level puts (etcd does not look into nested txns).
fn txn_cost(txn: &TxnRequest) -> u64 {
    let branch = |ops: &[crate::proto::etcdserverpb::RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match &op.request {
                Some(request_op::Request::RequestPut(put)) => put_cost(put),
                _ => 0,
            })
            .sum()
    };
    branch(&txn.success).max(branch(&txn.failure))
}

/// etcd's `Available`: a free request always fits; a charged one only if
/// the backend stays strictly under the quota.
pub fn fits(backend_size: u64, cost: u64, quota: u64) -> bool {
    cost == 0 || backend_size.saturating_add(cost) < quota
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{LeaseGrantRequest, RequestOp};

    fn put_op(key: &str, value: &str) -> RequestOp {
        RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn charges_as_etcd() {
        let put = InternalRaftRequest {
            put: Some(PutRequest {
                key: b"ab".to_vec(),
                value: b"xyz".to_vec(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(cost(&put), 256 + 5);
        let txn = InternalRaftRequest {
            txn: Some(TxnRequest {
                success: vec![put_op("a", "1")],
                failure: vec![put_op("a", "1"), put_op("bb", "22")],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(cost(&txn), 258 + 260);
        let grant = InternalRaftRequest {
            lease_grant: Some(LeaseGrantRequest { ttl: 5, id: 1 }),
            ..Default::default()
        };
        assert_eq!(cost(&grant), 64);
        assert_eq!(cost(&InternalRaftRequest::default()), 0);
    }

    #[test]
    fn fits_strictly_under_the_quota() {
        assert!(fits(99, 0, 10), "free requests always fit");
        assert!(fits(80, 19, 100));
        assert!(!fits(80, 20, 100));
    }
}
