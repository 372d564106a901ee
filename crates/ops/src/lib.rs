//! The operations endpoint every causeway server role serves on its own listener
//! (`--metrics-listen`): Prometheus metrics at `/metrics`, readiness at `/readyz` (and
//! `/healthz`), liveness at `/livez`.
//!
//! A role registers its metrics in a [`Registry`], flips its [`Readiness`] to ready once it
//! can do its job and to stopping when it begins to shut down, and runs [`serve`] beside
//! its API server.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

const STARTING: u8 = 0;
const READY: u8 = 1;
const STOPPING: u8 = 2;

/// Whether a role can do its job: starting, ready, or shutting down. Cloned handles share
/// the state.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    state: Arc<AtomicU8>,
}

impl Readiness {
    /// A role that is still starting.
    pub fn new() -> Self {
        Self::default()
    }

    /// The role can serve. Ignored once shutting down, so a late start-up step cannot make
    /// a stopping server look ready again.
    pub fn set_ready(&self) {
        let _ = self
            .state
            .compare_exchange(STARTING, READY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The role is shutting down: `/readyz` answers 503 from now on, so load balancers stop
    /// sending it work before its listeners close.
    pub fn set_stopping(&self) {
        self.state.store(STOPPING, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.state.load(Ordering::SeqCst) == READY
    }

    fn answer(&self) -> (StatusCode, &'static str) {
        match self.state.load(Ordering::SeqCst) {
            READY => (StatusCode::OK, "ok\n"),
            STOPPING => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
        }
    }
}

/// A hook run before each scrape, to set gauges that are cheaper to compute on demand than
/// to keep current (time left on a certificate, say).
pub type BeforeScrape = Arc<dyn Fn() + Send + Sync>;

/// What the operations endpoint serves.
#[derive(Clone)]
pub struct Ops {
    registry: Arc<Registry>,
    readiness: Readiness,
    before_scrape: Option<BeforeScrape>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("readiness", &self.readiness)
            .field("before_scrape", &self.before_scrape.is_some())
            .finish_non_exhaustive()
    }
}

impl Ops {
    /// Serves `registry` and `readiness`.
    pub fn new(registry: Registry, readiness: Readiness) -> Self {
        Self {
            registry: Arc::new(registry),
            readiness,
            before_scrape: None,
        }
    }

    /// Runs `hook` before each scrape of `/metrics`.
    pub fn before_scrape(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_scrape = Some(Arc::new(hook));
        self
    }

    /// The readiness served.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The routes: `/metrics`, `/readyz`, `/healthz` (the same as `/readyz`) and `/livez`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/metrics", get(metrics_text))
            .route("/readyz", get(ready))
            .route("/healthz", get(ready))
            .route("/livez", get(|| async { "ok\n" }))
            .with_state(Arc::new(self))
    }
}

/// The OpenMetrics text of `registry`.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// The `/metrics` answer for `registry`: its OpenMetrics text, or a 500 saying why it could
/// not be encoded. For roles that serve their own router around it.
pub fn metrics_response(
    registry: &Registry,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    match encode(registry) {
        Ok(out) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain")],
            e.to_string(),
        ),
    }
}

async fn metrics_text(
    State(ops): State<Arc<Ops>>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    if let Some(hook) = &ops.before_scrape {
        hook();
    }
    metrics_response(&ops.registry)
}

async fn ready(State(ops): State<Arc<Ops>>) -> (StatusCode, &'static str) {
    ops.readiness.answer()
}

/// Serves `ops` on `listener` (plain HTTP: metrics and probes carry nothing secret and are
/// scraped from inside the cluster) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    ops: Ops,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, ops.router())
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test, with its location.
    #![allow(clippy::unwrap_used)]

    use prometheus_client::metrics::counter::Counter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(port: u16, path: &str) -> String {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tcp.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn readiness_follows_the_role_and_metrics_are_served() {
        let mut registry = Registry::default();
        let hits = Counter::<u64>::default();
        registry.register("hits", "Hits", hits.clone());
        let readiness = Readiness::new();
        let ops = Ops::new(registry, readiness.clone()).before_scrape({
            let hits = hits.clone();
            move || {
                hits.inc();
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, ops, async {
            let _ = rx.await;
        }));

        let starting = get(port, "/readyz").await;
        assert!(starting.starts_with("HTTP/1.0 503"), "{starting}");
        assert!(get(port, "/livez").await.starts_with("HTTP/1.0 200"));
        readiness.set_ready();
        assert!(get(port, "/readyz").await.starts_with("HTTP/1.0 200"));
        assert!(get(port, "/healthz").await.starts_with("HTTP/1.0 200"));
        let metrics = get(port, "/metrics").await;
        assert!(metrics.contains("hits_total 1"), "{metrics}");
        assert!(metrics.ends_with("# EOF\n"), "{metrics}");

        readiness.set_stopping();
        readiness.set_ready();
        let stopping = get(port, "/readyz").await;
        assert!(stopping.starts_with("HTTP/1.0 503"), "{stopping}");
        assert!(stopping.contains("shutting down"), "{stopping}");
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
