//! PATCH bodies for JSON objects, applied as kube-apiserver 1.33 applies
//! them: `application/json-patch+json` (RFC 6902, evanphx/json-patch v4),
//! `application/merge-patch+json` (RFC 7386) and
//! `application/strategic-merge-patch+json` (built-in kinds only).
//!
//! [`PatchType::from_content_type`] picks the type from the request header;
//! [`apply`] parses the body and applies it to the stored object. Every
//! failure is a [`PatchError`] carrying the status code, reason and message
//! kube would answer with ([`PatchError::status`] builds the `Status`).
//! Decoding the patched object into its kind (unknown fields, types) is the
//! caller's; [`Patched`] hands over the strict-decoding findings in the
//! patch itself so the caller can report them together, as kube does.

mod json;
mod jsonpatch;
mod merge;
pub mod meta;
mod strategic;

use serde_json::{Value, json};

use crate::field::{FieldError, aggregate};

pub use json::MAX_DEPTH;
pub use meta::{Field, PatchMeta, Shape, Strategy, StrategyKind, builtin_patch_meta};

/// kube's `maxJSONPatchOperations`.
const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// The patch content types kube-apiserver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply, not applied here).
    ApplyYaml,
}

impl PatchType {
    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::ApplyYaml => "application/apply-patch+yaml",
        }
    }

    /// Reads a `Content-Type` header as kube does: parameters after the
    /// first `;` are dropped (nothing else is trimmed, case matters).
    /// `strategic` says whether the resource is a built-in kind; custom
    /// resources do not accept strategic merge patch, and kube's 415 then
    /// lists only what they accept.
    pub fn from_content_type(content_type: &str, strategic: bool) -> Result<PatchType, PatchError> {
        let base = match content_type.find(';') {
            Some(i) if i > 0 => &content_type[..i],
            _ => content_type,
        };
        let accepted: &[PatchType] = if strategic {
            &[
                PatchType::Json,
                PatchType::Merge,
                PatchType::StrategicMerge,
                PatchType::ApplyYaml,
            ]
        } else {
            &[PatchType::Json, PatchType::Merge, PatchType::ApplyYaml]
        };
        accepted
            .iter()
            .copied()
            .find(|t| t.media_type() == base)
            .ok_or_else(|| PatchError::UnsupportedMediaType {
                accepted: accepted
                    .iter()
                    .map(|t| t.media_type())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// The `fieldValidation` directive of the request. kube treats an absent
/// one as `Warn`, which is the default here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Duplicate and unknown fields pass silently.
    Ignore,
    /// They are reported as warnings.
    #[default]
    Warn,
    /// They fail the request.
    Strict,
}

impl FieldValidation {
    fn checks(self) -> bool {
        self != FieldValidation::Ignore
    }
}

/// A patch applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The patched object, still to be decoded and validated as its kind.
    pub object: Value,
    /// Strict-decoding findings in the patch body itself, in kube's words
    /// (`duplicate field "spec.paused"`, `json patch unknown field
    /// "[0].foo"`); empty unless validation is `Warn` or `Strict`. kube
    /// appends the findings of decoding the object, then warns or fails.
    pub strict_errors: Vec<String>,
    /// What kube prints as the offending value when it fails the request:
    /// the patched object as JSON, or for strategic merge the patch as Go
    /// prints a map.
    value_repr: ValueRepr,
}

#[derive(Debug, Clone, PartialEq)]
enum ValueRepr {
    Object,
    Patch(Value),
}

impl Patched {
    /// kube's 422 when strict decoding finds problems and validation is
    /// `Strict`: these strict errors followed by the caller's `decode`
    /// findings (`unknown field "spec.x"`).
    pub fn strict_error(&self, decode: &[String]) -> PatchError {
        let all: Vec<&str> = self
            .strict_errors
            .iter()
            .chain(decode.iter())
            .map(String::as_str)
            .collect();
        self.invalid(&format!("strict decoding error: {}", all.join(", ")))
    }

    /// kube's 422 when the patched object cannot be decoded as its kind at
    /// all; `detail` is the decoder's error.
    pub fn decode_error(&self, detail: &str) -> PatchError {
        self.invalid(detail)
    }

    fn invalid(&self, detail: &str) -> PatchError {
        let repr = match &self.value_repr {
            ValueRepr::Object => json::go_json(&self.object),
            ValueRepr::Patch(p) => json::go_v(p),
        };
        PatchError::Invalid(vec![FieldError::invalid(
            "patch",
            Value::String(repr),
            detail,
        )])
    }
}

/// Why a patch was refused, with what kube answers for it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// 415 UnsupportedMediaType: the Content-Type is not one the resource
    /// accepts.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: {accepted}"
    )]
    UnsupportedMediaType {
        /// The accepted media types, comma-separated.
        accepted: String,
    },
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 422 Invalid with kube's generic text (`NewGenericServerResponse`),
    /// which is all kube tells the client when a JSON patch operation
    /// fails; `cause` is the library's error, for logs.
    #[error("the server rejected our request due to an error in our request")]
    Rejected {
        /// The underlying error, not sent to the client.
        cause: String,
    },
    /// 422 Invalid about the field `patch`: `"" is invalid: patch: ...`.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<FieldError>),
    /// 413 RequestEntityTooLarge.
    #[error("Request entity too large: {0}")]
    TooLarge(String),
    /// 500 with no reason: an error kube passes through unconverted.
    #[error("{0}")]
    Internal(String),
    /// 500 with a plain-text body: kube's handler panicked on this input.
    #[error("This request caused apiserver to panic. Look in the logs for details.")]
    Panic {
        /// What Go would have panicked with, for logs.
        cause: String,
    },
}

fn invalid_message(errors: &[FieldError]) -> String {
    format!(" \"\" is invalid: {}", aggregate(errors))
}

impl PatchError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::UnsupportedMediaType { .. } => 415,
            PatchError::BadRequest(_) => 400,
            PatchError::Rejected { .. } | PatchError::Invalid(_) => 422,
            PatchError::TooLarge(_) => 413,
            PatchError::Internal(_) | PatchError::Panic { .. } => 500,
        }
    }

    /// The `Status` reason; empty where kube sends none.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Rejected { .. } | PatchError::Invalid(_) => "Invalid",
            PatchError::TooLarge(_) => "RequestEntityTooLarge",
            PatchError::Internal(_) | PatchError::Panic { .. } => "",
        }
    }

    /// Whether kube answers with plain text rather than a `Status`.
    pub fn is_plain_text(&self) -> bool {
        matches!(self, PatchError::Panic { .. })
    }

    /// The `Status` object kube answers with (for [`PatchError::Panic`],
    /// which kube answers in plain text, a `Status` with the same words).
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "code": self.code(),
        });
        if !self.reason().is_empty() {
            status["reason"] = json!(self.reason());
        }
        match self {
            PatchError::Rejected { .. } => status["details"] = json!({}),
            PatchError::Invalid(errors) => {
                let causes: Vec<Value> = errors
                    .iter()
                    .map(|e| {
                        json!({"reason": e.kind.reason(), "message": e.body(), "field": e.field})
                    })
                    .collect();
                status["details"] = json!({ "causes": causes });
            }
            _ => {}
        }
        status
    }
}

/// Applies a PATCH body to the stored object. `meta` is the merge metadata
/// of the kind ([`builtin_patch_meta`]), needed only for strategic merge.
pub fn apply(
    patch_type: PatchType,
    original: &Value,
    body: &[u8],
    meta: Option<&dyn PatchMeta>,
    validation: FieldValidation,
) -> Result<Patched, PatchError> {
    match patch_type {
        PatchType::Json => apply_json_patch(original, body, validation),
        PatchType::Merge => apply_merge_patch(original, body, validation),
        PatchType::StrategicMerge => apply_strategic(original, body, meta, validation),
        PatchType::ApplyYaml => Err(PatchError::Internal(format!(
            "{}: unimplemented patch type",
            patch_type.media_type()
        ))),
    }
}

/// The `interface{}`-typed top level a body must decode into: `Ok(())` when
/// it is an object (or null), Go's type error otherwise.
fn expect_object(node: &json::Node<'_>, go_type: &str) -> Result<(), String> {
    match node {
        json::Node::Object(_) | json::Node::Null => Ok(()),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type {go_type}",
            other.go_kind()
        )),
    }
}

/// Go's `UnmarshalStrict` into `[]jsonPatchOp`: type errors, then the
/// unknown and duplicate fields of each operation.
fn strict_json_patch(node: &json::Node<'_>) -> Result<Vec<String>, String> {
    let items = match node {
        json::Node::Null => return Ok(Vec::new()),
        json::Node::Array(items) => items,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                other.go_kind()
            ));
        }
    };
    let mut found = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let members = match item {
            json::Node::Null => continue,
            json::Node::Object(members) => members,
            other => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                    other.go_kind()
                ));
            }
        };
        let mut seen = std::collections::HashSet::new();
        for (k, v) in members {
            match k.as_str() {
                "op" | "path" | "from" => {
                    if !matches!(v, json::Node::String(..) | json::Node::Null) {
                        return Err(format!(
                            "json: cannot unmarshal {} into Go struct field jsonPatchOp.{k} of type string",
                            v.go_kind()
                        ));
                    }
                }
                "value" => {}
                _ => {
                    found.push(format!("json patch unknown field \"[{i}].{k}\""));
                    continue;
                }
            }
            if !seen.insert(k.as_str()) {
                found.push(format!("json patch duplicate field \"[{i}].{k}\""));
            }
            if k == "value" {
                for dup in json::duplicate_fields(v) {
                    let inner = dup.trim_start_matches("duplicate field \"");
                    found.push(format!("json patch duplicate field \"[{i}].value.{inner}"));
                }
            }
        }
    }
    Ok(found)
}

fn apply_json_patch(
    original: &Value,
    body: &[u8],
    validation: FieldValidation,
) -> Result<Patched, PatchError> {
    let node = json::parse(body);
    let mut strict_errors = Vec::new();
    if validation.checks() {
        let node = node
            .as_ref()
            .map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))?;
        strict_errors = strict_json_patch(node)
            .map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))?;
    }
    let node = node.map_err(PatchError::BadRequest)?;
    let items: &[json::Node<'_>] = match &node {
        json::Node::Null => &[],
        json::Node::Array(items) => items,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                other.go_kind()
            )));
        }
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        let op = jsonpatch::Operation::from_node(item).ok_or_else(|| {
            PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                item.go_kind()
            ))
        })?;
        ops.push(op);
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let object = jsonpatch::apply(original.clone(), &ops).map_err(|e| match e {
        jsonpatch::OpError::Failed(cause) => PatchError::Rejected { cause },
        jsonpatch::OpError::Panic(cause) => PatchError::Panic { cause },
    })?;
    if json::depth(&object) > MAX_DEPTH {
        return Err(PatchError::Rejected {
            cause: "exceeded max depth".to_string(),
        });
    }
    finish(object, strict_errors, ValueRepr::Object)
}

fn apply_merge_patch(
    original: &Value,
    body: &[u8],
    validation: FieldValidation,
) -> Result<Patched, PatchError> {
    let node = json::parse(body);
    let mut strict_errors = Vec::new();
    if validation.checks() {
        let node = node
            .as_ref()
            .map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))?;
        expect_object(node, "map[string]interface {}")
            .and_then(|()| node.to_value().map(drop))
            .map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))?;
        strict_errors = json::duplicate_fields(node);
    }
    let bad = || PatchError::BadRequest("Invalid JSON Patch".to_string());
    let node = node.map_err(|_| bad())?;
    let object = merge::apply(original.clone(), &node).map_err(|_| bad())?;
    finish(object, strict_errors, ValueRepr::Object)
}

fn apply_strategic(
    original: &Value,
    body: &[u8],
    meta: Option<&dyn PatchMeta>,
    validation: FieldValidation,
) -> Result<Patched, PatchError> {
    let node = json::parse(body).map_err(PatchError::BadRequest)?;
    expect_object(&node, "map[string]interface {}").map_err(PatchError::BadRequest)?;
    let patch = node.to_value().map_err(PatchError::BadRequest)?;
    let strict_errors = if validation.checks() {
        json::duplicate_fields(&node)
    } else {
        Vec::new()
    };
    let Some(meta) = meta else {
        return Err(PatchError::BadRequest(
            "strategic merge patch format is not supported".to_string(),
        ));
    };
    let object = strategic::apply(original.clone(), patch.clone(), meta).map_err(|e| match e {
        strategic::SmpError::BadRequest(m) => PatchError::BadRequest(m.to_string()),
        strategic::SmpError::Unprocessable(m) => PatchError::Rejected {
            cause: m.to_string(),
        },
        strategic::SmpError::Other(m) => PatchError::Internal(m),
        strategic::SmpError::Panic(cause) => PatchError::Panic { cause },
    })?;
    finish(object, strict_errors, ValueRepr::Patch(patch))
}

/// A patched document that is not an object cannot be decoded as any kind;
/// kube fails reading its apiVersion and kind.
fn finish(
    object: Value,
    strict_errors: Vec<String>,
    value_repr: ValueRepr,
) -> Result<Patched, PatchError> {
    let patched = Patched {
        object,
        strict_errors,
        value_repr,
    };
    if let Value::Array(_) = patched.object {
        return Err(patched.decode_error(
            "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }",
        ));
    }
    Ok(patched)
}

#[cfg(test)]
mod tests;
