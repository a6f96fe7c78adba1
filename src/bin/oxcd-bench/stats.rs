//! Per-client statistics (owned by one client loop, so no locking per request) and the
//! merged summary computed at the end.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tonic::Status;

/// Significant digits kept by the latency histograms (0.1% resolution).
const SIGFIG: u8 = 3;

/// Number of buckets in the printed latency histogram.
pub const HISTOGRAM_BUCKETS: usize = 10;

/// What one client loop saw: latencies of successful requests (microseconds) and errors.
#[derive(Debug)]
pub struct ClientStats {
    latency_us: Histogram<u64>,
    errors: HashMap<String, u64>,
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats::new()
    }
}

impl ClientStats {
    pub fn new() -> ClientStats {
        ClientStats {
            // An auto-resizing histogram starts small and grows to the largest latency seen.
            latency_us: Histogram::new(SIGFIG).expect("3 significant digits is a valid setting"),
            errors: HashMap::new(),
        }
    }

    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // `record` grows an auto-resizing histogram; `saturating_record` would clamp to its
        // current (initially tiny) highest trackable value.
        if self.latency_us.record(us).is_err() {
            self.latency_us.saturating_record(us);
        }
    }

    /// Count a failed request under its gRPC status message (the code when it has none).
    pub fn error(&mut self, status: &Status) {
        let message = status.message();
        let message = if message.is_empty() {
            format!("{:?}", status.code())
        } else {
            message.to_string()
        };
        self.error_message(message);
    }

    pub fn error_message(&mut self, message: String) {
        *self.errors.entry(message).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: ClientStats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("auto-resizing histograms accept each other's values");
        for (message, count) in other.errors {
            *self.errors.entry(message).or_insert(0) += count;
        }
    }

    /// The summary of a run that took `elapsed`.
    pub fn summarize(&self, elapsed: Duration) -> Summary {
        let h = &self.latency_us;
        let requests = h.len();
        let duration_s = elapsed.as_secs_f64();
        let latency = if requests == 0 {
            LatencyMs::default()
        } else {
            LatencyMs {
                min: ms(h.min()),
                avg: h.mean() / 1000.0,
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                p999: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
            }
        };
        Summary {
            requests,
            errors: self.errors.values().sum(),
            duration_s,
            requests_per_sec: if duration_s > 0.0 {
                requests as f64 / duration_s
            } else {
                0.0
            },
            latency,
            errors_by_message: self.errors.clone().into_iter().collect(),
            histogram: buckets(h, HISTOGRAM_BUCKETS),
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyMs {
    pub min: f64,
    pub avg: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Requests whose latency is at most `le_ms` and above the previous bucket's bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub le_ms: f64,
    pub count: u64,
}

/// The merged result of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Successful requests.
    pub requests: u64,
    pub errors: u64,
    pub duration_s: f64,
    pub requests_per_sec: f64,
    pub latency: LatencyMs,
    pub errors_by_message: BTreeMap<String, u64>,
    pub histogram: Vec<Bucket>,
}

/// `n` equal-width buckets from the fastest to the slowest latency (like etcd's benchmark);
/// a single bucket when all latencies are equal, none when there are none.
fn buckets(h: &Histogram<u64>, n: usize) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (h.min(), h.max());
    if hi <= lo || n == 0 {
        return vec![Bucket {
            le_ms: ms(hi),
            count: h.len(),
        }];
    }
    let width = (hi - lo) as f64 / n as f64;
    let mut out: Vec<Bucket> = (1..=n)
        .map(|i| Bucket {
            le_ms: ms(lo) + width * i as f64 / 1000.0,
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let value = v.value_iterated_to().clamp(lo, hi);
        let index = (((value - lo) as f64 / width).ceil() as usize).clamp(1, n) - 1;
        out[index].count += v.count_since_last_iteration();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_latencies() {
        let mut a = ClientStats::new();
        let mut b = ClientStats::new();
        for us in 1..=1000u64 {
            let s = if us % 2 == 0 { &mut a } else { &mut b };
            s.record(Duration::from_micros(us));
        }
        b.error(&Status::unavailable("etcdserver: too many requests"));
        b.error(&Status::unavailable("etcdserver: too many requests"));
        b.error(&Status::cancelled(""));
        a.merge(b);
        let s = a.summarize(Duration::from_secs(2));
        assert_eq!(s.requests, 1000);
        assert_eq!(s.errors, 3);
        assert_eq!(s.requests_per_sec, 500.0);
        assert_eq!(s.errors_by_message["etcdserver: too many requests"], 2);
        assert_eq!(s.errors_by_message["Cancelled"], 1);
        assert!((s.latency.avg - 0.5005).abs() < 0.001);
        assert!((s.latency.p50 - 0.5).abs() < 0.002);
        assert!((s.latency.p99 - 0.99).abs() < 0.002);
        assert!((s.latency.max - 1.0).abs() < 0.002);
        assert!((s.latency.min - 0.001).abs() < 0.0001);
        assert_eq!(s.histogram.len(), HISTOGRAM_BUCKETS);
        assert_eq!(s.histogram.iter().map(|b| b.count).sum::<u64>(), 1000);
        assert!((s.histogram[9].le_ms - s.latency.max).abs() < 1e-9);
        for b in &s.histogram {
            assert!((95..=105).contains(&b.count), "{b:?}");
        }
    }

    #[test]
    fn large_latencies_grow_the_histogram_instead_of_clamping() {
        let mut c = ClientStats::new();
        c.record(Duration::from_micros(3));
        c.record(Duration::from_millis(50));
        c.record(Duration::from_secs(30));
        let mut other = ClientStats::new();
        other.record(Duration::from_secs(100));
        c.merge(other);
        let s = c.summarize(Duration::from_secs(1));
        assert!((s.latency.max - 100_000.0).abs() < 100.0, "{:?}", s.latency);
        assert!((s.latency.p50 - 50.0).abs() < 0.1, "{:?}", s.latency);
    }

    #[test]
    fn empty_and_constant_runs() {
        let s = ClientStats::new().summarize(Duration::from_secs(1));
        assert_eq!(s.requests, 0);
        assert!(s.histogram.is_empty());
        assert_eq!(s.latency, LatencyMs::default());

        let mut c = ClientStats::new();
        for _ in 0..5 {
            c.record(Duration::from_micros(700));
        }
        let s = c.summarize(Duration::ZERO);
        assert_eq!(s.requests_per_sec, 0.0);
        assert_eq!(s.histogram.len(), 1);
        assert_eq!(s.histogram[0].count, 5);
    }
}
