//! Where a strategic merge patch learns how to merge each field: the
//! `patchStrategy` and `patchMergeKey` struct tags of kube's Go types.
//!
//! kube looks these up by walking the Go type with reflection
//! (`PatchMetaFromStruct`); here the same walk runs over a static
//! description of each built-in kind ([`Shape`]). Only fields that can hold
//! an object or a list matter: kube consults the metadata only where both
//! the stored object and the patch have an object, or both a list, under the
//! same key, and a stored object never has one where its Go type has a
//! scalar.

use super::json::go_quote;

/// A `patchStrategy` struct tag, without `retainKeys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrategyKind {
    /// No tag: lists are replaced whole, objects are merged.
    #[default]
    Default,
    /// `merge`: lists of objects merge by the merge key, lists of scalars
    /// become set unions.
    Merge,
    /// `replace`: the patch's value replaces the stored one.
    Replace,
}

/// How one field is patched: its `patchStrategy` and `patchMergeKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Strategy {
    /// The strategy proper.
    pub kind: StrategyKind,
    /// Whether the tag also says `retainKeys`. Applying a patch ignores it
    /// (only the `$retainKeys` directive in the patch counts); it is kept so
    /// the description stays faithful to the tags.
    pub retain_keys: bool,
    /// The `patchMergeKey`, empty when there is none.
    pub merge_key: &'static str,
}

impl Strategy {
    /// No tags at all: an atomic list, a merged object.
    pub const NONE: Strategy = Strategy {
        kind: StrategyKind::Default,
        retain_keys: false,
        merge_key: "",
    };

    /// `patchStrategy:"merge" patchMergeKey:"<key>"`: a list of objects
    /// merged by `key`.
    pub const fn merge_by(key: &'static str) -> Strategy {
        Strategy {
            kind: StrategyKind::Merge,
            retain_keys: false,
            merge_key: key,
        }
    }

    /// `patchStrategy:"merge"` on a list of scalars: a set union.
    pub const MERGE: Strategy = Strategy {
        kind: StrategyKind::Merge,
        retain_keys: false,
        merge_key: "",
    };
}

/// The answer to "how is field `key` patched, and what does its value look
/// like" (for a list: what do its items look like).
pub type Lookup<'a> = Result<(Strategy, &'a dyn PatchMeta), String>;

/// Merge metadata of one Go type, looked up field by field as kube's
/// `LookupPatchMeta` does. Errors are kube's own texts; a strategic merge
/// patch that needs a lookup that fails is answered with a 500 carrying
/// that text.
pub trait PatchMeta: Sync + std::fmt::Debug {
    /// The field `key` of this object (or the values of this map): its
    /// strategy and the metadata of its value.
    fn lookup_field(&self, key: &str) -> Lookup<'_>;

    /// The list field `key`: its strategy and the metadata of its items.
    fn lookup_list(&self, key: &str) -> Lookup<'_>;

    /// The Go kind of this type (`struct`, `map`, `ptr`...), as kube names
    /// it in `cannot merge lists without merge key for <kind>`.
    fn name(&self) -> &'static str;
}

/// A static description of a Go type, enough for strategic merge patch.
#[derive(Debug)]
pub enum Shape {
    /// A struct: its Go name and the JSON fields that can hold an object or
    /// a list.
    Struct(&'static str, &'static [Field]),
    /// `map[string]T`.
    Map(&'static Shape),
    /// `[]T`.
    List(&'static Shape),
    /// `*T`.
    Ptr(&'static Shape),
    /// Anything serialized as a JSON scalar; the Go kind name.
    Scalar(&'static str),
}

/// One field of a struct [`Shape`].
#[derive(Debug)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    /// Its struct tags.
    pub strategy: Strategy,
    /// Its Go type.
    pub shape: &'static Shape,
}

impl Shape {
    fn kind(&self) -> &'static str {
        match self {
            Shape::Struct(..) => "struct",
            Shape::Map(_) => "map",
            Shape::List(_) => "slice",
            Shape::Ptr(_) => "ptr",
            Shape::Scalar(kind) => kind,
        }
    }

    /// The type with pointers followed, as Go's lookups do.
    fn deref(&self) -> &Shape {
        let mut s = self;
        while let Shape::Ptr(inner) = s {
            s = inner;
        }
        s
    }
}

impl Shape {
    /// Go's `LookupPatchMetadataForStruct` over this type.
    fn field_shape(&self, key: &str) -> Result<(Strategy, &'static Shape), String> {
        match self.deref() {
            Shape::Map(elem) => Ok((Strategy::NONE, *elem)),
            Shape::Struct(name, fields) => {
                // An exact name wins; otherwise Go's decoder accepts the first
                // field whose name matches ignoring case.
                let found = fields
                    .iter()
                    .find(|f| f.name == key)
                    .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)));
                match found {
                    Some(f) => Ok((f.strategy, f.shape)),
                    None => Err(format!(
                        "unable to find api field in struct {name} for the json field {}",
                        go_quote(key)
                    )),
                }
            }
            other => Err(format!(
                "merging an object in json but data type is not map or struct, instead is: {}",
                other.kind()
            )),
        }
    }
}

impl PatchMeta for Shape {
    fn lookup_field(&self, key: &str) -> Lookup<'_> {
        let (strategy, shape) = self.field_shape(key)?;
        Ok((strategy, shape))
    }

    fn lookup_list(&self, key: &str) -> Lookup<'_> {
        let (strategy, field) = self.field_shape(key)?;
        match field {
            Shape::List(elem) => match elem {
                Shape::List(_) => Err("unexpected slice of slice".to_string()),
                _ => Ok((strategy, *elem)),
            },
            // A pointer to a list gives the list's items; a pointer to
            // anything else gives the thing itself.
            Shape::Ptr(inner) => match inner.deref() {
                Shape::List(elem) => Ok((strategy, *elem)),
                other => Ok((strategy, other)),
            },
            // kube names the kind of the enclosing type here, not the field's.
            _ => Err(format!(
                "expected slice or array type, but got: {}",
                self.kind()
            )),
        }
    }

    fn name(&self) -> &'static str {
        self.kind()
    }
}

/// The merge metadata of a built-in kind, or `None` for kinds that have
/// none: custom resources, for which kube refuses strategic merge patch
/// (see [`super::PatchType::from_content_type`]).
pub fn builtin_patch_meta(group: &str, kind: &str) -> Option<&'static dyn PatchMeta> {
    let shape: &'static Shape = match (group, kind) {
        ("", "Namespace") => &NAMESPACE,
        ("", "Service") => &SERVICE,
        ("", "Endpoints") => &ENDPOINTS,
        ("", "ConfigMap") => &CONFIG_MAP,
        ("", "Secret") => &SECRET,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Event") => &EVENT,
        ("discovery.k8s.io", "EndpointSlice") => &ENDPOINT_SLICE,
        ("coordination.k8s.io", "Lease") => &LEASE,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &CRD,
        _ => return None,
    };
    Some(shape)
}

const fn f(name: &'static str, strategy: Strategy, shape: &'static Shape) -> Field {
    Field {
        name,
        strategy,
        shape,
    }
}

const NONE: Strategy = Strategy::NONE;

static STRING: Shape = Shape::Scalar("string");
/// `[]byte`: a base64 string in JSON.
static BYTES: Shape = Shape::Scalar("slice");
static STRING_MAP: Shape = Shape::Map(&STRING);
static BYTES_MAP: Shape = Shape::Map(&BYTES);
static STRING_LIST: Shape = Shape::List(&STRING);

// metav1.ObjectMeta and what it holds.
static OBJECT_META: Shape = Shape::Struct(
    "ObjectMeta",
    &[
        f("labels", NONE, &STRING_MAP),
        f("annotations", NONE, &STRING_MAP),
        f(
            "ownerReferences",
            Strategy::merge_by("uid"),
            &OWNER_REFERENCES,
        ),
        f("finalizers", Strategy::MERGE, &STRING_LIST),
        f("managedFields", NONE, &MANAGED_FIELDS),
    ],
);
static OWNER_REFERENCES: Shape = Shape::List(&OWNER_REFERENCE);
static OWNER_REFERENCE: Shape = Shape::Struct("OwnerReference", &[]);
static MANAGED_FIELDS: Shape = Shape::List(&MANAGED_FIELDS_ENTRY);
static MANAGED_FIELDS_ENTRY: Shape =
    Shape::Struct("ManagedFieldsEntry", &[f("fieldsV1", NONE, &FIELDS_V1_PTR)]);
static FIELDS_V1_PTR: Shape = Shape::Ptr(&FIELDS_V1);
/// `FieldsV1` serializes itself; its Go struct has no JSON fields.
static FIELDS_V1: Shape = Shape::Struct("FieldsV1", &[]);
static CONDITIONS: Shape = Shape::List(&CONDITION);
static CONDITION: Shape = Shape::Struct("Condition", &[]);
static OBJECT_REFERENCE: Shape = Shape::Struct("ObjectReference", &[]);
static OBJECT_REFERENCE_PTR: Shape = Shape::Ptr(&OBJECT_REFERENCE);
static OBJECT_REFERENCES: Shape = Shape::List(&OBJECT_REFERENCE);

// core/v1 Namespace.
static NAMESPACE: Shape = Shape::Struct(
    "Namespace",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("spec", NONE, &NAMESPACE_SPEC),
        f("status", NONE, &NAMESPACE_STATUS),
    ],
);
static NAMESPACE_SPEC: Shape =
    Shape::Struct("NamespaceSpec", &[f("finalizers", NONE, &STRING_LIST)]);
static NAMESPACE_STATUS: Shape = Shape::Struct(
    "NamespaceStatus",
    &[f(
        "conditions",
        Strategy::merge_by("type"),
        &NAMESPACE_CONDITIONS,
    )],
);
static NAMESPACE_CONDITIONS: Shape = Shape::List(&NAMESPACE_CONDITION);
static NAMESPACE_CONDITION: Shape = Shape::Struct("NamespaceCondition", &[]);

// core/v1 Service.
static SERVICE: Shape = Shape::Struct(
    "Service",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("spec", NONE, &SERVICE_SPEC),
        f("status", NONE, &SERVICE_STATUS),
    ],
);
static SERVICE_SPEC: Shape = Shape::Struct(
    "ServiceSpec",
    &[
        f("ports", Strategy::merge_by("port"), &SERVICE_PORTS),
        f("selector", NONE, &STRING_MAP),
        f("clusterIPs", NONE, &STRING_LIST),
        f("externalIPs", NONE, &STRING_LIST),
        f("loadBalancerSourceRanges", NONE, &STRING_LIST),
        f("sessionAffinityConfig", NONE, &SESSION_AFFINITY_CONFIG_PTR),
        f("ipFamilies", NONE, &STRING_LIST),
    ],
);
static SERVICE_PORTS: Shape = Shape::List(&SERVICE_PORT);
static SERVICE_PORT: Shape = Shape::Struct("ServicePort", &[]);
static SESSION_AFFINITY_CONFIG_PTR: Shape = Shape::Ptr(&SESSION_AFFINITY_CONFIG);
static SESSION_AFFINITY_CONFIG: Shape = Shape::Struct(
    "SessionAffinityConfig",
    &[f("clientIP", NONE, &CLIENT_IP_CONFIG_PTR)],
);
static CLIENT_IP_CONFIG_PTR: Shape = Shape::Ptr(&CLIENT_IP_CONFIG);
static CLIENT_IP_CONFIG: Shape = Shape::Struct("ClientIPConfig", &[]);
static SERVICE_STATUS: Shape = Shape::Struct(
    "ServiceStatus",
    &[
        f("loadBalancer", NONE, &LOAD_BALANCER_STATUS),
        f("conditions", Strategy::merge_by("type"), &CONDITIONS),
    ],
);
static LOAD_BALANCER_STATUS: Shape = Shape::Struct(
    "LoadBalancerStatus",
    &[f("ingress", NONE, &LOAD_BALANCER_INGRESSES)],
);
static LOAD_BALANCER_INGRESSES: Shape = Shape::List(&LOAD_BALANCER_INGRESS);
static LOAD_BALANCER_INGRESS: Shape =
    Shape::Struct("LoadBalancerIngress", &[f("ports", NONE, &PORT_STATUSES)]);
static PORT_STATUSES: Shape = Shape::List(&PORT_STATUS);
static PORT_STATUS: Shape = Shape::Struct("PortStatus", &[]);

// core/v1 Endpoints.
static ENDPOINTS: Shape = Shape::Struct(
    "Endpoints",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("subsets", NONE, &ENDPOINT_SUBSETS),
    ],
);
static ENDPOINT_SUBSETS: Shape = Shape::List(&ENDPOINT_SUBSET);
static ENDPOINT_SUBSET: Shape = Shape::Struct(
    "EndpointSubset",
    &[
        f("addresses", NONE, &ENDPOINT_ADDRESSES),
        f("notReadyAddresses", NONE, &ENDPOINT_ADDRESSES),
        f("ports", NONE, &CORE_ENDPOINT_PORTS),
    ],
);
static ENDPOINT_ADDRESSES: Shape = Shape::List(&ENDPOINT_ADDRESS);
static ENDPOINT_ADDRESS: Shape = Shape::Struct(
    "EndpointAddress",
    &[f("targetRef", NONE, &OBJECT_REFERENCE_PTR)],
);
static CORE_ENDPOINT_PORTS: Shape = Shape::List(&ENDPOINT_PORT);
static ENDPOINT_PORT: Shape = Shape::Struct("EndpointPort", &[]);

// core/v1 ConfigMap, Secret, ServiceAccount, Event.
static CONFIG_MAP: Shape = Shape::Struct(
    "ConfigMap",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("data", NONE, &STRING_MAP),
        f("binaryData", NONE, &BYTES_MAP),
    ],
);
static SECRET: Shape = Shape::Struct(
    "Secret",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("data", NONE, &BYTES_MAP),
        f("stringData", NONE, &STRING_MAP),
    ],
);
static SERVICE_ACCOUNT: Shape = Shape::Struct(
    "ServiceAccount",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("secrets", Strategy::merge_by("name"), &OBJECT_REFERENCES),
        f("imagePullSecrets", NONE, &LOCAL_OBJECT_REFERENCES),
    ],
);
static LOCAL_OBJECT_REFERENCES: Shape = Shape::List(&LOCAL_OBJECT_REFERENCE);
static LOCAL_OBJECT_REFERENCE: Shape = Shape::Struct("LocalObjectReference", &[]);
static EVENT: Shape = Shape::Struct(
    "Event",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("involvedObject", NONE, &OBJECT_REFERENCE),
        f("source", NONE, &EVENT_SOURCE),
        f("series", NONE, &EVENT_SERIES_PTR),
        f("related", NONE, &OBJECT_REFERENCE_PTR),
    ],
);
static EVENT_SOURCE: Shape = Shape::Struct("EventSource", &[]);
static EVENT_SERIES_PTR: Shape = Shape::Ptr(&EVENT_SERIES);
static EVENT_SERIES: Shape = Shape::Struct("EventSeries", &[]);

// discovery.k8s.io/v1 EndpointSlice.
static ENDPOINT_SLICE: Shape = Shape::Struct(
    "EndpointSlice",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("endpoints", NONE, &SLICE_ENDPOINTS),
        f("ports", NONE, &SLICE_PORTS),
    ],
);
static SLICE_ENDPOINTS: Shape = Shape::List(&SLICE_ENDPOINT);
static SLICE_ENDPOINT: Shape = Shape::Struct(
    "Endpoint",
    &[
        f("addresses", NONE, &STRING_LIST),
        f("conditions", NONE, &ENDPOINT_CONDITIONS),
        f("targetRef", NONE, &OBJECT_REFERENCE_PTR),
        f("deprecatedTopology", NONE, &STRING_MAP),
        f("hints", NONE, &ENDPOINT_HINTS_PTR),
    ],
);
static ENDPOINT_CONDITIONS: Shape = Shape::Struct("EndpointConditions", &[]);
static ENDPOINT_HINTS_PTR: Shape = Shape::Ptr(&ENDPOINT_HINTS);
static ENDPOINT_HINTS: Shape = Shape::Struct(
    "EndpointHints",
    &[
        f("forZones", NONE, &FOR_ZONES),
        f("forNodes", NONE, &FOR_NODES),
    ],
);
static FOR_ZONES: Shape = Shape::List(&FOR_ZONE);
static FOR_ZONE: Shape = Shape::Struct("ForZone", &[]);
static FOR_NODES: Shape = Shape::List(&FOR_NODE);
static FOR_NODE: Shape = Shape::Struct("ForNode", &[]);
static SLICE_PORTS: Shape = Shape::List(&ENDPOINT_PORT);

// coordination.k8s.io/v1 Lease.
static LEASE: Shape = Shape::Struct(
    "Lease",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("spec", NONE, &LEASE_SPEC),
    ],
);
static LEASE_SPEC: Shape = Shape::Struct("LeaseSpec", &[]);

// apiextensions.k8s.io/v1 CustomResourceDefinition.
static CRD: Shape = Shape::Struct(
    "CustomResourceDefinition",
    &[
        f("metadata", NONE, &OBJECT_META),
        f("spec", NONE, &CRD_SPEC),
        f("status", NONE, &CRD_STATUS),
    ],
);
static CRD_SPEC: Shape = Shape::Struct(
    "CustomResourceDefinitionSpec",
    &[
        f("names", NONE, &CRD_NAMES),
        f("versions", NONE, &CRD_VERSIONS),
        f("conversion", NONE, &CRD_CONVERSION_PTR),
    ],
);
static CRD_NAMES: Shape = Shape::Struct(
    "CustomResourceDefinitionNames",
    &[
        f("shortNames", NONE, &STRING_LIST),
        f("categories", NONE, &STRING_LIST),
    ],
);
static CRD_VERSIONS: Shape = Shape::List(&CRD_VERSION);
static CRD_VERSION: Shape = Shape::Struct(
    "CustomResourceDefinitionVersion",
    &[
        f("schema", NONE, &CR_VALIDATION_PTR),
        f("subresources", NONE, &CR_SUBRESOURCES_PTR),
        f("additionalPrinterColumns", NONE, &CR_COLUMNS),
        f("selectableFields", NONE, &SELECTABLE_FIELDS),
    ],
);
static CR_VALIDATION_PTR: Shape = Shape::Ptr(&CR_VALIDATION);
static CR_VALIDATION: Shape = Shape::Struct(
    "CustomResourceValidation",
    &[f("openAPIV3Schema", NONE, &SCHEMA_PTR)],
);
static CR_SUBRESOURCES_PTR: Shape = Shape::Ptr(&CR_SUBRESOURCES);
static CR_SUBRESOURCES: Shape = Shape::Struct(
    "CustomResourceSubresources",
    &[
        f("status", NONE, &CR_STATUS_SUBRESOURCE_PTR),
        f("scale", NONE, &CR_SCALE_SUBRESOURCE_PTR),
    ],
);
static CR_STATUS_SUBRESOURCE_PTR: Shape = Shape::Ptr(&CR_STATUS_SUBRESOURCE);
static CR_STATUS_SUBRESOURCE: Shape = Shape::Struct("CustomResourceSubresourceStatus", &[]);
static CR_SCALE_SUBRESOURCE_PTR: Shape = Shape::Ptr(&CR_SCALE_SUBRESOURCE);
static CR_SCALE_SUBRESOURCE: Shape = Shape::Struct("CustomResourceSubresourceScale", &[]);
static CR_COLUMNS: Shape = Shape::List(&CR_COLUMN);
static CR_COLUMN: Shape = Shape::Struct("CustomResourceColumnDefinition", &[]);
static SELECTABLE_FIELDS: Shape = Shape::List(&SELECTABLE_FIELD);
static SELECTABLE_FIELD: Shape = Shape::Struct("SelectableField", &[]);
static CRD_CONVERSION_PTR: Shape = Shape::Ptr(&CRD_CONVERSION);
static CRD_CONVERSION: Shape = Shape::Struct(
    "CustomResourceConversion",
    &[f("webhook", NONE, &WEBHOOK_CONVERSION_PTR)],
);
static WEBHOOK_CONVERSION_PTR: Shape = Shape::Ptr(&WEBHOOK_CONVERSION);
static WEBHOOK_CONVERSION: Shape = Shape::Struct(
    "WebhookConversion",
    &[
        f("clientConfig", NONE, &WEBHOOK_CLIENT_CONFIG_PTR),
        f("conversionReviewVersions", NONE, &STRING_LIST),
    ],
);
static WEBHOOK_CLIENT_CONFIG_PTR: Shape = Shape::Ptr(&WEBHOOK_CLIENT_CONFIG);
static WEBHOOK_CLIENT_CONFIG: Shape = Shape::Struct(
    "WebhookClientConfig",
    &[f("service", NONE, &SERVICE_REFERENCE_PTR)],
);
static SERVICE_REFERENCE_PTR: Shape = Shape::Ptr(&SERVICE_REFERENCE);
static SERVICE_REFERENCE: Shape = Shape::Struct("ServiceReference", &[]);
static CRD_STATUS: Shape = Shape::Struct(
    "CustomResourceDefinitionStatus",
    &[
        f("conditions", NONE, &CRD_CONDITIONS),
        f("acceptedNames", NONE, &CRD_NAMES),
        f("storedVersions", NONE, &STRING_LIST),
    ],
);
static CRD_CONDITIONS: Shape = Shape::List(&CRD_CONDITION);
static CRD_CONDITION: Shape = Shape::Struct("CustomResourceDefinitionCondition", &[]);

// JSONSchemaProps: recursive, and holding free-form JSON in places.
static SCHEMA_PTR: Shape = Shape::Ptr(&SCHEMA);
static SCHEMA_LIST: Shape = Shape::List(&SCHEMA);
static SCHEMA_MAP: Shape = Shape::Map(&SCHEMA);
static SCHEMA: Shape = Shape::Struct(
    "JSONSchemaProps",
    &[
        f("default", NONE, &JSON_PTR),
        f("enum", NONE, &JSON_LIST),
        f("required", NONE, &STRING_LIST),
        f("items", NONE, &SCHEMA_OR_ARRAY_PTR),
        f("allOf", NONE, &SCHEMA_LIST),
        f("oneOf", NONE, &SCHEMA_LIST),
        f("anyOf", NONE, &SCHEMA_LIST),
        f("not", NONE, &SCHEMA_PTR),
        f("properties", NONE, &SCHEMA_MAP),
        f("additionalProperties", NONE, &SCHEMA_OR_BOOL_PTR),
        f("patternProperties", NONE, &SCHEMA_MAP),
        f("dependencies", NONE, &SCHEMA_DEPENDENCIES),
        f("additionalItems", NONE, &SCHEMA_OR_BOOL_PTR),
        f("definitions", NONE, &SCHEMA_MAP),
        f("externalDocs", NONE, &EXTERNAL_DOCS_PTR),
        f("example", NONE, &JSON_PTR),
        f("x-kubernetes-list-map-keys", NONE, &STRING_LIST),
        f(
            "x-kubernetes-validations",
            Strategy::merge_by("rule"),
            &VALIDATION_RULES,
        ),
    ],
);
/// `apiextensions/v1.JSON` holds raw JSON; its Go struct has no JSON
/// fields, so kube cannot look inside it.
static JSON: Shape = Shape::Struct("JSON", &[]);
static JSON_PTR: Shape = Shape::Ptr(&JSON);
static JSON_LIST: Shape = Shape::List(&JSON);
/// These three serialize themselves; their Go fields carry no JSON tags,
/// so kube knows them by their Go names.
static SCHEMA_OR_ARRAY_PTR: Shape = Shape::Ptr(&SCHEMA_OR_ARRAY);
static SCHEMA_OR_ARRAY: Shape = Shape::Struct(
    "JSONSchemaPropsOrArray",
    &[
        f("Schema", NONE, &SCHEMA_PTR),
        f("JSONSchemas", NONE, &SCHEMA_LIST),
    ],
);
static SCHEMA_OR_BOOL_PTR: Shape = Shape::Ptr(&SCHEMA_OR_BOOL);
static SCHEMA_OR_BOOL: Shape =
    Shape::Struct("JSONSchemaPropsOrBool", &[f("Schema", NONE, &SCHEMA_PTR)]);
static SCHEMA_DEPENDENCIES: Shape = Shape::Map(&SCHEMA_OR_STRING_ARRAY);
static SCHEMA_OR_STRING_ARRAY: Shape = Shape::Struct(
    "JSONSchemaPropsOrStringArray",
    &[
        f("Schema", NONE, &SCHEMA_PTR),
        f("Property", NONE, &STRING_LIST),
    ],
);
static EXTERNAL_DOCS_PTR: Shape = Shape::Ptr(&EXTERNAL_DOCS);
static EXTERNAL_DOCS: Shape = Shape::Struct("ExternalDocumentation", &[]);
static VALIDATION_RULES: Shape = Shape::List(&VALIDATION_RULE);
static VALIDATION_RULE: Shape = Shape::Struct("ValidationRule", &[]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_meta_lists_merge_as_tagged() {
        let svc = builtin_patch_meta("", "Service").unwrap();
        let (_, meta) = svc.lookup_field("metadata").unwrap();
        let (s, _) = meta.lookup_list("ownerReferences").unwrap();
        assert_eq!(s, Strategy::merge_by("uid"));
        let (s, _) = meta.lookup_list("finalizers").unwrap();
        assert_eq!(s, Strategy::MERGE);
        let (s, _) = meta.lookup_list("managedFields").unwrap();
        assert_eq!(s, Strategy::NONE);
        // Map values take no tags.
        let (_, labels) = meta.lookup_field("labels").unwrap();
        assert_eq!(labels.lookup_field("anything").unwrap().0, Strategy::NONE);
    }

    #[test]
    fn kinds_carry_their_merge_keys() {
        let svc = builtin_patch_meta("", "Service").unwrap();
        let (_, spec) = svc.lookup_field("spec").unwrap();
        assert_eq!(
            spec.lookup_list("ports").unwrap().0,
            Strategy::merge_by("port")
        );
        assert_eq!(spec.lookup_list("clusterIPs").unwrap().0, Strategy::NONE);
        let (_, status) = svc.lookup_field("status").unwrap();
        assert_eq!(
            status.lookup_list("conditions").unwrap().0,
            Strategy::merge_by("type")
        );
        let ns = builtin_patch_meta("", "Namespace").unwrap();
        let (_, status) = ns.lookup_field("status").unwrap();
        assert_eq!(
            status.lookup_list("conditions").unwrap().0,
            Strategy::merge_by("type")
        );
        let sa = builtin_patch_meta("", "ServiceAccount").unwrap();
        assert_eq!(
            sa.lookup_list("secrets").unwrap().0,
            Strategy::merge_by("name")
        );
        assert_eq!(
            sa.lookup_list("imagePullSecrets").unwrap().0,
            Strategy::NONE
        );
        let crd = builtin_patch_meta("apiextensions.k8s.io", "CustomResourceDefinition").unwrap();
        let (_, status) = crd.lookup_field("status").unwrap();
        assert_eq!(status.lookup_list("conditions").unwrap().0, Strategy::NONE);
        assert!(builtin_patch_meta("example.com", "Widget").is_none());
        assert!(builtin_patch_meta("", "Widget").is_none());
    }

    #[test]
    fn lookups_fail_with_kube_words() {
        let cm = builtin_patch_meta("", "ConfigMap").unwrap();
        assert_eq!(
            cm.lookup_field("nope").unwrap_err(),
            "unable to find api field in struct ConfigMap for the json field \"nope\""
        );
        assert_eq!(
            cm.lookup_list("data").unwrap_err(),
            "expected slice or array type, but got: struct"
        );
        let (_, data) = cm.lookup_field("data").unwrap();
        let (_, value) = data.lookup_field("k").unwrap();
        assert_eq!(
            value.lookup_field("x").unwrap_err(),
            "merging an object in json but data type is not map or struct, instead is: string"
        );
        // Free-form JSON inside a CRD schema cannot be looked into.
        let crd = builtin_patch_meta("apiextensions.k8s.io", "CustomResourceDefinition").unwrap();
        let (_, spec) = crd.lookup_field("spec").unwrap();
        let (_, version) = spec.lookup_list("versions").unwrap();
        let (_, schema) = version.lookup_field("schema").unwrap();
        let (_, props) = schema.lookup_field("openAPIV3Schema").unwrap();
        let (_, default) = props.lookup_field("default").unwrap();
        assert_eq!(
            default.lookup_field("a").unwrap_err(),
            "unable to find api field in struct JSON for the json field \"a\""
        );
        let (s, _) = props.lookup_list("x-kubernetes-validations").unwrap();
        assert_eq!(s, Strategy::merge_by("rule"));
        // Pointer to a struct: the struct itself stands for the items.
        let (s, _) = props.lookup_list("items").unwrap();
        assert_eq!(s, Strategy::NONE);
    }
}
