//! The HTTPS server: TLS, HTTP/1.1 and HTTP/2, authentication, and the
//! routing of paths to discovery, health and the resource endpoints.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::Api;
use crate::discovery;
use crate::error::ApiError;
use crate::http::{
    Body, Query, bytes_response, error_response, json_response, read_body, text_response,
};
use crate::rest;

/// The Kubernetes version this server answers as.
pub const KUBE_VERSION: (&str, &str) = ("1", "33");

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener failed.
    #[error("accepting connections failed")]
    Accept(#[source] std::io::Error),
}

/// Serves HTTPS on `listener` until `shutdown` resolves, then ends watches,
/// lets in-flight requests finish (up to a few seconds) and returns.
pub async fn serve(
    api: Arc<Api>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(tls);
    let local = listener.local_addr().map_err(ServeError::Accept)?;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait and go on
                    // rather than stop serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let api = api.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper::service::service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&api, req, local).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    api.begin_shutdown();
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after 5 s; closing them");
    }
    Ok(())
}

/// Answers one request.
async fn handle(api: &Arc<Api>, req: Request<Incoming>, local: SocketAddr) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match route(api, req, local).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed = ?started.elapsed(), "request");
    crate::metrics::observe(method.as_str(), resp.status().as_u16(), started.elapsed());
    resp
}

fn authorized(api: &Api, req: &Request<Incoming>) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            !api.config.admin_token.is_empty()
                && constant_time_eq(token.trim().as_bytes(), api.config.admin_token.as_bytes())
        }
        _ => false,
    }
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn route(
    api: &Arc<Api>,
    req: Request<Incoming>,
    local: SocketAddr,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    match path.as_str() {
        "/healthz" | "/livez" => return Ok(text_response(StatusCode::OK, "ok")),
        "/readyz" => {
            return Ok(if api.caches_ready() {
                text_response(StatusCode::OK, "ok")
            } else {
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "[-]informer-sync failed: the watch caches are loading\nreadyz check failed",
                )
            });
        }
        "/version" => return Ok(json_response(StatusCode::OK, &version())),
        _ => {}
    }
    if !authorized(api, &req) {
        return Err(ApiError::Unauthorized);
    }
    let accept = header_str(&req, header::ACCEPT);
    let parts: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::http::percent_decode_path)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let resources = api.registry.snapshot();
    let get = req.method() == Method::GET;
    match parts.as_slice() {
        ["metrics"] if get => return Ok(crate::metrics::response()),
        ["openapi", rest @ ..] if get => {
            // Custom resources have no schemas here yet: they are published
            // as objects that keep any field.
            let docs = crate::openapi::shared().documents(&resources, &|rt| {
                rt.custom.as_ref().map(|c| c.schema.openapi_v3().clone())
            });
            return crate::openapi::respond(&docs, rest, req.uri().query(), req.headers());
        }
        ["api"] if get => {
            return Ok(if discovery::wants_aggregated(&accept) {
                aggregated(&discovery::aggregated(&resources, true))
            } else {
                json_response(StatusCode::OK, &discovery::api_versions(&local.to_string()))
            });
        }
        ["apis"] if get => {
            return Ok(if discovery::wants_aggregated(&accept) {
                aggregated(&discovery::aggregated(&resources, false))
            } else {
                json_response(StatusCode::OK, &discovery::group_list(&resources))
            });
        }
        ["api", "v1"] if get => {
            return Ok(json_response(
                StatusCode::OK,
                &discovery::resource_list(&resources, "", "v1"),
            ));
        }
        ["apis", g] if get => {
            let versions = resources
                .groups()
                .iter()
                .find(|(name, _)| name == g)
                .map(|(_, v)| v.clone())
                .ok_or(ApiError::NoResource)?;
            return Ok(json_response(
                StatusCode::OK,
                &discovery::group(g, &versions),
            ));
        }
        ["apis", g, v] if get => {
            if !resources.has_version(g, v) {
                return Err(ApiError::NoResource);
            }
            return Ok(json_response(
                StatusCode::OK,
                &discovery::resource_list(&resources, g, v),
            ));
        }
        _ => {}
    }
    let (group, version, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(ApiError::NoResource),
    };
    let target = rest::target(api, group, version, rest)?;
    let method = req.method().clone();
    let query = Query::parse(req.uri().query());
    let content_type = header_str(&req, header::CONTENT_TYPE);
    let body = if matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        read_body(req.into_body()).await?
    } else {
        bytes::Bytes::new()
    };
    rest::handle(
        api,
        rest::Request {
            method,
            target,
            query,
            content_type,
            accept,
            body,
        },
    )
    .await
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn aggregated(doc: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    bytes_response(StatusCode::OK, discovery::AGGREGATED_V2, bytes.into())
}

/// `/version`.
fn version() -> Value {
    let (major, minor) = KUBE_VERSION;
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{major}.{minor}.0-causeway.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
