//! etcd's gRPC errors: the codes and messages clients match on.

use causeway_store::Error;
use tonic::{Code, Status};

/// The message etcd answers when a request is over `--max-request-bytes`.
pub(crate) const REQUEST_TOO_LARGE: &str = "etcdserver: request is too large";

/// Turns a store error into the status etcd would answer.
pub(crate) fn to_status(e: Error) -> Status {
    let code = match &e {
        Error::Compacted | Error::FutureRevision | Error::LeaseTtlTooLarge => Code::OutOfRange,
        Error::EmptyKey
        | Error::KeyNotFound
        | Error::ValueProvided
        | Error::LeaseProvided
        | Error::TooManyOps
        | Error::DuplicateKey
        | Error::EmptyOp => Code::InvalidArgument,
        Error::LeaseNotFound => Code::NotFound,
        Error::LeaseExists => Code::FailedPrecondition,
        Error::Closed => return Status::unavailable("etcdserver: server stopped"),
        Error::Unsupported(what) => {
            return Status::unimplemented(format!("causeway store: {what}"));
        }
        Error::Backend(b) => {
            tracing::error!(error = %b, "storage backend error");
            return Status::unavailable(format!("etcdserver: storage backend error: {b}"));
        }
    };
    let msg = match e {
        // etcd answers an empty operation inside a txn as a missing key.
        Error::EmptyOp => "key not found".to_string(),
        other => other.to_string(),
    };
    Status::new(code, format!("etcdserver: {msg}"))
}
