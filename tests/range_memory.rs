//! Peak memory of a server under concurrent large lists, in the spirit of
//! etcd #12342 and kubernetes #107325 (large Ranges run a server out of
//! memory): one member holding about 256 MiB under a prefix (4096 values of
//! 64 KiB), then 20 clients at once each Range the whole prefix in one
//! response, while a sampler reads the server's VmRSS every 20 ms.
//!
//! Two variants, each on a freshly started and loaded member (a garbage
//! collected server keeps freed memory for a while, which would blur the
//! second variant's baseline):
//! - `concurrent`: every client reads its response as fast as it arrives.
//! - `stalled`: every client (on a 64 KiB HTTP/2 window, grpc-go's default)
//!   reads nothing for 2 s once its answer starts,
//!   then reads everything. HTTP/2 flow control stops the server after one
//!   window, so whatever the server built for the response waits in its
//!   memory for the reader.
//!
//! The clients speak gRPC over a tonic `Channel` at the HTTP level and parse
//! the RangeResponse as it streams in (one KeyValue at a time), so the test
//! process never holds a whole response (20 decoded copies of 256 MiB would
//! be this process's problem, not the server's).
//!
//! Only what holds at any speed is asserted: every list returns all N keys
//! in order with whole values, or is refused with a gRPC status (printed),
//! at least one returns everything, and the server is alive afterwards; for
//! oxcd also the budget below.
//!
//! oxcd runs with `--range-memory-budget` of `OXCD_RANGE_MEMORY_BUDGET_MIB`
//! (default 512 MiB): its growth must stay within the budget (times 1.5,
//! plus the data and some slack) with no list refused.
//!
//! `OXCD_RANGE_MEMORY_MIB` (default 64; docs/benchmarks.md has 256) and
//! `OXCD_RANGE_MEMORY_CLIENTS` (default 20) override the data size and the
//! number of clients. As a
//! guard for the machine, the server is killed (and the test fails) if
//! MemAvailable falls under `OXCD_RANGE_MEMORY_GUARD_MIB` (default 2048).
//! The servers inherit the test's environment: `MIMALLOC_PURGE_DELAY=0`
//! makes oxcd's allocator give freed memory back at once, separating what
//! the ranges hold from what the allocator merely keeps (the "after" column).

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use common::{proc_status_kib, require_etcd, Cluster, ServerKind};
use http_body_util::{BodyExt, Full};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::{PutRequest, RangeRequest};
use oxcd::proto::mvccpb::KeyValue;
use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tower::{Service, ServiceExt};

const PREFIX: &str = "range-memory/";
/// The first key after every key under PREFIX ('/' + 1).
const PREFIX_END: &str = "range-memory0";
const VALUE_BYTES: usize = 64 * 1024;
const WRITERS: usize = 8;
/// How long the stalled clients read nothing.
const STALL: Duration = Duration::from_secs(2);
/// grpc-go's default stream and connection windows.
const SLOW_WINDOW: u32 = 65_535;
/// One list may take this long (in a debug build, on two cores).
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// When the server's memory is read again after the lists.
const AFTER: Duration = Duration::from_secs(2);
/// 8 GiB, etcd's largest recommended quota: neither server runs out of
/// space while loading.
const QUOTA: &str = "--quota-backend-bytes=8589934592";

/// The servers share the machine's memory and cores: one run at a time
/// (each test has a runtime of its own; tokio's Mutex works across them).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

#[derive(Clone, Copy)]
struct Settings {
    keys: usize,
    clients: usize,
    guard_kib: u64,
    /// oxcd's `--range-memory-budget`, MiB.
    budget_mib: u64,
}

impl Settings {
    fn from_env() -> Settings {
        let mib = env_usize("OXCD_RANGE_MEMORY_MIB", 64).max(1);
        Settings {
            keys: (mib * 1024 * 1024).div_ceil(VALUE_BYTES),
            clients: env_usize("OXCD_RANGE_MEMORY_CLIENTS", 20).max(1),
            guard_kib: env_usize("OXCD_RANGE_MEMORY_GUARD_MIB", 2048) as u64 * 1024,
            budget_mib: env_usize("OXCD_RANGE_MEMORY_BUDGET_MIB", 512) as u64,
        }
    }

    fn data_mib(&self) -> f64 {
        (self.keys * VALUE_BYTES) as f64 / (1024.0 * 1024.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Concurrent,
    Stalled,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Concurrent => "concurrent",
            Variant::Stalled => "stalled",
        }
    }
}

fn key(i: usize) -> String {
    format!("{PREFIX}{i:07}")
}

/// Value `i`: VALUE_BYTES of one letter, so a reader can check it cheaply.
fn fill_byte(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

/// The 26 values, one per letter; value `i` is `VALUES[i % 26]`.
static VALUES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| (0..26).map(|i| vec![fill_byte(i); VALUE_BYTES]).collect());

/// Puts every key with WRITERS concurrent writers.
async fn load(url: &str, keys: usize) {
    let kv = KvClient::connect(url.to_string())
        .await
        .expect("connect kv");
    let next = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let (mut kv, next) = (kv.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= keys {
                    return;
                }
                let put = PutRequest {
                    key: key(i).into_bytes(),
                    value: VALUES[i % 26].clone(),
                    ..Default::default()
                };
                if let Err(status) = kv.put(put).await {
                    panic!("put {} failed: {status}", key(i));
                }
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
}

/// The fields of /proc/<pid>/status the sampler follows, in KiB.
#[derive(Clone, Copy, Default, Debug)]
struct Mem {
    rss: u64,
    anon: u64,
}

fn read_mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Mem {
        rss: field("VmRSS:")?,
        anon: field("RssAnon:")?,
    })
}

fn mem_available_kib() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Reads the server's memory every SAMPLE_EVERY on a thread of its own (the
/// test's runtime is busy parsing responses); kills the server if the
/// machine runs short of memory.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Mem, bool)>,
}

impl Sampler {
    fn start(pid: u32, guard_kib: u64) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = Mem::default();
            let mut guard_tripped = false;
            while !stopped.load(Ordering::Relaxed) {
                if let Some(m) = read_mem(pid) {
                    peak.rss = peak.rss.max(m.rss);
                    peak.anon = peak.anon.max(m.anon);
                }
                if !guard_tripped && mem_available_kib().is_some_and(|kib| kib < guard_kib) {
                    // Our own child, by its id.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    guard_tripped = true;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            (peak, guard_tripped)
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> (Mem, bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("sampler thread")
    }
}

/// How one list ended.
#[derive(Debug)]
enum Outcome {
    /// Every key, in order, with its whole value.
    Complete,
    /// A gRPC status from the server (code, message).
    Refused(String),
    /// Anything else: a transport error, a short or wrong answer, a timeout.
    Broken(String),
}

fn grpc_status(headers: &http::HeaderMap) -> Option<(String, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.to_string();
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Some((code, message))
}

/// The RangeRequest for the whole prefix as one gRPC frame.
fn range_frame() -> Bytes {
    let request = RangeRequest {
        key: PREFIX.into(),
        range_end: PREFIX_END.into(),
        ..Default::default()
    };
    let message = request.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame.into()
}

/// Sends the Range and waits for the response headers; a refusal sent as
/// headers only is an outcome already.
async fn open_range(
    channel: &mut Channel,
    url: &str,
) -> Result<http::Response<tonic::body::Body>, Outcome> {
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{url}/etcdserverpb.KV/Range"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(range_frame())))
        .expect("request");
    let ready = channel
        .ready()
        .await
        .map_err(|e| Outcome::Broken(format!("channel: {e}")))?;
    let response = ready
        .call(request)
        .await
        .map_err(|e| Outcome::Broken(format!("request: {e}")))?;
    if response.status() != http::StatusCode::OK {
        return Err(Outcome::Broken(format!("HTTP {}", response.status())));
    }
    if let Some((code, message)) = grpc_status(response.headers()) {
        return Err(if code == "0" {
            Outcome::Broken("trailers-only OK without a message".into())
        } else {
            Outcome::Refused(format!("code {code}: {message}"))
        });
    }
    Ok(response)
}

/// A varint at the front of `buf`: its value and length, or None if `buf`
/// ends inside it.
fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Checks a RangeResponse as it streams in, one top-level field at a time,
/// holding at most one KeyValue.
struct RangeCheck {
    keys: usize,
    pending: BytesMut,
    /// The message length from the gRPC frame header, once read.
    message_len: Option<usize>,
    consumed: usize,
    kvs: usize,
    count: Option<u64>,
    problem: Option<String>,
}

impl RangeCheck {
    fn new(keys: usize) -> RangeCheck {
        RangeCheck {
            keys,
            pending: BytesMut::new(),
            message_len: None,
            consumed: 0,
            kvs: 0,
            count: None,
            problem: None,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if self.problem.is_some() {
            return;
        }
        self.pending.extend_from_slice(data);
        if self.message_len.is_none() {
            if self.pending.len() < 5 {
                return;
            }
            if self.pending[0] != 0 {
                self.problem = Some("compressed message".into());
                return;
            }
            let len = u32::from_be_bytes(self.pending[1..5].try_into().unwrap());
            self.message_len = Some(len as usize);
            self.pending.advance(5);
        }
        while let Some(used) = self.field() {
            self.pending.advance(used);
            self.consumed += used;
            if self.problem.is_some() {
                return;
            }
        }
    }

    /// Parses one whole field at the front of `pending`; its length, or None
    /// until it has all arrived.
    fn field(&mut self) -> Option<usize> {
        let buf = &self.pending[..];
        let (tag, tag_len) = varint(buf)?;
        let (number, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                let (value, len) = varint(&buf[tag_len..])?;
                if number == 4 {
                    self.count = Some(value);
                }
                Some(tag_len + len)
            }
            2 => {
                let (len, len_len) = varint(&buf[tag_len..])?;
                let start = tag_len + len_len;
                let end = start + len as usize;
                if buf.len() < end {
                    return None;
                }
                if number == 2 {
                    let problem = match KeyValue::decode(&buf[start..end]) {
                        Ok(kv) => self.check_kv(&kv),
                        Err(e) => Some(format!("bad KeyValue: {e}")),
                    };
                    self.problem = problem;
                    self.kvs += 1;
                }
                Some(end)
            }
            _ => {
                self.problem = Some(format!("unexpected wire type {wire} (field {number})"));
                Some(buf.len())
            }
        }
    }

    fn check_kv(&self, kv: &KeyValue) -> Option<String> {
        let i = self.kvs;
        if i >= self.keys {
            return Some(format!("more than {} keys", self.keys));
        }
        if kv.key != key(i).as_bytes() {
            return Some(format!(
                "key #{i} is {:?}, expected {}",
                String::from_utf8_lossy(&kv.key),
                key(i)
            ));
        }
        // A slice comparison is a memcmp, fast even in a debug build.
        if kv.value[..] != VALUES[i % 26][..] {
            return Some(format!(
                "value of {} has {} bytes or wrong content",
                key(i),
                kv.value.len()
            ));
        }
        None
    }

    /// The outcome once the trailers (or the end) arrived.
    fn finish(&self, trailers: Option<&http::HeaderMap>) -> Outcome {
        let status = trailers.and_then(grpc_status);
        match status {
            Some((code, message)) if code != "0" => {
                return Outcome::Refused(format!(
                    "code {code}: {message} (after {} keys)",
                    self.kvs
                ))
            }
            Some(_) => {}
            None => return Outcome::Broken(format!("no grpc-status after {} keys", self.kvs)),
        }
        if let Some(problem) = &self.problem {
            return Outcome::Broken(problem.clone());
        }
        let whole = self.message_len == Some(self.consumed) && self.pending.is_empty();
        if !whole || self.kvs != self.keys || self.count != Some(self.keys as u64) {
            return Outcome::Broken(format!(
                "{} of {} keys (count {:?}, {} of {:?} message bytes)",
                self.kvs, self.keys, self.count, self.consumed, self.message_len
            ));
        }
        Outcome::Complete
    }
}

/// Reads the whole response body, checking it as it comes.
async fn read_range(response: http::Response<tonic::body::Body>, keys: usize) -> Outcome {
    let mut body = response.into_body();
    let mut check = RangeCheck::new(keys);
    loop {
        match body.frame().await {
            None => return check.finish(None),
            Some(Err(status)) => {
                return Outcome::Broken(format!("body after {} keys: {status}", check.kvs))
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => check.feed(&data),
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return check.finish(Some(&trailers));
                    }
                }
            },
        }
    }
}

/// One client's list: open it, (stalled) wait for everyone and then do
/// nothing for STALL, read it all.
async fn list(mut channel: Channel, url: String, keys: usize, stall: bool) -> Outcome {
    let opened = tokio::time::timeout(LIST_TIMEOUT, open_range(&mut channel, &url)).await;
    let opened = match opened {
        Ok(opened) => opened,
        Err(_) => Err(Outcome::Broken("no response headers in time".into())),
    };
    // Each client stalls on its own once its answer starts (no barrier: a
    // server that queues large answers serves the next one when a stalled
    // one has been read).
    if stall && opened.is_ok() {
        tokio::time::sleep(STALL).await;
    }
    let response = match opened {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    tokio::time::timeout(LIST_TIMEOUT, read_range(response, keys))
        .await
        .unwrap_or_else(|_| Outcome::Broken("body not read in time".into()))
}

/// One table line.
struct Row {
    kind: ServerKind,
    variant: Variant,
    load_secs: f64,
    before: Mem,
    peak: Mem,
    /// VmHWM at the end (reset just before the lists when the kernel lets
    /// us; then it is the true peak between samples).
    hwm_kib: u64,
    hwm_reset: bool,
    /// VmRSS when the stalled clients were all waiting, just before they read.
    while_stalled_kib: Option<u64>,
    /// VmRSS AFTER the lists ended.
    after_kib: Option<u64>,
    complete: usize,
    refused: Vec<String>,
    broken: Vec<String>,
    list_secs: f64,
    alive: bool,
    guard_tripped: bool,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Row {
    fn header() -> String {
        format!(
            "{:<5} {:<10} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
            "srv",
            "variant",
            "dataMiB",
            "clients",
            "rssBefore",
            "peakRSS",
            "peak-bef",
            "VmHWM",
            "anonBef",
            "peakAnon",
            "stalled",
            "after",
            "ok/ref",
            "secs"
        )
    }

    fn line(&self, s: &Settings) -> String {
        format!(
            "{:<5} {:<10} {:>7.0} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>8.0}{} {:>9.0} {:>9.0} {:>9} {:>9} {:>7} {:>7.1}",
            self.kind.label(),
            self.variant.label(),
            s.data_mib(),
            s.clients,
            mib(self.before.rss),
            mib(self.peak.rss),
            mib(self.peak.rss.saturating_sub(self.before.rss)),
            mib(self.hwm_kib),
            if self.hwm_reset { " " } else { "*" },
            mib(self.before.anon),
            mib(self.peak.anon),
            self.while_stalled_kib
                .map_or("-".to_string(), |k| format!("{:.0}", mib(k))),
            self.after_kib
                .map_or("-".to_string(), |k| format!("{:.0}", mib(k))),
            format!("{}/{}", self.complete, self.refused.len()),
            self.list_secs,
        )
    }
}

async fn run(kind: ServerKind, variant: Variant, s: Settings) -> Row {
    let budget = format!("--range-memory-budget={}", s.budget_mib << 20);
    let args = match kind {
        ServerKind::Oxcd => vec![QUOTA.to_string(), budget],
        _ => vec![QUOTA.to_string()],
    };
    let mut cluster = Cluster::start_with_args(kind, &args);
    let url = cluster.member(0).client_url();
    let pid = cluster.member(0).pid().expect("server pid");

    let started = Instant::now();
    load(&url, s.keys).await;
    let load_secs = started.elapsed().as_secs_f64();
    // Let the server finish what the writes started (fsyncs, snapshots).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // One connection per client, as separate clients would have.
    let mut channels = Vec::new();
    for _ in 0..s.clients {
        let mut endpoint = Endpoint::from_shared(url.clone()).expect("endpoint");
        if variant == Variant::Stalled {
            endpoint = endpoint
                .initial_stream_window_size(SLOW_WINDOW)
                .initial_connection_window_size(SLOW_WINDOW);
        }
        channels.push(endpoint.connect().await.expect("connect"));
    }

    let before = read_mem(pid).expect("server memory");
    // "5" resets VmHWM to the current RSS (proc(5), clear_refs).
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let sampler = Sampler::start(pid, s.guard_kib);
    let started = Instant::now();
    let stall = variant == Variant::Stalled;
    let mut lists = Vec::new();
    for channel in channels {
        lists.push(tokio::spawn(list(channel, url.clone(), s.keys, stall)));
    }
    let mut while_stalled_kib = None;
    if stall {
        tokio::time::sleep(STALL - Duration::from_millis(200)).await;
        while_stalled_kib = read_mem(pid).map(|m| m.rss);
    }
    let mut outcomes = Vec::new();
    for l in lists {
        outcomes.push(
            l.await
                .unwrap_or_else(|e| Outcome::Broken(format!("task: {e}"))),
        );
    }
    let list_secs = started.elapsed().as_secs_f64();
    let (peak, guard_tripped) = sampler.finish();
    let alive = cluster.members[0].is_running();
    let hwm_kib = if alive {
        proc_status_kib(pid, "VmHWM:")
    } else {
        0
    };
    // What the server still holds once every list is over.
    tokio::time::sleep(AFTER).await;
    let after_kib = read_mem(pid).map(|m| m.rss);

    let mut row = Row {
        kind,
        variant,
        load_secs,
        before,
        peak,
        hwm_kib,
        hwm_reset,
        while_stalled_kib,
        after_kib,
        complete: 0,
        refused: Vec::new(),
        broken: Vec::new(),
        list_secs,
        alive,
        guard_tripped,
    };
    for outcome in outcomes {
        match outcome {
            Outcome::Complete => row.complete += 1,
            Outcome::Refused(why) => row.refused.push(why),
            Outcome::Broken(why) => row.broken.push(why),
        }
    }
    if !row.alive || !row.broken.is_empty() {
        eprintln!("{}", cluster.log_tails(30));
    }
    row
}

async fn measure(kind: ServerKind) {
    let _serial = SERIAL.lock().await;
    let s = Settings::from_env();
    eprintln!(
        "range_memory {}: {} keys x {} KiB = {:.0} MiB, {} clients",
        kind.label(),
        s.keys,
        VALUE_BYTES / 1024,
        s.data_mib(),
        s.clients
    );
    let mut rows = Vec::new();
    for variant in [Variant::Concurrent, Variant::Stalled] {
        let row = run(kind, variant, s).await;
        eprintln!(
            "range_memory {} {}: loaded in {:.1} s, lists took {:.1} s",
            kind.label(),
            variant.label(),
            row.load_secs,
            row.list_secs
        );
        rows.push(row);
    }
    // MiB throughout; VmHWM marked * when it could not be reset before the
    // lists (it then includes the load). "stalled": VmRSS while every
    // stalled client was waiting; "after": VmRSS 2 s after the lists.
    eprintln!("{}", Row::header());
    for row in &rows {
        eprintln!("{}", row.line(&s));
        for why in &row.refused {
            eprintln!("    refused: {why}");
        }
        for why in &row.broken {
            eprintln!("    BROKEN: {why}");
        }
    }
    for row in &rows {
        let what = format!("{} {}", kind.label(), row.variant.label());
        assert!(
            !row.guard_tripped,
            "{what}: MemAvailable fell under the guard; the server was killed"
        );
        assert!(row.alive, "{what}: the server died during the lists");
        assert!(
            row.broken.is_empty(),
            "{what}: lists with neither all keys nor a gRPC error: {:?}",
            row.broken
        );
        assert!(row.complete >= 1, "{what}: no list returned all keys");
        if kind == ServerKind::Oxcd {
            // The budget bounds what the ranges hold (each charged twice its
            // size; encoding briefly needs a third copy of the ones running),
            // plus the allocator's slack: never one copy per client.
            let grown_mib = row.peak.rss.saturating_sub(row.before.rss) / 1024;
            let bound_mib = s.budget_mib * 3 / 2 + s.data_mib() as u64 + 128;
            assert!(
                grown_mib <= bound_mib,
                "{what}: grew {grown_mib} MiB under a {} MiB budget (bound {bound_mib} MiB)",
                s.budget_mib
            );
            assert!(
                row.refused.is_empty(),
                "{what}: lists refused while waiting for the budget: {:?}",
                row.refused
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oxcd_peak_rss_under_concurrent_large_ranges() {
    measure(ServerKind::Oxcd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_peak_rss_under_concurrent_large_ranges() {
    if !require_etcd("etcd_peak_rss_under_concurrent_large_ranges") {
        return;
    }
    measure(ServerKind::Etcd).await;
}
