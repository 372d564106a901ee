//! What kube's JSON decoder says about a built-in object.
//!
//! Built-in kinds are not checked against their OpenAPI schema: the body is
//! decoded into Go structs, and what goes wrong there comes back as
//! `400 BadRequest`. A value of the wrong JSON type is Go's
//! `UnmarshalTypeError` (`json: cannot unmarshal string into Go struct field
//! DeploymentSpec.spec.replicas of type int32`), only the first one is
//! reported, and some types have their own decoders with their own words
//! (Quantity, Time, base64 bytes). Unknown fields are collected separately
//! by strict decoding, with their full path (`spec.containers[0].foo`).

use serde_json::Value;

use super::MAX_VALUE_DEPTH;
use super::formats::days_in_month;
use super::node::{Additional, GoKind, Node, NodeId, Tree, Types};
use crate::field::go_quote;

/// The outcome of decoding a built-in object as kube would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// The decode error kube answers with `400` whatever the field
    /// validation mode, e.g. `json: cannot unmarshal number into Go struct
    /// field ConfigMap.data of type string`.
    pub error: Option<String>,
    /// Paths of fields the Go types do not have, in the value's key order
    /// (a parsed value has sorted keys; [`super::Schema::strict_errors`]
    /// gives the document's order); strict decoding reports them as
    /// `unknown field "<path>"`.
    pub unknown_fields: Vec<String>,
}

pub(crate) fn check(tree: &Tree, root: NodeId, value: &Value) -> DecodeReport {
    let mut d = Decoder {
        tree,
        fields: Vec::new(),
        strict_path: String::new(),
        saved: None,
        aborted: None,
        unknown: Vec::new(),
        struct_name: None,
    };
    d.value(root, value, 0);
    DecodeReport {
        error: d.aborted.or(d.saved),
        unknown_fields: d.unknown,
    }
}

struct Decoder<'t> {
    tree: &'t Tree,
    /// JSON names of the struct fields on the way down (Go's FieldStack).
    fields: Vec<String>,
    /// The full path with indices and map keys, for unknown fields.
    strict_path: String,
    /// The first type error (Go keeps going after it).
    saved: Option<String>,
    /// An error returned by a custom decoder (Go stops there).
    aborted: Option<String>,
    unknown: Vec<String>,
    /// The innermost Go struct being decoded (Go's errorContext.Struct).
    struct_name: Option<String>,
}

impl Decoder<'_> {
    fn save(&mut self, msg: String) {
        if self.saved.is_none() {
            self.saved = Some(msg);
        }
    }

    /// Go's `UnmarshalTypeError` text with the current struct and field.
    fn type_error(&self, what: &str, go_type: &str) -> String {
        if self.struct_name.is_some() || !self.fields.is_empty() {
            let s = self
                .struct_name
                .as_deref()
                .map(|s| s.rsplit('.').next().unwrap_or(s))
                .unwrap_or("");
            format!(
                "json: cannot unmarshal {what} into Go struct field {s}.{} of type {go_type}",
                self.fields.join(".")
            )
        } else {
            format!("json: cannot unmarshal {what} into Go value of type {go_type}")
        }
    }

    fn value(&mut self, id: NodeId, v: &Value, depth: usize) {
        if self.aborted.is_some() || depth > MAX_VALUE_DEPTH || v.is_null() {
            return;
        }
        let tree = self.tree;
        let n = tree.node(id);
        match &n.go {
            GoKind::Any => {}
            GoKind::IntOrString => {
                if !v.is_string() {
                    self.int32(v, true);
                }
            }
            GoKind::Quantity => {
                let text = match v {
                    Value::String(s) => s.trim().to_string(),
                    Value::Number(num) => num.to_string(),
                    other => other.to_string(),
                };
                if let Err(e) = parse_quantity(&text) {
                    self.aborted = Some(e.to_string());
                }
            }
            GoKind::Time | GoKind::MicroTime => match v {
                Value::String(s) => {
                    let layout = if n.go == GoKind::Time {
                        "2006-01-02T15:04:05Z07:00"
                    } else {
                        "2006-01-02T15:04:05.000000Z07:00"
                    };
                    if let Err(e) = parse_time(layout, s) {
                        self.aborted = Some(e);
                    }
                }
                other => self.aborted = Some(self.type_error(json_kind(other), "string")),
            },
            GoKind::Struct(name) => match v {
                Value::Object(map) => {
                    let outer = self.struct_name.replace(name.to_string());
                    for (k, fv) in map {
                        let len = self.strict_path.len();
                        if !self.strict_path.is_empty() {
                            self.strict_path.push('.');
                        }
                        self.strict_path.push_str(k);
                        match n.property(k) {
                            Some(p) => {
                                self.fields.push(k.clone());
                                self.struct_name = Some(name.to_string());
                                self.value(p, fv, depth + 1);
                                self.fields.pop();
                            }
                            None => self.unknown.push(self.strict_path.clone()),
                        }
                        self.strict_path.truncate(len);
                    }
                    self.struct_name = outer;
                }
                other => {
                    let msg = self.type_error(json_kind(other), &go_type(tree, id));
                    self.save(msg);
                }
            },
            GoKind::Plain => self.plain(n, id, v, depth),
        }
    }

    fn plain(&mut self, n: &Node, id: NodeId, v: &Value, depth: usize) {
        let tree = self.tree;
        let Some(types) = n.types else {
            return;
        };
        if types == Types::STRING {
            match v {
                Value::String(s) => {
                    if n.raw_format.as_deref() == Some("byte")
                        && let Err(at) = go_base64_decode_check(s.as_bytes())
                    {
                        self.save(format!("illegal base64 data at input byte {at}"));
                    }
                }
                other => {
                    let msg = self.type_error(json_kind(other), &go_type(tree, id));
                    self.save(msg);
                }
            }
        } else if types == Types::INTEGER {
            match n.raw_format.as_deref() {
                Some("int32") => self.int32(v, false),
                _ => self.int64(v),
            }
        } else if types == Types::NUMBER {
            if !v.is_number() {
                let msg = self.type_error(json_kind(v), &go_type(tree, id));
                self.save(msg);
            }
        } else if types == Types::BOOLEAN {
            if !v.is_boolean() {
                let msg = self.type_error(json_kind(v), "bool");
                self.save(msg);
            }
        } else if types == Types::ARRAY {
            match v {
                Value::Array(items) => {
                    let Some(item) = n.items else {
                        return;
                    };
                    for (i, iv) in items.iter().enumerate() {
                        let len = self.strict_path.len();
                        self.strict_path.push_str(&format!("[{i}]"));
                        self.value(item, iv, depth + 1);
                        self.strict_path.truncate(len);
                    }
                }
                other => {
                    let msg = self.type_error(json_kind(other), &go_type(tree, id));
                    self.save(msg);
                }
            }
        } else if types == Types::OBJECT {
            match v {
                Value::Object(map) => {
                    let Some(Additional::Schema(ap)) = n.additional else {
                        return;
                    };
                    for (k, fv) in map {
                        let len = self.strict_path.len();
                        if !self.strict_path.is_empty() {
                            self.strict_path.push('.');
                        }
                        self.strict_path.push_str(k);
                        self.value(ap, fv, depth + 1);
                        self.strict_path.truncate(len);
                    }
                }
                other => {
                    let msg = self.type_error(json_kind(other), &go_type(tree, id));
                    self.save(msg);
                }
            }
        }
    }

    /// A Go int32; `returned` marks IntOrString's own decoder, whose error
    /// ends decoding instead of being saved.
    fn int32(&mut self, v: &Value, returned: bool) {
        let msg = match v {
            Value::Number(num) => match num.as_i64() {
                Some(i) if i32::try_from(i).is_ok() => return,
                _ => self.type_error(&format!("number {num}"), "int32"),
            },
            other => self.type_error(json_kind(other), "int32"),
        };
        if returned {
            self.aborted = Some(msg);
        } else {
            self.save(msg);
        }
    }

    fn int64(&mut self, v: &Value) {
        let msg = match v {
            Value::Number(num) => match num.as_i64() {
                Some(_) => return,
                None => self.type_error(&format!("number {num}"), "int64"),
            },
            other => self.type_error(json_kind(other), "int64"),
        };
        self.save(msg);
    }
}

/// The word Go's decoder uses for a JSON value's kind.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The Go type kube decodes a node into, as `reflect.Type.String()`
/// prints it. Named string types (`v1.Protocol`) are not in the schema and
/// print as `string`.
pub(crate) fn go_type(tree: &Tree, id: NodeId) -> String {
    go_type_depth(tree, id, 0)
}

fn go_type_depth(tree: &Tree, id: NodeId, depth: usize) -> String {
    if depth > 16 {
        return "interface {}".to_string();
    }
    let n = tree.node(id);
    match &n.go {
        GoKind::Struct(name) => return name.to_string(),
        GoKind::IntOrString => return "intstr.IntOrString".to_string(),
        GoKind::Quantity => return "resource.Quantity".to_string(),
        GoKind::Time => return "v1.Time".to_string(),
        GoKind::MicroTime => return "v1.MicroTime".to_string(),
        GoKind::Any => return "runtime.RawExtension".to_string(),
        GoKind::Plain => {}
    }
    let Some(t) = n.types else {
        return "interface {}".to_string();
    };
    if t == Types::STRING {
        if n.raw_format.as_deref() == Some("byte") {
            "[]uint8"
        } else {
            "string"
        }
        .to_string()
    } else if t == Types::INTEGER {
        match n.raw_format.as_deref() {
            Some("int32") => "int32",
            Some("int64") => "int64",
            _ => "int",
        }
        .to_string()
    } else if t == Types::NUMBER {
        if n.raw_format.as_deref() == Some("float") {
            "float32"
        } else {
            "float64"
        }
        .to_string()
    } else if t == Types::BOOLEAN {
        "bool".to_string()
    } else if t == Types::ARRAY {
        match n.items {
            Some(i) => format!("[]{}", go_type_depth(tree, i, depth + 1)),
            None => "[]interface {}".to_string(),
        }
    } else {
        match n.additional {
            Some(Additional::Schema(ap)) => {
                format!("map[string]{}", go_type_depth(tree, ap, depth + 1))
            }
            _ => "map[string]interface {}".to_string(),
        }
    }
}

/// Go's `base64.StdEncoding.Decode` error offset, if `src` does not decode.
fn go_base64_decode_check(src: &[u8]) -> Result<(), usize> {
    let decode = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut si = 0;
    while si < src.len() {
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(());
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if decode(c) {
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                return Err(si);
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Errors of apimachinery's `resource.ParseQuantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantityError {
    Format,
    Suffix,
}

impl std::fmt::Display for QuantityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuantityError::Format => {
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            }
            QuantityError::Suffix => "unable to parse quantity's suffix",
        })
    }
}

/// apimachinery's `ParseQuantity`, as far as accepting or rejecting goes.
fn parse_quantity(s: &str) -> Result<(), QuantityError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(QuantityError::Format);
    }
    let mut pos = 0;
    if matches!(b[0], b'-' | b'+') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() {
        if matches!(b[pos], b'-' | b'+') {
            pos += 1;
        }
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos < b.len() {
            return Err(QuantityError::Format);
        }
    }
    let suffix = &s[suffix_start..];
    let ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || ((suffix.starts_with('e') || suffix.starts_with('E'))
        && suffix[1..].parse::<i64>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(QuantityError::Suffix)
    }
}

/// Go's `time.Parse` for the RFC 3339 layouts kube uses, with Go's errors.
pub(crate) fn parse_time(layout: &str, value: &str) -> Result<(), String> {
    let bad = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            go_quote(value),
            go_quote(layout),
            go_quote(rest),
            go_quote(elem)
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", go_quote(value));
    let digits =
        |s: &str, n: usize| s.len() >= n && s.as_bytes()[..n].iter().all(u8::is_ascii_digit);
    let mut rest = value;
    // 2006
    if !digits(rest, 4) {
        return Err(bad(rest, "2006"));
    }
    let year: u32 = rest[..4].parse().unwrap_or(0);
    rest = &rest[4..];
    let lit = |rest: &mut &str, l: &str| -> Result<(), String> {
        match rest.strip_prefix(l) {
            Some(r) => {
                *rest = r;
                Ok(())
            }
            None => Err(bad(rest, l)),
        }
    };
    lit(&mut rest, "-")?;
    if !digits(rest, 2) {
        return Err(bad(rest, "01"));
    }
    let month: u32 = rest[..2].parse().unwrap_or(0);
    if !(1..=12).contains(&month) {
        return Err(range("month"));
    }
    rest = &rest[2..];
    lit(&mut rest, "-")?;
    if !digits(rest, 2) {
        return Err(bad(rest, "02"));
    }
    let day: u32 = rest[..2].parse().unwrap_or(0);
    rest = &rest[2..];
    lit(&mut rest, "T")?;
    // 15: one or two digits.
    let hour_len = if digits(rest, 2) {
        2
    } else if digits(rest, 1) {
        1
    } else {
        0
    };
    if hour_len == 0 {
        return Err(bad(rest, "15"));
    }
    let hour: u32 = rest[..hour_len].parse().unwrap_or(0);
    if hour >= 24 {
        return Err(range("hour"));
    }
    rest = &rest[hour_len..];
    lit(&mut rest, ":")?;
    if !digits(rest, 2) {
        return Err(bad(rest, "04"));
    }
    if rest[..2].parse::<u32>().unwrap_or(0) >= 60 {
        return Err(range("minute"));
    }
    rest = &rest[2..];
    lit(&mut rest, ":")?;
    if !digits(rest, 2) {
        return Err(bad(rest, "05"));
    }
    if rest[..2].parse::<u32>().unwrap_or(0) >= 60 {
        return Err(range("second"));
    }
    rest = &rest[2..];
    let micro = layout.contains(".000000");
    if micro {
        let ok = rest.len() >= 7
            && matches!(rest.as_bytes()[0], b'.' | b',')
            && rest.as_bytes()[1..7].iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(bad(rest, ".000000"));
        }
        rest = &rest[7..];
    } else if rest.len() >= 2
        && matches!(rest.as_bytes()[0], b'.' | b',')
        && rest.as_bytes()[1].is_ascii_digit()
    {
        let n = 1 + rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        rest = &rest[n..];
    }
    if let Some(r) = rest.strip_prefix('Z') {
        rest = r;
    } else {
        let b = rest.as_bytes();
        let ok = b.len() >= 6
            && b[3] == b':'
            && matches!(b[0], b'+' | b'-')
            && b[1..3].iter().all(u8::is_ascii_digit)
            && b[4..6].iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(bad(rest, "Z07:00"));
        }
        let hh: u32 = rest[1..3].parse().unwrap_or(0);
        let mm: u32 = rest[4..6].parse().unwrap_or(0);
        if hh > 24 {
            return Err(range("time zone offset hour"));
        }
        if mm > 60 {
            return Err(range("time zone offset minute"));
        }
        rest = &rest[6..];
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            go_quote(value),
            go_quote(rest)
        ));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(range("day"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_offsets_match_go() {
        assert_eq!(go_base64_decode_check(b"aGVsbG8="), Ok(()));
        assert_eq!(go_base64_decode_check(b""), Ok(()));
        assert_eq!(go_base64_decode_check(b"aGVsbG8"), Err(4));
        assert_eq!(go_base64_decode_check(b"a!=="), Err(1));
        assert_eq!(go_base64_decode_check(b"aGk=x"), Err(4));
        assert_eq!(go_base64_decode_check(b"a==="), Err(1));
        assert_eq!(go_base64_decode_check(b"aG\nVs"), Ok(()));
        assert_eq!(go_base64_decode_check(b"aG="), Err(3));
    }

    #[test]
    fn quantities_parse_like_apimachinery() {
        for ok in [
            "1", "1.5", "100m", "1Gi", "+1", "-2k", "1e3", "1E-2", ".5", "0",
        ] {
            assert_eq!(parse_quantity(ok), Ok(()), "{ok}");
        }
        assert_eq!(parse_quantity(""), Err(QuantityError::Format));
        assert_eq!(parse_quantity("abc"), Err(QuantityError::Format));
        assert_eq!(parse_quantity("true"), Err(QuantityError::Format));
        assert_eq!(parse_quantity("1Gb"), Err(QuantityError::Format));
        assert_eq!(parse_quantity("1mm"), Err(QuantityError::Suffix));
        assert_eq!(parse_quantity("1Kii"), Err(QuantityError::Suffix));
    }

    #[test]
    fn times_fail_with_go_messages() {
        let l = "2006-01-02T15:04:05Z07:00";
        assert_eq!(parse_time(l, "2024-01-02T03:04:05Z"), Ok(()));
        assert_eq!(parse_time(l, "2024-01-02T03:04:05.123+02:00"), Ok(()));
        assert_eq!(
            parse_time(l, "yesterday").unwrap_err(),
            r#"parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006""#
        );
        assert_eq!(
            parse_time(l, "").unwrap_err(),
            r#"parsing time "" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "2006""#
        );
        assert_eq!(
            parse_time(l, "2024-01-02").unwrap_err(),
            r#"parsing time "2024-01-02" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T""#
        );
        assert_eq!(
            parse_time(l, "2024-13-02T00:00:00Z").unwrap_err(),
            r#"parsing time "2024-13-02T00:00:00Z": month out of range"#
        );
        assert_eq!(
            parse_time(l, "2023-02-29T00:00:00Z").unwrap_err(),
            r#"parsing time "2023-02-29T00:00:00Z": day out of range"#
        );
        assert_eq!(
            parse_time(l, "2024-01-02T03:04:05Zjunk").unwrap_err(),
            r#"parsing time "2024-01-02T03:04:05Zjunk": extra text: "junk""#
        );
        assert_eq!(
            parse_time(l, "2024-01-02T03:04:05").unwrap_err(),
            r#"parsing time "2024-01-02T03:04:05" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00""#
        );
        let micro = "2006-01-02T15:04:05.000000Z07:00";
        assert_eq!(parse_time(micro, "2024-01-02T03:04:05.000001Z"), Ok(()));
        assert_eq!(
            parse_time(micro, "2024-01-02T03:04:05Z").unwrap_err(),
            r#"parsing time "2024-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000""#
        );
    }
}
