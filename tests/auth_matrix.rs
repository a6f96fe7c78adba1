//! Every RPC against every kind of caller while auth is on, asserting
//! etcd's answer: no credentials, a forged token, a read-only role, a
//! write-only role, root, and a client certificate whose common name is the
//! user (`--client-cert-auth`, etcdctl over https). Nested txns, watches
//! and lease keys are in the table, so none of them can bypass the checks.
//!
//! Where etcd 3.4.23 and 3.5 differ, the table holds 3.5's answer (the
//! version oxcd reports): nested txns are checked, and LeaseTimeToLive with
//! keys needs read on them.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::pki::Pki;
use common::standalone::{ctl, wait_serving, Member};
use common::{free_port, oxcd_bin};
use oxcd::proto::etcdserverpb::auth_client::AuthClient;
use oxcd::proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::*;
use tonic::transport::Channel;
use tonic::Status;

/// Callers, in the table's column order.
const WHO: [&str; 6] = [
    "no token",
    "forged token",
    "reader",
    "writer",
    "root",
    "cert CN",
];

/// etcd's answer, as far as auth goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    /// "etcdserver: user name is empty"
    Empty,
    /// "etcdserver: invalid auth token"
    Token,
    /// "etcdserver: permission denied"
    Denied,
    /// "member not found", "user name not found", "role name not found":
    /// past the auth check.
    NotFound,
    /// Not expressible for this caller (etcdctl cannot send it).
    Skip,
}
use Want::{Denied, Empty, NotFound, Ok as Pass, Skip, Token};

#[derive(Debug, Clone, Copy)]
enum Op {
    RangeK,
    RangeOther,
    PutK,
    PutKPrevKv,
    PutOther,
    DeleteK,
    TxnCompareKPutK,
    TxnNestedPutOther,
    TxnNestedCompareOther,
    Compact,
    LeaseGrant,
    LeaseRevokeOther,
    LeaseTtlKeysOther,
    LeaseTtlNoKeys,
    LeaseLeases,
    LeaseKeepAlive,
    WatchK,
    WatchOther,
    MemberList,
    MemberUpdate,
    MemberRemoveUnknown,
    MemberPromoteUnknown,
    Status,
    HashKv,
    AuthStatus,
    UserList,
    UserGetReader,
    RoleGetRo,
    RoleList,
    UserAdd,
    UserDeleteUnknown,
    UserChangePasswordUnknown,
    UserGrantRoleUnknown,
    RoleAdd,
    RoleDeleteUnknown,
    RoleGrantPermissionUnknown,
    RoleRevokePermissionUnknown,
}

/// The table: each RPC's answer for each caller of `WHO`.
const TABLE: &[(Op, [Want; 6])] = &[
    (Op::RangeK, [Empty, Token, Pass, Denied, Pass, Pass]),
    (Op::RangeOther, [Empty, Token, Denied, Denied, Pass, Pass]),
    (Op::PutK, [Empty, Token, Denied, Pass, Pass, Pass]),
    (Op::PutKPrevKv, [Empty, Token, Denied, Denied, Pass, Pass]),
    (Op::PutOther, [Empty, Token, Denied, Denied, Pass, Pass]),
    (Op::DeleteK, [Empty, Token, Denied, Pass, Pass, Pass]),
    (
        Op::TxnCompareKPutK,
        [Empty, Token, Denied, Denied, Pass, Pass],
    ),
    (
        Op::TxnNestedPutOther,
        [Empty, Token, Denied, Denied, Pass, Skip],
    ),
    (
        Op::TxnNestedCompareOther,
        [Empty, Token, Denied, Denied, Pass, Skip],
    ),
    // etcd does not check compaction: any caller with a valid (or no) token.
    (Op::Compact, [Pass, Token, Pass, Pass, Pass, Pass]),
    (Op::LeaseGrant, [Pass, Token, Pass, Pass, Pass, Pass]),
    (
        Op::LeaseRevokeOther,
        [Empty, Token, Denied, Denied, Pass, Pass],
    ),
    (
        Op::LeaseTtlKeysOther,
        [Empty, Token, Denied, Denied, Pass, Pass],
    ),
    // Without keys etcd looks at no credentials at all.
    (Op::LeaseTtlNoKeys, [Pass, Pass, Pass, Pass, Pass, Pass]),
    (Op::LeaseLeases, [Pass, Pass, Pass, Pass, Pass, Pass]),
    // Renewals look at no credentials either (etcd's LeaseRenew).
    (Op::LeaseKeepAlive, [Pass, Pass, Pass, Pass, Pass, Skip]),
    (Op::WatchK, [Empty, Token, Pass, Denied, Pass, Skip]),
    (Op::WatchOther, [Empty, Token, Denied, Denied, Pass, Skip]),
    (Op::MemberList, [Pass, Pass, Pass, Pass, Pass, Pass]),
    (Op::MemberUpdate, [Empty, Token, Denied, Denied, Pass, Pass]),
    // Checked before the member is looked up: root learns it is unknown.
    (
        Op::MemberRemoveUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (
        Op::MemberPromoteUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (Op::Status, [Pass, Pass, Pass, Pass, Pass, Pass]),
    (Op::HashKv, [Empty, Token, Denied, Denied, Pass, Pass]),
    (Op::AuthStatus, [Pass, Token, Pass, Pass, Pass, Skip]),
    (Op::UserList, [Empty, Token, Denied, Denied, Pass, Pass]),
    // A user may read its own record and the roles it holds.
    (Op::UserGetReader, [Empty, Token, Pass, Denied, Pass, Pass]),
    (Op::RoleGetRo, [Empty, Token, Pass, Denied, Pass, Pass]),
    (Op::RoleList, [Empty, Token, Denied, Denied, Pass, Pass]),
    (Op::UserAdd, [Empty, Token, Denied, Denied, Pass, Pass]),
    // Auth management: refused before the name is looked up, so only root
    // learns that it does not exist.
    (
        Op::UserDeleteUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (
        Op::UserChangePasswordUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (
        Op::UserGrantRoleUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (Op::RoleAdd, [Empty, Token, Denied, Denied, Pass, Pass]),
    (
        Op::RoleDeleteUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (
        Op::RoleGrantPermissionUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
    (
        Op::RoleRevokePermissionUnknown,
        [Empty, Token, Denied, Denied, NotFound, NotFound],
    ),
];

struct Clients {
    kv: KvClient<Channel>,
    lease: LeaseClient<Channel>,
    watch: WatchClient<Channel>,
    cluster: ClusterClient<Channel>,
    maintenance: MaintenanceClient<Channel>,
    auth: AuthClient<Channel>,
    member_id: u64,
    peer_url: String,
    root_token: String,
}

fn req<T>(body: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("token", token.parse().expect("ascii token"));
    }
    request
}

fn put(key: &str, prev_kv: bool) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
        prev_kv,
        ..Default::default()
    }
}

fn op_put(key: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(put(key, false))),
    }
}

impl Clients {
    /// A lease (made by root) with the key "other" attached.
    async fn lease_on_other(&mut self) -> i64 {
        let root = Some(self.root_token.as_str());
        let id = self
            .lease
            .lease_grant(req(LeaseGrantRequest { ttl: 600, id: 0 }, root))
            .await
            .expect("grant")
            .into_inner()
            .id;
        let attach = PutRequest {
            lease: id,
            ..put("other", false)
        };
        self.kv.put(req(attach, root)).await.expect("attach");
        id
    }

    async fn current_revision(&mut self) -> i64 {
        let root = Some(self.root_token.as_str());
        self.kv
            .put(req(put("bump", false), root))
            .await
            .expect("bump")
            .into_inner()
            .header
            .map_or(0, |h| h.revision)
    }

    /// Runs `op` as the holder of `token`; Ok or the refusal.
    async fn call(&mut self, op: Op, token: Option<&str>, n: usize) -> Result<(), Status> {
        let t = token;
        match op {
            Op::RangeK | Op::RangeOther => {
                let key = if matches!(op, Op::RangeK) {
                    "k"
                } else {
                    "other"
                };
                let range = RangeRequest {
                    key: key.into(),
                    ..Default::default()
                };
                self.kv.range(req(range, t)).await.map(drop)
            }
            Op::PutK => self.kv.put(req(put("k", false), t)).await.map(drop),
            Op::PutKPrevKv => self.kv.put(req(put("k", true), t)).await.map(drop),
            Op::PutOther => self.kv.put(req(put("other", false), t)).await.map(drop),
            Op::DeleteK => {
                let del = DeleteRangeRequest {
                    key: b"k".to_vec(),
                    ..Default::default()
                };
                self.kv.delete_range(req(del, t)).await.map(drop)
            }
            Op::TxnCompareKPutK => {
                let txn = TxnRequest {
                    compare: vec![Compare {
                        key: b"k".to_vec(),
                        target: compare::CompareTarget::Version as i32,
                        result: compare::CompareResult::Greater as i32,
                        target_union: Some(compare::TargetUnion::Version(-1)),
                        ..Default::default()
                    }],
                    success: vec![op_put("k")],
                    failure: Vec::new(),
                };
                self.kv.txn(req(txn, t)).await.map(drop)
            }
            Op::TxnNestedCompareOther => {
                let inner = TxnRequest {
                    compare: vec![Compare {
                        key: b"other".to_vec(),
                        target: compare::CompareTarget::Version as i32,
                        result: compare::CompareResult::Greater as i32,
                        target_union: Some(compare::TargetUnion::Version(-1)),
                        ..Default::default()
                    }],
                    success: vec![op_put("k")],
                    failure: Vec::new(),
                };
                let txn = TxnRequest {
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestTxn(inner)),
                    }],
                    ..Default::default()
                };
                self.kv.txn(req(txn, t)).await.map(drop)
            }
            Op::TxnNestedPutOther => {
                let inner = TxnRequest {
                    success: vec![op_put("other")],
                    ..Default::default()
                };
                let txn = TxnRequest {
                    success: vec![
                        op_put("k"),
                        RequestOp {
                            request: Some(request_op::Request::RequestTxn(inner)),
                        },
                    ],
                    ..Default::default()
                };
                self.kv.txn(req(txn, t)).await.map(drop)
            }
            Op::Compact => {
                let revision = self.current_revision().await;
                let compact = CompactionRequest {
                    revision,
                    physical: false,
                };
                self.kv.compact(req(compact, t)).await.map(drop)
            }
            Op::LeaseGrant => {
                let grant = LeaseGrantRequest { ttl: 60, id: 0 };
                self.lease.lease_grant(req(grant, t)).await.map(drop)
            }
            Op::LeaseRevokeOther => {
                let id = self.lease_on_other().await;
                let revoke = LeaseRevokeRequest { id };
                self.lease.lease_revoke(req(revoke, t)).await.map(drop)
            }
            Op::LeaseTtlKeysOther | Op::LeaseTtlNoKeys => {
                let id = self.lease_on_other().await;
                let keys = matches!(op, Op::LeaseTtlKeysOther);
                let ttl = LeaseTimeToLiveRequest { id, keys };
                self.lease.lease_time_to_live(req(ttl, t)).await.map(drop)
            }
            Op::LeaseLeases => self
                .lease
                .lease_leases(req(LeaseLeasesRequest {}, t))
                .await
                .map(drop),
            Op::WatchK | Op::WatchOther => {
                let key = if matches!(op, Op::WatchK) {
                    "k"
                } else {
                    "other"
                };
                self.watch_create(key, t).await
            }
            Op::MemberList => self
                .cluster
                .member_list(req(MemberListRequest::default(), t))
                .await
                .map(drop),
            Op::MemberUpdate => {
                let update = MemberUpdateRequest {
                    id: self.member_id,
                    peer_ur_ls: vec![self.peer_url.clone()],
                };
                self.cluster.member_update(req(update, t)).await.map(drop)
            }
            Op::MemberRemoveUnknown => {
                let remove = MemberRemoveRequest { id: 0x1234_5678 };
                self.cluster.member_remove(req(remove, t)).await.map(drop)
            }
            Op::MemberPromoteUnknown => {
                let promote = MemberPromoteRequest { id: 0x1234_5678 };
                self.cluster.member_promote(req(promote, t)).await.map(drop)
            }
            Op::LeaseKeepAlive => {
                let id = self.lease_on_other().await;
                let renew = futures::stream::iter(vec![LeaseKeepAliveRequest { id }]);
                let mut answers = self
                    .lease
                    .lease_keep_alive(req(renew, t))
                    .await?
                    .into_inner();
                answers.message().await.map(drop)
            }
            Op::UserDeleteUnknown => {
                let delete = AuthUserDeleteRequest {
                    name: "nobody".into(),
                };
                self.auth.user_delete(req(delete, t)).await.map(drop)
            }
            Op::UserChangePasswordUnknown => {
                let change = AuthUserChangePasswordRequest {
                    name: "nobody".into(),
                    password: "x".into(),
                    ..Default::default()
                };
                self.auth
                    .user_change_password(req(change, t))
                    .await
                    .map(drop)
            }
            Op::UserGrantRoleUnknown => {
                let grant = AuthUserGrantRoleRequest {
                    user: "nobody".into(),
                    role: "ro".into(),
                };
                self.auth.user_grant_role(req(grant, t)).await.map(drop)
            }
            Op::RoleAdd => {
                let add = AuthRoleAddRequest {
                    name: format!("role-{n}"),
                };
                self.auth.role_add(req(add, t)).await.map(drop)
            }
            Op::RoleDeleteUnknown => {
                let delete = AuthRoleDeleteRequest {
                    role: "norole".into(),
                };
                self.auth.role_delete(req(delete, t)).await.map(drop)
            }
            Op::RoleGrantPermissionUnknown => {
                let grant = AuthRoleGrantPermissionRequest {
                    name: "norole".into(),
                    perm: Some(oxcd::proto::authpb::Permission {
                        perm_type: 0,
                        key: b"k".to_vec(),
                        range_end: Vec::new(),
                    }),
                };
                self.auth
                    .role_grant_permission(req(grant, t))
                    .await
                    .map(drop)
            }
            Op::RoleRevokePermissionUnknown => {
                let revoke = AuthRoleRevokePermissionRequest {
                    role: "norole".into(),
                    key: b"k".to_vec(),
                    range_end: Vec::new(),
                };
                self.auth
                    .role_revoke_permission(req(revoke, t))
                    .await
                    .map(drop)
            }
            Op::Status => self
                .maintenance
                .status(req(StatusRequest {}, t))
                .await
                .map(drop),
            Op::HashKv => self
                .maintenance
                .hash_kv(req(HashKvRequest { revision: 0 }, t))
                .await
                .map(drop),
            Op::AuthStatus => self
                .auth
                .auth_status(req(AuthStatusRequest {}, t))
                .await
                .map(drop),
            Op::UserList => self
                .auth
                .user_list(req(AuthUserListRequest {}, t))
                .await
                .map(drop),
            Op::UserGetReader => {
                let get = AuthUserGetRequest {
                    name: "reader".into(),
                };
                self.auth.user_get(req(get, t)).await.map(drop)
            }
            Op::RoleGetRo => {
                let get = AuthRoleGetRequest { role: "ro".into() };
                self.auth.role_get(req(get, t)).await.map(drop)
            }
            Op::RoleList => self
                .auth
                .role_list(req(AuthRoleListRequest {}, t))
                .await
                .map(drop),
            Op::UserAdd => {
                let add = AuthUserAddRequest {
                    name: format!("new-{n}"),
                    password: "pw".into(),
                    ..Default::default()
                };
                self.auth.user_add(req(add, t)).await.map(drop)
            }
        }
    }

    /// A watch create: Ok when created, else the cancel reason as a status.
    async fn watch_create(&mut self, key: &str, token: Option<&str>) -> Result<(), Status> {
        let create = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: key.into(),
                    ..Default::default()
                },
            )),
        };
        let outbound = futures::stream::iter(vec![create]).chain(futures::stream::pending());
        let mut responses = self.watch.watch(req(outbound, token)).await?.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(5), responses.message())
            .await
            .expect("watch answered")?
            .expect("a response");
        assert!(first.created, "{first:?}");
        if first.canceled {
            return Err(Status::unknown(first.cancel_reason));
        }
        Ok(())
    }
}

use futures::StreamExt as _;

/// What an answer means for auth.
fn classify(text: &str, ok: bool) -> Result<Want, String> {
    if ok {
        return Ok(Want::Ok);
    }
    for (needle, want) in [
        ("etcdserver: user name is empty", Empty),
        ("etcdserver: invalid auth token", Token),
        ("etcdserver: permission denied", Denied),
        ("etcdserver: member not found", NotFound),
        ("etcdserver: user name not found", NotFound),
        ("etcdserver: role name not found", NotFound),
    ] {
        if text.contains(needle) {
            return Ok(want);
        }
    }
    Err(text.to_string())
}

/// The etcdctl command for `op` (over https, as the certificate's user).
fn ctl_args(op: Op, lease: &str, member: &str, peer: &str, rev: &str) -> Option<Vec<String>> {
    let args: Vec<&str> = match op {
        Op::RangeK => vec!["get", "k"],
        Op::RangeOther => vec!["get", "other"],
        Op::PutK => vec!["put", "k", "v"],
        Op::PutKPrevKv => vec!["put", "k", "v", "--prev-kv"],
        Op::PutOther => vec!["put", "other", "v"],
        Op::DeleteK => vec!["del", "k"],
        Op::TxnCompareKPutK => vec!["txn"],
        Op::Compact => vec!["compaction", rev],
        Op::LeaseGrant => vec!["lease", "grant", "60"],
        Op::LeaseRevokeOther => vec!["lease", "revoke", lease],
        Op::LeaseTtlKeysOther => vec!["lease", "timetolive", lease, "--keys"],
        Op::LeaseTtlNoKeys => vec!["lease", "timetolive", lease],
        Op::LeaseLeases => vec!["lease", "list"],
        Op::MemberList => vec!["member", "list"],
        Op::MemberRemoveUnknown => vec!["member", "remove", "12345678"],
        Op::MemberPromoteUnknown => vec!["member", "promote", "12345678"],
        Op::UserDeleteUnknown => vec!["user", "delete", "nobody"],
        Op::UserChangePasswordUnknown => {
            vec!["user", "passwd", "nobody", "--interactive=false"]
        }
        Op::UserGrantRoleUnknown => vec!["user", "grant-role", "nobody", "ro"],
        Op::RoleAdd => vec!["role", "add", "role-cert"],
        Op::RoleDeleteUnknown => vec!["role", "delete", "norole"],
        Op::RoleGrantPermissionUnknown => vec!["role", "grant-permission", "norole", "read", "k"],
        Op::RoleRevokePermissionUnknown => vec!["role", "revoke-permission", "norole", "k"],
        Op::MemberUpdate => {
            return Some(vec![
                "member".into(),
                "update".into(),
                member.into(),
                format!("--peer-urls={peer}"),
            ])
        }
        Op::Status => vec!["endpoint", "status"],
        Op::HashKv => vec!["endpoint", "hashkv"],
        Op::UserList => vec!["user", "list"],
        Op::UserGetReader => vec!["user", "get", "reader"],
        Op::RoleGetRo => vec!["role", "get", "ro"],
        Op::RoleList => vec!["role", "list"],
        Op::UserAdd => vec!["user", "add", "new-cert:pw", "--interactive=false"],
        Op::TxnNestedPutOther
        | Op::TxnNestedCompareOther
        | Op::LeaseKeepAlive
        | Op::WatchK
        | Op::WatchOther
        | Op::AuthStatus => return None,
    };
    Some(args.into_iter().map(String::from).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_every_caller_as_etcd_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), "certs");
    let (server_cert, server_key) = pki.issue("server", "server", &["127.0.0.1"], false);
    let (cert, key) = pki.issue("client", "certroot", &["client.local"], false);
    let (http, https, peer_port) = (free_port(), free_port(), free_port());
    let peer = format!("http://127.0.0.1:{peer_port}");
    let log = dir.path().join("oxcd.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(oxcd_bin())
        .arg("--name=m")
        .arg(format!("--data-dir={}", dir.path().join("data").display()))
        .arg(format!(
            "--listen-client-urls=http://127.0.0.1:{http},https://127.0.0.1:{https}"
        ))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{http}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=m={peer}"))
        .arg(format!("--cert-file={server_cert}"))
        .arg(format!("--key-file={server_key}"))
        .arg(format!("--trusted-ca-file={}", pki.ca_file()))
        .arg("--client-cert-auth")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn oxcd");
    let mut member = Member {
        child,
        data_dir: dir.path().join("data"),
        log,
    };
    let plain = format!("http://127.0.0.1:{http}");
    wait_serving(&mut member, &plain, &[]);
    for args in [
        "user add root:rootpw --interactive=false",
        "user grant-role root root",
        "user add reader:pw --interactive=false",
        "user add writer:pw --interactive=false",
        "user add certroot --no-password --interactive=false",
        "user grant-role certroot root",
        "role add ro",
        "role add wo",
        "role grant-permission ro read k",
        "role grant-permission wo write k",
        "user grant-role reader ro",
        "user grant-role writer wo",
        "auth enable",
    ] {
        let args: Vec<&str> = args.split(' ').collect();
        let done = ctl(&plain, &[], &args);
        assert!(done.success(), "{args:?}: {done:?}");
    }

    let channel = Channel::from_shared(plain.clone())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let auth = AuthClient::new(channel.clone());
    let login = |name: &str| {
        let request = AuthenticateRequest {
            name: name.into(),
            password: if name == "root" { "rootpw" } else { "pw" }.into(),
        };
        let mut auth = auth.clone();
        async move {
            auth.authenticate(request)
                .await
                .expect("login")
                .into_inner()
                .token
        }
    };
    let (reader, writer, root) = (
        login("reader").await,
        login("writer").await,
        login("root").await,
    );
    let mut cluster = ClusterClient::new(channel.clone());
    let members = cluster
        .member_list(MemberListRequest::default())
        .await
        .expect("members")
        .into_inner()
        .members;
    let mut clients = Clients {
        kv: KvClient::new(channel.clone()),
        lease: LeaseClient::new(channel.clone()),
        watch: WatchClient::new(channel.clone()),
        cluster,
        maintenance: MaintenanceClient::new(channel.clone()),
        auth: AuthClient::new(channel),
        member_id: members[0].id,
        peer_url: peer.clone(),
        root_token: root.clone(),
    };
    let tokens = [
        None,
        Some("abcdefghijklmnop.12345"),
        Some(reader.as_str()),
        Some(writer.as_str()),
        Some(root.as_str()),
    ];

    let endpoint = format!("https://127.0.0.1:{https}");
    let tls = [
        format!("--cacert={}", pki.ca_file()),
        format!("--cert={cert}"),
        format!("--key={key}"),
    ];
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let mut wrong = Vec::new();
    for (n, (op, wants)) in TABLE.iter().enumerate() {
        for (who, token) in tokens.iter().enumerate() {
            let outcome = clients.call(*op, *token, n * 10 + who).await;
            let got = match &outcome {
                Ok(()) => Ok(Want::Ok),
                Err(status) => classify(status.message(), false),
            };
            if got.as_ref() != Ok(&wants[who]) {
                wrong.push(format!(
                    "{op:?} as {}: want {:?}, got {got:?}",
                    WHO[who], wants[who]
                ));
            }
        }
        if wants[5] == Skip {
            continue;
        }
        let lease = format!("{:x}", clients.lease_on_other().await);
        let member_hex = format!("{:x}", clients.member_id);
        let rev = clients.current_revision().await.to_string();
        let args = ctl_args(*op, &lease, &member_hex, &peer, &rev).expect("etcdctl form");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stdin: Option<&[u8]> = match op {
            Op::TxnCompareKPutK => Some(b"version(\"k\") > \"-1\"\n\nput k v\n\n\n"),
            Op::UserChangePasswordUnknown => Some(b"x\n"),
            _ => None,
        };
        let mut all = tls.clone();
        all.extend(["--dial-timeout=2s", "--command-timeout=3s"]);
        all.extend(&args);
        let out = common::etcdctl(&endpoint, &all, stdin, Duration::from_secs(15));
        let text = format!("{}{}", out.stdout_str(), out.stderr_str());
        let got = classify(&text, out.success());
        if got.as_ref() != Ok(&wants[5]) {
            wrong.push(format!(
                "{op:?} as {}: want {:?}, got {got:?}",
                WHO[5], wants[5]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
