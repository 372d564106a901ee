//! Integration tests of the API server, against real clients: kube-rs
//! (client and runtime), kubectl, the Python `kubernetes` client, and etcd
//! as a backend.

#![allow(clippy::unwrap_used)]

mod cel_rules;
mod clients;
mod crds;
mod kubectl;
mod lifecycle;
mod python;
mod raw;
mod real_crds;
mod representations;
mod scale;
mod write_options;
