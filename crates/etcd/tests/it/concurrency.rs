//! Concurrency: racing compare-and-swap, two processes on one PostgreSQL
//! database, and watchers that read slowly.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use causeway_etcd::proto::etcdserverpb as pb;
use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp, WatchOptions};

use crate::common::{Collector, assert_gap_free, mod_revision, on_both_backends, revision};
use crate::server::Server;

const RACERS: usize = 50;
const ATTEMPTS: usize = 4;

/// 50 clients increment one counter with a txn that compares mod_revision.
/// Exactly the successful txns count, and each has its own revision.
async fn cas_counter(server: &Server) {
    let mut c = server.client().await;
    c.put("counter", "0", None).await.unwrap();
    let mut racers = Vec::new();
    for _ in 0..RACERS {
        let mut c = server.client().await;
        racers.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            for _ in 0..ATTEMPTS {
                let got = c.get("counter", None).await.unwrap();
                let kv = &got.kvs()[0];
                let n: u64 = kv.value_str().unwrap().parse().unwrap();
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        "counter",
                        CompareOp::Equal,
                        kv.mod_revision(),
                    )])
                    .and_then([TxnOp::put("counter", (n + 1).to_string(), None)]);
                let r = c.txn(txn).await.unwrap();
                if r.succeeded() {
                    wins.push((r.header().unwrap().revision(), n + 1));
                }
            }
            wins
        }));
    }
    let mut wins = Vec::new();
    for r in racers {
        wins.extend(r.await.unwrap());
    }
    let got = c.get("counter", None).await.unwrap();
    let value: usize = got.kvs()[0].value_str().unwrap().parse().unwrap();
    assert!(!wins.is_empty());
    assert_eq!(
        value,
        wins.len(),
        "the counter does not match the successful txns"
    );
    let revisions: HashSet<i64> = wins.iter().map(|w| w.0).collect();
    assert_eq!(
        revisions.len(),
        wins.len(),
        "two successful txns share a revision"
    );
    // Commit order is revision order: the k-th success wrote k.
    wins.sort();
    for (k, (rev, wrote)) in wins.iter().enumerate() {
        assert_eq!(*wrote, k as u64 + 1, "success at revision {rev}");
        let at = c
            .get("counter", Some(GetOptions::new().with_revision(*rev)))
            .await
            .unwrap();
        assert_eq!(at.kvs()[0].value_str().unwrap(), wrote.to_string());
    }
}

on_both_backends!(cas_counter => cas_counter_counts_exactly_on_sqlite, cas_counter_counts_exactly_on_postgres);

/// Two store processes on one PostgreSQL database, writing at once: both
/// watchers see every revision once, in order, and the same stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_agree_on_one_revision_sequence() {
    let (a, b) = Server::postgres_pair().await;
    let mut ca = a.client().await;
    let mut cb = b.client().await;
    let start = revision(&mut ca).await + 1;
    let all = || {
        WatchOptions::new()
            .with_all_keys()
            .with_start_revision(start)
    };
    let wa = Collector::open(&mut ca, "", all()).await;
    let wb = Collector::open(&mut cb, "", all()).await;

    let mut writers = Vec::new();
    for (side, server) in [("a", &a), ("b", &b)] {
        for w in 0..4 {
            let mut c = server.client().await;
            writers.push(tokio::spawn(async move {
                for i in 0..40 {
                    c.put(format!("{side}/{w}/{i}"), "v", None).await.unwrap();
                }
            }));
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    let last = revision(&mut ca).await;
    assert_eq!(last, start + 8 * 40 - 1, "one revision per put");
    wa.wait_for_revision(last).await;
    wb.wait_for_revision(last).await;
    let (ea, eb) = (wa.events(), wb.events());
    assert_gap_free(&ea, start, last);
    assert_gap_free(&eb, start, last);
    assert_eq!(ea, eb, "the two processes' watchers saw different streams");

    // A put on A reaches a watcher on B quickly.
    for i in 0..5 {
        let key = format!("cross/{i}");
        let w = Collector::open(&mut cb, key.as_str(), WatchOptions::new()).await;
        let sent = Instant::now();
        let put = ca.put(key.as_str(), "x", None).await.unwrap();
        let rev = put.header().unwrap().revision();
        w.wait_for_revision(rev).await;
        let took = sent.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "a put on A took {took:?} to reach a watcher on B"
        );
    }
    drop((wa, wb));
    b.shutdown().await;
    a.shutdown().await;
}

const BURST: usize = 8000;
const BURST_WRITERS: usize = 2;

/// A watch stream on its own HTTP/2 connection with small flow-control
/// windows, so that a reader that stops reading holds the server up after a
/// few hundred responses instead of the megabytes etcd-client would buffer.
async fn tight_watch(
    endpoint: &str,
    key: &[u8],
    range_end: &[u8],
    start_revision: i64,
) -> (
    tokio::sync::mpsc::Sender<pb::WatchRequest>,
    tonic::Streaming<pb::WatchResponse>,
) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut client = pb::watch_client::WatchClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: key.to_vec(),
                range_end: range_end.to_vec(),
                start_revision,
                ..Default::default()
            },
        )),
    })
    .await
    .unwrap();
    let stream = client
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    (tx, stream)
}

/// Thousands of puts while watchers read slowly (so slowly that the server
/// must fall back to reading history for them): each watcher gets every
/// event it asked for exactly once, in order, or an explicit cancel.
async fn slow_watchers(server: &Server) {
    let mut c = server.client().await;
    let start = revision(&mut c).await + 1;
    let mut watchers = Vec::new();
    let burst_over = Arc::new(AtomicBool::new(false));
    // One watcher of everything and one of every other key: the second has
    // to skip what it does not want whenever it catches up from history.
    for (key, end, want) in [
        (&b"\0"[..], &b"\0"[..], BURST),
        (b"burst/even/", b"burst/even0", BURST / 2),
    ] {
        let (requests, mut stream) = tight_watch(&server.endpoint, key, end, start).await;
        let burst_over = burst_over.clone();
        watchers.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            while revs.len() < want {
                let r = tokio::time::timeout(Duration::from_secs(15), stream.message())
                    .await
                    .expect("the slow watcher heard nothing for too long")
                    .unwrap()
                    .expect("the watch stream ended");
                assert!(
                    !r.canceled,
                    "watch canceled: {:?} compact {}",
                    r.cancel_reason, r.compact_revision
                );
                revs.extend(
                    r.events
                        .iter()
                        .map(|e| e.kv.as_ref().map_or(0, |kv| kv.mod_revision)),
                );
                // A slow reader while the burst lasts: the server must hold
                // its place, never drop events.
                if !burst_over.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            (revs, requests)
        }));
    }
    let mut writers = Vec::new();
    for w in 0..BURST_WRITERS {
        let mut c = server.client().await;
        writers.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in (w..BURST).step_by(BURST_WRITERS) {
                let parity = if i % 2 == 0 { "even" } else { "odd" };
                // Over 256 bytes: hyper's HTTP/2 client counts many smaller
                // unread DATA frames as a flood and closes the connection.
                let value = vec![b'v'; 300];
                let r = c
                    .put(format!("burst/{parity}/{i:05}"), value, None)
                    .await
                    .unwrap();
                revs.push((r.header().unwrap().revision(), i % 2 == 0));
            }
            revs
        }));
    }
    let mut puts = Vec::new();
    for w in writers {
        puts.extend(w.await.unwrap());
    }
    burst_over.store(true, Ordering::Relaxed);
    puts.sort();
    let all: Vec<i64> = puts.iter().map(|p| p.0).collect();
    let even: Vec<i64> = puts.iter().filter(|p| p.1).map(|p| p.0).collect();
    assert_eq!(all.first(), Some(&start));
    // The store agrees that the burst is all there is.
    assert_eq!(server.store.current_revision(), *all.last().unwrap());
    let deadline = Duration::from_secs(60);
    for (watcher, want) in watchers.into_iter().zip([all, even]) {
        let (got, _stream) = tokio::time::timeout(deadline, watcher)
            .await
            .expect("a slow watcher did not finish")
            .unwrap();
        assert_eq!(got.len(), want.len());
        if got != want {
            let missing = want.iter().filter(|r| !got.contains(r)).count();
            panic!(
                "the slow watcher's events differ from the puts: {missing} missing, first difference at {:?}",
                got.iter().zip(&want).position(|(g, w)| g != w)
            );
        }
    }
}

on_both_backends!(slow_watchers => slow_watchers_miss_nothing_on_sqlite, slow_watchers_miss_nothing_on_postgres);

/// A watch on a few keys, from a revision behind more than one history
/// chunk of other keys' events, still gets every event of its keys.
async fn narrow_watch_from_old_revision(server: &Server) {
    let mut c = server.client().await;
    let first = c.put("narrow/a", "0", None).await.unwrap();
    let first = first.header().unwrap().revision();
    // More than one chunk (1000 events) of other keys, in txns of 100 puts.
    for t in 0..25 {
        let ops: Vec<TxnOp> = (0..100)
            .map(|i| TxnOp::put(format!("other/{t}/{i}"), "x", None))
            .collect();
        c.txn(Txn::new().and_then(ops)).await.unwrap();
    }
    let mut want = vec![first];
    for i in 1..=3 {
        let r = c.put("narrow/a", i.to_string(), None).await.unwrap();
        want.push(r.header().unwrap().revision());
    }
    let w = Collector::open(
        &mut c,
        "narrow/",
        WatchOptions::new().with_prefix().with_start_revision(1),
    )
    .await;
    let last = *want.last().unwrap();
    w.wait_for_revision(last).await;
    let got: Vec<i64> = w.events().iter().map(mod_revision).collect();
    assert_eq!(got, want, "a watch from an old revision missed events");
}

on_both_backends!(narrow_watch_from_old_revision => narrow_watch_from_old_revision_misses_nothing_on_sqlite, narrow_watch_from_old_revision_misses_nothing_on_postgres);
