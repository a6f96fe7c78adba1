//! Watch through a tonic client, for what etcdctl cannot send: several
//! watches on one stream, client-chosen ids, filters, cancel, progress,
//! fragment, slow readers, and ordered, gap-free delivery under a concurrent
//! writer.

use crate::common;

use std::time::Duration;

use common::grpc::{delete, kv, put, watch_range as create, WatchConn};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::*;
use oxcd::proto::mvccpb::event::EventType;

#[tokio::test]
async fn several_watches_ids_filters_and_cancel() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut watch = WatchConn::open(&cluster).await;

    watch.create(create("a", "", 7)).await;
    let created = watch.next().await;
    assert!(created.created && !created.canceled);
    assert_eq!(created.watch_id, 7);
    let header = created.header.expect("header");
    assert_ne!(header.cluster_id, 0);
    assert_ne!(header.member_id, 0);
    assert_eq!(header.revision, 1);

    // A duplicate id is refused as etcd does.
    watch.create(create("b", "", 7)).await;
    let refused = watch.next().await;
    assert!(refused.created && refused.canceled);
    assert_eq!(refused.watch_id, -1);
    assert_eq!(
        refused.cancel_reason,
        "mvcc: duplicate watch ID provided on the WatchStream"
    );

    // Automatic ids start at 0; a prefix watch without deletes, with prev_kv.
    let mut nodelete = create("p/", "p0", 0);
    nodelete.filters = vec![watch_create_request::FilterType::Nodelete as i32];
    nodelete.prev_kv = true;
    watch.create(nodelete).await;
    let auto = watch.next().await;
    assert!(auto.created);
    assert_eq!(auto.watch_id, 0);

    // An empty range is refused.
    watch.create(create("b", "a", 0)).await;
    let empty = watch.next().await;
    assert!(empty.canceled);
    assert_eq!(empty.cancel_reason, "mvcc: watcher range is empty");

    put(&mut kv, "a", "1").await; // rev 2
    put(&mut kv, "p/x", "1").await; // rev 3
    put(&mut kv, "p/x", "2").await; // rev 4
    delete(&mut kv, "p/x").await; // rev 5: filtered out
    delete(&mut kv, "a").await; // rev 6

    let mut seen: Vec<(i64, i64, i32)> = Vec::new();
    while seen.len() < 4 {
        let resp = watch.next().await;
        for event in &resp.events {
            let kv = event.kv.as_ref().expect("kv");
            seen.push((resp.watch_id, kv.mod_revision, event.r#type));
            if resp.watch_id == 0 && kv.mod_revision == 4 {
                let prev = event.prev_kv.as_ref().expect("prev_kv");
                assert_eq!(prev.value, b"1");
            }
        }
    }
    let put_t = EventType::Put as i32;
    let del_t = EventType::Delete as i32;
    assert_eq!(
        seen,
        vec![(7, 2, put_t), (0, 3, put_t), (0, 4, put_t), (7, 6, del_t)]
    );

    // Progress: the current revision, watch id -1.
    watch
        .send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
        .await;
    let progress = watch.next().await;
    assert_eq!(progress.watch_id, -1);
    assert_eq!(progress.header.expect("header").revision, 6);

    // Cancel: acknowledged, and no more events for that id.
    watch
        .send(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 7,
        }))
        .await;
    let cancelled = watch.next().await;
    assert!(cancelled.canceled);
    assert_eq!(cancelled.watch_id, 7);
    put(&mut kv, "a", "2").await; // rev 7: nobody watches it now
    put(&mut kv, "p/y", "1").await; // rev 8
    let next = watch.next().await;
    assert_eq!(next.watch_id, 0);
    assert_eq!(next.events[0].kv.as_ref().expect("kv").mod_revision, 8);
}

#[tokio::test]
async fn history_and_compaction() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    for i in 0..5 {
        put(&mut kv, "h", &i.to_string()).await; // revs 2..=6
    }
    let compact = CompactionRequest {
        revision: 4,
        physical: false,
    };
    kv.compact(compact).await.expect("compact");

    let mut watch = WatchConn::open(&cluster).await;
    let mut old = create("h", "", 0);
    old.start_revision = 2;
    watch.create(old).await;
    assert!(watch.next().await.created);
    let cancelled = watch.next().await;
    assert!(cancelled.canceled);
    assert_eq!(cancelled.compact_revision, 4);

    let mut from = create("h", "", 0);
    from.start_revision = 4;
    watch.create(from).await;
    assert!(watch.next().await.created);
    let history = watch.next().await;
    let revs: Vec<i64> = history
        .events
        .iter()
        .map(|e| e.kv.as_ref().expect("kv").mod_revision)
        .collect();
    assert_eq!(revs, vec![4, 5, 6]);

    // Starting in the future: nothing before the start revision.
    let mut future = create("h", "", 0);
    future.start_revision = 8;
    watch.create(future).await;
    let future_id = watch.next().await.watch_id;
    put(&mut kv, "h", "7").await; // rev 7: too early
    put(&mut kv, "h", "8").await; // rev 8
    let mut live = watch.next().await;
    // The watch from revision 4 sees both; skip its responses.
    while live.watch_id != future_id {
        live = watch.next().await;
    }
    let revs: Vec<i64> = live
        .events
        .iter()
        .map(|e| e.kv.as_ref().expect("kv").mod_revision)
        .collect();
    assert_eq!(revs, vec![8]);
}

#[tokio::test]
async fn ordered_without_gaps_under_a_concurrent_writer() {
    const WRITES: i64 = 300;
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    put(&mut kv, "w/0", "start").await; // rev 2

    let mut watch = WatchConn::open(&cluster).await;
    let mut all = create("w/", "w0", 0);
    all.start_revision = 2; // part history, part live
    watch.create(all).await;
    assert!(watch.next().await.created);

    let writer = tokio::spawn(async move {
        for i in 1..=WRITES {
            put(&mut kv, &format!("w/{}", i % 7), "v").await;
        }
    });
    let mut expected = 2;
    while expected < 2 + WRITES + 1 {
        let resp = watch.next().await;
        for event in resp.events {
            let rev = event.kv.expect("kv").mod_revision;
            assert_eq!(rev, expected, "events in order, no gap, no repeat");
            expected += 1;
        }
    }
    writer.await.expect("writer");
}

#[tokio::test]
async fn slow_reader_catches_up_without_gaps() {
    const WRITES: i64 = 400;
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut watch = WatchConn::open(&cluster).await;
    watch.create(create("s/", "s0", 0)).await;
    assert!(watch.next().await.created);

    // Nobody reads while ~3 MiB of events are produced: the stream's channel
    // and the transport's windows fill, and the watcher falls behind.
    let value = "x".repeat(8 * 1024);
    for i in 0..WRITES {
        put(&mut kv, &format!("s/{}", i % 5), &value).await;
    }
    let mut expected = 2;
    while expected < 2 + WRITES {
        let resp = watch.next().await;
        for event in resp.events {
            let rev = event.kv.expect("kv").mod_revision;
            assert_eq!(rev, expected, "in order, no gap, no repeat");
            expected += 1;
        }
    }
    // Caught up again: a progress request is answered with the last revision.
    watch
        .send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
        .await;
    let progress = watch.next().await;
    assert_eq!(progress.watch_id, -1);
    assert_eq!(progress.header.expect("header").revision, 1 + WRITES);
    let log = cluster.member(0).log_tail(2000);
    assert!(
        log.contains("slow watcher unsynced"),
        "the watcher should have fallen behind and caught up from history"
    );
}

#[tokio::test]
async fn fragment_splits_large_responses_under_max_request_bytes() {
    let cluster = Cluster::start_with_args(ServerKind::Oxcd, &["--max-request-bytes=2048"]);
    let mut kv = kv(&cluster).await;
    let value = "x".repeat(600);
    for i in 0..6 {
        put(&mut kv, &format!("f/{i}"), &value).await; // revs 2..=7
    }
    // Replayed from history, the six events make one 3.6 KB response.

    let mut watch = WatchConn::open(&cluster).await;
    let mut split = create("f/", "f0", 1);
    split.fragment = true;
    split.start_revision = 2;
    watch.create(split).await;
    assert!(watch.next().await.created);
    let mut events = 0;
    let mut parts = 0;
    loop {
        let part = watch.next().await;
        assert_eq!(part.watch_id, 1);
        events += part.events.len();
        parts += 1;
        if !part.fragment {
            break;
        }
    }
    assert_eq!(events, 6);
    assert!(parts > 1, "a 3.6 KB response is split under 2 KB");

    let mut whole = create("f/", "f0", 2);
    whole.start_revision = 2;
    watch.create(whole).await;
    assert!(watch.next().await.created);
    let all = watch.next().await;
    assert_eq!(
        (all.watch_id, all.events.len(), all.fragment),
        (2, 6, false)
    );
}

#[tokio::test]
async fn watches_outlive_a_half_closed_request_stream() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut watch = WatchConn::open(&cluster).await;
    watch.create(create("h", "", 0)).await;
    assert!(watch.next().await.created);
    watch.close_requests();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rev = put(&mut kv, "h", "v").await;
    let event = watch.next().await;
    assert_eq!(event.events[0].kv.as_ref().expect("kv").mod_revision, rev);
}

#[tokio::test]
async fn progress_notify_follows_the_configured_interval() {
    let cluster = Cluster::start_with_args(
        ServerKind::Oxcd,
        &["--experimental-watch-progress-notify-interval=300ms"],
    );
    let mut kv = kv(&cluster).await;
    let rev = put(&mut kv, "p", "v").await;
    let mut watch = WatchConn::open(&cluster).await;
    // The quiet watch is created first: a notification for watch 7 may come
    // before a later create is answered on a slow machine, which is allowed.
    watch.create(create("p", "", 8)).await;
    assert!(watch.next().await.created);
    let mut notified = create("p", "", 7);
    notified.progress_notify = true;
    watch.create(notified).await;
    assert!(watch.next().await.created);

    let started = std::time::Instant::now();
    let tick = watch.next().await;
    assert_eq!(tick.watch_id, 7, "only the watch that asked is notified");
    assert!(tick.events.is_empty());
    assert_eq!(tick.header.expect("header").revision, rev);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A second quiet period gives another notification.
    let tick = watch.next().await;
    assert_eq!((tick.watch_id, tick.events.len()), (7, 0));
}
