//! What each raft request needs when auth is on, decided where etcd decides
//! it: at apply time, from the user and auth revision in the request's
//! header, so a permission change is in force for every request ordered
//! after it.
//!
//! - Put: write on the key; read on it too with `prev_kv`; write on every
//!   key already attached to the lease it names (else the user could not
//!   revoke that lease).
//! - DeleteRange: write on the range; read too with `prev_kv`.
//! - Txn: read on every compare's range, then every op of BOTH branches as
//!   above, nested txns included (etcd 3.4.23 skipped nested txns; 3.5
//!   checks them, and so does oxcd).
//! - Range through raft: read.
//! - LeaseRevoke: write on every key attached to the lease.
//! - Auth management: the role `root`; a user may read its own user and a
//!   role it holds without it.
//!
//! Not wired to requests yet: AuthEnable stays Unimplemented until it is
//! (issue 13).

use std::cell::OnceCell;

use crate::proto::etcdserverpb::request_op::Request as Op;
use crate::proto::etcdserverpb::{InternalRaftRequest, PutRequest, RequestOp, TxnRequest};
use crate::proto::oxcdstore::AuthState;

use super::check::{Access, UserPermissions};
use super::{AuthError, ROOT};

/// Who sent a request: the user and the auth revision its token was
/// issued at (etcd's `RequestHeader.username` and `auth_revision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    pub user: &'a str,
    pub revision: u64,
}

/// Whether `caller` holds the role root (etcd's `IsAdminPermitted`, which
/// looks at the user only, not at the token's auth revision).
pub fn check_admin(state: &AuthState, caller: Caller<'_>) -> Result<(), AuthError> {
    if caller.user.is_empty() {
        return Err(AuthError::UserEmpty);
    }
    let user = state
        .users
        .iter()
        .find(|u| u.name == caller.user.as_bytes())
        .ok_or(AuthError::UserNotFound)?;
    if user.roles.iter().any(|r| r == ROOT) {
        Ok(())
    } else {
        Err(AuthError::PermissionDenied)
    }
}

/// Checks `req` for `caller` against `state` (auth on). `lease_keys` lists
/// the keys attached to a lease.
pub fn authorize(
    state: &AuthState,
    caller: Caller<'_>,
    req: &InternalRaftRequest,
    lease_keys: &dyn Fn(i64) -> Vec<Vec<u8>>,
) -> Result<(), AuthError> {
    let keys = KeyChecks {
        state,
        caller,
        lease_keys,
        perms: OnceCell::new(),
    };
    if let Some(r) = &req.range {
        return keys.may(&r.key, &r.range_end, Access::Read);
    }
    if let Some(r) = &req.put {
        return keys.put(r);
    }
    if let Some(r) = &req.delete_range {
        keys.may(&r.key, &r.range_end, Access::Write)?;
        if r.prev_kv {
            keys.may(&r.key, &r.range_end, Access::Read)?;
        }
        return Ok(());
    }
    if let Some(r) = &req.txn {
        return keys.txn(r);
    }
    if let Some(r) = &req.lease_revoke {
        return keys.lease(r.id);
    }
    // A user may read its own record and the roles it holds.
    if let Some(r) = &req.auth_user_get {
        if !caller.user.is_empty() && r.name == caller.user {
            return Ok(());
        }
        return check_admin(state, caller);
    }
    if let Some(r) = &req.auth_role_get {
        if holds_role(state, caller.user, &r.role) {
            return Ok(());
        }
        return check_admin(state, caller);
    }
    if needs_admin(req) {
        return check_admin(state, caller);
    }
    Ok(())
}

fn holds_role(state: &AuthState, user: &str, role: &str) -> bool {
    state
        .users
        .iter()
        .find(|u| u.name == user.as_bytes())
        .is_some_and(|u| u.roles.iter().any(|r| r == role))
}

fn needs_admin(req: &InternalRaftRequest) -> bool {
    req.auth_enable.is_some()
        || req.auth_disable.is_some()
        || req.auth_user_add.is_some()
        || req.auth_user_delete.is_some()
        || req.auth_user_change_password.is_some()
        || req.auth_user_grant_role.is_some()
        || req.auth_user_revoke_role.is_some()
        || req.auth_role_add.is_some()
        || req.auth_role_grant_permission.is_some()
        || req.auth_role_revoke_permission.is_some()
        || req.auth_role_delete.is_some()
        || req.auth_user_list.is_some()
        || req.auth_role_list.is_some()
}

/// The key checks of one request. The caller's grants are merged on the
/// first check and reused for the rest (a txn checks every compare and op);
/// a request that checks no key never looks the caller up, as in etcd.
struct KeyChecks<'a> {
    state: &'a AuthState,
    caller: Caller<'a>,
    lease_keys: &'a dyn Fn(i64) -> Vec<Vec<u8>>,
    perms: OnceCell<Result<UserPermissions, AuthError>>,
}

impl KeyChecks<'_> {
    fn may(&self, key: &[u8], end: &[u8], kind: Access) -> Result<(), AuthError> {
        self.perms
            .get_or_init(|| UserPermissions::of(self.state, self.caller.user, self.caller.revision))
            .as_ref()
            .map_err(Clone::clone)?
            .allows(key, end, kind)
    }

    /// Write on every key attached to the lease.
    fn lease(&self, id: i64) -> Result<(), AuthError> {
        (self.lease_keys)(id)
            .iter()
            .try_for_each(|key| self.may(key, &[], Access::Write))
    }

    fn put(&self, r: &PutRequest) -> Result<(), AuthError> {
        self.may(&r.key, &[], Access::Write)?;
        if r.lease != 0 {
            self.lease(r.lease)?;
        }
        if r.prev_kv {
            self.may(&r.key, &[], Access::Read)?;
        }
        Ok(())
    }

    fn txn(&self, r: &TxnRequest) -> Result<(), AuthError> {
        for compare in &r.compare {
            self.may(&compare.key, &compare.range_end, Access::Read)?;
        }
        self.ops(&r.success)?;
        self.ops(&r.failure)
    }

    fn ops(&self, ops: &[RequestOp]) -> Result<(), AuthError> {
        for op in ops {
            match &op.request {
                Some(Op::RequestRange(r)) => self.may(&r.key, &r.range_end, Access::Read)?,
                Some(Op::RequestPut(p)) => self.put(p)?,
                Some(Op::RequestDeleteRange(d)) => {
                    if d.prev_kv {
                        self.may(&d.key, &d.range_end, Access::Read)?;
                    }
                    self.may(&d.key, &d.range_end, Access::Write)?;
                }
                Some(Op::RequestTxn(t)) => self.txn(t)?,
                None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::authpb::permission::Type;
    use crate::proto::authpb::Permission;
    use crate::proto::etcdserverpb::*;
    use crate::storage::auth::{
        initial, role_add, role_grant_permission, user_add, user_grant_role,
    };

    /// alice: read+write on a..m, read on m..z; root: role root.
    fn state() -> AuthState {
        let mut s = initial();
        for user in ["alice", "root"] {
            user_add(&mut s, user, "h", None).ok();
        }
        role_add(&mut s, "r").ok();
        for (key, end, t) in [("a", "m", Type::Readwrite), ("m", "z", Type::Read)] {
            let perm = Permission {
                perm_type: t as i32,
                key: key.into(),
                range_end: end.into(),
            };
            role_grant_permission(&mut s, "r", Some(perm)).ok();
        }
        user_grant_role(&mut s, "alice", "r").ok();
        user_grant_role(&mut s, "root", ROOT).ok();
        s
    }

    fn alice(s: &AuthState) -> Caller<'_> {
        Caller {
            user: "alice",
            revision: s.revision,
        }
    }

    fn no_leases(_: i64) -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn put_of(key: &str) -> PutRequest {
        PutRequest {
            key: key.into(),
            ..Default::default()
        }
    }

    fn op(r: Op) -> RequestOp {
        RequestOp { request: Some(r) }
    }

    fn txn_req(t: TxnRequest) -> InternalRaftRequest {
        InternalRaftRequest {
            txn: Some(t),
            ..Default::default()
        }
    }

    #[test]
    fn puts_need_write_and_prev_kv_needs_read() {
        let s = state();
        let req = |p: PutRequest| InternalRaftRequest {
            put: Some(p),
            ..Default::default()
        };
        assert_eq!(
            authorize(&s, alice(&s), &req(put_of("b")), &no_leases),
            Ok(())
        );
        assert_eq!(
            authorize(&s, alice(&s), &req(put_of("n")), &no_leases),
            Err(AuthError::PermissionDenied)
        );
        // A lease whose keys alice cannot write may not be attached.
        let leased = PutRequest {
            lease: 7,
            ..put_of("b")
        };
        let keys = |_: i64| vec![b"q".to_vec()];
        assert_eq!(
            authorize(&s, alice(&s), &req(leased), &keys),
            Err(AuthError::PermissionDenied)
        );
    }

    #[test]
    fn txns_check_compares_both_branches_and_nested_txns() {
        let s = state();
        let writes_n = op(Op::RequestPut(put_of("n")));
        let allowed = TxnRequest {
            compare: vec![Compare {
                key: "q".into(),
                ..Default::default()
            }],
            success: vec![op(Op::RequestPut(put_of("b")))],
            ..Default::default()
        };
        assert_eq!(
            authorize(&s, alice(&s), &txn_req(allowed.clone()), &no_leases),
            Ok(())
        );
        // The failure branch is checked though it may never run.
        let failure = TxnRequest {
            failure: vec![writes_n.clone()],
            ..allowed.clone()
        };
        assert_eq!(
            authorize(&s, alice(&s), &txn_req(failure), &no_leases),
            Err(AuthError::PermissionDenied)
        );
        // A nested txn cannot smuggle a write in.
        let nested = TxnRequest {
            success: vec![op(Op::RequestTxn(TxnRequest {
                success: vec![writes_n],
                ..Default::default()
            }))],
            ..Default::default()
        };
        assert_eq!(
            authorize(&s, alice(&s), &txn_req(nested), &no_leases),
            Err(AuthError::PermissionDenied)
        );
        // A compare on a key alice cannot read.
        let compare = TxnRequest {
            compare: vec![Compare {
                key: "zz".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            authorize(&s, alice(&s), &txn_req(compare), &no_leases),
            Err(AuthError::PermissionDenied)
        );
    }

    #[test]
    fn admin_requests_and_self_reads() {
        let s = state();
        let list = InternalRaftRequest {
            auth_user_list: Some(AuthUserListRequest {}),
            ..Default::default()
        };
        assert_eq!(
            authorize(&s, alice(&s), &list, &no_leases),
            Err(AuthError::PermissionDenied)
        );
        let root = Caller {
            user: "root",
            revision: s.revision,
        };
        assert_eq!(authorize(&s, root, &list, &no_leases), Ok(()));
        let own = InternalRaftRequest {
            auth_user_get: Some(AuthUserGetRequest {
                name: "alice".into(),
            }),
            ..Default::default()
        };
        assert_eq!(authorize(&s, alice(&s), &own, &no_leases), Ok(()));
        let role = InternalRaftRequest {
            auth_role_get: Some(AuthRoleGetRequest { role: "r".into() }),
            ..Default::default()
        };
        assert_eq!(authorize(&s, alice(&s), &role, &no_leases), Ok(()));
        let ghost = Caller {
            user: "ghost",
            revision: s.revision,
        };
        assert_eq!(
            authorize(&s, ghost, &list, &no_leases),
            Err(AuthError::UserNotFound)
        );
        // A stale token still fails on keys.
        let stale = Caller {
            user: "alice",
            revision: s.revision - 1,
        };
        let get = InternalRaftRequest {
            range: Some(RangeRequest {
                key: "b".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            authorize(&s, stale, &get, &no_leases),
            Err(AuthError::OldRevision)
        );
        let nobody = Caller {
            user: "",
            revision: 0,
        };
        assert_eq!(
            authorize(&s, nobody, &list, &no_leases),
            Err(AuthError::UserEmpty)
        );
    }

    #[test]
    fn lease_revoke_needs_write_on_every_attached_key() {
        let s = state();
        let revoke = InternalRaftRequest {
            lease_revoke: Some(LeaseRevokeRequest { id: 1 }),
            ..Default::default()
        };
        let mine = |_: i64| vec![b"b".to_vec(), b"c".to_vec()];
        let theirs = |_: i64| vec![b"b".to_vec(), b"n".to_vec()];
        assert_eq!(authorize(&s, alice(&s), &revoke, &mine), Ok(()));
        assert_eq!(
            authorize(&s, alice(&s), &revoke, &theirs),
            Err(AuthError::PermissionDenied)
        );
    }
}
