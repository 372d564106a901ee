//! Temporary: equality-only selectors until the full selector module lands.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::resource::ResourceType;

type LabelTest = Box<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;
type FieldTest = Box<dyn Fn(&dyn Fn(&str) -> Option<String>) -> bool + Send + Sync>;

pub fn labels(s: &str) -> Result<Option<LabelTest>, ApiError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let mut reqs = Vec::new();
    for term in s.split(',') {
        let (k, v, eq) = if let Some((k, v)) = term.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = term.split_once("==") {
            (k, v, true)
        } else if let Some((k, v)) = term.split_once('=') {
            (k, v, true)
        } else {
            return Err(ApiError::BadRequest(format!("unable to parse requirement: {term}")));
        };
        reqs.push((k.trim().to_string(), v.trim().to_string(), eq));
    }
    Ok(Some(Box::new(move |labels: &Map<String, Value>| {
        reqs.iter().all(|(k, v, eq)| {
            let have = labels.get(k).and_then(Value::as_str).unwrap_or("");
            (have == v) == *eq
        })
    })))
}

pub fn fields(resource: &ResourceType, s: &str) -> Result<Option<FieldTest>, ApiError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let mut reqs = Vec::new();
    for term in s.split(',') {
        let (k, v, eq) = if let Some((k, v)) = term.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = term.split_once("==") {
            (k, v, true)
        } else if let Some((k, v)) = term.split_once('=') {
            (k, v, true)
        } else {
            return Err(ApiError::BadRequest(format!("invalid selector: '{s}'; can't understand '{term}'")));
        };
        if !resource.is_selectable(k) {
            return Err(ApiError::BadRequest(format!("field label not supported: {k}")));
        }
        reqs.push((k.to_string(), v.to_string(), eq));
    }
    Ok(Some(Box::new(move |get: &dyn Fn(&str) -> Option<String>| {
        reqs.iter()
            .all(|(k, v, eq)| (get(k).unwrap_or_default() == *v) == *eq)
    })))
}
