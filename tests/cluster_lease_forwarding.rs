//! Leases kept alive through any member while the membership changes under
//! them, done as an operator does it with etcdctl: a 4th member is added and
//! started with `--initial-cluster-state existing`, leadership moves to it,
//! and keep-alives through each original member keep a leased key for
//! several TTLs; again after `member update` moves the new leader's peer
//! URL, and after the original leader is removed.

use crate::common;

use std::time::{Duration, Instant};

use common::status::{agreed_leader, member_index_of, status_of};
use common::{etcdctl, etcdctl_until_ok, free_port, Cluster, CtlOutput, ServerKind, CTL_TIMEOUT};

/// The default election timeout (--election-timeout=1000).
const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
/// Short enough that a missed keep-alive loses the key within the test.
const TTL_SECONDS: i64 = 3;
/// How long each phase keeps the lease alive: several TTLs.
const KEEP_ALIVE_FOR: Duration = Duration::from_secs(3 * TTL_SECONDS as u64);

fn ctl(endpoints: &[String], args: &[&str]) -> CtlOutput {
    etcdctl(&endpoints.join(","), args, None, CTL_TIMEOUT)
}

fn hex(id: u64) -> String {
    format!("{id:x}")
}

/// A member change through etcdctl, retried while --strict-reconfig-check
/// refuses it (a voter connected for less than 5 s).
fn change_members(endpoints: &[String], args: &[&str]) -> String {
    etcdctl_until_ok(&endpoints.join(","), args)
}

async fn id_of(cluster: &Cluster, i: usize) -> u64 {
    let status = status_of(cluster, i).await.expect("status");
    status.header.expect("header").member_id
}

/// Moves leadership to `to` with etcdctl, then waits until `members` agree.
async fn move_leader(cluster: &Cluster, members: &[usize], to: u64) {
    let endpoints: Vec<String> = members
        .iter()
        .map(|i| cluster.member(*i).endpoint())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ctl(&endpoints, &["move-leader", &hex(to)]);
        let now = agreed_leader(cluster, members, 10 * ELECTION_TIMEOUT).await;
        if now == to {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "leadership never moved to {to:x}: {}",
            out.stderr_str()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Grants a lease through `via`, attaches `key` to it; the lease id (hex).
fn leased_key(cluster: &Cluster, via: usize, key: &str) -> String {
    let endpoint = [cluster.member(via).endpoint()];
    let granted =
        ctl(&endpoint, &["lease", "grant", &TTL_SECONDS.to_string()]).expect_ok("lease grant");
    let id = granted
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    ctl(&endpoint, &["put", key, "up", &format!("--lease={id}")]).expect_ok("put with lease");
    id
}

/// Sends `lease keep-alive --once` through each of `through` in turn for
/// `KEEP_ALIVE_FOR`; every one must renew the lease to its full TTL. Then
/// the key is still there and the lease's TTL reads right through each.
fn keep_alive_through(cluster: &Cluster, through: &[usize], lease: &str, key: &str) {
    let renewed = format!("lease {lease} keepalived with TTL({TTL_SECONDS})");
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < KEEP_ALIVE_FOR {
        let member = through[sent % through.len()];
        let endpoint = [cluster.member(member).endpoint()];
        let out = ctl(&endpoint, &["lease", "keep-alive", "--once", lease]);
        assert!(
            out.success() && out.stdout_str().contains(&renewed),
            "keep-alive through {} failed after {:?}: {}{}",
            cluster.member(member).name,
            start.elapsed(),
            out.stdout_str(),
            out.stderr_str()
        );
        sent += 1;
        std::thread::sleep(Duration::from_millis(700));
    }
    for &member in through {
        let endpoint = [cluster.member(member).endpoint()];
        let ttl = ctl(&endpoint, &["lease", "timetolive", lease]).expect_ok("timetolive");
        assert!(
            ttl.contains(&format!("granted with TTL({TTL_SECONDS}s)")),
            "timetolive through {}: {ttl}",
            cluster.member(member).name
        );
        let got = ctl(&endpoint, &["get", key, "--print-value-only"]).expect_ok("get");
        assert_eq!(
            got.trim(),
            "up",
            "{key} through {}",
            cluster.member(member).name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_live_through_every_member_as_members_are_added_moved_and_removed() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let original_leader = agreed_leader(&cluster, &[0, 1, 2], 10 * ELECTION_TIMEOUT).await;
    let originals: Vec<String> = (0..3).map(|i| cluster.member(i).endpoint()).collect();

    // A 4th member, added and started as an operator would.
    let d = cluster.add_joiner("d");
    let peer_url = cluster.member(d).peer_url();
    change_members(
        &originals,
        &["member", "add", "d", &format!("--peer-urls={peer_url}")],
    );
    cluster.start_member(d).expect("the added member starts");
    let d_id = id_of(&cluster, d).await;
    let all = [0, 1, 2, d];

    // 1. Leadership on the added member; keep-alives through the others.
    move_leader(&cluster, &all, d_id).await;
    let lease = leased_key(&cluster, d, "session/1");
    keep_alive_through(&cluster, &[0, 1, 2], &lease, "session/1");

    // 2. The new leader moves to another peer URL (member update, then a
    //    restart listening there); leadership goes back to it.
    let moved_port = free_port();
    let moved_url = format!("http://127.0.0.1:{moved_port}");
    change_members(
        &originals,
        &[
            "member",
            "update",
            &hex(d_id),
            &format!("--peer-urls={moved_url}"),
        ],
    );
    cluster.kill9(d);
    cluster.members[d].peer_port = moved_port;
    cluster
        .start_member(d)
        .expect("restart on the new peer URL");
    move_leader(&cluster, &all, d_id).await;
    let lease = leased_key(&cluster, d, "session/2");
    keep_alive_through(&cluster, &[0, 1, 2], &lease, "session/2");

    // 3. The original leader is removed (it exits); the rest carry on.
    let removed = member_index_of(&cluster, original_leader).await;
    let others: Vec<String> = all
        .iter()
        .filter(|i| **i != removed)
        .map(|i| cluster.member(*i).endpoint())
        .collect();
    change_members(&others, &["member", "remove", &hex(original_leader)]);
    let exited = cluster.wait_exit(removed, Duration::from_secs(10));
    assert!(exited.is_some(), "the removed member exits");
    let remaining: Vec<usize> = all.iter().copied().filter(|i| *i != removed).collect();
    assert_eq!(
        agreed_leader(&cluster, &remaining, 10 * ELECTION_TIMEOUT).await,
        d_id
    );
    let lease = leased_key(&cluster, d, "session/3");
    let old_members: Vec<usize> = (0..3).filter(|i| *i != removed).collect();
    keep_alive_through(&cluster, &old_members, &lease, "session/3");
}
