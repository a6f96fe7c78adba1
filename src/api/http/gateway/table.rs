//! The gateway's routes: etcd's `google.api.http` annotations (3.5's paths:
//! `hashkv` and `downgrade` included), each with its gRPC method, its
//! message types and whether it streams.

/// How the messages of an RPC travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Unary,
    /// The response is a stream (each message a `{"result": ...}` line).
    ServerStream,
    /// Both ways: the request body may hold several JSON messages.
    BidiStream,
}

pub struct Route {
    /// The path after `/v3` (`/kv/range`).
    pub path: &'static str,
    /// The gRPC path (`/etcdserverpb.KV/Range`).
    pub rpc: &'static str,
    pub input: &'static str,
    pub output: &'static str,
    pub shape: Shape,
}

macro_rules! routes {
    ($($path:literal => $pkg:literal $svc:literal $method:literal ($input:literal -> $output:literal) $shape:ident;)*) => {
        &[$(Route {
            path: $path,
            rpc: concat!("/", $pkg, ".", $svc, "/", $method),
            input: concat!($pkg, ".", $input),
            output: concat!($pkg, ".", $output),
            shape: Shape::$shape,
        },)*]
    };
}

pub static ROUTES: &[Route] = routes! {
    "/kv/range" => "etcdserverpb" "KV" "Range" ("RangeRequest" -> "RangeResponse") Unary;
    "/kv/put" => "etcdserverpb" "KV" "Put" ("PutRequest" -> "PutResponse") Unary;
    "/kv/deleterange" => "etcdserverpb" "KV" "DeleteRange" ("DeleteRangeRequest" -> "DeleteRangeResponse") Unary;
    "/kv/txn" => "etcdserverpb" "KV" "Txn" ("TxnRequest" -> "TxnResponse") Unary;
    "/kv/compaction" => "etcdserverpb" "KV" "Compact" ("CompactionRequest" -> "CompactionResponse") Unary;
    "/watch" => "etcdserverpb" "Watch" "Watch" ("WatchRequest" -> "WatchResponse") BidiStream;
    "/lease/grant" => "etcdserverpb" "Lease" "LeaseGrant" ("LeaseGrantRequest" -> "LeaseGrantResponse") Unary;
    "/lease/revoke" => "etcdserverpb" "Lease" "LeaseRevoke" ("LeaseRevokeRequest" -> "LeaseRevokeResponse") Unary;
    "/kv/lease/revoke" => "etcdserverpb" "Lease" "LeaseRevoke" ("LeaseRevokeRequest" -> "LeaseRevokeResponse") Unary;
    "/lease/keepalive" => "etcdserverpb" "Lease" "LeaseKeepAlive" ("LeaseKeepAliveRequest" -> "LeaseKeepAliveResponse") BidiStream;
    "/lease/timetolive" => "etcdserverpb" "Lease" "LeaseTimeToLive" ("LeaseTimeToLiveRequest" -> "LeaseTimeToLiveResponse") Unary;
    "/kv/lease/timetolive" => "etcdserverpb" "Lease" "LeaseTimeToLive" ("LeaseTimeToLiveRequest" -> "LeaseTimeToLiveResponse") Unary;
    "/lease/leases" => "etcdserverpb" "Lease" "LeaseLeases" ("LeaseLeasesRequest" -> "LeaseLeasesResponse") Unary;
    "/kv/lease/leases" => "etcdserverpb" "Lease" "LeaseLeases" ("LeaseLeasesRequest" -> "LeaseLeasesResponse") Unary;
    "/cluster/member/add" => "etcdserverpb" "Cluster" "MemberAdd" ("MemberAddRequest" -> "MemberAddResponse") Unary;
    "/cluster/member/remove" => "etcdserverpb" "Cluster" "MemberRemove" ("MemberRemoveRequest" -> "MemberRemoveResponse") Unary;
    "/cluster/member/update" => "etcdserverpb" "Cluster" "MemberUpdate" ("MemberUpdateRequest" -> "MemberUpdateResponse") Unary;
    "/cluster/member/list" => "etcdserverpb" "Cluster" "MemberList" ("MemberListRequest" -> "MemberListResponse") Unary;
    "/cluster/member/promote" => "etcdserverpb" "Cluster" "MemberPromote" ("MemberPromoteRequest" -> "MemberPromoteResponse") Unary;
    "/maintenance/alarm" => "etcdserverpb" "Maintenance" "Alarm" ("AlarmRequest" -> "AlarmResponse") Unary;
    "/maintenance/status" => "etcdserverpb" "Maintenance" "Status" ("StatusRequest" -> "StatusResponse") Unary;
    "/maintenance/defragment" => "etcdserverpb" "Maintenance" "Defragment" ("DefragmentRequest" -> "DefragmentResponse") Unary;
    "/maintenance/hash" => "etcdserverpb" "Maintenance" "Hash" ("HashRequest" -> "HashResponse") Unary;
    "/maintenance/hashkv" => "etcdserverpb" "Maintenance" "HashKV" ("HashKVRequest" -> "HashKVResponse") Unary;
    "/maintenance/snapshot" => "etcdserverpb" "Maintenance" "Snapshot" ("SnapshotRequest" -> "SnapshotResponse") ServerStream;
    "/maintenance/transfer-leadership" => "etcdserverpb" "Maintenance" "MoveLeader" ("MoveLeaderRequest" -> "MoveLeaderResponse") Unary;
    "/maintenance/downgrade" => "etcdserverpb" "Maintenance" "Downgrade" ("DowngradeRequest" -> "DowngradeResponse") Unary;
    "/auth/enable" => "etcdserverpb" "Auth" "AuthEnable" ("AuthEnableRequest" -> "AuthEnableResponse") Unary;
    "/auth/disable" => "etcdserverpb" "Auth" "AuthDisable" ("AuthDisableRequest" -> "AuthDisableResponse") Unary;
    "/auth/status" => "etcdserverpb" "Auth" "AuthStatus" ("AuthStatusRequest" -> "AuthStatusResponse") Unary;
    "/auth/authenticate" => "etcdserverpb" "Auth" "Authenticate" ("AuthenticateRequest" -> "AuthenticateResponse") Unary;
    "/auth/user/add" => "etcdserverpb" "Auth" "UserAdd" ("AuthUserAddRequest" -> "AuthUserAddResponse") Unary;
    "/auth/user/get" => "etcdserverpb" "Auth" "UserGet" ("AuthUserGetRequest" -> "AuthUserGetResponse") Unary;
    "/auth/user/list" => "etcdserverpb" "Auth" "UserList" ("AuthUserListRequest" -> "AuthUserListResponse") Unary;
    "/auth/user/delete" => "etcdserverpb" "Auth" "UserDelete" ("AuthUserDeleteRequest" -> "AuthUserDeleteResponse") Unary;
    "/auth/user/changepw" => "etcdserverpb" "Auth" "UserChangePassword" ("AuthUserChangePasswordRequest" -> "AuthUserChangePasswordResponse") Unary;
    "/auth/user/grant" => "etcdserverpb" "Auth" "UserGrantRole" ("AuthUserGrantRoleRequest" -> "AuthUserGrantRoleResponse") Unary;
    "/auth/user/revoke" => "etcdserverpb" "Auth" "UserRevokeRole" ("AuthUserRevokeRoleRequest" -> "AuthUserRevokeRoleResponse") Unary;
    "/auth/role/add" => "etcdserverpb" "Auth" "RoleAdd" ("AuthRoleAddRequest" -> "AuthRoleAddResponse") Unary;
    "/auth/role/get" => "etcdserverpb" "Auth" "RoleGet" ("AuthRoleGetRequest" -> "AuthRoleGetResponse") Unary;
    "/auth/role/list" => "etcdserverpb" "Auth" "RoleList" ("AuthRoleListRequest" -> "AuthRoleListResponse") Unary;
    "/auth/role/delete" => "etcdserverpb" "Auth" "RoleDelete" ("AuthRoleDeleteRequest" -> "AuthRoleDeleteResponse") Unary;
    "/auth/role/grant" => "etcdserverpb" "Auth" "RoleGrantPermission" ("AuthRoleGrantPermissionRequest" -> "AuthRoleGrantPermissionResponse") Unary;
    "/auth/role/revoke" => "etcdserverpb" "Auth" "RoleRevokePermission" ("AuthRoleRevokePermissionRequest" -> "AuthRoleRevokePermissionResponse") Unary;
    "/lock/lock" => "v3lockpb" "Lock" "Lock" ("LockRequest" -> "LockResponse") Unary;
    "/lock/unlock" => "v3lockpb" "Lock" "Unlock" ("UnlockRequest" -> "UnlockResponse") Unary;
    "/election/campaign" => "v3electionpb" "Election" "Campaign" ("CampaignRequest" -> "CampaignResponse") Unary;
    "/election/proclaim" => "v3electionpb" "Election" "Proclaim" ("ProclaimRequest" -> "ProclaimResponse") Unary;
    "/election/leader" => "v3electionpb" "Election" "Leader" ("LeaderRequest" -> "LeaderResponse") Unary;
    "/election/observe" => "v3electionpb" "Election" "Observe" ("LeaderRequest" -> "LeaderResponse") ServerStream;
    "/election/resign" => "v3electionpb" "Election" "Resign" ("ResignRequest" -> "ResignResponse") Unary;
};

/// The route for a request path (`/v3/...` or etcd 3.4's `/v3beta/...`).
pub fn find(path: &str) -> Option<&'static Route> {
    let rest = path
        .strip_prefix("/v3beta")
        .or_else(|| path.strip_prefix("/v3"))?;
    ROUTES.iter().find(|r| r.path == rest)
}
