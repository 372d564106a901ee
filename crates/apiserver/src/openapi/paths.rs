//! The endpoints of a group/version as kube-apiserver documents them: one
//! path per collection, object, status subresource and all-namespaces list,
//! each operation with kube's operation id, action, parameters, body and
//! responses. Built once as a neutral model and rendered for OpenAPI v3
//! and for Swagger 2.0.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::schemas::{V2_REF_PREFIX, V3_REF_PREFIX, is_custom, is_described_builtin, kind_name};
use crate::resource::ResourceType;

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// What a custom resource's `/scale` reads and writes.
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum In {
    Path,
    Query,
}

impl In {
    fn as_str(self) -> &'static str {
        match self {
            In::Path => "path",
            In::Query => "query",
        }
    }
}

/// One parameter.
#[derive(Clone, Debug)]
struct Param {
    name: &'static str,
    location: In,
    /// `string`, `integer` or `boolean`.
    ty: &'static str,
    description: Cow<'static, str>,
}

const fn query(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        ty,
        description: Cow::Borrowed(description),
    }
}

const PRETTY: Param = query(
    "pretty",
    "string",
    "If 'true', then the output is pretty printed.",
);
const DRY_RUN: Param = query(
    "dryRun",
    "string",
    "When present, the request is checked but nothing is persisted. The only valid value is All: run every dry-run stage.",
);
const FIELD_MANAGER: Param = query(
    "fieldManager",
    "string",
    "The name of the actor making these changes, at most 128 printable characters. Required for apply requests.",
);
const FIELD_VALIDATION: Param = query(
    "fieldValidation",
    "string",
    "How the server treats unknown and duplicate fields in the request's object: Ignore drops them, Warn serves the request and warns about each, Strict fails the request.",
);
const FORCE: Param = query(
    "force",
    "boolean",
    "Makes an apply request take over fields other managers own. Must be unset for other patch types.",
);
const GRACE_PERIOD: Param = query(
    "gracePeriodSeconds",
    "integer",
    "The seconds to wait before deleting, a non-negative integer; zero deletes at once. Unset uses the kind's default.",
);
const ORPHAN: Param = query(
    "orphanDependents",
    "boolean",
    "Deprecated, use propagationPolicy: whether dependents are orphaned. Set this or propagationPolicy, not both.",
);
const PROPAGATION: Param = query(
    "propagationPolicy",
    "string",
    "How dependents are garbage collected: Orphan, Background or Foreground. Set this or orphanDependents, not both.",
);
const ALLOW_WATCH_BOOKMARKS: Param = query(
    "allowWatchBookmarks",
    "boolean",
    "Asks a watch for BOOKMARK events, which the server sends at its discretion. Ignored outside watches.",
);
const CONTINUE: Param = query(
    "continue",
    "string",
    "The token from a previous page's metadata.continue, to get the next page of a list. Not supported with watch.",
);
const FIELD_SELECTOR: Param = query(
    "fieldSelector",
    "string",
    "Restricts the objects returned by their fields. Defaults to everything.",
);
const LABEL_SELECTOR: Param = query(
    "labelSelector",
    "string",
    "Restricts the objects returned by their labels. Defaults to everything.",
);
const LIMIT: Param = query(
    "limit",
    "integer",
    "The most objects to return; when more exist, metadata.continue is set to fetch the rest. Not supported with watch.",
);
const RESOURCE_VERSION: Param = query(
    "resourceVersion",
    "string",
    "Constrains which resource versions the request may be served from. Defaults to unset.",
);
const RESOURCE_VERSION_MATCH: Param = query(
    "resourceVersionMatch",
    "string",
    "How resourceVersion applies to a list: Exact or NotOlderThan. Defaults to unset.",
);
const SEND_INITIAL_EVENTS: Param = query(
    "sendInitialEvents",
    "boolean",
    "With watch=true, starts the watch with synthetic ADDED events for the current objects, then a bookmark.",
);
const TIMEOUT_SECONDS: Param = query(
    "timeoutSeconds",
    "integer",
    "Bounds the duration of a list or watch call.",
);
const WATCH: Param = query(
    "watch",
    "boolean",
    "Streams additions, updates and deletions of the described objects instead of listing them.",
);

const NAMESPACE: Param = Param {
    name: "namespace",
    location: In::Path,
    ty: "string",
    description: Cow::Borrowed("object name and auth scope, such as for teams and projects"),
};

fn name_param(kind: &str) -> Param {
    Param {
        name: "name",
        location: In::Path,
        ty: "string",
        description: Cow::Owned(format!("name of the {kind}")),
    }
}

/// The parameters of a list, in kube's (alphabetical) order.
fn list_params() -> Vec<Param> {
    vec![
        ALLOW_WATCH_BOOKMARKS,
        CONTINUE,
        FIELD_SELECTOR,
        LABEL_SELECTOR,
        LIMIT,
        RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH,
        SEND_INITIAL_EVENTS,
        TIMEOUT_SECONDS,
        WATCH,
    ]
}

fn delete_collection_params() -> Vec<Param> {
    vec![
        CONTINUE,
        DRY_RUN,
        FIELD_SELECTOR,
        GRACE_PERIOD,
        LABEL_SELECTOR,
        LIMIT,
        ORPHAN,
        PROPAGATION,
        RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH,
        SEND_INITIAL_EVENTS,
        TIMEOUT_SECONDS,
    ]
}

/// The HTTP method of an operation; also the order kube's documents list
/// them in (alphabetical JSON keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Delete,
    Get,
    Patch,
    Post,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Delete => "delete",
            Method::Get => "get",
            Method::Patch => "patch",
            Method::Post => "post",
            Method::Put => "put",
        }
    }
}

/// What a request body holds and in which media types.
#[derive(Clone, Debug)]
struct RequestBody {
    schema: String,
    content: &'static [&'static str],
}

/// One response.
#[derive(Clone, Debug)]
struct Reply {
    code: &'static str,
    description: &'static str,
    schema: Option<String>,
}

/// The kind an operation works on, as `x-kubernetes-group-version-kind`.
#[derive(Clone, Debug)]
struct Gvk {
    group: String,
    version: String,
    kind: String,
}

/// One operation.
#[derive(Clone, Debug)]
struct Operation {
    method: Method,
    /// `x-kubernetes-action`; `None` on the discovery path.
    action: Option<&'static str>,
    id: String,
    description: String,
    params: Vec<Param>,
    body: Option<RequestBody>,
    replies: Vec<Reply>,
    /// The media types of the responses.
    produces: &'static [&'static str],
    gvk: Option<Gvk>,
    tag: String,
}

/// One path and what can be done there.
#[derive(Clone, Debug)]
pub struct PathItem {
    path: String,
    params: Vec<Param>,
    ops: Vec<Operation>,
}

const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const PRODUCES_LIST: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
const PRODUCES_CUSTOM: &[&str] = &["application/json", "application/yaml"];
const PRODUCES_CUSTOM_LIST: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/json;stream=watch",
];
const ANY: &[&str] = &["*/*"];
/// The patch types of built-ins, which know their strategic-merge keys.
const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
/// The patch types of custom resources (and of kinds without a schema to
/// take merge keys from).
const PATCH_TYPES_NO_STRATEGIC: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// `ToValidOperationID`: letters, `_` and (after the first) digits are
/// kept; anything else is dropped and upper-cases the next letter.
fn operation_part(s: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut capitalize = capitalize_first;
    for (i, c) in s.chars().enumerate() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

/// The group/version part of operation ids (`CoreV1`, `CoordinationV1`)
/// and the tag (`core_v1`): kube drops `.k8s.io` and calls the legacy
/// group `core`.
pub fn op_group_version(group: &str, version: &str) -> (String, String) {
    let g = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    let id = format!(
        "{}{}",
        operation_part(g, true),
        operation_part(version, true)
    );
    let tag = format!(
        "{}_{}",
        operation_part(g, false),
        operation_part(version, false)
    );
    (id, tag)
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn url_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn reply(code: &'static str, description: &'static str, schema: &str) -> Reply {
    Reply {
        code,
        description,
        schema: Some(schema.to_string()),
    }
}

fn unauthorized() -> Reply {
    Reply {
        code: "401",
        description: "Unauthorized",
        schema: None,
    }
}

/// The paths of one group/version, sorted by path.
pub fn paths<'a>(
    group: &str,
    version: &str,
    resources: impl IntoIterator<Item = &'a ResourceType>,
) -> Vec<PathItem> {
    let prefix = url_prefix(group, version);
    let (gv_id, tag) = op_group_version(group, version);
    let mut items = vec![PathItem {
        path: format!("{prefix}/"),
        params: Vec::new(),
        ops: vec![Operation {
            method: Method::Get,
            action: None,
            id: format!("get{gv_id}APIResources"),
            description: "get available resources".into(),
            params: Vec::new(),
            body: None,
            replies: vec![
                reply("200", "OK", &format!("{META}APIResourceList")),
                unauthorized(),
            ],
            produces: PRODUCES,
            gvk: None,
            tag: tag.clone(),
        }],
    }];
    for r in resources {
        items.extend(resource_paths(r, &prefix, &gv_id, &tag));
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    items
}

fn has(r: &ResourceType, verb: &str) -> bool {
    r.verbs.contains(&verb)
}

/// The paths of one resource.
fn resource_paths(r: &ResourceType, prefix: &str, gv_id: &str, tag: &str) -> Vec<PathItem> {
    let kind = &r.kind;
    let schema = kind_name(r);
    let list_schema = format!("{schema}List");
    let custom = is_custom(r);
    let (produces, produces_list) = if custom {
        (PRODUCES_CUSTOM, PRODUCES_CUSTOM_LIST)
    } else {
        (PRODUCES, PRODUCES_LIST)
    };
    let patch_types = if is_described_builtin(r) {
        PATCH_TYPES
    } else {
        PATCH_TYPES_NO_STRATEGIC
    };
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.resource)
    } else {
        format!("{prefix}/{}", r.resource)
    };
    let gvk = Some(Gvk {
        group: r.group.clone(),
        version: r.version.clone(),
        kind: kind.clone(),
    });
    let op = |method, action, id: String, description: String| Operation {
        method,
        action: Some(action),
        id,
        description,
        params: Vec::new(),
        body: None,
        replies: Vec::new(),
        produces,
        gvk: gvk.clone(),
        tag: tag.to_string(),
    };
    let write_params = || vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
    let kind_body = || {
        Some(RequestBody {
            schema: schema.clone(),
            content: ANY,
        })
    };
    let written = || {
        vec![
            reply("200", "OK", &schema),
            reply("201", "Created", &schema),
            unauthorized(),
        ]
    };
    let mut out = Vec::new();

    // The collection.
    let mut ops = Vec::new();
    if has(r, "deletecollection") {
        let mut o = op(
            Method::Delete,
            "deletecollection",
            format!("delete{gv_id}Collection{scope}{kind}"),
            format!("delete collection of {kind}"),
        );
        o.params = delete_collection_params();
        o.body = Some(RequestBody {
            schema: format!("{META}DeleteOptions"),
            content: ANY,
        });
        o.replies = vec![reply("200", "OK", &format!("{META}Status")), unauthorized()];
        ops.push(o);
    }
    if has(r, "list") {
        let mut o = op(
            Method::Get,
            "list",
            format!("list{gv_id}{scope}{kind}"),
            format!("list or watch objects of kind {kind}"),
        );
        o.params = list_params();
        o.replies = vec![reply("200", "OK", &list_schema), unauthorized()];
        o.produces = produces_list;
        ops.push(o);
    }
    if has(r, "create") {
        let mut o = op(
            Method::Post,
            "post",
            format!("create{gv_id}{scope}{kind}"),
            format!("create a {kind}"),
        );
        o.params = write_params();
        o.body = kind_body();
        o.replies = vec![
            reply("200", "OK", &schema),
            reply("201", "Created", &schema),
            reply("202", "Accepted", &schema),
            unauthorized(),
        ];
        ops.push(o);
    }
    if !ops.is_empty() {
        let params = if r.namespaced {
            vec![NAMESPACE, PRETTY]
        } else {
            vec![PRETTY]
        };
        out.push(PathItem {
            path: collection.clone(),
            params,
            ops,
        });
    }

    // One object.
    let item_params = || {
        let mut p = vec![name_param(kind)];
        if r.namespaced {
            p.push(NAMESPACE);
        }
        p.push(PRETTY);
        p
    };
    let mut ops = Vec::new();
    if has(r, "delete") {
        let mut o = op(
            Method::Delete,
            "delete",
            format!("delete{gv_id}{scope}{kind}"),
            format!("delete a {kind}"),
        );
        o.params = vec![DRY_RUN, GRACE_PERIOD, ORPHAN, PROPAGATION];
        o.body = Some(RequestBody {
            schema: format!("{META}DeleteOptions"),
            content: ANY,
        });
        let status = format!("{META}Status");
        o.replies = vec![
            reply("200", "OK", &status),
            reply("202", "Accepted", &status),
            unauthorized(),
        ];
        ops.push(o);
    }
    if has(r, "get") {
        let mut o = op(
            Method::Get,
            "get",
            format!("read{gv_id}{scope}{kind}"),
            format!("read the specified {kind}"),
        );
        o.replies = vec![reply("200", "OK", &schema), unauthorized()];
        ops.push(o);
    }
    if has(r, "patch") {
        let mut o = op(
            Method::Patch,
            "patch",
            format!("patch{gv_id}{scope}{kind}"),
            format!("partially update the specified {kind}"),
        );
        o.params = vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
        o.body = Some(RequestBody {
            schema: format!("{META}Patch"),
            content: patch_types,
        });
        o.replies = written();
        ops.push(o);
    }
    if has(r, "update") {
        let mut o = op(
            Method::Put,
            "put",
            format!("replace{gv_id}{scope}{kind}"),
            format!("replace the specified {kind}"),
        );
        o.params = write_params();
        o.body = kind_body();
        o.replies = written();
        ops.push(o);
    }
    if !ops.is_empty() {
        out.push(PathItem {
            path: format!("{collection}/{{name}}"),
            params: item_params(),
            ops,
        });
    }

    // The status and scale subresources: read, patch and replace, whatever
    // the resource's own verbs. Both are operations on the kind (its
    // group-version-kind), status answering the kind and scale an
    // autoscaling/v1 Scale.
    let subresource = |sub: &str, answer: &str| {
        let suffix = operation_part(sub, true);
        let mut get = op(
            Method::Get,
            "get",
            format!("read{gv_id}{scope}{kind}{suffix}"),
            format!("read {sub} of the specified {kind}"),
        );
        get.replies = vec![reply("200", "OK", answer), unauthorized()];
        let written = vec![
            reply("200", "OK", answer),
            reply("201", "Created", answer),
            unauthorized(),
        ];
        let mut patch = op(
            Method::Patch,
            "patch",
            format!("patch{gv_id}{scope}{kind}{suffix}"),
            format!("partially update {sub} of the specified {kind}"),
        );
        patch.params = vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
        patch.body = Some(RequestBody {
            schema: format!("{META}Patch"),
            content: patch_types,
        });
        patch.replies = written.clone();
        let mut put = op(
            Method::Put,
            "put",
            format!("replace{gv_id}{scope}{kind}{suffix}"),
            format!("replace {sub} of the specified {kind}"),
        );
        put.params = write_params();
        put.body = Some(RequestBody {
            schema: answer.to_string(),
            content: ANY,
        });
        put.replies = written;
        PathItem {
            path: format!("{collection}/{{name}}/{sub}"),
            params: item_params(),
            ops: vec![get, patch, put],
        }
    };
    if r.status_subresource {
        out.push(subresource("status", &schema));
    }
    if r.scale().is_some() {
        out.push(subresource("scale", SCALE));
    }

    // Namespaces' finalize subresource, which discovery lists.
    if r.group.is_empty() && r.resource == "namespaces" {
        let mut put = op(
            Method::Put,
            "put",
            format!("replace{gv_id}{kind}Finalize"),
            format!("replace finalize of the specified {kind}"),
        );
        put.params = write_params();
        put.body = kind_body();
        put.replies = written();
        out.push(PathItem {
            path: format!("{collection}/{{name}}/finalize"),
            params: vec![name_param(kind), PRETTY],
            ops: vec![put],
        });
    }

    // Every namespace's objects at once.
    if r.namespaced && has(r, "list") {
        let mut o = op(
            Method::Get,
            "list",
            format!("list{gv_id}{kind}ForAllNamespaces"),
            format!("list or watch objects of kind {kind}"),
        );
        o.replies = vec![reply("200", "OK", &list_schema), unauthorized()];
        o.produces = produces_list;
        let mut params = list_params();
        params.push(PRETTY);
        params.sort_by_key(|p| p.name);
        out.push(PathItem {
            path: format!("{prefix}/{}", r.resource),
            params,
            ops: vec![o],
        });
    }
    out
}

fn v3_param(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": p.location.as_str(),
        "name": p.name,
        "schema": {"type": p.ty, "uniqueItems": true},
    });
    if p.location == In::Path {
        v["required"] = json!(true);
    }
    v
}

fn v2_param(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": p.location.as_str(),
        "name": p.name,
        "type": p.ty,
        "uniqueItems": true,
    });
    if p.location == In::Path {
        v["required"] = json!(true);
    }
    v
}

fn gvk_value(g: &Gvk) -> Value {
    json!({"group": g.group, "kind": g.kind, "version": g.version})
}

/// The `paths` object of an OpenAPI v3 document.
pub fn render_v3(items: &[PathItem]) -> Map<String, Value> {
    let mut out = Map::new();
    for item in items {
        let mut path = Map::new();
        if !item.params.is_empty() {
            path.insert(
                "parameters".into(),
                item.params.iter().map(v3_param).collect(),
            );
        }
        for o in &item.ops {
            let mut op = Map::new();
            op.insert("description".into(), json!(o.description));
            op.insert("operationId".into(), json!(o.id));
            if !o.params.is_empty() {
                op.insert("parameters".into(), o.params.iter().map(v3_param).collect());
            }
            if let Some(body) = &o.body {
                let schema = json!({"schema": {"$ref": format!("{V3_REF_PREFIX}{}", body.schema)}});
                let content: Map<String, Value> = body
                    .content
                    .iter()
                    .map(|c| (c.to_string(), schema.clone()))
                    .collect();
                op.insert(
                    "requestBody".into(),
                    json!({"content": content, "required": true}),
                );
            }
            let mut replies = Map::new();
            for r in &o.replies {
                let mut reply = Map::new();
                if let Some(s) = &r.schema {
                    let schema = json!({"schema": {"$ref": format!("{V3_REF_PREFIX}{s}")}});
                    let content: Map<String, Value> = o
                        .produces
                        .iter()
                        .map(|c| (c.to_string(), schema.clone()))
                        .collect();
                    reply.insert("content".into(), Value::Object(content));
                }
                reply.insert("description".into(), json!(r.description));
                replies.insert(r.code.into(), Value::Object(reply));
            }
            op.insert("responses".into(), Value::Object(replies));
            op.insert("tags".into(), json!([o.tag]));
            if let Some(a) = o.action {
                op.insert("x-kubernetes-action".into(), json!(a));
            }
            if let Some(g) = &o.gvk {
                op.insert("x-kubernetes-group-version-kind".into(), gvk_value(g));
            }
            path.insert(o.method.as_str().into(), Value::Object(op));
        }
        out.insert(item.path.clone(), Value::Object(path));
    }
    out
}

/// The `paths` object of a Swagger 2.0 document.
pub fn render_v2(items: &[PathItem]) -> Map<String, Value> {
    let mut out = Map::new();
    for item in items {
        let mut path = Map::new();
        if !item.params.is_empty() {
            path.insert(
                "parameters".into(),
                item.params.iter().map(v2_param).collect(),
            );
        }
        for o in &item.ops {
            let mut op = Map::new();
            let consumes: &[&str] = match &o.body {
                Some(b) => b.content,
                None => ANY,
            };
            op.insert("consumes".into(), json!(consumes));
            op.insert("description".into(), json!(o.description));
            op.insert("operationId".into(), json!(o.id));
            let mut params: Vec<Value> = Vec::new();
            if let Some(body) = &o.body {
                params.push(json!({
                    "in": "body",
                    "name": "body",
                    "required": true,
                    "schema": {"$ref": format!("{V2_REF_PREFIX}{}", body.schema)},
                }));
            }
            params.extend(o.params.iter().map(v2_param));
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            op.insert("produces".into(), json!(o.produces));
            let mut replies = Map::new();
            for r in &o.replies {
                let mut reply = json!({"description": r.description});
                if let Some(s) = &r.schema {
                    reply["schema"] = json!({"$ref": format!("{V2_REF_PREFIX}{s}")});
                }
                replies.insert(r.code.into(), reply);
            }
            op.insert("responses".into(), Value::Object(replies));
            op.insert("schemes".into(), json!(["https"]));
            op.insert("tags".into(), json!([o.tag]));
            if let Some(a) = o.action {
                op.insert("x-kubernetes-action".into(), json!(a));
            }
            if let Some(g) = &o.gvk {
                op.insert("x-kubernetes-group-version-kind".into(), gvk_value(g));
            }
            path.insert(o.method.as_str().into(), Value::Object(op));
        }
        out.insert(item.path.clone(), Value::Object(path));
    }
    out
}
