//! The OpenAPI documents: `/openapi/v3` (the index of group/versions),
//! `/openapi/v3/api/v1` and `/openapi/v3/apis/<group>/<version>` (OpenAPI
//! 3.0), and `/openapi/v2` (Swagger 2.0, in JSON or gnostic protobuf).
//!
//! kubectl needs them for nearly everything that sends an object: it asks
//! the group/version's v3 document whether PATCH takes `fieldValidation`
//! (server-side validation), reads the kind's schema for `kubectl explain`,
//! and reads `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy`
//! to compute `kubectl apply`'s strategic merge patch. It falls back to the
//! v2 document (which it only accepts as protobuf) when v3 fails.
//!
//! The documents are a function of the registry snapshot, since CRDs come
//! and go: [`Documents::build`] makes all of them from a [`Resources`], and
//! [`Cache`] keeps them for as long as that snapshot is current. Each v3
//! document is named in the index by a URL carrying the SHA-512 of its
//! bytes, which clients cache forever; a changed document gets a new hash.

mod paths;
mod proto;
mod schemas;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::http::{Body, full};
use crate::resource::{ResourceType, Resources};

pub use paths::{op_group_version, url_prefix};
pub use schemas::{LIST_EXTENSIONS, ListExtension, kind_name, unknown_object};

/// The media type of the v3 documents' protobuf form. This server answers
/// requests for it with JSON: kubectl asks for JSON.
pub const V3_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf";

/// The current spelling of [`V3_PROTOBUF`].
const V3_PROTOBUF_ANSWER: &str = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf";

/// The media type kubectl asks `/openapi/v2` for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The media type the v2 protobuf is answered with (kube answers the
/// deprecated `@` spelling with this one).
const V2_PROTOBUF_ANSWER: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// How many registry snapshots keep their documents: one per server, and
/// a few more for tests that run several servers in one process.
const CACHED_SNAPSHOTS: usize = 4;

/// A document as served: its bytes and their entity tag.
#[derive(Clone, Debug)]
pub struct Served {
    /// The bytes.
    pub body: Bytes,
    /// The upper-case hex SHA-512 of the bytes, unquoted (kube's hash).
    pub etag: String,
}

impl Served {
    fn new(body: Vec<u8>) -> Served {
        let etag = hex_upper(ring::digest::digest(&ring::digest::SHA512, &body).as_ref());
        Served {
            body: Bytes::from(body),
            etag,
        }
    }
}

/// Every document of one registry snapshot.
#[derive(Debug)]
pub struct Documents {
    /// `/openapi/v3`.
    pub root: Served,
    /// The v3 documents by path under `/openapi/v3/` (`api/v1`,
    /// `apis/coordination.k8s.io/v1`).
    pub v3: BTreeMap<String, Served>,
    /// `/openapi/v2` as JSON.
    pub v2_json: Served,
    /// `/openapi/v2` as protobuf.
    pub v2_proto: Served,
    /// When they were built, as an HTTP date (`Last-Modified`).
    pub last_modified: String,
}

impl Documents {
    /// Builds every document of a snapshot. `extra` gives the schema of a
    /// kind `k8s-openapi` does not describe (a CRD version's
    /// `openAPIV3Schema`).
    pub fn build(
        resources: &Resources,
        extra: &dyn Fn(&ResourceType) -> Option<Value>,
    ) -> Documents {
        let mut v3 = BTreeMap::new();
        let mut v2 = V2::default();
        for (group, versions) in resources.groups() {
            for version in versions {
                let Some(gv) = GroupVersion::build(resources, group, version, extra) else {
                    continue;
                };
                v2.add(&gv);
                // Serializing a Value cannot fail: its keys are strings.
                let bytes = serde_json::to_vec(&gv.v3()).unwrap_or_default();
                v3.insert(gv_path(group, version), Served::new(bytes));
            }
        }
        let root_paths: Map<String, Value> = v3
            .iter()
            .map(|(gv, served)| {
                (
                    gv.clone(),
                    json!({"serverRelativeURL": server_relative_url(gv, &served.etag)}),
                )
            })
            .collect();
        let root =
            Served::new(serde_json::to_vec(&json!({"paths": root_paths})).unwrap_or_default());
        let v2 = v2.document();
        Documents {
            root,
            v3,
            v2_json: Served::new(serde_json::to_vec(&v2).unwrap_or_default()),
            v2_proto: Served::new(proto::encode_document(&v2)),
            last_modified: http_date(time::OffsetDateTime::now_utc()),
        }
    }
}

/// The paths and schemas of one group/version, before rendering.
struct GroupVersion {
    items: Vec<paths::PathItem>,
    components: Map<String, Value>,
}

impl GroupVersion {
    fn build(
        resources: &Resources,
        group: &str,
        version: &str,
        extra: &dyn Fn(&ResourceType) -> Option<Value>,
    ) -> Option<GroupVersion> {
        if !resources.has_version(group, version) {
            return None;
        }
        let kinds: Vec<&ResourceType> = resources
            .in_version(group, version)
            .map(|r| r.as_ref())
            .collect();
        Some(GroupVersion {
            items: paths::paths(group, version, kinds.iter().copied()),
            components: schemas::components(kinds.iter().copied(), extra),
        })
    }

    fn v3(&self) -> Value {
        json!({
            "components": {
                "schemas": self.components,
                "securitySchemes": {"BearerToken": bearer_token()},
            },
            "info": info(),
            "openapi": "3.0.0",
            "paths": paths::render_v3(&self.items),
            "security": [{"BearerToken": []}],
        })
    }
}

/// The Swagger 2.0 document, gathered group/version by group/version.
#[derive(Default)]
struct V2 {
    paths: Map<String, Value>,
    definitions: Map<String, Value>,
}

impl V2 {
    fn add(&mut self, gv: &GroupVersion) {
        self.paths.extend(paths::render_v2(&gv.items));
        for (name, schema) in &gv.components {
            self.definitions
                .insert(name.clone(), schemas::to_v2(schema));
        }
    }

    fn document(self) -> Value {
        json!({
            "definitions": self.definitions,
            "info": info(),
            "paths": self.paths,
            "security": [{"BearerToken": []}],
            "securityDefinitions": {"BearerToken": bearer_token()},
            "swagger": "2.0",
        })
    }
}

/// The documents of registry snapshots, kept while the snapshot is
/// current.
#[derive(Debug)]
pub struct Cache {
    entries: Mutex<Vec<(Weak<Resources>, Arc<Documents>)>>,
}

impl Cache {
    /// An empty cache.
    pub const fn new() -> Cache {
        Cache {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The documents of `resources`, built on first use. The registry must
    /// be replaced (a new snapshot) whenever what `extra` answers changes.
    pub fn documents(
        &self,
        resources: &Arc<Resources>,
        extra: &dyn Fn(&ResourceType) -> Option<Value>,
    ) -> Arc<Documents> {
        // A poisoned lock means a panic while building, which inserted
        // nothing; the list is still valid.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // A held Weak keeps its allocation, so an address cannot be reused
        // by a new snapshot while its entry is here.
        if let Some((_, docs)) = entries
            .iter()
            .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(resources)))
        {
            return docs.clone();
        }
        entries.retain(|(w, _)| w.strong_count() > 0);
        if entries.len() >= CACHED_SNAPSHOTS {
            entries.remove(0);
        }
        let docs = Arc::new(Documents::build(resources, extra));
        entries.push((Arc::downgrade(resources), docs.clone()));
        docs
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

/// The cache the server's routes use.
static SHARED: Cache = Cache::new();

/// The process-wide cache.
pub fn shared() -> &'static Cache {
    &SHARED
}

/// `api/v1` or `apis/<group>/<version>`: a v3 document's path under
/// `/openapi/v3/` and its key in the index.
pub fn gv_path(group: &str, version: &str) -> String {
    url_prefix(group, version)
        .trim_start_matches('/')
        .to_string()
}

/// `/openapi/v3/<gv>?hash=<HASH>`.
fn server_relative_url(gv: &str, etag: &str) -> String {
    format!("/openapi/v3/{gv}?hash={etag}")
}

fn info() -> Value {
    let (major, minor) = crate::server::KUBE_VERSION;
    json!({"title": "Kubernetes", "version": format!("v{major}.{minor}.0")})
}

fn bearer_token() -> Value {
    json!({
        "description": "Bearer Token authentication",
        "in": "header",
        "name": "authorization",
        "type": "apiKey",
    })
}

/// The OpenAPI 3.0 document of one group/version, or `None` if it is not
/// served. `extra` gives the schema of kinds `k8s-openapi` does not
/// describe (custom resources get [`unknown_object`] without it).
pub fn document_v3(
    resources: &Resources,
    group: &str,
    version: &str,
    extra: &dyn Fn(&ResourceType) -> Option<Value>,
) -> Option<Value> {
    GroupVersion::build(resources, group, version, extra).map(|gv| gv.v3())
}

/// The Swagger 2.0 document of everything served.
pub fn document_v2(resources: &Resources, extra: &dyn Fn(&ResourceType) -> Option<Value>) -> Value {
    let mut v2 = V2::default();
    for (group, versions) in resources.groups() {
        for version in versions {
            if let Some(gv) = GroupVersion::build(resources, group, version, extra) {
                v2.add(&gv);
            }
        }
    }
    v2.document()
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// An HTTP date: `Mon, 02 Jan 2006 15:04:05 GMT`.
fn http_date(t: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// One clause of an Accept header.
#[derive(Clone, Debug, PartialEq)]
struct Clause {
    media: String,
    q: f32,
}

/// The clauses of an Accept header, most wanted first (by quality, then
/// exact types before wildcards), as kube's negotiation orders them. An
/// absent header accepts anything.
fn accept_clauses(accept: &str) -> Vec<Clause> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut clauses: Vec<Clause> = accept
        .split(',')
        .filter_map(|part| {
            let mut params = part.split(';').map(str::trim);
            let media = params
                .next()
                .filter(|m| m.contains('/'))?
                .to_ascii_lowercase();
            let q = params
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some(Clause { media, q })
        })
        .collect();
    let wildcards = |c: &Clause| c.media.matches('*').count();
    clauses.sort_by(|a, b| {
        b.q.total_cmp(&a.q)
            .then_with(|| wildcards(a).cmp(&wildcards(b)))
    });
    clauses
}

/// Whether a clause's media range covers `media`.
fn covers(clause: &str, media: &str) -> bool {
    let (ct, cs) = clause.split_once('/').unwrap_or((clause, ""));
    let (mt, ms) = media.split_once('/').unwrap_or((media, ""));
    (ct == "*" || ct == mt) && (cs == "*" || cs == ms)
}

/// The first of `offered` the Accept header takes, in the header's order
/// of preference, then the server's.
fn negotiate<'a>(accept: &str, offered: &[&'a str]) -> Option<&'a str> {
    accept_clauses(accept)
        .iter()
        .find_map(|c| offered.iter().find(|o| covers(&c.media, o)).copied())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether `If-None-Match` names this entity (or `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().any(|v| {
        v.to_str().unwrap_or("").split(',').any(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag.trim_matches('"') == etag
        })
    })
}

fn set(resp: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// A document's response: `ETag`, `Last-Modified`, and 304 when the client
/// has it already.
fn serve(
    served: &Served,
    content_type: &str,
    last_modified: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let etag = format!("\"{}\"", served.etag);
    let mut resp = if not_modified(headers, &served.etag) {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(full(served.body.clone()));
        set(&mut r, header::CONTENT_TYPE, content_type);
        r
    };
    set(&mut resp, header::ETAG, &etag);
    set(&mut resp, header::LAST_MODIFIED, last_modified);
    resp
}

fn not_acceptable() -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NOT_ACCEPTABLE;
    r
}

/// Answers a GET under `/openapi/`; `parts` is the path after `openapi`
/// (`["v3", "apis", "coordination.k8s.io", "v1"]`).
pub fn respond(
    docs: &Documents,
    parts: &[&str],
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let accept = header_str(headers, header::ACCEPT);
    match parts {
        ["v2"] => {
            let offered = ["application/json", V2_PROTOBUF, V2_PROTOBUF_ANSWER];
            let mut resp = match negotiate(accept, &offered) {
                Some("application/json") => serve(
                    &docs.v2_json,
                    "application/json",
                    &docs.last_modified,
                    headers,
                ),
                Some(_) => serve(
                    &docs.v2_proto,
                    V2_PROTOBUF_ANSWER,
                    &docs.last_modified,
                    headers,
                ),
                None => not_acceptable(),
            };
            resp.headers_mut()
                .append(header::VARY, HeaderValue::from_static("Accept"));
            Ok(resp)
        }
        ["v3"] => Ok(serve(
            &docs.root,
            "application/json",
            &docs.last_modified,
            headers,
        )),
        ["v3", gv @ ..] if !gv.is_empty() => {
            let gv = gv.join("/");
            let served = docs.v3.get(&gv).ok_or(ApiError::NoResource)?;
            // A client asking for the protobuf form gets JSON: kubectl asks
            // for JSON, and no client this server knows reads the protobuf.
            if negotiate(
                accept,
                &["application/json", V3_PROTOBUF, V3_PROTOBUF_ANSWER],
            )
            .is_none()
            {
                let mut resp = not_acceptable();
                resp.headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Accept"));
                return Ok(resp);
            }
            let hash = crate::http::Query::parse(query)
                .get("hash")
                .map(str::to_string);
            if let Some(hash) = hash.filter(|h| !h.is_empty()) {
                if hash != served.etag {
                    // An old hash: send the client to the current document.
                    let mut resp = Response::new(full(Bytes::new()));
                    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
                    set(
                        &mut resp,
                        header::LOCATION,
                        &server_relative_url(&gv, &served.etag),
                    );
                    resp.headers_mut()
                        .append(header::VARY, HeaderValue::from_static("Accept"));
                    return Ok(resp);
                }
                let mut resp = serve(served, "application/json", &docs.last_modified, headers);
                resp.headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Accept"));
                // The hash names these bytes forever.
                set(&mut resp, header::CACHE_CONTROL, "public, immutable");
                let expires = time::OffsetDateTime::now_utc() + time::Duration::days(365);
                set(&mut resp, header::EXPIRES, &http_date(expires));
                return Ok(resp);
            }
            let mut resp = serve(served, "application/json", &docs.last_modified, headers);
            resp.headers_mut()
                .append(header::VARY, HeaderValue::from_static("Accept"));
            Ok(resp)
        }
        _ => Err(ApiError::NoResource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{NameRule, Registry, Special};

    fn none(_: &ResourceType) -> Option<Value> {
        None
    }

    fn builtins() -> Arc<Resources> {
        Registry::new().snapshot()
    }

    fn doc(group: &str, version: &str) -> Value {
        document_v3(&builtins(), group, version, &none).unwrap()
    }

    /// A custom resource, as the CRD code will register it.
    fn custom(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
    ) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            resource: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: true,
            storage_prefix: format!("/registry/{group}/{plural}/"),
            storage_api_version: format!("{group}/{version}"),
            tracks_generation: true,
            create_on_update: false,
            unconditional_update: false,
            name_rule: NameRule::PathSegment,
            special: Special::Custom {
                crd: format!("{plural}.{group}"),
            },
            selectable_fields: Vec::new(),
            verbs: crate::builtin::ALL_VERBS.to_vec(),
            custom: None,
        }
    }

    fn with_crontab() -> Arc<Resources> {
        let reg = Registry::new();
        reg.update(|r| {
            r.add(custom(
                "stable.example.com",
                "v1",
                "CronTab",
                "crontabs",
                true,
            ))
        });
        reg.snapshot()
    }

    /// Calls `f` with every `$ref` string in the value.
    fn walk_refs(v: &Value, f: &mut impl FnMut(&str)) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    match (k.as_str(), child) {
                        ("$ref", Value::String(s)) => f(s),
                        _ => walk_refs(child, f),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk_refs(i, f)),
            _ => {}
        }
    }

    /// Every `$ref` of a document names a definition it holds.
    fn assert_refs_resolve(doc: &Value, prefix: &str, defs: &Map<String, Value>) -> usize {
        let mut count = 0;
        walk_refs(doc, &mut |r| {
            let name = r
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("foreign ref {r}"));
            assert!(defs.contains_key(name), "unresolved ref {r}");
            count += 1;
        });
        count
    }

    /// kubectl's `supportsQueryParamV3`: the first PATCH operation of the
    /// kind decides whether it takes the parameter.
    fn kubectl_supports_param(
        doc: &Value,
        group: &str,
        version: &str,
        kind: &str,
        param: &str,
    ) -> bool {
        let want = json!({"group": group, "version": version, "kind": kind});
        for item in doc["paths"].as_object().unwrap().values() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            if op["x-kubernetes-group-version-kind"] != want {
                continue;
            }
            return op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == param);
        }
        false
    }

    /// kubectl's `gvkSupportsPatchOpenAPIV3`.
    fn kubectl_strategic_merge(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
        let want = json!({"group": group, "version": version, "kind": kind});
        for item in doc["paths"].as_object().unwrap().values() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            if op["x-kubernetes-group-version-kind"] == want {
                return op["requestBody"]["content"]
                    .get("application/strategic-merge-patch+json")
                    .is_some();
            }
        }
        false
    }

    /// kubectl's lookup of a kind's schema for apply and explain.
    fn schema_of<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> &'a Value {
        let want = json!([{"group": group, "kind": kind, "version": version}]);
        let found: Vec<&Value> = doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .values()
            .filter(|s| s["x-kubernetes-group-version-kind"] == want)
            .collect();
        assert_eq!(found.len(), 1, "{group}/{version} {kind}");
        found[0]
    }

    fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
        doc["paths"]
            .get(path)
            .and_then(|p| p.get(method))
            .unwrap_or_else(|| panic!("no {method} {path}"))
    }

    #[test]
    fn the_root_lists_every_group_version_with_its_hash() {
        let resources = builtins();
        let docs = Documents::build(&resources, &none);
        let root: Value = serde_json::from_slice(&docs.root.body).unwrap();
        let paths = root["paths"].as_object().unwrap();
        let mut want: Vec<String> = Vec::new();
        for (g, versions) in resources.groups() {
            for v in versions {
                want.push(gv_path(g, v));
            }
        }
        want.sort();
        assert_eq!(paths.keys().cloned().collect::<Vec<_>>(), want);
        assert!(paths.contains_key("api/v1"));
        assert!(paths.contains_key("apis/coordination.k8s.io/v1"));
        assert!(paths.contains_key("apis/apiextensions.k8s.io/v1"));
        assert!(paths.contains_key("apis/discovery.k8s.io/v1"));
        for (gv, entry) in paths {
            let served = &docs.v3[gv];
            assert_eq!(
                entry["serverRelativeURL"],
                format!("/openapi/v3/{gv}?hash={}", served.etag)
            );
            assert_eq!(entry.as_object().unwrap().len(), 1);
            // kube's hash: upper-case hex SHA-512 of the document's bytes.
            assert_eq!(served.etag.len(), 128);
            assert!(
                served
                    .etag
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            );
            let digest = ring::digest::digest(&ring::digest::SHA512, &served.body);
            assert_eq!(served.etag, hex_upper(digest.as_ref()));
        }
    }

    #[test]
    fn hex_is_upper_case() {
        assert_eq!(hex_upper(&[0x00, 0x0f, 0xa5, 0xff]), "000FA5FF");
        assert_eq!(hex_upper(&[]), "");
    }

    #[test]
    fn builds_are_deterministic() {
        let resources = builtins();
        let a = Documents::build(&resources, &none);
        let b = Documents::build(&resources, &none);
        assert_eq!(a.root.etag, b.root.etag);
        assert_eq!(a.v2_json.etag, b.v2_json.etag);
        assert_eq!(a.v2_proto.etag, b.v2_proto.etag);
        for (gv, served) in &a.v3 {
            assert_eq!(served.body, b.v3[gv].body, "{gv}");
        }
    }

    #[test]
    fn unserved_group_versions_have_no_document() {
        let resources = builtins();
        assert!(document_v3(&resources, "apps", "v1", &none).is_none());
        assert!(document_v3(&resources, "", "v2", &none).is_none());
        assert!(document_v3(&resources, "", "", &none).is_none());
        assert!(document_v3(&resources, "ünï/cödé", "v1", &none).is_none());
    }

    #[test]
    fn every_ref_resolves_in_every_document() {
        let resources = with_crontab();
        let docs = Documents::build(&resources, &none);
        for (gv, served) in &docs.v3 {
            let doc: Value = serde_json::from_slice(&served.body).unwrap();
            assert_eq!(doc["openapi"], "3.0.0", "{gv}");
            let defs = doc["components"]["schemas"].as_object().unwrap();
            let n = assert_refs_resolve(&doc, "#/components/schemas/", defs);
            assert!(n > 10, "{gv}: {n} refs");
        }
        let v2: Value = serde_json::from_slice(&docs.v2_json.body).unwrap();
        assert_eq!(v2["swagger"], "2.0");
        let defs = v2["definitions"].as_object().unwrap();
        assert_refs_resolve(&v2, "#/definitions/", defs);
        // Swagger readers do not follow allOf: none is left (JSONSchemaProps
        // has a property of that name, whose value is an object).
        fn no_all_of(v: &Value) {
            match v {
                Value::Object(m) => {
                    assert!(!m.get("allOf").is_some_and(Value::is_array), "{v}");
                    m.values().for_each(no_all_of);
                }
                Value::Array(a) => a.iter().for_each(no_all_of),
                _ => {}
            }
        }
        no_all_of(&v2);
        assert!(!String::from_utf8_lossy(&docs.v2_json.body).contains("#/components/"));
    }

    #[test]
    fn configmap_paths_operations_and_schemas() {
        let doc = doc("", "v1");
        let collection = "/api/v1/namespaces/{namespace}/configmaps";
        let item = "/api/v1/namespaces/{namespace}/configmaps/{name}";
        let cases = [
            (collection, "get", "listCoreV1NamespacedConfigMap", "list"),
            (
                collection,
                "post",
                "createCoreV1NamespacedConfigMap",
                "post",
            ),
            (
                collection,
                "delete",
                "deleteCoreV1CollectionNamespacedConfigMap",
                "deletecollection",
            ),
            (item, "get", "readCoreV1NamespacedConfigMap", "get"),
            (item, "put", "replaceCoreV1NamespacedConfigMap", "put"),
            (item, "patch", "patchCoreV1NamespacedConfigMap", "patch"),
            (item, "delete", "deleteCoreV1NamespacedConfigMap", "delete"),
            (
                "/api/v1/configmaps",
                "get",
                "listCoreV1ConfigMapForAllNamespaces",
                "list",
            ),
        ];
        for (path, method, id, action) in cases {
            let o = op(&doc, path, method);
            assert_eq!(o["operationId"], id);
            assert_eq!(o["x-kubernetes-action"], action, "{id}");
            assert_eq!(
                o["x-kubernetes-group-version-kind"],
                json!({"group": "", "kind": "ConfigMap", "version": "v1"})
            );
            assert_eq!(o["tags"], json!(["core_v1"]));
            assert_eq!(o["responses"]["401"]["description"], "Unauthorized");
        }
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            names(&doc["paths"][collection]["parameters"]),
            ["namespace", "pretty"]
        );
        assert_eq!(
            names(&doc["paths"][item]["parameters"]),
            ["name", "namespace", "pretty"]
        );
        assert_eq!(
            doc["paths"][item]["parameters"][0]["description"],
            "name of the ConfigMap"
        );
        assert_eq!(doc["paths"][item]["parameters"][0]["required"], true);
        assert_eq!(doc["paths"][item]["parameters"][0]["in"], "path");
        assert_eq!(
            names(&op(&doc, collection, "get")["parameters"]),
            [
                "allowWatchBookmarks",
                "continue",
                "fieldSelector",
                "labelSelector",
                "limit",
                "resourceVersion",
                "resourceVersionMatch",
                "sendInitialEvents",
                "timeoutSeconds",
                "watch"
            ]
        );
        assert_eq!(
            names(&op(&doc, collection, "post")["parameters"]),
            ["dryRun", "fieldManager", "fieldValidation"]
        );
        assert_eq!(
            names(&op(&doc, item, "put")["parameters"]),
            ["dryRun", "fieldManager", "fieldValidation"]
        );
        assert_eq!(
            names(&op(&doc, item, "patch")["parameters"]),
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        assert_eq!(
            names(&op(&doc, item, "delete")["parameters"]),
            [
                "dryRun",
                "gracePeriodSeconds",
                "orphanDependents",
                "propagationPolicy"
            ]
        );
        // The all-namespaces list takes its parameters at the path.
        assert!(
            op(&doc, "/api/v1/configmaps", "get")
                .get("parameters")
                .is_none()
        );
        let all = names(&doc["paths"]["/api/v1/configmaps"]["parameters"]);
        assert!(all.contains(&"pretty".to_string()) && all.contains(&"labelSelector".to_string()));
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        // Types of the parameters.
        let param = |o: &Value, name: &str| -> Value {
            o["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()
                .clone()
        };
        let list = op(&doc, collection, "get");
        assert_eq!(
            param(list, "watch")["schema"],
            json!({"type": "boolean", "uniqueItems": true})
        );
        assert_eq!(
            param(list, "limit")["schema"],
            json!({"type": "integer", "uniqueItems": true})
        );
        assert_eq!(
            param(list, "continue")["schema"],
            json!({"type": "string", "uniqueItems": true})
        );
        assert_eq!(param(list, "labelSelector")["in"], "query");
        // Bodies and responses name the schemas.
        let cm = "#/components/schemas/io.k8s.api.core.v1.ConfigMap";
        let post = op(&doc, collection, "post");
        assert_eq!(
            post["requestBody"],
            json!({"content": {"*/*": {"schema": {"$ref": cm}}}, "required": true})
        );
        assert_eq!(
            post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            cm
        );
        assert_eq!(post["responses"]["202"]["description"], "Accepted");
        assert_eq!(
            list["responses"]["200"]["content"]["application/json;stream=watch"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.ConfigMapList"
        );
        let patch = op(&doc, item, "patch");
        let content = patch["requestBody"]["content"].as_object().unwrap();
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            [
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json"
            ]
        );
        assert_eq!(
            content["application/json-patch+json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
        assert_eq!(
            op(&doc, item, "delete")["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"
        );
        assert_eq!(
            op(&doc, "/api/v1/", "get")["operationId"],
            "getCoreV1APIResources"
        );
        assert!(
            op(&doc, "/api/v1/", "get")
                .get("x-kubernetes-action")
                .is_none()
        );

        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "io.k8s.api.core.v1.ConfigMap",
            "io.k8s.api.core.v1.ConfigMapList",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
        let cm = &schemas["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(
            cm["properties"]["data"]["additionalProperties"]["type"],
            "string"
        );
        assert_eq!(
            cm["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        // kube does not require metadata on a ConfigMap (k8s-openapi does).
        assert!(cm.get("required").is_none());
        let list = &schemas["io.k8s.api.core.v1.ConfigMapList"];
        assert_eq!(list["required"], json!(["items"]));
        assert_eq!(
            list["properties"]["items"]["items"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.ConfigMap"
        );
    }

    #[test]
    fn cluster_scoped_kinds_subresources_and_verbs() {
        let doc = doc("", "v1");
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|p| p.as_object().unwrap().values())
            .filter_map(|o| o.get("operationId").and_then(Value::as_str))
            .collect();
        for id in [
            "listCoreV1Namespace",
            "createCoreV1Namespace",
            "readCoreV1Namespace",
            "patchCoreV1Namespace",
            "readCoreV1NamespaceStatus",
            "patchCoreV1NamespaceStatus",
            "replaceCoreV1NamespaceStatus",
            "replaceCoreV1NamespaceFinalize",
            "readCoreV1NamespacedServiceStatus",
            "patchCoreV1NamespacedServiceStatus",
            "replaceCoreV1NamespacedServiceStatus",
            "listCoreV1ServiceForAllNamespaces",
        ] {
            assert!(ids.contains(&id), "{id}");
        }
        // Namespaces have no deletecollection verb, and no all-namespaces list.
        assert!(!ids.contains(&"deleteCoreV1CollectionNamespace"));
        assert!(!ids.iter().any(|i| i.contains("NamespaceForAllNamespaces")));
        // Operation ids are unique.
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        assert!(
            doc["paths"]
                .get("/api/v1/namespaces/{namespace}/namespaces")
                .is_none()
        );
        let status = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}/status"];
        assert_eq!(
            status["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Service"
        );
        assert_eq!(status["patch"]["x-kubernetes-action"], "patch");
        assert!(
            status["patch"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert_eq!(
            doc["paths"]["/api/v1/namespaces/{name}/finalize"]["put"]["x-kubernetes-group-version-kind"]
                ["kind"],
            "Namespace"
        );
        // ConfigMaps have no status subresource.
        assert!(
            doc["paths"]
                .get("/api/v1/namespaces/{namespace}/configmaps/{name}/status")
                .is_none()
        );
    }

    #[test]
    fn lease_document_is_complete() {
        let doc = doc("coordination.k8s.io", "v1");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "io.k8s.api.coordination.v1.Lease",
            "io.k8s.api.coordination.v1.LeaseList",
            "io.k8s.api.coordination.v1.LeaseSpec",
            "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
        // Only this group/version's kinds: no core kinds.
        assert!(!schemas.contains_key("io.k8s.api.core.v1.ConfigMap"));
        assert!(
            !doc["paths"]
                .as_object()
                .unwrap()
                .keys()
                .any(|p| !p.starts_with("/apis/coordination.k8s.io/v1/"))
        );
        assert_eq!(
            op(
                &doc,
                "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}",
                "patch"
            )["operationId"],
            "patchCoordinationV1NamespacedLease"
        );
        assert_eq!(
            op(
                &doc,
                "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
                "delete"
            )["operationId"],
            "deleteCoordinationV1CollectionNamespacedLease"
        );
        assert_eq!(
            op(&doc, "/apis/coordination.k8s.io/v1/leases", "get")["operationId"],
            "listCoordinationV1LeaseForAllNamespaces"
        );
        assert_eq!(
            op(&doc, "/apis/coordination.k8s.io/v1/", "get")["tags"],
            json!(["coordination_v1"])
        );
        let lease = schema_of(&doc, "coordination.k8s.io", "v1", "Lease");
        assert_eq!(lease["type"], "object");
        assert!(lease.get("required").is_none());
        let spec = &schemas["io.k8s.api.coordination.v1.LeaseSpec"];
        assert_eq!(
            spec["properties"]["leaseDurationSeconds"]["type"],
            "integer"
        );
        assert_eq!(
            spec["properties"]["renewTime"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
        );
        assert_eq!(
            schemas["io.k8s.api.coordination.v1.LeaseList"]["x-kubernetes-group-version-kind"],
            json!([{"group": "coordination.k8s.io", "kind": "LeaseList", "version": "v1"}])
        );
    }

    #[test]
    fn kubectl_finds_field_validation_and_strategic_merge_for_builtins() {
        let resources = builtins();
        for r in resources.all() {
            let doc = document_v3(&resources, &r.group, &r.version, &none).unwrap();
            assert!(
                kubectl_supports_param(&doc, &r.group, &r.version, &r.kind, "fieldValidation"),
                "{}",
                r.kind
            );
            assert!(
                kubectl_strategic_merge(&doc, &r.group, &r.version, &r.kind),
                "{}",
                r.kind
            );
            let schema = schema_of(&doc, &r.group, &r.version, &r.kind);
            assert!(schema["properties"].get("metadata").is_some(), "{}", r.kind);
            let list = schema_of(&doc, &r.group, &r.version, &format!("{}List", r.kind));
            assert_eq!(list["required"], json!(["items"]));
        }
        // The kind kubectl maps `v1 List` to is never claimed.
        let doc = doc("", "v1");
        assert!(!kubectl_supports_param(
            &doc,
            "",
            "v1",
            "List",
            "fieldValidation"
        ));
    }

    #[test]
    fn gvk_extension_is_on_every_kind() {
        let doc = doc("", "v1");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for kind in [
            "ConfigMap",
            "Endpoints",
            "Event",
            "Namespace",
            "Secret",
            "ServiceAccount",
            "Service",
        ] {
            assert_eq!(
                schemas[&format!("io.k8s.api.core.v1.{kind}")]["x-kubernetes-group-version-kind"],
                json!([{"group": "", "kind": kind, "version": "v1"}])
            );
        }
        // Types that are not kinds carry none.
        assert!(
            schemas["io.k8s.api.core.v1.ServiceSpec"]
                .get("x-kubernetes-group-version-kind")
                .is_none()
        );
        assert!(
            schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
                .get("x-kubernetes-group-version-kind")
                .is_none()
        );
        // Event's metadata is required in kube.
        let required = schemas["io.k8s.api.core.v1.Event"]["required"]
            .as_array()
            .unwrap();
        assert!(
            required.contains(&json!("metadata")) && required.contains(&json!("involvedObject"))
        );
        let crd = doc_crd();
        assert_eq!(
            crd["components"]["schemas"]["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"]
                ["required"],
            json!(["spec"])
        );
    }

    fn doc_crd() -> Value {
        doc("apiextensions.k8s.io", "v1")
    }

    #[test]
    fn strategic_merge_extensions_match_kube() {
        let doc = doc("", "v1");
        let s = &doc["components"]["schemas"];
        let ports = &s["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
        assert_eq!(ports["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(ports["x-kubernetes-list-type"], "map");
        assert_eq!(
            ports["x-kubernetes-list-map-keys"],
            json!(["port", "protocol"])
        );
        assert_eq!(ports["type"], "array");
        assert_eq!(
            ports["items"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.ServicePort"
        );
        let meta = &s["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"];
        assert_eq!(
            meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
            "uid"
        );
        assert_eq!(
            meta["ownerReferences"]["x-kubernetes-patch-strategy"],
            "merge"
        );
        assert_eq!(
            meta["ownerReferences"]["x-kubernetes-list-map-keys"],
            json!(["uid"])
        );
        assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(meta["finalizers"]["x-kubernetes-list-type"], "set");
        assert!(
            meta["finalizers"]
                .get("x-kubernetes-patch-merge-key")
                .is_none()
        );
        assert_eq!(meta["managedFields"]["x-kubernetes-list-type"], "atomic");
        let sa = &s["io.k8s.api.core.v1.ServiceAccount"]["properties"];
        assert_eq!(sa["secrets"]["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(sa["imagePullSecrets"]["x-kubernetes-list-type"], "atomic");
        assert!(
            sa["imagePullSecrets"]
                .get("x-kubernetes-patch-strategy")
                .is_none()
        );
        let conditions = &s["io.k8s.api.core.v1.NamespaceStatus"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-patch-merge-key"], "type");
        assert_eq!(
            s["io.k8s.api.core.v1.Endpoints"]["properties"]["subsets"]["x-kubernetes-list-type"],
            "atomic"
        );
        assert_eq!(
            s["io.k8s.api.core.v1.ObjectReference"]["x-kubernetes-map-type"],
            "atomic"
        );
        // Every entry of the table names a field that exists somewhere.
        let resources = builtins();
        let mut all = Map::new();
        for (g, versions) in resources.groups() {
            for v in versions {
                let d = document_v3(&resources, g, v, &none).unwrap();
                all.extend(d["components"]["schemas"].as_object().unwrap().clone());
            }
        }
        for ext in LIST_EXTENSIONS {
            let field = &all[ext.schema]["properties"][ext.field];
            assert_eq!(field["type"], "array", "{}.{}", ext.schema, ext.field);
            for (k, v) in ext.extensions() {
                assert_eq!(&field[&k], &v, "{}.{}", ext.schema, ext.field);
            }
        }
    }

    #[test]
    fn custom_resources_get_an_open_schema_and_no_strategic_merge() {
        let resources = with_crontab();
        let doc = document_v3(&resources, "stable.example.com", "v1", &none).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let ct = &schemas["com.example.stable.v1.CronTab"];
        assert_eq!(ct["type"], "object");
        assert_eq!(ct["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(
            ct["x-kubernetes-group-version-kind"],
            json!([{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}])
        );
        assert_eq!(
            ct["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(schemas.contains_key("com.example.stable.v1.CronTabList"));
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        assert!(kubectl_supports_param(
            &doc,
            "stable.example.com",
            "v1",
            "CronTab",
            "fieldValidation"
        ));
        assert!(!kubectl_strategic_merge(
            &doc,
            "stable.example.com",
            "v1",
            "CronTab"
        ));
        let item = "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}";
        assert_eq!(
            op(&doc, item, "get")["operationId"],
            "readStableExampleComV1NamespacedCronTab"
        );
        assert_eq!(
            op(&doc, item, "get")["tags"],
            json!(["stableExampleCom_v1"])
        );
        assert_eq!(
            op(&doc, &format!("{item}/status"), "patch")["operationId"],
            "patchStableExampleComV1NamespacedCronTabStatus"
        );
        assert!(
            op(&doc, item, "get")["responses"]["200"]["content"]
                .get("application/vnd.kubernetes.protobuf")
                .is_none()
        );
        // The root lists the new group/version.
        let docs = Documents::build(&resources, &none);
        let root: Value = serde_json::from_slice(&docs.root.body).unwrap();
        assert!(root["paths"].get("apis/stable.example.com/v1").is_some());
    }

    #[test]
    fn custom_resources_take_the_schema_they_are_given() {
        let resources = with_crontab();
        let extra = |r: &ResourceType| {
            (r.kind == "CronTab").then(|| {
                json!({
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {"cronSpec": {"type": "string", "nullable": true}}},
                        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}},
                    },
                })
            })
        };
        let doc = document_v3(&resources, "stable.example.com", "v1", &extra).unwrap();
        let ct = &doc["components"]["schemas"]["com.example.stable.v1.CronTab"];
        assert_eq!(
            ct["properties"]["spec"]["properties"]["cronSpec"]["type"],
            "string"
        );
        assert_eq!(
            ct["properties"]["spec"]["properties"]["cronSpec"]["nullable"],
            true
        );
        assert_eq!(ct["properties"]["apiVersion"]["type"], "string");
        assert_eq!(ct["properties"]["kind"]["type"], "string");
        assert!(ct["properties"]["metadata"]["allOf"].is_array());
        assert!(ct.get("x-kubernetes-preserve-unknown-fields").is_none());
        // v2 drops what Swagger lacks.
        let v2 = document_v2(&resources, &extra);
        let ct2 = &v2["definitions"]["com.example.stable.v1.CronTab"];
        assert!(
            ct2["properties"]["spec"]["properties"]["cronSpec"]
                .get("nullable")
                .is_none()
        );
        assert_eq!(
            ct2["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        // Odd schemas do not break the document.
        for odd in [
            json!(5),
            json!([1, 2]),
            json!("x"),
            json!(null),
            json!({"properties": 7}),
            json!({}),
        ] {
            let extra = |_: &ResourceType| Some(odd.clone());
            let doc = document_v3(&resources, "stable.example.com", "v1", &extra).unwrap();
            let ct = &doc["components"]["schemas"]["com.example.stable.v1.CronTab"];
            assert_eq!(ct["type"], "object", "{odd}");
            assert!(ct["properties"]["metadata"].is_object(), "{odd}");
            let _ = document_v2(&resources, &extra);
        }
    }

    #[test]
    fn custom_resources_with_a_scale_subresource() {
        let crd = crate::crd::scaled_test_crd();
        let reg = Registry::new();
        reg.update(|r| {
            for t in crate::crd::resource_types(&crd).unwrap() {
                r.add(t);
            }
        });
        let resources = reg.snapshot();
        let doc = document_v3(&resources, "stable.example.com", "v1", &none).unwrap();
        let scale = "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale";
        let status = "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status";
        assert_eq!(
            op(&doc, status, "get")["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/com.example.stable.v1.CronTab"
        );
        let get = op(&doc, scale, "get");
        assert_eq!(
            get["operationId"],
            "readStableExampleComV1NamespacedCronTabScale"
        );
        assert_eq!(get["description"], "read scale of the specified CronTab");
        assert_eq!(
            get["x-kubernetes-group-version-kind"],
            json!({"group": "stable.example.com", "version": "v1", "kind": "CronTab"})
        );
        let scale_ref = json!({"$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"});
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"],
            scale_ref
        );
        let put = op(&doc, scale, "put");
        assert_eq!(
            put["operationId"],
            "replaceStableExampleComV1NamespacedCronTabScale"
        );
        assert_eq!(put["requestBody"]["content"]["*/*"]["schema"], scale_ref);
        let patch = op(&doc, scale, "patch");
        assert_eq!(
            patch["description"],
            "partially update scale of the specified CronTab"
        );
        let patch_types: Vec<&String> = patch["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert!(!patch_types.iter().any(|t| t.contains("strategic")));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let s = &schemas["io.k8s.api.autoscaling.v1.Scale"];
        assert!(s.get("required").is_none(), "{s}");
        assert!(s.get("x-kubernetes-group-version-kind").is_none());
        assert_eq!(
            schemas["io.k8s.api.autoscaling.v1.ScaleStatus"]["required"],
            json!(["replicas"])
        );
        assert!(assert_refs_resolve(&doc, "#/components/schemas/", schemas) > 0);
        // The Swagger 2.0 document has them too.
        let v2 = document_v2(&resources, &none);
        assert_eq!(
            v2["paths"][scale]["get"]["responses"]["200"]["schema"]["$ref"],
            "#/definitions/io.k8s.api.autoscaling.v1.Scale"
        );
        assert!(
            v2["definitions"]
                .get("io.k8s.api.autoscaling.v1.Scale")
                .is_some()
        );
    }

    #[test]
    fn cluster_scoped_custom_resources() {
        let reg = Registry::new();
        reg.update(|r| {
            r.add(custom(
                "ünï.example",
                "v1alpha1",
                "Wïdget",
                "wïdgets",
                false,
            ))
        });
        let resources = reg.snapshot();
        let doc = document_v3(&resources, "ünï.example", "v1alpha1", &none).unwrap();
        let item = "/apis/ünï.example/v1alpha1/wïdgets/{name}";
        assert_eq!(
            op(&doc, item, "get")["operationId"],
            "readÜnïExampleV1alpha1Wïdget"
        );
        assert_eq!(
            op(&doc, "/apis/ünï.example/v1alpha1/wïdgets", "get")["operationId"],
            "listÜnïExampleV1alpha1Wïdget"
        );
        assert!(
            doc["paths"]["/apis/ünï.example/v1alpha1/wïdgets"]
                .get("parameters")
                .is_some()
        );
        assert!(
            doc["components"]["schemas"]
                .get("example.ünï.v1alpha1.Wïdget")
                .is_some()
        );
    }

    #[test]
    fn operation_ids_follow_kube() {
        assert_eq!(
            op_group_version("", "v1"),
            ("CoreV1".to_string(), "core_v1".to_string())
        );
        assert_eq!(
            op_group_version("coordination.k8s.io", "v1"),
            ("CoordinationV1".to_string(), "coordination_v1".to_string())
        );
        assert_eq!(
            op_group_version("rbac.authorization.k8s.io", "v1beta1"),
            (
                "RbacAuthorizationV1beta1".to_string(),
                "rbacAuthorization_v1beta1".to_string()
            )
        );
        assert_eq!(op_group_version("apps", "v1").0, "AppsV1");
        assert_eq!(
            op_group_version("stable.example.com", "v2"),
            (
                "StableExampleComV2".to_string(),
                "stableExampleCom_v2".to_string()
            )
        );
        assert_eq!(op_group_version("my-group.io", "v1").0, "MyGroupIoV1");
        // Leading digits are dropped, as ToValidOperationID does.
        assert_eq!(op_group_version("3d.example", "v1").0, "DExampleV1");
        assert_eq!(op_group_version("", "").0, "Core");
        assert_eq!(url_prefix("", "v1"), "/api/v1");
        assert_eq!(url_prefix("apps", "v1"), "/apis/apps/v1");
        assert_eq!(gv_path("", "v1"), "api/v1");
        assert_eq!(gv_path("apps", "v1"), "apis/apps/v1");
    }

    #[test]
    fn the_cache_follows_the_registry() {
        let reg = Registry::new();
        let cache = Cache::new();
        let a = cache.documents(&reg.snapshot(), &none);
        let b = cache.documents(&reg.snapshot(), &none);
        assert!(Arc::ptr_eq(&a, &b));
        reg.update(|r| {
            r.add(custom(
                "stable.example.com",
                "v1",
                "CronTab",
                "crontabs",
                true,
            ))
        });
        let c = cache.documents(&reg.snapshot(), &none);
        assert!(!Arc::ptr_eq(&a, &c));
        // A new group/version gets a document; the others keep their hash.
        assert!(c.v3.contains_key("apis/stable.example.com/v1"));
        assert_eq!(a.v3["api/v1"].etag, c.v3["api/v1"].etag);
        assert_ne!(a.root.etag, c.root.etag);
        // A new kind in a served group/version changes that one's hash.
        reg.update(|r| {
            r.add(custom(
                "stable.example.com",
                "v1",
                "Shelf",
                "shelves",
                false,
            ))
        });
        let d = cache.documents(&reg.snapshot(), &none);
        assert_ne!(
            c.v3["apis/stable.example.com/v1"].etag,
            d.v3["apis/stable.example.com/v1"].etag
        );
        // Removing the CRDs gets back to the first documents' content.
        reg.update(|r| {
            r.remove_crd("crontabs.stable.example.com");
            r.remove_crd("shelves.stable.example.com");
        });
        let e = cache.documents(&reg.snapshot(), &none);
        assert_eq!(a.root.etag, e.root.etag);
        assert!(!e.v3.contains_key("apis/stable.example.com/v1"));
        // Old snapshots are let go.
        for _ in 0..10 {
            reg.update(|_| {});
            cache.documents(&reg.snapshot(), &none);
        }
        assert!(cache.entries.lock().unwrap().len() <= CACHED_SNAPSHOTS);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn header<'a>(r: &'a Response<Body>, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    #[test]
    fn responses_carry_etags_and_honour_if_none_match() {
        let docs = Documents::build(&builtins(), &none);
        let r = respond(&docs, &["v3"], None, &headers(&[])).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "application/json");
        assert_eq!(header(&r, "etag"), format!("\"{}\"", docs.root.etag));
        assert!(header(&r, "last-modified").ends_with(" GMT"));
        let etag = format!("\"{}\"", docs.root.etag);
        for inm in [
            etag.as_str(),
            "*",
            &format!("W/{etag}"),
            &format!("\"x\", {etag}"),
        ] {
            let r = respond(&docs, &["v3"], None, &headers(&[("if-none-match", inm)])).unwrap();
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{inm}");
            assert_eq!(header(&r, "etag"), etag);
        }
        let r = respond(
            &docs,
            &["v3"],
            None,
            &headers(&[("if-none-match", "\"other\"")]),
        )
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn hashed_urls_are_immutable_and_old_hashes_redirect() {
        let docs = Documents::build(&builtins(), &none);
        let served = &docs.v3["apis/coordination.k8s.io/v1"];
        let parts = ["v3", "apis", "coordination.k8s.io", "v1"];
        let q = format!("hash={}", served.etag);
        let r = respond(
            &docs,
            &parts,
            Some(&q),
            &headers(&[("accept", "application/json")]),
        )
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), "public, immutable");
        assert!(header(&r, "expires").ends_with(" GMT"));
        assert_eq!(header(&r, "vary"), "Accept");
        assert_eq!(header(&r, "etag"), format!("\"{}\"", served.etag));
        let r = respond(&docs, &parts, Some("hash=0123"), &headers(&[])).unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            header(&r, "location"),
            format!(
                "/openapi/v3/apis/coordination.k8s.io/v1?hash={}",
                served.etag
            )
        );
        // Without a hash: no caching headers.
        let r = respond(&docs, &parts, None, &headers(&[])).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), "");
        let r = respond(&docs, &parts, Some("hash="), &headers(&[])).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn media_types_are_negotiated() {
        let docs = Documents::build(&builtins(), &none);
        let v1 = ["v3", "api", "v1"];
        for accept in [
            "application/json",
            "application/json, */*",
            "*/*",
            "",
            "application/*",
            V3_PROTOBUF,
            "application/com.github.proto-openapi.spec.v3@v1.0+protobuf, application/json",
        ] {
            let r = respond(&docs, &v1, None, &headers(&[("accept", accept)])).unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{accept}");
            assert_eq!(header(&r, "content-type"), "application/json", "{accept}");
        }
        for accept in ["text/html", "application/json;q=0", "image/*"] {
            let r = respond(&docs, &v1, None, &headers(&[("accept", accept)])).unwrap();
            assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE, "{accept}");
        }
        // kubectl's v2 request takes protobuf only.
        let r = respond(&docs, &["v2"], None, &headers(&[("accept", V2_PROTOBUF)])).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "content-type"),
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        );
        assert_eq!(header(&r, "etag"), format!("\"{}\"", docs.v2_proto.etag));
        assert_eq!(header(&r, "vary"), "Accept");
        for accept in [
            "application/json",
            "",
            "*/*",
            &format!("{V2_PROTOBUF};q=0.5, application/json"),
        ] {
            let r = respond(&docs, &["v2"], None, &headers(&[("accept", accept)])).unwrap();
            assert_eq!(header(&r, "content-type"), "application/json", "{accept}");
        }
        let r = respond(
            &docs,
            &["v2"],
            None,
            &headers(&[("accept", &format!("application/json;q=0.1, {V2_PROTOBUF}"))]),
        )
        .unwrap();
        assert_eq!(header(&r, "content-type"), V2_PROTOBUF_ANSWER);
        let r = respond(&docs, &["v2"], None, &headers(&[("accept", "text/plain")])).unwrap();
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    }

    #[test]
    fn unknown_paths_are_not_found() {
        let docs = Documents::build(&builtins(), &none);
        for parts in [
            &["v3", "apis", "apps", "v1"][..],
            &["v3", "api"],
            &["v3", "apis", "coordination.k8s.io"],
            &["v3", "apis", "coordination.k8s.io", "v1", "x"],
            &["v4"],
            &[],
            &["v2", "x"],
            &["v3", "☃"],
        ] {
            let r = respond(&docs, parts, None, &headers(&[]));
            assert!(matches!(r, Err(ApiError::NoResource)), "{parts:?}");
        }
    }

    #[test]
    fn accept_headers_parse_like_kube() {
        let c = accept_clauses("text/html;q=0.5, application/json, */*;q=0.1, application/*");
        let media: Vec<&str> = c.iter().map(|c| c.media.as_str()).collect();
        assert_eq!(
            media,
            ["application/json", "application/*", "text/html", "*/*"]
        );
        assert_eq!(accept_clauses("")[0].media, "*/*");
        assert!(accept_clauses(",,;;,q=1").is_empty());
        assert!(accept_clauses("a/b;q=zz")[0].q == 1.0);
        assert_eq!(
            negotiate("APPLICATION/JSON", &["application/json"]),
            Some("application/json")
        );
        assert_eq!(negotiate("application", &["application/json"]), None);
        assert_eq!(
            negotiate(&"x/y,".repeat(10_000), &["application/json"]),
            None
        );
    }

    #[test]
    fn v2_conversion_keeps_values_and_unwraps_refs() {
        let v3 = json!({
            "properties": {
                "a": {"allOf": [{"$ref": "#/components/schemas/X"}], "description": "d", "default": {"$ref": "data"}},
                "nullable": {"type": "string", "nullable": true, "enum": [{"allOf": 1}]},
                "b": {"allOf": [{"$ref": "#/components/schemas/X"}, {"$ref": "#/components/schemas/Y"}]},
            },
            "x-kubernetes-validations": [{"rule": "self.a", "nullable": true}],
        });
        let v2 = schemas::to_v2(&v3);
        assert_eq!(
            v2["properties"]["a"],
            json!({"$ref": "#/definitions/X", "description": "d", "default": {"$ref": "data"}})
        );
        assert_eq!(
            v2["properties"]["nullable"],
            json!({"type": "string", "enum": [{"allOf": 1}]})
        );
        assert_eq!(v2["properties"]["b"]["allOf"][1]["$ref"], "#/definitions/Y");
        assert_eq!(v2["x-kubernetes-validations"][0]["nullable"], true);
        assert_eq!(schemas::to_v2(&json!(3)), json!(3));
    }

    /// A minimal protobuf reader: the fields of one message.
    fn fields(mut b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let value = match key & 7 {
                0 => varint(&mut b).to_le_bytes().to_vec(),
                1 => {
                    let v = b[..8].to_vec();
                    b = &b[8..];
                    v
                }
                2 => {
                    let n = varint(&mut b) as usize;
                    let v = b[..n].to_vec();
                    b = &b[n..];
                    v
                }
                w => panic!("wire type {w}"),
            };
            out.push((key >> 3, value));
        }
        out
    }

    fn field(msg: &[(u64, Vec<u8>)], n: u64) -> Vec<Vec<u8>> {
        msg.iter()
            .filter(|(f, _)| *f == n)
            .map(|(_, v)| v.clone())
            .collect()
    }

    #[test]
    fn the_v2_protobuf_holds_the_json_document() {
        let docs = Documents::build(&builtins(), &none);
        let json: Value = serde_json::from_slice(&docs.v2_json.body).unwrap();
        let doc = fields(&docs.v2_proto.body);
        assert_eq!(field(&doc, 1), [b"2.0".to_vec()]);
        let info = fields(&field(&doc, 2)[0]);
        assert_eq!(field(&info, 1), [b"Kubernetes".to_vec()]);
        // Paths: one NamedPathItem per path, in order.
        let paths = fields(&field(&doc, 8)[0]);
        let names: Vec<String> = field(&paths, 2)
            .iter()
            .map(|p| String::from_utf8(field(&fields(p), 1)[0].clone()).unwrap())
            .collect();
        assert_eq!(
            names,
            json["paths"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        );
        // Definitions: one NamedSchema per definition.
        let defs = fields(&field(&doc, 9)[0]);
        assert_eq!(
            field(&defs, 1).len(),
            json["definitions"].as_object().unwrap().len()
        );
        // The PATCH of a ConfigMap: consumes strategic merge, takes
        // fieldValidation as a query parameter, and names its kind.
        let item = field(&paths, 2)
            .into_iter()
            .map(|p| fields(&p))
            .find(|p| field(p, 1)[0] == b"/api/v1/namespaces/{namespace}/configmaps/{name}")
            .unwrap();
        let path_item = fields(&field(&item, 2)[0]);
        let patch = fields(&field(&path_item, 8)[0]);
        assert!(field(&patch, 7).contains(&b"application/strategic-merge-patch+json".to_vec()));
        assert_eq!(
            field(&patch, 5),
            [b"patchCoreV1NamespacedConfigMap".to_vec()]
        );
        let params: Vec<Vec<(u64, Vec<u8>)>> = field(&patch, 8).iter().map(|p| fields(p)).collect();
        // The body parameter, then the query parameters.
        let body = fields(&field(&fields(&field(&params[0], 1)[0]), 1)[0]);
        assert_eq!(field(&body, 3), [b"body".to_vec()]);
        let query: Vec<String> = params[1..]
            .iter()
            .map(|p| {
                let non_body = fields(&field(&fields(&field(p, 1)[0]), 2)[0]);
                let q = fields(&field(&non_body, 3)[0]);
                String::from_utf8(field(&q, 4)[0].clone()).unwrap()
            })
            .collect();
        assert_eq!(
            query,
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        let exts: Vec<(String, String)> = field(&patch, 13)
            .iter()
            .map(|e| {
                let e = fields(e);
                let any = fields(&field(&e, 2)[0]);
                (
                    String::from_utf8(field(&e, 1)[0].clone()).unwrap(),
                    String::from_utf8(field(&any, 2)[0].clone()).unwrap(),
                )
            })
            .collect();
        assert!(exts.contains(&("x-kubernetes-action".to_string(), "\"patch\"".to_string())));
        assert!(
            exts.iter()
                .any(|(k, v)| k == "x-kubernetes-group-version-kind" && v.contains("ConfigMap"))
        );
    }

    #[test]
    fn building_is_quick() {
        let resources = builtins();
        let started = std::time::Instant::now();
        let docs = Documents::build(&resources, &none);
        let elapsed = started.elapsed();
        assert!(!docs.v3.is_empty());
        // Generous even for unoptimised builds; it runs once per snapshot.
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
        // A second ask for the same snapshot is the cached documents, not a
        // rebuild (checked by identity rather than by timing, which flakes).
        let cache = Cache::new();
        let first = cache.documents(&resources, &none);
        let again = cache.documents(&resources, &none);
        assert!(Arc::ptr_eq(&first, &again));
    }
}
