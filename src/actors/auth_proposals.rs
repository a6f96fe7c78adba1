//! Auth requests as typed proposals: each goes through raft as etcd sends
//! it (reads too, so they see every change applied before them) and is
//! answered its own response type.

use super::frontend::WriteRequest;
use super::proposal::Proposal;
use crate::proto::etcdserverpb::*;
use crate::storage::apply::auth::AuthApplied;
use crate::storage::apply::ApplyResponse;

macro_rules! auth_proposal {
    ($request:ty => $response:ty, $field:ident, $variant:ident) => {
        impl Proposal for $request {
            type Response = $response;
            const KIND: &'static str = stringify!($variant);
            fn into_write(self) -> WriteRequest {
                WriteRequest::Auth(Box::new(InternalRaftRequest {
                    $field: Some(self),
                    ..Default::default()
                }))
            }
            fn response(applied: ApplyResponse) -> Option<$response> {
                match applied {
                    ApplyResponse::Auth(AuthApplied::$variant(response)) => Some(response),
                    _ => None,
                }
            }
        }
    };
}

auth_proposal!(AuthEnableRequest => AuthEnableResponse, auth_enable, Enable);
auth_proposal!(AuthDisableRequest => AuthDisableResponse, auth_disable, Disable);
auth_proposal!(AuthStatusRequest => AuthStatusResponse, auth_status, Status);
auth_proposal!(AuthUserAddRequest => AuthUserAddResponse, auth_user_add, UserAdd);
auth_proposal!(AuthUserGetRequest => AuthUserGetResponse, auth_user_get, UserGet);
auth_proposal!(AuthUserListRequest => AuthUserListResponse, auth_user_list, UserList);
auth_proposal!(AuthUserDeleteRequest => AuthUserDeleteResponse, auth_user_delete, UserDelete);
auth_proposal!(AuthUserChangePasswordRequest => AuthUserChangePasswordResponse, auth_user_change_password, UserChangePassword);
auth_proposal!(AuthUserGrantRoleRequest => AuthUserGrantRoleResponse, auth_user_grant_role, UserGrantRole);
auth_proposal!(AuthUserRevokeRoleRequest => AuthUserRevokeRoleResponse, auth_user_revoke_role, UserRevokeRole);
auth_proposal!(AuthRoleAddRequest => AuthRoleAddResponse, auth_role_add, RoleAdd);
auth_proposal!(AuthRoleGetRequest => AuthRoleGetResponse, auth_role_get, RoleGet);
auth_proposal!(AuthRoleListRequest => AuthRoleListResponse, auth_role_list, RoleList);
auth_proposal!(AuthRoleDeleteRequest => AuthRoleDeleteResponse, auth_role_delete, RoleDelete);
auth_proposal!(AuthRoleGrantPermissionRequest => AuthRoleGrantPermissionResponse, auth_role_grant_permission, RoleGrantPermission);
auth_proposal!(AuthRoleRevokePermissionRequest => AuthRoleRevokePermissionResponse, auth_role_revoke_permission, RoleRevokePermission);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_request_travels_in_its_own_field_and_gets_its_own_answer() {
        let write = AuthRoleAddRequest { name: "r".into() }.into_write();
        assert!(
            matches!(&write, WriteRequest::Auth(r) if r.auth_role_add.as_ref().map(|a| a.name.as_str()) == Some("r"))
        );
        let applied = ApplyResponse::Auth(AuthApplied::RoleAdd(AuthRoleAddResponse::default()));
        assert!(AuthRoleAddRequest::response(applied.clone()).is_some());
        assert!(AuthRoleDeleteRequest::response(applied).is_none());
    }
}
