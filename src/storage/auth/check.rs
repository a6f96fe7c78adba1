//! etcd's permission check: may `user`, holding a token of auth revision
//! `revision`, read or write `[key, range_end)`? A user's grants (from all
//! of its roles) are merged: a range is allowed when the union of the
//! grants of that kind covers it without a gap; a single key when any grant
//! holds it. A `range_end` of `"\0"` means "every key from `key` on", for
//! grants and requests alike. The role `root` may do everything.
//!
//! Not wired to requests yet: AuthEnable stays Unimplemented until every
//! path asks this (issue 13).

use std::cmp::Ordering;

use crate::proto::authpb::permission::Type;
use crate::proto::oxcdstore::AuthState;

use super::{AuthError, ROOT};

/// What a request does to a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One end of an interval: a key, or past every key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End<'a> {
    Key(&'a [u8]),
    Infinite,
}

impl PartialOrd for End<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for End<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (End::Infinite, End::Infinite) => Ordering::Equal,
            (End::Infinite, _) => Ordering::Greater,
            (_, End::Infinite) => Ordering::Less,
            (End::Key(a), End::Key(b)) => a.cmp(b),
        }
    }
}

/// `[begin, end)` of a grant: empty `range_end` is the key alone
/// (`[key, key + "\0")`), `"\0"` is everything from the key on.
fn grant_interval(key: &[u8], range_end: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    match range_end {
        [] => {
            let mut next = key.to_vec();
            next.push(0);
            (key.to_vec(), Some(next))
        }
        [0] => (key.to_vec(), None),
        end => (key.to_vec(), Some(end.to_vec())),
    }
}

fn grants(kind: Access, perm_type: i32) -> bool {
    let readwrite = perm_type == Type::Readwrite as i32;
    match kind {
        Access::Read => readwrite || perm_type == Type::Read as i32,
        Access::Write => readwrite || perm_type == Type::Write as i32,
    }
}

/// One user's grants, merged once and asked many times (a txn asks per
/// compare and per op): etcd's per-user permission cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPermissions {
    root: bool,
    /// Sorted `[begin, end)` intervals; `None` ends past every key.
    read: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    write: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl UserPermissions {
    /// The grants of `user`, holding a token of auth revision `revision`
    /// (etcd's checks before the ranges: no user, a stale token, an unknown
    /// user).
    pub fn of(state: &AuthState, user: &str, revision: u64) -> Result<Self, AuthError> {
        // A request without a user carries revision 0.
        if revision == 0 {
            return Err(AuthError::UserEmpty);
        }
        if revision < state.revision {
            return Err(AuthError::OldRevision);
        }
        let Some(found) = state.users.iter().find(|u| u.name == user.as_bytes()) else {
            return Err(AuthError::PermissionDenied);
        };
        let root = found.roles.iter().any(|r| r == ROOT);
        let perms: Vec<_> = state
            .roles
            .iter()
            .filter(|role| found.roles.iter().any(|r| r.as_bytes() == role.name))
            .flat_map(|role| role.key_permission.iter())
            .collect();
        let merged = |kind: Access| {
            let mut intervals: Vec<_> = perms
                .iter()
                .filter(|p| grants(kind, p.perm_type))
                .map(|p| grant_interval(&p.key, &p.range_end))
                .collect();
            intervals.sort();
            intervals
        };
        Ok(UserPermissions {
            root,
            read: merged(Access::Read),
            write: merged(Access::Write),
        })
    }

    /// etcd's `isOpPermitted` for `[key, range_end)`.
    pub fn allows(&self, key: &[u8], range_end: &[u8], kind: Access) -> Result<(), AuthError> {
        if self.root {
            return Ok(());
        }
        let intervals = match kind {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        let covered = match range_end {
            [] => holds_key(intervals, key),
            [0] => covers(intervals, key, &End::Infinite),
            end => covers(intervals, key, &End::Key(end)),
        };
        if covered {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }
}

/// etcd's `isOpPermitted` with auth on, for one range.
pub fn check(
    state: &AuthState,
    user: &str,
    revision: u64,
    key: &[u8],
    range_end: &[u8],
    kind: Access,
) -> Result<(), AuthError> {
    UserPermissions::of(state, user, revision)?.allows(key, range_end, kind)
}

fn end_of(end: &Option<Vec<u8>>) -> End<'_> {
    end.as_deref().map_or(End::Infinite, End::Key)
}

fn holds_key(intervals: &[(Vec<u8>, Option<Vec<u8>>)], key: &[u8]) -> bool {
    intervals
        .iter()
        .any(|(begin, end)| begin.as_slice() <= key && End::Key(key) < end_of(end))
}

/// Whether the intervals that meet `[begin, end)` join up without a gap
/// and reach from `begin` to `end` (etcd's interval tree `Contains`).
fn covers(intervals: &[(Vec<u8>, Option<Vec<u8>>)], begin: &[u8], end: &End<'_>) -> bool {
    let mut reach: Option<(&[u8], End<'_>)> = None;
    for (b, e) in intervals {
        let e = end_of(e);
        // Only intervals that overlap the request count.
        if End::Key(b) >= *end || e <= End::Key(begin) {
            continue;
        }
        reach = match reach {
            None => Some((b.as_slice(), e)),
            Some((_, far)) if far < End::Key(b) => return false,
            Some((first, far)) => Some((first, far.max(e))),
        };
    }
    match reach {
        Some((first, far)) => first <= begin && far >= *end,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::authpb::Permission;
    use crate::storage::auth::{
        initial, role_add, role_grant_permission, user_add, user_grant_role,
    };

    fn state_with(grants: &[(&str, &str, Type)]) -> AuthState {
        let mut s = initial();
        user_add(&mut s, "u", "h", None).ok();
        role_add(&mut s, "r").ok();
        for (key, end, t) in grants {
            role_grant_permission(
                &mut s,
                "r",
                Some(Permission {
                    perm_type: *t as i32,
                    key: key.as_bytes().to_vec(),
                    range_end: end.as_bytes().to_vec(),
                }),
            )
            .ok();
        }
        user_grant_role(&mut s, "u", "r").ok();
        s
    }

    fn may(s: &AuthState, key: &str, end: &str, kind: Access) -> Result<(), AuthError> {
        check(s, "u", s.revision, key.as_bytes(), end.as_bytes(), kind)
    }

    #[test]
    fn single_keys_ranges_and_prefixes() {
        let s = state_with(&[
            ("k", "", Type::Read),
            ("a", "c", Type::Readwrite),
            ("c", "e", Type::Read),
            ("p/", "p0", Type::Write),
        ]);
        assert_eq!(may(&s, "k", "", Access::Read), Ok(()));
        assert_eq!(
            may(&s, "k", "", Access::Write),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(
            may(&s, "k0", "", Access::Read),
            Err(AuthError::PermissionDenied)
        );
        // [a,c) and [c,e) join up for reads, not for writes.
        assert_eq!(may(&s, "a", "e", Access::Read), Ok(()));
        assert_eq!(
            may(&s, "b", "d", Access::Write),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(
            may(&s, "a", "f", Access::Read),
            Err(AuthError::PermissionDenied)
        );
        assert_eq!(may(&s, "p/x", "", Access::Write), Ok(()));
        assert_eq!(may(&s, "p/", "p0", Access::Write), Ok(()));
        // A single key is a range of its own: k..k\0.
        assert_eq!(may(&s, "k", "k\0", Access::Read), Ok(()));
        assert_eq!(
            may(&s, "k", "l", Access::Read),
            Err(AuthError::PermissionDenied)
        );
    }

    #[test]
    fn from_key_grants_and_requests() {
        let s = state_with(&[("m", "\0", Type::Read)]);
        assert_eq!(may(&s, "zzz", "", Access::Read), Ok(()));
        assert_eq!(may(&s, "m", "\0", Access::Read), Ok(()));
        assert_eq!(
            may(&s, "l", "\0", Access::Read),
            Err(AuthError::PermissionDenied)
        );
        let bounded = state_with(&[("m", "z", Type::Read)]);
        assert_eq!(
            may(&bounded, "m", "\0", Access::Read),
            Err(AuthError::PermissionDenied)
        );
    }

    #[test]
    fn root_users_stale_tokens_and_no_user() {
        let mut s = state_with(&[]);
        assert_eq!(
            may(&s, "x", "", Access::Write),
            Err(AuthError::PermissionDenied)
        );
        user_grant_role(&mut s, "u", ROOT).ok();
        assert_eq!(may(&s, "x", "\0", Access::Write), Ok(()));
        assert_eq!(
            check(&s, "u", s.revision - 1, b"x", b"", Access::Read),
            Err(AuthError::OldRevision)
        );
        assert_eq!(
            check(&s, "", 0, b"x", b"", Access::Read),
            Err(AuthError::UserEmpty)
        );
        assert_eq!(
            check(&s, "ghost", s.revision, b"x", b"", Access::Read),
            Err(AuthError::PermissionDenied)
        );
    }
}
