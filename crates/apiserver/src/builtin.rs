//! The built-in resources, described as kube-apiserver 1.33 serves them:
//! names, scopes, short names, storage keys and update rules.

use crate::resource::{NameRule, ResourceType, Special};
use crate::schema::Schema;

/// The verbs of an ordinary resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A built-in resource, before the per-kind differences.
struct Builtin {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    /// The key prefix under `/registry/`, without the trailing slash.
    storage: &'static str,
}

impl Builtin {
    fn build(self) -> ResourceType {
        ResourceType {
            group: self.group.into(),
            version: self.version.into(),
            resource: self.resource.into(),
            singular: self.singular.into(),
            kind: self.kind.into(),
            namespaced: self.namespaced,
            short_names: self.short_names.iter().map(|s| s.to_string()).collect(),
            categories: self.categories.iter().map(|s| s.to_string()).collect(),
            status_subresource: false,
            storage_prefix: format!("/registry/{}/", self.storage),
            storage_api_version: crate::resource::api_version(self.group, self.version),
            tracks_generation: false,
            create_on_update: false,
            unconditional_update: true,
            name_rule: NameRule::Subdomain,
            special: Special::None,
            selectable_fields: crate::selector::supported_fields(self.group, self.kind)
                .iter()
                .filter(|f| !f.starts_with("metadata."))
                .map(|f| f.to_string())
                .collect(),
            verbs: ALL_VERBS.to_vec(),
            custom: None,
        }
    }
}

/// The schema a built-in kind is decoded against (from k8s-openapi).
pub fn schema(group: &str, kind: &str) -> Option<Schema> {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::{
        ConfigMap, Endpoints, Event, Namespace, Secret, Service, ServiceAccount,
    };
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let built = match (group, kind) {
        ("", "ConfigMap") => Schema::from_builtin::<ConfigMap>(),
        ("", "Endpoints") => Schema::from_builtin::<Endpoints>(),
        ("", "Event") => Schema::from_builtin::<Event>(),
        ("", "Namespace") => Schema::from_builtin::<Namespace>(),
        ("", "Secret") => Schema::from_builtin::<Secret>(),
        ("", "Service") => Schema::from_builtin::<Service>(),
        ("", "ServiceAccount") => Schema::from_builtin::<ServiceAccount>(),
        ("coordination.k8s.io", "Lease") => Schema::from_builtin::<Lease>(),
        ("discovery.k8s.io", "EndpointSlice") => Schema::from_builtin::<EndpointSlice>(),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            Schema::from_builtin::<CustomResourceDefinition>()
        }
        _ => return None,
    };
    match built {
        Ok(s) => Some(s),
        Err(e) => {
            // The schemas are compiled in; one that does not convert is a
            // bug, and the kind is then served without strict decoding.
            tracing::error!(kind, error = %e, "built-in schema does not convert");
            None
        }
    }
}

/// Every built-in resource, in kube's discovery order of groups.
pub fn resources() -> Vec<ResourceType> {
    let core = |resource, singular, kind, namespaced, short_names, storage| Builtin {
        group: "",
        version: "v1",
        resource,
        singular,
        kind,
        namespaced,
        short_names,
        categories: &[],
        storage,
    };
    let mut namespaces = core(
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        "namespaces",
    )
    .build();
    namespaces.name_rule = NameRule::Label;
    namespaces.status_subresource = true;
    namespaces.special = Special::Namespace;
    namespaces.verbs = vec![
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];

    let mut services = Builtin {
        categories: &["all"],
        ..core(
            "services",
            "service",
            "Service",
            true,
            &["svc"],
            "services/specs",
        )
    }
    .build();
    services.name_rule = NameRule::Rfc1035Label;
    services.status_subresource = true;
    services.special = Special::Service;

    let mut endpoints = core(
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        "services/endpoints",
    )
    .build();
    endpoints.create_on_update = true;

    let configmaps = core(
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        "configmaps",
    )
    .build();

    let mut secrets = core("secrets", "secret", "Secret", true, &[], "secrets").build();
    secrets.special = Special::Secret;

    let serviceaccounts = core(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        "serviceaccounts",
    )
    .build();

    let mut events = core("events", "event", "Event", true, &["ev"], "events").build();
    events.create_on_update = true;

    let mut crds = Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        resource: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        storage: "apiextensions.k8s.io/customresourcedefinitions",
    }
    .build();
    crds.status_subresource = true;
    crds.tracks_generation = true;
    crds.special = Special::Crd;

    let mut leases = Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        resource: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        storage: "leases",
    }
    .build();
    leases.create_on_update = false;

    let mut endpointslices = Builtin {
        group: "discovery.k8s.io",
        version: "v1",
        resource: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        storage: "endpointslices",
    }
    .build();
    endpointslices.tracks_generation = true;

    vec![
        configmaps,
        endpoints,
        events,
        namespaces,
        secrets,
        serviceaccounts,
        services,
        crds,
        leases,
        endpointslices,
    ]
}
