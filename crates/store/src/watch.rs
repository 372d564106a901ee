//! Watches: committed changes pushed to every stream that wants them.
//!
//! Every commit is published once, as a [`Batch`], on a broadcast channel.
//! A [`WatchSession`] (one per client stream, holding many watches) follows
//! that channel. A watch that needs events the session has already passed
//! (it started at an old revision, or the session fell behind and the
//! channel dropped batches for it) is *unsynced*: it reads them from the
//! history table, in bounded chunks, until it reaches the session's
//! position, and then follows the channel again. So a slow client slows
//! down its own stream, and is never dropped or silently skipped; only
//! compaction can end a watch early, and then the client is told the
//! compaction revision, exactly as etcd does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::backend::Reader;
use crate::error::Error;
use crate::kv::{Event, EventKind, KeyRange};
use crate::store::Store;

/// How many events one catch-up read takes from history.
const CATCH_UP_CHUNK: usize = 1000;

/// How many batches the broadcast channel keeps for slow sessions before
/// they must catch up from history. Small on purpose: a batch can hold
/// hundreds of events, and a lagging session loses nothing by reading
/// history instead, so a long buffer would only cost memory.
const CHANNEL_CAPACITY: usize = 256;

/// The events of one or more consecutive revisions, in order.
#[derive(Debug)]
pub(crate) struct Batch {
    pub first: i64,
    pub last: i64,
    pub events: Vec<Event>,
}

/// Publishes commits to watch sessions, and knows how far it has published.
#[derive(Debug)]
pub(crate) struct Hub {
    tx: broadcast::Sender<Arc<Batch>>,
    /// The last revision published.
    published: AtomicI64,
    /// The newest revision known to be committed, which may run ahead of
    /// `published` by the time it takes to hand a commit over.
    committed: AtomicI64,
}

impl Hub {
    pub(crate) fn new(revision: i64) -> Hub {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Hub {
            tx,
            published: AtomicI64::new(revision),
            committed: AtomicI64::new(revision),
        }
    }

    /// The newest committed revision this process knows of.
    pub(crate) fn committed(&self) -> i64 {
        self.committed.load(Ordering::Acquire)
    }

    /// The newest revision published to watchers.
    pub(crate) fn published(&self) -> i64 {
        self.published.load(Ordering::Acquire)
    }

    /// Notes that `revision` is committed.
    pub(crate) fn note_committed(&self, revision: i64) {
        self.committed.fetch_max(revision, Ordering::AcqRel);
    }

    /// Publishes the events of revisions `published+1 ..= last`.
    pub(crate) fn publish(&self, events: Vec<Event>, last: i64) {
        self.note_committed(last);
        let prev = self.published.fetch_max(last, Ordering::AcqRel);
        if last <= prev || events.is_empty() {
            return;
        }
        let batch = Batch {
            first: events[0].revision(),
            last,
            events,
        };
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(Arc::new(batch));
    }

    fn subscribe(&self) -> (broadcast::Receiver<Arc<Batch>>, i64) {
        // Subscribe first: a batch published between the two steps then
        // shows up as a gap, which sessions repair from history.
        let rx = self.tx.subscribe();
        (rx, self.published())
    }
}

/// What to watch.
#[derive(Clone, Debug)]
pub struct WatchCreate {
    /// The keys.
    pub range: KeyRange,
    /// The first revision to report; 0 or less means the next one.
    pub start_revision: i64,
    /// Attach the previous key-value to each event.
    pub prev_kv: bool,
    /// Leave puts out.
    pub no_put: bool,
    /// Leave deletes out.
    pub no_delete: bool,
    /// Send an empty response now and then when nothing happens.
    pub progress_notify: bool,
    /// The ID the client wants, or 0 for the next free one.
    pub watch_id: i64,
}

/// A request to a watch session.
#[derive(Debug)]
pub enum WatchCommand {
    /// Start a watch.
    Create(WatchCreate),
    /// Stop a watch.
    Cancel(i64),
    /// Report how far the stream has got, once every watch is synced.
    Progress,
}

/// What a watch session reports, in the order the client must see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchResponse {
    /// A watch was created, or refused (`error` says why).
    Created {
        /// Its ID, or -1 when refused.
        watch_id: i64,
        /// The store's revision at creation.
        revision: i64,
        /// Why the watch was refused.
        error: Option<String>,
    },
    /// Events for one watch.
    Events {
        /// The watch.
        watch_id: i64,
        /// The revision the stream has reached.
        revision: i64,
        /// The events, in revision order.
        events: Vec<Event>,
    },
    /// A watch ended: the client cancelled it, or history it needs is compacted.
    Canceled {
        /// The watch.
        watch_id: i64,
        /// The stream's revision.
        revision: i64,
        /// The compaction revision, when compaction ended the watch.
        compact_revision: i64,
        /// Why, if not at the client's request.
        reason: String,
    },
    /// Every event up to `revision` has been sent. `watch_id` is -1 for an
    /// answer to [`WatchCommand::Progress`].
    Progress {
        /// The watch, or -1 for the whole stream.
        watch_id: i64,
        /// The revision reached.
        revision: i64,
    },
}

/// One client's stream of watches. Drop it to end them all.
#[derive(Debug)]
pub struct WatchSession {
    commands: mpsc::UnboundedSender<WatchCommand>,
    responses: mpsc::Receiver<WatchResponse>,
}

impl WatchSession {
    pub(crate) fn start(store: Store, progress_interval: Duration) -> WatchSession {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        // A small buffer: a client that stops reading holds this session
        // up, and the session then catches up from history.
        let (resp_tx, resp_rx) = mpsc::channel(64);
        tokio::spawn(run(store, cmd_rx, resp_tx, progress_interval));
        WatchSession {
            commands: cmd_tx,
            responses: resp_rx,
        }
    }

    /// Sends a request to the session. Fails only once the session has ended.
    pub fn send(&self, command: WatchCommand) -> Result<(), Error> {
        self.commands.send(command).map_err(|_| Error::Closed)
    }

    /// The next response; `None` once the store shuts down.
    pub async fn recv(&mut self) -> Option<WatchResponse> {
        self.responses.recv().await
    }

    /// Splits the session into its sending and receiving halves, for
    /// servers that drive them from different tasks.
    pub fn split(
        self,
    ) -> (
        mpsc::UnboundedSender<WatchCommand>,
        mpsc::Receiver<WatchResponse>,
    ) {
        (self.commands, self.responses)
    }
}

#[derive(Debug)]
struct Watch {
    create: WatchCreate,
    /// The next revision this watch has to report.
    next: i64,
    /// When something was last sent, for progress notifications.
    quiet_since: tokio::time::Instant,
}

impl Watch {
    fn wants(&self, e: &Event) -> bool {
        e.revision() >= self.next
            && self.create.range.contains(&e.kv.key)
            && !(self.create.no_put && e.kind == EventKind::Put)
            && !(self.create.no_delete && e.kind == EventKind::Delete)
    }
}

struct Session {
    store: Store,
    out: mpsc::Sender<WatchResponse>,
    watches: BTreeMap<i64, Watch>,
    next_id: i64,
    /// Every synced watch has been sent everything up to here.
    position: i64,
    progress_pending: bool,
}

async fn run(
    store: Store,
    mut commands: mpsc::UnboundedReceiver<WatchCommand>,
    out: mpsc::Sender<WatchResponse>,
    progress_interval: Duration,
) {
    let (mut rx, position) = store.hub().subscribe();
    let mut shutdown = store.shutdown_signal();
    let mut s = Session {
        store,
        out,
        watches: BTreeMap::new(),
        next_id: 0,
        position,
        progress_pending: false,
    };
    let mut tick = tokio::time::interval(progress_interval.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Commands first, so a cancel is never held up behind catch-up work.
        while let Ok(cmd) = commands.try_recv() {
            if s.command(cmd).await.is_err() {
                return;
            }
        }
        match s.catch_up_one().await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(()) => return,
        }
        if s.progress_pending && s.send_stream_progress().await.is_err() {
            return;
        }
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => if s.command(cmd).await.is_err() { return },
                None => return,
            },
            batch = rx.recv() => match batch {
                Ok(batch) => if s.deliver(&batch).await.is_err() { return },
                // Batches were dropped for this session; the gap is found
                // at the next batch and repaired from history.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => if s.progress_notify(progress_interval).await.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

impl Session {
    async fn send(&mut self, r: WatchResponse) -> Result<(), ()> {
        self.out.send(r).await.map_err(|_| ())
    }

    fn synced(&self, w: &Watch) -> bool {
        w.next > self.position
    }

    async fn command(&mut self, cmd: WatchCommand) -> Result<(), ()> {
        match cmd {
            WatchCommand::Create(c) => self.create(c).await,
            WatchCommand::Cancel(id) => {
                if self.watches.remove(&id).is_some() {
                    let revision = self.store.hub().committed();
                    self.send(WatchResponse::Canceled {
                        watch_id: id,
                        revision,
                        compact_revision: 0,
                        reason: String::new(),
                    })
                    .await?;
                }
                Ok(())
            }
            WatchCommand::Progress => {
                // With no watches etcd answers nothing at all.
                if !self.watches.is_empty() {
                    self.progress_pending = true;
                }
                Ok(())
            }
        }
    }

    async fn create(&mut self, c: WatchCreate) -> Result<(), ()> {
        // A watch with no start revision starts after the newest commit on
        // the database, which other processes may have moved past what this
        // one has heard of yet.
        let revision = self.store.newest_revision().await;
        let refuse = |error: &str| WatchResponse::Created {
            watch_id: -1,
            revision,
            error: Some(error.to_string()),
        };
        if c.range.is_empty() {
            return self.send(refuse("mvcc: watcher range is empty")).await;
        }
        let id = if c.watch_id != 0 {
            if self.watches.contains_key(&c.watch_id) {
                return self
                    .send(refuse(
                        "mvcc: duplicate watch ID provided on the WatchStream",
                    ))
                    .await;
            }
            c.watch_id
        } else {
            while self.watches.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        };
        let next = if c.start_revision <= 0 {
            revision + 1
        } else {
            c.start_revision
        };
        self.send(WatchResponse::Created {
            watch_id: id,
            revision,
            error: None,
        })
        .await?;
        self.watches.insert(
            id,
            Watch {
                create: c,
                next,
                quiet_since: tokio::time::Instant::now(),
            },
        );
        Ok(())
    }

    /// Hands a published batch to every synced watch that wants it.
    async fn deliver(&mut self, batch: &Batch) -> Result<(), ()> {
        if batch.last <= self.position {
            return Ok(());
        }
        let before = self.position;
        self.position = batch.last;
        let compact = self.store.compact_revision();
        let mut sends = Vec::new();
        for (id, w) in &mut self.watches {
            // A watch takes the batch only if it was synced and needs nothing
            // from before it. One that was behind, or that needs revisions
            // this session missed (a gap before `batch.first`), stays behind
            // `position` and catches up from history.
            if w.next <= before || w.next < batch.first || w.next > batch.last {
                continue;
            }
            let events: Vec<Event> = batch
                .events
                .iter()
                .filter(|e| w.wants(e))
                .map(|e| with_prev(e, w.create.prev_kv, compact))
                .collect();
            w.next = batch.last + 1;
            if !events.is_empty() {
                w.quiet_since = tokio::time::Instant::now();
                sends.push(WatchResponse::Events {
                    watch_id: *id,
                    revision: batch.last,
                    events,
                });
            }
        }
        for r in sends {
            self.send(r).await?;
        }
        Ok(())
    }

    /// Reads one chunk of history for the first unsynced watch. Returns
    /// whether there was one.
    async fn catch_up_one(&mut self) -> Result<bool, ()> {
        let position = self.position;
        let Some((&id, w)) = self.watches.iter().find(|(_, w)| w.next <= position) else {
            return Ok(false);
        };
        let from = w.next;
        let create = w.create.clone();
        let read = self
            .store
            .read(move |mut r| async move {
                let (_, compact) = r.revisions().await?;
                if from < compact {
                    return Ok(Err(compact));
                }
                let mut events = r.events(from, position, CATCH_UP_CHUNK).await?;
                // Whether the read stopped short of `position`, and where,
                // is decided before filtering: a full chunk of other keys'
                // events must not look like the end of history.
                let reached = (events.len() >= CATCH_UP_CHUNK)
                    .then(|| events.last().map(|e| e.revision()))
                    .flatten();
                events.retain(|e| {
                    create.range.contains(&e.kv.key)
                        && !(create.no_put && e.kind == EventKind::Put)
                        && !(create.no_delete && e.kind == EventKind::Delete)
                });
                if create.prev_kv {
                    for e in &mut events {
                        e.prev_kv = prev_from_history(&mut r, e, compact).await?;
                    }
                }
                Ok(Ok((events, reached)))
            })
            .await;
        match read {
            Ok(Err(compact)) => {
                self.watches.remove(&id);
                self.send(WatchResponse::Canceled {
                    watch_id: id,
                    revision: position,
                    compact_revision: compact,
                    reason: String::new(),
                })
                .await?;
            }
            Ok(Ok((events, reached))) => {
                // A full chunk may stop short of `position`; the next round
                // goes on from where this one ended.
                let next = match reached {
                    Some(r) => r + 1,
                    None => position + 1,
                };
                if let Some(w) = self.watches.get_mut(&id) {
                    w.next = next;
                    if !events.is_empty() {
                        w.quiet_since = tokio::time::Instant::now();
                    }
                }
                if !events.is_empty() {
                    self.send(WatchResponse::Events {
                        watch_id: id,
                        revision: position,
                        events,
                    })
                    .await?;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, watch_id = id, "watch catch-up failed; ending the watch");
                self.watches.remove(&id);
                self.send(WatchResponse::Canceled {
                    watch_id: id,
                    revision: position,
                    compact_revision: 0,
                    reason: format!("catching up from history failed: {e}"),
                })
                .await?;
            }
        }
        Ok(true)
    }

    async fn send_stream_progress(&mut self) -> Result<(), ()> {
        if self.watches.values().any(|w| !self.synced(w)) {
            return Ok(());
        }
        self.progress_pending = false;
        let revision = self.position;
        self.send(WatchResponse::Progress {
            watch_id: -1,
            revision,
        })
        .await
    }

    async fn progress_notify(&mut self, interval: Duration) -> Result<(), ()> {
        let now = tokio::time::Instant::now();
        let position = self.position;
        let mut due = Vec::new();
        for (id, w) in &mut self.watches {
            if w.create.progress_notify
                && w.next > position
                && now.duration_since(w.quiet_since) >= interval
            {
                w.quiet_since = now;
                due.push(*id);
            }
        }
        for watch_id in due {
            self.send(WatchResponse::Progress {
                watch_id,
                revision: position,
            })
            .await?;
        }
        Ok(())
    }
}

/// etcd finds an event's previous key-value by reading the key one revision
/// earlier, so it has none for creations, or once that revision is compacted.
fn with_prev(e: &Event, want: bool, compact: i64) -> Event {
    let mut e = e.clone();
    if !want || e.is_create() || e.revision() - 1 < compact {
        e.prev_kv = None;
    }
    e
}

async fn prev_from_history<R: Reader>(
    r: &mut R,
    e: &Event,
    compact: i64,
) -> Result<Option<crate::kv::KeyValue>, crate::backend::BackendError> {
    if e.is_create() || e.revision() - 1 < compact {
        return Ok(None);
    }
    let prev = r
        .range(
            &KeyRange::Single(e.kv.key.clone()),
            Some(e.revision() - 1),
            1,
            false,
        )
        .await?;
    Ok(prev.into_iter().next())
}
