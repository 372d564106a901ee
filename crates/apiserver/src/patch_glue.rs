//! Temporary: JSON and merge patches until the full patch module lands.

use serde_json::Value;

use crate::error::ApiError;
use crate::resource::{ResourceType, Special};

#[derive(Clone, Copy, Debug)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
}

impl PatchKind {
    pub fn from_content_type(rt: &ResourceType, ct: &str) -> Result<PatchKind, ApiError> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" if !matches!(rt.special, Special::Custom { .. }) => Ok(PatchKind::Strategic),
            _ => Err(ApiError::UnsupportedMediaType(format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"))),
        }
    }
}

pub fn apply(_rt: &ResourceType, kind: PatchKind, current: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut doc = current.clone();
    match kind {
        PatchKind::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            json_patch::patch(&mut doc, &p).map_err(|e| ApiError::Invalid { group: String::new(), kind: String::new(), name: String::new(), errors: vec![crate::field::FieldError::invalid("", Value::Null, e.to_string())] })?;
        }
        PatchKind::Merge | PatchKind::Strategic => json_patch::merge(&mut doc, &patch),
    }
    Ok(doc)
}
