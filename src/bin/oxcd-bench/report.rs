//! Printing a summary: the human-readable text report or the one-object JSON report.

use crate::stats::{Bucket, LatencyMs, Summary};
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

/// The result of a `watch-latency` run (see `loads::watch_latency`).
#[derive(Debug, Clone)]
pub struct WatchSummary {
    pub watchers: u64,
    pub streams: u64,
    pub watch_keys: u64,
    pub put_rate: f64,
    /// Acknowledged puts.
    pub puts: u64,
    pub put_errors: u64,
    pub errors_by_message: BTreeMap<String, u64>,
    /// Time from the first put to the last put's answer.
    pub duration_s: f64,
    pub puts_per_sec: f64,
    /// Time to open the streams and get every watch's `created`.
    pub create_seconds: f64,
    /// Time from the last put's answer until every expected event arrived (or the timeout).
    pub drain_seconds: f64,
    pub events_expected: u64,
    pub events_received: u64,
    pub events_missing: u64,
    pub events_unexpected: u64,
    /// Events that arrived no later than their put's answer (counted with latency 0).
    pub events_before_ack: u64,
    /// Put acknowledgement to event arrival, over every delivered event.
    pub latency: LatencyMs,
    /// Put sent to event arrival, over the same events.
    pub latency_from_send: LatencyMs,
    pub rss_after_watch_mib: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    pub rss_final_mib: Option<f64>,
}

#[derive(Serialize)]
struct JsonWatchReport<'a> {
    load: &'a str,
    endpoints: &'a [String],
    conns: u64,
    watchers: u64,
    streams: u64,
    watch_keys: u64,
    put_rate: f64,
    puts: u64,
    put_errors: u64,
    errors_by_message: &'a BTreeMap<String, u64>,
    duration_s: f64,
    puts_per_sec: f64,
    create_seconds: f64,
    drain_seconds: f64,
    events_expected: u64,
    events_received: u64,
    events_missing: u64,
    events_unexpected: u64,
    events_before_ack: u64,
    latency_ms: JsonLatency,
    latency_from_send_ms: JsonLatency,
    rss_after_watch_mib: Option<f64>,
    rss_peak_mib: Option<f64>,
    rss_final_mib: Option<f64>,
}

fn json_latency(l: &LatencyMs) -> JsonLatency {
    JsonLatency {
        avg: round_ms(l.avg),
        p50: round_ms(l.p50),
        p90: round_ms(l.p90),
        p99: round_ms(l.p99),
        p999: round_ms(l.p999),
        max: round_ms(l.max),
    }
}

/// The `watch-latency` JSON report: one object, schema documented in docs/bench-tool.md.
pub fn watch_json(info: &RunInfo, s: &WatchSummary) -> String {
    let report = JsonWatchReport {
        load: &info.load,
        endpoints: &info.endpoints,
        conns: info.conns,
        watchers: s.watchers,
        streams: s.streams,
        watch_keys: s.watch_keys,
        put_rate: s.put_rate,
        puts: s.puts,
        put_errors: s.put_errors,
        errors_by_message: &s.errors_by_message,
        duration_s: s.duration_s,
        puts_per_sec: s.puts_per_sec,
        create_seconds: s.create_seconds,
        drain_seconds: s.drain_seconds,
        events_expected: s.events_expected,
        events_received: s.events_received,
        events_missing: s.events_missing,
        events_unexpected: s.events_unexpected,
        events_before_ack: s.events_before_ack,
        latency_ms: json_latency(&s.latency),
        latency_from_send_ms: json_latency(&s.latency_from_send),
        rss_after_watch_mib: s.rss_after_watch_mib,
        rss_peak_mib: s.rss_peak_mib,
        rss_final_mib: s.rss_final_mib,
    };
    serde_json::to_string(&report).expect("report serializes")
}

/// The `watch-latency` text report.
pub fn watch_text(info: &RunInfo, s: &WatchSummary) -> String {
    let l = &s.latency;
    let mib = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} MiB"));
    let mut out = String::new();
    let _ = writeln!(out, "Summary:");
    let _ = writeln!(out, "  Load:\t\t{}", info.load);
    let _ = writeln!(out, "  Endpoints:\t{}", info.endpoints.join(","));
    let _ = writeln!(
        out,
        "  Watchers:\t{} on {} keys, over {} streams, {} conns",
        s.watchers, s.watch_keys, s.streams, info.conns
    );
    let _ = writeln!(out, "  Create:\t{:.4} secs.", s.create_seconds);
    let _ = writeln!(
        out,
        "  Puts:\t\t{} ok, {} errors in {:.4} secs. ({:.1}/s, asked {})",
        s.puts, s.put_errors, s.duration_s, s.puts_per_sec, s.put_rate
    );
    let _ = writeln!(
        out,
        "  Events:\t{} received of {} expected, {} missing, {} unexpected",
        s.events_received, s.events_expected, s.events_missing, s.events_unexpected
    );
    let _ = writeln!(
        out,
        "  Before ack:\t{} events arrived before their put's answer (latency 0)",
        s.events_before_ack
    );
    let _ = writeln!(out, "  Drain:\t{:.4} secs.", s.drain_seconds);
    let _ = writeln!(
        out,
        "  Server RSS:\t{} after watch, {} peak, {} final",
        mib(s.rss_after_watch_mib),
        mib(s.rss_peak_mib),
        mib(s.rss_final_mib)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Put ack to watch event latency (ms):");
    for (label, value) in [
        ("avg", l.avg),
        ("50%", l.p50),
        ("90%", l.p90),
        ("99%", l.p99),
        ("99.9%", l.p999),
        ("max", l.max),
    ] {
        let _ = writeln!(out, "  {label:>5} in {value:.4}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Put sent to watch event latency (ms):");
    let f = &s.latency_from_send;
    for (label, value) in [("50%", f.p50), ("99%", f.p99), ("max", f.max)] {
        let _ = writeln!(out, "  {label:>5} in {value:.4}");
    }
    if !s.errors_by_message.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Put errors by message:");
        for (message, count) in &s.errors_by_message {
            let _ = writeln!(out, "  {count:>8}  {message}");
        }
    }
    out
}

/// Milliseconds to the nearest 0.1 µs (the histograms hold microseconds).
fn round_ms(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// The JSON report: one object, schema documented in docs/bench-tool.md.
pub fn json(info: &RunInfo, s: &Summary) -> String {
    // Serializing plain structs of numbers, strings and maps with string keys cannot fail.
    serde_json::to_string(&json_report(info, s)).expect("report serializes")
}

fn json_report<'a>(info: &'a RunInfo, s: &'a Summary) -> JsonReport<'a> {
    JsonReport {
        load: &info.load,
        endpoints: &info.endpoints,
        clients: info.clients,
        conns: info.conns,
        requests: s.requests,
        errors: s.errors,
        duration_s: s.duration_s,
        requests_per_sec: s.requests_per_sec,
        latency_ms: json_latency(&s.latency),
        errors_by_message: &s.errors_by_message,
        histogram: s
            .histogram
            .iter()
            .map(|b| JsonBucket {
                le_ms: round_ms(b.le_ms),
                count: b.count,
            })
            .collect(),
    }
}

/// What a `lease-keepalive` run adds to the request report.
#[derive(Debug, Clone, Copy)]
pub struct LeaseInfo {
    pub leases: u64,
    pub lease_ttl: i64,
    pub window: u64,
    pub grant_seconds: f64,
    pub open_seconds: f64,
    pub leases_revoked: u64,
}

#[derive(Serialize)]
struct JsonLeaseReport<'a> {
    #[serde(flatten)]
    base: JsonReport<'a>,
    leases: u64,
    lease_ttl: i64,
    window: u64,
    grant_seconds: f64,
    open_seconds: f64,
    leases_revoked: u64,
}

/// The `lease-keepalive` JSON report: the request report's fields plus the lease figures.
pub fn lease_json(info: &RunInfo, s: &Summary, l: &LeaseInfo) -> String {
    let report = JsonLeaseReport {
        base: json_report(info, s),
        leases: l.leases,
        lease_ttl: l.lease_ttl,
        window: l.window,
        grant_seconds: l.grant_seconds,
        open_seconds: l.open_seconds,
        leases_revoked: l.leases_revoked,
    };
    serde_json::to_string(&report).expect("report serializes")
}

/// The `lease-keepalive` text report: the request report with the lease lines in its summary.
pub fn lease_text(info: &RunInfo, s: &Summary, l: &LeaseInfo) -> String {
    let extra = [
        format!(
            "  Leases:\t{} (TTL {} s), window {} per stream",
            l.leases, l.lease_ttl, l.window
        ),
        format!(
            "  Grant:\t{:.4} secs. ({:.1} leases/s), streams opened in {:.4} secs.",
            l.grant_seconds,
            if l.grant_seconds > 0.0 {
                l.leases as f64 / l.grant_seconds
            } else {
                0.0
            },
            l.open_seconds
        ),
        format!("  Revoked:\t{} of {} leases", l.leases_revoked, l.leases),
    ];
    text_with(info, s, &extra)
}

/// The text report, like etcd's benchmark summary.
pub fn text(info: &RunInfo, s: &Summary) -> String {
    text_with(info, s, &[])
}

/// The text report with `extra` lines after the clients line of the summary.
fn text_with(info: &RunInfo, s: &Summary, extra: &[String]) -> String {
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
    for line in extra {
        let _ = writeln!(out, "{line}");
    }
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

/// `check-history`'s report: what was checked, then every violation.
pub fn history_text(r: &crate::history::check::Report) -> String {
    let mut out = format!(
        "operations: {} ({} with unknown outcome)\nwatch streams: {}, events: {}\nlast revision: {}\nviolations: {}\n",
        r.operations,
        r.unknown,
        r.watch_streams,
        r.watch_events,
        r.revisions,
        r.violations.len()
    );
    for v in &r.violations {
        out.push_str("  ");
        out.push_str(v);
        out.push('\n');
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

    fn watch_sample() -> (RunInfo, WatchSummary) {
        let info = RunInfo {
            load: "watch-latency".into(),
            endpoints: vec!["127.0.0.1:2379".into()],
            clients: 1,
            conns: 4,
        };
        let summary = WatchSummary {
            watchers: 200,
            streams: 20,
            watch_keys: 10,
            put_rate: 200.0,
            puts: 199,
            put_errors: 1,
            errors_by_message: [("etcdserver: request timed out".to_string(), 1)].into(),
            duration_s: 1.0,
            puts_per_sec: 199.0,
            create_seconds: 0.25,
            drain_seconds: 0.01,
            events_expected: 3980,
            events_received: 3980,
            events_missing: 0,
            events_unexpected: 0,
            events_before_ack: 1500,
            latency: LatencyMs {
                min: 0.0,
                avg: 0.4,
                p50: 0.3,
                p90: 0.6,
                p99: 1.2,
                p999: 2.5,
                max: 3.0,
            },
            latency_from_send: LatencyMs {
                p50: 0.9,
                p99: 2.2,
                max: 4.0,
                ..LatencyMs::default()
            },
            rss_after_watch_mib: Some(30.5),
            rss_peak_mib: Some(41.0),
            rss_final_mib: None,
        };
        (info, summary)
    }

    #[test]
    fn watch_json_has_the_documented_schema() {
        let (info, summary) = watch_sample();
        let v: serde_json::Value = serde_json::from_str(&watch_json(&info, &summary)).unwrap();
        let mut got: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        got.sort();
        let mut want = vec![
            "load",
            "endpoints",
            "conns",
            "watchers",
            "streams",
            "watch_keys",
            "put_rate",
            "puts",
            "put_errors",
            "errors_by_message",
            "duration_s",
            "puts_per_sec",
            "create_seconds",
            "drain_seconds",
            "events_expected",
            "events_received",
            "events_missing",
            "events_unexpected",
            "events_before_ack",
            "latency_ms",
            "latency_from_send_ms",
            "rss_after_watch_mib",
            "rss_peak_mib",
            "rss_final_mib",
        ];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(v["load"], "watch-latency");
        assert_eq!(v["events_expected"], 3980);
        assert_eq!(v["latency_ms"]["p99"], 1.2);
        assert_eq!(v["latency_ms"]["p999"], 2.5);
        assert_eq!(v["latency_from_send_ms"]["p99"], 2.2);
        assert_eq!(v["rss_peak_mib"], 41.0);
        assert!(v["rss_final_mib"].is_null());
        assert_eq!(v["errors_by_message"]["etcdserver: request timed out"], 1);
    }

    #[test]
    fn watch_text_report_has_the_figures() {
        let (info, summary) = watch_sample();
        let t = watch_text(&info, &summary);
        assert!(
            t.contains("200 on 10 keys, over 20 streams, 4 conns"),
            "{t}"
        );
        assert!(
            t.contains("3980 received of 3980 expected, 0 missing"),
            "{t}"
        );
        assert!(
            t.contains("30.5 MiB after watch, 41.0 MiB peak, - final"),
            "{t}"
        );
        assert!(t.contains("99.9% in 2.5000"), "{t}");
        assert!(t.contains("1  etcdserver: request timed out"), "{t}");
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

    fn lease_sample() -> LeaseInfo {
        LeaseInfo {
            leases: 10_000,
            lease_ttl: 60,
            window: 1,
            grant_seconds: 2.5,
            open_seconds: 0.125,
            leases_revoked: 10_000,
        }
    }

    #[test]
    fn lease_json_is_the_request_report_plus_the_lease_figures() {
        let (mut info, summary) = sample();
        info.load = "lease-keepalive".into();
        let v: serde_json::Value =
            serde_json::from_str(&lease_json(&info, &summary, &lease_sample())).unwrap();
        let base: serde_json::Value = serde_json::from_str(&json(&info, &summary)).unwrap();
        let obj = v.as_object().unwrap();
        for (k, want) in base.as_object().unwrap() {
            assert_eq!(&obj[k], want, "{k}");
        }
        let mut extra: Vec<&str> = obj
            .keys()
            .map(|k| k.as_str())
            .filter(|k| !base.as_object().unwrap().contains_key(*k))
            .collect();
        extra.sort();
        assert_eq!(
            extra,
            vec![
                "grant_seconds",
                "lease_ttl",
                "leases",
                "leases_revoked",
                "open_seconds",
                "window"
            ]
        );
        assert_eq!(v["load"], "lease-keepalive");
        assert_eq!(v["leases"], 10_000);
        assert_eq!(v["grant_seconds"], 2.5);
    }

    #[test]
    fn lease_text_adds_the_lease_lines_to_the_summary() {
        let (info, summary) = sample();
        let t = lease_text(&info, &summary, &lease_sample());
        assert!(
            t.contains("Leases:\t10000 (TTL 60 s), window 1 per stream"),
            "{t}"
        );
        assert!(t.contains("Grant:\t2.5000 secs. (4000.0 leases/s)"), "{t}");
        assert!(t.contains("Revoked:\t10000 of 10000 leases"), "{t}");
        assert!(t.contains("Requests/sec:\t800.0"), "{t}");
        // The request report is unchanged apart from the added lines.
        let plain: String = t
            .lines()
            .filter(|l| {
                !["  Leases:", "  Grant:", "  Revoked:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(plain, text(&info, &summary));
    }
}
