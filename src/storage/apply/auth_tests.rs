//! Auth at apply time: the record survives a reopen, and with auth on every
//! request is checked for the user and auth revision in its header.

use super::test_support::{apply, open_store, put_req};
use super::ApplyResponse;
use crate::proto::authpb::{permission::Type, Permission};
use crate::proto::etcdserverpb::*;
use crate::storage::auth::AuthError;
use crate::storage::{StorageError, Store, StoreOptions};

fn auth(req: InternalRaftRequest, store: &Store) -> Result<ApplyResponse, StorageError> {
    apply(store, req).map(|(r, _)| r)
}

/// root (role root) and alice (readwrite on [a, m)), auth on.
pub(crate) fn setup(store: &Store) {
    let steps = [
        InternalRaftRequest {
            auth_user_add: Some(AuthUserAddRequest {
                name: "root".into(),
                hashed_password: "h".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_user_grant_role: Some(AuthUserGrantRoleRequest {
                user: "root".into(),
                role: "root".into(),
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_user_add: Some(AuthUserAddRequest {
                name: "alice".into(),
                hashed_password: "h".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_role_add: Some(AuthRoleAddRequest { name: "r".into() }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_role_grant_permission: Some(AuthRoleGrantPermissionRequest {
                name: "r".into(),
                perm: Some(Permission {
                    perm_type: Type::Readwrite as i32,
                    key: "a".into(),
                    range_end: "m".into(),
                }),
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_user_grant_role: Some(AuthUserGrantRoleRequest {
                user: "alice".into(),
                role: "r".into(),
            }),
            ..Default::default()
        },
        InternalRaftRequest {
            auth_enable: Some(AuthEnableRequest {}),
            ..Default::default()
        },
    ];
    for step in steps {
        if let Err(e) = auth(step, store) {
            panic!("setup: {e}");
        }
    }
}

fn as_user(mut req: InternalRaftRequest, user: &str, revision: u64) -> InternalRaftRequest {
    req.header = Some(RequestHeader {
        username: user.into(),
        auth_revision: revision,
        ..Default::default()
    });
    req
}

fn denied(
    result: Result<(ApplyResponse, Vec<crate::proto::mvccpb::Event>), StorageError>,
) -> Option<AuthError> {
    match result {
        Err(StorageError::Auth(e)) => Some(e),
        _ => None,
    }
}

#[test]
fn with_auth_on_requests_are_checked_for_their_header_user() {
    let (dir, store) = open_store();
    setup(&store);
    let revision = store.with_auth(|a| a.revision);
    assert!(store.with_auth(|a| a.enabled));

    assert!(apply(&store, as_user(put_req(b"b", b"1"), "alice", revision)).is_ok());
    assert_eq!(
        denied(apply(
            &store,
            as_user(put_req(b"n", b"1"), "alice", revision)
        )),
        Some(AuthError::PermissionDenied)
    );
    assert_eq!(
        denied(apply(&store, put_req(b"b", b"1"))),
        Some(AuthError::UserEmpty)
    );
    assert_eq!(
        denied(apply(
            &store,
            as_user(put_req(b"b", b"1"), "alice", revision - 1)
        )),
        Some(AuthError::OldRevision)
    );
    assert!(apply(&store, as_user(put_req(b"zzz", b"1"), "root", revision)).is_ok());
    // A denied request changed nothing.
    assert_eq!(store.current_revision(), 3);

    // The record, on included, is read back from LMDB on reopen.
    drop(store);
    let reopened = Store::open(dir.path(), StoreOptions { map_size: 64 << 20 }).unwrap();
    assert!(reopened.with_auth(|a| a.enabled && a.revision == revision));
    assert_eq!(
        denied(apply(
            &reopened,
            as_user(put_req(b"n", b"1"), "alice", revision)
        )),
        Some(AuthError::PermissionDenied)
    );
}
