//! `watch-latency`: how long a put takes to reach the watchers of its key.
//!
//! Unlike the other loads this one does not go through the runner (there is one put loop,
//! and the latency is measured on the watch side), so it has its own `run`.
//!
//! - Phase 1 opens `--streams` watch streams (stream *s* on connection *s mod conns*) and
//!   creates `--watchers` watches with start revision 0. Watcher *i* watches key
//!   *i mod --watch-keys*; stream *s* carries the contiguous block of watchers
//!   `[s*N/S, (s+1)*N/S)`, so every stream watches (nearly) every key and each put fans out
//!   over all streams. The phase ends when every watch has its `created` response.
//! - Phase 2 is one put loop, paced at `--put-rate` (a missed slot delays the schedule
//!   rather than causing a burst; a put is sent on time even when the previous one has not
//!   been answered yet), over the watched keys round-robin. It records the time each put's
//!   answer arrived, with the revision from its header. One task per stream does nothing
//!   but append (revision, arrival time) for every event it receives.
//! - After the last put, it waits (at most `--drain-timeout`) until every expected event has
//!   arrived: a put of key *k* is expected by every watcher of *k*. Then arrivals are joined
//!   with the acknowledgements by revision: latency = arrival - ack, 0 when the event
//!   arrived before the ack.
//!
//! With `--server-pid`, the server's VmRSS is read after phase 1, sampled every 100 ms during
//! phase 2 (and the drain), and read once more at the end.

use super::kv_client;
use crate::args::{GlobalArgs, WatchLatencyArgs};
use crate::keys::{KeySpace, Values};
use crate::progress::{Goal, Progress};
use crate::report::WatchSummary;
use crate::runner::Stop;
use crate::stats::ClientStats;
use futures::future::join_all;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest, WatchResponse};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// The load's name in reports.
pub const NAME: &str = "watch-latency";

/// How long the puts run when neither `--total` nor `--duration` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Interval between two RSS samples.
const RSS_INTERVAL: Duration = Duration::from_millis(100);

/// Interval between two checks of the delivered-event count after the last put.
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// Watchers `[s*N/S, (s+1)*N/S)` are carried by stream `s` of `streams` (contiguous blocks
/// whose sizes differ by at most one).
pub fn stream_watchers(stream: u64, streams: u64, watchers: u64) -> Range<u64> {
    let bound = |s: u64| (s as u128 * watchers as u128 / streams.max(1) as u128) as u64;
    bound(stream)..bound(stream + 1)
}

/// The key number watcher `watcher` watches.
pub fn watched_key(watcher: u64, keys: u64) -> u64 {
    watcher % keys.max(1)
}

/// How many of `watchers` watchers watch key number `key` (out of `keys`): the number of
/// events one put of that key must produce.
pub fn watchers_on(key: u64, keys: u64, watchers: u64) -> u64 {
    let keys = keys.max(1);
    if key >= keys {
        return 0;
    }
    watchers / keys + u64::from(key < watchers % keys)
}

/// One acknowledged put: the revision it created, when it was sent, when its answer
/// arrived, and how many events it must produce.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub revision: i64,
    pub sent: Instant,
    pub at: Instant,
    pub expected: u64,
}

/// Arrivals joined with acknowledgements.
#[derive(Debug)]
pub struct Joined {
    /// Put answer to event arrival, for every event whose revision was acknowledged.
    pub latency: ClientStats,
    /// Put sent to event arrival, for the same events.
    pub from_send: ClientStats,
    pub expected: u64,
    /// Events whose revision was acknowledged (duplicates included).
    pub received: u64,
    /// Per revision, events expected but not received, summed.
    pub missing: u64,
    /// Events of a revision no acknowledged put made, plus events beyond a revision's count.
    pub unexpected: u64,
    /// Received events that arrived no later than their put's answer (latency 0).
    pub before_ack: u64,
}

/// Join event arrivals `(mod_revision, arrival)` with the put acknowledgements.
pub fn join<'a>(acks: &[Ack], arrivals: impl IntoIterator<Item = &'a (i64, Instant)>) -> Joined {
    // revision -> (send time, ack time, expected, received)
    let mut by_revision: HashMap<i64, (Instant, Instant, u64, u64)> = acks
        .iter()
        .map(|a| (a.revision, (a.sent, a.at, a.expected, 0)))
        .collect();
    let mut latency = ClientStats::new();
    let mut from_send = ClientStats::new();
    let mut received = 0;
    let mut unmatched = 0;
    let mut before_ack = 0;
    for (revision, arrived) in arrivals {
        match by_revision.get_mut(revision) {
            Some((sent, acked, _, got)) => {
                *got += 1;
                received += 1;
                before_ack += u64::from(arrived <= acked);
                latency.record(arrived.saturating_duration_since(*acked));
                from_send.record(arrived.saturating_duration_since(*sent));
            }
            None => unmatched += 1,
        }
    }
    let (mut expected, mut missing, mut surplus) = (0, 0, 0);
    for (_, _, want, got) in by_revision.values() {
        expected += want;
        missing += want.saturating_sub(*got);
        surplus += got.saturating_sub(*want);
    }
    Joined {
        latency,
        from_send,
        expected,
        received,
        missing,
        unexpected: unmatched + surplus,
        before_ack,
    }
}

/// VmRSS in KiB from the text of `/proc/PID/status`.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

fn read_rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--server-pid: {path}: {e}"))?;
    parse_vm_rss_kib(&text).ok_or_else(|| format!("--server-pid: no VmRSS line in {path}"))
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// What one stream task saw after its watches were created.
struct StreamOutcome {
    /// `(mod_revision, arrival)` of every event, in arrival order.
    arrivals: Vec<(i64, Instant)>,
    error: Option<String>,
}

/// Open one watch stream, create a watch per key in `keys`, report on `created` when every
/// watch is created, then record events until `stop` fires (or is dropped).
async fn watch_stream(
    stream: u64,
    channel: Channel,
    keys: Vec<Vec<u8>>,
    created: oneshot::Sender<Result<(), String>>,
    mut stop: oneshot::Receiver<()>,
    delivered: Arc<AtomicU64>,
) -> StreamOutcome {
    let mut outcome = StreamOutcome {
        arrivals: Vec::new(),
        error: None,
    };
    let count = keys.len();
    // Every create is queued before the call, so the channel holds them all; the sender is
    // kept until the end so the stream is never half-closed.
    let (requests, rx) = mpsc::channel(count.max(1));
    for key in keys {
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key,
                start_revision: 0,
                ..Default::default()
            })),
        };
        if requests.try_send(create).is_err() {
            let _ = created.send(Err(format!("stream {stream}: request queue full")));
            return outcome;
        }
    }
    let mut client = WatchClient::with_interceptor(channel, super::WithToken)
        .max_decoding_message_size(usize::MAX);
    let opened = tokio::select! {
        biased;
        _ = &mut stop => return outcome,
        opened = client.watch(ReceiverStream::new(rx)) => opened,
    };
    let mut responses: Streaming<WatchResponse> = match opened {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let _ = created.send(Err(format!(
                "stream {stream}: watch call failed: {}",
                status_text(&status)
            )));
            return outcome;
        }
    };

    let mut pending = count;
    let mut created = Some(created);
    if pending == 0 {
        if let Some(tx) = created.take() {
            let _ = tx.send(Ok(()));
        }
    }
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut stop => break,
            message = responses.message() => message,
        };
        let failure = match message {
            Ok(Some(resp)) => {
                if !resp.events.is_empty() {
                    let now = Instant::now();
                    let n = resp.events.len();
                    outcome.arrivals.extend(
                        resp.events
                            .iter()
                            .filter_map(|e| e.kv.as_ref())
                            .map(|kv| (kv.mod_revision, now)),
                    );
                    delivered.fetch_add(n as u64, Ordering::Relaxed);
                }
                if resp.canceled {
                    Some(format!(
                        "stream {stream}: watch {} canceled by the server: {}",
                        resp.watch_id,
                        if resp.cancel_reason.is_empty() {
                            "no reason given"
                        } else {
                            &resp.cancel_reason
                        }
                    ))
                } else {
                    if resp.created && pending > 0 {
                        pending -= 1;
                        if pending == 0 {
                            if let Some(tx) = created.take() {
                                let _ = tx.send(Ok(()));
                            }
                        }
                    }
                    None
                }
            }
            Ok(None) => Some(format!("stream {stream}: closed by the server")),
            Err(status) => Some(format!("stream {stream}: {}", status_text(&status))),
        };
        if let Some(error) = failure {
            match created.take() {
                Some(tx) => {
                    let _ = tx.send(Err(error));
                }
                None => outcome.error = Some(error),
            }
            break;
        }
    }
    drop(requests);
    outcome
}

fn status_text(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_string()
    }
}

/// What the put loop did.
struct PutLog {
    acks: Vec<Ack>,
    errors: BTreeMap<String, u64>,
    elapsed: Duration,
}

/// The puts: one is started every 1/rate s (a late tick delays the schedule instead of
/// causing a burst), without waiting for the previous answer, so a slow put does not lower
/// the rate. Each put's answer is timestamped by the task that awaits it.
async fn put_loop(
    channel: Channel,
    keys: &[Vec<u8>],
    args: &WatchLatencyArgs,
    values: &Values,
    stop: Stop,
    done: Arc<AtomicU64>,
) -> PutLog {
    let kv = kv_client(channel);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.put_rate));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let start = Instant::now();
    let (total, deadline) = match stop {
        Stop::Total(n) => (Some(n), None),
        Stop::Duration(d) => (None, Some(start + d)),
    };
    let key_count = keys.len() as u64;
    let mut puts = Vec::new();
    let mut n = 0u64;
    loop {
        if total.is_some_and(|t| n >= t) {
            break;
        }
        ticks.tick().await;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let index = n % key_count;
        let request = PutRequest {
            key: keys[index as usize].clone(),
            value: values.get(n).to_vec(),
            ..Default::default()
        };
        let mut kv = kv.clone();
        let done = Arc::clone(&done);
        puts.push(tokio::spawn(async move {
            let sent = Instant::now();
            let answer = kv.put(request).await;
            let at = Instant::now();
            done.fetch_add(1, Ordering::Relaxed);
            let revision = match answer {
                Ok(resp) => match resp.into_inner().header {
                    Some(header) => Ok(header.revision),
                    None => Err("put answer without header".to_string()),
                },
                Err(status) => Err(status_text(&status)),
            };
            (index, revision, sent, at)
        }));
        n += 1;
    }
    let mut log = PutLog {
        acks: Vec::with_capacity(puts.len()),
        errors: BTreeMap::new(),
        elapsed: Duration::ZERO,
    };
    for put in join_all(puts).await {
        match put {
            Ok((index, Ok(revision), sent, at)) => log.acks.push(Ack {
                revision,
                sent,
                at,
                expected: watchers_on(index, key_count, args.watchers),
            }),
            Ok((_, Err(message), _, _)) => *log.errors.entry(message).or_insert(0) += 1,
            Err(e) => {
                *log.errors
                    .entry(format!("put task failed: {e}"))
                    .or_insert(0) += 1
            }
        }
    }
    log.elapsed = start.elapsed();
    log
}

/// Sample the server's RSS every 100 ms until `stop` fires; returns the peak (KiB).
async fn sample_rss(pid: u32, mut stop: oneshot::Receiver<()>) -> Option<u64> {
    let mut ticks = tokio::time::interval(RSS_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut peak = None;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return peak,
            _ = ticks.tick() => {
                if let Ok(kib) = read_rss_kib(pid) {
                    peak = Some(peak.map_or(kib, |p: u64| p.max(kib)));
                }
            }
        }
    }
}

/// Stop every stream task and collect what they saw.
async fn stop_streams(
    handles: Vec<(oneshot::Sender<()>, JoinHandle<StreamOutcome>)>,
) -> Vec<StreamOutcome> {
    let mut tasks = Vec::with_capacity(handles.len());
    for (stop, task) in handles {
        let _ = stop.send(());
        tasks.push(task);
    }
    join_all(tasks)
        .await
        .into_iter()
        .enumerate()
        .map(|(s, joined)| {
            joined.unwrap_or_else(|e| StreamOutcome {
                arrivals: Vec::new(),
                error: Some(format!("stream {s}: task failed: {e}")),
            })
        })
        .collect()
}

/// Run the load. Returns the summary (also when events are missing: the caller reports it
/// and then fails), or an error when the watches could not all be created.
pub async fn run(
    g: &GlobalArgs,
    args: &WatchLatencyArgs,
    channels: &[Channel],
    progress: bool,
) -> Result<WatchSummary, String> {
    if channels.is_empty() {
        return Err("no connections".into());
    }
    let streams = args.streams.min(args.watchers).max(1);
    let keyspace = KeySpace::new(args.watch_keys, g.key_size, g.key_format, true)
        .map_err(|e| e.replace("--key-space-size", "--watch-keys"))?;
    let keys: Vec<Vec<u8>> = (0..args.watch_keys).map(|k| keyspace.key(k)).collect();
    let values = Values::random(g.val_size);
    let stop = match (g.total, g.duration) {
        (_, Some(d)) => Stop::Duration(d),
        (Some(n), None) => Stop::Total(n),
        (None, None) => Stop::Duration(DEFAULT_DURATION),
    };
    if let Some(pid) = args.server_pid {
        read_rss_kib(pid)?;
    }

    // Phase 1: streams and watches.
    let delivered = Arc::new(AtomicU64::new(0));
    let create_start = Instant::now();
    let mut running = Vec::with_capacity(streams as usize);
    let mut waiting = Vec::with_capacity(streams as usize);
    for s in 0..streams {
        let channel = channels[(s % channels.len() as u64) as usize].clone();
        let stream_keys = stream_watchers(s, streams, args.watchers)
            .map(|w| keys[watched_key(w, args.watch_keys) as usize].clone())
            .collect();
        let (created_tx, created_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(watch_stream(
            s,
            channel,
            stream_keys,
            created_tx,
            stop_rx,
            Arc::clone(&delivered),
        ));
        waiting.push(created_rx);
        running.push((stop_tx, task));
    }
    let created = tokio::time::timeout(args.create_timeout, join_all(waiting)).await;
    let create_seconds = create_start.elapsed().as_secs_f64();
    let failure = match created {
        Err(_) => Some(format!(
            "creating {} watches on {streams} streams took longer than {:?}",
            args.watchers, args.create_timeout
        )),
        Ok(results) => results.into_iter().enumerate().find_map(|(s, r)| match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("creating the watches failed: {e}")),
            Err(_) => Some(format!("creating the watches failed: stream {s} ended")),
        }),
    };
    if let Some(error) = failure {
        stop_streams(running).await;
        return Err(error);
    }
    let rss_after_watch = args.server_pid.map(read_rss_kib).transpose()?;
    // Events seen before the first put belong to no put of this run.
    let before_puts = delivered.load(Ordering::Relaxed);

    // Phase 2: paced puts, then the drain.
    let sampler = args.server_pid.map(|pid| {
        let (tx, rx) = oneshot::channel();
        (tx, tokio::spawn(sample_rss(pid, rx)))
    });
    let done = Arc::new(AtomicU64::new(0));
    let bar = progress.then(|| {
        let goal = match stop {
            Stop::Total(n) => Goal::Requests(n),
            Stop::Duration(d) => Goal::Time(d),
        };
        Progress::start(goal, Arc::clone(&done), Instant::now())
    });
    let puts = put_loop(channels[0].clone(), &keys, args, &values, stop, done).await;
    if let Some(bar) = bar {
        bar.finish();
    }
    let expected: u64 = puts.acks.iter().map(|a| a.expected).sum();
    let drain_start = Instant::now();
    let drain_deadline = drain_start + args.drain_timeout;
    while delivered.load(Ordering::Relaxed) - before_puts < expected
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let drain_seconds = drain_start.elapsed().as_secs_f64();
    let rss_peak = match sampler {
        Some((tx, task)) => {
            let _ = tx.send(());
            task.await.ok().flatten()
        }
        None => None,
    };
    let rss_final = args.server_pid.and_then(|pid| read_rss_kib(pid).ok());
    let outcomes = stop_streams(running).await;
    for error in outcomes.iter().filter_map(|o| o.error.as_ref()) {
        eprintln!("oxcd-bench: {error}");
    }

    let joined = join(&puts.acks, outcomes.iter().flat_map(|o| o.arrivals.iter()));
    let latency = joined.latency.summarize(Duration::ZERO).latency;
    let latency_from_send = joined.from_send.summarize(Duration::ZERO).latency;
    let put_errors = puts.errors.values().sum();
    let duration_s = puts.elapsed.as_secs_f64();
    Ok(WatchSummary {
        watchers: args.watchers,
        streams,
        watch_keys: args.watch_keys,
        put_rate: args.put_rate,
        puts: puts.acks.len() as u64,
        put_errors,
        errors_by_message: puts.errors,
        duration_s,
        puts_per_sec: if duration_s > 0.0 {
            puts.acks.len() as f64 / duration_s
        } else {
            0.0
        },
        create_seconds,
        drain_seconds,
        events_expected: joined.expected,
        events_received: joined.received,
        events_missing: joined.missing,
        events_unexpected: joined.unexpected,
        events_before_ack: joined.before_ack,
        latency,
        latency_from_send,
        rss_after_watch_mib: rss_after_watch.map(mib),
        // The peak covers the samples and the readings before and after them.
        rss_peak_mib: [rss_after_watch, rss_peak, rss_final]
            .into_iter()
            .flatten()
            .max()
            .map(mib),
        rss_final_mib: rss_final.map(mib),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_cover_every_watcher_once_in_blocks() {
        for (streams, watchers) in [(100, 10_000), (20, 200), (7, 100), (3, 2), (1, 5)] {
            let mut next = 0;
            for s in 0..streams {
                let r = stream_watchers(s, streams, watchers);
                assert_eq!(r.start, next, "{streams} {watchers}");
                let len = r.end - r.start;
                assert!(len == watchers / streams || len == watchers / streams + 1);
                next = r.end;
            }
            assert_eq!(next, watchers);
        }
        // With as many keys as watchers per stream, every stream watches every key.
        let keys: std::collections::BTreeSet<u64> = stream_watchers(42, 100, 10_000)
            .map(|w| watched_key(w, 100))
            .collect();
        assert_eq!(keys.len(), 100);
    }

    #[test]
    fn expected_events_per_key_sum_to_the_watchers() {
        for (keys, watchers) in [(100, 10_000), (10, 200), (7, 100), (100, 30), (1, 1)] {
            let counted: Vec<u64> = (0..keys)
                .map(|k| (0..watchers).filter(|&w| watched_key(w, keys) == k).count() as u64)
                .collect();
            let computed: Vec<u64> = (0..keys).map(|k| watchers_on(k, keys, watchers)).collect();
            assert_eq!(counted, computed, "{keys} keys, {watchers} watchers");
            assert_eq!(computed.iter().sum::<u64>(), watchers);
        }
        assert_eq!(watchers_on(5, 5, 100), 0);
    }

    #[test]
    fn join_measures_from_the_ack_and_counts_missing_per_revision() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let acks = [
            Ack {
                revision: 2,
                sent: at(9),
                at: at(10),
                expected: 2,
            },
            Ack {
                revision: 3,
                sent: at(19),
                at: at(20),
                expected: 3,
            },
        ];
        let arrivals = [
            (2, at(11)),
            (2, at(9)), // before its ack: counts as 0
            (3, at(24)),
            (3, at(24)),
            (7, at(30)), // no such put
        ];
        let j = join(&acks, arrivals.iter());
        assert_eq!(j.expected, 5);
        assert_eq!(j.received, 4);
        assert_eq!(j.missing, 1);
        assert_eq!(j.unexpected, 1);
        assert_eq!(j.before_ack, 1);
        let s = j.latency.summarize(Duration::from_secs(1));
        assert_eq!(s.requests, 4);
        assert_eq!(s.latency.min, 0.0);
        assert!((s.latency.max - 4.0).abs() < 0.01, "{:?}", s.latency);
        let s = j.from_send.summarize(Duration::from_secs(1));
        assert_eq!(s.requests, 4);
        assert_eq!(s.latency.min, 0.0);
        assert!((s.latency.max - 5.0).abs() < 0.01, "{:?}", s.latency);

        // A duplicate of one revision does not hide a missing event of another.
        let arrivals = [
            (2, at(11)),
            (2, at(11)),
            (2, at(12)),
            (3, at(21)),
            (3, at(21)),
        ];
        let j = join(&acks, arrivals.iter());
        assert_eq!((j.received, j.missing, j.unexpected), (5, 1, 1));

        let j = join(&[], std::iter::empty());
        assert_eq!(
            (j.expected, j.received, j.missing, j.unexpected),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn vm_rss_is_parsed_from_proc_status() {
        let status = "Name:\toxcd\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss_kib(status), Some(102_400));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(mib(102_400), 100.0);
        assert!(read_rss_kib(std::process::id()).is_ok_and(|kib| kib > 0));
    }
}
