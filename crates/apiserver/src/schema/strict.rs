//! What kube's strict JSON decoding says about a request body's keys.
//!
//! kube-apiserver decodes a JSON body with `sigs.k8s.io/json`'s
//! `UnmarshalStrict`, which reports, as it reads the document, every key
//! the Go type does not have (`unknown field "spec.foo"`) and every key an
//! object gives twice (`duplicate field "spec.paused"`), each with its full
//! path (`spec.ports[0].port`, map keys included: `data.a`). The problems
//! come out in the order their keys appear in the document, each at most
//! once, and no more than 100 of them.
//!
//! A parsed [`Value`] has sorted keys and keeps only the last of two equal
//! keys, so neither the order nor the duplicates survive parsing. Reading
//! the body is therefore split in two:
//!
//! * [`parse_body`] parses as `serde_json` does (same errors, same value,
//!   same nesting limit) and only notes, for free, whether any object
//!   repeated a key;
//! * when there is something to report (an unknown field was found in the
//!   value, or a key was repeated), [`strict_errors`] reads the bytes once
//!   more, without building anything, and walks them the way Go's decoder
//!   does: unknown keys of structs, and repeated keys of structs, maps and
//!   free-form JSON. What Go does not decode key by key (the value of an
//!   unknown field, `RawExtension`, `IntOrString`, `Quantity`, times) it
//!   does not look into, and neither does this walk.
//!
//! A custom resource is decoded into a plain map, so only its duplicates
//! are reported here, anywhere in the document; its unknown fields come
//! from pruning.

use std::collections::HashSet;
use std::fmt;
use std::fmt::Write as _;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::node::{Additional, GoKind, NodeId, Tree, Types};
use super::{duplicate_field_message, unknown_field_message};

/// `sigs.k8s.io/json` stops saving strict errors after this many.
const MAX_STRICT_ERRORS: usize = 100;

/// A JSON request body that parsed, and what its parse noticed.
#[derive(Debug, Clone, Copy)]
pub struct JsonBody<'a> {
    bytes: &'a [u8],
    duplicates: bool,
}

impl<'a> JsonBody<'a> {
    /// The body as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether some object in the body gives a key more than once.
    pub fn has_duplicates(&self) -> bool {
        self.duplicates
    }
}

/// Parses `bytes` exactly as `serde_json::from_slice::<Value>` does (same
/// value, where a repeated key keeps its last value; same errors, including
/// the nesting limit), and notes whether any key was repeated.
pub fn parse_body(bytes: &[u8]) -> Result<(Value, JsonBody<'_>), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut duplicates = false;
    let value = ValueSeed {
        duplicates: &mut duplicates,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, JsonBody { bytes, duplicates }))
}

/// Builds a [`Value`] like `serde_json`'s own visitor, and flags repeated
/// keys: checking what `insert` replaced costs nothing extra.
struct ValueSeed<'f> {
    duplicates: &'f mut bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(ValueSeed {
            duplicates: &mut *self.duplicates,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed {
                duplicates: &mut *self.duplicates,
            })?;
            if out.insert(key, value).is_some() {
                *self.duplicates = true;
            }
        }
        Ok(Value::Object(out))
    }
}

/// The strict decoding problems of `body` in document order, as kube words
/// them: `unknown field "<path>"` for keys a struct does not have (only
/// when `tree` is given) and `duplicate field "<path>"` for repeated keys.
/// Without a tree the document is decoded as free-form JSON, as kube
/// decodes custom resources.
pub(crate) fn strict_errors(tree: Option<(&Tree, NodeId)>, body: &JsonBody<'_>) -> Vec<String> {
    let mut walk = Walk {
        tree: tree.map(|(t, _)| t),
        path: String::new(),
        depth: 0,
        errors: Vec::new(),
        seen: HashSet::new(),
    };
    let place = match tree {
        Some((_, root)) => Place::Typed(root),
        None => Place::Free,
    };
    let mut de = serde_json::Deserializer::from_slice(body.bytes);
    // The bytes parsed once already, with the same limits, so this read
    // cannot fail; if it somehow did, what was found so far is the answer.
    let _ = PlaceSeed {
        walk: &mut walk,
        place,
    }
    .deserialize(&mut de);
    walk.errors
}

/// How Go's decoder treats one place of the document.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// Decoded into the Go type of this schema node.
    Typed(NodeId),
    /// Decoded into `interface{}`: every object is a map.
    Free,
    /// Not decoded key by key: skipped, or handed whole to a type's own
    /// decoder.
    Skip,
}

/// How the keys of one object are decoded.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// A struct's fields: other keys are unknown, and skipped.
    Struct(NodeId),
    /// A map's keys, every value decoded as this place.
    Map(Place),
}

struct Walk<'t> {
    tree: Option<&'t Tree>,
    /// Go's strict field stack, joined.
    path: String,
    /// How many segments `path` holds (a segment may be empty).
    depth: usize,
    errors: Vec<String>,
    seen: HashSet<String>,
}

impl Walk<'_> {
    /// Saves one problem with the key at the current path; `message`
    /// words it from the full path.
    fn save(&mut self, message: fn(&str) -> String, key: &str) {
        if self.errors.len() >= MAX_STRICT_ERRORS {
            return;
        }
        let message = if self.depth > 0 {
            message(&format!("{}.{key}", self.path))
        } else {
            message(key)
        };
        if self.seen.insert(message.clone()) {
            self.errors.push(message);
        }
    }

    fn push_key(&mut self, key: &str) -> usize {
        let len = self.path.len();
        if self.depth > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        self.depth += 1;
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        let _ = write!(self.path, "[{i}]");
        self.depth += 1;
        len
    }

    fn pop(&mut self, len: usize) {
        self.path.truncate(len);
        self.depth -= 1;
    }

    /// Where Go puts a value found at `place`: a custom decoder's value is
    /// skipped.
    fn resolve(&self, place: Place) -> Place {
        match (place, self.tree) {
            (Place::Typed(id), Some(tree)) => match tree.node(id).go {
                GoKind::Struct(_) | GoKind::Plain => place,
                _ => Place::Skip,
            },
            (Place::Typed(_), None) => Place::Free,
            _ => place,
        }
    }

    /// How the keys of an object found at `place` are decoded; `None` when
    /// Go would refuse an object there (a type error, reported elsewhere).
    fn object_keys(&self, place: Place) -> Option<Keys> {
        let (id, tree) = match (place, self.tree) {
            (Place::Free, _) => return Some(Keys::Map(Place::Free)),
            (Place::Typed(id), Some(tree)) => (id, tree),
            _ => return None,
        };
        let n = tree.node(id);
        if matches!(n.go, GoKind::Struct(_)) {
            return Some(Keys::Struct(id));
        }
        match n.types {
            None => Some(Keys::Map(Place::Free)),
            Some(t) if t == Types::OBJECT => Some(Keys::Map(match n.additional {
                Some(Additional::Schema(ap)) => Place::Typed(ap),
                _ => Place::Free,
            })),
            Some(_) => None,
        }
    }

    /// The place of each item of an array found at `place`; `None` when Go
    /// would refuse an array there.
    fn items(&self, place: Place) -> Option<Place> {
        let (id, tree) = match (place, self.tree) {
            (Place::Free, _) => return Some(Place::Free),
            (Place::Typed(id), Some(tree)) => (id, tree),
            _ => return None,
        };
        let n = tree.node(id);
        if matches!(n.go, GoKind::Struct(_)) {
            return None;
        }
        match n.types {
            None => Some(Place::Free),
            Some(t) if t == Types::ARRAY => Some(n.items.map_or(Place::Free, Place::Typed)),
            Some(_) => None,
        }
    }
}

struct PlaceSeed<'w, 't> {
    walk: &'w mut Walk<'t>,
    place: Place,
}

impl<'de> DeserializeSeed<'de> for PlaceSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let place = self.walk.resolve(self.place);
        match place {
            Place::Skip => d.deserialize_ignored_any(IgnoredAny).map(drop),
            _ => d.deserialize_any(PlaceSeed {
                walk: self.walk,
                place,
            }),
        }
    }
}

impl<'de> Visitor<'de> for PlaceSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(item) = self.walk.items(self.place) else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            let len = self.walk.push_index(i);
            let more = seq.next_element_seed(PlaceSeed {
                walk: &mut *self.walk,
                place: item,
            })?;
            self.walk.pop(len);
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(keys) = self.walk.object_keys(self.place) else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let tree = self.walk.tree;
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let place = match keys {
                Keys::Map(place) => place,
                Keys::Struct(id) => match tree.and_then(|t| t.node(id).property(&key)) {
                    Some(field) => Place::Typed(field),
                    None => {
                        // Go skips an unknown field's value unread.
                        self.walk.save(unknown_field_message, &key);
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                },
            };
            if seen.contains(&key) {
                self.walk.save(duplicate_field_message, &key);
            }
            let len = self.walk.push_key(&key);
            let result = map.next_value_seed(PlaceSeed {
                walk: &mut *self.walk,
                place,
            });
            self.walk.pop(len);
            result?;
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_matches_serde_json() {
        for text in [
            "{}",
            r#"{"a": 1, "b": [1, -2, 3.5, true, null, "x"], "c": {"d": "é"}}"#,
            r#"{"big": 18446744073709551615, "neg": -9223372036854775808, "f": 1e300}"#,
            r#"{"esc": "a\"b\\c\u00e9\ud83d\ude00"}"#,
        ] {
            let (v, body) = parse_body(text.as_bytes()).unwrap();
            assert_eq!(v, serde_json::from_str::<Value>(text).unwrap(), "{text}");
            assert!(!body.has_duplicates(), "{text}");
        }
    }

    #[test]
    fn parse_errors_match_serde_json() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let deep_object = format!("{}1{}", r#"{"a":"#.repeat(300), "}".repeat(300));
        for text in [
            "",
            "   ",
            "{",
            r#"{"a": }"#,
            r#"{"a": 1} x"#,
            r#"{"a": "\ud800"}"#,
            "[1, 2,]",
            deep.as_str(),
            deep_object.as_str(),
        ] {
            let ours = parse_body(text.as_bytes()).unwrap_err();
            let theirs = serde_json::from_str::<Value>(text).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
            assert_eq!(ours.classify(), theirs.classify(), "{text}");
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value_and_are_noticed() {
        let (v, body) = parse_body(br#"{"a": {"x": 1}, "b": [{"k": 1, "k": 2}]}"#).unwrap();
        assert!(body.has_duplicates());
        assert_eq!(v, serde_json::json!({"a": {"x": 1}, "b": [{"k": 2}]}));
        let (v, body) = parse_body(br#"{"a": 1, "a": {"b": 2}}"#).unwrap();
        assert!(body.has_duplicates());
        assert_eq!(v, serde_json::json!({"a": {"b": 2}}));
    }

    fn free(text: &str) -> Vec<String> {
        let (_, body) = parse_body(text.as_bytes()).unwrap();
        strict_errors(None, &body)
    }

    #[test]
    fn free_form_duplicates_come_in_document_order_with_full_paths() {
        assert_eq!(
            free(
                r#"{"metadata": {"name": "a", "name": "b"},
                    "spec": {"x": 1, "ports": [{"p": 1}, {"p": 1, "p": 2}], "x": 2},
                    "spec": {}}"#
            ),
            [
                r#"duplicate field "metadata.name""#,
                r#"duplicate field "spec.ports[1].p""#,
                r#"duplicate field "spec.x""#,
                r#"duplicate field "spec""#,
            ]
        );
        assert!(free(r#"{"a": {"b": [{"c": 1}]}}"#).is_empty());
        assert!(free("{}").is_empty());
    }

    #[test]
    fn each_duplicate_is_reported_once() {
        assert_eq!(
            free(r#"{"a": 1, "a": 2, "a": 3}"#),
            [r#"duplicate field "a""#]
        );
        // Another object at the same path is a fresh object, but reports
        // under the same words only once.
        assert_eq!(
            free(r#"{"s": {"k": 1, "k": 2}, "s": {"k": 1, "k": 2}}"#),
            [r#"duplicate field "s.k""#, r#"duplicate field "s""#]
        );
    }

    #[test]
    fn at_most_a_hundred_problems_are_reported() {
        let mut text = String::from("{");
        for i in 0..150 {
            text.push_str(&format!(r#""k{i}": {{"a": 1, "a": 2}},"#));
        }
        text.push_str(r#""end": 1}"#);
        let errors = free(&text);
        assert_eq!(errors.len(), 100);
        assert_eq!(errors[99], r#"duplicate field "k99.a""#);
    }

    #[test]
    fn keys_are_unescaped_and_quoted_like_go() {
        assert_eq!(
            free(
                r#"{"a\"b": 1, "a\u0022b": 2, "日本": {"é": 1, "\u00e9": 2}, "t\tab": 0, "t\tab": 1}"#
            ),
            [
                r#"duplicate field "a\"b""#,
                r#"duplicate field "日本.é""#,
                r#"duplicate field "t\tab""#,
            ]
        );
    }

    #[test]
    fn empty_keys_are_path_segments_as_in_go() {
        // Go joins its field stack: an empty first key still takes a dot.
        assert_eq!(
            free(r#"{"": {"a": 1, "a": 2}, "": 0}"#),
            [r#"duplicate field ".a""#, r#"duplicate field """#]
        );
    }
}
