//! Running a schema's rules over an object, as kube's CEL validator does.
//!
//! The walk follows the object down the nodes that lead to rules. At each
//! node with rules, `self` is the value there, typed by the schema
//! (objects as maps under their escaped property names, `integer` as
//! `int`, `number` as `double`, `date-time` strings as timestamps,
//! `duration` strings as durations, `byte` strings as bytes). On update,
//! `oldSelf` is the old object's value at the same place: map keys and
//! properties correlate by name, items of `x-kubernetes-list-type: map`
//! lists by their keys, and nothing under other lists does, so transition
//! rules (those naming `oldSelf`) run only where the old value exists, or
//! with `optionalOldSelf` always. Errors of other rules are dropped where
//! the value is unchanged from the old object (kube's ratcheting).

use std::collections::HashMap;
use std::sync::Arc;

use cel_interpreter::objects::Key;
use cel_interpreter::{ExecutionError, Value as Cel};
use serde_json::Value;

use super::super::node::{Additional, ListType, NodeId, Tree, Types};
use super::library::{self, COST_EXCEEDED, COST_FN, NO_OVERLOAD};
use super::{Reason, escape};
use crate::field::{FieldError, Path};

/// kube's runtime budget for all the rules of one object
/// (`celconfig.RuntimeCELCostBudget`).
const RUNTIME_BUDGET: u64 = 10_000_000;

/// How deep the walk follows a value; kube's decoder never gets near it.
const MAX_DEPTH: usize = super::super::MAX_VALUE_DEPTH;

/// Runs every rule of `tree` over `value` (the new object) with `old` (the
/// stored object on update). `base` is where the value sits (`None` for a
/// whole object, whose root errors kube prints under `<nil>`).
pub(crate) fn validate(
    tree: &Tree,
    root: NodeId,
    value: &Value,
    old: Option<&Value>,
    base: Option<&Path>,
) -> Vec<FieldError> {
    let mut w = Walker {
        tree,
        errors: Vec::new(),
        remaining: RUNTIME_BUDGET,
        stopped: false,
    };
    let ratchet = old.map(|o| (value, o));
    w.node(root, base.cloned(), value, old, ratchet, true, 0);
    w.errors
}

struct Walker<'a> {
    tree: &'a Tree,
    errors: Vec<FieldError>,
    remaining: u64,
    /// Set once kube would run no further rule (budget spent).
    stopped: bool,
}

fn child(path: &Option<Path>, name: &str) -> Option<Path> {
    Some(match path {
        Some(p) => p.child(name),
        None => Path::root().child(name),
    })
}

fn key(path: &Option<Path>, k: &str) -> Option<Path> {
    Some(match path {
        Some(p) => p.key(k),
        None => Path::root().key(k),
    })
}

fn index(path: &Option<Path>, i: usize) -> Option<Path> {
    Some(match path {
        Some(p) => p.index(i),
        None => Path::root().index(i),
    })
}

fn path_string(path: &Option<Path>) -> String {
    path.as_ref()
        .map_or_else(|| "<nil>".to_string(), |p| p.as_str().to_string())
}

impl Walker<'_> {
    /// `ratchet` is the nearest correlated pair of new and old values: the
    /// node's own when it has an old value, its list's when it is an item
    /// of a list that does not correlate items.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        id: NodeId,
        path: Option<Path>,
        v: &Value,
        old: Option<&Value>,
        ratchet: Option<(&Value, &Value)>,
        resource_root: bool,
        depth: usize,
    ) {
        let n = self.tree.node(id);
        if self.stopped || !n.rules_below || v.is_null() || depth > MAX_DEPTH {
            return;
        }
        let old = old.filter(|o| !o.is_null());
        if !n.rules.is_empty() {
            self.rules(id, &path, v, old, ratchet, resource_root);
        }
        match v {
            Value::Object(m) => {
                for (k, child_v) in m {
                    let child_old = old.and_then(|o| o.get(k));
                    let (cid, p) = if let Some(c) = n.property(k) {
                        (c, child(&path, k))
                    } else if let Some(Additional::Schema(a)) = n.additional {
                        (a, key(&path, k))
                    } else {
                        continue;
                    };
                    let r = child_old.map(|o| (child_v, o));
                    let embedded = self.tree.node(cid).embedded;
                    self.node(cid, p, child_v, child_old, r, embedded, depth + 1);
                    if self.stopped {
                        return;
                    }
                }
            }
            Value::Array(items) => {
                let Some(iid) = n.items else { return };
                let old_items = old.and_then(Value::as_array);
                let embedded = self.tree.node(iid).embedded;
                for (i, item) in items.iter().enumerate() {
                    let (item_old, r) = if n.list_type == Some(ListType::Map) {
                        let o =
                            old_items.and_then(|olds| find_by_keys(olds, item, &n.list_map_keys));
                        (o, o.map(|o| (item, o)))
                    } else {
                        (None, ratchet.filter(|_| old.is_some()))
                    };
                    self.node(iid, index(&path, i), item, item_old, r, embedded, depth + 1);
                    if self.stopped {
                        return;
                    }
                }
            }
            _ => {}
        }
    }

    fn rules(
        &mut self,
        id: NodeId,
        path: &Option<Path>,
        v: &Value,
        old: Option<&Value>,
        ratchet: Option<(&Value, &Value)>,
        resource_root: bool,
    ) {
        let n = self.tree.node(id);
        let type_name = type_name(self.tree, id, resource_root);
        let self_cel = to_cel(self.tree, id, v, resource_root, 0);
        let old_cel = old.map(|o| to_cel(self.tree, id, o, resource_root, 0));
        let unchanged = || ratchet.is_some_and(|(a, b)| a == b);
        for rule in &n.rules {
            if rule.unevaluated {
                continue;
            }
            if rule.uses_old_self && old.is_none() && !rule.optional_old_self {
                continue;
            }
            let mut ctx = library::base().new_inner_scope();
            ctx.add_variable_from_value("self", self_cel.clone());
            if rule.uses_old_self {
                let o = match (&old_cel, rule.optional_old_self) {
                    (Some(o), false) => o.clone(),
                    (Some(o), true) => library::optional_of(o.clone()),
                    (None, _) => library::optional_none(),
                };
                ctx.add_variable_from_value("oldSelf", o);
            }
            library::reset_cost();
            let result = Cel::resolve(&rule.program, &ctx);
            let spent = library::cost();
            if spent > self.remaining {
                self.errors.push(FieldError::invalid(
                    path_string(path),
                    Value::String(type_name.into()),
                    "validation failed due to running out of cost budget, no further validation rules will be run",
                ));
                self.stopped = true;
                return;
            }
            self.remaining -= spent;
            let ok = match result {
                Ok(Cel::Bool(b)) => b,
                // Anything but `true` fails the rule, as in kube.
                Ok(_) => false,
                Err(e) => {
                    let text = error_text(&e);
                    let detail = if text == NO_OVERLOAD {
                        format!(
                            "'{text}': call arguments did not match a supported operator, function or macro signature for rule: {}",
                            rule.error_string()
                        )
                    } else if text == COST_EXCEEDED {
                        self.stopped = true;
                        format!(
                            "'{text}': no further validation rules will be run due to call cost exceeds limit for rule: {}",
                            rule.error_string()
                        )
                    } else {
                        format!("{text} evaluating rule: {}", rule.error_string())
                    };
                    self.errors.push(FieldError::invalid(
                        path_string(path),
                        Value::String(type_name.into()),
                        detail,
                    ));
                    if self.stopped {
                        return;
                    }
                    continue;
                }
            };
            if ok {
                continue;
            }
            let fpath = match &rule.field_path {
                Some(fp) => child(path, fp),
                None => path.clone(),
            };
            let mut detail = None;
            if let Some(me) = &rule.message_expression {
                library::reset_cost();
                let r = Cel::resolve(me, &ctx);
                let spent = library::cost();
                if spent > self.remaining {
                    self.errors.push(FieldError::invalid(
                        path_string(&fpath),
                        Value::String(type_name.into()),
                        "messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run",
                    ));
                    self.stopped = true;
                    return;
                }
                self.remaining -= spent;
                match r {
                    Ok(Cel::String(s)) => {
                        let t = s.trim();
                        if !t.is_empty() && !t.contains('\n') && t.len() <= 5 * 1024 {
                            detail = Some(t.to_string());
                        }
                    }
                    Err(e) if error_text(&e) == COST_EXCEEDED => {
                        self.errors.push(FieldError::invalid(
                            path_string(&fpath),
                            Value::String(type_name.into()),
                            format!(
                                "no further validation rules will be run due to call cost exceeds limit for messageExpression: {}",
                                crate::field::go_quote(&rule.message_expression_source)
                            ),
                        ));
                        self.stopped = true;
                        return;
                    }
                    _ => {}
                }
            }
            if !rule.uses_old_self && unchanged() {
                continue;
            }
            let detail = detail.unwrap_or_else(|| rule.message_or_default());
            let field = path_string(&fpath);
            let bad = Value::String(type_name.into());
            self.errors.push(match rule.reason {
                None | Some(Reason::Invalid) => FieldError::invalid(field, bad, detail),
                Some(Reason::Forbidden) => FieldError::forbidden(field, detail),
                Some(Reason::Required) => FieldError::required(field, detail),
                Some(Reason::Duplicate) => FieldError::duplicate(field, bad),
            });
        }
    }
}

/// What cel-go would say for an evaluation error.
fn error_text(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::FunctionError { function, message } => {
            if function == COST_FN {
                COST_EXCEEDED.to_string()
            } else {
                message.clone()
            }
        }
        ExecutionError::DivisionByZero(_) => "division by zero".to_string(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".to_string(),
        ExecutionError::Overflow(..) => "integer overflow".to_string(),
        ExecutionError::UndeclaredReference(name) => {
            format!("no such attribute: {name}")
        }
        _ => NO_OVERLOAD.to_string(),
    }
}

/// kube's `sts.Type`: the schema's type as written (empty for
/// int-or-string and untyped nodes).
fn type_name(tree: &Tree, id: NodeId, resource_root: bool) -> &'static str {
    let n = tree.node(id);
    if n.int_or_string {
        return "";
    }
    match n.types {
        Some(t) => t.name(),
        None if resource_root => "object",
        None => "",
    }
}

/// The item of `olds` whose map keys equal `item`'s.
fn find_by_keys<'o>(olds: &'o [Value], item: &Value, keys: &[Box<str>]) -> Option<&'o Value> {
    olds.iter().find(|o| {
        keys.iter()
            .all(|k| o.get(k.as_ref()) == item.get(k.as_ref()))
    })
}

/// The CEL value of `v` at node `id`.
fn to_cel(tree: &Tree, id: NodeId, v: &Value, resource_root: bool, depth: usize) -> Cel {
    let n = tree.node(id);
    if depth > MAX_DEPTH {
        return Cel::Null;
    }
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(num) => {
            if n.types == Some(Types::NUMBER) {
                Cel::Float(num.as_f64().unwrap_or(0.0))
            } else if let Some(i) = num.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = num.as_u64() {
                Cel::UInt(u)
            } else {
                let f = num.as_f64().unwrap_or(0.0);
                if n.types == Some(Types::INTEGER) && f.fract() == 0.0 && f.abs() < 9.2e18 {
                    Cel::Int(f as i64)
                } else {
                    Cel::Float(f)
                }
            }
        }
        Value::String(s) => string_to_cel(n.format.as_ref().map(|(f, _)| f.as_ref()), s),
        Value::Array(items) => Cel::List(Arc::new(
            items
                .iter()
                .map(|item| match n.items {
                    Some(i) => to_cel(tree, i, item, tree.node(i).embedded, depth + 1),
                    None => untyped(item, depth + 1),
                })
                .collect(),
        )),
        Value::Object(m) => {
            let mut out: HashMap<Key, Cel> = HashMap::with_capacity(m.len());
            let additional = match n.additional {
                Some(Additional::Schema(a)) => Some(a),
                _ => None,
            };
            for (k, child) in m {
                if resource_root && k == "metadata" {
                    out.insert(Key::from("metadata"), metadata(child));
                    continue;
                }
                if let Some(a) = additional {
                    out.insert(
                        Key::from(k.as_str()),
                        to_cel(tree, a, child, tree.node(a).embedded, depth + 1),
                    );
                    continue;
                }
                let Some(name) = escape(k) else { continue };
                let cv = match n.property(k) {
                    Some(c) => to_cel(tree, c, child, tree.node(c).embedded, depth + 1),
                    None => untyped(child, depth + 1),
                };
                out.insert(Key::from(name), cv);
            }
            library::string_map(out)
        }
    }
}

/// A resource's `metadata` as rules see it: only `name` and
/// `generateName`.
fn metadata(v: &Value) -> Cel {
    let mut out = HashMap::new();
    for k in ["name", "generateName"] {
        if let Some(Value::String(s)) = v.get(k) {
            out.insert(Key::from(k), Cel::String(Arc::new(s.clone())));
        }
    }
    library::string_map(out)
}

fn string_to_cel(format: Option<&str>, s: &str) -> Cel {
    let plain = || Cel::String(Arc::new(s.to_string()));
    match format {
        Some("date-time") | Some("datetime") => {
            cel_interpreter::functions::timestamp(Arc::new(s.to_string()))
                .unwrap_or_else(|_| plain())
        }
        Some("duration") => cel_interpreter::functions::duration(Arc::new(s.to_string()))
            .unwrap_or_else(|_| plain()),
        Some("byte") => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(b) => Cel::Bytes(Arc::new(b)),
                Err(_) => plain(),
            }
        }
        _ => plain(),
    }
}

/// A value under no schema (preserved unknown fields).
fn untyped(v: &Value, depth: usize) -> Cel {
    if depth > MAX_DEPTH {
        return Cel::Null;
    }
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Cel::Int)
            .or_else(|| n.as_u64().map(Cel::UInt))
            .unwrap_or_else(|| Cel::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(|x| untyped(x, depth + 1)).collect())),
        Value::Object(m) => library::string_map(
            m.iter()
                .map(|(k, x)| (Key::from(k.as_str()), untyped(x, depth + 1)))
                .collect(),
        ),
    }
}
