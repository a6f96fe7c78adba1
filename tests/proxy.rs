//! The fault-injecting proxy of `tests/common/proxy.rs`: forwarding, block / unblock, delay,
//! drop; a `Mesh` of three fake members (echo servers, dialed from separate processes) with
//! isolate / cut / heal; and a real 3-member etcd cluster whose leader is isolated and healed.

use crate::common;

use common::proxy::{parse_proc_addr, Mesh, Proxy};
use common::{etcdctl, Cluster, ServerKind};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// An echo server on 127.0.0.1 that answers each line with `<tag>:<line>`; runs until the
/// test process ends.
fn echo_server(tag: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tag = tag.to_string();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let tag = tag.clone();
            thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let r = BufReader::new(conn);
                for line in r.lines() {
                    let Ok(line) = line else { return };
                    if writeln!(w, "{tag}:{line}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    s
}

/// Send a line, read one back. None when nothing came back in time, or EOF, or an error.
fn roundtrip(s: &mut TcpStream, line: &str) -> Option<String> {
    if s.write_all(format!("{line}\n").as_bytes()).is_err() {
        return None;
    }
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) if byte[0] == b'\n' => return Some(String::from_utf8(got).unwrap()),
            Ok(_) => got.push(byte[0]),
        }
    }
}

/// True when the connection is closed (EOF or reset) within the read timeout.
fn is_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn proc_addresses_parse() {
    assert_eq!(
        parse_proc_addr("0100007F:1F90"),
        Some("127.0.0.1:8080".parse().unwrap())
    );
    assert_eq!(
        parse_proc_addr("0000000000000000FFFF00000100007F:0050"),
        Some("127.0.0.1:80".parse().unwrap())
    );
    assert_eq!(parse_proc_addr("zz"), None);
}

#[test]
fn bytes_flow_both_ways() {
    let echo = echo_server("e");
    let proxy = Proxy::start(echo);
    assert_eq!(proxy.listen_addr().ip().to_string(), "127.0.0.1");
    assert_ne!(proxy.listen_addr(), echo);
    let mut a = connect(proxy.listen_addr());
    let mut b = connect(proxy.listen_addr());
    assert_eq!(roundtrip(&mut a, "one").as_deref(), Some("e:one"));
    assert_eq!(roundtrip(&mut b, "two").as_deref(), Some("e:two"));
    // A big payload in one go.
    let big = "x".repeat(300_000);
    assert_eq!(roundtrip(&mut a, &big), Some(format!("e:{big}")));
    let st = proxy.stats();
    assert_eq!((st.accepted, st.forwarded, st.open), (2, 2, 2));
    assert!(st.bytes > 600_000, "{st:?}");
    assert!(!proxy.is_blocked());
}

#[test]
fn block_cuts_existing_connections_and_blackholes_new_ones() {
    let echo = echo_server("e");
    let proxy = Proxy::start(echo);
    let mut old = connect(proxy.listen_addr());
    assert_eq!(roundtrip(&mut old, "before").as_deref(), Some("e:before"));

    proxy.block();
    assert!(proxy.is_blocked());
    assert!(
        is_closed(&mut old),
        "an existing connection must be closed by block()"
    );
    assert_eq!(roundtrip(&mut old, "after"), None);

    // New connections are accepted but nothing goes through, nothing comes back.
    let mut new = connect(proxy.listen_addr());
    assert_eq!(roundtrip(&mut new, "blocked"), None);
    let st = proxy.stats();
    assert_eq!(st.blackholed, 1, "{st:?}");
    assert_eq!(st.cut, 1, "{st:?}");
    assert_eq!(st.forwarded, 1, "{st:?}");

    // unblock: the blackholed connection is reset (the dialer redials), new ones flow.
    proxy.unblock();
    assert!(!proxy.is_blocked());
    new.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(
        is_closed(&mut new),
        "blackholed connection closed on unblock"
    );
    let mut again = connect(proxy.listen_addr());
    assert_eq!(roundtrip(&mut again, "healed").as_deref(), Some("e:healed"));
    wait_until("only one open connection", Duration::from_secs(2), || {
        proxy.stats().open == 1
    });
}

#[test]
fn delay_adds_latency_per_chunk_without_serialising_chunks() {
    let echo = echo_server("e");
    let proxy = Proxy::start(echo);
    let mut s = connect(proxy.listen_addr());
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    assert_eq!(roundtrip(&mut s, "fast").as_deref(), Some("e:fast"));
    let fast = t.elapsed();
    assert!(fast < Duration::from_millis(150), "{fast:?}");

    proxy.set_delay(Duration::from_millis(200));
    assert_eq!(proxy.delay(), Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(roundtrip(&mut s, "slow").as_deref(), Some("e:slow"));
    let slow = t.elapsed();
    // 200 ms each way.
    assert!(slow >= Duration::from_millis(400), "{slow:?}");
    assert!(slow < Duration::from_millis(1500), "{slow:?}");

    // Five lines written 50 ms apart arrive ~400 ms after each was sent: latency, not a
    // queue that adds 400 ms per chunk.
    let t = Instant::now();
    for i in 0..5 {
        s.write_all(format!("l{i}\n").as_bytes()).unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..5 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), format!("e:l{i}"));
    }
    let all = t.elapsed();
    assert!(all >= Duration::from_millis(600), "{all:?}");
    assert!(all < Duration::from_millis(1500), "{all:?}");

    proxy.set_delay(Duration::ZERO);
    let t = Instant::now();
    assert_eq!(
        roundtrip(&mut s, "fast again").as_deref(),
        Some("e:fast again")
    );
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[test]
fn dropping_the_proxy_closes_everything() {
    let echo = echo_server("e");
    let proxy = Proxy::start(echo);
    let addr = proxy.listen_addr();
    let mut s = connect(addr);
    assert_eq!(roundtrip(&mut s, "hi").as_deref(), Some("e:hi"));
    drop(proxy);
    assert!(is_closed(&mut s));
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_from_inside_a_tokio_runtime() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let echo = echo_server("e");
    let proxy = Proxy::start(echo);
    let s = tokio::net::TcpStream::connect(proxy.listen_addr())
        .await
        .unwrap();
    let (r, mut w) = s.into_split();
    w.write_all(b"async\n").await.unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(r)
        .read_line(&mut line)
        .await
        .unwrap();
    assert_eq!(line, "e:async\n");
    proxy.block();
    proxy.unblock();
    drop(proxy); // joins the proxy thread from inside the runtime
}

/// A fake member's dialing side: a separate bash process (the mesh tells dialers apart by
/// process) that dials a port through /dev/tcp on request.
struct Dialer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const DIALER_SCRIPT: &str = r#"
trap '' PIPE
while read -r cmd port; do
  case $cmd in
    ping)
      if { exec 3<>/dev/tcp/127.0.0.1/$port; } 2>/dev/null; then
        printf 'ping\n' >&3 2>/dev/null
        if read -r -t 0.7 line <&3; then echo "ok $line"; else echo "fail"; fi
        exec 3>&-
      else
        echo "fail"
      fi ;;
    open)
      if { exec 4<>/dev/tcp/127.0.0.1/$port; } 2>/dev/null; then echo opened; else echo fail; fi ;;
    check)
      printf 'again\n' >&4 2>/dev/null
      if read -r -t 0.7 line <&4; then echo "ok $line"; else echo "fail"; fi ;;
  esac
done
"#;

impl Dialer {
    fn start() -> Dialer {
        let mut child = Command::new("bash")
            .args(["-c", DIALER_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn bash");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Dialer {
            child,
            stdin,
            stdout,
        }
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn cmd(&mut self, cmd: &str, port: u16) -> String {
        writeln!(self.stdin, "{cmd} {port}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }
    /// Dial `addr`, send a line, wait for the answer: `Some(tag)` of the echo server.
    fn ping(&mut self, addr: SocketAddr) -> Option<String> {
        let out = self.cmd("ping", addr.port());
        out.strip_prefix("ok ")
            .map(|s| s.split(':').next().unwrap().to_string())
    }
    /// Open a long-lived connection (one per dialer) and check it answers.
    fn open(&mut self, addr: SocketAddr) {
        assert_eq!(self.cmd("open", addr.port()), "opened");
    }
    fn check(&mut self) -> bool {
        self.cmd("check", 0).starts_with("ok ")
    }
}

impl Drop for Dialer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every ordered pair (i dials j) answers exactly when `expect(i, j)`.
fn assert_matrix(
    mesh: &Mesh,
    dialers: &mut [Dialer],
    what: &str,
    expect: impl Fn(usize, usize) -> bool,
) {
    let n = dialers.len();
    let mut wrong = Vec::new();
    for (i, dialer) in dialers.iter_mut().enumerate() {
        for j in 0..n {
            if i == j {
                continue;
            }
            let got = dialer.ping(mesh.addr(j));
            let want = expect(i, j);
            assert_eq!(mesh.can_dial(i, j), want, "{what}: can_dial({i}, {j})");
            match (&got, want) {
                (Some(tag), true) if *tag == format!("m{j}") => {}
                (None, false) => {}
                _ => wrong.push(format!("{i} -> {j}: got {got:?}, expected through: {want}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{what}:\n{}", wrong.join("\n"));
}

#[test]
fn mesh_isolate_cut_heal_between_three_fake_members() {
    let targets: Vec<SocketAddr> = (0..3).map(|j| echo_server(&format!("m{j}"))).collect();
    let mesh = Mesh::start(&targets);
    assert_eq!(mesh.len(), 3);
    let mut dialers: Vec<Dialer> = (0..3).map(|_| Dialer::start()).collect();
    for (i, d) in dialers.iter().enumerate() {
        mesh.set_pid(i, Some(d.pid()));
    }
    assert_eq!(
        mesh.initial_cluster(&["a", "b", "c"]),
        format!(
            "a={},b={},c={}",
            mesh.peer_url(0),
            mesh.peer_url(1),
            mesh.peer_url(2)
        )
    );

    assert_matrix(&mesh, &mut dialers, "all connected", |_, _| true);

    // Long-lived connections: 1 -> 0 (will be cut by isolate(0)), 2 -> 1 (must survive).
    dialers[1].open(mesh.addr(0));
    dialers[2].open(mesh.addr(1));
    assert!(dialers[1].check() && dialers[2].check());

    mesh.isolate(0);
    assert!(!dialers[1].check(), "1 -> 0 must be cut by isolate(0)");
    assert!(dialers[2].check(), "2 -> 1 must survive isolate(0)");
    assert_matrix(&mesh, &mut dialers, "isolate(0)", |i, j| i != 0 && j != 0);
    // Unregistered dialers (this test process) cannot reach the isolated member either...
    let mut own = connect(mesh.addr(0));
    assert_eq!(roundtrip(&mut own, "x"), None);
    // ...but reach the others.
    let mut own = connect(mesh.addr(1));
    assert_eq!(roundtrip(&mut own, "x").as_deref(), Some("m1:x"));

    mesh.heal();
    assert_matrix(&mesh, &mut dialers, "healed", |_, _| true);

    mesh.cut(1, 2);
    assert!(!mesh.connected(1, 2) && mesh.connected(0, 1) && mesh.connected(0, 2));
    assert!(!dialers[2].check(), "2 -> 1 must be cut by cut(1, 2)");
    assert_matrix(&mesh, &mut dialers, "cut(1, 2)", |i, j| {
        !matches!((i, j), (1, 2) | (2, 1))
    });
    // Unregistered dialers are not affected by a cut between members.
    let mut own = connect(mesh.addr(2));
    assert_eq!(roundtrip(&mut own, "y").as_deref(), Some("m2:y"));

    mesh.heal();
    mesh.cut_dialing(0, 1);
    assert_matrix(&mesh, &mut dialers, "cut_dialing(0, 1)", |i, j| {
        (i, j) != (0, 1)
    });

    // Blocking one member's proxy refuses every dialer into it; heal() unblocks it.
    mesh.heal();
    mesh.proxy(2).block();
    assert_matrix(&mesh, &mut dialers, "proxy(2).block()", |_, j| j != 2);
    mesh.heal();
    assert!(!mesh.proxy(2).is_blocked());
    assert_matrix(&mesh, &mut dialers, "healed again", |_, _| true);

    // A member whose pid is not registered is an unknown dialer: a cut does not apply.
    mesh.set_pid(1, None);
    mesh.cut(0, 1);
    assert_eq!(dialers[1].ping(mesh.addr(0)).as_deref(), Some("m0"));
    assert_eq!(dialers[0].ping(mesh.addr(1)), None);
}

// ----- a real etcd cluster -----

struct Status {
    member_id: u64,
    cluster_id: u64,
    leader: u64,
}

fn status(c: &Cluster, i: usize) -> Option<Status> {
    let out = etcdctl(
        &c.member(i).endpoint(),
        &[
            "endpoint",
            "status",
            "-w",
            "json",
            "--dial-timeout=1s",
            "--command-timeout=2s",
        ],
        None,
        Duration::from_secs(5),
    );
    if !out.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let s = &v[0]["Status"];
    Some(Status {
        member_id: s["header"]["member_id"].as_u64()?,
        cluster_id: s["header"]["cluster_id"].as_u64()?,
        // Go's JSON omits a zero leader (no leader known).
        leader: s["leader"].as_u64().unwrap_or(0),
    })
}

fn ctl(c: &Cluster, i: usize, args: &[&str]) -> common::CtlOutput {
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["--dial-timeout=1s", "--command-timeout=2s"]);
    etcdctl(&c.member(i).endpoint(), &a, None, Duration::from_secs(6))
}

/// All members agree on one leader; returns its index.
fn agreed_leader(c: &Cluster) -> Option<usize> {
    let st: Vec<Status> = (0..3).map(|i| status(c, i)).collect::<Option<_>>()?;
    let leader = st[0].leader;
    if leader == 0 || st.iter().any(|s| s.leader != leader) {
        return None;
    }
    st.iter().position(|s| s.member_id == leader)
}

#[test]
fn etcd_isolated_leader_loses_leadership_and_heals() {
    if !common::require_etcd("etcd_isolated_leader_loses_leadership_and_heals") {
        return;
    }
    let c = Cluster::builder(ServerKind::Etcd)
        .members(3)
        .peer_mesh(true)
        .args(&["--heartbeat-interval=50", "--election-timeout=500"])
        .start();
    // Member ids and the cluster id agree across members (one shared --initial-cluster).
    let st: Vec<Status> = (0..3).map(|i| status(&c, i).expect("status")).collect();
    assert!(st.iter().all(|s| s.cluster_id == st[0].cluster_id));
    let mut leader = None;
    wait_until("a leader all agree on", Duration::from_secs(10), || {
        leader = agreed_leader(&c);
        leader.is_some()
    });
    let old = leader.unwrap();
    let old_id = st[old].member_id;
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    assert!(ctl(&c, old, &["put", "k", "before"]).success());

    c.mesh().isolate(old);

    // The two others elect a new leader among themselves and accept writes.
    wait_until(
        "a write through a follower",
        Duration::from_secs(15),
        || ctl(&c, others[0], &["put", "k", "during"]).success(),
    );
    let new_leader = status(&c, others[1]).expect("status").leader;
    assert!(
        new_leader != 0 && new_leader != old_id,
        "new leader {new_leader:x}, old {old_id:x}"
    );
    assert!(ctl(&c, others[1], &["put", "k2", "during"]).success());
    // The isolated old leader cannot commit: writes and linearizable reads fail.
    let put = ctl(&c, old, &["put", "k", "lost"]);
    assert!(
        !put.success(),
        "write through the isolated member succeeded"
    );
    let get = ctl(&c, old, &["get", "k", "--consistency=l"]);
    assert!(
        !get.success(),
        "linearizable read on the isolated member succeeded"
    );
    // It no longer considers itself the leader (check-quorum).
    wait_until(
        "the old leader to step down",
        Duration::from_secs(10),
        || status(&c, old).is_some_and(|s| s.leader != old_id),
    );

    c.mesh().heal();

    // All three agree on a leader again and serve the writes made during the partition.
    wait_until(
        "a leader all agree on after heal",
        Duration::from_secs(20),
        || agreed_leader(&c).is_some(),
    );
    for i in 0..3 {
        wait_until(
            &format!("member {i} to serve k"),
            Duration::from_secs(15),
            || {
                let out = ctl(
                    &c,
                    i,
                    &["get", "k", "--consistency=l", "--print-value-only"],
                );
                out.success() && out.stdout_str().trim() == "during"
            },
        );
    }
    assert!(ctl(&c, old, &["put", "k3", "after"]).success());
    let stats = c.mesh().stats();
    assert!(stats.iter().all(|s| s.cut + s.blackholed > 0), "{stats:?}");
}
