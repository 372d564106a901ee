//! Generated etcd v3 wire types and service stubs.

#![allow(missing_docs, clippy::all, missing_debug_implementations)]

/// `mvccpb`: key-values and watch events.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// `etcdserverpb`: requests, responses and services.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
