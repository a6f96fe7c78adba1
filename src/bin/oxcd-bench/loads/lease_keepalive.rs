//! `lease-keepalive`: how many lease renewals per second a server answers, and how fast.
//!
//! Like `watch_latency` this load has its own `run` (a client holds a stream with up to
//! `--window` requests in flight, which the runner's one-call-at-a-time loops cannot do),
//! but it records into the same [`ClientStats`] and prints the same report as the request
//! loads, plus the lease figures.
//!
//! 1. **Grant** (not timed with the keep-alives, reported as `grant_seconds`): `--leases`
//!    leases with TTL `--lease-ttl`, [`GRANT_CONCURRENCY`] grants at a time spread over the
//!    connections. A failed grant revokes what was granted and ends the tool without a
//!    report.
//! 2. **Open** (not timed): client *j* of `min(--clients, --leases)` opens one
//!    `LeaseKeepAlive` stream on connection *j mod --conns* and owns the contiguous block of
//!    leases [`client_leases`]; one warm-up keep-alive per stream proves the stream works.
//! 3. **Keep alive** (timed): every client sends keep-alives for its leases round-robin,
//!    keeping at most `--window` requests in flight on its stream, until `--total` requests
//!    were sent over all clients or `--duration` is over (`--rate` caps the sending rate
//!    like in the other loads). Latency is from handing a request to the stream to its
//!    response arriving; a response with TTL <= 0 is an error ("lease not found"). A stream
//!    that fails counts its requests in flight as errors and ends its client.
//! 4. **Revoke** (best effort, not timed): every granted lease.

use crate::args::LeaseKeepaliveArgs;
use crate::runner::{Plan, Schedule};
use crate::stats::{ClientStats, Summary};
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseRevokeRequest,
};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// The load's name in reports.
pub const NAME: &str = "lease-keepalive";

/// Grants (and revokes) in flight at a time during the untimed phases.
pub const GRANT_CONCURRENCY: u64 = 64;

/// The error recorded for a keep-alive answered with TTL <= 0.
pub const LEASE_NOT_FOUND: &str = "lease not found";

/// What a `lease-keepalive` run reports besides the request summary.
#[derive(Debug, Clone)]
pub struct LeaseRun {
    pub summary: Summary,
    /// Client streams actually used: `min(--clients, --leases)`.
    pub clients: u64,
    pub leases: u64,
    pub lease_ttl: i64,
    pub window: u64,
    /// Time to grant every lease.
    pub grant_seconds: f64,
    /// Time to open the streams (with their warm-up keep-alive).
    pub open_seconds: f64,
    /// Leases whose revoke succeeded at the end.
    pub leases_revoked: u64,
}

/// Leases `[c*N/C, (c+1)*N/C)` belong to client `c` of `clients` (contiguous blocks whose
/// sizes differ by at most one).
pub fn client_leases(client: u64, clients: u64, leases: u64) -> Range<u64> {
    let bound = |c: u64| (c as u128 * leases as u128 / clients.max(1) as u128) as u64;
    bound(client)..bound(client + 1)
}

/// The keep-alive requests of one stream that have not been answered yet, oldest first.
#[derive(Debug, Default)]
pub struct InFlight {
    queue: VecDeque<(i64, Instant)>,
}

impl InFlight {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, id: i64, sent: Instant) {
        self.queue.push_back((id, sent));
    }

    /// The request a response for lease `id` answers: the oldest one in flight for that
    /// lease (a stream answers in order, so normally the front). `Err` with the oldest
    /// request when no request for `id` is in flight; `None` when nothing is in flight.
    pub fn answer(&mut self, id: i64) -> Option<Result<Instant, Instant>> {
        match self.queue.iter().position(|(queued, _)| *queued == id) {
            Some(at) => self.queue.remove(at).map(|(_, sent)| Ok(sent)),
            None => self.queue.pop_front().map(|(_, sent)| Err(sent)),
        }
    }

    /// Forget every request in flight; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        n
    }
}

/// Whether a keep-alive response renewed its lease.
pub fn renewed(response: &LeaseKeepAliveResponse) -> bool {
    response.ttl > 0
}

fn status_text(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_string()
    }
}

fn lease_client(channel: Channel) -> LeaseClient<super::Authed> {
    LeaseClient::with_interceptor(channel, super::WithToken)
}

/// Grant `count` leases with `ttl`, `GRANT_CONCURRENCY` at a time spread over `channels`.
/// Returns every granted id, or the error and the ids granted before it (to revoke).
async fn grant_all(
    channels: &[Channel],
    count: u64,
    ttl: i64,
) -> Result<Vec<i64>, (String, Vec<i64>)> {
    let lanes = GRANT_CONCURRENCY.clamp(1, count.max(1));
    let mut tasks = JoinSet::new();
    for lane in 0..lanes {
        let mut client = lease_client(channels[(lane % channels.len() as u64) as usize].clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            let mut index = lane;
            while index < count {
                let answer = client
                    .lease_grant(LeaseGrantRequest { ttl, id: 0 })
                    .await
                    .map(|r| r.into_inner());
                match answer {
                    Ok(resp) if resp.error.is_empty() && resp.id != 0 => ids.push(resp.id),
                    Ok(resp) => {
                        let why = if resp.error.is_empty() {
                            "no lease id in the answer".to_string()
                        } else {
                            resp.error
                        };
                        return (ids, Some(format!("lease grant failed: {why}")));
                    }
                    Err(status) => {
                        return (
                            ids,
                            Some(format!("lease grant failed: {}", status_text(&status))),
                        )
                    }
                }
                index += lanes;
            }
            (ids, None)
        });
    }
    let mut granted = Vec::with_capacity(count as usize);
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((ids, error)) => {
                granted.extend(ids);
                if failure.is_none() {
                    failure = error;
                }
            }
            Err(e) => failure = failure.or(Some(format!("lease grant task failed: {e}"))),
        }
    }
    match failure {
        None => Ok(granted),
        Some(error) => Err((error, granted)),
    }
}

/// Revoke `ids`, best effort; returns how many revokes succeeded.
async fn revoke_all(channels: &[Channel], ids: Vec<i64>) -> u64 {
    let ids = Arc::new(ids);
    let lanes = GRANT_CONCURRENCY.clamp(1, (ids.len() as u64).max(1));
    let mut tasks = JoinSet::new();
    for lane in 0..lanes {
        let mut client = lease_client(channels[(lane % channels.len() as u64) as usize].clone());
        let ids = Arc::clone(&ids);
        tasks.spawn(async move {
            let mut revoked = 0u64;
            for id in ids.iter().skip(lane as usize).step_by(lanes as usize) {
                if client
                    .lease_revoke(LeaseRevokeRequest { id: *id })
                    .await
                    .is_ok()
                {
                    revoked += 1;
                }
            }
            revoked
        });
    }
    let mut revoked = 0;
    while let Some(joined) = tasks.join_next().await {
        revoked += joined.unwrap_or(0);
    }
    revoked
}

/// One client's open stream, ready for the timed phase.
struct Stream {
    leases: Vec<i64>,
    requests: mpsc::Sender<LeaseKeepAliveRequest>,
    responses: Streaming<LeaseKeepAliveResponse>,
}

/// Open a keep-alive stream and renew its first lease once (not timed).
async fn open_stream(
    client: u64,
    channel: Channel,
    leases: Vec<i64>,
    window: u64,
) -> Result<Stream, String> {
    let first = *leases
        .first()
        .ok_or_else(|| format!("client {client}: no lease"))?;
    // Room for the whole window, so sending never waits for the transport.
    let (requests, rx) = mpsc::channel(window.max(1) as usize);
    // The server may send its response headers only with the first answer, so the warm-up
    // request is queued before the call is awaited.
    requests
        .send(LeaseKeepAliveRequest { id: first })
        .await
        .map_err(|_| format!("client {client}: request queue closed"))?;
    let mut responses = lease_client(channel)
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .map_err(|s| {
            format!(
                "client {client}: keep-alive call failed: {}",
                status_text(&s)
            )
        })?
        .into_inner();
    match responses.message().await {
        Ok(Some(resp)) if renewed(&resp) => Ok(Stream {
            leases,
            requests,
            responses,
        }),
        Ok(Some(_)) => Err(format!(
            "client {client}: warm-up keep-alive of lease {first:x}: {LEASE_NOT_FOUND}"
        )),
        Ok(None) => Err(format!("client {client}: keep-alive stream closed at once")),
        Err(s) => Err(format!(
            "client {client}: warm-up keep-alive: {}",
            status_text(&s)
        )),
    }
}

/// One client's timed loop: keep up to `window` keep-alives in flight on its stream.
async fn keep_alive_loop(stream: Stream, window: usize, shared: Arc<Schedule>) -> ClientStats {
    let Stream {
        leases,
        requests,
        mut responses,
    } = stream;
    let mut stats = ClientStats::new();
    let mut in_flight = InFlight::default();
    // A claimed request waiting for its `--rate` slot.
    let mut pending: Option<Option<Instant>> = None;
    let mut finished = false;
    let mut next_lease = 0usize;
    loop {
        if !finished && pending.is_none() && in_flight.len() < window {
            match shared.claim() {
                Some((_, at)) => pending = Some(at),
                None => finished = true,
            }
        }
        if let Some(at) = pending {
            if at.is_none_or(|at| at <= Instant::now()) {
                pending = None;
                if shared.over() {
                    finished = true;
                } else {
                    let id = leases[next_lease % leases.len()];
                    next_lease = next_lease.wrapping_add(1);
                    in_flight.push(id, Instant::now());
                    if requests.send(LeaseKeepAliveRequest { id }).await.is_err() {
                        in_flight.clear();
                        stats.error_message("keep-alive request stream closed".into());
                        shared.done.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                continue;
            }
        }
        if in_flight.is_empty() && pending.is_none() {
            if finished {
                break;
            }
            continue;
        }
        let wake = pending.flatten();
        let message = tokio::select! {
            biased;
            message = responses.message(), if !in_flight.is_empty() => message,
            _ = sleep_until_opt(wake), if wake.is_some() => continue,
            else => continue,
        };
        let now = Instant::now();
        let failure = match message {
            Ok(Some(resp)) => {
                match in_flight.answer(resp.id) {
                    Some(Ok(sent)) if renewed(&resp) => stats.record(now - sent),
                    Some(Ok(_)) => stats.error_message(LEASE_NOT_FOUND.into()),
                    Some(Err(_)) => {
                        stats.error_message("keep-alive answer for a lease not asked".into())
                    }
                    None => continue,
                }
                shared.done.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(None) => Some("keep-alive stream closed by the server".to_string()),
            Err(status) => Some(status_text(&status)),
        };
        if let Some(message) = failure {
            // The requests in flight will never be answered.
            let lost = in_flight.clear() as u64;
            for _ in 0..lost {
                stats.error_message(message.clone());
            }
            shared.done.fetch_add(lost, Ordering::Relaxed);
            break;
        }
    }
    drop(requests);
    stats
}

async fn sleep_until_opt(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Run the load: grant, open, keep alive, revoke.
pub async fn run(
    args: &LeaseKeepaliveArgs,
    channels: &[Channel],
    plan: &Plan,
) -> Result<LeaseRun, String> {
    if channels.is_empty() {
        return Err("no connections".into());
    }
    let clients = plan.clients.min(args.leases).max(1);

    // 1. Grant.
    let grant_start = Instant::now();
    let ids = match grant_all(channels, args.leases, args.lease_ttl).await {
        Ok(ids) => ids,
        Err((error, granted)) => {
            revoke_all(channels, granted).await;
            return Err(error);
        }
    };
    let grant_seconds = grant_start.elapsed().as_secs_f64();

    // 2. Open the streams.
    let open_start = Instant::now();
    let mut opening = JoinSet::new();
    for c in 0..clients {
        let channel = channels[(c % channels.len() as u64) as usize].clone();
        let range = client_leases(c, clients, args.leases);
        let mine = ids[range.start as usize..range.end as usize].to_vec();
        let window = args.window;
        opening.spawn(async move { (c, open_stream(c, channel, mine, window).await) });
    }
    let mut streams = Vec::with_capacity(clients as usize);
    let mut failure = None;
    while let Some(joined) = opening.join_next().await {
        match joined {
            Ok((c, Ok(stream))) => streams.push((c, stream)),
            Ok((_, Err(e))) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(format!("opening a stream failed: {e}"))),
        }
    }
    if let Some(error) = failure {
        drop(streams);
        revoke_all(channels, ids).await;
        return Err(error);
    }
    streams.sort_by_key(|(c, _)| *c);
    let open_seconds = open_start.elapsed().as_secs_f64();

    // 3. Keep alive.
    let start = Instant::now();
    let shared = Arc::new(Schedule::new(plan, start));
    let progress = shared.progress(plan);
    let window = usize::try_from(args.window).unwrap_or(usize::MAX);
    let mut loops = JoinSet::new();
    for (_, stream) in streams {
        loops.spawn(keep_alive_loop(stream, window, Arc::clone(&shared)));
    }
    let mut merged = ClientStats::new();
    let mut failure = None;
    while let Some(joined) = loops.join_next().await {
        match joined {
            Ok(stats) => merged.merge(stats),
            Err(e) => failure = Some(format!("keep-alive loop failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.finish();
    }

    // 4. Revoke.
    let leases_revoked = revoke_all(channels, ids).await;
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(LeaseRun {
        summary: merged.summarize(elapsed),
        clients,
        leases: args.leases,
        lease_ttl: args.lease_ttl,
        window: args.window,
        grant_seconds,
        open_seconds,
        leases_revoked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_share_every_lease_once_in_blocks() {
        for (clients, leases) in [(100, 10_000), (7, 100), (3, 2), (1, 5), (10, 10)] {
            let mut next = 0;
            for c in 0..clients {
                let r = client_leases(c, clients, leases);
                assert_eq!(r.start, next, "{clients} {leases}");
                let len = r.end - r.start;
                assert!(len == leases / clients || len == leases / clients + 1);
                next = r.end;
            }
            assert_eq!(next, leases);
        }
        // As used: never more clients than leases, so nobody gets an empty block.
        for (clients, leases) in [(20, 20), (19, 20), (1, 1)] {
            assert!((0..clients).all(|c| !client_leases(c, clients, leases).is_empty()));
        }
    }

    #[test]
    fn answers_match_the_oldest_request_of_their_lease() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let mut f = InFlight::default();
        assert_eq!(f.answer(1), None);
        f.push(1, at(0));
        f.push(2, at(1));
        f.push(1, at(2));
        assert_eq!(f.len(), 3);
        // Out of order: lease 2 first, then both requests of lease 1, oldest first.
        assert_eq!(f.answer(2), Some(Ok(at(1))));
        assert_eq!(f.answer(1), Some(Ok(at(0))));
        // A lease with nothing in flight takes the oldest request, as an error.
        assert_eq!(f.answer(9), Some(Err(at(2))));
        assert!(f.is_empty());
        f.push(3, at(3));
        f.push(4, at(4));
        assert_eq!(f.clear(), 2);
        assert!(f.is_empty());
    }

    #[test]
    fn only_a_positive_ttl_renews() {
        let resp = |ttl| LeaseKeepAliveResponse {
            header: None,
            id: 7,
            ttl,
        };
        assert!(renewed(&resp(60)));
        assert!(renewed(&resp(1)));
        assert!(!renewed(&resp(0)));
        assert!(!renewed(&resp(-1)));
    }
}
