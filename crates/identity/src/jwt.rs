//! JSON Web Tokens: compact JWS parsing and signature checks on ring, claim checks, and
//! JWT-SVIDs as the JWT-SVID specification defines them.
//!
//! Only asymmetric algorithms are accepted. `none` and the HMAC family are refused before
//! any key is looked at, so a token cannot choose to be checked with a public key as an
//! HMAC secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bundle::TrustStore;
use crate::jwk::{EcCurve, Jwk, JwkError, PublicJwk};
use crate::pem;
use crate::spiffe_id::{SpiffeId, SpiffeIdError};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Why a token was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The token is not three base64url parts separated by dots.
    #[error("token is not a compact JWS: {0}")]
    Malformed(&'static str),
    /// A part is not valid JSON.
    #[error("token {part} is not valid JSON")]
    Json {
        /// `header` or `claims`.
        part: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The algorithm is `none`, symmetric, or unknown.
    #[error(
        "algorithm {0:?} is not allowed; only ES256, ES384, RS256, RS384, RS512, PS256, PS384 and PS512 are"
    )]
    AlgorithmNotAllowed(String),
    /// The header has no `kid` but one is needed to pick the key.
    #[error("token header has no kid")]
    MissingKid,
    /// No trusted key has this `kid`.
    #[error("no trusted key has kid {0:?}")]
    UnknownKid(String),
    /// The key cannot be used with the token's algorithm.
    #[error("key {kid:?} cannot verify {alg} signatures")]
    KeyMismatch {
        /// The key's ID.
        kid: String,
        /// The token's algorithm.
        alg: String,
    },
    /// The key is unusable.
    #[error("key is unusable")]
    Key(#[source] JwkError),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A required claim is missing or of the wrong type.
    #[error("claim {0:?} is missing or has the wrong type")]
    MissingClaim(&'static str),
    /// The audience does not include the expected one.
    #[error("audience {got:?} does not include {expected:?}")]
    WrongAudience {
        /// The audience wanted.
        expected: String,
        /// The token's audience.
        got: Vec<String>,
    },
    /// The issuer is not the expected one.
    #[error("issuer {got:?} is not {expected:?}")]
    WrongIssuer {
        /// The issuer wanted.
        expected: String,
        /// The token's issuer.
        got: String,
    },
    /// The token has expired.
    #[error("token expired at {0} (unix time)")]
    Expired(u64),
    /// The token is not valid yet.
    #[error("token is not valid before {0} (unix time)")]
    NotYetValid(u64),
    /// The subject of a JWT-SVID is not a SPIFFE ID.
    #[error("subject is not a valid SPIFFE ID")]
    BadSubject(#[source] SpiffeIdError),
    /// No bundle is held for the subject's trust domain.
    #[error("no trust bundle for trust domain {0}")]
    UnknownTrustDomain(String),
    /// Signing failed.
    #[error("cannot sign the token")]
    Sign,
    /// The signing key could not be read or written.
    #[error("signing key is unusable: {0}")]
    SigningKey(String),
    /// Reading or writing the key file failed.
    #[error(transparent)]
    Pem(#[from] pem::PemError),
}

/// The asymmetric algorithms causeway verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// RSASSA-PSS SHA-384.
    PS384,
    /// RSASSA-PSS SHA-512.
    PS512,
}

impl Algorithm {
    /// Parses a JOSE `alg`, refusing everything not listed.
    pub fn parse(alg: &str) -> Result<Self, JwtError> {
        Ok(match alg {
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            other => return Err(JwtError::AlgorithmNotAllowed(other.to_owned())),
        })
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
        }
    }

    /// Checks `sig` over `message` with `key`.
    pub fn verify(
        self,
        key: &PublicJwk,
        message: &[u8],
        sig: &[u8],
        kid: &str,
    ) -> Result<(), JwtError> {
        let mismatch = || JwtError::KeyMismatch {
            kid: kid.to_owned(),
            alg: self.name().to_owned(),
        };
        let ok = match (self, key) {
            (
                Self::ES256,
                PublicJwk::Ec {
                    curve: EcCurve::P256,
                    point,
                },
            ) => signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig),
            (
                Self::ES384,
                PublicJwk::Ec {
                    curve: EcCurve::P384,
                    point,
                },
            ) => signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                .verify(message, sig),
            (Self::ES256 | Self::ES384, _) => return Err(mismatch()),
            (_, PublicJwk::Rsa { n, e }) => {
                let params: &signature::RsaParameters = match self {
                    Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                signature::RsaPublicKeyComponents { n, e }.verify(params, message, sig)
            }
            (_, PublicJwk::Ec { .. }) => return Err(mismatch()),
        };
        ok.map_err(|_| JwtError::BadSignature)
    }
}

/// The JOSE header fields causeway reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// The algorithm.
    pub alg: String,
    /// The key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The token type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// A token split into its parts, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl UnverifiedToken {
    /// Splits and decodes a compact JWS; refuses disallowed algorithms at once.
    pub fn parse(token: &str) -> Result<Self, JwtError> {
        let mut parts = token.trim().split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("expected three dot-separated parts"));
        };
        let decode = |p: &str, what: &'static str| {
            URL_SAFE_NO_PAD
                .decode(p)
                .map_err(|_| JwtError::Malformed(what))
        };
        let header: Header = serde_json::from_slice(&decode(h, "header is not base64url")?)
            .map_err(|source| JwtError::Json {
                part: "header",
                source,
            })?;
        Algorithm::parse(&header.alg)?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&decode(c, "claims are not base64url")?).map_err(|source| {
                JwtError::Json {
                    part: "claims",
                    source,
                }
            })?;
        let signature = decode(s, "signature is not base64url")?;
        Ok(Self {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature,
        })
    }

    /// The algorithm (already known to be allowed).
    pub fn algorithm(&self) -> Result<Algorithm, JwtError> {
        Algorithm::parse(&self.header.alg)
    }

    /// The `kid`, required.
    pub fn kid(&self) -> Result<&str, JwtError> {
        self.header.kid.as_deref().ok_or(JwtError::MissingKid)
    }

    /// Checks the signature with `jwk`, whose `alg`, when it has one, must match.
    pub fn verify_with(&self, jwk: &Jwk) -> Result<(), JwtError> {
        let alg = self.algorithm()?;
        let kid = self.header.kid.clone().unwrap_or_default();
        if let Some(key_alg) = &jwk.alg
            && key_alg != alg.name()
        {
            return Err(JwtError::KeyMismatch {
                kid,
                alg: alg.name().into(),
            });
        }
        let key = jwk.public_key().map_err(JwtError::Key)?;
        alg.verify(&key, self.signing_input.as_bytes(), &self.signature, &kid)
    }

    /// A string claim.
    pub fn string_claim(&self, name: &'static str) -> Result<&str, JwtError> {
        self.claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(JwtError::MissingClaim(name))
    }

    /// The audience, a string or a list of strings.
    pub fn audience(&self) -> Result<Vec<String>, JwtError> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::MissingClaim("aud")),
            _ => Err(JwtError::MissingClaim("aud")),
        }
    }

    /// Checks that the audience includes one of `accepted`.
    pub fn check_audience(&self, accepted: &[String]) -> Result<(), JwtError> {
        let aud = self.audience()?;
        if aud.iter().any(|a| accepted.contains(a)) {
            Ok(())
        } else {
            Err(JwtError::WrongAudience {
                expected: accepted.join(" or "),
                got: aud,
            })
        }
    }

    /// Checks `exp` (required) and `nbf` (when present) at `now`, with [`LEEWAY`].
    pub fn check_times(&self, now: SystemTime) -> Result<(), JwtError> {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let leeway = LEEWAY.as_secs();
        let num = |name: &'static str| -> Result<Option<u64>, JwtError> {
            match self.claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or(JwtError::MissingClaim(name)),
            }
        };
        let exp = num("exp")?.ok_or(JwtError::MissingClaim("exp"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(JwtError::Expired(exp));
        }
        if let Some(nbf) = num("nbf")?
            && now.saturating_add(leeway) < nbf
        {
            return Err(JwtError::NotYetValid(nbf));
        }
        Ok(())
    }
}

/// An ES256 key that signs JWT-SVIDs (or an issuer's tokens).
#[derive(Debug)]
pub struct JwtSigner {
    kid: String,
    pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
}

impl JwtSigner {
    /// A new random P-256 key; its `kid` is its RFC 7638 thumbprint.
    pub fn generate() -> Result<Self, JwtError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| JwtError::SigningKey("cannot generate a P-256 key".into()))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, JwtError> {
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| JwtError::SigningKey(e.to_string()))?;
        let mut this = Self {
            kid: String::new(),
            pkcs8: pkcs8.to_vec(),
            key,
        };
        this.kid = this.thumbprint();
        Ok(this)
    }

    /// Reads a PEM PKCS#8 key file.
    pub fn load(path: &std::path::Path) -> Result<Self, JwtError> {
        let key = pem::read_key(path)?;
        Self::from_pkcs8(key.secret_der())
    }

    /// Writes the key as PEM with mode 0600.
    pub fn save(&self, path: &std::path::Path) -> Result<(), JwtError> {
        pem::write_private(path, pem::encode("PRIVATE KEY", &self.pkcs8).as_bytes())?;
        Ok(())
    }

    /// The key ID.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, with `kid` and `alg`.
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_public(&PublicJwk::Ec {
            curve: EcCurve::P256,
            point: self.key.public_key().as_ref().to_vec(),
        });
        jwk.kid = Some(self.kid.clone());
        jwk.alg = Some("ES256".into());
        jwk
    }

    fn thumbprint(&self) -> String {
        let jwk = Jwk::from_public(&PublicJwk::Ec {
            curve: EcCurve::P256,
            point: self.key.public_key().as_ref().to_vec(),
        });
        // RFC 7638: the required members, in lexicographic order, without whitespace.
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.x.unwrap_or_default(),
            jwk.y.unwrap_or_default()
        );
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// Signs claims into a compact JWS with `typ`.
    pub fn sign(&self, claims: &Map<String, Value>, typ: &str) -> Result<String, JwtError> {
        let header = Header {
            alg: "ES256".into(),
            kid: Some(self.kid.clone()),
            typ: Some(typ.into()),
        };
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| JwtError::Sign)?);
        let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| JwtError::Sign)?);
        let input = format!("{h}.{c}");
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| JwtError::Sign)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// Mints a JWT-SVID for `id` with the audiences and lifetime given.
    pub fn mint_svid(
        &self,
        id: &SpiffeId,
        audience: &[String],
        ttl: Duration,
    ) -> Result<String, JwtError> {
        if audience.is_empty() {
            return Err(JwtError::MissingClaim("aud"));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(id.to_string()));
        claims.insert(
            "aud".into(),
            Value::Array(audience.iter().cloned().map(Value::String).collect()),
        );
        claims.insert("exp".into(), Value::from(now + ttl.as_secs()));
        claims.insert("iat".into(), Value::from(now));
        self.sign(&claims, "JWT")
    }
}

/// A verified JWT-SVID.
#[derive(Debug, Clone)]
pub struct JwtSvid {
    /// The subject.
    pub spiffe_id: SpiffeId,
    /// All claims.
    pub claims: Map<String, Value>,
}

/// Verifies a JWT-SVID: an allowed algorithm, a `kid` found among the `jwt-svid` keys of the
/// bundle of the subject's trust domain, a valid signature, `aud` containing `audience`,
/// and `exp` in the future.
pub fn verify_jwt_svid(
    token: &str,
    trust: &TrustStore,
    audience: &str,
    now: SystemTime,
) -> Result<JwtSvid, JwtError> {
    let t = UnverifiedToken::parse(token)?;
    let kid = t.kid()?;
    let sub = t.string_claim("sub")?;
    let id = SpiffeId::parse_workload(sub).map_err(JwtError::BadSubject)?;
    let bundle = trust
        .get(id.trust_domain())
        .ok_or_else(|| JwtError::UnknownTrustDomain(id.trust_domain().to_string()))?;
    let Some(jwk) = bundle.jwt_authority(kid) else {
        trust.report_unknown_key(id.trust_domain());
        return Err(JwtError::UnknownKid(kid.to_owned()));
    };
    t.verify_with(jwk)?;
    t.check_audience(&[audience.to_owned()])?;
    t.check_times(now)?;
    Ok(JwtSvid {
        spiffe_id: id,
        claims: t.claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::TrustBundle;
    use crate::spiffe_id::TrustDomain;

    fn setup() -> (JwtSigner, TrustStore) {
        let signer = JwtSigner::generate().unwrap();
        let mut b = TrustBundle::new(TrustDomain::new("a.example").unwrap());
        b.add_jwt_authority(signer.kid().into(), signer.public_jwk());
        (signer, TrustStore::with([b]))
    }

    fn forge(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn mints_and_verifies() {
        let (signer, trust) = setup();
        let id = SpiffeId::parse("spiffe://a.example/ns/x/sa/y").unwrap();
        let tok = signer
            .mint_svid(&id, &["api".into()], Duration::from_secs(300))
            .unwrap();
        let v = verify_jwt_svid(&tok, &trust, "api", SystemTime::now()).unwrap();
        assert_eq!(v.spiffe_id, id);
        assert!(matches!(
            verify_jwt_svid(&tok, &trust, "other", SystemTime::now()),
            Err(JwtError::WrongAudience { .. })
        ));
        assert!(matches!(
            verify_jwt_svid(
                &tok,
                &trust,
                "api",
                SystemTime::now() + Duration::from_secs(400)
            ),
            Err(JwtError::Expired(_))
        ));
        // A flipped signature byte.
        let mut bad = tok.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(
            verify_jwt_svid(&bad, &trust, "api", SystemTime::now()),
            Err(JwtError::BadSignature)
        ));
    }

    #[test]
    fn refuses_none_hmac_and_malformed_tokens() {
        let (_, trust) = setup();
        let claims = r#"{"sub":"spiffe://a.example/x","aud":"api","exp":99999999999}"#;
        for alg in ["none", "HS256", "NONE", "XYZ"] {
            let tok = forge(&format!(r#"{{"alg":"{alg}","kid":"k"}}"#), claims);
            let err = verify_jwt_svid(&tok, &trust, "api", SystemTime::now()).unwrap_err();
            assert!(
                matches!(err, JwtError::AlgorithmNotAllowed(_)),
                "{alg}: {err}"
            );
        }
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(matches!(
                UnverifiedToken::parse(bad),
                Err(JwtError::Malformed(_))
            ));
        }
        let tok = forge(r#"{"alg":"ES256"}"#, claims);
        assert!(matches!(
            verify_jwt_svid(&tok, &trust, "api", SystemTime::now()),
            Err(JwtError::MissingKid)
        ));
    }
}
