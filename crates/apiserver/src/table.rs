//! Server-side printing: the `Table` answer kubectl asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`) and prints
//! column by column, plus the `PartialObjectMetadata` forms and the Accept
//! negotiation that picks between them.
//!
//! Columns and cells are kube-apiserver 1.33's: the built-in printers of
//! `pkg/printers/internalversion/printers.go` (always generated "wide", as
//! the server does; kubectl hides priority-1 columns itself), the default
//! convertor of `k8s.io/apiserver/pkg/registry/rest/table.go` for every
//! other kind, and the custom-resource convertor of
//! `apiextensions-apiserver/pkg/registry/customresource/tableconvertor`,
//! whose cells come from the CRD's `additionalPrinterColumns` through
//! [`crate::jsonpath`].
//!
//! Everything here works on JSON values as stored, never fails on odd
//! input (a missing or ill-typed field prints as kube prints the zero
//! value), and does no more than one pass over each object, so a 10,000-row
//! table costs a few milliseconds.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::field::{FieldError, Path, go_quote};
use crate::jsonpath::{self, JsonPath};

/// Why a table (or partial-metadata) answer cannot be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// 406: the Accept header names nothing the server can send. Holds the
    /// media types the server offers, which kube lists in the message.
    #[error("only the following media types are accepted: {}", .0.join(", "))]
    NotAcceptable(Vec<String>),
    /// 406: a specific conversion the endpoint cannot make (a list asked
    /// for as `PartialObjectMetadata`, an object as a list). Holds kube's
    /// whole message.
    #[error("{0}")]
    CannotConvert(String),
    /// 400: the request's table options are invalid. Holds kube's whole
    /// message.
    #[error("{0}")]
    BadRequest(String),
    /// A printer column whose JSONPath does not parse. kube logs this and
    /// serves the columns before it; `served` is that table convertor.
    #[error("unrecognized column definition {}", go_quote(json_path))]
    InvalidColumn {
        /// The column's JSONPath as the CRD spells it.
        json_path: String,
        /// The convertor kube falls back to: the name and every column
        /// before the bad one.
        served: Box<CrdPrinter>,
    },
}

impl TableError {
    /// The HTTP status kube answers with.
    pub fn code(&self) -> u16 {
        match self {
            TableError::NotAcceptable(_) | TableError::CannotConvert(_) => 406,
            TableError::BadRequest(_) => 400,
            TableError::InvalidColumn { .. } => 500,
        }
    }

    /// The `reason` of kube's `Status`.
    pub fn reason(&self) -> &'static str {
        match self {
            TableError::NotAcceptable(_) | TableError::CannotConvert(_) => "NotAcceptable",
            TableError::BadRequest(_) => "BadRequest",
            TableError::InvalidColumn { .. } => "InternalError",
        }
    }

    /// The 406 for `as=PartialObjectMetadata` on a list. kube names the
    /// Go type it holds (`*core.ConfigMapList`,
    /// `*unstructured.UnstructuredList`); the caller passes that name.
    pub fn partial_of_list(go_type: &str) -> TableError {
        TableError::CannotConvert(format!(
            "you requested PartialObjectMetadata, but the requested object is a list ({go_type})"
        ))
    }

    /// The 406 for `as=PartialObjectMetadataList` on a single object.
    pub fn partial_list_of_object(go_type: &str) -> TableError {
        TableError::CannotConvert(format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list ({go_type})"
        ))
    }
}

/// One column of a table, as `metav1.TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDefinition {
    /// The header kubectl prints (upper-cased by kubectl).
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// `name` for the column that names the object, else usually empty.
    pub format: String,
    /// What the column shows; kube takes it from the field's API docs.
    pub description: String,
    /// 0 for the default view, 1 for `-o wide` only.
    pub priority: i32,
}

impl ColumnDefinition {
    fn new(name: &str, type_: &str, format: &str, description: &str, priority: i32) -> Self {
        ColumnDefinition {
            name: name.to_string(),
            type_: type_.to_string(),
            format: format.to_string(),
            description: description.to_string(),
            priority,
        }
    }

    /// The column as JSON; kube writes every field, empty or not.
    pub fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Which version of `meta.k8s.io` the client asked the answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaVersion {
    /// `meta.k8s.io/v1`, what kubectl asks for first.
    #[default]
    V1,
    /// `meta.k8s.io/v1beta1`, still served.
    V1Beta1,
}

impl MetaVersion {
    /// The `apiVersion` of tables and partial objects in this version.
    pub fn api_version(self) -> &'static str {
        match self {
            MetaVersion::V1 => "meta.k8s.io/v1",
            MetaVersion::V1Beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// What each row carries besides its cells: the `includeObject` query
/// parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object (`"object": null`).
    None,
    /// The object's metadata as a `PartialObjectMetadata`: the default.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter, with kube's 400 for a
    /// value it does not know.
    pub fn parse(value: Option<&str>) -> Result<IncludeObject, TableError> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => {
                let err = FieldError::invalid(
                    "includeObject",
                    Value::String(other.to_string()),
                    "must be 'Metadata', 'Object', 'None', or empty",
                );
                Err(TableError::BadRequest(format!(
                    "Unable to convert to Table as requested: {err}"
                )))
            }
        }
    }
}

/// The list metadata a table (or partial list) carries over from the list
/// it was made from. Empty strings are left out, as kube's `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListMeta {
    /// The list's (or single object's) resourceVersion.
    pub resource_version: String,
    /// The continue token of a paged list.
    pub continue_: String,
    /// How many items a paged list left out, when known.
    pub remaining_item_count: Option<i64>,
}

impl ListMeta {
    /// The metadata of a table made from one object: its resourceVersion.
    pub fn of_object(object: &Value) -> ListMeta {
        ListMeta {
            resource_version: str_at(object, &["metadata", "resourceVersion"]).to_string(),
            ..ListMeta::default()
        }
    }

    /// The `metadata` object.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if !self.resource_version.is_empty() {
            m.insert(
                "resourceVersion".into(),
                self.resource_version.clone().into(),
            );
        }
        if !self.continue_.is_empty() {
            m.insert("continue".into(), self.continue_.clone().into());
        }
        if let Some(n) = self.remaining_item_count {
            m.insert("remainingItemCount".into(), n.into());
        }
        Value::Object(m)
    }
}

/// The printer for one built-in kind, or kube's default for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printer {
    /// core/v1 Namespace: NAME, STATUS, AGE.
    Namespace,
    /// core/v1 ConfigMap: NAME, DATA, AGE.
    ConfigMap,
    /// core/v1 Secret: NAME, TYPE, DATA, AGE.
    Secret,
    /// core/v1 ServiceAccount: NAME, SECRETS, AGE.
    ServiceAccount,
    /// core/v1 Service: NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE,
    /// and SELECTOR when wide.
    Service,
    /// core/v1 Endpoints: NAME, ENDPOINTS, AGE.
    Endpoints,
    /// Events, core/v1 (`events_api` false) or events.k8s.io/v1 (true):
    /// the same printer over the two spellings of the same object.
    Event {
        /// Whether the object uses events.k8s.io's field names.
        events_api: bool,
    },
    /// discovery.k8s.io EndpointSlice: NAME, ADDRESSTYPE, PORTS,
    /// ENDPOINTS, AGE.
    EndpointSlice,
    /// coordination.k8s.io Lease: NAME, HOLDER, AGE.
    Lease,
    /// Any other kind (CustomResourceDefinition included): NAME, CREATED AT.
    Default,
}

impl Printer {
    /// The printer kube uses for objects of this group and kind.
    pub fn for_kind(group: &str, kind: &str) -> Printer {
        match (group, kind) {
            ("", "Namespace") => Printer::Namespace,
            ("", "ConfigMap") => Printer::ConfigMap,
            ("", "Secret") => Printer::Secret,
            ("", "ServiceAccount") => Printer::ServiceAccount,
            ("", "Service") => Printer::Service,
            ("", "Endpoints") => Printer::Endpoints,
            ("", "Event") => Printer::Event { events_api: false },
            ("events.k8s.io", "Event") => Printer::Event { events_api: true },
            ("discovery.k8s.io", "EndpointSlice") => Printer::EndpointSlice,
            ("coordination.k8s.io", "Lease") => Printer::Lease,
            _ => Printer::Default,
        }
    }

    /// The column definitions, every priority included.
    pub fn columns(self) -> Vec<ColumnDefinition> {
        let c = ColumnDefinition::new;
        let name = || c("Name", "string", "name", doc::NAME, 0);
        let age = || c("Age", "string", "", doc::CREATION_TIMESTAMP, 0);
        match self {
            Printer::Namespace => vec![
                name(),
                c("Status", "string", "", "The status of the namespace", 0),
                age(),
            ],
            Printer::ConfigMap => vec![
                name(),
                c("Data", "string", "", doc::CONFIGMAP_DATA, 0),
                age(),
            ],
            Printer::Secret => vec![
                name(),
                c("Type", "string", "", doc::SECRET_TYPE, 0),
                c("Data", "string", "", doc::SECRET_DATA, 0),
                age(),
            ],
            Printer::ServiceAccount => vec![
                name(),
                c("Secrets", "string", "", doc::SERVICEACCOUNT_SECRETS, 0),
                age(),
            ],
            Printer::Service => vec![
                name(),
                c("Type", "string", "", doc::SERVICE_TYPE, 0),
                c("Cluster-IP", "string", "", doc::SERVICE_CLUSTER_IP, 0),
                c("External-IP", "string", "", doc::SERVICE_EXTERNAL_IPS, 0),
                c("Port(s)", "string", "", doc::SERVICE_PORTS, 0),
                age(),
                c("Selector", "string", "", doc::SERVICE_SELECTOR, 1),
            ],
            Printer::Endpoints => vec![
                name(),
                c("Endpoints", "string", "", doc::ENDPOINTS_SUBSETS, 0),
                age(),
            ],
            Printer::Event { .. } => vec![
                c("Last Seen", "string", "", doc::EVENT_LAST_TIMESTAMP, 0),
                c("Type", "string", "", doc::EVENT_TYPE, 0),
                c("Reason", "string", "", doc::EVENT_REASON, 0),
                c("Object", "string", "", doc::EVENT_INVOLVED_OBJECT, 0),
                c(
                    "Subobject",
                    "string",
                    "",
                    doc::OBJECT_REFERENCE_FIELD_PATH,
                    1,
                ),
                c("Source", "string", "", doc::EVENT_SOURCE, 1),
                c("Message", "string", "", doc::EVENT_MESSAGE, 0),
                c("First Seen", "string", "", doc::EVENT_FIRST_TIMESTAMP, 1),
                c("Count", "string", "", doc::EVENT_COUNT, 1),
                c("Name", "string", "name", doc::NAME, 1),
            ],
            Printer::EndpointSlice => vec![
                name(),
                c(
                    "AddressType",
                    "string",
                    "",
                    doc::ENDPOINTSLICE_ADDRESS_TYPE,
                    0,
                ),
                c("Ports", "string", "", doc::ENDPOINTSLICE_PORTS, 0),
                c("Endpoints", "string", "", doc::ENDPOINTSLICE_ENDPOINTS, 0),
                age(),
            ],
            Printer::Lease => vec![
                name(),
                c("Holder", "string", "", doc::LEASE_HOLDER, 0),
                age(),
            ],
            Printer::Default => vec![
                name(),
                c("Created At", "date", "", doc::CREATION_TIMESTAMP, 0),
            ],
        }
    }

    /// The cells of one object's row, in column order.
    pub fn row(self, object: &Value, now: OffsetDateTime) -> Vec<Value> {
        let now = now.unix_timestamp_nanos();
        let name = || Value::from(str_at(object, &["metadata", "name"]));
        let age = || Value::from(since(object.pointer("/metadata/creationTimestamp"), now));
        match self {
            Printer::Namespace => vec![name(), str_at(object, &["status", "phase"]).into(), age()],
            Printer::ConfigMap => vec![
                name(),
                (len_at(object, &["data"]) + len_at(object, &["binaryData"])).into(),
                age(),
            ],
            Printer::Secret => vec![
                name(),
                str_at(object, &["type"]).into(),
                len_at(object, &["data"]).into(),
                age(),
            ],
            Printer::ServiceAccount => vec![name(), len_at(object, &["secrets"]).into(), age()],
            Printer::Service => service_row(object, name(), age()),
            Printer::Endpoints => vec![name(), format_endpoints(object).into(), age()],
            Printer::Event { events_api } => event_row(object, events_api, now),
            Printer::EndpointSlice => vec![
                name(),
                str_at(object, &["addressType"]).into(),
                format_slice_ports(arr_at(object, &["ports"])).into(),
                format_slice_endpoints(arr_at(object, &["endpoints"])).into(),
                age(),
            ],
            Printer::Lease => vec![
                name(),
                str_at(object, &["spec", "holderIdentity"]).into(),
                age(),
            ],
            Printer::Default => vec![name(), created_at(object).into()],
        }
    }

    /// A whole table of these objects. `headers` false leaves the column
    /// definitions out (`null`), as a watch does after its first event.
    pub fn table(
        self,
        objects: impl IntoIterator<Item = Value>,
        list_meta: &ListMeta,
        include_object: IncludeObject,
        version: MetaVersion,
        headers: bool,
        now: OffsetDateTime,
    ) -> Value {
        let columns = headers.then(|| self.columns());
        let rows = objects.into_iter().map(|o| (self.row(&o, now), o));
        let mut t = table(columns.as_deref(), rows, list_meta, include_object, version);
        if self == Printer::Default
            && t.get("rows")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
        {
            // kube's default convertor never makes its row slice, so an
            // empty list says `null` where the printers say `[]`.
            t["rows"] = Value::Null;
        }
        t
    }
}

/// The column definitions kube's printer for this kind has (all
/// priorities; kubectl hides the wide ones itself).
pub fn columns(group: &str, kind: &str) -> Vec<ColumnDefinition> {
    Printer::for_kind(group, kind).columns()
}

/// The cells of one object's row for this kind, as of `now`.
pub fn row(group: &str, kind: &str, object: &Value, now: OffsetDateTime) -> Vec<Value> {
    Printer::for_kind(group, kind).row(object, now)
}

/// A `Table`: `columns` (`None` for no headers, written `null` as kube
/// does), then one row per `(cells, object)` carrying the object as
/// `include_object` says.
pub fn table(
    columns: Option<&[ColumnDefinition]>,
    rows: impl IntoIterator<Item = (Vec<Value>, Value)>,
    list_meta: &ListMeta,
    include_object: IncludeObject,
    version: MetaVersion,
) -> Value {
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(cells, object)| {
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => partial_object_metadata(object, version),
                IncludeObject::Object => object,
            };
            let mut row = Map::with_capacity(2);
            row.insert("cells".into(), Value::Array(cells));
            row.insert("object".into(), object);
            Value::Object(row)
        })
        .collect();
    let mut t = Map::with_capacity(5);
    t.insert("kind".into(), "Table".into());
    t.insert("apiVersion".into(), version.api_version().into());
    t.insert("metadata".into(), list_meta.to_value());
    t.insert(
        "columnDefinitions".into(),
        columns.map_or(Value::Null, |cols| {
            Value::Array(cols.iter().map(ColumnDefinition::to_value).collect())
        }),
    );
    t.insert("rows".into(), Value::Array(rows));
    Value::Object(t)
}

/// The fields of `ObjectMeta`: what a `PartialObjectMetadata` keeps.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// An object reduced to its metadata: kube's `AsPartialObjectMetadata`,
/// answered for `as=PartialObjectMetadata` and put in table rows by
/// default.
pub fn partial_object_metadata(object: Value, version: MetaVersion) -> Value {
    let mut meta = match object {
        Value::Object(mut o) => match o.remove("metadata") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    meta.retain(|k, _| OBJECT_META_FIELDS.contains(&k.as_str()));
    // Go writes a zero creationTimestamp as null rather than leaving it out.
    meta.entry("creationTimestamp").or_insert(Value::Null);
    let mut p = Map::with_capacity(3);
    p.insert("kind".into(), "PartialObjectMetadata".into());
    p.insert("apiVersion".into(), version.api_version().into());
    p.insert("metadata".into(), Value::Object(meta));
    Value::Object(p)
}

/// A list reduced to its items' metadata: kube's answer to
/// `as=PartialObjectMetadataList`. An empty list's items are `null`, as
/// kube's (never allocated) slice encodes.
pub fn partial_object_metadata_list(
    items: impl IntoIterator<Item = Value>,
    list_meta: &ListMeta,
    version: MetaVersion,
) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|o| partial_object_metadata(o, version))
        .collect();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": version.api_version(),
        "metadata": list_meta.to_value(),
        "items": if items.is_empty() { Value::Null } else { Value::Array(items) },
    })
}

/// The Table form of a watch: every event's object becomes a one-row
/// table, and only the first event's table has column definitions (kube
/// sets `noHeaders` once it has encoded one object, whatever it was).
#[derive(Debug, Clone)]
pub struct TableWatch {
    include_object: IncludeObject,
    version: MetaVersion,
    headers_sent: bool,
}

impl TableWatch {
    /// A watch answering in tables of `version`, rows carrying
    /// `include_object`.
    pub fn new(include_object: IncludeObject, version: MetaVersion) -> TableWatch {
        TableWatch {
            include_object,
            version,
            headers_sent: false,
        }
    }

    /// The object to send for an event: a table of this object's row, its
    /// metadata the object's resourceVersion.
    pub fn event_object(
        &mut self,
        columns: &[ColumnDefinition],
        cells: Vec<Value>,
        object: Value,
    ) -> Value {
        let headers = !std::mem::replace(&mut self.headers_sent, true);
        let meta = ListMeta::of_object(&object);
        table(
            headers.then_some(columns),
            [(cells, object)],
            &meta,
            self.include_object,
            self.version,
        )
    }

    /// Records an event sent as is (an `ERROR` event's `Status`): kube
    /// counts it as the first object, so later tables have no headers.
    pub fn pass_through(&mut self) {
        self.headers_sent = true;
    }
}

/// The printer of one version of a custom resource, from its CRD's
/// `additionalPrinterColumns`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdPrinter {
    columns: Vec<ColumnDefinition>,
    paths: Vec<JsonPath>,
}

/// The printer for a CRD version whose `additionalPrinterColumns` are
/// `printer_columns` (absent, `null` or empty: kube's single AGE column).
/// A column whose JSONPath does not parse is an error carrying the printer
/// kube serves instead (the columns before it).
pub fn crd_columns(printer_columns: &Value) -> Result<CrdPrinter, TableError> {
    let mut printer = CrdPrinter {
        columns: vec![ColumnDefinition::new(
            "Name",
            "string",
            "name",
            doc::NAME,
            0,
        )],
        paths: Vec::new(),
    };
    let defaults = [json!({
        "name": "Age",
        "type": "date",
        "description": doc::CREATION_TIMESTAMP,
        "jsonPath": ".metadata.creationTimestamp",
    })];
    let given = printer_columns.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let cols = if given.is_empty() {
        &defaults[..]
    } else {
        given
    };
    for col in cols {
        let text = |k: &str| col.get(k).and_then(Value::as_str).unwrap_or("");
        let json_path = match text("jsonPath") {
            "" => text("JSONPath"),
            p => p,
        };
        let Ok(path) = JsonPath::parse(&format!("{{{json_path}}}")) else {
            return Err(TableError::InvalidColumn {
                json_path: json_path.to_string(),
                served: Box::new(printer),
            });
        };
        let description = match text("description") {
            "" => format!("Custom resource definition column (in JSONPath format): {json_path}"),
            d => d.to_string(),
        };
        let priority = col
            .get("priority")
            .and_then(Value::as_i64)
            .map_or(0, |p| p.clamp(i32::MIN.into(), i32::MAX.into()) as i32);
        printer.columns.push(ColumnDefinition {
            name: text("name").to_string(),
            type_: text("type").to_string(),
            format: text("format").to_string(),
            description,
            priority,
        });
        printer.paths.push(path.allow_missing_keys(true));
    }
    Ok(printer)
}

impl CrdPrinter {
    /// The column definitions: NAME, then the printer columns.
    pub fn columns(&self) -> &[ColumnDefinition] {
        &self.columns
    }

    /// The cells of one custom resource's row. A column with no value is
    /// `null`; a `string` column prints the value as `kubectl -o jsonpath`
    /// would; a `date` column is an age (`<invalid>` when not a time);
    /// other types keep the JSON value when it has the column's type.
    pub fn row(&self, object: &Value, now: OffsetDateTime) -> Vec<Value> {
        let now = now.unix_timestamp_nanos();
        let mut cells = Vec::with_capacity(self.columns.len());
        cells.push(Value::from(str_at(object, &["metadata", "name"])));
        for (col, path) in self.columns[1..].iter().zip(&self.paths) {
            let cell = match path.first(object) {
                None => Value::Null,
                Some(v) if col.type_ == "string" => Value::String(match v.as_ref() {
                    // A nil value reaches Go's printer as an invalid reflect
                    // value, which it prints as "<no value>".
                    Value::Null => "<no value>".to_string(),
                    other => jsonpath::go_text(other),
                }),
                Some(v) => typed_cell(&col.type_, &v, now),
            };
            cells.push(cell);
        }
        cells
    }

    /// A whole table of these custom resources (see [`Printer::table`]).
    pub fn table(
        &self,
        objects: impl IntoIterator<Item = Value>,
        list_meta: &ListMeta,
        include_object: IncludeObject,
        version: MetaVersion,
        headers: bool,
        now: OffsetDateTime,
    ) -> Value {
        let rows = objects.into_iter().map(|o| (self.row(&o, now), o));
        table(
            headers.then_some(&self.columns[..]),
            rows,
            list_meta,
            include_object,
            version,
        )
    }
}

/// kube's `cellForJSONValue`: the value when it has the column's type
/// (numbers converted between integer and float), else `null`.
fn typed_cell(type_: &str, value: &Value, now: i128) -> Value {
    match (type_, value) {
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => i.into(),
            // Go converts a float64 to int64 by truncation.
            None => (n.as_f64().unwrap_or(0.0) as i64).into(),
        },
        ("number", Value::Number(n)) => number_cell(n.as_f64().unwrap_or(0.0)),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => {
            if s.is_empty() || s == "null" {
                return "<unknown>".into();
            }
            match parse_rfc3339(s) {
                None => "<invalid>".into(),
                Some(t) if t == ZERO_TIME => "<unknown>".into(),
                Some(t) => human_duration(now - t).into(),
            }
        }
        _ => Value::Null,
    }
}

/// A float64 cell spelled as Go's JSON encoder spells it: `3`, not `3.0`.
fn number_cell(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9e18 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// kube's `ValidateCustomResourceColumnDefinition` for each of a CRD
/// version's `additionalPrinterColumns`; `path` is the list's path
/// (`spec.versions[0].additionalPrinterColumns`). Field names are those of
/// kube's internal type, so the path column is `JSONPath`.
pub fn validate_printer_columns(printer_columns: &Value, path: &Path) -> Vec<FieldError> {
    const TYPES: &str = "boolean,date,integer,number,string";
    const FORMATS: &str = "byte,date,date-time,double,float,int32,int64,password";
    let mut errs = Vec::new();
    let Some(cols) = printer_columns.as_array() else {
        return errs;
    };
    for (i, col) in cols.iter().enumerate() {
        let p = path.index(i);
        let text = |k: &str| col.get(k).and_then(Value::as_str).unwrap_or("");
        if text("name").is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        match text("type") {
            "" => errs.push(FieldError::required(
                p.child("type"),
                format!("must be one of {TYPES}"),
            )),
            t if !TYPES.split(',').any(|x| x == t) => errs.push(FieldError::invalid(
                p.child("type"),
                t.into(),
                format!("must be one of {TYPES}"),
            )),
            _ => {}
        }
        let format = text("format");
        if !format.is_empty() && !FORMATS.split(',').any(|x| x == format) {
            errs.push(FieldError::invalid(
                p.child("format"),
                format.into(),
                format!("must be one of {FORMATS}"),
            ));
        }
        let json_path = match text("jsonPath") {
            "" => text("JSONPath"),
            s => s,
        };
        if json_path.is_empty() {
            errs.push(FieldError::required(p.child("JSONPath"), ""));
        } else {
            errs.extend(jsonpath::validate_simple(json_path, &p.child("JSONPath")));
        }
    }
    errs
}

/// What the client's Accept header asks the server to send instead of the
/// object itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The object (or list) as stored: no conversion.
    Object,
    /// A `Table`.
    Table(MetaVersion),
    /// A `PartialObjectMetadata` (a single object only).
    PartialObjectMetadata(MetaVersion),
    /// A `PartialObjectMetadataList` (a list only).
    PartialObjectMetadataList(MetaVersion),
}

/// The outcome of negotiating an Accept header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The media type to answer in, one of the endpoint's.
    pub media_type: String,
    /// What to convert the answer to.
    pub target: Target,
    /// Whether the client asked for indented output (`pretty=1`).
    pub pretty: bool,
    /// The `stream` parameter (`watch`), if the client gave one.
    pub stream: Option<String>,
}

/// The media types kube-apiserver serves built-in resources in, in its
/// order (the first is the default); its 406 message lists these.
pub const KUBE_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// The media types custom resources are served in without conversion.
pub const CRD_MEDIA_TYPES: &[&str] = &["application/json", "application/yaml"];

/// What an endpoint can send, for negotiation.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The media types the server can encode, preferred first.
    pub media_types: &'a [&'a str],
    /// When set, the only media types allowed without a conversion (kube's
    /// `StandardSerializers`, which custom resources use).
    pub untransformed: Option<&'a [&'a str]>,
    /// Whether the endpoint can answer as a Table.
    pub tables: bool,
}

/// One clause of an Accept header, as goautoneg parses it.
#[derive(Debug, Clone)]
struct Clause<'h> {
    type_: &'h str,
    sub: &'h str,
    q: f64,
    params: Vec<(&'h str, &'h str)>,
}

/// goautoneg's `ParseAccept`: clauses in the order kube tries them.
fn parse_accept(header: &str) -> Vec<Clause<'_>> {
    let mut clauses = Vec::new();
    for part in header.split(',') {
        let part = part.trim_matches(' ');
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or("");
        let mut sp = range.split('/');
        let type_ = sp.next().unwrap_or("").trim_matches(' ');
        let sub = match (sp.next(), sp.next()) {
            (None, _) if type_ == "*" => "*",
            (Some(s), None) => s.trim_matches(' '),
            _ => continue,
        };
        let mut clause = Clause {
            type_,
            sub,
            q: 1.0,
            params: Vec::new(),
        };
        for param in pieces {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let k = k.trim_matches(' ');
            if k == "q" {
                // Go parses the untrimmed value and keeps 0 on error.
                clause.q = v.parse::<f32>().map_or(0.0, f64::from);
            } else {
                // Later parameters replace earlier ones, as in a Go map.
                clause.params.retain(|(x, _)| *x != k);
                clause.params.push((k, v.trim_matches(' ')));
            }
        }
        clauses.push(clause);
    }
    // Go sorts with this comparison; for the few clauses of a real header
    // sort.Sort is an insertion sort, so an insertion sort here orders
    // exactly as kube does even where the comparison is not a strict order.
    let less = |a: &Clause, b: &Clause| {
        a.q > b.q || (a.type_ != "*" && b.type_ == "*") || (a.sub != "*" && b.sub == "*")
    };
    for i in 1..clauses.len() {
        let mut j = i;
        while j > 0 && less(&clauses[j], &clauses[j - 1]) {
            clauses.swap(j, j - 1);
            j -= 1;
        }
    }
    clauses
}

/// kube's `acceptMediaTypeOptions` for one clause against one media type.
fn accept_options(clause: &Clause<'_>, media: &str, endpoint: &Endpoint<'_>) -> Option<Negotiated> {
    let (mut kind, mut group, mut version, mut convert) = ("", "", "", false);
    let mut pretty = false;
    let mut stream = None;
    for &(k, v) in &clause.params {
        match k {
            "as" => (kind, convert) = (v, true),
            "g" => (group, convert) = (v, true),
            "v" => (version, convert) = (v, true),
            "stream" => {
                if !v.is_empty() && (!has_stream_encoder(media) || v != "watch") {
                    return None;
                }
                stream = (!v.is_empty()).then(|| v.to_string());
            }
            "sv" if !v.is_empty() && v != "v1" => return None,
            "pretty" => pretty = v == "1",
            _ => {}
        }
    }
    let (type_, sub) = media.split_once('/').unwrap_or((media, "*"));
    let target = if !convert {
        if let Some(allowed) = endpoint.untransformed
            && !allowed.contains(&media)
        {
            return None;
        }
        Target::Object
    } else {
        let v = match (group, version) {
            ("meta.k8s.io", "v1") => MetaVersion::V1,
            ("meta.k8s.io", "v1beta1") => MetaVersion::V1Beta1,
            _ => return None,
        };
        match kind {
            "Table"
                if endpoint.tables
                    && type_ == "application"
                    && (sub == "json" || sub == "yaml") =>
            {
                Target::Table(v)
            }
            "PartialObjectMetadata" => Target::PartialObjectMetadata(v),
            "PartialObjectMetadataList" => Target::PartialObjectMetadataList(v),
            _ => return None,
        }
    };
    Some(Negotiated {
        media_type: media.to_string(),
        target,
        pretty,
        stream,
    })
}

/// Whether kube has a watch-stream encoder for the media type (YAML has
/// none).
fn has_stream_encoder(media: &str) -> bool {
    media != "application/yaml"
}

/// Picks what to answer a request with from its Accept header, exactly as
/// kube-apiserver's content negotiation does: clauses by quality and
/// specificity, the endpoint's media types in order, conversions only to
/// `meta.k8s.io` v1 or v1beta1 kinds (tables only as JSON or YAML). An
/// empty or missing header means the first media type, unconverted.
pub fn negotiate(accept: Option<&str>, endpoint: &Endpoint<'_>) -> Result<Negotiated, TableError> {
    let not_acceptable =
        || TableError::NotAcceptable(endpoint.media_types.iter().map(|s| s.to_string()).collect());
    let header = accept.unwrap_or("");
    if header.is_empty() {
        let first = endpoint.media_types.first().ok_or_else(not_acceptable)?;
        return Ok(Negotiated {
            media_type: first.to_string(),
            target: Target::Object,
            pretty: false,
            stream: None,
        });
    }
    for clause in parse_accept(header) {
        for media in endpoint.media_types {
            let (type_, sub) = media.split_once('/').unwrap_or((media, "*"));
            let matches = (clause.type_ == type_ && (clause.sub == sub || clause.sub == "*"))
                || (clause.type_ == "*" && clause.sub == "*");
            if matches && let Some(n) = accept_options(&clause, media, endpoint) {
                return Ok(n);
            }
        }
    }
    Err(not_acceptable())
}

/// [`negotiate`] for a watch: the chosen media type must also have a
/// stream encoder, or kube's 406 lists the `;stream=watch` types.
pub fn negotiate_watch(
    accept: Option<&str>,
    endpoint: &Endpoint<'_>,
) -> Result<Negotiated, TableError> {
    let n = negotiate(accept, endpoint)?;
    if has_stream_encoder(&n.media_type) {
        return Ok(n);
    }
    Err(TableError::NotAcceptable(
        endpoint
            .media_types
            .iter()
            .filter(|m| has_stream_encoder(m))
            .map(|m| format!("{m};stream=watch"))
            .collect(),
    ))
}

/// kube's `duration.HumanDuration`: an age with two or three significant
/// figures (`5s`, `2m30s`, `10m`, `3h40m`, `2d3h`, `45d`, `3y120d`),
/// `0s` for up to two seconds in the future and `<invalid>` beyond.
pub fn human_duration(nanos: i128) -> String {
    // Go's time.Duration saturates at int64 nanoseconds.
    let d = nanos.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
    let seconds = d / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / 60_000_000_000;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / 3_600_000_000_000;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix nanoseconds: the
/// instant kube prints as `<unknown>`.
const ZERO_TIME: i128 = -62_135_596_800 * 1_000_000_000;

/// kube's `translateTimestampSince`: the age of a timestamp field, or
/// `<unknown>` when it is missing, null, zero or unreadable.
fn since(ts: Option<&Value>, now: i128) -> String {
    match ts.and_then(Value::as_str).and_then(parse_rfc3339) {
        Some(t) if t != ZERO_TIME => human_duration(now - t),
        _ => "<unknown>".to_string(),
    }
}

/// The default convertor's CREATED AT cell: the creation time in UTC,
/// RFC 3339 to the second (Go's zero time when there is none).
fn created_at(object: &Value) -> String {
    let t = object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(ZERO_TIME);
    format_rfc3339_utc(t)
}

/// Parses a time as Go's `time.Parse(time.RFC3339, s)` does (fractional
/// seconds allowed, `T` and `Z` upper-case, an offset `±hh:mm`) into Unix
/// nanoseconds. Hand-written because it runs once per row.
fn parse_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let lit = |at: usize, c: u8| b.get(at) == Some(&c);
    let year = num(0, 4)?;
    let month = num(5, 7)?;
    let day = num(8, 10)?;
    let hour = num(11, 13)?;
    let minute = num(14, 16)?;
    let second = num(17, 19)?;
    if !(lit(4, b'-') && lit(7, b'-') && lit(10, b'T') && lit(13, b':') && lit(16, b':')) {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            // Go keeps nanoseconds and drops finer digits.
            if digits < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
            }
            digits += 1;
            i += 1;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let (oh, om) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if !lit(i + 3, b':') || oh >= 24 || om >= 60 {
                return None;
            }
            i += 6;
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if i != b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix nanoseconds as `2006-01-02T15:04:05Z`.
fn format_rfc3339_utc(nanos: i128) -> String {
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.as_object()?.get(*k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Go's `len` of a map or slice field.
fn len_at(v: &Value, path: &[&str]) -> i64 {
    match at(v, path) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn int_of(v: Option<&Value>) -> i64 {
    v.and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

/// labels' `FormatLabels`: `k=v` pairs sorted as strings, or `<none>`.
fn format_labels(map: Option<&Value>) -> String {
    let Some(m) = map.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".to_string();
    };
    let mut pairs: Vec<(&str, &str)> = m
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    // kube sorts the joined "k=v" strings, which is not the same as sorting
    // by key ("a.b=x" sorts before "a=y"); compare as if joined, without
    // joining.
    pairs.sort_unstable_by(|a, b| {
        let joined = |p: &(&str, &str)| {
            p.0.bytes()
                .chain(std::iter::once(b'='))
                .chain(p.1.bytes())
                .collect::<Vec<u8>>()
        };
        if a.0 == b.0 {
            a.1.cmp(b.1)
        } else if a.0.starts_with(b.0) || b.0.starts_with(a.0) {
            joined(a).cmp(&joined(b))
        } else {
            a.0.cmp(b.0)
        }
    });
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn service_row(object: &Value, name: Value, age: Value) -> Vec<Value> {
    let spec = at(object, &["spec"]).unwrap_or(&Value::Null);
    let svc_type = str_at(spec, &["type"]);
    let cluster_ip = match arr_at(spec, &["clusterIPs"]).first() {
        Some(ip) => ip.as_str().unwrap_or("").to_string(),
        // Objects written before dual-stack have only clusterIP; kube's
        // defaulting copies it into clusterIPs on read.
        None => match str_at(spec, &["clusterIP"]) {
            "" => "<none>".to_string(),
            ip => ip.to_string(),
        },
    };
    let external_ips: Vec<&str> = arr_at(spec, &["externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match svc_type {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            // Sorted and without duplicates, as kube's string set; never
            // clipped, since the server always prints wide.
            let lb: BTreeSet<&str> = arr_at(object, &["status", "loadBalancer", "ingress"])
                .iter()
                .filter_map(
                    |ing| match (str_at(ing, &["ip"]), str_at(ing, &["hostname"])) {
                        ("", "") => None,
                        ("", host) => Some(host),
                        (ip, _) => Some(ip),
                    },
                )
                .collect();
            let mut all: Vec<&str> = lb.into_iter().collect();
            all.extend(external_ips);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(spec, &["externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let mut ports = String::new();
    for (i, p) in arr_at(spec, &["ports"]).iter().enumerate() {
        if i > 0 {
            ports.push(',');
        }
        let port = int_of(p.get("port"));
        let protocol = str_at(p, &["protocol"]);
        let _ = match int_of(p.get("nodePort")) {
            n if n > 0 => write!(ports, "{port}:{n}/{protocol}"),
            _ => write!(ports, "{port}/{protocol}"),
        };
    }
    if ports.is_empty() {
        ports.push_str("<none>");
    }
    vec![
        name,
        svc_type.into(),
        cluster_ip.into(),
        external.into(),
        ports.into(),
        age,
        format_labels(spec.get("selector")).into(),
    ]
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// kube's `formatEndpoints`: the first three addresses (with each port),
/// then `+ N more...`.
fn format_endpoints(object: &Value) -> String {
    let subsets = arr_at(object, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::with_capacity(MAX);
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addrs = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_of(port.get("port"))));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

/// kube's `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

/// kube's `formatDiscoveryPorts`.
fn format_slice_ports(ports: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list = Vec::with_capacity(MAX);
    let mut more = false;
    for port in ports {
        if list.len() < MAX {
            let num = match (port.get("port"), port.get("name")) {
                (Some(p @ Value::Number(_)), _) => int_of(Some(p)).to_string(),
                (_, Some(Value::String(n))) => n.clone(),
                _ => "*".to_string(),
            };
            list.push(num);
        } else if list.len() == MAX {
            more = true;
        }
    }
    list_with_more(&list, more, ports.len(), MAX)
}

/// kube's `formatDiscoveryEndpoints`.
fn format_slice_endpoints(endpoints: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list = Vec::with_capacity(MAX);
    let mut more = false;
    let mut count = 0;
    for ep in endpoints {
        for addr in arr_at(ep, &["addresses"]) {
            if list.len() < MAX {
                list.push(addr.as_str().unwrap_or("").to_string());
            } else if list.len() == MAX {
                more = true;
            }
            count += 1;
        }
    }
    list_with_more(&list, more, count, MAX)
}

/// kube's `printEvent`, wide, over either spelling of an event.
fn event_row(object: &Value, events_api: bool, now: i128) -> Vec<Value> {
    // events.k8s.io/v1 renames the fields of the same stored event.
    let f = |core: &'static str, events: &'static str| if events_api { events } else { core };
    let first_ts = object.get(f("firstTimestamp", "deprecatedFirstTimestamp"));
    let last_ts = object.get(f("lastTimestamp", "deprecatedLastTimestamp"));
    let is_zero = |ts: Option<&Value>| {
        ts.and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .is_none_or(|t| t == ZERO_TIME)
    };
    let first = if is_zero(first_ts) {
        since(object.get("eventTime"), now)
    } else {
        since(first_ts, now)
    };
    let mut last = if is_zero(last_ts) {
        first.clone()
    } else {
        since(last_ts, now)
    };
    let mut count = int_of(object.get(f("count", "deprecatedCount")));
    match object.get("series") {
        Some(series @ Value::Object(_)) => {
            last = since(series.get("lastObservedTime"), now);
            count = int_of(series.get("count"));
        }
        // Singleton events don't have a count set in the new API.
        _ if count == 0 => count = 1,
        _ => {}
    }
    let involved = object
        .get(f("involvedObject", "regarding"))
        .unwrap_or(&Value::Null);
    let kind = str_at(involved, &["kind"]).to_lowercase();
    let target = match str_at(involved, &["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let source = object
        .get(f("source", "deprecatedSource"))
        .unwrap_or(&Value::Null);
    let component = first_non_empty(
        str_at(source, &["component"]),
        str_at(object, &[f("reportingComponent", "reportingController")]),
    );
    let instance = first_non_empty(
        str_at(source, &["host"]),
        str_at(object, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        last.into(),
        str_at(object, &["type"]).into(),
        str_at(object, &["reason"]).into(),
        target.into(),
        str_at(involved, &["fieldPath"]).into(),
        source.into(),
        str_at(object, &[f("message", "note")]).trim().into(),
        first.into(),
        count.into(),
        str_at(object, &["metadata", "name"]).into(),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

/// Column descriptions: the API documentation of the fields, as kube's
/// `SwaggerDoc()` maps have it for 1.33 (EndpointSlice's from
/// discovery/v1beta1, as kube's printer takes them).
mod doc {
    pub(super) const NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
    pub(super) const CREATION_TIMESTAMP: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
    pub(super) const CONFIGMAP_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
    pub(super) const SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
    pub(super) const SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
    pub(super) const SERVICEACCOUNT_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
    pub(super) const SERVICE_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
    pub(super) const SERVICE_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
    pub(super) const SERVICE_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
    pub(super) const SERVICE_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
    pub(super) const SERVICE_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
    pub(super) const ENDPOINTS_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
    pub(super) const EVENT_LAST_TIMESTAMP: &str =
        "The time at which the most recent occurrence of this event was recorded.";
    pub(super) const EVENT_TYPE: &str =
        "Type of this event (Normal, Warning), new types could be added in the future";
    pub(super) const EVENT_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
    pub(super) const EVENT_INVOLVED_OBJECT: &str = "The object that this event is about.";
    pub(super) const OBJECT_REFERENCE_FIELD_PATH: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
    pub(super) const EVENT_SOURCE: &str =
        "The component reporting this event. Should be a short machine understandable string.";
    pub(super) const EVENT_MESSAGE: &str =
        "A human-readable description of the status of this operation.";
    pub(super) const EVENT_FIRST_TIMESTAMP: &str =
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
    pub(super) const EVENT_COUNT: &str = "The number of times this event has occurred.";
    pub(super) const ENDPOINTSLICE_ADDRESS_TYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.";
    pub(super) const ENDPOINTSLICE_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.";
    pub(super) const ENDPOINTSLICE_ENDPOINTS: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";
    pub(super) const LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-06-01T12:00:00Z.
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_748_779_200).unwrap()
    }

    fn names(cols: &[ColumnDefinition]) -> Vec<(&str, &str, i32)> {
        cols.iter()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.priority))
            .collect()
    }

    #[test]
    fn human_duration_matches_kube() {
        let s = 1_000_000_000i128;
        let cases = [
            (-3 * s, "<invalid>"),
            (-2 * s, "<invalid>"),
            (-(2 * s) + 1, "0s"),
            (-s, "0s"),
            (0, "0s"),
            (5 * s, "5s"),
            (119 * s, "119s"),
            (120 * s, "2m"),
            (150 * s, "2m30s"),
            (599 * s, "9m59s"),
            (600 * s, "10m"),
            (179 * 60 * s, "179m"),
            (3 * 3600 * s, "3h"),
            ((3 * 3600 + 40 * 60) * s, "3h40m"),
            (8 * 3600 * s, "8h"),
            (47 * 3600 * s, "47h"),
            (48 * 3600 * s, "2d"),
            ((2 * 86400 + 3 * 3600) * s, "2d3h"),
            (8 * 86400 * s, "8d"),
            (45 * 86400 * s, "45d"),
            (729 * 86400 * s, "729d"),
            (730 * 86400 * s, "2y"),
            ((3 * 365 + 120) * 86400 * s, "3y120d"),
            (8 * 365 * 86400 * s, "8y"),
            (i128::MAX, "292y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d}");
        }
    }

    #[test]
    fn timestamps_parse_like_go() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.1234567891Z"),
            Some(123_456_789)
        );
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(ZERO_TIME));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(format_rfc3339_utc)
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "2023-02-29T00:00:00Z",
            "2025-06-01t12:00:00Z",
            "2025-06-01T12:00:00z",
            "2025-06-01T24:00:00Z",
            "2025-06-01T12:00:60Z",
            "2025-06-01T12:00:00",
            "2025-06-01T12:00:00Z ",
            "2025-6-01T12:00:00Z",
            "2025-06-01T12:00:00+0100",
            "2025-06-01T12:00:00.Z",
            "é025-06-01T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            format_rfc3339_utc(parse_rfc3339("2025-06-01T14:30:00+02:00").unwrap()),
            "2025-06-01T12:30:00Z"
        );
        assert_eq!(format_rfc3339_utc(ZERO_TIME), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn namespace_configmap_secret_serviceaccount_lease() {
        let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": "2025-05-30T09:00:00Z"}, "status": {"phase": "Active"}});
        assert_eq!(
            names(&columns("", "Namespace")),
            [
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Age", "string", 0)
            ]
        );
        assert_eq!(
            row("", "Namespace", &ns, now()),
            [json!("kube-system"), json!("Active"), json!("2d3h")]
        );

        let cm = json!({"metadata": {"name": "kube-root-ca.crt", "creationTimestamp": "2025-06-01T11:50:00Z"}, "data": {"ca.crt": "x"}, "binaryData": {"b": "AA=="}});
        assert_eq!(
            row("", "ConfigMap", &cm, now()),
            [json!("kube-root-ca.crt"), json!(2), json!("10m")]
        );

        let secret = json!({"metadata": {"name": "tls", "creationTimestamp": "2025-06-01T11:59:55Z"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            names(&columns("", "Secret")),
            [
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Data", "string", 0),
                ("Age", "string", 0)
            ]
        );
        assert_eq!(
            row("", "Secret", &secret, now()),
            [
                json!("tls"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("5s")
            ]
        );

        let sa =
            json!({"metadata": {"name": "default", "creationTimestamp": "2022-01-01T00:00:00Z"}});
        assert_eq!(
            row("", "ServiceAccount", &sa, now()),
            [json!("default"), json!(0), json!("3y152d")]
        );

        let lease = json!({"metadata": {"name": "kube-scheduler", "creationTimestamp": "2025-06-01T09:20:00Z"}, "spec": {"holderIdentity": "node-1_abc", "leaseDurationSeconds": 15}});
        assert_eq!(
            names(&columns("coordination.k8s.io", "Lease")),
            [
                ("Name", "string", 0),
                ("Holder", "string", 0),
                ("Age", "string", 0)
            ]
        );
        assert_eq!(
            row("coordination.k8s.io", "Lease", &lease, now()),
            [json!("kube-scheduler"), json!("node-1_abc"), json!("160m")]
        );
        let lease = json!({"metadata": {"name": "x"}});
        assert_eq!(
            row("coordination.k8s.io", "Lease", &lease, now()),
            [json!("x"), json!(""), json!("<unknown>")]
        );
    }

    #[test]
    fn column_definitions_carry_kube_descriptions() {
        let cols = columns("", "Service");
        assert_eq!(
            names(&cols),
            [
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Cluster-IP", "string", 0),
                ("External-IP", "string", 0),
                ("Port(s)", "string", 0),
                ("Age", "string", 0),
                ("Selector", "string", 1)
            ]
        );
        assert_eq!(
            cols[0].to_value(),
            json!({"name": "Name", "type": "string", "format": "name", "description": doc::NAME, "priority": 0})
        );
        assert!(
            cols[5]
                .description
                .contains("RFC3339 form and is in UTC.\n\nPopulated by the system.")
        );
        assert_eq!(
            cols[4].description,
            "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"
        );
        let ev = columns("", "Event");
        assert_eq!(
            names(&ev),
            [
                ("Last Seen", "string", 0),
                ("Type", "string", 0),
                ("Reason", "string", 0),
                ("Object", "string", 0),
                ("Subobject", "string", 1),
                ("Source", "string", 1),
                ("Message", "string", 0),
                ("First Seen", "string", 1),
                ("Count", "string", 1),
                ("Name", "string", 1)
            ]
        );
        assert_eq!(ev[9].format, "name");
        assert_eq!(
            names(&columns("apiextensions.k8s.io", "CustomResourceDefinition")),
            [("Name", "string", 0), ("Created At", "date", 0)]
        );
        assert_eq!(
            names(&columns("discovery.k8s.io", "EndpointSlice")).len(),
            5
        );
        assert_eq!(
            names(&columns("", "Endpoints")),
            [
                ("Name", "string", 0),
                ("Endpoints", "string", 0),
                ("Age", "string", 0)
            ]
        );
    }

    #[test]
    fn services_print_like_kube() {
        let base = |spec: Value, status: Value| {
            json!({
                "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2025-06-01T08:20:00Z"},
                "spec": spec, "status": status
            })
        };
        let svc = base(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
                   "selector": {"k8s-app": "kube-dns", "app": "x"}}),
            json!({}),
        );
        assert_eq!(
            row("", "Service", &svc, now()),
            [
                json!("web"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("53/UDP,53/TCP"),
                json!("3h40m"),
                json!("app=x,k8s-app=kube-dns")
            ]
        );
        let svc = base(
            json!({"type": "NodePort", "clusterIPs": ["10.0.0.5", "fd00::5"], "externalIPs": ["1.2.3.4"],
                   "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        );
        let r = row("", "Service", &svc, now());
        assert_eq!(
            (&r[2], &r[3], &r[4], &r[6]),
            (
                &json!("10.0.0.5"),
                &json!("1.2.3.4"),
                &json!("80:30080/TCP"),
                &json!("<none>")
            )
        );
        let svc = base(
            json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.6"], "ports": []}),
            json!({"loadBalancer": {}}),
        );
        let r = row("", "Service", &svc, now());
        assert_eq!((&r[3], &r[4]), (&json!("<pending>"), &json!("<none>")));
        let svc = base(
            json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.6"], "externalIPs": ["9.9.9.9"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "a-very-long-load-balancer.example.com"}, {"ip": "203.0.113.7"}]}}),
        );
        assert_eq!(
            row("", "Service", &svc, now())[3],
            json!("203.0.113.7,a-very-long-load-balancer.example.com,9.9.9.9")
        );
        let svc = base(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        let r = row("", "Service", &svc, now());
        assert_eq!((&r[2], &r[3]), (&json!("<none>"), &json!("db.example.com")));
        let svc = base(json!({"clusterIP": "None"}), json!({}));
        let r = row("", "Service", &svc, now());
        assert_eq!(
            (&r[1], &r[2], &r[3]),
            (&json!(""), &json!("None"), &json!("<unknown>"))
        );
    }

    #[test]
    fn selectors_sort_as_joined_pairs() {
        let sel = json!({"a": "y", "a.b": "x", "b": "1", "a-c": "z"});
        assert_eq!(format_labels(Some(&sel)), "a-c=z,a.b=x,a=y,b=1");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn endpoints_truncate_like_kube() {
        let ep = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:59:00Z"},
            "subsets": [
                {"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.1.7"}], "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]},
                {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 443}]}
            ]
        });
        assert_eq!(
            row("", "Endpoints", &ep, now()),
            [
                json!("web"),
                json!("10.244.0.5:8080,10.244.1.7:8080,10.244.0.5:9090 + 2 more..."),
                json!("60s")
            ]
        );
        let ep = json!({"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 443}]}, {"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(
            row("", "Endpoints", &ep, now())[1],
            json!("[fd00::1]:443,10.0.0.1")
        );
        assert_eq!(
            row("", "Endpoints", &json!({"metadata": {"name": "e"}}), now())[1],
            json!("<none>")
        );
        assert_eq!(
            row("", "Endpoints", &json!({"subsets": [{}]}), now())[1],
            json!("")
        );
    }

    #[test]
    fn endpointslices_print_like_kube() {
        let s = json!({
            "metadata": {"name": "web-abc12", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "named"}, {}, {"port": 9}],
            "endpoints": [{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2", "10.1.0.3", "10.1.0.4"]}]
        });
        assert_eq!(
            row("discovery.k8s.io", "EndpointSlice", &s, now()),
            [
                json!("web-abc12"),
                json!("IPv4"),
                json!("80,named,* + 1 more..."),
                json!("10.1.0.1,10.1.0.2,10.1.0.3 + 1 more..."),
                json!("60m")
            ]
        );
        let s = json!({"metadata": {"name": "e"}, "addressType": "IPv6", "ports": null});
        let r = row("discovery.k8s.io", "EndpointSlice", &s, now());
        assert_eq!((&r[2], &r[3]), (&json!("<unset>"), &json!("<unset>")));
    }

    #[test]
    fn events_print_like_kube() {
        let ev = json!({
            "metadata": {"name": "web-0.17d8a", "namespace": "default", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "message": "  Successfully pulled image \"nginx\"\n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2025-06-01T11:00:00Z", "lastTimestamp": "2025-06-01T11:55:00Z",
            "count": 4, "type": "Normal"
        });
        assert_eq!(
            row("", "Event", &ev, now()),
            [
                json!("5m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-0"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node-1"),
                json!("Successfully pulled image \"nginx\""),
                json!("60m"),
                json!(4),
                json!("web-0.17d8a")
            ]
        );
        // A new-style event: eventTime, no count, series.
        let ev = json!({
            "metadata": {"name": "e2"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2025-06-01T11:58:00.123456Z", "reportingComponent": "scheduler", "reportingInstance": "s-1",
            "type": "Warning", "reason": "FailedScheduling", "message": "0/3 nodes"
        });
        assert_eq!(
            row("", "Event", &ev, now()),
            [
                json!("119s"),
                json!("Warning"),
                json!("FailedScheduling"),
                json!("node"),
                json!(""),
                json!("scheduler, s-1"),
                json!("0/3 nodes"),
                json!("119s"),
                json!(1),
                json!("e2")
            ]
        );
        let ev = json!({"metadata": {"name": "e3"}, "eventTime": "2025-06-01T11:00:00Z",
                        "series": {"count": 7, "lastObservedTime": "2025-06-01T11:59:30.000000Z"}, "involvedObject": {"kind": "Pod", "name": "p"}});
        let r = row("", "Event", &ev, now());
        assert_eq!(
            (&r[0], &r[7], &r[8]),
            (&json!("30s"), &json!("60m"), &json!(7))
        );
        // The same event through events.k8s.io/v1.
        let ev = json!({"metadata": {"name": "e4"}, "regarding": {"kind": "Deployment", "name": "web"}, "note": "Scaled up",
                        "reportingController": "deployment-controller", "reason": "ScalingReplicaSet", "type": "Normal",
                        "deprecatedFirstTimestamp": "2025-06-01T10:00:00Z", "deprecatedLastTimestamp": "2025-06-01T11:00:00Z", "deprecatedCount": 2});
        assert_eq!(
            row("events.k8s.io", "Event", &ev, now()),
            [
                json!("60m"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up"),
                json!("120m"),
                json!(2),
                json!("e4")
            ]
        );
        let r = row("", "Event", &json!({}), now());
        assert_eq!(
            (&r[0], &r[3], &r[7], &r[8]),
            (
                &json!("<unknown>"),
                &json!(""),
                &json!("<unknown>"),
                &json!(1)
            )
        );
    }

    #[test]
    fn default_printer_prints_created_at() {
        let crd = json!({"metadata": {"name": "crontabs.stable.example.com", "creationTimestamp": "2025-05-01T10:00:00+02:00"}});
        assert_eq!(
            row(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &crd,
                now()
            ),
            [
                json!("crontabs.stable.example.com"),
                json!("2025-05-01T08:00:00Z")
            ]
        );
        assert_eq!(
            row("apps", "Deployment", &json!({}), now()),
            [json!(""), json!("0001-01-01T00:00:00Z")]
        );
    }

    #[test]
    fn odd_objects_never_panic() {
        let odd = [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!({"metadata": 5}),
            json!({"metadata": {"name": 5, "creationTimestamp": 7}}),
            json!({"spec": {"ports": [1, {"port": "x", "nodePort": -1}], "clusterIPs": [null], "externalIPs": [1], "type": "LoadBalancer", "selector": {"a": 1}},
                   "status": {"loadBalancer": {"ingress": [1, {}]}}}),
            json!({"subsets": [{"addresses": [1, {"ip": 3}], "ports": [{"port": 1e30}]}]}),
            json!({"series": {}, "involvedObject": "x", "source": [], "count": "many", "eventTime": "nope"}),
            json!({"ports": {"a": 1}, "endpoints": [{"addresses": [null, 1]}], "data": "str", "secrets": 4}),
        ];
        for g in [
            "",
            "events.k8s.io",
            "discovery.k8s.io",
            "coordination.k8s.io",
            "apps",
        ] {
            for k in [
                "Namespace",
                "ConfigMap",
                "Secret",
                "ServiceAccount",
                "Service",
                "Endpoints",
                "Event",
                "EndpointSlice",
                "Lease",
                "Thing",
            ] {
                for o in &odd {
                    let cells = row(g, k, o, now());
                    assert_eq!(cells.len(), columns(g, k).len(), "{g}/{k}");
                }
            }
        }
    }

    #[test]
    fn crd_columns_like_kube() {
        let cols = json!([
            {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "description": "How many", "priority": 1},
            {"name": "Ratio", "type": "number", "jsonPath": ".status.ratio", "format": "double"},
            {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {"name": "Cond", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Obj", "type": "string", "jsonPath": ".spec.selector"},
            {"name": "Null", "type": "string", "jsonPath": ".spec.nothing"},
            {"name": "Missing", "type": "string", "jsonPath": ".spec.missing"},
            {"name": "WrongType", "type": "integer", "jsonPath": ".spec.cronSpec"},
            {"name": "BadDate", "type": "date", "jsonPath": ".spec.cronSpec"}
        ]);
        let p = crd_columns(&cols).unwrap();
        let c = p.columns();
        assert_eq!((c[0].name.as_str(), c[0].format.as_str()), ("Name", "name"));
        assert_eq!(
            c[1].description,
            "Custom resource definition column (in JSONPath format): .spec.cronSpec"
        );
        assert_eq!((c[2].description.as_str(), c[2].priority), ("How many", 1));
        assert_eq!(
            (c[3].type_.as_str(), c[3].format.as_str()),
            ("number", "double")
        );
        let ct = json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-new-cron-object", "creationTimestamp": "2025-06-01T11:57:30Z"},
            "spec": {"cronSpec": "* * * * */5", "replicas": 3.7, "selector": {"app": "<x>"}, "nothing": null},
            "status": {"ratio": 2, "ready": true, "conditions": [{"type": "Ready", "status": "True"}]}
        });
        assert_eq!(
            p.row(&ct, now()),
            [
                json!("my-new-cron-object"),
                json!("* * * * */5"),
                json!(3),
                json!(2),
                json!(true),
                json!("2m30s"),
                json!("True"),
                json!("{\"app\":\"\\u003cx\\u003e\"}"),
                json!("<no value>"),
                Value::Null,
                Value::Null,
                json!("<invalid>")
            ]
        );
        // No printer columns: NAME and AGE (a date column).
        let p = crd_columns(&Value::Null).unwrap();
        assert_eq!(
            names(p.columns()),
            [("Name", "string", 0), ("Age", "date", 0)]
        );
        assert_eq!(p.columns()[1].description, doc::CREATION_TIMESTAMP);
        assert_eq!(
            p.row(&ct, now()),
            [json!("my-new-cron-object"), json!("2m30s")]
        );
        assert_eq!(
            p.row(&json!({"metadata": {"creationTimestamp": ""}}), now()),
            [json!(""), json!("<unknown>")]
        );
        assert_eq!(crd_columns(&json!([])).unwrap().columns().len(), 2);
    }

    #[test]
    fn a_bad_column_keeps_the_columns_before_it() {
        let cols = json!([
            {"name": "A", "type": "string", "jsonPath": ".a"},
            {"name": "B", "type": "string", "jsonPath": ".b[x]"},
            {"name": "C", "type": "string", "jsonPath": ".c"}
        ]);
        let err = crd_columns(&cols).unwrap_err();
        assert_eq!(err.to_string(), "unrecognized column definition \".b[x]\"");
        let TableError::InvalidColumn { served, .. } = err else {
            panic!()
        };
        assert_eq!(
            names(served.columns()),
            [("Name", "string", 0), ("A", "string", 0)]
        );
        assert_eq!(served.row(&json!({"a": 1}), now()), [json!(""), json!("1")]);
    }

    #[test]
    fn printer_column_validation_reads_like_kube() {
        let cols = json!([
            {"name": "", "type": "", "jsonPath": ""},
            {"name": "x", "type": "int", "format": "uuid", "jsonPath": "spec.x"},
            {"name": "ok", "type": "date", "format": "date-time", "jsonPath": ".metadata.creationTimestamp"}
        ]);
        let p = Path::new("spec")
            .child("versions")
            .index(0)
            .child("additionalPrinterColumns");
        let errs: Vec<String> = validate_printer_columns(&cols, &p)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "spec.versions[0].additionalPrinterColumns[0].name: Required value",
                "spec.versions[0].additionalPrinterColumns[0].type: Required value: must be one of boolean,date,integer,number,string",
                "spec.versions[0].additionalPrinterColumns[0].JSONPath: Required value",
                "spec.versions[0].additionalPrinterColumns[1].type: Invalid value: \"int\": must be one of boolean,date,integer,number,string",
                "spec.versions[0].additionalPrinterColumns[1].format: Invalid value: \"uuid\": must be one of byte,date,date-time,double,float,int32,int64,password",
                "spec.versions[0].additionalPrinterColumns[1].JSONPath: Invalid value: \"spec.x\": must be a simple json path starting with .",
            ]
        );
    }

    #[test]
    fn whole_tables() {
        let ns = |n: &str, rv: &str| {
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": n, "resourceVersion": rv, "uid": "u-1", "creationTimestamp": "2025-06-01T11:00:00Z",
                             "labels": {"kubernetes.io/metadata.name": n}, "managedFields": [{"manager": "kube-apiserver"}]},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}
            })
        };
        let meta = ListMeta {
            resource_version: "42".into(),
            continue_: "abc".into(),
            remaining_item_count: Some(3),
        };
        let t = Printer::Namespace.table(
            [ns("default", "10"), ns("dev", "11")],
            &meta,
            IncludeObject::Metadata,
            MetaVersion::V1,
            true,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "42", "continue": "abc", "remainingItemCount": 3})
        );
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 3);
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "60m"]));
        assert_eq!(
            t["rows"][1]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"name": "dev", "resourceVersion": "11", "uid": "u-1", "creationTimestamp": "2025-06-01T11:00:00Z",
                                "labels": {"kubernetes.io/metadata.name": "dev"}, "managedFields": [{"manager": "kube-apiserver"}]}})
        );
        let t = Printer::Namespace.table(
            [ns("a", "1")],
            &ListMeta::default(),
            IncludeObject::None,
            MetaVersion::V1Beta1,
            false,
            now(),
        );
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["metadata"], json!({}));
        assert_eq!(t["columnDefinitions"], Value::Null);
        assert_eq!(t["rows"][0]["object"], Value::Null);
        let t = Printer::Namespace.table(
            [ns("a", "1")],
            &ListMeta::default(),
            IncludeObject::Object,
            MetaVersion::V1,
            true,
            now(),
        );
        assert_eq!(
            t["rows"][0]["object"]["spec"]["finalizers"],
            json!(["kubernetes"])
        );
        // Empty lists: the printers say [], kube's default convertor null.
        let t = Printer::Namespace.table(
            [],
            &ListMeta::default(),
            IncludeObject::Metadata,
            MetaVersion::V1,
            true,
            now(),
        );
        assert_eq!(t["rows"], json!([]));
        let t = Printer::Default.table(
            [],
            &ListMeta::default(),
            IncludeObject::Metadata,
            MetaVersion::V1,
            true,
            now(),
        );
        assert_eq!(t["rows"], Value::Null);
        let p = crd_columns(&Value::Null).unwrap();
        let t = p.table(
            [],
            &ListMeta::default(),
            IncludeObject::Metadata,
            MetaVersion::V1,
            true,
            now(),
        );
        assert_eq!(t["rows"], json!([]));
    }

    #[test]
    fn partial_object_metadata_forms() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d", "bogus": 1}, "data": {"a": "b"}});
        assert_eq!(
            partial_object_metadata(cm.clone(), MetaVersion::V1),
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "c", "namespace": "d", "creationTimestamp": null}})
        );
        let meta = ListMeta {
            resource_version: "9".into(),
            ..ListMeta::default()
        };
        let list = partial_object_metadata_list([cm], &meta, MetaVersion::V1Beta1);
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(list["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(list["metadata"], json!({"resourceVersion": "9"}));
        assert_eq!(list["items"][0]["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(
            partial_object_metadata_list([], &meta, MetaVersion::V1)["items"],
            Value::Null
        );
        assert_eq!(
            partial_object_metadata(json!("junk"), MetaVersion::V1)["metadata"],
            json!({"creationTimestamp": null})
        );
        assert_eq!(
            TableError::partial_of_list("*core.ConfigMapList").to_string(),
            "you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)"
        );
        assert_eq!(
            TableError::partial_list_of_object("*core.ConfigMap").code(),
            406
        );
    }

    #[test]
    fn watch_tables_send_headers_once() {
        let cols = columns("", "Namespace");
        let mut w = TableWatch::new(IncludeObject::Metadata, MetaVersion::V1);
        let ns = json!({"metadata": {"name": "a", "resourceVersion": "7"}, "status": {"phase": "Active"}});
        let first = w.event_object(&cols, row("", "Namespace", &ns, now()), ns.clone());
        assert_eq!(first["columnDefinitions"].as_array().unwrap().len(), 3);
        assert_eq!(first["metadata"], json!({"resourceVersion": "7"}));
        assert_eq!(first["rows"].as_array().unwrap().len(), 1);
        let second = w.event_object(&cols, row("", "Namespace", &ns, now()), ns.clone());
        assert_eq!(second["columnDefinitions"], Value::Null);
        let mut w = TableWatch::new(IncludeObject::None, MetaVersion::V1);
        w.pass_through();
        assert_eq!(
            w.event_object(&cols, vec![], ns)["columnDefinitions"],
            Value::Null
        );
    }

    #[test]
    fn include_object_parsing() {
        assert_eq!(IncludeObject::parse(None).unwrap(), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::parse(Some("")).unwrap(),
            IncludeObject::Metadata
        );
        assert_eq!(
            IncludeObject::parse(Some("None")).unwrap(),
            IncludeObject::None
        );
        assert_eq!(
            IncludeObject::parse(Some("Object")).unwrap(),
            IncludeObject::Object
        );
        let err = IncludeObject::parse(Some("unrecognized")).unwrap_err();
        assert_eq!(err.code(), 400);
        assert_eq!(
            err.to_string(),
            "Unable to convert to Table as requested: includeObject: Invalid value: \"unrecognized\": must be 'Metadata', 'Object', 'None', or empty"
        );
    }

    const BUILTIN: Endpoint<'static> = Endpoint {
        media_types: KUBE_MEDIA_TYPES,
        untransformed: None,
        tables: true,
    };
    const CRD: Endpoint<'static> = Endpoint {
        media_types: KUBE_MEDIA_TYPES,
        untransformed: Some(CRD_MEDIA_TYPES),
        tables: true,
    };

    #[test]
    fn negotiation_like_kube() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        let n = negotiate(Some(kubectl), &BUILTIN).unwrap();
        assert_eq!(
            (n.media_type.as_str(), n.target),
            ("application/json", Target::Table(MetaVersion::V1))
        );
        let n = negotiate(
            Some("application/json;as=Table;g=meta.k8s.io;v=v1beta1"),
            &BUILTIN,
        )
        .unwrap();
        assert_eq!(n.target, Target::Table(MetaVersion::V1Beta1));
        let n = negotiate(None, &BUILTIN).unwrap();
        assert_eq!(
            (n.media_type.as_str(), n.target),
            ("application/json", Target::Object)
        );
        let n = negotiate(Some("application/yaml"), &BUILTIN).unwrap();
        assert_eq!(n.media_type, "application/yaml");
        let n = negotiate(
            Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
            ),
            &BUILTIN,
        )
        .unwrap();
        assert_eq!(n.target, Target::PartialObjectMetadataList(MetaVersion::V1));
        let n = negotiate(Some("application/vnd.kubernetes.protobuf, */*"), &BUILTIN).unwrap();
        assert_eq!(n.media_type, "application/vnd.kubernetes.protobuf");
        // Quality first, then specificity.
        let n = negotiate(
            Some("application/yaml;q=0.5, application/json;q=0.9"),
            &BUILTIN,
        )
        .unwrap();
        assert_eq!(n.media_type, "application/json");
        let n = negotiate(Some("*/*;q=1, application/yaml"), &BUILTIN).unwrap();
        assert_eq!(n.media_type, "application/yaml");
        let n = negotiate(Some("application/json;pretty=1;stream=watch"), &BUILTIN).unwrap();
        assert!(n.pretty);
        assert_eq!(n.stream.as_deref(), Some("watch"));
        // Tables are never protobuf.
        let err = negotiate(
            Some("application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1beta1"),
            &BUILTIN,
        )
        .unwrap_err();
        assert_eq!(err.code(), 406);
        assert_eq!(
            err.to_string(),
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        );
        for bad in [
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1alpha1",
            "application/json;as=PartialObjectMetadata;g=k8s.io;v=v1beta1",
            "application/json;as=PartialObject;g=meta.k8s.io;v=v1beta1",
            "application/json;g=meta.k8s.io;v=v1beta1",
            "text/plain",
            " ",
            "application/json;stream=bogus",
            "application/yaml;stream=watch",
            "application/json;sv=v2",
        ] {
            assert!(
                matches!(
                    negotiate(Some(bad), &BUILTIN),
                    Err(TableError::NotAcceptable(_))
                ),
                "{bad}"
            );
        }
        // Custom resources: protobuf only when converted.
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf"), &CRD).is_err());
        let n = negotiate(
            Some("application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
            &CRD,
        )
        .unwrap();
        assert_eq!(n.target, Target::PartialObjectMetadata(MetaVersion::V1));
        // Watches need a stream encoder: no YAML.
        let err = negotiate_watch(
            Some("application/yaml;as=Table;g=meta.k8s.io;v=v1beta1"),
            &CRD,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch"
        );
        assert!(negotiate_watch(Some(kubectl), &BUILTIN).is_ok());
    }

    #[test]
    fn accept_headers_of_any_shape_never_panic() {
        for h in [
            ",,,",
            ";;;",
            "/",
            "a/b/c",
            "*",
            "*/*;q=abc",
            "application/json;q",
            "é/ü;as=Table",
            "application/json;as=Table;g=meta.k8s.io;v=v1;as=PartialObjectMetadata",
            &"x,".repeat(1000),
        ] {
            let _ = negotiate(Some(h), &BUILTIN);
            let _ = negotiate_watch(Some(h), &CRD);
        }
        assert!(
            negotiate(
                Some("x"),
                &Endpoint {
                    media_types: &[],
                    untransformed: None,
                    tables: false
                }
            )
            .is_err()
        );
        assert!(
            negotiate(
                None,
                &Endpoint {
                    media_types: &[],
                    untransformed: None,
                    tables: false
                }
            )
            .is_err()
        );
    }

    #[test]
    fn ten_thousand_rows_are_fast() {
        let objects: Vec<Value> = (0..10_000)
            .map(|i| json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("svc-{i}"), "namespace": "default", "uid": format!("uid-{i}"), "resourceVersion": i.to_string(),
                             "creationTimestamp": "2025-06-01T08:20:00Z", "labels": {"app": "web", "tier": "frontend"},
                             "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                                                "fieldsV1": {"f:spec": {"f:ports": {}, "f:selector": {}}}}]},
                "spec": {"type": "NodePort", "clusterIP": "10.96.1.1", "clusterIPs": ["10.96.1.1"],
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}],
                         "selector": {"app": "web"}},
                "status": {"loadBalancer": {}}
            }))
            .collect();
        let crd = crd_columns(&json!([
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Port", "type": "integer", "jsonPath": ".spec.ports[0].port"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
        ]))
        .unwrap();
        let started = std::time::Instant::now();
        let t = Printer::Service.table(
            objects.clone(),
            &ListMeta::default(),
            IncludeObject::Metadata,
            MetaVersion::V1,
            true,
            now(),
        );
        let t2 = crd.table(
            objects,
            &ListMeta::default(),
            IncludeObject::Metadata,
            MetaVersion::V1,
            true,
            now(),
        );
        let elapsed = started.elapsed();
        eprintln!("two 10,000-row tables: {elapsed:?}");
        assert_eq!(t["rows"].as_array().unwrap().len(), 10_000);
        assert_eq!(
            t2["rows"][9999]["cells"],
            json!(["svc-9999", "NodePort", 80, "3h40m"])
        );
        // Two tables of 10,000 rows; unoptimised test builds are several
        // times slower than release, hence the margin.
        assert!(
            elapsed.as_millis() < if cfg!(debug_assertions) { 3000 } else { 300 },
            "{elapsed:?}"
        );
    }
}
