//! kill -9 in the middle of a write load loses no acknowledged write: after a
//! restart every acknowledged put is there with its revision and value, and
//! revisions carry on from there.

mod common;

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
