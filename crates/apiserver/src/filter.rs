//! Which objects a list or watch wants: a namespace, a name, and the label
//! and field selectors of the query.

use serde_json::{Map, Value};

use crate::cache::Object;
use crate::error::ApiError;
use crate::http::Query;
use crate::resource::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};

/// A parsed set of conditions on objects.
pub struct Filter {
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// Only the object of this name.
    pub name: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    /// Whether any selector was given (then the number of remaining items
    /// of a page cannot be known without reading them).
    pub selects: bool,
}

impl Filter {
    /// Parses the `labelSelector` and `fieldSelector` of a query for a
    /// resource. Unknown field labels answer 400 as kube answers them.
    pub fn from_query(
        resource: &ResourceType,
        namespace: Option<&str>,
        query: &Query,
    ) -> Result<Filter, ApiError> {
        let bad = |e: crate::selector::SelectorError| ApiError::BadRequest(e.to_string());
        let labels = LabelSelector::parse(query.str("labelSelector")).map_err(bad)?;
        let labels = (!labels.is_everything()).then_some(labels);
        let fields = FieldSelector::parse(query.str("fieldSelector")).map_err(bad)?;
        let fields = if fields.is_everything() {
            None
        } else if matches!(resource.special, crate::resource::Special::Custom { .. }) {
            let selectable: Vec<&str> = resource
                .selectable_fields
                .iter()
                .map(String::as_str)
                .collect();
            Some(
                fields
                    .convert_for_custom_resource(&selectable, resource.namespaced)
                    .map_err(bad)?,
            )
        } else {
            Some(
                fields
                    .convert(&resource.group, &resource.kind)
                    .map_err(bad)?,
            )
        };
        Ok(Filter {
            namespace: namespace.map(str::to_string),
            name: None,
            selects: labels.is_some() || fields.is_some(),
            labels,
            fields,
        })
    }

    /// Whether a cached object passes.
    pub fn matches(&self, o: &Object) -> bool {
        if let Some(ns) = &self.namespace
            && o.namespace != *ns
        {
            return false;
        }
        if let Some(n) = &self.name
            && o.name != *n
        {
            return false;
        }
        if let Some(l) = &self.labels
            && !l.matches(&o.labels)
        {
            return false;
        }
        if let Some(f) = &self.fields
            && !f.matches(|name: &str| o.field(name))
        {
            return false;
        }
        true
    }

    /// Whether an object held as JSON passes.
    pub fn matches_value(&self, resource: &ResourceType, v: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && crate::object::namespace(v) != ns
        {
            return false;
        }
        if let Some(n) = &self.name
            && crate::object::name(v) != n
        {
            return false;
        }
        if let Some(l) = &self.labels {
            let empty = Map::new();
            if !l.matches(crate::object::labels(v).unwrap_or(&empty)) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            let get = |name: &str| match name {
                "metadata.name" => Some(crate::object::name(v).to_string()),
                "metadata.namespace" => Some(crate::object::namespace(v).to_string()),
                other => resource.field_value(v, other),
            };
            if !f.matches(get) {
                return false;
            }
        }
        true
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("namespace", &self.namespace)
            .field("selects", &self.selects)
            .finish_non_exhaustive()
    }
}
