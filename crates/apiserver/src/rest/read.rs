//! get and list.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::{BufMut, Bytes, BytesMut};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::Request;
use crate::api::Api;
use crate::cache::ReadAt;
use crate::error::ApiError;
use crate::filter::Filter;
use crate::http::{Body, bytes_response};
use crate::object;
use crate::resource::ResourceType;
use crate::storage::StorageError;

/// The message kube answers a continue token whose snapshot is compacted.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// GET of one object.
pub async fn get(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rep = super::represent::negotiate(&req, false)?;
    let t = &req.target;
    let name = t.name.as_deref().unwrap_or_default();
    let key = t.resource.key(t.namespace.as_deref(), name);
    let (kv, _) = api.storage.get(&key).await.map_err(ApiError::storage)?;
    let kv = kv.ok_or_else(|| ApiError::NotFound {
        what: t.resource.qualified(),
        name: name.to_string(),
    })?;
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("stored object {key} is not JSON: {e}")))?;
    object::set_resource_version(&mut v, kv.mod_revision);
    super::represent::object(&t.resource, served(&t.resource, v), rep, StatusCode::OK)
}

/// The object as this endpoint serves it (see [`ResourceType::serve`]).
pub fn served(rt: &ResourceType, mut v: Value) -> Value {
    rt.serve(&mut v);
    v
}

/// How a list reads: from the watch cache, or from the store (pages and
/// exact revisions).
#[derive(Debug)]
enum Source {
    Cache(ReadAt),
    Store { revision: i64, start: String },
}

/// A decoded continue token.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, start: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.to_string(),
    };
    // Serializing a struct of strings and integers cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("continue key is not valid: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| bad(&e.to_string()))?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    if t.v != "meta.k8s.io/v1" {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    if t.start.contains("..") || t.start.starts_with('/') {
        return Err(bad("path traversal or absolute path not allowed"));
    }
    Ok(t)
}

fn parse_rv(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version: {rv}")))
}

/// GET of a collection.
pub async fn list(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    let rep = super::represent::negotiate(&req, false)?;
    let q = &req.query;
    let filter = Filter::from_query(&rt, req.target.namespace.as_deref(), q)?;
    let limit = q.int("limit")?.unwrap_or(0).max(0);
    let rv = q.str("resourceVersion");
    let rvm = q.str("resourceVersionMatch");
    let cont = q.str("continue");
    if !rvm.is_empty() && rv.is_empty() {
        return Err(ApiError::BadRequest(
            "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
        ));
    }
    if !cont.is_empty() && !rv.is_empty() && rv != "0" {
        return Err(ApiError::BadRequest(
            "specifying resource version is not allowed when using continue".into(),
        ));
    }
    let source = if !cont.is_empty() {
        let t = decode_continue(cont)?;
        Source::Store {
            revision: t.rv,
            start: t.start,
        }
    } else {
        match rvm {
            "" | "NotOlderThan" => match rv {
                "" if limit > 0 => Source::Store {
                    revision: 0,
                    start: String::new(),
                },
                "" => Source::Cache(ReadAt::Consistent),
                "0" => Source::Cache(ReadAt::Any),
                n => Source::Cache(ReadAt::AtLeast(parse_rv(n)?)),
            },
            "Exact" => {
                let n = parse_rv(rv)?;
                if n == 0 {
                    return Err(ApiError::BadRequest(
                        "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""
                            .into(),
                    ));
                }
                Source::Store {
                    revision: n,
                    start: String::new(),
                }
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid resourceVersionMatch: {other:?}, allowed values: Exact, NotOlderThan"
                )));
            }
        }
    };
    let prefix = rt.prefix(req.target.namespace.as_deref());
    let page = match source {
        Source::Cache(at) => {
            let cache = api.cache(&rt);
            let (items, revision) = cache.list(&prefix, at, &|o| filter.matches(o)).await?;
            ListPage {
                items: items.iter().map(|o| o.json.clone()).collect(),
                revision,
                cont: None,
                remaining: None,
            }
        }
        Source::Store { revision, start } => {
            from_store(api, &rt, &filter, &prefix, revision, &start, limit).await?
        }
    };
    super::represent::list(&rt, page, rep)
}

/// One page of a list, ready to send.
#[derive(Debug, Default)]
pub struct ListPage {
    /// The objects, as JSON.
    pub items: Vec<Bytes>,
    /// The revision the page reflects.
    pub revision: i64,
    /// The token for the next page.
    pub cont: Option<String>,
    /// How many objects the next pages hold, when known.
    pub remaining: Option<i64>,
}

async fn from_store(
    api: &Arc<Api>,
    rt: &Arc<ResourceType>,
    filter: &Filter,
    prefix: &str,
    revision: i64,
    start: &str,
    limit: i64,
) -> Result<ListPage, ApiError> {
    let mut out = ListPage::default();
    let mut revision = revision;
    let mut start = if start.is_empty() {
        String::new()
    } else {
        format!("{}{start}", rt.storage_prefix)
    };
    loop {
        let page = match api.storage.list(prefix, &start, limit, revision).await {
            Ok(p) => p,
            Err(StorageError::Compacted { .. }) if revision > 0 => {
                return Err(ApiError::Expired(CONTINUE_EXPIRED.to_string()));
            }
            Err(e) => return Err(ApiError::storage(e)),
        };
        revision = page.revision;
        let last = page.items.last().map(|kv| kv.key.clone());
        for kv in &page.items {
            let mut v: Value = match serde_json::from_slice(&kv.value) {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(key = %kv.key, error = %e, "stored object is not JSON; leaving it out");
                    continue;
                }
            };
            if !filter.matches_value(rt, &v) {
                continue;
            }
            object::set_resource_version(&mut v, kv.mod_revision);
            // Serializing a Value cannot fail.
            out.items
                .push(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()));
        }
        let full = limit > 0 && out.items.len() as i64 >= limit;
        match last {
            Some(last) if page.remaining > 0 => {
                start = format!("{last}\0");
                if full {
                    let rel = start
                        .strip_prefix(rt.storage_prefix.as_str())
                        .unwrap_or(&start)
                        .to_string();
                    out.cont = Some(encode_continue(revision, &rel));
                    if !filter.selects {
                        out.remaining = Some(page.remaining);
                    }
                    break;
                }
            }
            _ => break,
        }
    }
    out.revision = revision;
    Ok(out)
}

/// The JSON of a list, assembled from the items' bytes.
pub fn list_response(rt: &ResourceType, page: ListPage) -> Response<Body> {
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(c) = &page.cont {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let head = json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": meta,
    });
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let size: usize = page.items.iter().map(|b| b.len() + 1).sum::<usize>() + head.len() + 16;
    let mut body = BytesMut::with_capacity(size);
    // Drop the closing brace of the head and append the items.
    body.put_slice(&head[..head.len().saturating_sub(1)]);
    body.put_slice(b",\"items\":[");
    let stored_prefix = rt.stored_prefix();
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        if rt.rewrites(item, &stored_prefix) {
            let mut v: Value = serde_json::from_slice(item).unwrap_or(Value::Null);
            rt.serve(&mut v);
            body.put_slice(&serde_json::to_vec(&v).unwrap_or_default());
        } else {
            body.put_slice(item);
        }
    }
    body.put_slice(b"]}");
    bytes_response(StatusCode::OK, "application/json", body.freeze())
}
