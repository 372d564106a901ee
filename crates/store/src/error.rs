//! The store's errors.
//!
//! The messages of the request errors are etcd's own (without etcd's
//! `etcdserver: ` prefix, which the gRPC layer adds), because clients match on them.

use crate::backend::BackendError;

/// Why the store refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The revision asked for has been compacted away.
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    /// The revision asked for does not exist yet.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    /// A request named no key.
    #[error("key is not provided")]
    EmptyKey,
    /// `ignore_value` or `ignore_lease` was set on a key that does not exist.
    #[error("key not found")]
    KeyNotFound,
    /// `ignore_value` was set together with a value.
    #[error("value is provided")]
    ValueProvided,
    /// `ignore_lease` was set together with a lease.
    #[error("lease is provided")]
    LeaseProvided,
    /// A transaction has more operations than allowed.
    #[error("too many operations in txn request")]
    TooManyOps,
    /// A transaction writes one key twice, or puts and deletes it.
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    /// A transaction holds an empty operation.
    #[error("empty operation in txn request")]
    EmptyOp,
    /// The lease does not exist.
    #[error("requested lease not found")]
    LeaseNotFound,
    /// A lease with that ID already exists.
    #[error("lease already exists")]
    LeaseExists,
    /// The TTL asked for is beyond the largest allowed.
    #[error("too large lease TTL")]
    LeaseTtlTooLarge,
    /// The store is shutting down and takes no more requests.
    #[error("the store is shutting down")]
    Closed,
    /// The request is not available on this store's database.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The database failed.
    #[error("storage backend failed")]
    Backend(#[from] BackendError),
}

impl Error {
    /// Whether the error comes from the request (the client's to fix), as
    /// opposed to the store or its database.
    pub fn is_request_error(&self) -> bool {
        !matches!(self, Error::Closed | Error::Backend(_))
    }
}
