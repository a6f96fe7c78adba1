//! Running a load: `--clients` request loops as tokio tasks, each with its own worker and
//! statistics. Loops share only two atomic counters: the next request number (which also
//! drives sequential keys and the `--rate` schedule) and the number of finished requests
//! (for the progress bar).

use crate::loads::{Load, Worker};
use crate::progress::{Goal, Progress};
use crate::stats::ClientStats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tonic::transport::Channel;

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this many requests (successful or not).
    Total(u64),
    /// When this much time has passed (requests in flight still finish).
    Duration(Duration),
}

/// How to run a load.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub clients: u64,
    pub stop: Stop,
    /// Requests per second over all clients; 0 = unlimited.
    pub rate: f64,
    pub progress: bool,
}

/// The merged statistics and the wall time from the first request to the last answer.
pub struct RunResult {
    pub stats: ClientStats,
    pub elapsed: Duration,
}

/// What the request loops of one run share: the next request number, the
/// finished count, and when the run stops. Loads with their own loops (the
/// lease keep-alive streams) use it too.
pub struct Schedule {
    next: AtomicU64,
    pub done: Arc<AtomicU64>,
    start: Instant,
    total: Option<u64>,
    deadline: Option<Instant>,
    /// Seconds between two scheduled requests (`--rate`), None when unlimited.
    spacing: Option<f64>,
}

impl Schedule {
    /// The schedule of `plan`, its clock starting at `start`.
    pub fn new(plan: &Plan, start: Instant) -> Self {
        Schedule {
            next: AtomicU64::new(0),
            done: Arc::new(AtomicU64::new(0)),
            start,
            total: match plan.stop {
                Stop::Total(n) => Some(n),
                Stop::Duration(_) => None,
            },
            deadline: match plan.stop {
                Stop::Total(_) => None,
                Stop::Duration(d) => Some(start + d),
            },
            spacing: (plan.rate > 0.0).then(|| 1.0 / plan.rate),
        }
    }

    /// The progress bar for `plan`, when it asks for one.
    pub fn progress(&self, plan: &Plan) -> Option<Progress> {
        plan.progress.then(|| {
            let goal = match plan.stop {
                Stop::Total(n) => Goal::Requests(n),
                Stop::Duration(d) => Goal::Time(d),
            };
            Progress::start(goal, Arc::clone(&self.done), self.start)
        })
    }

    /// The next request number and the time it may be sent (`None`: at
    /// once); `None` when the run is over.
    pub fn claim(&self) -> Option<(u64, Option<Instant>)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if self.total.is_some_and(|total| n >= total) {
            return None;
        }
        let at = self
            .spacing
            .map(|s| self.start + Duration::from_secs_f64(s * n as f64));
        if let (Some(at), Some(deadline)) = (at, self.deadline) {
            if at >= deadline {
                return None;
            }
        }
        Some((n, at))
    }

    /// The duration has run out.
    pub fn over(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

/// Prepare the load, build one worker per client, then run them all to the end.
pub async fn run<L: Load>(
    load: &L,
    channels: &[Channel],
    plan: &Plan,
) -> Result<RunResult, String> {
    if channels.is_empty() {
        return Err("no connections".into());
    }
    load.prepare(channels).await?;
    let mut workers = Vec::with_capacity(plan.clients as usize);
    for client in 0..plan.clients {
        let channel = channels[(client % channels.len() as u64) as usize].clone();
        workers.push(load.worker(client, channel).await?);
    }

    let start = Instant::now();
    let shared = Arc::new(Schedule::new(plan, start));
    let progress = shared.progress(plan);

    let mut loops = JoinSet::new();
    for worker in workers {
        loops.spawn(client_loop(worker, Arc::clone(&shared)));
    }
    let mut merged = ClientStats::new();
    let mut failure = None;
    while let Some(joined) = loops.join_next().await {
        match joined {
            Ok(stats) => merged.merge(stats),
            Err(e) => failure = Some(format!("client loop failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.finish();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(RunResult {
            stats: merged,
            elapsed,
        }),
    }
}

async fn client_loop<W: Worker>(mut worker: W, shared: Arc<Schedule>) -> ClientStats {
    let mut stats = ClientStats::new();
    while let Some((n, at)) = shared.claim() {
        if let Some(at) = at {
            tokio::time::sleep_until(at.into()).await;
        }
        if shared.over() {
            break;
        }
        let sent = Instant::now();
        match worker.request(n).await {
            Ok(measured) => stats.record(measured.unwrap_or_else(|| sent.elapsed())),
            Err(status) => stats.error(&status),
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loads::Outcome;
    use std::sync::Mutex;

    /// A load that answers at once and remembers which request numbers it saw.
    struct Echo {
        seen: Arc<Mutex<Vec<u64>>>,
    }

    struct EchoWorker {
        seen: Arc<Mutex<Vec<u64>>>,
    }

    impl Load for Echo {
        type Worker = EchoWorker;
        fn name(&self) -> &'static str {
            "echo"
        }
        async fn worker(&self, _client: u64, _channel: Channel) -> Result<EchoWorker, String> {
            Ok(EchoWorker {
                seen: Arc::clone(&self.seen),
            })
        }
    }

    impl Worker for EchoWorker {
        async fn request(&mut self, n: u64) -> Outcome {
            self.seen.lock().unwrap().push(n);
            if n % 10 == 9 {
                return Err(tonic::Status::unavailable("every tenth fails"));
            }
            tokio::task::yield_now().await;
            Ok(Some(Duration::from_micros(100)))
        }
    }

    fn lazy_channel() -> Channel {
        Channel::from_static("http://127.0.0.1:1").connect_lazy()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn total_counts_every_request_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let load = Echo {
            seen: Arc::clone(&seen),
        };
        let plan = Plan {
            clients: 7,
            stop: Stop::Total(1000),
            rate: 0.0,
            progress: false,
        };
        let result = run(&load, &[lazy_channel(), lazy_channel()], &plan)
            .await
            .unwrap();
        let summary = result.stats.summarize(result.elapsed);
        assert_eq!(summary.requests, 900);
        assert_eq!(summary.errors, 100);
        assert_eq!(summary.errors_by_message["every tenth fails"], 100);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_and_duration_bound_the_run() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let load = Echo {
            seen: Arc::clone(&seen),
        };
        let plan = Plan {
            clients: 4,
            stop: Stop::Duration(Duration::from_millis(500)),
            rate: 200.0,
            progress: false,
        };
        let result = run(&load, &[lazy_channel()], &plan).await.unwrap();
        let count = seen.lock().unwrap().len();
        // 200/s for 0.5 s: about 100 requests, never many more.
        assert!((50..=101).contains(&count), "{count}");
        assert!(result.elapsed >= Duration::from_millis(450));
        assert!(result.elapsed < Duration::from_secs(5));
    }

    fn schedule(total: Option<u64>, duration: Option<Duration>, rate: f64) -> Schedule {
        let plan = Plan {
            clients: 1,
            stop: match (total, duration) {
                (Some(n), _) => Stop::Total(n),
                (None, Some(d)) => Stop::Duration(d),
                (None, None) => Stop::Duration(Duration::from_secs(3600)),
            },
            rate,
            progress: false,
        };
        Schedule::new(&plan, Instant::now())
    }

    #[test]
    fn claims_stop_at_the_total_and_follow_the_rate() {
        let s = schedule(Some(3), None, 0.0);
        assert_eq!(s.claim(), Some((0, None)));
        assert_eq!(s.claim(), Some((1, None)));
        assert_eq!(s.claim(), Some((2, None)));
        assert_eq!(s.claim(), None);

        let s = schedule(None, None, 100.0);
        let first = s.claim().and_then(|c| c.1).expect("slot");
        let second = s.claim().and_then(|c| c.1).expect("slot");
        assert_eq!(second - first, Duration::from_millis(10));

        // A slot at or after the deadline ends the run.
        let s = schedule(None, Some(Duration::from_millis(25)), 100.0);
        assert_eq!((0..5).filter(|_| s.claim().is_some()).count(), 3);
    }
}
