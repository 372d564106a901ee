//! Serving the etcd API: gRPC on one listener, metrics and readiness on another.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use causeway_store::Store;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::convert::Header;
use crate::metrics::Metrics;
use crate::proto::etcdserverpb as pb;
use crate::services::EtcdService;

/// etcd's default `--max-request-bytes`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// gRPC accepts this much over the request limit, so that an oversized
/// request gets etcd's own "request is too large" rather than a transport error.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A certificate, key or CA file could not be read.
    #[error("reading {path}: {source}")]
    ReadTls {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration is incomplete or inconsistent.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// gRPC serving failed.
    #[error("gRPC server: {0}")]
    Transport(#[source] tonic::transport::Error),
    /// The metrics server failed.
    #[error("metrics server: {0}")]
    Metrics(#[source] std::io::Error),
}

/// TLS files, with etcd's flag meanings.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// `--cert-file`: the server certificate chain (PEM).
    pub cert_file: Option<PathBuf>,
    /// `--key-file`: its key (PEM).
    pub key_file: Option<PathBuf>,
    /// `--trusted-ca-file`: the CA that client certificates must chain to.
    pub trusted_ca_file: Option<PathBuf>,
    /// `--client-cert-auth`: require a client certificate.
    pub client_cert_auth: bool,
}

impl TlsFiles {
    fn config(&self) -> Result<Option<ServerTlsConfig>, ServeError> {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|source| ServeError::ReadTls {
                path: p.clone(),
                source,
            })
        };
        let (cert, key) = match (&self.cert_file, &self.key_file) {
            (None, None) => {
                if self.client_cert_auth || self.trusted_ca_file.is_some() {
                    return Err(ServeError::TlsConfig(
                        "--client-cert-auth and --trusted-ca-file need --cert-file and --key-file"
                            .into(),
                    ));
                }
                return Ok(None);
            }
            (Some(c), Some(k)) => (read(c)?, read(k)?),
            _ => {
                return Err(ServeError::TlsConfig(
                    "--cert-file and --key-file go together".into(),
                ));
            }
        };
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        match (&self.trusted_ca_file, self.client_cert_auth) {
            (Some(ca), auth) => {
                tls = tls
                    .client_ca_root(Certificate::from_pem(read(ca)?))
                    .client_auth_optional(!auth);
            }
            (None, true) => {
                return Err(ServeError::TlsConfig(
                    "--client-cert-auth needs --trusted-ca-file".into(),
                ));
            }
            (None, false) => {}
        }
        Ok(Some(tls))
    }
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The member's name, shown by `member list`.
    pub name: String,
    /// TLS, if any.
    pub tls: TlsFiles,
    /// The largest request accepted.
    pub max_request_bytes: usize,
    /// A stable identity for this member and its cluster.
    pub member_id: u64,
    /// The cluster's ID.
    pub cluster_id: u64,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            name: "causeway".into(),
            tls: TlsFiles::default(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            member_id: 1,
            cluster_id: 1,
        }
    }
}

/// Serves the etcd API on `grpc` and metrics on `metrics` until `shutdown`
/// resolves. Then it stops taking requests, ends watch streams (clients
/// see "server stopped" and can resume elsewhere), lets in-flight requests
/// finish, and closes the store.
pub async fn serve(
    store: Store,
    config: ServerConfig,
    grpc: TcpListener,
    metrics: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let tls = config.tls.config()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let addr = grpc.local_addr().map_err(ServeError::Metrics)?;
    let mut registry = Registry::default();
    let m = Arc::new(Metrics::new(&mut registry));
    let service = EtcdService {
        store: store.clone(),
        header: Header {
            cluster_id: config.cluster_id,
            member_id: config.member_id,
            raft_term: 2,
        },
        max_request_bytes: config.max_request_bytes,
        metrics: m.clone(),
        name: config.name.clone(),
        client_urls: vec![format!("{scheme}://{addr}")],
    };
    let max_msg = config.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;

    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(ServeError::Transport)?;
    }
    let router = builder
        .add_service(
            pb::kv_server::KvServer::new(service.clone()).max_decoding_message_size(max_msg),
        )
        .add_service(
            pb::watch_server::WatchServer::new(service.clone()).max_decoding_message_size(max_msg),
        )
        .add_service(
            pb::lease_server::LeaseServer::new(service.clone()).max_decoding_message_size(max_msg),
        )
        .add_service(pb::maintenance_server::MaintenanceServer::new(
            service.clone(),
        ))
        .add_service(pb::cluster_server::ClusterServer::new(service.clone()))
        .add_service(health_service);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/readyz", get(ready))
        .route("/healthz", get(ready))
        .route("/livez", get(|| async { "ok" }))
        .with_state(Arc::new((registry, store.clone(), m.clone())));
    let mut metrics_stop = stop_rx.clone();
    let metrics_task = tokio::spawn(async move {
        axum::serve(metrics, metrics_app)
            .with_graceful_shutdown(async move {
                let _ = metrics_stop.wait_for(|s| *s).await;
            })
            .await
    });

    let store_for_stop = store.clone();
    let mut grpc_stop = stop_rx.clone();
    let trigger = async move {
        shutdown.await;
        tracing::info!("shutting down: ending watch streams and draining requests");
        // Ends watch sessions and turns new writes away; writes already
        // queued still finish.
        store_for_stop.close().await;
        let _ = stop_tx.send(true);
    };
    tokio::spawn(trigger);
    tracing::info!(%addr, scheme, "serving the etcd v3 API");
    router
        .serve_with_incoming_shutdown(incoming(grpc), async move {
            let _ = grpc_stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(ServeError::Transport)?;
    metrics_task
        .await
        .map_err(|e| ServeError::Metrics(std::io::Error::other(e)))?
        .map_err(ServeError::Metrics)?;
    tracing::info!("stopped");
    Ok(())
}

/// Accepted connections with Nagle's algorithm off. tonic sets that only on
/// sockets it binds itself; without it small responses wait for the
/// client's delayed ACK, about 40 ms each.
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok(conn)
    })
}

type AppState = Arc<(Registry, Store, Arc<Metrics>)>;

async fn metrics_text(
    State(state): State<AppState>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let (registry, store, m) = &*state;
    if let Ok(s) = store.status().await {
        m.revision.set(s.revision);
        m.compact_revision.set(s.compact_revision);
        m.db_size.set(s.db_size);
    }
    if let Ok((_, leases)) = store.leases().await {
        m.leases.set(leases.len() as i64);
    }
    causeway_ops::metrics_response(registry)
}

/// Ready when the store is open and the database answers a read.
async fn ready(State(state): State<AppState>) -> (StatusCode, String) {
    let store = &state.1;
    if store.is_closed() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    match store.status().await {
        Ok(_) => (StatusCode::OK, "ok\n".into()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database not answering: {e}\n"),
        ),
    }
}

/// A stable 64-bit ID from a string, for member and cluster IDs.
pub fn stable_id(seed: &str) -> u64 {
    // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The address a listener is bound to, for printing.
pub fn bound(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
