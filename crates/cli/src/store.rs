//! `causeway store`: the etcd v3 API on SQL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use causeway_etcd::{ServerConfig, TlsFiles};
use causeway_store::{Datastore, Store, StoreConfig};

/// Serve the etcd v3 API (KV, Watch, Lease, Maintenance, Cluster) with the
/// data kept in SQLite or a PostgreSQL-compatible database.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address for etcd clients.
    #[arg(long, default_value = "127.0.0.1:2379", env = "CAUSEWAY_STORE_LISTEN")]
    listen: SocketAddr,

    /// Where the data lives: sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB
    /// (also YugabyteDB and CockroachDB).
    #[arg(
        long,
        default_value = "sqlite://./.causeway/store.db",
        env = "CAUSEWAY_DATASTORE"
    )]
    datastore: String,

    /// Address for Prometheus metrics (/metrics) and readiness (/readyz).
    #[arg(long, default_value = "127.0.0.1:2381")]
    metrics_listen: SocketAddr,

    /// The member name shown by `etcdctl member list`.
    #[arg(long, default_value = "causeway")]
    name: String,

    /// Server TLS certificate (PEM). Serves TLS when given with --key-file.
    #[arg(long)]
    cert_file: Option<PathBuf>,

    /// Server TLS key (PEM).
    #[arg(long)]
    key_file: Option<PathBuf>,

    /// CA that client certificates must chain to.
    #[arg(long)]
    trusted_ca_file: Option<PathBuf>,

    /// Require clients to present a certificate signed by --trusted-ca-file.
    #[arg(long)]
    client_cert_auth: bool,

    /// Compact history on this schedule (e.g. 5m); 0 turns it off.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    compact_interval: Duration,

    /// How many revisions scheduled compaction keeps.
    #[arg(long, default_value_t = 10_000)]
    compact_retain: i64,

    /// Largest request accepted, in bytes (etcd's --max-request-bytes).
    #[arg(long, default_value_t = causeway_etcd::DEFAULT_MAX_REQUEST_BYTES)]
    max_request_bytes: usize,

    /// How often watches created with progress_notify hear from an idle store.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    watch_progress_notify_interval: Duration,
}

/// Parses `300ms`, `10s`, `5m`, `2h`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, ""), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 10s, 5m or 2h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use ms, s, m or h")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let datastore: Datastore = args.datastore.parse()?;
    let mut config = StoreConfig::new(datastore.clone());
    config.compact_interval = (!args.compact_interval.is_zero()).then_some(args.compact_interval);
    config.compact_retain = args.compact_retain;
    config.progress_notify_interval = args.watch_progress_notify_interval;
    let grpc = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))?;
    let metrics = tokio::net::TcpListener::bind(args.metrics_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (--metrics-listen)",
                args.metrics_listen
            )
        })?;
    let store = Store::open(config)
        .await
        .with_context(|| format!("cannot open the datastore {}", redact(&args.datastore)))?;
    let scheme = if args.cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    let addr = causeway_etcd::bound(&grpc).unwrap_or(args.listen);
    let where_ = match &datastore {
        Datastore::Sqlite(p) => p.display().to_string(),
        Datastore::Postgres(dsn) => redact(dsn),
    };
    tracing::info!(datastore = %where_, revision = store.current_revision(), "store open");
    eprintln!("causeway store: serving etcd v3 on {scheme}://{addr}, data in {where_}");
    eprintln!("  try: etcdctl --endpoints {scheme}://{addr} put hello world");
    eprintln!(
        "  metrics and readiness: http://{}/metrics, /readyz",
        args.metrics_listen
    );
    let server = ServerConfig {
        member_id: causeway_etcd::stable_id(&format!("member {} {addr}", args.name)),
        cluster_id: causeway_etcd::stable_id(&format!("cluster {where_}")),
        name: args.name,
        tls: TlsFiles {
            cert_file: args.cert_file,
            key_file: args.key_file,
            trusted_ca_file: args.trusted_ca_file,
            client_cert_auth: args.client_cert_auth,
        },
        max_request_bytes: args.max_request_bytes,
    };
    causeway_etcd::serve(store, server, grpc, metrics, crate::signals::terminated()).await?;
    Ok(())
}

/// Hides the password of a DSN for logs.
fn redact(dsn: &str) -> String {
    match (dsn.find("://"), dsn.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &dsn[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &dsn[..s + 3], &userinfo[..c], &dsn[at..]),
                None => dsn.to_string(),
            }
        }
        _ => dsn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
