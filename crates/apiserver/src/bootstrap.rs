//! What the server sets up on first start and keeps: its CA and serving
//! certificate, the admin token and kubeconfig, and the default namespaces.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use causeway_identity::ca::CaError;
use causeway_identity::pem;
use causeway_identity::spiffe_id::SpiffeIdError;
use causeway_identity::svid::SvidError;
use causeway_identity::{CertificateAuthority, SpiffeId, SvidRequest, TrustDomain, X509Svid};
use serde_json::json;

use crate::api::Api;
use crate::error::ApiError;

/// The namespaces kube-apiserver creates at start.
pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// How long the CA lives.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long a serving certificate lives; it is reissued at start when
/// less than a third is left.
const SERVING_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why the server's files could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A file or directory could not be read or written.
    #[error("cannot use {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The CA or certificate could not be made or loaded.
    #[error("certificate authority")]
    Ca(#[source] CaError),
    /// The serving certificate could not be used.
    #[error("serving certificate")]
    Svid(#[source] SvidError),
    /// A name in the certificates is not valid.
    #[error("certificate name")]
    Name(#[source] SpiffeIdError),
    /// rustls refused the configuration.
    #[error("TLS configuration")]
    Tls(#[source] rustls::Error),
    /// A file could not be written.
    #[error("cannot write a file")]
    Write(#[source] causeway_identity::pem::PemError),
    /// A default object could not be created.
    #[error("creating {what}: {source}")]
    Create {
        /// What.
        what: String,
        /// Why.
        #[source]
        source: Box<ApiError>,
    },
}

/// The server's credentials, as kept under its data directory.
#[derive(Debug)]
pub struct Pki {
    /// The CA certificate clients trust, PEM.
    pub ca_pem: String,
    /// The serving certificate and key.
    pub serving: X509Svid,
    /// The admin bearer token.
    pub admin_token: String,
}

impl Pki {
    /// Loads the CA, serving certificate and token from `dir`, making
    /// whatever is missing. `hosts` are the names and addresses the serving
    /// certificate must cover.
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Pki, BootstrapError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BootstrapError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let ca_dir = dir.join("ca");
        let ca = if ca_dir.exists() {
            CertificateAuthority::load(&ca_dir).map_err(BootstrapError::Ca)?
        } else {
            let td = TrustDomain::new("causeway.local").map_err(BootstrapError::Name)?;
            let ca = CertificateAuthority::new_root(td, CA_LIFETIME).map_err(BootstrapError::Ca)?;
            ca.save(&ca_dir).map_err(BootstrapError::Ca)?;
            ca
        };
        let cert_path = dir.join("apiserver.crt");
        let key_path = dir.join("apiserver.key");
        let serving = match X509Svid::load(&cert_path, &key_path) {
            Ok(s) if fresh(&s) && covers(&s, hosts) => s,
            _ => {
                let s = issue_serving(&ca, hosts)?;
                s.write(&cert_path, &key_path)
                    .map_err(BootstrapError::Svid)?;
                s
            }
        };
        let token_path = dir.join("admin.token");
        let admin_token = match std::fs::read_to_string(&token_path) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let bytes: [u8; 32] = rand::random();
                let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                pem::write_private(&token_path, token.as_bytes()).map_err(BootstrapError::Write)?;
                token
            }
        };
        let ca_pem = pem::encode_certs(std::iter::once(ca.root()));
        Ok(Pki {
            ca_pem,
            serving,
            admin_token,
        })
    }

    /// A rustls server configuration offering HTTP/2 and HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, BootstrapError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(BootstrapError::Tls)?
            .with_no_client_auth()
            .with_single_cert(
                self.serving.chain().to_vec(),
                self.serving.key().clone_key(),
            )
            .map_err(BootstrapError::Tls)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// An admin kubeconfig for a server at `url`.
    pub fn kubeconfig(&self, url: &str) -> String {
        kubeconfig(url, &self.ca_pem, &self.admin_token)
    }
}

/// A kubeconfig (YAML is a superset of JSON; this is written as JSON so no
/// YAML library is needed, and kubectl reads it either way).
pub fn kubeconfig(url: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "causeway", "cluster": {"server": url, "certificate-authority-data": ca}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "causeway", "context": {"cluster": "causeway", "user": "admin", "namespace": "default"}}],
        "current-context": "causeway",
        "preferences": {},
    });
    // Serializing a Value cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn fresh(s: &X509Svid) -> bool {
    let now = std::time::SystemTime::now();
    s.renew_at() > now
}

fn covers(s: &X509Svid, hosts: &[String]) -> bool {
    let Some(leaf) = s.chain().first() else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    hosts.iter().all(|h| {
        san.value.general_names.iter().any(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d == h,
            x509_parser::extensions::GeneralName::IPAddress(b) => {
                h.parse::<IpAddr>().is_ok_and(|ip| match ip {
                    IpAddr::V4(v4) => v4.octets().as_slice() == *b,
                    IpAddr::V6(v6) => v6.octets().as_slice() == *b,
                })
            }
            _ => false,
        })
    })
}

fn issue_serving(ca: &CertificateAuthority, hosts: &[String]) -> Result<X509Svid, BootstrapError> {
    let mut dns_names: Vec<String> = vec![
        "localhost".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
    ];
    let mut ip_addresses: Vec<IpAddr> = Vec::new();
    for h in hosts {
        match h.parse::<IpAddr>() {
            Ok(ip) => {
                if !ip_addresses.contains(&ip) {
                    ip_addresses.push(ip);
                }
            }
            Err(_) => {
                if !dns_names.contains(h) {
                    dns_names.push(h.clone());
                }
            }
        }
    }
    let id = SpiffeId::parse(&format!("spiffe://{}/apiserver", ca.trust_domain()))
        .map_err(BootstrapError::Name)?;
    ca.issue(&SvidRequest {
        spiffe_id: id,
        dns_names,
        ip_addresses,
        ttl: SERVING_LIFETIME,
    })
    .map_err(BootstrapError::Ca)
}

/// Creates the default namespaces that do not exist yet, and starts the
/// server's own controllers (namespace termination, CRDs).
pub async fn default_objects(api: &Arc<Api>) -> Result<(), BootstrapError> {
    for ns in DEFAULT_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match crate::rest::write::create_internal(api, "", "v1", "namespaces", body).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(source) => {
                return Err(BootstrapError::Create {
                    what: format!("namespace {ns}"),
                    source: Box::new(source),
                });
            }
        }
    }
    crate::controllers::resume(api).await;
    crate::crd::Controller::start(api).await;
    Ok(())
}
