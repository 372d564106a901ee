//! The SPIFFE bundle endpoint: serves a trust domain's bundle over HTTPS, in the `https_web`
//! profile (a serving certificate the user gives) or the `https_spiffe` profile (an SVID of
//! the trust domain itself).

use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;

use crate::bundle::{TrustBundle, TrustStore};
use crate::http::{self, HttpError};
use crate::source::{ServingCert, SvidSource};
use crate::tls::{Authorizer, SpiffeTls, TlsError};

/// Why a bundle endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The `https_web` serving certificate is unusable.
    #[error("the serving certificate is unusable")]
    Web(#[source] HttpError),
    /// The `https_spiffe` SVID is unusable.
    #[error("the endpoint SVID is unusable")]
    Spiffe(#[source] TlsError),
}

/// How the endpoint authenticates itself to fetchers.
#[derive(Debug)]
pub enum EndpointProfile {
    /// A Web PKI certificate, checked by fetchers against a CA and the host name.
    HttpsWeb {
        /// The serving certificate, replaceable while the endpoint runs.
        cert: ServingCert,
    },
    /// An SVID of the trust domain, checked by fetchers against the bundle they hold.
    HttpsSpiffe {
        /// The SVID, reloadable.
        svid: SvidSource,
    },
}

/// The bundle an endpoint serves, replaceable while it runs.
#[derive(Debug, Clone)]
pub struct PublishedBundle {
    inner: Arc<RwLock<Arc<TrustBundle>>>,
}

impl PublishedBundle {
    /// Publishes `bundle`.
    pub fn new(bundle: TrustBundle) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Arc::new(bundle))),
        }
    }

    /// Replaces the bundle; the next request gets it.
    pub fn set(&self, bundle: TrustBundle) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(bundle);
    }

    /// The bundle served now.
    pub fn get(&self) -> Arc<TrustBundle> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A router answering a GET of any path with the bundle document, so the endpoint URL
/// handed to peers may carry whatever path a proxy in front of it needs.
pub fn bundle_router(bundle: PublishedBundle) -> axum::Router {
    let handler = move || {
        let json = bundle.get().to_json();
        async move { ([(::http::header::CONTENT_TYPE, "application/json")], json) }
    };
    axum::Router::new()
        .route("/", axum::routing::get(handler.clone()))
        .fallback(axum::routing::get(handler))
}

/// The TLS configuration of a bundle endpoint. In `https_spiffe` the endpoint asks
/// fetchers for no certificate: the bundle is public, only its origin must be proven.
pub fn endpoint_tls(profile: EndpointProfile) -> Result<rustls::ServerConfig, EndpointError> {
    match profile {
        EndpointProfile::HttpsWeb { cert } => {
            http::web_server_config_with(Arc::new(cert)).map_err(EndpointError::Web)
        }
        EndpointProfile::HttpsSpiffe { svid } => SpiffeTls::new(TrustStore::new(), Authorizer::Any)
            .with_svid(svid)
            .server_config_without_client_auth()
            .map_err(EndpointError::Spiffe),
    }
}

/// Serves the bundle on `listener` until `shutdown` completes.
pub async fn serve_bundle_endpoint(
    listener: TcpListener,
    profile: EndpointProfile,
    bundle: PublishedBundle,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), EndpointError> {
    let tls = endpoint_tls(profile)?;
    http::serve_tls(listener, Arc::new(tls), bundle_router(bundle), shutdown).await;
    Ok(())
}
