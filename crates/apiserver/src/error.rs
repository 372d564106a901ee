//! API errors, and the `Status` documents kube-apiserver answers them with.
//!
//! Clients read the `reason` and `code` to decide what to do (kubectl prints
//! `Error from server (NotFound): …`, client-go retries on `Conflict`,
//! reflectors re-list on `Expired`), so each variant reproduces
//! kube-apiserver's reason, code, message and details exactly.

use serde_json::{Value, json};

use crate::field::{self, FieldError};
use crate::storage::StorageError;

/// The group and plural resource an error is about, as kube names it in
/// messages (`configmaps`, `widgets.example.com`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qualified {
    /// The API group; empty for the core group.
    pub group: String,
    /// The plural resource name.
    pub resource: String,
}

impl Qualified {
    /// `resource` or `resource.group`.
    pub fn text(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// An error answered to the client as a `Status`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The object does not exist (404).
    #[error("{} {:?} not found", .what.text(), .name)]
    NotFound {
        /// Its resource.
        what: Qualified,
        /// Its name.
        name: String,
    },
    /// The object exists already (409 AlreadyExists).
    #[error("{} {:?} already exists", .what.text(), .name)]
    AlreadyExists {
        /// Its resource.
        what: Qualified,
        /// Its name.
        name: String,
    },
    /// The object changed since the client read it (409 Conflict).
    #[error("Operation cannot be fulfilled on {} {:?}: {}", .what.text(), .name, .why)]
    Conflict {
        /// Its resource.
        what: Qualified,
        /// Its name.
        name: String,
        /// What went wrong.
        why: String,
    },
    /// The object fails validation (422 Invalid).
    #[error("{} {name:?} is invalid: {}", qualified_kind(.group, .kind), field::aggregate(.errors))]
    Invalid {
        /// The API group of the kind.
        group: String,
        /// The kind.
        kind: String,
        /// The object's name.
        name: String,
        /// What is wrong.
        errors: Vec<FieldError>,
    },
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The URL names no resource this server serves (404, no details).
    #[error("the server could not find the requested resource")]
    NoResource,
    /// The resource does not support the verb (405).
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// The client accepts no representation the server can give (406).
    #[error("{0}")]
    NotAcceptable(String),
    /// The request body's content type is not supported (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request body is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// A resource version or continue token is too old (410 Expired).
    #[error("{0}")]
    Expired(String),
    /// A resource version is newer than the server has seen (504 Timeout,
    /// as kube answers "Too large resource version").
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion {
        /// What was asked for.
        requested: i64,
        /// Where the server is.
        current: i64,
    },
    /// No credentials or bad ones (401).
    #[error("Unauthorized")]
    Unauthorized,
    /// The request is not allowed in this state (403), e.g. creating in a
    /// terminating namespace.
    #[error("{message}")]
    Forbidden {
        /// Its resource.
        what: Qualified,
        /// Its name.
        name: String,
        /// The whole message.
        message: String,
    },
    /// The server is starting or stopping (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something failed inside the server (500).
    #[error("{0}")]
    Internal(String),
    /// A `Status` built elsewhere (the patch module words its own).
    #[error("{}", .status["message"].as_str().unwrap_or(""))]
    Status {
        /// The HTTP status code.
        code: u16,
        /// The whole `Status` document.
        status: Value,
    },
}

impl ApiError {
    /// A 500 from a storage failure.
    pub fn storage(e: StorageError) -> ApiError {
        match e {
            StorageError::Closed => ApiError::Unavailable("the server is shutting down".into()),
            e => {
                let mut text = e.to_string();
                let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(": ");
                    text.push_str(&c.to_string());
                    cause = c.source();
                }
                ApiError::Internal(text)
            }
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoResource => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::TooLarge(_) => 413,
            ApiError::Expired(_) => 410,
            ApiError::TooLargeResourceVersion { .. } => 504,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
            ApiError::Status { code, .. } => *code,
        }
    }

    /// kube's `StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoResource => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::Expired(_) => "Expired",
            ApiError::TooLargeResourceVersion { .. } => "Timeout",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) => "InternalError",
            ApiError::Status { status, .. } => match status["reason"].as_str() {
                Some("BadRequest") => "BadRequest",
                Some("Invalid") => "Invalid",
                Some("UnsupportedMediaType") => "UnsupportedMediaType",
                Some("RequestEntityTooLarge") => "RequestEntityTooLarge",
                _ => "",
            },
        }
    }

    /// The `Status` document.
    pub fn status(&self) -> Value {
        if let ApiError::Status { status, .. } = self {
            return status.clone();
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { what, name }
            | ApiError::AlreadyExists { what, name }
            | ApiError::Conflict { what, name, .. }
            | ApiError::Forbidden { what, name, .. } => Some(qualified_details(what, name)),
            ApiError::Invalid {
                group,
                kind,
                name,
                errors,
            } => {
                let causes: Vec<Value> = errors
                    .iter()
                    .map(|e| {
                        json!({
                            "reason": e.kind.reason(),
                            "message": e.body(),
                            "field": e.field,
                        })
                    })
                    .collect();
                let mut d = serde_json::Map::new();
                if !name.is_empty() {
                    d.insert("name".into(), json!(name));
                }
                if !group.is_empty() {
                    d.insert("group".into(), json!(group));
                }
                d.insert("kind".into(), json!(kind));
                d.insert("causes".into(), Value::Array(causes));
                Some(Value::Object(d))
            }
            ApiError::TooLargeResourceVersion { .. } => Some(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1,
            })),
            _ => None,
        };
        if let (Some(d), Value::Object(m)) = (details, &mut status) {
            m.insert("details".into(), d);
        }
        status
    }
}

fn qualified_details(what: &Qualified, name: &str) -> Value {
    let mut d = serde_json::Map::new();
    d.insert("name".into(), json!(name));
    if !what.group.is_empty() {
        d.insert("group".into(), json!(what.group));
    }
    d.insert("kind".into(), json!(what.resource));
    Value::Object(d)
}

/// kube's `GroupKind` string: `Kind.group`, or `Kind` in the core group.
fn qualified_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm() -> Qualified {
        Qualified {
            group: String::new(),
            resource: "configmaps".into(),
        }
    }

    #[test]
    fn not_found_is_kubes_status() {
        let e = ApiError::NotFound {
            what: cm(),
            name: "app".into(),
        };
        assert_eq!(
            e.status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"configmaps \"app\" not found","reason":"NotFound",
                "details":{"name":"app","kind":"configmaps"},"code":404})
        );
    }

    #[test]
    fn conflict_names_the_resource_with_its_group() {
        let e = ApiError::Conflict {
            what: Qualified {
                group: "example.com".into(),
                resource: "widgets".into(),
            },
            name: "w".into(),
            why: "the object has been modified; please apply your changes to the latest version and try again".into(),
        };
        assert_eq!(
            e.to_string(),
            "Operation cannot be fulfilled on widgets.example.com \"w\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(e.status()["details"]["group"], "example.com");
    }

    #[test]
    fn invalid_carries_causes() {
        let e = ApiError::Invalid {
            group: String::new(),
            kind: "ConfigMap".into(),
            name: "Foo".into(),
            errors: vec![FieldError::invalid("metadata.name", json!("Foo"), "bad")],
        };
        let s = e.status();
        assert_eq!(
            s["message"],
            "ConfigMap \"Foo\" is invalid: metadata.name: Invalid value: \"Foo\": bad"
        );
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueInvalid");
        assert_eq!(
            s["details"]["causes"][0]["message"],
            "Invalid value: \"Foo\": bad"
        );
        assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
    }
}
