//! Object metadata inside custom resources, as kube's `schema/objectmeta`
//! package treats it: the custom resource's own `metadata`, and the
//! objects embedded whole in it (`x-kubernetes-embedded-resource`).
//!
//! kube decodes a custom resource into a plain map, then decodes each
//! `metadata` it holds into Go's `ObjectMeta` and writes the struct back.
//! A value of the wrong type fails the request (a stored object being read
//! loses the field instead), and fields `ObjectMeta` does not have are
//! dropped and reported like the fields pruning drops. For an embedded
//! object `apiVersion` and `kind` must be strings, and writing the struct
//! back leaves out its empty fields. Validation then requires and checks an
//! embedded object's `apiVersion` and `kind` and validates its metadata as
//! an object's, with the name as a path segment and the namespace only when
//! one is given.
//!
//! The walks follow a value only where the schema has an embedded resource
//! at or below a node, so a schema without one costs nothing.

use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use super::gofmt::go_sharp_v;
use super::node::{Additional, Node, NodeId, Tree};
use super::{MAX_VALUE_DEPTH, Schema};
use crate::field::{FieldError, Path};
use crate::validation::{NameRule, is_dns1035_label, validate_object_meta};

const TYPE_META: [&str; 2] = ["apiVersion", "kind"];

/// Sets `embedded_below` on every node that is an embedded resource or
/// leads to one, and `has_embedded` on the tree.
pub(crate) fn mark_embedded_below(tree: &mut Tree) {
    // A CRD tree builds children after their parent, so one backward pass
    // sees every child before its parent.
    for i in (0..tree.nodes.len()).rev() {
        let n = &tree.nodes[i];
        let below = n.embedded
            || children(n).any(|c| tree.nodes.get(c as usize).is_some_and(|c| c.embedded_below));
        tree.nodes[i].embedded_below = below;
    }
    tree.has_embedded = tree.nodes.first().is_some_and(|n| n.embedded_below);
}

fn children(n: &Node) -> impl Iterator<Item = NodeId> + '_ {
    let additional = match n.additional {
        Some(Additional::Schema(a)) => Some(a),
        _ => None,
    };
    n.properties
        .iter()
        .map(|(_, c)| *c)
        .chain(additional)
        .chain(n.items)
}

/// How a field's path follows its object's: [`Path::child`] or
/// [`Path::key`].
type ChildPath = fn(&Path, &str) -> Path;

/// The schema of field `k` of an object whose schema is `n`, and how its
/// path is written (a property's as a field, an additionalProperties key's
/// in brackets, as kube's field paths write them), if an embedded resource
/// lies at or below it.
fn field_leading_to_embedded(tree: &Tree, n: &Node, k: &str) -> Option<(NodeId, ChildPath)> {
    let (child, path): (NodeId, ChildPath) = match (n.property(k), n.additional) {
        (Some(p), _) => (p, Path::child),
        (None, Some(Additional::Schema(a))) => (a, Path::key),
        _ => return None,
    };
    tree.node(child).embedded_below.then_some((child, path))
}

/// The schema of `ObjectMeta`, decoded against as kube's Go decoder would.
fn object_meta_schema() -> Option<&'static Schema> {
    static SCHEMA: OnceLock<Option<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Schema::from_builtin::<ObjectMeta>().ok())
        .as_ref()
}

/// kube's `GetObjectMetaWithOptions` followed by `SetObjectMeta` on the
/// `metadata` of the object at `parent`: fails with Go's decode error when
/// a field has the wrong type (unless `drop_invalid`, which drops such
/// top-level fields as kube does for stored objects), drops the fields
/// `ObjectMeta` does not have and appends their paths
/// (`<parent>.metadata.<field>`, in key order) to `unknown`. With
/// `omit_empty` the value is also left as Go writes the struct back.
pub(crate) fn coerce_object_meta(
    meta: &mut Value,
    parent: &Path,
    drop_invalid: bool,
    omit_empty: bool,
    unknown: &mut Vec<String>,
) -> Result<(), String> {
    let Some(schema) = object_meta_schema() else {
        return Ok(());
    };
    let prefix = parent.child("metadata");
    let mut record = |paths: Vec<String>| {
        unknown.extend(paths.into_iter().map(|p| format!("{prefix}.{p}")));
    };
    let report = schema.check_decode(meta);
    match report.error {
        None => {
            let found = !report.unknown_fields.is_empty();
            record(report.unknown_fields);
            if found {
                schema.prune(meta);
            }
        }
        Some(error) if !drop_invalid => return Err(error),
        Some(_) => {
            // kube leaves metadata that is not even an object as it is.
            let Value::Object(map) = meta else {
                return Ok(());
            };
            // Field by field, as kube retries: what does not decode alone
            // is dropped.
            for (k, v) in std::mem::take(map) {
                let mut single = Value::Object(Map::from_iter([(k, v)]));
                let r = schema.check_decode(&single);
                if r.error.is_some() {
                    continue;
                }
                if !r.unknown_fields.is_empty() {
                    record(r.unknown_fields);
                    schema.prune(&mut single);
                }
                if let Value::Object(m) = single {
                    map.extend(m);
                }
            }
        }
    }
    if omit_empty {
        omit_empty_fields(meta);
    }
    Ok(())
}

/// What is left of a metadata map once Go has decoded it into
/// `ObjectMeta` and written it back: every field is `omitempty`, so
/// nulls, empty strings, maps and lists and a zero `generation` go (the
/// other integer is a pointer and stays), and nulls in the string maps and
/// lists become empty strings.
fn omit_empty_fields(meta: &mut Value) {
    let Value::Object(map) = meta else {
        return;
    };
    map.retain(|k, v| match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Number(n) => k != "generation" || n.as_i64() != Some(0),
        Value::Bool(_) => true,
    });
    for (k, v) in map.iter_mut() {
        let items: Box<dyn Iterator<Item = &mut Value>> = match (k.as_str(), v) {
            ("labels" | "annotations", Value::Object(m)) => Box::new(m.values_mut()),
            ("finalizers", Value::Array(a)) => Box::new(a.iter_mut()),
            _ => continue,
        };
        for item in items.filter(|i| i.is_null()) {
            *item = Value::String(String::new());
        }
    }
}

/// kube's `objectmeta.CoerceWithOptions` for the embedded resources of a
/// custom resource (not its root): see [`coerce_object_meta`]. Returns
/// the unknown metadata fields dropped, sorted, or the error text of the
/// first field of the wrong type (`spec.template.kind: Invalid value: 1:
/// must be a string`).
pub(crate) fn coerce(
    tree: &Tree,
    root: NodeId,
    value: &mut Value,
    drop_invalid: bool,
) -> Result<Vec<String>, String> {
    let mut unknown = Vec::new();
    if tree.has_embedded {
        let mut c = Coercer {
            tree,
            drop_invalid,
            unknown: &mut unknown,
        };
        c.coerce(root, value, &Path::root(), 0)?;
        unknown.sort();
    }
    Ok(unknown)
}

struct Coercer<'t, 'u> {
    tree: &'t Tree,
    drop_invalid: bool,
    unknown: &'u mut Vec<String>,
}

impl Coercer<'_, '_> {
    fn coerce(
        &mut self,
        id: NodeId,
        x: &mut Value,
        path: &Path,
        depth: usize,
    ) -> Result<(), String> {
        let tree = self.tree;
        let n = tree.node(id);
        if !n.embedded_below || depth > MAX_VALUE_DEPTH {
            return Ok(());
        }
        match x {
            Value::Object(map) => {
                if n.embedded {
                    self.type_meta(n, map, path)?;
                }
                for (k, v) in map.iter_mut() {
                    if let Some((child, child_path)) = field_leading_to_embedded(tree, n, k) {
                        self.coerce(child, v, &child_path(path, k), depth + 1)?;
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = n.items.filter(|i| tree.node(*i).embedded_below) {
                    for (i, v) in items.iter_mut().enumerate() {
                        self.coerce(item, v, &path.index(i), depth + 1)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The `apiVersion`, `kind` and `metadata` of the embedded object `map`
    /// (schema `n`) at `path`.
    fn type_meta(
        &mut self,
        n: &Node,
        map: &mut Map<String, Value>,
        path: &Path,
    ) -> Result<(), String> {
        for k in TYPE_META {
            let Some(v) = map.get(k).filter(|v| !v.is_string()) else {
                continue;
            };
            if !self.drop_invalid {
                return Err(invalid_text(&path.child(k), v, "must be a string"));
            }
            map.remove(k);
        }
        let Some(meta) = map.get_mut("metadata") else {
            return Ok(());
        };
        if meta.is_null() {
            // Go decodes null into an empty struct and writes `{}` back,
            // unless the schema declares metadata non-nullable without a
            // default: then the null is pruned (defaulting does that here).
            let pruned = n.property("metadata").is_some_and(|p| {
                let p = self.tree.node(p);
                !p.nullable && p.default.is_none()
            });
            if !pruned {
                *meta = Value::Object(Map::new());
            }
            return Ok(());
        }
        coerce_object_meta(meta, path, self.drop_invalid, true, self.unknown)
            .map_err(|e| invalid_text(&path.child("metadata"), meta, &e))
    }
}

/// A `field.Invalid` error's text as kube's `Error()` prints it, with a
/// compound value in Go's `%#v` and null as `"null"`.
fn invalid_text(path: &Path, value: &Value, detail: &str) -> String {
    let shown = match value {
        Value::Null => "\"null\"".to_string(),
        v => go_sharp_v(v),
    };
    format!("{path}: Invalid value: {shown}: {detail}")
}

/// kube's `objectmeta.Validate` (not at the resource root): for every
/// embedded object, `apiVersion` and `kind` are required, `apiVersion`
/// must parse as a group/version and `kind` must be a DNS-1035 label in
/// any case, and `metadata` is validated as an object's, the name as a path
/// segment (a missing name is not an error), the namespace only when set.
pub(crate) fn validate(
    tree: &Tree,
    root: NodeId,
    value: &Value,
    path: Option<&Path>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if tree.has_embedded {
        let root_path = path.cloned().unwrap_or_default();
        validate_at(tree, root, value, &root_path, &mut errs, 0);
    }
    errs
}

fn validate_at(
    tree: &Tree,
    id: NodeId,
    x: &Value,
    path: &Path,
    errs: &mut Vec<FieldError>,
    depth: usize,
) {
    let n = tree.node(id);
    if !n.embedded_below || depth > MAX_VALUE_DEPTH {
        return;
    }
    match x {
        Value::Object(map) => {
            if n.embedded {
                validate_resource(map, path, errs);
            }
            for (k, v) in map {
                if let Some((child, child_path)) = field_leading_to_embedded(tree, n, k) {
                    validate_at(tree, child, v, &child_path(path, k), errs, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = n.items.filter(|i| tree.node(*i).embedded_below) {
                for (i, v) in items.iter().enumerate() {
                    validate_at(tree, item, v, &path.index(i), errs, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// kube's `validateEmbeddedResource`.
fn validate_resource(map: &Map<String, Value>, path: &Path, errs: &mut Vec<FieldError>) {
    for k in TYPE_META {
        if !map.contains_key(k) {
            errs.push(FieldError::required(path.child(k), ""));
        }
    }
    if let Some(v) = map.get("apiVersion") {
        let p = path.child("apiVersion");
        match v {
            Value::String(s) if s.is_empty() => {
                errs.push(FieldError::invalid(p, v.clone(), "must not be empty"));
            }
            // Go's `ParseGroupVersion`: `version` or `group/version`.
            Value::String(s) if s.matches('/').count() > 1 => {
                errs.push(FieldError::invalid(
                    p,
                    v.clone(),
                    format!("unexpected GroupVersion string: {s}"),
                ));
            }
            Value::String(_) => {}
            other => errs.push(FieldError::invalid(p, other.clone(), "must be a string")),
        }
    }
    if let Some(v) = map.get("kind") {
        let p = path.child("kind");
        match v {
            Value::String(s) if s.is_empty() => {
                errs.push(FieldError::invalid(p, v.clone(), "must not be empty"));
            }
            Value::String(s) => {
                let msgs = is_dns1035_label(&s.to_lowercase());
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        p,
                        v.clone(),
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            msgs.join(",")
                        ),
                    ));
                }
            }
            other => errs.push(FieldError::invalid(p, other.clone(), "must be a string")),
        }
    }
    if let Some(meta) = map.get("metadata") {
        validate_embedded_meta(meta, &path.child("metadata"), errs);
    }
}

/// kube validates an embedded object's metadata with the name checked as a
/// path segment and the namespace only when one is given; a missing name
/// is not an error (kube validates a stand-in).
fn validate_embedded_meta(meta: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(error) = object_meta_schema().and_then(|s| s.check_decode(meta).error) {
        errs.push(FieldError::invalid(path.clone(), meta.clone(), error));
        return;
    }
    let text = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("");
    let namespaced = !text("namespace").is_empty();
    if text("name").is_empty() {
        let mut named = meta.as_object().cloned().unwrap_or_default();
        named.insert("name".into(), Value::String("fakename".into()));
        errs.extend(validate_object_meta(
            &Value::Object(named),
            namespaced,
            NameRule::PathSegment,
            path,
        ));
    } else {
        errs.extend(validate_object_meta(
            meta,
            namespaced,
            NameRule::PathSegment,
            path,
        ));
    }
}
