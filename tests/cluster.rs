//! Three-member oxcd clusters on loopback: a leader is elected, writes go
//! through every member, linearizable reads on every member see them,
//! killing the leader elects a new one without losing an acknowledged write,
//! and a member that missed more than --snapshot-count entries catches up by
//! snapshot.

use crate::common;

use std::time::{Duration, Instant};

use common::grpc::{keys_in, put};
use common::status::{agreed_leader, member_index_of, status_of};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::{RangeRequest, StatusResponse};
use tonic::transport::Channel;

/// The default election timeout (--election-timeout=1000).
const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

async fn kv_of(cluster: &Cluster, i: usize) -> KvClient<Channel> {
    KvClient::connect(cluster.member(i).client_url())
        .await
        .expect("connect")
}

/// Every key under `prefix` as member `i` sees it (linearizable read).
async fn keys_on(cluster: &Cluster, i: usize, prefix: &str) -> Vec<String> {
    let end = format!("{prefix}\u{7f}");
    keys_in(&cluster.member(i).client_url(), prefix, &end).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_a_leader_and_serve_writes_through_every_member() {
    let cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    let mut written = Vec::new();
    for i in 0..3 {
        let mut kv = kv_of(&cluster, i).await;
        for n in 0..5 {
            let key = format!("w/{i}/{n}");
            put(&mut kv, &key, "v").await;
            written.push(key);
        }
    }
    written.sort();
    for i in 0..3 {
        assert_eq!(keys_on(&cluster, i, "w/").await, written, "member {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_loses_no_acknowledged_write() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let old = agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    let leader = member_index_of(&cluster, old).await;
    let mut acked = Vec::new();
    for n in 0..30 {
        let mut kv = kv_of(&cluster, n % 3).await;
        let key = format!("k/{n:03}");
        put(&mut kv, &key, "before").await;
        acked.push(key);
    }

    cluster.kill9(leader);
    let killed = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new = agreed_leader(&cluster, &survivors, 10 * ELECTION_TIMEOUT).await;
    let took = killed.elapsed();
    assert_ne!(new, old);
    eprintln!("new leader {new:x} after {took:?}");
    assert!(
        took < 3 * ELECTION_TIMEOUT,
        "a new leader took {took:?} (more than 3 election timeouts)"
    );
    for n in 30..40 {
        let mut kv = kv_of(&cluster, survivors[n % 2]).await;
        let key = format!("k/{n:03}");
        put(&mut kv, &key, "after").await;
        acked.push(key);
    }

    cluster
        .start_member(leader)
        .expect("restart the old leader");
    agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    for i in 0..3 {
        assert_eq!(keys_on(&cluster, i, "k/").await, acked, "member {i}");
    }
}

/// 4 KiB values: a snapshot of 1,000 of them spans several 1 MiB chunks.
fn snapshot_value(n: usize) -> String {
    format!("{n:04}{}", "v".repeat(4092))
}

/// A 3-member cluster with `--snapshot-count=100` where one follower
/// (killed) missed `puts` writes, more than the leader's log keeps.
/// Returns the cluster, the leader, the stopped follower and the keys.
async fn cluster_with_a_member_behind(puts: usize) -> (Cluster, usize, usize, Vec<String>) {
    let mut cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .args(&["--snapshot-count=100"])
        .start();
    let leader_id = agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    let leader = member_index_of(&cluster, leader_id).await;
    let behind = (leader + 1) % 3;
    cluster.kill9(behind);
    let mut kv = kv_of(&cluster, leader).await;
    let mut written = Vec::new();
    for n in 0..puts {
        let key = format!("s/{n:04}");
        put(&mut kv, &key, &snapshot_value(n)).await;
        written.push(key);
    }
    // LMDB flushes every 100 entries (or each second); the leader then
    // drops the log it holds for the missing member beyond 100 entries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (cluster, leader, behind, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_missed_more_than_snapshot_count_entries_catches_up_by_snapshot() {
    let (mut cluster, leader, behind, mut written) = cluster_with_a_member_behind(1000).await;
    let value = snapshot_value;
    cluster.start_member(behind).expect("restart the member");
    let log = || std::fs::read_to_string(&cluster.member(behind).log_path).unwrap_or_default();
    assert_eq!(keys_on(&cluster, behind, "s/").await, written);
    for n in [0, 517, 999] {
        let mut on_behind = kv_of(&cluster, behind).await;
        let got = on_behind
            .range(RangeRequest {
                key: format!("s/{n:04}").into(),
                ..Default::default()
            })
            .await
            .expect("range")
            .into_inner();
        assert_eq!(got.kvs[0].value, value(n).into_bytes(), "value of s/{n:04}");
    }
    assert!(
        log().contains("installed the leader's snapshot"),
        "no snapshot install in the log:\n{}",
        cluster.member(behind).log_tail(40)
    );

    // The log goes on after the snapshot: writes through the member that
    // installed it reach everyone, and everyone agrees on the revision.
    let mut kv = kv_of(&cluster, behind).await;
    for n in 1000..1010 {
        let key = format!("s/{n:04}");
        put(&mut kv, &key, "after").await;
        written.push(key);
    }
    for i in 0..3 {
        assert_eq!(keys_on(&cluster, i, "s/").await, written, "member {i}");
    }
    let revision =
        |status: Option<StatusResponse>| status.and_then(|s| s.header).map(|h| h.revision);
    let leader_revision = revision(status_of(&cluster, leader).await);
    assert_eq!(revision(status_of(&cluster, behind).await), leader_revision);

    // And it restarts from the installed state like from any other.
    cluster.restart(behind).expect("restart after the install");
    assert_eq!(keys_on(&cluster, behind, "s/").await, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_while_taking_a_snapshot_still_catches_up() {
    let (mut cluster, _, behind, written) = cluster_with_a_member_behind(600).await;
    cluster.spawn(behind).expect("start the member");
    // kill -9 as soon as the snapshot file is in: mid-install, or during
    // the restart in place that installs it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let log_path = cluster.member(behind).log_path.clone();
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("snapshot received")
    {
        assert!(Instant::now() < deadline, "no snapshot arrived");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cluster.kill9(behind);
    cluster.start_member(behind).expect("start it again");
    assert_eq!(keys_on(&cluster, behind, "s/").await, written);
    let got = kv_of(&cluster, behind)
        .await
        .range(RangeRequest {
            key: "s/0599".into(),
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    assert_eq!(got.kvs[0].value, snapshot_value(599).into_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_kept_alive_through_followers_and_expire_on_the_leader() {
    use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
    use oxcd::proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest};

    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let leader_id = agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    let leader = member_index_of(&cluster, leader_id).await;
    let follower = (leader + 1) % 3;
    let mut lease = LeaseClient::connect(cluster.member(follower).client_url())
        .await
        .expect("connect");
    let id = lease
        .lease_grant(LeaseGrantRequest { ttl: 3, id: 0 })
        .await
        .expect("grant through a follower")
        .into_inner()
        .id;
    let mut kv = kv_of(&cluster, follower).await;
    let put_leased = PutRequest {
        key: "session".into(),
        value: "up".into(),
        lease: id,
        ..Default::default()
    };
    kv.put(put_leased).await.expect("put with lease");

    // Keep it alive through the follower for three TTLs.
    let (requests, rx) = tokio::sync::mpsc::channel(4);
    let mut responses = lease
        .lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("keep-alive")
        .into_inner();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(9) {
        requests
            .send(LeaseKeepAliveRequest { id })
            .await
            .expect("send");
        let resp = responses.message().await.expect("ok").expect("open");
        assert_eq!((resp.id, resp.ttl), (id, 3), "renewed by the leader");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    for i in 0..3 {
        assert_eq!(keys_on(&cluster, i, "session").await.len(), 1, "member {i}");
    }

    // The leader goes; the next leader's lessor takes the lease over and,
    // with nobody renewing it, expires it on every remaining member.
    drop(requests);
    drop(responses);
    cluster.kill9(leader);
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    agreed_leader(&cluster, &survivors, 10 * ELECTION_TIMEOUT).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    for &i in &survivors {
        while !keys_on(&cluster, i, "session").await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the lease never expired on member {i}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_lists_every_members_published_client_urls() {
    use oxcd::proto::etcdserverpb::cluster_client::ClusterClient;
    use oxcd::proto::etcdserverpb::MemberListRequest;

    let cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    let mut expected: Vec<(String, Vec<String>)> = (0..3)
        .map(|i| {
            let m = cluster.member(i);
            (m.name.clone(), vec![m.client_url()])
        })
        .collect();
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0..3 {
        loop {
            let mut client = ClusterClient::connect(cluster.member(i).client_url())
                .await
                .expect("connect");
            let list = client
                .member_list(MemberListRequest::default())
                .await
                .expect("member list")
                .into_inner();
            let mut seen: Vec<(String, Vec<String>)> = list
                .members
                .into_iter()
                .map(|m| (m.name, m.client_ur_ls))
                .collect();
            seen.sort();
            if seen == expected {
                break;
            }
            assert!(Instant::now() < deadline, "member {i} lists {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // etcdctl's --cluster commands dial every published client URL (and
    // send it as the :authority, which oxcd repairs for h2).
    let out = cluster
        .ctl(&["endpoint", "status", "--cluster", "-w", "json"])
        .expect_ok("endpoint status --cluster");
    let statuses: serde_json::Value = serde_json::from_str(&out).expect("json");
    let statuses = statuses.as_array().expect("an array");
    let mut endpoints: Vec<&str> = statuses
        .iter()
        .filter_map(|s| s["Endpoint"].as_str())
        .collect();
    endpoints.sort();
    let mut urls: Vec<String> = (0..3).map(|i| cluster.member(i).client_url()).collect();
    urls.sort();
    assert_eq!(endpoints, urls, "{out}");
    let leaders = statuses
        .iter()
        .filter(|s| s["Status"]["leader"] == s["Status"]["header"]["member_id"])
        .count();
    assert_eq!(leaders, 1, "{out}");
    let out = cluster
        .ctl(&["endpoint", "health", "--cluster", "-w", "json"])
        .expect_ok("endpoint health --cluster");
    let health: serde_json::Value = serde_json::from_str(&out).expect("json");
    let healthy = health.as_array().expect("an array").iter();
    assert_eq!(healthy.filter(|h| h["health"] == true).count(), 3, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_leader_hands_leadership_to_the_chosen_member() {
    use oxcd::proto::etcdserverpb::MoveLeaderRequest;
    use tonic::Code;

    let cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let old = agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await;
    let leader = member_index_of(&cluster, old).await;
    let follower = (leader + 1) % 3;
    let target = status_of(&cluster, follower)
        .await
        .and_then(|s| s.header)
        .map(|h| h.member_id)
        .expect("follower id");

    let mut on_follower = MaintenanceClient::connect(cluster.member(follower).client_url())
        .await
        .expect("connect");
    let err = on_follower
        .move_leader(MoveLeaderRequest { target_id: target })
        .await
        .expect_err("only the leader moves leadership");
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "etcdserver: not leader")
    );

    let mut on_leader = MaintenanceClient::connect(cluster.member(leader).client_url())
        .await
        .expect("connect");
    let err = on_leader
        .move_leader(MoveLeaderRequest { target_id: 42 })
        .await
        .expect_err("not a member");
    assert_eq!(err.message(), "etcdserver: bad leader transferee");
    let moved = on_leader
        .move_leader(MoveLeaderRequest { target_id: target })
        .await
        .expect("move leader")
        .into_inner();
    // etcd answers with no header at all.
    assert_eq!(moved.header, None);
    assert_eq!(
        agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await,
        target
    );

    // etcdctl move-leader finds the leader among its endpoints itself.
    let endpoints = cluster.endpoints().join(",");
    let back = format!("{old:x}");
    let out = common::etcdctl(
        &endpoints,
        &["move-leader", &back],
        None,
        common::CTL_TIMEOUT,
    )
    .expect_ok("etcdctl move-leader");
    assert_eq!(
        out.trim(),
        format!("Leadership transferred from {target:x} to {old:x}")
    );
    assert_eq!(
        agreed_leader(&cluster, &[0, 1, 2], 5 * ELECTION_TIMEOUT).await,
        old
    );
}
