//! An MVCC key-value engine with etcd v3 semantics on SQL.
//!
//! [`Store`] is the whole API: ranges, puts, deletes and transactions
//! exactly as etcd 3.5 answers them, leases, compaction, and
//! [`WatchSession`]s. It keeps its data in SQLite (embedded) or a
//! PostgreSQL-compatible database; see `backend` for how, and
//! `docs/architecture.md` for why.

mod apply;
mod backend;
mod error;
pub mod kv;
pub mod request;
mod store;
mod watch;
mod writer;

pub use apply::{MAX_LEASE_TTL, MAX_TXN_OPS};
pub use backend::BackendError;
pub use error::Error;
pub use kv::{Event, EventKind, KeyRange, KeyValue};
pub use store::{Datastore, DatastoreParseError, Store, StoreConfig};
pub use watch::{WatchCommand, WatchCreate, WatchResponse, WatchSession};
