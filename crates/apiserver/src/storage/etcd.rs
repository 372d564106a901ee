//! Any etcd v3 endpoint: `causeway store`, or a real etcd.

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse,
    WatchOptions,
};
use tokio::sync::mpsc;

use super::{Change, Kv, Page, Storage, StorageError, Watch, WatchItem, Write, prefix_end};

/// [`Storage`] on an etcd v3 cluster reached over gRPC.
#[derive(Clone)]
pub struct Etcd {
    client: Client,
    endpoints: Vec<String>,
}

impl Etcd {
    /// Connects to the endpoints (`http://host:port`, …).
    pub async fn connect(endpoints: &[String]) -> Result<Etcd, StorageError> {
        let client = Client::connect(endpoints, None)
            .await
            .map_err(StorageError::Etcd)?;
        Ok(Etcd {
            client,
            endpoints: endpoints.to_vec(),
        })
    }

    async fn guarded(&self, key: &str, guard: Compare, then: TxnOp) -> Result<Write, StorageError> {
        let txn = Txn::new()
            .when([guard])
            .and_then([then])
            .or_else([TxnOp::get(key, None)]);
        let resp = self
            .client
            .kv_client()
            .txn(txn)
            .await
            .map_err(StorageError::Etcd)?;
        if resp.succeeded() {
            let revision = resp.header().map_or(0, |h| h.revision());
            return Ok(Write::Done { revision });
        }
        let current = match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Get(g)) => g.kvs().first().map(to_kv).transpose()?,
            _ => None,
        };
        Ok(Write::Conflict { current })
    }
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Storage for Etcd {
    async fn get(&self, key: &str) -> Result<(Option<Kv>, i64), StorageError> {
        let resp = self
            .client
            .kv_client()
            .get(key, None)
            .await
            .map_err(StorageError::Etcd)?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let kv = resp.kvs().first().map(to_kv).transpose()?;
        Ok((kv, revision))
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: i64,
        revision: i64,
    ) -> Result<Page, StorageError> {
        let from = if start.is_empty() { prefix } else { start };
        let options = GetOptions::new()
            .with_range(prefix_end(prefix))
            .with_limit(limit)
            .with_revision(revision);
        let resp = self
            .client
            .kv_client()
            .get(from, Some(options))
            .await
            .map_err(|e| list_error(e, revision))?;
        let items = resp
            .kvs()
            .iter()
            .map(to_kv)
            .collect::<Result<Vec<_>, _>>()?;
        let returned = items.len() as i64;
        let now = resp.header().map_or(0, |h| h.revision());
        Ok(Page {
            items,
            revision: if revision > 0 { revision } else { now },
            remaining: if resp.more() {
                resp.count() - returned
            } else {
                0
            },
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Write, StorageError> {
        let guard = Compare::create_revision(key, CompareOp::Equal, 0);
        self.guarded(key, guard, TxnOp::put(key, value.to_vec(), None))
            .await
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<Write, StorageError> {
        let guard = Compare::mod_revision(key, CompareOp::Equal, expected);
        self.guarded(key, guard, TxnOp::put(key, value.to_vec(), None))
            .await
    }

    async fn delete(&self, key: &str, expected: i64) -> Result<Write, StorageError> {
        let guard = Compare::mod_revision(key, CompareOp::Equal, expected);
        self.guarded(key, guard, TxnOp::delete(key, None)).await
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch, StorageError> {
        let options = WatchOptions::new()
            .with_range(prefix_end(prefix))
            .with_start_revision(after + 1)
            .with_progress_notify();
        let stream = self
            .client
            .watch_client()
            .watch(prefix, Some(options))
            .await
            .map_err(StorageError::Etcd)?;
        let (mut sender, mut responses) = stream.split();
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<()>();
        let (items_tx, items_rx) = mpsc::channel(64);
        // One task owns both halves, so a progress request and the
        // responses never race over the stream.
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    asked = progress_rx.recv() => {
                        if asked.is_none() {
                            return;
                        }
                        if let Err(e) = sender.request_progress().await {
                            let _ = items_tx.send(Err(StorageError::Etcd(e))).await;
                            return;
                        }
                    }
                    message = responses.message() => {
                        let item = match message {
                            Ok(Some(resp)) => match watch_item(&resp) {
                                Some(item) => item,
                                None => continue,
                            },
                            Ok(None) => Err(StorageError::Closed),
                            Err(e) => Err(StorageError::Etcd(e)),
                        };
                        let end = item.is_err();
                        if items_tx.send(item).await.is_err() || end {
                            return;
                        }
                    }
                }
            }
        });
        let items = tokio_stream::wrappers::ReceiverStream::new(items_rx);
        Ok(Watch {
            items: Box::pin(items),
            request_progress: Box::new(move || {
                let _ = progress_tx.send(());
            }),
        })
    }

    async fn current_revision(&self) -> Result<i64, StorageError> {
        // A count-only read of one key is the cheapest way to learn the
        // revision; kube-apiserver does the same.
        let resp = self
            .client
            .kv_client()
            .get(
                "/registry/health",
                Some(GetOptions::new().with_count_only()),
            )
            .await
            .map_err(StorageError::Etcd)?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    async fn compact(&self, revision: i64) -> Result<(), StorageError> {
        match self.client.kv_client().compact(revision, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("compacted") => Ok(()),
            Err(e) => Err(StorageError::Etcd(e)),
        }
    }
}

/// What one watch response means; `None` for responses that say nothing
/// (the creation acknowledgement).
fn watch_item(resp: &etcd_client::WatchResponse) -> Option<Result<WatchItem, StorageError>> {
    if resp.canceled() {
        return Some(Err(StorageError::Compacted {
            requested: 0,
            compacted: resp.compact_revision(),
        }));
    }
    if resp.created() && resp.events().is_empty() {
        return None;
    }
    if resp.events().is_empty() {
        let revision = resp.header().map_or(0, |h| h.revision());
        return Some(Ok(WatchItem::Progress(revision)));
    }
    let changes = resp
        .events()
        .iter()
        .filter_map(|e| e.kv().map(|kv| (e.event_type(), kv)))
        .map(|(kind, kv)| match kind {
            EventType::Put => to_kv(kv).map(Change::Put),
            EventType::Delete => Ok(Change::Delete {
                key: key_string(kv.key())?,
                revision: kv.mod_revision(),
            }),
        })
        .collect::<Result<Vec<_>, _>>();
    Some(changes.map(WatchItem::Changes))
}

fn list_error(e: etcd_client::Error, revision: i64) -> StorageError {
    let text = e.to_string();
    if text.contains("required revision has been compacted") {
        StorageError::Compacted {
            requested: revision,
            compacted: 0,
        }
    } else if text.contains("required revision is a future revision") {
        StorageError::FutureRevision(revision)
    } else {
        StorageError::Etcd(e)
    }
}

fn key_string(key: &[u8]) -> Result<String, StorageError> {
    String::from_utf8(key.to_vec()).map_err(|e| StorageError::BadKey(e.into_bytes()))
}

fn to_kv(kv: &KeyValue) -> Result<Kv, StorageError> {
    Ok(Kv {
        key: key_string(kv.key())?,
        value: Bytes::copy_from_slice(kv.value()),
        mod_revision: kv.mod_revision(),
    })
}
