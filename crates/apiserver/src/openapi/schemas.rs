//! The schemas of the kinds served, as kube-apiserver publishes them in
//! `components.schemas` (OpenAPI v3) and `definitions` (Swagger 2.0).
//!
//! Built-in kinds take their schemas from `k8s-openapi`, whose types carry
//! kube's definition names and descriptions. What `k8s-openapi` leaves out
//! is added here: `x-kubernetes-group-version-kind` on the kinds, the list
//! kinds, and the list-topology and strategic-merge extensions kubectl reads
//! to compute `kubectl apply` patches ([`LIST_EXTENSIONS`]).

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::resource::ResourceType;

/// Where v3 documents keep their schemas; `$ref`s start with this.
pub const V3_REF_PREFIX: &str = "#/components/schemas/";

/// Where Swagger 2.0 documents keep their schemas.
pub const V2_REF_PREFIX: &str = "#/definitions/";

/// The schema of a kind nothing describes: any object, kept whole.
pub fn unknown_object() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// How the entries of one list field merge, as kube's `+listType`,
/// `+listMapKey`, `patchStrategy` and `patchMergeKey` markers publish them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListExtension {
    /// The definition holding the field.
    pub schema: &'static str,
    /// The field.
    pub field: &'static str,
    /// `x-kubernetes-list-type`: `atomic`, `set` or `map`.
    pub list_type: Option<&'static str>,
    /// `x-kubernetes-list-map-keys`, for `map` lists.
    pub map_keys: &'static [&'static str],
    /// `x-kubernetes-patch-strategy` (`merge`, `merge,retainKeys`, ...).
    pub patch_strategy: Option<&'static str>,
    /// `x-kubernetes-patch-merge-key`.
    pub merge_key: Option<&'static str>,
}

impl ListExtension {
    /// The extension keys this entry adds to the field's schema.
    pub fn extensions(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if !self.map_keys.is_empty() {
            out.insert("x-kubernetes-list-map-keys".into(), json!(self.map_keys));
        }
        if let Some(t) = self.list_type {
            out.insert("x-kubernetes-list-type".into(), json!(t));
        }
        if let Some(k) = self.merge_key {
            out.insert("x-kubernetes-patch-merge-key".into(), json!(k));
        }
        if let Some(s) = self.patch_strategy {
            out.insert("x-kubernetes-patch-strategy".into(), json!(s));
        }
        out
    }
}

const fn atomic(schema: &'static str, field: &'static str) -> ListExtension {
    ListExtension {
        schema,
        field,
        list_type: Some("atomic"),
        map_keys: &[],
        patch_strategy: None,
        merge_key: None,
    }
}

const fn set(schema: &'static str, field: &'static str) -> ListExtension {
    ListExtension {
        list_type: Some("set"),
        ..atomic(schema, field)
    }
}

/// A `map` list that strategic merge also merges by the first key.
const fn merged_map(
    schema: &'static str,
    field: &'static str,
    keys: &'static [&'static str],
) -> ListExtension {
    ListExtension {
        schema,
        field,
        list_type: Some("map"),
        map_keys: keys,
        patch_strategy: Some("merge"),
        merge_key: Some(keys[0]),
    }
}

/// A `map` list that strategic merge replaces whole.
const fn plain_map(
    schema: &'static str,
    field: &'static str,
    keys: &'static [&'static str],
) -> ListExtension {
    ListExtension {
        schema,
        field,
        list_type: Some("map"),
        map_keys: keys,
        patch_strategy: None,
        merge_key: None,
    }
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// The list extensions of the definitions the served kinds reach, as kube
/// 1.33 publishes them. The patch strategies and merge keys are the struct
/// tags of `k8s.io/api` (the ones kubectl itself compiles in); the list
/// types are the `+listType` markers of the same fields.
pub const LIST_EXTENSIONS: &[ListExtension] = &[
    // metav1.ObjectMeta, shared by every kind.
    ListExtension {
        schema: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        field: "finalizers",
        list_type: Some("set"),
        map_keys: &[],
        patch_strategy: Some("merge"),
        merge_key: None,
    },
    atomic(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "managedFields",
    ),
    merged_map(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        &["uid"],
    ),
    atomic(
        "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
        "causes",
    ),
    atomic(
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "dryRun",
    ),
    // core/v1
    atomic("io.k8s.api.core.v1.EndpointSubset", "addresses"),
    atomic("io.k8s.api.core.v1.EndpointSubset", "notReadyAddresses"),
    atomic("io.k8s.api.core.v1.EndpointSubset", "ports"),
    atomic("io.k8s.api.core.v1.Endpoints", "subsets"),
    atomic("io.k8s.api.core.v1.LoadBalancerIngress", "ports"),
    atomic("io.k8s.api.core.v1.LoadBalancerStatus", "ingress"),
    atomic("io.k8s.api.core.v1.NamespaceSpec", "finalizers"),
    merged_map(
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        &["type"],
    ),
    atomic("io.k8s.api.core.v1.ServiceAccount", "imagePullSecrets"),
    merged_map("io.k8s.api.core.v1.ServiceAccount", "secrets", &["name"]),
    atomic("io.k8s.api.core.v1.ServiceSpec", "clusterIPs"),
    atomic("io.k8s.api.core.v1.ServiceSpec", "externalIPs"),
    atomic("io.k8s.api.core.v1.ServiceSpec", "ipFamilies"),
    atomic("io.k8s.api.core.v1.ServiceSpec", "loadBalancerSourceRanges"),
    merged_map(
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        &["port", "protocol"],
    ),
    merged_map("io.k8s.api.core.v1.ServiceStatus", "conditions", &["type"]),
    // discovery.k8s.io/v1
    set("io.k8s.api.discovery.v1.Endpoint", "addresses"),
    atomic("io.k8s.api.discovery.v1.EndpointHints", "forNodes"),
    atomic("io.k8s.api.discovery.v1.EndpointHints", "forZones"),
    atomic("io.k8s.api.discovery.v1.EndpointSlice", "endpoints"),
    atomic("io.k8s.api.discovery.v1.EndpointSlice", "ports"),
    // apiextensions.k8s.io/v1
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        "categories",
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        "shortNames",
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec",
        "versions",
    ),
    plain_map(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "conditions",
        &["type"],
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "storedVersions",
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
        "additionalPrinterColumns",
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
        "selectableFields",
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        "x-kubernetes-list-map-keys",
    ),
    merged_map(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        "x-kubernetes-validations",
        &["rule"],
    ),
    atomic(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookConversion",
        "conversionReviewVersions",
    ),
];

/// Definitions kube marks as atomic structs (`+structType=atomic`): apply
/// replaces them whole.
const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ObjectReference",
];

/// Kinds whose `metadata` kube marks required (`json:"metadata"` without
/// `omitempty`). `k8s-openapi` marks it required on every kind, since its
/// Rust field is not optional; kube does only on these.
const METADATA_REQUIRED: &[&str] = &["io.k8s.api.core.v1.Event", "io.k8s.api.events.v1.Event"];

/// A `k8s-openapi` type: its definition name, and how to register its
/// schema (and everything it reaches) in a generator.
#[derive(Clone, Copy)]
struct Builtin {
    name: fn() -> std::borrow::Cow<'static, str>,
    register: fn(&mut SchemaGenerator),
}

/// The `k8s-openapi` type of a built-in kind.
fn builtin(group: &str, version: &str, kind: &str) -> Option<Builtin> {
    use k8s_openapi::api::coordination::v1 as coordination;
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::discovery::v1 as discovery;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    use schemars::JsonSchema;

    macro_rules! builtin {
        ($t:ty) => {
            Some(Builtin {
                name: <$t as JsonSchema>::schema_name,
                register: |g: &mut SchemaGenerator| {
                    g.subschema_for::<$t>();
                },
            })
        };
    }
    match (group, version, kind) {
        ("", "v1", "ConfigMap") => builtin!(core::ConfigMap),
        ("", "v1", "Endpoints") => builtin!(core::Endpoints),
        ("", "v1", "Event") => builtin!(core::Event),
        ("", "v1", "Namespace") => builtin!(core::Namespace),
        ("", "v1", "Secret") => builtin!(core::Secret),
        ("", "v1", "ServiceAccount") => builtin!(core::ServiceAccount),
        ("", "v1", "Service") => builtin!(core::Service),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => {
            builtin!(apiextensions::CustomResourceDefinition)
        }
        ("coordination.k8s.io", "v1", "Lease") => builtin!(coordination::Lease),
        ("discovery.k8s.io", "v1", "EndpointSlice") => builtin!(discovery::EndpointSlice),
        _ => None,
    }
}

/// The `k8s-openapi` type of a resource, unless it is a custom resource.
fn builtin_of(r: &ResourceType) -> Option<Builtin> {
    if is_custom(r) {
        None
    } else {
        builtin(&r.group, &r.version, &r.kind)
    }
}

/// Whether the kind's schema comes from `k8s-openapi` (and so carries the
/// strategic-merge metadata kubectl needs).
pub fn is_described_builtin(r: &ResourceType) -> bool {
    builtin_of(r).is_some()
}

/// Whether the resource is a custom resource (a CRD's).
pub fn is_custom(r: &ResourceType) -> bool {
    matches!(r.special, crate::resource::Special::Custom { .. })
}

/// The definition name of a kind: `k8s-openapi`'s for built-ins, and for
/// the rest kube's REST-friendly form of `group/version/kind` (the group's
/// labels reversed: `com.example.stable.v1.CronTab`).
pub fn kind_name(r: &ResourceType) -> String {
    if let Some(b) = builtin_of(r) {
        return (b.name)().into_owned();
    }
    let mut parts: Vec<&str> = r.group.split('.').filter(|s| !s.is_empty()).collect();
    parts.reverse();
    parts.push(&r.version);
    parts.push(&r.kind);
    parts.join(".")
}

/// The schemas of one document: the kinds of `kinds` (each with its list
/// kind) and the meta definitions every document's operations reference.
///
/// `extra` gives a kind's schema when something other than `k8s-openapi`
/// describes it (a CRD's `openAPIV3Schema`); kinds neither describes get
/// [`unknown_object`].
pub fn components<'a>(
    kinds: impl IntoIterator<Item = &'a ResourceType>,
    extra: &dyn Fn(&ResourceType) -> Option<Value>,
) -> Map<String, Value> {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        generator.subschema_for::<meta::APIResourceList>();
        generator.subschema_for::<meta::DeleteOptions>();
        generator.subschema_for::<meta::ListMeta>();
        generator.subschema_for::<meta::ObjectMeta>();
        generator.subschema_for::<meta::Patch>();
        generator.subschema_for::<meta::Status>();
    }
    let mut custom: Vec<(&ResourceType, Value)> = Vec::new();
    let mut kind_names: Vec<(&ResourceType, String)> = Vec::new();
    let mut scale = false;
    for r in kinds {
        if r.scale().is_some() && !scale {
            generator.subschema_for::<k8s_openapi::api::autoscaling::v1::Scale>();
            scale = true;
        }
        match builtin_of(r) {
            Some(b) => (b.register)(&mut generator),
            None => custom.push((r, extra(r).unwrap_or_else(unknown_object))),
        }
        kind_names.push((r, kind_name(r)));
    }
    let mut defs = generator.take_definitions(true);
    for (r, schema) in custom {
        defs.insert(kind_name(r), custom_kind_schema(schema));
    }
    for (r, name) in &kind_names {
        if let Some(Value::Object(schema)) = defs.get_mut(name) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk_list(r, &r.kind),
            );
            if !METADATA_REQUIRED.contains(&name.as_str()) {
                drop_required(schema, "metadata");
            }
        }
        defs.insert(format!("{name}List"), list_schema(r, name));
    }
    // kube's CRD documents take Scale from its generated definitions, with
    // metadata optional and no group-version-kind (the namer they use
    // knows no kinds).
    if let Some(Value::Object(schema)) = defs.get_mut(super::paths::SCALE) {
        drop_required(schema, "metadata");
    }
    add_extensions(&mut defs);
    defs
}

/// `[{"group", "kind", "version"}]`, as kube tags definitions.
fn gvk_list(r: &ResourceType, kind: &str) -> Value {
    json!([{"group": r.group, "kind": kind, "version": r.version}])
}

fn drop_required(schema: &mut Map<String, Value>, field: &str) {
    let now_empty = match schema.get_mut("required") {
        Some(Value::Array(required)) => {
            required.retain(|v| v.as_str() != Some(field));
            required.is_empty()
        }
        _ => false,
    };
    if now_empty {
        schema.remove("required");
    }
}

/// A custom kind's schema as kube's CRD publisher shapes it: the CRD's
/// schema with `apiVersion`, `kind` and `metadata` (always `ObjectMeta`)
/// among its properties.
fn custom_kind_schema(schema: Value) -> Value {
    let mut schema = match schema {
        Value::Object(m) => m,
        _ => match unknown_object() {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    };
    schema.entry("type").or_insert_with(|| json!("object"));
    let properties = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if !properties.is_object() {
        *properties = Value::Object(Map::new());
    }
    if let Value::Object(props) = properties {
        props.insert("apiVersion".into(), api_version_property());
        props.insert("kind".into(), kind_property());
        props.insert(
            "metadata".into(),
            json!({
                "allOf": [{"$ref": format!("{V3_REF_PREFIX}{META}ObjectMeta")}],
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            }),
        );
    }
    Value::Object(schema)
}

fn api_version_property() -> Value {
    json!({
        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
        "type": "string",
    })
}

fn kind_property() -> Value {
    json!({
        "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
        "type": "string",
    })
}

/// `<Kind>List`: what a list request answers.
fn list_schema(r: &ResourceType, item: &str) -> Value {
    json!({
        "description": format!("{}List is a list of {} objects.", r.kind, r.kind),
        "properties": {
            "apiVersion": api_version_property(),
            "items": {
                "description": format!("List of {}.", r.resource),
                "items": {"allOf": [{"$ref": format!("{V3_REF_PREFIX}{item}")}], "default": {}},
                "type": "array",
            },
            "kind": kind_property(),
            "metadata": {
                "allOf": [{"$ref": format!("{V3_REF_PREFIX}{META}ListMeta")}],
                "default": {},
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": gvk_list(r, &format!("{}List", r.kind)),
    })
}

/// Puts [`LIST_EXTENSIONS`] and [`ATOMIC_STRUCTS`] on the definitions
/// present.
fn add_extensions(defs: &mut Map<String, Value>) {
    for ext in LIST_EXTENSIONS {
        let Some(field) = defs
            .get_mut(ext.schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(ext.field))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        field.extend(ext.extensions());
    }
    for name in ATOMIC_STRUCTS {
        if let Some(Value::Object(schema)) = defs.get_mut(*name) {
            schema.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
    }
}

/// Rewrites a v3 schema for a Swagger 2.0 document: references point into
/// `definitions`, a lone `allOf` around a reference becomes the reference
/// (Swagger readers, kubectl's among them, do not follow `allOf`), and the
/// keywords Swagger lacks are dropped, as kube's CRD publisher does.
pub fn to_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "$ref" => {
                        let r = v.as_str().unwrap_or_default();
                        let name = r.strip_prefix(V3_REF_PREFIX).unwrap_or(r);
                        out.insert(k.clone(), json!(format!("{V2_REF_PREFIX}{name}")));
                    }
                    "allOf" => match v.as_array().map(Vec::as_slice) {
                        Some([only])
                            if only.get("$ref").is_some()
                                && only.as_object().is_some_and(|o| o.len() == 1) =>
                        {
                            if let Value::Object(inner) = to_v2(only) {
                                out.extend(inner);
                            }
                        }
                        _ => {
                            out.insert(k.clone(), to_v2(v));
                        }
                    },
                    "nullable" | "oneOf" | "anyOf" | "not" => {}
                    // Values, not schemas: kept as they are.
                    "default" | "example" | "enum" => {
                        out.insert(k.clone(), v.clone());
                    }
                    _ if k.starts_with("x-") => {
                        out.insert(k.clone(), v.clone());
                    }
                    // Names of properties are data, not keywords.
                    "properties" => {
                        let props = v
                            .as_object()
                            .map(|p| p.iter().map(|(name, s)| (name.clone(), to_v2(s))).collect())
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), to_v2(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}
