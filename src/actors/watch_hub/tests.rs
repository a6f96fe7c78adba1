//! The hub against a real store: a slow watcher catches up from history
//! without gaps, and progress_notify ticks on quiet watchers.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::*;
use crate::proto::mvccpb::Event;
use crate::storage::{Store, StoreOptions};

/// A hub over `store`, with one history reader, as the server wires it.
fn hub_over(store: &Arc<Store>) -> WatchHub {
    let for_readers = store.clone();
    let readers = SyncArbiter::start(1, move || MvccReader::new(for_readers.clone()));
    WatchHub::new(store.current_revision(), readers)
}

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

fn spec(key: &str, tx: Outbox, progress_notify: bool) -> WatchSpec {
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

async fn recv_outgoing(rx: &mut OutboxReceiver) -> Outgoing {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("open")
}

async fn recv(rx: &mut OutboxReceiver) -> WatchResponse {
    recv_outgoing(rx).await.response
}

#[actix_rt::test]
async fn a_full_channel_unsyncs_and_history_fills_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let hub = hub_over(&store).start();
    let (tx, mut rx) = outbox(1, STREAM_BUFFER_BYTES);
    watch(&hub, spec("k", tx, false), 0).await;

    for i in 1..=20 {
        let events = put(&store, "k", &i.to_string());
        hub.send(Notify { events }).await.expect("hub");
    }
    let mut expected = 1;
    while expected <= 20 {
        let out = recv_outgoing(&mut rx).await;
        assert!(out.prev_kv, "the stream is told to fill prev_kv");
        for event in out.response.events {
            let kv = event.kv.expect("kv");
            assert_eq!(kv.mod_revision, expected + 1);
            assert_eq!(kv.value, expected.to_string().as_bytes());
            expected += 1;
        }
    }
}

#[actix_rt::test]
async fn a_watcher_far_behind_catches_up_over_several_bounded_rounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let total = CATCH_UP_REVS_PER_ROUND * 2 + 50;
    for i in 0..total {
        put(&store, if i % 2 == 0 { "k" } else { "other" }, "v");
    }
    let hub = hub_over(&store).start();
    let (tx, mut rx) = outbox(64, STREAM_BUFFER_BYTES);
    watch(&hub, spec("k", tx, false), 1).await;
    let mut next = 2;
    while next <= total + 1 {
        let resp = recv(&mut rx).await;
        assert!(resp.events.len() <= MAX_REVS_PER_RESPONSE);
        for event in resp.events {
            assert_eq!(event.kv.expect("kv").mod_revision, next);
            next += 2;
        }
    }
    // Synced now: a live event arrives without a catch-up round.
    let events = put(&store, "k", "live");
    let live_rev = events[0].kv.as_ref().expect("kv").mod_revision;
    hub.send(Notify { events }).await.expect("hub");
    let resp = recv(&mut rx).await;
    assert_eq!(
        resp.events[0].kv.as_ref().expect("kv").mod_revision,
        live_rev
    );
}

#[actix_rt::test]
async fn a_compacted_start_is_cancelled_with_the_compact_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for _ in 0..5 {
        put(&store, "k", "v");
    }
    let mut batch = store.begin_batch().expect("batch");
    batch.compact(4).expect("compact");
    let index = store.consistent_index() + 1;
    batch.commit(index).expect("commit");
    let hub = hub_over(&store).start();
    let (tx, mut rx) = outbox(8, STREAM_BUFFER_BYTES);
    let id = watch(&hub, spec("k", tx, false), 2).await;
    let resp = recv(&mut rx).await;
    assert_eq!(resp.watch_id, id);
    assert!(resp.canceled);
    assert_eq!(resp.compact_revision, 4);
    assert_eq!(resp.header.map(|h| h.revision), Some(0));
}

#[actix_rt::test]
async fn prev_kvs_are_read_at_the_revision_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let created = put(&store, "k", "one");
    let updated = put(&store, "k", "two");
    let for_reader = store.clone();
    let readers = SyncArbiter::start(1, move || MvccReader::new(for_reader.clone()));
    let events = created.into_iter().chain(updated).collect();
    let filled = readers
        .send(crate::actors::mvcc_history::FillPrevKvs { events })
        .await
        .expect("reader");
    assert!(
        filled[0].prev_kv.is_none(),
        "a creation has no previous version"
    );
    let prev = filled[1].prev_kv.as_ref().expect("prev_kv");
    assert_eq!(prev.value, b"one");
}

#[actix_rt::test]
async fn progress_notify_reaches_quiet_watchers_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, "k", "v");
    let hub = hub_over(&store)
        .with_progress_interval(Duration::from_millis(50))
        .start();
    let (tx, mut rx) = outbox(8, STREAM_BUFFER_BYTES);
    let (quiet_tx, mut quiet_rx) = outbox(8, STREAM_BUFFER_BYTES);
    let id = watch(&hub, spec("k", tx, true), 0).await;
    watch(&hub, spec("k", quiet_tx, false), 0).await;

    let tick = recv(&mut rx).await;
    assert_eq!(tick.watch_id, id);
    assert!(tick.events.is_empty());
    assert_eq!(tick.header.expect("header").revision, 2);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(quiet_rx.try_recv().is_none(), "no progress_notify asked");
}

#[actix_rt::test]
async fn a_stream_over_its_byte_budget_resumes_from_history_once_drained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let hub = hub_over(&store).start();
    let (tx, mut rx) = outbox(1000, 4096);
    watch(&hub, spec("k", tx, false), 0).await;
    let value = "v".repeat(1000);
    for _ in 0..40 {
        let events = put(&store, "k", &value);
        hub.send(Notify { events }).await.expect("hub");
    }
    let mut next = 2;
    while next < 42 {
        for event in recv(&mut rx).await.events {
            assert_eq!(event.kv.expect("kv").mod_revision, next);
            next += 1;
        }
    }
}

/// A progress answer is queued by the hub itself, behind every event it has
/// queued: its revision is never below an event the stream already got.
#[actix_rt::test]
async fn a_progress_answer_never_overtakes_queued_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let hub = hub_over(&store).start();
    let (tx, mut rx) = outbox(64, STREAM_BUFFER_BYTES);
    watch(&hub, spec("k", tx.clone(), false), 0).await;
    for i in 1..=5 {
        let events = put(&store, "k", &i.to_string());
        hub.send(Notify { events }).await.expect("hub");
        let asked = StreamProgress {
            stream: 1,
            tx: tx.clone(),
            response: WatchResponse::default(),
        };
        assert_eq!(hub.send(asked).await.expect("hub"), ProgressAnswer::Queued);
    }
    let mut last_event = 0;
    for _ in 0..10 {
        let resp = recv(&mut rx).await;
        match resp.events.last() {
            Some(e) => last_event = e.kv.as_ref().expect("kv").mod_revision,
            None => {
                let rev = resp.header.expect("header").revision;
                assert!(rev >= last_event, "progress {rev} after event {last_event}");
                assert_eq!(rev, last_event, "nothing else was written");
            }
        }
    }
    assert_eq!(last_event, 6);
}
