//! The SQL databases under the store.
//!
//! A backend offers primitive operations (read the newest or a past version
//! of a key range, append a version, keep leases) inside a database
//! transaction. Everything that makes the store behave like etcd is written
//! once, above these traits, in `apply`. SQLite's driver is synchronous and
//! PostgreSQL's is asynchronous; both implement the same `async` traits, and
//! SQLite's calls simply finish without yielding. The store runs them on
//! blocking threads.

use std::future::Future;

use bytes::Bytes;

use crate::kv::{Event, KeyRange, KeyValue};

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// Why the database failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// PostgreSQL reported an error.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("postgres connection pool: {0}")]
    Pool(String),
    /// The database holds something this version cannot read.
    #[error("database is corrupt or from an incompatible version: {0}")]
    Corrupt(String),
    /// Another process holds the embedded database.
    #[error("{path} is in use by another causeway process")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// Creating or opening files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A blocking database task could not finish.
    #[error("database task failed: {0}")]
    Task(String),
}

impl BackendError {
    /// Whether retrying the whole transaction may succeed: serialization
    /// failures and deadlocks, which CockroachDB and YugabyteDB report
    /// under contention.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            BackendError::Postgres(e) => e.code().is_some_and(|c| {
                c == &tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || c == &tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            }),
            BackendError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DatabaseBusy
            }
            _ => false,
        }
    }
}

/// A lease as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeaseRow {
    pub id: i64,
    pub ttl: i64,
    /// When it expires, in milliseconds since the Unix epoch on the database's clock.
    pub expires_at_ms: i64,
}

/// A consistent view of the database.
pub(crate) trait Reader: Send {
    /// The newest revision and the compaction revision, as this view sees
    /// them. As in etcd, a store never compacted has compaction revision -1,
    /// so that compacting at 0 succeeds once.
    fn revisions(&mut self) -> impl Future<Output = Result<(i64, i64), BackendError>> + Send;

    /// The live key-values of `range` at revision `at` (`None`: the newest),
    /// in key order, at most `limit` of them (0: all).
    fn range(
        &mut self,
        range: &KeyRange,
        at: Option<i64>,
        limit: usize,
        keys_only: bool,
    ) -> impl Future<Output = Result<Vec<KeyValue>, BackendError>> + Send;

    /// How many live keys `range` holds at revision `at` (`None`: the newest).
    fn count(
        &mut self,
        range: &KeyRange,
        at: Option<i64>,
    ) -> impl Future<Output = Result<i64, BackendError>> + Send;

    /// The events of revisions `from..=to`, in revision order, at most
    /// `limit` of them but never splitting a revision. No previous key-values.
    fn events(
        &mut self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, BackendError>> + Send;

    /// One lease.
    fn lease(
        &mut self,
        id: i64,
    ) -> impl Future<Output = Result<Option<LeaseRow>, BackendError>> + Send;

    /// Every lease.
    fn leases(&mut self) -> impl Future<Output = Result<Vec<LeaseRow>, BackendError>> + Send;

    /// The keys attached to a lease, in key order.
    fn lease_keys(
        &mut self,
        id: i64,
    ) -> impl Future<Output = Result<Vec<Bytes>, BackendError>> + Send;

    /// The time on the database's clock, in milliseconds since the epoch.
    fn now_ms(&mut self) -> impl Future<Output = Result<i64, BackendError>> + Send;

    /// The oldest revision still in history at or after `from` (0: none).
    fn first_revision_from(
        &mut self,
        from: i64,
    ) -> impl Future<Output = Result<i64, BackendError>> + Send;

    /// Bytes on disk, and bytes in use.
    fn db_size(&mut self) -> impl Future<Output = Result<(i64, i64), BackendError>> + Send;
}

/// A write transaction. Its reads see its own writes. Only one is open at a
/// time across every process on the database, so revisions are assigned in
/// commit order.
pub(crate) trait Writer: Reader {
    /// Makes `kv` the newest version of its key, and appends it to the
    /// history at `(kv.mod_revision, sub)`.
    fn put(
        &mut self,
        kv: &KeyValue,
        sub: i64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Deletes `key` at `revision`, leaving a tombstone at `(revision, sub)`.
    fn delete(
        &mut self,
        key: &Bytes,
        revision: i64,
        sub: i64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Records the newest revision and the compaction revision.
    fn set_revisions(
        &mut self,
        revision: i64,
        compact_revision: i64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Inserts or replaces a lease.
    fn put_lease(
        &mut self,
        lease: LeaseRow,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes a lease.
    fn delete_lease(&mut self, id: i64) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes from history the versions of revisions `from..=to` that no
    /// read at `compact_revision` or later can see. Returns how many went.
    fn compact(
        &mut self,
        compact_revision: i64,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send;
}

/// A read view of whichever database the store runs on.
#[derive(Debug)]
pub(crate) enum AnyReader {
    Sqlite(sqlite::SqliteReader),
    Postgres(postgres::PgReader),
}

/// Forwards each `Reader` method to the backend in use.
macro_rules! forward {
    ($self:ident, $r:ident => $call:expr) => {
        match $self {
            AnyReader::Sqlite($r) => $call.await,
            AnyReader::Postgres($r) => $call.await,
        }
    };
}

impl Reader for AnyReader {
    async fn revisions(&mut self) -> Result<(i64, i64), BackendError> {
        forward!(self, r => r.revisions())
    }
    async fn range(
        &mut self,
        range: &KeyRange,
        at: Option<i64>,
        limit: usize,
        keys_only: bool,
    ) -> Result<Vec<KeyValue>, BackendError> {
        forward!(self, r => r.range(range, at, limit, keys_only))
    }
    async fn count(&mut self, range: &KeyRange, at: Option<i64>) -> Result<i64, BackendError> {
        forward!(self, r => r.count(range, at))
    }
    async fn events(
        &mut self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<Event>, BackendError> {
        forward!(self, r => r.events(from, to, limit))
    }
    async fn lease(&mut self, id: i64) -> Result<Option<LeaseRow>, BackendError> {
        forward!(self, r => r.lease(id))
    }
    async fn leases(&mut self) -> Result<Vec<LeaseRow>, BackendError> {
        forward!(self, r => r.leases())
    }
    async fn lease_keys(&mut self, id: i64) -> Result<Vec<Bytes>, BackendError> {
        forward!(self, r => r.lease_keys(id))
    }
    async fn now_ms(&mut self) -> Result<i64, BackendError> {
        forward!(self, r => r.now_ms())
    }
    async fn first_revision_from(&mut self, from: i64) -> Result<i64, BackendError> {
        forward!(self, r => r.first_revision_from(from))
    }
    async fn db_size(&mut self) -> Result<(i64, i64), BackendError> {
        forward!(self, r => r.db_size())
    }
}

/// The SQL condition selecting `range` on column `key`, with its bind
/// values in order, numbered from `$first`. Both SQLite and PostgreSQL
/// accept `$N` placeholders.
pub(crate) fn key_condition(range: &KeyRange, first: usize) -> (String, Vec<Bytes>) {
    match range {
        KeyRange::Single(k) => (format!("key = ${first}"), vec![k.clone()]),
        KeyRange::Interval { start, end: None } => {
            (format!("key >= ${first}"), vec![start.clone()])
        }
        KeyRange::Interval {
            start,
            end: Some(end),
        } => (
            format!("key >= ${first} AND key < ${}", first + 1),
            vec![start.clone(), end.clone()],
        ),
    }
}

/// The rows of `log` (aliased `l`) holding, for each key that `cond`
/// selects, its newest version at or before the revision bound to `$rev`,
/// if that version is not a tombstone. Newest means the highest
/// `(revision, sub)`: one transaction may put a key and then delete it
/// through a range, leaving two rows at one revision.
pub(crate) fn newest_at(log: &str, cond: &str, rev: usize, live: &str) -> String {
    format!(
        "FROM {log} AS l WHERE {cond} AND l.revision <= ${rev} AND {live} AND NOT EXISTS (
           SELECT 1 FROM {log} AS n WHERE n.key = l.key AND n.revision <= ${rev}
             AND (n.revision > l.revision OR (n.revision = l.revision AND n.sub > l.sub)))"
    )
}

/// The rows of `log` with revisions bound to `$1..=$2` that no read at the
/// compaction revision `$3` or later can see: those with a newer row of
/// their key at or before it.
pub(crate) fn superseded(log: &str) -> String {
    format!(
        "DELETE FROM {log} WHERE revision >= $1 AND revision <= $2 AND EXISTS (
           SELECT 1 FROM {log} AS n WHERE n.key = {log}.key AND n.revision <= $3
             AND (n.revision > {log}.revision OR (n.revision = {log}.revision AND n.sub > {log}.sub)))"
    )
}

/// Milliseconds since the epoch on this machine's clock.
pub(crate) fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        // A clock before 1970 is broken beyond what leases can fix.
        .unwrap_or(0)
}
