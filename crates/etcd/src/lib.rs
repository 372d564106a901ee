//! The etcd v3 gRPC API over the causeway store.
//!
//! [`serve`] runs the KV, Watch, Lease, Maintenance and Cluster services
//! and the standard gRPC health service, with etcd's error codes and
//! messages, and a metrics and readiness endpoint beside them.

mod convert;
pub mod metrics;
pub mod proto;
mod server;
mod services;
mod status;

pub use server::{
    DEFAULT_MAX_REQUEST_BYTES, ServeError, ServerConfig, TlsFiles, bound, serve, stable_id,
};
pub use services::ETCD_VERSION;
