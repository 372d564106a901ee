//! The watch cache: one store watch per resource, serving lists and watches
//! from memory, as kube-apiserver's cacher does.
//!
//! A [`Cache`] lists its resource's prefix once, then follows one store
//! watch from that revision. It holds every object (as the JSON it will be
//! served as, `resourceVersion` included, so a list is a copy of bytes) and
//! a window of recent events, so a client can resume a watch from a recent
//! resourceVersion without touching the store. A thousand watchers cost one
//! store watch and one serialization per change.
//!
//! Consistency: a list or watch that must not be stale first learns the
//! store's newest revision, then waits until the cache has seen it (asking
//! the store for a progress report, since the newest change may have been
//! under another prefix). This is kube's "consistent reads from cache".

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;
use crate::object;
use crate::resource::ResourceType;
use crate::storage::{Change, Storage, StorageError, WatchItem};

/// How many recent events a cache keeps for watches that resume.
const HISTORY: usize = 10_000;

/// How many events a slow watcher may fall behind before its watch is
/// ended (the client then resumes from its last resourceVersion).
const BROADCAST_CAPACITY: usize = 16_384;

/// Page size of the initial list.
const LIST_PAGE: i64 = 10_000;

/// How long a read waits for the cache to reach a revision.
const WAIT_FOR_REVISION: Duration = Duration::from_secs(3);

/// How often an idle cache asks the store how far it has got, so bookmarks
/// and consistent reads see a fresh revision.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// One object as the cache holds it.
#[derive(Debug)]
pub struct Object {
    /// Its storage key.
    pub key: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Its resourceVersion.
    pub revision: i64,
    /// The object as served: JSON with `resourceVersion` set.
    pub json: Bytes,
    /// `metadata.labels`.
    pub labels: Map<String, Value>,
    /// The values of the resource's selectable fields.
    pub fields: Vec<(String, String)>,
}

impl Object {
    /// The value of a selectable field.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(&self.namespace),
            _ => self
                .fields
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.as_str()),
        }
    }

    /// The object, parsed.
    pub fn value(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.json)
            .map_err(|e| ApiError::Internal(format!("cached object {} is not JSON: {e}", self.key)))
    }
}

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// It was created.
    Added,
    /// It changed.
    Modified,
    /// It was deleted.
    Deleted,
}

impl EventType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as the cache saw it.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventType,
    /// The object after the change; for a delete, its last state with the
    /// delete's revision as resourceVersion.
    pub object: Arc<Object>,
    /// The object before the change, if it existed.
    pub old: Option<Arc<Object>>,
}

impl Event {
    /// The revision of the change.
    pub fn revision(&self) -> i64 {
        self.object.revision
    }
}

/// What watchers receive from the cache.
#[derive(Clone, Debug)]
pub enum Signal {
    /// A change.
    Event(Arc<Event>),
    /// Every change up to this revision has been sent.
    Progress(i64),
}

/// Where a read may be served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadAt {
    /// Whatever the cache holds (resourceVersion "0").
    Any,
    /// At least this revision (resourceVersion N, NotOlderThan).
    AtLeast(i64),
    /// The newest revision of the store (resourceVersion unset).
    Consistent,
}

/// A started watch: the events to send first, then the live stream.
#[derive(Debug)]
pub struct CacheWatch {
    /// Events to send before the live ones (replayed history, or the
    /// current objects as ADDED).
    pub initial: Vec<Arc<Event>>,
    /// The revision the initial events bring the watcher to.
    pub revision: i64,
    /// The live stream; ends when the cache relists.
    pub live: broadcast::Receiver<Signal>,
}

#[derive(Debug)]
struct State {
    objects: BTreeMap<String, Arc<Object>>,
    history: VecDeque<Arc<Event>>,
    /// History holds every event after this revision.
    history_start: i64,
    revision: i64,
    events: broadcast::Sender<Signal>,
}

struct Inner {
    resource: Arc<ResourceType>,
    storage: Arc<dyn Storage>,
    state: RwLock<State>,
    revision: watch::Sender<i64>,
    ready: watch::Sender<bool>,
    request_progress: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    stopped: watch::Sender<bool>,
}

/// The watch cache of one resource (all versions of it share one).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    /// Starts a cache of `resource`'s prefix; it fills in the background.
    pub fn start(storage: Arc<dyn Storage>, resource: Arc<ResourceType>) -> Cache {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let cache = Cache {
            inner: Arc::new(Inner {
                resource,
                storage,
                state: RwLock::new(State {
                    objects: BTreeMap::new(),
                    history: VecDeque::new(),
                    history_start: 0,
                    revision: 0,
                    events,
                }),
                revision: watch::channel(0).0,
                ready: watch::channel(false).0,
                request_progress: Mutex::new(None),
                stopped: watch::channel(false).0,
            }),
        };
        let runner = cache.clone();
        tokio::spawn(async move {
            let mut stopped = runner.inner.stopped.subscribe();
            loop {
                tokio::select! {
                    result = runner.run() => if let Err(e) = result {
                        tracing::warn!(
                            prefix = %runner.inner.resource.storage_prefix,
                            error = %e,
                            "watch cache lost its store watch; relisting"
                        );
                    },
                    _ = async { let _ = stopped.wait_for(|s| *s).await; } => break,
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            // Ending the broadcast ends every watch of this cache.
            runner.write().events = broadcast::channel(1).0;
        });
        cache
    }

    /// Stops following the store and ends every watch (the resource is no
    /// longer served).
    pub fn stop(&self) {
        self.inner.stopped.send_replace(true);
    }

    /// The resource cached.
    pub fn resource(&self) -> &Arc<ResourceType> {
        &self.inner.resource
    }

    /// Whether the initial list has loaded.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// The revision the cache has reached.
    pub fn revision(&self) -> i64 {
        self.read().revision
    }

    /// Lists the objects under `prefix` (a namespace's, or all) that pass
    /// `filter`, at a point allowed by `at`. Returns them in key order with
    /// the revision they reflect.
    pub async fn list(
        &self,
        prefix: &str,
        at: ReadAt,
        filter: &(dyn Fn(&Object) -> bool + Sync),
    ) -> Result<(Vec<Arc<Object>>, i64), ApiError> {
        self.wait_until(at).await?;
        let state = self.read();
        let items = state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, o)| filter(o))
            .map(|(_, o)| o.clone())
            .collect();
        Ok((items, state.revision))
    }

    /// Starts a watch. With `from` set, replays the events after it from
    /// history (410 Expired when they are gone); without, starts with the
    /// current objects as ADDED events, at a point allowed by `at`.
    pub async fn watch(&self, from: Option<i64>, at: ReadAt) -> Result<CacheWatch, ApiError> {
        match from {
            Some(rv) => {
                self.wait_until(ReadAt::AtLeast(rv)).await?;
                let state = self.read();
                if rv < state.history_start {
                    return Err(ApiError::Expired(format!(
                        "too old resource version: {rv} ({})",
                        state.history_start + 1
                    )));
                }
                let initial = state
                    .history
                    .iter()
                    .filter(|e| e.revision() > rv)
                    .cloned()
                    .collect();
                Ok(CacheWatch {
                    initial,
                    revision: state.revision,
                    live: state.events.subscribe(),
                })
            }
            None => {
                self.wait_until(at).await?;
                let state = self.read();
                let initial = state
                    .objects
                    .values()
                    .map(|o| {
                        Arc::new(Event {
                            kind: EventType::Added,
                            object: o.clone(),
                            old: None,
                        })
                    })
                    .collect();
                Ok(CacheWatch {
                    initial,
                    revision: state.revision,
                    live: state.events.subscribe(),
                })
            }
        }
    }

    /// Waits until the cache may serve a read at `at`.
    pub async fn wait_until(&self, at: ReadAt) -> Result<(), ApiError> {
        let mut ready = self.inner.ready.subscribe();
        if tokio::time::timeout(WAIT_FOR_REVISION * 10, ready.wait_for(|r| *r))
            .await
            .is_err()
        {
            return Err(ApiError::Unavailable(format!(
                "the watch cache of {} is not ready",
                self.inner.resource.qualified().text()
            )));
        }
        let target = match at {
            ReadAt::Any => return Ok(()),
            ReadAt::AtLeast(rv) => rv,
            ReadAt::Consistent => self
                .inner
                .storage
                .current_revision()
                .await
                .map_err(ApiError::storage)?,
        };
        let mut revision = self.inner.revision.subscribe();
        if *revision.borrow() >= target {
            return Ok(());
        }
        self.ask_progress();
        match tokio::time::timeout(WAIT_FOR_REVISION, revision.wait_for(|r| *r >= target)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ApiError::TooLargeResourceVersion {
                requested: target,
                current: self.revision(),
            }),
        }
    }

    fn ask_progress(&self) {
        let guard = self
            .inner
            .request_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(ask) = guard.as_ref() {
            ask();
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Writers never panic while holding the lock except on allocation
        // failure, after which the state is still consistent per event.
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists, then follows the store until the watch fails.
    async fn run(&self) -> Result<(), StorageError> {
        let prefix = self.inner.resource.storage_prefix.clone();
        let mut objects = BTreeMap::new();
        let mut start = String::new();
        let mut revision = 0;
        loop {
            let page = self
                .inner
                .storage
                .list(&prefix, &start, LIST_PAGE, revision)
                .await?;
            revision = page.revision;
            let last = page.items.last().map(|kv| kv.key.clone());
            for kv in page.items {
                if let Some(o) = self.decode(&kv.key, &kv.value, kv.mod_revision) {
                    objects.insert(kv.key, Arc::new(o));
                }
            }
            match last {
                Some(last) if page.remaining > 0 => start = format!("{last}\0"),
                _ => break,
            }
        }
        let mut watch = self.inner.storage.watch(&prefix, revision).await?;
        {
            let mut state = self.write();
            // Watchers of the previous run must start over: what they were
            // told may not match the new list.
            state.events = broadcast::channel(BROADCAST_CAPACITY).0;
            state.objects = objects;
            state.history.clear();
            state.history_start = revision;
            state.revision = revision;
        }
        *self
            .inner
            .request_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(watch.request_progress);
        self.inner.revision.send_replace(revision);
        self.inner.ready.send_replace(true);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        loop {
            tokio::select! {
                item = watch.items.next() => match item {
                    Some(Ok(WatchItem::Changes(changes))) => self.apply(changes),
                    Some(Ok(WatchItem::Progress(r))) => self.progress(r),
                    Some(Err(e)) => return Err(e),
                    None => return Err(StorageError::Closed),
                },
                _ = tick.tick() => self.ask_progress(),
            }
        }
    }

    fn decode(&self, key: &str, value: &[u8], revision: i64) -> Option<Object> {
        let mut v: Value = match serde_json::from_slice(value) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(key, error = %e, "stored object is not JSON; leaving it out");
                return None;
            }
        };
        object::set_resource_version(&mut v, revision);
        Some(self.object(key, v, revision))
    }

    fn object(&self, key: &str, v: Value, revision: i64) -> Object {
        let r = &self.inner.resource;
        let fields = r
            .selectable_fields
            .iter()
            .map(|f| (f.clone(), r.field_value(&v, f).unwrap_or_default()))
            .collect();
        Object {
            key: key.to_string(),
            namespace: object::namespace(&v).to_string(),
            name: object::name(&v).to_string(),
            revision,
            labels: object::labels(&v).cloned().unwrap_or_default(),
            fields,
            // Serializing a Value cannot fail: its keys are strings.
            json: Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
        }
    }

    fn apply(&self, changes: Vec<Change>) {
        let mut last = 0;
        let mut state = self.write();
        for change in changes {
            last = change.revision();
            let event = match change {
                Change::Put(kv) => {
                    let Some(o) = self.decode(&kv.key, &kv.value, kv.mod_revision) else {
                        continue;
                    };
                    let o = Arc::new(o);
                    let old = state.objects.insert(kv.key, o.clone());
                    Event {
                        kind: if old.is_some() {
                            EventType::Modified
                        } else {
                            EventType::Added
                        },
                        object: o,
                        old,
                    }
                }
                Change::Delete { key, revision } => {
                    let Some(old) = state.objects.remove(&key) else {
                        continue;
                    };
                    let mut v = match old.value() {
                        Ok(v) => v,
                        Err(_) => continue,
                    };
                    object::set_resource_version(&mut v, revision);
                    Event {
                        kind: EventType::Deleted,
                        object: Arc::new(self.object(&key, v, revision)),
                        old: Some(old),
                    }
                }
            };
            let event = Arc::new(event);
            state.history.push_back(event.clone());
            while state.history.len() > HISTORY {
                if let Some(e) = state.history.pop_front() {
                    state.history_start = e.revision();
                }
            }
            // No receivers is fine: nobody is watching.
            let _ = state.events.send(Signal::Event(event));
        }
        if last > state.revision {
            state.revision = last;
        }
        let revision = state.revision;
        drop(state);
        self.inner.revision.send_replace(revision);
    }

    fn progress(&self, revision: i64) {
        let mut state = self.write();
        if revision > state.revision {
            state.revision = revision;
        }
        let revision = state.revision;
        let _ = state.events.send(Signal::Progress(revision));
        drop(state);
        self.inner.revision.send_replace(revision);
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.resource.storage_prefix)
            .finish_non_exhaustive()
    }
}
