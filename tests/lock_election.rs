//! The v3lock and v3election services, RPC by RPC, against etcd 3.4.23 and
//! oxcd: one script of requests (contention, unlock, relock by the same
//! lease, a lease that does not exist, a lease that expires; campaign,
//! observe, proclaim, a stale or missing leader key, resign, no leader)
//! runs on a fresh server of each, and the transcripts (lease ids by name,
//! revisions, values, error codes and messages) must be equal.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::{require_etcd, Cluster, ServerKind};
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::{LeaseGrantRequest, ResponseHeader};
use oxcd::proto::v3electionpb::election_client::ElectionClient;
use oxcd::proto::v3electionpb::{
    CampaignRequest, LeaderKey, LeaderRequest, ProclaimRequest, ResignRequest,
};
use oxcd::proto::v3lockpb::lock_client::LockClient;
use oxcd::proto::v3lockpb::{LockRequest, UnlockRequest};
use tonic::transport::Channel;

/// Lines describing what the server answered, with lease ids replaced by
/// the names the script gave them.
#[derive(Default)]
struct Transcript {
    lines: Vec<String>,
    leases: HashMap<i64, String>,
}

impl Transcript {
    fn name(&mut self, id: i64, name: &str) {
        self.leases.insert(id, name.to_string());
    }

    /// `text` with every known lease id (hex, as in keys) replaced by its name.
    fn say(&mut self, text: String) {
        let mut text = text;
        for (id, name) in &self.leases {
            text = text.replace(&format!("{id:x}"), name);
        }
        self.lines.push(text);
    }

    fn outcome<T>(
        &mut self,
        what: &str,
        result: Result<T, tonic::Status>,
        ok: impl Fn(T) -> String,
    ) {
        let line = match result {
            Ok(v) => format!("{what}: {}", ok(v)),
            Err(s) => format!("{what}: error {:?} {:?}", s.code(), s.message()),
        };
        self.say(line);
    }
}

fn rev(header: &Option<ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}

async fn grant(leases: &mut LeaseClient<Channel>, ttl: i64) -> i64 {
    leases
        .lease_grant(LeaseGrantRequest { ttl, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id
}

async fn lock_script(url: String) -> Vec<String> {
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut locks = LockClient::new(channel.clone());
    let mut leases = LeaseClient::new(channel.clone());
    let mut t = Transcript::default();
    let l1 = grant(&mut leases, 60).await;
    let l2 = grant(&mut leases, 60).await;
    t.name(l1, "<L1>");
    t.name(l2, "<L2>");

    let first = locks
        .lock(LockRequest {
            name: b"l".to_vec(),
            lease: l1,
        })
        .await
        .map(|r| r.into_inner());
    let first_key = first.as_ref().map(|r| r.key.clone()).unwrap_or_default();
    t.outcome("lock l by L1", first, |r| {
        format!(
            "key {} rev {}",
            String::from_utf8_lossy(&r.key),
            rev(&r.header)
        )
    });
    // A second holder waits.
    let mut waiting = locks.clone();
    let second = tokio::spawn(async move {
        waiting
            .lock(LockRequest {
                name: b"l".to_vec(),
                lease: l2,
            })
            .await
            .map(|r| r.into_inner())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.say(format!(
        "second lock still waiting: {}",
        !second.is_finished()
    ));
    let unlocked = locks.unlock(UnlockRequest { key: first_key }).await;
    t.outcome("unlock L1's key", unlocked, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second lock is granted after the unlock")
        .unwrap();
    let second_key = second.as_ref().map(|r| r.key.clone()).unwrap_or_default();
    t.outcome("lock l by L2", second, |r| {
        format!(
            "key {} rev {}",
            String::from_utf8_lossy(&r.key),
            rev(&r.header)
        )
    });
    // The same lease locking again holds it already.
    let again = locks
        .lock(LockRequest {
            name: b"l".to_vec(),
            lease: l2,
        })
        .await;
    t.outcome("lock l by L2 again", again, |r| {
        let r = r.into_inner();
        format!(
            "key {} rev {}",
            String::from_utf8_lossy(&r.key),
            rev(&r.header)
        )
    });
    let missing = locks
        .lock(LockRequest {
            name: b"m".to_vec(),
            lease: 0x7777,
        })
        .await;
    t.outcome("lock with a lease that does not exist", missing, |_| {
        "granted".into()
    });
    let unlocked = locks.unlock(UnlockRequest { key: second_key }).await;
    t.outcome("unlock L2's key", unlocked, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    let nothing = locks
        .unlock(UnlockRequest {
            key: b"l/none".to_vec(),
        })
        .await;
    t.outcome("unlock a key that is not there", nothing, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });

    // No lease given: a 60 s lease of the server's own.
    let own = locks
        .lock(LockRequest {
            name: b"n".to_vec(),
            lease: 0,
        })
        .await;
    t.outcome("lock n without a lease", own, |r| {
        let r = r.into_inner();
        let key = String::from_utf8_lossy(&r.key).to_string();
        format!(
            "key under n/: {} rev {}",
            key.starts_with("n/"),
            rev(&r.header)
        )
    });

    // A holder whose lease expires releases the lock.
    let short = grant(&mut leases, 2).await;
    t.name(short, "<L3>");
    let held = locks
        .lock(LockRequest {
            name: b"e".to_vec(),
            lease: short,
        })
        .await;
    t.outcome("lock e by L3 (2 s)", held, |r| {
        String::from_utf8_lossy(&r.into_inner().key).to_string()
    });
    let after = tokio::time::timeout(
        Duration::from_secs(15),
        locks.lock(LockRequest {
            name: b"e".to_vec(),
            lease: l1,
        }),
    )
    .await
    .expect("L3's expiry releases the lock");
    t.outcome("lock e by L1 once L3 expired", after, |r| {
        String::from_utf8_lossy(&r.into_inner().key).to_string()
    });
    t.lines
}

async fn election_script(url: String) -> Vec<String> {
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut elections = ElectionClient::new(channel.clone());
    let mut leases = LeaseClient::new(channel.clone());
    let mut t = Transcript::default();
    let l1 = grant(&mut leases, 60).await;
    let l2 = grant(&mut leases, 60).await;
    t.name(l1, "<L1>");
    t.name(l2, "<L2>");
    let name = b"e".to_vec();

    let none = elections.leader(LeaderRequest { name: name.clone() }).await;
    t.outcome("leader before any campaign", none, |_| "a leader".into());
    let first = elections
        .campaign(CampaignRequest {
            name: name.clone(),
            lease: l1,
            value: b"v1".to_vec(),
        })
        .await
        .map(|r| r.into_inner());
    let leader1: LeaderKey = first
        .as_ref()
        .ok()
        .and_then(|r| r.leader.clone())
        .unwrap_or_default();
    t.outcome("campaign by L1", first, |r| {
        let l = r.leader.unwrap_or_default();
        format!(
            "rev {} leader {} {} rev {} lease {:x}",
            rev(&r.header),
            String::from_utf8_lossy(&l.name),
            String::from_utf8_lossy(&l.key),
            l.rev,
            l.lease
        )
    });
    let mut observe = elections
        .observe(LeaderRequest { name: name.clone() })
        .await
        .expect("observe")
        .into_inner();
    let observed = |t: &mut Transcript, m: Option<oxcd::proto::v3electionpb::LeaderResponse>| {
        let m = m.expect("an observed leader");
        let kv = m.kv.unwrap_or_default();
        t.say(format!(
            "observed {} = {} (rev {}, mod {})",
            String::from_utf8_lossy(&kv.key),
            String::from_utf8_lossy(&kv.value),
            rev(&m.header),
            kv.mod_revision
        ));
    };
    observed(&mut t, observe.message().await.unwrap());

    let mut waiting = elections.clone();
    let campaign_name = name.clone();
    let second = tokio::spawn(async move {
        waiting
            .campaign(CampaignRequest {
                name: campaign_name,
                lease: l2,
                value: b"v2".to_vec(),
            })
            .await
            .map(|r| r.into_inner())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.say(format!(
        "second campaign still waiting: {}",
        !second.is_finished()
    ));
    let leader = elections.leader(LeaderRequest { name: name.clone() }).await;
    t.outcome("leader", leader, |r| {
        let r = r.into_inner();
        let kv = r.kv.unwrap_or_default();
        format!(
            "{} = {} rev {}",
            String::from_utf8_lossy(&kv.key),
            String::from_utf8_lossy(&kv.value),
            rev(&r.header)
        )
    });
    let proclaimed = elections
        .proclaim(ProclaimRequest {
            leader: Some(leader1.clone()),
            value: b"v1b".to_vec(),
        })
        .await;
    t.outcome("proclaim v1b", proclaimed, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    observed(&mut t, observe.message().await.unwrap());
    let stale = LeaderKey {
        rev: leader1.rev + 100,
        ..leader1.clone()
    };
    let refused = elections
        .proclaim(ProclaimRequest {
            leader: Some(stale),
            value: b"x".to_vec(),
        })
        .await;
    t.outcome("proclaim with a stale leader key", refused, |_| {
        "done".into()
    });
    let missing = elections
        .proclaim(ProclaimRequest {
            leader: None,
            value: b"x".to_vec(),
        })
        .await;
    t.outcome("proclaim without a leader key", missing, |_| "done".into());
    let missing = elections.resign(ResignRequest { leader: None }).await;
    t.outcome("resign without a leader key", missing, |_| "done".into());

    let resigned = elections
        .resign(ResignRequest {
            leader: Some(leader1.clone()),
        })
        .await;
    t.outcome("resign L1", resigned, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second campaign wins once the first resigned")
        .unwrap();
    let leader2 = second
        .as_ref()
        .ok()
        .and_then(|r| r.leader.clone())
        .unwrap_or_default();
    t.outcome("campaign by L2", second, |r| {
        let l = r.leader.unwrap_or_default();
        format!(
            "rev {} leader {} rev {}",
            rev(&r.header),
            String::from_utf8_lossy(&l.key),
            l.rev
        )
    });
    observed(&mut t, observe.message().await.unwrap());
    let again = elections
        .resign(ResignRequest {
            leader: Some(leader1),
        })
        .await;
    t.outcome("resign L1 again", again, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    let resigned = elections
        .resign(ResignRequest {
            leader: Some(leader2),
        })
        .await;
    t.outcome("resign L2", resigned, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    let none = elections.leader(LeaderRequest { name: name.clone() }).await;
    t.outcome("leader after both resigned", none, |_| "a leader".into());

    // A lease campaigning again with another value proclaims it.
    let a = elections
        .campaign(CampaignRequest {
            name: b"f".to_vec(),
            lease: l1,
            value: b"a".to_vec(),
        })
        .await;
    t.outcome("campaign f by L1 with a", a, |r| {
        format!("rev {}", rev(&r.into_inner().header))
    });
    let b = elections
        .campaign(CampaignRequest {
            name: b"f".to_vec(),
            lease: l1,
            value: b"b".to_vec(),
        })
        .await;
    t.outcome("campaign f by L1 with b", b, |r| {
        let r = r.into_inner();
        format!(
            "rev {} leader rev {}",
            rev(&r.header),
            r.leader.unwrap_or_default().rev
        )
    });
    let leader = elections
        .leader(LeaderRequest {
            name: b"f".to_vec(),
        })
        .await;
    t.outcome("leader of f", leader, |r| {
        let kv = r.into_inner().kv.unwrap_or_default();
        format!(
            "{} (version {})",
            String::from_utf8_lossy(&kv.value),
            kv.version
        )
    });
    t.lines
}

/// A script: the transcript of its requests to the server at a URL.
type Script =
    fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send>>;

fn both(script: Script) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let oxcd = Cluster::start(ServerKind::Oxcd);
    let ours = runtime.block_on(script(oxcd.member(0).client_url()));
    if !require_etcd("lock/election transcripts") {
        return;
    }
    let etcd = Cluster::start(ServerKind::Etcd);
    let theirs = runtime.block_on(script(etcd.member(0).client_url()));
    assert_eq!(ours.join("\n"), theirs.join("\n"));
}

#[test]
fn lock_answers_as_etcd_does() {
    both(|url| Box::pin(lock_script(url)));
}

#[test]
fn election_answers_as_etcd_does() {
    both(|url| Box::pin(election_script(url)));
}
