//! The PostgreSQL backend, which also serves YugabyteDB and CockroachDB.
//!
//! Writers in every process serialize on one row (`causeway_meta`, locked
//! with `SELECT … FOR UPDATE` for the whole transaction), which is what
//! makes revisions gap-free and commit order equal to revision order
//! across processes. Each process batches its own requests into one
//! transaction, so the lock is taken once per batch, not per request.
//!
//! Other processes learn of a commit through `NOTIFY causeway_revision`
//! where the database has it (PostgreSQL, YugabyteDB), and by polling the
//! revision every few milliseconds where it does not (CockroachDB). Either
//! way they read the new revisions from the history table and publish them
//! to their own watchers in order.
//!
//! Only plain SQL is used: `ON CONFLICT`, `FOR UPDATE`, `LATERAL` and
//! partial indexes, which all three databases have.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::{BackendError, LeaseRow, Reader, Writer, key_condition, newest_at, superseded};
use crate::kv::{Event, EventKind, KeyRange, KeyValue};
use crate::store::Store;
use crate::writer::{BatchOutcome, MAX_BATCH, WriteCommand, WriteOp, apply_batch};

const SCHEMA: &str = "
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS causeway_meta (
    id INT PRIMARY KEY,
    revision BIGINT NOT NULL,
    compact_revision BIGINT NOT NULL,
    schema_version BIGINT NOT NULL
);
INSERT INTO causeway_meta (id, revision, compact_revision, schema_version)
    VALUES (1, 1, -1, 1) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS causeway_kv (
    key BYTEA PRIMARY KEY,
    create_revision BIGINT NOT NULL,
    mod_revision BIGINT NOT NULL,
    version BIGINT NOT NULL,
    lease BIGINT NOT NULL,
    value BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS causeway_kv_lease ON causeway_kv (lease) WHERE lease <> 0;
CREATE TABLE IF NOT EXISTS causeway_log (
    revision BIGINT NOT NULL,
    sub BIGINT NOT NULL,
    key BYTEA NOT NULL,
    deleted BOOLEAN NOT NULL,
    create_revision BIGINT NOT NULL,
    version BIGINT NOT NULL,
    lease BIGINT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (revision, sub)
);
CREATE INDEX IF NOT EXISTS causeway_log_key ON causeway_log (key, revision);
CREATE TABLE IF NOT EXISTS causeway_lease (
    id BIGINT PRIMARY KEY,
    ttl BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS causeway_leader (
    role TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
";

/// The database clock, in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

/// The channel commits are announced on.
const CHANNEL: &str = "causeway_revision";

/// How often the revision is polled when NOTIFY is missing, and as a
/// safety net when it is there.
const FAST_POLL: Duration = Duration::from_millis(10);
const SLOW_POLL: Duration = Duration::from_millis(500);

/// How long the lease-expiry lead is held before it must be renewed.
const LEADER_TERM_MS: i64 = 10_000;

fn pg_err(e: tokio_postgres::Error) -> BackendError {
    BackendError::Postgres(e)
}

/// The database: a connection pool and what it supports.
pub(crate) struct PgBackend {
    dsn: String,
    pool: Pool,
    notify: AtomicBool,
    /// Signalled once a shutting-down process has given up the lease-expiry
    /// lead, so that the next process need not wait out its term.
    pub(crate) lead_released: tokio::sync::Notify,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("notify", &self.notify.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PgBackend {
    /// Connects, creates the schema if needed, and checks its version.
    pub(crate) async fn open(dsn: &str) -> Result<PgBackend, BackendError> {
        let config: tokio_postgres::Config = dsn.parse().map_err(pg_err)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(32)
            .build()
            .map_err(|e| BackendError::Pool(e.to_string()))?;
        let b = PgBackend {
            dsn: dsn.to_string(),
            pool,
            notify: AtomicBool::new(false),
            lead_released: tokio::sync::Notify::new(),
        };
        let client = b.client().await?;
        // Processes starting together may race to create the schema.
        let mut attempt = 0;
        loop {
            match client.batch_execute(SCHEMA).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, "schema creation raced; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(pg_err(e)),
            }
        }
        let version: i64 = client
            .query_one("SELECT schema_version FROM causeway_meta WHERE id = 1", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        if version != 1 {
            return Err(BackendError::Corrupt(format!(
                "the database has causeway schema version {version}; this causeway reads version 1"
            )));
        }
        Ok(b)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, BackendError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => pg_err(e),
            other => BackendError::Pool(other.to_string()),
        })
    }

    /// The newest and compaction revisions.
    pub(crate) async fn revisions(&self) -> Result<(i64, i64), BackendError> {
        let client = self.client().await?;
        revisions(&client, false).await
    }

    /// A read view: a repeatable-read transaction on a pooled connection.
    pub(crate) async fn reader(&self) -> Result<PgReader, BackendError> {
        let client = self.client().await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(pg_err)?;
        Ok(PgReader {
            client: Some(client),
        })
    }
}

/// A read-only transaction on a pooled connection.
pub(crate) struct PgReader {
    client: Option<deadpool_postgres::Object>,
}

impl std::fmt::Debug for PgReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgReader").finish_non_exhaustive()
    }
}

impl PgReader {
    fn db(&self) -> Result<&deadpool_postgres::Client, BackendError> {
        // Only `Drop` takes the client out.
        self.client
            .as_ref()
            .ok_or_else(|| BackendError::Task("reader used after release".into()))
    }
}

impl Drop for PgReader {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // The transaction must end before the connection goes back to the
        // pool; without a runtime to do that, close the connection instead.
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(deadpool_postgres::Object::take(client));
                    }
                });
            }
            Err(_) => drop(deadpool_postgres::Object::take(client)),
        }
    }
}

/// The open write transaction of the writer task.
///
/// Round trips, not SQL work, bound PostgreSQL throughput, and the revision
/// lock is held for the whole batch. So the writer keeps the newest state
/// of every key the batch touches in `cache`: the keys of the batch's puts
/// are fetched in one query once the lock is held, and its own writes go
/// into the cache. History rows and the final state of each written key are
/// written at `flush`, in three bulk statements. Any read the cache cannot
/// answer (a range, a count, history) flushes first, so it sees the batch's
/// writes.
struct PgWriter<'t> {
    tx: deadpool_postgres::Transaction<'t>,
    now_ms: Option<i64>,
    notify: bool,
    /// Keys to fetch into `cache` once the revision lock is held.
    prefetch: Vec<Vec<u8>>,
    /// The newest state of keys this transaction has read or written.
    cache: HashMap<Bytes, Option<KeyValue>>,
    /// History rows not yet written.
    log: Vec<LogRow>,
    /// Keys whose `cache` entry has not reached `causeway_kv` yet.
    dirty: BTreeSet<Bytes>,
}

/// One row of `causeway_log`, waiting for `flush`.
struct LogRow {
    revision: i64,
    sub: i64,
    kv: KeyValue,
    deleted: bool,
}

impl<'t> PgWriter<'t> {
    fn db(&self) -> Result<&deadpool_postgres::Transaction<'t>, BackendError> {
        Ok(&self.tx)
    }
}

async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, BackendError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query(&stmt, params).await.map_err(pg_err)
}

async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, BackendError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.execute(&stmt, params).await.map_err(pg_err)
}

async fn revisions<C: GenericClient>(c: &C, lock: bool) -> Result<(i64, i64), BackendError> {
    let sql = if lock {
        "SELECT revision, compact_revision FROM causeway_meta WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT revision, compact_revision FROM causeway_meta WHERE id = 1"
    };
    let rows = query(c, sql, &[]).await?;
    let row = rows
        .first()
        .ok_or_else(|| BackendError::Corrupt("causeway_meta has no row".into()))?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

fn kv_row(r: &Row) -> Result<KeyValue, BackendError> {
    Ok(KeyValue {
        key: Bytes::from(r.try_get::<_, Vec<u8>>(0)?),
        create_revision: r.try_get(1)?,
        mod_revision: r.try_get(2)?,
        version: r.try_get(3)?,
        lease: r.try_get(4)?,
        value: Bytes::from(r.try_get::<_, Vec<u8>>(5)?),
    })
}

fn lease_row(r: &Row) -> Result<LeaseRow, BackendError> {
    Ok(LeaseRow {
        id: r.try_get(0)?,
        ttl: r.try_get(1)?,
        expires_at_ms: r.try_get(2)?,
    })
}

/// Bind values for a key condition followed by integers.
struct Binds {
    keys: Vec<Vec<u8>>,
    ints: Vec<Option<i64>>,
}

impl Binds {
    fn new(keys: Vec<Bytes>, ints: Vec<Option<i64>>) -> Binds {
        Binds {
            keys: keys.into_iter().map(|k| k.to_vec()).collect(),
            ints,
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let keys = self.keys.iter().map(|k| k as &(dyn ToSql + Sync));
        keys.chain(self.ints.iter().map(|i| i as &(dyn ToSql + Sync)))
            .collect()
    }
}

async fn range_rows<C: GenericClient>(
    c: &C,
    range: &KeyRange,
    at: Option<i64>,
    limit: usize,
    keys_only: bool,
) -> Result<Vec<KeyValue>, BackendError> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let (cond, keys) = key_condition(range, 1);
    let n = keys.len() + 1;
    // A NULL limit is no limit.
    let limit = (limit > 0).then_some(limit as i64);
    let (sql, binds) = match at {
        None => (
            format!(
                "SELECT key, create_revision, mod_revision, version, lease, {}
                 FROM causeway_kv WHERE {cond} ORDER BY key LIMIT ${n}::BIGINT",
                if keys_only { "''::BYTEA" } else { "value" }
            ),
            Binds::new(keys, vec![limit]),
        ),
        Some(rev) => (
            format!(
                "SELECT l.key, l.create_revision, l.revision, l.version, l.lease, {} {} ORDER BY l.key LIMIT ${}",
                if keys_only { "''::BYTEA" } else { "l.value" },
                newest_at("causeway_log", &cond, n, "NOT l.deleted"),
                n + 1
            ),
            Binds::new(keys, vec![Some(rev), limit]),
        ),
    };
    query(c, &sql, &binds.params())
        .await?
        .iter()
        .map(kv_row)
        .collect()
}

async fn count<C: GenericClient>(
    c: &C,
    range: &KeyRange,
    at: Option<i64>,
) -> Result<i64, BackendError> {
    if range.is_empty() {
        return Ok(0);
    }
    let (cond, keys) = key_condition(range, 1);
    let n = keys.len() + 1;
    let (sql, binds) = match at {
        None => (
            format!("SELECT count(*) FROM causeway_kv WHERE {cond}"),
            Binds::new(keys, vec![]),
        ),
        Some(rev) => (
            format!(
                "SELECT count(*) {}",
                newest_at("causeway_log", &cond, n, "NOT l.deleted")
            ),
            Binds::new(keys, vec![Some(rev)]),
        ),
    };
    let rows = query(c, &sql, &binds.params()).await?;
    Ok(rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
}

const EVENT_COLS: &str =
    "e.revision, e.sub, e.key, e.deleted, e.create_revision, e.version, e.lease, e.value";

/// With `prev`, each event also carries the key's version before it: the
/// newest row of the key below the event's revision, as etcd's read at
/// `revision - 1` finds it.
const PREV_JOIN: &str = "LEFT JOIN LATERAL (
    SELECT p.key, p.create_revision, p.revision, p.version, p.lease, p.value, p.deleted
    FROM causeway_log AS p WHERE p.key = e.key AND p.revision < e.revision
    ORDER BY p.revision DESC LIMIT 1) AS p ON TRUE";

fn event_row(r: &Row, prev: bool) -> Result<(i64, Event), BackendError> {
    let revision: i64 = r.try_get(0)?;
    let sub: i64 = r.try_get(1)?;
    let key = Bytes::from(r.try_get::<_, Vec<u8>>(2)?);
    let deleted: bool = r.try_get(3)?;
    let prev_kv = if prev && r.try_get::<_, Option<bool>>(14)? == Some(false) {
        Some(KeyValue {
            key: key.clone(),
            create_revision: r.try_get(9)?,
            mod_revision: r.try_get(10)?,
            version: r.try_get(11)?,
            lease: r.try_get(12)?,
            value: Bytes::from(r.try_get::<_, Vec<u8>>(13)?),
        })
    } else {
        None
    };
    let event = if deleted {
        Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key,
                mod_revision: revision,
                ..KeyValue::default()
            },
            prev_kv,
        }
    } else {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key,
                create_revision: r.try_get(4)?,
                mod_revision: revision,
                version: r.try_get(5)?,
                lease: r.try_get(6)?,
                value: Bytes::from(r.try_get::<_, Vec<u8>>(7)?),
            },
            prev_kv,
        }
    };
    Ok((sub, event))
}

async fn events<C: GenericClient>(
    c: &C,
    from: i64,
    to: i64,
    limit: usize,
    prev: bool,
) -> Result<Vec<Event>, BackendError> {
    let (cols, join) = if prev {
        (format!("{EVENT_COLS}, p.*"), PREV_JOIN)
    } else {
        (EVENT_COLS.to_string(), "")
    };
    let sql = format!(
        "SELECT {cols} FROM causeway_log AS e {join}
         WHERE e.revision >= $1 AND e.revision <= $2 ORDER BY e.revision, e.sub LIMIT $3"
    );
    let rows = query(c, &sql, &[&from, &to, &(limit as i64)]).await?;
    let full = rows.len() >= limit;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in &rows {
        let (sub, e) = event_row(row, prev)?;
        last = Some((e.revision(), sub));
        out.push(e);
    }
    // Never split a revision: finish the last one.
    if let (true, Some((rev, sub))) = (full, last) {
        let sql = format!(
            "SELECT {cols} FROM causeway_log AS e {join}
             WHERE e.revision = $1 AND e.sub > $2 ORDER BY e.sub"
        );
        for row in query(c, &sql, &[&rev, &sub]).await? {
            out.push(event_row(&row, prev)?.1);
        }
    }
    Ok(out)
}

/// Implements `Reader` for a type with a `conn()` giving a client.
macro_rules! pg_reader {
    ($t:ty) => {
        impl Reader for $t {
            async fn revisions(&mut self) -> Result<(i64, i64), BackendError> {
                self.read_revisions().await
            }
            async fn range(&mut self, range: &KeyRange, at: Option<i64>, limit: usize, keys_only: bool) -> Result<Vec<KeyValue>, BackendError> {
                if let Some(hit) = self.cached(range, at, keys_only) {
                    return Ok(hit);
                }
                let rows = range_rows(self.fresh().await?, range, at, limit, keys_only).await?;
                self.remember(range, at, keys_only, &rows);
                Ok(rows)
            }
            async fn count(&mut self, range: &KeyRange, at: Option<i64>) -> Result<i64, BackendError> {
                count(self.fresh().await?, range, at).await
            }
            async fn events(&mut self, from: i64, to: i64, limit: usize) -> Result<Vec<Event>, BackendError> {
                events(self.fresh().await?, from, to, limit, false).await
            }
            async fn lease(&mut self, id: i64) -> Result<Option<LeaseRow>, BackendError> {
                let rows = query(self.db()?, "SELECT id, ttl, expires_at_ms FROM causeway_lease WHERE id = $1", &[&id]).await?;
                rows.first().map(lease_row).transpose()
            }
            async fn leases(&mut self) -> Result<Vec<LeaseRow>, BackendError> {
                let rows = query(self.db()?, "SELECT id, ttl, expires_at_ms FROM causeway_lease", &[]).await?;
                rows.iter().map(lease_row).collect()
            }
            async fn lease_keys(&mut self, id: i64) -> Result<Vec<Bytes>, BackendError> {
                let rows = query(self.fresh().await?, "SELECT key FROM causeway_kv WHERE lease = $1 ORDER BY key", &[&id]).await?;
                rows.iter().map(|r| Ok(Bytes::from(r.try_get::<_, Vec<u8>>(0)?))).collect()
            }
            async fn now_ms(&mut self) -> Result<i64, BackendError> {
                self.read_now_ms().await
            }
            async fn first_revision_from(&mut self, from: i64) -> Result<i64, BackendError> {
                let rows = query(self.fresh().await?, "SELECT coalesce(min(revision), 0) FROM causeway_log WHERE revision >= $1", &[&from]).await?;
                Ok(rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
            }
            async fn db_size(&mut self) -> Result<(i64, i64), BackendError> {
                let rows = query(
                    self.db()?,
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::BIGINT,
                            coalesce(sum(pg_relation_size(c.oid)), 0)::BIGINT
                     FROM pg_class AS c WHERE c.relname LIKE 'causeway\\_%' AND c.relkind = 'r'",
                    &[],
                )
                .await?;
                Ok(match rows.first() {
                    Some(r) => (r.try_get(0)?, r.try_get(1)?),
                    None => (0, 0),
                })
            }
        }
    };
}

impl PgReader {
    /// A reader's view never changes under it, so it is always fresh.
    async fn fresh(&mut self) -> Result<&deadpool_postgres::Client, BackendError> {
        self.db()
    }

    fn cached(&self, _: &KeyRange, _: Option<i64>, _: bool) -> Option<Vec<KeyValue>> {
        None
    }

    fn remember(&mut self, _: &KeyRange, _: Option<i64>, _: bool, _: &[KeyValue]) {}

    async fn read_revisions(&self) -> Result<(i64, i64), BackendError> {
        revisions(self.db()?, false).await
    }

    async fn read_now_ms(&self) -> Result<i64, BackendError> {
        let rows = query(self.db()?, &format!("SELECT {NOW_MS}"), &[]).await?;
        Ok(rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }
}

impl<'t> PgWriter<'t> {
    fn new(tx: deadpool_postgres::Transaction<'t>, notify: bool, prefetch: Vec<Vec<u8>>) -> Self {
        PgWriter {
            tx,
            now_ms: None,
            notify,
            prefetch,
            cache: HashMap::new(),
            log: Vec::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// The transaction, with every pending write in it.
    async fn fresh(&mut self) -> Result<&deadpool_postgres::Transaction<'t>, BackendError> {
        self.flush().await?;
        Ok(&self.tx)
    }

    /// The newest state of a single key, when the cache knows it.
    fn cached(&self, range: &KeyRange, at: Option<i64>, keys_only: bool) -> Option<Vec<KeyValue>> {
        let (KeyRange::Single(key), None) = (range, at) else {
            return None;
        };
        let kv = self.cache.get(key)?.clone();
        Some(
            kv.map(|mut kv| {
                if keys_only {
                    kv.value = Bytes::new();
                }
                kv
            })
            .into_iter()
            .collect(),
        )
    }

    fn remember(&mut self, range: &KeyRange, at: Option<i64>, keys_only: bool, rows: &[KeyValue]) {
        if let (KeyRange::Single(key), None, false) = (range, at, keys_only) {
            self.cache.insert(key.clone(), rows.first().cloned());
        }
    }

    /// Writes the pending history rows, then each written key's final state.
    async fn flush(&mut self) -> Result<(), BackendError> {
        if self.log.is_empty() {
            return Ok(());
        }
        let log = std::mem::take(&mut self.log);
        let revisions: Vec<i64> = log.iter().map(|r| r.revision).collect();
        let subs: Vec<i64> = log.iter().map(|r| r.sub).collect();
        let keys: Vec<&[u8]> = log.iter().map(|r| r.kv.key.as_ref()).collect();
        let deleted: Vec<bool> = log.iter().map(|r| r.deleted).collect();
        let creates: Vec<i64> = log.iter().map(|r| r.kv.create_revision).collect();
        let versions: Vec<i64> = log.iter().map(|r| r.kv.version).collect();
        let leases: Vec<i64> = log.iter().map(|r| r.kv.lease).collect();
        let values: Vec<&[u8]> = log.iter().map(|r| r.kv.value.as_ref()).collect();
        execute(
            &self.tx,
            "INSERT INTO causeway_log (revision, sub, key, deleted, create_revision, version, lease, value)
             SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BYTEA[], $4::BOOL[],
                                  $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BYTEA[])",
            &[&revisions, &subs, &keys, &deleted, &creates, &versions, &leases, &values],
        )
        .await?;
        let dirty = std::mem::take(&mut self.dirty);
        let mut gone: Vec<&[u8]> = Vec::new();
        let mut live: Vec<&KeyValue> = Vec::new();
        for key in &dirty {
            match self.cache.get(key) {
                Some(Some(kv)) => live.push(kv),
                _ => gone.push(key.as_ref()),
            }
        }
        if !gone.is_empty() {
            execute(
                &self.tx,
                "DELETE FROM causeway_kv WHERE key = ANY($1::BYTEA[])",
                &[&gone],
            )
            .await?;
        }
        if !live.is_empty() {
            let keys: Vec<&[u8]> = live.iter().map(|kv| kv.key.as_ref()).collect();
            let creates: Vec<i64> = live.iter().map(|kv| kv.create_revision).collect();
            let mods: Vec<i64> = live.iter().map(|kv| kv.mod_revision).collect();
            let versions: Vec<i64> = live.iter().map(|kv| kv.version).collect();
            let leases: Vec<i64> = live.iter().map(|kv| kv.lease).collect();
            let values: Vec<&[u8]> = live.iter().map(|kv| kv.value.as_ref()).collect();
            execute(
                &self.tx,
                "INSERT INTO causeway_kv (key, create_revision, mod_revision, version, lease, value)
                 SELECT * FROM unnest($1::BYTEA[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                                      $5::BIGINT[], $6::BYTEA[])
                 ON CONFLICT (key) DO UPDATE SET create_revision = excluded.create_revision,
                   mod_revision = excluded.mod_revision, version = excluded.version,
                   lease = excluded.lease, value = excluded.value",
                &[&keys, &creates, &mods, &versions, &leases, &values],
            )
            .await?;
        }
        Ok(())
    }

    /// Locks the revision row: from here until commit, no other writer on
    /// the database can take a revision.
    async fn read_revisions(&mut self) -> Result<(i64, i64), BackendError> {
        let rows = query(
            &self.tx,
            &format!("SELECT revision, compact_revision, {NOW_MS} FROM causeway_meta WHERE id = 1 FOR UPDATE"),
            &[],
        )
        .await?;
        let row = rows
            .first()
            .ok_or_else(|| BackendError::Corrupt("causeway_meta has no row".into()))?;
        self.now_ms = Some(row.try_get(2)?);
        let revisions = (row.try_get(0)?, row.try_get(1)?);
        // Only now, with the lock held, can the batch's keys be read once
        // and trusted for the rest of the transaction.
        if !self.prefetch.is_empty() {
            let keys = std::mem::take(&mut self.prefetch);
            let rows = query(
                &self.tx,
                "SELECT key, create_revision, mod_revision, version, lease, value
                 FROM causeway_kv WHERE key = ANY($1::BYTEA[])",
                &[&keys],
            )
            .await?;
            for key in keys {
                self.cache.entry(Bytes::from(key)).or_insert(None);
            }
            for row in &rows {
                let kv = kv_row(row)?;
                self.cache.insert(kv.key.clone(), Some(kv));
            }
        }
        Ok(revisions)
    }

    async fn read_now_ms(&mut self) -> Result<i64, BackendError> {
        match self.now_ms {
            Some(n) => Ok(n),
            None => Ok(self
                .read_revisions()
                .await
                .map(|_| self.now_ms.unwrap_or(0))?),
        }
    }
}

pg_reader!(PgReader);
pg_reader!(PgWriter<'_>);

impl Writer for PgWriter<'_> {
    async fn put(&mut self, kv: &KeyValue, sub: i64) -> Result<(), BackendError> {
        self.cache.insert(kv.key.clone(), Some(kv.clone()));
        self.dirty.insert(kv.key.clone());
        self.log.push(LogRow {
            revision: kv.mod_revision,
            sub,
            kv: kv.clone(),
            deleted: false,
        });
        Ok(())
    }

    async fn delete(&mut self, key: &Bytes, revision: i64, sub: i64) -> Result<(), BackendError> {
        self.cache.insert(key.clone(), None);
        self.dirty.insert(key.clone());
        self.log.push(LogRow {
            revision,
            sub,
            kv: KeyValue {
                key: key.clone(),
                ..KeyValue::default()
            },
            deleted: true,
        });
        Ok(())
    }

    async fn set_revisions(
        &mut self,
        revision: i64,
        compact_revision: i64,
    ) -> Result<(), BackendError> {
        self.flush().await?;
        execute(
            &self.tx,
            "UPDATE causeway_meta SET revision = $1, compact_revision = $2 WHERE id = 1",
            &[&revision, &compact_revision],
        )
        .await?;
        if self.notify {
            // Delivered to listeners when the transaction commits.
            execute(
                &self.tx,
                "SELECT pg_notify($1, $2)",
                &[&CHANNEL, &revision.to_string()],
            )
            .await?;
        }
        Ok(())
    }

    async fn put_lease(&mut self, lease: LeaseRow) -> Result<(), BackendError> {
        execute(
            &self.tx,
            "INSERT INTO causeway_lease (id, ttl, expires_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET ttl = excluded.ttl, expires_at_ms = excluded.expires_at_ms",
            &[&lease.id, &lease.ttl, &lease.expires_at_ms],
        )
        .await?;
        Ok(())
    }

    async fn delete_lease(&mut self, id: i64) -> Result<(), BackendError> {
        execute(&self.tx, "DELETE FROM causeway_lease WHERE id = $1", &[&id]).await?;
        Ok(())
    }

    async fn compact(
        &mut self,
        compact_revision: i64,
        from: i64,
        to: i64,
    ) -> Result<u64, BackendError> {
        self.flush().await?;
        compact_rows(&self.tx, compact_revision, from, to).await
    }
}

/// Removes the rows of revisions `from..=to` hidden by compaction at
/// `compact_revision`: superseded versions first, tombstones after, as in
/// SQLite, since a tombstone must outlive every older version of its key.
async fn compact_rows<C: GenericClient>(
    c: &C,
    compact_revision: i64,
    from: i64,
    to: i64,
) -> Result<u64, BackendError> {
    let hidden = execute(
        c,
        &superseded("causeway_log"),
        &[&from, &to, &compact_revision],
    )
    .await?;
    let tombstones = execute(
        c,
        "DELETE FROM causeway_log WHERE revision >= $1 AND revision <= $2 AND deleted",
        &[&from, &to],
    )
    .await?;
    Ok(hidden + tombstones)
}

impl PgBackend {
    /// One compaction step in a transaction of its own. It needs no
    /// revision lock: it only removes history that no read at or after the
    /// (already committed) compaction revision can see, and writers only
    /// ever add newer rows. So writers never wait behind compaction.
    pub(crate) async fn compact_step(
        &self,
        compact_revision: i64,
        from: i64,
        to: i64,
    ) -> Result<u64, BackendError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let n = compact_rows(&tx, compact_revision, from, to).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(n)
    }
}

/// Runs one batch in one transaction.
async fn run_batch(
    client: &mut deadpool_postgres::Object,
    ops: &[&WriteOp],
    notify: bool,
) -> Result<BatchOutcome, BackendError> {
    let prefetch = ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::Put(p) => Some(p.key.to_vec()),
            _ => None,
        })
        .collect();
    let tx = client.transaction().await.map_err(pg_err)?;
    let mut w = PgWriter::new(tx, notify, prefetch);
    let outcome = apply_batch(&mut w, ops).await?;
    w.flush().await?;
    w.tx.commit().await.map_err(pg_err)?;
    Ok(outcome)
}

/// Starts the writer task: like SQLite's, one transaction per batch of
/// queued requests, retried whole when the database reports a
/// serialization failure.
async fn spawn_writer(
    b: Arc<PgBackend>,
    mut rx: mpsc::Receiver<WriteCommand>,
    store: Store,
    feed: mpsc::UnboundedSender<(Vec<Event>, i64)>,
) -> Result<(), BackendError> {
    let mut client = b.client().await?;
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut cmds = vec![first];
            while cmds.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
            }
            let ops: Vec<&WriteOp> = cmds.iter().map(|c| &c.op).collect();
            let notify = b.notify.load(Ordering::Relaxed);
            let mut attempt = 0;
            let outcome = loop {
                match run_batch(&mut client, &ops, notify).await {
                    Err(e) if e.is_retryable() && attempt < 20 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(attempt)).await;
                    }
                    Err(e) if client.is_closed() => {
                        // The connection died: get a new one for the next
                        // batch, and fail this one (it may or may not have
                        // committed, which only the client can sort out).
                        if let Ok(c) = b.client().await {
                            client = c;
                        }
                        break Err(e);
                    }
                    other => break other,
                }
            };
            let last_is_barrier = matches!(ops.last(), Some(WriteOp::Barrier));
            drop(ops);
            store.finish_batch(cmds, outcome, |events, revision| {
                store.hub().note_committed(revision);
                // The feed publishes in revision order, merging in what
                // other processes commit.
                let _ = feed.send((events, revision));
            });
            if store.is_closed() && last_is_barrier && rx.is_empty() {
                break;
            }
        }
        tracing::debug!("postgres writer stopped");
    });
    Ok(())
}

/// Starts the writer, the feed that publishes every process's commits to
/// this process's watchers, and the election of the process that expires
/// leases.
pub(crate) async fn spawn(
    b: Arc<PgBackend>,
    rx: mpsc::Receiver<WriteCommand>,
    store: Store,
    leader: watch::Sender<bool>,
) -> Result<(), BackendError> {
    let (feed_tx, feed_rx) = mpsc::unbounded_channel();
    let listening = Arc::new(AtomicBool::new(false));
    let (notify_tx, notify_rx) = mpsc::unbounded_channel();
    let listener = match listen(&b.dsn, notify_tx, listening.clone()).await {
        Ok(client) => {
            b.notify.store(true, Ordering::Relaxed);
            Some(client)
        }
        Err(e) => {
            tracing::info!(error = %e, "database has no LISTEN/NOTIFY; polling for other writers' commits");
            None
        }
    };
    spawn_writer(b.clone(), rx, store.clone(), feed_tx).await?;
    tokio::spawn(feed(
        b.clone(),
        store.clone(),
        feed_rx,
        notify_rx,
        listening,
        listener,
    ));
    tokio::spawn(lead(b, store, leader));
    Ok(())
}

/// Opens a connection that listens for commit announcements and forwards
/// their revisions. `listening` stays true while it works. The returned
/// client must be kept: dropping it closes the connection.
async fn listen(
    dsn: &str,
    tx: mpsc::UnboundedSender<i64>,
    listening: Arc<AtomicBool>,
) -> Result<tokio_postgres::Client, BackendError> {
    let (client, mut conn) = tokio_postgres::connect(dsn, NoTls).await.map_err(pg_err)?;
    let flag = listening.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(msg) = messages.next().await {
            match msg {
                Ok(AsyncMessage::Notification(n)) => {
                    if let Ok(rev) = n.payload().parse::<i64>() {
                        let _ = tx.send(rev);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; falling back to polling");
                    break;
                }
            }
        }
        flag.store(false, Ordering::Relaxed);
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(pg_err)?;
    listening.store(true, Ordering::Relaxed);
    Ok(client)
}

/// How many events one catch-up read of other processes' commits takes.
const FEED_CHUNK: usize = 1000;

/// Publishes commits in revision order: this process's own as its writer
/// hands them over, and other processes' read back from history when a
/// notification or a poll shows the revision moved past what was published.
async fn feed(
    b: Arc<PgBackend>,
    store: Store,
    mut local: mpsc::UnboundedReceiver<(Vec<Event>, i64)>,
    mut notified: mpsc::UnboundedReceiver<i64>,
    listening: Arc<AtomicBool>,
    // Held so the LISTEN connection stays open as long as the feed runs.
    _listener: Option<tokio_postgres::Client>,
) {
    let mut shutdown = store.shutdown_signal();
    let mut published = store.hub().published();
    let mut tick = tokio::time::interval(FAST_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_poll = tokio::time::Instant::now();
    loop {
        let target = tokio::select! {
            msg = local.recv() => {
                let Some((events, revision)) = msg else { return };
                let Some(first) = events.first().map(Event::revision) else { continue };
                if first > published + 1 && catch_up(&b, &store, &mut published, first - 1).await.is_err() {
                    continue;
                }
                if revision > published {
                    let events: Vec<Event> = events.into_iter().filter(|e| e.revision() > published).collect();
                    store.hub().publish(events, revision);
                    published = revision;
                }
                continue;
            }
            Some(revision) = notified.recv() => revision,
            _ = tick.tick() => {
                let due = if listening.load(Ordering::Relaxed) { SLOW_POLL } else { FAST_POLL };
                if last_poll.elapsed() < due {
                    continue;
                }
                last_poll = tokio::time::Instant::now();
                match b.revisions().await {
                    Ok((revision, compact)) => {
                        store.note_compact(compact);
                        revision
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "polling the revision failed");
                        continue;
                    }
                }
            }
            _ = shutdown.changed() => return,
        };
        if target > published {
            store.hub().note_committed(target);
            let _ = catch_up(&b, &store, &mut published, target).await;
        }
    }
}

/// Reads revisions `published+1 ..= to` from history and publishes them.
async fn catch_up(
    b: &PgBackend,
    store: &Store,
    published: &mut i64,
    to: i64,
) -> Result<(), BackendError> {
    while *published < to {
        let from = *published + 1;
        let result = async {
            let r = b.reader().await?;
            events(r.db()?, from, to, FEED_CHUNK, true).await
        }
        .await;
        let events = match result {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, from, to, "reading other writers' commits failed; will retry");
                return Err(e);
            }
        };
        let last = if events.len() >= FEED_CHUNK {
            events.last().map_or(to, Event::revision)
        } else {
            to
        };
        store.hub().publish(events, last);
        *published = last;
    }
    Ok(())
}

/// How often the lease-expiry lead is claimed or renewed.
const LEAD_EVERY: Duration = Duration::from_secs(2);

/// Keeps `leader` true while this process holds the lease-expiry lead:
/// a row with a holder and an expiry, taken over only once expired.
async fn lead(b: Arc<PgBackend>, store: Store, leader: watch::Sender<bool>) {
    let me = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
    let mut shutdown = store.shutdown_signal();
    let mut tick = tokio::time::interval(LEAD_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                leader.send_replace(false);
                if let Ok(c) = b.client().await {
                    let _ = c.execute("DELETE FROM causeway_leader WHERE role = 'lease-expiry' AND holder = $1", &[&me]).await;
                }
                b.lead_released.notify_one();
                return;
            }
        }
        let leading = async {
            let c = b.client().await?;
            let rows = query(
                &c,
                &format!(
                    "INSERT INTO causeway_leader (role, holder, expires_at_ms)
                     VALUES ('lease-expiry', $1, {NOW_MS} + $2)
                     ON CONFLICT (role) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
                     WHERE causeway_leader.holder = excluded.holder OR causeway_leader.expires_at_ms < {NOW_MS}
                     RETURNING holder"
                ),
                &[&me, &LEADER_TERM_MS],
            )
            .await?;
            Ok::<bool, BackendError>(!rows.is_empty())
        }
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not renew the lease-expiry lead");
            false
        });
        if *leader.borrow() != leading {
            tracing::info!(leading, "lease-expiry lead changed");
            leader.send_replace(leading);
        }
    }
}
