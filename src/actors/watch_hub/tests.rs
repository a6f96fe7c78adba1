//! The hub against a real store: a slow watcher catches up from history
//! without gaps, and progress_notify ticks on quiet watchers.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::*;
use crate::proto::mvccpb::Event;
use crate::storage::StoreOptions;

fn open(dir: &std::path::Path) -> Arc<Store> {
    let opts = StoreOptions { map_size: 64 << 20 };
    Arc::new(Store::open(dir, opts).expect("open store"))
}

/// Commits one put, as the applier would, and returns its events.
fn put(store: &Store, key: &str, value: &str) -> Vec<Event> {
    let mut batch = store.begin_batch().expect("batch");
    let mut txn = batch.txn();
    txn.put(key.as_bytes(), value.as_bytes(), 0).expect("put");
    let events = txn.end().events;
    let index = store.consistent_index() + 1;
    batch.commit(index).expect("commit");
    events
}

fn spec(key: &str, tx: mpsc::Sender<Outgoing>, progress_notify: bool) -> WatchSpec {
    WatchSpec {
        range: KeyRange::One(key.as_bytes().to_vec()),
        filters: Vec::new(),
        prev_kv: true,
        progress_notify,
        fragment: false,
        tx,
    }
}

async fn watch(hub: &Addr<WatchHub>, spec: WatchSpec, start_revision: i64) -> i64 {
    let create = CreateWatch {
        stream: 1,
        watch_id: 0,
        start_revision,
        spec,
    };
    let (id, _) = hub.send(create).await.expect("hub").expect("created");
    hub.send(ActivateWatch { stream: 1, id })
        .await
        .expect("hub");
    id
}

async fn recv(rx: &mut mpsc::Receiver<Outgoing>) -> WatchResponse {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("open")
        .response
}

#[actix_rt::test]
async fn a_full_channel_unsyncs_and_history_fills_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let hub = WatchHub::new(store.clone()).start();
    let (tx, mut rx) = mpsc::channel(1);
    watch(&hub, spec("k", tx, false), 0).await;

    for i in 1..=20 {
        let events = put(&store, "k", &i.to_string());
        hub.send(Notify { events }).await.expect("hub");
    }
    let mut expected = 1;
    while expected <= 20 {
        let resp = recv(&mut rx).await;
        for event in resp.events {
            let kv = event.kv.expect("kv");
            assert_eq!(kv.mod_revision, expected + 1);
            assert_eq!(kv.value, expected.to_string().as_bytes());
            if expected > 1 {
                let prev = event.prev_kv.expect("prev_kv");
                assert_eq!(prev.value, (expected - 1).to_string().as_bytes());
            }
            expected += 1;
        }
    }
}

#[actix_rt::test]
async fn progress_notify_reaches_quiet_watchers_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, "k", "v");
    let hub = WatchHub::new(store.clone())
        .with_progress_interval(Duration::from_millis(50))
        .start();
    let (tx, mut rx) = mpsc::channel(8);
    let (quiet_tx, mut quiet_rx) = mpsc::channel(8);
    let id = watch(&hub, spec("k", tx, true), 0).await;
    watch(&hub, spec("k", quiet_tx, false), 0).await;

    let tick = recv(&mut rx).await;
    assert_eq!(tick.watch_id, id);
    assert!(tick.events.is_empty());
    assert_eq!(tick.header.expect("header").revision, 2);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(quiet_rx.try_recv().is_err(), "no progress_notify asked");
}
