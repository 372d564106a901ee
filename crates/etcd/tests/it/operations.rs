//! Operating the store: metrics, readiness and scheduled compaction, on
//! the real `causeway store` process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use causeway_testkit::{CausewayProcess, http_get, wait_for};
use etcd_client::{GetOptions, WatchOptions};

use crate::common::{PATIENCE, connect, on_both_processes};

/// The value of the sample named exactly `sample` (with its labels, if
/// any) in Prometheus text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (sample, value) = l.rsplit_once(' ')?;
        if sample == name {
            value.parse().ok()
        } else {
            None
        }
    })
}

async fn metrics_and_readiness(p: CausewayProcess) {
    let mut c = connect(&p.endpoint()).await;
    let mut last = 0;
    for i in 0..3 {
        last = c
            .put(format!("m/{i}"), "v", None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision();
    }
    c.get("m/0", None).await.unwrap();
    let mut watch = c
        .watch("m/", Some(WatchOptions::new().with_prefix()))
        .await
        .unwrap();
    watch.message().await.unwrap().unwrap();

    c.lease_grant(60, None).await.unwrap();

    let (code, body) = http_get(&p.metrics_endpoint(), "/readyz").await.unwrap();
    assert_eq!((code, body.trim()), (200, "ok"));

    // The standard gRPC health service answers on the etcd port.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", p.endpoint()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let (code, text) = http_get(&p.metrics_endpoint(), "/metrics").await.unwrap();
    assert_eq!(code, 200);
    let puts = sample(
        &text,
        r#"causeway_store_requests_total{method="Put",code="OK"}"#,
    );
    assert_eq!(puts, Some(3.0), "Put requests:\n{text}");
    assert_eq!(
        sample(&text, "causeway_store_leases"),
        Some(1.0),
        "leases:\n{text}"
    );
    let ranges = sample(
        &text,
        r#"causeway_store_requests_total{method="Range",code="OK"}"#,
    );
    assert!(ranges >= Some(1.0), "Range requests:\n{text}");
    assert_eq!(
        sample(&text, "causeway_store_revision"),
        Some(last as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, "causeway_store_watchers"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "causeway_store_watch_streams"),
        Some(1.0),
        "{text}"
    );
    // An error is counted under its code.
    let _ = c.put("", "v", None).await;
    let (_, text) = http_get(&p.metrics_endpoint(), "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"causeway_store_requests_total{method="Put",code="InvalidArgument"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // The watcher gauges go back down when the stream ends.
    drop(watch);
    let endpoint = p.metrics_endpoint();
    wait_for(PATIENCE, || {
        let endpoint = endpoint.clone();
        async move {
            let (_, text) = http_get(&endpoint, "/metrics").await.unwrap_or_default();
            sample(&text, "causeway_store_watchers") == Some(0.0)
                && sample(&text, "causeway_store_watch_streams") == Some(0.0)
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the watch gauges stayed up after the stream ended"));
}

on_both_processes!(metrics_and_readiness() => metrics_and_readiness_are_served_on_sqlite, metrics_and_readiness_are_served_on_postgres);

async fn scheduled_compaction(p: CausewayProcess) {
    let mut c = connect(&p.endpoint()).await;
    for i in 0..20 {
        c.put("k", i.to_string(), None).await.unwrap();
    }
    // Revision 2 holds the first put; with 5 retained it goes at the next round.
    let old = Some(GetOptions::new().with_revision(2));
    let last_error = Arc::new(Mutex::new(String::new()));
    let compacted = wait_for(Duration::from_secs(5), || {
        let (mut c, old, last_error) = (c.clone(), old.clone(), last_error.clone());
        async move {
            match c.get("k", old).await {
                Err(e) => {
                    let e = e.to_string();
                    *last_error.lock().unwrap() = e.clone();
                    e.contains("required revision has been compacted")
                }
                Ok(_) => false,
            }
        }
    })
    .await;
    assert!(
        compacted.is_ok(),
        "revision 2 was never compacted away (last error: {:?})\n{}",
        last_error.lock().unwrap(),
        p.log_tail()
    );
    // The newest revisions are kept.
    let now = c.get("k", None).await.unwrap();
    let newest = now.header().unwrap().revision();
    let kept = c
        .get("k", Some(GetOptions::new().with_revision(newest - 4)))
        .await
        .unwrap();
    assert_eq!(kept.kvs()[0].value_str().unwrap(), "15");
}

on_both_processes!(
    scheduled_compaction("--compact-interval", "1s", "--compact-retain", "5")
        => scheduled_compaction_runs_on_its_own_on_sqlite, scheduled_compaction_runs_on_its_own_on_postgres
);

/// On SQLite, defragment gives back the disk space that deletes and
/// compaction freed, keeps every live key, and lets writes sent meanwhile
/// wait and then land, with no revision skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defragment_gives_space_back_on_sqlite() {
    let p = CausewayProcess::start_sqlite(&[]).await.unwrap();
    let file = std::path::PathBuf::from(p.datastore().strip_prefix("sqlite://").unwrap());
    let mut c = connect(&p.endpoint()).await;
    let value = vec![b'v'; 8 * 1024];
    for i in 0..500 {
        c.put(format!("big/{i:04}"), value.clone(), None)
            .await
            .unwrap();
    }
    c.put("keep", "me", None).await.unwrap();
    let deleted = c
        .delete(
            "big/",
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 500);
    let revision = deleted.header().unwrap().revision();
    c.compact(
        revision,
        Some(etcd_client::CompactionOptions::new().with_physical()),
    )
    .await
    .unwrap();
    let before = c.status().await.unwrap();
    // Twice over (kv and history), 4 MB of values went; their pages are free
    // but still in the file.
    assert!(before.db_size() > 8_000_000, "{before:?}");
    assert!(
        before.raft_used_db_size() < before.db_size() / 4,
        "{before:?}"
    );
    let file_before = std::fs::metadata(&file).unwrap().len();
    // Some of it may still be in the WAL.
    assert!(file_before > 4_000_000, "{file_before} bytes");

    let mut writer = c.clone();
    let during = tokio::spawn(async move {
        let mut revisions = Vec::new();
        for i in 0..100 {
            let put = writer
                .put(format!("during/{i:03}"), "x", None)
                .await
                .unwrap();
            revisions.push(put.header().unwrap().revision());
        }
        revisions
    });
    let defragmented = c.defragment().await.unwrap();
    let revisions = during.await.unwrap();
    assert_eq!(
        revisions,
        ((revision + 1)..=(revision + 100)).collect::<Vec<_>>()
    );
    let at = defragmented.header().unwrap().revision();
    assert!((revision..=revision + 100).contains(&at), "{at}");

    let after = c.status().await.unwrap();
    assert!(
        after.db_size() < before.db_size() / 4,
        "before {before:?}, after {after:?}"
    );
    let file_after = std::fs::metadata(&file).unwrap().len();
    assert!(
        file_after < file_before / 4,
        "{file_before} bytes before, {file_after} after"
    );
    let kept = c.get("keep", None).await.unwrap();
    assert_eq!(kept.kvs()[0].value(), b"me");
    let count = |prefix: &'static str| {
        let mut c = c.clone();
        async move {
            c.get(
                prefix,
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .unwrap()
            .count()
        }
    };
    assert_eq!(count("big/").await, 0);
    assert_eq!(count("during/").await, 100);
    let put = c.put("after", "defrag", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), revision + 101);
}

/// PostgreSQL reclaims its own space; defragment says so, and the server
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defragment_is_unsupported_on_postgres() {
    let db = causeway_testkit::Postgres::database().unwrap();
    let p = CausewayProcess::start(db.dsn(), &[]).await.unwrap();
    let mut c = connect(&p.endpoint()).await;
    crate::common::assert_grpc_error(
        c.defragment().await,
        tonic::Code::Unimplemented,
        "causeway store: defragment is not supported on PostgreSQL, which reclaims space with its own autovacuum",
    );
    c.put("still", "here", None).await.unwrap();
    drop(p);
}
