//! The resources this server serves: built-in kinds and, as they are
//! established, the kinds of CustomResourceDefinitions.
//!
//! A [`ResourceType`] is one group/version/resource: everything the generic
//! handlers need to know to store, validate, list, watch and discover it.
//! The [`Registry`] holds them all and is swapped whole when a CRD comes or
//! goes, so a request works against one consistent view.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::error::Qualified;

/// How names of a kind are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// An RFC 1123 subdomain (most kinds).
    Subdomain,
    /// An RFC 1123 label (namespaces).
    Label,
    /// An RFC 1035 label (services: must start with a letter).
    Rfc1035Label,
    /// Any path segment (custom resources): not `.` or `..`, no `/` or `%`.
    PathSegment,
}

/// The kind-specific behaviour a resource has beyond the generic store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Special {
    /// Nothing beyond the generic rules.
    None,
    /// Namespaces: phases, the `kubernetes` finalizer, and deleting what
    /// they hold.
    Namespace,
    /// Services: ClusterIP allocation.
    Service,
    /// Secrets: the default type.
    Secret,
    /// CustomResourceDefinitions: establishing, serving and removing kinds.
    Crd,
    /// Objects of a CustomResourceDefinition (named here).
    Custom {
        /// The CRD's name (`<plural>.<group>`).
        crd: String,
    },
}

/// One group/version/resource.
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// The API group; empty for the core group.
    pub group: String,
    /// The version served at this entry.
    pub version: String,
    /// The plural name in URLs.
    pub resource: String,
    /// The singular name.
    pub singular: String,
    /// The kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories (`all`) for kubectl.
    pub categories: Vec<String>,
    /// Whether it has a `status` subresource.
    pub status_subresource: bool,
    /// The storage key prefix, ending in `/`.
    pub storage_prefix: String,
    /// The apiVersion objects are stored with.
    pub storage_api_version: String,
    /// Whether `metadata.generation` counts spec changes.
    pub tracks_generation: bool,
    /// Whether a PUT to a missing object creates it.
    pub create_on_update: bool,
    /// Whether a PUT without a resourceVersion is allowed.
    pub unconditional_update: bool,
    /// How names are checked.
    pub name_rule: NameRule,
    /// Kind-specific behaviour.
    pub special: Special,
    /// Fields usable in field selectors beyond `metadata.name` and
    /// `metadata.namespace` (for built-in kinds, the selector module's
    /// table); the watch cache keeps their values.
    pub selectable_fields: Vec<String>,
    /// The verbs discovery lists.
    pub verbs: Vec<&'static str>,
    /// For a version of a CRD: its schema, printer and state.
    pub custom: Option<Arc<crate::crd::CustomVersion>>,
}

impl ResourceType {
    /// The group/resource pair used in messages.
    pub fn qualified(&self) -> Qualified {
        Qualified {
            group: self.group.clone(),
            resource: self.resource.clone(),
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// The `scale` subresource of a custom resource version that has one.
    pub fn scale(&self) -> Option<&crate::crd::ScaleSubresource> {
        self.custom.as_ref().and_then(|c| c.scale.as_ref())
    }

    /// Whether objects are stored under another version than this one
    /// serves (another version of the same CRD).
    pub fn version_differs_from_storage(&self) -> bool {
        self.api_version() != self.storage_api_version
    }

    /// Whether a stored object, given as its JSON, changes before it is
    /// served here: it is stored under another version (its apiVersion
    /// comes first in stored JSON, whose keys are sorted), or it is a
    /// custom resource whose schema has defaults. `prefix` is
    /// [`ResourceType::stored_prefix`], computed once per list.
    pub fn rewrites(&self, stored: &[u8], prefix: &str) -> bool {
        self.custom.as_ref().is_some_and(|c| c.defaults_on_read)
            || !stored.starts_with(prefix.as_bytes())
    }

    /// How the JSON of an object stored under this endpoint's own version
    /// begins.
    pub fn stored_prefix(&self) -> String {
        format!("{{\"apiVersion\":\"{}\",", self.api_version())
    }

    /// Turns a stored object into what this endpoint serves: its
    /// apiVersion and kind and, for a custom resource, what kube does on
    /// read: an object stored under another version is pruned with this
    /// version's schema (conversion is apiVersion only), and the schema's
    /// defaults are applied.
    pub fn serve(&self, v: &mut Value) {
        let api_version = self.api_version();
        let converted = v.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str());
        if let Some(o) = v.as_object_mut() {
            o.insert("apiVersion".into(), Value::String(api_version));
            o.insert("kind".into(), Value::String(self.kind.clone()));
        }
        if let Some(custom) = &self.custom {
            if converted {
                custom.schema.prune(v);
            }
            if custom.defaults_on_read {
                custom.schema.default(v);
            }
        }
    }

    /// The storage key of an object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.storage_prefix),
            _ => format!("{}{name}", self.storage_prefix),
        }
    }

    /// The prefix of the keys of a namespace, or of all keys.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/", self.storage_prefix),
            _ => self.storage_prefix.clone(),
        }
    }

    /// The values of the selectable fields of an object, as field selectors
    /// compare them.
    pub fn field_value(&self, object: &Value, field: &str) -> Option<String> {
        let mut v = object;
        for part in field.split('.') {
            v = v.get(part)?;
        }
        Some(match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }
}

/// `group/version`, or `version` for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Every resource served, by group, version and plural.
#[derive(Debug, Default)]
pub struct Resources {
    /// The entries, keyed by (group, version, resource).
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceType>>,
    /// Groups in discovery order, each with its versions in preference
    /// order.
    groups: Vec<(String, Vec<String>)>,
}

impl Resources {
    /// Adds an entry; groups and versions keep the order they were first
    /// seen in (built-ins first, then CRDs).
    pub fn add(&mut self, r: ResourceType) {
        match self.groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version.clone());
                }
            }
            None => self.groups.push((r.group.clone(), vec![r.version.clone()])),
        }
        self.by_gvr.insert(
            (r.group.clone(), r.version.clone(), r.resource.clone()),
            Arc::new(r),
        );
    }

    /// Removes every entry of a CRD.
    pub fn remove_crd(&mut self, crd: &str) {
        self.by_gvr.retain(|_, r| match &r.special {
            Special::Custom { crd: c } => c != crd,
            _ => true,
        });
        let by_gvr = &self.by_gvr;
        for (group, versions) in &mut self.groups {
            versions.retain(|v| by_gvr.keys().any(|(g, gv, _)| g == group && gv == v));
        }
        self.groups.retain(|(_, versions)| !versions.is_empty());
    }

    /// Looks up one entry.
    pub fn get(&self, group: &str, version: &str, resource: &str) -> Option<&Arc<ResourceType>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
    }

    /// The groups in discovery order with their versions, preferred first.
    pub fn groups(&self) -> &[(String, Vec<String>)] {
        &self.groups
    }

    /// Whether the group/version is served.
    pub fn has_version(&self, group: &str, version: &str) -> bool {
        self.groups
            .iter()
            .any(|(g, vs)| g == group && vs.iter().any(|v| v == version))
    }

    /// The entries of one group/version, in name order.
    pub fn in_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceType>> + 'a {
        self.by_gvr
            .iter()
            .filter(move |((g, v, _), _)| g == group && v == version)
            .map(|(_, r)| r)
    }

    /// Every entry.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.by_gvr.values()
    }
}

/// The registry: the current [`Resources`], replaced whole on change.
#[derive(Debug)]
pub struct Registry {
    current: RwLock<Arc<Resources>>,
}

impl Registry {
    /// A registry holding the built-in resources.
    pub fn new() -> Registry {
        let mut resources = Resources::default();
        for r in crate::builtin::resources() {
            resources.add(r);
        }
        Registry {
            current: RwLock::new(Arc::new(resources)),
        }
    }

    /// The resources now.
    pub fn snapshot(&self) -> Arc<Resources> {
        // A poisoned lock means a panic while swapping an Arc, which leaves
        // the old value intact, so it is safe to go on with it.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the resources.
    pub fn update(&self, f: impl FnOnce(&mut Resources)) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Resources {
            by_gvr: guard.by_gvr.clone(),
            groups: guard.groups.clone(),
        };
        f(&mut next);
        *guard = Arc::new(next);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}
