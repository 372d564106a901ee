//! The federation client: keeps the bundle of one foreign trust domain fresh by polling its
//! bundle endpoint.
//!
//! It polls at the bundle's refresh hint, fetches early (at most once per
//! `min_refresh_interval`) when a verifier meets a key of that trust domain it does not know,
//! keeps the last good bundle when a fetch fails, refuses a bundle whose sequence number
//! went backwards, and only ever replaces the bundle of its own trust domain. In the
//! `https_spiffe` profile each fetch is authenticated against the latest bundle it holds,
//! so a rotation the endpoint announced in advance is followed without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::CertificateDer;
use tokio::task::JoinHandle;

use crate::bundle::{BundleError, TrustBundle, TrustStore};
use crate::http::{self, HttpError};
use crate::metrics::FederationMetrics;
use crate::spiffe_id::{SpiffeId, TrustDomain};
use crate::tls::{Authorizer, SpiffeTls, TlsError};

/// Why a fetch was not taken.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The endpoint could not be reached or answered an error.
    #[error("fetching the bundle of {trust_domain} from {url} failed")]
    Fetch {
        /// The trust domain.
        trust_domain: TrustDomain,
        /// The endpoint.
        url: String,
        /// What went wrong.
        #[source]
        source: HttpError,
    },
    /// The document is not a valid bundle.
    #[error("the bundle of {0} is invalid")]
    Bundle(TrustDomain, #[source] BundleError),
    /// The sequence number went backwards, which means a stale or replayed bundle.
    #[error("the bundle of {trust_domain} has sequence {got}, older than the {held} already held")]
    SequenceRollback {
        /// The trust domain.
        trust_domain: TrustDomain,
        /// The sequence held.
        held: u64,
        /// The sequence fetched.
        got: u64,
    },
    /// The `https_spiffe` profile needs a bundle to start from.
    #[error(
        "https_spiffe federation with {0} needs an initial bundle to authenticate the endpoint"
    )]
    NoInitialBundle(TrustDomain),
    /// The TLS configuration could not be built.
    #[error("cannot build the TLS configuration")]
    Tls(#[source] TlsError),
    /// The `https_web` CA could not be used.
    #[error("cannot build the TLS configuration")]
    WebTls(#[source] HttpError),
}

/// How the bundle endpoint is authenticated.
#[derive(Debug, Clone)]
pub enum FederationProfile {
    /// Web PKI: the endpoint's certificate is checked against these CAs and the host name.
    HttpsWeb {
        /// The CA certificates.
        ca: Vec<CertificateDer<'static>>,
    },
    /// SPIFFE: the endpoint presents an SVID with this ID, checked against the bundle held.
    HttpsSpiffe {
        /// The endpoint's SPIFFE ID.
        endpoint_id: SpiffeId,
    },
}

/// What to federate with.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// The foreign trust domain.
    pub trust_domain: TrustDomain,
    /// Its bundle endpoint URL.
    pub url: String,
    /// How the endpoint is authenticated.
    pub profile: FederationProfile,
    /// Early fetches happen at most this often.
    pub min_refresh_interval: Duration,
    /// After a failed fetch, the next try comes after this (or the refresh hint, if shorter).
    pub retry_interval: Duration,
}

impl FederationConfig {
    /// A configuration with the usual intervals: early fetches at most every 10 seconds,
    /// retries after 30 seconds.
    pub fn new(trust_domain: TrustDomain, url: String, profile: FederationProfile) -> Self {
        Self {
            trust_domain,
            url,
            profile,
            min_refresh_interval: Duration::from_secs(10),
            retry_interval: Duration::from_secs(30),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The bundle was new and is now used.
    Updated {
        /// Its sequence number.
        sequence: u64,
    },
    /// The bundle was the one already held.
    Unchanged,
}

/// Keeps one foreign trust domain's bundle fresh in a [`TrustStore`].
#[derive(Debug)]
pub struct FederationClient {
    config: FederationConfig,
    trust: TrustStore,
    web_tls: Option<Arc<rustls::ClientConfig>>,
    metrics: Option<FederationMetrics>,
}

impl FederationClient {
    /// A client that writes into `trust`. `initial` is the bundle to start from; the
    /// `https_spiffe` profile needs one (obtained out of band), to authenticate the
    /// endpoint's first answer.
    pub fn new(
        config: FederationConfig,
        trust: TrustStore,
        initial: Option<TrustBundle>,
    ) -> Result<Self, FederationError> {
        if let Some(b) = initial {
            trust
                .set_for(&config.trust_domain, b)
                .map_err(|e| FederationError::Bundle(config.trust_domain.clone(), e))?;
        }
        let web_tls = match &config.profile {
            FederationProfile::HttpsWeb { ca } => Some(Arc::new(
                http::web_client_config(ca).map_err(FederationError::WebTls)?,
            )),
            FederationProfile::HttpsSpiffe { .. } => {
                if trust.get(&config.trust_domain).is_none() {
                    return Err(FederationError::NoInitialBundle(config.trust_domain));
                }
                None
            }
        };
        Ok(Self {
            config,
            trust,
            web_tls,
            metrics: None,
        })
    }

    /// Records every fetch of the running client (see [`spawn`](Self::spawn)) in `metrics`.
    pub fn with_metrics(mut self, metrics: FederationMetrics) -> Self {
        let held = self.trust.get(&self.config.trust_domain);
        metrics.held(&self.config.trust_domain, held.map(|b| b.sequence()));
        self.metrics = Some(metrics);
        self
    }

    /// The trust store written to.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, FederationError> {
        match (&self.config.profile, &self.web_tls) {
            (_, Some(tls)) => Ok(tls.clone()),
            (FederationProfile::HttpsSpiffe { endpoint_id }, None) => {
                // Built per fetch from the shared store, so the latest bundle is used.
                let config = SpiffeTls::new(
                    self.trust.clone(),
                    Authorizer::Exact(vec![endpoint_id.clone()]),
                )
                .client_config()
                .map_err(FederationError::Tls)?;
                Ok(Arc::new(config))
            }
            (FederationProfile::HttpsWeb { .. }, None) => Err(FederationError::NoInitialBundle(
                self.config.trust_domain.clone(),
            )),
        }
    }

    /// Fetches once and, when the bundle is acceptable, stores it.
    pub async fn fetch_once(&self) -> Result<FetchOutcome, FederationError> {
        let td = &self.config.trust_domain;
        let body = http::get(&self.config.url, self.tls()?, Duration::from_secs(10))
            .await
            .map_err(|source| FederationError::Fetch {
                trust_domain: td.clone(),
                url: self.config.url.clone(),
                source,
            })?;
        let fetched = TrustBundle::from_json(td.clone(), &body)
            .map_err(|e| FederationError::Bundle(td.clone(), e))?;
        if let Some(held) = self.trust.get(td) {
            if fetched.sequence() < held.sequence() {
                return Err(FederationError::SequenceRollback {
                    trust_domain: td.clone(),
                    held: held.sequence(),
                    got: fetched.sequence(),
                });
            }
            if fetched.sequence() == held.sequence() && fetched.same_keys(&held) {
                // The hint may still have changed; keep the newest document.
                self.trust.set(fetched);
                return Ok(FetchOutcome::Unchanged);
            }
        }
        let sequence = fetched.sequence();
        self.trust
            .set_for(td, fetched)
            .map_err(|e| FederationError::Bundle(td.clone(), e))?;
        Ok(FetchOutcome::Updated { sequence })
    }

    /// Runs the client until the task is aborted: fetch, then wait for the refresh hint
    /// or an unknown-key report, whichever comes first.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let td = self.config.trust_domain.clone();
        let signal = self.trust.unknown_key_signal(&td);
        loop {
            let wait = match self.fetch_once().await {
                Ok(outcome) => {
                    if let FetchOutcome::Updated { sequence } = outcome {
                        tracing::info!(trust_domain = %td, sequence, "federated bundle updated");
                    }
                    if let (Some(m), Some(b)) = (&self.metrics, self.trust.get(&td)) {
                        m.fetched(&td, b.sequence(), SystemTime::now());
                    }
                    self.hint()
                }
                Err(e) => {
                    tracing::warn!(trust_domain = %td, error = %e, "keeping the last good bundle");
                    if let Some(m) = &self.metrics {
                        m.failed(&td);
                    }
                    self.hint().min(self.config.retry_interval)
                }
            };
            let fetched_at = Instant::now();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = signal.notified() => {
                    // Early, but not more often than the rate limit allows.
                    let since = fetched_at.elapsed();
                    if since < self.config.min_refresh_interval {
                        tokio::time::sleep(self.config.min_refresh_interval - since).await;
                    }
                    tracing::debug!(trust_domain = %td, "unknown key met; fetching early");
                }
            }
        }
    }

    fn hint(&self) -> Duration {
        self.trust
            .get(&self.config.trust_domain)
            .map_or(crate::bundle::DEFAULT_REFRESH_HINT, |b| b.refresh_hint())
            .max(Duration::from_secs(1))
    }
}
