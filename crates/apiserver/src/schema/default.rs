//! Filling in defaults as kube's structural defaulting does.
//!
//! Two steps, in kube's order: first nulls are removed where the schema is
//! not nullable and has no default (so `required` then reports them), then
//! defaults are written where a field is missing, or null and not nullable.
//! Defaults apply inside objects that exist, to array items and to
//! additionalProperties values; a freshly written default is itself walked,
//! so defaults nested in it apply too. Defaults were pruned by their own
//! schema when the schema was built.

use serde_json::Value;

use super::MAX_VALUE_DEPTH;
use super::node::{Additional, Node, NodeId, Tree};

/// kube's `PruneNonNullableNullsWithoutDefaults`.
pub(crate) fn prune_nulls(tree: &Tree, id: Option<NodeId>, x: &mut Value, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    let node = id.map(|i| tree.node(i));
    match x {
        Value::Object(map) => {
            map.retain(|k, v| {
                let schema = node.and_then(|n| field_schema(n, k));
                if v.is_null() && schema.is_some_and(|s| non_nullable_without_default(tree.node(s)))
                {
                    return false;
                }
                prune_nulls(tree, schema, v, depth + 1);
                true
            });
        }
        Value::Array(items) => {
            let schema = node.and_then(|n| n.items);
            for v in items.iter_mut() {
                prune_nulls(tree, schema, v, depth + 1);
            }
        }
        _ => {}
    }
}

fn field_schema(n: &Node, key: &str) -> Option<NodeId> {
    n.property(key).or(match n.additional {
        Some(Additional::Schema(s)) => Some(s),
        _ => None,
    })
}

fn non_nullable_without_default(n: &Node) -> bool {
    !n.nullable && n.default.is_none()
}

/// kube's `Default`.
pub(crate) fn apply_defaults(tree: &Tree, id: NodeId, x: &mut Value, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    let node = tree.node(id);
    match x {
        Value::Object(map) => {
            for (k, p) in &node.properties {
                let prop = tree.node(*p);
                let Some(default) = &prop.default else {
                    continue;
                };
                match map.get_mut(k.as_ref()) {
                    None => {
                        map.insert(k.to_string(), default.clone());
                    }
                    Some(v) if v.is_null() && !prop.nullable => *v = default.clone(),
                    Some(_) => {}
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(p) = node.property(k) {
                    apply_defaults(tree, p, v, depth + 1);
                } else if let Some(Additional::Schema(ap)) = node.additional {
                    let apn = tree.node(ap);
                    if v.is_null() && !apn.nullable {
                        *v = apn.default.clone().unwrap_or(Value::Null);
                    }
                    apply_defaults(tree, ap, v, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            let Some(item) = node.items else {
                return;
            };
            let itn = tree.node(item);
            for v in items.iter_mut() {
                if v.is_null() && !itn.nullable {
                    *v = itn.default.clone().unwrap_or(Value::Null);
                }
                apply_defaults(tree, item, v, depth + 1);
            }
        }
        _ => {}
    }
}
