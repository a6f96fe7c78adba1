//! `--auth-token jwt,...`: etcdctl logs in and works with signed tokens; a
//! token signed with another key, an unsigned one, an expired one and one
//! from before a permission change are refused with etcd's errors.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::auth_client::AuthClient;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::*;
use tonic::Code;

/// An ES256 key pair as PEM files in `dir`: (public, private).
fn key_pair(dir: &Path, name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let public = dir.join(format!("{name}.pub.pem"));
    let private = dir.join(format!("{name}.key.pem"));
    std::fs::write(&public, key.public_key_pem()).expect("write");
    std::fs::write(&private, key.serialize_pem()).expect("write");
    (public.display().to_string(), private.display().to_string())
}

fn jwt_flag(public: &str, private: &str, ttl: &str) -> String {
    format!("--auth-token=jwt,pub-key={public},priv-key={private},sign-method=ES256,ttl={ttl}")
}

fn with_token<T>(body: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    request
        .metadata_mut()
        .insert("token", token.parse().expect("ascii"));
    request
}

#[tokio::test]
async fn signed_tokens_work_and_forged_stale_or_expired_ones_do_not() {
    let keys = tempfile::tempdir().expect("tempdir");
    let (public, private) = key_pair(keys.path(), "ours");
    let cluster = Cluster::start_with_args(ServerKind::Oxcd, &[jwt_flag(&public, &private, "3s")]);
    for args in [
        &["user", "add", "root:rootpw", "--interactive=false"][..],
        &["user", "add", "u:upw", "--interactive=false"],
        &["role", "add", "r"],
        &["role", "grant-permission", "r", "readwrite", "k"],
        &["user", "grant-role", "u", "r"],
        &["auth", "enable"],
    ] {
        let out = cluster.ctl(args);
        assert!(out.success(), "{args:?}: {out:?}");
    }
    let put = cluster.ctl(&["--user=u:upw", "put", "k", "v"]);
    assert!(put.success(), "{put:?}");

    let url = cluster.member(0).client_url();
    let mut auth = AuthClient::connect(url.clone()).await.expect("connect");
    let mut kv = KvClient::connect(url).await.expect("connect");
    let login = AuthenticateRequest {
        name: "u".into(),
        password: "upw".into(),
    };
    let token = auth
        .authenticate(login.clone())
        .await
        .expect("login")
        .into_inner()
        .token;
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let get = |t: &str| {
        with_token(
            RangeRequest {
                key: b"k".to_vec(),
                ..Default::default()
            },
            t,
        )
    };
    kv.range(get(&token)).await.expect("read with the token");

    // Forged: another key; no signature at all.
    let (other_public, other_private) = key_pair(keys.path(), "theirs");
    let other = oxcd::actors::auth::jwt::JwtTokens::new(&oxcd::config::JwtOptions {
        sign_method: "ES256".into(),
        pub_key: Some(other_public.into()),
        priv_key: Some(other_private.into()),
        ttl: Duration::from_secs(60),
    })
    .expect("other keys");
    let forged = other.sign("root", 99).expect("sign");
    let refused = kv.range(get(&forged)).await.expect_err("forged");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "etcdserver: invalid auth token");
    let claims = token.split('.').nth(1).expect("claims");
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    let refused = kv.range(get(&unsigned)).await.expect_err("alg none");
    assert_eq!(refused.code(), Code::Unauthenticated);

    // A permission change: the token's auth revision is now old.
    let grant = cluster.ctl(&[
        "--user=root:rootpw",
        "role",
        "grant-permission",
        "r",
        "read",
        "other",
    ]);
    assert!(grant.success(), "{grant:?}");
    let stale = kv.range(get(&token)).await.expect_err("stale");
    assert_eq!(stale.code(), Code::InvalidArgument);
    assert_eq!(stale.message(), "etcdserver: revision of auth store is old");
    let fresh = auth
        .authenticate(login)
        .await
        .expect("login again")
        .into_inner()
        .token;
    kv.range(get(&fresh)).await.expect("a new token works");

    // Expired (ttl 3s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let expired = kv.range(get(&fresh)).await.expect_err("expired");
    assert_eq!(expired.code(), Code::Unauthenticated);
}

#[test]
fn a_bad_jwt_option_stops_the_server_with_its_name() {
    let keys = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(common::oxcd_bin())
        .arg("--auth-token=jwt,pub-key=/nonexistent.pem,sign-method=RS256")
        .arg(format!("--data-dir={}", keys.path().join("d").display()))
        .arg("--listen-client-urls=http://127.0.0.1:0")
        .arg("--advertise-client-urls=http://127.0.0.1:2379")
        .arg("--listen-peer-urls=http://127.0.0.1:0")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--auth-token") && stderr.contains("/nonexistent.pem"),
        "{stderr}"
    );
}
