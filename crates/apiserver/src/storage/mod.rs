//! Where objects live: one trait, [`Storage`], over the key-value store.
//!
//! The API server needs little from its store: read a key or a page of a
//! prefix (now or at a past revision), write a key only if it is still at the
//! revision the caller read, and watch a prefix from a revision. Those are
//! exactly the operations kube-apiserver's etcd3 storage uses, and they map
//! onto both implementations one to one:
//!
//! - [`Embedded`]: the `causeway-store` engine in this process, with no gRPC
//!   hop;
//! - [`Etcd`]: any etcd v3 endpoint, `causeway store` or a real etcd 3.5.
//!
//! Keys are kube's layout, `/registry/<group>/<resource>/<namespace>/<name>`,
//! and a key's `mod_revision` is the object's `resourceVersion`.

mod embedded;
mod etcd;

use std::fmt::Debug;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use embedded::Embedded;
pub use etcd::Etcd;

/// One key and its newest value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv {
    /// The key, e.g. `/registry/configmaps/default/app`.
    pub key: String,
    /// The value (an object as JSON).
    pub value: Bytes,
    /// The revision of the last change: the object's `resourceVersion`.
    pub mod_revision: i64,
}

/// A page of a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The keys, in key order.
    pub items: Vec<Kv>,
    /// The revision the page was read at.
    pub revision: i64,
    /// How many keys of the range the limit left out (0 when none).
    pub remaining: i64,
}

/// What a conditional write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// It was written at this revision.
    Done {
        /// The revision of the write.
        revision: i64,
    },
    /// The key was not at the expected revision; here is what it holds now
    /// (`None`: it does not exist).
    Conflict {
        /// The key as it is now.
        current: Option<Kv>,
    },
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The key was created or changed.
    Put(Kv),
    /// The key was deleted at this revision.
    Delete {
        /// The key.
        key: String,
        /// The revision of the delete.
        revision: i64,
    },
}

impl Change {
    /// The revision of the change.
    pub fn revision(&self) -> i64 {
        match self {
            Change::Put(kv) => kv.mod_revision,
            Change::Delete { revision, .. } => *revision,
        }
    }

    /// The key it changed.
    pub fn key(&self) -> &str {
        match self {
            Change::Put(kv) => &kv.key,
            Change::Delete { key, .. } => key,
        }
    }
}

/// What a watch stream yields: changes in revision order (one revision's
/// changes together), or progress (everything up to `revision` has been
/// delivered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// Changes, in revision order.
    Changes(Vec<Change>),
    /// Nothing more happened up to this revision.
    Progress(i64),
}

/// The items of a watch. It ends with an error when history it needs was
/// compacted or the store went away.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchItem, StorageError>> + Send>>;

/// A watch on a prefix.
pub struct Watch {
    /// What the watch reports.
    pub items: WatchStream,
    /// Asks the store to report its progress now (a [`WatchItem::Progress`]
    /// soon follows). A consistent read from a cache needs this: the cache
    /// must know it has seen everything up to the store's revision, even
    /// when nothing under its prefix changed.
    pub request_progress: Box<dyn Fn() + Send + Sync>,
}

impl Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The revision asked for was compacted away.
    #[error("the requested revision {requested} has been compacted (oldest available {compacted})")]
    Compacted {
        /// What was asked for.
        requested: i64,
        /// The compaction revision, when the store said (0 when it did not).
        compacted: i64,
    },
    /// The revision asked for is newer than the store's.
    #[error("the requested revision {0} is in the future")]
    FutureRevision(i64),
    /// The embedded store failed.
    #[error("store failed")]
    Store(#[source] causeway_store::Error),
    /// The etcd endpoint failed or could not be reached.
    #[error("etcd request failed")]
    Etcd(#[source] etcd_client::Error),
    /// The store answered with something that cannot be an object.
    #[error("key {0:?} is not valid UTF-8")]
    BadKey(Vec<u8>),
    /// The store is shutting down.
    #[error("the store is shutting down")]
    Closed,
}

/// The store under the API server.
#[async_trait]
pub trait Storage: Debug + Send + Sync + 'static {
    /// The key's newest value, and the store's revision when read.
    async fn get(&self, key: &str) -> Result<(Option<Kv>, i64), StorageError>;

    /// Up to `limit` keys (0: all) of the prefix from `start` on (inclusive;
    /// empty: the start of the prefix), at `revision` (0: now).
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: i64,
        revision: i64,
    ) -> Result<Page, StorageError>;

    /// Writes the key only if it does not exist.
    async fn create(&self, key: &str, value: Bytes) -> Result<Write, StorageError>;

    /// Writes the key only if its mod revision is `expected`.
    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<Write, StorageError>;

    /// Deletes the key only if its mod revision is `expected`.
    async fn delete(&self, key: &str, expected: i64) -> Result<Write, StorageError>;

    /// Watches the prefix for changes after `after` (revision `after + 1`
    /// on), with progress reports when idle so the caller can tell how far
    /// the store has got.
    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch, StorageError>;

    /// The store's newest committed revision.
    async fn current_revision(&self) -> Result<i64, StorageError>;

    /// Drops history before `revision`.
    async fn compact(&self, revision: i64) -> Result<(), StorageError>;
}

/// The key one past every key that starts with `prefix`.
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    // Prefixes here always end in '/', so the last byte can be bumped.
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bumps_the_last_byte() {
        assert_eq!(
            prefix_end("/registry/configmaps/"),
            b"/registry/configmaps0".to_vec()
        );
    }
}
