//! What particular kinds add to the generic create, update and delete:
//! namespaces' phases and finalizer, services' ClusterIPs, and the
//! validation of every kind.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::Api;
use crate::error::ApiError;
use crate::field::FieldError;
use crate::object;
use crate::resource::{ResourceType, Special};
use crate::storage::Write;

/// The finalizer kube puts in a namespace's `spec.finalizers`.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// Where allocated ClusterIPs are recorded, one key per address.
const CLUSTER_IP_PREFIX: &str = "/registry/causeway.io/clusterips/";

/// Fills in what a kind sets on creation.
pub fn prepare_create(_api: &Api, rt: &ResourceType, v: &mut Value) {
    match rt.special {
        Special::Namespace => {
            let name = object::name(v).to_string();
            if let Some(m) = object::meta_mut(v) {
                let labels = m.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            if let Some(o) = v.as_object_mut() {
                o.insert("spec".into(), json!({"finalizers": [NAMESPACE_FINALIZER]}));
                o.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        Special::Service => default_service(v),
        Special::Secret => default_secret(v),
        Special::Crd => crate::crd::prepare_create(v),
        _ => {}
    }
}

/// kube's default Secret type.
fn default_secret(v: &mut Value) {
    if let Some(o) = v.as_object_mut()
        && o.get("type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        o.insert("type".into(), json!("Opaque"));
    }
}

/// kube's defaults for a Service spec.
fn default_service(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    let spec = o.entry("spec").or_insert_with(|| json!({}));
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let ty = spec
        .entry("type")
        .or_insert_with(|| json!("ClusterIP"))
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    if ty == "NodePort" || ty == "LoadBalancer" {
        spec.entry("externalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert_with(|| json!(true));
    }
    if ty != "ExternalName" {
        spec.entry("sessionAffinity")
            .or_insert_with(|| json!("None"));
        spec.entry("internalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            if let Some(p) = p.as_object_mut() {
                p.entry("protocol").or_insert_with(|| json!("TCP"));
                // A target port of 0 is unset too (protobuf bodies carry it).
                let unset = p
                    .get("targetPort")
                    .is_none_or(|t| t.is_null() || t.as_i64() == Some(0) || t.as_str() == Some(""));
                if unset && let Some(port) = p.get("port").cloned() {
                    p.insert("targetPort".into(), port);
                }
            }
        }
    }
    o.entry("status")
        .or_insert_with(|| json!({"loadBalancer": {}}));
}

/// Keeps what an update may not change.
pub fn prepare_update(_api: &Api, rt: &ResourceType, new: &mut Value, current: &Value) {
    match rt.special {
        Special::Namespace => {
            // spec.finalizers change only through /finalize, and the name
            // label always names the namespace.
            let spec = current.get("spec").cloned();
            let name = object::name(current).to_string();
            if let Some(o) = new.as_object_mut() {
                if let Some(s) = spec {
                    o.insert("spec".into(), s);
                }
                if o.get("status").is_none()
                    && let Some(s) = current.get("status")
                {
                    o.insert("status".into(), s.clone());
                }
            }
            if let Some(m) = object::meta_mut(new) {
                let labels = m.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
        }
        Special::Secret => default_secret(new),
        Special::Crd => crate::crd::prepare_update(new),
        Special::Service => {
            keep_node_ports(new, current);
            default_service(new);
            // An update that leaves the ClusterIP out keeps it.
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                let have = new.pointer(&format!("/spec/{field}")).is_some();
                if !have
                    && let Some(old) = current.pointer(&format!("/spec/{field}")).cloned()
                    && let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut)
                {
                    spec.insert(field.into(), old);
                }
            }
        }
        _ => {}
    }
}

/// An update that leaves a port's nodePort out keeps the one it had (the
/// port matched by number and protocol), as kube does; a Service that no
/// longer wants node ports gives them up.
fn keep_node_ports(new: &mut Value, current: &Value) {
    let wanted = wants_node_ports(new);
    let had = wants_node_ports(current);
    let old_ports = current
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
        return;
    };
    let key = |p: &Value| {
        (
            p.get("port").and_then(Value::as_i64),
            p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string(),
        )
    };
    for p in ports.iter_mut() {
        let asked = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        let identity = key(p);
        let Some(o) = p.as_object_mut() else { continue };
        if !wanted {
            if had {
                o.remove("nodePort");
            }
            continue;
        }
        if asked == 0
            && let Some(old) = old_ports.iter().find(|op| key(op) == identity)
            && let Some(n) = old
                .get("nodePort")
                .filter(|n| n.as_i64().is_some_and(|n| n != 0))
        {
            o.insert("nodePort".into(), n.clone());
        }
    }
}

/// Validates an object of a kind (the current object is given on update).
pub fn validate(
    _api: &Api,
    rt: &ResourceType,
    v: &Value,
    current: Option<&Value>,
) -> Vec<FieldError> {
    use crate::validation::{NameRule, validate_object_meta, validate_object_meta_update};
    let path = crate::field::Path::new("metadata");
    let rule = NameRule::for_kind(&rt.group, &rt.kind);
    let empty = Value::Object(Default::default());
    let meta = v.get("metadata").unwrap_or(&empty);
    let mut errors = validate_object_meta(meta, rt.namespaced, rule, &path);
    if let Some(cur) = current {
        let old = cur.get("metadata").unwrap_or(&empty);
        errors.extend(validate_object_meta_update(meta, old, &path));
    }
    match &rt.special {
        Special::Service => errors.extend(validate_service(v, current)),
        Special::Crd => errors.extend(crate::crd::validate(v, current)),
        Special::Custom { .. } => {
            if let Some(custom) = &rt.custom {
                errors.extend(custom.schema.validate_update(v, current, None));
            }
        }
        _ => {}
    }
    errors
}

fn validate_service(v: &Value, current: Option<&Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let ty = v
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty) {
        errors.push(FieldError::not_supported(
            "spec.type",
            json!(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    let headless = v.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = v.pointer("/spec/ports").and_then(Value::as_array);
    if ty != "ExternalName" && !headless && ports.is_none_or(|p| p.is_empty()) {
        errors.push(FieldError::required("spec.ports", ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            errors.push(FieldError::invalid(
                format!("spec.ports[{i}].port"),
                json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(proto) = p.get("protocol").and_then(Value::as_str)
            && !["TCP", "UDP", "SCTP"].contains(&proto)
        {
            errors.push(FieldError::not_supported(
                format!("spec.ports[{i}].protocol"),
                json!(proto),
                &["SCTP", "TCP", "UDP"],
            ));
        }
        if !matches!(ty, "NodePort" | "LoadBalancer")
            && p.get("nodePort")
                .and_then(Value::as_i64)
                .is_some_and(|n| n != 0)
        {
            errors.push(FieldError::forbidden(
                format!("spec.ports[{i}].nodePort"),
                format!("may not be used when `type` is '{ty}'"),
            ));
        }
        if ports.is_some_and(|all| all.len() > 1)
            && p.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            errors.push(FieldError::required(format!("spec.ports[{i}].name"), ""));
        }
    }
    if let Some(cur) = current {
        let old = cur
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        let new = v
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !old.is_empty() && old != new && ty != "ExternalName" {
            errors.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                json!(new),
                "may not change once set",
            ));
        }
    }
    errors
}

/// Work that must happen with the write of a new object (allocations).
pub async fn before_create(
    api: &Arc<Api>,
    rt: &ResourceType,
    v: &mut Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    if rt.special == Special::Service {
        allocate_cluster_ip(api, v, dry_run).await?;
        if let Err(e) = allocate_node_ports(api, v, None, dry_run).await {
            if !dry_run {
                release_cluster_ip(api, v).await;
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Undoes [`before_create`] when the object's write lost.
pub async fn undo_create(api: &Arc<Api>, rt: &ResourceType, v: &Value) {
    if rt.special == Special::Service {
        release_cluster_ip(api, v).await;
        release_node_ports(api, v, &Default::default()).await;
    }
}

/// The namespaces kube refuses to delete.
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Refuses deletes kube refuses: the system namespaces.
pub fn check_delete(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    if rt.special == Special::Namespace && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(ApiError::Forbidden {
            what: rt.qualified(),
            name: name.to_string(),
            message: format!("namespaces {name:?} is forbidden: this namespace may not be deleted"),
        });
    }
    Ok(())
}

/// Whether deleting this object takes a while even without finalizers
/// (namespaces empty themselves first); marks it so.
pub fn prepare_delete(_api: &Api, rt: &ResourceType, v: &mut Value) -> bool {
    if rt.special == Special::Crd {
        crate::crd::prepare_delete(v);
        return false;
    }
    if rt.special != Special::Namespace {
        return false;
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("status".into(), json!({"phase": "Terminating"}));
    }
    v.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// Runs after an object was marked for deletion.
pub async fn after_mark_deleting(api: &Arc<Api>, rt: &ResourceType, v: &Value) {
    if rt.special == Special::Namespace {
        crate::controllers::namespace_terminating(api, object::name(v).to_string());
    }
}

/// Runs after an object was deleted.
pub async fn after_delete(api: &Arc<Api>, rt: &ResourceType, v: &Value) {
    if rt.special == Special::Service {
        release_cluster_ip(api, v).await;
        release_node_ports(api, v, &Default::default()).await;
    }
}

/// The service CIDR as (network, size).
fn service_range(api: &Api) -> Result<(u32, u32), ApiError> {
    let cidr = &api.config.service_cidr;
    let bad = || ApiError::Internal(format!("bad service CIDR {cidr:?}"));
    let (net, bits) = cidr.split_once('/').ok_or_else(bad)?;
    let net: Ipv4Addr = net.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&bits) {
        return Err(bad());
    }
    Ok((u32::from(net), 1u32 << (32 - bits)))
}

/// Takes a ClusterIP for a new Service: the one it asks for, or a free one.
/// A dry run only looks for one, and takes nothing.
async fn allocate_cluster_ip(api: &Arc<Api>, v: &mut Value, dry_run: bool) -> Result<(), ApiError> {
    let ty = v
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if ty == "ExternalName" {
        return Ok(());
    }
    let requested = v
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested == "None" {
        set_cluster_ip(v, "None");
        return Ok(());
    }
    let owner = format!("{}/{}", object::namespace(v), object::name(v));
    let (net, size) = service_range(api)?;
    if !requested.is_empty() {
        let ip: Ipv4Addr = requested
            .parse()
            .map_err(|_| invalid_ip(v, &requested, "must be a valid IP address"))?;
        let n = u32::from(ip);
        if n <= net || n >= net + size - 1 {
            return Err(invalid_ip(
                v,
                &requested,
                &format!(
                    "failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}",
                    api.config.service_cidr
                ),
            ));
        }
        return match claim_ip(api, &requested, &owner, dry_run).await? {
            true => {
                set_cluster_ip(v, &requested);
                Ok(())
            }
            false => Err(invalid_ip(
                v,
                &requested,
                &format!("failed to allocate IP {requested}: provided IP is already allocated"),
            )),
        };
    }
    // Random probing: the first and last addresses are the network and
    // broadcast, and the first usable one is kept for the `kubernetes`
    // service, as kube does.
    let usable = size.saturating_sub(3).max(1);
    let start = rand::random_range(0..usable);
    for i in 0..usable.min(4096) {
        let ip = Ipv4Addr::from(net + 2 + (start + i) % usable).to_string();
        if claim_ip(api, &ip, &owner, dry_run).await? {
            set_cluster_ip(v, &ip);
            return Ok(());
        }
    }
    Err(ApiError::Internal(format!(
        "failed to allocate a serviceIP: range is full ({})",
        api.config.service_cidr
    )))
}

/// Records `ip` as taken by `owner`; false if it already was. A dry run
/// only checks.
async fn claim_ip(api: &Api, ip: &str, owner: &str, dry_run: bool) -> Result<bool, ApiError> {
    claim(api, &format!("{CLUSTER_IP_PREFIX}{ip}"), owner, dry_run).await
}

/// Takes an allocation key for `owner`; false if it was taken. A dry run
/// only checks.
async fn claim(api: &Api, key: &str, owner: &str, dry_run: bool) -> Result<bool, ApiError> {
    if dry_run {
        let (kv, _) = api.storage.get(key).await.map_err(ApiError::storage)?;
        return Ok(kv.is_none());
    }
    let write = api
        .storage
        .create(key, owner.to_string().into())
        .await
        .map_err(ApiError::storage)?;
    Ok(matches!(write, Write::Done { .. }))
}

/// Gives an allocation key back.
async fn release(api: &Api, key: &str) {
    if let Ok((Some(kv), _)) = api.storage.get(key).await
        && let Err(e) = api.storage.delete(key, kv.mod_revision).await
    {
        tracing::warn!(key, error = %e, "releasing an allocation failed");
    }
}

fn invalid_ip(v: &Value, ip: &str, detail: &str) -> ApiError {
    ApiError::Invalid {
        group: String::new(),
        kind: "Service".into(),
        name: object::name(v).to_string(),
        errors: vec![FieldError::invalid("spec.clusterIPs", json!([ip]), detail)],
    }
}

fn set_cluster_ip(v: &mut Value, ip: &str) {
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        if ip != "None" || !spec.contains_key("ipFamilies") {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
        }
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
    }
}

async fn release_cluster_ip(api: &Arc<Api>, v: &Value) {
    let Some(ip) = v.pointer("/spec/clusterIP").and_then(Value::as_str) else {
        return;
    };
    if ip.is_empty() || ip == "None" {
        return;
    }
    release(api, &format!("{CLUSTER_IP_PREFIX}{ip}")).await;
}

/// Where allocated node ports are recorded, one key per port.
const NODE_PORT_PREFIX: &str = "/registry/causeway.io/nodeports/";

/// kube's default `--service-node-port-range`.
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Whether a Service gets node ports: NodePort, and LoadBalancer unless
/// `allocateLoadBalancerNodePorts` is false.
fn wants_node_ports(v: &Value) -> bool {
    match v.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => true,
        Some("LoadBalancer") => {
            v.pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

/// The node ports a Service holds.
fn node_ports(v: &Value) -> std::collections::BTreeSet<i64> {
    v.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .filter(|n| *n != 0)
        .collect()
}

/// Node ports taken for a write, to give back if the write loses.
#[derive(Debug, Default)]
pub struct Claimed {
    node_ports: Vec<i64>,
}

/// Gives a Service the node ports it needs: the ones it names, or free
/// ones from the range. Ports the current object (on update) holds stay
/// its own. A dry run takes nothing.
async fn allocate_node_ports(
    api: &Api,
    v: &mut Value,
    current: Option<&Value>,
    dry_run: bool,
) -> Result<Claimed, ApiError> {
    let mut claimed = Claimed::default();
    if !wants_node_ports(v) {
        return Ok(claimed);
    }
    let held = current.map(node_ports).unwrap_or_default();
    let owner = format!("{}/{}", object::namespace(v), object::name(v));
    let name = object::name(v).to_string();
    let count = v
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut result = Ok(());
    for i in 0..count {
        let pointer = format!("/spec/ports/{i}/nodePort");
        let asked = v.pointer(&pointer).and_then(Value::as_i64).unwrap_or(0);
        let bad = |detail: &str| ApiError::Invalid {
            group: String::new(),
            kind: "Service".into(),
            name: name.clone(),
            errors: vec![FieldError::invalid(
                format!("spec.ports[{i}].nodePort"),
                json!(asked),
                detail,
            )],
        };
        if asked != 0 {
            if held.contains(&asked) || claimed.node_ports.contains(&asked) {
                continue;
            }
            if !NODE_PORTS.contains(&asked) {
                result = Err(bad(&format!(
                    "provided port is not in the valid range. The range of valid ports is {}-{}",
                    NODE_PORTS.start(),
                    NODE_PORTS.end()
                )));
                break;
            }
            if !claim(api, &format!("{NODE_PORT_PREFIX}{asked}"), &owner, dry_run).await? {
                result = Err(bad("provided port is already allocated"));
                break;
            }
            claimed.node_ports.push(asked);
            continue;
        }
        let size = NODE_PORTS.end() - NODE_PORTS.start() + 1;
        let start = rand::random_range(0..size);
        let mut found = None;
        for j in 0..size {
            let port = NODE_PORTS.start() + (start + j) % size;
            if claimed.node_ports.contains(&port) || held.contains(&port) {
                continue;
            }
            if claim(api, &format!("{NODE_PORT_PREFIX}{port}"), &owner, dry_run).await? {
                found = Some(port);
                break;
            }
        }
        let Some(port) = found else {
            result = Err(ApiError::Internal(format!(
                "failed to allocate a nodePort: range is full ({}-{})",
                NODE_PORTS.start(),
                NODE_PORTS.end()
            )));
            break;
        };
        claimed.node_ports.push(port);
        if let Some(p) = v
            .pointer_mut(&format!("/spec/ports/{i}"))
            .and_then(Value::as_object_mut)
        {
            p.insert("nodePort".into(), json!(port));
        }
    }
    if let Err(e) = result {
        if !dry_run {
            undo_claims(api, &claimed).await;
        }
        return Err(e);
    }
    if dry_run {
        claimed.node_ports.clear();
    }
    Ok(claimed)
}

/// Gives back what a write took when the write did not happen.
pub async fn undo_claims(api: &Api, claimed: &Claimed) {
    for port in &claimed.node_ports {
        release(api, &format!("{NODE_PORT_PREFIX}{port}")).await;
    }
}

async fn release_node_ports(api: &Api, v: &Value, keep: &std::collections::BTreeSet<i64>) {
    for port in node_ports(v).difference(keep) {
        release(api, &format!("{NODE_PORT_PREFIX}{port}")).await;
    }
}

/// Work that must happen with the write of an update (allocations);
/// what it took is given back with [`undo_claims`] if the write loses.
pub async fn before_update(
    api: &Arc<Api>,
    rt: &ResourceType,
    new: &mut Value,
    current: &Value,
    dry_run: bool,
) -> Result<Claimed, ApiError> {
    if rt.special == Special::Service {
        return allocate_node_ports(api, new, Some(current), dry_run).await;
    }
    Ok(Claimed::default())
}

/// Runs after an update was written: gives back what the old object held
/// and the new one does not.
pub async fn after_update(api: &Arc<Api>, rt: &ResourceType, new: &Value, old: &Value) {
    if rt.special == Special::Service {
        release_node_ports(api, old, &node_ports(new)).await;
    }
}
