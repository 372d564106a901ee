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
