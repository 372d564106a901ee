//! Turning k8s-openapi's schemars output into a tree.
//!
//! k8s-openapi describes every type with kube's OpenAPI names and puts the
//! types it refers to in `$defs`, referenced by `$ref`. Each definition
//! becomes one node and every `$ref` to it is that node's index, so a type
//! used in a hundred places (ObjectMeta) or one that contains itself
//! (JSONSchemaProps) is built once.
//!
//! A few types are not what their JSON schema says: IntOrString and
//! Quantity take a number or a string, Time and MicroTime are RFC 3339
//! strings parsed by Go, and RawExtension, FieldsV1 and the apiextensions
//! JSON/`...Or...` helpers hold any JSON with their own decoders. Those are
//! recognised by name.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::formats::Format;
use super::node::{Additional, GoKind, ListType, Node, NodeId, Origin, Tree, Types};

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const ANY_JSON: [&str; 6] = [
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
];

/// Builds the tree for a schemars root schema; returns it with the root's
/// node id.
pub(crate) fn build_builtin(root: &Value) -> Result<(Tree, NodeId), String> {
    let Some(root_map) = root.as_object() else {
        return Err("the schema is not a JSON object".to_string());
    };
    let name = root_map
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let defs = root_map.get("$defs").and_then(Value::as_object);
    let mut b = Builder {
        tree: Tree {
            nodes: Vec::new(),
            origin: Origin::Builtin,
            raw: root.clone(),
            name: name.as_str().into(),
            has_rules: false,
            has_embedded: false,
        },
        def_ids: HashMap::new(),
    };
    if let Some(defs) = defs {
        // Reserve every definition's node first so `$ref`s can point at
        // nodes that are not built yet, including their own.
        for def_name in defs.keys() {
            let id = b.alloc();
            b.def_ids.insert(def_name.clone(), id);
        }
        for (def_name, schema) in defs {
            let id = b.def_ids[def_name];
            let node = b.definition(def_name, schema);
            b.tree.nodes[id as usize] = node;
        }
    }
    let root_id = b.alloc();
    let mut node = b.definition(&name, root);
    // The server checks metadata itself, and a body may always carry its
    // apiVersion and kind.
    node.required
        .retain(|r| !matches!(r.as_ref(), "metadata" | "apiVersion" | "kind"));
    for field in ["apiVersion", "kind"] {
        if node.types == Some(Types::OBJECT) && node.property(field).is_none() {
            let sid = b.alloc();
            b.tree.nodes[sid as usize] = Node {
                types: Some(Types::STRING),
                ..Node::default()
            };
            node.properties.push((field.into(), sid));
            node.properties.sort_by(|a, c| a.0.cmp(&c.0));
        }
    }
    b.tree.nodes[root_id as usize] = node;
    Ok((b.tree, root_id))
}

struct Builder {
    tree: Tree,
    def_ids: HashMap<String, NodeId>,
}

impl Builder {
    fn alloc(&mut self) -> NodeId {
        self.tree.nodes.push(Node::default());
        (self.tree.nodes.len() - 1) as NodeId
    }

    /// The node for a named type: special types by name, structs with
    /// their Go name.
    fn definition(&mut self, name: &str, schema: &Value) -> Node {
        match name {
            INT_OR_STRING => Node {
                types: Some(Types::INT_OR_STRING),
                int_or_string: true,
                go: GoKind::IntOrString,
                ..Node::default()
            },
            QUANTITY => Node {
                types: Some(Types::QUANTITY),
                go: GoKind::Quantity,
                ..Node::default()
            },
            TIME | MICRO_TIME => Node {
                types: Some(Types::STRING),
                format: Some(("date-time".into(), Format::lookup("date-time"))),
                raw_format: Some("date-time".into()),
                go: if name == TIME {
                    GoKind::Time
                } else {
                    GoKind::MicroTime
                },
                ..Node::default()
            },
            n if ANY_JSON.contains(&n) => Node {
                preserve_unknown: true,
                go: GoKind::Any,
                ..Node::default()
            },
            _ => {
                let mut node = self.convert(schema);
                if !node.properties.is_empty()
                    || node.types == Some(Types::OBJECT) && node.additional.is_none()
                {
                    node.go = GoKind::Struct(go_struct_name(name).into());
                }
                node
            }
        }
    }

    /// A schema that is not a named definition: a `$ref` is the referenced
    /// node, anything else gets a node of its own.
    fn subschema(&mut self, schema: &Value) -> NodeId {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            if let Some(id) = self.def_ids.get(name) {
                return *id;
            }
        }
        let id = self.alloc();
        let node = self.convert(schema);
        self.tree.nodes[id as usize] = node;
        id
    }

    fn convert(&mut self, schema: &Value) -> Node {
        let mut n = Node::default();
        let Some(m) = schema.as_object() else {
            // `true`: anything goes.
            n.preserve_unknown = true;
            n.go = GoKind::Any;
            return n;
        };
        if m.contains_key("oneOf") || m.contains_key("anyOf") || m.contains_key("allOf") {
            // Only the apiextensions `...Or...` helpers use these, and they
            // are handled by name; anything else is taken as free-form.
            n.preserve_unknown = true;
            n.go = GoKind::Any;
            return n;
        }
        match m.get("type") {
            Some(Value::String(t)) => n.types = Types::parse(t),
            Some(Value::Array(ts)) => {
                for t in ts.iter().filter_map(Value::as_str) {
                    if t == "null" {
                        n.nullable = true;
                    } else if n.types.is_none() {
                        n.types = Types::parse(t);
                    }
                }
            }
            _ => {}
        }
        if let Some(f) = m.get("format").and_then(Value::as_str) {
            n.raw_format = Some(f.into());
            if let Some(checked) = Format::lookup(f) {
                n.format = Some((f.into(), Some(checked)));
            }
        }
        n.nullable |= m.get("nullable").and_then(Value::as_bool).unwrap_or(false);
        n.default = m.get("default").cloned();
        n.enum_values = m.get("enum").and_then(Value::as_array).cloned();
        n.required = m
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(Into::into).collect())
            .unwrap_or_default();
        if let Some(props) = m.get("properties").and_then(Value::as_object) {
            let mut list: Vec<(Box<str>, NodeId)> = props
                .iter()
                .map(|(k, s)| (k.as_str().into(), self.subschema(s)))
                .collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            n.properties = list;
        }
        n.additional = match m.get("additionalProperties") {
            Some(Value::Bool(b)) => Some(Additional::Bool(*b)),
            Some(s @ Value::Object(_)) => Some(Additional::Schema(self.subschema(s))),
            _ => None,
        };
        if let Some(items) = m.get("items") {
            n.items = Some(self.subschema(items));
        }
        copy_extensions(m, &mut n);
        n
    }
}

fn copy_extensions(m: &Map<String, Value>, n: &mut Node) {
    let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("x-kubernetes-int-or-string") {
        n.int_or_string = true;
        n.types = Some(Types::INT_OR_STRING);
    }
    n.preserve_unknown |= flag("x-kubernetes-preserve-unknown-fields");
    n.embedded = flag("x-kubernetes-embedded-resource");
    n.list_type = match m.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("atomic") => Some(ListType::Atomic),
        Some("set") => Some(ListType::Set),
        Some("map") => Some(ListType::Map),
        _ => None,
    };
    n.list_map_keys = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(Into::into).collect())
        .unwrap_or_default();
    n.map_type_atomic = m.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
}

/// `io.k8s.api.apps.v1.DeploymentSpec` is Go's `v1.DeploymentSpec`.
fn go_struct_name(openapi_name: &str) -> String {
    let mut parts = openapi_name.rsplit('.');
    let ty = parts.next().unwrap_or(openapi_name);
    match parts.next() {
        Some(pkg) => format!("{pkg}.{ty}"),
        None => ty.to_string(),
    }
}

/// The schema with its `$defs` moved to OpenAPI v3 components and every
/// `$ref` pointing there, as `/openapi/v3` publishes it.
pub(crate) fn components(root: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(m) = root.as_object() else {
        return out;
    };
    if let Some(defs) = m.get("$defs").and_then(Value::as_object) {
        for (k, v) in defs {
            out.insert(k.clone(), rewrite_refs(v));
        }
    }
    let mut body = m.clone();
    body.remove("$defs");
    body.remove("$schema");
    let name = body
        .remove("title")
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_default();
    out.insert(name, rewrite_refs(&Value::Object(body)));
    out
}

fn rewrite_refs(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    let name = r.rsplit('/').next().unwrap_or(r);
                    out.insert(
                        k.clone(),
                        Value::String(format!("#/components/schemas/{name}")),
                    );
                } else {
                    out.insert(k.clone(), rewrite_refs(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}
