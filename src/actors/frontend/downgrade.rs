//! Maintenance.Downgrade with etcd 3.5's answers: VALIDATE checks a target
//! version, ENABLE records a downgrade job through raft, CANCEL ends it.
//! Every oxcd member runs the same binary, so a job stays enabled until it
//! is cancelled (etcd's leader cancels it once all members run the target).

use actix::prelude::*;

use super::{FrontEnd, Propose, WriteRequest};
use crate::actors::auth::Credentials;
use crate::actors::mvcc_store::GetDowngrade;
use crate::actors::raft_node::ReadIndex;
use crate::actors::{ServerError, ServerResult};
use crate::proto::etcdserverpb::downgrade_request::DowngradeAction;
use crate::proto::membershippb::DowngradeInfoSetRequest;
use crate::version::ETCD_CLUSTER_VERSION;

/// Answers the cluster version (etcd's `DowngradeResponse.version`).
#[derive(Message)]
#[rtype(result = "ServerResult<String>")]
pub struct Downgrade {
    pub action: i32,
    pub version: String,
    pub credentials: Credentials,
}

impl Handler<Downgrade> for FrontEnd {
    type Result = ResponseFuture<ServerResult<String>>;

    fn handle(&mut self, msg: Downgrade, ctx: &mut Context<Self>) -> Self::Result {
        let (raft, readers, me) = (self.raft.clone(), self.readers.clone(), ctx.address());
        let timeout = self.request_timeout;
        Box::pin(async move {
            let action =
                DowngradeAction::try_from(msg.action).map_err(|_| ServerError::UnknownMethod)?;
            let target = match action {
                DowngradeAction::Cancel => None,
                _ => Some(target_version(&msg.version)?),
            };
            match tokio::time::timeout(timeout, raft.send(ReadIndex)).await {
                Ok(result) => result??,
                Err(_) => return Err(ServerError::Timeout),
            }
            let job = readers.send(GetDowngrade).await??;
            let set = match target {
                Some(target) => {
                    if target != allowed_target() {
                        return Err(ServerError::InvalidDowngradeTarget);
                    }
                    if job.enabled {
                        return Err(ServerError::DowngradeInProcess);
                    }
                    if action == DowngradeAction::Validate {
                        return Ok(ETCD_CLUSTER_VERSION.to_string());
                    }
                    DowngradeInfoSetRequest {
                        enabled: true,
                        ver: format!("{}.{}.0", target.0, target.1),
                    }
                }
                None if !job.enabled => return Err(ServerError::NoInflightDowngrade),
                None => DowngradeInfoSetRequest::default(),
            };
            me.send(Propose {
                body: WriteRequest::Downgrade(set),
                credentials: msg.credentials,
            })
            .await??;
            Ok(ETCD_CLUSTER_VERSION.to_string())
        })
    }
}

/// One minor version below the cluster's (etcd 3.5 allows nothing else).
fn allowed_target() -> (u64, u64) {
    let cluster = target_version(ETCD_CLUSTER_VERSION).unwrap_or((3, 5));
    (cluster.0, cluster.1.saturating_sub(1))
}

/// etcd's reading of a target: a semantic version `M.m.p` (pre-release
/// and build suffixes allowed), or `M.m`; only major and minor count.
fn target_version(text: &str) -> ServerResult<(u64, u64)> {
    semver_major_minor(text)
        .or_else(|| semver_major_minor(&format!("{text}.0")))
        .ok_or(ServerError::WrongDowngradeVersionFormat)
}

fn semver_major_minor(text: &str) -> Option<(u64, u64)> {
    let core = text.split('+').next()?.split('-').next()?;
    let parts: Vec<&str> = core.split('.').collect();
    let [major, minor, patch] = parts.as_slice() else {
        return None;
    };
    let number = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u64>().ok())
            .flatten()
    };
    number(patch)?;
    Some((number(major)?, number(minor)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_targets_as_etcd() {
        assert_eq!(target_version("3.4").unwrap(), (3, 4));
        assert_eq!(target_version("3.4.0").unwrap(), (3, 4));
        assert_eq!(target_version("3.4.7").unwrap(), (3, 4));
        assert_eq!(target_version("3.4.0-rc.1").unwrap(), (3, 4));
        for bad in ["v3.4", "3", "", "3.4.0.1", "a.b", "3.x"] {
            assert!(
                matches!(
                    target_version(bad),
                    Err(ServerError::WrongDowngradeVersionFormat)
                ),
                "{bad}"
            );
        }
        assert_eq!(allowed_target(), (3, 4));
    }
}
