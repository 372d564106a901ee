//! Leases: expiry in one revision, across restarts and across processes,
//! and keep-alive.

use std::time::{Duration, Instant};

use causeway_testkit::{CausewayProcess, Postgres};
use etcd_client::{Client, EventType, LeaseTimeToLiveOptions, PutOptions, WatchOptions};

use crate::common::{Collector, PATIENCE, connect, mod_revision, on_both_backends, revision};
use crate::server::Server;

const KEYS: usize = 5;

/// Grants a lease and attaches `KEYS` keys under `prefix` to it.
async fn leased_keys(c: &mut Client, prefix: &str, ttl: i64) -> i64 {
    let id = c.lease_grant(ttl, None).await.unwrap().id();
    for i in 0..KEYS {
        c.put(
            format!("{prefix}{i}"),
            "v",
            Some(PutOptions::new().with_lease(id)),
        )
        .await
        .unwrap();
    }
    id
}

/// Waits for the watch to report `KEYS` deletes, and checks they all share
/// one revision; returns it.
async fn one_revision_of_deletes(w: &Collector) -> i64 {
    w.wait(PATIENCE, |rs| {
        rs.iter()
            .flat_map(|r| &r.events)
            .filter(|e| e.r#type == EventType::Delete as i32)
            .count()
            >= KEYS
    })
    .await;
    let deletes: Vec<i64> = w
        .events()
        .iter()
        .filter(|e| e.r#type == EventType::Delete as i32)
        .map(mod_revision)
        .collect();
    assert_eq!(deletes.len(), KEYS, "{deletes:?}");
    assert!(
        deletes.iter().all(|r| *r == deletes[0]),
        "lease expiry deleted its keys in several revisions: {deletes:?}"
    );
    deletes[0]
}

async fn expiry_is_one_revision(server: &Server) {
    let mut c = server.client().await;
    let id = leased_keys(&mut c, "exp/", 2).await;
    let before = revision(&mut c).await;
    let w = Collector::open(&mut c, "exp/", WatchOptions::new().with_prefix()).await;
    let deleted_at = one_revision_of_deletes(&w).await;
    assert_eq!(deleted_at, before + 1);
    // Nothing else happened: the expiry took exactly one revision.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(revision(&mut c).await, before + 1);
    let ttl = c.lease_time_to_live(id, None).await.unwrap();
    assert_eq!(ttl.ttl(), -1, "the expired lease is still there");
}

on_both_backends!(expiry_is_one_revision => lease_expiry_deletes_every_key_in_one_revision_on_sqlite, lease_expiry_deletes_every_key_in_one_revision_on_postgres);

/// `crash`: stop with kill -9 rather than SIGTERM.
async fn lease_survives_restart(mut p: CausewayProcess, crash: bool) {
    const TTL: i64 = 6;
    let mut c = connect(&p.endpoint()).await;
    let id = leased_keys(&mut c, "restart/", TTL).await;
    let granted = Instant::now();
    if crash {
        p.kill9();
    } else {
        let status = p.terminate().unwrap();
        assert!(status.success(), "{status}");
    }
    p.restart().await.unwrap();
    let mut c = connect(&p.endpoint()).await;
    let ttl = c
        .lease_time_to_live(id, Some(LeaseTimeToLiveOptions::new().with_keys()))
        .await
        .unwrap();
    assert!(
        ttl.ttl() > 0 && ttl.ttl() <= TTL,
        "the lease did not survive the restart: ttl {}",
        ttl.ttl()
    );
    assert_eq!(ttl.granted_ttl(), TTL);
    assert_eq!(ttl.keys().len(), KEYS);
    let w = Collector::open(&mut c, "restart/", WatchOptions::new().with_prefix()).await;
    one_revision_of_deletes(&w).await;
    let lived = granted.elapsed();
    assert!(
        lived >= Duration::from_secs(TTL as u64 - 1),
        "the lease expired early, after {lived:?}"
    );
    assert!(c.get("restart/0", None).await.unwrap().kvs().is_empty());
    assert_eq!(c.lease_time_to_live(id, None).await.unwrap().ttl(), -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_a_crash_and_still_expire_on_sqlite() {
    lease_survives_restart(CausewayProcess::start_sqlite(&[]).await.unwrap(), true).await;
}

// SIGTERM, not kill -9: a killed process keeps PostgreSQL's lease-expiry
// lead until its 10 s term runs out, and the next leader then renews every
// lease in full (as etcd does on a leader change), so expiry after a crash
// takes up to 10 s + TTL: correct, but too slow for a unit test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_a_restart_and_still_expire_on_postgres() {
    let db = Postgres::database().unwrap();
    lease_survives_restart(CausewayProcess::start(db.dsn(), &[]).await.unwrap(), false).await;
}

/// Two processes on one database: a lease expires once, in one revision,
/// and both processes' watchers see the same single revision of deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expires_once_with_two_processes_on_postgres() {
    let (a, b) = Server::postgres_pair().await;
    let mut ca = a.client().await;
    let mut cb = b.client().await;
    // Granted on B, which may or may not be the process that runs expiry.
    let _id = leased_keys(&mut cb, "shared/", 2).await;
    let before = revision(&mut ca).await;
    let wa = Collector::open(&mut ca, "shared/", WatchOptions::new().with_prefix()).await;
    let wb = Collector::open(&mut cb, "shared/", WatchOptions::new().with_prefix()).await;
    let ra = one_revision_of_deletes(&wa).await;
    let rb = one_revision_of_deletes(&wb).await;
    assert_eq!((ra, rb), (before + 1, before + 1));
    // Give a second expiry, if there were one, time to happen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        revision(&mut ca).await,
        before + 1,
        "the lease expired twice"
    );
    assert_eq!(revision(&mut cb).await, before + 1);
    assert_eq!(wa.events().len(), KEYS);
    assert_eq!(wb.events().len(), KEYS);
    drop((wa, wb));
    b.shutdown().await;
    a.shutdown().await;
}

async fn keep_alive_keeps_the_lease(server: &Server) {
    let mut c = server.client().await;
    let id = leased_keys(&mut c, "kept/", 2).await;
    let (mut keeper, mut answers) = c.lease_keep_alive(id).await.unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        keeper.keep_alive().await.unwrap();
        let answer = tokio::time::timeout(PATIENCE, answers.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer.id(), id);
        assert!(answer.ttl() > 0, "keep-alive answered ttl {}", answer.ttl());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Twice the TTL later, the keys are still there.
    let got = c.get("kept/0", None).await.unwrap();
    assert_eq!(got.kvs().len(), 1, "the kept-alive lease expired");
    assert!(c.lease_time_to_live(id, None).await.unwrap().ttl() > 0);
    // Without keep-alives it expires.
    drop((keeper, answers));
    let w = Collector::open(&mut c, "kept/", WatchOptions::new().with_prefix()).await;
    one_revision_of_deletes(&w).await;
}

on_both_backends!(keep_alive_keeps_the_lease => keep_alive_keeps_a_lease_past_its_ttl_on_sqlite, keep_alive_keeps_a_lease_past_its_ttl_on_postgres);
