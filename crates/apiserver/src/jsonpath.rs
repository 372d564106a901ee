//! Kubernetes' JSONPath (`k8s.io/client-go/util/jsonpath`), as printer
//! columns of custom resources and `-o jsonpath` templates use it.
//!
//! A template is parsed once into a [`JsonPath`] and then evaluated against
//! any number of objects. The grammar, the evaluation rules and the error
//! messages follow client-go's, quirks included, because CRD authors write
//! their `additionalPrinterColumns` against kube-apiserver and expect the
//! same cells from us:
//!
//! - `['a.b']` is the same as `.a.b` (two fields), exactly as in client-go:
//!   the key is re-parsed as a dotted path. A dot inside a field name has to
//!   be escaped, `.a.b\.c`.
//! - `[]` means `[0]`, `[-1]` the last element, `[*]` every element;
//!   slices `[a:b:step]` and unions `[0,2]` work as in client-go.
//! - Filters `[?(@.type=="Ready")]` compare only values of the same basic
//!   kind (a number never equals a string, and an integer literal never
//!   equals a JSON float); `[?(@.x)]` keeps the elements where `x` exists.
//! - Missing keys are an error (`x is not found`) unless the path allows
//!   missing keys, as printer columns do; JSON `null` counts as "no value"
//!   wherever client-go sees a nil interface.
//!
//! Wildcards and `..` walk objects in key order (client-go walks Go maps in
//! random order, so any order is kube-compatible; sorted is stable).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use crate::field::{FieldError, Path};

/// What can go wrong parsing or evaluating a template. Each message is
/// client-go's own.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonPathError {
    /// The template ended inside `{...}` or a line ended there.
    #[error("unclosed action")]
    UnclosedAction,
    /// A character that cannot start anything inside `{...}`.
    #[error("unrecognized character in action: {}", go_rune(*.0))]
    UnrecognizedCharacter(char),
    /// `[` without its `]`.
    #[error("unterminated array")]
    UnterminatedArray,
    /// `[?(` without its `)`.
    #[error("unterminated filter")]
    UnterminatedFilter,
    /// `[?(...)` not followed by `]`.
    #[error("unclosed array expect ]")]
    UnclosedFilter,
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A quoted string with a bad escape; the text is the quoted string.
    #[error("unquote string {0} error invalid syntax")]
    BadQuote(String),
    /// `[...]` that is neither a key, an index, a slice nor a union.
    #[error("invalid array index {0}")]
    InvalidIndex(String),
    /// A slice bound that does not fit a number.
    #[error("array index {0} is not a number")]
    IndexNotNumber(String),
    /// A number literal that parses neither as an integer nor a float.
    #[error("cannot parse number {0}")]
    BadNumber(String),
    /// `....`: two recursive descents in a row.
    #[error("invalid multiple recursive descent")]
    MultipleRecursive,
    /// A field that is not there (only when missing keys are not allowed).
    #[error("{0} is not found")]
    NotFound(String),
    /// An index or slice applied to something that is not an array; the
    /// text is Go's name of the value's type.
    #[error("{0} is not array or slice")]
    NotArray(String),
    /// A filter applied to something that is not an array; the text is the
    /// value as Go's `%v` prints it.
    #[error("{0} is not array or slice and cannot be filtered")]
    NotFilterable(String),
    /// An index past either end of the array.
    #[error("array index out of bounds: index {index}, length {length}")]
    OutOfBounds {
        /// The offending index.
        index: i64,
        /// The array's length.
        length: i64,
    },
    /// A slice whose start is after its end.
    #[error("starting index {start} is greater than ending index {end}")]
    StartAfterEnd {
        /// The slice's start.
        start: i64,
        /// The slice's end.
        end: i64,
    },
    /// A slice step of zero or less.
    #[error("step must be > 0")]
    BadStep,
    /// A filter whose side yields several values.
    #[error("can only compare one element at a time")]
    CompareMany,
    /// A filter comparing values of different kinds.
    #[error("incompatible types for comparison")]
    IncompatibleTypes,
    /// A filter comparing values that have no order (or no equality).
    #[error("invalid type for comparison")]
    InvalidComparisonType,
    /// A filter operator that is not one of `< > == != <= >=`.
    #[error("unrecognized filter operator {0}")]
    UnknownOperator(String),
    /// A bare word other than `range` and `end`.
    #[error("unrecognized identifier {0}")]
    UnknownIdentifier(String),
    /// `{end}` outside a `{range}`.
    #[error("not in range, nothing to end")]
    EndWithoutRange,
}

/// One element of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A sequence applied left to right.
    List(Vec<Node>),
    /// Literal text, inside or outside `{}`.
    Text(String),
    /// `.name`.
    Field(String),
    /// `[start:end:step]` and its shorthands.
    Array([Param; 3]),
    /// `[?(left op right)]`, or `[?(left)]` with `op` "exists".
    Filter {
        left: Vec<Node>,
        right: Vec<Node>,
        op: String,
    },
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `.*` or `[*]` inside a union.
    Wildcard,
    /// `..`.
    Recursive,
    /// `[a,b,...]`.
    Union(Vec<Vec<Node>>),
    /// A bare word: `range`, `end`, or an error at evaluation.
    Identifier(String),
}

/// One bound of a slice, as client-go's `ParamsEntry`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Param {
    value: i64,
    known: bool,
    derived: bool,
}

/// A parsed template, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    root: Vec<Node>,
    allow_missing_keys: bool,
    /// The fields of a template that is one plain `{.a.b.c}`, for the fast
    /// path printer columns take on every row.
    simple: Option<Vec<String>>,
}

/// The values a template selects: one list per top-level part of the
/// template (each `{...}` and each piece of literal text). Values borrow
/// from the object where they can.
pub type Results<'a> = Vec<Vec<Cow<'a, Value>>>;

impl JsonPath {
    /// Parses a whole template: literal text with `{...}` actions, as
    /// `kubectl -o jsonpath=` takes it. A printer column's `.spec.x` must
    /// be wrapped as `{.spec.x}` first (kube does the same).
    pub fn parse(template: &str) -> Result<JsonPath, JsonPathError> {
        let root = Parser::new(template).parse()?;
        let simple = simple_fields(&root);
        Ok(JsonPath {
            root,
            allow_missing_keys: false,
            simple,
        })
    }

    /// Whether a missing field yields no value (true) or an error (false,
    /// the default, as in client-go).
    pub fn allow_missing_keys(mut self, allow: bool) -> JsonPath {
        self.allow_missing_keys = allow;
        self
    }

    /// Evaluates the template against `data`: client-go's `FindResults`.
    pub fn find_results<'a>(&self, data: &'a Value) -> Result<Results<'a>, JsonPathError> {
        if let Some(fields) = &self.simple {
            return Ok(vec![self.walk_simple(fields, data)?]);
        }
        let mut eval = Eval {
            allow_missing_keys: self.allow_missing_keys,
            in_range: 0,
        };
        eval.find_results(&self.root, Cow::Borrowed(data))
    }

    /// Evaluates and prints the template as `kubectl -o jsonpath` does:
    /// client-go's `Execute`.
    pub fn execute(&self, data: &Value) -> Result<String, JsonPathError> {
        let results = self.find_results(data)?;
        let mut out = String::new();
        for list in &results {
            out.push_str(&print_results(list));
        }
        Ok(out)
    }

    /// The first value the template selects, if any: what a printer column
    /// shows. Errors count as no value, as in kube's table convertor.
    pub fn first<'a>(&self, data: &'a Value) -> Option<Cow<'a, Value>> {
        if let Some(fields) = &self.simple {
            // The common case, taken on every row of every CRD table.
            let mut cur = data;
            for f in fields {
                cur = cur.as_object()?.get(f.as_str())?;
            }
            return Some(Cow::Borrowed(cur));
        }
        let mut results = self.find_results(data).ok()?;
        if results.is_empty() || results[0].is_empty() {
            return None;
        }
        Some(results.swap_remove(0).swap_remove(0))
    }

    fn walk_simple<'a>(
        &self,
        fields: &[String],
        data: &'a Value,
    ) -> Result<Vec<Cow<'a, Value>>, JsonPathError> {
        let mut cur = data;
        for f in fields {
            // A null anywhere before the end is a nil interface: client-go
            // skips it, and the next field then finds nothing.
            match cur.as_object().and_then(|m| m.get(f.as_str())) {
                Some(v) => cur = v,
                None if self.allow_missing_keys => return Ok(Vec::new()),
                None => return Err(JsonPathError::NotFound(f.clone())),
            }
        }
        Ok(vec![Cow::Borrowed(cur)])
    }
}

/// Prints one list of results as client-go's `PrintResults` does: values
/// separated by single spaces, objects and arrays as compact JSON, strings
/// raw, numbers as Go's `%v`, null as `<nil>`.
pub fn print_results(results: &[Cow<'_, Value>]) -> String {
    let mut out = String::new();
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match r.as_ref() {
            Value::Object(_) | Value::Array(_) => go_json(r, &mut out),
            Value::Null => out.push_str("<nil>"),
            other => out.push_str(&go_text(other)),
        }
    }
    out
}

/// A scalar as Go's `fmt.Fprint` prints it (objects and arrays as JSON).
pub fn go_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => go_number(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".to_string(),
        other => {
            let mut s = String::new();
            go_json(other, &mut s);
            s
        }
    }
}

/// Checks a path that must be "a simple json path": kube's
/// `validateSimpleJSONPath`, used for printer columns and for the scale
/// subresource's paths.
pub fn validate_simple(path: &str, fld_path: &Path) -> Vec<FieldError> {
    if path.is_empty() {
        return vec![FieldError::invalid(
            fld_path,
            Value::String(String::new()),
            "must not be empty",
        )];
    }
    if !path.starts_with('.') {
        return vec![FieldError::invalid(
            fld_path,
            Value::String(path.to_string()),
            "must be a simple json path starting with .",
        )];
    }
    // kube's further check (splitting on dots yields at least one part)
    // can never fail.
    Vec::new()
}

/// The field names of a template that is exactly `{.a.b...}`.
fn simple_fields(root: &[Node]) -> Option<Vec<String>> {
    let [Node::List(nodes)] = root else {
        return None;
    };
    if nodes.is_empty() {
        return None;
    }
    nodes
        .iter()
        .map(|n| match n {
            Node::Field(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// Go's `%#U` of a rune: `U+0025 '%'`, or just `U+0009` when unprintable.
fn go_rune(c: char) -> String {
    // Go's `strconv.IsPrint`: graphic characters and the ASCII space.
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// A hand port of client-go's recursive-descent parser, with loops in
/// place of its tail calls so that no input can exhaust the stack.
struct Parser<'s> {
    input: &'s str,
    pos: usize,
    start: usize,
}

impl<'s> Parser<'s> {
    fn new(input: &'s str) -> Parser<'s> {
        Parser {
            input,
            pos: 0,
            start: 0,
        }
    }

    fn rest(&self) -> &'s str {
        &self.input[self.pos..]
    }

    fn next(&mut self) -> Option<char> {
        let c = self.rest().chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
        }
    }

    fn consume(&mut self) -> &'s str {
        let s = &self.input[self.start..self.pos];
        self.start = self.pos;
        s
    }

    /// The byte two before the cursor: client-go's check for a backslash
    /// before a closing quote.
    fn escaped(&self) -> bool {
        self.pos >= 2 && self.input.as_bytes()[self.pos - 2] == b'\\'
    }

    fn parse(mut self) -> Result<Vec<Node>, JsonPathError> {
        let mut root = Vec::new();
        loop {
            // Literal text up to the next `{`.
            while !self.rest().is_empty() && !self.rest().starts_with('{') {
                self.next();
            }
            if self.pos > self.start {
                root.push(Node::Text(self.consume().to_string()));
            }
            if self.rest().is_empty() {
                return Ok(root);
            }
            self.pos += 1;
            self.consume();
            let list = self.parse_action()?;
            root.push(Node::List(list));
        }
    }

    /// Everything from after a `{` to its `}` (consumed).
    fn parse_action(&mut self) -> Result<Vec<Node>, JsonPathError> {
        let mut cur = Vec::new();
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                self.pos += 1;
                self.consume();
                return Ok(cur);
            }
            if rest.starts_with("[?(") {
                let node = self.parse_filter()?;
                cur.push(node);
                continue;
            }
            if rest.starts_with("..") {
                if matches!(cur.last(), Some(Node::Recursive)) {
                    return Err(JsonPathError::MultipleRecursive);
                }
                self.pos += 2;
                self.consume();
                cur.push(Node::Recursive);
                if self.peek().is_some_and(is_alphanumeric) {
                    cur.push(self.parse_field());
                }
                continue;
            }
            let c = self.next();
            match c {
                None | Some('\r') | Some('\n') => return Err(JsonPathError::UnclosedAction),
                Some(' ') | Some('@') | Some('$') => {
                    self.consume();
                }
                Some('[') => self.parse_array(&mut cur)?,
                Some(q @ ('"' | '\'')) => cur.push(self.parse_quote(q)?),
                Some('.') => cur.push(self.parse_field()),
                Some(d) if d == '+' || d == '-' || d.is_numeric() => {
                    self.backup(c);
                    cur.push(self.parse_number()?);
                }
                Some(a) if is_alphanumeric(a) => {
                    self.backup(c);
                    cur.push(self.parse_identifier());
                }
                Some(other) => return Err(JsonPathError::UnrecognizedCharacter(other)),
            }
        }
    }

    fn parse_identifier(&mut self) -> Node {
        loop {
            let c = self.next();
            if is_terminator(c) {
                self.backup(c);
                break;
            }
        }
        match self.consume() {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            other => Node::Identifier(other.to_string()),
        }
    }

    fn parse_number(&mut self) -> Result<Node, JsonPathError> {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        loop {
            let c = self.next();
            match c {
                Some(d) if d == '.' || d.is_numeric() => {}
                _ => {
                    self.backup(c);
                    break;
                }
            }
        }
        let text = self.consume();
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        // Go's ParseFloat takes "1." and ".5" but not "inf" or "nan" here,
        // since only signs, digits and dots got this far.
        match text.parse::<f64>() {
            Ok(f) if text.bytes().any(|b| b.is_ascii_digit()) => Ok(Node::Float(f)),
            _ => Err(JsonPathError::BadNumber(text.to_string())),
        }
    }

    fn parse_field(&mut self) -> Node {
        self.consume();
        loop {
            let c = self.next();
            if c == Some('\\') {
                self.next();
            } else if is_terminator(c) {
                self.backup(c);
                break;
            }
        }
        let value = self.consume();
        if value == "*" {
            Node::Wildcard
        } else {
            Node::Field(value.replace('\\', ""))
        }
    }

    fn parse_quote(&mut self, quote: char) -> Result<Node, JsonPathError> {
        loop {
            match self.next() {
                None | Some('\n') => return Err(JsonPathError::UnterminatedQuote),
                Some(c) if c == quote && !self.escaped() => break,
                Some(_) => {}
            }
        }
        let text = self.consume();
        unquote(text)
            .map(Node::Text)
            .ok_or_else(|| JsonPathError::BadQuote(text.to_string()))
    }

    fn parse_array(&mut self, cur: &mut Vec<Node>) -> Result<(), JsonPathError> {
        loop {
            match self.next() {
                None | Some('\n') => return Err(JsonPathError::UnterminatedArray),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let consumed = self.consume();
        let mut text = &consumed[1..consumed.len() - 1];
        if text == "*" {
            text = ":";
        }
        if text.contains(',') {
            let mut union = Vec::new();
            for part in text.split(',') {
                let part = part.trim_matches(' ');
                union.push(parse_sub_action(&format!("[{part}]"))?);
            }
            cur.push(Node::Union(union));
            return Ok(());
        }
        if let Some(key) = dict_key(text) {
            cur.extend(parse_sub_action(&format!(".{key}"))?);
            return Ok(());
        }
        cur.push(Node::Array(slice_params(text)?));
        Ok(())
    }

    fn parse_filter(&mut self) -> Result<Node, JsonPathError> {
        self.pos += 3;
        self.consume();
        let mut begin = false;
        let mut end = false;
        let mut pair = '"';
        loop {
            match self.next() {
                None | Some('\n') => return Err(JsonPathError::UnterminatedFilter),
                Some(q @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = q;
                        continue;
                    }
                    if !self.escaped() && q == pair {
                        end = true;
                    }
                }
                Some(')') if begin == end => break,
                Some(_) => {}
            }
        }
        if self.next() != Some(']') {
            return Err(JsonPathError::UnclosedFilter);
        }
        let consumed = self.consume();
        let text = &consumed[..consumed.len() - 2];
        match split_comparison(text) {
            None => Ok(Node::Filter {
                left: parse_sub_action(text)?,
                right: Vec::new(),
                op: "exists".to_string(),
            }),
            Some((left, op, right)) => Ok(Node::Filter {
                left: parse_sub_action(left)?,
                right: parse_sub_action(right)?,
                op: op.to_string(),
            }),
        }
    }
}

/// client-go's `parseAction`: parses `{text}` and keeps its first action.
fn parse_sub_action(text: &str) -> Result<Vec<Node>, JsonPathError> {
    let root = Parser::new(&format!("{{{text}}}")).parse()?;
    Ok(match root.into_iter().next() {
        Some(Node::List(nodes)) => nodes,
        _ => Vec::new(),
    })
}

/// `'key'`: client-go's `^'([^']*)'$`.
fn dict_key(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.contains('\'')).then_some(inner)
}

/// client-go's `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$` and what it makes of
/// the three groups.
fn slice_params(text: &str) -> Result<[Param; 3], JsonPathError> {
    let invalid = || JsonPathError::InvalidIndex(text.to_string());
    let is_bound = |s: &str| {
        let digits = s.strip_prefix('-').unwrap_or(s);
        digits.bytes().all(|b| b.is_ascii_digit())
    };
    let mut groups = text.split(':');
    let first = groups.next().unwrap_or("");
    let second = groups.next();
    let third = groups.next();
    if groups.next().is_some() || !is_bound(first) {
        return Err(invalid());
    }
    if second.is_some_and(|s| !is_bound(s)) || third.is_some_and(|s| !is_bound(s)) {
        return Err(invalid());
    }
    let number = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| JsonPathError::IndexNotNumber(s.to_string()))
    };
    let mut params = [Param::default(); 3];
    if !first.is_empty() {
        params[0] = Param {
            value: number(first)?,
            known: true,
            derived: false,
        };
    }
    match second {
        None => {
            params[1] = Param {
                value: params[0].value.wrapping_add(1),
                known: true,
                derived: true,
            }
        }
        Some("") => {}
        Some(s) => {
            params[1] = Param {
                value: number(s)?,
                known: true,
                derived: false,
            }
        }
    }
    if let Some(s) = third
        && !s.is_empty()
    {
        params[2] = Param {
            value: number(s)?,
            known: true,
            derived: false,
        };
    }
    Ok(params)
}

/// client-go's `^([^!<>=]+)([!<>=]+)(.+?)$` on a filter's text.
fn split_comparison(text: &str) -> Option<(&str, &str, &str)> {
    let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
    let op_start = text.find(is_op)?;
    if op_start == 0 {
        return None;
    }
    let after = &text[op_start..];
    let op_len = after.find(|c| !is_op(c)).unwrap_or(after.len());
    let (mut op, mut right) = after.split_at(op_len);
    if right.is_empty() {
        // The lazy right side needs one character; the operator gives it.
        if op.len() < 2 {
            return None;
        }
        (op, right) = after.split_at(op_len - 1);
    }
    Some((&text[..op_start], op, right))
}

/// client-go's `isTerminator`; `None` is the end of input.
fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// client-go's `UnquoteExtend`: Go's `strconv.Unquote` rules for a string
/// in double or single quotes.
fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(quote) || (quote != '"' && quote != '\'') {
        return None;
    }
    let body = &s[1..s.len() - 1];
    if !body.contains('\\') && !body.contains(quote) {
        return Some(body.to_string());
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        let ch = match e {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '\\' => '\\',
            '\'' | '"' if e == quote => e,
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    v = v * 16 + chars.next()?.to_digit(16)?;
                }
                // Go appends \x bytes raw; a Rust string can only hold them
                // as the Latin-1 character of the same number.
                char::from_u32(v)?
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                char::from_u32(v)?
            }
            _ => return None,
        };
        out.push(ch);
    }
    Some(out)
}

/// The evaluator: client-go's `walk` and friends over JSON values.
struct Eval {
    allow_missing_keys: bool,
    in_range: usize,
}

type Vals<'a> = Vec<Cow<'a, Value>>;

impl Eval {
    fn find_results<'a>(
        &mut self,
        nodes: &[Node],
        data: Cow<'a, Value>,
    ) -> Result<Results<'a>, JsonPathError> {
        let mut full = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            let node = &nodes[i];
            if is_marker(node, "end") {
                if self.in_range == 0 {
                    return Err(JsonPathError::EndWithoutRange);
                }
                // Only reached for an `end` the caller did not pair with a
                // `range`: it closes the caller's loop body.
                break;
            }
            let results = self.walk(vec![data.clone()], node)?;
            if !is_marker(node, "range") {
                full.push(results);
                i += 1;
                continue;
            }
            let end = matching_end(nodes, i);
            let body = &nodes[i + 1..end.unwrap_or(nodes.len())];
            self.in_range += 1;
            if results.is_empty() {
                // client-go still runs the body once over nothing, so a
                // missing key inside it is still an error.
                self.find_results(body, Cow::Owned(Value::Null))?;
            }
            for value in results {
                full.extend(self.find_results(body, value)?);
            }
            self.in_range -= 1;
            // Without an `end`, client-go carries on after the `range`.
            i = end.map_or(i + 1, |e| e + 1);
        }
        Ok(full)
    }

    fn walk<'a>(&mut self, input: Vals<'a>, node: &Node) -> Result<Vals<'a>, JsonPathError> {
        match node {
            Node::List(nodes) => self.eval_list(input, nodes),
            Node::Text(t) => Ok(vec![Cow::Owned(Value::String(t.clone()))]),
            Node::Field(name) => self.eval_field(input, name),
            Node::Array(params) => eval_array(input, params),
            Node::Filter { left, right, op } => self.eval_filter(input, left, right, op),
            Node::Int(i) => Ok(input.iter().map(|_| Cow::Owned(Value::from(*i))).collect()),
            Node::Float(f) => Ok(input
                .iter()
                .map(|_| Cow::Owned(Number::from_f64(*f).map_or(Value::Null, Value::Number)))
                .collect()),
            Node::Bool(b) => Ok(input.iter().map(|_| Cow::Owned(Value::Bool(*b))).collect()),
            Node::Wildcard => Ok(eval_wildcard(input)),
            Node::Recursive => Ok(eval_recursive(input)),
            Node::Union(lists) => {
                let mut out = Vec::new();
                for list in lists {
                    out.extend(self.eval_list(input.clone(), list)?);
                }
                Ok(out)
            }
            Node::Identifier(name) => match name.as_str() {
                "range" => Ok(input),
                "end" if self.in_range > 0 => Ok(Vec::new()),
                "end" => Err(JsonPathError::EndWithoutRange),
                other => Err(JsonPathError::UnknownIdentifier(other.to_string())),
            },
        }
    }

    fn eval_list<'a>(
        &mut self,
        input: Vals<'a>,
        nodes: &[Node],
    ) -> Result<Vals<'a>, JsonPathError> {
        let mut cur = input;
        for node in nodes {
            cur = self.walk(cur, node)?;
        }
        Ok(cur)
    }

    fn eval_field<'a>(&mut self, input: Vals<'a>, name: &str) -> Result<Vals<'a>, JsonPathError> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for v in input {
            match v {
                Cow::Borrowed(Value::Object(m)) => {
                    if let Some(x) = m.get(name) {
                        out.push(Cow::Borrowed(x));
                    }
                }
                Cow::Owned(Value::Object(mut m)) => {
                    if let Some(x) = m.remove(name) {
                        out.push(Cow::Owned(x));
                    }
                }
                _ => {}
            }
        }
        if out.is_empty() && !self.allow_missing_keys {
            return Err(JsonPathError::NotFound(name.to_string()));
        }
        Ok(out)
    }

    fn eval_filter<'a>(
        &mut self,
        input: Vals<'a>,
        left: &[Node],
        right: &[Node],
        op: &str,
    ) -> Result<Vals<'a>, JsonPathError> {
        let mut out = Vec::new();
        for value in input {
            let items: Vec<Cow<'a, Value>> = match value {
                Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
                Cow::Owned(Value::Array(a)) => a.into_iter().map(Cow::Owned).collect(),
                other => return Err(JsonPathError::NotFilterable(go_v(&other))),
            };
            for item in items {
                let lefts = self.eval_list(vec![item.clone()], left);
                if op == "exists" {
                    if lefts.is_ok_and(|l| !l.is_empty()) {
                        out.push(item);
                    }
                    continue;
                }
                let lefts = lefts?;
                let l = match lefts.as_slice() {
                    [] => continue,
                    [l] => l,
                    _ => return Err(JsonPathError::CompareMany),
                };
                let rights = self.eval_list(vec![item.clone()], right)?;
                let r = match rights.as_slice() {
                    [] => continue,
                    [r] => r,
                    _ => return Err(JsonPathError::CompareMany),
                };
                if compare(op, l, r)? {
                    out.push(item);
                }
            }
        }
        Ok(out)
    }
}

/// Whether a top-level node is `{range ...}` or `{end}` (the word anywhere
/// in the action, as client-go's counters see it).
fn is_marker(node: &Node, word: &str) -> bool {
    match node {
        Node::List(nodes) => nodes
            .iter()
            .any(|n| matches!(n, Node::Identifier(w) if w == word)),
        _ => false,
    }
}

/// The index of the `{end}` closing the `{range}` at `start`.
fn matching_end(nodes: &[Node], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, node) in nodes.iter().enumerate().skip(start + 1) {
        if is_marker(node, "range") {
            depth += 1;
        } else if is_marker(node, "end") {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        }
    }
    None
}

fn eval_array<'a>(input: Vals<'a>, params: &[Param; 3]) -> Result<Vals<'a>, JsonPathError> {
    let mut out = Vec::new();
    for value in input {
        let len = match value.as_ref() {
            Value::Null => continue,
            Value::Array(a) => a.len() as i64,
            other => return Err(JsonPathError::NotArray(go_type(other).to_string())),
        };
        let mut p = *params;
        if !p[0].known {
            p[0].value = 0;
        }
        if p[0].value < 0 {
            p[0].value = p[0].value.wrapping_add(len);
        }
        if !p[1].known {
            p[1].value = len;
        }
        if p[1].value < 0 || (p[1].value == 0 && p[1].derived) {
            p[1].value = p[1].value.wrapping_add(len);
        }
        if p[1].value == p[0].value {
            // Zero elements requested: client-go returns what it has so far.
            return Ok(out);
        }
        if p[0].value >= len || p[0].value < 0 {
            return Err(JsonPathError::OutOfBounds {
                index: p[0].value,
                length: len,
            });
        }
        if p[1].value > len || p[1].value < 0 {
            return Err(JsonPathError::OutOfBounds {
                index: p[1].value.wrapping_sub(1),
                length: len,
            });
        }
        if p[0].value > p[1].value {
            return Err(JsonPathError::StartAfterEnd {
                start: p[0].value,
                end: p[1].value,
            });
        }
        let step = if p[2].known {
            if p[2].value <= 0 {
                return Err(JsonPathError::BadStep);
            }
            p[2].value as usize
        } else {
            1
        };
        let (from, to) = (p[0].value as usize, p[1].value as usize);
        match value {
            Cow::Borrowed(Value::Array(a)) => {
                out.extend(a[from..to].iter().step_by(step).map(Cow::Borrowed));
            }
            Cow::Owned(Value::Array(a)) => {
                out.extend(
                    a.into_iter()
                        .skip(from)
                        .take(to - from)
                        .step_by(step)
                        .map(Cow::Owned),
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The children client-go's wildcard and `..` visit: an object's values,
/// an array's elements, a string's bytes.
fn children<'a>(value: Cow<'a, Value>) -> Vals<'a> {
    match value {
        Cow::Borrowed(Value::Object(m)) => m.values().map(Cow::Borrowed).collect(),
        Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
        Cow::Owned(Value::Object(m)) => m.into_iter().map(|(_, v)| Cow::Owned(v)).collect(),
        Cow::Owned(Value::Array(a)) => a.into_iter().map(Cow::Owned).collect(),
        v => match v.as_ref() {
            Value::String(s) => s.bytes().map(|b| Cow::Owned(Value::from(b))).collect(),
            _ => Vec::new(),
        },
    }
}

fn eval_wildcard(input: Vals<'_>) -> Vals<'_> {
    input.into_iter().flat_map(children).collect()
}

fn eval_recursive(input: Vals<'_>) -> Vals<'_> {
    let mut out = Vec::new();
    // An explicit stack (depth first, children in order) keeps deep
    // documents from exhausting the call stack.
    let mut stack: Vec<Cow<'_, Value>> = input.into_iter().rev().collect();
    while let Some(value) = stack.pop() {
        let kids = children(value.clone());
        if kids.is_empty() {
            continue;
        }
        out.push(value);
        stack.extend(kids.into_iter().rev());
    }
    out
}

/// The basic kinds Go's template comparisons know.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Basic<'v> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'v str),
}

fn basic(v: &Value) -> Option<Basic<'_>> {
    match v {
        Value::Bool(b) => Some(Basic::Bool(*b)),
        Value::String(s) => Some(Basic::Str(s)),
        // Beyond int64, kube's JSON decoding falls back to float64.
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Basic::Int(i),
            None => Basic::Float(n.as_f64().unwrap_or(0.0)),
        }),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, JsonPathError> {
    let (x, y) = (
        basic(a).ok_or(JsonPathError::InvalidComparisonType)?,
        basic(b).ok_or(JsonPathError::InvalidComparisonType)?,
    );
    Ok(match (x, y) {
        (Basic::Bool(p), Basic::Bool(q)) => p == q,
        (Basic::Int(p), Basic::Int(q)) => p == q,
        (Basic::Float(p), Basic::Float(q)) => p == q,
        (Basic::Str(p), Basic::Str(q)) => p == q,
        _ => return Err(JsonPathError::IncompatibleTypes),
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, JsonPathError> {
    let (x, y) = (
        basic(a).ok_or(JsonPathError::InvalidComparisonType)?,
        basic(b).ok_or(JsonPathError::InvalidComparisonType)?,
    );
    Ok(match (x, y) {
        (Basic::Bool(_), Basic::Bool(_)) => return Err(JsonPathError::InvalidComparisonType),
        (Basic::Int(p), Basic::Int(q)) => p < q,
        (Basic::Float(p), Basic::Float(q)) => p < q,
        (Basic::Str(p), Basic::Str(q)) => p < q,
        _ => return Err(JsonPathError::IncompatibleTypes),
    })
}

/// A filter comparison with Go's template semantics (`le` is `lt` or `eq`,
/// `gt` is not `le`, `ge` is not `lt`).
fn compare(op: &str, a: &Value, b: &Value) -> Result<bool, JsonPathError> {
    match op {
        "==" => equal(a, b),
        "!=" => equal(a, b).map(|e| !e),
        "<" => less(a, b),
        "<=" => Ok(less(a, b)? || equal(a, b)?),
        ">" => Ok(!(less(a, b)? || equal(a, b)?)),
        ">=" => less(a, b).map(|l| !l),
        other => Err(JsonPathError::UnknownOperator(other.to_string())),
    }
}

/// Go's name of the type a JSON value decodes to in an unstructured object
/// (null: the declared `interface {}`).
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A value as Go's `%v` prints the decoded form: `map[a:1 b:x]`, `[1 2]`,
/// `<nil>`.
pub fn go_v(v: &Value) -> String {
    let mut out = String::new();
    go_v_into(v, &mut out);
    out
}

fn go_v_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_v_into(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_v_into(x, out);
            }
            out.push(']');
        }
    }
}

/// A JSON number as Go prints the int64 or float64 it decodes to.
fn go_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        go_float_v(n.as_f64().unwrap_or(0.0))
    }
}

/// The shortest decimal digits of `f` and its decimal point position
/// (digits `d1d2d3` with `dp` = 1 mean `d1.d2d3`), as Go's strconv has them.
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-tripping digits, as Go does.
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Go's `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn go_float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        format!("{sign}{}", e_format(&digits, exp))
    } else {
        format!("{sign}{}", f_format(&digits, dp))
    }
}

/// Go's `%e` body for shortest digits: `1.5e+06`, `1e-05`.
fn e_format(digits: &str, exp: i32) -> String {
    let mut s = String::with_capacity(digits.len() + 6);
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let _ = write!(
        s,
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    );
    s
}

/// Go's `%f` body for shortest digits.
fn f_format(digits: &str, dp: i32) -> String {
    let nd = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

/// Go's `encoding/json` float: plain digits, or an exponent below 1e-6 and
/// from 1e21, where Go writes `1e-7` (not `1e-07`) and `1e+21`.
fn go_json_float(f: f64, out: &mut String) {
    if !f.is_finite() {
        // Go refuses to encode these; JSON input cannot hold them anyway.
        out.push_str("null");
        return;
    }
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let (digits, dp) = shortest_digits(f);
    if f < 0.0 {
        out.push('-');
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        out.push_str(&f_format(&digits, dp));
        return;
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let exp = dp - 1;
    if exp < 0 {
        let _ = write!(out, "e-{}", exp.unsigned_abs());
    } else {
        let _ = write!(out, "e+{exp:02}");
    }
}

/// A value as Go's `json.Marshal` writes its decoded form: keys sorted,
/// `<`, `>`, `&`, U+2028 and U+2029 escaped, Go's number spelling.
pub fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else {
                go_json_float(n.as_f64().unwrap_or(0.0), out);
            }
        }
        Value::String(s) => go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => go_json_object(m, out),
    }
}

fn go_json_object(m: &Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (k, x)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(k, out);
        out.push(':');
        go_json(x, out);
    }
    out.push('}');
}

fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-0",
                "namespace": "default",
                "labels": {"app": "web", "app.kubernetes.io/name": "web"},
                "annotations": {"a": null}
            },
            "spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "busybox", "ports": [{"containerPort": 9090}]}
                ],
                "replicas": 3
            },
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
                ],
                "ratio": 0.5,
                "big": 1234567.0
            }
        })
    }

    fn run(template: &str, data: &Value) -> Result<String, JsonPathError> {
        JsonPath::parse(template)?.execute(data)
    }

    fn run_lenient(template: &str, data: &Value) -> Result<String, JsonPathError> {
        JsonPath::parse(template)?
            .allow_missing_keys(true)
            .execute(data)
    }

    #[test]
    fn fields_and_indexes() {
        let p = pod();
        assert_eq!(run("{.metadata.name}", &p).unwrap(), "web-0");
        assert_eq!(
            run("{.spec.containers[0].image}", &p).unwrap(),
            "nginx:1.27"
        );
        assert_eq!(run("{.spec.containers[-1].name}", &p).unwrap(), "sidecar");
        assert_eq!(
            run("{.spec.containers[*].name}", &p).unwrap(),
            "nginx sidecar"
        );
        assert_eq!(
            run("{.spec.containers[]}", &p).unwrap(),
            run("{.spec.containers[0]}", &p).unwrap()
        );
        assert_eq!(
            run("{.spec.containers[0:2:1].name}", &p).unwrap(),
            "nginx sidecar"
        );
        assert_eq!(run("{.spec.containers[1:].name}", &p).unwrap(), "sidecar");
        assert_eq!(
            run("{.spec.containers[0,1].name}", &p).unwrap(),
            "nginx sidecar"
        );
        assert_eq!(run("{.spec.replicas}", &p).unwrap(), "3");
        assert_eq!(run("name: {.metadata.name}!", &p).unwrap(), "name: web-0!");
        assert_eq!(run("{$.metadata.namespace}", &p).unwrap(), "default");
        assert_eq!(run("{.metadata['namespace']}", &p).unwrap(), "default");
    }

    #[test]
    fn escaped_dots_and_bracket_keys_like_client_go() {
        let p = pod();
        assert_eq!(
            run(r"{.metadata.labels.app\.kubernetes\.io/name}", &p).unwrap(),
            "web"
        );
        // client-go re-parses a bracketed key as a dotted path, so the key
        // with dots is not found.
        assert_eq!(
            run("{.metadata.labels['app.kubernetes.io/name']}", &p).unwrap_err(),
            JsonPathError::NotFound("kubernetes".into())
        );
        assert_eq!(
            run_lenient("{.metadata.labels['app.kubernetes.io/name']}", &p).unwrap(),
            ""
        );
    }

    #[test]
    fn objects_print_as_go_json() {
        let p = pod();
        assert_eq!(
            run("{.metadata.labels}", &p).unwrap(),
            r#"{"app":"web","app.kubernetes.io/name":"web"}"#
        );
        assert_eq!(
            run("{.spec.containers[0].ports}", &p).unwrap(),
            r#"[{"containerPort":80}]"#
        );
        assert_eq!(run("{.status.ratio}", &p).unwrap(), "0.5");
        assert_eq!(run("{.status.big}", &p).unwrap(), "1.234567e+06");
        assert_eq!(run("{.metadata.annotations.a}", &p).unwrap(), "<nil>");
        let mut s = String::new();
        go_json(
            &json!({"h": "<a&b>", "f": 1e-7, "g": 1e21, "i": 1.5}),
            &mut s,
        );
        assert_eq!(
            s,
            r#"{"f":1e-7,"g":1e+21,"h":"\u003ca\u0026b\u003e","i":1.5}"#
        );
    }

    #[test]
    fn filters() {
        let p = pod();
        assert_eq!(
            run(r#"{.status.conditions[?(@.type=="Ready")].status}"#, &p).unwrap(),
            "False"
        );
        assert_eq!(
            run("{.status.conditions[?(@.type=='Initialized')].status}", &p).unwrap(),
            "True"
        );
        assert_eq!(
            run(r#"{.status.conditions[?(@.type!="Ready")].type}"#, &p).unwrap(),
            "Initialized"
        );
        // Existence filter.
        assert_eq!(
            run("{.status.conditions[?(@.reason)].type}", &p).unwrap(),
            "Ready"
        );
        assert_eq!(
            run(
                "{.spec.containers[?(@.ports[0].containerPort > 100)].name}",
                &p
            )
            .unwrap(),
            "sidecar"
        );
        assert_eq!(
            run(
                "{.spec.containers[?(@.ports[0].containerPort<=80)].name}",
                &p
            )
            .unwrap(),
            "nginx"
        );
        // A number never equals a string.
        assert_eq!(
            run(
                r#"{.spec.containers[?(@.ports[0].containerPort=="80")].name}"#,
                &p
            )
            .unwrap_err(),
            JsonPathError::IncompatibleTypes
        );
        // Missing left side: skipped, but only when missing keys are allowed.
        assert_eq!(
            run(r#"{.status.conditions[?(@.reason=="x")].type}"#, &p).unwrap_err(),
            JsonPathError::NotFound("reason".into())
        );
        assert_eq!(
            run_lenient(r#"{.status.conditions[?(@.reason=="x")].type}"#, &p).unwrap(),
            ""
        );
        assert_eq!(
            run(r#"{.metadata[?(@.x=="y")]}"#, &json!({"metadata": 5}))
                .unwrap_err()
                .to_string(),
            "5 is not array or slice and cannot be filtered"
        );
    }

    #[test]
    fn recursive_and_wildcard() {
        let p = pod();
        assert_eq!(run("{..image}", &p).unwrap(), "nginx:1.27 busybox");
        assert_eq!(run("{.metadata.labels.*}", &p).unwrap(), "web web");
        assert_eq!(
            JsonPath::parse("{....a}").unwrap_err(),
            JsonPathError::MultipleRecursive
        );
        // A wildcard over a string yields its bytes, as in client-go.
        assert_eq!(
            run(
                "{.metadata.namespace.*}",
                &json!({"metadata": {"namespace": "ab"}})
            )
            .unwrap(),
            "97 98"
        );
    }

    #[test]
    fn ranges() {
        let list = json!({"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]});
        assert_eq!(
            run(r#"{range .items[*]}{.metadata.name}{"\n"}{end}"#, &list).unwrap(),
            "a\nb\n"
        );
        assert_eq!(
            run("{range .items[*]}[{.metadata.name}]{end}done", &list).unwrap(),
            "[a][b]done"
        );
        assert_eq!(
            run("{end}", &list).unwrap_err(),
            JsonPathError::EndWithoutRange
        );
        assert_eq!(run_lenient("{range .none[*]}{.x}{end}", &list).unwrap(), "");
    }

    #[test]
    fn parse_errors_read_like_client_go() {
        let cases = [
            ("{.a", "unclosed action"),
            ("{.a[0}", "unterminated array"),
            ("{.a[?(@.x==1}", "unterminated filter"),
            ("{.a[?(@.x==1)}", "unclosed array expect ]"),
            ("{\"abc}", "unterminated quoted string"),
            ("{.a[x]}", "invalid array index x"),
            ("{.a[1:-]}", "array index - is not a number"),
            (
                "{.a[99999999999999999999]}",
                "array index 99999999999999999999 is not a number",
            ),
            ("{1.2.3}", "cannot parse number 1.2.3"),
            ("{%}", "unrecognized character in action: U+0025 '%'"),
            ("{\t}", "unrecognized character in action: U+0009"),
            (
                "{\"a\\qb\"}",
                "unquote string \"a\\qb\" error invalid syntax",
            ),
        ];
        for (template, message) in cases {
            let err = JsonPath::parse(template).unwrap_err();
            assert_eq!(err.to_string(), message, "{template}");
        }
    }

    #[test]
    fn evaluation_errors_read_like_client_go() {
        let p = pod();
        let cases = [
            ("{.metadata.nope}", "nope is not found"),
            (
                "{.metadata[0]}",
                "map[string]interface {} is not array or slice",
            ),
            (
                "{.spec.containers[5]}",
                "array index out of bounds: index 5, length 2",
            ),
            (
                "{.spec.containers[0:3]}",
                "array index out of bounds: index 2, length 2",
            ),
            (
                "{.spec.containers[1:0]}",
                "starting index 1 is greater than ending index 0",
            ),
            ("{.spec.containers[0:2:0]}", "step must be > 0"),
            (
                r#"{.status.conditions[?(@.*=="x")]}"#,
                "can only compare one element at a time",
            ),
            ("{foo}", "unrecognized identifier foo"),
        ];
        for (template, message) in cases {
            assert_eq!(
                run(template, &p).unwrap_err().to_string(),
                message,
                "{template}"
            );
        }
        // Zero elements requested is fine.
        assert_eq!(run("{.spec.containers[1:1]}", &p).unwrap(), "");
    }

    #[test]
    fn literals_and_quotes() {
        let p = pod();
        assert_eq!(run(r#"{"a\tb"}"#, &p).unwrap(), "a\tb");
        assert_eq!(run("{'it'}{'s'}", &p).unwrap(), "its");
        // In one action only the last literal survives, as in client-go.
        assert_eq!(run("{'it' 's'}", &p).unwrap(), "s");
        assert_eq!(run("{'\\u00e9'}", &p).unwrap(), "é");
        assert_eq!(
            run("{.spec.replicas}{1}{2.5}{true}", &p).unwrap(),
            "312.5true"
        );
    }

    #[test]
    fn first_is_what_a_printer_column_shows() {
        let p = pod();
        let path = JsonPath::parse("{.status.phase}")
            .unwrap()
            .allow_missing_keys(true);
        assert_eq!(path.first(&p).unwrap().as_ref(), &json!("Running"));
        let path = JsonPath::parse("{.status.nope.deeper}")
            .unwrap()
            .allow_missing_keys(true);
        assert!(path.first(&p).is_none());
        let path = JsonPath::parse(r#"{.status.conditions[?(@.type=="Ready")].reason}"#)
            .unwrap()
            .allow_missing_keys(true);
        assert_eq!(
            path.first(&p).unwrap().as_ref(),
            &json!("ContainersNotReady")
        );
        // Null is a value (that the column then renders as no value).
        let path = JsonPath::parse("{.metadata.annotations.a}")
            .unwrap()
            .allow_missing_keys(true);
        assert_eq!(path.first(&p).unwrap().as_ref(), &Value::Null);
    }

    #[test]
    fn simple_path_validation() {
        let p = Path::new("spec")
            .child("versions")
            .index(0)
            .child("additionalPrinterColumns")
            .index(1)
            .child("JSONPath");
        assert!(validate_simple(".spec.x", &p).is_empty());
        assert!(validate_simple(".", &p).is_empty());
        assert_eq!(
            validate_simple("spec.x", &p)[0].to_string(),
            "spec.versions[0].additionalPrinterColumns[1].JSONPath: Invalid value: \"spec.x\": must be a simple json path starting with ."
        );
        assert_eq!(
            validate_simple("", &p)[0].to_string(),
            "spec.versions[0].additionalPrinterColumns[1].JSONPath: Invalid value: \"\": must not be empty"
        );
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float_v(1.0), "1");
        assert_eq!(go_float_v(0.5), "0.5");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(1e6), "1e+06");
        assert_eq!(go_float_v(0.0001), "0.0001");
        assert_eq!(go_float_v(0.00001), "1e-05");
        assert_eq!(go_float_v(-2.5e-10), "-2.5e-10");
        assert_eq!(go_float_v(1e100), "1e+100");
    }

    #[test]
    fn odd_input_never_panics() {
        let p = pod();
        let templates = [
            "",
            "{",
            "}",
            "{}",
            "{{}}",
            "{.}",
            "{..}",
            "{[}",
            "{[]}",
            "{]",
            "{[?(}",
            "{[?()]}",
            "{[?(@)]}",
            "{.a[?(==)]}",
            "{.a[?(@.b=)]}",
            "{'}",
            "{\"\\\"}",
            "{-}",
            "{+}",
            "{.a[-9223372036854775808:]}",
            "{.spec.containers[-100]}",
            "{.spec.containers[9223372036854775807]}",
            "{range}",
            "{range .spec.containers[*]}",
            "{end}{end}",
            "ünï{.çødé}",
            "{.a,b}",
            "{[1,]}",
            "{.spec.containers[?(@.name=='x\\')]}",
            "{\u{0}}",
            "{.metadata.name[0]}",
        ];
        for t in templates {
            if let Ok(path) = JsonPath::parse(t) {
                let _ = path.execute(&p);
                let _ = path.clone().allow_missing_keys(true).execute(&p);
                let _ = path.first(&Value::Null);
            }
        }
        let deep = (0..1_000).fold(json!(1), |acc, _| json!([acc]));
        let path = JsonPath::parse("{..x}").unwrap().allow_missing_keys(true);
        assert_eq!(path.execute(&deep).unwrap(), "");
    }
}
