//! rustls configurations that authenticate peers by SPIFFE ID.
//!
//! A peer's chain is validated against the bundle of the peer's own trust domain (read from
//! the [`TrustStore`] at each handshake), then against the X.509-SVID leaf rules, and then
//! an [`Authorizer`] decides whether that SPIFFE ID may talk to us. There is no host name
//! check: the SPIFFE ID is the name. Because both the SVID ([`SvidSource`]) and the bundles
//! are read at each handshake, replacing them takes effect at the next handshake without
//! touching connections already open.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::bundle::TrustStore;
use crate::source::SvidSource;
use crate::spiffe_id::{SpiffeId, TrustDomain};
use crate::svid::{self, Role, SvidError};

/// Why a TLS configuration could not be built, or a peer was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error("cannot build the TLS configuration")]
    Config(#[source] rustls::Error),
    /// A server configuration needs an SVID to present.
    #[error("a server configuration needs an SVID to present")]
    NoSvid,
    /// The peer's SPIFFE ID is not allowed by the authorizer.
    #[error("peer {id} is not authorized: {reason}")]
    Unauthorized {
        /// The peer's SPIFFE ID.
        id: SpiffeId,
        /// Which rule refused it.
        reason: String,
    },
    /// The peer's certificate is not a valid SVID of a trusted trust domain.
    #[error(transparent)]
    Svid(#[from] SvidError),
}

/// A callback authorizer: `Err(reason)` refuses the peer.
pub type AuthorizeFn = Arc<dyn Fn(&SpiffeId) -> Result<(), String> + Send + Sync>;

/// Decides which authenticated SPIFFE IDs may connect.
#[derive(Clone)]
pub enum Authorizer {
    /// Any ID whose chain verifies against the bundle of its trust domain.
    Any,
    /// Exactly these IDs.
    Exact(Vec<SpiffeId>),
    /// Any ID in these trust domains.
    TrustDomains(Vec<TrustDomain>),
    /// IDs of one trust domain whose path is `prefix` or continues it at a `/`.
    PathPrefix {
        /// The trust domain.
        trust_domain: TrustDomain,
        /// The path prefix, such as `/ns/payments`.
        prefix: String,
    },
    /// A callback; it returns `Err(reason)` to refuse.
    Custom(AuthorizeFn),
}

impl Authorizer {
    /// Checks an authenticated peer's SPIFFE ID.
    pub fn authorize(&self, id: &SpiffeId) -> Result<(), TlsError> {
        let refuse = |reason: String| {
            Err(TlsError::Unauthorized {
                id: id.clone(),
                reason,
            })
        };
        match self {
            Authorizer::Any => Ok(()),
            Authorizer::Exact(ids) if ids.contains(id) => Ok(()),
            Authorizer::Exact(ids) => refuse(format!(
                "not one of {}",
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Authorizer::TrustDomains(tds) if tds.contains(id.trust_domain()) => Ok(()),
            Authorizer::TrustDomains(tds) => refuse(format!(
                "trust domain is not one of {}",
                tds.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Authorizer::PathPrefix {
                trust_domain,
                prefix,
            } => {
                if id.trust_domain() == trust_domain && id.path_has_prefix(prefix) {
                    Ok(())
                } else {
                    refuse(format!("not under spiffe://{trust_domain}{prefix}"))
                }
            }
            Authorizer::Custom(f) => f(id).or_else(refuse),
        }
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authorizer::Any => f.write_str("Any"),
            Authorizer::Exact(ids) => f.debug_tuple("Exact").field(ids).finish(),
            Authorizer::TrustDomains(t) => f.debug_tuple("TrustDomains").field(t).finish(),
            Authorizer::PathPrefix {
                trust_domain,
                prefix,
            } => f
                .debug_struct("PathPrefix")
                .field("trust_domain", trust_domain)
                .field("prefix", prefix)
                .finish(),
            Authorizer::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Verifies a peer chain as an SVID and authorizes its ID, shared by both verifiers.
#[derive(Debug, Clone)]
struct PeerCheck {
    trust: TrustStore,
    authorizer: Authorizer,
    algs: WebPkiSupportedAlgorithms,
}

impl PeerCheck {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: Role,
    ) -> Result<SpiffeId, rustls::Error> {
        let mut chain = Vec::with_capacity(intermediates.len() + 1);
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        let now = UNIX_EPOCH + Duration::from_secs(now.as_secs());
        let outcome = svid::verify_chain(&chain, &self.trust, role, now)
            .map_err(TlsError::from)
            .and_then(|id| self.authorizer.authorize(&id).map(|()| id));
        outcome.map_err(|e| {
            tracing::debug!(error = %e, "refusing TLS peer");
            let ce = match &e {
                TlsError::Svid(SvidError::Expired(_)) => CertificateError::Expired,
                TlsError::Svid(SvidError::NotYetValid(_)) => CertificateError::NotValidYet,
                _ => CertificateError::Other(rustls::OtherError(Arc::new(Refusal(e)))),
            };
            rustls::Error::InvalidCertificate(ce)
        })
    }
}

/// A refusal as rustls reports it. rustls shows the `Debug` form of the cause in its error
/// message, so `Debug` here prints the readable reason rather than nested variant names.
struct Refusal(TlsError);

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The handshake-signature methods, the same for both verifier traits: the provider's
/// algorithms check them, and only the certificate checks differ.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.algs)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.algs)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.algs.supported_schemes()
        }
    };
}

#[derive(Debug)]
struct SpiffeServerVerifier(PeerCheck);

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify(end_entity, intermediates, now, Role::Server)
            .map(|_| ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

#[derive(Debug)]
struct SpiffeClientVerifier(PeerCheck);

impl ClientCertVerifier for SpiffeClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Clients pick their SVID by trust domain, not by the CA names we could list.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .verify(end_entity, intermediates, now, Role::Client)
            .map(|_| ClientCertVerified::assertion())
    }

    handshake_signatures!();
}

/// Builds rustls configurations that authenticate peers by SPIFFE ID.
#[derive(Debug, Clone)]
pub struct SpiffeTls {
    svid: Option<SvidSource>,
    trust: TrustStore,
    authorizer: Authorizer,
    provider: Arc<CryptoProvider>,
}

impl SpiffeTls {
    /// A builder that trusts the bundles in `trust` and admits the IDs `authorizer` allows.
    pub fn new(trust: TrustStore, authorizer: Authorizer) -> Self {
        Self {
            svid: None,
            trust,
            authorizer,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// Presents this SVID (a server always needs one; a client needs one for mTLS).
    pub fn with_svid(mut self, svid: SvidSource) -> Self {
        self.svid = Some(svid);
        self
    }

    fn check(&self) -> PeerCheck {
        PeerCheck {
            trust: self.trust.clone(),
            authorizer: self.authorizer.clone(),
            algs: self.provider.signature_verification_algorithms,
        }
    }

    /// A server configuration that requires and authenticates client SVIDs.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let svid = self.svid.clone().ok_or(TlsError::NoSvid)?;
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_client_cert_verifier(Arc::new(SpiffeClientVerifier(self.check())))
            .with_cert_resolver(Arc::new(svid));
        no_resumption_server(&mut config);
        Ok(config)
    }

    /// A server configuration that presents the SVID but asks clients for no certificate,
    /// as a bundle endpoint in the `https_spiffe` profile does.
    pub fn server_config_without_client_auth(&self) -> Result<rustls::ServerConfig, TlsError> {
        let svid = self.svid.clone().ok_or(TlsError::NoSvid)?;
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(svid));
        no_resumption_server(&mut config);
        Ok(config)
    }

    /// A client configuration that authenticates the server by SPIFFE ID, and presents
    /// the SVID, when one was given, for mTLS.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SpiffeServerVerifier(self.check())));
        let mut config = match &self.svid {
            Some(svid) => builder.with_client_cert_resolver(Arc::new(svid.clone())),
            None => builder.with_no_client_auth(),
        };
        // A resumed session skips certificate verification, so it would keep trusting a
        // peer after its bundle or authorization changed. Every handshake verifies afresh.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(config)
    }
}

/// Turns off session resumption (see `client_config`), so that every handshake checks the
/// peer against the bundles and authorizer of the moment.
fn no_resumption_server(config: &mut rustls::ServerConfig) {
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
}

/// The SPIFFE ID of the peer of an established connection, read from its leaf.
pub fn peer_spiffe_id(certs: Option<&[CertificateDer<'_>]>) -> Option<SpiffeId> {
    let leaf = certs?.first()?;
    svid::cert_info(leaf).ok().map(|i| i.spiffe_id)
}

/// The current time as rustls wants it.
pub fn unix_now() -> UnixTime {
    UnixTime::since_unix_epoch(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizer_rules() {
        let id = SpiffeId::parse("spiffe://a.example/ns/pay/sa/api").unwrap();
        let td = TrustDomain::new("a.example").unwrap();
        assert!(Authorizer::Any.authorize(&id).is_ok());
        assert!(Authorizer::Exact(vec![id.clone()]).authorize(&id).is_ok());
        assert!(
            Authorizer::Exact(vec![SpiffeId::parse("spiffe://a.example/x").unwrap()])
                .authorize(&id)
                .is_err()
        );
        assert!(
            Authorizer::TrustDomains(vec![td.clone()])
                .authorize(&id)
                .is_ok()
        );
        assert!(
            Authorizer::TrustDomains(vec![TrustDomain::new("b").unwrap()])
                .authorize(&id)
                .is_err()
        );
        let prefix = |p: &str| Authorizer::PathPrefix {
            trust_domain: td.clone(),
            prefix: p.into(),
        };
        assert!(prefix("/ns/pay").authorize(&id).is_ok());
        let err = prefix("/ns/pa").authorize(&id).unwrap_err();
        assert!(err.to_string().contains("not under"), "{err}");
        let custom = Authorizer::Custom(Arc::new(|id: &SpiffeId| {
            if id.path().ends_with("/api") {
                Ok(())
            } else {
                Err("only APIs".into())
            }
        }));
        assert!(custom.authorize(&id).is_ok());
        assert!(
            custom
                .authorize(&SpiffeId::parse("spiffe://a.example/db").unwrap())
                .unwrap_err()
                .to_string()
                .contains("only APIs")
        );
    }
}
