//! Prometheus metrics of the identity servers (bundle endpoint, OIDC issuer) and of
//! federation, registered under `causeway_identity_`. They are served by the roles'
//! operations endpoint (`causeway_ops`), not by the TLS servers themselves.

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rustls::pki_types::CertificateDer;

use crate::spiffe_id::TrustDomain;
use crate::svid;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route matched, or `*`: the bundle endpoint answers any path, and a label per
    /// path asked for would let anyone grow the metric without bound.
    path: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhatLabels {
    what: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrustDomainLabels {
    trust_domain: String,
}

/// What a serving role (`serve-bundle`, `serve-issuer`) reloads without a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The bundle, re-read from the CA directory.
    Bundle,
    /// The JWKS, re-read from the CA directory.
    Jwks,
    /// The `https_web` serving certificate and key, re-read from their files.
    ServingCert,
    /// The endpoint's own SVID in `https_spiffe`, renewed.
    Svid,
}

impl Reloaded {
    fn label(self) -> &'static str {
        match self {
            Reloaded::Bundle => "bundle",
            Reloaded::Jwks => "jwks",
            Reloaded::ServingCert => "serving_cert",
            Reloaded::Svid => "svid",
        }
    }
}

/// The metrics of a server role that publishes a bundle or a JWKS over HTTPS.
#[derive(Debug, Clone)]
pub struct ServeMetrics {
    requests: Family<RequestLabels, Counter>,
    sequence: Gauge,
    earliest_expiry: Gauge<f64, AtomicU64>,
    reloads: Family<WhatLabels, Counter>,
    reload_failures: Family<WhatLabels, Counter>,
}

impl ServeMetrics {
    /// Creates the metrics and registers them in `registry` under `causeway_identity_`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            requests: Family::default(),
            sequence: Gauge::default(),
            earliest_expiry: Gauge::default(),
            reloads: Family::default(),
            reload_failures: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("causeway_identity");
        r.register(
            "requests",
            "HTTPS requests served, by route and status",
            m.requests.clone(),
        );
        r.register(
            "bundle_sequence",
            "The spiffe_sequence of the bundle served (of the CA directory's bundle the JWKS comes from, for an issuer)",
            m.sequence.clone(),
        );
        r.register(
            "earliest_expiry_seconds",
            "Seconds until the first of the served certificates (bundle anchors, serving certificate or SVID) expires; negative once one has",
            m.earliest_expiry.clone(),
        );
        r.register(
            "reloads",
            "Changes picked up without a restart, by what changed",
            m.reloads.clone(),
        );
        r.register(
            "reload_failures",
            "Reloads that failed and kept what was served before, by what failed",
            m.reload_failures.clone(),
        );
        m
    }

    /// Records the sequence number of the bundle now served.
    pub fn set_sequence(&self, sequence: u64) {
        self.sequence
            .set(i64::try_from(sequence).unwrap_or(i64::MAX));
    }

    /// Sets the time left on the first of `certs` to expire, as of `now`. Certificates that
    /// do not parse are skipped: they were accepted when loaded, so this cannot happen for
    /// anything served.
    pub fn set_earliest_expiry(&self, certs: &[CertificateDer<'_>], now: SystemTime) {
        let earliest = certs
            .iter()
            .filter_map(|c| svid::not_after(c.as_ref()).ok())
            .min();
        if let Some(t) = earliest {
            let left = match t.duration_since(now) {
                Ok(d) => d.as_secs_f64(),
                Err(e) => -e.duration().as_secs_f64(),
            };
            self.earliest_expiry.set(left);
        }
    }

    /// Shows the reload and failure counters of `what` at zero before anything happens, so
    /// a dashboard or alert sees the series from the start.
    pub fn watch(&self, what: Reloaded) {
        let labels = WhatLabels { what: what.label() };
        let _ = self.reloads.get_or_create(&labels);
        let _ = self.reload_failures.get_or_create(&labels);
    }

    /// Counts a change picked up.
    pub fn reloaded(&self, what: Reloaded) {
        self.reloads
            .get_or_create(&WhatLabels { what: what.label() })
            .inc();
    }

    /// Counts a reload that failed (the previous version is still served).
    pub fn reload_failed(&self, what: Reloaded) {
        self.reload_failures
            .get_or_create(&WhatLabels { what: what.label() })
            .inc();
    }

    /// `router` with every request counted by route and status.
    pub fn instrument(&self, router: axum::Router) -> axum::Router {
        let requests = self.requests.clone();
        router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let requests = requests.clone();
                async move {
                    let path = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or_else(|| "*".to_owned(), |p| p.as_str().to_owned());
                    let resp = next.run(req).await;
                    requests
                        .get_or_create(&RequestLabels {
                            path,
                            status: resp.status().as_u16(),
                        })
                        .inc();
                    resp
                }
            },
        ))
    }
}

/// The metrics of federation clients, one series per foreign trust domain.
#[derive(Debug, Clone)]
pub struct FederationMetrics {
    last_success: Family<TrustDomainLabels, Gauge<f64, AtomicU64>>,
    failures: Family<TrustDomainLabels, Counter>,
    sequence: Family<TrustDomainLabels, Gauge>,
}

impl FederationMetrics {
    /// Creates the metrics and registers them in `registry` under
    /// `causeway_identity_federation_`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            last_success: Family::default(),
            failures: Family::default(),
            sequence: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("causeway_identity_federation");
        r.register(
            "last_success_timestamp_seconds",
            "When a fetch of the trust domain's bundle last succeeded (Unix time)",
            m.last_success.clone(),
        );
        r.register(
            "fetch_failures",
            "Fetches of the trust domain's bundle that failed or were refused",
            m.failures.clone(),
        );
        r.register(
            "bundle_sequence",
            "The spiffe_sequence of the trust domain's bundle held",
            m.sequence.clone(),
        );
        m
    }

    fn labels(td: &TrustDomain) -> TrustDomainLabels {
        TrustDomainLabels {
            trust_domain: td.to_string(),
        }
    }

    /// Records a fetch that succeeded, with the sequence of the bundle now held.
    pub fn fetched(&self, td: &TrustDomain, sequence: u64, at: SystemTime) {
        let labels = Self::labels(td);
        let unix = at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.get_or_create(&labels).set(unix);
        self.sequence
            .get_or_create(&labels)
            .set(i64::try_from(sequence).unwrap_or(i64::MAX));
    }

    /// Records the sequence of the bundle held before any fetch (the initial one, if any),
    /// and shows the failure counter at zero.
    pub fn held(&self, td: &TrustDomain, sequence: Option<u64>) {
        if let Some(sequence) = sequence {
            self.sequence
                .get_or_create(&Self::labels(td))
                .set(i64::try_from(sequence).unwrap_or(i64::MAX));
        }
        let _ = self.failures.get_or_create(&Self::labels(td));
    }

    /// Counts a failed or refused fetch.
    pub fn failed(&self, td: &TrustDomain) {
        self.failures.get_or_create(&Self::labels(td)).inc();
    }
}
