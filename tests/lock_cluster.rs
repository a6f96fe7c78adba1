//! v3lock on a 3-member cluster while the leader is killed -9 (twice):
//! four workers, spread over the members, take one lock in turn. Each
//! holder raises a shared flag once Lock answers and lowers it before it
//! sends Unlock, so the flag is up only while its lock is certainly held:
//! finding it already up is two holders at once. A worker whose Lock or
//! Unlock failed (its member died) revokes its lease, which releases any
//! lock it may hold without knowing, and starts again on another member.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{etcdctl, Cluster, ServerKind, CTL_TIMEOUT};
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest};
use oxcd::proto::v3lockpb::lock_client::LockClient;
use oxcd::proto::v3lockpb::{LockRequest, UnlockRequest};
use tonic::transport::{Channel, Endpoint};

const WORKERS: usize = 4;
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Record {
    held: AtomicBool,
    /// Times a holder found the flag already up.
    overlaps: AtomicUsize,
    acquired: AtomicUsize,
    failures: AtomicUsize,
}

async fn channel(url: &str) -> Option<Channel> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .ok()?
        .connect_timeout(Duration::from_millis(500))
        .timeout(RPC_TIMEOUT);
    endpoint.connect().await.ok()
}

/// Revokes `lease` through any member until one answers (gone is fine).
async fn revoke(urls: &[String], lease: i64, stop: Instant) {
    let mut i = 0;
    while Instant::now() < stop + Duration::from_secs(20) {
        if let Some(ch) = channel(&urls[i % urls.len()]).await {
            match LeaseClient::new(ch)
                .lease_revoke(LeaseRevokeRequest { id: lease })
                .await
            {
                Ok(_) => return,
                Err(s) if s.code() == tonic::Code::NotFound => return,
                Err(_) => {}
            }
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not revoke lease {lease:x} through any member");
}

/// One lock round through member `url`: Ok(true) held and released,
/// Ok(false) nothing to undo, Err(lease) failed holding `lease` (revoke it).
async fn round(url: &str, record: &Record) -> Result<bool, Option<i64>> {
    let ch = channel(url).await.ok_or(None)?;
    let mut leases = LeaseClient::new(ch.clone());
    let mut locks = LockClient::new(ch);
    let lease = leases
        .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .map_err(|_| None)?
        .into_inner()
        .id;
    let locked = tokio::time::timeout(
        Duration::from_secs(10),
        locks.lock(LockRequest {
            name: b"guard".to_vec(),
            lease,
        }),
    )
    .await;
    let key = match locked {
        Ok(Ok(r)) => r.into_inner().key,
        _ => return Err(Some(lease)),
    };
    if record.held.swap(true, Ordering::SeqCst) {
        record.overlaps.fetch_add(1, Ordering::SeqCst);
    }
    record.acquired.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    record.held.store(false, Ordering::SeqCst);
    match locks.unlock(UnlockRequest { key }).await {
        Ok(_) => {
            // The lease only held the lock key; let it go.
            let _ = leases.lease_revoke(LeaseRevokeRequest { id: lease }).await;
            Ok(true)
        }
        Err(_) => Err(Some(lease)),
    }
}

async fn worker(n: usize, urls: Vec<String>, record: Arc<Record>, stop: Instant) {
    let mut member = n % urls.len();
    while Instant::now() < stop {
        match round(&urls[member], &record).await {
            Ok(_) => {}
            Err(lease) => {
                record.failures.fetch_add(1, Ordering::SeqCst);
                if let Some(lease) = lease {
                    revoke(&urls, lease, stop).await;
                }
                member = (member + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn leader_index(cluster: &Cluster) -> Option<usize> {
    for i in 0..cluster.members.len() {
        let out = etcdctl(
            &cluster.member(i).endpoint(),
            &["endpoint", "status", "-w", "json"],
            None,
            CTL_TIMEOUT,
        );
        if !out.success() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&out.stdout_str()).ok()?;
        let status = &v[0]["Status"];
        if status["leader"] == status["header"]["member_id"] {
            return Some(i);
        }
    }
    None
}

#[test]
fn one_holder_at_a_time_while_leaders_are_killed() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let urls: Vec<String> = (0..3).map(|i| cluster.member(i).client_url()).collect();
    let record = Arc::new(Record::default());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stop = Instant::now() + Duration::from_secs(17);
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| runtime.spawn(worker(n, urls.clone(), record.clone(), stop)))
        .collect();

    let mut progress = Vec::new();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(2));
        let before = record.acquired.load(Ordering::SeqCst);
        let leader = leader_index(&cluster).expect("a leader");
        cluster.kill9(leader);
        std::thread::sleep(Duration::from_secs(3));
        cluster
            .start_member(leader)
            .expect("the killed member restarts");
        std::thread::sleep(Duration::from_secs(3));
        progress.push(record.acquired.load(Ordering::SeqCst) - before);
    }
    runtime.block_on(async {
        for w in workers {
            w.await.unwrap();
        }
    });
    let acquired = record.acquired.load(Ordering::SeqCst);
    let overlaps = record.overlaps.load(Ordering::SeqCst);
    eprintln!(
        "acquired {acquired}, failed rounds {}, acquired in the 6 s after each kill {progress:?}, overlaps {overlaps}",
        record.failures.load(Ordering::SeqCst)
    );
    assert_eq!(overlaps, 0, "two holders at once");
    assert!(acquired >= 50, "only {acquired} acquisitions");
    assert!(
        progress.iter().all(|&n| n > 0),
        "no lock granted after a leader kill: {progress:?}"
    );
}
