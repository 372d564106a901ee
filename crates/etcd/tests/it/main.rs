//! Integration tests of the etcd v3 API, judged against a real etcd 3.5.
//!
//! - `differential`: a seeded random operation sequence sent to two
//!   endpoints through the etcd-client crate, every answer compared.
//! - `etcdctl`: the real etcdctl binary run against two endpoints, outputs
//!   compared.
//! - `testkit`: the helpers that start the real peers.
//! - `crash`, `concurrency`, `bad_input`, `leases`, `tls`,
//!   `watch_features`, `operations`: robustness tests of causeway's store
//!   (helpers in `common`).

#![allow(clippy::unwrap_used)]

mod against_etcd;
mod bad_input;
mod common;
mod concurrency;
mod crash;
mod differential;
mod etcdctl;
mod leases;
mod operations;
mod server;
mod testkit;
mod tls;
mod watch_features;
