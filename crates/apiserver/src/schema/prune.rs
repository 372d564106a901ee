//! Dropping the fields a schema does not declare, as kube's structural
//! pruning does, and reporting each dropped field's path.
//!
//! The walk follows the value, not the schema: a map is pruned by the
//! properties of whatever schema sits at its place even if that schema says
//! the place should hold a string, and a place with no schema at all loses
//! every key of every map below it. `x-kubernetes-preserve-unknown-fields`
//! stops pruning below a node except under properties or
//! additionalProperties it declares; an embedded resource (and a custom
//! resource's root) keeps `apiVersion`, `kind` and `metadata` untouched.

use serde_json::Value;

use super::MAX_VALUE_DEPTH;
use super::node::{Additional, NodeId, Tree};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Prunes `value` by the node `id` (`None`: no schema at all). When
/// `root_embedded` is set the top level keeps its type and object meta as
/// an embedded resource does. Pruned paths are appended to `record`.
pub(crate) fn prune_value(
    tree: &Tree,
    id: Option<NodeId>,
    value: &mut Value,
    root_embedded: bool,
    record: Option<&mut Vec<String>>,
) {
    let mut walker = Pruner {
        tree,
        path: String::new(),
        record,
    };
    walker.prune(value, id, root_embedded, 0);
}

struct Pruner<'t, 'r> {
    tree: &'t Tree,
    path: String,
    record: Option<&'r mut Vec<String>>,
}

impl Pruner<'_, '_> {
    fn record(&mut self, key: &str) {
        if let Some(out) = self.record.as_deref_mut() {
            let mut p = String::with_capacity(self.path.len() + key.len() + 1);
            p.push_str(&self.path);
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(key);
            out.push(p);
        }
    }

    fn push_key(&mut self, key: &str) -> usize {
        let len = self.path.len();
        if self.record.is_some() {
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(key);
        }
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        if self.record.is_some() {
            self.path.push('[');
            self.path.push_str(&i.to_string());
            self.path.push(']');
        }
        len
    }

    fn prune(&mut self, x: &mut Value, id: Option<NodeId>, embedded_override: bool, depth: usize) {
        if depth > MAX_VALUE_DEPTH {
            return;
        }
        let tree = self.tree;
        let node = id.map(|i| tree.node(i));
        if let Some(n) = node
            && n.preserve_unknown
        {
            self.skip_prune(x, id, embedded_override, depth);
            return;
        }
        match x {
            Value::Object(map) => {
                let Some(n) = node else {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    for k in keys {
                        self.record(&k);
                    }
                    map.clear();
                    return;
                };
                let embedded = n.embedded || embedded_override;
                let mut removed = Vec::new();
                for (k, v) in map.iter_mut() {
                    if embedded && META_FIELDS.contains(&k.as_str()) {
                        continue;
                    }
                    if let Some(p) = n.property(k) {
                        let len = self.push_key(k);
                        self.prune(v, Some(p), false, depth + 1);
                        self.path.truncate(len);
                    } else if let Some(ap) = n.additional {
                        let len = self.push_key(k);
                        let sub = match ap {
                            Additional::Schema(s) => Some(s),
                            Additional::Bool(_) => None,
                        };
                        self.prune(v, sub, false, depth + 1);
                        self.path.truncate(len);
                    } else {
                        if !META_FIELDS.contains(&k.as_str()) || !self.path.is_empty() {
                            self.record(k);
                        }
                        removed.push(k.clone());
                    }
                }
                for k in removed {
                    map.remove(&k);
                }
            }
            Value::Array(items) => {
                let item_schema = node.and_then(|n| n.items);
                for (i, v) in items.iter_mut().enumerate() {
                    let len = self.push_index(i);
                    self.prune(v, item_schema, false, depth + 1);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn skip_prune(
        &mut self,
        x: &mut Value,
        id: Option<NodeId>,
        embedded_override: bool,
        depth: usize,
    ) {
        if depth > MAX_VALUE_DEPTH {
            return;
        }
        let tree = self.tree;
        let Some(n) = id.map(|i| tree.node(i)) else {
            return;
        };
        match x {
            Value::Object(map) => {
                let embedded = n.embedded || embedded_override;
                for (k, v) in map.iter_mut() {
                    if embedded && META_FIELDS.contains(&k.as_str()) {
                        continue;
                    }
                    if let Some(p) = n.property(k) {
                        let len = self.push_key(k);
                        self.prune(v, Some(p), false, depth + 1);
                        self.path.truncate(len);
                    } else if let Some(ap) = n.additional {
                        let len = self.push_key(k);
                        let sub = match ap {
                            Additional::Schema(s) => Some(s),
                            Additional::Bool(_) => None,
                        };
                        self.prune(v, sub, false, depth + 1);
                        self.path.truncate(len);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = self.push_index(i);
                    self.skip_prune(v, n.items, false, depth + 1);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }
}
