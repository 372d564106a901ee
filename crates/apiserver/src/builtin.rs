//! The built-in resources, described as kube-apiserver 1.33 serves them:
//! names, scopes, short names, storage keys and update rules.

use crate::resource::{NameRule, ResourceType, Special};

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

    let secrets = core("secrets", "secret", "Secret", true, &[], "secrets").build();

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
