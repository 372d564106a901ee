//! Field errors: what is wrong with one field of an object, worded as
//! kube-apiserver words it.
//!
//! Validation (names, labels, schemas) produces a list of [`FieldError`]s;
//! the handler turns the list into a `422 Invalid` `Status` whose message
//! and `details.causes` are byte-for-byte what kube-apiserver would send,
//! because clients (kubectl in particular) show them to people verbatim.

use std::fmt;

use serde_json::Value;

/// The kind of problem with a field. The two strings of each kind are
/// Kubernetes' own: one goes in a `Status` cause's `reason`, the other at the
/// front of the human message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The field refers to something that does not exist.
    NotFound,
    /// A required field is missing or empty.
    Required,
    /// The value duplicates another that must be unique.
    Duplicate,
    /// The value is not valid (the catch-all).
    Invalid,
    /// The value is not one of a closed set.
    NotSupported,
    /// The field may not be set, or not to this value, in this context.
    Forbidden,
    /// The value is longer than allowed.
    TooLong,
    /// The list or map has more items than allowed.
    TooMany,
    /// The server failed while checking the field.
    Internal,
    /// The value has the wrong JSON type.
    TypeInvalid,
}

impl ErrorType {
    /// The `reason` of a `StatusCause`.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The words that open the message.
    pub fn words(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
        }
    }

    /// Whether kube prints the bad value after the words. For these kinds
    /// it never does, whatever value the error carries.
    fn shows_value(self) -> bool {
        !matches!(
            self,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal
        )
    }
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of problem.
    pub kind: ErrorType,
    /// The field's path, as kube writes it: `metadata.labels[app]`,
    /// `spec.ports[0].port`.
    pub field: String,
    /// The offending value, printed as Go's `%v`/`%q` would print it, or
    /// `None` where kube leaves the value out.
    pub value: Option<Value>,
    /// What is wrong, in words. May be empty.
    pub detail: String,
}

impl FieldError {
    /// A field error of any kind.
    pub fn new(
        kind: ErrorType,
        field: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        FieldError::new(ErrorType::Invalid, field, Some(value), detail)
    }

    /// `Required value: <detail>`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError::new(ErrorType::Required, field, None, detail)
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError::new(ErrorType::Forbidden, field, None, detail)
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        FieldError::new(ErrorType::Duplicate, field, Some(value), "")
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: Value, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::new(ErrorType::NotSupported, field, Some(value), detail)
    }

    /// `Too long: may not be more than <max> bytes` (kube's wording for
    /// strings; callers pass their own detail for other units).
    pub fn too_long(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError::new(ErrorType::TooLong, field, None, detail)
    }

    /// `Too many: <count>: must have at most <max> items`.
    pub fn too_many(field: impl Into<String>, count: usize, max: usize) -> Self {
        FieldError::new(
            ErrorType::TooMany,
            field,
            Some(Value::from(count)),
            format!("must have at most {max} items"),
        )
    }

    /// The message without the field: what goes in a `StatusCause`.
    pub fn body(&self) -> String {
        let mut s = String::from(self.kind.words());
        if self.kind.shows_value()
            && let Some(value) = &self.value
        {
            s.push_str(": ");
            s.push_str(&go_value(value));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Joins a list of errors as kube's `ErrorList.ToAggregate()` does: one
/// error alone, or several in brackets separated by `, `. Identical
/// messages are only said once.
pub fn aggregate(errors: &[FieldError]) -> String {
    let mut seen = Vec::new();
    for e in errors {
        let s = e.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    if seen.len() == 1 {
        seen.remove(0)
    } else {
        format!("[{}]", seen.join(", "))
    }
}

/// Prints a JSON value as Go prints the value kube holds: strings with
/// `%q`, numbers and booleans plainly, null as `null`, and anything else as
/// JSON (the closest readable stand-in for Go's `%#v` of a map or slice).
pub fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Quotes a string as Go's `%q` does for printable text: double quotes,
/// with `"` and `\` escaped and control characters written as escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path into an object, built up while walking it, printed the way kube
/// prints field paths (`spec.ports[0].name`, `metadata.labels[app]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path {
    text: String,
}

impl Path {
    /// The root, printed as the empty string.
    pub fn root() -> Path {
        Path::default()
    }

    /// A path starting at a named field.
    pub fn new(field: &str) -> Path {
        Path {
            text: field.to_string(),
        }
    }

    /// This path followed by a field name.
    pub fn child(&self, field: &str) -> Path {
        let text = if self.text.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.text)
        };
        Path { text }
    }

    /// This path followed by a list index.
    pub fn index(&self, i: usize) -> Path {
        Path {
            text: format!("{}[{i}]", self.text),
        }
    }

    /// This path followed by a map key.
    pub fn key(&self, key: &str) -> Path {
        Path {
            text: format!("{}[{key}]", self.text),
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.text
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.text.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_name_reads_like_kube() {
        let e = FieldError::invalid(
            "metadata.name",
            json!("Foo"),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
        );
        assert_eq!(
            e.to_string(),
            "metadata.name: Invalid value: \"Foo\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
        );
        assert_eq!(e.kind.reason(), "FieldValueInvalid");
    }

    #[test]
    fn required_and_forbidden_never_show_the_value() {
        let e = FieldError::new(
            ErrorType::Required,
            "metadata.name",
            Some(json!("")),
            "name or generateName is required",
        );
        assert_eq!(
            e.to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let e = FieldError::forbidden("spec", "");
        assert_eq!(e.body(), "Forbidden");
    }

    #[test]
    fn values_print_as_go_prints_them() {
        let e = FieldError::invalid("spec.replicas", json!(3), "must be even");
        assert_eq!(e.body(), "Invalid value: 3: must be even");
        let e = FieldError::not_supported("spec.type", json!("Foo"), &["ClusterIP", "NodePort"]);
        assert_eq!(
            e.body(),
            "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"NodePort\""
        );
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn aggregate_brackets_several_and_not_one() {
        let a = FieldError::required("a", "");
        let b = FieldError::required("b", "");
        assert_eq!(aggregate(std::slice::from_ref(&a)), "a: Required value");
        assert_eq!(
            aggregate(&[a.clone(), b, a]),
            "[a: Required value, b: Required value]"
        );
    }

    #[test]
    fn paths_print_like_kube() {
        let p = Path::new("spec").child("ports").index(0).child("name");
        assert_eq!(p.as_str(), "spec.ports[0].name");
        assert_eq!(
            Path::new("metadata").child("labels").key("app").as_str(),
            "metadata.labels[app]"
        );
        assert_eq!(Path::root().child("spec").as_str(), "spec");
    }
}
