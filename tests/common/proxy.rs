//! A fault-injecting TCP proxy for partition tests: [`Proxy`] (one forwarder you can block,
//! unblock and slow down) and [`Mesh`] (one proxy in front of each cluster member's peer
//! listener, with per-pair cuts, `isolate` and `heal`).
//!
//! # Design
//!
//! **One proxy per member, in front of its peer listener; every member dials that proxy.**
//! Member `j` listens on its real peer port `P_j` (`--listen-peer-urls`) but advertises the
//! proxy `X_j` (`--initial-advertise-peer-urls`), and `--initial-cluster` names `X_j` for
//! `j`. Every member gets the *same* `--initial-cluster` ([`Mesh::initial_cluster`]).
//!
//! Why not one proxy per ordered pair (`i -> j`) with a different `--initial-cluster` per
//! member? etcd (and oxcd, `src/membership.rs`) derive a member's id from SHA-1 over *its
//! sorted peer URLs* plus the cluster token, and the cluster id from the sorted member ids.
//! If member `i` knew `j` as `X_ij` and member `k` knew it as `X_kj`, the two would compute
//! different ids for `j` and a different cluster id; etcd rejects every peer request whose
//! `X-Etcd-Cluster-ID` differs, and raft messages would be addressed to unknown ids. Listing
//! all of `j`'s per-source proxies as `j`'s URLs in one shared string keeps the ids equal, but
//! then every member dials the same (first reachable) URL of `j`, so the proxy still cannot
//! tell who dials. So per-member strings cannot work.
//!
//! With one shared proxy `X_j` per destination, cutting only the connections *into* `j` does
//! not isolate `j`: raft traffic flows over connections in both directions (in etcd, the
//! stream `i` opens to `j` carries `j`'s messages to `i`, and `j`'s pipeline POSTs to `i`
//! carry `j`'s messages the other way). `j`'s own outgoing connections reach `X_k` proxies
//! that the other members use too, so the proxy must know **who dialed**.
//!
//! Telling dialers apart by source IP (members on 127.0.0.11, .12, ...) does not work: the
//! kernel picks source address 127.0.0.1 for any 127/8 destination (checked on this
//! machine), and neither etcd nor oxcd can bind the source of its outgoing peer connections.
//! So the proxy asks the kernel instead (Linux only): on accept, it looks up the dialer's end
//! of the connection in `/proc/net/tcp{,6}` (local = the accepted peer address, remote = the
//! proxy's address) to get its socket inode, then finds which registered member process
//! holds `socket:[inode]` among its `/proc/<pid>/fd`. The test (or
//! [`super::server::Cluster`] with `ClusterBuilder::peer_mesh(true)`) registers each
//! member's pid with [`Mesh::set_pid`]. All listeners stay on 127.0.0.1.
//!
//! A connection from a process that is not registered (or not found) counts as *unknown*:
//! it passes unless its destination proxy is blocked or its destination member isolated.
//!
//! # Blocked connections
//!
//! When a connection becomes blocked (a [`Proxy::block`], a [`Mesh`] cut or isolate), both of
//! its sockets are closed at once with a reset (`SO_LINGER` 0): the dialer sees
//! "connection reset" (or EOF) and redials. A connection accepted while blocked is
//! **blackholed**: accepted, its input read and thrown away, nothing forwarded, nothing sent
//! back (the dialer's HTTP/gRPC requests hang until its own timeouts, as in a network
//! partition). When the block lifts, blackholed connections are closed (reset) so that the
//! dialer redials promptly through the now open path; they are never forwarded late.
//!
//! # Threads
//!
//! Each [`Proxy`] runs on its own background thread with its own single-threaded tokio
//! runtime, so it works from plain `#[test]`s and from `#[tokio::test]`s alike. The controls
//! are plain methods callable from any thread. Dropping the proxy stops it and closes every
//! connection.
//!
//! ```ignore
//! let mut c = Cluster::builder(ServerKind::Etcd).members(3).peer_mesh(true).start();
//! let leader = /* index of the leader */ 0;
//! c.mesh().isolate(leader);        // leader cut off from both others, both directions
//! // ... writes through the others succeed, writes through the leader time out ...
//! c.mesh().heal();
//! c.mesh().cut(1, 2);              // only 1 <-> 2
//! ```

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long a proxy waits for its target to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Chunks read but not yet written (delay queue) per direction before reading pauses.
const MAX_QUEUED_CHUNKS: usize = 256;

/// Counters of one proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted so far.
    pub accepted: u64,
    /// Connections that were forwarded to the target (not blackholed).
    pub forwarded: u64,
    /// Connections closed because they became blocked.
    pub cut: u64,
    /// Connections accepted while blocked (blackholed).
    pub blackholed: u64,
    /// Connections open right now (forwarded or blackholed).
    pub open: usize,
    /// Bytes forwarded, both directions.
    pub bytes: u64,
    /// Chunks dropped by [`Proxy::set_drop`] (each ended its connection).
    pub dropped: u64,
}

struct Shared {
    target: SocketAddr,
    listen: SocketAddr,
    blocked: AtomicBool,
    delay_us: AtomicU64,
    /// Chance, per thousand, that a chunk ends its connection instead of passing.
    drop_per_mille: AtomicU64,
    /// Bumped on every control change; connections re-check whether they may flow.
    changed: watch::Sender<u64>,
    /// Set when the proxy is part of a [`Mesh`]: the rules and this proxy's member index.
    mesh: Option<(Arc<MeshState>, usize)>,
    accepted: AtomicU64,
    forwarded: AtomicU64,
    cut: AtomicU64,
    blackholed: AtomicU64,
    open: AtomicUsize,
    bytes: AtomicU64,
    /// Chunks dropped (each ended its connection).
    dropped: AtomicU64,
}

impl Shared {
    fn poke(&self) {
        self.changed.send_modify(|g| *g += 1);
    }
    fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::SeqCst))
    }
    fn drops_now(&self) -> bool {
        let per_mille = self.drop_per_mille.load(Ordering::SeqCst);
        per_mille > 0 && rand::random::<u64>() % 1000 < per_mille
    }
    /// Which mesh member dialed `peer` (None outside a mesh or when not found).
    fn identify(&self, peer: SocketAddr) -> Option<usize> {
        let (mesh, _) = self.mesh.as_ref()?;
        let inode = dialer_socket_inode(peer, self.listen)?;
        let pids = mesh.pids.lock().unwrap().clone();
        pids.iter()
            .position(|pid| pid.is_some_and(|pid| process_holds_socket(pid, inode)))
    }
    fn allowed(&self, src: Option<usize>) -> bool {
        if self.blocked.load(Ordering::SeqCst) {
            return false;
        }
        match &self.mesh {
            Some((mesh, dst)) => mesh.allowed(src, *dst),
            None => true,
        }
    }
}

/// A TCP forwarder from a free 127.0.0.1 port to `target` that can be blocked, unblocked and
/// delayed at any time. Stops (closing every connection) when dropped.
pub struct Proxy {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a free 127.0.0.1 port and forward every connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        Self::start_inner(target, None)
    }

    fn start_inner(target: SocketAddr, mesh: Option<(Arc<MeshState>, usize)>) -> Proxy {
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("set_nonblocking");
        let listen = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target,
            listen,
            blocked: AtomicBool::new(false),
            delay_us: AtomicU64::new(0),
            drop_per_mille: AtomicU64::new(0),
            changed: watch::channel(0).0,
            mesh,
            accepted: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            blackholed: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{}", listen.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = accept_loop(listener, sh) => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime drops every connection task and so every socket.
            })
            .expect("spawn proxy thread");
        Proxy {
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The address to dial instead of the target (`127.0.0.1:port`).
    pub fn listen_addr(&self) -> SocketAddr {
        self.shared.listen
    }
    /// `http://127.0.0.1:port`, for peer URLs.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.listen)
    }
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }
    /// Close every open connection now (reset) and blackhole new ones until [`unblock`].
    ///
    /// [`unblock`]: Proxy::unblock
    pub fn block(&self) {
        self.shared.blocked.store(true, Ordering::SeqCst);
        self.shared.poke();
    }
    /// Forward new connections again; connections blackholed meanwhile are closed (reset).
    pub fn unblock(&self) {
        self.shared.blocked.store(false, Ordering::SeqCst);
        self.shared.poke();
    }
    pub fn is_blocked(&self) -> bool {
        self.shared.blocked.load(Ordering::SeqCst)
    }
    /// Drop `per_mille` of the chunks read from now on: each dropped chunk ends its
    /// connection (as lost packets end a TCP connection that cannot recover), and the
    /// member dials again.
    pub fn set_drop(&self, per_mille: u64) {
        self.shared
            .drop_per_mille
            .store(per_mille.min(1000), Ordering::SeqCst);
    }
    /// Hold every chunk read from either side for `delay` before writing it on (latency, not
    /// a bandwidth limit: chunks in flight overlap). Applies to chunks read from now on.
    pub fn set_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_us.store(us, Ordering::SeqCst);
    }
    pub fn delay(&self) -> Duration {
        self.shared.delay()
    }
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        ProxyStats {
            accepted: s.accepted.load(Ordering::SeqCst),
            forwarded: s.forwarded.load(Ordering::SeqCst),
            cut: s.cut.load(Ordering::SeqCst),
            blackholed: s.blackholed.load(Ordering::SeqCst),
            open: s.open.load(Ordering::SeqCst),
            bytes: s.bytes.load(Ordering::SeqCst),
            dropped: s.dropped.load(Ordering::SeqCst),
        }
    }
    fn poke(&self) {
        self.shared.poke();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handle(client, peer, shared.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Counts an open connection while alive.
struct OpenGuard(Arc<Shared>);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Close with a reset rather than a FIN.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

async fn handle(mut client: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    shared.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(shared.clone());
    let _ = client.set_nodelay(true);
    let mut changed = shared.changed.subscribe();
    let src = shared.identify(peer);
    if !shared.allowed(src) {
        shared.blackholed.fetch_add(1, Ordering::SeqCst);
        blackhole(client, &shared, src, &mut changed).await;
        return;
    }
    let upstream =
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.target)).await {
            Ok(Ok(u)) => u,
            _ => return reset(client),
        };
    let _ = upstream.set_nodelay(true);
    let mut upstream = upstream;
    if !shared.allowed(src) {
        // Blocked while we were connecting.
        shared.cut.fetch_add(1, Ordering::SeqCst);
        reset(upstream);
        return reset(client);
    }
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    let cut = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        let both =
            async { tokio::try_join!(pipe(cr, uw, &shared), pipe(ur, cw, &shared)).map(|_| ()) };
        tokio::select! {
            _ = both => false,
            _ = until_blocked(&mut changed, &shared, src) => true,
        }
    };
    if cut {
        shared.cut.fetch_add(1, Ordering::SeqCst);
        reset(upstream);
        reset(client);
    }
}

/// Returns once a control change makes `src`'s connection blocked.
async fn until_blocked(changed: &mut watch::Receiver<u64>, shared: &Shared, src: Option<usize>) {
    loop {
        if changed.changed().await.is_err() {
            return std::future::pending().await;
        }
        if !shared.allowed(src) {
            return;
        }
    }
}

/// Read and discard everything, answer nothing, until the dialer closes or the block lifts
/// (then close with a reset so that the dialer redials).
async fn blackhole(
    mut client: TcpStream,
    shared: &Shared,
    src: Option<usize>,
    changed: &mut watch::Receiver<u64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            r = client.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            r = changed.changed() => {
                if r.is_err() || shared.allowed(src) {
                    return reset(client);
                }
            }
        }
    }
}

/// Copy `r` to `w`, each chunk held for the proxy's delay (read on meanwhile, so chunks in
/// flight overlap). Half-closes `w` at EOF.
async fn pipe<R, W>(mut r: R, mut w: W, shared: &Shared) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut eof = false;
    loop {
        if eof && queue.is_empty() {
            let _ = w.shutdown().await;
            return Ok(());
        }
        let head = queue.front().map(|(t, _)| *t);
        tokio::select! {
            n = r.read(&mut buf), if !eof && queue.len() < MAX_QUEUED_CHUNKS => {
                match n? {
                    0 => eof = true,
                    n if shared.drops_now() => {
                        shared.dropped.fetch_add(1, Ordering::SeqCst);
                        let _ = n;
                        return Err(std::io::ErrorKind::ConnectionReset.into());
                    }
                    n => queue.push_back((Instant::now() + shared.delay(), buf[..n].to_vec())),
                }
            }
            _ = tokio::time::sleep_until(head.unwrap_or_else(Instant::now)), if head.is_some() => {
                let (_, data) = queue.pop_front().unwrap();
                w.write_all(&data).await?;
                shared.bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
            }
        }
    }
}

// ----- who dialed: /proc lookups (Linux) -----

/// Parse a `/proc/net/tcp{,6}` address (`0100007F:1F90`, or 32 hex digits for IPv6, each
/// 32-bit group in host byte order). IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for g in 0..4 {
                let word = u32::from_str_radix(&ip[g * 8..g * 8 + 8], 16).ok()?;
                bytes[g * 4..g * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The inode of the dialer's socket of a connection the proxy accepted: the socket whose
/// local address is `peer` and whose remote address is `proxy`.
fn dialer_socket_inode(peer: SocketAddr, proxy: SocketAddr) -> Option<u64> {
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            if parse_proc_addr(f[1]) == Some(peer) && parse_proc_addr(f[2]) == Some(proxy) {
                if let Ok(inode) = f[9].parse::<u64>() {
                    if inode != 0 {
                        return Some(inode);
                    }
                }
            }
        }
    }
    None
}

/// True when process `pid` has `socket:[inode]` among its open files.
fn process_holds_socket(pid: u32, inode: u64) -> bool {
    let want = format!("socket:[{inode}]");
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|target| target.as_os_str() == want.as_str())
    })
}

// ----- Mesh -----

#[derive(Default)]
struct Rules {
    /// Ordered pairs (dialer, destination) whose connections are blocked.
    cut: HashSet<(usize, usize)>,
    /// Members cut from everyone, both directions, unknown dialers included.
    isolated: HashSet<usize>,
}

struct MeshState {
    rules: Mutex<Rules>,
    /// Member index -> pid of the process that is that member (None: not running/unknown).
    pids: Mutex<Vec<Option<u32>>>,
}

impl MeshState {
    fn allowed(&self, src: Option<usize>, dst: usize) -> bool {
        let rules = self.rules.lock().unwrap();
        if rules.isolated.contains(&dst) {
            return false;
        }
        match src {
            Some(s) => !rules.isolated.contains(&s) && !rules.cut.contains(&(s, dst)),
            None => true,
        }
    }
}

/// One [`Proxy`] in front of each member's peer listener (member `j` is reached by everyone
/// at [`Mesh::addr`]`(j)`), with partitions between members. See the module docs for why it
/// is one proxy per member and how the dialer is recognised (register pids with
/// [`Mesh::set_pid`]; [`super::server::Cluster`] does it itself with `peer_mesh(true)`).
pub struct Mesh {
    proxies: Vec<Proxy>,
    state: Arc<MeshState>,
}

impl Mesh {
    /// `targets[j]` is member `j`'s real peer listener.
    pub fn start(targets: &[SocketAddr]) -> Mesh {
        let state = Arc::new(MeshState {
            rules: Mutex::new(Rules::default()),
            pids: Mutex::new(vec![None; targets.len()]),
        });
        let proxies = targets
            .iter()
            .enumerate()
            .map(|(j, t)| Proxy::start_inner(*t, Some((state.clone(), j))))
            .collect();
        Mesh { proxies, state }
    }
    pub fn len(&self) -> usize {
        self.proxies.len()
    }
    pub fn is_empty(&self) -> bool {
        self.proxies.is_empty()
    }
    /// The proxy in front of member `j` (block it to refuse every connection into `j`).
    pub fn proxy(&self, j: usize) -> &Proxy {
        &self.proxies[j]
    }
    /// What every member dials to reach member `j`.
    pub fn addr(&self, j: usize) -> SocketAddr {
        self.proxies[j].listen_addr()
    }
    /// `http://<addr(j)>`: member `j`'s `--initial-advertise-peer-urls` and its URL in
    /// `--initial-cluster` (it keeps listening on its real port, `--listen-peer-urls`).
    pub fn peer_url(&self, j: usize) -> String {
        self.proxies[j].url()
    }
    /// The `--initial-cluster` for **every** member (the same string for all, so that all
    /// compute the same member and cluster ids): `names[j]=peer_url(j)`, comma-separated.
    pub fn initial_cluster<S: AsRef<str>>(&self, names: &[S]) -> String {
        assert_eq!(names.len(), self.len(), "one name per member");
        names
            .iter()
            .enumerate()
            .map(|(j, n)| format!("{}={}", n.as_ref(), self.peer_url(j)))
            .collect::<Vec<_>>()
            .join(",")
    }
    /// Register the process that is member `i` (None when it is not running). Connections
    /// are attributed to a member only while its pid is registered.
    pub fn set_pid(&self, i: usize, pid: Option<u32>) {
        self.state.pids.lock().unwrap()[i] = pid;
    }
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.state.pids.lock().unwrap()[i]
    }
    fn changed(&self) {
        for p in &self.proxies {
            p.poke();
        }
    }
    /// Cut member `i` off from every other member, both directions: its open peer
    /// connections (in and out) are reset and new ones blackholed. Connections into `i` from
    /// unregistered processes are blocked too.
    pub fn isolate(&self, i: usize) {
        self.state.rules.lock().unwrap().isolated.insert(i);
        self.changed();
    }
    /// Cut `i <-> j`: connections `i` dials to `j` and those `j` dials to `i`.
    pub fn cut(&self, i: usize, j: usize) {
        {
            let mut r = self.state.rules.lock().unwrap();
            r.cut.insert((i, j));
            r.cut.insert((j, i));
        }
        self.changed();
    }
    /// Cut only the connections `dialer` opens to `target` (connection level: with etcd's
    /// raft streams this alone does not stop messages in either direction; use [`cut`]).
    ///
    /// [`cut`]: Mesh::cut
    pub fn cut_dialing(&self, dialer: usize, target: usize) {
        self.state
            .rules
            .lock()
            .unwrap()
            .cut
            .insert((dialer, target));
        self.changed();
    }
    /// Remove every cut and isolation, and unblock every proxy. Blackholed connections are
    /// reset so that members redial at once.
    pub fn heal(&self) {
        {
            let mut r = self.state.rules.lock().unwrap();
            r.cut.clear();
            r.isolated.clear();
        }
        for p in &self.proxies {
            p.shared.blocked.store(false, Ordering::SeqCst);
        }
        self.changed();
    }
    /// Whether a connection that member `from` dials to member `to` would be forwarded now.
    pub fn can_dial(&self, from: usize, to: usize) -> bool {
        !self.proxies[to].is_blocked() && self.state.allowed(Some(from), to)
    }
    /// Whether `i` and `j` can talk (each can dial the other).
    pub fn connected(&self, i: usize, j: usize) -> bool {
        self.can_dial(i, j) && self.can_dial(j, i)
    }
    /// Per-proxy counters, index = destination member.
    pub fn stats(&self) -> Vec<ProxyStats> {
        self.proxies.iter().map(|p| p.stats()).collect()
    }
}
