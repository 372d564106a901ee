//! create, update, patch, delete and deletecollection.
//!
//! Every write is a compare-and-swap on the object's key: create only if
//! absent, update and delete only if the key is still at the revision that
//! was read. A conflict either answers 409 (the client named a
//! resourceVersion) or reads again and retries, as kube's
//! `GuaranteedUpdate` does.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::read::served;
use super::{Request, with_warnings};
use crate::api::Api;
use crate::error::ApiError;
use crate::field::FieldError;
use crate::filter::Filter;
use crate::http::{Body, json_response};
use crate::object;
use crate::patch::{FieldValidation, PatchError, PatchType};
use crate::protobuf;
use crate::resource::ResourceType;
use crate::schema::{JsonBody, parse_body};
use crate::storage::{Kv, Write};
use crate::strategy;

/// The request's `fieldValidation` (kube's default when unset is Warn);
/// `options` names the options kind kube blames for a bad value
/// (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
pub(super) fn field_validation(req: &Request, options: &str) -> Result<FieldValidation, ApiError> {
    match req.query.str("fieldValidation") {
        "" | "Warn" => Ok(FieldValidation::Warn),
        "Strict" => Ok(FieldValidation::Strict),
        "Ignore" => Ok(FieldValidation::Ignore),
        other => Err(invalid_options(
            options,
            FieldError::not_supported(
                "fieldValidation",
                json!(other),
                &["", "Ignore", "Strict", "Warn"],
            ),
        )),
    }
}

/// A 422 about one of the request's options, as kube words it
/// (`CreateOptions.meta.k8s.io "" is invalid: ...`).
fn invalid_options(options: &str, error: FieldError) -> ApiError {
    ApiError::Invalid {
        group: "meta.k8s.io".into(),
        kind: options.into(),
        name: String::new(),
        errors: vec![error],
    }
}

/// Decodes an object as kube's decoder does, and returns the warnings to
/// send. A built-in object is decoded strictly: a wrongly typed field is a
/// 400 whatever `fieldValidation` says. A custom resource is pruned of the
/// fields its schema does not declare (and its metadata, and that of the
/// objects embedded in it, of the fields ObjectMeta does not have; a
/// metadata field of the wrong type is a 400) and then defaulted. Either way,
/// unknown and duplicate fields are a 400 under Strict and warnings under
/// Warn. `body` is the JSON the object was parsed from, if it came as
/// JSON: only there can keys repeat, and only there do kube's reports
/// follow the order of the document.
fn check_decode(
    rt: &ResourceType,
    v: &mut Value,
    validation: FieldValidation,
    body: Option<&JsonBody<'_>>,
) -> Result<Vec<String>, ApiError> {
    let checks = validation != FieldValidation::Ignore;
    if let Some(custom) = &rt.custom {
        let unknown = custom
            .schema
            .decode_custom(v, false)
            .map_err(|e| cannot_handle(&rt.kind, &rt.version, &e))?;
        // kube's JSON decoder reports repeated keys first, then the
        // metadata and pruning code add the unknown fields.
        let mut problems = match body {
            Some(body) if checks && body.has_duplicates() => custom.schema.strict_errors(body),
            _ => Vec::new(),
        };
        problems.extend(
            unknown
                .iter()
                .map(|p| crate::schema::unknown_field_message(p)),
        );
        let warnings = report_strict(&rt.kind, &rt.version, validation, problems)?;
        custom.schema.default(v);
        return Ok(warnings);
    }
    let Some(schema) = crate::builtin::schema(&rt.group, &rt.kind) else {
        return Ok(Vec::new());
    };
    check_decode_typed(&schema, &rt.kind, &rt.version, v, validation, body)
}

/// What a strict-decoding report comes to under `validation`: a 400 under
/// Strict, warnings under Warn, nothing under Ignore.
fn report_strict(
    kind: &str,
    version: &str,
    validation: FieldValidation,
    problems: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    match validation {
        FieldValidation::Strict if !problems.is_empty() => Err(cannot_handle(
            kind,
            version,
            &crate::schema::strict_errors_message(&problems),
        )),
        FieldValidation::Warn => Ok(problems),
        _ => Ok(Vec::new()),
    }
}

/// kube's 400 for a body its decoder refuses.
fn cannot_handle(kind: &str, version: &str, why: &str) -> ApiError {
    ApiError::BadRequest(crate::schema::cannot_handle_message(kind, version, why))
}

/// [`check_decode`] for a body decoded into a Go type (`kind` in
/// `version`) whose schema is `schema`.
pub(super) fn check_decode_typed(
    schema: &crate::schema::Schema,
    kind: &str,
    version: &str,
    v: &mut Value,
    validation: FieldValidation,
    body: Option<&JsonBody<'_>>,
) -> Result<Vec<String>, ApiError> {
    let checks = validation != FieldValidation::Ignore;
    let decoded = schema.check_decode(v);
    if let Some(error) = decoded.error {
        return Err(cannot_handle(kind, version, &error));
    }
    // The body is read again, for order and duplicates, only when there is
    // something to report.
    let problems = match body {
        _ if !checks => Vec::new(),
        Some(body) if body.has_duplicates() || !decoded.unknown_fields.is_empty() => {
            schema.strict_errors(body)
        }
        _ => decoded
            .unknown_fields
            .iter()
            .map(|p| crate::schema::unknown_field_message(p))
            .collect(),
    };
    let warnings = report_strict(kind, version, validation, problems)?;
    // kube decodes into typed structs, which have nowhere to keep unknown
    // fields: they are dropped under Warn and Ignore alike.
    if !decoded.unknown_fields.is_empty() {
        schema.prune(v);
    }
    Ok(warnings)
}

pub(super) fn patch_error(e: PatchError) -> ApiError {
    ApiError::Status {
        code: e.code(),
        status: e.status(),
    }
}

/// How many times a write retries after losing a race.
const RETRIES: usize = 16;

/// What kube says when an update names an old resourceVersion.
pub(super) const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Parses a request body as a JSON object (protobuf bodies are turned into
/// the JSON kube would have made of them), with the JSON it came from.
pub fn decode_object(req: &Request) -> Result<(Value, Option<JsonBody<'_>>), ApiError> {
    let ct = req.content_type.split(';').next().unwrap_or("").trim();
    if ct.eq_ignore_ascii_case(protobuf::MEDIA_TYPE) {
        let rt = &req.target.resource;
        let v = protobuf::decode(&req.body, &rt.api_version(), &rt.kind)?;
        return Ok((v, None));
    }
    if !ct.is_empty() && ct != "application/json" && ct != "*/*" {
        return Err(ApiError::UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf".to_string(),
        ));
    }
    let (v, body) = parse_body(&req.body).map_err(|e| decode_error(&e, &req.body))?;
    if !v.is_object() {
        return Err(ApiError::BadRequest(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            json_type(&v)
        )));
    }
    Ok((v, Some(body)))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What kube answers a body it cannot read as JSON.
fn decode_error(e: &serde_json::Error, body: &[u8]) -> ApiError {
    if e.is_syntax() || e.is_eof() {
        ApiError::BadRequest(format!(
            "couldn't get version/kind; json parse error: {}",
            go_json_error(e)
        ))
    } else {
        ApiError::BadRequest(format!(
            "Object 'Kind' is missing in '{}'",
            String::from_utf8_lossy(&body[..body.len().min(1024)])
        ))
    }
}

/// serde's message for a syntax error, in the words of Go's encoding/json
/// where they differ enough to matter.
fn go_json_error(e: &serde_json::Error) -> String {
    if e.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        format!(
            "invalid character at line {} column {}: {e}",
            e.line(),
            e.column()
        )
    }
}

/// Checks the body's apiVersion and kind against the endpoint, and fills
/// them in when absent.
fn check_type(rt: &ResourceType, v: &mut Value) -> Result<(), ApiError> {
    check_type_as(&rt.api_version(), &rt.kind, &rt.storage_api_version, v)
}

/// [`check_type`] against `want_version` and `want_kind`; the body is left
/// with `stored_version`.
pub(super) fn check_type_as(
    want_version: &str,
    want_kind: &str,
    stored_version: &str,
    v: &mut Value,
) -> Result<(), ApiError> {
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("the body is not an object".into()))?;
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if !av.is_empty() && av != want_version => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_version})"
            )));
        }
        _ => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != want_kind => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({want_kind})"
            )));
        }
        _ => {}
    }
    obj.insert("apiVersion".into(), json!(stored_version));
    obj.insert("kind".into(), json!(want_kind));
    if !obj.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::BadRequest(
            "metadata: expected an object".to_string(),
        ));
    }
    Ok(())
}

/// Checks and fills in the namespace of a body against the URL's.
pub(super) fn check_namespace(
    rt: &ResourceType,
    url_ns: Option<&str>,
    v: &mut Value,
) -> Result<(), ApiError> {
    let body_ns = object::namespace(v).to_string();
    let meta = object::meta_mut(v)
        .ok_or_else(|| ApiError::BadRequest("metadata: expected an object".into()))?;
    if rt.namespaced {
        let url_ns = url_ns.unwrap_or_default();
        if body_ns.is_empty() {
            meta.insert("namespace".into(), json!(url_ns));
        } else if body_ns != url_ns {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
                    .into(),
            ));
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// Whether the request's `dryRun` asks for a dry run (`All`, the only
/// value kube knows); `options` as for [`field_validation`].
pub(super) fn is_dry_run(req: &Request, options: &str) -> Result<bool, ApiError> {
    dry_run_values(req.query.get("dryRun"), options)
}

fn dry_run_values<'a>(
    values: impl IntoIterator<Item = &'a str>,
    options: &str,
) -> Result<bool, ApiError> {
    let mut dry = false;
    for value in values {
        match value {
            "" => {}
            "All" => dry = true,
            other => {
                return Err(invalid_options(
                    options,
                    FieldError::not_supported("dryRun", json!([other]), &["All"]),
                ));
            }
        }
    }
    Ok(dry)
}

/// The checks of an object about to be written: its kind's, then those of
/// the values a scale subresource's paths point at (only the status ones
/// when the write is to `/status`, as kube's status strategy does).
fn validate(
    api: &Api,
    rt: &ResourceType,
    v: &Value,
    current: Option<&Value>,
    status_only: bool,
) -> Vec<FieldError> {
    let mut errors = strategy::validate(api, rt, v, current);
    if let Some(paths) = rt.scale() {
        errors.extend(super::scale::validate_custom_resource(
            paths,
            v,
            !status_only,
        ));
    }
    errors
}

fn invalid(rt: &ResourceType, v: &Value, errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        group: rt.group.clone(),
        kind: rt.kind.clone(),
        name: object::name(v).to_string(),
        errors,
    })
}

/// The stored form of an object: no resourceVersion.
fn stored(v: &Value) -> Bytes {
    let mut v = v.clone();
    object::clear_resource_version(&mut v);
    // Serializing a Value cannot fail.
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

pub(super) fn decode_kv(kv: &Kv) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    object::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// POST to a collection.
pub async fn create(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    if req.target.subresource.is_some() {
        return Err(ApiError::MethodNotAllowed);
    }
    if rt.custom.as_ref().is_some_and(|c| c.terminating) {
        return Err(crate::crd::terminating_error(&rt));
    }
    let (mut v, body) = decode_object(&req)?;
    check_type(&rt, &mut v)?;
    let validation = field_validation(&req, "CreateOptions")?;
    let dry_run = is_dry_run(&req, "CreateOptions")?;
    let warnings = check_decode(&rt, &mut v, validation, body.as_ref())?;
    check_namespace(&rt, req.target.namespace.as_deref(), &mut v)?;
    if let Some(m) = object::meta(&v)
        && m.get("resourceVersion")
            .is_some_and(|rv| rv.as_str().is_some_and(|s| !s.is_empty()))
    {
        return Err(ApiError::Internal(
            "resourceVersion should not be set on objects to be created".into(),
        ));
    }
    let generate = object::name(&v).is_empty() && !object::meta_str(&v, "generateName").is_empty();
    let created = create_object(api, &rt, v, generate, dry_run).await?;
    Ok(with_warnings(
        json_response(StatusCode::CREATED, &served(&rt, created)),
        &warnings,
    ))
}

/// Creates an object: fills in the system metadata, validates, checks the
/// namespace, and writes it if absent. Retries generated names that
/// collide.
async fn create_object(
    api: &Arc<Api>,
    rt: &Arc<ResourceType>,
    mut v: Value,
    generate: bool,
    dry_run: bool,
) -> Result<Value, ApiError> {
    // kube names the object before anything looks at it, so a generated
    // name is validated like a given one.
    let generate_name = |v: &mut Value| {
        let prefix = object::meta_str(v, "generateName").to_string();
        if let Some(m) = object::meta_mut(v) {
            m.insert(
                "name".into(),
                json!(format!("{prefix}{}", object::random_suffix())),
            );
        }
    };
    if generate {
        generate_name(&mut v);
    }
    prepare_create(rt, &mut v);
    strategy::prepare_create(api, rt, &mut v);
    invalid(rt, &v, validate(api, rt, &v, None, false))?;
    if rt.namespaced {
        check_namespace_open(api, rt, &v).await?;
    }
    for attempt in 0..8 {
        if generate && attempt > 0 {
            generate_name(&mut v);
        }
        let name = object::name(&v).to_string();
        let key = rt.key(Some(object::namespace(&v)), &name);
        if dry_run {
            // A dry run answers what the write would: AlreadyExists for a
            // taken name, and the allocations it would make.
            let (existing, _) = api.storage.get(&key).await.map_err(ApiError::storage)?;
            if existing.is_some() {
                if generate && attempt < 7 {
                    continue;
                }
                return Err(ApiError::AlreadyExists {
                    what: rt.qualified(),
                    name,
                });
            }
            strategy::before_create(api, rt, &mut v, true).await?;
            return Ok(v);
        }
        strategy::before_create(api, rt, &mut v, false).await?;
        match api
            .storage
            .create(&key, stored(&v))
            .await
            .map_err(ApiError::storage)?
        {
            Write::Done { revision } => {
                object::set_resource_version(&mut v, revision);
                return Ok(v);
            }
            Write::Conflict { .. } => {
                strategy::undo_create(api, rt, &v).await;
                if generate && attempt < 7 {
                    continue;
                }
                return Err(ApiError::AlreadyExists {
                    what: rt.qualified(),
                    name,
                });
            }
        }
    }
    Err(ApiError::Internal(
        "could not generate a unique name".into(),
    ))
}

/// The system metadata of a new object.
fn prepare_create(rt: &ResourceType, v: &mut Value) {
    let Some(m) = object::meta_mut(v) else { return };
    m.insert("uid".into(), json!(object::new_uid()));
    m.insert("creationTimestamp".into(), json!(object::now_timestamp()));
    m.remove("deletionTimestamp");
    m.remove("deletionGracePeriodSeconds");
    m.remove("resourceVersion");
    m.remove("selfLink");
    m.remove("managedFields");
    if rt.tracks_generation {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    if rt.status_subresource
        && matches!(rt.special, crate::resource::Special::Custom { .. })
        && let Some(o) = v.as_object_mut()
    {
        o.remove("status");
    }
}

/// Refuses creation in a namespace that does not exist or is going away.
async fn check_namespace_open(
    api: &Arc<Api>,
    rt: &ResourceType,
    v: &Value,
) -> Result<(), ApiError> {
    let ns = object::namespace(v);
    let key = format!("/registry/namespaces/{ns}");
    let (kv, _) = api.storage.get(&key).await.map_err(ApiError::storage)?;
    let Some(kv) = kv else {
        return Err(ApiError::NotFound {
            what: crate::error::Qualified {
                group: String::new(),
                resource: "namespaces".into(),
            },
            name: ns.to_string(),
        });
    };
    let nsv = decode_kv(&kv)?;
    if object::is_deleting(&nsv) {
        return Err(ApiError::Forbidden {
            what: rt.qualified(),
            name: object::name(v).to_string(),
            message: format!(
                "{} {:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                rt.qualified().text(),
                object::name(v)
            ),
        });
    }
    Ok(())
}

/// PUT of an object or its status.
pub async fn update(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    let (mut v, body) = decode_object(&req)?;
    check_type(&rt, &mut v)?;
    let validation = field_validation(&req, "UpdateOptions")?;
    let dry_run = is_dry_run(&req, "UpdateOptions")?;
    let warnings = check_decode(&rt, &mut v, validation, body.as_ref())?;
    check_namespace(&rt, req.target.namespace.as_deref(), &mut v)?;
    let name = req.target.name.clone().unwrap_or_default();
    let body_name = object::name(&v).to_string();
    if body_name.is_empty() {
        if let Some(m) = object::meta_mut(&mut v) {
            m.insert("name".into(), json!(name));
        }
    } else if body_name != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let precondition = object::meta_str(&v, "resourceVersion").to_string();
    let status = req.target.subresource.as_deref() == Some("status");
    let (code, out) = guaranteed_update(api, &req, &name, dry_run, |current| {
        let Some(current) = current else {
            return Ok(Next::Create(v.clone()));
        };
        if precondition.is_empty() && !rt.unconditional_update {
            return Err(ApiError::Invalid {
                group: rt.group.clone(),
                kind: rt.kind.clone(),
                name: name.clone(),
                errors: vec![FieldError::invalid(
                    "metadata.resourceVersion",
                    json!("0x0"),
                    "must be specified for an update",
                )],
            });
        }
        if !precondition.is_empty() && precondition != object::meta_str(current, "resourceVersion")
        {
            return Err(ApiError::Conflict {
                what: rt.qualified(),
                name: name.clone(),
                why: MODIFIED.into(),
            });
        }
        Ok(Next::Update(merge_update(&rt, current, v.clone(), status)))
    })
    .await?;
    Ok(with_warnings(
        json_response(code, &served(&rt, out)),
        &warnings,
    ))
}

/// What an update step decided.
pub(super) enum Next {
    /// Write this as the new object.
    Update(Value),
    /// The object is missing; create this instead (if the kind allows).
    Create(Value),
}

/// Builds the object an update stores from the client's and the current:
/// system metadata is kept, status or spec changes are dropped as the
/// endpoint requires, and generation counts spec changes.
pub(super) fn merge_update(
    rt: &ResourceType,
    current: &Value,
    mut new: Value,
    status_endpoint: bool,
) -> Value {
    if rt.status_subresource {
        if status_endpoint {
            // Only status changes through /status.
            let status = new.get("status").cloned();
            new = current.clone();
            match (new.as_object_mut(), status) {
                (Some(o), Some(s)) => {
                    o.insert("status".into(), s);
                }
                (Some(o), None) => {
                    o.remove("status");
                }
                _ => {}
            }
        } else if let Some(o) = new.as_object_mut() {
            // Status changes only through /status.
            match current.get("status") {
                Some(s) => {
                    o.insert("status".into(), s.clone());
                }
                None => {
                    o.remove("status");
                }
            }
        }
    }
    let cur_meta = object::meta(current).cloned().unwrap_or_default();
    if let Some(m) = object::meta_mut(&mut new) {
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match cur_meta.get(k) {
                Some(val) => {
                    m.insert(k.into(), val.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
        m.remove("managedFields");
        m.remove("selfLink");
        m.insert(
            "resourceVersion".into(),
            cur_meta
                .get("resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    if rt.tracks_generation && spec_changed(current, &new, rt.status_subresource) {
        let g = cur_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        if let Some(m) = object::meta_mut(&mut new) {
            m.insert("generation".into(), json!(g));
        }
    }
    new
}

/// Whether anything but metadata differs, and status too when it has an
/// endpoint of its own (without one, status is part of what the
/// generation counts, as kube counts it for custom resources).
fn spec_changed(a: &Value, b: &Value, status_subresource: bool) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a != b;
    };
    let counted = |k: &String| k != "metadata" && !(status_subresource && k == "status");
    a.iter()
        .filter(|(k, _)| counted(k))
        .ne(b.iter().filter(|(k, _)| counted(k)))
}

/// Reads, transforms and writes an object until the write wins its race.
pub(super) async fn guaranteed_update(
    api: &Arc<Api>,
    req: &Request,
    name: &str,
    dry_run: bool,
    mut step: impl FnMut(Option<&Value>) -> Result<Next, ApiError>,
) -> Result<(StatusCode, Value), ApiError> {
    let rt = req.target.resource.clone();
    let key = rt.key(req.target.namespace.as_deref(), name);
    let mut current = api.storage.get(&key).await.map_err(ApiError::storage)?.0;
    for _ in 0..RETRIES {
        let cur_value = current.as_ref().map(decode_kv).transpose()?;
        let next = step(cur_value.as_ref())?;
        let (Some(kv), Some(cur)) = (&current, &cur_value) else {
            let Next::Create(v) = next else {
                return Err(not_found(&rt, name));
            };
            if !rt.create_on_update {
                return Err(not_found(&rt, name));
            }
            let mut v = v;
            if let Some(m) = object::meta_mut(&mut v) {
                m.remove("resourceVersion");
            }
            let created = create_object(api, &rt, v, false, dry_run).await?;
            return Ok((StatusCode::CREATED, created));
        };
        let Next::Update(mut new) = next else {
            return Err(not_found(&rt, name));
        };
        strategy::prepare_update(api, &rt, &mut new, cur);
        let status_only = req.target.subresource.as_deref() == Some("status");
        invalid(&rt, &new, validate(api, &rt, &new, Some(cur), status_only))?;
        if new == *cur {
            // Nothing changed: no write, and the resourceVersion stays.
            return Ok((StatusCode::OK, new));
        }
        // The last finalizer of an object being deleted is gone: delete it.
        let finish_delete = object::is_deleting(&new) && object::finalizers(&new).is_empty();
        let claimed = if finish_delete {
            strategy::Claimed::default()
        } else {
            strategy::before_update(api, &rt, &mut new, cur, dry_run).await?
        };
        if dry_run {
            return Ok((StatusCode::OK, new));
        }
        let write = if finish_delete {
            api.storage.delete(&key, kv.mod_revision).await
        } else {
            api.storage
                .update(&key, stored(&new), kv.mod_revision)
                .await
        };
        let write = match write {
            Ok(w) => w,
            Err(e) => {
                strategy::undo_claims(api, &claimed).await;
                return Err(ApiError::storage(e));
            }
        };
        match write {
            Write::Done { revision } => {
                if finish_delete {
                    strategy::after_delete(api, &rt, &new).await;
                } else {
                    strategy::after_update(api, &rt, &new, cur).await;
                }
                object::set_resource_version(&mut new, revision);
                return Ok((StatusCode::OK, new));
            }
            Write::Conflict { current: now } => {
                strategy::undo_claims(api, &claimed).await;
                current = now;
            }
        }
    }
    Err(ApiError::Conflict {
        what: rt.qualified(),
        name: name.to_string(),
        why: MODIFIED.into(),
    })
}

pub(super) fn not_found(rt: &ResourceType, name: &str) -> ApiError {
    ApiError::NotFound {
        what: rt.qualified(),
        name: name.to_string(),
    }
}

/// PATCH of an object or its status.
pub async fn patch(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    let name = req.target.name.clone().unwrap_or_default();
    let dry_run = is_dry_run(&req, "PatchOptions")?;
    let status = req.target.subresource.as_deref() == Some("status");
    let custom = matches!(rt.special, crate::resource::Special::Custom { .. });
    let kind = PatchType::from_content_type(&req.content_type, !custom).map_err(patch_error)?;
    let validation = field_validation(&req, "PatchOptions")?;
    let mut warnings = Vec::new();
    let meta = if custom {
        None
    } else {
        crate::patch::builtin_patch_meta(&rt.group, &rt.kind)
    };
    let body = req.body.clone();
    let (code, out) = guaranteed_update(api, &req, &name, dry_run, |current| {
        let Some(current) = current else {
            return Err(not_found(&rt, &name));
        };
        let result =
            crate::patch::apply(kind, current, &body, meta, validation).map_err(patch_error)?;
        if validation == FieldValidation::Strict && !result.strict_errors.is_empty() {
            return Err(patch_error(result.strict_error(&[])));
        }
        let mut patched = result.object;
        check_type(&rt, &mut patched)?;
        warnings = check_decode(&rt, &mut patched, validation, None)?;
        if object::name(&patched) != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                object::name(&patched)
            )));
        }
        let precondition = object::meta_str(&patched, "resourceVersion");
        if !precondition.is_empty() && precondition != object::meta_str(current, "resourceVersion")
        {
            return Err(ApiError::Conflict {
                what: rt.qualified(),
                name: name.clone(),
                why: MODIFIED.into(),
            });
        }
        Ok(Next::Update(merge_update(&rt, current, patched, status)))
    })
    .await?;
    Ok(with_warnings(
        json_response(code, &served(&rt, out)),
        &warnings,
    ))
}

/// The options of a delete, from the body or the query.
#[derive(Debug, Default)]
pub(crate) struct DeleteOptions {
    uid: Option<String>,
    resource_version: Option<String>,
    /// `dryRun: [All]`, from the body or the query.
    dry_run: bool,
}

/// kube reads DeleteOptions from the body when there is one (that is where
/// client-go and kube-rs put `dryRun`), else from the query.
fn delete_options(req: &Request) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions {
        dry_run: is_dry_run(req, "DeleteOptions")?,
        ..DeleteOptions::default()
    };
    if req.body.iter().any(|b| !b.is_ascii_whitespace()) {
        let ct = req.content_type.split(';').next().unwrap_or("").trim();
        let v: Value = if ct.eq_ignore_ascii_case(protobuf::MEDIA_TYPE) {
            protobuf::decode(&req.body, "meta.k8s.io/v1", "DeleteOptions")?
        } else {
            serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::BadRequest(format!("invalid DeleteOptions: {e}")))?
        };
        if let Some(p) = v.get("preconditions") {
            o.uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
            o.resource_version = p
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(values) = v.get("dryRun").and_then(Value::as_array) {
            o.dry_run |= dry_run_values(
                values.iter().map(|x| x.as_str().unwrap_or("?")),
                "DeleteOptions",
            )?;
        }
    }
    Ok(o)
}

/// DELETE of one object.
pub async fn delete(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    if req.target.subresource.is_some() {
        return Err(ApiError::MethodNotAllowed);
    }
    let name = req.target.name.clone().unwrap_or_default();
    let options = delete_options(&req)?;
    let dry_run = options.dry_run;
    let (code, body) = delete_object(
        api,
        &rt,
        req.target.namespace.as_deref(),
        &name,
        &options,
        dry_run,
    )
    .await?;
    Ok(json_response(code, &body))
}

pub(crate) async fn delete_object(
    api: &Arc<Api>,
    rt: &Arc<ResourceType>,
    namespace: Option<&str>,
    name: &str,
    options: &DeleteOptions,
    dry_run: bool,
) -> Result<(StatusCode, Value), ApiError> {
    strategy::check_delete(rt, name)?;
    let key = rt.key(namespace, name);
    let mut current = api.storage.get(&key).await.map_err(ApiError::storage)?.0;
    for _ in 0..RETRIES {
        let Some(kv) = &current else {
            return Err(not_found(rt, name));
        };
        let mut v = decode_kv(kv)?;
        if let Some(uid) = &options.uid
            && uid != object::meta_str(&v, "uid")
        {
            return Err(ApiError::Conflict {
                what: rt.qualified(),
                name: name.to_string(),
                why: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    object::meta_str(&v, "uid")
                ),
            });
        }
        if let Some(rv) = &options.resource_version
            && rv != object::meta_str(&v, "resourceVersion")
        {
            return Err(ApiError::Conflict {
                what: rt.qualified(),
                name: name.to_string(),
                why: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    object::meta_str(&v, "resourceVersion")
                ),
            });
        }
        let graceful = strategy::prepare_delete(api, rt, &mut v);
        let write = if !object::finalizers(&v).is_empty() || graceful {
            // Finalizers hold the object: mark it as being deleted.
            if object::is_deleting(&v) && !graceful {
                return Ok((StatusCode::OK, served(rt, v)));
            }
            if let Some(m) = object::meta_mut(&mut v) {
                m.entry("deletionTimestamp")
                    .or_insert_with(|| json!(object::now_timestamp()));
                m.entry("deletionGracePeriodSeconds").or_insert(json!(0));
            }
            if dry_run {
                return Ok((StatusCode::OK, served(rt, v)));
            }
            let w = api
                .storage
                .update(&key, stored(&v), kv.mod_revision)
                .await
                .map_err(ApiError::storage)?;
            if let Write::Done { revision } = w {
                object::set_resource_version(&mut v, revision);
                strategy::after_mark_deleting(api, rt, &v).await;
                return Ok((StatusCode::OK, served(rt, v)));
            }
            w
        } else {
            if dry_run {
                return Ok((StatusCode::OK, deleted_body(rt, &v)));
            }
            let w = api
                .storage
                .delete(&key, kv.mod_revision)
                .await
                .map_err(ApiError::storage)?;
            if let Write::Done { .. } = w {
                strategy::after_delete(api, rt, &v).await;
                return Ok((StatusCode::OK, deleted_body(rt, &v)));
            }
            w
        };
        if let Write::Conflict { current: now } = write {
            current = now;
        }
    }
    Err(ApiError::Conflict {
        what: rt.qualified(),
        name: name.to_string(),
        why: MODIFIED.into(),
    })
}

/// What a finished delete answers: the object for custom resources, a
/// success `Status` for built-in kinds, as kube-apiserver does.
fn deleted_body(rt: &ResourceType, v: &Value) -> Value {
    if matches!(rt.special, crate::resource::Special::Custom { .. }) {
        return served(rt, v.clone());
    }
    let mut details = json!({
        "name": object::name(v),
        "kind": rt.resource,
        "uid": object::meta_str(v, "uid"),
    });
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

/// DELETE of a collection: every object the selectors match.
pub async fn delete_collection(api: &Arc<Api>, req: Request) -> Result<Response<Body>, ApiError> {
    let rt = req.target.resource.clone();
    if !rt.verbs.contains(&"deletecollection") {
        return Err(ApiError::MethodNotAllowed);
    }
    let filter = Filter::from_query(&rt, req.target.namespace.as_deref(), &req.query)?;
    let options = delete_options(&req)?;
    let dry_run = options.dry_run;
    let prefix = rt.prefix(req.target.namespace.as_deref());
    let cache = api.cache(&rt);
    let (items, revision) = cache
        .list(&prefix, crate::cache::ReadAt::Consistent, &|o| {
            filter.matches(o)
        })
        .await?;
    let mut deleted = Vec::new();
    for o in items {
        let ns = (!o.namespace.is_empty()).then_some(o.namespace.as_str());
        match delete_object(api, &rt, ns, &o.name, &options, dry_run).await {
            Ok(_) | Err(ApiError::NotFound { .. }) => deleted.push(o.json.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(super::read::list_response(
        &rt,
        super::read::ListPage {
            items: deleted,
            revision,
            cont: None,
            remaining: None,
        },
    ))
}

/// Creates an object from inside the server (bootstrap, controllers), with
/// the same checks as a client's create.
pub(crate) async fn create_internal(
    api: &Arc<Api>,
    group: &str,
    version: &str,
    resource: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let rt = api
        .registry
        .snapshot()
        .get(group, version, resource)
        .cloned()
        .ok_or(ApiError::NoResource)?;
    let mut v = body;
    check_type(&rt, &mut v)?;
    create_object(api, &rt, v, false, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_counts_status_only_without_a_status_endpoint() {
        let a = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"n": 1}, "status": {"s": 1}});
        let mut b = a.clone();
        b["metadata"]["labels"]["a"] = json!("2");
        assert!(!spec_changed(&a, &b, true));
        assert!(!spec_changed(&a, &b, false));
        b["status"]["s"] = json!(2);
        assert!(!spec_changed(&a, &b, true));
        assert!(spec_changed(&a, &b, false));
        let mut c = a.clone();
        c["spec"]["n"] = json!(2);
        assert!(spec_changed(&a, &c, true));
        // A new top-level field counts too.
        let mut d = a.clone();
        d["extra"] = json!(true);
        assert!(spec_changed(&a, &d, true));
    }
}
