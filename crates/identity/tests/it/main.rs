//! Integration tests of causeway's identity layer against tools nobody here wrote: the
//! `openssl` command line and PyJWT.

// This whole binary is test code; a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod federation;
mod jwt;
mod pki;
mod support;
mod tls;
