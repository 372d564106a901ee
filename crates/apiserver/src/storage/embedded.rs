//! The store engine in this process.

use async_trait::async_trait;
use bytes::Bytes;
use causeway_store::request::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    ResponseOp, TxnRequest,
};
use causeway_store::{
    EventKind, KeyRange, KeyValue, Store, WatchCommand, WatchCreate, WatchResponse,
};

use super::{Change, Kv, Page, Storage, StorageError, Watch, WatchItem, Write, prefix_end};

/// [`Storage`] on a [`Store`] opened in this process.
#[derive(Clone, Debug)]
pub struct Embedded {
    store: Store,
}

impl Embedded {
    /// Serves objects from `store`.
    pub fn new(store: Store) -> Embedded {
        Embedded { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn guarded(
        &self,
        key: &str,
        guard: CompareTarget,
        then: RequestOp,
    ) -> Result<Write, StorageError> {
        let range = KeyRange::Single(Bytes::copy_from_slice(key.as_bytes()));
        let txn = TxnRequest {
            compare: vec![Compare {
                range: range.clone(),
                result: CompareResult::Equal,
                target: guard,
            }],
            success: vec![then],
            failure: vec![RequestOp::Range(RangeRequest::new(range))],
        };
        let resp = self.store.txn(txn).await.map_err(store_error)?;
        if resp.succeeded {
            return Ok(Write::Done {
                revision: resp.revision,
            });
        }
        let current = match resp.responses.into_iter().next() {
            Some(ResponseOp::Range(r)) => r.kvs.into_iter().next().map(to_kv).transpose()?,
            _ => None,
        };
        Ok(Write::Conflict { current })
    }
}

#[async_trait]
impl Storage for Embedded {
    async fn get(&self, key: &str) -> Result<(Option<Kv>, i64), StorageError> {
        let range = KeyRange::Single(Bytes::copy_from_slice(key.as_bytes()));
        let resp = self
            .store
            .range(RangeRequest::new(range))
            .await
            .map_err(store_error)?;
        let kv = resp.kvs.into_iter().next().map(to_kv).transpose()?;
        Ok((kv, resp.revision))
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: i64,
        revision: i64,
    ) -> Result<Page, StorageError> {
        let from = if start.is_empty() { prefix } else { start };
        let mut req = RangeRequest::new(KeyRange::Interval {
            start: Bytes::copy_from_slice(from.as_bytes()),
            end: Some(Bytes::from(prefix_end(prefix))),
        });
        req.limit = limit;
        req.revision = revision;
        let resp = self.store.range(req).await.map_err(|e| match e {
            causeway_store::Error::Compacted => StorageError::Compacted {
                requested: revision,
                compacted: 0,
            },
            causeway_store::Error::FutureRevision => StorageError::FutureRevision(revision),
            e => store_error(e),
        })?;
        let returned = resp.kvs.len() as i64;
        let items = resp.kvs.into_iter().map(to_kv).collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            revision: if revision > 0 {
                revision
            } else {
                resp.revision
            },
            remaining: if resp.more { resp.count - returned } else { 0 },
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Write, StorageError> {
        let put = put(key, value);
        self.guarded(key, CompareTarget::Create(0), put).await
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<Write, StorageError> {
        let put = put(key, value);
        self.guarded(key, CompareTarget::Mod(expected), put).await
    }

    async fn delete(&self, key: &str, expected: i64) -> Result<Write, StorageError> {
        let delete = RequestOp::DeleteRange(DeleteRangeRequest {
            range: KeyRange::Single(Bytes::copy_from_slice(key.as_bytes())),
            prev_kv: false,
        });
        self.guarded(key, CompareTarget::Mod(expected), delete)
            .await
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch, StorageError> {
        let session = self.store.watch();
        session
            .send(WatchCommand::Create(WatchCreate {
                range: KeyRange::Interval {
                    start: Bytes::copy_from_slice(prefix.as_bytes()),
                    end: Some(Bytes::from(prefix_end(prefix))),
                },
                start_revision: after + 1,
                prev_kv: false,
                no_put: false,
                no_delete: false,
                progress_notify: true,
                watch_id: 0,
            }))
            .map_err(|_| StorageError::Closed)?;
        let (commands, responses) = session.split();
        let items = futures::stream::unfold(responses, |mut responses| async move {
            loop {
                let item = match responses.recv().await? {
                    WatchResponse::Created { error: None, .. } => continue,
                    WatchResponse::Created { error: Some(_), .. } => Err(StorageError::Closed),
                    WatchResponse::Events { events, .. } => events
                        .into_iter()
                        .map(|e| {
                            let revision = e.revision();
                            match e.kind {
                                EventKind::Put => to_kv(e.kv).map(Change::Put),
                                EventKind::Delete => Ok(Change::Delete {
                                    key: key_string(e.kv.key)?,
                                    revision,
                                }),
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(WatchItem::Changes),
                    WatchResponse::Progress { revision, .. } => Ok(WatchItem::Progress(revision)),
                    WatchResponse::Canceled {
                        compact_revision, ..
                    } => Err(StorageError::Compacted {
                        requested: 0,
                        compacted: compact_revision,
                    }),
                };
                return Some((item, responses));
            }
        });
        Ok(Watch {
            items: Box::pin(items),
            request_progress: Box::new(move || {
                // A closed session has ended the stream already; the caller
                // learns of that from the stream.
                let _ = commands.send(WatchCommand::Progress);
            }),
        })
    }

    async fn current_revision(&self) -> Result<i64, StorageError> {
        Ok(self.store.newest_revision().await)
    }

    async fn compact(&self, revision: i64) -> Result<(), StorageError> {
        match self.store.compact(revision, false).await {
            Ok(_) | Err(causeway_store::Error::Compacted) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }
}

fn put(key: &str, value: Bytes) -> RequestOp {
    RequestOp::Put(PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value,
        ..PutRequest::default()
    })
}

fn store_error(e: causeway_store::Error) -> StorageError {
    match e {
        causeway_store::Error::Closed => StorageError::Closed,
        e => StorageError::Store(e),
    }
}

fn key_string(key: Bytes) -> Result<String, StorageError> {
    String::from_utf8(key.to_vec()).map_err(|e| StorageError::BadKey(e.into_bytes()))
}

fn to_kv(kv: KeyValue) -> Result<Kv, StorageError> {
    Ok(Kv {
        key: key_string(kv.key)?,
        value: kv.value,
        mod_revision: kv.mod_revision,
    })
}
