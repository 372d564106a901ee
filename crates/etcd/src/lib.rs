//! The etcd v3 gRPC API over the causeway store.
//!
//! `proto` holds the wire types generated from `proto/*.proto`. The server
//! side maps each RPC onto [`causeway_store::Store`].

pub mod proto;
