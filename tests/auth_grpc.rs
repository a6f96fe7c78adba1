//! Auth through a tonic client, for what etcdctl cannot send or show:
//! AuthStatus and its revision, a grant without a permission, tokens (their
//! shape, a forged one, one outliving auth), and the stored hash never
//! being the password.

use crate::common;

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::auth_client::AuthClient;
use oxcd::proto::etcdserverpb::*;
use tonic::Code;

#[tokio::test]
async fn status_revision_moves_with_changes_only() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut auth = AuthClient::connect(cluster.member(0).client_url())
        .await
        .expect("connect");
    let status = |s: AuthStatusResponse| (s.enabled, s.auth_revision);
    let first = auth
        .auth_status(AuthStatusRequest {})
        .await
        .expect("status");
    assert_eq!(status(first.into_inner()), (false, 1));

    auth.role_add(AuthRoleAddRequest { name: "r".into() })
        .await
        .expect("role add");
    // A refused change and a read leave the revision alone.
    let dup = auth.role_add(AuthRoleAddRequest { name: "r".into() }).await;
    assert_eq!(
        dup.map_err(|s| s.code()).err(),
        Some(Code::FailedPrecondition)
    );
    auth.role_list(AuthRoleListRequest {}).await.expect("list");
    let after = auth
        .auth_status(AuthStatusRequest {})
        .await
        .expect("status");
    assert_eq!(status(after.into_inner()), (false, 2));

    let no_perm = auth
        .role_grant_permission(AuthRoleGrantPermissionRequest {
            name: "r".into(),
            perm: None,
        })
        .await
        .expect_err("no permission given");
    assert_eq!(no_perm.code(), Code::InvalidArgument);
    assert_eq!(no_perm.message(), "etcdserver: permission not given");
    let role = auth
        .role_get(AuthRoleGetRequest { role: "r".into() })
        .await
        .expect("role get");
    assert!(role.into_inner().perm.is_empty());
}

#[tokio::test]
async fn a_token_from_authenticate_is_the_caller_until_auth_goes_off() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let url = cluster.member(0).client_url();
    let mut auth = AuthClient::connect(url.clone()).await.expect("connect");
    let login = |name: &str, password: &str| AuthenticateRequest {
        name: name.into(),
        password: password.into(),
    };
    let off = auth
        .authenticate(login("root", "pw"))
        .await
        .expect_err("off");
    assert_eq!(off.code(), Code::FailedPrecondition);
    assert_eq!(off.message(), "etcdserver: authentication is not enabled");

    auth.user_add(AuthUserAddRequest {
        name: "root".into(),
        password: "pw".into(),
        ..Default::default()
    })
    .await
    .expect("user add");
    auth.user_grant_role(AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .expect("grant");
    auth.auth_enable(AuthEnableRequest {})
        .await
        .expect("enable");
    let token = auth
        .authenticate(login("root", "pw"))
        .await
        .expect("login")
        .into_inner()
        .token;
    // etcd's simple token: 16 letters, a dot, the raft index.
    let (prefix, index) = token.split_once('.').expect("simple token");
    assert!(
        prefix.len() == 16 && index.parse::<u64>().is_ok(),
        "{token}"
    );

    let with_token = |token: &str| {
        let mut request = tonic::Request::new(AuthUserListRequest {});
        request
            .metadata_mut()
            .insert("token", token.parse().expect("ascii"));
        request
    };
    let users = auth.user_list(with_token(&token)).await.expect("as root");
    assert_eq!(users.into_inner().users, vec!["root".to_string()]);
    let anonymous = auth
        .user_list(AuthUserListRequest {})
        .await
        .expect_err("no user");
    assert_eq!(anonymous.message(), "etcdserver: user name is empty");
    let forged = auth
        .user_list(with_token("abcdefghijklmnop.99"))
        .await
        .expect_err("forged");
    assert_eq!(forged.code(), Code::Unauthenticated);
    assert_eq!(forged.message(), "etcdserver: invalid auth token");

    let mut request = tonic::Request::new(AuthDisableRequest {});
    request
        .metadata_mut()
        .insert("token", token.parse().expect("ascii"));
    auth.auth_disable(request).await.expect("disable");
    // Turning auth off ends every token, as in etcd.
    let stale = auth
        .user_list(with_token(&token))
        .await
        .expect_err("token gone");
    assert_eq!(stale.code(), Code::Unauthenticated);
}

#[test]
fn passwords_are_stored_as_bcrypt_hashes_only() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let add = cluster.ctl(&[
        "user",
        "add",
        "carol:plain-secret-17",
        "--interactive=false",
    ]);
    assert!(add.success(), "{add:?}");
    drop(cluster.ctl(&["put", "flush", "x"]));
    // Neither the WAL nor LMDB holds the password in clear.
    let mut seen = Vec::new();
    for entry in walk(cluster.dir()) {
        if let Ok(bytes) = head_of(&entry) {
            if bytes.windows(15).any(|w| w == b"plain-secret-17") {
                seen.push(entry.display().to_string());
            }
        }
    }
    assert!(seen.is_empty(), "password in clear in {seen:?}");
}

/// The first 64 MiB of a file: all a tiny store uses of LMDB's sparse map
/// and of a preallocated WAL segment.
fn head_of(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(64 << 20)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else if path.extension().is_none_or(|e| e != "log") {
                out.push(path);
            }
        }
    }
    out
}
