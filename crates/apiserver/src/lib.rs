//! A Kubernetes-compatible API server over a store with etcd semantics.
//!
//! See `docs/architecture.md` for the map of this crate.

pub mod field;
pub mod jsonpath;
pub mod table;
