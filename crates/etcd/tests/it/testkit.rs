//! The test helpers start real servers and clean up after them.

use std::time::Duration;

use causeway_testkit::{Etcd, Postgres, free_addr, wait_for};

#[tokio::test]
async fn etcd_starts_serves_and_is_removed_on_drop() {
    let etcd = Etcd::builder()
        .arg("--experimental-watch-progress-notify-interval=1s")
        .start()
        .await
        .unwrap();
    let endpoint = etcd.endpoint();
    assert!(endpoint.starts_with("127.0.0.1:"), "{endpoint}");
    let mut c = etcd_client::Client::connect([endpoint.as_str()], None)
        .await
        .unwrap();
    c.put("a", "1", None).await.unwrap();
    let got = c.get("a", None).await.unwrap();
    assert_eq!(got.kvs()[0].value(), b"1");
    let dir = etcd.dir().to_path_buf();
    let addr = etcd.addr();
    drop(etcd);
    assert!(!dir.exists(), "{} survived the drop", dir.display());
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "etcd still listens on {addr} after the drop"
    );
}

#[tokio::test]
async fn postgres_databases_are_fresh_and_dropped() {
    let db = Postgres::database().unwrap();
    let other = Postgres::database().unwrap();
    assert_ne!(db.dsn(), other.dsn());
    let psql = |dsn: &str, sql: &str| {
        std::process::Command::new("psql")
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql])
            .output()
            .unwrap()
    };
    let out = psql(
        db.dsn(),
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let dsn = db.dsn().to_string();
    drop(db);
    let out = psql(&dsn, "SELECT 1");
    assert!(
        !out.status.success(),
        "the database outlived its PgDatabase"
    );
}

#[tokio::test]
async fn wait_for_times_out_and_succeeds() {
    let err = wait_for(Duration::from_millis(100), || async { false }).await;
    assert!(
        matches!(err, Err(causeway_testkit::Error::Timeout(_))),
        "{err:?}"
    );
    let mut n = 0;
    wait_for(Duration::from_secs(5), || {
        n += 1;
        let done = n >= 3;
        async move { done }
    })
    .await
    .unwrap();
    assert_eq!(n, 3);
    assert_ne!(free_addr(), free_addr());
}

/// Needs a `causeway` binary with the `store` subcommand (`$CAUSEWAY_BIN` or
/// target/{debug,release}/causeway). This checks the helper's kill9,
/// restart and terminate; `crash.rs` checks durability under write load.
#[tokio::test]
async fn causeway_process_is_durable_across_kill9_and_stops_on_sigterm() {
    let db = Postgres::database().unwrap();
    let mut p = causeway_testkit::CausewayProcess::start(db.dsn(), &[])
        .await
        .unwrap();
    let endpoint = p.endpoint();
    let mut c = etcd_client::Client::connect([endpoint.as_str()], None)
        .await
        .unwrap();
    c.put("crash", "survives", None).await.unwrap();
    p.kill9();
    assert!(
        std::net::TcpStream::connect_timeout(
            &endpoint.parse().unwrap(),
            Duration::from_millis(500)
        )
        .is_err(),
        "causeway still listens on {endpoint} after kill -9"
    );
    p.restart().await.unwrap();
    assert_eq!(p.endpoint(), endpoint);
    let mut c = etcd_client::Client::connect([endpoint.as_str()], None)
        .await
        .unwrap();
    let got = c.get("crash", None).await.unwrap();
    assert_eq!(
        got.kvs().len(),
        1,
        "an acknowledged put was lost by kill -9"
    );
    assert_eq!(got.kvs()[0].value(), b"survives");
    let status = p.terminate().unwrap();
    assert!(
        status.success(),
        "SIGTERM must stop causeway cleanly: {status}\n{}",
        p.log_tail()
    );
}

#[tokio::test]
async fn causeway_process_runs_on_sqlite() {
    let p = causeway_testkit::CausewayProcess::start_sqlite(&[])
        .await
        .unwrap();
    let mut c = etcd_client::Client::connect([p.endpoint()], None)
        .await
        .unwrap();
    let put = c.put("a", "1", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), 2);
    assert!(p.datastore().starts_with("sqlite://"), "{}", p.datastore());
}
