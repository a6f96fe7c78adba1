//! Auth requests as the state machine applies them: user and role changes
//! and the reads etcd also sends through raft (so they see every change
//! applied before them). Passwords arrive hashed by the API layer.

use crate::proto::etcdserverpb::*;
use crate::storage::auth as store;
use crate::storage::{StorageResult, WriteBatch};

use super::header;

/// The answer to one applied auth request.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthApplied {
    /// A login was accepted; the token (empty here) is minted by whoever
    /// applied it, from the entry's index and the proposer's prefix.
    Authenticate {
        response: AuthenticateResponse,
        user: String,
        revision: u64,
    },
    Enable(AuthEnableResponse),
    Disable(AuthDisableResponse),
    Status(AuthStatusResponse),
    UserAdd(AuthUserAddResponse),
    UserGet(AuthUserGetResponse),
    UserList(AuthUserListResponse),
    UserDelete(AuthUserDeleteResponse),
    UserChangePassword(AuthUserChangePasswordResponse),
    UserGrantRole(AuthUserGrantRoleResponse),
    UserRevokeRole(AuthUserRevokeRoleResponse),
    RoleAdd(AuthRoleAddResponse),
    RoleGet(AuthRoleGetResponse),
    RoleList(AuthRoleListResponse),
    RoleDelete(AuthRoleDeleteResponse),
    RoleGrantPermission(AuthRoleGrantPermissionResponse),
    RoleRevokePermission(AuthRoleRevokePermissionResponse),
}

/// Whether `req` is an auth request this module applies.
pub fn is_auth(req: &InternalRaftRequest) -> bool {
    req.authenticate.is_some()
        || req.auth_enable.is_some()
        || req.auth_disable.is_some()
        || req.auth_status.is_some()
        || req.auth_user_add.is_some()
        || req.auth_user_get.is_some()
        || req.auth_user_list.is_some()
        || req.auth_user_delete.is_some()
        || req.auth_user_change_password.is_some()
        || req.auth_user_grant_role.is_some()
        || req.auth_user_revoke_role.is_some()
        || req.auth_role_add.is_some()
        || req.auth_role_get.is_some()
        || req.auth_role_list.is_some()
        || req.auth_role_delete.is_some()
        || req.auth_role_grant_permission.is_some()
        || req.auth_role_revoke_permission.is_some()
}

/// Applies an auth request (see [`is_auth`]). A refused change leaves the
/// record as it was.
pub fn apply(batch: &mut WriteBatch<'_>, req: &InternalRaftRequest) -> StorageResult<AuthApplied> {
    let before = batch.with_auth(|s| s.clone());
    let mut state = before.clone();
    let h = header(batch.rev());
    let applied = if let Some(r) = &req.authenticate {
        // The password was checked by the member that proposed this; here
        // only what may have changed since: auth still on, user still able
        // to log in.
        store::login_hash(&state, &r.name)?;
        AuthApplied::Authenticate {
            response: AuthenticateResponse {
                header: h,
                token: String::new(),
            },
            user: r.name.clone(),
            revision: state.revision,
        }
    } else if req.auth_enable.is_some() {
        store::enable(&mut state)?;
        AuthApplied::Enable(AuthEnableResponse { header: h })
    } else if req.auth_disable.is_some() {
        store::disable(&mut state);
        AuthApplied::Disable(AuthDisableResponse { header: h })
    } else if req.auth_status.is_some() {
        AuthApplied::Status(AuthStatusResponse {
            header: h,
            enabled: state.enabled,
            auth_revision: state.revision,
        })
    } else if let Some(r) = &req.auth_user_add {
        store::user_add(&mut state, &r.name, &r.hashed_password, r.options)?;
        AuthApplied::UserAdd(AuthUserAddResponse { header: h })
    } else if let Some(r) = &req.auth_user_get {
        let roles = store::user_get(&state, &r.name)?;
        AuthApplied::UserGet(AuthUserGetResponse { header: h, roles })
    } else if req.auth_user_list.is_some() {
        let users = store::user_list(&state);
        AuthApplied::UserList(AuthUserListResponse { header: h, users })
    } else if let Some(r) = &req.auth_user_delete {
        store::user_delete(&mut state, &r.name)?;
        AuthApplied::UserDelete(AuthUserDeleteResponse { header: h })
    } else if let Some(r) = &req.auth_user_change_password {
        store::user_change_password(&mut state, &r.name, &r.hashed_password)?;
        AuthApplied::UserChangePassword(AuthUserChangePasswordResponse { header: h })
    } else if let Some(r) = &req.auth_user_grant_role {
        store::user_grant_role(&mut state, &r.user, &r.role)?;
        AuthApplied::UserGrantRole(AuthUserGrantRoleResponse { header: h })
    } else if let Some(r) = &req.auth_user_revoke_role {
        store::user_revoke_role(&mut state, &r.name, &r.role)?;
        AuthApplied::UserRevokeRole(AuthUserRevokeRoleResponse { header: h })
    } else if let Some(r) = &req.auth_role_add {
        store::role_add(&mut state, &r.name)?;
        AuthApplied::RoleAdd(AuthRoleAddResponse { header: h })
    } else if let Some(r) = &req.auth_role_get {
        let perm = store::role_get(&state, &r.role)?;
        AuthApplied::RoleGet(AuthRoleGetResponse { header: h, perm })
    } else if req.auth_role_list.is_some() {
        let roles = store::role_list(&state);
        AuthApplied::RoleList(AuthRoleListResponse { header: h, roles })
    } else if let Some(r) = &req.auth_role_delete {
        store::role_delete(&mut state, &r.role)?;
        AuthApplied::RoleDelete(AuthRoleDeleteResponse { header: h })
    } else if let Some(r) = &req.auth_role_grant_permission {
        store::role_grant_permission(&mut state, &r.name, r.perm.clone())?;
        AuthApplied::RoleGrantPermission(AuthRoleGrantPermissionResponse { header: h })
    } else if let Some(r) = &req.auth_role_revoke_permission {
        store::role_revoke_permission(&mut state, &r.role, &r.key, &r.range_end)?;
        AuthApplied::RoleRevokePermission(AuthRoleRevokePermissionResponse { header: h })
    } else {
        return Err(crate::storage::StorageError::InvalidRequest(
            "not an auth request",
        ));
    };
    if state != before {
        batch.put_auth(state)?;
    }
    Ok(applied)
}
