//! Integration tests of the API server, against real clients: kube-rs
//! (client and runtime), kubectl, and etcd as a backend.

#![allow(clippy::unwrap_used)]

mod clients;
mod crds;
mod kubectl;
mod lifecycle;
