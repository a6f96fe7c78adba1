//! etcd 3.5's downgrade job: `DowngradeInfoSet` entries record whether a
//! downgrade is enabled and to which version (one record in `meta`).

use prost::Message;

use crate::proto::membershippb::DowngradeInfoSetRequest;
use crate::storage::{StorageError, StorageResult, Store, WriteBatch};

const DOWNGRADE_META_KEY: &str = "downgrade";

/// Records the job as etcd's apply does: disabled carries no version.
pub fn apply(batch: &mut WriteBatch<'_>, req: &DowngradeInfoSetRequest) -> StorageResult<()> {
    let info = DowngradeInfoSetRequest {
        enabled: req.enabled,
        ver: if req.enabled {
            req.ver.clone()
        } else {
            String::new()
        },
    };
    if info.enabled {
        tracing::info!(target_version = %info.ver, "the server is ready to downgrade");
    }
    batch.put_meta(DOWNGRADE_META_KEY, &info.encode_to_vec())
}

/// The job as last applied (disabled if none was ever set).
pub fn current(store: &Store) -> StorageResult<DowngradeInfoSetRequest> {
    match store.get_meta(DOWNGRADE_META_KEY)? {
        None => Ok(DowngradeInfoSetRequest::default()),
        Some(bytes) => DowngradeInfoSetRequest::decode(bytes.as_slice())
            .map_err(|err| StorageError::Corrupt(format!("downgrade record: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::proto::etcdserverpb::InternalRaftRequest;

    fn set(store: &Store, enabled: bool, ver: &str) {
        let req = InternalRaftRequest {
            downgrade_info_set: Some(DowngradeInfoSetRequest {
                enabled,
                ver: ver.into(),
            }),
            ..Default::default()
        };
        let mut batch = store.begin_batch().unwrap();
        super::super::apply_request(&mut batch, &req, &super::super::NoLeases).unwrap();
        batch.commit(store.consistent_index() + 1).unwrap();
    }

    #[test]
    fn enable_then_cancel() {
        let (_dir, store) = open_store();
        assert!(!current(&store).unwrap().enabled);
        set(&store, true, "3.4.0");
        assert_eq!(current(&store).unwrap().ver, "3.4.0");
        set(&store, false, "3.4.0");
        assert_eq!(current(&store).unwrap(), DowngradeInfoSetRequest::default());
    }
}
