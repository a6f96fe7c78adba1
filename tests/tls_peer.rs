//! Members talking to each other over TLS: a 3-member cluster over
//! `--peer-auto-tls`, and one over CA-signed peer certificates with
//! `--peer-client-cert-auth` and `--peer-cert-allowed-cn`; writes replicate,
//! a member joins, a lease is kept alive through a follower (forwarded to
//! the leader over the peer connection) and the leader hands over on stop.

use crate::common;

use std::time::Duration;

use common::pki::Pki;
use common::status::{agreed_leader, member_index_of};
use common::{etcdctl, Cluster, ServerKind, CTL_TIMEOUT};

async fn replicates_and_takes_a_joiner(mut cluster: Cluster) {
    let put = cluster.ctl(&["put", "over", "tls"]);
    assert!(put.success(), "{put:?}");
    for i in 0..3 {
        let got = etcdctl(
            &cluster.member(i).endpoint(),
            &["get", "over", "--print-value-only"],
            None,
            CTL_TIMEOUT,
        );
        assert_eq!(got.stdout_str().trim(), "tls", "member {i}: {got:?}");
    }
    let members = cluster.ctl(&["member", "list"]).stdout_str();
    assert_eq!(
        members.matches("https://127.0.0.1:").count(),
        3,
        "{members}"
    );

    // A lease granted on a follower and kept alive there: the renewals go
    // to the leader over a peer connection.
    let leader = agreed_leader(&cluster, &[0, 1, 2], Duration::from_secs(10)).await;
    let leader = member_index_of(&cluster, leader).await;
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let ep = cluster.member(follower).endpoint();
    let grant = etcdctl(&ep, &["lease", "grant", "30"], None, CTL_TIMEOUT);
    let id = grant
        .stdout_str()
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{grant:?}"));
    let kept = etcdctl(
        &ep,
        &["lease", "keep-alive", "--once", &id],
        None,
        CTL_TIMEOUT,
    );
    assert!(kept.success(), "{kept:?}");

    // A fourth member joins through MemberAdd: it asks the others for the
    // member list over TLS, then catches up.
    let d = cluster.add_joiner("d");
    let url = cluster.member(d).peer_url();
    // --strict-reconfig-check: changes wait until every voter has been
    // connected (over TLS here) for 5 s, as in etcd.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let added = cluster.ctl(&["member", "add", "d", &format!("--peer-urls={url}")]);
        if added.success() {
            break;
        }
        assert!(
            added.stderr_str().contains("unhealthy cluster")
                && std::time::Instant::now() < deadline,
            "{added:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    cluster.start_member(d).expect("joiner serves");
    let got = etcdctl(
        &cluster.member(d).endpoint(),
        &["get", "over", "--print-value-only"],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(got.stdout_str().trim(), "tls", "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_peer_auto_tls() {
    let cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .peer_tls()
        .args(&["--peer-auto-tls"])
        .start();
    let fixture = cluster.member(0).data_dir.join("fixtures/peer/cert.pem");
    assert!(fixture.is_file(), "no {}", fixture.display());
    replicates_and_takes_a_joiner(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_ca_signed_peer_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "peer-ca");
    let (cert, key) = pki.issue("peer", "peer", &["127.0.0.1"], false);
    let cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .peer_tls()
        .args(&[
            format!("--peer-cert-file={cert}"),
            format!("--peer-key-file={key}"),
            format!("--peer-trusted-ca-file={}", pki.ca_file()),
            "--peer-client-cert-auth".to_string(),
            "--peer-cert-allowed-cn=peer".to_string(),
        ])
        .start();
    replicates_and_takes_a_joiner(cluster).await;
}

/// config/cluster-3-tls as an operator runs it: every member from its file,
/// from a directory holding certs/, only the ports changed.
#[test]
fn the_example_tls_cluster_config_forms_a_cluster() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "certs");
    let names = ["a", "b", "c"];
    for n in names {
        pki.issue(n, "peer", &["127.0.0.1", "localhost"], false);
    }
    let (client_cert, client_key) = pki.issue("client", "root", &["client.local"], false);
    let ports: Vec<(u16, u16)> = names
        .iter()
        .map(|_| (common::free_port(), common::free_port()))
        .collect();
    let cluster: Vec<String> = names
        .iter()
        .zip(&ports)
        .map(|(n, (_, p))| format!("{n}=https://127.0.0.1:{p}"))
        .collect();
    let mut children = Vec::new();
    for (n, (client, peer)) in names.iter().zip(&ports) {
        let config = format!(
            "{}/config/cluster-3-tls/{n}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let log = std::fs::File::create(dir.path().join(format!("{n}.log"))).unwrap();
        let child = Command::new(common::oxcd_bin())
            .current_dir(dir.path())
            .arg(format!("--config-file={config}"))
            .arg(format!("--listen-client-urls=https://127.0.0.1:{client}"))
            .arg(format!(
                "--advertise-client-urls=https://127.0.0.1:{client}"
            ))
            .arg(format!("--listen-peer-urls=https://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=https://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster={}", cluster.join(",")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        children.push(KillOnDrop(child));
    }
    let tls = [
        format!("--cacert={}", pki.ca_file()),
        format!("--cert={client_cert}"),
        format!("--key={client_key}"),
    ];
    let endpoints: Vec<String> = ports
        .iter()
        .map(|(c, _)| format!("https://127.0.0.1:{c}"))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let put = loop {
        let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
        args.extend(["--command-timeout=3s", "put", "tls-cluster", "up"]);
        let put = etcdctl(&endpoints[0], &args, None, CTL_TIMEOUT);
        if put.success() || std::time::Instant::now() > deadline {
            break put;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(put.success(), "{put:?}\n{}", logs(dir.path(), &names));
    for ep in &endpoints[1..] {
        let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
        args.extend(["get", "tls-cluster", "--print-value-only"]);
        let got = etcdctl(ep, &args, None, CTL_TIMEOUT);
        assert_eq!(got.stdout_str().trim(), "up", "{ep}: {got:?}");
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn logs(dir: &std::path::Path, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
}
