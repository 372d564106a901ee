//! A Kubernetes-compatible API server over a store with etcd semantics.
//!
//! [`Api`] is the server's state, [`serve`] its HTTPS front, and
//! [`bootstrap`] what it writes at first start. See `docs/architecture.md`
//! for the map of this crate.

pub mod api;
pub mod bootstrap;
pub mod builtin;
pub mod cache;
mod controllers;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod field;
pub mod filter;
pub mod http;
pub mod jsonpath;
pub mod metrics;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resource;
pub mod rest;
pub mod schema;
pub mod selector;
pub mod server;
pub mod storage;
mod strategy;
pub mod table;
pub mod validation;

pub use api::{Api, Config};
pub use server::{ServeError, serve};
