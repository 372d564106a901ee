//! Which representation a client asked for (`Accept`): the object itself,
//! a `Table` (what `kubectl get` prints), or `PartialObjectMetadata`.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;

use super::Request;
use super::read::{ListPage, list_response};
use crate::error::ApiError;
use crate::http::{Body, json_response};
use crate::resource::{ResourceType, Special};
use crate::table::{self, IncludeObject, ListMeta, Printer, TableError, Target};

/// The media types this server encodes. Listing only what it really
/// writes keeps negotiation honest: a client that accepts protobuf and
/// JSON gets JSON.
const MEDIA_TYPES: &[&str] = &["application/json"];

/// What to answer with.
#[derive(Debug, Clone, Copy)]
pub struct Representation {
    /// The conversion asked for.
    pub target: Target,
    /// How much of each object a Table row carries.
    pub include: IncludeObject,
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> ApiError {
        match e {
            TableError::NotAcceptable(_) | TableError::CannotConvert(_) => {
                ApiError::NotAcceptable(e.to_string())
            }
            TableError::BadRequest(m) => ApiError::BadRequest(m),
            TableError::InvalidColumn { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

/// Reads the request's `Accept` and `includeObject`.
pub fn negotiate(req: &Request, watch: bool) -> Result<Representation, ApiError> {
    let endpoint = table::Endpoint {
        media_types: MEDIA_TYPES,
        untransformed: None,
        tables: true,
    };
    let accept = Some(req.accept.as_str()).filter(|a| !a.is_empty());
    let n = if watch {
        table::negotiate_watch(accept, &endpoint)?
    } else {
        table::negotiate(accept, &endpoint)?
    };
    let include = IncludeObject::parse(req.query.get("includeObject"))?;
    Ok(Representation {
        target: n.target,
        include,
    })
}

/// The Go type kube names in conversion errors (`*core.ConfigMap`).
fn go_type(rt: &ResourceType, list: bool) -> String {
    let suffix = if list { "List" } else { "" };
    if matches!(rt.special, Special::Custom { .. }) {
        return format!("*unstructured.Unstructured{suffix}");
    }
    let package = rt
        .group
        .split('.')
        .next()
        .filter(|g| !g.is_empty())
        .unwrap_or("core");
    format!("*{package}.{}{suffix}", rt.kind)
}

/// The printer of a kind: kube's for a built-in kind, the CRD's printer
/// columns for a custom resource.
#[derive(Debug, Clone, Copy)]
pub(super) enum KindPrinter<'a> {
    /// A built-in kind's printer.
    Builtin(Printer),
    /// A custom resource version's columns.
    Custom(&'a table::CrdPrinter),
}

impl KindPrinter<'_> {
    fn columns(self) -> Vec<table::ColumnDefinition> {
        match self {
            KindPrinter::Builtin(p) => p.columns(),
            KindPrinter::Custom(p) => p.columns().to_vec(),
        }
    }

    fn row(self, v: &Value, now: OffsetDateTime) -> Vec<Value> {
        match self {
            KindPrinter::Builtin(p) => p.row(v, now),
            KindPrinter::Custom(p) => p.row(v, now),
        }
    }

    fn table(
        self,
        objects: impl IntoIterator<Item = Value>,
        meta: &ListMeta,
        include: IncludeObject,
        version: table::MetaVersion,
    ) -> Value {
        let now = OffsetDateTime::now_utc();
        match self {
            KindPrinter::Builtin(p) => p.table(objects, meta, include, version, true, now),
            KindPrinter::Custom(p) => p.table(objects, meta, include, version, true, now),
        }
    }
}

/// The printer of a kind.
pub(super) fn printer(rt: &ResourceType) -> KindPrinter<'_> {
    match &rt.custom {
        Some(custom) => KindPrinter::Custom(&custom.printer),
        None => KindPrinter::Builtin(Printer::for_kind(&rt.group, &rt.kind)),
    }
}

/// Converts one watch event's object to the representation asked for;
/// `None` when no conversion is asked for.
pub fn watch_object(
    rt: &ResourceType,
    v: &Value,
    rep: Representation,
    table_watch: &mut table::TableWatch,
) -> Option<Value> {
    match rep.target {
        Target::Object | Target::PartialObjectMetadataList(_) => None,
        Target::Table(_) => {
            let p = printer(rt);
            let cells = p.row(v, OffsetDateTime::now_utc());
            Some(table_watch.event_object(&p.columns(), cells, v.clone()))
        }
        Target::PartialObjectMetadata(version) => {
            Some(table::partial_object_metadata(v.clone(), version))
        }
    }
}

/// Answers one object in the representation asked for.
pub fn object(
    rt: &ResourceType,
    v: Value,
    rep: Representation,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let out = match rep.target {
        Target::Object => v,
        Target::Table(version) => {
            let meta = ListMeta::of_object(&v);
            printer(rt).table(std::iter::once(v), &meta, rep.include, version)
        }
        Target::PartialObjectMetadata(version) => table::partial_object_metadata(v, version),
        Target::PartialObjectMetadataList(_) => {
            return Err(TableError::partial_list_of_object(&go_type(rt, false)).into());
        }
    };
    Ok(json_response(status, &out))
}

/// Answers a list in the representation asked for.
pub fn list(
    rt: &ResourceType,
    page: ListPage,
    rep: Representation,
) -> Result<Response<Body>, ApiError> {
    let parse = |items: &[Bytes]| -> Vec<Value> {
        items
            .iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .map(|mut v| {
                rt.serve(&mut v);
                v
            })
            .collect()
    };
    let meta = ListMeta {
        resource_version: page.revision.to_string(),
        continue_: page.cont.clone().unwrap_or_default(),
        remaining_item_count: page.remaining,
    };
    let out = match rep.target {
        Target::Object => return Ok(list_response(rt, page)),
        Target::Table(version) => {
            printer(rt).table(parse(&page.items), &meta, rep.include, version)
        }
        Target::PartialObjectMetadataList(version) => {
            table::partial_object_metadata_list(parse(&page.items), &meta, version)
        }
        Target::PartialObjectMetadata(_) => {
            return Err(TableError::partial_of_list(&go_type(rt, true)).into());
        }
    };
    Ok(json_response(StatusCode::OK, &out))
}
