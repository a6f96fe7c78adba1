//! Printing a summary: the human-readable text report or the one-object JSON report.

use crate::stats::{Bucket, Summary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Width of the longest histogram bar, in characters.
const BAR_WIDTH: u64 = 40;

/// What was run (for the report header).
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub load: String,
    pub endpoints: Vec<String>,
    pub clients: u64,
    pub conns: u64,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    load: &'a str,
    endpoints: &'a [String],
    clients: u64,
    conns: u64,
    requests: u64,
    errors: u64,
    duration_s: f64,
    requests_per_sec: f64,
    latency_ms: JsonLatency,
    errors_by_message: &'a BTreeMap<String, u64>,
    histogram: Vec<JsonBucket>,
}

#[derive(Serialize)]
struct JsonLatency {
    avg: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

#[derive(Serialize)]
struct JsonBucket {
    le_ms: f64,
    count: u64,
}

/// Milliseconds to the nearest 0.1 µs (the histograms hold microseconds).
fn round_ms(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// The JSON report: one object, schema documented in docs/bench-tool.md.
pub fn json(info: &RunInfo, s: &Summary) -> String {
    let l = &s.latency;
    let report = JsonReport {
        load: &info.load,
        endpoints: &info.endpoints,
        clients: info.clients,
        conns: info.conns,
        requests: s.requests,
        errors: s.errors,
        duration_s: s.duration_s,
        requests_per_sec: s.requests_per_sec,
        latency_ms: JsonLatency {
            avg: round_ms(l.avg),
            p50: round_ms(l.p50),
            p90: round_ms(l.p90),
            p99: round_ms(l.p99),
            p999: round_ms(l.p999),
            max: round_ms(l.max),
        },
        errors_by_message: &s.errors_by_message,
        histogram: s
            .histogram
            .iter()
            .map(|b| JsonBucket {
                le_ms: round_ms(b.le_ms),
                count: b.count,
            })
            .collect(),
    };
    // Serializing plain structs of numbers, strings and maps with string keys cannot fail.
    serde_json::to_string(&report).expect("report serializes")
}

/// The text report, like etcd's benchmark summary.
pub fn text(info: &RunInfo, s: &Summary) -> String {
    let l = &s.latency;
    let mut out = String::new();
    let _ = writeln!(out, "Summary:");
    let _ = writeln!(out, "  Load:\t\t{}", info.load);
    let _ = writeln!(out, "  Endpoints:\t{}", info.endpoints.join(","));
    let _ = writeln!(
        out,
        "  Clients:\t{} over {} conns",
        info.clients, info.conns
    );
    let _ = writeln!(out, "  Total:\t{:.4} secs.", s.duration_s);
    let _ = writeln!(out, "  Requests:\t{} ok, {} errors", s.requests, s.errors);
    let _ = writeln!(out, "  Requests/sec:\t{:.1}", s.requests_per_sec);
    let _ = writeln!(out, "  Fastest:\t{:.4} ms.", l.min);
    let _ = writeln!(out, "  Slowest:\t{:.4} ms.", l.max);
    let _ = writeln!(out, "  Average:\t{:.4} ms.", l.avg);
    let _ = writeln!(out);
    let _ = writeln!(out, "Latency distribution (ms):");
    for (label, value) in [
        ("50%", l.p50),
        ("90%", l.p90),
        ("99%", l.p99),
        ("99.9%", l.p999),
        ("max", l.max),
    ] {
        let _ = writeln!(out, "  {label:>5} in {value:.4}");
    }
    if !s.histogram.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Response time histogram (ms, upper bound [count]):");
        out.push_str(&histogram_bars(&s.histogram));
    }
    if !s.errors_by_message.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Errors by message:");
        for (message, count) in &s.errors_by_message {
            let _ = writeln!(out, "  {count:>8}  {message}");
        }
    }
    out
}

fn histogram_bars(buckets: &[Bucket]) -> String {
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let count_width = buckets
        .iter()
        .map(|b| b.count.to_string().len())
        .max()
        .unwrap_or(1);
    let mut out = String::new();
    for b in buckets {
        let len = (b.count * BAR_WIDTH).div_ceil(most) as usize;
        let _ = writeln!(
            out,
            "  {:>10.4} [{:>count_width$}]\t|{}",
            b.le_ms,
            b.count,
            "∎".repeat(len)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencyMs;

    fn sample() -> (RunInfo, Summary) {
        let info = RunInfo {
            load: "put".into(),
            endpoints: vec!["127.0.0.1:2379".into()],
            clients: 1,
            conns: 1,
        };
        let summary = Summary {
            requests: 1000,
            errors: 3,
            duration_s: 1.25,
            requests_per_sec: 800.0,
            latency: LatencyMs {
                min: 0.5,
                avg: 1.2,
                p50: 1.1,
                p90: 1.5,
                p99: 2.0,
                p999: 3.1,
                max: 5.0,
            },
            errors_by_message: [("etcdserver: too many requests".to_string(), 3)].into(),
            histogram: vec![
                Bucket {
                    le_ms: 0.5,
                    count: 10,
                },
                Bucket {
                    le_ms: 5.0,
                    count: 990,
                },
            ],
        };
        (info, summary)
    }

    #[test]
    fn json_has_exactly_the_documented_schema() {
        let (info, summary) = sample();
        let v: serde_json::Value = serde_json::from_str(&json(&info, &summary)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = vec![
            "load",
            "endpoints",
            "clients",
            "conns",
            "requests",
            "errors",
            "duration_s",
            "requests_per_sec",
            "latency_ms",
            "errors_by_message",
            "histogram",
        ];
        let mut got = keys.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(v["load"], "put");
        assert_eq!(v["endpoints"][0], "127.0.0.1:2379");
        assert_eq!(v["requests"], 1000);
        assert_eq!(v["requests_per_sec"], 800.0);
        let mut lat: Vec<&str> = v["latency_ms"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        lat.sort();
        assert_eq!(lat, vec!["avg", "max", "p50", "p90", "p99", "p999"]);
        assert_eq!(v["latency_ms"]["p999"], 3.1);
        assert_eq!(v["errors_by_message"]["etcdserver: too many requests"], 3);
        assert_eq!(v["histogram"][1]["le_ms"], 5.0);
        assert_eq!(v["histogram"][1]["count"], 990);
    }

    #[test]
    fn text_report_has_the_figures_and_bars() {
        let (info, summary) = sample();
        let t = text(&info, &summary);
        assert!(t.contains("Requests/sec:\t800.0"), "{t}");
        assert!(t.contains("99.9% in 3.1000"), "{t}");
        assert!(t.contains(&"∎".repeat(40)), "{t}");
        assert!(t.contains("3  etcdserver: too many requests"), "{t}");
    }
}
