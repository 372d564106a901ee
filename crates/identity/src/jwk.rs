//! JSON Web Keys (RFC 7517) as SPIFFE bundles and OIDC issuers publish them, and their
//! conversion to keys that verify signatures.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// Why a JWK could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// The key type or curve is not supported.
    #[error("unsupported key: kty {kty:?}, crv {crv:?}")]
    Unsupported {
        /// The `kty`.
        kty: String,
        /// The `crv`, if any.
        crv: Option<String>,
    },
    /// A required member is missing.
    #[error("JWK lacks {0:?}")]
    Missing(&'static str),
    /// A member is not valid base64url.
    #[error("JWK member {0:?} is not valid base64url")]
    Base64(&'static str),
    /// The certificate's public key could not be read.
    #[error("cannot read the certificate's public key: {0}")]
    Certificate(String),
}

/// One JSON Web Key. Members causeway does not use are kept, so a key read and written
/// again is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Jwk {
    /// Key type: `EC` or `RSA`.
    pub kty: String,
    /// Intended use; SPIFFE bundles put `x509-svid` or `jwt-svid` here.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Curve of an EC key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// X coordinate of an EC key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Y coordinate of an EC key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Modulus of an RSA key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// Exponent of an RSA key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Certificate chain, standard base64 DER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    /// Other members.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A public key that can verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicJwk {
    /// An EC key on P-256 or P-384, as the uncompressed point `04 || x || y`.
    Ec {
        /// `P-256` or `P-384`.
        curve: EcCurve,
        /// The uncompressed point.
        point: Vec<u8>,
    },
    /// An RSA key.
    Rsa {
        /// Modulus, big-endian.
        n: Vec<u8>,
        /// Exponent, big-endian.
        e: Vec<u8>,
    },
}

/// The EC curves causeway verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    /// NIST P-256, for ES256.
    P256,
    /// NIST P-384, for ES384.
    P384,
}

impl Jwk {
    /// The JWK of a public key, with no `use` or `kid`.
    pub fn from_public(key: &PublicJwk) -> Self {
        let mut jwk = Jwk::default();
        match key {
            PublicJwk::Ec { curve, point } => {
                let len = match curve {
                    EcCurve::P256 => 32,
                    EcCurve::P384 => 48,
                };
                jwk.kty = "EC".into();
                jwk.crv = Some(
                    match curve {
                        EcCurve::P256 => "P-256",
                        EcCurve::P384 => "P-384",
                    }
                    .into(),
                );
                // The point is 04 || x || y; skip the format byte.
                let coords = point.get(1..).unwrap_or_default();
                jwk.x = Some(URL_SAFE_NO_PAD.encode(coords.get(..len).unwrap_or_default()));
                jwk.y = Some(URL_SAFE_NO_PAD.encode(coords.get(len..).unwrap_or_default()));
            }
            PublicJwk::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.n = Some(URL_SAFE_NO_PAD.encode(n));
                jwk.e = Some(URL_SAFE_NO_PAD.encode(e));
            }
        }
        jwk
    }

    /// The public key of this JWK.
    pub fn public_key(&self) -> Result<PublicJwk, JwkError> {
        let b64 = |v: &Option<String>, name: &'static str| -> Result<Vec<u8>, JwkError> {
            let s = v.as_deref().ok_or(JwkError::Missing(name))?;
            URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| JwkError::Base64(name))
        };
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let curve = if crv == "P-256" {
                    EcCurve::P256
                } else {
                    EcCurve::P384
                };
                let mut point = vec![4u8];
                point.extend(b64(&self.x, "x")?);
                point.extend(b64(&self.y, "y")?);
                Ok(PublicJwk::Ec { curve, point })
            }
            ("RSA", _) => Ok(PublicJwk::Rsa {
                n: b64(&self.n, "n")?,
                e: b64(&self.e, "e")?,
            }),
            (kty, crv) => Err(JwkError::Unsupported {
                kty: kty.to_owned(),
                crv: crv.map(str::to_owned),
            }),
        }
    }
}

impl PublicJwk {
    /// The public key of a DER certificate.
    pub fn from_certificate(der: &[u8]) -> Result<Self, JwkError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
            .map_err(|e| JwkError::Certificate(e.to_string()))?;
        let spki = cert.public_key();
        match spki
            .parsed()
            .map_err(|e| JwkError::Certificate(e.to_string()))?
        {
            PublicKey::EC(point) => {
                let curve = match point.key_size() {
                    256 => EcCurve::P256,
                    384 => EcCurve::P384,
                    bits => {
                        return Err(JwkError::Unsupported {
                            kty: "EC".into(),
                            crv: Some(format!("{bits}-bit curve")),
                        });
                    }
                };
                Ok(PublicJwk::Ec {
                    curve,
                    point: point.data().to_vec(),
                })
            }
            PublicKey::RSA(rsa) => Ok(PublicJwk::Rsa {
                n: strip_zeros(rsa.modulus).to_vec(),
                e: strip_zeros(rsa.exponent).to_vec(),
            }),
            _ => Err(JwkError::Unsupported {
                kty: "other".into(),
                crv: None,
            }),
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}
