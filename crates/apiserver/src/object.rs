//! Reading and writing the standard parts of an object held as JSON.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The object's `metadata`, or an empty map when it has none.
pub fn meta(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.as_object()
}

/// The object's `metadata`, created if missing. `None` when the object is
/// not a JSON object or its metadata is not one.
pub fn meta_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let obj = object.as_object_mut()?;
    obj.entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// A string field of `metadata`, empty when absent.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    meta(object)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.name`.
pub fn name(object: &Value) -> &str {
    meta_str(object, "name")
}

/// `metadata.namespace`.
pub fn namespace(object: &Value) -> &str {
    meta_str(object, "namespace")
}

/// `metadata.labels`, if any.
pub fn labels(object: &Value) -> Option<&Map<String, Value>> {
    meta(object)?.get("labels")?.as_object()
}

/// `metadata.finalizers`, as strings.
pub fn finalizers(object: &Value) -> Vec<String> {
    meta(object)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object is being deleted.
pub fn is_deleting(object: &Value) -> bool {
    meta(object).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|v| !v.is_null()))
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(object: &mut Value, revision: i64) {
    if let Some(m) = meta_mut(object) {
        m.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

/// Removes `metadata.resourceVersion`, which is never stored: the store's
/// mod revision is the resource version.
pub fn clear_resource_version(object: &mut Value) {
    if let Some(m) = meta_mut(object) {
        m.remove("resourceVersion");
    }
}

/// Now, as kube writes timestamps: RFC 3339 in UTC with whole seconds.
pub fn now_timestamp() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// A time as kube writes `metav1.Time`.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    // Formatting a valid UTC time as RFC 3339 cannot fail.
    t.format(&Rfc3339).unwrap_or_default()
}

/// A fresh UID, in the textual form of a random (version 4) UUID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random suffix for `generateName`, from the alphabet kube uses (no
/// vowels, so no words; no easily confused characters).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uid_looks_like_a_uuid() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn timestamps_have_whole_seconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(timestamp(t), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn metadata_helpers() {
        let mut o = json!({"metadata": {"name": "a", "namespace": "n", "finalizers": ["x"]}});
        assert_eq!(name(&o), "a");
        assert_eq!(namespace(&o), "n");
        assert_eq!(finalizers(&o), vec!["x"]);
        set_resource_version(&mut o, 7);
        assert_eq!(o["metadata"]["resourceVersion"], "7");
        clear_resource_version(&mut o);
        assert!(o["metadata"].get("resourceVersion").is_none());
        assert_eq!(random_suffix().len(), 5);
    }
}
