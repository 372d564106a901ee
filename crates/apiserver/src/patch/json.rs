//! JSON as kube-apiserver's Go code reads, writes and prints it.
//!
//! The patch code paths answer with Go's own words when a body is not JSON
//! (`invalid character 'x' looking for beginning of value`), accept what Go
//! accepts (invalid UTF-8 becomes U+FFFD byte by byte), keep integers and
//! floats apart the way `UnmarshalCaseSensitivePreserveInts` does, and notice
//! duplicate keys the way `sigs.k8s.io/json`'s strict mode reports them. None
//! of that is what `serde_json` does, so the parser here is kube's.
//!
//! The parser is iterative, so no body can overflow the stack while being
//! read, and it refuses nesting deeper than [`MAX_DEPTH`] with Go's
//! `exceeded max depth` wording.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// The deepest nesting a patch body may have. Go allows 10000 levels, but
/// every `serde_json::Value` operation (clone, compare, drop, serialize) is
/// recursive and would overflow a 2 MiB async worker stack long before that,
/// so the limit is lower here; the refusal keeps Go's wording.
pub const MAX_DEPTH: usize = 1000;

/// A parsed JSON document that still knows how each scalar was written,
/// because evanphx/json-patch compares scalars by their bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written.
    Number(&'a str),
    /// A string: the decoded text and the literal as written, quotes included.
    String(String, &'a [u8]),
    /// An array.
    Array(Vec<Node<'a>>),
    /// An object, every member in order, duplicates kept.
    Object(Vec<(String, Node<'a>)>),
}

impl Node<'_> {
    /// What Go's `UnmarshalTypeError` calls this kind of value.
    pub(crate) fn go_kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "bool",
            Node::Number(_) => "number",
            Node::String(..) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
        }
    }

    /// The value Go would hold after decoding into `interface{}` with
    /// integers preserved: later duplicate keys win, integers that fit an
    /// int64 stay integers, every other number is a float64.
    pub(crate) fn to_value(&self) -> Result<Value, String> {
        Ok(match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(raw) => number_value(raw)?,
            Node::String(s, _) => Value::String(s.clone()),
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(item.to_value()?);
                }
                Value::Array(out)
            }
            Node::Object(members) => {
                let mut out = Map::new();
                for (k, v) in members {
                    out.insert(k.clone(), v.to_value()?);
                }
                Value::Object(out)
            }
        })
    }

    /// The members of an object, the last of each duplicated key winning,
    /// in first-appearance order.
    pub(crate) fn last_members(members: &[(String, Node<'_>)]) -> Vec<usize> {
        let mut keep: Vec<usize> = Vec::with_capacity(members.len());
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, (k, _)) in members.iter().enumerate() {
            match seen.get(k.as_str()) {
                Some(&slot) => keep[slot] = i,
                None => {
                    seen.insert(k.as_str(), keep.len());
                    keep.push(i);
                }
            }
        }
        keep
    }
}

/// Turns a JSON number literal into the Go value `PreserveInts` decoding
/// makes of it.
fn number_value(raw: &str) -> Result<Value, String> {
    if let Ok(i) = raw.parse::<i64>() {
        return Ok(Value::Number(Number::from(i)));
    }
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| float_error(raw)),
        _ => Err(float_error(raw)),
    }
}

fn float_error(raw: &str) -> String {
    format!("json: cannot unmarshal number {raw} into Go value of type float64")
}

/// Reads a JSON document, failing with Go's `encoding/json` syntax errors.
pub(crate) fn parse(input: &[u8]) -> Result<Node<'_>, String> {
    Parser { input, pos: 0 }.document()
}

/// One container being filled while the parser walks the document.
enum Frame<'a> {
    Array(Vec<Node<'a>>),
    Object(Vec<(String, Node<'a>)>, Option<String>),
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if is_space(c) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn unexpected_end() -> String {
        "unexpected end of JSON input".to_string()
    }

    fn document(mut self) -> Result<Node<'a>, String> {
        let mut stack: Vec<Frame<'a>> = Vec::new();
        // A value has just been completed and must be placed.
        let mut done: Option<Node<'a>>;
        loop {
            // Expect the beginning of a value.
            self.skip_space();
            let c = self.peek().ok_or_else(Self::unexpected_end)?;
            done = match c {
                b'{' | b'[' => {
                    if stack.len() + 1 > MAX_DEPTH {
                        return Err(syntax(c, "exceeded max depth"));
                    }
                    self.pos += 1;
                    self.skip_space();
                    let next = self.peek().ok_or_else(Self::unexpected_end)?;
                    if c == b'[' {
                        if next == b']' {
                            self.pos += 1;
                            Some(Node::Array(Vec::new()))
                        } else {
                            stack.push(Frame::Array(Vec::new()));
                            None
                        }
                    } else if next == b'}' {
                        self.pos += 1;
                        Some(Node::Object(Vec::new()))
                    } else {
                        let key = self.object_key()?;
                        stack.push(Frame::Object(Vec::new(), Some(key)));
                        None
                    }
                }
                _ => Some(self.scalar(c)?),
            };
            // Place completed values, closing containers as they end.
            while let Some(value) = done.take() {
                let Some(top) = stack.last_mut() else {
                    self.skip_space();
                    if let Some(c) = self.peek() {
                        return Err(syntax(c, "after top-level value"));
                    }
                    return Ok(value);
                };
                self.skip_space();
                let c = self.peek().ok_or_else(Self::unexpected_end)?;
                match top {
                    Frame::Array(items) => {
                        items.push(value);
                        match c {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                if let Some(Frame::Array(items)) = stack.pop() {
                                    done = Some(Node::Array(items));
                                }
                            }
                            _ => return Err(syntax(c, "after array element")),
                        }
                    }
                    Frame::Object(members, key) => {
                        let k = key.take().unwrap_or_default();
                        members.push((k, value));
                        match c {
                            b',' => {
                                self.pos += 1;
                                let k = self.object_key()?;
                                *key = Some(k);
                            }
                            b'}' => {
                                self.pos += 1;
                                if let Some(Frame::Object(members, _)) = stack.pop() {
                                    done = Some(Node::Object(members));
                                }
                            }
                            _ => return Err(syntax(c, "after object key:value pair")),
                        }
                    }
                }
            }
        }
    }

    /// Reads `"key" :` and leaves the position at the value.
    fn object_key(&mut self) -> Result<String, String> {
        self.skip_space();
        let c = self.peek().ok_or_else(Self::unexpected_end)?;
        if c != b'"' {
            return Err(syntax(c, "looking for beginning of object key string"));
        }
        let (key, _) = self.string()?;
        self.skip_space();
        let c = self.peek().ok_or_else(Self::unexpected_end)?;
        if c != b':' {
            return Err(syntax(c, "after object key"));
        }
        self.pos += 1;
        Ok(key)
    }

    fn scalar(&mut self, c: u8) -> Result<Node<'a>, String> {
        match c {
            b'"' => {
                let (s, raw) = self.string()?;
                Ok(Node::String(s, raw))
            }
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true", "true").map(|_| Node::Bool(true)),
            b'f' => self.literal(b"false", "false").map(|_| Node::Bool(false)),
            b'n' => self.literal(b"null", "null").map(|_| Node::Null),
            _ => Err(syntax(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &[u8], name: &str) -> Result<(), String> {
        self.pos += 1;
        for &want in &word[1..] {
            let c = self.peek().ok_or_else(Self::unexpected_end)?;
            if c != want {
                return Err(syntax(
                    c,
                    &format!("in literal {name} (expecting {})", quote_char(want)),
                ));
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<Node<'a>, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
            match self.peek() {
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(syntax(c, "in numeric literal")),
                None => return Err(Self::unexpected_end()),
            }
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            match self.peek() {
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(syntax(c, "after decimal point in numeric literal")),
                None => return Err(Self::unexpected_end()),
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            match self.peek() {
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(syntax(c, "in exponent of numeric literal")),
                None => return Err(Self::unexpected_end()),
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        // The literal is ASCII digits and signs only, so it is valid UTF-8.
        let raw = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or("0");
        Ok(Node::Number(raw))
    }

    /// Reads a string literal, decoding it as Go does: escapes, surrogate
    /// pairs (a lone surrogate becomes U+FFFD) and every byte that is not
    /// part of valid UTF-8 replaced by U+FFFD on its own.
    fn string(&mut self) -> Result<(String, &'a [u8]), String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or_else(Self::unexpected_end)?;
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok((out, &self.input[start..self.pos]));
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(Self::unexpected_end)?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let r = self.hex4()?;
                            if (0xD800..0xE000).contains(&r) {
                                // A high surrogate followed by a low one is a pair.
                                if (0xD800..0xDC00).contains(&r)
                                    && self.input.get(self.pos) == Some(&b'\\')
                                    && self.input.get(self.pos + 1) == Some(&b'u')
                                {
                                    let save = self.pos;
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        let cp = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
                                        out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                        continue;
                                    }
                                    self.pos = save;
                                }
                                out.push('\u{FFFD}');
                            } else {
                                out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
                            }
                        }
                        other => return Err(syntax(other, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(syntax(c, "in string literal")),
                c if c < 0x80 => {
                    out.push(c as char);
                    self.pos += 1;
                }
                c => {
                    let width = match c {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => 0,
                    };
                    let end = self.pos + width;
                    let decoded = if width > 0 && end <= self.input.len() {
                        std::str::from_utf8(&self.input[self.pos..end]).ok()
                    } else {
                        None
                    };
                    match decoded {
                        Some(s) => {
                            out.push_str(s);
                            self.pos = end;
                        }
                        None => {
                            out.push('\u{FFFD}');
                            self.pos += 1;
                        }
                    }
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut r = 0u32;
        for _ in 0..4 {
            let c = self.peek().ok_or_else(Self::unexpected_end)?;
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(syntax(c, "in \\u hexadecimal character escape")),
            };
            r = r * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(r)
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `SyntaxError` text for an unexpected byte.
fn syntax(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

/// Go's `quoteChar`: a byte shown as a quoted character literal, the byte
/// taken as the code point of the same number.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            let quoted = go_quote_rune(char::from(c));
            format!("'{quoted}'")
        }
    }
}

/// The inside of Go's `strconv.Quote` for one character.
fn go_quote_rune(c: char) -> String {
    match c {
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{b}' => "\\v".into(),
        '\\' => "\\\\".into(),
        '"' => "\\\"".into(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
        c if (0x80..0xa0).contains(&(c as u32)) || c as u32 == 0xad => {
            format!("\\u{:04x}", c as u32)
        }
        c => c.to_string(),
    }
}

/// Reports every duplicated key in document order, as `sigs.k8s.io/json`
/// does in strict mode: `duplicate field "spec.paused"`, array elements as
/// `[0]`.
pub(crate) fn duplicate_fields(node: &Node<'_>) -> Vec<String> {
    let mut out = Vec::new();
    walk_duplicates(node, &mut String::new(), &mut out);
    out
}

fn walk_duplicates(node: &Node<'_>, path: &mut String, out: &mut Vec<String>) {
    match node {
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                walk_duplicates(item, path, out);
                path.truncate(len);
            }
        }
        Node::Object(members) => {
            let mut seen = std::collections::HashSet::new();
            for (k, v) in members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if !seen.insert(k.as_str()) {
                    out.push(format!("duplicate field {}", go_quote(path)));
                }
                walk_duplicates(v, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Go's `%q` of a string (`strconv.Quote`).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        out.push_str(&go_quote_rune(c));
    }
    out.push('"');
    out
}

/// Whether a value is a Go float64 rather than an int64 once decoded.
pub(crate) fn is_float(n: &Number) -> bool {
    !(n.is_i64() || n.is_u64())
}

/// The Go type a JSON value decodes to, as `reflect.TypeOf(v).String()`
/// names it; `None` for `nil`, whose type has no name.
pub(crate) fn go_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some("bool"),
        Value::Number(n) if is_float(n) => Some("float64"),
        Value::Number(_) => Some("int64"),
        Value::String(_) => Some("string"),
        Value::Array(_) => Some("[]interface {}"),
        Value::Object(_) => Some("map[string]interface {}"),
    }
}

/// `%s` of a `reflect.Type`, a nil type included.
pub(crate) fn go_type_s(v: &Value) -> String {
    go_type(v).map_or_else(|| "%!s(<nil>)".to_string(), str::to_string)
}

/// Go's `%v` of a decoded JSON value: `map[a:1 b:[x y]]`.
pub(crate) fn go_v(v: &Value) -> String {
    let mut out = String::new();
    fmt_value(v, false, &mut out);
    out
}

/// Go's `%s` of a decoded JSON value: strings plain, other scalars as
/// `%!s(int64=5)`.
pub(crate) fn go_s(v: &Value) -> String {
    let mut out = String::new();
    fmt_value(v, true, &mut out);
    out
}

fn fmt_value(v: &Value, verb_s: bool, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_value(item, verb_s, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(item) = map.get(k) {
                    fmt_value(item, verb_s, out);
                }
            }
            out.push(']');
        }
        scalar => {
            let plain = match scalar {
                Value::Null => "<nil>".to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => go_number_v(n),
                _ => String::new(),
            };
            if verb_s {
                match go_type(scalar) {
                    Some(t) => {
                        let _ = write!(out, "%!s({t}={plain})");
                    }
                    None => out.push_str("%!s(<nil>)"),
                }
            } else {
                out.push_str(&plain);
            }
        }
    }
}

/// Go's `%v` of a number: int64 in decimal, float64 as `strconv` 'g' with
/// the shortest precision (`1e+06`, `0.5`, `123456`).
fn go_number_v(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // With the shortest precision Go switches to %e when the decimal
    // exponent is below -4 or at least 6.
    let exp = decimal_exponent(f);
    if f != 0.0 && !(-4..6).contains(&exp) {
        go_e_format(f)
    } else {
        format!("{f}")
    }
}

/// The decimal exponent of a float in scientific notation.
fn decimal_exponent(f: f64) -> i32 {
    let s = format!("{:e}", f.abs());
    s.split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0)
}

/// Go's `%e`-style shortest form: `1e+21`, `1.5e-07`.
fn go_e_format(f: f64) -> String {
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Encodes a value as Go's `encoding/json` would: compact, object keys
/// sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, floats in Go's form.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_json_number(n)),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                if let Some(item) = map.get(k) {
                    write_go_json(item, out);
                }
            }
            out.push('}');
        }
    }
}

/// A number as Go's JSON encoder writes it.
pub(crate) fn go_json_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if exp < 0 {
            format!("{mantissa}e-{}", exp.abs())
        } else {
            format!("{mantissa}e+{exp:02}")
        }
    } else {
        format!("{f}")
    }
}

/// A string as Go's JSON encoder writes it, HTML escaping on.
pub(crate) fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Removes insignificant whitespace from a JSON literal, as Go's
/// `json.Compact` does (strings untouched).
pub(crate) fn compact(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for &c in raw {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
            out.push(c);
        } else if !is_space(c) {
            out.push(c);
        }
    }
    out
}

/// How deep a value nests (a scalar is 0, `[]` is 1), measured without
/// recursion so a value of any depth can be checked.
pub(crate) fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(map) => {
                max = max.max(d + 1);
                stack.extend(map.values().map(|i| (i, d + 1)));
            }
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(s: &str) -> String {
        parse(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn syntax_errors_read_like_go() {
        assert_eq!(err(""), "unexpected end of JSON input");
        assert_eq!(err("  "), "unexpected end of JSON input");
        assert_eq!(err("{"), "unexpected end of JSON input");
        assert_eq!(
            err("x"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            err("{1}"),
            "invalid character '1' looking for beginning of object key string"
        );
        assert_eq!(err(r#"{"a" 1}"#), "invalid character '1' after object key");
        assert_eq!(
            err(r#"{"a":1 "b"}"#),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(err("[1 2]"), "invalid character '2' after array element");
        assert_eq!(err("{} x"), "invalid character 'x' after top-level value");
        assert_eq!(err("tru"), "unexpected end of JSON input");
        assert_eq!(
            err("trux"),
            "invalid character 'x' in literal true (expecting 'e')"
        );
        assert_eq!(
            err("nul!"),
            "invalid character '!' in literal null (expecting 'l')"
        );
        assert_eq!(err("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            err("1.x"),
            "invalid character 'x' after decimal point in numeric literal"
        );
        assert_eq!(
            err("1ex"),
            "invalid character 'x' in exponent of numeric literal"
        );
        assert_eq!(err("01"), "invalid character '1' after top-level value");
        assert_eq!(err("\"a\nb\""), "invalid character '\\n' in string literal");
        assert_eq!(
            err(r#""\q""#),
            "invalid character 'q' in string escape code"
        );
        assert_eq!(
            err(r#""\u12x4""#),
            "invalid character 'x' in \\u hexadecimal character escape"
        );
        assert_eq!(
            err("'a'"),
            "invalid character '\\'' looking for beginning of value"
        );
        assert_eq!(
            err("\u{1}"),
            "invalid character '\\x01' looking for beginning of value"
        );
        assert_eq!(
            err("[1,]"),
            "invalid character ']' looking for beginning of value"
        );
        assert_eq!(
            parse(b"\xff").unwrap_err(),
            "invalid character 'ÿ' looking for beginning of value"
        );
    }

    #[test]
    fn nesting_past_the_limit_is_refused_without_recursion() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err(),
            "invalid character '[' exceeded max depth"
        );
        let huge = "{\"a\":".repeat(200_000);
        assert_eq!(
            parse(huge.as_bytes()).unwrap_err(),
            "invalid character '{' exceeded max depth"
        );
    }

    #[test]
    fn strings_decode_like_go() {
        let n = parse(br#""a\u00e9\ud83d\ude00\ud800x\/""#).unwrap();
        assert_eq!(n.to_value().unwrap(), json!("aé😀\u{FFFD}x/"));
        // Each byte of broken UTF-8 becomes its own replacement character.
        let n = parse(b"\"\xe2\x82\xff\"").unwrap();
        assert_eq!(n.to_value().unwrap(), json!("\u{FFFD}\u{FFFD}\u{FFFD}"));
    }

    #[test]
    fn numbers_keep_ints_apart_from_floats() {
        let v = parse(b"[1, -0, 1.0, 1e2, 9223372036854775808]")
            .unwrap()
            .to_value()
            .unwrap();
        assert_eq!(v, json!([1, 0, 1.0, 100.0, 9223372036854775808.0]));
        assert!(is_float(v[2].as_number().unwrap()));
        assert_eq!(
            parse(b"1e999").unwrap().to_value().unwrap_err(),
            "json: cannot unmarshal number 1e999 into Go value of type float64"
        );
    }

    #[test]
    fn duplicates_are_reported_with_their_path() {
        let n = parse(br#"{"a":1,"a":2,"s":{"x":[{"k":1,"k":2}],"x":0}}"#).unwrap();
        assert_eq!(
            duplicate_fields(&n),
            vec![
                r#"duplicate field "a""#,
                r#"duplicate field "s.x[0].k""#,
                r#"duplicate field "s.x""#
            ]
        );
        assert_eq!(n.to_value().unwrap()["a"], json!(2));
    }

    #[test]
    fn go_formatting() {
        let v = json!({"b": [1, "x", null], "a": {"c": true}, "f": 0.5});
        assert_eq!(go_v(&v), "map[a:map[c:true] b:[1 x <nil>] f:0.5]");
        assert_eq!(go_s(&json!(5)), "%!s(int64=5)");
        assert_eq!(go_s(&json!("merge")), "merge");
        assert_eq!(go_v(&json!(1_000_000.0)), "1e+06");
        assert_eq!(go_v(&json!(123_456.0)), "123456");
        assert_eq!(go_v(&json!(0.00001)), "1e-05");
        assert_eq!(
            go_json(&json!({"b": "<&>", "a": 1.5e21, "c": 2.0})),
            r#"{"a":1.5e+21,"b":"\u003c\u0026\u003e","c":2}"#
        );
        assert_eq!(go_json(&json!(1e-7)), "1e-7");
        assert_eq!(go_type_s(&json!(null)), "%!s(<nil>)");
        assert_eq!(go_type_s(&json!([])), "[]interface {}");
    }

    #[test]
    fn depth_counts_without_recursion() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": [[]]})), 3);
    }
}
