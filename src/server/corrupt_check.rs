//! `--experimental-initial-corrupt-check`: before serving clients, a member
//! hashes its key space at its current revision and asks every peer for its
//! hash at that revision. A peer with the same compaction and a different
//! hash means this member's data (or the peer's) is corrupt: the boot stops
//! with etcd's "found data inconsistency with peers". A peer that cannot
//! answer (down, behind, compacted past the revision) is only a warning, as
//! in etcd: the check cannot tell anything from it.

use std::time::Duration;

use actix::Addr;

use super::BootError;
use crate::actors::mvcc_store::{HashKv, MvccReader};
use crate::proto::etcdserverpb::{HashKvRequest, HashKvResponse};
use crate::proto::oxcdpeer::peer_client::PeerClient;
use crate::storage::mvcc::KvHash;

/// What one peer's answer says about this member's data.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Same,
    Mismatch {
        peer_hash: u32,
    },
    /// Hashes differ but so do compactions: nothing can be concluded.
    DifferentCompaction {
        peer_compact: i64,
    },
    Unknown(String),
}

fn judge(local: &KvHash, answer: Result<HashKvResponse, String>) -> Verdict {
    match answer {
        Ok(peer) if peer.hash == local.hash => Verdict::Same,
        Ok(peer) if peer.compact_revision == local.compact_revision => Verdict::Mismatch {
            peer_hash: peer.hash,
        },
        Ok(peer) => Verdict::DifferentCompaction {
            peer_compact: peer.compact_revision,
        },
        Err(reason) => Verdict::Unknown(reason),
    }
}

/// Runs the check; `peers` are the other members' ids and peer URLs.
pub(super) async fn initial_corrupt_check(
    readers: &Addr<MvccReader>,
    local_id: u64,
    peers: Vec<(u64, Vec<String>)>,
    timeout: Duration,
) -> Result<(), BootError> {
    tracing::info!(
        local_member_id = format!("{local_id:x}"),
        ?timeout,
        "starting initial corruption check"
    );
    let local = readers
        .send(HashKv { revision: 0 })
        .await
        .map_err(|e| BootError::Invalid(format!("initial corruption check: {e}")))??;
    let mut mismatches = 0;
    for (peer_id, urls) in peers {
        let answer = tokio::time::timeout(timeout, peer_hash(&urls, local.revision))
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
        let peer = format!("{peer_id:x}");
        match judge(&local, answer) {
            Verdict::Same => {}
            Verdict::Mismatch { peer_hash } => {
                mismatches += 1;
                tracing::error!(
                    local_member_id = format!("{local_id:x}"),
                    local_member_hash = local.hash,
                    remote_peer_id = peer,
                    remote_peer_hash = peer_hash,
                    revision = local.revision,
                    compact_revision = local.compact_revision,
                    "found different hash values from remote peer"
                );
            }
            Verdict::DifferentCompaction { peer_compact } => tracing::warn!(
                remote_peer_id = peer,
                local_compact_revision = local.compact_revision,
                remote_peer_compact_revision = peer_compact,
                "cannot check hash of peer: peer has a different compact revision"
            ),
            Verdict::Unknown(reason) => tracing::warn!(
                remote_peer_id = peer,
                revision = local.revision,
                "cannot check the hash of peer: {reason}"
            ),
        }
    }
    if mismatches > 0 {
        return Err(BootError::Invalid(format!(
            "{local_id:x} found data inconsistency with peers"
        )));
    }
    tracing::info!(
        local_member_id = format!("{local_id:x}"),
        "initial corruption checking passed; no corruption"
    );
    Ok(())
}

/// The peer's hash at `revision`, from the first of its URLs that answers.
pub(super) async fn peer_hash(urls: &[String], revision: i64) -> Result<HashKvResponse, String> {
    let mut last = "no peer URL".to_string();
    for url in urls {
        let endpoint = match tonic::transport::Endpoint::from_shared(url.clone()) {
            Ok(endpoint) => endpoint.connect_timeout(Duration::from_secs(1)),
            Err(err) => {
                last = err.to_string();
                continue;
            }
        };
        let channel = match crate::peer_dial::connect(endpoint).await {
            Ok(channel) => channel,
            Err(err) => {
                last = format!("{url}: {err}");
                continue;
            }
        };
        match PeerClient::new(channel)
            .hash_kv(HashKvRequest { revision })
            .await
        {
            Ok(answer) => return Ok(answer.into_inner()),
            // Behind this revision, or compacted past it: etcd's own
            // errors say which.
            Err(status) => last = status.message().to_string(),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> KvHash {
        KvHash {
            hash: 7,
            revision: 10,
            current_revision: 10,
            compact_revision: 4,
        }
    }

    fn answer(hash: u32, compact_revision: i64) -> Result<HashKvResponse, String> {
        Ok(HashKvResponse {
            hash,
            compact_revision,
            ..Default::default()
        })
    }

    #[test]
    fn only_a_different_hash_at_the_same_compaction_is_corruption() {
        assert_eq!(judge(&local(), answer(7, 4)), Verdict::Same);
        assert_eq!(
            judge(&local(), answer(8, 4)),
            Verdict::Mismatch { peer_hash: 8 }
        );
        assert_eq!(
            judge(&local(), answer(8, 6)),
            Verdict::DifferentCompaction { peer_compact: 6 }
        );
        let behind = Err("etcdserver: mvcc: required revision is a future revision".to_string());
        assert!(matches!(judge(&local(), behind), Verdict::Unknown(_)));
    }
}
