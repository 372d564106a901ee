//! The Swagger 2.0 document in the protobuf form kubectl asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): the
//! messages of gnostic's `openapi_v2` package, written by hand from the
//! JSON document since only the encoding direction is needed.
//!
//! Vendor extensions, defaults, examples and enum values are `Any`
//! messages holding YAML text; JSON is YAML, so the JSON text is written.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Debug, Default)]
struct Writer {
    buf: Vec<u8>,
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            // Truncation keeps the low seven bits, which is the point.
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// A proto3 string: empty ones are not written.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// A string field from a JSON member, if it is a string.
    fn string_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(Value::String(s)) = v.get(key) {
            self.string(field, s);
        }
    }

    /// Every string of a JSON array (or a lone string) as a repeated field.
    fn strings_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        match v.get(key) {
            Some(Value::Array(items)) => {
                for s in items.iter().filter_map(Value::as_str) {
                    self.bytes(field, s.as_bytes());
                }
            }
            Some(Value::String(s)) => self.bytes(field, s.as_bytes()),
            _ => {}
        }
    }

    fn bool_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if v.get(key).and_then(Value::as_bool) == Some(true) {
            self.key(field, VARINT);
            self.varint(1);
        }
    }

    fn int64_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(n) = v.get(key).and_then(Value::as_i64)
            && n != 0
        {
            self.key(field, VARINT);
            // Two's complement is protobuf's encoding of negative int64s.
            self.varint(n as u64);
        }
    }

    fn double_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(n) = v.get(key).and_then(Value::as_f64)
            && n != 0.0
        {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
    }

    fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        write(&mut inner);
        self.bytes(field, &inner.buf);
    }

    /// `Any { yaml }` holding a JSON value.
    fn any(&mut self, field: u32, v: &Value) {
        let text = v.to_string();
        self.message(field, |w| w.string(2, &text));
    }

    fn any_of(&mut self, field: u32, v: &Map<String, Value>, key: &str) {
        if let Some(value) = v.get(key) {
            self.any(field, value);
        }
    }

    /// The `x-` members of an object as repeated `NamedAny`.
    fn vendor_extensions(&mut self, field: u32, v: &Map<String, Value>) {
        for (name, value) in v.iter().filter(|(k, _)| k.starts_with("x-")) {
            self.message(field, |w| {
                w.string(1, name);
                w.any(2, value);
            });
        }
    }
}

/// Encodes a Swagger 2.0 document as an `openapi.v2.Document`.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    let Some(doc) = doc.as_object() else {
        return w.buf;
    };
    w.string_of(1, doc, "swagger");
    if let Some(Value::Object(info)) = doc.get("info") {
        w.message(2, |w| {
            w.string_of(1, info, "title");
            w.string_of(2, info, "version");
            w.string_of(3, info, "description");
            w.vendor_extensions(7, info);
        });
    }
    w.string_of(3, doc, "host");
    w.string_of(4, doc, "basePath");
    w.strings_of(5, doc, "schemes");
    w.strings_of(6, doc, "consumes");
    w.strings_of(7, doc, "produces");
    if let Some(Value::Object(paths)) = doc.get("paths") {
        w.message(8, |w| {
            w.vendor_extensions(1, paths);
            for (name, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                w.message(2, |w| {
                    w.string(1, name);
                    w.message(2, |w| path_item(w, item));
                });
            }
        });
    }
    if let Some(Value::Object(defs)) = doc.get("definitions") {
        w.message(9, |w| named_schemas(w, defs));
    }
    if let Some(Value::Array(reqs)) = doc.get("security") {
        for req in reqs.iter().filter_map(Value::as_object) {
            w.message(12, |w| {
                for (name, scopes) in req {
                    w.message(1, |w| {
                        w.string(1, name);
                        w.message(2, |w| {
                            for s in scopes
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                            {
                                w.bytes(1, s.as_bytes());
                            }
                        });
                    });
                }
            });
        }
    }
    if let Some(Value::Object(defs)) = doc.get("securityDefinitions") {
        w.message(13, |w| {
            for (name, def) in defs {
                let Some(def) = def.as_object() else { continue };
                w.message(1, |w| {
                    w.string(1, name);
                    w.message(2, |w| security_definition(w, def));
                });
            }
        });
    }
    w.vendor_extensions(16, doc);
    w.buf
}

fn security_definition(w: &mut Writer, def: &Map<String, Value>) {
    // Only the kinds kube publishes: an API key (the bearer token) and
    // basic authentication.
    match def.get("type").and_then(Value::as_str) {
        Some("apiKey") => w.message(2, |w| {
            w.string_of(1, def, "type");
            w.string_of(2, def, "name");
            w.string_of(3, def, "in");
            w.string_of(4, def, "description");
            w.vendor_extensions(5, def);
        }),
        Some("basic") => w.message(1, |w| {
            w.string_of(1, def, "type");
            w.string_of(2, def, "description");
            w.vendor_extensions(3, def);
        }),
        _ => {}
    }
}

fn path_item(w: &mut Writer, item: &Value) {
    let Some(item) = item.as_object() else { return };
    w.string_of(1, item, "$ref");
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(Value::Object(op)) = item.get(method) {
            w.message(field, |w| operation(w, op));
        }
    }
    for p in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(9, |w| parameters_item(w, p));
    }
    w.vendor_extensions(10, item);
}

fn operation(w: &mut Writer, op: &Map<String, Value>) {
    w.strings_of(1, op, "tags");
    w.string_of(2, op, "summary");
    w.string_of(3, op, "description");
    w.string_of(5, op, "operationId");
    w.strings_of(6, op, "produces");
    w.strings_of(7, op, "consumes");
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(8, |w| parameters_item(w, p));
    }
    if let Some(Value::Object(responses)) = op.get("responses") {
        w.message(9, |w| {
            for (code, r) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
                w.message(1, |w| {
                    w.string(1, code);
                    w.message(2, |w| response_value(w, r));
                });
            }
            w.vendor_extensions(2, responses);
        });
    }
    w.strings_of(10, op, "schemes");
    w.bool_of(11, op, "deprecated");
    w.vendor_extensions(13, op);
}

fn response_value(w: &mut Writer, r: &Value) {
    let Some(r) = r.as_object() else { return };
    if r.contains_key("$ref") {
        w.message(2, |w| {
            w.string_of(1, r, "$ref");
            w.string_of(2, r, "description");
        });
        return;
    }
    w.message(1, |w| {
        w.string_of(1, r, "description");
        if let Some(s) = r.get("schema") {
            w.message(2, |w| w.message(1, |w| schema(w, s)));
        }
        w.vendor_extensions(5, r);
    });
}

fn parameters_item(w: &mut Writer, p: &Value) {
    let Some(p) = p.as_object() else { return };
    if p.contains_key("$ref") {
        w.message(2, |w| {
            w.string_of(1, p, "$ref");
            w.string_of(2, p, "description");
        });
        return;
    }
    w.message(1, |w| match p.get("in").and_then(Value::as_str) {
        Some("body") => w.message(1, |w| {
            w.string_of(1, p, "description");
            w.string_of(2, p, "name");
            w.string_of(3, p, "in");
            w.bool_of(4, p, "required");
            if let Some(s) = p.get("schema") {
                w.message(5, |w| schema(w, s));
            }
            w.vendor_extensions(6, p);
        }),
        Some(location) => w.message(2, |w| {
            // header (1), formData (2), query (3) and path (4) share their
            // first fields; after `name`, query and formData have
            // `allowEmptyValue` and so number the rest one higher.
            let (oneof, shifted) = match location {
                "header" => (1, false),
                "formData" => (2, true),
                "query" => (3, true),
                _ => (4, false),
            };
            let n = |f: u32| if shifted { f + 1 } else { f };
            w.message(oneof, |w| {
                w.bool_of(1, p, "required");
                w.string_of(2, p, "in");
                w.string_of(3, p, "description");
                w.string_of(4, p, "name");
                if shifted {
                    w.bool_of(5, p, "allowEmptyValue");
                }
                w.string_of(n(5), p, "type");
                w.string_of(n(6), p, "format");
                w.string_of(n(8), p, "collectionFormat");
                w.any_of(n(9), p, "default");
                w.double_of(n(10), p, "maximum");
                w.bool_of(n(11), p, "exclusiveMaximum");
                w.double_of(n(12), p, "minimum");
                w.bool_of(n(13), p, "exclusiveMinimum");
                w.int64_of(n(14), p, "maxLength");
                w.int64_of(n(15), p, "minLength");
                w.string_of(n(16), p, "pattern");
                w.int64_of(n(17), p, "maxItems");
                w.int64_of(n(18), p, "minItems");
                w.bool_of(n(19), p, "uniqueItems");
                for e in p
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    w.any(n(20), e);
                }
                w.double_of(n(21), p, "multipleOf");
                w.vendor_extensions(n(22), p);
            });
        }),
        None => {}
    });
}

fn named_schemas(w: &mut Writer, schemas: &Map<String, Value>) {
    for (name, s) in schemas {
        w.message(1, |w| {
            w.string(1, name);
            w.message(2, |w| schema(w, s));
        });
    }
}

/// An `openapi.v2.Schema`.
fn schema(w: &mut Writer, s: &Value) {
    let Some(s) = s.as_object() else { return };
    w.string_of(1, s, "$ref");
    w.string_of(2, s, "format");
    w.string_of(3, s, "title");
    w.string_of(4, s, "description");
    w.any_of(5, s, "default");
    w.double_of(6, s, "multipleOf");
    w.double_of(7, s, "maximum");
    w.bool_of(8, s, "exclusiveMaximum");
    w.double_of(9, s, "minimum");
    w.bool_of(10, s, "exclusiveMinimum");
    w.int64_of(11, s, "maxLength");
    w.int64_of(12, s, "minLength");
    w.string_of(13, s, "pattern");
    w.int64_of(14, s, "maxItems");
    w.int64_of(15, s, "minItems");
    w.bool_of(16, s, "uniqueItems");
    w.int64_of(17, s, "maxProperties");
    w.int64_of(18, s, "minProperties");
    w.strings_of(19, s, "required");
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.any(20, e);
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let b = *b;
            w.message(21, |w| {
                w.key(2, VARINT);
                w.varint(u64::from(b));
            });
        }
        Some(sub @ Value::Object(_)) => w.message(21, |w| w.message(1, |w| schema(w, sub))),
        _ => {}
    }
    if s.contains_key("type") {
        w.message(22, |w| w.strings_of(1, s, "type"));
    }
    match s.get("items") {
        Some(Value::Array(items)) => w.message(23, |w| {
            for item in items {
                w.message(1, |w| schema(w, item));
            }
        }),
        Some(item @ Value::Object(_)) => w.message(23, |w| w.message(1, |w| schema(w, item))),
        _ => {}
    }
    for sub in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, |w| schema(w, sub));
    }
    if let Some(Value::Object(props)) = s.get("properties") {
        w.message(25, |w| named_schemas(w, props));
    }
    w.string_of(26, s, "discriminator");
    w.bool_of(27, s, "readOnly");
    w.any_of(30, s, "example");
    w.vendor_extensions(31, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_strings_are_protobuf() {
        let mut w = Writer::default();
        w.varint(300);
        assert_eq!(w.buf, [0xac, 0x02]);
        let mut w = Writer::default();
        w.string(1, "hi");
        assert_eq!(w.buf, [0x0a, 0x02, b'h', b'i']);
        let mut w = Writer::default();
        w.string(1, "");
        assert!(w.buf.is_empty());
    }

    #[test]
    fn a_document_encodes_its_fields() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "definitions": {"a": {"type": "object", "x-kubernetes-list-type": "atomic"}},
        });
        let bytes = encode_document(&doc);
        // swagger = 1, "2.0"
        assert_eq!(&bytes[..5], &[0x0a, 0x03, b'2', b'.', b'0']);
        // The extension's value is JSON text.
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("x-kubernetes-list-type"));
        assert!(text.contains("\"atomic\""));
    }

    #[test]
    fn odd_input_does_not_panic() {
        for v in [
            json!(null),
            json!([]),
            json!("x"),
            json!({"paths": 5, "definitions": []}),
            json!({"paths": {"/a": {"get": {"parameters": [1, {"in": 2}], "responses": {"200": null}}}}}),
        ] {
            let _ = encode_document(&v);
        }
        let mut w = Writer::default();
        w.int64_of(1, json!({"n": -1}).as_object().unwrap(), "n");
        assert_eq!(w.buf.len(), 11);
    }
}
