//! Validating a value against a schema exactly as kube validates custom
//! resources: kube-openapi's `SchemaValidator`, then kube's conversion of
//! its results into field errors, then the list-type checks.
//!
//! kube-openapi runs eight validators on every node (type, junctors,
//! string, format, number, slice, enum, object), each only for the value
//! kinds it applies to, and keeps going after a failure, so one bad value
//! can yield several errors. Identical messages are reported once. For
//! `anyOf` and `oneOf` it keeps the errors of the alternative that got
//! furthest, measured by a match count every validator bumps; that count is
//! reproduced here so the same alternative's errors are reported.
//!
//! Error paths are built in a reusable buffer and only turned into strings
//! when something fails, so a valid object costs one walk and no
//! allocation per field.

use std::collections::HashSet;

use serde_json::{Map, Number, Value};

use super::MAX_VALUE_DEPTH;
use super::gofmt::{go_float, go_json, go_v};
use super::node::{Additional, ListType, Node, NodeId, Tree, Types};
use crate::field::{ErrorType, FieldError, Path, go_quote};

/// The kube-openapi error codes kube treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    /// Every other `*errors.Validation` (min/max, pattern, ...).
    Other,
    /// Not a `*errors.Validation` (the junctor messages): reported at the
    /// root path with an empty value.
    Composite,
}

/// One kube-openapi error: its code, the path it names, the value it
/// carries (`None` is Go's nil), its message, and for the enum and the
/// maximum checks the allowed values and the limit.
#[derive(Debug, Clone)]
struct VErr {
    code: Code,
    name: String,
    value: Option<Value>,
    message: String,
    values: Vec<Value>,
    limit: i64,
}

/// kube-openapi's `Result`: errors (deduplicated by message) and the match
/// count used to pick the best failing alternative.
#[derive(Debug, Default)]
struct Res {
    errors: Vec<VErr>,
    seen: Option<HashSet<String>>,
    count: i64,
}

impl Res {
    fn counted(count: i64) -> Res {
        Res {
            count,
            ..Res::default()
        }
    }

    fn err(e: VErr) -> Res {
        let mut r = Res::default();
        r.add(e);
        r
    }

    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn add(&mut self, e: VErr) {
        // Small lists are searched; long ones (hostile input) get a set so
        // deduplication stays linear.
        if self.errors.len() < 16 {
            if self.errors.iter().any(|x| x.message == e.message) {
                return;
            }
        } else {
            let seen = self
                .seen
                .get_or_insert_with(|| self.errors.iter().map(|x| x.message.clone()).collect());
            if !seen.insert(e.message.clone()) {
                return;
            }
        }
        if let Some(seen) = &mut self.seen {
            seen.insert(e.message.clone());
        }
        self.errors.push(e);
    }

    fn merge(&mut self, other: Res) {
        self.count += other.count;
        if self.errors.is_empty() && self.seen.is_none() {
            self.errors = other.errors;
            self.seen = other.seen;
            return;
        }
        for e in other.errors {
            self.add(e);
        }
    }

    fn merge_opt(&mut self, other: Option<Res>) {
        if let Some(o) = other {
            self.merge(o);
        }
    }
}

/// The value kinds kube's decoded objects hold.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int(i64),
    Float(f64),
    String,
    Slice,
    Map,
    Null,
}

impl Kind {
    fn of(v: &Value) -> Kind {
        match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) => number_kind(n),
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Slice,
            Value::Object(_) => Kind::Map,
        }
    }
}

/// kube decodes a JSON number to int64 when it is an integer literal that
/// fits, and to float64 otherwise.
fn number_kind(n: &Number) -> Kind {
    match n.as_i64() {
        Some(i) => Kind::Int(i),
        None => Kind::Float(n.as_f64().unwrap_or(0.0)),
    }
}

/// go-openapi's `IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    if f.trunc() == f {
        return true;
    }
    let g = f.trunc();
    let diff = (f - g).abs();
    diff / (f.abs() + g.abs()).min(f64::MAX) < 1e-9
}

/// Go's `int64(f)` on amd64: truncation, and the minimum int64 for
/// anything out of range.
fn go_int64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f.trunc() as i64
    }
}

struct Validator<'t> {
    tree: &'t Tree,
    path: String,
}

impl Validator<'_> {
    fn verr(&self, code: Code, value: Option<Value>, message: String) -> VErr {
        VErr {
            code,
            name: self.path.clone(),
            value,
            message,
            values: Vec::new(),
            limit: -1,
        }
    }

    /// `NewSchemaValidator(...).Validate(data)`.
    fn schema(&mut self, id: NodeId, data: &Value, depth: usize) -> Res {
        if depth > MAX_VALUE_DEPTH {
            return Res::default();
        }
        let tree = self.tree;
        let n = tree.node(id);
        let kind = Kind::of(data);
        let mut res = Res::default();
        if kind == Kind::Null {
            res.merge(self.type_check(n, kind));
            res.merge_opt(self.enum_check(n, data));
            return res;
        }
        if n.has_type_or_format() {
            res.merge(self.type_check(n, kind));
            res.count += 1;
        }
        res.merge(self.junctors(n, data, depth));
        res.count += 1;
        if let Value::String(s) = data {
            res.merge_opt(self.string_check(n, s));
            res.count += 1;
            if let Some((name, Some(format))) = &n.format {
                if !format.check(s) {
                    let msg = format!(
                        "{} in body must be of type {}: {}",
                        self.path,
                        name,
                        go_quote(s)
                    );
                    res.add(self.verr(Code::InvalidType, Some(data.clone()), msg));
                }
                res.count += 1;
            }
        }
        if matches!(kind, Kind::Int(_) | Kind::Float(_)) {
            res.merge(self.number_check(n, data, kind));
            res.count += 1;
        }
        if let Value::Array(items) = data {
            res.merge(self.slice_check(n, items, depth));
            res.count += 1;
        }
        res.merge_opt(self.enum_check(n, data));
        res.count += 1;
        if let Value::Object(map) = data {
            res.merge(self.object_check(n, map, depth));
            res.count += 1;
        }
        res.count += 1;
        res
    }

    /// kube-openapi's `typeValidator.Validate`.
    fn type_check(&self, n: &Node, kind: Kind) -> Res {
        let types = n.types;
        let type_name = types.map_or("", Types::name);
        if kind == Kind::Null {
            if types.is_some() && !n.nullable {
                let msg = format!(
                    "{} in body must be of type {}: \"null\"",
                    self.path, type_name
                );
                return Res::err(self.verr(
                    Code::InvalidType,
                    Some(Value::String("null".into())),
                    msg,
                ));
            }
            return Res::counted(1);
        }
        let (sch, sch_name, fmt_name) = match kind {
            Kind::Bool => (Types::BOOLEAN, "boolean", ""),
            Kind::String => (Types::STRING, "string", ""),
            Kind::Int(_) => (Types::INTEGER, "integer", "int64"),
            Kind::Float(_) => (Types::NUMBER, "number", "float64"),
            Kind::Slice => (Types::ARRAY, "array", ""),
            Kind::Map | Kind::Null => (Types::OBJECT, "object", ""),
        };
        let contains = |t: Types| types.is_some_and(|ts| ts.contains(t));
        let is_float_int =
            matches!(kind, Kind::Float(f) if is_json_integer(f)) && contains(Types::INTEGER);
        let is_int_float = matches!(kind, Kind::Int(_)) && contains(Types::NUMBER);
        let t_fmt = n.format.as_ref().map_or("", |(name, _)| name.as_ref());
        let stringish = matches!(kind, Kind::String | Kind::Slice);
        // kube-openapi checks the format first for values that are neither
        // strings nor lists, and lets a formatted string type take a list.
        let type_or_format_matches =
            contains(sch) || fmt_name == t_fmt || is_float_int || is_int_float;
        if !(stringish || t_fmt.is_empty() || type_or_format_matches) {
            let msg = format!(
                "{} in body must be of type {}: {}",
                self.path,
                t_fmt,
                go_quote(fmt_name)
            );
            return Res::err(self.verr(
                Code::InvalidType,
                Some(Value::String(fmt_name.into())),
                msg,
            ));
        }
        let numeric = contains(Types::NUMBER) || contains(Types::INTEGER);
        if stringish && !(numeric || t_fmt.is_empty()) {
            return Res::counted(1);
        }
        if !(contains(sch) || is_float_int || is_int_float) {
            let msg = format!(
                "{} in body must be of type {}: {}",
                self.path,
                type_name,
                go_quote(sch_name)
            );
            return Res::err(self.verr(
                Code::InvalidType,
                Some(Value::String(sch_name.into())),
                msg,
            ));
        }
        Res::counted(1)
    }

    /// kube-openapi's `stringValidator`: only the first failing check.
    fn string_check(&self, n: &Node, s: &str) -> Option<Res> {
        let runes = || s.chars().count() as i64;
        if let Some(max) = n.max_length
            && runes() > max
        {
            let msg = format!("{} in body should be at most {max} chars long", self.path);
            let mut e = self.verr(Code::TooLong, Some(Value::String(s.into())), msg);
            e.limit = max;
            return Some(Res::err(e));
        }
        if let Some(min) = n.min_length
            && runes() < min
        {
            let msg = format!("{} in body should be at least {min} chars long", self.path);
            return Some(Res::err(self.verr(
                Code::Other,
                Some(Value::String(s.into())),
                msg,
            )));
        }
        if let Some(re) = &n.pattern
            && !re.is_match(s)
        {
            let msg = format!("{} in body should match '{}'", self.path, re.source());
            return Some(Res::err(self.verr(
                Code::Other,
                Some(Value::String(s.into())),
                msg,
            )));
        }
        None
    }

    /// kube-openapi's `numberValidator`, with its int64/float64 split.
    fn number_check(&self, n: &Node, data: &Value, kind: Kind) -> Res {
        let mut res = Res::default();
        let mut multiple = Res::default();
        let mut minimum = Res::default();
        let mut maximum = Res::default();
        let p = &self.path;
        if let Some(m) = n.multiple_of {
            match kind {
                Kind::Int(i) => {
                    let factor = go_int64(m);
                    if factor < 0 {
                        let msg = format!(
                            "factor MultipleOf declared for {p} must be positive: {factor}"
                        );
                        multiple.add(self.verr(Code::Other, Some(Value::from(factor)), msg));
                    } else if factor != 0 && i.wrapping_div(factor).wrapping_mul(factor) != i {
                        let msg = format!("{p} in body should be a multiple of {factor}");
                        multiple.add(self.verr(Code::Other, Some(data.clone()), msg));
                    }
                }
                Kind::Float(f) => {
                    if m < 0.0 {
                        let msg = format!(
                            "factor MultipleOf declared for {p} must be positive: {}",
                            go_float(m)
                        );
                        multiple.add(self.verr(Code::Other, Some(float_value(m)), msg));
                    } else {
                        let mult = if m < 1.0 { 1.0 / m * f } else { f / m };
                        if !is_json_integer(mult) {
                            let msg =
                                format!("{p} in body should be a multiple of {}", go_float(m));
                            multiple.add(self.verr(Code::Other, Some(data.clone()), msg));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(max) = n.maximum {
            let exc = n.exclusive_maximum;
            let (fails, bound) = match kind {
                Kind::Int(i) => {
                    let m = go_int64(max);
                    ((!exc && i > m) || (exc && i >= m), m.to_string())
                }
                Kind::Float(f) => ((!exc && f > max) || (exc && f >= max), go_float(max)),
                _ => (false, String::new()),
            };
            if fails {
                let word = if exc {
                    "less than"
                } else {
                    "less than or equal to"
                };
                let msg = format!("{p} in body should be {word} {bound}");
                maximum.add(self.verr(Code::Other, Some(data.clone()), msg));
            }
        }
        if let Some(min) = n.minimum {
            let exc = n.exclusive_minimum;
            let (fails, bound) = match kind {
                Kind::Int(i) => {
                    let m = go_int64(min);
                    ((!exc && i < m) || (exc && i <= m), m.to_string())
                }
                Kind::Float(f) => ((!exc && f < min) || (exc && f <= min), go_float(min)),
                _ => (false, String::new()),
            };
            if fails {
                let word = if exc {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                let msg = format!("{p} in body should be {word} {bound}");
                minimum.add(self.verr(Code::Other, Some(data.clone()), msg));
            }
        }
        res.merge(multiple);
        res.merge(minimum);
        res.merge(maximum);
        res.count += 1;
        res
    }

    /// kube-openapi's `schemaSliceValidator`.
    fn slice_check(&mut self, n: &Node, items: &[Value], depth: usize) -> Res {
        let mut res = Res::default();
        if let Some(item) = n.items {
            for (i, v) in items.iter().enumerate() {
                let len = self.path.len();
                self.path.push('[');
                self.path.push_str(&i.to_string());
                self.path.push(']');
                let r = self.schema(item, v, depth + 1);
                self.path.truncate(len);
                res.merge(r);
            }
        }
        let size = items.len() as i64;
        if let Some(min) = n.min_items
            && size < min
        {
            let msg = format!("{} in body should have at least {min} items", self.path);
            res.add(self.verr(Code::Other, Some(Value::from(size)), msg));
        }
        if let Some(max) = n.max_items
            && size > max
        {
            let msg = format!("{} in body should have at most {max} items", self.path);
            let mut e = self.verr(Code::MaxItems, Some(Value::from(size)), msg);
            e.limit = max;
            res.add(e);
        }
        if n.unique_items && has_duplicates(items) {
            let msg = format!("{} in body shouldn't contain duplicates", self.path);
            res.add(self.verr(Code::Other, None, msg));
        }
        res.count += 1;
        res
    }

    /// kube-openapi's `basicCommonValidator`: the enum.
    fn enum_check(&self, n: &Node, data: &Value) -> Option<Res> {
        let values = n.enum_values.as_ref()?;
        if values.is_empty() || values.iter().any(|e| enum_matches(data, e)) {
            return None;
        }
        let msg = format!(
            "{} in body should be one of {}",
            self.path,
            go_v(&Value::Array(values.clone()))
        );
        let value = (!data.is_null()).then(|| data.clone());
        let mut e = self.verr(Code::Enum, value, msg);
        e.values = values.clone();
        Some(Res::err(e))
    }

    /// kube-openapi's `objectValidator`.
    fn object_check(&mut self, n: &Node, map: &Map<String, Value>, depth: usize) -> Res {
        let num = map.len() as i64;
        if let Some(min) = n.min_properties
            && num < min
        {
            let msg = format!(
                "{} in body should have at least {min} properties",
                self.path
            );
            return Res::err(self.verr(Code::Other, Some(Value::from(num)), msg));
        }
        if let Some(max) = n.max_properties
            && num > max
        {
            let msg = format!("{} in body should have at most {max} properties", self.path);
            let mut e = self.verr(Code::TooManyProperties, Some(Value::from(num)), msg);
            e.limit = max;
            return Res::err(e);
        }
        let mut res = Res::default();
        match n.additional {
            Some(Additional::Bool(false)) => {
                for k in map.keys() {
                    if n.property(k).is_none() {
                        let msg = format!("{}.{} in body is a forbidden property", self.path, k);
                        res.add(self.verr(Code::Other, Some(Value::String(k.clone())), msg));
                    }
                }
            }
            Some(Additional::Schema(ap)) => {
                for (k, v) in map {
                    if n.property(k).is_none() {
                        let len = self.path.len();
                        self.path.push('.');
                        self.path.push_str(k);
                        let r = self.schema(ap, v, depth + 1);
                        self.path.truncate(len);
                        res.merge(r);
                    }
                }
            }
            _ => {}
        }
        for (name, pid) in &n.properties {
            if let Some(v) = map.get(name.as_ref()) {
                let len = self.path.len();
                if !self.path.is_empty() {
                    self.path.push('.');
                }
                self.path.push_str(name);
                let r = self.schema(*pid, v, depth + 1);
                self.path.truncate(len);
                res.merge(r);
            }
        }
        for k in &n.required {
            if !map.contains_key(k.as_ref()) {
                let name = format!("{}.{}", self.path, k);
                let message = format!("{name} in body is required");
                res.add(VErr {
                    code: Code::Required,
                    name,
                    value: None,
                    message,
                    values: Vec::new(),
                    limit: -1,
                });
            }
        }
        res
    }

    /// kube-openapi's `schemaPropsValidator`: allOf, anyOf, oneOf, not.
    fn junctors(&mut self, n: &Node, data: &Value, depth: usize) -> Res {
        let mut main = Res::default();
        if n.any_of.is_empty() && n.one_of.is_empty() && n.all_of.is_empty() && n.not.is_none() {
            main.count += 1;
            return main;
        }
        let quoted = go_quote(&self.path);
        if !n.any_of.is_empty() {
            let mut best: Option<Res> = None;
            let mut first_success: Option<Res> = None;
            for s in &n.any_of {
                let r = self.schema(*s, data, depth + 1);
                if r.is_valid() {
                    best = None;
                    first_success.get_or_insert(r);
                    break;
                }
                if best.as_ref().is_none_or(|b| r.count > b.count) {
                    best = Some(r);
                }
            }
            if first_success.is_none() {
                main.add(composite(format!(
                    "{quoted} must validate at least one schema (anyOf)"
                )));
            }
            match (best, first_success) {
                (Some(b), _) => main.merge(b),
                (None, Some(s)) => main.merge(s),
                _ => {}
            }
        }
        if !n.one_of.is_empty() {
            let mut best: Option<Res> = None;
            let mut first_success: Option<Res> = None;
            let mut validated = 0;
            for s in &n.one_of {
                let r = self.schema(*s, data, depth + 1);
                if r.is_valid() {
                    validated += 1;
                    best = None;
                    if first_success.is_none() {
                        first_success = Some(r);
                    }
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| r.count > b.count) {
                    best = Some(r);
                }
            }
            if validated != 1 {
                let extra = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                main.add(composite(format!(
                    "{quoted} must validate one and only one schema (oneOf). {extra}"
                )));
                if let Some(b) = best {
                    main.merge(b);
                }
            } else if let Some(s) = first_success {
                main.merge(s);
            }
        }
        if !n.all_of.is_empty() {
            let mut validated = 0;
            for s in &n.all_of {
                let r = self.schema(*s, data, depth + 1);
                if r.is_valid() {
                    validated += 1;
                }
                main.merge(r);
            }
            if validated != n.all_of.len() {
                let extra = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                main.add(composite(format!(
                    "{quoted} must validate all the schemas (allOf){extra}"
                )));
            }
        }
        if let Some(not) = n.not {
            let r = self.schema(not, data, depth + 1);
            if r.is_valid() {
                main.add(composite(format!(
                    "{quoted} must not validate the schema (not)"
                )));
            }
        }
        main.count += 1;
        main
    }
}

fn composite(message: String) -> VErr {
    VErr {
        code: Code::Composite,
        name: String::new(),
        value: None,
        message,
        values: Vec::new(),
        limit: -1,
    }
}

fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// kube-openapi's enum match: deep equality, or equality after Go's
/// reflect conversion of the value to the enum entry's type (an int64
/// converts to float64, a float64 to int64 by truncation, an int64 to a
/// string as a rune).
fn enum_matches(data: &Value, e: &Value) -> bool {
    if data.is_null() || e.is_null() {
        return false;
    }
    if data == e {
        return true;
    }
    match (Kind::of(data), Kind::of(e)) {
        (Kind::Int(i), Kind::Float(f)) => (i as f64) == f,
        (Kind::Float(f), Kind::Int(j)) => go_int64(f) == j,
        (Kind::Int(i), Kind::Int(j)) => i == j,
        (Kind::Float(f), Kind::Float(g)) => f == g,
        (Kind::Int(i), Kind::String) => {
            let s = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            e.as_str() == Some(s.to_string().as_str())
        }
        _ => false,
    }
}

/// Whether two items of a list are deeply equal (Go's `reflect.DeepEqual`).
fn has_duplicates(items: &[Value]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().any(|v| !seen.insert(canonical(v)))
}

/// A string equal for values Go's `DeepEqual` holds equal: JSON with the
/// number kind spelled out, so 1 and 1.0 differ as int64 and float64 do.
fn canonical(v: &Value) -> String {
    match v {
        Value::Number(n) => match number_kind(n) {
            Kind::Int(i) => format!("i{i}"),
            Kind::Float(f) => format!("f{}", f.to_bits()),
            _ => String::new(),
        },
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), canonical(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// Validates `value` against node `id` and converts the errors as kube's
/// `kubeOpenAPIResultToFieldErrors` does, under `base` (`None` is kube's nil
/// path, printed `<nil>` for errors about the root itself).
pub(crate) fn validate_at(
    tree: &Tree,
    id: NodeId,
    value: &Value,
    base: Option<&Path>,
) -> Vec<FieldError> {
    let mut v = Validator {
        tree,
        path: String::new(),
    };
    let res = v.schema(id, value, 0);
    res.errors
        .into_iter()
        .map(|e| to_field_error(e, base))
        .collect()
}

fn base_string(base: Option<&Path>) -> String {
    base.map_or_else(|| "<nil>".to_string(), |p| p.as_str().to_string())
}

fn to_field_error(e: VErr, base: Option<&Path>) -> FieldError {
    if e.code == Code::Composite {
        return FieldError::invalid(base_string(base), Value::String(String::new()), e.message);
    }
    let name = e.name.strip_prefix('.').unwrap_or(&e.name);
    let field = if name.is_empty() {
        base_string(base)
    } else {
        match base {
            Some(b) => b.child(name).as_str().to_string(),
            None => name.to_string(),
        }
    };
    let value_or_empty = || e.value.clone().unwrap_or(Value::String(String::new()));
    match e.code {
        Code::Required => FieldError::required(field, ""),
        Code::Enum => {
            let allowed: Vec<String> = e
                .values
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => go_json(other),
                })
                .collect();
            let refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
            FieldError::not_supported(field, e.value.clone().unwrap_or(Value::Null), &refs)
        }
        Code::TooLong => FieldError::too_long(field, too_long_detail(e.limit)),
        Code::MaxItems | Code::TooManyProperties => {
            let actual = e.value.as_ref().and_then(Value::as_i64).unwrap_or(-1);
            too_many(field, actual, e.limit)
        }
        Code::InvalidType => FieldError::new(
            ErrorType::TypeInvalid,
            field,
            Some(value_or_empty()),
            e.message,
        ),
        Code::Other | Code::Composite => FieldError::invalid(field, value_or_empty(), e.message),
    }
}

/// apimachinery's `field.TooLong` detail (1.32+).
fn too_long_detail(max: i64) -> String {
    match max {
        m if m < 0 => "value is too long".to_string(),
        1 => "may not be more than 1 byte".to_string(),
        m => format!("may not be more than {m} bytes"),
    }
}

/// apimachinery's `field.TooMany`.
fn too_many(field: String, actual: i64, max: i64) -> FieldError {
    let detail = match max {
        m if m < 0 => "has too many items".to_string(),
        1 => "must have at most 1 item".to_string(),
        m => format!("must have at most {m} items"),
    };
    let value = (actual >= 0).then(|| Value::from(actual));
    FieldError::new(ErrorType::TooMany, field, value, detail)
}

/// kube's `ValidateListSetsAndMaps`: uniqueness of `set` items and `map`
/// keys, walking properties, additionalProperties and items.
pub(crate) fn validate_list_types(
    tree: &Tree,
    id: NodeId,
    value: &Value,
    base: Option<&Path>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(map) = value {
        list_types_object(tree, id, map, base, &mut errs, 0);
    }
    errs
}

fn child_path(base: Option<&Path>, name: &str) -> Path {
    match base {
        Some(b) => b.child(name),
        None => Path::new(name),
    }
}

fn key_path(base: Option<&Path>, key: &str) -> Path {
    match base {
        Some(b) => b.key(key),
        None => Path::new(&format!("[{key}]")),
    }
}

fn list_types_object(
    tree: &Tree,
    id: NodeId,
    map: &Map<String, Value>,
    base: Option<&Path>,
    errs: &mut Vec<FieldError>,
    depth: usize,
) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    let n = tree.node(id);
    if let Some(Additional::Schema(ap)) = n.additional {
        for (k, v) in map {
            list_types_value(tree, ap, v, &key_path(base, k), errs, depth + 1);
        }
    }
    if !n.properties.is_empty() {
        for (k, v) in map {
            if let Some(p) = n.property(k) {
                list_types_value(tree, p, v, &child_path(base, k), errs, depth + 1);
            }
        }
    }
}

fn list_types_value(
    tree: &Tree,
    id: NodeId,
    v: &Value,
    path: &Path,
    errs: &mut Vec<FieldError>,
    depth: usize,
) {
    match v {
        Value::Array(items) => list_types_array(tree, id, items, path, errs, depth),
        Value::Object(map) => list_types_object(tree, id, map, Some(path), errs, depth),
        _ => {}
    }
}

fn list_types_array(
    tree: &Tree,
    id: NodeId,
    items: &[Value],
    path: &Path,
    errs: &mut Vec<FieldError>,
    depth: usize,
) {
    if depth > MAX_VALUE_DEPTH {
        return;
    }
    let n = tree.node(id);
    match n.list_type {
        Some(ListType::Set) => {
            for i in non_unique(items.iter().map(Some)) {
                errs.push(FieldError::duplicate(path.index(i), items[i].clone()));
            }
        }
        Some(ListType::Map) => list_map(n, items, path, errs),
        _ => {}
    }
    if let Some(item) = n.items {
        for (i, v) in items.iter().enumerate() {
            list_types_value(tree, item, v, &path.index(i), errs, depth + 1);
        }
    }
}

/// Indices of the second occurrence of each repeated value (kube reports
/// each repeated value once). `None` stands for an unspecified map key.
fn non_unique<'a>(items: impl Iterator<Item = Option<&'a Value>>) -> Vec<usize> {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, x) in items.enumerate() {
        let key = match x {
            None => "unspecified".to_string(),
            Some(v) => format!("v{}", canonical(v)),
        };
        let c = counts.entry(key).or_insert(0);
        *c += 1;
        if *c == 2 {
            out.push(i);
        }
    }
    out
}

fn list_map(n: &Node, items: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            errs.push(FieldError::invalid(
                path.index(i),
                x.clone(),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    if let [key_field] = n.list_map_keys.as_slice() {
        let keys: Vec<Option<&Value>> = items
            .iter()
            .map(|x| x.as_object().and_then(|m| m.get(key_field.as_ref())))
            .collect();
        for i in non_unique(keys.iter().copied()) {
            let mut m = Map::new();
            if let Some(k) = keys[i] {
                m.insert(key_field.to_string(), k.clone());
            }
            errs.push(FieldError::duplicate(path.index(i), Value::Object(m)));
        }
        return;
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            if let Some(obj) = x.as_object() {
                for kf in &n.list_map_keys {
                    if let Some(k) = obj.get(kf.as_ref()) {
                        m.insert(kf.to_string(), k.clone());
                    }
                }
            }
            Value::Object(m)
        })
        .collect();
    for i in non_unique(keys.iter().map(Some)) {
        errs.push(FieldError::duplicate(path.index(i), keys[i].clone()));
    }
}
