//! CustomResourceDefinitions: what a CRD must look like, the kinds it
//! serves, and the controller that establishes them and cleans up after
//! them, which in kube-apiserver are the apiextensions server's naming,
//! establishing and finalizing controllers.
//!
//! The life of a CRD here:
//!
//! 1. A create or update is defaulted ([`prepare_create`],
//!    [`prepare_update`]) and checked ([`validate`]) like any write.
//! 2. The [`Controller`] sees it through the CRD watch cache, checks its
//!    names against the other CRDs of its group, adds its served versions to
//!    the [`Registry`](crate::resource::Registry) and only then writes the
//!    `NamesAccepted` and `Established` conditions, so a client that waits
//!    for `Established` can use the new kind at once.
//! 3. A delete adds [`CLEANUP_FINALIZER`] ([`prepare_delete`]); the
//!    controller refuses new objects of the kind, deletes the ones there are
//!    (their own finalizers still hold them), then removes the finalizer, the
//!    CRD goes, and the kind stops being served.
//!
//! At start, [`Controller::start`] serves the CRDs already established before the first
//! request, so a restart serves the same kinds as before.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::api::Api;
use crate::cache::{ReadAt, Signal};
use crate::error::ApiError;
use crate::field::{FieldError, Path};
use crate::object;
use crate::resource::{NameRule, ResourceType, Resources, Special};
use crate::schema::{Schema, SchemaError};
use crate::storage::Write;
use crate::table::{CrdPrinter, TableError};
use crate::validation::{str_field, string_list};

/// The finalizer that holds a deleted CRD until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Where CRDs are stored.
const CRD_PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

/// How long the controller waits before looking again at a CRD whose
/// objects are not all gone yet, or whose status write failed.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Why a stored CRD cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The stored object does not have a CRD's shape.
    #[error("customresourcedefinition {name:?} is malformed: {reason}")]
    Malformed {
        /// The CRD's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A version's schema is not one this server can use.
    #[error("customresourcedefinition {name:?} version {version:?} has an unusable schema")]
    Schema {
        /// The CRD's name.
        name: String,
        /// The version.
        version: String,
        /// Why the schema was refused.
        #[source]
        source: SchemaError,
    },
    /// A version's printer columns do not parse.
    #[error("customresourcedefinition {name:?} version {version:?} has unusable printer columns")]
    Printer {
        /// The CRD's name.
        name: String,
        /// The version.
        version: String,
        /// Why the columns were refused.
        #[source]
        source: TableError,
    },
}

/// What one served version of a CRD adds to its [`ResourceType`].
#[derive(Debug)]
pub struct CustomVersion {
    /// The version's structural schema: prunes, defaults and validates.
    pub schema: Schema,
    /// The version's table columns.
    pub printer: CrdPrinter,
    /// Whether the CRD is being deleted, so no new objects are taken.
    pub terminating: bool,
    /// Whether the schema has defaults, which kube applies to objects as
    /// they are read too (they may predate the default).
    pub defaults_on_read: bool,
    /// For a deprecated version, the warning every request to it gets.
    pub deprecation: Option<String>,
    /// The version's `scale` subresource, if it has one.
    pub scale: Option<ScaleSubresource>,
}

/// Where a version's `scale` subresource finds the replicas and selector in
/// its custom resources: simple JSON paths (`.spec.replicas`), checked by
/// [`validate`] when the CRD was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSubresource {
    /// `specReplicasPath`: the Scale's `spec.replicas`, under `.spec`.
    pub spec_replicas_path: String,
    /// `statusReplicasPath`: the Scale's `status.replicas`, under `.status`.
    pub status_replicas_path: String,
    /// `labelSelectorPath`: the Scale's `status.selector`, when set.
    pub label_selector_path: Option<String>,
}

impl ScaleSubresource {
    /// Reads `subresources.scale` of a CRD version.
    fn of_version(version: &Value) -> Option<ScaleSubresource> {
        let scale = version.pointer("/subresources/scale")?.as_object()?;
        Some(ScaleSubresource {
            spec_replicas_path: str_field(scale, "specReplicasPath").to_string(),
            status_replicas_path: str_field(scale, "statusReplicasPath").to_string(),
            label_selector_path: Some(str_field(scale, "labelSelectorPath"))
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        })
    }
}

// ---------------------------------------------------------------------------
// Writes of CRDs
// ---------------------------------------------------------------------------

/// Fills in what kube defaults in a new CRD and resets its status, as
/// kube's strategy does: the status belongs to the controllers.
pub fn prepare_create(v: &mut Value) {
    default_crd(v);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "status".into(),
            json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []}),
        );
    }
    add_stored_version(v);
}

/// Defaults an updated CRD and records a new storage version in
/// `status.storedVersions`, which only ever grows here.
pub fn prepare_update(v: &mut Value) {
    default_crd(v);
    add_stored_version(v);
}

/// kube's v1 defaults: `singular` is the lower-cased kind, `listKind` the
/// kind plus `List`, and conversion is `None`.
fn default_crd(v: &mut Value) {
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = str_field(names, "kind").to_string();
        if str_field(names, "singular").is_empty() && !kind.is_empty() {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if str_field(names, "listKind").is_empty() && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    let conversion = spec
        .entry("conversion")
        .or_insert_with(|| json!({"strategy": "None"}));
    if let Some(c) = conversion.as_object_mut()
        && str_field(c, "strategy").is_empty()
    {
        c.insert("strategy".into(), json!("None"));
    }
}

fn add_stored_version(v: &mut Value) {
    let Some(storage) = storage_version(v).map(str::to_string) else {
        return;
    };
    let Some(o) = v.as_object_mut() else { return };
    let status = o.entry("status").or_insert_with(|| json!({}));
    let Some(status) = status.as_object_mut() else {
        return;
    };
    let stored = status.entry("storedVersions").or_insert_with(|| json!([]));
    if let Some(list) = stored.as_array_mut()
        && !list.iter().any(|x| x.as_str() == Some(&storage))
    {
        list.push(json!(storage));
    }
}

/// The name of the version marked `storage`, if exactly one is.
fn storage_version(v: &Value) -> Option<&str> {
    let versions = v.pointer("/spec/versions")?.as_array()?;
    let mut storage = versions
        .iter()
        .filter(|x| x.get("storage").and_then(Value::as_bool) == Some(true));
    let first = storage.next()?;
    if storage.next().is_some() {
        return None;
    }
    first.get("name").and_then(Value::as_str)
}

/// The annotation that approves a CRD in a protected group.
const APPROVAL: &str = "api-approved.kubernetes.io";

/// Where kube's API approval policy is described, as its messages say.
const APPROVAL_POLICY: &str = "https://github.com/kubernetes/enhancements/pull/1111";

/// Whether a group belongs to the Kubernetes project, so a CRD in it needs
/// the approval annotation.
fn protected_group(group: &str) -> bool {
    group == "k8s.io"
        || group == "kubernetes.io"
        || group.ends_with(".k8s.io")
        || group.ends_with(".kubernetes.io")
}

/// What the approval annotation says.
#[derive(Debug, PartialEq, Eq)]
enum Approval {
    /// It is missing.
    Missing,
    /// It points at the approving pull request.
    Approved(String),
    /// It says the API is not approved (`unapproved, <reason>`).
    Unapproved(String),
    /// It is neither.
    Invalid(String),
}

fn approval(crd: &Value) -> Approval {
    let Some(value) = crd
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPROVAL))
        .and_then(Value::as_str)
    else {
        return Approval::Missing;
    };
    if value.starts_with("unapproved") {
        Approval::Unapproved(value.to_string())
    } else if (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() > "https://".len()
    {
        Approval::Approved(value.to_string())
    } else {
        Approval::Invalid(value.to_string())
    }
}

/// kube's API approval check: a CRD in a protected group must carry the
/// approval annotation, unless it already went without one before this
/// update (kube keeps old CRDs working).
fn validate_approval(v: &Value, current: Option<&Value>) -> Vec<FieldError> {
    let group = v
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !protected_group(group) {
        return Vec::new();
    }
    let now = approval(v);
    if let Some(old) = current
        && protected_group(
            old.pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
        && approval(old) == now
    {
        return Vec::new();
    }
    let path = Path::new("metadata").child("annotations").key(APPROVAL);
    match now {
        Approval::Missing => vec![FieldError::required(
            path,
            format!(
                "protected groups must have approval annotation {APPROVAL:?}, see {APPROVAL_POLICY}"
            ),
        )],
        Approval::Invalid(value) => vec![FieldError::invalid(
            path,
            json!(value),
            format!(
                "protected groups must have approval annotation {APPROVAL:?} with either a URL or a reason starting with \"unapproved\", see {APPROVAL_POLICY}"
            ),
        )],
        _ => Vec::new(),
    }
}

/// The `KubernetesAPIApprovalPolicyConformant` condition of a CRD in a
/// protected group: (status, reason, message).
fn approval_condition(crd: &Value) -> Option<(&'static str, &'static str, String)> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str)?;
    if !protected_group(group) {
        return None;
    }
    Some(match approval(crd) {
        Approval::Approved(url) => ("True", "ApprovedAnnotation", format!("approved in {url}")),
        Approval::Unapproved(value) => (
            "False",
            "UnapprovedAnnotation",
            format!("not approved: {value:?}"),
        ),
        Approval::Missing => (
            "False",
            "MissingAnnotation",
            format!(
                "protected groups must have approval annotation {APPROVAL:?}, see {APPROVAL_POLICY}"
            ),
        ),
        Approval::Invalid(value) => (
            "False",
            "InvalidAnnotation",
            format!("not approved: {value:?}"),
        ),
    })
}

/// kube's checks of a CRD (metadata is checked by the generic code): the
/// name, API approval, group, scope, names, versions, schemas and printer
/// columns. `current` is the stored CRD on update. Returns kube's field
/// errors.
pub fn validate(v: &Value, current: Option<&Value>) -> Vec<FieldError> {
    let mut errs = validate_approval(v, current);
    let empty = Map::new();
    let spec = v.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    let names = spec
        .get("names")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let group = str_field(spec, "group");
    let plural = str_field(names, "plural");
    let name = object::name(v);
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let spec_path = Path::new("spec");
    if group.is_empty() {
        errs.push(FieldError::required(spec_path.child("group"), ""));
    } else {
        let bad = crate::validation::is_dns1123_subdomain(group);
        for detail in bad {
            errs.push(FieldError::invalid(
                spec_path.child("group"),
                json!(group),
                detail,
            ));
        }
        if !group.contains('.') {
            errs.push(FieldError::invalid(
                spec_path.child("group"),
                json!(group),
                "should be a domain with at least one dot",
            ));
        }
    }
    match str_field(spec, "scope") {
        "" => errs.push(FieldError::required(spec_path.child("scope"), "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(FieldError::not_supported(
            spec_path.child("scope"),
            json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    errs.extend(validate_names(names, &spec_path.child("names")));
    errs.extend(validate_versions(spec, &spec_path));
    // kube's decoding of a v1 CRD moves subresources all versions share to
    // the top level, so that is where their errors point.
    if let Some(shared) = shared_subresources(spec) {
        errs.extend(validate_subresources(
            shared,
            &spec_path.child("subresources"),
        ));
    }
    // Objects may still be stored under a version in storedVersions, so
    // it cannot leave spec.versions.
    let versions: Vec<&str> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let stored = string_list(v.pointer("/status/storedVersions"));
    for (i, version) in stored.iter().enumerate() {
        if !versions.contains(version) {
            errs.push(FieldError::invalid(
                Path::new("status").child("storedVersions").index(i),
                json!(version),
                "must appear in spec.versions",
            ));
        }
    }
    errs
}

fn validate_names(names: &Map<String, Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let label = |field: &str, value: &str, errs: &mut Vec<FieldError>| {
        for detail in crate::validation::is_dns1123_label(value) {
            errs.push(FieldError::invalid(path.child(field), json!(value), detail));
        }
    };
    let plural = str_field(names, "plural");
    if plural.is_empty() {
        errs.push(FieldError::required(path.child("plural"), ""));
    } else {
        label("plural", plural, &mut errs);
    }
    let singular = str_field(names, "singular");
    if !singular.is_empty() {
        label("singular", singular, &mut errs);
    }
    // Kinds may have mixed case but must otherwise be DNS labels.
    let kind_like = |field: &str, value: &str, errs: &mut Vec<FieldError>| {
        if !crate::validation::is_dns1035_label(&value.to_lowercase()).is_empty() {
            errs.push(FieldError::invalid(
                path.child(field),
                json!(value),
                "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
            ));
        }
    };
    let kind = str_field(names, "kind");
    if kind.is_empty() {
        errs.push(FieldError::required(path.child("kind"), ""));
    } else {
        kind_like("kind", kind, &mut errs);
    }
    let list_kind = str_field(names, "listKind");
    if list_kind.is_empty() {
        errs.push(FieldError::required(path.child("listKind"), ""));
    } else {
        kind_like("listKind", list_kind, &mut errs);
        if list_kind == kind {
            errs.push(FieldError::invalid(
                path.child("listKind"),
                json!(list_kind),
                "kind and listKind may not be the same",
            ));
        }
    }
    for (i, short) in string_list(names.get("shortNames")).iter().enumerate() {
        for detail in crate::validation::is_dns1123_label(short) {
            errs.push(FieldError::invalid(
                path.child("shortNames").index(i),
                json!(short),
                detail,
            ));
        }
    }
    for (i, category) in string_list(names.get("categories")).iter().enumerate() {
        for detail in crate::validation::is_dns1123_label(category) {
            errs.push(FieldError::invalid(
                path.child("categories").index(i),
                json!(category),
                detail,
            ));
        }
    }
    errs
}

fn validate_versions(spec: &Map<String, Value>, spec_path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let path = spec_path.child("versions");
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if versions.is_empty() {
        errs.push(FieldError::required(path.clone(), ""));
        return errs;
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        errs.push(FieldError::invalid(
            path.clone(),
            Value::Array(versions.to_vec()),
            "must have exactly one version marked as storage version",
        ));
    }
    let shared = shared_subresources(spec);
    let mut seen = HashSet::new();
    for (i, version) in versions.iter().enumerate() {
        let vp = path.index(i);
        let name = version.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            errs.push(FieldError::required(vp.child("name"), ""));
        } else {
            for detail in crate::validation::is_dns1035_label(name) {
                errs.push(FieldError::invalid(vp.child("name"), json!(name), detail));
            }
            if !seen.insert(name) {
                errs.push(FieldError::invalid(
                    vp.child("name"),
                    json!(name),
                    "must be unique",
                ));
            }
        }
        let schema_path = vp.child("schema").child("openAPIV3Schema");
        match version.pointer("/schema/openAPIV3Schema") {
            None | Some(Value::Null) => {
                errs.push(FieldError::required(schema_path, "schemas are required"))
            }
            Some(schema) => match Schema::from_crd(schema, &schema_path) {
                Ok(_) => {}
                Err(SchemaError::Invalid(found)) => errs.extend(found),
                Err(other) => errs.push(FieldError::invalid(
                    schema_path,
                    Value::Null,
                    other.to_string(),
                )),
            },
        }
        if shared.is_none()
            && let Some(subresources) = version.get("subresources")
        {
            errs.extend(validate_subresources(
                subresources,
                &vp.child("subresources"),
            ));
        }
        if let Some(cols) = version.get("additionalPrinterColumns") {
            errs.extend(crate::table::validate_printer_columns(
                cols,
                &vp.child("additionalPrinterColumns"),
            ));
        }
        for (j, field) in version
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let jp = vp.child("selectableFields").index(j).child("jsonPath");
            match field.get("jsonPath").and_then(Value::as_str) {
                None | Some("") => errs.push(FieldError::required(jp, "")),
                Some(p) if !p.starts_with('.') || p.len() < 2 => {
                    errs.push(FieldError::invalid(
                        jp,
                        json!(p),
                        "must be a simple json path starting with .",
                    ));
                }
                Some(_) => {}
            }
        }
    }
    errs
}

/// What kube's decoding keeps of a version's `subresources`: whether it
/// has `status`, and the paths of its `scale`.
type SubresourcesKey<'a> = Option<(bool, Option<(&'a str, &'a str, Option<&'a str>)>)>;

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|x| !x.is_null())
}

fn subresources_key(version: &Value) -> SubresourcesKey<'_> {
    let subresources = present(version.get("subresources"))?;
    let scale = present(subresources.get("scale")).map(|scale| {
        let path = |key: &str| scale.get(key).and_then(Value::as_str);
        (
            path("specReplicasPath").unwrap_or(""),
            path("statusReplicasPath").unwrap_or(""),
            path("labelSelectorPath"),
        )
    });
    Some((present(subresources.get("status")).is_some(), scale))
}

/// The `subresources` every version has alike, which kube checks once at
/// `spec.subresources`; `None` when they differ (each version's are
/// checked at its own path) or no version has any.
fn shared_subresources(spec: &Map<String, Value>) -> Option<&Value> {
    let versions = spec.get("versions").and_then(Value::as_array)?;
    let first = versions.first()?;
    let key = subresources_key(first);
    (key.is_some() && versions.iter().all(|v| subresources_key(v) == key))
        .then(|| first.get("subresources"))
        .flatten()
}

/// kube's checks of `subresources`: the scale paths must be simple JSON
/// paths, the replicas under `.spec` and `.status`, the selector under
/// either.
fn validate_subresources(subresources: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(scale) = present(subresources.get("scale")) else {
        return errs;
    };
    let field = |key: &str| scale.get(key).and_then(Value::as_str).unwrap_or("");
    let replicas = [
        (
            "specReplicasPath",
            ".spec.",
            "should be a json path under .spec",
        ),
        (
            "statusReplicasPath",
            ".status.",
            "should be a json path under .status",
        ),
    ];
    for (key, prefix, under) in replicas {
        let p = path.child("scale").child(key);
        let value = field(key);
        if value.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if let Some(e) = simple_json_path_error(value, &p) {
            errs.push(e);
        } else if !value.starts_with(prefix) {
            errs.push(FieldError::invalid(p, json!(value), under));
        }
    }
    let selector = field("labelSelectorPath");
    if !selector.is_empty() {
        let p = path.child("scale").child("labelSelectorPath");
        if let Some(e) = simple_json_path_error(selector, &p) {
            errs.push(e);
        } else if !selector.starts_with(".spec.") && !selector.starts_with(".status.") {
            errs.push(FieldError::invalid(
                p,
                json!(selector),
                "should be a json path under either .spec or .status",
            ));
        }
    }
    errs
}

/// kube's `validateSimpleJSONPath`: all it asks of a non-empty path is a
/// leading dot.
fn simple_json_path_error(p: &str, path: &Path) -> Option<FieldError> {
    (!p.starts_with('.')).then(|| {
        FieldError::invalid(
            path.clone(),
            json!(p),
            "must be a simple json path starting with .",
        )
    })
}

/// Marks a CRD being deleted: the cleanup finalizer holds it while its
/// objects are deleted, and the `Terminating` condition says so.
pub fn prepare_delete(v: &mut Value) {
    if object::is_deleting(v) {
        return;
    }
    if let Some(m) = object::meta_mut(v) {
        let finalizers = m.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f.as_str() == Some(CLEANUP_FINALIZER))
        {
            list.push(json!(CLEANUP_FINALIZER));
        }
    }
    set_condition(
        v,
        "Terminating",
        "True",
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
    );
}

/// The answer to a create of a kind whose CRD is being deleted.
pub fn terminating_error(rt: &ResourceType) -> ApiError {
    method_not_allowed(
        rt,
        "create not allowed while custom resource definition is terminating".into(),
    )
}

/// kube's 405 about a custom resource, with its own message.
pub fn method_not_allowed(rt: &ResourceType, message: String) -> ApiError {
    ApiError::Status {
        code: 405,
        status: json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "MethodNotAllowed",
            "details": {"group": rt.group, "kind": rt.resource},
            "code": 405,
        }),
    }
}

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

/// The resources a CRD serves: one per served version, in kube's version
/// priority order (the preferred version first).
pub fn resource_types(crd: &Value) -> Result<Vec<ResourceType>, CrdError> {
    let name = object::name(crd).to_string();
    let malformed = |reason: &str| CrdError::Malformed {
        name: name.clone(),
        reason: reason.to_string(),
    };
    let spec = crd
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("no spec"))?;
    let empty = Map::new();
    let names = spec
        .get("names")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let group = str_field(spec, "group");
    let plural = str_field(names, "plural");
    let kind = str_field(names, "kind");
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(malformed("group, plural or kind is missing"));
    }
    let storage = storage_version(crd).ok_or_else(|| malformed("no single storage version"))?;
    let terminating = object::is_deleting(crd);
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no versions"))?;
    let mut out = Vec::new();
    for version in versions {
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let v_name = version.get("name").and_then(Value::as_str).unwrap_or("");
        let schema_path = Path::new("spec").child("versions");
        let schema = Schema::from_crd(
            version
                .pointer("/schema/openAPIV3Schema")
                .unwrap_or(&Value::Null),
            &schema_path,
        )
        .map_err(|source| CrdError::Schema {
            name: name.clone(),
            version: v_name.to_string(),
            source,
        })?;
        let printer = match crate::table::crd_columns(
            version
                .get("additionalPrinterColumns")
                .unwrap_or(&Value::Null),
        ) {
            Ok(p) => p,
            // kube serves the columns before one it cannot parse.
            Err(TableError::InvalidColumn { json_path, served }) => {
                tracing::warn!(
                    crd = %name, version = v_name, json_path,
                    "a printer column does not parse; printing the columns before it"
                );
                *served
            }
            Err(source) => {
                return Err(CrdError::Printer {
                    name: name.clone(),
                    version: v_name.to_string(),
                    source,
                });
            }
        };
        let status = version.pointer("/subresources/status").is_some();
        let selectable_fields = version
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceType {
            group: group.to_string(),
            version: v_name.to_string(),
            resource: plural.to_string(),
            singular: match str_field(names, "singular") {
                "" => kind.to_lowercase(),
                s => s.to_string(),
            },
            kind: kind.to_string(),
            namespaced: str_field(spec, "scope") != "Cluster",
            short_names: owned(string_list(names.get("shortNames"))),
            categories: owned(string_list(names.get("categories"))),
            status_subresource: status,
            storage_prefix: format!("/registry/{group}/{plural}/"),
            storage_api_version: format!("{group}/{storage}"),
            tracks_generation: true,
            create_on_update: false,
            unconditional_update: false,
            name_rule: NameRule::Subdomain,
            special: Special::Custom { crd: name.clone() },
            selectable_fields,
            verbs: vec![
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ],
            custom: Some(Arc::new(CustomVersion {
                defaults_on_read: schema.has_defaults(),
                deprecation: deprecation_warning(group, kind, version, versions),
                schema,
                printer,
                terminating,
                scale: ScaleSubresource::of_version(version),
            })),
        });
    }
    out.sort_by(|a, b| version_order(&a.version, &b.version));
    Ok(out)
}

/// The warning for a deprecated version: its `deprecationWarning`, or
/// kube's default text naming the best version that is not deprecated.
fn deprecation_warning(group: &str, kind: &str, version: &Value, all: &[Value]) -> Option<String> {
    if version.get("deprecated").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    if let Some(text) = version.get("deprecationWarning").and_then(Value::as_str) {
        return Some(text.to_string());
    }
    let name = version.get("name").and_then(Value::as_str).unwrap_or("");
    let mut text = format!("{group}/{name} {kind} is deprecated");
    let better = all
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .filter(|v| v.get("deprecated").and_then(Value::as_bool) != Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .min_by(|a, b| version_order(a, b));
    if let Some(better) = better
        && version_order(better, name) == std::cmp::Ordering::Less
    {
        text.push_str(&format!("; use {group}/{better} {kind}"));
    }
    Some(text)
}

fn owned(list: Vec<&str>) -> Vec<String> {
    list.into_iter().map(str::to_string).collect()
}

/// kube's version priority: kube-like versions (`v2`, `v1beta1`) first, GA
/// before beta before alpha, higher numbers first; the rest by name.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u64 = rest[..digits].parse().ok()?;
        if major == 0 {
            return None;
        }
        let tail = &rest[digits..];
        let (stage, minor) = if tail.is_empty() {
            return Some((2, major, 0));
        } else if let Some(m) = tail.strip_prefix("beta") {
            (1, m)
        } else if let Some(m) = tail.strip_prefix("alpha") {
            (0, m)
        } else {
            return None;
        };
        if minor.is_empty() || !minor.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some((stage, major, minor.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn condition_status<'a>(crd: &'a Value, ty: &str) -> Option<&'a str> {
    crd.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))?
        .get("status")?
        .as_str()
}

/// Sets one condition, keeping its transition time unless its status
/// changes. Returns whether anything changed.
fn set_condition(crd: &mut Value, ty: &str, status: &str, reason: &str, message: &str) -> bool {
    let Some(o) = crd.as_object_mut() else {
        return false;
    };
    let st = o.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else {
        return false;
    };
    let conditions = st.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return false;
    };
    let now = object::now_timestamp();
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
    {
        Some(c) => {
            let same = c.get("status").and_then(Value::as_str) == Some(status)
                && c.get("reason").and_then(Value::as_str) == Some(reason)
                && c.get("message").and_then(Value::as_str) == Some(message);
            if same {
                return false;
            }
            if c.get("status").and_then(Value::as_str) != Some(status) {
                c["lastTransitionTime"] = json!(now);
            }
            c["status"] = json!(status);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        None => list.push(json!({
            "type": ty,
            "status": status,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        })),
    }
    true
}

/// Which of a CRD's names another CRD of its group already holds, as
/// kube's naming controller words it: (condition reason, message).
fn name_conflict(crd: &Value, others: &[Value]) -> Option<(&'static str, String)> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str)?;
    let names = crd.pointer("/spec/names")?.as_object()?;
    let me = object::name(crd);
    let taken = |pick: &dyn Fn(&Map<String, Value>) -> Vec<String>| -> HashSet<String> {
        others
            .iter()
            .filter(|o| object::name(o) != me)
            .filter(|o| o.pointer("/spec/group").and_then(Value::as_str) == Some(group))
            .filter_map(|o| {
                o.pointer("/status/acceptedNames")
                    .and_then(Value::as_object)
            })
            .flat_map(pick)
            .collect()
    };
    let resource_names = taken(&|n| {
        let mut v = vec![
            str_field(n, "plural").to_string(),
            str_field(n, "singular").to_string(),
        ];
        v.extend(owned(string_list(n.get("shortNames"))));
        v.retain(|s| !s.is_empty());
        v
    });
    let kinds = taken(&|n| {
        [str_field(n, "kind"), str_field(n, "listKind")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    let in_use = |s: &str| format!("{s:?} is already in use");
    let plural = str_field(names, "plural");
    if resource_names.contains(plural) {
        return Some(("PluralConflict", in_use(plural)));
    }
    let singular = str_field(names, "singular");
    if resource_names.contains(singular) {
        return Some(("SingularConflict", in_use(singular)));
    }
    for short in string_list(names.get("shortNames")) {
        if resource_names.contains(short) {
            return Some(("ShortNamesConflict", in_use(short)));
        }
    }
    let kind = str_field(names, "kind");
    if kinds.contains(kind) {
        return Some(("KindConflict", in_use(kind)));
    }
    let list_kind = str_field(names, "listKind");
    if kinds.contains(list_kind) {
        return Some(("ListKindConflict", in_use(list_kind)));
    }
    None
}

/// Puts a CRD's versions in the registry, replacing what it served before.
/// Returns false when it cannot be served.
fn serve(api: &Api, crd: &Value) -> bool {
    let name = object::name(crd).to_string();
    match resource_types(crd) {
        Ok(mut types) => {
            let resources = api.registry.snapshot();
            // Built-in kinds are served first in kube, so a CRD cannot
            // take their place.
            types.retain(|t| {
                resources
                    .get(&t.group, &t.version, &t.resource)
                    .is_none_or(|r| matches!(r.special, Special::Custom { .. }))
            });
            let before = served_types(&resources, &name);
            // A cache keeps the scope and selectable fields of the resource
            // it was started for; when those change it starts afresh, which
            // ends its watches as kube's do when a CRD changes storage.
            let restart_cache = match (before.first(), types.first()) {
                (Some(old), Some(new)) => {
                    old.storage_prefix != new.storage_prefix
                        || old.namespaced != new.namespaced
                        || before
                            .iter()
                            .map(|r| &r.selectable_fields)
                            .ne(types.iter().map(|r| &r.selectable_fields))
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            let old_prefix = before.first().map(|r| r.storage_prefix.clone());
            api.registry.update(|r| {
                r.remove_crd(&name);
                for t in types {
                    r.add(t);
                }
            });
            if restart_cache && let Some(prefix) = old_prefix {
                api.drop_cache(&prefix);
            }
            true
        }
        Err(e) => {
            tracing::warn!(crd = %name, error = %e, "cannot serve a CustomResourceDefinition");
            false
        }
    }
}

/// The resources a CRD serves now, preferred version first.
fn served_types(resources: &Resources, crd: &str) -> Vec<Arc<ResourceType>> {
    resources
        .all()
        .filter(|r| matches!(&r.special, Special::Custom { crd: c } if c == crd))
        .cloned()
        .collect()
}

fn served_prefix(api: &Api, crd: &str) -> Option<String> {
    served_types(&api.registry.snapshot(), crd)
        .first()
        .map(|r| r.storage_prefix.clone())
}

/// Stops serving a CRD that is gone.
fn unserve(api: &Api, crd: &str) {
    if let Some(prefix) = served_prefix(api, crd) {
        api.registry.update(|r| r.remove_crd(crd));
        api.drop_cache(&prefix);
        tracing::info!(crd, "stopped serving a CustomResourceDefinition");
    }
}

// ---------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------

/// Establishes CRDs and cleans up after deleted ones, reacting to the CRD
/// watch cache. One runs per server; several servers on one store agree
/// through compare-and-swap writes.
#[derive(Debug)]
pub struct Controller {
    api: Weak<Api>,
    queue: mpsc::UnboundedSender<String>,
    /// The spec each CRD was last served with, to skip re-serving (and
    /// ending watches) when only its status changed.
    served: std::sync::Mutex<HashMap<String, Value>>,
}

impl Controller {
    /// Serves the CRDs the store holds that were established (so a restart
    /// serves the same kinds before the first request), then starts the
    /// controller in the background.
    pub async fn start(api: &Arc<Api>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let controller = Arc::new(Controller {
            api: Arc::downgrade(api),
            queue: tx,
            served: std::sync::Mutex::new(HashMap::new()),
        });
        match controller.all_crds(api).await {
            Ok(crds) => {
                for crd in crds {
                    if condition_status(&crd, "Established") == Some("True") && serve(api, &crd) {
                        controller.changed(object::name(&crd), &crd);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list CustomResourceDefinitions at start"),
        }
        tokio::spawn(controller.clone().feed());
        tokio::spawn(controller.work(rx, api.shutdown_signal()));
    }

    /// Queues the name of every CRD that changes, re-watching from scratch
    /// (every CRD again) when the watch ends or falls behind.
    async fn feed(self: Arc<Self>) {
        loop {
            let Some(api) = self.api.upgrade() else {
                return;
            };
            if *api.shutdown_signal().borrow() {
                return;
            }
            let Some(rt) = api
                .registry
                .snapshot()
                .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .cloned()
            else {
                return;
            };
            let cache = api.cache(&rt);
            let mut shutdown = api.shutdown_signal();
            drop(api);
            let mut watch = match cache.watch(None, ReadAt::Any).await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "CRD controller cannot watch; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            };
            for event in &watch.initial {
                let _ = self.queue.send(event.object.name.clone());
            }
            loop {
                tokio::select! {
                    signal = watch.live.recv() => match signal {
                        Ok(Signal::Event(e)) => {
                            let _ = self.queue.send(e.object.name.clone());
                        }
                        Ok(Signal::Progress(_)) => {}
                        Err(_) => break,
                    },
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reconciles queued CRDs one at a time until the server shuts down.
    async fn work(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<String>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            // The queue's sender lives in `self`, so it never closes by
            // itself: shutdown is what ends this task.
            let name = tokio::select! {
                name = rx.recv() => match name {
                    Some(name) => name,
                    None => return,
                },
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let Some(api) = self.api.upgrade() else {
                return;
            };
            let again = match self.reconcile(&api, &name).await {
                Ok(again) => again,
                Err(e) => {
                    tracing::warn!(crd = %name, error = %e, "reconciling a CustomResourceDefinition");
                    true
                }
            };
            if again {
                let queue = self.queue.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY_AFTER).await;
                    let _ = queue.send(name);
                });
            }
        }
    }

    /// Brings one CRD's serving and status up to date. Returns whether to
    /// look again later.
    async fn reconcile(&self, api: &Arc<Api>, name: &str) -> Result<bool, ApiError> {
        let key = format!("{CRD_PREFIX}{name}");
        let (Some(kv), _) = api.storage.get(&key).await.map_err(ApiError::storage)? else {
            self.forget(name);
            unserve(api, name);
            // Its names are free now.
            self.requeue_unaccepted(&self.all_crds(api).await?, name);
            return Ok(false);
        };
        let crd: Value = serde_json::from_slice(&kv.value)
            .map_err(|e| ApiError::Internal(format!("stored CRD {name} is not JSON: {e}")))?;
        if object::is_deleting(&crd) {
            return self.finalize(api, &key, crd, kv.mod_revision).await;
        }
        let others = self.all_crds(api).await?;
        let mut next = crd.clone();
        let established_before = condition_status(&crd, "Established") == Some("True");
        match name_conflict(&crd, &others) {
            Some((reason, message)) => {
                set_condition(&mut next, "NamesAccepted", "False", reason, &message);
                if !established_before {
                    set_condition(
                        &mut next,
                        "Established",
                        "False",
                        "NotAccepted",
                        "not all names are accepted",
                    );
                }
            }
            None => {
                let accepted = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
                if let Some(st) = next.get_mut("status").and_then(Value::as_object_mut) {
                    st.insert("acceptedNames".into(), accepted);
                } else if let Some(o) = next.as_object_mut() {
                    o.insert("status".into(), json!({"acceptedNames": accepted}));
                }
                set_condition(
                    &mut next,
                    "NamesAccepted",
                    "True",
                    "NoConflicts",
                    "no conflicts found",
                );
                // A rename may have freed names another CRD is waiting for.
                self.requeue_unaccepted(&others, name);
                // Serve first, then say so: a client waiting for
                // Established may use the kind as soon as it sees it.
                if self.changed(name, &crd) {
                    if !serve(api, &next) {
                        return Ok(false);
                    }
                    tracing::info!(crd = %name, "serving a CustomResourceDefinition");
                }
                set_condition(
                    &mut next,
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                );
            }
        }
        if let Some((status, reason, message)) = approval_condition(&crd) {
            set_condition(
                &mut next,
                "KubernetesAPIApprovalPolicyConformant",
                status,
                reason,
                &message,
            );
        }
        add_stored_version(&mut next);
        if next == crd {
            return Ok(false);
        }
        let bytes = serde_json::to_vec(&next).unwrap_or_default();
        match api
            .storage
            .update(&key, bytes.into(), kv.mod_revision)
            .await
            .map_err(ApiError::storage)?
        {
            Write::Done { .. } => Ok(false),
            // Someone else wrote it; their write queues it again.
            Write::Conflict { .. } => Ok(false),
        }
    }

    /// Queues the CRDs whose names were not accepted, since the names they
    /// wait for may be free now.
    fn requeue_unaccepted(&self, crds: &[Value], except: &str) {
        for crd in crds {
            let name = object::name(crd);
            if name != except && condition_status(crd, "NamesAccepted") != Some("True") {
                let _ = self.queue.send(name.to_string());
            }
        }
    }

    /// Whether a CRD's spec differs from what it was last served with, and
    /// records the new one.
    fn changed(&self, name: &str, crd: &Value) -> bool {
        let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        if served.get(name) == Some(&spec) {
            return false;
        }
        served.insert(name.to_string(), spec);
        true
    }

    fn forget(&self, name: &str) {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    async fn all_crds(&self, api: &Arc<Api>) -> Result<Vec<Value>, ApiError> {
        let page = api
            .storage
            .list(CRD_PREFIX, "", 0, 0)
            .await
            .map_err(ApiError::storage)?;
        Ok(page
            .items
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect())
    }

    /// Deletes the objects of a CRD being deleted, then lets it go.
    async fn finalize(
        &self,
        api: &Arc<Api>,
        key: &str,
        crd: Value,
        revision: i64,
    ) -> Result<bool, ApiError> {
        if !object::finalizers(&crd)
            .iter()
            .any(|f| f == CLEANUP_FINALIZER)
        {
            return Ok(false);
        }
        let name = object::name(&crd).to_string();
        // Keep serving the kind, read-only for new objects, so clients can
        // see the deletions and controllers can remove their finalizers.
        // Once it is served as terminating, retries leave the registry (and
        // the OpenAPI documents built per registry snapshot) alone unless
        // the spec changed meanwhile.
        let served_terminating = served_types(&api.registry.snapshot(), &name)
            .first()
            .and_then(|r| r.custom.as_ref())
            .is_some_and(|c| c.terminating);
        let spec_changed = self.changed(&name, &crd);
        if (!served_terminating || spec_changed) && !serve(api, &crd) {
            // Nothing is served from it, so its objects cannot be reached
            // through the API: the finalizer goes below and whatever is
            // stored under its prefix stays there.
            tracing::warn!(crd = %name, "deleting a CRD that cannot be served");
        }
        if let Some(rt) = served_types(&api.registry.snapshot(), &name)
            .into_iter()
            .next()
        {
            let page = api
                .storage
                .list(&rt.storage_prefix, "", 0, 0)
                .await
                .map_err(ApiError::storage)?;
            if !page.items.is_empty() {
                for kv in page.items {
                    let Ok(v) = serde_json::from_slice::<Value>(&kv.value) else {
                        continue;
                    };
                    let ns = object::namespace(&v).to_string();
                    let ns = (!ns.is_empty()).then_some(ns.as_str());
                    match crate::rest::write::delete_object(
                        api,
                        &rt,
                        ns,
                        object::name(&v),
                        &Default::default(),
                        false,
                    )
                    .await
                    {
                        Ok(_) | Err(ApiError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                // Objects held by finalizers keep the CRD; look again.
                return Ok(true);
            }
        }
        let mut next = crd;
        set_condition(
            &mut next,
            "Terminating",
            "False",
            "InstanceDeletionCompleted",
            "removed all instances",
        );
        if let Some(m) = object::meta_mut(&mut next)
            && let Some(list) = m.get_mut("finalizers").and_then(Value::as_array_mut)
        {
            list.retain(|f| f.as_str() != Some(CLEANUP_FINALIZER));
        }
        let write = if object::finalizers(&next).is_empty() {
            api.storage.delete(key, revision).await
        } else {
            let bytes = serde_json::to_vec(&next).unwrap_or_default();
            api.storage.update(key, bytes.into(), revision).await
        }
        .map_err(ApiError::storage)?;
        Ok(matches!(write, Write::Conflict { .. }))
    }
}

/// A one-version CRD of `crontabs.stable.example.com` with a status and a
/// scale subresource (replicas at `.spec.replicas` and `.status.replicas`,
/// the selector at `.status.selector`) and a schema default, as a write
/// leaves it.
#[cfg(test)]
pub(crate) fn scaled_test_crd() -> Value {
    let mut crd = json!({
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "image": {"type": "string", "default": "busybox"}}},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "selector": {"type": "string"}}}}}},
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector"}},
            }],
        },
    });
    prepare_create(&mut crd);
    crd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                         "spec": {"type": "object", "properties": {
                             "cronSpec": {"type": "string"},
                             "replicas": {"type": "integer", "default": 1}}}}}},
                     "subresources": {"status": {}},
                     "selectableFields": [{"jsonPath": ".spec.cronSpec"}],
                     "additionalPrinterColumns": [
                         {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]},
                ],
            },
        })
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_status_on_create() {
        let mut v = crd();
        v["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
        prepare_create(&mut v);
        assert_eq!(v["spec"]["names"]["singular"], "crontab");
        assert_eq!(v["spec"]["names"]["listKind"], "CronTabList");
        assert_eq!(v["spec"]["conversion"]["strategy"], "None");
        assert_eq!(
            v["status"],
            json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]})
        );
        assert!(
            validate(&v, None).is_empty(),
            "{:?}",
            messages(&validate(&v, None))
        );
    }

    #[test]
    fn protected_groups_need_approval() {
        let mut v = crd();
        v["metadata"]["name"] = json!("crontabs.x.k8s.io");
        v["spec"]["group"] = json!("x.k8s.io");
        prepare_create(&mut v);
        assert_eq!(
            messages(&validate(&v, None)),
            [
                r#"metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"#
            ]
        );
        // An old CRD that never had it keeps working.
        assert!(validate(&v, Some(&v.clone())).is_empty());
        v["metadata"]["annotations"] = json!({APPROVAL: "maybe"});
        assert!(messages(&validate(&v, None))[0].contains(r#"Invalid value: "maybe""#));
        v["metadata"]["annotations"] = json!({APPROVAL: "unapproved, testing"});
        assert!(validate(&v, None).is_empty());
        assert_eq!(
            approval_condition(&v),
            Some((
                "False",
                "UnapprovedAnnotation",
                r#"not approved: "unapproved, testing""#.to_string()
            ))
        );
        v["metadata"]["annotations"] = json!({APPROVAL: "https://example.com/pr/1"});
        assert_eq!(
            approval_condition(&v).map(|c| c.2),
            Some("approved in https://example.com/pr/1".to_string())
        );
        assert_eq!(approval_condition(&crd()), None);
    }

    #[test]
    fn deprecated_versions_warn() {
        let versions = vec![
            json!({"name": "v1alpha1", "served": true, "deprecated": true}),
            json!({"name": "v1", "served": true}),
            json!({"name": "v2", "served": false}),
            json!({"name": "v1beta1", "served": true, "deprecated": true, "deprecationWarning": "go away"}),
        ];
        let warn = |i: usize| deprecation_warning("x.io", "Foo", &versions[i], &versions);
        assert_eq!(
            warn(0).as_deref(),
            Some("x.io/v1alpha1 Foo is deprecated; use x.io/v1 Foo")
        );
        assert_eq!(warn(1), None);
        assert_eq!(warn(3).as_deref(), Some("go away"));
        // Nothing better to point at.
        let only = vec![json!({"name": "v1", "served": true, "deprecated": true})];
        assert_eq!(
            deprecation_warning("x.io", "Foo", &only[0], &only).as_deref(),
            Some("x.io/v1 Foo is deprecated")
        );
    }

    #[test]
    fn an_unparsable_printer_column_keeps_the_ones_before_it() {
        let mut v = crd();
        v["spec"]["versions"][1]["additionalPrinterColumns"] = json!([
            {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
            {"name": "Bad", "type": "string", "jsonPath": ".spec[?("},
        ]);
        let types = resource_types(&v).unwrap();
        let names: Vec<&str> = types[0]
            .custom
            .as_ref()
            .unwrap()
            .printer
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["Name", "Spec"]);
    }

    #[test]
    fn a_stored_version_cannot_leave_the_spec() {
        let mut v = crd();
        prepare_create(&mut v);
        v["spec"]["versions"][1]["name"] = json!("v2");
        prepare_update(&mut v);
        assert_eq!(
            messages(&validate(&v, None)),
            [r#"status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions"#]
        );
    }

    #[test]
    fn stored_versions_only_grow() {
        let mut v = crd();
        prepare_create(&mut v);
        v["spec"]["versions"][0]["storage"] = json!(true);
        v["spec"]["versions"][1]["storage"] = json!(false);
        prepare_update(&mut v);
        assert_eq!(v["status"]["storedVersions"], json!(["v1", "v1beta1"]));
    }

    #[test]
    fn kube_messages_for_bad_crds() {
        let mut v = crd();
        v["metadata"]["name"] = json!("wrong.example.com");
        v["spec"]["group"] = json!("nodots");
        v["spec"]["scope"] = json!("Global");
        v["spec"]["names"]["plural"] = json!("CronTabs");
        v["spec"]["names"]["listKind"] = json!("CronTab");
        v["spec"]["versions"][0]["name"] = json!("v1");
        v["spec"]["versions"][0]["storage"] = json!(true);
        v["spec"]["versions"][1]["schema"] = json!(null);
        default_crd(&mut v);
        let got = messages(&validate(&v, None));
        for want in [
            r#"metadata.name: Invalid value: "wrong.example.com": must be spec.names.plural+"."+spec.group"#,
            r#"spec.group: Invalid value: "nodots": should be a domain with at least one dot"#,
            r#"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""#,
            r#"spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same"#,
            r#"spec.versions[1].name: Invalid value: "v1": must be unique"#,
            "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required",
        ] {
            assert!(got.iter().any(|g| g == want), "missing {want}\nin {got:#?}");
        }
        assert!(
            got.iter().any(|g| g.starts_with(
                r#"spec.names.plural: Invalid value: "CronTabs": a lowercase RFC 1123 label"#
            )),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("spec.versions: Invalid value:")
                    && g.ends_with("must have exactly one version marked as storage version")),
            "{got:#?}"
        );
    }

    #[test]
    fn missing_everything_is_required_not_a_panic() {
        for body in [
            json!({}),
            json!({"spec": null}),
            json!({"spec": {"names": 3, "versions": "x"}}),
        ] {
            let got = messages(&validate(&body, None));
            assert!(
                got.iter().any(|g| g == "spec.group: Required value"),
                "{got:?}"
            );
            assert!(
                got.iter().any(|g| g == "spec.names.kind: Required value"),
                "{got:?}"
            );
            assert!(
                got.iter().any(|g| g == "spec.versions: Required value"),
                "{got:?}"
            );
            assert!(resource_types(&body).is_err());
        }
    }

    #[test]
    fn schema_errors_carry_the_version_path() {
        let mut v = crd();
        v["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"] =
            json!("nonsense");
        let got = messages(&validate(&v, None));
        assert!(
            got.iter()
                .any(|g| g
                    .starts_with("spec.versions[1].schema.openAPIV3Schema.properties[spec].type")),
            "{got:#?}"
        );
    }

    #[test]
    fn served_versions_become_resource_types() {
        let mut v = crd();
        prepare_create(&mut v);
        let types = resource_types(&v).unwrap();
        let versions: Vec<&str> = types.iter().map(|t| t.version.as_str()).collect();
        assert_eq!(versions, ["v1", "v1beta1"]);
        let v1 = &types[0];
        assert_eq!(v1.storage_prefix, "/registry/stable.example.com/crontabs/");
        assert_eq!(v1.storage_api_version, "stable.example.com/v1");
        assert_eq!(types[1].storage_api_version, "stable.example.com/v1");
        assert!(v1.namespaced);
        assert!(v1.status_subresource);
        assert!(!types[1].status_subresource);
        assert_eq!(v1.selectable_fields, ["spec.cronSpec"]);
        assert_eq!(v1.short_names, ["ct"]);
        assert_eq!(v1.singular, "crontab");
        let custom = v1.custom.as_ref().unwrap();
        assert!(!custom.terminating);
        assert_eq!(custom.printer.columns().len(), 2);
        // Unserved versions are not served.
        v["spec"]["versions"][0]["served"] = json!(false);
        assert_eq!(resource_types(&v).unwrap().len(), 1);
    }

    /// A one-version CRD whose version has the given subresources.
    fn with_subresources(subresources: Value) -> Value {
        let mut v = crd();
        let versions = v["spec"]["versions"].as_array_mut().unwrap();
        versions.remove(0);
        versions[0]["subresources"] = subresources;
        prepare_create(&mut v);
        v
    }

    #[test]
    fn scale_paths_carry_kubes_messages() {
        let check = |scale: Value| {
            let v = with_subresources(json!({"status": {}, "scale": scale}));
            messages(&validate(&v, None))
        };
        assert!(
            check(json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector"}))
            .is_empty()
        );
        // Subresources every version shares are checked at the top level,
        // where kube's decoding moves them.
        assert_eq!(
            check(json!({})),
            [
                "spec.subresources.scale.specReplicasPath: Required value",
                "spec.subresources.scale.statusReplicasPath: Required value",
            ]
        );
        assert_eq!(
            check(
                json!({"specReplicasPath": "foo,bar", "statusReplicasPath": ".spec.replicas",
                "labelSelectorPath": ".metadata.labels"})
            ),
            [
                r#"spec.subresources.scale.specReplicasPath: Invalid value: "foo,bar": must be a simple json path starting with ."#,
                r#"spec.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under .status"#,
                r#"spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status"#,
            ]
        );
        // The path must go below .spec, not name it.
        assert_eq!(
            check(
                json!({"specReplicasPath": ".spec", "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ""})
            ),
            [
                r#"spec.subresources.scale.specReplicasPath: Invalid value: ".spec": should be a json path under .spec"#
            ]
        );
        // Versions that differ are checked each at its own path.
        let mut v = crd();
        v["spec"]["versions"][0]["subresources"] =
            json!({"scale": {"specReplicasPath": ".status.r", "statusReplicasPath": ".status.r"}});
        prepare_create(&mut v);
        assert_eq!(
            messages(&validate(&v, None)),
            [
                r#"spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.r": should be a json path under .spec"#
            ]
        );
    }

    #[test]
    fn scale_paths_are_served() {
        let types = resource_types(&scaled_test_crd()).unwrap();
        assert!(validate(&scaled_test_crd(), None).is_empty());
        assert_eq!(
            types[0].scale(),
            Some(&ScaleSubresource {
                spec_replicas_path: ".spec.replicas".into(),
                status_replicas_path: ".status.replicas".into(),
                label_selector_path: Some(".status.selector".into()),
            })
        );
        let v = with_subresources(json!({"scale": {
            "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ""}}));
        let types = resource_types(&v).unwrap();
        assert_eq!(types[0].scale().unwrap().label_selector_path, None);
        assert_eq!(resource_types(&crd()).unwrap()[0].scale(), None);
    }

    #[test]
    fn kube_version_priority() {
        let mut v = vec![
            "foo10",
            "v1",
            "v12alpha1",
            "v10beta3",
            "foo1",
            "v2",
            "v11beta2",
            "v3beta1",
            "v11alpha2",
            "v10",
        ];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            v,
            [
                "v10",
                "v2",
                "v1",
                "v11beta2",
                "v10beta3",
                "v3beta1",
                "v12alpha1",
                "v11alpha2",
                "foo1",
                "foo10"
            ]
        );
    }

    #[test]
    fn names_in_use_conflict() {
        let mut a = crd();
        prepare_create(&mut a);
        a["status"]["acceptedNames"] = a["spec"]["names"].clone();
        let mut b = crd();
        b["metadata"]["name"] = json!("crontabs2.stable.example.com");
        b["spec"]["names"] =
            json!({"plural": "crontabs2", "kind": "CronTab2", "shortNames": ["ct"]});
        default_crd(&mut b);
        assert_eq!(
            name_conflict(&b, &[a.clone()]),
            Some(("ShortNamesConflict", "\"ct\" is already in use".to_string()))
        );
        b["spec"]["names"]["shortNames"] = json!([]);
        b["spec"]["names"]["kind"] = json!("CronTab");
        b["spec"]["names"]["listKind"] = json!("CronTab2List");
        assert_eq!(
            name_conflict(&b, &[a.clone()]),
            Some(("KindConflict", "\"CronTab\" is already in use".to_string()))
        );
        // Another group, or itself, is no conflict.
        b["spec"]["group"] = json!("other.example.com");
        assert_eq!(name_conflict(&b, &[a.clone()]), None);
        assert_eq!(name_conflict(&a, &[a.clone()]), None);
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut v = crd();
        assert!(set_condition(&mut v, "Established", "True", "R", "m"));
        let t = v["status"]["conditions"][0]["lastTransitionTime"].clone();
        assert!(!set_condition(&mut v, "Established", "True", "R", "m"));
        assert!(set_condition(&mut v, "Established", "True", "R2", "m"));
        assert_eq!(v["status"]["conditions"][0]["lastTransitionTime"], t);
        assert_eq!(condition_status(&v, "Established"), Some("True"));
    }

    #[test]
    fn deleting_adds_the_finalizer_once() {
        let mut v = crd();
        prepare_delete(&mut v);
        assert_eq!(v["metadata"]["finalizers"], json!([CLEANUP_FINALIZER]));
        assert_eq!(condition_status(&v, "Terminating"), Some("True"));
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        v["metadata"]["finalizers"] = json!([]);
        prepare_delete(&mut v);
        assert_eq!(v["metadata"]["finalizers"], json!([]));
    }
}
