//! Which objects a list or watch wants: a namespace, a name, and the label
//! and field selectors of the query.

use serde_json::{Map, Value};

use crate::cache::Object;
use crate::error::ApiError;
use crate::http::Query;
use crate::resource::ResourceType;

type LabelTest = Box<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;
type FieldTest = Box<dyn Fn(&dyn Fn(&str) -> Option<String>) -> bool + Send + Sync>;

/// A parsed set of conditions on objects.
pub struct Filter {
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// Only the object of this name.
    pub name: Option<String>,
    labels: Option<LabelTest>,
    fields: Option<FieldTest>,
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
        let labels = crate::selector_glue::labels(query.str("labelSelector"))?;
        let fields = crate::selector_glue::fields(resource, query.str("fieldSelector"))?;
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
            && !l(&o.labels)
        {
            return false;
        }
        if let Some(f) = &self.fields
            && !f(&|name: &str| o.field(name).map(str::to_string))
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
            if !l(crate::object::labels(v).unwrap_or(&empty)) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            let get = |name: &str| match name {
                "metadata.name" => Some(crate::object::name(v).to_string()),
                "metadata.namespace" => Some(crate::object::namespace(v).to_string()),
                other => resource.field_value(v, other),
            };
            if !f(&get) {
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
