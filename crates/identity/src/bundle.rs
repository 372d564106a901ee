//! SPIFFE trust bundles (a JWK Set with `x509-svid` and `jwt-svid` keys, a sequence number
//! and a refresh hint) and the per-trust-domain store that verification reads from.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::jwk::{Jwk, JwkError, PublicJwk};
use crate::spiffe_id::TrustDomain;

/// The refresh hint used when a bundle gives none: five minutes.
pub const DEFAULT_REFRESH_HINT: Duration = Duration::from_secs(300);

/// Why a bundle could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The document is not JSON of the bundle's shape.
    #[error("bundle is not a valid JWK Set")]
    Json(#[source] serde_json::Error),
    /// An `x509-svid` key does not hold exactly one certificate.
    #[error("x509-svid key holds {0} certificates in x5c; exactly one is required")]
    X5cCount(usize),
    /// An `x509-svid` certificate is not valid base64.
    #[error("x509-svid key's x5c is not valid base64")]
    X5cBase64,
    /// A `jwt-svid` key has no `kid`.
    #[error("jwt-svid key has no kid")]
    MissingKid,
    /// A key could not be read.
    #[error("bundle key is unusable")]
    Key(#[source] JwkError),
    /// A bundle for one trust domain was offered for another.
    #[error("bundle is for trust domain {got}, expected {expected}")]
    WrongTrustDomain {
        /// The trust domain asked for.
        expected: TrustDomain,
        /// The trust domain of the bundle.
        got: TrustDomain,
    },
}

/// The bundle document as it travels: a JWK Set with the SPIFFE members.
#[derive(Serialize, Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spiffe_sequence: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spiffe_refresh_hint: Option<u64>,
}

/// The SPIFFE bundle of one trust domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustBundle {
    trust_domain: TrustDomain,
    x509_authorities: Vec<CertificateDer<'static>>,
    jwt_authorities: BTreeMap<String, Jwk>,
    sequence: u64,
    refresh_hint: Duration,
}

impl TrustBundle {
    /// An empty bundle.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            x509_authorities: Vec::new(),
            jwt_authorities: BTreeMap::new(),
            sequence: 0,
            refresh_hint: DEFAULT_REFRESH_HINT,
        }
    }

    /// Reads a SPIFFE bundle document. The trust domain is not in the document, so the
    /// caller says which one it is for. Keys of unknown use or type are skipped.
    pub fn from_json(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        let set: JwkSet = serde_json::from_slice(json).map_err(BundleError::Json)?;
        let mut b = Self::new(trust_domain);
        b.sequence = set.spiffe_sequence.unwrap_or(0);
        if let Some(hint) = set.spiffe_refresh_hint.filter(|&h| h > 0) {
            b.refresh_hint = Duration::from_secs(hint);
        }
        for raw in set.keys {
            // A key this version cannot even parse as a JWK is as unknown as a new `use`.
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                tracing::debug!("skipping a bundle key that is not a JWK");
                continue;
            };
            match jwk.use_.as_deref() {
                Some("x509-svid") => {
                    let x5c = jwk.x5c.as_deref().unwrap_or_default();
                    let [one] = x5c else {
                        return Err(BundleError::X5cCount(x5c.len()));
                    };
                    let der = STANDARD.decode(one).map_err(|_| BundleError::X5cBase64)?;
                    b.add_x509_authority(CertificateDer::from(der));
                }
                Some("jwt-svid") => {
                    let kid = jwk.kid.clone().ok_or(BundleError::MissingKid)?;
                    if let Err(e) = jwk.public_key() {
                        tracing::debug!(%kid, error = %e, "skipping a jwt-svid key of a type causeway cannot use");
                        continue;
                    }
                    b.add_jwt_authority(kid, jwk);
                }
                other => tracing::debug!(use_ = ?other, "skipping a bundle key of unknown use"),
            }
        }
        Ok(b)
    }

    /// Writes the bundle as a SPIFFE bundle document.
    pub fn to_json(&self) -> String {
        let mut keys = Vec::new();
        for der in &self.x509_authorities {
            let mut jwk = match PublicJwk::from_certificate(der) {
                Ok(pk) => Jwk::from_public(&pk),
                Err(_) => Jwk::default(),
            };
            jwk.use_ = Some("x509-svid".into());
            jwk.x5c = Some(vec![STANDARD.encode(der)]);
            keys.push(jwk);
        }
        for (kid, jwk) in &self.jwt_authorities {
            let mut jwk = jwk.clone();
            jwk.use_ = Some("jwt-svid".into());
            jwk.kid = Some(kid.clone());
            keys.push(jwk);
        }
        let set = JwkSet {
            keys: keys
                .into_iter()
                .filter_map(|k| serde_json::to_value(k).ok())
                .collect(),
            spiffe_sequence: Some(self.sequence),
            spiffe_refresh_hint: Some(self.refresh_hint().as_secs()),
        };
        // Serialising plain maps, strings and numbers cannot fail.
        serde_json::to_string_pretty(&set).unwrap_or_default()
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The X.509 authorities (CA certificates).
    pub fn x509_authorities(&self) -> &[CertificateDer<'static>] {
        &self.x509_authorities
    }

    /// The JWT authorities by key ID.
    pub fn jwt_authorities(&self) -> &BTreeMap<String, Jwk> {
        &self.jwt_authorities
    }

    /// The JWT authority with this key ID.
    pub fn jwt_authority(&self, kid: &str) -> Option<&Jwk> {
        self.jwt_authorities.get(kid)
    }

    /// Adds a CA certificate, once.
    pub fn add_x509_authority(&mut self, der: CertificateDer<'static>) {
        if !self.x509_authorities.contains(&der) {
            self.x509_authorities.push(der);
        }
    }

    /// Removes a CA certificate.
    pub fn remove_x509_authority(&mut self, der: &CertificateDer<'_>) {
        self.x509_authorities.retain(|c| c.as_ref() != der.as_ref());
    }

    /// Adds or replaces a JWT authority.
    pub fn add_jwt_authority(&mut self, kid: String, mut jwk: Jwk) {
        // Stored as it will be written, so a bundle read back compares equal.
        jwk.use_ = Some("jwt-svid".into());
        jwk.kid = Some(kid.clone());
        self.jwt_authorities.insert(kid, jwk);
    }

    /// Removes a JWT authority.
    pub fn remove_jwt_authority(&mut self, kid: &str) {
        self.jwt_authorities.remove(kid);
    }

    /// The sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Sets the sequence number.
    pub fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence;
    }

    /// How often a federated peer should fetch this bundle.
    pub fn refresh_hint(&self) -> Duration {
        self.refresh_hint
    }

    /// Sets the refresh hint.
    pub fn set_refresh_hint(&mut self, hint: Duration) {
        self.refresh_hint = hint;
    }

    /// Whether the keys (not the sequence or hint) are the same as another bundle's.
    pub fn same_keys(&self, other: &TrustBundle) -> bool {
        let set = |v: &[CertificateDer<'static>]| {
            v.iter()
                .map(|c| c.as_ref().to_vec())
                .collect::<std::collections::BTreeSet<_>>()
        };
        set(&self.x509_authorities) == set(&other.x509_authorities)
            && self.jwt_authorities == other.jwt_authorities
    }
}

/// The bundles causeway trusts, one per trust domain. Clones share the same contents, so a
/// bundle set here is seen by every TLS config and verifier at its next use.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    inner: Arc<RwLock<BTreeMap<TrustDomain, Arc<TrustBundle>>>>,
    /// Woken when a verifier meets a key the bundle of a trust domain lacks, so that the
    /// federation client of that trust domain can fetch early.
    unknown_key: Arc<RwLock<BTreeMap<TrustDomain, Arc<tokio::sync::Notify>>>>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding these bundles.
    pub fn with(bundles: impl IntoIterator<Item = TrustBundle>) -> Self {
        let s = Self::new();
        for b in bundles {
            s.set(b);
        }
        s
    }

    /// Sets the bundle of its trust domain, replacing only that trust domain's.
    pub fn set(&self, bundle: TrustBundle) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        map.insert(bundle.trust_domain().clone(), Arc::new(bundle));
    }

    /// Sets the bundle for `trust_domain`, refusing a bundle of another trust domain.
    pub fn set_for(
        &self,
        trust_domain: &TrustDomain,
        bundle: TrustBundle,
    ) -> Result<(), BundleError> {
        if bundle.trust_domain() != trust_domain {
            return Err(BundleError::WrongTrustDomain {
                expected: trust_domain.clone(),
                got: bundle.trust_domain().clone(),
            });
        }
        self.set(bundle);
        Ok(())
    }

    /// The bundle of a trust domain.
    pub fn get(&self, trust_domain: &TrustDomain) -> Option<Arc<TrustBundle>> {
        // A poisoned lock only means a writer panicked between whole-value inserts, so the
        // map is still consistent.
        let map = self.inner.read().unwrap_or_else(|p| p.into_inner());
        map.get(trust_domain).cloned()
    }

    /// Removes a trust domain's bundle.
    pub fn remove(&self, trust_domain: &TrustDomain) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        map.remove(trust_domain);
    }

    /// Says that a peer of `trust_domain` used a key its bundle lacks: the bundle may be
    /// out of date.
    pub fn report_unknown_key(&self, trust_domain: &TrustDomain) {
        let map = self.unknown_key.read().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(trust_domain) {
            n.notify_one();
        }
    }

    /// What a federation client waits on to hear of unknown keys of its trust domain.
    pub fn unknown_key_signal(&self, trust_domain: &TrustDomain) -> Arc<tokio::sync::Notify> {
        let mut map = self.unknown_key.write().unwrap_or_else(|p| p.into_inner());
        map.entry(trust_domain.clone()).or_default().clone()
    }

    /// The trust domains held.
    pub fn trust_domains(&self) -> Vec<TrustDomain> {
        let map = self.inner.read().unwrap_or_else(|p| p.into_inner());
        map.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CertificateAuthority, DEFAULT_ROOT_LIFETIME};

    #[test]
    fn round_trips_and_skips_unknown_keys() {
        let td = TrustDomain::new("a.example").unwrap();
        let ca = CertificateAuthority::new_root(td.clone(), DEFAULT_ROOT_LIFETIME).unwrap();
        let mut b = TrustBundle::new(td.clone());
        b.add_x509_authority(ca.root().clone());
        b.set_sequence(7);
        let json = b.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["spiffe_sequence"], 7);
        assert_eq!(v["keys"][0]["use"], "x509-svid");
        assert_eq!(v["keys"][0]["kty"], "EC");
        assert_eq!(v["keys"][0]["crv"], "P-256");
        let mut v2 = v.clone();
        v2["keys"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"use": "future-svid", "kty": "OKP"}));
        v2["keys"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"use": "jwt-svid", "kty": "OKP", "kid": "k"}));
        let back = TrustBundle::from_json(td.clone(), v2.to_string().as_bytes()).unwrap();
        assert_eq!(back, b);
        assert!(back.jwt_authorities().is_empty());
    }

    #[test]
    fn refuses_bad_documents() {
        let td = TrustDomain::new("a.example").unwrap();
        assert!(matches!(
            TrustBundle::from_json(td.clone(), b"{\"keys\": 3}"),
            Err(BundleError::Json(_))
        ));
        assert!(matches!(
            TrustBundle::from_json(
                td.clone(),
                br#"{"keys":[{"use":"x509-svid","kty":"EC","x5c":[]}]}"#
            ),
            Err(BundleError::X5cCount(0))
        ));
        assert!(matches!(
            TrustBundle::from_json(
                td.clone(),
                br#"{"keys":[{"use":"jwt-svid","kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#
            ),
            Err(BundleError::MissingKid)
        ));
        let store = TrustStore::new();
        let other = TrustBundle::new(TrustDomain::new("b.example").unwrap());
        assert!(matches!(
            store.set_for(&td, other),
            Err(BundleError::WrongTrustDomain { .. })
        ));
        assert!(store.get(&td).is_none());
    }
}
