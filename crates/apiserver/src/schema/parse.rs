//! Reading a CRD version's `openAPIV3Schema` and checking it as kube does.
//!
//! kube runs three passes over a new CRD's schema and reports them
//! together: the apiextensions rules on the raw JSONSchemaProps (no `$ref`,
//! items not an array, list/map-type consistency, ...), the structural
//! schema invariants (types where required, value validations free of
//! structure, metadata restricted to name and generateName) and the check
//! that every default validates against its schema and is already pruned.
//! This module does all three with kube's paths and words, then builds the
//! arena the validators walk.

use serde_json::{Map, Value};

use super::formats::Format;
use super::node::{Additional, ListType, Node, NodeId, Origin, Tree, Types};
use super::regex_go::GoRegex;
use crate::field::{FieldError, Path};

/// `items`: a schema, or (not allowed, but representable) a list.
#[derive(Debug)]
enum Items<'a> {
    One(Box<Props<'a>>),
    Many(Vec<Props<'a>>),
}

/// `additionalProperties`: a boolean or a schema.
#[derive(Debug)]
enum AddProps<'a> {
    Bool(bool),
    Schema(Box<Props<'a>>),
}

/// One JSONSchemaProps, read from JSON without judging it yet.
#[derive(Debug, Default)]
struct Props<'a> {
    raw: Option<&'a Map<String, Value>>,
    ty: &'a str,
    format: &'a str,
    title: &'a str,
    description: &'a str,
    nullable: bool,
    default: Option<&'a Value>,
    external_docs: bool,
    id: &'a str,
    ref_: Option<&'a str>,
    schema_uri: &'a str,
    properties: Vec<(&'a str, Props<'a>)>,
    pattern_properties: bool,
    definitions: bool,
    dependencies: bool,
    additional_items: bool,
    required: Vec<&'a str>,
    items: Option<Items<'a>>,
    additional_properties: Option<AddProps<'a>>,
    enum_values: Option<Vec<&'a Value>>,
    pattern: &'a str,
    maximum: Option<f64>,
    exclusive_maximum: bool,
    minimum: Option<f64>,
    exclusive_minimum: bool,
    multiple_of: Option<f64>,
    max_length: Option<i64>,
    min_length: Option<i64>,
    max_items: Option<i64>,
    min_items: Option<i64>,
    unique_items: bool,
    max_properties: Option<i64>,
    min_properties: Option<i64>,
    all_of: Vec<Props<'a>>,
    any_of: Vec<Props<'a>>,
    one_of: Vec<Props<'a>>,
    not: Option<Box<Props<'a>>>,
    x_preserve: Option<bool>,
    x_embedded: bool,
    x_int_or_string: bool,
    x_list_type: Option<&'a str>,
    x_list_map_keys: Vec<&'a str>,
    x_map_type: Option<&'a str>,
    x_validations: bool,
    x_validations_raw: Option<&'a Value>,
}

/// How deep a schema may nest. kube has no such limit, but a request body
/// read with serde_json's 128-level limit cannot hold a schema deeper than
/// about 64 levels anyway; this bound keeps the recursive checks within
/// the stack of any thread.
const MAX_DEPTH: usize = 100;

impl<'a> Props<'a> {
    fn parse(value: &'a Value, path: &Path, depth: usize, errs: &mut Vec<FieldError>) -> Props<'a> {
        let mut p = Props::default();
        let Some(map) = value.as_object() else {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                "must be an object",
            ));
            return p;
        };
        if depth > MAX_DEPTH {
            errs.push(FieldError::invalid(
                path,
                Value::String(String::new()),
                "schema nests too deeply",
            ));
            return p;
        }
        p.raw = Some(map);
        for (k, v) in map {
            let here = path.child(k);
            match k.as_str() {
                "type" => p.ty = str_of(v, &here, errs),
                "format" => p.format = str_of(v, &here, errs),
                "title" => p.title = str_of(v, &here, errs),
                "description" => p.description = str_of(v, &here, errs),
                "id" => p.id = str_of(v, &here, errs),
                "$schema" => p.schema_uri = str_of(v, &here, errs),
                "$ref"
                    if !v.is_null() => {
                        p.ref_ = Some(str_of(v, &here, errs));
                    }
                "pattern" => p.pattern = str_of(v, &here, errs),
                "nullable" => p.nullable = bool_of(v, &here, errs),
                "uniqueItems" => p.unique_items = bool_of(v, &here, errs),
                "exclusiveMaximum" => p.exclusive_maximum = bool_of(v, &here, errs),
                "exclusiveMinimum" => p.exclusive_minimum = bool_of(v, &here, errs),
                "x-kubernetes-embedded-resource" => p.x_embedded = bool_of(v, &here, errs),
                "x-kubernetes-int-or-string" => p.x_int_or_string = bool_of(v, &here, errs),
                "x-kubernetes-preserve-unknown-fields"
                    if !v.is_null() => {
                        p.x_preserve = Some(bool_of(v, &here, errs));
                    }
                "default"
                    // A pointer field: JSON null leaves it unset.
                    if !v.is_null() => {
                        p.default = Some(v);
                    }
                "example" => {}
                "externalDocs" => p.external_docs = !v.is_null(),
                "maximum" => p.maximum = f64_of(v, &here, errs),
                "minimum" => p.minimum = f64_of(v, &here, errs),
                "multipleOf" => p.multiple_of = f64_of(v, &here, errs),
                "maxLength" => p.max_length = i64_of(v, &here, errs),
                "minLength" => p.min_length = i64_of(v, &here, errs),
                "maxItems" => p.max_items = i64_of(v, &here, errs),
                "minItems" => p.min_items = i64_of(v, &here, errs),
                "maxProperties" => p.max_properties = i64_of(v, &here, errs),
                "minProperties" => p.min_properties = i64_of(v, &here, errs),
                "required" => p.required = str_list(v, &here, errs),
                "x-kubernetes-list-map-keys" => p.x_list_map_keys = str_list(v, &here, errs),
                "x-kubernetes-list-type"
                    if !v.is_null() => {
                        p.x_list_type = Some(str_of(v, &here, errs));
                    }
                "x-kubernetes-map-type"
                    if !v.is_null() => {
                        p.x_map_type = Some(str_of(v, &here, errs));
                    }
                "x-kubernetes-validations" => {
                    p.x_validations = v.as_array().is_some_and(|a| !a.is_empty());
                    if p.x_validations {
                        p.x_validations_raw = Some(v);
                    }
                }
                "enum" => {
                    if let Some(a) = v.as_array() {
                        p.enum_values = Some(a.iter().collect());
                    } else if !v.is_null() {
                        errs.push(FieldError::invalid(&here, v.clone(), "must be an array"));
                    }
                }
                "properties" => {
                    if let Some(m) = v.as_object() {
                        let mut props: Vec<(&str, Props)> = m
                            .iter()
                            .map(|(name, s)| {
                                (
                                    name.as_str(),
                                    Props::parse(s, &here.key(name), depth + 1, errs),
                                )
                            })
                            .collect();
                        props.sort_by(|a, b| a.0.cmp(b.0));
                        p.properties = props;
                    } else if !v.is_null() {
                        errs.push(FieldError::invalid(&here, v.clone(), "must be an object"));
                    }
                }
                "patternProperties" => {
                    p.pattern_properties = v.as_object().is_some_and(|m| !m.is_empty())
                }
                "definitions" => p.definitions = v.as_object().is_some_and(|m| !m.is_empty()),
                "dependencies" => p.dependencies = !v.is_null(),
                "additionalItems" => p.additional_items = !v.is_null(),
                "items" => match v {
                    Value::Array(list) => {
                        let many = list
                            .iter()
                            .enumerate()
                            .map(|(i, s)| Props::parse(s, &here.index(i), depth + 1, errs))
                            .collect();
                        p.items = Some(Items::Many(many));
                    }
                    Value::Null => {}
                    other => {
                        p.items = Some(Items::One(Box::new(Props::parse(
                            other,
                            &here,
                            depth + 1,
                            errs,
                        ))))
                    }
                },
                "additionalProperties" => {
                    match v {
                        Value::Bool(b) => p.additional_properties = Some(AddProps::Bool(*b)),
                        Value::Null => {}
                        other => {
                            p.additional_properties = Some(AddProps::Schema(Box::new(
                                Props::parse(other, &here, depth + 1, errs),
                            )))
                        }
                    }
                }
                "allOf" | "anyOf" | "oneOf" => {
                    let list: Vec<Props> = match v.as_array() {
                        Some(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, s)| Props::parse(s, &here.index(i), depth + 1, errs))
                            .collect(),
                        None => {
                            if !v.is_null() {
                                errs.push(FieldError::invalid(
                                    &here,
                                    v.clone(),
                                    "must be an array",
                                ));
                            }
                            Vec::new()
                        }
                    };
                    match k.as_str() {
                        "allOf" => p.all_of = list,
                        "anyOf" => p.any_of = list,
                        _ => p.one_of = list,
                    }
                }
                "not"
                    if !v.is_null() => {
                        p.not = Some(Box::new(Props::parse(v, &here, depth + 1, errs)));
                    }
                // Unknown keys are a strict-decoding matter for the caller
                // (JSONSchemaProps has no such field); they carry no meaning.
                _ => {}
            }
        }
        p
    }

    fn item_schema(&self) -> Option<&Props<'a>> {
        match &self.items {
            Some(Items::One(p)) => Some(p),
            _ => None,
        }
    }

    fn property(&self, name: &str) -> Option<&Props<'a>> {
        self.properties
            .binary_search_by(|(k, _)| (*k).cmp(name))
            .ok()
            .map(|i| &self.properties[i].1)
    }

    /// Whether the schema is `{type: <ty>}` and nothing else, as kube's
    /// int-or-string anyOf pattern requires.
    fn is_only_type(&self, ty: &str) -> bool {
        self.ty == ty && self.raw.is_some_and(|m| m.len() == 1)
    }

    fn list_type(&self) -> Option<&str> {
        self.x_list_type
    }
}

fn str_of<'a>(v: &'a Value, path: &Path, errs: &mut Vec<FieldError>) -> &'a str {
    match v {
        Value::String(s) => s,
        Value::Null => "",
        other => {
            errs.push(FieldError::invalid(path, other.clone(), "must be a string"));
            ""
        }
    }
}

fn bool_of(v: &Value, path: &Path, errs: &mut Vec<FieldError>) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        other => {
            errs.push(FieldError::invalid(
                path,
                other.clone(),
                "must be a boolean",
            ));
            false
        }
    }
}

fn f64_of(v: &Value, path: &Path, errs: &mut Vec<FieldError>) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Null => None,
        other => {
            errs.push(FieldError::invalid(path, other.clone(), "must be a number"));
            None
        }
    }
}

fn i64_of(v: &Value, path: &Path, errs: &mut Vec<FieldError>) -> Option<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(i),
            None => {
                errs.push(FieldError::invalid(path, v.clone(), "must be an integer"));
                None
            }
        },
        Value::Null => None,
        other => {
            errs.push(FieldError::invalid(
                path,
                other.clone(),
                "must be an integer",
            ));
            None
        }
    }
}

fn str_list<'a>(v: &'a Value, path: &Path, errs: &mut Vec<FieldError>) -> Vec<&'a str> {
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, s)| str_of(s, &path.index(i), errs))
            .collect(),
        Value::Null => Vec::new(),
        other => {
            errs.push(FieldError::invalid(path, other.clone(), "must be an array"));
            Vec::new()
        }
    }
}

/// Checks a CRD version's `openAPIV3Schema` (found at `path`) as kube's CRD
/// validation does and builds its tree, or returns kube's field errors.
pub(crate) fn parse_crd(schema: &Value, path: &Path) -> Result<Tree, Vec<FieldError>> {
    let mut decode_errs = Vec::new();
    let props = Props::parse(schema, path, 0, &mut decode_errs);
    if !decode_errs.is_empty() {
        return Err(decode_errs);
    }

    let mut errs = Vec::new();
    if props.nullable {
        errs.push(FieldError::forbidden(
            path.child("nullable"),
            "nullable cannot be true at the root",
        ));
    }

    let init_err = structural_error(&props);
    let mut tree = None;
    if init_err.is_none() {
        let mut structural = Vec::new();
        structural_invariants(&props, Level::Root, path, &mut structural);
        structural_completeness(&props, path, &mut structural);
        structural.sort_by_cached_key(|e| e.to_string());
        if structural.is_empty() {
            let built = build_crd_tree(&props, schema);
            let mut default_errs = Vec::new();
            validate_defaults(
                &props,
                &built,
                0,
                path,
                true,
                false,
                true,
                &mut default_errs,
            );
            errs.extend(default_errs);
            tree = Some(built);
        } else {
            errs.extend(structural);
        }
    }

    let ssv = Ssv {
        allow_defaults: true,
        disallow_reason: String::new(),
        inside_resource_meta: false,
    };
    openapi_schema(&props, path, &ssv, true, &mut errs);

    if errs.is_empty()
        && let Some(e) = init_err
    {
        errs.push(FieldError::invalid(path, Value::String(String::new()), e));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    match tree {
        Some(mut t) => {
            let rule_errs = super::cel::compile(&mut t, path);
            if !rule_errs.is_empty() {
                return Err(rule_errs);
            }
            prune_defaults(&mut t);
            Ok(t)
        }
        None => Err(vec![FieldError::new(
            crate::field::ErrorType::Internal,
            path,
            None,
            "schema could not be built",
        )]),
    }
}

/// The first error kube's `NewStructural` would return, in its walk order.
fn structural_error(p: &Props) -> Option<String> {
    unsupported_field_error(p)
        .or_else(|| value_validation_error(p))
        .or_else(|| match &p.additional_properties {
            Some(AddProps::Schema(s)) => structural_error(s),
            _ => None,
        })
        .or_else(|| extension_error(p))
        .or_else(|| match &p.items {
            Some(Items::Many(list)) if !list.is_empty() => {
                Some("OpenAPIV3Schema 'items' must be a schema, but is an array".to_string())
            }
            Some(Items::One(s)) => structural_error(s),
            _ => None,
        })
        .or_else(|| p.properties.iter().find_map(|(_, s)| structural_error(s)))
}

fn value_validation_error(p: &Props) -> Option<String> {
    p.not
        .as_deref()
        .and_then(structural_error)
        .or_else(|| p.all_of.iter().find_map(structural_error))
        .or_else(|| p.any_of.iter().find_map(structural_error))
        .or_else(|| p.one_of.iter().find_map(structural_error))
}

fn extension_error(p: &Props) -> Option<String> {
    (p.x_preserve == Some(false)).then(|| {
        "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
            .to_string()
    })
}

fn unsupported_field_error(p: &Props) -> Option<String> {
    let msg = if !p.id.is_empty() {
        "OpenAPIV3Schema 'id' is not supported"
    } else if !p.schema_uri.is_empty() {
        "OpenAPIV3Schema 'schema' is not supported"
    } else if p.ref_.is_some_and(|r| !r.is_empty()) {
        "OpenAPIV3Schema '$ref' is not supported"
    } else if p.pattern_properties {
        "OpenAPIV3Schema 'patternProperties' is not supported"
    } else if p.dependencies {
        "OpenAPIV3Schema 'dependencies' is not supported"
    } else if p.additional_items {
        "OpenAPIV3Schema 'additionalItems' is not supported"
    } else if p.definitions {
        "OpenAPIV3Schema 'definitions' is not supported"
    } else {
        return None;
    };
    Some(msg.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

/// kube's `validateStructuralInvariants`.
fn structural_invariants(p: &Props, lvl: Level, path: &Path, errs: &mut Vec<FieldError>) {
    if p.ty == "array" && p.item_schema().is_none() {
        errs.push(FieldError::required(
            path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = p.item_schema() {
        structural_invariants(items, Level::Item, &path.child("items"), errs);
    }
    for (k, v) in &p.properties {
        structural_invariants(v, Level::Field, &path.child("properties").key(k), errs);
    }
    if let Some(ap) = &p.additional_properties {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(
                path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let AddProps::Schema(s) = ap {
            structural_invariants(s, Level::Field, &path.child("additionalProperties"), errs);
        }
    }

    if p.x_int_or_string && p.x_preserve == Some(true) {
        errs.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if p.x_int_or_string && p.x_embedded {
        errs.push(FieldError::invalid(
            path.child("x-kubernetes-embedded-resource"),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    let skip_any_of = is_int_or_string_any_of(&p.any_of);
    let skip_first_all_of_any_of = p
        .all_of
        .first()
        .is_some_and(|a| is_int_or_string_any_of(&a.any_of));
    value_validation(p, skip_any_of, skip_first_all_of_any_of, path, errs);

    let check_metadata = lvl == Level::Root || p.x_embedded;
    let preserve = p.x_preserve == Some(true);
    if p.x_embedded && p.ty != "object" {
        if p.ty.is_empty() {
            errs.push(FieldError::required(
                path.child("type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errs.push(FieldError::invalid(
                path.child("type"),
                Value::String(p.ty.to_string()),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if p.ty.is_empty() && !p.x_int_or_string && !preserve {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(path.child("type"), detail));
    }
    if p.x_embedded && p.additional_properties.is_some() {
        errs.push(FieldError::forbidden(
            path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !p.ty.is_empty() && p.ty != "object" {
        errs.push(FieldError::invalid(
            path.child("type"),
            Value::String(p.ty.to_string()),
            "must be object at the root",
        ));
    }
    for name in ["kind", "apiVersion"] {
        if let Some(s) = p.property(name)
            && check_metadata
            && s.ty != "string"
        {
            errs.push(FieldError::invalid(
                path.child("properties").key(name).child("type"),
                Value::String(s.ty.to_string()),
                "must be string",
            ));
        }
    }
    if let Some(meta) = p.property("metadata") {
        let mpath = path.child("properties").key("metadata");
        if check_metadata && meta.ty != "object" {
            errs.push(FieldError::invalid(
                mpath.child("type"),
                Value::String(meta.ty.to_string()),
                "must be object",
            ));
        }
        if lvl == Level::Root && metadata_says_more_than_names(meta) {
            errs.push(FieldError::forbidden(
                mpath,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if p.x_embedded && !preserve && p.properties.is_empty() {
        errs.push(FieldError::required(
            path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Whether a root `metadata` schema restricts more than `name` and
/// `generateName` (its type and default aside), which kube forbids.
fn metadata_says_more_than_names(m: &Props) -> bool {
    let only_names = {
        let names = m
            .properties
            .iter()
            .filter(|(k, _)| *k == "name" || *k == "generateName")
            .count();
        names == m.properties.len() && names > 0
    };
    let Some(raw) = m.raw else {
        return false;
    };
    raw.iter().any(|(k, v)| match k.as_str() {
        "type" | "default" => false,
        "properties" => !(m.properties.is_empty() || only_names),
        // Fields at their zero value leave the struct unchanged.
        "nullable"
        | "uniqueItems"
        | "exclusiveMaximum"
        | "exclusiveMinimum"
        | "x-kubernetes-embedded-resource"
        | "x-kubernetes-int-or-string" => v.as_bool().unwrap_or(false),
        "description" | "title" | "format" | "pattern" => v.as_str().is_some_and(|s| !s.is_empty()),
        "required"
        | "enum"
        | "allOf"
        | "anyOf"
        | "oneOf"
        | "x-kubernetes-list-map-keys"
        | "x-kubernetes-validations" => v.as_array().is_some_and(|a| !a.is_empty()),
        "example" | "externalDocs" => false,
        _ => !v.is_null(),
    })
}

fn is_int_or_string_any_of(any_of: &[Props]) -> bool {
    any_of.len() == 2 && any_of[0].is_only_type("integer") && any_of[1].is_only_type("string")
}

/// kube's `validateValueValidation`: junctors recursively, and the pattern.
fn value_validation(
    p: &Props,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, s) in p.any_of.iter().enumerate() {
            nested_value_validation(s, false, false, &path.child("anyOf").index(i), errs);
        }
    }
    for (i, s) in p.all_of.iter().enumerate() {
        let skip = skip_first_all_of_any_of && i == 0;
        nested_value_validation(s, skip, false, &path.child("allOf").index(i), errs);
    }
    for (i, s) in p.one_of.iter().enumerate() {
        nested_value_validation(s, false, false, &path.child("oneOf").index(i), errs);
    }
    if let Some(n) = &p.not {
        nested_value_validation(n, false, false, &path.child("not"), errs);
    }
    if !p.pattern.is_empty()
        && let Err(e) = GoRegex::compile(p.pattern)
    {
        errs.push(FieldError::invalid(
            path.child("pattern"),
            Value::String(p.pattern.to_string()),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

/// kube's `validateNestedValueValidation`: inside allOf/anyOf/oneOf/not only
/// value validations may appear.
fn nested_value_validation(
    p: &Props,
    skip_any_of: bool,
    skip_all_of_any_of: bool,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    value_validation(p, skip_any_of, skip_all_of_any_of, path, errs);
    if let Some(items) = p.item_schema() {
        nested_value_validation(items, false, false, &path.child("items"), errs);
    }
    for (k, s) in &p.properties {
        nested_value_validation(s, false, false, &path.child("properties").key(k), errs);
    }
    let forbid = |errs: &mut Vec<FieldError>, child: &str, detail: &str| {
        errs.push(FieldError::forbidden(path.child(child), detail));
    };
    if !p.ty.is_empty() {
        forbid(errs, "type", "must be empty to be structural");
    }
    if p.additional_properties.is_some() {
        forbid(
            errs,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    if p.default.is_some() {
        forbid(errs, "default", "must be undefined to be structural");
    }
    if !p.title.is_empty() {
        forbid(errs, "title", "must be empty to be structural");
    }
    if !p.description.is_empty() {
        forbid(errs, "description", "must be empty to be structural");
    }
    if p.nullable {
        forbid(errs, "nullable", "must be false to be structural");
    }
    if p.external_docs {
        forbid(errs, "externalDocs", "must be undefined to be structural");
    }
    if p.x_preserve == Some(true) {
        forbid(
            errs,
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        );
    }
    if p.x_embedded {
        forbid(
            errs,
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        );
    }
    if p.x_int_or_string {
        forbid(
            errs,
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        );
    }
    if !p.x_list_map_keys.is_empty() {
        forbid(
            errs,
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        );
    }
    if p.x_list_type.is_some() {
        forbid(
            errs,
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        );
    }
    if p.x_map_type.is_some() {
        forbid(
            errs,
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        );
    }
    if p.x_validations {
        forbid(
            errs,
            "x-kubernetes-validations",
            "must be empty to be structural",
        );
    }
    if p.property("metadata").is_some() {
        errs.push(FieldError::forbidden(
            path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// kube's `validateStructuralCompleteness`: everything a junctor mentions
/// must also be declared structurally.
fn structural_completeness(p: &Props, path: &Path, errs: &mut Vec<FieldError>) {
    value_validation_completeness(p, Some(p), path, path, errs);
}

fn value_validation_completeness(
    v: &Props,
    s: Option<&Props>,
    s_path: &Path,
    v_path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(FieldError::required(
            s_path,
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    if let Some(n) = &v.not {
        nested_completeness(n, Some(s), s_path, &v_path.child("not"), errs);
    }
    for (i, a) in v.all_of.iter().enumerate() {
        nested_completeness(a, Some(s), s_path, &v_path.child("allOf").index(i), errs);
    }
    for (i, a) in v.any_of.iter().enumerate() {
        nested_completeness(a, Some(s), s_path, &v_path.child("anyOf").index(i), errs);
    }
    for (i, a) in v.one_of.iter().enumerate() {
        nested_completeness(a, Some(s), s_path, &v_path.child("oneOf").index(i), errs);
    }
}

fn nested_completeness(
    v: &Props,
    s: Option<&Props>,
    s_path: &Path,
    v_path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(FieldError::required(
            s_path,
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    value_validation_completeness(v, Some(s), s_path, v_path, errs);
    if let Some(vi) = v.item_schema() {
        nested_completeness(
            vi,
            s.item_schema(),
            &s_path.child("items"),
            &v_path.child("items"),
            errs,
        );
    }
    for (k, vf) in &v.properties {
        match s.property(k) {
            Some(sf) => nested_completeness(
                vf,
                Some(sf),
                &s_path.child("properties").key(k),
                &v_path.child("properties").key(k),
                errs,
            ),
            None => errs.push(FieldError::required(
                s_path.child("properties").key(k),
                format!(
                    "because it is defined in {}",
                    v_path.child("properties").key(k)
                ),
            )),
        }
    }
}

/// The context kube's `specStandardValidatorV3` carries down the tree.
#[derive(Debug, Clone)]
struct Ssv {
    allow_defaults: bool,
    disallow_reason: String,
    inside_resource_meta: bool,
}

impl Ssv {
    fn with_forbidden_defaults(&self, reason: &str) -> Ssv {
        Ssv {
            allow_defaults: false,
            disallow_reason: reason.to_string(),
            inside_resource_meta: self.inside_resource_meta,
        }
    }
}

const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// kube's `ValidateCustomResourceDefinitionOpenAPISchema` (CEL aside).
fn openapi_schema(p: &Props, path: &Path, ssv: &Ssv, is_root: bool, errs: &mut Vec<FieldError>) {
    standard_v3(p, path, ssv, errs);

    if p.unique_items {
        errs.push(FieldError::forbidden(
            path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(ap) = &p.additional_properties {
        if !p.properties.is_empty() && matches!(ap, AddProps::Bool(false) | AddProps::Schema(_)) {
            errs.push(FieldError::forbidden(
                path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let AddProps::Schema(s) = ap {
            let sub = if ssv.inside_resource_meta {
                ssv.with_forbidden_defaults(
                    "inside additionalProperties applying to object metadata",
                )
            } else {
                ssv.clone()
            };
            openapi_schema(s, &path.child("additionalProperties"), &sub, false, errs);
        }
    }
    for (k, s) in &p.properties {
        let mut sub = ssv.clone();
        if (is_root || p.x_embedded) && META_FIELDS.contains(k) {
            sub.inside_resource_meta = true;
            if is_root {
                sub = sub.with_forbidden_defaults(&format!("in top-level {k}"));
            }
        }
        openapi_schema(s, &path.child("properties").key(k), &sub, false, errs);
    }
    if let Some(n) = &p.not {
        openapi_schema(n, &path.child("not"), ssv, false, errs);
    }
    for (name, list) in [
        ("allOf", &p.all_of),
        ("oneOf", &p.one_of),
        ("anyOf", &p.any_of),
    ] {
        for (i, s) in list.iter().enumerate() {
            openapi_schema(s, &path.child(name).index(i), ssv, false, errs);
        }
    }
    match &p.items {
        Some(Items::One(s)) => openapi_schema(s, &path.child("items"), ssv, false, errs),
        Some(Items::Many(list)) => {
            for (i, s) in list.iter().enumerate() {
                openapi_schema(s, &path.child("items").index(i), ssv, false, errs);
            }
        }
        None => {}
    }

    if p.x_preserve == Some(false) {
        errs.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            Value::Bool(false),
            "must be true or undefined",
        ));
    }
    if let Some(mt) = p.x_map_type {
        if p.ty != "object" {
            type_must_be(
                p,
                path,
                "must be object if x-kubernetes-map-type is specified",
                errs,
            );
        }
        if mt != "atomic" && mt != "granular" {
            errs.push(FieldError::not_supported(
                path.child("x-kubernetes-map-type"),
                Value::String(mt.to_string()),
                &["atomic", "granular"],
            ));
        }
    }
    if let Some(lt) = p.list_type() {
        if p.ty != "array" {
            type_must_be(
                p,
                path,
                "must be array if x-kubernetes-list-type is specified",
                errs,
            );
        } else if lt == "set"
            && let Some(is) = p.item_schema()
        {
            match is.ty {
                "array" => {
                    if let Some(ilt) = is.x_list_type
                        && ilt != "atomic"
                    {
                        errs.push(FieldError::invalid(
                            path.child("items").child("x-kubernetes-list-type"),
                            Value::String(ilt.to_string()),
                            "must be atomic as item of a list with x-kubernetes-list-type=set",
                        ));
                    }
                }
                "object" if is.x_map_type != Some("atomic") => {
                    // kube reports the items' list type here, which an
                    // object schema normally leaves unset.
                    let value = is
                        .x_list_type
                        .map_or(Value::Null, |s| Value::String(s.to_string()));
                    errs.push(FieldError::invalid(
                        path.child("items").child("x-kubernetes-map-type"),
                        value,
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    ));
                }
                _ => {}
            }
        }
        if lt != "atomic" && lt != "set" && lt != "map" {
            errs.push(FieldError::not_supported(
                path.child("x-kubernetes-list-type"),
                Value::String(lt.to_string()),
                &["atomic", "set", "map"],
            ));
        }
    }
    if !p.x_list_map_keys.is_empty() {
        match p.list_type() {
            None => errs.push(FieldError::required(
                path.child("x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(lt) if lt != "map" => errs.push(FieldError::invalid(
                path.child("x-kubernetes-list-type"),
                Value::String(lt.to_string()),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            _ => {}
        }
    }
    if p.list_type() == Some("map") {
        list_map_checks(p, path, errs);
    }
    map_list_keys_map_set(p, path, errs);
}

fn type_must_be(p: &Props, path: &Path, detail: &str, errs: &mut Vec<FieldError>) {
    if p.ty.is_empty() {
        errs.push(FieldError::required(path.child("type"), detail));
    } else {
        errs.push(FieldError::invalid(
            path.child("type"),
            Value::String(p.ty.to_string()),
            detail,
        ));
    }
}

fn list_map_checks(p: &Props, path: &Path, errs: &mut Vec<FieldError>) {
    if p.x_list_map_keys.is_empty() {
        errs.push(FieldError::required(
            path.child("x-kubernetes-list-map-keys"),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    match &p.items {
        None => errs.push(FieldError::required(
            path.child("items"),
            "must have a schema if x-kubernetes-list-type is map",
        )),
        Some(Items::Many(_)) => {
            let raw = p
                .raw
                .and_then(|m| m.get("items"))
                .cloned()
                .unwrap_or(Value::Null);
            errs.push(FieldError::invalid(
                path.child("items"),
                raw,
                "must only have a single schema if x-kubernetes-list-type is map",
            ));
        }
        Some(Items::One(is)) => {
            if is.ty != "object" {
                errs.push(FieldError::invalid(
                    path.child("items").child("type"),
                    Value::String(is.ty.to_string()),
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
            } else {
                let keys_value = Value::Array(
                    p.x_list_map_keys
                        .iter()
                        .map(|k| Value::String(k.to_string()))
                        .collect(),
                );
                let mut seen: Vec<&str> = Vec::new();
                for k in &p.x_list_map_keys {
                    match is.property(k) {
                        Some(s) => {
                            if s.ty == "array" || s.ty == "object" {
                                // kube reports the item schema's type here.
                                errs.push(FieldError::invalid(
                                    path.child("items").child("properties").key(k).child("type"),
                                    Value::String(is.ty.to_string()),
                                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                ));
                            }
                        }
                        None => errs.push(FieldError::invalid(
                            path.child("x-kubernetes-list-map-keys"),
                            keys_value.clone(),
                            "entries must all be names of item properties",
                        )),
                    }
                    if seen.contains(k) {
                        errs.push(FieldError::invalid(
                            path.child("x-kubernetes-list-map-keys"),
                            keys_value.clone(),
                            "must not contain duplicate entries",
                        ));
                    }
                    seen.push(k);
                }
            }
        }
    }
}

/// kube's `validateMapListKeysMapSet`: set and map list items may not be
/// nullable, and map keys must be required or defaulted.
fn map_list_keys_map_set(p: &Props, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(is) = p.item_schema() else {
        return;
    };
    let Some(lt) = p.list_type() else {
        return;
    };
    if lt != "set" && lt != "map" {
        return;
    }
    if is.nullable {
        errs.push(FieldError::forbidden(
            path.child("items").child("nullable"),
            format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
        ));
    }
    if lt == "map" {
        for k in &p.x_list_map_keys {
            let Some(s) = is.property(k) else {
                continue;
            };
            if !is.required.contains(k) && s.default.is_none() {
                errs.push(FieldError::required(
                    path.child("items").child("properties").key(k).child("default"),
                    "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                ));
            }
            if s.nullable {
                errs.push(FieldError::forbidden(
                    path.child("items")
                        .child("properties")
                        .key(k)
                        .child("nullable"),
                    "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                ));
            }
        }
    }
}

/// kube's `specStandardValidatorV3.validate`.
fn standard_v3(p: &Props, path: &Path, ssv: &Ssv, errs: &mut Vec<FieldError>) {
    if !p.ty.is_empty() && !OPENAPI_TYPES.contains(&p.ty) {
        errs.push(FieldError::not_supported(
            path.child("type"),
            Value::String(p.ty.to_string()),
            &OPENAPI_TYPES,
        ));
    }
    if p.default.is_some() && !ssv.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ssv.disallow_reason.is_empty() {
            detail.push(' ');
            detail.push_str(&ssv.disallow_reason);
        }
        errs.push(FieldError::forbidden(path.child("default"), detail));
    }
    if !p.id.is_empty() {
        errs.push(FieldError::forbidden(
            path.child("id"),
            "id is not supported",
        ));
    }
    if p.additional_items {
        errs.push(FieldError::forbidden(
            path.child("additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if p.pattern_properties {
        errs.push(FieldError::forbidden(
            path.child("patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if p.definitions {
        errs.push(FieldError::forbidden(
            path.child("definitions"),
            "definitions is not supported",
        ));
    }
    if p.dependencies {
        errs.push(FieldError::forbidden(
            path.child("dependencies"),
            "dependencies is not supported",
        ));
    }
    if p.ref_.is_some() {
        errs.push(FieldError::forbidden(
            path.child("$ref"),
            "$ref is not supported",
        ));
    }
    if p.ty == "null" {
        errs.push(FieldError::forbidden(
            path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if matches!(&p.items, Some(Items::Many(list)) if !list.is_empty()) {
        errs.push(FieldError::forbidden(
            path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    if ssv.inside_resource_meta && p.x_embedded {
        errs.push(FieldError::forbidden(
            path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
}

/// Builds the arena for a schema that passed the structural checks.
fn build_crd_tree(props: &Props, raw: &Value) -> Tree {
    let mut tree = Tree {
        nodes: Vec::new(),
        origin: Origin::Crd,
        raw: raw.clone(),
        name: "".into(),
        has_rules: false,
        has_embedded: false,
    };
    build_node(props, &mut tree);
    super::embedded::mark_embedded_below(&mut tree);
    tree
}

fn build_node(p: &Props, tree: &mut Tree) -> NodeId {
    let id = tree.nodes.len() as NodeId;
    tree.nodes.push(Node::default());
    let mut n = Node {
        types: if p.x_int_or_string {
            Some(Types::INT_OR_STRING)
        } else {
            Types::parse(p.ty)
        },
        nullable: p.nullable,
        format: if p.format.is_empty() {
            None
        } else {
            Format::lookup(p.format).map(|f| (p.format.into(), Some(f)))
        },
        raw_format: (!p.format.is_empty()).then(|| p.format.into()),
        default: p.default.cloned(),
        required: p.required.iter().map(|s| (*s).into()).collect(),
        enum_values: p
            .enum_values
            .as_ref()
            .map(|v| v.iter().map(|e| (*e).clone()).collect()),
        pattern: if p.pattern.is_empty() {
            None
        } else {
            GoRegex::compile(p.pattern).ok()
        },
        maximum: p.maximum,
        exclusive_maximum: p.exclusive_maximum,
        minimum: p.minimum,
        exclusive_minimum: p.exclusive_minimum,
        multiple_of: p.multiple_of,
        max_length: p.max_length,
        min_length: p.min_length,
        max_items: p.max_items,
        min_items: p.min_items,
        unique_items: p.unique_items,
        max_properties: p.max_properties,
        min_properties: p.min_properties,
        preserve_unknown: p.x_preserve == Some(true),
        embedded: p.x_embedded,
        int_or_string: p.x_int_or_string,
        list_type: match p.x_list_type {
            Some("atomic") => Some(ListType::Atomic),
            Some("set") => Some(ListType::Set),
            Some("map") => Some(ListType::Map),
            _ => None,
        },
        list_map_keys: p.x_list_map_keys.iter().map(|s| (*s).into()).collect(),
        map_type_atomic: p.x_map_type == Some("atomic"),
        validations: p.x_validations_raw.cloned(),
        ..Node::default()
    };
    n.properties = p
        .properties
        .iter()
        .map(|(k, s)| ((*k).into(), build_node(s, tree)))
        .collect();
    n.additional = match &p.additional_properties {
        Some(AddProps::Bool(b)) => Some(Additional::Bool(*b)),
        Some(AddProps::Schema(s)) => Some(Additional::Schema(build_node(s, tree))),
        None => None,
    };
    n.items = p.item_schema().map(|s| build_node(s, tree));
    n.all_of = p.all_of.iter().map(|s| build_node(s, tree)).collect();
    n.any_of = p.any_of.iter().map(|s| build_node(s, tree)).collect();
    n.one_of = p.one_of.iter().map(|s| build_node(s, tree)).collect();
    n.not = p.not.as_deref().map(|s| build_node(s, tree));
    tree.nodes[id as usize] = n;
    id
}

/// kube's `ValidateDefaults`: each default must already be pruned and must
/// validate against its own schema. additionalProperties are not followed.
#[allow(clippy::too_many_arguments)]
fn validate_defaults(
    p: &Props,
    tree: &Tree,
    id: NodeId,
    path: &Path,
    is_resource_root: bool,
    inside_meta: bool,
    top: bool,
    errs: &mut Vec<FieldError>,
) {
    let node = tree.node(id);
    let embedded = node.embedded || (top && is_resource_root);
    let inside_meta = if embedded { false } else { inside_meta };
    if let Some(default) = &node.default {
        let dpath = path.child("default");
        if !inside_meta {
            let mut pruned = default.clone();
            super::prune::prune_value(tree, Some(id), &mut pruned, embedded, None);
            if &pruned != default {
                errs.push(FieldError::invalid(
                    &dpath,
                    default.clone(),
                    "must not have unknown fields",
                ));
            }
        }
        errs.extend(super::validate::validate_at(
            tree,
            id,
            default,
            Some(&dpath),
        ));
    }
    if let Some(items) = p.item_schema()
        && let Some(iid) = node.items
    {
        validate_defaults(
            items,
            tree,
            iid,
            &path.child("items"),
            is_resource_root,
            inside_meta,
            false,
            errs,
        );
    }
    for (k, s) in &p.properties {
        if let Some(pid) = node.property(k) {
            let sub_meta = inside_meta || (embedded && META_FIELDS.contains(k));
            validate_defaults(
                s,
                tree,
                pid,
                &path.child("properties").key(k),
                is_resource_root,
                sub_meta,
                false,
                errs,
            );
        }
    }
}

/// kube prunes every default by its own schema before using it.
fn prune_defaults(tree: &mut Tree) {
    for i in 0..tree.nodes.len() {
        let Some(mut default) = tree.nodes[i].default.take() else {
            continue;
        };
        let embedded = tree.nodes[i].embedded;
        super::prune::prune_value(tree, Some(i as NodeId), &mut default, embedded, None);
        tree.nodes[i].default = Some(default);
    }
}
