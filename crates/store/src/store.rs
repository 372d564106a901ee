//! [`Store`]: the front of the engine that the servers call.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::apply::{self, MAX_LEASE_TTL, ReadPoint};
use crate::backend::{AnyReader, BackendError, Reader, postgres, sqlite};
use crate::error::Error;
use crate::kv::Event;
use crate::request::{
    DeleteRangeRequest, DeleteRangeResponse, LeaseGrantResponse, LeaseTimeToLive, PutRequest,
    PutResponse, RangeRequest, RangeResponse, StoreStatus, TxnRequest, TxnResponse,
};
use crate::watch::{Hub, WatchSession};
use crate::writer::{BatchOutcome, WriteCommand, WriteOp, WriteOutcome};

/// Where the data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datastore {
    /// An embedded SQLite database at this path.
    Sqlite(PathBuf),
    /// A PostgreSQL-compatible database (PostgreSQL, YugabyteDB, CockroachDB).
    Postgres(String),
}

/// Why a datastore URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatastoreParseError {
    /// The URL names a scheme the store does not know.
    #[error("unsupported datastore {0:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    UnknownScheme(String),
    /// `sqlite://` with no path.
    #[error("sqlite:// needs a path, e.g. sqlite://./.causeway/store.db")]
    EmptyPath,
}

impl FromStr for Datastore {
    type Err = DatastoreParseError;

    fn from_str(s: &str) -> Result<Datastore, DatastoreParseError> {
        if let Some(path) = s.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatastoreParseError::EmptyPath);
            }
            return Ok(Datastore::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Datastore::Postgres(s.to_string()));
        }
        Err(DatastoreParseError::UnknownScheme(s.to_string()))
    }
}

/// How to run the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Where the data lives.
    pub datastore: Datastore,
    /// Leases granted a shorter TTL get this one, in seconds (etcd's
    /// default with its default election timeout is 2).
    pub min_lease_ttl: i64,
    /// How often to compact history on a schedule; `None` for never.
    pub compact_interval: Option<Duration>,
    /// How many revisions scheduled compaction keeps.
    pub compact_retain: i64,
    /// How often watches that asked for it get a progress notification.
    pub progress_notify_interval: Duration,
    /// How often leases are checked for expiry.
    pub lease_check_interval: Duration,
}

impl StoreConfig {
    /// The defaults, on `datastore`.
    pub fn new(datastore: Datastore) -> StoreConfig {
        StoreConfig {
            datastore,
            min_lease_ttl: 2,
            compact_interval: None,
            compact_retain: 10_000,
            progress_notify_interval: Duration::from_secs(600),
            lease_check_interval: Duration::from_millis(500),
        }
    }
}

#[derive(Debug)]
pub(crate) enum BackendHandle {
    Sqlite(Arc<sqlite::SqliteBackend>),
    Postgres(Arc<postgres::PgBackend>),
}

/// The key-value store. Cheap to clone; every clone is the same store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: StoreConfig,
    backend: BackendHandle,
    writer: mpsc::Sender<WriteCommand>,
    hub: Hub,
    compact: AtomicI64,
    compactor: mpsc::UnboundedSender<(i64, Option<oneshot::Sender<()>>)>,
    shutdown: watch::Sender<bool>,
    /// Whether this process runs lease expiry (exactly one per database does).
    lease_leader: watch::Receiver<bool>,
}

impl Store {
    /// Opens (creating if needed) the store described by `config`, and
    /// starts its writer and background work.
    pub async fn open(config: StoreConfig) -> Result<Store, Error> {
        let (writer_tx, writer_rx) = mpsc::channel(8192);
        let (shutdown, _) = watch::channel(false);
        let (compactor_tx, compactor_rx) = mpsc::unbounded_channel();
        let (leader_tx, leader_rx) = watch::channel(false);
        let (backend, revision, compact) = match &config.datastore {
            Datastore::Sqlite(path) => {
                let b = Arc::new(sqlite::SqliteBackend::open(path)?);
                let (revision, compact) = b.revisions()?;
                (BackendHandle::Sqlite(b), revision, compact)
            }
            Datastore::Postgres(dsn) => {
                let b = Arc::new(postgres::PgBackend::open(dsn).await?);
                let (revision, compact) = b.revisions().await?;
                (BackendHandle::Postgres(b), revision, compact)
            }
        };
        let store = Store {
            inner: Arc::new(Inner {
                config,
                backend,
                writer: writer_tx,
                hub: Hub::new(revision),
                compact: AtomicI64::new(compact),
                compactor: compactor_tx,
                shutdown,
                lease_leader: leader_rx,
            }),
        };
        match &store.inner.backend {
            BackendHandle::Sqlite(b) => {
                sqlite::spawn_writer(b.clone(), writer_rx, store.clone())?;
                // One process owns an embedded database, so it leads.
                let _ = leader_tx.send(true);
            }
            BackendHandle::Postgres(b) => {
                postgres::spawn(b.clone(), writer_rx, store.clone(), leader_tx).await?;
            }
        }
        tokio::spawn(lease_expiry(store.clone()));
        tokio::spawn(compactor(store.clone(), compactor_rx));
        if let Some(every) = store.inner.config.compact_interval {
            tokio::spawn(scheduled_compaction(store.clone(), every));
        }
        if compact > 0 {
            // Finish a physical compaction an earlier run may have left half done.
            let _ = store.inner.compactor.send((compact, None));
        }
        Ok(store)
    }

    /// The configuration the store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    pub(crate) fn compact_revision(&self) -> i64 {
        self.inner.compact.load(Ordering::Acquire)
    }

    pub(crate) fn note_compact(&self, compact: i64) {
        self.inner.compact.fetch_max(compact, Ordering::AcqRel);
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Whether the store is shutting down.
    pub fn is_closed(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// The newest revision this process knows to be committed.
    pub fn current_revision(&self) -> i64 {
        self.inner.hub.committed()
    }

    /// The newest committed revision on the database. With several processes
    /// on one PostgreSQL database this asks the database, since this
    /// process hears of the others' commits a moment late; if the database
    /// does not answer, what this process knows is the best there is.
    pub async fn newest_revision(&self) -> i64 {
        if let BackendHandle::Postgres(b) = &self.inner.backend {
            match b.revisions().await {
                Ok((revision, _)) => self.inner.hub.note_committed(revision),
                Err(e) => tracing::warn!(error = %e, "reading the newest revision failed"),
            }
        }
        self.inner.hub.committed()
    }

    /// Runs `f` against a consistent read view of the database.
    pub(crate) async fn read<T, F, Fut>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(AnyReader) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send,
        T: Send + 'static,
    {
        match &self.inner.backend {
            BackendHandle::Sqlite(b) => {
                let b = b.clone();
                // SQLite calls block; keep them off the async workers.
                tokio::task::spawn_blocking(move || {
                    let r = b.reader()?;
                    futures::executor::block_on(f(AnyReader::Sqlite(r)))
                })
                .await
                .map_err(|e| Error::Backend(BackendError::Task(e.to_string())))?
            }
            BackendHandle::Postgres(b) => {
                let r = b.reader().await?;
                f(AnyReader::Postgres(r)).await
            }
        }
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer
            .send(WriteCommand { op, reply })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Reads a range.
    pub async fn range(&self, req: RangeRequest) -> Result<RangeResponse, Error> {
        apply::validate_key(req.range.start())?;
        self.read(move |mut r| async move {
            let (current, compact) = r.revisions().await?;
            apply::range(&mut r, ReadPoint { current, compact }, &req).await
        })
        .await
    }

    /// Writes one key.
    pub async fn put(&self, req: PutRequest) -> Result<PutResponse, Error> {
        apply::validate_put(&req)?;
        match self.write(WriteOp::Put(req)).await? {
            WriteOutcome::Put(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a range.
    pub async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, Error> {
        apply::validate_key(req.range.start())?;
        match self.write(WriteOp::DeleteRange(req)).await? {
            WriteOutcome::DeleteRange(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Runs a transaction. One that only reads is served from a read view
    /// and never waits for the writer.
    pub async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, Error> {
        apply::validate_txn(&req)?;
        if req.is_read_only() {
            return self
                .read(move |mut r| async move {
                    let (current, compact) = r.revisions().await?;
                    apply::read_txn(&mut r, ReadPoint { current, compact }, &req).await
                })
                .await;
        }
        match self.write(WriteOp::Txn(req)).await? {
            WriteOutcome::Txn(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Compacts history up to `revision`. Reads and watches before it fail
    /// from then on. With `physical`, waits until the rows are gone.
    /// Returns the current revision.
    pub async fn compact(&self, revision: i64, physical: bool) -> Result<i64, Error> {
        let current = match self.write(WriteOp::Compact { revision }).await? {
            WriteOutcome::Revision(r) => r,
            other => return Err(unexpected(other)),
        };
        self.note_compact(revision);
        let (done_tx, done_rx) = oneshot::channel();
        let _ = self.inner.compactor.send((revision, Some(done_tx)));
        if physical {
            // A dropped sender means the store is closing; the logical
            // compaction already holds either way.
            let _ = done_rx.await;
        }
        Ok(current)
    }

    /// Grants a lease. `id` 0 lets the store choose one.
    pub async fn lease_grant(&self, id: i64, ttl: i64) -> Result<LeaseGrantResponse, Error> {
        if ttl > MAX_LEASE_TTL {
            return Err(Error::LeaseTtlTooLarge);
        }
        let ttl = ttl.max(self.inner.config.min_lease_ttl);
        let mut id = id;
        loop {
            let chosen = id == 0;
            if chosen {
                // Positive 63-bit IDs, as etcd hands out.
                id = (rand::random::<u64>() >> 1) as i64;
                if id == 0 {
                    continue;
                }
            }
            match self.write(WriteOp::LeaseGrant { id, ttl }).await {
                Ok(WriteOutcome::Revision(revision)) => {
                    return Ok(LeaseGrantResponse { revision, id, ttl });
                }
                Ok(other) => return Err(unexpected(other)),
                Err(Error::LeaseExists) if chosen => id = 0,
                Err(e) => return Err(e),
            }
        }
    }

    /// Revokes a lease and deletes its keys. Returns the revision after.
    pub async fn lease_revoke(&self, id: i64) -> Result<i64, Error> {
        match self.write(WriteOp::LeaseRevoke { id }).await? {
            WriteOutcome::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Renews a lease. Returns its TTL, or 0 if it does not exist.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<i64, Error> {
        match self.write(WriteOp::LeaseKeepAlive { id }).await? {
            WriteOutcome::Ttl(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    /// A lease's time left, and its keys if asked for.
    pub async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive, Error> {
        self.read(move |mut r| async move {
            let (revision, _) = r.revisions().await?;
            let Some(lease) = r.lease(id).await? else {
                return Ok(LeaseTimeToLive {
                    revision,
                    id,
                    ttl: -1,
                    granted_ttl: 0,
                    keys: Vec::new(),
                });
            };
            let now = r.now_ms().await?;
            let keys = if keys {
                r.lease_keys(id).await?
            } else {
                Vec::new()
            };
            Ok(LeaseTimeToLive {
                revision,
                id,
                // etcd truncates the remaining time to whole seconds.
                ttl: (lease.expires_at_ms - now) / 1000,
                granted_ttl: lease.ttl,
                keys,
            })
        })
        .await
    }

    /// The IDs of every lease, and the current revision.
    pub async fn leases(&self) -> Result<(i64, Vec<i64>), Error> {
        self.read(|mut r| async move {
            let (revision, _) = r.revisions().await?;
            let mut leases = r.leases().await?;
            leases.sort_by_key(|l| (l.expires_at_ms, l.id));
            Ok((revision, leases.into_iter().map(|l| l.id).collect()))
        })
        .await
    }

    /// Revision, compaction and size.
    pub async fn status(&self) -> Result<StoreStatus, Error> {
        self.read(|mut r| async move {
            let (revision, compact_revision) = r.revisions().await?;
            let (db_size, db_size_in_use) = r.db_size().await?;
            Ok(StoreStatus {
                revision,
                compact_revision,
                db_size,
                db_size_in_use,
            })
        })
        .await
    }

    /// Rewrites the embedded database without the space that compaction
    /// and deletes freed, as etcd's defragment does, and answers the
    /// revision. Writes wait while it runs; reads go on. PostgreSQL reclaims
    /// its space with its own autovacuum, so there it is unsupported.
    pub async fn defragment(&self) -> Result<i64, Error> {
        if let BackendHandle::Postgres(_) = &self.inner.backend {
            return Err(Error::Unsupported(
                "defragment is not supported on PostgreSQL, which reclaims space with its own autovacuum",
            ));
        }
        match self.write(WriteOp::Defragment).await? {
            WriteOutcome::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Opens a stream of watches.
    pub fn watch(&self) -> WatchSession {
        WatchSession::start(self.clone(), self.inner.config.progress_notify_interval)
    }

    /// Whether this process expires leases for the database.
    pub fn is_lease_leader(&self) -> bool {
        *self.inner.lease_leader.borrow()
    }

    /// Stops taking requests, ends watch sessions, lets the writer finish
    /// what it has, and closes the database.
    pub async fn close(&self) {
        let _ = self.inner.shutdown.send(true);
        // Wait for the writes queued before the shutdown to finish.
        let (reply, rx) = oneshot::channel();
        if self
            .inner
            .writer
            .send(WriteCommand {
                op: WriteOp::Barrier,
                reply,
            })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        if let BackendHandle::Postgres(b) = &self.inner.backend {
            // Give up the lease-expiry lead before the process exits; a
            // restarted or peer process can then take it at once instead of
            // after the term runs out. Bounded: a database that stopped
            // answering must not hold the shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(3), b.lead_released.notified()).await;
        }
    }

    /// Publishes a finished batch and answers its requests. Called by the
    /// backends' writer loops after the transaction committed (or failed).
    pub(crate) fn finish_batch(
        &self,
        commands: Vec<WriteCommand>,
        outcome: Result<BatchOutcome, BackendError>,
        publish: impl FnOnce(Vec<Event>, i64),
    ) {
        match outcome {
            Ok(outcome) => {
                self.note_compact(outcome.compact);
                publish(outcome.events, outcome.revision);
                for (cmd, result) in commands.into_iter().zip(outcome.results) {
                    let _ = cmd.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = commands.len(), "write transaction failed");
                let msg = e.to_string();
                for cmd in commands {
                    let _ = cmd
                        .reply
                        .send(Err(Error::Backend(BackendError::Task(msg.clone()))));
                }
            }
        }
    }
}

fn unexpected(outcome: WriteOutcome) -> Error {
    Error::Backend(BackendError::Corrupt(format!(
        "writer answered with {outcome:?}"
    )))
}

/// Revokes leases whose time is up, on the one process that leads.
async fn lease_expiry(store: Store) {
    let mut shutdown = store.shutdown_signal();
    let mut leader = store.inner.lease_leader.clone();
    let mut tick = tokio::time::interval(store.inner.config.lease_check_interval);
    let mut leading = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
            // On SQLite the sender is gone once the store is open (the one
            // process always leads), and `changed` then fails at once: match
            // only real changes, or this loop would spin.
            Ok(()) = leader.changed() => {}
        }
        let now_leading = *leader.borrow();
        if now_leading && !leading {
            // A new leader cannot know how long leases went unrenewed.
            if let Err(e) = store.write(WriteOp::LeaseRefreshAll).await {
                tracing::warn!(error = %e, "could not refresh leases on taking the lead");
                continue;
            }
        }
        leading = now_leading;
        if !leading {
            continue;
        }
        let expired = store
            .read(|mut r| async move {
                let now = r.now_ms().await?;
                let leases = r.leases().await?;
                Ok(leases
                    .into_iter()
                    .filter(|l| l.expires_at_ms <= now)
                    .map(|l| l.id)
                    .collect::<Vec<_>>())
            })
            .await;
        match expired {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = store.write(WriteOp::LeaseExpire { id }).await {
                        tracing::warn!(error = %e, lease = id, "could not expire lease");
                    } else {
                        tracing::debug!(lease = id, "lease expired");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list leases for expiry"),
        }
    }
}

/// How many revisions one physical compaction step covers.
const COMPACT_STEP: i64 = 1000;

/// Removes history hidden by compaction, a bounded step at a time, so
/// writers never wait long behind it.
async fn compactor(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<(i64, Option<oneshot::Sender<()>>)>,
) {
    let mut done = 0;
    // The store holds the sender, and this task holds the store: without
    // the shutdown signal the two would keep each other (and the database
    // file's lock) alive after `close`.
    let mut shutdown = store.shutdown_signal();
    loop {
        let (target, waiter) = tokio::select! {
            next = rx.recv() => match next {
                Some(n) => n,
                None => return,
            },
            _ = shutdown.changed() => return,
        };
        // Every pass starts from the oldest row: a version an earlier pass
        // had to keep (it was then its key's newest) may be hidden now.
        if target > done {
            match compact_pass(&store, target).await {
                Ok(removed) => {
                    done = target;
                    tracing::info!(revision = target, removed, "compaction finished");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "compaction pass failed; the next compaction retries it")
                }
            }
        }
        if let Some(w) = waiter {
            let _ = w.send(());
        }
    }
}

/// Removes the history hidden by compaction at `target`, one bounded step
/// of revisions at a time, skipping stretches with no rows.
async fn compact_pass(store: &Store, target: i64) -> Result<u64, Error> {
    let mut removed = 0;
    let mut lo = 0;
    loop {
        let next = store
            .read(move |mut r| async move { r.first_revision_from(lo).await.map_err(Error::from) })
            .await?;
        if next == 0 || next > target {
            return Ok(removed);
        }
        let hi = (next + COMPACT_STEP - 1).min(target);
        removed += match &store.inner.backend {
            // SQLite has one writer, so the step queues behind writes.
            BackendHandle::Sqlite(_) => match store
                .write(WriteOp::CompactStep { from: next, to: hi })
                .await?
            {
                WriteOutcome::Removed(n) => n,
                _ => 0,
            },
            BackendHandle::Postgres(b) => b.compact_step(target, next, hi).await?,
        };
        lo = hi + 1;
    }
}

async fn scheduled_compaction(store: Store, every: Duration) {
    let mut shutdown = store.shutdown_signal();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let target = store.current_revision() - store.inner.config.compact_retain;
        if target > store.compact_revision() {
            match store.compact(target, false).await {
                Ok(_) => tracing::info!(revision = target, "scheduled compaction"),
                // Another process on the same database may have compacted further.
                Err(Error::Compacted) => {}
                Err(e) => tracing::warn!(error = %e, "scheduled compaction failed"),
            }
        }
    }
}
