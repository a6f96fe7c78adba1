//! Linearizability under failures: five clients put, get and compare-and-
//! swap on a few keys through the members of a 3-member oxcd cluster while
//! members are killed (-9) and restarted one at a time. The recorded history
//! must be linearizable (`common::linearizability::check`); a request that
//! failed or timed out may or may not have happened, as the checker assumes.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::linearizability::{check, Op, Pending, Recorder};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::request_op::Request as RequestKind;
use oxcd::proto::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};
use tonic::transport::Channel;

const CLIENTS: u64 = 5;
const KEYS: u64 = 4;
const RUN_FOR: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// A member is killed this often, and started again this much later.
const KILL_EVERY: Duration = Duration::from_millis(2500);
const DOWN_FOR: Duration = Duration::from_millis(1000);

/// A small deterministic generator (no extra crate for a test's dice).
struct Dice(u64);

impl Dice {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

async fn connect(url: &str) -> Option<KvClient<Channel>> {
    let endpoint = Channel::from_shared(url.to_string()).ok()?;
    Some(KvClient::new(endpoint.connect_lazy()))
}

fn compare_value(key: &str, expected: &Option<String>) -> Compare {
    match expected {
        Some(value) => Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Value as i32,
            key: key.into(),
            target_union: Some(TargetUnion::Value(value.clone().into())),
            ..Default::default()
        },
        None => Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            key: key.into(),
            target_union: Some(TargetUnion::CreateRevision(0)),
            ..Default::default()
        },
    }
}

/// What a finished operation told its client.
enum Answer {
    Failed,
    Done,
    Read(Option<String>),
}

/// Runs one operation, recording its outcome (unknown on any error).
async fn one_op(kv: &mut KvClient<Channel>, pending: Pending, op: Op) -> Answer {
    match op {
        Op::Put { key, value } => {
            let put = PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, kv.put(put)).await {
                Ok(Ok(_)) => {
                    pending.put_ok();
                    Answer::Done
                }
                _ => {
                    pending.unknown();
                    Answer::Failed
                }
            }
        }
        Op::Get { key } => {
            let get = RangeRequest {
                key: key.into(),
                ..Default::default()
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, kv.range(get)).await {
                Ok(Ok(resp)) => {
                    let value = resp
                        .into_inner()
                        .kvs
                        .first()
                        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                    pending.get_ok(value.clone());
                    Answer::Read(value)
                }
                _ => {
                    pending.unknown();
                    Answer::Failed
                }
            }
        }
        Op::Cas { key, expected, new } => {
            let txn = TxnRequest {
                compare: vec![compare_value(&key, &expected)],
                success: vec![RequestOp {
                    request: Some(RequestKind::RequestPut(PutRequest {
                        key: key.into(),
                        value: new.into(),
                        ..Default::default()
                    })),
                }],
                failure: Vec::new(),
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, kv.txn(txn)).await {
                Ok(Ok(resp)) => {
                    pending.cas_ok(resp.into_inner().succeeded);
                    Answer::Done
                }
                _ => {
                    pending.unknown();
                    Answer::Failed
                }
            }
        }
        Op::Delete { .. } => {
            pending.unknown();
            Answer::Failed
        }
    }
}

async fn client(
    id: u64,
    urls: Vec<String>,
    recorder: Recorder,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ ((id + 1) * 0x1234_5678));
    let mut member = id as usize % urls.len();
    let Some(mut kv) = connect(&urls[member]).await else {
        return (0, 0);
    };
    let mut last_seen: Vec<Option<String>> = vec![None; KEYS as usize];
    let (mut done, mut failed) = (0, 0);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let k = dice.next(KEYS) as usize;
        let key = format!("lin/{k}");
        n += 1;
        let unique = format!("c{id}-{n}");
        let op = match dice.next(10) {
            0..=3 => Op::get(&key),
            4..=7 => Op::put(&key, &unique),
            _ => Op::cas(&key, last_seen[k].as_deref(), &unique),
        };
        let pending = recorder.invoke(id, op.clone());
        match one_op(&mut kv, pending, op).await {
            Answer::Read(value) => {
                // What this client last read, for its next CAS.
                last_seen[k] = value;
                done += 1;
            }
            Answer::Done => done += 1,
            Answer::Failed => {
                failed += 1;
                // Try another member.
                member = (member + 1) % urls.len();
                if let Some(next) = connect(&urls[member]).await {
                    kv = next;
                }
            }
        }
    }
    (done, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_gets_and_cas_stay_linearizable_while_members_die_and_return() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let urls: Vec<String> = (0..3).map(|i| cluster.member(i).client_url()).collect();
    let recorder = Recorder::new();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        clients.push(tokio::spawn(client(
            id,
            urls.clone(),
            recorder.clone(),
            stop.clone(),
        )));
    }

    // The nemesis: kill -9 one member at a time, in turn, then start it again.
    let started = Instant::now();
    let mut victim = 0;
    let mut kills = 0;
    while started.elapsed() + KILL_EVERY < RUN_FOR {
        tokio::time::sleep(KILL_EVERY - DOWN_FOR).await;
        cluster.kill9(victim);
        kills += 1;
        tokio::time::sleep(DOWN_FOR).await;
        cluster.start_member(victim).expect("restart a member");
        victim = (victim + 1) % 3;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut done, mut failed) = (0, 0);
    for c in clients {
        let (d, f) = c.await.expect("client");
        done += d;
        failed += f;
    }
    let history = recorder.history();
    eprintln!(
        "linearizability: {} operations ({done} answered, {failed} failed or timed out), {kills} kills",
        history.len()
    );
    assert!(done > 200, "too few operations were answered ({done})");
    if let Err(violation) = check(&history) {
        panic!("not linearizable: {violation}");
    }
}
