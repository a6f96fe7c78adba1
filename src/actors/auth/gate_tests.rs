//! The gate resolves callers and makes etcd's checks outside raft.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::proto::etcdserverpb::{AuthRoleAddRequest, InternalRaftRequest, RequestHeader};
use crate::storage::apply::auth_tests::setup;
use crate::storage::apply::test_support::{apply, open_store};

fn gate(store: Store, cert_auth: bool) -> AuthGate {
    let tokens = Arc::new(Tokens::simple(Duration::from_secs(300)));
    AuthGate::new(Arc::new(store), tokens, cert_auth)
}

fn token(token: &str) -> Credentials {
    Credentials {
        token: Some(token.into()),
        ..Default::default()
    }
}

fn auth_err(result: ServerResult<impl std::fmt::Debug>) -> Option<AuthError> {
    match result {
        Err(ServerError::Auth(e)) => Some(e),
        _ => None,
    }
}

#[test]
fn with_auth_off_nothing_is_checked_but_a_token_must_be_valid() {
    let (_dir, store) = open_store();
    let gate = gate(store, false);
    assert_eq!(gate.proposer(&Credentials::default()).unwrap(), None);
    assert!(gate.check_read(None, b"k", b"").is_ok());
    assert!(gate.check_builtin_admin(&Credentials::default()).is_ok());
    assert_eq!(
        auth_err(gate.proposer(&token("forged.1"))),
        Some(AuthError::InvalidAuthToken)
    );
}

#[test]
fn with_auth_on_the_token_holder_is_checked_at_the_current_revision() {
    let (_dir, store) = open_store();
    setup(&store);
    let gate = gate(store, false);
    let revision = gate.current_revision();
    let alice = gate.tokens().assign("p", 9, "alice", revision);
    let root = gate.tokens().assign("q", 10, "root", revision);

    // No credentials: no user.
    assert_eq!(gate.identify(&Credentials::default()).unwrap(), None);
    assert_eq!(
        auth_err(gate.check_read(None, b"b", b"")),
        Some(AuthError::UserEmpty)
    );
    assert_eq!(
        auth_err(gate.check_builtin_admin(&Credentials::default())),
        Some(AuthError::UserEmpty)
    );

    let who = gate.identify(&token(&alice)).unwrap();
    assert_eq!(
        who,
        Some(Identity {
            user: "alice".into(),
            revision
        })
    );
    assert!(gate.check_read(who.as_ref(), b"b", b"c").is_ok());
    assert_eq!(
        auth_err(gate.check_read(who.as_ref(), b"b", b"z")),
        Some(AuthError::PermissionDenied)
    );
    assert_eq!(
        auth_err(gate.check_builtin_admin(&token(&alice))),
        Some(AuthError::PermissionDenied)
    );
    assert!(gate.check_builtin_admin(&token(&root)).is_ok());
    // The server's own requests run as root.
    let internal = gate.identify(&Credentials::internal()).unwrap();
    assert_eq!(internal.map(|i| i.user), Some("root".to_string()));

    // A change of the auth store after the caller was identified: the read
    // that raced it is refused, the next identification is current again.
    let bump = InternalRaftRequest {
        header: Some(RequestHeader {
            username: "root".into(),
            auth_revision: revision,
            ..Default::default()
        }),
        auth_role_add: Some(AuthRoleAddRequest { name: "x".into() }),
        ..Default::default()
    };
    apply(&gate.store, bump).unwrap();
    assert_eq!(
        auth_err(gate.check_still_current(who.as_ref())),
        Some(AuthError::OldRevision)
    );
    let again = gate.identify(&token(&alice)).unwrap();
    assert!(gate.check_still_current(again.as_ref()).is_ok());
}

#[test]
fn a_certificate_names_the_user_only_with_client_cert_auth_and_no_token() {
    let cn = Credentials {
        common_name: Some("root".into()),
        ..Default::default()
    };
    let (_dir, store) = open_store();
    setup(&store);
    let without = gate(store, false);
    assert_eq!(without.identify(&cn).unwrap(), None);

    let (_dir2, store) = open_store();
    setup(&store);
    let with = gate(store, true);
    assert!(with.check_builtin_admin(&cn).is_ok());
    let forged = Credentials {
        token: Some("forged.3".into()),
        ..cn
    };
    assert_eq!(
        auth_err(with.identify(&forged)),
        Some(AuthError::InvalidAuthToken)
    );
}
