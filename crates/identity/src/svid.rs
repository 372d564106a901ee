//! X.509-SVIDs: a workload's certificate chain and key, and the rules the X.509-SVID
//! specification puts on leaf and signing certificates.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::bundle::TrustStore;
use crate::pem::{self, PemError};
use crate::spiffe_id::{SpiffeId, SpiffeIdError};

/// Why a certificate or chain is not a valid X.509-SVID.
#[derive(Debug, thiserror::Error)]
pub enum SvidError {
    /// The chain was empty.
    #[error("no certificate was presented")]
    EmptyChain,
    /// The DER could not be parsed as an X.509 certificate.
    #[error("certificate is not valid X.509: {0}")]
    Parse(String),
    /// The certificate has no URI SAN.
    #[error("certificate has no URI SAN, so it carries no SPIFFE ID")]
    NoUriSan,
    /// The certificate has more than one URI SAN.
    #[error("certificate has {0} URI SANs; an X.509-SVID has exactly one")]
    MultipleUriSans(usize),
    /// The URI SAN is not a valid SPIFFE ID.
    #[error("URI SAN is not a valid SPIFFE ID")]
    BadSpiffeId(#[source] SpiffeIdError),
    /// A leaf's SPIFFE ID has no path.
    #[error("leaf SPIFFE ID {0} has no path; only signing certificates name a bare trust domain")]
    LeafWithoutPath(SpiffeId),
    /// A leaf is marked as a CA.
    #[error("leaf certificate has cA=true")]
    LeafIsCa,
    /// A signing certificate is not marked as a CA.
    #[error("signing certificate does not have cA=true")]
    SignerNotCa,
    /// The key usage extension is missing.
    #[error("certificate has no key usage extension")]
    NoKeyUsage,
    /// The key usage extension is not critical.
    #[error("key usage extension is not marked critical")]
    KeyUsageNotCritical,
    /// A leaf lacks digitalSignature.
    #[error("leaf key usage lacks digitalSignature")]
    NoDigitalSignature,
    /// A leaf has keyCertSign or cRLSign.
    #[error("leaf key usage has keyCertSign or cRLSign")]
    LeafCanSign,
    /// A signing certificate's SPIFFE ID has a path.
    #[error(
        "signing certificate carries {0}, which has a path; it must name only the trust domain"
    )]
    SignerWithPath(SpiffeId),
    /// A signing certificate lacks keyCertSign.
    #[error("signing certificate key usage lacks keyCertSign")]
    SignerCannotSign,
    /// The certificate's validity period has ended.
    #[error("certificate expired at {0:?}")]
    Expired(SystemTime),
    /// The certificate's validity period has not started.
    #[error("certificate is not valid before {0:?}")]
    NotYetValid(SystemTime),
    /// No bundle is held for the peer's trust domain.
    #[error("no trust bundle for trust domain {0}")]
    UnknownTrustDomain(String),
    /// The chain does not verify against the trust domain's bundle.
    #[error("chain of {id} does not verify against the bundle of its trust domain")]
    Chain {
        /// The leaf's SPIFFE ID.
        id: String,
        /// What the path validator said.
        #[source]
        reason: Box<webpki::Error>,
    },
    /// The private key cannot be used for signing.
    #[error("private key is not usable")]
    Key(#[source] rustls::Error),
    /// Reading or writing PEM failed.
    #[error(transparent)]
    Pem(#[from] PemError),
}

/// What the checks of a certificate found out about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The SPIFFE ID in its URI SAN.
    pub spiffe_id: SpiffeId,
    /// Start of the validity period.
    pub not_before: SystemTime,
    /// End of the validity period.
    pub not_after: SystemTime,
    /// The serial number, in hex.
    pub serial: String,
}

/// An X.509-SVID with its private key.
#[derive(Debug)]
pub struct X509Svid {
    spiffe_id: SpiffeId,
    /// The leaf first, then intermediates; never the root.
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl X509Svid {
    /// Builds an SVID from its chain (leaf first) and PKCS#8 key, checking the leaf rules.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, SvidError> {
        let leaf = chain.first().ok_or(SvidError::EmptyChain)?;
        let info = check_leaf(leaf)?;
        // Refuse a key that rustls cannot sign with now, rather than at the first handshake.
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(SvidError::Key)?;
        Ok(Self {
            spiffe_id: info.spiffe_id,
            chain,
            key,
            not_before: info.not_before,
            not_after: info.not_after,
        })
    }

    /// Reads `PREFIX.crt` and `PREFIX.key` as `causeway ca issue` writes them.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, SvidError> {
        Self::new(pem::read_certs(cert)?, pem::read_key(key)?)
    }

    /// Writes the chain to `cert` and the key to `key` (mode 0600).
    pub fn write(&self, cert: &Path, key: &Path) -> Result<(), SvidError> {
        pem::write_public(cert, self.chain_pem().as_bytes())?;
        pem::write_private(key, self.key_pem().as_bytes())?;
        Ok(())
    }

    /// The SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The chain, leaf first, without the root.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key (PKCS#8).
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// Start of the leaf's validity.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the leaf's validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// When the SVID should be renewed: half-way through its lifetime.
    pub fn renew_at(&self) -> SystemTime {
        let life = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or(Duration::ZERO);
        self.not_before + life / 2
    }

    /// The chain as PEM.
    pub fn chain_pem(&self) -> String {
        pem::encode_certs(&self.chain)
    }

    /// The key as PEM.
    pub fn key_pem(&self) -> String {
        pem::encode("PRIVATE KEY", self.key.secret_der())
    }

    /// The SVID as a rustls certified key.
    pub fn certified_key(&self) -> Result<Arc<rustls::sign::CertifiedKey>, SvidError> {
        let signer =
            rustls::crypto::ring::sign::any_supported_type(&self.key).map_err(SvidError::Key)?;
        Ok(Arc::new(rustls::sign::CertifiedKey::new(
            self.chain.clone(),
            signer,
        )))
    }
}

impl Clone for X509Svid {
    fn clone(&self) -> Self {
        Self {
            spiffe_id: self.spiffe_id.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, SvidError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| SvidError::Parse(e.to_string()))?;
    Ok(cert)
}

fn time_of(t: x509_parser::time::ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// When any certificate (an SVID or not, a Web PKI serving certificate say) expires.
pub fn not_after(der: &[u8]) -> Result<SystemTime, SvidError> {
    Ok(time_of(parse(der)?.validity().not_after))
}

/// Reads the one URI SAN of a certificate as a SPIFFE ID, with the validity period.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, SvidError> {
    let cert = parse(der)?;
    let uris: Vec<&str> = cert
        .subject_alternative_name()
        .map_err(|e| SvidError::Parse(e.to_string()))?
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some(*u),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let uri = match uris.as_slice() {
        [] => return Err(SvidError::NoUriSan),
        [one] => *one,
        many => return Err(SvidError::MultipleUriSans(many.len())),
    };
    let spiffe_id = SpiffeId::parse(uri).map_err(SvidError::BadSpiffeId)?;
    Ok(CertInfo {
        spiffe_id,
        not_before: time_of(cert.validity().not_before),
        not_after: time_of(cert.validity().not_after),
        serial: cert.raw_serial_as_string(),
    })
}

/// Checks the X.509-SVID leaf rules (not the chain): exactly one URI SAN holding a SPIFFE ID
/// with a path, cA=false, a critical key usage with digitalSignature and without
/// keyCertSign or cRLSign.
pub fn check_leaf(der: &[u8]) -> Result<CertInfo, SvidError> {
    let info = cert_info(der)?;
    if info.spiffe_id.path().is_empty() {
        return Err(SvidError::LeafWithoutPath(info.spiffe_id));
    }
    let cert = parse(der)?;
    let bc = cert
        .basic_constraints()
        .map_err(|e| SvidError::Parse(e.to_string()))?;
    if bc.is_some_and(|bc| bc.value.ca) {
        return Err(SvidError::LeafIsCa);
    }
    let ku = cert
        .key_usage()
        .map_err(|e| SvidError::Parse(e.to_string()))?
        .ok_or(SvidError::NoKeyUsage)?;
    if !ku.critical {
        return Err(SvidError::KeyUsageNotCritical);
    }
    if !ku.value.digital_signature() {
        return Err(SvidError::NoDigitalSignature);
    }
    if ku.value.key_cert_sign() || ku.value.crl_sign() {
        return Err(SvidError::LeafCanSign);
    }
    Ok(info)
}

/// Checks the X.509-SVID rules for signing certificates: cA=true, a critical key usage with
/// keyCertSign, and a URI SAN, when present, holding a SPIFFE ID.
pub fn check_signing_cert(der: &[u8]) -> Result<Option<SpiffeId>, SvidError> {
    let cert = parse(der)?;
    let bc = cert
        .basic_constraints()
        .map_err(|e| SvidError::Parse(e.to_string()))?;
    if !bc.is_some_and(|bc| bc.value.ca) {
        return Err(SvidError::SignerNotCa);
    }
    let ku = cert
        .key_usage()
        .map_err(|e| SvidError::Parse(e.to_string()))?
        .ok_or(SvidError::NoKeyUsage)?;
    if !ku.critical {
        return Err(SvidError::KeyUsageNotCritical);
    }
    if !ku.value.key_cert_sign() {
        return Err(SvidError::SignerCannotSign);
    }
    match cert_info(der) {
        Ok(info) if !info.spiffe_id.path().is_empty() => {
            Err(SvidError::SignerWithPath(info.spiffe_id))
        }
        Ok(info) => Ok(Some(info.spiffe_id)),
        Err(SvidError::NoUriSan) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Which side of a TLS handshake presented the chain, which decides the required EKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The peer is a TLS server.
    Server,
    /// The peer is a TLS client.
    Client,
}

/// Verifies a presented chain (leaf first) as an X.509-SVID: the leaf rules, then path
/// validation against the bundle of the leaf's own trust domain, at `now`.
pub fn verify_chain(
    chain: &[CertificateDer<'_>],
    trust: &TrustStore,
    role: Role,
    now: SystemTime,
) -> Result<SpiffeId, SvidError> {
    let leaf = chain.first().ok_or(SvidError::EmptyChain)?;
    let info = check_leaf(leaf)?;
    for intermediate in &chain[1..] {
        check_signing_cert(intermediate)?;
    }
    let bundle = trust
        .get(info.spiffe_id.trust_domain())
        .ok_or_else(|| SvidError::UnknownTrustDomain(info.spiffe_id.trust_domain().to_string()))?;
    let anchors: Vec<_> = bundle
        .x509_authorities()
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let chain_err = |reason| SvidError::Chain {
        id: info.spiffe_id.to_string(),
        reason: Box::new(reason),
    };
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(chain_err)?;
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let usage = match role {
        Role::Server => webpki::KeyUsage::server_auth(),
        Role::Client => webpki::KeyUsage::client_auth(),
    };
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    let result = ee.verify_for_usage(
        algs,
        &anchors,
        &chain[1..],
        UnixTime::since_unix_epoch(since_epoch),
        usage,
        None,
        None,
    );
    match result {
        Ok(_) => Ok(info.spiffe_id),
        Err(webpki::Error::CertExpired { .. }) if now > info.not_after => {
            Err(SvidError::Expired(info.not_after))
        }
        Err(webpki::Error::CertNotValidYet { .. }) if now < info.not_before => {
            Err(SvidError::NotYetValid(info.not_before))
        }
        Err(e) => {
            if matches!(e, webpki::Error::UnknownIssuer) {
                trust.report_unknown_key(info.spiffe_id.trust_domain());
            }
            Err(chain_err(e))
        }
    }
}
