//! Membership changes on a running oxcd cluster: a learner is added, joins
//! with `--initial-cluster-state existing`, catches up by snapshot, is
//! promoted; an old
//! member is removed; the Cluster API's errors are etcd's.

use crate::common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, oxcd_bin, Cluster, ServerKind};
use oxcd::proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::{
    MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest, PutRequest,
    RangeRequest, StatusRequest,
};
use tonic::transport::Channel;
use tonic::Code;

/// A member this test starts itself (the joining one), killed on drop.
struct Joiner {
    child: Child,
    client_url: String,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Drop for Joiner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "joiner log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

fn start_joiner(name: &str, peer_port: u16, initial_cluster: &str) -> Joiner {
    let dir = tempfile::tempdir().expect("tempdir");
    let client_port = free_port();
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let log = dir.path().join("joiner.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(oxcd_bin())
        .args([
            &format!("--name={name}"),
            &format!("--data-dir={}", dir.path().join("data").display()),
            &format!("--listen-client-urls={client_url}"),
            &format!("--advertise-client-urls={client_url}"),
            &format!("--listen-peer-urls={peer_url}"),
            &format!("--initial-advertise-peer-urls={peer_url}"),
            &format!("--initial-cluster={initial_cluster}"),
            "--initial-cluster-state=existing",
        ])
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("spawn oxcd");
    Joiner {
        child,
        client_url,
        _dir: dir,
        log,
    }
}

async fn cluster_client(url: &str) -> ClusterClient<Channel> {
    ClusterClient::connect(url.to_string())
        .await
        .expect("connect")
}

async fn leader_url(cluster: &Cluster) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for i in 0..cluster.endpoints().len() {
            let url = cluster.member(i).client_url();
            let Ok(mut m) = MaintenanceClient::connect(url.clone()).await else {
                continue;
            };
            if let Ok(status) = m.status(StatusRequest {}).await {
                let status = status.into_inner();
                if status.header.map(|h| h.member_id) == Some(status.leader) {
                    return url;
                }
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn put_before(kv: &mut KvClient<Channel>, numbers: std::ops::Range<u32>) {
    for n in numbers {
        let put = PutRequest {
            key: format!("before/{n:03}").into(),
            value: "v".into(),
            ..Default::default()
        };
        kv.put(put).await.expect("put");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_joins_catches_up_is_promoted_and_an_old_member_goes() {
    // A short --snapshot-count: the leader's log no longer starts at index
    // 1 by the time the learner joins, so it catches up by snapshot.
    let cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .args(&["--snapshot-count=100"])
        .start();
    let leader = leader_url(&cluster).await;
    let mut kv = KvClient::connect(leader.clone()).await.expect("connect");
    put_before(&mut kv, 0..50).await;

    // Add d as a learner, then start it against the running cluster.
    let peer_port = free_port();
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let mut admin = cluster_client(&leader).await;
    // With --strict-reconfig-check (the default) a change waits until every
    // voter has been connected for 5 s, as in etcd.
    let first_try = admin
        .member_add(MemberAddRequest {
            peer_ur_ls: vec![peer_url.clone()],
            is_learner: true,
        })
        .await
        .expect_err("the cluster is too young to change");
    assert_eq!(
        (first_try.code(), first_try.message()),
        (Code::Unavailable, "etcdserver: unhealthy cluster")
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let added = loop {
        let attempt = admin
            .member_add(MemberAddRequest {
                peer_ur_ls: vec![peer_url.clone()],
                is_learner: true,
            })
            .await;
        match attempt {
            Ok(added) => break added.into_inner(),
            Err(err) => {
                assert!(Instant::now() < deadline, "member add: {err}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    let new_id = added.member.as_ref().expect("member").id;
    assert!(added.member.as_ref().is_some_and(|m| m.is_learner));
    assert_eq!(added.members.len(), 4);

    // A second learner is refused, as etcd allows one at a time.
    let err = admin
        .member_add(MemberAddRequest {
            peer_ur_ls: vec![format!("http://127.0.0.1:{}", free_port())],
            is_learner: true,
        })
        .await
        .expect_err("one learner at a time");
    assert_eq!(
        err.message(),
        "etcdserver: too many learner members in cluster"
    );
    // In the same second the same URL hashes to the same id ("member ID
    // already exist", as etcd); a second later it is the URL that is taken.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = admin
        .member_add(MemberAddRequest {
            peer_ur_ls: vec![peer_url.clone()],
            is_learner: false,
        })
        .await
        .expect_err("URL in use");
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::FailedPrecondition,
            "etcdserver: Peer URLs already exists"
        )
    );

    // More writes before the learner starts, beyond what the log keeps.
    put_before(&mut kv, 50..300).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut initial: Vec<String> = (0..3)
        .map(|i| {
            let m = cluster.member(i);
            format!("{}={}", m.name, m.peer_url())
        })
        .collect();
    initial.push(format!("d={peer_url}"));
    let joiner = start_joiner("d", peer_port, &initial.join(","));

    // The learner catches up (serializable reads: learners serve those).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut on_d) = KvClient::connect(joiner.client_url.clone()).await {
            let get = RangeRequest {
                key: "before/".into(),
                range_end: "before0".into(),
                serializable: true,
                count_only: true,
                ..Default::default()
            };
            if let Ok(resp) = on_d.range(get).await {
                if resp.into_inner().count == 300 {
                    break;
                }
            }
        }
        assert!(Instant::now() < deadline, "the learner never caught up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = std::fs::read_to_string(&joiner.log).unwrap_or_default();
    assert!(
        log.contains("installed the leader's snapshot"),
        "the learner did not catch up by snapshot:\n{log}"
    );

    // Promote it (retrying while raft still counts it as behind).
    let deadline = Instant::now() + Duration::from_secs(10);
    let promoted = loop {
        let leader = leader_url(&cluster).await;
        let mut admin = cluster_client(&leader).await;
        match admin
            .member_promote(MemberPromoteRequest { id: new_id })
            .await
        {
            Ok(resp) => break resp.into_inner(),
            Err(err) => {
                assert!(Instant::now() < deadline, "promote failed: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(promoted
        .members
        .iter()
        .any(|m| m.id == new_id && !m.is_learner));
    let err = cluster_client(&leader_url(&cluster).await)
        .await
        .member_promote(MemberPromoteRequest { id: new_id })
        .await
        .expect_err("already a voter");
    assert_eq!(
        err.message(),
        "etcdserver: can only promote a learner member"
    );

    // Remove the first member (not the one we talk to if it leads).
    let leader = leader_url(&cluster).await;
    let mut admin = cluster_client(&leader).await;
    let list = admin
        .member_list(MemberListRequest::default())
        .await
        .expect("list")
        .into_inner();
    let leader_id = {
        let mut m = MaintenanceClient::connect(leader.clone())
            .await
            .expect("connect");
        m.status(StatusRequest {})
            .await
            .expect("status")
            .into_inner()
            .leader
    };
    let victim = list
        .members
        .iter()
        .find(|m| m.id != leader_id && m.id != new_id)
        .expect("a follower")
        .id;
    let after = admin
        .member_remove(MemberRemoveRequest { id: victim })
        .await
        .expect("remove")
        .into_inner();
    assert_eq!(after.members.len(), 3);
    assert!(after.members.iter().all(|m| m.id != victim));
    let err = admin
        .member_remove(MemberRemoveRequest { id: victim })
        .await
        .expect_err("gone already");
    assert_eq!(
        (err.code(), err.message()),
        (Code::NotFound, "etcdserver: member not found")
    );

    // The cluster (leader, the other old member, d) still takes writes, and
    // d serves them linearizably.
    let mut kv = KvClient::connect(leader_url(&cluster).await)
        .await
        .expect("connect");
    kv.put(PutRequest {
        key: "after".into(),
        value: "v".into(),
        ..Default::default()
    })
    .await
    .expect("put after the changes");
    let mut on_d = KvClient::connect(joiner.client_url.clone())
        .await
        .expect("connect");
    let got = on_d
        .range(RangeRequest {
            key: "after".into(),
            ..Default::default()
        })
        .await
        .expect("linearizable read on d")
        .into_inner();
    assert_eq!(got.kvs.len(), 1);
}
