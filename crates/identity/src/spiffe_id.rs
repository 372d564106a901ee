//! SPIFFE IDs and trust domains, parsed as the SPIFFE-ID specification says.
//!
//! A SPIFFE ID is `spiffe://<trust-domain><path>`. The trust domain is made of lowercase
//! letters, digits, `.`, `-` and `_`; the path is a sequence of `/segment` whose segments
//! use letters, digits, `.`, `-` and `_`, are never empty, and are never `.` or `..`.
//! Anything else (upper case in the trust domain, a port, userinfo, a query, a fragment,
//! percent-encoding) is refused with a reason that names the problem.

use std::fmt;
use std::str::FromStr;

const SCHEME: &str = "spiffe://";
/// The specification caps a trust domain at 255 bytes.
const MAX_TRUST_DOMAIN_LEN: usize = 255;
/// The specification caps a whole SPIFFE ID at 2048 bytes.
const MAX_ID_LEN: usize = 2048;

/// Why a string is not a valid SPIFFE ID or trust domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeIdError {
    /// The input was empty.
    #[error("SPIFFE ID is empty")]
    Empty,
    /// The scheme was not exactly `spiffe://`.
    #[error("SPIFFE ID {0:?} must start with \"spiffe://\" (lowercase)")]
    WrongScheme(String),
    /// No trust domain follows the scheme.
    #[error("SPIFFE ID {0:?} has no trust domain")]
    MissingTrustDomain(String),
    /// The trust domain is longer than 255 bytes.
    #[error("trust domain is {0} bytes long; at most 255 are allowed")]
    TrustDomainTooLong(usize),
    /// The whole ID is longer than 2048 bytes.
    #[error("SPIFFE ID is {0} bytes long; at most 2048 are allowed")]
    TooLong(usize),
    /// The trust domain contains a character the specification does not allow.
    #[error(
        "trust domain {domain:?} contains {ch:?}; only lowercase letters, digits, '.', '-' and '_' are allowed"
    )]
    BadTrustDomainChar {
        /// The trust domain as given.
        domain: String,
        /// The first offending character.
        ch: char,
    },
    /// A port was given after the trust domain.
    #[error("SPIFFE ID {0:?} has a port; SPIFFE IDs may not carry one")]
    Port(String),
    /// Userinfo (`user@`) was given before the trust domain.
    #[error("SPIFFE ID {0:?} has userinfo; SPIFFE IDs may not carry any")]
    UserInfo(String),
    /// A query (`?…`) was given.
    #[error("SPIFFE ID {0:?} has a query; SPIFFE IDs may not carry one")]
    Query(String),
    /// A fragment (`#…`) was given.
    #[error("SPIFFE ID {0:?} has a fragment; SPIFFE IDs may not carry one")]
    Fragment(String),
    /// The path has an empty segment (`//`) or ends with `/`.
    #[error("SPIFFE ID {0:?} has an empty path segment or a trailing '/'")]
    EmptySegment(String),
    /// The path has a `.` or `..` segment.
    #[error("SPIFFE ID {0:?} has a '.' or '..' path segment")]
    DotSegment(String),
    /// The path contains a character the specification does not allow.
    #[error(
        "SPIFFE ID {id:?} has {ch:?} in its path; only letters, digits, '.', '-' and '_' are allowed"
    )]
    BadPathChar {
        /// The SPIFFE ID as given.
        id: String,
        /// The first offending character.
        ch: char,
    },
    /// A workload ID was needed but the ID names only a trust domain.
    #[error("SPIFFE ID {0:?} has no path, so it names a trust domain, not a workload")]
    NoPath(String),
}

/// A SPIFFE trust domain, such as `cluster-a.example`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parses a trust domain name, or a SPIFFE ID of the trust domain (`spiffe://td`).
    pub fn new(name: &str) -> Result<Self, SpiffeIdError> {
        if name.starts_with(SCHEME) || name.contains("://") {
            let id = SpiffeId::parse(name)?;
            if !id.path().is_empty() {
                // A trust domain given as an ID must not smuggle a workload path in.
                return Err(SpiffeIdError::BadTrustDomainChar {
                    domain: name.to_owned(),
                    ch: '/',
                });
            }
            return Ok(id.trust_domain().clone());
        }
        validate_trust_domain(name, name)?;
        Ok(Self(name.to_owned()))
    }

    /// The trust domain's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SPIFFE ID of the trust domain itself (`spiffe://td`), which CA certificates carry.
    pub fn id(&self) -> SpiffeId {
        SpiffeId {
            trust_domain: self.clone(),
            path: String::new(),
        }
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TrustDomain {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A SPIFFE ID: a trust domain and a path, which may be empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    /// Empty, or `/seg(/seg)*`.
    path: String,
}

impl SpiffeId {
    /// Parses a SPIFFE ID. The trust domain's own ID (no path) is accepted.
    pub fn parse(input: &str) -> Result<Self, SpiffeIdError> {
        if input.is_empty() {
            return Err(SpiffeIdError::Empty);
        }
        if input.len() > MAX_ID_LEN {
            return Err(SpiffeIdError::TooLong(input.len()));
        }
        let Some(rest) = input.strip_prefix(SCHEME) else {
            return Err(SpiffeIdError::WrongScheme(input.to_owned()));
        };
        // Query and fragment are checked first so that their characters are not reported
        // as bad path characters, which would hide what is really wrong.
        if input.contains('#') {
            return Err(SpiffeIdError::Fragment(input.to_owned()));
        }
        if input.contains('?') {
            return Err(SpiffeIdError::Query(input.to_owned()));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(SpiffeIdError::MissingTrustDomain(input.to_owned()));
        }
        if authority.contains('@') {
            return Err(SpiffeIdError::UserInfo(input.to_owned()));
        }
        if authority.contains(':') {
            return Err(SpiffeIdError::Port(input.to_owned()));
        }
        validate_trust_domain(authority, authority)?;
        validate_path(input, path)?;
        Ok(Self {
            trust_domain: TrustDomain(authority.to_owned()),
            path: path.to_owned(),
        })
    }

    /// Parses a SPIFFE ID that must name a workload (it has a path).
    pub fn parse_workload(input: &str) -> Result<Self, SpiffeIdError> {
        let id = Self::parse(input)?;
        if id.path.is_empty() {
            return Err(SpiffeIdError::NoPath(input.to_owned()));
        }
        Ok(id)
    }

    /// Builds `spiffe://td/ns/<ns>/sa/<sa>`, the Kubernetes convention, validating both parts.
    pub fn for_service_account(
        trust_domain: &TrustDomain,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, SpiffeIdError> {
        Self::parse(&format!(
            "{SCHEME}{trust_domain}/ns/{namespace}/sa/{service_account}"
        ))
    }

    /// The trust domain the ID belongs to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path, empty or starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the path equals `prefix` or continues it at a segment boundary, so that
    /// `/ns/a` matches `/ns/a/sa/b` but not `/ns/ab`.
    pub fn path_has_prefix(&self, prefix: &str) -> bool {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return true;
        }
        match self.path.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}{}", self.trust_domain, self.path)
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for SpiffeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SpiffeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn validate_trust_domain(domain: &str, shown: &str) -> Result<(), SpiffeIdError> {
    if domain.is_empty() {
        return Err(SpiffeIdError::MissingTrustDomain(shown.to_owned()));
    }
    if domain.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong(domain.len()));
    }
    if let Some(ch) = domain
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')))
    {
        return Err(SpiffeIdError::BadTrustDomainChar {
            domain: shown.to_owned(),
            ch,
        });
    }
    Ok(())
}

fn validate_path(id: &str, path: &str) -> Result<(), SpiffeIdError> {
    if path.is_empty() {
        return Ok(());
    }
    // The path starts with '/', so the first split element is the empty string before it.
    for segment in path.split('/').skip(1) {
        if segment.is_empty() {
            return Err(SpiffeIdError::EmptySegment(id.to_owned()));
        }
        if segment == "." || segment == ".." {
            return Err(SpiffeIdError::DotSegment(id.to_owned()));
        }
        if let Some(ch) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(SpiffeIdError::BadPathChar {
                id: id.to_owned(),
                ch,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids() {
        let id = SpiffeId::parse("spiffe://cluster-a.example/ns/default/sa/web").unwrap();
        assert_eq!(id.trust_domain().as_str(), "cluster-a.example");
        assert_eq!(id.path(), "/ns/default/sa/web");
        assert_eq!(
            id.to_string(),
            "spiffe://cluster-a.example/ns/default/sa/web"
        );
        let td = SpiffeId::parse("spiffe://a_b.c-d").unwrap();
        assert_eq!(td.path(), "");
        assert_eq!(td, td.trust_domain().id());
        assert!(SpiffeId::parse("spiffe://td/Upper.Case_ok-1").is_ok());
    }

    #[test]
    fn refuses_malformed_ids_with_a_reason() {
        use SpiffeIdError as E;
        type Check = fn(&SpiffeIdError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, E::Empty)),
            ("http://td/x", |e| matches!(e, E::WrongScheme(_))),
            ("SPIFFE://td/x", |e| matches!(e, E::WrongScheme(_))),
            ("spiffe:///x", |e| matches!(e, E::MissingTrustDomain(_))),
            ("spiffe://", |e| matches!(e, E::MissingTrustDomain(_))),
            ("spiffe://TD/x", |e| {
                matches!(e, E::BadTrustDomainChar { ch: 'T', .. })
            }),
            ("spiffe://td:8443/x", |e| matches!(e, E::Port(_))),
            ("spiffe://user@td/x", |e| matches!(e, E::UserInfo(_))),
            ("spiffe://td/x?y=1", |e| matches!(e, E::Query(_))),
            ("spiffe://td/x#frag", |e| matches!(e, E::Fragment(_))),
            ("spiffe://td/x/", |e| matches!(e, E::EmptySegment(_))),
            ("spiffe://td//x", |e| matches!(e, E::EmptySegment(_))),
            ("spiffe://td/", |e| matches!(e, E::EmptySegment(_))),
            ("spiffe://td/./x", |e| matches!(e, E::DotSegment(_))),
            ("spiffe://td/x/..", |e| matches!(e, E::DotSegment(_))),
            ("spiffe://td/a%20b", |e| {
                matches!(e, E::BadPathChar { ch: '%', .. })
            }),
            ("spiffe://td/a b", |e| {
                matches!(e, E::BadPathChar { ch: ' ', .. })
            }),
        ];
        for (input, check) in cases {
            let err = SpiffeId::parse(input).unwrap_err();
            assert!(check(&err), "{input:?} gave {err:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn enforces_length_limits() {
        let long_td = "a".repeat(256);
        assert_eq!(
            SpiffeId::parse(&format!("spiffe://{long_td}/x")).unwrap_err(),
            SpiffeIdError::TrustDomainTooLong(256)
        );
        assert!(SpiffeId::parse(&format!("spiffe://{}/x", "a".repeat(255))).is_ok());
        let long_path = "/a".repeat(1100);
        assert!(matches!(
            SpiffeId::parse(&format!("spiffe://td{long_path}")).unwrap_err(),
            SpiffeIdError::TooLong(_)
        ));
    }

    #[test]
    fn trust_domains_and_workloads() {
        assert_eq!(TrustDomain::new("spiffe://td").unwrap().as_str(), "td");
        assert!(TrustDomain::new("spiffe://td/x").is_err());
        assert!(TrustDomain::new("Td").is_err());
        assert!(matches!(
            SpiffeId::parse_workload("spiffe://td").unwrap_err(),
            SpiffeIdError::NoPath(_)
        ));
        let id =
            SpiffeId::for_service_account(&TrustDomain::new("td").unwrap(), "ns1", "sa1").unwrap();
        assert_eq!(id.to_string(), "spiffe://td/ns/ns1/sa/sa1");
        assert!(id.path_has_prefix("/ns/ns1"));
        assert!(id.path_has_prefix("/ns/ns1/"));
        assert!(!id.path_has_prefix("/ns/ns"));
        assert!(id.path_has_prefix(""));
    }
}
