//! Discovery: what groups, versions and resources the server has, in the
//! legacy documents (`APIVersions`, `APIGroupList`, `APIResourceList`) and
//! the aggregated one (`APIGroupDiscoveryList`, apidiscovery.k8s.io/v2)
//! that kubectl asks for first.

use serde_json::{Value, json};

use crate::resource::{ResourceType, Resources};

/// The media type of aggregated discovery, which the response must carry
/// for clients to read it as such.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header asks for aggregated discovery (v2).
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.first().is_some_and(|t| *t == "application/json")
            && params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `/apis`.
pub fn group_list(resources: &Resources) -> Value {
    let groups: Vec<Value> = resources
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group(g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": vs,
        "preferredVersion": preferred,
    })
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(resources: &Resources, group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for r in resources.in_version(group, version) {
        let mut entry = json!({
            "name": r.resource,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        out.push(entry);
        for sub in subresources(r) {
            let mut entry = json!({
                "name": format!("{}/{sub}", r.resource),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "patch", "update"],
            });
            // A subresource of another kind names its group and version,
            // which is how clients find the Scale to send.
            if sub == "scale" {
                entry["group"] = json!(SCALE_GROUP);
                entry["version"] = json!(SCALE_VERSION);
                entry["kind"] = json!(SCALE_KIND);
            }
            out.push(entry);
        }
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": crate::resource::api_version(group, version),
        "resources": out,
    })
}

/// The group, version and kind of what `/scale` serves.
const SCALE_GROUP: &str = "autoscaling";
const SCALE_VERSION: &str = "v1";
const SCALE_KIND: &str = "Scale";

/// The subresources of a resource, in kube's order.
fn subresources(r: &ResourceType) -> Vec<&'static str> {
    let mut subs = Vec::new();
    if r.resource == "namespaces" {
        subs.push("finalize");
    }
    if r.status_subresource {
        subs.push("status");
    }
    if r.scale().is_some() {
        subs.push("scale");
    }
    subs
}

/// The aggregated discovery document of the core group (`/api`) or of
/// every other group (`/apis`).
pub fn aggregated(resources: &Resources, core: bool) -> Value {
    let items: Vec<Value> = resources
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let rs: Vec<Value> = resources
                        .in_version(g, v)
                        .map(|r| aggregated_resource(r))
                        .collect();
                    json!({"version": v, "resources": rs, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(r: &ResourceType) -> Value {
    let kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let mut entry = json!({
        "resource": r.resource,
        "responseKind": kind,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    let subs: Vec<Value> = subresources(r)
        .into_iter()
        .map(|s| {
            let response_kind = if s == "scale" {
                json!({"group": SCALE_GROUP, "version": SCALE_VERSION, "kind": SCALE_KIND})
            } else {
                kind.clone()
            };
            json!({
                "subresource": s,
                "responseKind": response_kind,
                "verbs": if s == "finalize" { json!(["update"]) } else { json!(["get", "patch", "update"]) },
            })
        })
        .collect();
    if !subs.is_empty() {
        entry["subresources"] = json!(subs);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_header_asks_for_aggregated() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated(accept));
        assert!(!wants_aggregated("application/json"));
    }

    #[test]
    fn scale_subresources_name_the_autoscaling_scale() {
        let crd = crate::crd::scaled_test_crd();
        let reg = crate::resource::Registry::new();
        reg.update(|r| {
            for t in crate::crd::resource_types(&crd).unwrap() {
                r.add(t);
            }
        });
        let doc = resource_list(&reg.snapshot(), "stable.example.com", "v1");
        assert_eq!(
            doc["resources"].as_array().unwrap()[1..],
            [
                json!({"name": "crontabs/status", "singularName": "", "namespaced": true,
                    "kind": "CronTab", "verbs": ["get", "patch", "update"]}),
                json!({"name": "crontabs/scale", "singularName": "", "namespaced": true,
                    "group": "autoscaling", "version": "v1", "kind": "Scale",
                    "verbs": ["get", "patch", "update"]}),
            ]
        );
        let agg = aggregated(&reg.snapshot(), false);
        let group = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "stable.example.com")
            .unwrap();
        assert_eq!(
            group["versions"][0]["resources"][0]["subresources"],
            json!([
                {"subresource": "status", "verbs": ["get", "patch", "update"],
                 "responseKind": {"group": "stable.example.com", "version": "v1", "kind": "CronTab"}},
                {"subresource": "scale", "verbs": ["get", "patch", "update"],
                 "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}},
            ])
        );
    }

    #[test]
    fn core_resources_are_listed_with_subresources() {
        let reg = crate::resource::Registry::new();
        let doc = resource_list(&reg.snapshot(), "", "v1");
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"configmaps"));
        assert!(names.contains(&"namespaces/status"));
        assert!(names.contains(&"services/status"));
        let agg = aggregated(&reg.snapshot(), false);
        assert!(
            agg["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "coordination.k8s.io")
        );
    }
}
