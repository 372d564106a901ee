//! End-to-end tests of the schema engine against kube's outputs.

use super::*;
use serde_json::json;

#[test]
fn smoke() {
    let s = Schema::from_crd(&json!({"type": "object"}), &Path::new("x")).unwrap();
    assert!(validate(&s, &json!({}), None).is_empty());
}
