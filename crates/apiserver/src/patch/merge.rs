//! `application/merge-patch+json` (RFC 7386) as evanphx/json-patch v4
//! applies it for kube-apiserver: null deletes, objects merge, anything
//! else replaces, and nulls inside newly added objects are dropped.

use serde_json::{Map, Value};

use super::json::Node;

/// Why the merge failed, in the library's words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MergeError {
    /// `Invalid JSON Patch`: kube answers 400.
    BadPatch,
}

/// Applies the parsed patch to the stored object. A patch that is an array
/// becomes the whole document (kube then fails to decode it); one that is
/// null or a scalar is refused.
pub(crate) fn apply(original: Value, patch: &Node<'_>) -> Result<Value, MergeError> {
    match patch {
        Node::Object(members) => {
            let Value::Object(doc) = original else {
                return Ok(prune_nulls(patch));
            };
            Ok(Value::Object(merge_docs(doc, members)))
        }
        Node::Array(items) => Ok(Value::Array(items.iter().map(prune_nulls).collect())),
        _ => Err(MergeError::BadPatch),
    }
}

fn merge_docs(mut doc: Map<String, Value>, patch: &[(String, Node<'_>)]) -> Map<String, Value> {
    for i in Node::last_members(patch) {
        let (k, v) = &patch[i];
        if matches!(v, Node::Null) {
            doc.remove(k);
            continue;
        }
        match doc.get_mut(k) {
            Some(slot) if !slot.is_null() => {
                let cur = std::mem::take(slot);
                *slot = merge(cur, v);
            }
            _ => {
                doc.insert(k.clone(), prune_nulls(v));
            }
        }
    }
    doc
}

/// One member: objects merge into objects; a non-object stored value is
/// replaced by the patch with its nulls pruned; a non-object patch value
/// replaces as it is.
fn merge(cur: Value, patch: &Node<'_>) -> Value {
    match (cur, patch) {
        (Value::Object(doc), Node::Object(members)) => Value::Object(merge_docs(doc, members)),
        (Value::Object(_), other) => to_value_lossless(other),
        (_, other) => prune_nulls(other),
    }
}

/// The patch value with null object members removed at every depth; nulls
/// in arrays stay.
fn prune_nulls(node: &Node<'_>) -> Value {
    match node {
        Node::Object(members) => {
            let mut out = Map::new();
            for i in Node::last_members(members) {
                let (k, v) = &members[i];
                if !matches!(v, Node::Null) {
                    out.insert(k.clone(), prune_nulls(v));
                }
            }
            Value::Object(out)
        }
        Node::Array(items) => Value::Array(items.iter().map(prune_nulls).collect()),
        other => to_value_lossless(other),
    }
}

/// A patch value as is. Numbers Go cannot hold were refused by the strict
/// pre-check or would be refused by the decoder; here they become null.
fn to_value_lossless(node: &Node<'_>) -> Value {
    node.to_value().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;
    use serde_json::json;

    fn run(doc: Value, patch: &str) -> Result<Value, MergeError> {
        apply(doc, &parse(patch.as_bytes()).unwrap())
    }

    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), r#"{"a":"c"}"#, json!({"a": "c"})),
            (
                json!({"a": "b"}),
                r#"{"b":"c"}"#,
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), r#"{"a":null}"#, json!({})),
            (
                json!({"a": "b", "b": "c"}),
                r#"{"a":null}"#,
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), r#"{"a":"c"}"#, json!({"a": "c"})),
            (json!({"a": "c"}), r#"{"a":["b"]}"#, json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                r#"{"a":{"b":"d","c":null}}"#,
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                r#"{"a":[1]}"#,
                json!({"a": [1]}),
            ),
            (
                json!({}),
                r#"{"a":{"bb":{"ccc":null}}}"#,
                json!({"a": {"bb": {}}}),
            ),
            (json!({"e": null}), r#"{"a":1}"#, json!({"e": null, "a": 1})),
        ];
        for (doc, patch, want) in cases {
            assert_eq!(run(doc, patch).unwrap(), want, "{patch}");
        }
    }

    #[test]
    fn non_object_patches() {
        assert_eq!(run(json!({"a": 1}), "null"), Err(MergeError::BadPatch));
        assert_eq!(run(json!({"a": 1}), "\"x\""), Err(MergeError::BadPatch));
        assert_eq!(run(json!({"a": 1}), "[1,null]").unwrap(), json!([1, null]));
        // A non-object patch value keeps its nulls when replacing an object.
        assert_eq!(
            run(json!({"a": {"x": 1}}), r#"{"a":[{"y":null}]}"#).unwrap(),
            json!({"a": [{"y": null}]})
        );
        assert_eq!(
            run(json!({"a": 1}), r#"{"a":[{"y":null}]}"#).unwrap(),
            json!({"a": [{}]})
        );
    }
}
