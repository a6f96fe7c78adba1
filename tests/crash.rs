//! kill -9 in the middle of a write load loses no acknowledged write: after a
//! restart every acknowledged put is there with its revision and value, and
//! revisions carry on from there.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::{PutRequest, RangeRequest};

const WRITERS: usize = 8;
const CRASHES: usize = 3;

/// key -> (value, revision) of every acknowledged put.
type Acked = Arc<Mutex<HashMap<String, (String, i64)>>>;

async fn write_until_error(url: String, writer: usize, round: usize, acked: Acked) {
    let Ok(mut client) = KvClient::connect(url).await else {
        return;
    };
    for i in 0.. {
        let key = format!("w{writer}/k{}", i % 50);
        let value = format!("r{round}-i{i}");
        let request = PutRequest {
            key: key.clone().into(),
            value: value.clone().into(),
            ..Default::default()
        };
        match client.put(request).await {
            Ok(response) => {
                let revision = response
                    .into_inner()
                    .header
                    .map(|h| h.revision)
                    .unwrap_or(-1);
                acked.lock().unwrap().insert(key, (value, revision));
            }
            Err(_) => return,
        }
    }
}

#[test]
fn kill9_mid_load_loses_no_acknowledged_put() {
    let mut cluster = Cluster::start(ServerKind::Oxcd);
    let url = cluster.member(0).client_url();
    let acked: Acked = Arc::default();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    for round in 0..CRASHES {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| runtime.spawn(write_until_error(url.clone(), w, round, acked.clone())))
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        cluster.kill9(0);
        for writer in writers {
            let _ = runtime.block_on(writer);
        }
        cluster
            .start_member(0)
            .unwrap_or_else(|e| panic!("restart after crash {round}: {e}"));

        let expected = acked.lock().unwrap().clone();
        assert!(
            !expected.is_empty(),
            "the load acknowledged nothing before crash {round}"
        );
        let max_acked = expected.values().map(|(_, rev)| *rev).max().unwrap_or(0);
        runtime.block_on(async {
            let mut client = KvClient::connect(url.clone()).await.unwrap();
            let all = RangeRequest {
                key: vec![0],
                range_end: vec![0],
                ..Default::default()
            };
            let stored = client.range(all).await.unwrap().into_inner();
            let stored: HashMap<String, (String, i64)> = stored
                .kvs
                .into_iter()
                .map(|kv| {
                    let key = String::from_utf8(kv.key).unwrap();
                    (key, (String::from_utf8(kv.value).unwrap(), kv.mod_revision))
                })
                .collect();
            for (key, (value, revision)) in &expected {
                let got = stored
                    .get(key)
                    .unwrap_or_else(|| panic!("acknowledged key {key} lost in crash {round}"));
                // A later put of the same key may have been applied without its
                // ack arriving; it can only be newer, never older.
                assert!(
                    got.1 >= *revision,
                    "{key}: revision went back from {revision} to {}",
                    got.1
                );
                if got.1 == *revision {
                    assert_eq!(&got.0, value, "{key} at revision {revision}");
                }
            }
            let next = client
                .put(PutRequest {
                    key: b"after-crash".to_vec(),
                    value: b"x".to_vec(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(
                next.header.unwrap().revision > max_acked,
                "revisions must continue after the restart"
            );
        });
        eprintln!(
            "crash {round}: {} acknowledged keys intact, max revision {max_acked}",
            expected.len()
        );
    }
}

/// Enough data to roll several 16 MiB WAL segments and let LMDB flushes
/// release old ones; a kill -9 and restart must still show everything.
#[test]
fn wal_rolls_and_releases_survive_kill9() {
    let mut cluster = Cluster::start(ServerKind::Oxcd);
    let url = cluster.member(0).client_url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let value = vec![b'x'; 64 * 1024];
    const PUTS: usize = 800; // ~50 MiB of WAL records
    let last_revision = runtime.block_on(async {
        let mut client = KvClient::connect(url.clone()).await.unwrap();
        let mut revision = 0;
        for i in 0..PUTS {
            let key = format!("big/{:04}", i % 200).into_bytes();
            let request = PutRequest {
                key,
                value: value.clone(),
                ..Default::default()
            };
            revision = client
                .put(request)
                .await
                .unwrap()
                .into_inner()
                .header
                .unwrap()
                .revision;
        }
        revision
    });
    // LMDB is flushed at most once a second, on an apply; small puts keep
    // applies coming until the flush has let the WAL drop old segments.
    let wal_dir = cluster.member(0).data_dir.join("member").join("wal");
    let wal_files = || std::fs::read_dir(&wal_dir).unwrap().count();
    let mut files = wal_files();
    runtime.block_on(async {
        let mut client = KvClient::connect(url.clone()).await.unwrap();
        for _ in 0..30 {
            if files <= 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let tick = PutRequest {
                key: b"tick".to_vec(),
                value: b"t".to_vec(),
                ..Default::default()
            };
            client.put(tick).await.unwrap();
            files = wal_files();
        }
    });
    // ~4 segments were written; released ones are deleted (current + prepared
    // next + at most one more remain).
    assert!(
        files <= 3,
        "{files} WAL files remain: old segments were not released"
    );
    cluster.kill9(0);
    cluster.start_member(0).unwrap();
    runtime.block_on(async {
        let mut client = KvClient::connect(url)
            .await
            .unwrap()
            .max_decoding_message_size(64 << 20);
        let all = RangeRequest {
            key: b"big/".to_vec(),
            range_end: b"big0".to_vec(),
            ..Default::default()
        };
        let stored = client.range(all).await.unwrap().into_inner();
        assert_eq!(stored.kvs.len(), 200);
        assert!(stored.kvs.iter().all(|kv| kv.value == value));
        assert!(stored.header.unwrap().revision >= last_revision);
        let max_mod = stored.kvs.iter().map(|kv| kv.mod_revision).max().unwrap();
        assert_eq!(max_mod, last_revision, "the last acknowledged put survived");
    });
}
