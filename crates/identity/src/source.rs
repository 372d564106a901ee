//! Live sources of SVIDs and bundles: what a TLS configuration reads at each handshake, and
//! the tasks that keep them fresh (reloading files, renewing SVIDs at half their lifetime).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;

use crate::bundle::{TrustBundle, TrustStore};
use crate::ca::{CertificateAuthority, SvidRequest};
use crate::pem::{self, PemError};
use crate::spiffe_id::TrustDomain;
use crate::svid::{SvidError, X509Svid};

/// The SVID to present, replaceable while servers and clients run.
#[derive(Debug, Clone)]
pub struct SvidSource {
    inner: Arc<RwLock<Current>>,
}

#[derive(Debug)]
struct Current {
    svid: Arc<X509Svid>,
    key: Arc<CertifiedKey>,
}

impl SvidSource {
    /// A source presenting `svid`.
    pub fn new(svid: X509Svid) -> Result<Self, SvidError> {
        let key = svid.certified_key()?;
        Ok(Self {
            inner: Arc::new(RwLock::new(Current {
                svid: Arc::new(svid),
                key,
            })),
        })
    }

    /// Replaces the SVID; the next handshake presents the new one.
    pub fn set(&self, svid: X509Svid) -> Result<(), SvidError> {
        let key = svid.certified_key()?;
        let mut cur = self.inner.write().unwrap_or_else(|p| p.into_inner());
        *cur = Current {
            svid: Arc::new(svid),
            key,
        };
        Ok(())
    }

    /// The SVID presented now.
    pub fn current(&self) -> Arc<X509Svid> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .svid
            .clone()
    }

    fn key(&self) -> Arc<CertifiedKey> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .key
            .clone()
    }

    /// Re-reads `cert` and `key` every `interval` and presents them when they change. A
    /// file that fails to load (half-written, wrong key) is logged and the old SVID kept.
    pub fn spawn_file_reload(
        &self,
        cert: PathBuf,
        key: PathBuf,
        interval: Duration,
    ) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last = (Vec::new(), Vec::new());
            loop {
                tokio::time::sleep(interval).await;
                let (Ok(c), Ok(k)) = (pem::read(&cert), pem::read(&key)) else {
                    continue;
                };
                if (&c, &k) == (&last.0, &last.1) {
                    continue;
                }
                let loaded = pem::decode_certs(&c, &cert.display().to_string())
                    .and_then(|chain| Ok((chain, pem::decode_key(&k, "key")?)))
                    .map_err(SvidError::from)
                    .and_then(|(chain, key)| X509Svid::new(chain, key));
                match loaded.and_then(|svid| {
                    let id = svid.spiffe_id().clone();
                    this.set(svid).map(|()| id)
                }) {
                    Ok(id) => {
                        tracing::info!(%id, path = %cert.display(), "reloaded SVID");
                        last = (c, k);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, path = %cert.display(), "keeping the current SVID")
                    }
                }
            }
        })
    }

    /// Issues a fresh SVID from `ca` at half of the current one's lifetime, for as long as
    /// the task runs.
    pub fn spawn_renewal(&self, ca: Arc<CertificateAuthority>, req: SvidRequest) -> JoinHandle<()> {
        let id = req.spiffe_id.to_string();
        self.spawn_renewal_with(id, move || ca.issue(&req).map_err(|e| e.to_string()))
    }

    /// Like [`spawn_renewal`](Self::spawn_renewal), with the SVID made by `issue` each time,
    /// so that, say, a CA directory is re-read and a rotated CA signs. A failed renewal is
    /// retried after a minute while the old SVID lasts.
    pub fn spawn_renewal_with(
        &self,
        id: String,
        issue: impl Fn() -> Result<X509Svid, String> + Send + 'static,
    ) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            // An SVID loaded past its half-life is renewed at once.
            let mut wait = this
                .current()
                .renew_at()
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            loop {
                tokio::time::sleep(wait).await;
                let renewed = issue().and_then(|svid| {
                    let next = svid.renew_at();
                    this.set(svid).map(|()| next).map_err(|e| e.to_string())
                });
                wait = match renewed {
                    Ok(next) => {
                        tracing::info!(%id, "renewed SVID");
                        // Never spin: a fresh SVID waits at least a second.
                        next.duration_since(SystemTime::now())
                            .unwrap_or(Duration::ZERO)
                            .max(Duration::from_secs(1))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %id, "SVID renewal failed");
                        Duration::from_secs(60)
                    }
                };
            }
        })
    }
}

impl ResolvesServerCert for SvidSource {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }
}

impl ResolvesClientCert for SvidSource {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Re-reads a SPIFFE bundle file every `interval` and sets it in `trust` when it changes.
/// A file that fails to parse is logged and the previous bundle kept.
pub fn spawn_bundle_file_reload(
    trust: TrustStore,
    trust_domain: TrustDomain,
    path: PathBuf,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = Vec::new();
        loop {
            let Ok(bytes) = pem::read(&path) else {
                tokio::time::sleep(interval).await;
                continue;
            };
            if bytes != last {
                match TrustBundle::from_json(trust_domain.clone(), &bytes) {
                    Ok(b) => {
                        tracing::info!(trust_domain = %trust_domain, sequence = b.sequence(), "reloaded bundle");
                        trust.set(b);
                        last = bytes;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, path = %path.display(), "keeping the current bundle")
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
    })
}

/// Why a serving certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ServingCertError {
    /// A file could not be read or is not PEM of the right kind.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// The key is unsupported or does not belong to the certificate.
    #[error("the serving key is unusable or does not match the certificate")]
    Key(#[source] rustls::Error),
}

/// A Web PKI serving certificate (the `https_web` profile, an OIDC issuer), replaceable
/// while the server runs: each handshake presents the one held at that moment, and
/// connections already open keep the one they started with.
#[derive(Debug, Clone)]
pub struct ServingCert {
    inner: Arc<RwLock<Arc<CertifiedKey>>>,
}

impl ServingCert {
    /// A serving certificate from a chain (leaf first) and its key.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, ServingCertError> {
        Ok(Self {
            inner: Arc::new(RwLock::new(certified(chain, key)?)),
        })
    }

    /// Reads the chain and key from PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, ServingCertError> {
        Self::new(pem::read_certs(cert)?, pem::read_key(key)?)
    }

    /// Presents `chain` and `key` from the next handshake on. A key that does not belong to
    /// the leaf is refused, and the current certificate kept.
    pub fn set(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), ServingCertError> {
        let next = certified(chain, key)?;
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }

    /// The chain presented now, leaf first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current().cert.clone()
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads `cert` and `key` every `interval` and presents them when their contents
    /// change. Contents rather than modification times are compared, so a replacement
    /// within the file system's timestamp resolution is not missed; the files are a few
    /// kilobytes. A pair that fails to load (half-written, corrupt, a key of another
    /// certificate) is logged and the current certificate kept; `on_reload` hears of every
    /// attempt once per new pair of contents, so a metric counts each bad file once.
    pub fn spawn_file_reload(
        &self,
        cert: PathBuf,
        key: PathBuf,
        interval: Duration,
        on_reload: impl Fn(Result<(), &ServingCertError>) + Send + 'static,
    ) -> JoinHandle<()> {
        let this = self.clone();
        // What the files held when the watch began: the pair loaded at start, normally.
        let mut last = (std::fs::read(&cert).ok(), std::fs::read(&key).ok());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let now = (std::fs::read(&cert).ok(), std::fs::read(&key).ok());
                if now == last {
                    continue;
                }
                let loaded = match &now {
                    (Some(c), Some(k)) => pem::decode_certs(c, &cert.display().to_string())
                        .and_then(|chain| {
                            Ok((chain, pem::decode_key(k, &key.display().to_string())?))
                        })
                        .map_err(ServingCertError::from)
                        .and_then(|(chain, k)| this.set(chain, k)),
                    // A file missing for a moment (replaced by a rename) is not a failure yet.
                    _ => continue,
                };
                match &loaded {
                    Ok(()) => {
                        tracing::info!(path = %cert.display(), "reloaded the serving certificate")
                    }
                    Err(e) => tracing::error!(
                        error = %chain_text(e),
                        path = %cert.display(),
                        "keeping the current serving certificate"
                    ),
                }
                on_reload(loaded.as_ref().map(|_| ()));
                last = now;
            }
        })
    }
}

/// An error with its causes, for a log line that says what is wrong with which file.
fn chain_text(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, ServingCertError> {
    let provider = rustls::crypto::ring::default_provider();
    // `from_der` checks that the key is the leaf's, so a certificate replaced without its
    // key is refused here rather than failing every handshake.
    CertifiedKey::from_der(chain, key, &provider)
        .map(Arc::new)
        .map_err(ServingCertError::Key)
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
