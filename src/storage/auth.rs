//! etcd's auth store as data: users (bcrypt hash, roles, options), roles
//! (key permissions), whether auth is on, and the auth revision. The rules
//! of every change follow etcd's: which errors, what sorts, what bumps the
//! revision. The state is one record in the meta database (`AUTH_META_KEY`),
//! changed only by applied raft entries; passwords arrive already hashed.

pub mod check;
pub mod requests;
pub mod tokens;

use prost::Message as _;

use crate::proto::authpb::{Permission, Role, User, UserAddOptions};
use crate::proto::oxcdstore::AuthState;

use super::{StorageError, StorageResult};

/// The meta key of the auth record.
pub const AUTH_META_KEY: &str = "auth";
/// The user and the role that may do everything (etcd's names).
pub const ROOT: &str = "root";

/// Why an auth change was refused (etcd's auth errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("user name is empty")]
    UserEmpty,
    #[error("user name already exists")]
    UserAlreadyExists,
    #[error("user name not found")]
    UserNotFound,
    #[error("role name is empty")]
    RoleEmpty,
    #[error("role name already exists")]
    RoleAlreadyExists,
    #[error("role name not found")]
    RoleNotFound,
    #[error("role is not granted to the user")]
    RoleNotGranted,
    #[error("permission is not granted to the role")]
    PermissionNotGranted,
    #[error("permission not given")]
    PermissionNotGiven,
    #[error("invalid auth management")]
    InvalidAuthMgmt,
    #[error("root user does not exist")]
    RootUserNotExist,
    #[error("root user does not have root role")]
    RootRoleNotExist,
    #[error("revision of auth store is old")]
    OldRevision,
    #[error("permission denied")]
    PermissionDenied,
    #[error("authentication is not enabled")]
    AuthNotEnabled,
    #[error("authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("invalid auth token")]
    InvalidAuthToken,
    /// A JWT member without a private key was asked to sign.
    #[error("token signing attempted with verify-only key")]
    VerifyOnly,
}

type AuthResult<T> = Result<T, AuthError>;

/// A fresh store: auth off, revision 1 (etcd commits one revision when it
/// creates its auth bucket).
pub fn initial() -> AuthState {
    AuthState {
        enabled: false,
        revision: 1,
        users: Vec::new(),
        roles: Vec::new(),
    }
}

pub fn decode(bytes: Option<Vec<u8>>) -> StorageResult<AuthState> {
    match bytes {
        None => Ok(initial()),
        Some(bytes) => AuthState::decode(bytes.as_slice())
            .map_err(|e| StorageError::Corrupt(format!("auth record: {e}"))),
    }
}

pub fn encode(state: &AuthState) -> Vec<u8> {
    state.encode_to_vec()
}

fn user_index(state: &AuthState, name: &str) -> Result<usize, usize> {
    state
        .users
        .binary_search_by(|u| u.name.as_slice().cmp(name.as_bytes()))
}

fn role_index(state: &AuthState, name: &str) -> Result<usize, usize> {
    state
        .roles
        .binary_search_by(|r| r.name.as_slice().cmp(name.as_bytes()))
}

fn user_mut<'a>(state: &'a mut AuthState, name: &str) -> AuthResult<&'a mut User> {
    let i = user_index(state, name).map_err(|_| AuthError::UserNotFound)?;
    Ok(&mut state.users[i])
}

fn role_mut<'a>(state: &'a mut AuthState, name: &str) -> AuthResult<&'a mut Role> {
    let i = role_index(state, name).map_err(|_| AuthError::RoleNotFound)?;
    Ok(&mut state.roles[i])
}

fn commit(state: &mut AuthState) {
    state.revision += 1;
}

/// Turns auth on: user `root` must exist and hold the role `root`. Already
/// on is fine. The auth revision does not move (as in etcd).
pub fn enable(state: &mut AuthState) -> AuthResult<()> {
    if state.enabled {
        return Ok(());
    }
    let i = user_index(state, ROOT).map_err(|_| AuthError::RootUserNotExist)?;
    if !state.users[i].roles.iter().any(|r| r == ROOT) {
        return Err(AuthError::RootRoleNotExist);
    }
    state.enabled = true;
    Ok(())
}

/// Turns auth off (the auth revision does not move).
pub fn disable(state: &mut AuthState) {
    state.enabled = false;
}

/// The user an Authenticate may log in as, with its bcrypt hash (etcd's
/// rules: auth on, the user known, and not a `no_password` user).
pub fn login_hash<'a>(state: &'a AuthState, name: &str) -> AuthResult<&'a str> {
    if !state.enabled {
        return Err(AuthError::AuthNotEnabled);
    }
    let i = user_index(state, name).map_err(|_| AuthError::AuthFailed)?;
    let user = &state.users[i];
    if user.options.is_some_and(|o| o.no_password) || user.password.is_empty() {
        return Err(AuthError::AuthFailed);
    }
    std::str::from_utf8(&user.password).map_err(|_| AuthError::AuthFailed)
}

/// `hashed`: the bcrypt hash, empty for a user added with `no_password`.
pub fn user_add(
    state: &mut AuthState,
    name: &str,
    hashed: &str,
    options: Option<UserAddOptions>,
) -> AuthResult<()> {
    if name.is_empty() {
        return Err(AuthError::UserEmpty);
    }
    let at = match user_index(state, name) {
        Ok(_) => return Err(AuthError::UserAlreadyExists),
        Err(at) => at,
    };
    state.users.insert(
        at,
        User {
            name: name.as_bytes().to_vec(),
            password: hashed.as_bytes().to_vec(),
            roles: Vec::new(),
            options: Some(options.unwrap_or_default()),
        },
    );
    commit(state);
    Ok(())
}

pub fn user_delete(state: &mut AuthState, name: &str) -> AuthResult<()> {
    if state.enabled && name == ROOT {
        return Err(AuthError::InvalidAuthMgmt);
    }
    let i = user_index(state, name).map_err(|_| AuthError::UserNotFound)?;
    state.users.remove(i);
    commit(state);
    Ok(())
}

pub fn user_change_password(state: &mut AuthState, name: &str, hashed: &str) -> AuthResult<()> {
    user_mut(state, name)?.password = hashed.as_bytes().to_vec();
    commit(state);
    Ok(())
}

/// Granting a role the user already has changes nothing (and succeeds).
/// The role `root` need not exist.
pub fn user_grant_role(state: &mut AuthState, user: &str, role: &str) -> AuthResult<()> {
    user_mut(state, user)?;
    if role != ROOT && role_index(state, role).is_err() {
        return Err(AuthError::RoleNotFound);
    }
    let user = user_mut(state, user)?;
    match user.roles.binary_search_by(|r| r.as_str().cmp(role)) {
        Ok(_) => return Ok(()),
        Err(at) => user.roles.insert(at, role.to_string()),
    }
    commit(state);
    Ok(())
}

pub fn user_revoke_role(state: &mut AuthState, name: &str, role: &str) -> AuthResult<()> {
    if state.enabled && name == ROOT && role == ROOT {
        return Err(AuthError::InvalidAuthMgmt);
    }
    let user = user_mut(state, name)?;
    let before = user.roles.len();
    user.roles.retain(|r| r != role);
    if user.roles.len() == before {
        return Err(AuthError::RoleNotGranted);
    }
    commit(state);
    Ok(())
}

/// The user's roles, sorted.
pub fn user_get(state: &AuthState, name: &str) -> AuthResult<Vec<String>> {
    let i = user_index(state, name).map_err(|_| AuthError::UserNotFound)?;
    Ok(state.users[i].roles.clone())
}

pub fn user_list(state: &AuthState) -> Vec<String> {
    state
        .users
        .iter()
        .map(|u| String::from_utf8_lossy(&u.name).into_owned())
        .collect()
}

pub fn role_add(state: &mut AuthState, name: &str) -> AuthResult<()> {
    if name.is_empty() {
        return Err(AuthError::RoleEmpty);
    }
    let at = match role_index(state, name) {
        Ok(_) => return Err(AuthError::RoleAlreadyExists),
        Err(at) => at,
    };
    state.roles.insert(
        at,
        Role {
            name: name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        },
    );
    commit(state);
    Ok(())
}

/// Deletes the role and takes it from every user that had it.
pub fn role_delete(state: &mut AuthState, name: &str) -> AuthResult<()> {
    if state.enabled && name == ROOT {
        return Err(AuthError::InvalidAuthMgmt);
    }
    let i = role_index(state, name).map_err(|_| AuthError::RoleNotFound)?;
    state.roles.remove(i);
    for user in &mut state.users {
        user.roles.retain(|r| r != name);
    }
    commit(state);
    Ok(())
}

/// The role's permissions, sorted by key.
pub fn role_get(state: &AuthState, name: &str) -> AuthResult<Vec<Permission>> {
    let i = role_index(state, name).map_err(|_| AuthError::RoleNotFound)?;
    Ok(state.roles[i].key_permission.clone())
}

pub fn role_list(state: &AuthState) -> Vec<String> {
    state
        .roles
        .iter()
        .map(|r| String::from_utf8_lossy(&r.name).into_owned())
        .collect()
}

/// A grant is matched against the first stored grant of the same key or
/// later (as etcd's binary search finds it): the same key and range end
/// replaces that grant's type; otherwise the grant is added, the list kept
/// sorted by key. Overlapping grants are stored as given; checks take their
/// union.
pub fn role_grant_permission(
    state: &mut AuthState,
    name: &str,
    perm: Option<Permission>,
) -> AuthResult<()> {
    let perm = perm.ok_or(AuthError::PermissionNotGiven)?;
    let role = role_mut(state, name)?;
    let perms = &mut role.key_permission;
    let at = perms.partition_point(|p| p.key < perm.key);
    match perms.get_mut(at) {
        Some(same) if same.key == perm.key && same.range_end == perm.range_end => {
            same.perm_type = perm.perm_type;
        }
        _ => {
            // After the grants of the same key, as a stable sort puts it.
            let end = perms.partition_point(|p| p.key <= perm.key);
            perms.insert(end, perm);
        }
    }
    commit(state);
    Ok(())
}

pub fn role_revoke_permission(
    state: &mut AuthState,
    name: &str,
    key: &[u8],
    range_end: &[u8],
) -> AuthResult<()> {
    let role = role_mut(state, name)?;
    let before = role.key_permission.len();
    role.key_permission
        .retain(|p| p.key != key || p.range_end != range_end);
    if role.key_permission.len() == before {
        return Err(AuthError::PermissionNotGranted);
    }
    commit(state);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::authpb::permission::Type;

    fn perm(key: &str, end: &str, t: Type) -> Option<Permission> {
        Some(Permission {
            perm_type: t as i32,
            key: key.into(),
            range_end: end.into(),
        })
    }

    #[test]
    fn users_and_roles_follow_etcds_rules() {
        let mut s = initial();
        assert_eq!(s.revision, 1);
        assert_eq!(user_add(&mut s, "", "h", None), Err(AuthError::UserEmpty));
        assert_eq!(user_add(&mut s, "bob", "h", None), Ok(()));
        assert_eq!(user_add(&mut s, "alice", "h", None), Ok(()));
        assert_eq!(
            user_add(&mut s, "bob", "h", None),
            Err(AuthError::UserAlreadyExists)
        );
        assert_eq!(user_list(&s), vec!["alice", "bob"]);
        assert_eq!(s.revision, 3);

        assert_eq!(
            user_grant_role(&mut s, "bob", "r1"),
            Err(AuthError::RoleNotFound)
        );
        assert_eq!(user_grant_role(&mut s, "bob", ROOT), Ok(()));
        assert_eq!(role_add(&mut s, "r1"), Ok(()));
        assert_eq!(role_add(&mut s, "r1"), Err(AuthError::RoleAlreadyExists));
        assert_eq!(role_add(&mut s, ""), Err(AuthError::RoleEmpty));
        assert_eq!(user_grant_role(&mut s, "bob", "r1"), Ok(()));
        let rev = s.revision;
        assert_eq!(user_grant_role(&mut s, "bob", "r1"), Ok(()));
        assert_eq!(s.revision, rev, "a repeated grant changes nothing");
        assert_eq!(user_get(&s, "bob"), Ok(vec!["r1".into(), "root".into()]));
        assert_eq!(
            user_revoke_role(&mut s, "alice", "r1"),
            Err(AuthError::RoleNotGranted)
        );

        // Deleting a role takes it from its users.
        assert_eq!(role_delete(&mut s, "r1"), Ok(()));
        assert_eq!(user_get(&s, "bob"), Ok(vec!["root".into()]));
        assert_eq!(role_delete(&mut s, "r1"), Err(AuthError::RoleNotFound));

        // With auth on, root keeps its user and role.
        s.enabled = true;
        assert_eq!(user_delete(&mut s, ROOT), Err(AuthError::InvalidAuthMgmt));
        assert_eq!(
            user_revoke_role(&mut s, ROOT, ROOT),
            Err(AuthError::InvalidAuthMgmt)
        );
        assert_eq!(role_delete(&mut s, ROOT), Err(AuthError::InvalidAuthMgmt));
        assert_eq!(user_delete(&mut s, "bob"), Ok(()));
        assert_eq!(user_delete(&mut s, "bob"), Err(AuthError::UserNotFound));
        assert_eq!(
            user_change_password(&mut s, "bob", "x"),
            Err(AuthError::UserNotFound)
        );
    }

    #[test]
    fn enabling_needs_root_with_the_root_role() {
        let mut s = initial();
        assert_eq!(enable(&mut s), Err(AuthError::RootUserNotExist));
        user_add(&mut s, ROOT, "h", None).unwrap_or_default();
        assert_eq!(enable(&mut s), Err(AuthError::RootRoleNotExist));
        user_grant_role(&mut s, ROOT, ROOT).unwrap_or_default();
        let rev = s.revision;
        assert_eq!(enable(&mut s), Ok(()));
        assert!(s.enabled);
        assert_eq!(enable(&mut s), Ok(()));
        disable(&mut s);
        assert!(!s.enabled);
        assert_eq!(s.revision, rev, "on and off leave the revision alone");
    }

    #[test]
    fn permissions_are_sorted_replaced_and_revoked_by_exact_range() {
        let mut s = initial();
        assert_eq!(
            role_grant_permission(&mut s, "r", perm("a", "", Type::Read)),
            Err(AuthError::RoleNotFound)
        );
        role_add(&mut s, "r").unwrap_or_default();
        assert_eq!(
            role_grant_permission(&mut s, "r", None),
            Err(AuthError::PermissionNotGiven)
        );
        for p in [
            perm("m", "", Type::Read),
            perm("b", "c", Type::Write),
            perm("b", "", Type::Read),
            perm("m", "", Type::Readwrite),
        ] {
            assert_eq!(role_grant_permission(&mut s, "r", p), Ok(()));
        }
        let got: Vec<(String, String, i32)> = role_get(&s, "r")
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.key).into_owned(),
                    String::from_utf8_lossy(&p.range_end).into_owned(),
                    p.perm_type,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("b".into(), "c".into(), Type::Write as i32),
                ("b".into(), "".into(), Type::Read as i32),
                ("m".into(), "".into(), Type::Readwrite as i32),
            ]
        );
        assert_eq!(
            role_revoke_permission(&mut s, "r", b"b", b"d"),
            Err(AuthError::PermissionNotGranted)
        );
        assert_eq!(role_revoke_permission(&mut s, "r", b"b", b"c"), Ok(()));
        assert_eq!(role_get(&s, "r").map(|p| p.len()), Ok(2));
    }

    #[test]
    fn the_record_round_trips() {
        let mut s = initial();
        user_add(&mut s, "u", "hash", None).unwrap_or_default();
        assert_eq!(decode(Some(encode(&s))).ok(), Some(s));
        assert_eq!(decode(None).ok(), Some(initial()));
        assert!(decode(Some(vec![0xff, 0xff])).is_err());
    }
}
