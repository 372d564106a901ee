//! The small HTTPS client and server the identity layer needs: GET a document over TLS with
//! a given trust configuration, and serve an axum router over TLS until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes_limit::collect_limited;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

/// Documents larger than this are refused: bundles and JWKS are a few kilobytes.
pub const MAX_BODY: usize = 1 << 20;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is unusable.
    #[error("URL {url:?} is not usable: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Connecting failed.
    #[error("cannot connect to {0}")]
    Connect(String, #[source] std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake with {0} failed")]
    Tls(String, #[source] std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP request to {0} failed")]
    Http(String, #[source] hyper::Error),
    /// The server answered with an error status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: http::StatusCode,
    },
    /// The body is larger than [`MAX_BODY`].
    #[error("{0} sent more than {MAX_BODY} bytes")]
    TooLarge(String),
    /// The request took too long.
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The TLS configuration could not be built.
    #[error("cannot build the TLS client configuration")]
    Config(#[source] rustls::Error),
}

/// A client configuration that checks the server's certificate and host name against
/// these CA certificates only (the `https_web` profile, and OIDC issuers with a given CA).
pub fn web_client_config(
    roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, HttpError> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(HttpError::Config)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(HttpError::Config)?
    .with_root_certificates(store)
    .with_no_client_auth())
}

/// GETs an `https://` URL with the TLS configuration given and returns the body of a 2xx
/// answer.
pub async fn get(
    url: &str,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Vec<u8>, HttpError> {
    tokio::time::timeout(timeout, get_inner(url, tls))
        .await
        .map_err(|_| HttpError::Timeout(url.to_owned()))?
}

async fn get_inner(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Vec<u8>, HttpError> {
    let bad = |reason: &str| HttpError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("only https:// is allowed"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let server_name = ServerName::try_from(host.clone()).map_err(|_| bad("invalid host name"))?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| HttpError::Connect(authority.clone(), e))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| HttpError::Tls(authority.clone(), e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Http(url.to_owned(), e))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .body(http_body_util::Empty::<bytes_limit::Bytes>::new())
        .map_err(|_| bad("cannot build a request"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| HttpError::Http(url.to_owned(), e))?;
    let status = resp.status();
    let body = collect_limited(resp.into_body(), MAX_BODY)
        .await
        .map_err(|e| match e {
            Some(e) => HttpError::Http(url.to_owned(), e),
            None => HttpError::TooLarge(url.to_owned()),
        });
    driver.abort();
    let body = body?;
    if !status.is_success() {
        return Err(HttpError::Status {
            url: url.to_owned(),
            status,
        });
    }
    Ok(body)
}

/// Serves `router` over TLS on `listener` until `shutdown` completes. Handshake failures are
/// logged and do not stop the server.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let router = router.clone();
                conns.spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await
                    {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                    }
                });
            }
        }
    }
    conns.shutdown().await;
}

/// Collecting a body with a size cap.
mod bytes_limit {
    use http_body_util::BodyExt;

    pub use hyper::body::Bytes;

    /// Reads a body, giving up past `limit` bytes (`Err(None)`).
    pub async fn collect_limited(
        mut body: hyper::body::Incoming,
        limit: usize,
    ) -> Result<Vec<u8>, Option<hyper::Error>> {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(Some)?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > limit {
                    return Err(None);
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out)
    }
}

/// A server configuration presenting whatever certificate `resolver` holds at each
/// handshake, asking clients for nothing: an OIDC issuer, or a bundle endpoint in the
/// `https_web` profile, with a [`ServingCert`](crate::source::ServingCert) that reloads.
pub fn web_server_config_with(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<rustls::ServerConfig, HttpError> {
    Ok(rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(HttpError::Config)?
    .with_no_client_auth()
    .with_cert_resolver(resolver))
}

/// A server configuration presenting a given certificate chain and key, asking clients for
/// nothing (an OIDC issuer, or a bundle endpoint in the `https_web` profile).
pub fn web_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, HttpError> {
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(HttpError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(HttpError::Config)
}
