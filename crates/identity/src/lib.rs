//! causeway's identity layer: trust anchors and intermediates, SPIFFE IDs and X.509-SVIDs,
//! SPIFFE trust bundles and their federation, rustls configurations that authenticate
//! peers by SPIFFE ID, JWT-SVIDs, and trust in other clusters' service-account tokens
//! through OIDC discovery.

pub mod bundle;
pub mod ca;
pub mod check;
pub mod duration;
pub mod endpoint;
pub mod federation;
pub mod http;
pub mod jwk;
pub mod jwt;
pub mod metrics;
pub mod oidc;
pub mod pem;
pub mod source;
pub mod spiffe_id;
pub mod svid;
pub mod tls;

pub use bundle::{TrustBundle, TrustStore};
pub use ca::{CaDir, CertificateAuthority, SvidRequest};
pub use source::{ServingCert, SvidSource};
pub use spiffe_id::{SpiffeId, TrustDomain};
pub use svid::X509Svid;
pub use tls::{Authorizer, SpiffeTls};
