//! The embedded SQLite backend.
//!
//! One writer connection, owned by a dedicated thread, runs every write
//! transaction; reads use a pool of connections, each reading a consistent
//! snapshot thanks to WAL mode. `synchronous=FULL` makes every commit
//! durable before it is acknowledged. A lock file keeps a second process
//! off the same database, since the watch feed of one process would not
//! see the other's writes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tokio::sync::mpsc;

use super::{
    BackendError, LeaseRow, Reader, Writer, key_condition, newest_at, superseded, system_now_ms,
};
use crate::kv::{Event, EventKind, KeyRange, KeyValue};
use crate::store::Store;
use crate::writer::{MAX_BATCH, WriteCommand, WriteOp, WriteOutcome, apply_batch};

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 16;

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// Where connections keep temporary tables and indexes.
const TEMP_STORE: &str = "MEMORY";

/// How long the checkpoint after a defragment waits for readers.
const DEFRAGMENT_CHECKPOINT_WAIT_MS: u32 = 2_000;

/// The layout this causeway reads and writes, kept in `meta.schema_version`.
///
/// Version 1 kept `log` as a `WITHOUT ROWID` table keyed by `(revision,
/// sub)`. Such a table stores its rows like index entries, and any row over
/// about 1 KiB spilled into a 4 KiB overflow page of its own: a typical
/// Kubernetes object cost 4.5 KiB of history instead of its size. Version 2
/// makes `log` a rowid table, whose leaves hold rows of up to about 4 KiB;
/// [`migrate_v1`] rewrites older databases in place.
const SCHEMA_VERSION: i64 = 2;

const META: &str = "
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    compact_revision INTEGER NOT NULL,
    schema_version INTEGER NOT NULL
);
";

const KV_AND_LEASES: &str = "
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL UNIQUE,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lease INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease) WHERE lease <> 0;
CREATE TABLE IF NOT EXISTS lease (
    id INTEGER PRIMARY KEY,
    ttl INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
";

/// The history's columns, the same in both schema versions.
const LOG_COLUMNS: &str = "
    revision INTEGER NOT NULL,
    sub INTEGER NOT NULL,
    key BLOB NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lease INTEGER NOT NULL,
    value BLOB NOT NULL
";

/// The history. Rows are appended in `(revision, sub)` order, so the rowid
/// follows that order too and new rows always go to the end of the table.
fn log_table() -> String {
    format!("CREATE TABLE log ({LOG_COLUMNS});")
}

/// Version 1's history table, created before a migration if a first start
/// stopped before making it (version 1 wrote its meta row first).
fn log_table_v1() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS log ({LOG_COLUMNS}, PRIMARY KEY (revision, sub)) WITHOUT ROWID;"
    )
}

/// The history's indexes. `log_key` carries `sub` so that the reads at a
/// past revision and compaction, which order one key's rows by `(revision,
/// sub)`, never visit the table rows.
const LOG_INDEXES: &str = "
CREATE UNIQUE INDEX log_revision ON log (revision, sub);
CREATE INDEX log_key ON log (key, revision, sub);
";

/// Revisions copied per statement when migrating, so that progress can be
/// reported on a large database.
const MIGRATION_CHUNK: i64 = 100_000;

fn sql_err(e: rusqlite::Error) -> BackendError {
    BackendError::Sqlite(e)
}

/// The embedded database: its path, its lock and its idle read connections.
#[derive(Debug)]
pub(crate) struct SqliteBackend {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// Held open for the life of the backend; the OS lock goes with it.
    _lock: File,
}

impl SqliteBackend {
    /// Opens the database at `path`, creating it and its folder if needed.
    pub(crate) fn open(path: &Path) -> Result<SqliteBackend, BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BackendError::Io {
                context: format!("creating {}", dir.display()),
                source,
            })?;
        }
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| BackendError::Io {
                context: format!("opening {}", lock_path.display()),
                source,
            })?;
        lock.try_lock().map_err(|_| BackendError::Locked {
            path: lock_path.display().to_string(),
        })?;
        let b = SqliteBackend {
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            _lock: lock,
        };
        let mut conn = b.connect()?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")
            .map_err(sql_err)?;
        conn.execute_batch(META).map_err(sql_err)?;
        let version: Option<i64> = conn
            .query_row("SELECT schema_version FROM meta WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql_err)?;
        match version {
            None => create(&mut conn)?,
            Some(1) => migrate_v1(&mut conn, path)?,
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(BackendError::Corrupt(format!(
                    "{} has schema version {v}; this causeway reads versions 1 and {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        }
        Ok(b)
    }

    fn connect(&self) -> Result<Connection, BackendError> {
        let conn = Connection::open(&self.path).map_err(sql_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = {TEMP_STORE};
             PRAGMA foreign_keys = OFF;"
        ))
        .map_err(sql_err)?;
        Ok(conn)
    }

    /// The newest and compaction revisions.
    pub(crate) fn revisions(&self) -> Result<(i64, i64), BackendError> {
        revisions(&self.connect()?)
    }

    /// A read view; it holds one connection and a read transaction.
    pub(crate) fn reader(self: &Arc<Self>) -> Result<SqliteReader, BackendError> {
        let pooled = self
            .readers
            .lock()
            .map_err(|_| BackendError::Task("reader pool poisoned".into()))?
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        conn.execute_batch("BEGIN").map_err(sql_err)?;
        Ok(SqliteReader {
            conn: Some(conn),
            backend: self.clone(),
        })
    }
}

/// A read transaction on a pooled connection.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    conn: Option<Connection>,
    backend: Arc<SqliteBackend>,
}

impl SqliteReader {
    fn conn(&self) -> Result<&Connection, BackendError> {
        // Only `Drop` takes the connection out.
        self.conn
            .as_ref()
            .ok_or_else(|| BackendError::Task("reader used after release".into()))
    }
}

impl Drop for SqliteReader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if conn.execute_batch("ROLLBACK").is_err() {
                return;
            }
            if let Ok(mut pool) = self.backend.readers.lock()
                && pool.len() < MAX_IDLE_READERS
            {
                pool.push(conn);
            }
        }
    }
}

/// The open write transaction of the writer thread. It holds the
/// connection mutably, since a shared `&Connection` may not cross threads.
struct SqliteWriter<'c> {
    conn: &'c mut Connection,
}

/// Implements `Reader` for a type with a `conn()` giving the connection.
macro_rules! sqlite_reader {
    ($t:ty) => {
        impl Reader for $t {
            async fn revisions(&mut self) -> Result<(i64, i64), BackendError> {
                revisions(self.conn()?)
            }
            async fn range(
                &mut self,
                range: &KeyRange,
                at: Option<i64>,
                limit: usize,
                keys_only: bool,
            ) -> Result<Vec<KeyValue>, BackendError> {
                range_rows(self.conn()?, range, at, limit, keys_only)
            }
            async fn count(
                &mut self,
                range: &KeyRange,
                at: Option<i64>,
            ) -> Result<i64, BackendError> {
                count(self.conn()?, range, at)
            }
            async fn events(
                &mut self,
                from: i64,
                to: i64,
                limit: usize,
            ) -> Result<Vec<Event>, BackendError> {
                events(self.conn()?, from, to, limit)
            }
            async fn lease(&mut self, id: i64) -> Result<Option<LeaseRow>, BackendError> {
                self.conn()?
                    .prepare_cached("SELECT id, ttl, expires_at_ms FROM lease WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id], lease_row).optional())
                    .map_err(sql_err)
            }
            async fn leases(&mut self) -> Result<Vec<LeaseRow>, BackendError> {
                let conn = self.conn()?;
                let mut s = conn
                    .prepare_cached("SELECT id, ttl, expires_at_ms FROM lease")
                    .map_err(sql_err)?;
                let rows = s.query_map([], lease_row).map_err(sql_err)?;
                rows.collect::<Result<_, _>>().map_err(sql_err)
            }
            async fn lease_keys(&mut self, id: i64) -> Result<Vec<Bytes>, BackendError> {
                let conn = self.conn()?;
                let mut s = conn
                    .prepare_cached("SELECT key FROM kv WHERE lease = ?1 ORDER BY key")
                    .map_err(sql_err)?;
                let rows = s
                    .query_map([id], |r| r.get::<_, Vec<u8>>(0).map(Bytes::from))
                    .map_err(sql_err)?;
                rows.collect::<Result<_, _>>().map_err(sql_err)
            }
            async fn now_ms(&mut self) -> Result<i64, BackendError> {
                Ok(system_now_ms())
            }
            async fn first_revision_from(&mut self, from: i64) -> Result<i64, BackendError> {
                self.conn()?
                    .prepare_cached(
                        "SELECT coalesce(min(revision), 0) FROM log WHERE revision >= ?1",
                    )
                    .and_then(|mut s| s.query_row([from], |r| r.get(0)))
                    .map_err(sql_err)
            }
            async fn db_size(&mut self) -> Result<(i64, i64), BackendError> {
                let conn = self.conn()?;
                let pages: i64 = conn
                    .query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(sql_err)?;
                let free: i64 = conn
                    .query_row("PRAGMA freelist_count", [], |r| r.get(0))
                    .map_err(sql_err)?;
                let size: i64 = conn
                    .query_row("PRAGMA page_size", [], |r| r.get(0))
                    .map_err(sql_err)?;
                Ok((pages * size, (pages - free) * size))
            }
        }
    };
}

sqlite_reader!(SqliteReader);
sqlite_reader!(SqliteWriter<'_>);

impl SqliteWriter<'_> {
    fn conn(&self) -> Result<&Connection, BackendError> {
        Ok(self.conn)
    }
}

impl Writer for SqliteWriter<'_> {
    async fn put(&mut self, kv: &KeyValue, sub: i64) -> Result<(), BackendError> {
        self.conn
            .prepare_cached(
                "INSERT INTO kv (key, create_revision, mod_revision, version, lease, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (key) DO UPDATE SET create_revision = excluded.create_revision,
                   mod_revision = excluded.mod_revision, version = excluded.version,
                   lease = excluded.lease, value = excluded.value",
            )
            .and_then(|mut s| {
                s.execute(params![
                    kv.key.as_ref(),
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.lease,
                    kv.value.as_ref()
                ])
            })
            .map_err(sql_err)?;
        self.conn
            .prepare_cached(
                "INSERT INTO log (revision, sub, key, deleted, create_revision, version, lease, value)
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    kv.mod_revision,
                    sub,
                    kv.key.as_ref(),
                    kv.create_revision,
                    kv.version,
                    kv.lease,
                    kv.value.as_ref()
                ])
            })
            .map_err(sql_err)?;
        Ok(())
    }

    async fn delete(&mut self, key: &Bytes, revision: i64, sub: i64) -> Result<(), BackendError> {
        self.conn
            .prepare_cached("DELETE FROM kv WHERE key = ?1")
            .and_then(|mut s| s.execute([key.as_ref()]))
            .map_err(sql_err)?;
        self.conn
            .prepare_cached(
                "INSERT INTO log (revision, sub, key, deleted, create_revision, version, lease, value)
                 VALUES (?1, ?2, ?3, 1, 0, 0, 0, x'')",
            )
            .and_then(|mut s| s.execute(params![revision, sub, key.as_ref()]))
            .map_err(sql_err)?;
        Ok(())
    }

    async fn set_revisions(
        &mut self,
        revision: i64,
        compact_revision: i64,
    ) -> Result<(), BackendError> {
        self.conn
            .prepare_cached("UPDATE meta SET revision = ?1, compact_revision = ?2 WHERE id = 1")
            .and_then(|mut s| s.execute([revision, compact_revision]))
            .map_err(sql_err)?;
        Ok(())
    }

    async fn put_lease(&mut self, lease: LeaseRow) -> Result<(), BackendError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO lease (id, ttl, expires_at_ms) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute([lease.id, lease.ttl, lease.expires_at_ms]))
            .map_err(sql_err)?;
        Ok(())
    }

    async fn delete_lease(&mut self, id: i64) -> Result<(), BackendError> {
        self.conn
            .prepare_cached("DELETE FROM lease WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(sql_err)?;
        Ok(())
    }

    async fn compact(
        &mut self,
        compact_revision: i64,
        from: i64,
        to: i64,
    ) -> Result<u64, BackendError> {
        // Superseded versions first, tombstones after: a tombstone must not
        // go while an older version of its key is still there, or the key
        // would come back to life for reads at later revisions.
        let hidden = self
            .conn
            .prepare_cached(&sqlite_placeholders(superseded("log")))
            .and_then(|mut s| s.execute([from, to, compact_revision]))
            .map_err(sql_err)?;
        let tombstones = self
            .conn
            .prepare_cached(
                "DELETE FROM log WHERE revision >= ?1 AND revision <= ?2 AND deleted = 1",
            )
            .and_then(|mut s| s.execute([from, to]))
            .map_err(sql_err)?;
        Ok((hidden + tombstones) as u64)
    }
}

/// Lays out a new database. A crash part-way leaves no meta row, so the
/// next start lays it out again.
fn create(conn: &mut Connection) -> Result<(), BackendError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    tx.execute_batch(KV_AND_LEASES).map_err(sql_err)?;
    tx.execute_batch(&log_table()).map_err(sql_err)?;
    tx.execute_batch(LOG_INDEXES).map_err(sql_err)?;
    tx.execute(
        "INSERT INTO meta (id, revision, compact_revision, schema_version) VALUES (1, 1, -1, ?1)",
        [SCHEMA_VERSION],
    )
    .map_err(sql_err)?;
    tx.commit().map_err(sql_err)
}

/// Rewrites a schema-version-1 database's history as a rowid table, in one
/// transaction: a crash or a full disk part-way leaves version 1 as it was.
/// `kv`, `lease` and `meta` are the same in both versions.
fn migrate_v1(conn: &mut Connection, path: &Path) -> Result<(), BackendError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    tx.execute_batch(KV_AND_LEASES).map_err(sql_err)?;
    tx.execute_batch(&log_table_v1()).map_err(sql_err)?;
    let (first, last, rows): (i64, i64, i64) = tx
        .query_row(
            "SELECT coalesce(min(revision), 0), coalesce(max(revision), -1), count(*) FROM log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(sql_err)?;
    tracing::info!(
        database = %path.display(),
        rows,
        "migrating the database from schema version 1 to {SCHEMA_VERSION}; \
         it is rewritten in one transaction, which needs free disk space for the new history \
         and as much again for the write-ahead log"
    );
    tx.execute_batch("ALTER TABLE log RENAME TO log_v1; DROP INDEX IF EXISTS log_key;")
        .map_err(sql_err)?;
    tx.execute_batch(&log_table()).map_err(sql_err)?;
    let started = std::time::Instant::now();
    let mut reported = started;
    let mut from = first;
    while from <= last {
        let to = from.saturating_add(MIGRATION_CHUNK - 1);
        tx.execute(
            "INSERT INTO log (revision, sub, key, deleted, create_revision, version, lease, value)
             SELECT revision, sub, key, deleted, create_revision, version, lease, value
             FROM log_v1 WHERE revision >= ?1 AND revision <= ?2 ORDER BY revision, sub",
            [from, to],
        )
        .map_err(sql_err)?;
        if reported.elapsed() >= std::time::Duration::from_secs(2) {
            reported = std::time::Instant::now();
            tracing::info!(revision = to.min(last), of = last, "migrating the history");
        }
        from = to.saturating_add(1);
    }
    tx.execute_batch("DROP TABLE log_v1;").map_err(sql_err)?;
    tx.execute_batch(LOG_INDEXES).map_err(sql_err)?;
    tx.execute(
        "UPDATE meta SET schema_version = ?1 WHERE id = 1",
        [SCHEMA_VERSION],
    )
    .map_err(sql_err)?;
    tx.commit().map_err(sql_err)?;
    // The WAL now holds the whole new history; nothing else has the
    // database open yet, so it can be emptied and cut back at once.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(sql_err)?;
    tracing::info!(
        database = %path.display(),
        rows,
        seconds = started.elapsed().as_secs_f64(),
        "migrated to schema version {SCHEMA_VERSION}; new writes reuse the old history's pages, and `etcdctl defrag` gives them back to the disk"
    );
    Ok(())
}

fn lease_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeaseRow> {
    Ok(LeaseRow {
        id: r.get(0)?,
        ttl: r.get(1)?,
        expires_at_ms: r.get(2)?,
    })
}

fn revisions(conn: &Connection) -> Result<(i64, i64), BackendError> {
    conn.prepare_cached("SELECT revision, compact_revision FROM meta WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_err)
}

/// SQLite numbers its placeholders `?N`; the shared builder writes `$N`.
fn sqlite_placeholders(sql: String) -> String {
    sql.replace('$', "?")
}

fn kv_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: Bytes::from(r.get::<_, Vec<u8>>(0)?),
        create_revision: r.get(1)?,
        mod_revision: r.get(2)?,
        version: r.get(3)?,
        lease: r.get(4)?,
        value: Bytes::from(r.get::<_, Vec<u8>>(5)?),
    })
}

/// The bind values of a key condition, followed by `extra`.
fn binds(keys: Vec<Bytes>, extra: &[i64]) -> Vec<Value> {
    keys.into_iter()
        .map(|k| Value::Blob(k.to_vec()))
        .chain(extra.iter().map(|&i| Value::Integer(i)))
        .collect()
}

fn range_rows(
    conn: &Connection,
    range: &KeyRange,
    at: Option<i64>,
    limit: usize,
    keys_only: bool,
) -> Result<Vec<KeyValue>, BackendError> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    // Every put reads its key's newest version first: keep that path to
    // one fixed statement, with nothing to format or copy.
    if let (KeyRange::Single(key), None) = (range, at) {
        let sql = if keys_only {
            "SELECT key, create_revision, mod_revision, version, lease, x'' FROM kv WHERE key = ?1"
        } else {
            "SELECT key, create_revision, mod_revision, version, lease, value FROM kv WHERE key = ?1"
        };
        return conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([key.as_ref()], kv_row).optional())
            .map(|kv| kv.into_iter().collect())
            .map_err(sql_err);
    }
    let (cond, keys) = key_condition(range, 1);
    let n = keys.len() + 1;
    let value = if keys_only { "x''" } else { "value" };
    // SQLite reads a negative LIMIT as none.
    let limit = if limit == 0 { -1 } else { limit as i64 };
    let (sql, vals) = match at {
        None => (
            format!(
                "SELECT key, create_revision, mod_revision, version, lease, {value}
                 FROM kv WHERE {cond} ORDER BY key LIMIT ${n}"
            ),
            binds(keys, &[limit]),
        ),
        Some(rev) => (
            format!(
                "SELECT l.key, l.create_revision, l.revision, l.version, l.lease, {} {} ORDER BY l.key LIMIT ${}",
                if keys_only { "x''" } else { "l.value" },
                newest_at("log", &cond, n, "l.deleted = 0"),
                n + 1
            ),
            binds(keys, &[rev, limit]),
        ),
    };
    let mut s = conn
        .prepare_cached(&sqlite_placeholders(sql))
        .map_err(sql_err)?;
    let rows = s
        .query_map(params_from_iter(vals), kv_row)
        .map_err(sql_err)?;
    rows.collect::<Result<_, _>>().map_err(sql_err)
}

fn count(conn: &Connection, range: &KeyRange, at: Option<i64>) -> Result<i64, BackendError> {
    if range.is_empty() {
        return Ok(0);
    }
    let (cond, keys) = key_condition(range, 1);
    let n = keys.len() + 1;
    let (sql, vals) = match at {
        None => (
            format!("SELECT count(*) FROM kv WHERE {cond}"),
            binds(keys, &[]),
        ),
        Some(rev) => (
            format!(
                "SELECT count(*) {}",
                newest_at("log", &cond, n, "l.deleted = 0")
            ),
            binds(keys, &[rev]),
        ),
    };
    conn.prepare_cached(&sqlite_placeholders(sql))
        .and_then(|mut s| s.query_row(params_from_iter(vals), |r| r.get(0)))
        .map_err(sql_err)
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Event)> {
    let revision: i64 = r.get(0)?;
    let sub: i64 = r.get(1)?;
    let key = Bytes::from(r.get::<_, Vec<u8>>(2)?);
    let deleted: bool = r.get(3)?;
    let event = if deleted {
        Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key,
                mod_revision: revision,
                ..KeyValue::default()
            },
            prev_kv: None,
        }
    } else {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key,
                create_revision: r.get(4)?,
                mod_revision: revision,
                version: r.get(5)?,
                lease: r.get(6)?,
                value: Bytes::from(r.get::<_, Vec<u8>>(7)?),
            },
            prev_kv: None,
        }
    };
    Ok((sub, event))
}

fn events(conn: &Connection, from: i64, to: i64, limit: usize) -> Result<Vec<Event>, BackendError> {
    const COLS: &str = "revision, sub, key, deleted, create_revision, version, lease, value";
    let mut s = conn
        .prepare_cached(&format!(
            "SELECT {COLS} FROM log WHERE revision >= ?1 AND revision <= ?2 ORDER BY revision, sub LIMIT ?3"
        ))
        .map_err(sql_err)?;
    let rows: Vec<(i64, Event)> = s
        .query_map(params![from, to, limit as i64], event_row)
        .map_err(sql_err)?
        .collect::<Result<_, _>>()
        .map_err(sql_err)?;
    let full = rows.len() >= limit;
    let mut out: Vec<Event> = Vec::with_capacity(rows.len());
    let mut last = None;
    for (sub, e) in rows {
        last = Some((e.revision(), sub));
        out.push(e);
    }
    // Never split a revision: finish the last one.
    if let (true, Some((rev, sub))) = (full, last) {
        let mut s = conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM log WHERE revision = ?1 AND sub > ?2 ORDER BY sub"
            ))
            .map_err(sql_err)?;
        let rest = s.query_map(params![rev, sub], event_row).map_err(sql_err)?;
        for row in rest {
            out.push(row.map_err(sql_err)?.1);
        }
    }
    Ok(out)
}

/// Starts the writer thread. It takes every queued request it can (up to
/// [`MAX_BATCH`]) into one transaction, commits, publishes, then answers.
pub(crate) fn spawn_writer(
    b: Arc<SqliteBackend>,
    mut rx: mpsc::Receiver<WriteCommand>,
    store: Store,
) -> Result<(), BackendError> {
    let mut conn = b.connect()?;
    // SQLite walks the whole page cache at every commit, so a large cache
    // costs the writer more than it saves; readers keep theirs.
    // A burst of writes or a defragment can grow the WAL to hundreds of
    // megabytes; once a checkpoint has emptied it, cut the file back.
    conn.execute_batch(
        "PRAGMA cache_size = -8192;
         PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(sql_err)?;
    std::thread::Builder::new()
        .name("causeway-sqlite-writer".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut cmds = vec![first];
                // A batch ends at a defragment, which runs on its own.
                while cmds.len() < MAX_BATCH
                    && !matches!(cmds.last().map(|c| &c.op), Some(WriteOp::Defragment))
                {
                    match rx.try_recv() {
                        Ok(c) => cmds.push(c),
                        Err(_) => break,
                    }
                }
                let last_is_barrier = matches!(cmds.last().map(|c| &c.op), Some(WriteOp::Barrier));
                let defragment = cmds.pop_if(|c| matches!(c.op, WriteOp::Defragment));
                if !cmds.is_empty() {
                    let outcome = run_batch(&mut conn, &cmds);
                    store.finish_batch(cmds, outcome, |events, revision| {
                        store.hub().publish(events, revision)
                    });
                }
                if let Some(cmd) = defragment {
                    let outcome = defragment_database(&conn)
                        .and_then(|()| revisions(&conn))
                        .map(|(revision, _)| WriteOutcome::Revision(revision))
                        .map_err(crate::error::Error::Backend);
                    let _ = cmd.reply.send(outcome);
                }
                if store.is_closed() && last_is_barrier && rx.is_empty() {
                    break;
                }
            }
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
                tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
            }
            tracing::debug!("sqlite writer stopped");
        })
        .map_err(|source| BackendError::Io {
            context: "starting the sqlite writer thread".into(),
            source,
        })?;
    Ok(())
}

/// Rewrites the database without its free pages (SQLite's `VACUUM`), then
/// truncates the WAL, which the rewrite filled with a copy of every page.
fn defragment_database(conn: &Connection) -> Result<(), BackendError> {
    let started = std::time::Instant::now();
    // VACUUM builds the new copy as a temporary database first. This
    // connection keeps temporary tables in memory; the copy is as large as
    // the database, so it goes to a file instead.
    with_pragma(conn, "temp_store", "FILE", TEMP_STORE, || {
        conn.execute_batch("VACUUM;")
    })?;
    // The file shrinks only when a full checkpoint copies the rewritten
    // pages back, and that waits for readers still on the old pages. Reads
    // are short, but writes queue behind this thread, so it waits for them
    // a little, not the usual busy timeout. If one is still in the way, the
    // space comes back at a later checkpoint (the next one after the WAL
    // reaches its automatic size, or at shutdown).
    let busy = with_pragma(
        conn,
        "busy_timeout",
        DEFRAGMENT_CHECKPOINT_WAIT_MS,
        BUSY_TIMEOUT_MS,
        || {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
        },
    )?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        wal_truncated = busy == 0,
        "defragmented the database"
    );
    Ok(())
}

/// Runs `f` with `pragma` set to `value`, then sets it back to `normal`
/// (what `connect` gives every connection), whether `f` failed or not.
fn with_pragma<T>(
    conn: &Connection,
    pragma: &str,
    value: impl std::fmt::Display,
    normal: impl std::fmt::Display,
    f: impl FnOnce() -> rusqlite::Result<T>,
) -> Result<T, BackendError> {
    conn.execute_batch(&format!("PRAGMA {pragma} = {value};"))
        .map_err(sql_err)?;
    let outcome = f();
    let restored = conn.execute_batch(&format!("PRAGMA {pragma} = {normal};"));
    outcome.and_then(|v| restored.map(|()| v)).map_err(sql_err)
}

fn run_batch(
    conn: &mut Connection,
    cmds: &[WriteCommand],
) -> Result<crate::writer::BatchOutcome, BackendError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_err)?;
    let ops: Vec<&WriteOp> = cmds.iter().map(|c| &c.op).collect();
    let mut w = SqliteWriter { conn: &mut *conn };
    match futures::executor::block_on(apply_batch(&mut w, &ops)) {
        Ok(outcome) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(outcome),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(sql_err(e))
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::executor::block_on;

    use super::*;

    /// Schema version 1, exactly as earlier releases created it.
    const SCHEMA_V1: &str = "
        CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL,
            compact_revision INTEGER NOT NULL, schema_version INTEGER NOT NULL);
        INSERT INTO meta (id, revision, compact_revision, schema_version) VALUES (1, 1, -1, 1);
        CREATE TABLE kv (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE,
            create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,
            version INTEGER NOT NULL, lease INTEGER NOT NULL, value BLOB NOT NULL);
        CREATE INDEX kv_lease ON kv (lease) WHERE lease <> 0;
        CREATE TABLE log (revision INTEGER NOT NULL, sub INTEGER NOT NULL, key BLOB NOT NULL,
            deleted INTEGER NOT NULL, create_revision INTEGER NOT NULL, version INTEGER NOT NULL,
            lease INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (revision, sub)) WITHOUT ROWID;
        CREATE INDEX log_key ON log (key, revision);
        CREATE TABLE lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL,
            expires_at_ms INTEGER NOT NULL);
    ";

    /// A value long enough to have needed an overflow page in version 1.
    fn big() -> Vec<u8> {
        vec![b'x'; 3000]
    }

    /// A version-1 database holding this history:
    /// 2 put a, 3 put a, 4 put b (big), 5 delete a, 6 put c and d in one
    /// txn, 7 put c then delete c in one txn. Current keys: b and d.
    fn v1_database(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        // revision, sub, key, deleted, create_revision, version, value
        type Row = (i64, i64, &'static str, bool, i64, i64, Vec<u8>);
        let log: [Row; 8] = [
            (2, 0, "a", false, 2, 1, b"a1".to_vec()),
            (3, 0, "a", false, 2, 2, b"a2".to_vec()),
            (4, 0, "b", false, 4, 1, big()),
            (5, 0, "a", true, 0, 0, Vec::new()),
            (6, 0, "c", false, 6, 1, b"c1".to_vec()),
            (6, 1, "d", false, 6, 1, b"d1".to_vec()),
            (7, 0, "c", false, 6, 2, b"c2".to_vec()),
            (7, 1, "c", true, 0, 0, Vec::new()),
        ];
        for (rev, sub, key, deleted, create, version, value) in log {
            conn.execute(
                "INSERT INTO log VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
                params![rev, sub, key.as_bytes(), deleted, create, version, value],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO kv (key, create_revision, mod_revision, version, lease, value)
             VALUES (x'62', 4, 4, 1, 0, ?1), (x'64', 6, 6, 1, 0, x'6431')",
            [big()],
        )
        .unwrap();
        conn.execute("UPDATE meta SET revision = 7", []).unwrap();
    }

    fn all() -> KeyRange {
        KeyRange::Interval {
            start: Bytes::from_static(b"\0"),
            end: None,
        }
    }

    fn keys_at(r: &mut SqliteReader, at: Option<i64>) -> Vec<String> {
        block_on(r.range(&all(), at, 0, false))
            .unwrap()
            .into_iter()
            .map(|kv| String::from_utf8(kv.key.to_vec()).unwrap())
            .collect()
    }

    /// Each event as `revision key put|delete`.
    fn history(r: &mut SqliteReader, from: i64, to: i64, limit: usize) -> Vec<String> {
        block_on(r.events(from, to, limit))
            .unwrap()
            .into_iter()
            .map(|e| {
                let kind = match e.kind {
                    EventKind::Put => "put",
                    EventKind::Delete => "delete",
                };
                let key = String::from_utf8(e.kv.key.to_vec()).unwrap();
                format!("{} {key} {kind}", e.revision())
            })
            .collect()
    }

    fn log_sql(path: &Path) -> String {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT group_concat(sql, ';') FROM sqlite_master WHERE tbl_name LIKE 'log%'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn schema_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT schema_version FROM meta", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_database_has_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteBackend::open(&path).unwrap());
        assert_eq!(schema_version(&path), SCHEMA_VERSION);
        let sql = log_sql(&path);
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
        assert!(sql.contains("log_key ON log (key, revision, sub)"), "{sql}");
        // Opening again keeps it as it is.
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        assert_eq!(block_on(b.reader().unwrap().revisions()).unwrap(), (1, -1));
    }

    #[test]
    fn a_version_1_database_is_migrated_with_its_whole_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        v1_database(&path);

        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        assert_eq!(schema_version(&path), 2);
        let sql = log_sql(&path);
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
        assert!(!sql.contains("log_v1"), "{sql}");

        let mut r = b.reader().unwrap();
        assert_eq!(block_on(r.revisions()).unwrap(), (7, -1));
        let everything = [
            "2 a put",
            "3 a put",
            "4 b put",
            "5 a delete",
            "6 c put",
            "6 d put",
            "7 c put",
            "7 c delete",
        ];
        assert_eq!(history(&mut r, 1, 7, 100), everything);
        // A limit never splits a revision: revision 6 is finished.
        assert_eq!(history(&mut r, 1, 7, 5), everything[..6]);
        assert_eq!(keys_at(&mut r, Some(3)), ["a"]);
        assert_eq!(keys_at(&mut r, Some(5)), ["b"]);
        assert_eq!(keys_at(&mut r, Some(6)), ["b", "c", "d"]);
        // The put and the delete of c at revision 7 are told apart by sub.
        assert_eq!(keys_at(&mut r, Some(7)), ["b", "d"]);
        assert_eq!(keys_at(&mut r, None), ["b", "d"]);
        assert_eq!(block_on(r.count(&all(), Some(6))).unwrap(), 3);
        assert_eq!(block_on(r.first_revision_from(0)).unwrap(), 2);
        let a = block_on(r.range(
            &KeyRange::Single(Bytes::from_static(b"a")),
            Some(3),
            0,
            false,
        ))
        .unwrap();
        assert_eq!((a[0].version, a[0].value.as_ref()), (2, &b"a2"[..]));
        let b_at_4 = block_on(r.range(
            &KeyRange::Single(Bytes::from_static(b"b")),
            Some(4),
            0,
            false,
        ))
        .unwrap();
        assert_eq!(b_at_4[0].value.as_ref(), big().as_slice());
        drop(r);
        drop(b);

        // A second start finds version 2 and changes nothing.
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        let mut r = b.reader().unwrap();
        assert_eq!(history(&mut r, 1, 7, 100), everything);
        drop(r);

        // Writes and compaction work on the migrated history.
        let mut conn = b.connect().unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut w = SqliteWriter { conn: &mut conn };
        let e = KeyValue {
            key: Bytes::from_static(b"e"),
            create_revision: 8,
            mod_revision: 8,
            version: 1,
            lease: 0,
            value: Bytes::from_static(b"e1"),
        };
        block_on(w.put(&e, 0)).unwrap();
        block_on(w.set_revisions(8, 7)).unwrap();
        assert_eq!(block_on(w.compact(7, 1, 7)).unwrap(), 6);
        conn.execute_batch("COMMIT").unwrap();
        let mut r = b.reader().unwrap();
        assert_eq!(
            history(&mut r, 1, 8, 100),
            ["4 b put", "6 d put", "8 e put"]
        );
        assert_eq!(keys_at(&mut r, Some(7)), ["b", "d"]);
    }

    #[test]
    fn an_empty_version_1_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(SCHEMA_V1)
            .unwrap();
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        assert_eq!(schema_version(&path), 2);
        let mut r = b.reader().unwrap();
        assert_eq!(block_on(r.revisions()).unwrap(), (1, -1));
        assert!(history(&mut r, 1, 1, 10).is_empty());
    }

    #[test]
    fn a_failed_migration_leaves_version_1_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        v1_database(&path);
        // An index in the way of the new ones makes the migration fail at
        // its end, after the history was copied and the old table dropped.
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE x (y INTEGER); CREATE INDEX log_revision ON x (y);")
            .unwrap();
        let err = SqliteBackend::open(&path).unwrap_err();
        assert!(matches!(err, BackendError::Sqlite(_)), "{err:?}");
        assert_eq!(schema_version(&path), 1);
        let conn = Connection::open(&path).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 8);
        assert!(log_sql(&path).contains("WITHOUT ROWID"));
        conn.execute_batch("DROP TABLE x;").unwrap();
        drop(conn);
        // With the obstacle gone, the next start migrates.
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        assert_eq!(schema_version(&path), 2);
        assert_eq!(history(&mut b.reader().unwrap(), 1, 7, 100).len(), 8);
    }

    #[test]
    fn a_version_1_database_whose_first_start_stopped_early_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        // Version 1 wrote its meta row before its tables.
        Connection::open(&path)
            .unwrap()
            .execute_batch(&SCHEMA_V1[..SCHEMA_V1.find("CREATE TABLE kv").unwrap()])
            .unwrap();
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        assert_eq!(schema_version(&path), 2);
        assert_eq!(block_on(b.reader().unwrap().revisions()).unwrap(), (1, -1));
    }

    #[test]
    fn defragment_gives_pages_back_while_a_reader_keeps_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        let mut conn = b.connect().unwrap();
        let value = Bytes::from(vec![b'v'; 4000]);
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut w = SqliteWriter { conn: &mut conn };
        for i in 0..300 {
            let kv = KeyValue {
                key: Bytes::from(format!("k{i:03}")),
                create_revision: i + 2,
                mod_revision: i + 2,
                version: 1,
                lease: 0,
                value: value.clone(),
            };
            block_on(w.put(&kv, 0)).unwrap();
        }
        block_on(w.set_revisions(301, -1)).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        // Drop all but one key, and all history but the last revision.
        conn.execute_batch(
            "DELETE FROM kv WHERE key <> x'6b323939';
             DELETE FROM log WHERE revision < 301;",
        )
        .unwrap();
        let pages =
            |c: &Connection| -> i64 { c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap() };
        let before = pages(&conn);

        // A reader in the middle of a read transaction.
        let mut reader = b.reader().unwrap();
        assert_eq!(keys_at(&mut reader, None), ["k299"]);
        defragment_database(&conn).unwrap();
        assert!(
            pages(&conn) < before / 4,
            "{} pages of {before}",
            pages(&conn)
        );
        assert_eq!(keys_at(&mut reader, None), ["k299"]);
        drop(reader);
        let mut r = b.reader().unwrap();
        let kv = block_on(r.range(
            &KeyRange::Single(Bytes::from_static(b"k299")),
            None,
            0,
            false,
        ))
        .unwrap();
        assert_eq!(kv[0].value, value);
        assert_eq!(history(&mut r, 301, 301, 10), ["301 k299 put"]);
        // The busy timeout is back for the writes that follow.
        let timeout: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(timeout, i64::from(BUSY_TIMEOUT_MS));
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteBackend::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute("UPDATE meta SET schema_version = 3", [])
            .unwrap();
        let err = SqliteBackend::open(&path).unwrap_err();
        assert!(matches!(err, BackendError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().contains("schema version 3"), "{err}");
        assert_eq!(schema_version(&path), 3);
    }
}
