//! The progress bar on stderr (only on a terminal): a ticker task reads the shared
//! completed-request counter, so client loops never touch the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Redraw interval.
const TICK: Duration = Duration::from_millis(100);

/// What the bar counts towards.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    Requests(u64),
    Time(Duration),
}

pub struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    /// Start drawing; `done` is the number of finished requests, `start` the run's start.
    pub fn start(goal: Goal, done: Arc<AtomicU64>, start: Instant) -> Progress {
        let (len, template) = match goal {
            Goal::Requests(total) => (
                total,
                "{bar:40.cyan/blue} {pos}/{len} reqs [{elapsed_precise}] {per_sec} ETA {eta}",
            ),
            Goal::Time(d) => (
                d.as_millis() as u64,
                "{bar:40.cyan/blue} [{elapsed_precise}] {msg}",
            ),
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            loop {
                interval.tick().await;
                let n = done.load(Ordering::Relaxed);
                match goal {
                    Goal::Requests(_) => ticking.set_position(n),
                    Goal::Time(_) => {
                        let ms = start.elapsed().as_millis() as u64;
                        ticking.set_position(ms.min(len));
                        let secs = start.elapsed().as_secs_f64().max(1e-9);
                        ticking.set_message(format!("{n} reqs, {:.0}/s", n as f64 / secs));
                    }
                }
            }
        });
        Progress { bar, ticker }
    }

    /// Stop drawing and erase the bar.
    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
