//! watch: a stream of `{"type": …, "object": …}` lines from the watch cache.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::Request;
use super::represent::Representation;
use crate::api::Api;
use crate::cache::{CacheWatch, Event, EventType, ReadAt, Signal};
use crate::error::ApiError;
use crate::filter::Filter;
use crate::http::Body;
use crate::resource::ResourceType;
use crate::table::{MetaVersion, TableWatch, Target};

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// kube-apiserver's default `--min-request-timeout`: watches without a
/// timeout end after between one and two of these.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1800);

/// GET with `?watch=true`.
pub async fn watch(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    let rep = super::represent::negotiate(&req, true)?;
    let version = match rep.target {
        Target::Table(v) | Target::PartialObjectMetadata(v) => v,
        _ => MetaVersion::V1,
    };
    let table_watch = TableWatch::new(rep.include, version);
    let q = &req.query;
    let mut filter = Filter::from_query(&rt, req.target.namespace.as_deref(), q)?;
    let name = req.target.name.clone();
    let bookmarks = q.flag("allowWatchBookmarks")?;
    let initial_events = match q.get("sendInitialEvents") {
        None | Some("") => None,
        Some(_) => Some(q.flag("sendInitialEvents")?),
    };
    let rv = q.str("resourceVersion");
    let rvm = q.str("resourceVersionMatch");
    if initial_events.is_some() {
        if rvm != "NotOlderThan" {
            return Err(ApiError::Invalid {
                group: "meta.k8s.io".into(),
                kind: "ListOptions".into(),
                name: String::new(),
                errors: vec![crate::field::FieldError::forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )],
            });
        }
        if initial_events == Some(true) && !bookmarks {
            return Err(ApiError::Invalid {
                group: "meta.k8s.io".into(),
                kind: "ListOptions".into(),
                name: String::new(),
                errors: vec![crate::field::FieldError::forbidden(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks required when sendInitialEvents is true",
                )],
            });
        }
    } else if !rvm.is_empty() {
        return Err(ApiError::Invalid {
            group: "meta.k8s.io".into(),
            kind: "ListOptions".into(),
            name: String::new(),
            errors: vec![crate::field::FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            )],
        });
    }
    let timeout = match q.int("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        _ => MIN_REQUEST_TIMEOUT + Duration::from_secs(rand::random_range(0..1800)),
    };
    let parsed_rv = match rv {
        "" | "0" => None,
        n => Some(
            n.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version: {n}")))?,
        ),
    };
    let cache = api.cache(&rt);
    // Which events start the watch: the current state as ADDED (no
    // resourceVersion, "0", or sendInitialEvents), or history after the
    // given resourceVersion.
    let from = match (initial_events, parsed_rv) {
        (Some(true), _) | (None, None) => None,
        (Some(false), rv) => Some(rv.unwrap_or(cache.revision())),
        (None, Some(rv)) => Some(rv),
    };
    let at = match (rv, initial_events) {
        ("", _) => ReadAt::Consistent,
        ("0", _) => ReadAt::Any,
        _ => ReadAt::AtLeast(parsed_rv.unwrap_or(0)),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let started = match cache.watch(from, at).await {
        Ok(w) => w,
        Err(e @ ApiError::Expired(_)) => {
            // kube reports a too-old resourceVersion inside the stream, as
            // an ERROR event, so clients handle it as they would mid-watch.
            let line = event_line(
                "ERROR",
                &serde_json::to_vec(&e.status()).unwrap_or_default(),
            );
            let _ = tx.try_send(line);
            drop(tx);
            return Ok(stream_response(rx));
        }
        Err(e) => return Err(e),
    };
    filter.name = name;
    let shutdown = api.shutdown_signal();
    tokio::spawn(run(
        WatchTask {
            stored_prefix: rt.stored_prefix(),
            resource: rt,
            rep,
            table_watch,
            filter,
            bookmarks,
            initial_events_end: initial_events == Some(true),
            deadline: Instant::now() + timeout,
            out: tx,
        },
        started,
        shutdown,
    ));
    Ok(stream_response(rx))
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let stream = futures::StreamExt::map(ReceiverStream::new(rx), |b| {
        Ok::<_, std::convert::Infallible>(Frame::data(b))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}

struct WatchTask {
    resource: Arc<ResourceType>,
    /// [`ResourceType::stored_prefix`], made once per watch rather than
    /// once per event.
    stored_prefix: String,
    rep: Representation,
    table_watch: TableWatch,
    filter: Filter,
    bookmarks: bool,
    initial_events_end: bool,
    deadline: Instant,
    out: mpsc::Sender<Bytes>,
}

impl WatchTask {
    /// Sends what an event means to this watcher, if anything. Returns
    /// false once the client is gone.
    async fn send(&mut self, e: &Event) -> bool {
        let now = e.kind != EventType::Deleted && self.filter.matches(&e.object);
        let before = e.old.as_ref().is_some_and(|o| self.filter.matches(o));
        let kind = match e.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if self.filter.matches(&e.object) => "DELETED",
            _ => return true,
        };
        let converting = !matches!(self.rep.target, Target::Object);
        let json = if converting || self.resource.rewrites(&e.object.json, &self.stored_prefix) {
            let mut v = e.object.value().unwrap_or_default();
            self.resource.serve(&mut v);
            let v = match super::represent::watch_object(
                &self.resource,
                &v,
                self.rep,
                &mut self.table_watch,
            ) {
                Some(converted) => converted,
                None => v,
            };
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
        } else {
            e.object.json.clone()
        };
        self.out.send(event_line(kind, &json)).await.is_ok()
    }

    async fn bookmark(&self, revision: i64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": revision.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.resource.kind,
            "apiVersion": self.resource.api_version(),
            "metadata": meta,
        });
        let bytes = serde_json::to_vec(&object).unwrap_or_default();
        self.out.send(event_line("BOOKMARK", &bytes)).await.is_ok()
    }
}

async fn run(
    mut task: WatchTask,
    started: CacheWatch,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let CacheWatch {
        initial,
        revision,
        mut live,
    } = started;
    for e in &initial {
        if !task.send(e).await {
            return;
        }
    }
    if task.initial_events_end && !task.bookmark(revision, true).await {
        return;
    }
    let mut reached = revision;
    let mut next_bookmark = Instant::now() + BOOKMARK_EVERY;
    loop {
        tokio::select! {
            signal = live.recv() => match signal {
                Ok(Signal::Event(e)) => {
                    reached = reached.max(e.revision());
                    if !task.send(&e).await {
                        return;
                    }
                }
                Ok(Signal::Progress(r)) => {
                    reached = reached.max(r);
                    if task.bookmarks && Instant::now() >= next_bookmark {
                        next_bookmark = Instant::now() + BOOKMARK_EVERY;
                        if !task.bookmark(reached, false).await {
                            return;
                        }
                    }
                }
                // Fell too far behind, or the cache started over: end the
                // watch; the client resumes from its last resourceVersion.
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(task.deadline) => {
                if task.bookmarks {
                    let _ = task.bookmark(reached, false).await;
                }
                return;
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
            _ = task.out.closed() => return,
        }
    }
}

/// One line of a watch stream.
fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}
