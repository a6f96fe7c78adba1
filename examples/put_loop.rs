//! One client, one connection, sequential puts for a fixed time: the put rate
//! and latency of a plain client loop (the load tool `oxcd-bench` comes with
//! issue 3). Works against oxcd or etcd.
//!
//! cargo run --release --example put_loop -- http://127.0.0.1:2379 5

use std::time::{Duration, Instant};

use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::PutRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:2379".to_string());
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let mut client = KvClient::connect(endpoint.clone()).await?;
    let value = vec![b'v'; 256];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut i: u64 = 0;
    while Instant::now() < deadline {
        let key = format!("k{:07}", i % 100_000).into_bytes();
        let sent = Instant::now();
        client
            .put(PutRequest {
                key,
                value: value.clone(),
                ..Default::default()
            })
            .await?;
        latencies.push(sent.elapsed());
        i += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{endpoint}: {i} puts in {elapsed:.1}s = {:.0} puts/s; p50 {:?} p99 {:?}",
        i as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
