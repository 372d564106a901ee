//! `application/json-patch+json` (RFC 6902) as gopkg.in/evanphx/json-patch.v4
//! (v4.12) applies it for kube-apiserver, quirks included: negative array
//! indices count from the end, `replace` of a missing object key adds it,
//! `copy` from a missing key copies null, scalars are `test`ed by their
//! bytes, and the total size `copy` may add is capped at 3 MiB.

use serde_json::Value;

use super::json::{Node, compact, go_json};

/// kube's `JSONPatchMaxCopyBytes`.
const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// How applying an operation failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OpError {
    /// The library returned an error (kube answers a generic 422).
    Failed(String),
    /// Go would have panicked (kube answers a bare 500).
    Panic(String),
}

/// One decoded operation: the members of its object, the last of each
/// duplicate winning, or nothing for a `null` item.
pub(crate) struct Operation<'n, 'a> {
    members: Vec<(&'n str, &'n Node<'a>)>,
}

impl<'n, 'a> Operation<'n, 'a> {
    /// Reads an item of the patch array; `None` when it is not an object
    /// (Go's decoder refuses those before anything is applied).
    pub(crate) fn from_node(node: &'n Node<'a>) -> Option<Operation<'n, 'a>> {
        match node {
            Node::Null => Some(Operation {
                members: Vec::new(),
            }),
            Node::Object(members) => {
                let members = Node::last_members(members)
                    .into_iter()
                    .map(|i| (members[i].0.as_str(), &members[i].1))
                    .collect();
                Some(Operation { members })
            }
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&'n Node<'a>> {
        self.members
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    fn kind(&self) -> &str {
        match self.get("op") {
            Some(Node::String(s, _)) => s,
            _ => "unknown",
        }
    }

    /// A string member; `Err` when missing, null or not a string.
    fn string(&self, key: &str) -> Result<&'n str, OpError> {
        match self.get(key) {
            Some(Node::String(s, _)) => Ok(s),
            Some(Node::Null) | None => {
                Err(OpError::Failed(format!("operation missing {key} field")))
            }
            Some(_) => Err(OpError::Failed(format!("{key} is not a string"))),
        }
    }

    /// The `value` member: `None` when absent, `Some(Node::Null)` for null.
    fn value(&self) -> Option<&'n Node<'a>> {
        self.get("value")
    }
}

/// Applies the operations in order to the document.
pub(crate) fn apply(mut doc: Value, ops: &[Operation<'_, '_>]) -> Result<Value, OpError> {
    let mut copied = 0usize;
    for op in ops {
        match op.kind() {
            "add" => {
                let path = op.string("path")?;
                let value = node_value(op.value());
                add(&mut doc, path, value)?;
            }
            "remove" => {
                let path = op.string("path")?;
                let (con, key) = find_object(&mut doc, path).ok_or_else(|| missing(path))?;
                remove(con, &key)?;
            }
            "replace" => {
                let path = op.string("path")?;
                if path.is_empty() {
                    match op.value() {
                        None => return Err(nil_panic()),
                        Some(v @ (Node::Object(_) | Node::Array(_))) => doc = node_value(Some(v)),
                        // The library wraps a nil error here, which is no error.
                        Some(_) => {}
                    }
                    continue;
                }
                let (con, key) = find_object(&mut doc, path).ok_or_else(|| missing(path))?;
                match con {
                    Value::Object(m) => {
                        m.insert(key, node_value(op.value()));
                    }
                    Value::Array(items) => {
                        let i = array_index(&key, items.len(), false)?;
                        items[i] = node_value(op.value());
                    }
                    _ => return Err(missing(path)),
                }
            }
            "move" => {
                let from = op.string("from")?;
                let (con, key) = find_object(&mut doc, from).ok_or_else(|| missing(from))?;
                let val = get(con, &key)?.cloned();
                remove(con, &key)?;
                let path = op.string("path")?;
                add(&mut doc, path, val.unwrap_or(Value::Null))?;
            }
            "test" => test(&mut doc, op)?,
            "copy" => {
                let from = op.string("from")?;
                let (con, key) = find_object(&mut doc, from).ok_or_else(|| missing(from))?;
                let val = get(con, &key)?.cloned().unwrap_or(Value::Null);
                let path = op.string("path")?;
                if find_object(&mut doc, path).is_none() {
                    return Err(missing(path));
                }
                copied += go_json(&val).len();
                if copied > MAX_COPY_BYTES {
                    return Err(OpError::Failed(format!(
                        "Unable to complete the copy, the accumulated size increase of copy is {copied}, exceeding the limit {MAX_COPY_BYTES}"
                    )));
                }
                add(&mut doc, path, val)?;
            }
            other => return Err(OpError::Failed(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(doc)
}

fn missing(path: &str) -> OpError {
    OpError::Failed(format!("doc is missing path: {path}: missing value"))
}

fn nil_panic() -> OpError {
    OpError::Panic("runtime error: invalid memory address or nil pointer dereference".into())
}

fn node_value(node: Option<&Node<'_>>) -> Value {
    node.and_then(|n| n.to_value().ok()).unwrap_or(Value::Null)
}

fn decode_key(k: &str) -> String {
    if k.contains('~') {
        k.replace("~1", "/").replace("~0", "~")
    } else {
        k.to_string()
    }
}

/// Go's `strconv.Atoi`.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// An existing index (or, for `add`, one past the end), negative indices
/// counting from the end.
fn array_index(key: &str, len: usize, for_add: bool) -> Result<usize, OpError> {
    let bad = || OpError::Failed(format!("Unable to access invalid index: {key}"));
    let idx = atoi(key).ok_or_else(bad)?;
    let len = len as i64 + i64::from(for_add);
    let idx = if idx < 0 {
        if idx < -len {
            return Err(bad());
        }
        idx + len
    } else {
        idx
    };
    if idx >= len {
        return Err(bad());
    }
    Ok(idx as usize)
}

/// The container holding the last path segment, and that segment decoded;
/// `None` when any step is missing, null or a scalar.
fn find_object<'d>(doc: &'d mut Value, path: &str) -> Option<(&'d mut Value, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return None;
    }
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let key = decode_key(part);
        let next = match cur {
            Value::Object(m) => m.get_mut(&key)?,
            Value::Array(items) => {
                let i = array_index(&key, items.len(), false).ok()?;
                items.get_mut(i)?
            }
            _ => return None,
        };
        if !matches!(next, Value::Object(_) | Value::Array(_)) {
            return None;
        }
        cur = next;
    }
    let last = split.last().copied().unwrap_or_default();
    Some((cur, decode_key(last)))
}

fn get<'d>(con: &'d Value, key: &str) -> Result<Option<&'d Value>, OpError> {
    match con {
        Value::Object(m) => Ok(m.get(key)),
        Value::Array(items) => {
            let i = array_index(key, items.len(), false)?;
            Ok(items.get(i))
        }
        _ => Ok(None),
    }
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), OpError> {
    let (con, key) = find_object(doc, path).ok_or_else(|| missing(path))?;
    match con {
        Value::Object(m) => {
            m.insert(key, value);
        }
        Value::Array(items) => {
            if key == "-" {
                items.push(value);
            } else {
                let i = array_index(&key, items.len(), true)?;
                items.insert(i, value);
            }
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(con: &mut Value, key: &str) -> Result<(), OpError> {
    match con {
        Value::Object(m) => {
            let removed = m.remove(key);
            removed.map(drop).ok_or_else(|| {
                OpError::Failed(format!(
                    "Unable to remove nonexistent key: {key}: missing value"
                ))
            })?;
        }
        Value::Array(items) => {
            let i = array_index(key, items.len(), false)?;
            items.remove(i);
        }
        _ => {}
    }
    Ok(())
}

fn test(doc: &mut Value, op: &Operation<'_, '_>) -> Result<(), OpError> {
    let path = op.string("path")?;
    let failed = || OpError::Failed(format!("testing value {path} failed: test failed"));
    if path.is_empty() {
        let Some(v) = op.value() else {
            return Err(nil_panic());
        };
        return if equal(doc, v, true)? {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (con, key) = find_object(doc, path).ok_or_else(|| missing(path))?;
    let val = get(con, &key)?;
    match (val, op.value()) {
        // A missing or null target matches only an explicit null; with no
        // value at all the library dereferences nil.
        (None | Some(Value::Null), Some(Node::Null)) => Ok(()),
        (None | Some(Value::Null), None) => Err(nil_panic()),
        (None | Some(Value::Null), Some(_)) | (Some(_), None) => Err(failed()),
        (Some(v), Some(want)) => {
            if equal(v, want, true)? {
                Ok(())
            } else {
                Err(failed())
            }
        }
    }
}

/// The library's `lazyNode.equal`: structure for objects and arrays, the
/// compact bytes for scalars. A null inside a compared array is a nil
/// pointer to Go, which panics.
fn equal(doc: &Value, want: &Node<'_>, top: bool) -> Result<bool, OpError> {
    match doc {
        Value::Object(m) => {
            let members = match want {
                Node::Object(members) => members,
                // `null` decodes to an empty object, except at the top, where
                // the value is a nil pointer that decodes to nothing.
                Node::Null if !top => return Ok(m.is_empty()),
                _ => return Ok(false),
            };
            let keep = Node::last_members(members);
            if keep.len() != m.len() {
                return Ok(false);
            }
            for i in keep {
                let (k, w) = &members[i];
                let Some(v) = m.get(k) else {
                    return Ok(false);
                };
                match (v, w) {
                    (Value::Null, Node::Null) => continue,
                    (Value::Null, _) | (_, Node::Null) => return Ok(false),
                    _ => {
                        if !equal(v, w, false)? {
                            return Ok(false);
                        }
                    }
                }
            }
            Ok(true)
        }
        Value::Array(items) => {
            let want_items = match want {
                Node::Array(w) => w,
                Node::Null if !top => return Ok(items.is_empty()),
                _ => return Ok(false),
            };
            if items.len() != want_items.len() {
                return Ok(false);
            }
            for (v, w) in items.iter().zip(want_items) {
                if v.is_null() || matches!(w, Node::Null) {
                    return Err(nil_panic());
                }
                if !equal(v, w, false)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        scalar => {
            let raw: Vec<u8> = match want {
                Node::Null => b"null".to_vec(),
                Node::Bool(true) => b"true".to_vec(),
                Node::Bool(false) => b"false".to_vec(),
                Node::Number(raw) => raw.as_bytes().to_vec(),
                Node::String(_, raw) => raw.to_vec(),
                Node::Array(_) | Node::Object(_) => return Ok(false),
            };
            Ok(go_json(scalar).as_bytes() == compact(&raw).as_slice())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;
    use serde_json::json;

    fn run(doc: Value, patch: &str) -> Result<Value, OpError> {
        let node = parse(patch.as_bytes()).unwrap();
        let Node::Array(items) = &node else { panic!() };
        let ops: Vec<Operation<'_, '_>> = items
            .iter()
            .map(|n| Operation::from_node(n).unwrap())
            .collect();
        apply(doc, &ops)
    }

    #[test]
    fn operations_apply_in_order() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c": "x"});
        let out = run(
            doc,
            r#"[{"op":"add","path":"/a/b/1","value":9},
                {"op":"remove","path":"/a/b/-1"},
                {"op":"replace","path":"/c","value":"y"},
                {"op":"copy","from":"/c","path":"/d"},
                {"op":"move","from":"/d","path":"/a/e"},
                {"op":"add","path":"/a/b/-","value":7},
                {"op":"test","path":"/a/e","value":"y"},
                {"op":"add","path":"/m~1n~0","value":true}]"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": {"b": [1, 9, 2, 7], "e": "y"}, "c": "y", "m/n~": true})
        );
    }

    #[test]
    fn library_quirks() {
        // replace of a missing object key adds it.
        assert_eq!(
            run(json!({}), r#"[{"op":"replace","path":"/x","value":1}]"#).unwrap(),
            json!({"x": 1})
        );
        // copy from a missing key copies null.
        assert_eq!(
            run(json!({}), r#"[{"op":"copy","from":"/x","path":"/y"}]"#).unwrap(),
            json!({"y": null})
        );
        // replace of the whole document with a scalar does nothing.
        assert_eq!(
            run(json!({"a": 1}), r#"[{"op":"replace","path":"","value":3}]"#).unwrap(),
            json!({"a": 1})
        );
        // test compares scalars by their bytes.
        assert!(
            run(
                json!({"a": 1}),
                r#"[{"op":"test","path":"/a","value":1.0}]"#
            )
            .is_err()
        );
        assert!(
            run(
                json!({"a": "<"}),
                r#"[{"op":"test","path":"/a","value":"<"}]"#
            )
            .is_err()
        );
        assert!(
            run(
                json!({"a": "<"}),
                r#"[{"op":"test","path":"/a","value":"\u003c"}]"#
            )
            .is_ok()
        );
        assert!(
            run(
                json!({"a": null}),
                r#"[{"op":"test","path":"/a","value":null}]"#
            )
            .is_ok()
        );
        assert!(run(json!({}), r#"[{"op":"test","path":"/a","value":null}]"#).is_ok());
        assert_eq!(
            run(json!({}), r#"[{"op":"test","path":"/a"}]"#),
            Err(nil_panic())
        );
        assert_eq!(
            run(
                json!({"a": [null]}),
                r#"[{"op":"test","path":"/a","value":[null]}]"#
            ),
            Err(nil_panic())
        );
    }

    #[test]
    fn failures() {
        for patch in [
            r#"[{"op":"remove","path":"/nope"}]"#,
            r#"[{"op":"add","path":"/a/b/c","value":1}]"#,
            r#"[{"op":"add","path":"","value":1}]"#,
            r#"[{"op":"add","path":"/l/5","value":1}]"#,
            r#"[{"op":"replace","path":"/l/1","value":1}]"#,
            r#"[{"op":"remove","path":"/l/-2"}]"#,
            r#"[{"op":"bogus","path":"/a"}]"#,
            r#"[{"path":"/a"}]"#,
            r#"[{"op":"add"}]"#,
            r#"[{"op":"test","path":"/l","value":[]}]"#,
        ] {
            assert!(
                matches!(run(json!({"l": [0]}), patch), Err(OpError::Failed(_))),
                "{patch}"
            );
        }
    }

    #[test]
    fn copies_are_capped() {
        let big = "x".repeat(1 << 20);
        let doc = json!({ "a": big });
        let ops = (0..4)
            .map(|i| format!(r#"{{"op":"copy","from":"/a","path":"/b{i}"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let err = run(doc, &format!("[{ops}]")).unwrap_err();
        assert!(matches!(err, OpError::Failed(m) if m.starts_with("Unable to complete the copy")));
    }
}
