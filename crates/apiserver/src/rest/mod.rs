//! The resource endpoints: from a URL and method to a verb on a resource.
//!
//! Paths follow kube's layout:
//! `/api/v1/[namespaces/{ns}/]{resource}[/{name}[/{subresource}]]` for the
//! core group and `/apis/{group}/{version}/…` for the others. The verb
//! comes from the method, whether a name is given, and `?watch`.

mod read;
mod represent;
mod scale;
mod watch;
pub(crate) mod write;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};

use crate::api::Api;
use crate::error::ApiError;
use crate::http::{Body, Query};
use crate::resource::ResourceType;

/// Namespace subresources that are not resources of their own.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// What a resource URL names.
#[derive(Clone, Debug)]
pub struct Target {
    /// The resource.
    pub resource: Arc<ResourceType>,
    /// The namespace in the URL, if any.
    pub namespace: Option<String>,
    /// The object's name, if the URL names one.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`), if any.
    pub subresource: Option<String>,
}

/// A request, as the verb handlers see it.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// What the URL names.
    pub target: Target,
    /// The query.
    pub query: Query,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The `Accept` header.
    pub accept: String,
    /// The body.
    pub body: Bytes,
}

/// Parses the part of a path after `/api/v1/` or `/apis/{g}/{v}/`.
pub fn target(api: &Api, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let resources = api.registry.snapshot();
    let mut parts = rest;
    let mut namespace = None;
    if parts.first() == Some(&"namespaces") && parts.len() > 1 {
        namespace = Some(parts[1].to_string());
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
            parts = &parts[2..];
        }
    }
    let (resource, name, subresource) = match parts {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(n.to_string()), None),
        [r, n, s] => (*r, Some(n.to_string()), Some(s.to_string())),
        _ => return Err(ApiError::NoResource),
    };
    let rt = resources
        .get(group, version, resource)
        .cloned()
        .ok_or(ApiError::NoResource)?;
    // `namespaces/{name}` names a namespace, not a namespace's collection.
    if rt.resource == "namespaces" {
        return Ok(Target {
            resource: rt,
            namespace: None,
            name: name.or(namespace),
            subresource,
        });
    }
    if !rt.namespaced && namespace.is_some() {
        return Err(ApiError::NoResource);
    }
    if let Some(sub) = &subresource {
        let served = match sub.as_str() {
            "status" => rt.status_subresource,
            "scale" => rt.scale().is_some(),
            _ => false,
        };
        if !served {
            return Err(ApiError::NoResource);
        }
    }
    Ok(Target {
        resource: rt,
        namespace,
        name,
        subresource,
    })
}

/// Runs the verb a request asks for.
pub async fn handle(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    // kube warns about a deprecated version on every request made to it.
    let deprecation = req
        .target
        .resource
        .custom
        .as_ref()
        .and_then(|c| c.deprecation.clone());
    let resp = verb(api, req).await?;
    Ok(match deprecation {
        Some(warning) => with_warnings(resp, &[warning]),
        None => resp,
    })
}

async fn verb(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let has_name = req.target.name.is_some();
    if req.target.subresource.as_deref() == Some("scale") {
        // The Scale of one object: read, replaced or patched, nothing else.
        return match req.method {
            Method::GET => scale::get(api, req).await,
            Method::PUT => scale::update(api, req).await,
            Method::PATCH => scale::patch(api, req).await,
            _ => Err(scale::not_supported(&req)),
        };
    }
    match req.method {
        Method::GET if req.query.flag("watch")? => watch::watch(api, req).await,
        Method::GET if has_name => read::get(api, req).await,
        Method::GET => read::list(api, req).await,
        Method::POST if !has_name => write::create(api, req).await,
        Method::PUT if has_name => write::update(api, req).await,
        Method::PATCH if has_name => write::patch(api, req).await,
        Method::DELETE if has_name => write::delete(api, req).await,
        Method::DELETE => write::delete_collection(api, req).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Adds kube's `Warning` headers (`299 - "<text>"`).
pub(crate) fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - {}", crate::field::go_quote(w));
        if let Ok(value) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, value);
        }
    }
    resp
}
