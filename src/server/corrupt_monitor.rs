//! `--experimental-corrupt-check-time`: every period the leader compares
//! its key-space hash with every member's, as etcd 3.5's `checkHashKV`:
//! its own hash before and after a linearizable barrier (same revision and
//! compaction, different hash: its own data changed under it), and each
//! peer's at the leader's revision (a peer ahead of the leader, compacted
//! further, or with another hash at the same compaction). Any of these
//! raises CORRUPT for member 0 (etcd cannot tell which member is wrong),
//! logging which member and revision; KV requests are refused from then on.
//! The peer dial and hash request are the boot-time check's
//! (`corrupt_check::peer_hash`).

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;

use super::corrupt_check::peer_hash;
use crate::actors::auth::Credentials;
use crate::actors::frontend::{FrontEnd, Propose, WriteRequest};
use crate::actors::mvcc_store::{GetMembers, HashKv, MvccReader};
use crate::actors::raft_node::{RaftNode, ReadIndex};
use crate::actors::status::RaftStatusBoard;
use crate::proto::etcdserverpb::alarm_request::AlarmAction;
use crate::proto::etcdserverpb::{AlarmRequest, AlarmType, HashKvResponse};
use crate::storage::mvcc::KvHash;

pub(super) struct Monitor {
    pub period: Duration,
    pub local_id: u64,
    pub board: Arc<RaftStatusBoard>,
    pub readers: Addr<MvccReader>,
    pub raft: Addr<RaftNode>,
    pub frontend: Addr<FrontEnd>,
    pub timeout: Duration,
}

impl Monitor {
    /// Runs until the actor system stops.
    pub async fn run(self) {
        tracing::info!(
            local_member_id = format!("{:x}", self.local_id),
            interval = ?self.period,
            "enabled corruption checking"
        );
        loop {
            tokio::time::sleep(self.period).await;
            if self.board.read().leader != self.local_id {
                continue;
            }
            if let Err(err) = self.check().await {
                tracing::warn!(%err, "failed to check hash KV");
            }
        }
    }

    async fn check(&self) -> Result<(), String> {
        let before = self.hash().await?;
        let mut answers = Vec::new();
        let members = self
            .readers
            .send(GetMembers)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for member in members.into_iter().filter(|m| m.id != self.local_id) {
            let answer =
                tokio::time::timeout(self.timeout, peer_hash(&member.peer_ur_ls, before.revision))
                    .await
                    .unwrap_or_else(|_| Err("timed out".into()));
            answers.push((member.id, answer));
        }
        match tokio::time::timeout(self.timeout, self.raft.send(ReadIndex)).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => return Err(err.to_string()),
            Ok(Err(err)) => return Err(err.to_string()),
            Err(_) => return Err("linearizable read timed out".into()),
        }
        let after = self.hash().await?;
        let suspects = judge(&before, &after, &answers);
        for (member, reason) in &suspects {
            tracing::warn!(
                member = format!("{member:x}"),
                revision = before.revision,
                compact_revision = before.compact_revision,
                "{reason}"
            );
        }
        let checked = answers.iter().filter(|(_, a)| a.is_ok()).count();
        tracing::info!(
            number_of_peers_checked = checked,
            "finished peer corruption check"
        );
        if !suspects.is_empty() {
            self.raise_corrupt().await;
        }
        Ok(())
    }

    async fn hash(&self) -> Result<KvHash, String> {
        self.readers
            .send(HashKv { revision: 0 })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    async fn raise_corrupt(&self) {
        let alarm = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: 0,
            alarm: AlarmType::Corrupt as i32,
        };
        let proposed = self
            .frontend
            .send(Propose {
                body: WriteRequest::Alarm(alarm),
                credentials: Credentials::internal(),
            })
            .await;
        if !matches!(proposed, Ok(Ok(_))) {
            tracing::warn!("raising the CORRUPT alarm failed; the next check tries again");
        }
    }
}

/// etcd's rules: which members look corrupt, and why.
fn judge(
    before: &KvHash,
    after: &KvHash,
    answers: &[(u64, Result<HashKvResponse, String>)],
) -> Vec<(u64, String)> {
    let mut suspects = Vec::new();
    if after.hash != before.hash
        && after.revision == before.revision
        && after.compact_revision == before.compact_revision
    {
        suspects.push((0, "found hash mismatch on the leader itself".to_string()));
    }
    for (member, answer) in answers {
        let Ok(peer) = answer else { continue };
        let peer_revision = peer.header.as_ref().map_or(0, |h| h.revision);
        if peer_revision > after.revision {
            suspects.push((
                *member,
                format!(
                    "revision from follower must be less than or equal to leader's ({peer_revision} > {})",
                    after.revision
                ),
            ));
        }
        if peer.compact_revision > after.compact_revision {
            suspects.push((
                *member,
                format!(
                    "compact revision from follower must be less than or equal to leader's ({} > {})",
                    peer.compact_revision, after.compact_revision
                ),
            ));
        }
        if peer.compact_revision == before.compact_revision && peer.hash != before.hash {
            suspects.push((
                *member,
                format!(
                    "same compact revision then hashes must match (leader {}, follower {})",
                    before.hash, peer.hash
                ),
            ));
        }
    }
    suspects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::ResponseHeader;

    fn hash(hash: u32, revision: i64, compact_revision: i64) -> KvHash {
        KvHash {
            hash,
            revision,
            current_revision: revision,
            compact_revision,
        }
    }

    fn peer(hash: u32, revision: i64, compact_revision: i64) -> Result<HashKvResponse, String> {
        Ok(HashKvResponse {
            header: Some(ResponseHeader {
                revision,
                ..Default::default()
            }),
            hash,
            compact_revision,
            hash_revision: 0,
        })
    }

    #[test]
    fn flags_members_as_etcd_does() {
        let leader = hash(7, 10, 4);
        let fine = [(2, peer(7, 10, 4)), (3, Err("down".into()))];
        assert!(judge(&leader, &leader, &fine).is_empty());
        // A peer compacted differently cannot be compared.
        assert!(judge(&leader, &leader, &[(2, peer(9, 10, 2))]).is_empty());
        let cases = [
            (2, peer(8, 10, 4)), // other hash, same compaction
            (3, peer(7, 11, 4)), // ahead of the leader
            (4, peer(7, 10, 5)), // compacted further than the leader
        ];
        let flagged: Vec<u64> = judge(&leader, &leader, &cases)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(flagged, [2, 3, 4]);
        let changed_under_us = hash(8, 10, 4);
        assert_eq!(judge(&leader, &changed_under_us, &[])[0].0, 0);
    }
}
