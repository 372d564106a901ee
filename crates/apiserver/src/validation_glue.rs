//! Temporary: minimal metadata checks until the full validation module lands.

use serde_json::{Value, json};

use crate::field::FieldError;
use crate::object;
use crate::resource::ResourceType;

pub fn object_meta(_rt: &ResourceType, v: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = object::name(v);
    if name.is_empty() {
        errors.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else if name.len() > 253 || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        errors.push(FieldError::invalid("metadata.name", json!(name), "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
    }
    errors
}

pub fn object_meta_update(_new: &Value, _old: &Value) -> Vec<FieldError> {
    Vec::new()
}
