//! Auth on while the cluster changes under it, as an operator runs it: a
//! member added later knows the users and roles (and refuses anonymous
//! requests), leadership moved to it keeps logins and permission checks
//! working through every member, and after the new leader is killed -9 the
//! rest go on checking.

use crate::common;

use std::time::{Duration, Instant};

use common::status::{agreed_leader, status_of};
use common::{etcdctl, etcdctl_until_ok, Cluster, CtlOutput, ServerKind, CTL_TIMEOUT};

const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
const ROOT: &str = "--user=root:rootpw";
const USER: &str = "--user=u:upw";

fn ctl(cluster: &Cluster, members: &[usize], args: &[&str]) -> CtlOutput {
    let endpoints: Vec<String> = members
        .iter()
        .map(|i| cluster.member(*i).endpoint())
        .collect();
    etcdctl(&endpoints.join(","), args, None, CTL_TIMEOUT)
}

/// Retries while the cluster settles (strict reconfig check, elections).
fn until_ok(cluster: &Cluster, members: &[usize], args: &[&str]) -> String {
    let endpoints: Vec<String> = members
        .iter()
        .map(|i| cluster.member(*i).endpoint())
        .collect();
    etcdctl_until_ok(&endpoints.join(","), args)
}

fn refused(cluster: &Cluster, member: usize, args: &[&str], why: &str) {
    let out = ctl(cluster, &[member], args);
    assert!(
        !out.success() && out.stderr_str().contains(why),
        "{args:?} through member {member}: {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_holds_through_a_member_added_later_a_leader_move_and_a_leader_kill() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    for args in [
        "user add root:rootpw --interactive=false",
        "user grant-role root root",
        "user add u:upw --interactive=false",
        "role add app",
        "role grant-permission app --prefix=true readwrite app/",
        "user grant-role u app",
        "auth enable",
    ] {
        until_ok(&cluster, &[0], &args.split(' ').collect::<Vec<_>>());
    }
    until_ok(&cluster, &[1], &[USER, "put", "app/before", "1"]);

    // A 4th member, added (root only) and started as an operator would.
    let d = cluster.add_joiner("d");
    let peer = format!("--peer-urls={}", cluster.member(d).peer_url());
    refused(
        &cluster,
        0,
        &[USER, "member", "add", "d", &peer],
        "permission denied",
    );
    until_ok(&cluster, &[0, 1, 2], &[ROOT, "member", "add", "d", &peer]);
    cluster.start_member(d).expect("the added member starts");
    let all = [0, 1, 2, d];

    // It learned the users and roles: logins and checks work through it.
    let got = until_ok(&cluster, &[d], &[USER, "get", "app/before"]);
    assert!(got.contains("app/before"), "{got}");
    refused(&cluster, d, &["get", "app/before"], "user name is empty");
    refused(
        &cluster,
        d,
        &[USER, "put", "other", "x"],
        "permission denied",
    );

    // Leadership moves to it; every member still checks.
    let d_id = status_of(&cluster, d)
        .await
        .and_then(|s| s.header)
        .map(|h| h.member_id)
        .expect("d's id");
    let deadline = Instant::now() + Duration::from_secs(20);
    while agreed_leader(&cluster, &all, 10 * ELECTION_TIMEOUT).await != d_id {
        drop(ctl(
            &cluster,
            &all,
            &[ROOT, "move-leader", &format!("{d_id:x}")],
        ));
        assert!(Instant::now() < deadline, "leadership never moved to d");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for member in all {
        let key = format!("app/via-{member}");
        until_ok(&cluster, &[member], &[USER, "put", &key, "1"]);
        refused(
            &cluster,
            member,
            &[USER, "put", "other", "x"],
            "permission denied",
        );
    }

    // The new leader dies; the others elect another and go on checking.
    cluster.kill9(d);
    let got = until_ok(
        &cluster,
        &[0],
        &[USER, "get", "app/", "--prefix", "--keys-only"],
    );
    for member in all {
        assert!(got.contains(&format!("app/via-{member}")), "{got}");
    }
    refused(&cluster, 2, &["put", "app/x", "1"], "user name is empty");
    until_ok(&cluster, &[2], &[USER, "put", "app/after", "1"]);
}
