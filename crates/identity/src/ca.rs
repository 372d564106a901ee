//! Certificate authorities: roots, per-cluster intermediates, and the X.509-SVIDs they issue.
//!
//! A CA lives in a directory: `ca.crt` (this CA, then its chain up to the root), `ca.key`
//! (mode 0600), and `state.json` (what rotation and the bundle need to remember). Both trust
//! models are first-class: a root per cluster, each its own trust domain (SPIRE federation),
//! or one shared root with an intermediate per cluster (Linkerd, Istio).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::SecureRandom;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};

use crate::bundle::TrustBundle;
use crate::jwt::JwtSigner;
use crate::pem::{self, PemError};
use crate::spiffe_id::{SpiffeId, TrustDomain};
use crate::svid::{self, SvidError, X509Svid};

/// Ten years, the default lifetime of a root.
pub const DEFAULT_ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// One year, the default lifetime of an intermediate.
pub const DEFAULT_INTERMEDIATE_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// One day, the default lifetime of an SVID.
pub const DEFAULT_SVID_TTL: Duration = Duration::from_secs(86_400);
/// Certificates are back-dated by this much so that a peer whose clock is a little behind
/// does not see them as not yet valid.
const BACKDATE: Duration = Duration::from_secs(60);
/// SVIDs are back-dated less: they are short-lived, and renewal at half-life counts from
/// their start.
const LEAF_BACKDATE: Duration = Duration::from_secs(10);

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Generating a key or signing a certificate failed.
    #[error("cannot {what}")]
    Generate {
        /// What was being done.
        what: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A CA directory already holds a CA and overwriting was not asked for.
    #[error("{0} already holds a CA; refusing to overwrite it")]
    Exists(PathBuf),
    /// A CA directory could not be created.
    #[error("cannot create {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing PEM failed.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// A CA certificate does not follow the signing-certificate rules.
    #[error("{path} is not a usable CA certificate")]
    BadCaCert {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<SvidError>,
    },
    /// The private key does not belong to the certificate.
    #[error("{0} does not match the public key of the CA certificate")]
    KeyMismatch(PathBuf),
    /// An issued certificate does not pass causeway's own checks.
    #[error("issued certificate fails the X.509-SVID checks")]
    Issued(#[source] Box<SvidError>),
    /// The requested ID belongs to another trust domain.
    #[error("{id} is not in this CA's trust domain {trust_domain}")]
    WrongTrustDomain {
        /// The requested ID.
        id: SpiffeId,
        /// The CA's trust domain.
        trust_domain: TrustDomain,
    },
    /// The CA has expired and can sign nothing.
    #[error("the CA expired at {0:?}")]
    Expired(SystemTime),
    /// `state.json` is unreadable.
    #[error("{path} is not valid CA state")]
    State {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A DNS name is not valid in a certificate.
    #[error("{0:?} is not a valid DNS name for a certificate")]
    BadDnsName(String),
    /// The JWT signing key could not be made or read.
    #[error("JWT signing key is unusable")]
    Jwt(#[source] Box<crate::jwt::JwtError>),
    /// The CA directory has no JWT key.
    #[error("{0} has no JWT signing key ({JWT_KEY_FILE})")]
    NoJwtKey(PathBuf),
    /// Rotation of an intermediate needs its parent.
    #[error("{0} holds an intermediate; rotate it with the root directory given")]
    NeedsParent(PathBuf),
}

/// What to put in an X.509-SVID.
#[derive(Debug, Clone)]
pub struct SvidRequest {
    /// The SPIFFE ID; it must have a path and be in the CA's trust domain.
    pub spiffe_id: SpiffeId,
    /// DNS SANs, for peers that check host names.
    pub dns_names: Vec<String>,
    /// IP address SANs, for peers that reach the holder by address (an API
    /// server at `https://127.0.0.1:6443`).
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// Requested lifetime; it is cut short at the CA's own expiry.
    pub ttl: Duration,
}

/// A certificate authority: its certificate chain and signing key.
#[derive(Debug)]
pub struct CertificateAuthority {
    trust_domain: TrustDomain,
    /// This CA first, then its issuers, ending with the root.
    chain: Vec<CertificateDer<'static>>,
    key: KeyPair,
    not_after: SystemTime,
}

impl CertificateAuthority {
    /// Makes a self-signed root for a trust domain.
    pub fn new_root(trust_domain: TrustDomain, lifetime: Duration) -> Result<Self, CaError> {
        let key = generate_key()?;
        let now = SystemTime::now();
        let params = ca_params(&trust_domain, "root", now, now + lifetime, None)?;
        let cert = params
            .self_signed(&key)
            .map_err(|source| CaError::Generate {
                what: "self-sign the root",
                source,
            })?;
        Ok(Self {
            trust_domain,
            chain: vec![cert.der().clone()],
            key,
            not_after: now + lifetime,
        })
    }

    /// Makes an intermediate signed by this CA. Its lifetime is cut at this CA's expiry.
    /// The trust domain may be this CA's or another (a per-cluster intermediate under a
    /// shared root).
    pub fn new_intermediate(
        &self,
        trust_domain: TrustDomain,
        lifetime: Duration,
    ) -> Result<Self, CaError> {
        let now = SystemTime::now();
        self.check_usable(now)?;
        let not_after = (now + lifetime).min(self.not_after);
        let key = generate_key()?;
        let params = ca_params(&trust_domain, "intermediate", now, not_after, Some(0))?;
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(|source| CaError::Generate {
                what: "sign the intermediate",
                source,
            })?;
        let mut chain = vec![cert.der().clone()];
        chain.extend(self.chain.iter().cloned());
        Ok(Self {
            trust_domain,
            chain,
            key,
            not_after,
        })
    }

    /// Issues an X.509-SVID that follows the specification: one URI SAN, cA=false, a
    /// critical key usage of digitalSignature, serverAuth and clientAuth.
    pub fn issue(&self, req: &SvidRequest) -> Result<X509Svid, CaError> {
        if !req.spiffe_id.path().is_empty() && req.spiffe_id.trust_domain() != &self.trust_domain {
            return Err(CaError::WrongTrustDomain {
                id: req.spiffe_id.clone(),
                trust_domain: self.trust_domain.clone(),
            });
        }
        if req.spiffe_id.path().is_empty() {
            return Err(CaError::Issued(Box::new(SvidError::LeafWithoutPath(
                req.spiffe_id.clone(),
            ))));
        }
        let now = SystemTime::now();
        self.check_usable(now)?;
        let not_after = (now + req.ttl).min(self.not_after);
        let key = generate_key()?;
        let mut params = CertificateParams::default();
        params.not_before = (now - LEAF_BACKDATE).into();
        params.not_after = not_after.into();
        params.serial_number = Some(random_serial()?);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "causeway");
        if let Some(first) = req.dns_names.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        params.subject_alt_names = vec![uri_san(&req.spiffe_id)?];
        for name in &req.dns_names {
            let ia5 = name
                .as_str()
                .try_into()
                .map_err(|_| CaError::BadDnsName(name.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for ip in &req.ip_addresses {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(|source| CaError::Generate {
                what: "sign the SVID",
                source,
            })?;
        // The root is left out: peers hold it in their bundle, and sending it only costs bytes.
        let mut chain = vec![cert.der().clone()];
        // The chain is never empty, so `len() - 1` cannot underflow.
        chain.extend(self.chain[..self.chain.len() - 1].iter().cloned());
        X509Svid::new(chain, private_key(&key)).map_err(|e| CaError::Issued(Box::new(e)))
    }

    /// The trust domain this CA issues for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// This CA's certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        // Never empty: every constructor puts this CA's certificate first.
        &self.chain[0]
    }

    /// This CA's certificate followed by its issuers up to the root.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The root at the top of the chain: the trust anchor peers need.
    pub fn root(&self) -> &CertificateDer<'static> {
        // The chain is never empty: every constructor puts this CA's certificate first.
        &self.chain[self.chain.len() - 1]
    }

    /// Whether this CA is a self-signed root.
    pub fn is_root(&self) -> bool {
        self.chain.len() == 1
    }

    /// When this CA expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Writes `ca.crt` and `ca.key` (mode 0600) into `dir`, creating it.
    pub fn save(&self, dir: &Path) -> Result<(), CaError> {
        std::fs::create_dir_all(dir).map_err(|source| CaError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        pem::write_private(&dir.join(KEY_FILE), self.key.serialize_pem().as_bytes())?;
        pem::write_public(
            &dir.join(CERT_FILE),
            pem::encode_certs(&self.chain).as_bytes(),
        )?;
        Ok(())
    }

    /// Reads a CA from `dir/ca.crt` and `dir/ca.key`, checking that the certificate is a
    /// signing certificate and that the key matches it.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let chain = pem::read_certs(&cert_path)?;
        let key_pem = pem::read(&key_path)?;
        let key_text = String::from_utf8_lossy(&key_pem);
        let key = KeyPair::from_pem(&key_text).map_err(|source| CaError::Generate {
            what: "read the CA key",
            source,
        })?;
        let bad = |source| CaError::BadCaCert {
            path: cert_path.clone(),
            source: Box::new(source),
        };
        // `read_certs` refuses a file without certificates, so `chain[0]` exists.
        let id = svid::check_signing_cert(&chain[0])
            .map_err(bad)?
            .ok_or_else(|| bad(SvidError::NoUriSan))?;
        let info = svid::cert_info(&chain[0]).map_err(bad)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&chain[0])
            .map_err(|e| bad(SvidError::Parse(e.to_string())))?;
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CaError::KeyMismatch(key_path));
        }
        Ok(Self {
            trust_domain: id.trust_domain().clone(),
            chain,
            key,
            not_after: info.not_after,
        })
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, CaError> {
        Issuer::from_ca_cert_der(&self.chain[0], &self.key).map_err(|source| CaError::Generate {
            what: "use the CA certificate as an issuer",
            source,
        })
    }

    fn check_usable(&self, now: SystemTime) -> Result<(), CaError> {
        if now >= self.not_after {
            return Err(CaError::Expired(self.not_after));
        }
        Ok(())
    }
}

/// The certificate file of a CA directory.
pub const CERT_FILE: &str = "ca.crt";
/// The key file of a CA directory.
pub const KEY_FILE: &str = "ca.key";
const STATE_FILE: &str = "state.json";
/// The JWT-SVID signing key of a CA directory.
pub const JWT_KEY_FILE: &str = "jwt.key";
const NEXT_DIR: &str = "next";

/// An anchor kept in the bundle after rotation until everything it signed has expired.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetiredAnchor {
    /// The anchor, PEM.
    pub certificate: String,
    /// Unix time after which nothing it signed is still valid.
    pub drop_after: u64,
}

/// What a CA directory remembers between commands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CaState {
    /// The bundle's sequence number, increased on every change of its anchors.
    pub sequence: u64,
    /// Unix time of the latest expiry of anything this CA signed.
    pub issued_until: u64,
    /// Previous anchors still trusted.
    pub retired: Vec<RetiredAnchor>,
    /// SVIDs issued and not yet expired, for `causeway ca check`.
    #[serde(default)]
    pub leaves: Vec<IssuedLeaf>,
    /// Unix time of the latest expiry of a JWT-SVID this CA's JWT key signed.
    #[serde(default)]
    pub jwt_issued_until: u64,
    /// Previous JWT keys still published.
    #[serde(default)]
    pub retired_jwt: Vec<RetiredJwtKey>,
}

/// A JWT key kept in the bundle after rotation until the tokens it signed have expired.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetiredJwtKey {
    /// The public key.
    pub jwk: crate::jwk::Jwk,
    /// Unix time after which no token it signed is valid.
    pub drop_after: u64,
}

/// An SVID this CA issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedLeaf {
    /// Its SPIFFE ID.
    pub spiffe_id: String,
    /// Its serial number, hex.
    pub serial: String,
    /// Unix time it became valid.
    #[serde(default)]
    pub not_before: u64,
    /// Unix time of its expiry.
    pub not_after: u64,
}

/// What `rotate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStep {
    /// A new CA was made and published in the bundle; it signs nothing yet.
    Staged,
    /// The staged CA now signs; the old anchor stays in the bundle until `drop_after`.
    Activated {
        /// Unix time the old anchor leaves the bundle.
        drop_after: u64,
    },
    /// An intermediate was replaced by a new one under the same root, which needs no
    /// change to the bundle.
    Replaced,
}

/// A CA directory: the active CA, a CA staged for rotation, and previous anchors.
#[derive(Debug)]
pub struct CaDir {
    dir: PathBuf,
    active: CertificateAuthority,
    next: Option<CertificateAuthority>,
    jwt: Option<JwtSigner>,
    next_jwt: Option<JwtSigner>,
    state: CaState,
}

impl CaDir {
    /// Creates a root CA in `dir`. Refuses to overwrite an existing CA.
    pub fn init(
        dir: &Path,
        trust_domain: TrustDomain,
        lifetime: Duration,
    ) -> Result<Self, CaError> {
        let ca = CertificateAuthority::new_root(trust_domain, lifetime)?;
        Self::create(dir, ca)
    }

    /// Creates an intermediate of `parent` in `dir`.
    pub fn init_intermediate(
        parent: &mut CaDir,
        dir: &Path,
        trust_domain: TrustDomain,
        lifetime: Duration,
    ) -> Result<Self, CaError> {
        let ca = parent.active.new_intermediate(trust_domain, lifetime)?;
        parent.record_issued(ca.not_after)?;
        Self::create(dir, ca)
    }

    fn create(dir: &Path, ca: CertificateAuthority) -> Result<Self, CaError> {
        if dir.join(CERT_FILE).exists() || dir.join(KEY_FILE).exists() {
            return Err(CaError::Exists(dir.to_owned()));
        }
        ca.save(dir)?;
        let jwt = JwtSigner::generate().map_err(|e| CaError::Jwt(Box::new(e)))?;
        jwt.save(&dir.join(JWT_KEY_FILE))
            .map_err(|e| CaError::Jwt(Box::new(e)))?;
        let this = Self {
            dir: dir.to_owned(),
            active: ca,
            next: None,
            jwt: Some(jwt),
            next_jwt: None,
            state: CaState {
                sequence: 1,
                ..CaState::default()
            },
        };
        this.save_state()?;
        Ok(this)
    }

    /// Opens an existing CA directory.
    pub fn open(dir: &Path) -> Result<Self, CaError> {
        let active = CertificateAuthority::load(dir)?;
        let next_dir = dir.join(NEXT_DIR);
        let next = if next_dir.join(CERT_FILE).exists() {
            Some(CertificateAuthority::load(&next_dir)?)
        } else {
            None
        };
        let state_path = dir.join(STATE_FILE);
        let state = if state_path.exists() {
            serde_json::from_slice(&pem::read(&state_path)?).map_err(|source| CaError::State {
                path: state_path,
                source,
            })?
        } else {
            CaState {
                sequence: 1,
                ..CaState::default()
            }
        };
        Ok(Self {
            dir: dir.to_owned(),
            active,
            next,
            jwt: load_jwt(&dir.join(JWT_KEY_FILE))?,
            next_jwt: load_jwt(&next_dir.join(JWT_KEY_FILE))?,
            state,
        })
    }

    /// The active CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.active
    }

    /// The CA staged by rotation, if any.
    pub fn staged(&self) -> Option<&CertificateAuthority> {
        self.next.as_ref()
    }

    /// The remembered state.
    pub fn state(&self) -> &CaState {
        &self.state
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Issues an SVID with the active CA and remembers its expiry for rotation.
    pub fn issue(&mut self, req: &SvidRequest) -> Result<X509Svid, CaError> {
        let svid = self.active.issue(req)?;
        let now = unix(SystemTime::now());
        // Expired leaves were replaced or abandoned; keeping them would only grow the file.
        self.state.leaves.retain(|l| l.not_after > now);
        // An X509Svid always has its leaf.
        let serial = svid::cert_info(&svid.chain()[0])
            .map(|i| i.serial)
            .unwrap_or_default();
        self.state.leaves.push(IssuedLeaf {
            spiffe_id: svid.spiffe_id().to_string(),
            serial,
            not_before: unix(svid.not_before()),
            not_after: unix(svid.not_after()),
        });
        self.state.issued_until = self.state.issued_until.max(unix(svid.not_after()));
        self.save_state()?;
        Ok(svid)
    }

    /// The anchors peers must trust now: the active root, a staged root, and retired
    /// roots whose signatures may still be in use at `now`.
    pub fn anchors(&self, now: SystemTime) -> Vec<CertificateDer<'static>> {
        let mut out = vec![self.active.root().clone()];
        if let Some(next) = &self.next {
            out.push(next.root().clone());
        }
        let now = unix(now);
        for r in &self.state.retired {
            if r.drop_after >= now
                && let Ok(certs) = pem::decode_certs(r.certificate.as_bytes(), "retired anchor")
            {
                out.extend(certs);
            }
        }
        let mut seen = Vec::new();
        out.retain(|c| {
            let fresh = !seen.contains(c);
            seen.push(c.clone());
            fresh
        });
        out
    }

    /// The trust domain's SPIFFE bundle.
    pub fn bundle(&self, now: SystemTime) -> TrustBundle {
        let mut b = TrustBundle::new(self.active.trust_domain().clone());
        for a in self.anchors(now) {
            b.add_x509_authority(a);
        }
        for jwt in self.jwt.iter().chain(&self.next_jwt) {
            b.add_jwt_authority(jwt.kid().to_owned(), jwt.public_jwk());
        }
        for r in &self.state.retired_jwt {
            if let (true, Some(kid)) = (r.drop_after >= unix(now), &r.jwk.kid) {
                b.add_jwt_authority(kid.clone(), r.jwk.clone());
            }
        }
        b.set_sequence(self.state.sequence);
        b
    }

    /// Mints a JWT-SVID with the active JWT key and remembers its expiry for rotation.
    pub fn mint_jwt_svid(
        &mut self,
        id: &SpiffeId,
        audience: &[String],
        ttl: Duration,
    ) -> Result<String, CaError> {
        if id.trust_domain() != self.active.trust_domain() {
            return Err(CaError::WrongTrustDomain {
                id: id.clone(),
                trust_domain: self.active.trust_domain().clone(),
            });
        }
        let signer = self
            .jwt
            .as_ref()
            .ok_or_else(|| CaError::NoJwtKey(self.dir.clone()))?;
        let token = signer
            .mint_svid(id, audience, ttl)
            .map_err(|e| CaError::Jwt(Box::new(e)))?;
        let exp = unix(SystemTime::now() + ttl);
        if exp > self.state.jwt_issued_until {
            self.state.jwt_issued_until = exp;
            self.save_state()?;
        }
        Ok(token)
    }

    /// The key that signs this trust domain's JWT-SVIDs, if the directory has one.
    pub fn jwt_signer(&self) -> Option<&JwtSigner> {
        self.jwt.as_ref()
    }

    /// Drives rotation one step. A root is rotated in two steps so that the new anchor is
    /// in every peer's bundle before it signs anything: the first call stages a new root
    /// and publishes it, the second makes it the signer and keeps the old root trusted until
    /// the last certificate it signed has expired. An intermediate is replaced at once
    /// under `parent`, since its root, the only anchor peers hold, does not change.
    pub fn rotate(
        &mut self,
        parent: Option<&mut CaDir>,
        lifetime: Duration,
    ) -> Result<RotationStep, CaError> {
        if !self.active.is_root() {
            let parent = parent.ok_or_else(|| CaError::NeedsParent(self.dir.clone()))?;
            let fresh = parent
                .active
                .new_intermediate(self.active.trust_domain().clone(), lifetime)?;
            parent.record_issued(fresh.not_after)?;
            fresh.save(&self.dir)?;
            self.active = fresh;
            return Ok(RotationStep::Replaced);
        }
        match self.next.take() {
            None => {
                let fresh =
                    CertificateAuthority::new_root(self.active.trust_domain().clone(), lifetime)?;
                fresh.save(&self.dir.join(NEXT_DIR))?;
                // The next JWT key is published with the next root, before it signs.
                let jwt = JwtSigner::generate().map_err(|e| CaError::Jwt(Box::new(e)))?;
                jwt.save(&self.dir.join(NEXT_DIR).join(JWT_KEY_FILE))
                    .map_err(|e| CaError::Jwt(Box::new(e)))?;
                self.next_jwt = Some(jwt);
                self.next = Some(fresh);
                self.state.sequence += 1;
                self.save_state()?;
                Ok(RotationStep::Staged)
            }
            Some(next) => {
                let drop_after = self.state.issued_until.max(unix(SystemTime::now()));
                self.state.retired.push(RetiredAnchor {
                    certificate: pem::encode_certs([self.active.root()]),
                    drop_after,
                });
                next.save(&self.dir)?;
                let next_dir = self.dir.join(NEXT_DIR);
                if let Some(jwt) = self.next_jwt.take() {
                    jwt.save(&self.dir.join(JWT_KEY_FILE))
                        .map_err(|e| CaError::Jwt(Box::new(e)))?;
                    if let Some(old) = self.jwt.replace(jwt) {
                        self.state.retired_jwt.push(RetiredJwtKey {
                            jwk: old.public_jwk(),
                            drop_after: self.state.jwt_issued_until.max(unix(SystemTime::now())),
                        });
                    }
                    self.state.jwt_issued_until = 0;
                }
                for f in [CERT_FILE, KEY_FILE, JWT_KEY_FILE] {
                    let _ = std::fs::remove_file(next_dir.join(f));
                }
                let _ = std::fs::remove_dir(&next_dir);
                self.active = next;
                self.state.issued_until = 0;
                self.state.sequence += 1;
                self.save_state()?;
                Ok(RotationStep::Activated { drop_after })
            }
        }
    }

    /// Forgets retired anchors and JWT keys whose certificates and tokens have all expired.
    /// Returns how many.
    pub fn prune(&mut self, now: SystemTime) -> Result<usize, CaError> {
        let now = unix(now);
        let before = self.state.retired.len();
        self.state.retired.retain(|r| r.drop_after >= now);
        let jwt_before = self.state.retired_jwt.len();
        self.state.retired_jwt.retain(|r| r.drop_after >= now);
        let dropped = before - self.state.retired.len() + jwt_before - self.state.retired_jwt.len();
        if dropped > 0 {
            self.state.sequence += 1;
            self.save_state()?;
        }
        Ok(dropped)
    }

    fn record_issued(&mut self, not_after: SystemTime) -> Result<(), CaError> {
        let t = unix(not_after);
        if t > self.state.issued_until {
            self.state.issued_until = t;
            self.save_state()?;
        }
        Ok(())
    }

    fn save_state(&self) -> Result<(), CaError> {
        let path = self.dir.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(&self.state).map_err(|source| CaError::State {
            path: path.clone(),
            source,
        })?;
        pem::write_public(&path, &json)?;
        Ok(())
    }
}

fn load_jwt(path: &Path) -> Result<Option<JwtSigner>, CaError> {
    if !path.exists() {
        return Ok(None);
    }
    JwtSigner::load(path)
        .map(Some)
        .map_err(|e| CaError::Jwt(Box::new(e)))
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn generate_key() -> Result<KeyPair, CaError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| CaError::Generate {
        what: "generate an ECDSA P-256 key",
        source,
    })
}

fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
    // A serial number must be positive; clearing the top bit keeps the DER integer so.
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn uri_san(id: &SpiffeId) -> Result<SanType, CaError> {
    let ia5 = id
        .to_string()
        .try_into()
        .map_err(|source| CaError::Generate {
            what: "encode the URI SAN",
            source,
        })?;
    Ok(SanType::URI(ia5))
}

fn ca_params(
    td: &TrustDomain,
    kind: &str,
    not_before: SystemTime,
    not_after: SystemTime,
    path_len: Option<u8>,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.not_before = (not_before - BACKDATE).into();
    params.not_after = not_after.into();
    params.serial_number = Some(random_serial()?);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "causeway");
    dn.push(DnType::CommonName, format!("causeway {kind} CA {td}"));
    params.distinguished_name = dn;
    // Signing certificates carry the trust domain's own ID, with no path.
    params.subject_alt_names = vec![uri_san(&td.id())?];
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = path_len.is_some();
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td(s: &str) -> TrustDomain {
        TrustDomain::new(s).unwrap()
    }

    #[test]
    fn issues_svids_that_pass_the_leaf_rules() {
        let root = CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
        let int = root
            .new_intermediate(td("a.example"), DEFAULT_INTERMEDIATE_LIFETIME)
            .unwrap();
        let svid = int
            .issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: SpiffeId::parse("spiffe://a.example/ns/x/sa/y").unwrap(),
                dns_names: vec!["web.x.svc".into()],
                ttl: Duration::from_secs(3600),
            })
            .unwrap();
        assert_eq!(svid.chain().len(), 2, "leaf and intermediate, not the root");
        let info = svid::check_leaf(&svid.chain()[0]).unwrap();
        assert_eq!(info.spiffe_id.to_string(), "spiffe://a.example/ns/x/sa/y");
        assert!(svid::check_signing_cert(&svid.chain()[1]).is_ok());
        assert!(svid.not_after() <= int.not_after());
    }

    #[test]
    fn refuses_ids_of_other_trust_domains() {
        let root = CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
        let err = root
            .issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: SpiffeId::parse("spiffe://b.example/x").unwrap(),
                dns_names: vec![],
                ttl: DEFAULT_SVID_TTL,
            })
            .unwrap_err();
        assert!(matches!(err, CaError::WrongTrustDomain { .. }), "{err}");
    }
}
