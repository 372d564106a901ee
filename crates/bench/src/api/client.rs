//! A small HTTPS client for the API server: HTTP/2 over rustls (ring), as
//! client-go talks to kube-apiserver, trusting the CA and sending the bearer
//! token of the admin kubeconfig the server writes.
//!
//! It is hand-made rather than kube::Client so that the benchmark controls
//! how requests share connections and spends as little of the machine's CPU
//! as it can on the client side: bodies are read as bytes and only what a
//! measurement needs is parsed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// No request may take longer than this; a hung server fails the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Flow-control windows as Go's HTTP/2 transport (client-go) sets them
/// (4 MiB per stream), with a connection window that lets several large
/// lists stream at once.
const STREAM_WINDOW: u32 = 4 << 20;
const CONN_WINDOW: u32 = 64 << 20;

/// Where the server is and how to authenticate to it.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    base: String,
    tls: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    auth: HeaderValue,
}

impl Endpoint {
    /// Reads the server URL, CA and token from the admin kubeconfig (which
    /// `causeway apiserver` writes as JSON).
    pub fn from_kubeconfig(path: &Path) -> Result<Arc<Self>> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not the JSON kubeconfig expected", path.display()))?;
        let field = |ptr: &str| {
            doc.pointer(ptr)
                .and_then(|v| v.as_str())
                .ok_or_else(|| anyhow!("{} has no {ptr}", path.display()))
        };
        let server = field("/clusters/0/cluster/server")?;
        let ca = base64::engine::general_purpose::STANDARD
            .decode(field("/clusters/0/cluster/certificate-authority-data")?)
            .context("the kubeconfig's CA is not base64")?;
        let token = field("/users/0/user/token")?;

        let host_port = server
            .strip_prefix("https://")
            .ok_or_else(|| anyhow!("the kubeconfig's server {server} is not https://"))?;
        let addr: SocketAddr = host_port
            .parse()
            .with_context(|| format!("the kubeconfig's server {server} is not https://IP:PORT"))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.context("the kubeconfig's CA is not PEM")?)?;
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let name = ServerName::IpAddress(addr.ip().into());
        Ok(Arc::new(Self {
            addr,
            base: server.to_string(),
            tls: Arc::new(config),
            name,
            auth: HeaderValue::from_str(&format!("Bearer {token}"))
                .context("the kubeconfig's token is not a valid header value")?,
        }))
    }

    /// Opens one HTTP/2 connection.
    pub async fn connect(self: &Arc<Self>) -> Result<Conn> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(self.name.clone(), tcp)
            .await
            .context("TLS handshake with the API server failed")?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            bail!("the API server did not agree to HTTP/2");
        }
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .handshake(TokioIo::new(tls))
            .await
            .context("HTTP/2 handshake with the API server failed")?;
        tokio::spawn(async move {
            // The connection ends with an error when the server stops under
            // it, which the requests on it report themselves.
            let _ = conn.await;
        });
        Ok(Conn {
            send,
            endpoint: self.clone(),
        })
    }

    /// Fails unless /readyz answers 200 on a fresh connection.
    pub async fn wait_ready(self: &Arc<Self>) -> Result<()> {
        let conn = self.connect().await?;
        let (status, _) = conn.call(Method::GET, "/readyz", None).await?;
        if status != StatusCode::OK {
            bail!("/readyz answered {status}");
        }
        Ok(())
    }
}

/// One HTTP/2 connection; clones share it, each request on a stream of its
/// own.
#[derive(Debug, Clone)]
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    endpoint: Arc<Endpoint>,
}

impl Conn {
    /// Sends a request and returns the response once its headers arrive.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint.base))
            .header(header::AUTHORIZATION, self.endpoint.auth.clone())
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let mut send = self.send.clone();
        tokio::time::timeout(REQUEST_TIMEOUT, send.send_request(req))
            .await
            .map_err(|_| anyhow!("no response to {path} within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("request for {path} failed"))
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| anyhow!("the response to {path} did not end within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("reading the response to {path} failed"))?
            .to_bytes();
        Ok((status, body))
    }

    /// `call`, failing unless the status is `want`.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        want: StatusCode,
    ) -> Result<Bytes> {
        let what = format!("{method} {path}");
        let (status, body) = self.call(method, path, body).await?;
        if status != want {
            let text = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
            bail!("{what}: {status} (wanted {want}): {text}");
        }
        Ok(body)
    }
}
