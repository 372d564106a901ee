//! kill -9 under write load: every acknowledged put survives at the revision
//! it was acknowledged with, and the revision sequence has no gap.
//!
//! This strengthens `testkit::causeway_process_is_durable_across_kill9_and_stops_on_sigterm`
//! (one put, then a crash while idle) to a crash in the middle of
//! concurrent writes, on both backends.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use causeway_testkit::{CausewayProcess, wait_for};
use etcd_client::{EventType, GetOptions, WatchOptions};

use crate::common::{Collector, PATIENCE, assert_gap_free, connect, on_both_processes, revision};

const WRITERS: usize = 8;
/// Acknowledged puts to wait for before the crash: enough that the kill
/// lands while many writes are in flight.
const ACKED_BEFORE_KILL: usize = 300;

/// One acknowledged put: the key, its value and the revision it returned.
type Ack = (String, String, i64);

async fn crash_under_load(mut p: CausewayProcess) {
    let endpoint = p.endpoint();
    let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let acked = acked.clone();
        let mut c = connect(&endpoint).await;
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("crash/{w}/{i}");
                let value = format!("value {w} {i}");
                match c.put(key.as_str(), value.as_str(), None).await {
                    Ok(r) => {
                        acked
                            .lock()
                            .unwrap()
                            .push((key, value, r.header().unwrap().revision()))
                    }
                    // The crash: the put may or may not have committed.
                    Err(_) => break,
                }
            }
        }));
    }
    wait_for(PATIENCE, || {
        let n = acked.lock().unwrap().len();
        async move { n >= ACKED_BEFORE_KILL }
    })
    .await
    .unwrap();
    p.kill9();
    for w in writers {
        tokio::time::timeout(PATIENCE, w)
            .await
            .expect("a writer hung after the crash")
            .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);

    p.restart().await.unwrap();
    let mut c = connect(&endpoint).await;
    let current = revision(&mut c).await;

    // (a) Every acknowledged put is there, at its revision.
    let mut revisions = HashSet::new();
    for (key, value, rev) in &acked {
        assert!(
            revisions.insert(*rev),
            "two acknowledged puts returned revision {rev}"
        );
        assert!(
            *rev <= current,
            "{key} was acknowledged at {rev}, after the restart the store is at {current}"
        );
        let got = c
            .get(key.as_str(), Some(GetOptions::new().with_revision(*rev)))
            .await
            .unwrap();
        assert_eq!(
            got.kvs().len(),
            1,
            "acknowledged put of {key} at {rev} lost"
        );
        let kv = &got.kvs()[0];
        assert_eq!(
            (kv.mod_revision(), kv.value()),
            (*rev, value.as_bytes()),
            "{key} at {rev}"
        );
    }

    // (b) Revisions 2..=current are each one put, none missing or repeated
    // (each write in the load is one put of a new key).
    let watch = Collector::open(
        &mut c,
        "",
        WatchOptions::new().with_all_keys().with_start_revision(2),
    )
    .await;
    watch.wait_for_revision(current).await;
    let events = watch.events();
    assert!(events.iter().all(|e| e.r#type == EventType::Put as i32));
    assert_gap_free(&events, 2, current);

    // The restarted store goes on from where it was, without reusing a revision.
    let next = c.put("after", "restart", None).await.unwrap();
    assert_eq!(next.header().unwrap().revision(), current + 1);
    drop(watch);
    let status = p.terminate().unwrap();
    assert!(status.success(), "{status}\n{}", p.log_tail());
}

on_both_processes!(crash_under_load() => kill9_under_write_load_loses_nothing_on_sqlite, kill9_under_write_load_loses_nothing_on_postgres);
