//! Trusting another cluster's service-account tokens through OIDC discovery, and being an
//! issuer others can trust.
//!
//! A verifier is configured per issuer with the CA that signs the issuer's serving
//! certificate. It fetches `/.well-known/openid-configuration`, checks that the document
//! names the same issuer, fetches `jwks_uri`, and caches the keys. The keys are refreshed
//! when they are older than the refresh interval, and early when a token names a `kid`
//! the cache lacks, at most once per `min_refresh_interval` so that a stream of tokens with
//! made-up key IDs cannot turn the verifier into a load generator against the issuer.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::http::{self, HttpError};
use crate::jwk::Jwk;
use crate::jwt::{JwtError, UnverifiedToken};

/// Why a token from an issuer was refused.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The token itself was refused.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// Fetching discovery or JWKS failed.
    #[error("cannot fetch the issuer's keys")]
    Fetch(#[source] HttpError),
    /// The discovery document or JWKS is not valid.
    #[error("{what} from {url} is invalid: {reason}")]
    Document {
        /// `discovery document` or `JWKS`.
        what: &'static str,
        /// Where it came from.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The token's subject is not a service account.
    #[error("subject {0:?} is not system:serviceaccount:<namespace>:<name>")]
    NotServiceAccount(String),
    /// The TLS configuration could not be built.
    #[error("cannot build the TLS configuration for the issuer")]
    Tls(#[source] HttpError),
    /// The token's issuer is not one of the trusted issuers.
    #[error("issuer {0:?} is not trusted")]
    UntrustedIssuer(String),
}

/// How to trust one issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The issuer URL, exactly as in the tokens' `iss`.
    pub issuer: String,
    /// Audiences accepted; a token must name at least one.
    pub audiences: Vec<String>,
    /// CA certificates for the issuer's HTTPS endpoints.
    pub ca: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Prepended to the mapped username and groups, as kube-apiserver's `username.prefix`.
    pub prefix: String,
    /// Keys older than this are fetched again.
    pub refresh_interval: Duration,
    /// Early refreshes on an unknown `kid` happen at most this often.
    pub min_refresh_interval: Duration,
}

impl IssuerConfig {
    /// A configuration with the usual intervals: refresh every 5 minutes, early at most
    /// every 10 seconds.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            ca: Vec::new(),
            prefix: String::new(),
            refresh_interval: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(10),
        }
    }
}

/// The user a service-account token maps to, as kube-apiserver maps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccountUser {
    /// `<prefix>system:serviceaccount:<namespace>:<name>`.
    pub username: String,
    /// `<prefix>system:serviceaccounts`, `<prefix>system:serviceaccounts:<namespace>`, and
    /// `system:authenticated`.
    pub groups: Vec<String>,
    /// The namespace.
    pub namespace: String,
    /// The service account's name.
    pub name: String,
    /// The service account's UID, when the token carries it.
    pub uid: Option<String>,
}

/// The OIDC discovery document fields causeway reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovery {
    /// The issuer.
    pub issuer: String,
    /// Where the keys are.
    pub jwks_uri: String,
    /// What the issuer hands out.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// Subject types.
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    /// Signing algorithms.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Debug, Default)]
struct KeyCache {
    keys: BTreeMap<String, Jwk>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Verifies tokens of one trusted issuer.
#[derive(Debug)]
pub struct OidcVerifier {
    config: IssuerConfig,
    tls: Arc<rustls::ClientConfig>,
    cache: RwLock<Arc<KeyCache>>,
    /// Serialises fetches so that concurrent unknown-kid misses make one request.
    fetching: Mutex<()>,
}

impl OidcVerifier {
    /// A verifier for one issuer.
    pub fn new(config: IssuerConfig) -> Result<Self, OidcError> {
        let tls = Arc::new(http::web_client_config(&config.ca).map_err(OidcError::Tls)?);
        Ok(Self {
            config,
            tls,
            cache: RwLock::new(Arc::new(KeyCache::default())),
            fetching: Mutex::new(()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    fn cache(&self) -> Arc<KeyCache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Verifies a service-account token and maps it to its user.
    pub async fn verify(&self, token: &str) -> Result<ServiceAccountUser, OidcError> {
        let t = UnverifiedToken::parse(token)?;
        let kid = t.kid()?.to_owned();
        // The issuer is checked before any key is fetched, so tokens of other issuers cost
        // nothing.
        let iss = t.string_claim("iss")?;
        if iss != self.config.issuer {
            return Err(JwtError::WrongIssuer {
                expected: self.config.issuer.clone(),
                got: iss.to_owned(),
            }
            .into());
        }
        let jwk = self.key(&kid).await?;
        t.verify_with(&jwk)?;
        t.check_audience(&self.config.audiences)?;
        t.check_times(SystemTime::now())?;
        self.map_user(&t)
    }

    /// The cache, whether it is due for a refresh, and the key if it is fresh and has it.
    fn lookup(&self, kid: &str) -> (Arc<KeyCache>, bool, Option<Jwk>) {
        let cache = self.cache();
        let stale = cache
            .fetched
            .is_none_or(|t| t.elapsed() >= self.config.refresh_interval);
        let hit = if stale {
            None
        } else {
            cache.keys.get(kid).cloned()
        };
        (cache, stale, hit)
    }

    async fn key(&self, kid: &str) -> Result<Jwk, OidcError> {
        if let (_, _, Some(k)) = self.lookup(kid) {
            return Ok(k);
        }
        let _guard = self.fetching.lock().await;
        // Another task may have fetched while this one waited.
        let (cache, stale, hit) = self.lookup(kid);
        if let Some(k) = hit {
            return Ok(k);
        }
        let limited = cache
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.config.min_refresh_interval);
        if limited && !stale {
            return Err(JwtError::UnknownKid(kid.to_owned()).into());
        }
        match self.fetch().await {
            Ok(keys) => {
                let now = Instant::now();
                let fresh = Arc::new(KeyCache {
                    keys,
                    fetched: Some(now),
                    last_attempt: Some(now),
                });
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                fresh
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or_else(|| JwtError::UnknownKid(kid.to_owned()).into())
            }
            Err(e) => {
                // Keep the keys we have: an issuer that is briefly down must not make
                // every token fail.
                let kept = Arc::new(KeyCache {
                    keys: cache.keys.clone(),
                    fetched: cache.fetched,
                    last_attempt: Some(Instant::now()),
                });
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) = kept;
                tracing::warn!(issuer = %self.config.issuer, error = %e, "fetching issuer keys failed");
                match cache.keys.get(kid) {
                    Some(k) => Ok(k.clone()),
                    None => Err(e),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<BTreeMap<String, Jwk>, OidcError> {
        let timeout = Duration::from_secs(10);
        let disco_url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let body = http::get(&disco_url, self.tls.clone(), timeout)
            .await
            .map_err(OidcError::Fetch)?;
        let doc_err = |what, url: &str, reason: String| OidcError::Document {
            what,
            url: url.to_owned(),
            reason,
        };
        let disco: Discovery = serde_json::from_slice(&body)
            .map_err(|e| doc_err("discovery document", &disco_url, e.to_string()))?;
        if disco.issuer != self.config.issuer {
            return Err(doc_err(
                "discovery document",
                &disco_url,
                format!("it names issuer {:?}", disco.issuer),
            ));
        }
        let body = http::get(&disco.jwks_uri, self.tls.clone(), timeout)
            .await
            .map_err(OidcError::Fetch)?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| doc_err("JWKS", &disco.jwks_uri, e.to_string()))?;
        let mut keys = BTreeMap::new();
        for raw in set.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            // Keys for encryption, or without an ID, cannot verify our tokens.
            if jwk.use_.as_deref().is_some_and(|u| u != "sig") || jwk.public_key().is_err() {
                continue;
            }
            if let Some(kid) = jwk.kid.clone() {
                keys.insert(kid, jwk);
            }
        }
        Ok(keys)
    }

    fn map_user(&self, t: &UnverifiedToken) -> Result<ServiceAccountUser, OidcError> {
        let sub = t.string_claim("sub")?;
        let parts: Vec<&str> = sub.split(':').collect();
        let [sys, sa, namespace, name] = parts.as_slice() else {
            return Err(OidcError::NotServiceAccount(sub.to_owned()));
        };
        if *sys != "system" || *sa != "serviceaccount" || namespace.is_empty() || name.is_empty() {
            return Err(OidcError::NotServiceAccount(sub.to_owned()));
        }
        let k8s = t.claims.get("kubernetes.io");
        let uid = k8s
            .and_then(|k| k.pointer("/serviceaccount/uid"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        // When the token carries the structured claim too, it must agree with `sub`.
        if let Some(ns) = k8s
            .and_then(|k| k.get("namespace"))
            .and_then(|v| v.as_str())
            && ns != *namespace
        {
            return Err(OidcError::NotServiceAccount(sub.to_owned()));
        }
        let p = &self.config.prefix;
        Ok(ServiceAccountUser {
            username: format!("{p}system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                format!("{p}system:serviceaccounts"),
                format!("{p}system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
            namespace: (*namespace).to_owned(),
            name: (*name).to_owned(),
            uid,
        })
    }
}

/// Several trusted issuers (one per linked cluster): a token goes to the verifier of the
/// issuer it names, and a token naming any other issuer is refused before anything is
/// fetched.
#[derive(Debug, Default)]
pub struct TrustedIssuers {
    verifiers: BTreeMap<String, OidcVerifier>,
}

impl TrustedIssuers {
    /// No trusted issuer yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts one more issuer, replacing any verifier of the same issuer URL.
    pub fn add(&mut self, config: IssuerConfig) -> Result<(), OidcError> {
        let verifier = OidcVerifier::new(config)?;
        self.verifiers
            .insert(verifier.config().issuer.clone(), verifier);
        Ok(())
    }

    /// Verifies a token with the verifier of the issuer it names.
    pub async fn verify(&self, token: &str) -> Result<ServiceAccountUser, OidcError> {
        let t = UnverifiedToken::parse(token)?;
        let iss = t.string_claim("iss")?;
        let verifier = self
            .verifiers
            .get(iss)
            .ok_or_else(|| OidcError::UntrustedIssuer(iss.to_owned()))?;
        verifier.verify(token).await
    }
}

/// The keys an issuer publishes, replaceable while it serves.
#[derive(Debug, Clone, Default)]
pub struct PublishedKeys {
    inner: Arc<RwLock<Vec<Jwk>>>,
}

impl PublishedKeys {
    /// Publishes these keys (the current one and any still-valid previous ones).
    pub fn set(&self, keys: Vec<Jwk>) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    /// The keys published now.
    pub fn get(&self) -> Vec<Jwk> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The path kube-apiserver serves its JWKS at; causeway uses the same.
pub const JWKS_PATH: &str = "/openid/v1/jwks";

/// A router serving an issuer's discovery document and JWKS, so a causeway cluster can be
/// the trusted issuer of another.
pub fn issuer_router(issuer: &str, keys: PublishedKeys) -> axum::Router {
    let discovery = Discovery {
        issuer: issuer.to_owned(),
        jwks_uri: format!("{}{JWKS_PATH}", issuer.trim_end_matches('/')),
        response_types_supported: vec!["id_token".into()],
        subject_types_supported: vec!["public".into()],
        id_token_signing_alg_values_supported: vec!["ES256".into(), "RS256".into()],
    };
    axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let d = discovery.clone();
                async move { axum::Json(d) }
            }),
        )
        .route(
            JWKS_PATH,
            axum::routing::get(move || {
                let keys = keys.get();
                async move { axum::Json(serde_json::json!({ "keys": keys })) }
            }),
        )
}
