//! One structural-schema engine for built-in kinds and custom resources.
//!
//! A [`Schema`] is parsed once (from a CRD version's `openAPIV3Schema`, or
//! from the `schemars` output of a k8s-openapi type) and then validates,
//! prunes and defaults objects the way kube-apiserver does. The two kinds
//! of object are treated differently by kube, and the caller must follow
//! kube's order for each to answer what kube answers.
//!
//! # Custom resources
//!
//! Parse a JSON body with [`parse_body`]: it gives the value and notes
//! whether some object repeats a key. For a custom resource kube decodes the
//! body into a map, which reports every repeated key
//! ([`Schema::strict_errors`], `duplicate field "spec.x"`, in document
//! order, only worth calling when [`JsonBody::has_duplicates`]), then, in
//! this order:
//!
//! 1. [`Schema::decode_custom`]: drops the fields `ObjectMeta` does not
//!    have from the root `metadata`, [`prune`]s fields the schema does not
//!    declare (the root and embedded resources keep `apiVersion`, `kind`
//!    and `metadata`), then treats the `metadata` of every embedded
//!    resource (`x-kubernetes-embedded-resource`) as the root's. A metadata
//!    field of the wrong type (or an embedded `apiVersion` or `kind` that
//!    is not a string) is a `400 BadRequest` whatever `fieldValidation`
//!    says, [`cannot_handle_message`]`(kind, version, error)`. With
//!    `fieldValidation=Strict` any dropped path fails the request with
//!    `400 BadRequest` and the message [`cannot_handle_message`]`(kind,
//!    version, &`[`strict_decoding_message`]`(&paths))`, e.g. `Foo in
//!    version "v1" cannot be handled as a Foo: strict decoding error:
//!    unknown field "spec.bar", unknown field "spec.baz"`; with `Warn` (the
//!    server's default) each path becomes one `Warning` header text,
//!    [`unknown_field_message`] (`unknown field "spec.bar"`); with `Ignore`
//!    they are dropped silently. The paths come in kube's order (the root
//!    metadata's, the pruned ones sorted, the embedded metadata's sorted),
//!    after the duplicates ([`strict_errors_message`] words the whole
//!    list).
//! 2. [`default`]s: removes nulls the schema does not allow (unless a
//!    default replaces them) and fills in defaults.
//! 3. validates `metadata` (not this module), then [`validate`]s the
//!    object: kube-openapi's checks converted to field errors exactly as
//!    kube converts them, then the embedded resources' `apiVersion`, `kind`
//!    and `metadata` (`spec.template.kind: Required value`, names checked
//!    as path segments), then the `x-kubernetes-list-type` uniqueness
//!    checks, then the `x-kubernetes-validations` (CEL) rules
//!    ([`Schema::validate_update`] gives the rules that read `oldSelf` the
//!    stored object). Any error is a `422 Invalid` for the whole object,
//!    e.g. `spec.replicas: Invalid value: "string": spec.replicas in body
//!    must be of type integer: "string"` or `spec.class: Invalid value:
//!    "string": Value is immutable`.
//!
//! A CRD's schema is checked when the CRD is created or updated:
//! [`Schema::from_crd`] returns kube's field errors for a schema kube would
//! refuse (bad structure, `$ref`, invalid `pattern`, defaults that do not
//! validate, CEL rules that do not compile or break kube's rules for
//! `message`, `reason`, `fieldPath` and `oldSelf`...), for the CRD's own
//! `422`. The rules are compiled there, once per CRD version; a schema
//! without rules costs no CEL work per request.
//!
//! # Built-in kinds
//!
//! kube never checks a built-in object against its OpenAPI schema. It
//! decodes the body into Go structs, so a value of the wrong type is a
//! `400 BadRequest` decode error whatever `fieldValidation` says, and
//! unknown fields come from strict decoding. Use [`Schema::check_decode`]:
//!
//! * [`DecodeReport::error`], if set, is the whole answer: `400` with
//!   [`cannot_handle_message`]`(kind, version, error)`, e.g. `ConfigMap in
//!   version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal
//!   number into Go struct field ConfigMap.data of type string`.
//! * otherwise, if [`DecodeReport::unknown_fields`] (metadata included) is
//!   not empty or the body [has duplicates](JsonBody::has_duplicates),
//!   [`Schema::strict_errors`] lists what kube's strict decoding reports,
//!   unknown and duplicate fields mixed in the order of the document, and
//!   they are handled per `fieldValidation` as in step 1 above. A value that
//!   did not come as JSON (a patched object) has no order of its own; its
//!   unknown fields are reported in key order.
//!
//! Then kube runs the kind's own hand-written validation (not this module).
//! [`validate`] on a built-in schema is available but is not what kube
//! does.
//!
//! # Performance
//!
//! Nodes live in one arena and refer to each other by index, so recursive
//! types (JSONSchemaProps) are cheap to build and walks are driven only by
//! the value. Built-in schemas are built once per type and cached. The
//! walks allocate only when they report something. In a release build a
//! 1 KiB ConfigMap decodes-checks in about 1 µs, prunes in 0.5 µs and
//! validates in 3 µs. [`parse_body`] costs what `serde_json::from_slice`
//! costs (about 3 µs for that ConfigMap); reading the body again for
//! [`Schema::strict_errors`], when there is something to report, about as
//! much again.
//!
//! # Not covered here
//!
//! * CEL rules (see the `cel` module for the whole list): the type checker
//!   is lighter than cel-go's and parse errors are `cel-parser`'s words
//!   after kube's prefix; kube's URL, quantity, IP, CIDR, semver, `format`,
//!   `math` and `sets` libraries are accepted but those rules are not run;
//!   there is no static cost estimate (CRDs kube refuses as too expensive
//!   are accepted; the run-time cost limits hold); errors kube's ratcheting
//!   turns into warnings are dropped; list equality ignores
//!   `x-kubernetes-list-type`; default values are not checked against
//!   rules.
//! * Metadata is written back as Go writes `ObjectMeta` (empty fields
//!   left out, nulls in labels made empty strings) only in embedded
//!   resources: the root's keeps what the client sent, as built-in
//!   objects' does in this server. Times are not rewritten in UTC, and
//!   nested structs (owner references, managed fields entries) keep their
//!   empty and missing fields where Go would drop or add them.
//! * Reads do not call [`Schema::decode_custom`] (with `drop_invalid`) as
//!   kube does on every read: objects are checked when written, so this
//!   matters only for objects stored before their schema marked a field
//!   embedded.
//! * When several embedded objects, or an embedded object's `apiVersion`,
//!   `kind` and `metadata`, have values of the wrong type, kube reports
//!   whichever its random map order reaches first; here the first in key
//!   order.
//! * CRD defaults are pruned but not coerced or validated as embedded
//!   resources' metadata (kube also checks a default's `metadata`).
//! * The CRD-level rules that need more than the schema: the root
//!   restrictions when the status subresource is on, and the relaxations
//!   kube grants on update to schemas it already stored (CRDs are checked
//!   as if new).
//! * kube's errors print compound bad values with Go's `%#v`
//!   (`map[string]interface {}{"name":"a"}`) and floats with `%v` (`1e+06`);
//!   [`FieldError`] carries the JSON value, so [`go_sharp_v`] and
//!   [`go_float`] are exported for the printer to use.
//! * Built-in decode errors name string fields `string` even where Go has a
//!   named type (`v1.Protocol`), and only the first error in key order is
//!   reported (Go reports the first in document order). Nor is a type
//!   error in the first of two equal keys, which the parsed value dropped.
//! * When a built-in object repeats a key, the parsed value keeps the last
//!   value whole; Go decodes the second into the struct or map the first
//!   filled, so fields of both survive there.

mod builtin;
mod cel;
mod decode;
mod default;
mod embedded;
mod formats;
mod gofmt;
mod node;
mod parse;
mod prune;
mod regex_go;
mod strict;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

pub use decode::DecodeReport;
pub use gofmt::{go_float, go_json, go_sharp_v};
pub use strict::{JsonBody, parse_body};

use crate::field::{FieldError, Path, aggregate, go_quote};
use node::{NodeId, Origin, Tree};

/// How deep the walks follow a value. kube's own JSON reader stops far
/// earlier than this in practice (and serde_json at 128 levels); the bound
/// only keeps hand-built values from exhausting the stack.
pub(crate) const MAX_VALUE_DEPTH: usize = 512;

/// Why a schema could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The CRD schema breaks kube's rules. The errors are kube's own, with
    /// the paths under the schema's location, for the CRD's `422 Invalid`.
    #[error("{}", aggregate(.0))]
    Invalid(Vec<FieldError>),
    /// A built-in type's generated schema is not one this module can read.
    #[error("built-in schema for {name}: {reason}")]
    Builtin {
        /// The type's OpenAPI name.
        name: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// A parsed structural schema, cheap to clone and share between threads.
#[derive(Clone)]
pub struct Schema {
    tree: Arc<Tree>,
    root: NodeId,
}

impl Schema {
    /// Parses and checks a CRD version's `openAPIV3Schema`, located at
    /// `path` in the CRD (e.g. `spec.versions[0].schema.openAPIV3Schema`)
    /// so errors carry kube's paths.
    pub fn from_crd(open_api_v3_schema: &Value, path: &Path) -> Result<Schema, SchemaError> {
        let tree = parse::parse_crd(open_api_v3_schema, path).map_err(SchemaError::Invalid)?;
        Ok(Schema {
            tree: Arc::new(tree),
            root: 0,
        })
    }

    /// The schema of a k8s-openapi type, built on first use and cached.
    pub fn from_builtin<T: schemars::JsonSchema>() -> Result<Schema, SchemaError> {
        static CACHE: OnceLock<Mutex<HashMap<String, Schema>>> = OnceLock::new();
        let key = T::schema_id().into_owned();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(s) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(s.clone());
        }
        let generated = schemars::schema_for!(T);
        let schema = Schema::from_schemars(generated.as_value())?;
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, schema.clone());
        Ok(schema)
    }

    /// Builds a built-in schema from `schemars` JSON (draft 2020-12 with
    /// `$defs`), without caching.
    pub fn from_schemars(root: &Value) -> Result<Schema, SchemaError> {
        let (tree, root_id) =
            builtin::build_builtin(root).map_err(|reason| SchemaError::Builtin {
                name: root
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                reason,
            })?;
        Ok(Schema {
            tree: Arc::new(tree),
            root: root_id,
        })
    }

    /// Whether this is a built-in type's schema (as opposed to a CRD's).
    pub fn is_builtin(&self) -> bool {
        self.tree.origin == Origin::Builtin
    }

    /// The OpenAPI name of a built-in type (`io.k8s.api.core.v1.ConfigMap`);
    /// empty for a CRD schema.
    pub fn name(&self) -> &str {
        &self.tree.name
    }

    /// The schema as it was given: a CRD's `openAPIV3Schema`, or the
    /// `schemars` document of a built-in type.
    pub fn openapi_v3(&self) -> &Value {
        &self.tree.raw
    }

    /// The schema as OpenAPI v3 `components.schemas` entries, every `$ref`
    /// pointing at `#/components/schemas/<name>`. A built-in yields one
    /// entry per referenced type plus its own; a CRD schema one entry under
    /// `name`.
    pub fn openapi_components(&self, name: &str) -> Map<String, Value> {
        match self.tree.origin {
            Origin::Builtin => builtin::components(&self.tree.raw),
            Origin::Crd => {
                let mut m = Map::new();
                m.insert(name.to_string(), self.tree.raw.clone());
                m
            }
        }
    }

    /// Whether any node of the schema has a default, so reads of stored
    /// objects (written before the default existed) must be defaulted.
    pub fn has_defaults(&self) -> bool {
        self.tree.nodes.iter().any(|n| n.default.is_some())
    }

    /// See [`validate`]. Transition rules (those that read `oldSelf`) do
    /// not run: use [`validate_update`](Self::validate_update) on update.
    pub fn validate(&self, value: &Value, path: Option<&Path>) -> Vec<FieldError> {
        self.validate_update(value, None, path)
    }

    /// [`validate`], then the schema's `x-kubernetes-validations` rules,
    /// with `old` (the stored object, on update) as `oldSelf` for the
    /// transition rules. A schema without rules does no CEL work.
    pub fn validate_update(
        &self,
        value: &Value,
        old: Option<&Value>,
        path: Option<&Path>,
    ) -> Vec<FieldError> {
        let mut errs = validate::validate_at(&self.tree, self.root, value, path);
        errs.extend(embedded::validate(&self.tree, self.root, value, path));
        errs.extend(validate::validate_list_types(
            &self.tree, self.root, value, path,
        ));
        if self.tree.has_rules {
            errs.extend(cel::eval::validate(&self.tree, self.root, value, old, path));
        }
        errs
    }

    /// Whether the schema has `x-kubernetes-validations` rules.
    pub fn has_rules(&self) -> bool {
        self.tree.has_rules
    }

    /// See [`prune`].
    pub fn prune(&self, value: &mut Value) -> Vec<String> {
        let mut paths = Vec::new();
        let root_embedded = self.tree.origin == Origin::Crd;
        prune::prune_value(
            &self.tree,
            Some(self.root),
            value,
            root_embedded,
            Some(&mut paths),
        );
        paths.sort();
        paths
    }

    /// What kube's decoder does to a custom resource once it has parsed
    /// it, in kube's order: decodes the root `metadata` as an `ObjectMeta`,
    /// dropping the fields it does not have; [`prune`]s the object; then
    /// does the same to the `apiVersion`, `kind` and `metadata` of every
    /// embedded resource (`x-kubernetes-embedded-resource`), whose metadata
    /// is also left as Go writes the struct back (empty fields left out).
    ///
    /// Returns the paths of the unknown fields dropped, in the order kube
    /// reports them (the root metadata's, then the pruned ones sorted, then
    /// the embedded metadata's sorted: `spec.template.metadata.bogus`), or,
    /// when a metadata field has the wrong type, the error for kube's `400`
    /// (to wrap in [`cannot_handle_message`]), e.g. `json: cannot unmarshal
    /// number into Go struct field ObjectMeta.labels of type
    /// map[string]string` at the root or `spec.template.kind: Invalid
    /// value: 1: must be a string` in an embedded object. With
    /// `drop_invalid`, what kube does to a stored object it reads, such
    /// fields are dropped instead. On a built-in schema this is [`prune`].
    pub fn decode_custom(
        &self,
        value: &mut Value,
        drop_invalid: bool,
    ) -> Result<Vec<String>, String> {
        if self.tree.origin == Origin::Builtin {
            return Ok(self.prune(value));
        }
        let mut unknown = Vec::new();
        if let Some(meta) = value.get_mut("metadata") {
            embedded::coerce_object_meta(meta, &Path::root(), drop_invalid, false, &mut unknown)?;
        }
        unknown.extend(self.prune(value));
        unknown.extend(embedded::coerce(
            &self.tree,
            self.root,
            value,
            drop_invalid,
        )?);
        Ok(unknown)
    }

    /// See [`default`].
    pub fn default(&self, value: &mut Value) {
        if self.tree.origin == Origin::Crd {
            default::prune_nulls(&self.tree, Some(self.root), value, 0);
        }
        default::apply_defaults(&self.tree, self.root, value, 0);
    }

    /// Decodes a built-in object as kube's Go decoder would and reports
    /// the decode error and unknown fields kube would find (see the module
    /// documentation for what to answer). On a CRD schema this reports
    /// only unknown fields, which [`prune`] also finds.
    pub fn check_decode(&self, value: &Value) -> DecodeReport {
        decode::check(&self.tree, self.root, value)
    }

    /// What kube's strict JSON decoding reports about `body`, in the order
    /// of the document, in kube's words: for a built-in type every
    /// `unknown field "<path>"` and `duplicate field "<path>"`; for a CRD
    /// schema (custom resources are decoded into a plain map) only the
    /// duplicates, anywhere in the body. Reads the bytes once more, so call
    /// it only when there is something to report: when
    /// [`check_decode`](Self::check_decode) found unknown fields or the
    /// body [has duplicates](JsonBody::has_duplicates).
    pub fn strict_errors(&self, body: &JsonBody<'_>) -> Vec<String> {
        let typed = (self.tree.origin == Origin::Builtin).then_some((&*self.tree, self.root));
        strict::strict_errors(typed, body)
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.tree.name)
            .field("origin", &self.tree.origin)
            .field("nodes", &self.tree.nodes.len())
            .finish()
    }
}

/// Validates `value` as kube validates a custom resource: kube-openapi's
/// checks converted to field errors exactly as kube converts them, then the
/// `x-kubernetes-list-type` set/map uniqueness checks. `path` is where the
/// value sits (`None` for a whole object, whose root-level errors kube
/// prints under `<nil>`).
pub fn validate(schema: &Schema, value: &Value, path: Option<&Path>) -> Vec<FieldError> {
    schema.validate(value, path)
}

/// Removes the fields `schema` does not declare, as kube's pruning does,
/// and returns their paths sorted (`spec.foo`, `spec.items[0].bar`).
pub fn prune(schema: &Schema, value: &mut Value) -> Vec<String> {
    schema.prune(value)
}

/// Applies kube's structural defaulting: drops nulls where the schema is
/// neither nullable nor defaulted, then writes defaults for missing (or
/// disallowed null) fields, items and additionalProperties values.
pub fn default(schema: &Schema, value: &mut Value) {
    schema.default(value)
}

/// One unknown field as kube words it, in a strict decoding error or a
/// warning: `unknown field "spec.foo"`.
pub fn unknown_field_message(path: &str) -> String {
    format!("unknown field {}", go_quote(path))
}

/// A key given twice in one object, as kube words it: `duplicate field
/// "spec.foo"`.
pub fn duplicate_field_message(path: &str) -> String {
    format!("duplicate field {}", go_quote(path))
}

/// kube's strict decoding error for several unknown fields:
/// `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`.
pub fn strict_decoding_message(paths: &[String]) -> String {
    let parts: Vec<String> = paths.iter().map(|p| unknown_field_message(p)).collect();
    strict_errors_message(&parts)
}

/// kube's strict decoding error for problems already in words (see
/// [`Schema::strict_errors`]): `strict decoding error: duplicate field
/// "data", unknown field "spec.foo"`.
pub fn strict_errors_message(errors: &[String]) -> String {
    format!("strict decoding error: {}", errors.join(", "))
}

/// The `400 BadRequest` message kube wraps decode errors in:
/// `ConfigMap in version "v1" cannot be handled as a ConfigMap: <error>`.
pub fn cannot_handle_message(kind: &str, version: &str, error: &str) -> String {
    format!(
        "{kind} in version {} cannot be handled as a {kind}: {error}",
        go_quote(version)
    )
}

#[cfg(test)]
mod tests;
