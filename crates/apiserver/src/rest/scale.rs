//! The `scale` subresource of custom resources, as apiextensions-apiserver
//! serves it: an `autoscaling/v1` `Scale` made from the fields the CRD
//! version's `specReplicasPath`, `statusReplicasPath` and
//! `labelSelectorPath` point at.
//!
//! A read builds the Scale from the object. A replace or patch edits the
//! Scale of the object as it is now, then writes the Scale's
//! `spec.replicas` (and nothing else) back into the object, as an update of
//! the object itself: its validation applies, its generation counts the
//! change, and a `resourceVersion` in the Scale is a precondition on the
//! object. The values the paths point at are also checked on every write
//! of the object ([`validate_custom_resource`]).

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::Request;
use super::read::served;
use super::with_warnings;
use super::write::{self, Next};
use crate::api::Api;
use crate::crd::ScaleSubresource;
use crate::error::ApiError;
use crate::field::{FieldError, go_quote};
use crate::http::{Body, json_response};
use crate::object;
use crate::patch::{FieldValidation, PatchType};
use crate::protobuf;
use crate::resource::ResourceType;

/// The apiVersion of the Scale every custom resource's `/scale` serves.
const SCALE_API_VERSION: &str = "autoscaling/v1";

/// Its kind.
const SCALE_KIND: &str = "Scale";

/// The replicas kube puts in the Scale a patch is applied to when the
/// object has none at its spec path, so that a patch that sets none can be
/// told from one that sets 0.
const UNSET_REPLICAS: i64 = i32::MIN as i64;

/// GET of an object's Scale.
pub async fn get(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rep = super::represent::negotiate(&req, false)?;
    let rt = &req.target.resource;
    let paths = paths_of(rt)?;
    let name = req.target.name.as_deref().unwrap_or_default();
    let key = rt.key(req.target.namespace.as_deref(), name);
    let (kv, _) = api.storage.get(&key).await.map_err(ApiError::storage)?;
    let kv = kv.ok_or_else(|| write::not_found(rt, name))?;
    let cr = served(rt, write::decode_kv(&kv)?);
    let (scale, found) = scale_of(&cr, paths).map_err(unconverted)?;
    if !found {
        return Err(internal(&format!(
            "the spec replicas field {} does not exist",
            go_quote(&paths.spec_replicas_path)
        )));
    }
    // kube's scale endpoint keeps the custom resource's table converter,
    // so a Table of a Scale has the CRD's columns.
    super::represent::object(rt, scale, rep, StatusCode::OK)
}

/// PUT of an object's Scale.
pub async fn update(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    let paths = paths_of(&rt)?.clone();
    let validation = write::field_validation(&req, "UpdateOptions")?;
    let dry_run = write::is_dry_run(&req, "UpdateOptions")?;
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    if ct.eq_ignore_ascii_case(protobuf::MEDIA_TYPE) {
        // The vendored protobuf descriptors have no autoscaling group.
        return Err(ApiError::UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: application/json".to_string(),
        ));
    }
    let (mut body, json_body) = write::decode_object(&req)?;
    write::check_type_as(SCALE_API_VERSION, SCALE_KIND, SCALE_API_VERSION, &mut body)?;
    let schema = scale_schema()?;
    let warnings = write::check_decode_typed(
        &schema,
        SCALE_KIND,
        "v1",
        &mut body,
        validation,
        json_body.as_ref(),
    )?;
    if let Some(o) = body.as_object_mut() {
        o.entry("metadata").or_insert_with(|| json!({}));
    }
    write::check_namespace(&rt, req.target.namespace.as_deref(), &mut body)?;
    let name = req.target.name.clone().unwrap_or_default();
    check_name(&body, &name, None)?;
    // A uid in the Scale is a precondition, checked before anything else.
    let uid = object::meta_str(&body, "uid").to_string();
    let (_, out) = write::guaranteed_update(api, &req, &name, dry_run, |current| {
        let Some(current) = current else {
            return Err(write::not_found(&rt, &name));
        };
        let current_uid = object::meta_str(current, "uid");
        if !uid.is_empty() && uid != current_uid {
            return Err(ApiError::Conflict {
                what: rt.qualified(),
                name: name.clone(),
                why: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {current_uid}"
                ),
            });
        }
        rescale(&rt, &paths, current, |_| Ok(body.clone()))
    })
    .await?;
    respond(&rt, &paths, out, &warnings)
}

/// PATCH of an object's Scale: the patch applies to the Scale, as JSON
/// patch or merge patch.
pub async fn patch(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    let paths = paths_of(&rt)?.clone();
    let dry_run = write::is_dry_run(&req, "PatchOptions")?;
    let kind =
        PatchType::from_content_type(&req.content_type, false).map_err(write::patch_error)?;
    let validation = write::field_validation(&req, "PatchOptions")?;
    let schema = scale_schema()?;
    let name = req.target.name.clone().unwrap_or_default();
    let namespace = req.target.namespace.clone();
    let body = req.body.clone();
    let mut warnings = Vec::new();
    let (_, out) = write::guaranteed_update(api, &req, &name, dry_run, |current| {
        let Some(current) = current else {
            return Err(write::not_found(&rt, &name));
        };
        rescale(&rt, &paths, current, |old| {
            let result = crate::patch::apply(kind, &old, &body, None, validation)
                .map_err(write::patch_error)?;
            let decoded = schema.check_decode(&result.object);
            if let Some(e) = decoded.error {
                return Err(write::patch_error(result.decode_error(&e)));
            }
            let unknown: Vec<String> = decoded
                .unknown_fields
                .iter()
                .map(|p| crate::schema::unknown_field_message(p))
                .collect();
            match validation {
                FieldValidation::Strict
                    if !result.strict_errors.is_empty() || !unknown.is_empty() =>
                {
                    return Err(write::patch_error(result.strict_error(&unknown)));
                }
                FieldValidation::Warn => {
                    warnings = result
                        .strict_errors
                        .iter()
                        .cloned()
                        .chain(unknown)
                        .collect();
                }
                _ => {}
            }
            check_name(&result.object, &name, namespace.as_deref())?;
            Ok(result.object)
        })
    })
    .await?;
    respond(&rt, &paths, out, &warnings)
}

/// kube's 405 for any other verb on `/scale`.
pub fn not_supported(req: &Request) -> ApiError {
    let verb = match req.method {
        http::Method::POST => "create".to_string(),
        ref other => other.as_str().to_lowercase(),
    };
    let rt = &req.target.resource;
    crate::crd::method_not_allowed(
        rt,
        format!(
            "{verb} is not supported on resources of kind {}",
            go_quote(&rt.qualified().text())
        ),
    )
}

/// The scale paths of the resource; the router only sends `/scale` here
/// for versions that have them.
fn paths_of(rt: &ResourceType) -> Result<&ScaleSubresource, ApiError> {
    rt.scale().ok_or(ApiError::NoResource)
}

/// The schema of `autoscaling/v1` `Scale`, which bodies are decoded with.
fn scale_schema() -> Result<crate::schema::Schema, ApiError> {
    crate::schema::Schema::from_builtin::<k8s_openapi::api::autoscaling::v1::Scale>()
        .map_err(|e| ApiError::Internal(format!("the Scale schema does not convert: {e}")))
}

/// kube's check that the object a write carries is the one in the URL;
/// `namespace` is the request's, for a patch.
fn check_name(scale: &Value, name: &str, namespace: Option<&str>) -> Result<(), ApiError> {
    let got = object::name(scale);
    if got != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({got}) does not match the name on the URL ({name})"
        )));
    }
    let got_ns = object::namespace(scale);
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty())
        && !got_ns.is_empty()
        && got_ns != ns
    {
        return Err(ApiError::BadRequest(format!(
            "the namespace of the object ({got_ns}) does not match the namespace on the request ({ns})"
        )));
    }
    Ok(())
}

/// kube's `scaleUpdatedObjectInfo`: `edit` turns the Scale of `current`
/// into the Scale wanted, whose replicas (and resourceVersion, as a
/// precondition) go into the object.
fn rescale(
    rt: &ResourceType,
    paths: &ScaleSubresource,
    current: &Value,
    edit: impl FnOnce(Value) -> Result<Value, ApiError>,
) -> Result<Next, ApiError> {
    // The object as the request's version sees it (defaulted, converted),
    // kept with the apiVersion it is stored under.
    let mut old = served(rt, current.clone());
    if let Some(o) = old.as_object_mut() {
        o.insert("apiVersion".into(), json!(rt.storage_api_version));
    }
    let (mut old_scale, found) = scale_of(&old, paths).map_err(unconverted)?;
    if !found && let Some(spec) = old_scale.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(UNSET_REPLICAS));
    }
    let scale = edit(old_scale)?;
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas == UNSET_REPLICAS {
        return Err(ApiError::BadRequest(format!(
            "the spec replicas field {} cannot be empty",
            go_quote(&paths.spec_replicas_path)
        )));
    }
    let mut cr = old.clone();
    set_nested(&mut cr, &split(&paths.spec_replicas_path), json!(replicas)).map_err(unconverted)?;
    let precondition = object::meta_str(&scale, "resourceVersion");
    if !precondition.is_empty() && precondition != object::meta_str(current, "resourceVersion") {
        return Err(ApiError::Conflict {
            what: rt.qualified(),
            name: object::name(current).to_string(),
            why: write::MODIFIED.into(),
        });
    }
    Ok(Next::Update(write::merge_update(rt, &old, cr, false)))
}

/// The answer to a replace or patch: the Scale of the object written.
fn respond(
    rt: &ResourceType,
    paths: &ScaleSubresource,
    out: Value,
    warnings: &[String],
) -> Result<Response<Body>, ApiError> {
    let (scale, _) = scale_of(&served(rt, out), paths).map_err(ApiError::BadRequest)?;
    Ok(with_warnings(
        json_response(StatusCode::OK, &scale),
        warnings,
    ))
}

/// kube's `scaleFromCustomResource`: the Scale of a custom resource, and
/// whether the object has spec replicas at all. Replicas are read as
/// int64 and cut to int32 as Go's conversion does.
fn scale_of(cr: &Value, paths: &ScaleSubresource) -> Result<(Value, bool), String> {
    let spec = nested_int64(cr, &split(&paths.spec_replicas_path))?;
    let status = nested_int64(cr, &split(&paths.status_replicas_path))?.unwrap_or(0);
    let selector = match &paths.label_selector_path {
        Some(p) => nested_string(cr, &split(p))?.unwrap_or_default(),
        None => String::new(),
    };
    let mut metadata = Map::new();
    for key in ["name", "namespace", "uid", "resourceVersion"] {
        let value = object::meta_str(cr, key);
        if !value.is_empty() {
            metadata.insert(key.into(), json!(value));
        }
    }
    // A zero time is written as null, never left out.
    let created = object::meta(cr)
        .and_then(|m| m.get("creationTimestamp"))
        .cloned()
        .unwrap_or(Value::Null);
    metadata.insert("creationTimestamp".into(), created);
    let mut spec_json = Map::new();
    let spec_replicas = spec.unwrap_or(0) as i32;
    if spec_replicas != 0 {
        spec_json.insert("replicas".into(), json!(spec_replicas));
    }
    let mut status_json = Map::new();
    status_json.insert("replicas".into(), json!(status as i32));
    if !selector.is_empty() {
        status_json.insert("selector".into(), json!(selector));
    }
    let scale = json!({
        "kind": SCALE_KIND,
        "apiVersion": SCALE_API_VERSION,
        "metadata": metadata,
        "spec": spec_json,
        "status": status_json,
    });
    Ok((scale, spec.is_some()))
}

/// kube's `ValidateScaleSpec` and `ValidateScaleStatus`, run on every write
/// of a custom resource whose version has a scale subresource: the
/// replicas must be integers from 0 to 2147483647 and the selector a
/// string. `spec` is false for writes to `/status`, which check only the
/// status fields. Errors name the paths as the CRD writes them.
pub(super) fn validate_custom_resource(
    paths: &ScaleSubresource,
    v: &Value,
    spec: bool,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut replicas = |path: &str| match nested_int64(v, &split(path)) {
        Err(e) => errs.push(FieldError::invalid(path, json!(0), e)),
        Ok(Some(n)) if n < 0 => errs.push(FieldError::invalid(
            path,
            json!(n),
            "should be a non-negative integer",
        )),
        Ok(Some(n)) if n > i64::from(i32::MAX) => errs.push(FieldError::invalid(
            path,
            json!(n),
            format!("should be less than or equal to {}", i32::MAX),
        )),
        Ok(_) => {}
    };
    if spec {
        replicas(&paths.spec_replicas_path);
    }
    replicas(&paths.status_replicas_path);
    if let Some(p) = &paths.label_selector_path
        && let Err(e) = nested_string(v, &split(p))
    {
        errs.push(FieldError::invalid(p.as_str(), json!(""), e));
    }
    errs
}

/// The fields of a simple JSON path (`.spec.replicas`).
fn split(path: &str) -> Vec<&str> {
    path.strip_prefix('.').unwrap_or(path).split('.').collect()
}

/// `.a.b`, as kube's accessors print a path.
fn json_path(fields: &[&str]) -> String {
    format!(".{}", fields.join("."))
}

/// kube's `NestedFieldNoCopy`: the value at `fields`, `None` when a field
/// is missing or a value on the way is null, and an error when a value on
/// the way is not an object.
fn nested<'a>(obj: &'a Value, fields: &[&str]) -> Result<Option<&'a Value>, String> {
    let mut value = obj;
    for (i, field) in fields.iter().enumerate() {
        match value {
            Value::Null => return Ok(None),
            Value::Object(m) => match m.get(*field) {
                Some(next) => value = next,
                None => return Ok(None),
            },
            other => {
                return Err(accessor_error(
                    &fields[..=i],
                    other,
                    "map[string]interface{}",
                ));
            }
        }
    }
    Ok(Some(value))
}

/// kube's `NestedInt64`: only a JSON integer within int64 is one.
fn nested_int64(obj: &Value, fields: &[&str]) -> Result<Option<i64>, String> {
    match nested(obj, fields)? {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| accessor_error(fields, v, "int64")),
    }
}

/// kube's `NestedString`.
fn nested_string(obj: &Value, fields: &[&str]) -> Result<Option<String>, String> {
    match nested(obj, fields)? {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| accessor_error(fields, v, "string")),
    }
}

/// kube's `SetNestedField`: objects are made on the way, and a value on the
/// way that is not an object is an error.
fn set_nested(obj: &mut Value, fields: &[&str], value: Value) -> Result<(), String> {
    let Some((last, way)) = fields.split_last() else {
        return Ok(());
    };
    let mut m = obj
        .as_object_mut()
        .ok_or_else(|| "value cannot be set because the object is not a map".to_string())?;
    for (i, field) in way.iter().enumerate() {
        let next = m
            .entry(field.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        m = next.as_object_mut().ok_or_else(|| {
            format!(
                "value cannot be set because {} is not a map[string]interface{{}}",
                json_path(&way[..=i])
            )
        })?;
    }
    m.insert(last.to_string(), value);
    Ok(())
}

fn accessor_error(fields: &[&str], value: &Value, expected: &str) -> String {
    format!(
        "{} accessor error: {} is of the type {}, expected {expected}",
        json_path(fields),
        crate::jsonpath::go_v(value),
        go_type(value)
    )
}

/// Go's `%T` of the value kube's JSON decoding makes of `v`: `<nil>` for
/// null, since a nil interface has no type, and otherwise the type JSONPath
/// names too.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        other => crate::jsonpath::go_type(other),
    }
}

/// A failure kube's handlers pass on without a status of their own: a 500
/// with no reason.
fn unconverted(message: String) -> ApiError {
    ApiError::Status {
        code: 500,
        status: status_500(message),
    }
}

/// kube's `NewInternalError`.
fn internal(message: &str) -> ApiError {
    let mut status = status_500(format!("Internal error occurred: {message}"));
    status["reason"] = json!("InternalError");
    status["details"] = json!({"causes": [{"message": message}]});
    ApiError::Status { code: 500, status }
}

fn status_500(message: String) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served version of [`crate::crd::scaled_test_crd`].
    fn crontabs() -> Arc<ResourceType> {
        let rt = crate::crd::resource_types(&crate::crd::scaled_test_crd())
            .unwrap()
            .remove(0);
        Arc::new(rt)
    }

    fn object(spec: Value, status: Value) -> Value {
        json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "x", "namespace": "default", "uid": "u-1",
                "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "2026-01-02T03:04:05Z"},
            "spec": spec,
            "status": status,
        })
    }

    fn paths() -> ScaleSubresource {
        crontabs().scale().unwrap().clone()
    }

    #[test]
    fn the_scale_of_an_object() {
        let cr = object(
            json!({"replicas": 3, "image": "nginx"}),
            json!({"replicas": 2, "selector": "app=x"}),
        );
        let (scale, found) = scale_of(&cr, &paths()).unwrap();
        assert!(found);
        assert_eq!(
            scale,
            json!({
                "kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "x", "namespace": "default", "uid": "u-1",
                    "resourceVersion": "7", "creationTimestamp": "2026-01-02T03:04:05Z"},
                "spec": {"replicas": 3},
                "status": {"replicas": 2, "selector": "app=x"},
            })
        );
        // No replicas anywhere: spec.replicas is left out (Go's omitempty),
        // status.replicas is 0, and the caller learns the spec had none.
        let (scale, found) = scale_of(&object(json!({}), json!(null)), &paths()).unwrap();
        assert!(!found);
        assert_eq!(scale["spec"], json!({}));
        assert_eq!(scale["status"], json!({"replicas": 0}));
    }

    #[test]
    fn unreadable_fields_get_kubes_accessor_errors() {
        let p = paths();
        let err = |cr: Value| scale_of(&cr, &p).unwrap_err();
        assert_eq!(
            err(object(json!({"replicas": "three"}), json!({}))),
            ".spec.replicas accessor error: three is of the type string, expected int64"
        );
        assert_eq!(
            err(object(json!([1, 2]), json!({}))),
            ".spec.replicas accessor error: [1 2] is of the type []interface {}, expected map[string]interface{}"
        );
        assert_eq!(
            err(object(json!({"replicas": 1.5}), json!({}))),
            ".spec.replicas accessor error: 1.5 is of the type float64, expected int64"
        );
        assert_eq!(
            err(object(json!({}), json!({"selector": {"a": 1, "b": null}}))),
            ".status.selector accessor error: map[a:1 b:<nil>] is of the type map[string]interface {}, expected string"
        );
        // A null on the way means absent, as in kube.
        assert!(!scale_of(&object(Value::Null, json!({})), &p).unwrap().1);
    }

    #[test]
    fn writes_check_the_scale_fields() {
        let p = paths();
        let msgs = |cr: Value, spec: bool| -> Vec<String> {
            validate_custom_resource(&p, &cr, spec)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert!(msgs(object(json!({"replicas": 0}), json!({"replicas": 5})), true).is_empty());
        assert_eq!(
            msgs(
                object(json!({"replicas": -1}), json!({"replicas": 2147483648_i64})),
                true
            ),
            [
                ".spec.replicas: Invalid value: -1: should be a non-negative integer",
                ".status.replicas: Invalid value: 2147483648: should be less than or equal to 2147483647",
            ]
        );
        // Writes to /status check only the status fields.
        assert_eq!(
            msgs(
                object(json!({"replicas": -1}), json!({"selector": 3})),
                false
            ),
            [
                r#".status.selector: Invalid value: "": .status.selector accessor error: 3 is of the type int64, expected string"#
            ]
        );
        assert_eq!(
            msgs(object(json!({"replicas": "2"}), json!({})), true),
            [
                ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: 2 is of the type string, expected int64"
            ]
        );
    }

    #[test]
    fn a_new_scale_changes_only_the_replicas() {
        let rt = crontabs();
        let p = paths();
        let current = object(json!({"replicas": 1}), json!({"replicas": 1}));
        let Next::Update(new) = rescale(&rt, &p, &current, |mut scale| {
            assert_eq!(scale["spec"]["replicas"], 1);
            scale["spec"]["replicas"] = json!(4);
            scale["status"]["replicas"] = json!(9);
            scale["metadata"]["labels"] = json!({"ignored": "yes"});
            Ok(scale)
        })
        .unwrap() else {
            panic!("no update")
        };
        assert_eq!(new["spec"], json!({"replicas": 4, "image": "busybox"}));
        assert_eq!(new["status"], json!({"replicas": 1}));
        assert_eq!(new["metadata"]["generation"], 3);
        assert!(new["metadata"].get("labels").is_none());
        assert_eq!(new["apiVersion"], "stable.example.com/v1");
    }

    #[test]
    fn scale_preconditions_and_missing_replicas() {
        let rt = crontabs();
        let p = paths();
        let current = object(json!({}), json!({}));
        // The Scale handed to the edit carries kube's marker, and an edit
        // that keeps it is refused.
        let err = rescale(&rt, &p, &current, |scale| {
            assert_eq!(scale["spec"]["replicas"], json!(i32::MIN));
            Ok(scale)
        })
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            r#"the spec replicas field ".spec.replicas" cannot be empty"#
        );
        let Next::Update(new) = rescale(&rt, &p, &current, |mut scale| {
            scale["spec"]["replicas"] = json!(2);
            Ok(scale)
        })
        .unwrap() else {
            panic!("no update")
        };
        assert_eq!(new["spec"]["replicas"], 2);
        // A resourceVersion in the Scale must be the object's.
        let err = rescale(&rt, &p, &current, |mut scale| {
            scale["spec"]["replicas"] = json!(2);
            scale["metadata"]["resourceVersion"] = json!("6");
            Ok(scale)
        })
        .err()
        .unwrap();
        assert_eq!(err.code(), 409);
        assert_eq!(
            err.to_string(),
            "Operation cannot be fulfilled on crontabs.stable.example.com \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
    }

    #[test]
    fn setting_a_nested_field() {
        let mut v = json!({"spec": null});
        assert_eq!(
            set_nested(&mut v, &["spec", "replicas"], json!(1)).unwrap_err(),
            "value cannot be set because .spec is not a map[string]interface{}"
        );
        let mut v = json!({});
        set_nested(&mut v, &["spec", "a", "replicas"], json!(1)).unwrap();
        assert_eq!(v, json!({"spec": {"a": {"replicas": 1}}}));
        assert_eq!(split(".spec.replicas[0]"), ["spec", "replicas[0]"]);
    }

    #[test]
    fn internal_errors_read_like_kube() {
        let e = internal(r#"the spec replicas field ".spec.replicas" does not exist"#);
        assert_eq!(e.code(), 500);
        let s = e.status();
        assert_eq!(
            s["message"],
            r#"Internal error occurred: the spec replicas field ".spec.replicas" does not exist"#
        );
        assert_eq!(s["reason"], "InternalError");
        assert!(unconverted("x".into()).status().get("reason").is_none());
    }
}
