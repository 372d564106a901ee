//! Watch features: progress notifications, RequestProgress, filters,
//! cancel, client-chosen IDs, fragments and compaction. Each scenario runs
//! on causeway over SQLite and PostgreSQL and on a real etcd, and what
//! clients observe must be the same.

use std::time::Duration;

use causeway_testkit::Etcd;
use etcd_client::proto::PbWatchResponse;
use etcd_client::{Client, EventType, PutOptions, Txn, TxnOp, WatchFilterType, WatchOptions};

use crate::common::{Collector, PATIENCE, connect, mod_revision, revision, summary};
use crate::server::Server;

/// Runs `scenario` on causeway (SQLite and PostgreSQL) and on a real etcd,
/// each fresh, and requires the three transcripts to be equal.
macro_rules! against_all {
    ($scenario:ident) => {{
        let sqlite = Server::sqlite().await;
        let on_sqlite = $scenario(connect(&sqlite.endpoint).await).await;
        let postgres = Server::postgres().await;
        let on_postgres = $scenario(connect(&postgres.endpoint).await).await;
        let etcd = Etcd::start().await.unwrap();
        let on_etcd = $scenario(connect(&etcd.endpoint()).await).await;
        assert_eq!(on_sqlite, on_etcd, "causeway on SQLite differs from etcd");
        assert_eq!(
            on_postgres, on_etcd,
            "causeway on PostgreSQL differs from etcd"
        );
    }};
}

/// An empty, non-control response: a progress notification.
fn is_progress(r: &PbWatchResponse) -> bool {
    r.events.is_empty() && !r.created && !r.canceled && r.compact_revision == 0
}

fn header(r: &PbWatchResponse) -> i64 {
    r.header.as_ref().map_or(0, |h| h.revision)
}

/// With a short progress interval an idle watch hears a progress
/// notification at the current revision, and a notification never claims
/// a revision whose events on the watch have not been sent yet.
async fn progress_notify_on(server: &Server) {
    let mut c = server.client().await;
    let w = Collector::open(
        &mut c,
        "watched/",
        WatchOptions::new().with_prefix().with_progress_notify(),
    )
    .await;
    let idle_at = revision(&mut c).await;
    w.wait(PATIENCE, |rs| rs.iter().any(is_progress)).await;
    let first = w.responses().into_iter().find(is_progress).unwrap();
    assert_eq!(header(&first), idle_at);

    // Busy: writes to the watched keys and (more often) to others
    // interleave, with gaps on the watch longer than the interval, so that
    // notifications come while the revision moves and events are in flight.
    let mut puts = Vec::new();
    for i in 0..80 {
        let key = if i % 20 == 0 {
            format!("watched/{i}")
        } else {
            format!("other/{i}")
        };
        let r = c.put(key.as_str(), "v", None).await.unwrap();
        if key.starts_with("watched/") {
            puts.push(r.header().unwrap().revision());
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let last = *puts.last().unwrap();
    w.wait_for_revision(last).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let responses = w.responses();
    let mut delivered: Vec<i64> = Vec::new();
    let mut notifications = 0;
    for r in &responses[1..] {
        if is_progress(r) {
            notifications += 1;
            let claimed = header(r);
            let owed: Vec<&i64> = puts
                .iter()
                .filter(|p| **p <= claimed && !delivered.contains(p))
                .collect();
            assert!(
                owed.is_empty(),
                "a progress notification at {claimed} came before events {owed:?}:\n{}",
                summary(&responses)
            );
        }
        delivered.extend(r.events.iter().map(mod_revision));
    }
    assert_eq!(delivered, puts);
    assert!(
        responses
            .iter()
            .any(|r| is_progress(r) && header(r) > idle_at && header(r) < last),
        "no progress notification while the store was busy: {}",
        summary(&responses)
    );
    assert!(
        notifications >= 3,
        "too few progress notifications: {}",
        summary(&responses)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notify_reports_idle_watches_without_running_ahead() {
    let short = |c: &mut causeway_store::StoreConfig| {
        c.progress_notify_interval = Duration::from_millis(300)
    };
    progress_notify_on(&Server::sqlite_with(short).await).await;
}

/// RequestProgress: one response for the stream, with watch_id -1 and the
/// current revision.
async fn request_progress(mut c: Client) -> Vec<(i64, bool, usize)> {
    for i in 0..3 {
        c.put(format!("rp/{i}"), "v", None).await.unwrap();
    }
    let mut w = Collector::open(&mut c, "rp/", WatchOptions::new().with_prefix()).await;
    c.put("elsewhere", "v", None).await.unwrap();
    let now = revision(&mut c).await;
    w.sender.request_progress().await.unwrap();
    w.wait(PATIENCE, |rs| rs.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rs = w.responses();
    assert_eq!(rs.len(), 2, "{}", summary(&rs));
    let p = &rs[1];
    assert!(is_progress(p), "{p:?}");
    assert_eq!(header(p), now);
    rs[1..]
        .iter()
        .map(|r| (r.watch_id, r.created, r.events.len()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_progress_answers_with_the_current_revision() {
    against_all!(request_progress);
}

/// NOPUT and NODELETE, each on its own watch.
async fn filters(mut c: Client) -> Vec<(String, i32, i64)> {
    let no_put = Collector::open(
        &mut c,
        "f/",
        WatchOptions::new()
            .with_prefix()
            .with_filters([WatchFilterType::NoPut]),
    )
    .await;
    let no_delete = Collector::open(
        &mut c,
        "f/",
        WatchOptions::new()
            .with_prefix()
            .with_filters([WatchFilterType::NoDelete]),
    )
    .await;
    for i in 0..3 {
        c.put(format!("f/{i}"), "v", None).await.unwrap();
        c.delete(format!("f/{i}"), None).await.unwrap();
    }
    let last = revision(&mut c).await;
    no_put.wait_for_revision(last).await;
    no_delete.wait_for_revision(last - 1).await;
    let mut out = Vec::new();
    for (name, w, kept) in [
        ("noput", &no_put, EventType::Delete),
        ("nodelete", &no_delete, EventType::Put),
    ] {
        let events = w.events();
        assert_eq!(events.len(), 3, "{name}: {events:?}");
        assert!(events.iter().all(|e| e.r#type == kept as i32), "{name}");
        out.extend(
            events
                .iter()
                .map(|e| (name.to_string(), e.r#type, mod_revision(e))),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noput_and_nodelete_filters_leave_their_events_out() {
    against_all!(filters);
}

/// Cancel: acknowledged with `canceled`, and no events afterwards.
async fn cancel(mut c: Client) -> Vec<(i64, bool, bool, usize)> {
    let mut w = Collector::open(&mut c, "c/", WatchOptions::new().with_prefix()).await;
    c.put("c/1", "v", None).await.unwrap();
    w.wait(PATIENCE, |rs| rs.len() >= 2).await;
    let id = w.responses()[0].watch_id;
    w.sender.cancel(id).await.unwrap();
    w.wait(PATIENCE, |rs| rs.iter().any(|r| r.canceled)).await;
    c.put("c/2", "v", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rs = w.responses();
    let canceled = rs.iter().position(|r| r.canceled).unwrap();
    assert_eq!(rs[canceled].watch_id, id);
    assert_eq!(
        canceled,
        rs.len() - 1,
        "events after the cancel: {}",
        summary(&rs)
    );
    rs.iter()
        .map(|r| (r.watch_id, r.created, r.canceled, r.events.len()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_watch_gets_no_more_events() {
    against_all!(cancel);
}

/// A client-chosen watch ID already in use on the stream is refused.
async fn duplicate_id(mut c: Client) -> Vec<(i64, bool, bool, String)> {
    let mut w = Collector::open(
        &mut c,
        "d/",
        WatchOptions::new().with_prefix().with_watch_id(7),
    )
    .await;
    assert_eq!(w.responses()[0].watch_id, 7);
    w.sender
        .watch(
            "e/",
            Some(WatchOptions::new().with_prefix().with_watch_id(7)),
        )
        .await
        .unwrap();
    w.wait(PATIENCE, |rs| rs.len() >= 2).await;
    let refused = w.responses()[1].clone();
    assert!(
        refused.canceled,
        "a duplicate watch ID was accepted: {refused:?}"
    );
    // The first watch with that ID still works.
    let put = c.put("d/1", "v", None).await.unwrap();
    w.wait_for_revision(put.header().unwrap().revision()).await;
    w.responses()
        .iter()
        .map(|r| (r.watch_id, r.created, r.canceled, r.cancel_reason.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_watch_id_is_refused() {
    against_all!(duplicate_id);
}

const BIG: usize = 200 * 1024;
const BIG_KEYS: usize = 6;

/// One txn whose events (with their previous values) exceed 1.5 MiB,
/// watched with `fragment`: several responses that reassemble to all of it.
/// (The txn itself stays under the request limit; the previous values
/// double the events' size.)
async fn fragments(mut c: Client) -> (usize, Vec<i64>) {
    for i in 0..BIG_KEYS {
        c.put(format!("big/{i}"), vec![b'a'; BIG], None)
            .await
            .unwrap();
    }
    let w = Collector::open(
        &mut c,
        "big/",
        WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_fragment(),
    )
    .await;
    let ops: Vec<TxnOp> = (0..BIG_KEYS)
        .map(|i| TxnOp::put(format!("big/{i}"), vec![b'b'; BIG], Some(PutOptions::new())))
        .collect();
    let r = c.txn(Txn::new().and_then(ops)).await.unwrap();
    let rev = r.header().unwrap().revision();
    w.wait(PATIENCE, |rs| {
        rs.iter().map(|r| r.events.len()).sum::<usize>() >= BIG_KEYS
    })
    .await;
    let rs: Vec<PbWatchResponse> = w.responses().into_iter().skip(1).collect();
    assert!(rs.len() > 1, "not fragmented: {}", summary(&rs));
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(
            r.fragment,
            i + 1 < rs.len(),
            "fragment flags: {}",
            summary(&rs)
        );
    }
    let events: Vec<_> = rs.iter().flat_map(|r| &r.events).collect();
    assert_eq!(events.len(), BIG_KEYS);
    for (i, e) in events.iter().enumerate() {
        let kv = e.kv.as_ref().unwrap();
        assert_eq!(kv.key, format!("big/{i}").into_bytes());
        assert_eq!((kv.mod_revision, kv.value.len()), (rev, BIG));
        assert!(kv.value.iter().all(|b| *b == b'b'));
        assert_eq!(e.prev_kv.as_ref().unwrap().value.len(), BIG);
    }
    (rs.len(), events.iter().map(|e| mod_revision(e)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_watch_responses_reassemble_to_the_whole_txn() {
    against_all!(fragments);
}

/// A watch from a compacted revision is canceled with the compaction
/// revision.
async fn compacted(mut c: Client) -> Vec<(bool, bool, i64, usize)> {
    for i in 0..5 {
        c.put("k", i.to_string(), None).await.unwrap();
    }
    let at = revision(&mut c).await - 1;
    c.compact(at, None).await.unwrap();
    let w = Collector::open(&mut c, "k", WatchOptions::new().with_start_revision(2)).await;
    w.wait(PATIENCE, |rs| rs.iter().any(|r| r.canceled)).await;
    let rs = w.responses();
    let canceled = rs.iter().find(|r| r.canceled).unwrap();
    assert_eq!(canceled.compact_revision, at, "{}", summary(&rs));
    assert!(rs.iter().all(|r| r.events.is_empty()));
    rs.iter()
        .map(|r| (r.created, r.canceled, r.compact_revision, r.events.len()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_revision_is_canceled_with_the_compaction() {
    against_all!(compacted);
}
