//! Object metadata validation, with kube-apiserver's exact messages.
//!
//! The rules and texts are those of kube 1.33: k8s.io/apimachinery
//! `util/validation` (names, qualified names, label values),
//! `api/validation` (`ValidateObjectMeta`, `ValidateObjectMetaUpdate`) and
//! `apis/meta/v1/validation` (labels, selectors, managed fields). Every
//! problem is a [`FieldError`] whose text is what kube's `field.Error`
//! prints; the handler wraps a list of them in a `422 Invalid` `Status`
//! (`ConfigMap "Foo" is invalid: metadata.name: Invalid value: ...`).
//!
//! How kube layers these on a write, which the registry follows:
//! - create: the kind's own validation (its [`NameRule`], plus its spec
//!   checks) runs first and, if it found anything, is the answer; only
//!   then does the generic check run again with [`NameRule::PathSegment`].
//!   The name is generated from `generateName` before either runs.
//! - update: [`prepare_object_meta_for_update`] first silently restores
//!   what an update may not change, then the generic checks
//!   ([`validate_object_meta`] with [`NameRule::PathSegment`] and
//!   [`validate_object_meta_update`]) come before the kind's own, all in
//!   one list.

use serde_json::{Map, Value};

use crate::field::{FieldError, Path};

/// The longest DNS (RFC 1123) label.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// The longest DNS (RFC 1123) subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// The longest DNS (RFC 1035) label.
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// The longest name part of a qualified name.
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// The longest label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// The most bytes all annotations of an object may hold, keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// The longest `managedFields[].manager`.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;
/// The longest `managedFields[].subresource`.
pub const MAX_SUBRESOURCE_NAME_LENGTH: usize = 256;
/// kube's message for a field that may not change.
pub const FIELD_IMMUTABLE: &str = "field is immutable";

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";

/// The finalizers kube itself defines, which need no domain prefix.
pub const STANDARD_FINALIZERS: &[&str] = &["orphan", "foregroundDeletion", "kubernetes"];

/// kube's `MaxLenError`: `must be no more than N characters` (kube 1.33
/// says characters though it counts bytes).
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// kube's `RegexError`: the message, the examples and the regex, e.g.
/// `... (e.g. 'MyName',  or 'my.name', regex used for validation is '...')`
/// (the doubled space before `or` is kube's).
pub fn regex_error(msg: &str, regex: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{regex}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(e);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(regex);
    out.push_str("')");
    out
}

/// kube's `EmptyError`.
pub fn empty_error() -> &'static str {
    "must be non-empty"
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn matches_qualified_name(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            is_alnum(f)
                && is_alnum(l)
                && b.iter()
                    .all(|&c| is_alnum(c) || c == b'-' || c == b'_' || c == b'.')
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
fn matches_dns1123_label(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            is_lower_alnum(f)
                && is_lower_alnum(l)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// `^label(\.label)*$` with `label` a DNS-1123 label.
fn matches_dns1123_subdomain(b: &[u8]) -> bool {
    b.split(|&c| c == b'.').all(matches_dns1123_label)
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`
fn matches_dns1035_label(b: &[u8]) -> bool {
    matches!(b.first(), Some(c) if c.is_ascii_lowercase()) && matches_dns1123_label(b)
}

/// kube's `IsQualifiedName`, the rule for label and annotation keys and
/// finalizers: an optional DNS subdomain prefix and `/`, then a name of at
/// most 63 alphanumerics, `-`, `_` or `.` starting and ending with an
/// alphanumeric. Returns kube's messages, none if the value is valid.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let mut parts = value.split('/');
    let first = parts.next().unwrap_or("");
    let second = parts.next();
    let name = match (second, parts.next()) {
        (None, _) => first,
        (Some(name), None) => {
            if first.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(first)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            name
        }
        (Some(_), Some(_)) => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name(name.as_bytes()) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// kube's `IsValidLabelValue`: empty, or at most 63 alphanumerics, `-`,
/// `_` or `.` starting and ending with an alphanumeric.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_qualified_name(value.as_bytes()) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// kube's `IsDNS1123Label` (namespace names): at most 63 lower-case
/// alphanumerics or `-`, starting and ending with an alphanumeric. A valid
/// subdomain that is not a label is told `must not contain dots`.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    dns1123_label_errors(value.as_bytes())
}

fn dns1123_label_errors(value: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// kube's `IsDNS1123Subdomain` (most object names): at most 253
/// characters, dot-separated DNS-1123 labels.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    dns1123_subdomain_errors(value.as_bytes())
}

fn dns1123_subdomain_errors(value: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// kube's `IsDNS1035Label` (Service names): like a DNS-1123 label but
/// starting with a letter.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    dns1035_label_errors(value.as_bytes())
}

fn dns1035_label_errors(value: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// kube's `IsValidPathSegmentName`: a name that can be one segment of a
/// URL path: not `.` or `..`, no `/` or `%`.
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    for bad in [".", ".."] {
        if name == bad {
            return vec![format!("may not be '{bad}'")];
        }
    }
    is_valid_path_segment_prefix(name)
}

/// kube's `IsValidPathSegmentPrefix`: as a path segment, minus the exact
/// `.`/`..` check, since a suffix will follow.
pub fn is_valid_path_segment_prefix(name: &str) -> Vec<String> {
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Which rule an object's name must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS-1123 subdomain: most kinds, custom resources included.
    Dns1123Subdomain,
    /// A DNS-1123 label: Namespaces.
    Dns1123Label,
    /// A DNS-1035 label: Services.
    Dns1035Label,
    /// Anything usable as a URL path segment: RBAC roles and bindings, and
    /// the generic check every write gets after the kind's own.
    PathSegment,
}

impl NameRule {
    /// The rule kube 1.33 applies to a built-in kind's names: Namespaces
    /// are DNS-1123 labels, Services DNS-1035 labels, RBAC Roles,
    /// ClusterRoles and their bindings path segments, everything else
    /// (custom resources too) DNS-1123 subdomains.
    pub fn for_kind(group: &str, kind: &str) -> NameRule {
        match (group, kind) {
            ("", "Namespace") => NameRule::Dns1123Label,
            ("", "Service") => NameRule::Dns1035Label,
            (
                "rbac.authorization.k8s.io",
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
            ) => NameRule::PathSegment,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    /// Checks a name, or with `prefix` a `generateName` (kube's
    /// `ValidateNameFunc`): a prefix may end in `-`, since characters will
    /// follow. Returns kube's messages, none if valid.
    pub fn validate(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::PathSegment if prefix => is_valid_path_segment_prefix(name),
            NameRule::PathSegment => is_valid_path_segment_name(name),
            _ if prefix => self.check_bytes(&mask_trailing_dash(name)),
            _ => self.check_bytes(name.as_bytes()),
        }
    }

    fn check_bytes(self, name: &[u8]) -> Vec<String> {
        match self {
            NameRule::Dns1123Subdomain => dns1123_subdomain_errors(name),
            NameRule::Dns1123Label => dns1123_label_errors(name),
            NameRule::Dns1035Label => dns1035_label_errors(name),
            // Path segments are checked as text before getting here.
            NameRule::PathSegment => Vec::new(),
        }
    }
}

/// kube's `maskTrailingDash`, faithfully: a trailing `-` and the byte
/// before it become one `a` (kube drops two bytes, not one, and may cut a
/// multi-byte character in half, which then fails the check as kube's
/// does; hence bytes). A lone `-`, on which kube's own code panics, becomes
/// `a`.
fn mask_trailing_dash(name: &str) -> Vec<u8> {
    let b = name.as_bytes();
    if b.last() != Some(&b'-') {
        return b.to_vec();
    }
    let mut out = b[..b.len().saturating_sub(2)].to_vec();
    out.push(b'a');
    out
}

/// A string field of an object, or empty.
pub(crate) fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

fn sorted_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    keys
}

/// Validates an object's `metadata` on create, as kube's
/// `ValidateObjectMetaAccessor`, after the name has been generated from
/// `generateName`: `generateName` (as a prefix) and `name` by `rule`,
/// `name` required, `namespace` required and a DNS label when `namespaced`
/// and forbidden otherwise, `generation` not negative, labels,
/// annotations, owner references, finalizers and managed fields. `path` is
/// where the metadata sits (`metadata` for an object). Values of the wrong
/// JSON type read as absent; decoding is expected to have caught them.
pub fn validate_object_meta(
    meta: &Value,
    namespaced: bool,
    rule: NameRule,
    path: &Path,
) -> Vec<FieldError> {
    let empty = Map::new();
    let meta = meta.as_object().unwrap_or(&empty);
    let mut errs = Vec::new();

    let generate_name = str_field(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.validate(generate_name, true) {
            errs.push(FieldError::invalid(
                path.child("generateName"),
                Value::String(generate_name.to_string()),
                msg,
            ));
        }
    }
    let name = str_field(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for msg in rule.validate(name, false) {
            errs.push(FieldError::invalid(
                path.child("name"),
                Value::String(name.to_string()),
                msg,
            ));
        }
    }

    let namespace = str_field(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(path.child("namespace"), ""));
        } else {
            for msg in NameRule::Dns1123Label.validate(namespace, false) {
                errs.push(FieldError::invalid(
                    path.child("namespace"),
                    Value::String(namespace.to_string()),
                    msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            path.child("namespace"),
            "not allowed on this type",
        ));
    }

    if let Some(generation) = meta.get("generation").and_then(Value::as_i64)
        && generation < 0
    {
        errs.push(FieldError::invalid(
            path.child("generation"),
            Value::from(generation),
            "must be greater than or equal to 0",
        ));
    }
    errs.extend(validate_labels(
        meta.get("labels").unwrap_or(&Value::Null),
        &path.child("labels"),
    ));
    errs.extend(validate_annotations(
        meta.get("annotations").unwrap_or(&Value::Null),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        meta.get("ownerReferences").unwrap_or(&Value::Null),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        meta.get("finalizers").unwrap_or(&Value::Null),
        &path.child("finalizers"),
    ));
    errs.extend(validate_managed_fields(
        meta.get("managedFields").unwrap_or(&Value::Null),
        &path.child("managedFields"),
    ));
    errs
}

/// Validates `metadata` on update against the stored object's, as kube's
/// `ValidateObjectMetaAccessorUpdate`: no new finalizers once deletion has
/// begun, `resourceVersion` present, `generation` not decremented, `name`,
/// `namespace`, `uid`, `creationTimestamp`, `deletionTimestamp` and
/// `deletionGracePeriodSeconds` unchanged (`field is immutable`), then the
/// new labels, annotations, owner references and managed fields. Run
/// [`prepare_object_meta_for_update`] first, as kube does, or changes kube
/// silently reverts will be reported.
pub fn validate_object_meta_update(new: &Value, old: &Value, path: &Path) -> Vec<FieldError> {
    let empty = Map::new();
    let new = new.as_object().unwrap_or(&empty);
    let old = old.as_object().unwrap_or(&empty);
    let mut errs = Vec::new();

    if is_set(old.get("deletionTimestamp")) {
        let old_finalizers = string_list(old.get("finalizers"));
        let mut extra: Vec<&str> = string_list(new.get("finalizers"))
            .into_iter()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_string_slice(&extra)
                ),
            ));
        }
    }

    let rv = str_field(new, "resourceVersion");
    if rv.is_empty() {
        errs.push(FieldError::invalid(
            path.child("resourceVersion"),
            Value::String(String::new()),
            "must be specified for an update",
        ));
    }

    let new_gen = new.get("generation").and_then(Value::as_i64).unwrap_or(0);
    let old_gen = old.get("generation").and_then(Value::as_i64).unwrap_or(0);
    if new_gen < old_gen {
        errs.push(FieldError::invalid(
            path.child("generation"),
            Value::from(new_gen),
            "must not be decremented",
        ));
    }

    for key in ["name", "namespace", "uid"] {
        let (n, o) = (str_field(new, key), str_field(old, key));
        if n != o {
            errs.push(FieldError::invalid(
                path.child(key),
                Value::String(n.to_string()),
                FIELD_IMMUTABLE,
            ));
        }
    }
    // Go compares a zero Time and prints it as null; an absent timestamp
    // here is the zero one.
    let new_created = timestamp(new.get("creationTimestamp"));
    if new_created != timestamp(old.get("creationTimestamp")) {
        errs.push(FieldError::invalid(
            path.child("creationTimestamp"),
            new.get("creationTimestamp")
                .filter(|v| is_set(Some(v)))
                .cloned()
                .unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
    let new_deleted = timestamp(new.get("deletionTimestamp"));
    if new_deleted != timestamp(old.get("deletionTimestamp")) {
        errs.push(FieldError::invalid(
            path.child("deletionTimestamp"),
            new.get("deletionTimestamp")
                .filter(|v| is_set(Some(v)))
                .cloned()
                .unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
    let new_grace = new
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if new_grace
        != old
            .get("deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
    {
        errs.push(FieldError::invalid(
            path.child("deletionGracePeriodSeconds"),
            new_grace.map(Value::from).unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }

    errs.extend(validate_labels(
        new.get("labels").unwrap_or(&Value::Null),
        &path.child("labels"),
    ));
    errs.extend(validate_annotations(
        new.get("annotations").unwrap_or(&Value::Null),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        new.get("ownerReferences").unwrap_or(&Value::Null),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_managed_fields(
        new.get("managedFields").unwrap_or(&Value::Null),
        &path.child("managedFields"),
    ));
    errs
}

/// What kube's `BeforeUpdate` silently restores before validating an
/// update's `metadata` (both arguments are `metadata` objects): an empty
/// `uid` takes the stored one, `creationTimestamp` is always the stored one
/// (when one is stored), a stored `deletionTimestamp` cannot be removed or
/// moved, and a stored `deletionGracePeriodSeconds` cannot be removed. A
/// `deletionTimestamp` or grace period that was not stored is left for
/// [`validate_object_meta_update`] to reject.
pub fn prepare_object_meta_for_update(new: &mut Value, old: &Value) {
    let Some(old) = old.as_object() else {
        return;
    };
    let Some(new) = new.as_object_mut() else {
        return;
    };
    if str_field(new, "uid").is_empty()
        && let Some(uid) = old.get("uid").filter(|v| is_set(Some(v)))
    {
        new.insert("uid".to_string(), uid.clone());
    }
    if let Some(created) = old.get("creationTimestamp").filter(|v| is_set(Some(v))) {
        new.insert("creationTimestamp".to_string(), created.clone());
    }
    if let Some(deleted) = old.get("deletionTimestamp").filter(|v| is_set(Some(v))) {
        let moved = timestamp(new.get("deletionTimestamp")) != timestamp(Some(deleted));
        if moved {
            new.insert("deletionTimestamp".to_string(), deleted.clone());
        }
    }
    if let Some(grace) = old
        .get("deletionGracePeriodSeconds")
        .filter(|v| !v.is_null())
        && new
            .get("deletionGracePeriodSeconds")
            .is_none_or(Value::is_null)
    {
        new.insert("deletionGracePeriodSeconds".to_string(), grace.clone());
    }
}

/// kube's `ValidateLabels`: every key a qualified name and every value a
/// label value, all reported under `path` itself (kube does not key them).
/// Keys are checked in sorted order (kube's order is random).
pub fn validate_labels(labels: &Value, path: &Path) -> Vec<FieldError> {
    let Some(map) = labels.as_object() else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    for k in sorted_keys(map) {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, Value::String(k.clone()), msg));
        }
        let v = map.get(k.as_str()).and_then(Value::as_str).unwrap_or("");
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, Value::String(v.to_string()), msg));
        }
    }
    errs
}

/// kube's `ValidateAnnotations`: keys are qualified names once lower-cased
/// (reported as written), and keys and values together hold at most
/// 262144 bytes (`Too long: may not be more than 262144 bytes`).
pub fn validate_annotations(annotations: &Value, path: &Path) -> Vec<FieldError> {
    let Some(map) = annotations.as_object() else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let mut total = 0usize;
    for k in sorted_keys(map) {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, Value::String(k.clone()), msg));
        }
        total += k.len()
            + map
                .get(k.as_str())
                .and_then(Value::as_str)
                .map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// kube's `field.TooLong`: `Too long: may not be more than N bytes`.
pub fn too_long(path: &Path, max: usize) -> FieldError {
    let unit = if max == 1 { "byte" } else { "bytes" };
    FieldError::too_long(path, format!("may not be more than {max} {unit}"))
}

/// kube's `ValidateOwnerReferences`: each reference has a version in its
/// `apiVersion`, a `kind`, a `name` and a `uid` (reported under `path`, not
/// an index, as kube does), is not a core Event, and at most one is the
/// controller.
pub fn validate_owner_references(refs: &Value, path: &Path) -> Vec<FieldError> {
    let Some(list) = refs.as_array() else {
        return Vec::new();
    };
    let empty = Map::new();
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in list {
        let obj = r.as_object().unwrap_or(&empty);
        let api_version = str_field(obj, "apiVersion");
        let kind = str_field(obj, "kind");
        let name = str_field(obj, "name");
        let (group, version) = parse_group_version(api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                path.child("apiVersion"),
                Value::String(api_version.to_string()),
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                path.child("kind"),
                Value::String(String::new()),
                "must not be empty",
            ));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(
                path.child("name"),
                Value::String(String::new()),
                "must not be empty",
            ));
        }
        if str_field(obj, "uid").is_empty() {
            errs.push(FieldError::invalid(
                path.child("uid"),
                Value::String(String::new()),
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                r.clone(),
                format!("{group}/{version}, Kind={kind} is disallowed from being an owner"),
            ));
        }
        if obj.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    refs.clone(),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// kube's `ParseGroupVersion`, forgiving as `FromAPIVersionAndKind` is: a
/// string with more than one `/` reads as no group and no version.
fn parse_group_version(gv: &str) -> (&str, &str) {
    if gv.is_empty() || gv == "/" {
        return ("", "");
    }
    match gv.matches('/').count() {
        0 => ("", gv),
        1 => gv.split_once('/').unwrap_or(("", "")),
        _ => ("", ""),
    }
}

/// kube's `ValidateFinalizers`: each finalizer a qualified name (reported
/// under `path`, not an index), and not both `orphan` and
/// `foregroundDeletion`.
pub fn validate_finalizers(finalizers: &Value, path: &Path) -> Vec<FieldError> {
    let list = string_list(Some(finalizers));
    let mut errs = Vec::new();
    for f in &list {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, Value::String(f.to_string()), msg));
        }
    }
    if list.contains(&"orphan") && list.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            finalizers.clone(),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// The warnings kube 1.33 sends (in `Warning` headers) for a custom
/// resource's finalizers on create and update: each qualified-name problem,
/// and for a finalizer without a `/` that is not one of kube's own
/// ([`STANDARD_FINALIZERS`]) `metadata.finalizers: "x": prefer a
/// domain-qualified finalizer name to avoid accidental conflicts with
/// other finalizer writers`. It is a warning, not an error.
pub fn finalizer_warnings(finalizers: &Value, path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in string_list(Some(finalizers)) {
        let quoted = crate::field::go_quote(f);
        for msg in is_qualified_name(f) {
            out.push(format!("{path}: {quoted}: {msg}"));
        }
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
            out.push(format!(
                "{path}: {quoted}: prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers"
            ));
        }
    }
    out
}

/// kube's `ValidateManagedFields`: each entry's `operation` is `Apply` or
/// `Update`, its `fieldsType` (if set) `FieldsV1`, its `manager` at most
/// 128 bytes of printable characters, its `subresource` at most 256 bytes.
pub fn validate_managed_fields(entries: &Value, path: &Path) -> Vec<FieldError> {
    let Some(list) = entries.as_array() else {
        return Vec::new();
    };
    let empty = Map::new();
    let mut errs = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let obj = entry.as_object().unwrap_or(&empty);
        let at = path.index(i);
        let operation = str_field(obj, "operation");
        if operation != "Apply" && operation != "Update" {
            errs.push(FieldError::invalid(
                at.child("operation"),
                Value::String(operation.to_string()),
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = str_field(obj, "fieldsType");
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errs.push(FieldError::invalid(
                at.child("fieldsType"),
                Value::String(fields_type.to_string()),
                "must be `FieldsV1`",
            ));
        }
        errs.extend(validate_field_manager(
            str_field(obj, "manager"),
            &at.child("manager"),
        ));
        if str_field(obj, "subresource").len() > MAX_SUBRESOURCE_NAME_LENGTH {
            errs.push(too_long(
                &at.child("subresource"),
                MAX_SUBRESOURCE_NAME_LENGTH,
            ));
        }
    }
    errs
}

/// kube's `ValidateFieldManager` (also used for the `fieldManager` query
/// parameter): at most 128 bytes, every character printable.
pub fn validate_field_manager(manager: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(too_long(path, FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        if !is_go_printable(c) {
            errs.push(FieldError::invalid(
                path,
                Value::String(manager.to_string()),
                format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    errs
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the
/// ASCII space. Controls, other spaces and the common invisible format
/// characters are not printable.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{F0000}'..='\u{10FFFF}'
    )
}

/// kube's `ValidateLabelSelector` for a `metav1.LabelSelector` field:
/// `matchLabels` as labels, each expression's operator known (`In`,
/// `NotIn`, `Exists`, `DoesNotExist`), its values required or forbidden by
/// the operator, its key a qualified name, and (unless
/// `allow_invalid_label_values`, kube's ratcheting option for objects that
/// already had them) its values label values.
pub fn validate_label_selector(
    selector: &Value,
    allow_invalid_label_values: bool,
    path: &Path,
) -> Vec<FieldError> {
    let Some(obj) = selector.as_object() else {
        return Vec::new();
    };
    let mut errs = validate_labels(
        obj.get("matchLabels").unwrap_or(&Value::Null),
        &path.child("matchLabels"),
    );
    let empty = Map::new();
    if let Some(exprs) = obj.get("matchExpressions").and_then(Value::as_array) {
        for (i, expr) in exprs.iter().enumerate() {
            let at = path.child("matchExpressions").index(i);
            let e = expr.as_object().unwrap_or(&empty);
            let values = string_list(e.get("values"));
            let operator = str_field(e, "operator");
            match operator {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        errs.push(FieldError::required(
                            at.child("values"),
                            "must be specified when `operator` is 'In' or 'NotIn'",
                        ));
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        errs.push(FieldError::forbidden(
                            at.child("values"),
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        ));
                    }
                }
                other => errs.push(FieldError::invalid(
                    at.child("operator"),
                    Value::String(other.to_string()),
                    "not a valid selector operator",
                )),
            }
            let key = str_field(e, "key");
            for msg in is_qualified_name(key) {
                errs.push(FieldError::invalid(
                    at.child("key"),
                    Value::String(key.to_string()),
                    msg,
                ));
            }
            if !allow_invalid_label_values {
                for (j, v) in values.iter().enumerate() {
                    for msg in is_valid_label_value(v) {
                        errs.push(FieldError::invalid(
                            at.child("values").index(j),
                            Value::String(v.to_string()),
                            msg,
                        ));
                    }
                }
            }
        }
    }
    errs
}

/// The strings of a JSON array (other items skipped; no array, none).
pub(crate) fn string_list(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
fn go_string_slice(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| crate::field::go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

fn is_set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// A timestamp as kube compares them (`Semantic.DeepEqual` on
/// `metav1.Time`, second precision in UTC): parsed when it is RFC 3339,
/// otherwise the text itself; absent or empty is the zero time.
#[derive(Debug, PartialEq, Eq)]
enum Stamp<'a> {
    Zero,
    At(i64),
    Text(&'a str),
}

fn timestamp(v: Option<&Value>) -> Stamp<'_> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => {
            match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
                Ok(t) => Stamp::At(t.unix_timestamp()),
                Err(_) => Stamp::Text(s),
            }
        }
        _ => Stamp::Zero,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::aggregate;
    use serde_json::json;

    const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn meta_errs(meta: Value, namespaced: bool, rule: NameRule) -> Vec<String> {
        validate_object_meta(&meta, namespaced, rule, &Path::new("metadata"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn dns1123_subdomain() {
        for ok in [
            "a",
            "ab",
            "a-b",
            "a.b",
            "0",
            "a.b.c-d",
            "1.2.3",
            &"a".repeat(253),
        ] {
            assert!(is_dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "", "A", "-a", "a-", ".a", "a.", "a..b", "a_b", "a b", "é", "a.-b",
        ] {
            assert_eq!(
                is_dns1123_subdomain(bad),
                vec![SUBDOMAIN.to_string()],
                "{bad:?}"
            );
        }
        assert_eq!(
            is_dns1123_subdomain(&"a".repeat(254)),
            vec!["must be no more than 253 characters".to_string()]
        );
        assert_eq!(
            is_dns1123_subdomain(&"A".repeat(254)),
            vec![
                "must be no more than 253 characters".to_string(),
                SUBDOMAIN.to_string()
            ]
        );
    }

    #[test]
    fn dns1123_label() {
        for ok in ["a", "0", "a-b", "a--b", "123", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok).is_empty(), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a_b", "a.-b"] {
            assert_eq!(is_dns1123_label(bad), vec![LABEL.to_string()], "{bad:?}");
        }
        assert_eq!(
            is_dns1123_label("a.b"),
            vec!["must not contain dots".to_string()]
        );
        assert_eq!(
            is_dns1123_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
        // Too long and dotted: both said, the dots as dots.
        let long_dotted = format!("{}.b", "a".repeat(63));
        assert_eq!(
            is_dns1123_label(&long_dotted),
            vec![
                "must be no more than 63 characters".to_string(),
                "must not contain dots".to_string()
            ]
        );
    }

    #[test]
    fn dns1035_label() {
        for ok in ["a", "a-b", "a0", "abc-123"] {
            assert!(is_dns1035_label(ok).is_empty(), "{ok}");
        }
        for bad in ["", "0a", "1", "-a", "a-", "A", "a.b"] {
            assert_eq!(is_dns1035_label(bad), vec![DNS1035.to_string()], "{bad:?}");
        }
    }

    #[test]
    fn path_segments() {
        assert_eq!(is_valid_path_segment_name("."), vec!["may not be '.'"]);
        assert_eq!(is_valid_path_segment_name(".."), vec!["may not be '..'"]);
        assert_eq!(
            is_valid_path_segment_name("a/b%c"),
            vec!["may not contain '/'", "may not contain '%'"]
        );
        assert!(is_valid_path_segment_name("system:admin").is_empty());
        assert!(is_valid_path_segment_name("...").is_empty());
        assert!(is_valid_path_segment_prefix(".").is_empty());
        assert_eq!(
            is_valid_path_segment_prefix("a%"),
            vec!["may not contain '%'"]
        );
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "a",
            "A",
            "a_b",
            "a.b",
            "a-b",
            "1",
            "example.com/a",
            "k8s.io/Name_1",
            &"a".repeat(63),
            &format!("{}/a", "a".repeat(253)),
        ] {
            assert!(is_qualified_name(ok).is_empty(), "{ok}");
        }
        assert_eq!(
            is_qualified_name(""),
            vec!["name part must be non-empty", NAME_PART]
        );
        assert_eq!(is_qualified_name("-a"), vec![NAME_PART]);
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty"]
        );
        assert_eq!(
            is_qualified_name("Example.com/a"),
            vec![format!("prefix part {SUBDOMAIN}")]
        );
        assert_eq!(
            is_qualified_name(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters"]
        );
        assert_eq!(
            is_qualified_name("a/b/c"),
            vec![
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        );
        assert_eq!(
            is_qualified_name("a/"),
            vec!["name part must be non-empty", NAME_PART]
        );
        assert_eq!(
            is_qualified_name(&format!("{}/a", "a".repeat(254))),
            vec!["prefix part must be no more than 253 characters"]
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "A_b.c-d", "12345", &"a".repeat(63)] {
            assert!(is_valid_label_value(ok).is_empty(), "{ok}");
        }
        assert_eq!(is_valid_label_value("-a"), vec![LABEL_VALUE]);
        assert_eq!(is_valid_label_value("a b"), vec![LABEL_VALUE]);
        assert_eq!(
            is_valid_label_value(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
    }

    #[test]
    fn names_on_create_read_like_kube() {
        assert_eq!(
            meta_errs(
                json!({"name": "Foo", "namespace": "default"}),
                true,
                NameRule::Dns1123Subdomain
            ),
            vec![format!(
                "metadata.name: Invalid value: \"Foo\": {SUBDOMAIN}"
            )]
        );
        assert_eq!(
            meta_errs(
                json!({"namespace": "default"}),
                true,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        assert_eq!(
            meta_errs(json!({"name": "a.b"}), false, NameRule::Dns1123Label),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "1svc", "namespace": "d"}),
                true,
                NameRule::Dns1035Label
            ),
            vec![format!("metadata.name: Invalid value: \"1svc\": {DNS1035}")]
        );
        assert_eq!(
            meta_errs(json!({"name": "a/b"}), false, NameRule::PathSegment),
            vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
        );
        // The full 422 text, as the handler builds it.
        let errs = validate_object_meta(
            &json!({"name": "Foo", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            &Path::new("metadata"),
        );
        assert_eq!(
            format!("ConfigMap \"Foo\" is invalid: {}", aggregate(&errs)),
            format!(
                "ConfigMap \"Foo\" is invalid: metadata.name: Invalid value: \"Foo\": {SUBDOMAIN}"
            )
        );
    }

    #[test]
    fn generate_name_is_checked_as_a_prefix() {
        // A trailing dash is fine in a prefix.
        assert!(
            meta_errs(
                json!({"generateName": "web-", "name": "web-x7k2p", "namespace": "d"}),
                true,
                NameRule::Dns1123Subdomain
            )
            .is_empty()
        );
        assert_eq!(
            meta_errs(
                json!({"generateName": "Web-", "name": "Web-x7k2p", "namespace": "d"}),
                true,
                NameRule::Dns1123Subdomain
            ),
            vec![
                format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN}"),
                format!("metadata.name: Invalid value: \"Web-x7k2p\": {SUBDOMAIN}"),
            ]
        );
        assert!(NameRule::Dns1035Label.validate("svc-", true).is_empty());
        assert!(NameRule::Dns1123Label.validate("a-", true).is_empty());
        assert!(NameRule::Dns1123Label.validate("-", true).is_empty());
        assert!(NameRule::Dns1123Subdomain.validate("é-", true).len() == 1);
        assert_eq!(
            NameRule::PathSegment.validate(".", true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn namespace_rules() {
        assert_eq!(
            meta_errs(json!({"name": "a"}), true, NameRule::Dns1123Subdomain),
            vec!["metadata.namespace: Required value"]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "namespace": "Bad"}),
                true,
                NameRule::Dns1123Subdomain
            ),
            vec![format!(
                "metadata.namespace: Invalid value: \"Bad\": {LABEL}"
            )]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "namespace": "x"}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn generation_labels_annotations() {
        assert_eq!(
            meta_errs(
                json!({"name": "a", "generation": -1}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "labels": {"a b": "ok", "k": "-v"}}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![
                format!("metadata.labels: Invalid value: \"a b\": {NAME_PART}"),
                format!("metadata.labels: Invalid value: \"-v\": {LABEL_VALUE}"),
            ]
        );
        // Annotation keys are checked lower-cased but shown as written.
        assert!(
            meta_errs(
                json!({"name": "a", "annotations": {"Example.COM/Key": "x"}}),
                false,
                NameRule::Dns1123Subdomain
            )
            .is_empty()
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "annotations": {"a b": "x"}}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![format!(
                "metadata.annotations: Invalid value: \"a b\": {NAME_PART}"
            )]
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        assert_eq!(
            meta_errs(
                json!({"name": "a", "annotations": {"k": big}}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
        let fits = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT - 1);
        assert!(
            meta_errs(
                json!({"name": "a", "annotations": {"k": fits}}),
                false,
                NameRule::Dns1123Subdomain
            )
            .is_empty()
        );
    }

    #[test]
    fn owner_references() {
        assert_eq!(
            meta_errs(
                json!({"name": "a", "ownerReferences": [{}]}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty",
                "metadata.ownerReferences.name: Invalid value: \"\": must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty",
            ]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "ownerReferences": [
                    {"apiVersion": "apps/", "kind": "K", "name": "n", "uid": "u"}
                ]}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty"
            ]
        );
        let errs = meta_errs(
            json!({"name": "a", "ownerReferences": [
                {"apiVersion": "v1", "kind": "Event", "name": "n", "uid": "u"}
            ]}),
            false,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("metadata.ownerReferences: Invalid value: {"),
            "{}",
            errs[0]
        );
        assert!(errs[0].ends_with(": /v1, Kind=Event is disallowed from being an owner"));
        let errs = meta_errs(
            json!({"name": "a", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r1", "uid": "1", "controller": true},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r2", "uid": "2", "controller": true}
            ]}),
            false,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].ends_with(
            ": Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/r1 and ReplicaSet/r2"
        ));
    }

    #[test]
    fn finalizers() {
        assert!(
            meta_errs(
                json!({"name": "a", "finalizers": ["kubernetes", "example.com/x", "bare"]}),
                false,
                NameRule::Dns1123Subdomain
            )
            .is_empty()
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "finalizers": ["a b"]}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![format!(
                "metadata.finalizers: Invalid value: \"a b\": {NAME_PART}"
            )]
        );
        assert_eq!(
            meta_errs(
                json!({"name": "a", "finalizers": ["orphan", "foregroundDeletion"]}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![
                "metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set"
            ]
        );
        let path = Path::new("metadata").child("finalizers");
        assert_eq!(
            finalizer_warnings(
                &json!(["resources-finalizer.argocd.argoproj.io", "orphan", "a.io/b"]),
                &path
            ),
            vec![
                "metadata.finalizers: \"resources-finalizer.argocd.argoproj.io\": prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers"
            ]
        );
        assert_eq!(
            finalizer_warnings(&json!(["a b"]), &path),
            vec![
                format!("metadata.finalizers: \"a b\": {NAME_PART}"),
                "metadata.finalizers: \"a b\": prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers".to_string(),
            ]
        );
    }

    #[test]
    fn managed_fields() {
        assert_eq!(
            meta_errs(
                json!({"name": "a", "managedFields": [
                    {"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1"},
                    {"manager": "x\u{7}", "operation": "Patch", "fieldsType": "FieldsV2"}
                ]}),
                false,
                NameRule::Dns1123Subdomain
            ),
            vec![
                "metadata.managedFields[1].operation: Invalid value: \"Patch\": must be `Apply` or `Update`",
                "metadata.managedFields[1].fieldsType: Invalid value: \"FieldsV2\": must be `FieldsV1`",
                "metadata.managedFields[1].manager: Invalid value: \"x\\a\": invalid character U+0007 (at position 1)",
            ]
        );
        let long = "m".repeat(129);
        assert_eq!(
            validate_field_manager(&long, &Path::new("fieldManager"))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["fieldManager: Too long: may not be more than 128 bytes"]
        );
        assert!(validate_field_manager("kubectl-client-side-apply é", &Path::new("f")).is_empty());
    }

    fn update_errs(new: Value, old: Value) -> Vec<String> {
        validate_object_meta_update(&new, &old, &Path::new("metadata"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn immutable_fields_on_update() {
        let old = json!({
            "name": "a", "namespace": "d", "uid": "u1", "resourceVersion": "5",
            "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 3
        });
        assert!(update_errs(old.clone(), old.clone()).is_empty());
        let mut new = old.clone();
        new["name"] = json!("b");
        new["namespace"] = json!("e");
        new["uid"] = json!("u2");
        new["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
        new["generation"] = json!(2);
        assert_eq!(
            update_errs(new, old.clone()),
            vec![
                "metadata.generation: Invalid value: 2: must not be decremented",
                "metadata.name: Invalid value: \"b\": field is immutable",
                "metadata.namespace: Invalid value: \"e\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable",
                "metadata.creationTimestamp: Invalid value: \"2025-01-01T00:00:00Z\": field is immutable",
            ]
        );
        // The same instant written another way is the same time.
        let mut new = old.clone();
        new["creationTimestamp"] = json!("2024-01-01T01:00:00+01:00");
        assert!(update_errs(new, old.clone()).is_empty());
        let mut new = old.clone();
        new["resourceVersion"] = json!("");
        assert_eq!(
            update_errs(new, old.clone()),
            vec!["metadata.resourceVersion: Invalid value: \"\": must be specified for an update"]
        );
    }

    #[test]
    fn deletion_cannot_be_started_by_update() {
        let old = json!({"name": "a", "resourceVersion": "1"});
        let mut new = old.clone();
        new["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        new["deletionGracePeriodSeconds"] = json!(30);
        assert_eq!(
            update_errs(new, old),
            vec![
                "metadata.deletionTimestamp: Invalid value: \"2024-01-01T00:00:00Z\": field is immutable",
                "metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable",
            ]
        );
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let old = json!({
            "name": "a", "resourceVersion": "1", "finalizers": ["a.io/x"],
            "deletionTimestamp": "2024-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0
        });
        let mut new = old.clone();
        new["finalizers"] = json!(["a.io/x", "b.io/z", "b.io/y"]);
        assert_eq!(
            update_errs(new, old.clone()),
            vec![
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\", \"b.io/z\"}"
            ]
        );
        let mut new = old.clone();
        new["finalizers"] = json!([]);
        assert!(update_errs(new, old).is_empty());
    }

    #[test]
    fn prepare_for_update_restores_what_kube_restores() {
        let old = json!({
            "name": "a", "uid": "u1", "resourceVersion": "1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "deletionTimestamp": "2024-02-01T00:00:00Z",
            "deletionGracePeriodSeconds": 30
        });
        let mut new = json!({"name": "a", "resourceVersion": "1",
            "creationTimestamp": "2030-01-01T00:00:00Z",
            "deletionTimestamp": "2030-01-01T00:00:00Z"});
        prepare_object_meta_for_update(&mut new, &old);
        assert_eq!(new["uid"], "u1");
        assert_eq!(new["creationTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(new["deletionTimestamp"], "2024-02-01T00:00:00Z");
        assert_eq!(new["deletionGracePeriodSeconds"], 30);
        assert!(update_errs(new, old).is_empty());
        // A changed grace period is not restored: it is an error.
        let old = json!({"name": "a", "resourceVersion": "1", "deletionGracePeriodSeconds": 30,
            "deletionTimestamp": "2024-02-01T00:00:00Z"});
        let mut new = old.clone();
        new["deletionGracePeriodSeconds"] = json!(10);
        prepare_object_meta_for_update(&mut new, &old);
        assert_eq!(
            update_errs(new, old),
            vec!["metadata.deletionGracePeriodSeconds: Invalid value: 10: field is immutable"]
        );
    }

    #[test]
    fn label_selector_fields() {
        let errs: Vec<String> = validate_label_selector(
            &json!({
                "matchLabels": {"a": "-b"},
                "matchExpressions": [
                    {"key": "k", "operator": "In"},
                    {"key": "k", "operator": "Exists", "values": ["x"]},
                    {"key": "-k", "operator": "Foo", "values": ["-v"]}
                ]
            }),
            false,
            &Path::new("spec").child("selector"),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            errs,
            vec![
                format!("spec.selector.matchLabels: Invalid value: \"-b\": {LABEL_VALUE}"),
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string(),
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'".to_string(),
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Foo\": not a valid selector operator".to_string(),
                format!("spec.selector.matchExpressions[2].key: Invalid value: \"-k\": {NAME_PART}"),
                format!("spec.selector.matchExpressions[2].values[0]: Invalid value: \"-v\": {LABEL_VALUE}"),
            ]
        );
        assert_eq!(
            validate_label_selector(
                &json!({"matchExpressions": [{"key": "k", "operator": "In", "values": ["-v"]}]}),
                true,
                &Path::new("s")
            ),
            vec![]
        );
    }

    #[test]
    fn name_rules_by_kind() {
        assert_eq!(NameRule::for_kind("", "Namespace"), NameRule::Dns1123Label);
        assert_eq!(NameRule::for_kind("", "Service"), NameRule::Dns1035Label);
        assert_eq!(
            NameRule::for_kind("", "ConfigMap"),
            NameRule::Dns1123Subdomain
        );
        assert_eq!(
            NameRule::for_kind("rbac.authorization.k8s.io", "ClusterRole"),
            NameRule::PathSegment
        );
        assert_eq!(
            NameRule::for_kind("example.com", "Widget"),
            NameRule::Dns1123Subdomain
        );
    }

    #[test]
    fn odd_inputs_never_panic() {
        let metas = [
            json!(null),
            json!("x"),
            json!([]),
            json!({"name": 5, "labels": [], "annotations": "x", "ownerReferences": {}, "finalizers": [1, null]}),
            json!({"name": "\u{0}", "generateName": "\u{1F600}-", "namespace": "\u{1F600}"}),
            json!({"ownerReferences": [null, 1, "x"], "managedFields": [null, {"manager": 1}]}),
            json!({"name": "a".repeat(100_000), "labels": {"": ""}, "annotations": {"": ""}}),
        ];
        for m in &metas {
            let _ =
                validate_object_meta(m, true, NameRule::Dns1123Subdomain, &Path::new("metadata"));
            let _ = validate_object_meta(m, false, NameRule::PathSegment, &Path::new("metadata"));
            let _ = validate_object_meta_update(m, m, &Path::new("metadata"));
            let mut n = m.clone();
            prepare_object_meta_for_update(&mut n, m);
        }
        for s in ["", "-", "--", "é-", "a/é/", "/", "//", "\u{0}"] {
            for rule in [
                NameRule::Dns1123Subdomain,
                NameRule::Dns1123Label,
                NameRule::Dns1035Label,
                NameRule::PathSegment,
            ] {
                let _ = rule.validate(s, true);
                let _ = rule.validate(s, false);
            }
            let _ = is_qualified_name(s);
        }
        assert_eq!(
            meta_errs(json!({"name": 5}), false, NameRule::Dns1123Subdomain),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
    }
}
