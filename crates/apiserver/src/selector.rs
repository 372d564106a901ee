//! Label and field selectors, parsed and applied as kube-apiserver does.
//!
//! A list or watch narrows its results with `?labelSelector=` and
//! `?fieldSelector=`. Both grammars are Kubernetes' own, and so are their
//! error messages: a bad selector is answered with a `400 BadRequest`
//! `Status` whose `message` is exactly the parse error's text (kubectl
//! prints it after its own `Unable to find ... that match label selector`),
//! so the texts here are reproduced byte for byte from
//! k8s.io/apimachinery `labels.Parse` and `fields.ParseSelector`.
//!
//! A field selector that parses may still name a field the kind does not
//! support; the handler then answers `400` with the conversion error of the
//! kind ([`FieldSelector::convert`], [`field_label_error`]). The per-kind
//! tables of supported fields are Kubernetes' field label conversion
//! functions (pkg/apis/core/v1/conversion.go and friends).

use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::field::{FieldError, Path, aggregate};
use crate::validation::{is_qualified_name, is_valid_label_value};

/// What can go wrong with a selector. Each variant's text is the exact
/// message kube-apiserver puts in the `Status` it answers with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// A `labelSelector` that does not parse, or a `metav1.LabelSelector`
    /// that does not convert (bad key, bad value, bad operator).
    #[error("{0}")]
    Label(String),
    /// A `fieldSelector` that does not parse (no operator, bad escape).
    #[error("{0}")]
    Field(String),
    /// A field selector naming a field the kind cannot be selected by.
    #[error("{0}")]
    UnsupportedField(String),
}

/// How a label requirement relates the label's value to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key in (a,b)`: the label is set to one of the values.
    In,
    /// `key notin (a,b)`: the label is unset or set to none of the values.
    NotIn,
    /// `key=a`.
    Equals,
    /// `key==a`, the same as `=` but printed back as written.
    DoubleEquals,
    /// `key!=a`: the label is unset or set to another value.
    NotEquals,
    /// `key`: the label is set.
    Exists,
    /// `!key`: the label is unset.
    DoesNotExist,
    /// `key>3`: the label is set to an integer greater than the value.
    GreaterThan,
    /// `key<3`: the label is set to an integer less than the value.
    LessThan,
}

impl Operator {
    /// The operator as kube spells it in messages (`selection.Operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One condition of a label selector: a key, an operator and the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
    /// The single value of `>`/`<`, parsed once here rather than for every
    /// object matched.
    bound: Option<i64>,
}

impl Requirement {
    /// Builds a requirement with kube's `labels.NewRequirement` checks: the
    /// key must be a qualified name, the values label values, and their
    /// number must suit the operator. The error is the aggregated text kube
    /// reports, with field paths `key`, `values` and `values[i][key]`.
    pub fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Requirement, SelectorError> {
        let mut errs = Vec::new();
        if let Some(e) = label_key_error(key, "key") {
            errs.push(e);
        }
        let values_path = Path::new("values");
        let list = || Value::Array(values.iter().cloned().map(Value::String).collect());
        let mut bound = None;
        match op {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid(
                        &values_path,
                        list(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    match parse_go_int(v) {
                        Some(n) => bound = Some(n),
                        None => errs.push(FieldError::invalid(
                            values_path.index(i),
                            Value::String(v.clone()),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        )),
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    values_path.index(i).key(key),
                    Value::String(v.clone()),
                    msgs.join("; "),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(SelectorError::Label(aggregate(&errs)));
        }
        Ok(Requirement {
            key: key.to_string(),
            op,
            values,
            bound,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values, in the order given (sorted when parsed from a string).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a set of labels satisfies this requirement, as kube's
    /// `Requirement.Matches`. A label whose value is not a string (which
    /// kube cannot hold) counts as set but equal to nothing.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let got = labels.get(&self.key);
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => match got {
                Some(v) => self.has_value(v),
                None => false,
            },
            Operator::NotIn | Operator::NotEquals => match got {
                Some(v) => !self.has_value(v),
                None => true,
            },
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(Value::String(s)), Some(bound)) = (got, self.bound) else {
                    return false;
                };
                let Some(n) = parse_go_int(s) else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    n > bound
                } else {
                    n < bound
                }
            }
        }
    }

    fn has_value(&self, v: &Value) -> bool {
        match v {
            Value::String(s) => self.values.iter().any(|x| x == s),
            _ => false,
        }
    }
}

impl fmt::Display for Requirement {
    /// kube's `Requirement.String()`: `!k`, `k`, `k=v`, `k==v`, `k!=v`,
    /// `k in (a,b)`, `k notin (a,b)`, `k>v`, `k<v`, with set values sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (before, after) = match self.op {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", ""),
            Operator::DoubleEquals => ("==", ""),
            Operator::NotEquals => ("!=", ""),
            Operator::In => (" in (", ")"),
            Operator::NotIn => (" notin (", ")"),
            Operator::GreaterThan => (">", ""),
            Operator::LessThan => ("<", ""),
        };
        f.write_str(before)?;
        if self.values.len() == 1 {
            f.write_str(&self.values[0])?;
        } else {
            let mut sorted: Vec<&str> = self.values.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            f.write_str(&sorted.join(","))?;
        }
        f.write_str(after)
    }
}

/// A label selector: requirements that must all hold, or the selector that
/// matches nothing (what a null `metav1.LabelSelector` converts to).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// Sorted by key, as kube sorts them, so the printed form is canonical.
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object (`labels.Everything()`).
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// The selector that matches no object (`labels.Nothing()`).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses a `labelSelector` query parameter exactly as kube's
    /// `labels.Parse`: same grammar, same whitespace, same error texts
    /// (`unable to parse requirement: ...`, `found ',', expected: ...`).
    /// The empty (or all-blank) string selects everything.
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let items = lex(selector);
        let mut parser = Parser { items, pos: 0 };
        let mut requirements = parser.parse().map_err(SelectorError::Label)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels` and
    /// `matchExpressions`), as kube's `LabelSelectorAsSelector`: null is the
    /// selector that matches nothing, an empty object matches everything,
    /// and a bad key, value or operator is an error with kube's text.
    pub fn from_object(selector: &Value) -> Result<LabelSelector, SelectorError> {
        let obj = match selector {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => {
                return Err(SelectorError::Label(format!(
                    "a label selector must be an object, not {}",
                    json_type(other)
                )));
            }
        };
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                return Err(SelectorError::Label(format!(
                    "matchLabels must be an object, not {}",
                    json_type(other)
                )));
            }
        };
        let expressions = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(other) => {
                return Err(SelectorError::Label(format!(
                    "matchExpressions must be an array, not {}",
                    json_type(other)
                )));
            }
        };
        if match_labels.is_none_or(Map::is_empty) && expressions.is_empty() {
            return Ok(LabelSelector::everything());
        }
        let mut requirements = Vec::new();
        if let Some(m) = match_labels {
            // Go walks the map in random order; sorted keys make the first
            // error reported the same on every request.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            for k in keys {
                let Some(v) = m.get(k).and_then(Value::as_str) else {
                    return Err(SelectorError::Label(format!(
                        "matchLabels[{k}] must be a string"
                    )));
                };
                requirements.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
            }
        }
        for expr in expressions {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
            let op_name = expr.get("operator").and_then(Value::as_str).unwrap_or("");
            let op = match op_name {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::Label(format!(
                        "{} is not a valid label selector operator",
                        crate::field::go_quote(other)
                    )));
                }
            };
            let values = match expr.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => {
                    let mut out = Vec::with_capacity(a.len());
                    for v in a {
                        let Some(s) = v.as_str() else {
                            return Err(SelectorError::Label(format!(
                                "matchExpressions values must be strings, not {}",
                                json_type(v)
                            )));
                        };
                        out.push(s.to_string());
                    }
                    out
                }
                Some(other) => {
                    return Err(SelectorError::Label(format!(
                        "matchExpressions values must be an array, not {}",
                        json_type(other)
                    )));
                }
            };
            requirements.push(Requirement::new(key, op, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// The selector that matches exactly a set of labels, unchecked, as
    /// kube's `SelectorFromValidatedSet` (a Service's `spec.selector`, a
    /// ReplicationController's). An empty map matches everything; values
    /// that are not strings are skipped.
    pub fn from_map(labels: &Map<String, Value>) -> LabelSelector {
        let mut requirements: Vec<Requirement> = labels
            .iter()
            .filter_map(|(k, v)| {
                v.as_str().map(|s| Requirement {
                    key: k.clone(),
                    op: Operator::Equals,
                    values: vec![s.to_string()],
                    bound: None,
                })
            })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// Whether the selector places no restriction (kube's `Empty()`).
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this is the selector that matches nothing.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether a set of labels (an object's `metadata.labels`) satisfies
    /// every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Like [`matches`](Self::matches), for labels that may be absent: no
    /// map means no labels.
    pub fn matches_labels(&self, labels: Option<&Map<String, Value>>) -> bool {
        match labels {
            Some(l) => self.matches(l),
            None => self.matches(empty_map()),
        }
    }

    /// Whether an object's `metadata.labels` satisfies the selector.
    pub fn matches_object(&self, object: &Value) -> bool {
        let labels = object
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.matches_labels(labels)
    }

    /// The one value a label must have for the selector to match, if it
    /// pins one (`k=v`, `k==v`, `k in (v)`), as kube's `RequiresExactMatch`.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match r.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In if r.values.len() == 1 => {
                Some(r.values[0].as_str())
            }
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    /// kube's `String()`: the requirements sorted by key, joined with `,`.
    /// Both the everything and the nothing selector print as `""`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// How a field requirement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a field selector, with the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field's name, e.g. `metadata.name`.
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The value compared with, `\,` `\=` `\\` already unescaped.
    pub value: String,
}

impl FieldRequirement {
    fn matches_value(&self, got: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => got == self.value,
            FieldOperator::NotEquals => got != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A field selector: terms that must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    /// In kube's order: the terms sorted by their text as written.
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches every object.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Parses a `fieldSelector` query parameter exactly as kube's
    /// `fields.ParseSelector`: terms split on unescaped `,`, each split at
    /// its first `!=`, `==` or `=`, values unescaped (`\,` `\=` `\\`), empty
    /// terms skipped, with kube's error texts.
    pub fn parse(selector: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_field_terms(selector);
        parts.sort_unstable();
        let mut requirements = Vec::with_capacity(parts.len());
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_field_term(part) else {
                return Err(SelectorError::Field(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let value = unescape_field_value(rhs)?;
            requirements.push(FieldRequirement {
                field: lhs.to_string(),
                operator: op,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector places no restriction.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The terms, in kube's order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether an object matches, given a way to read its selectable
    /// fields. As in kube (`fields.Set.Get`), a field the object does not
    /// have reads as the empty string.
    pub fn matches<F, S>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<S>,
        S: AsRef<str>,
    {
        self.requirements.iter().all(|r| match get(&r.field) {
            Some(v) => r.matches_value(v.as_ref()),
            None => r.matches_value(""),
        })
    }

    /// The value a field must equal for the selector to match, if a term
    /// pins one (kube's `RequiresExactMatch`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Checks every term against the fields a built-in kind can be selected
    /// by, and renames the aliases kube renames (`spec.host` on pods,
    /// `regarding.*` on events.k8s.io events), as kube's handler does with
    /// the kind's field label conversion. The first unsupported term (in
    /// kube's order) is the error, worded as that kind's conversion words
    /// it. Terms whose field and value are both empty are dropped, as
    /// kube's `Transform` drops them.
    pub fn convert(&self, group: &str, kind: &str) -> Result<FieldSelector, SelectorError> {
        self.convert_with(|label| {
            if !supported_fields(group, kind).contains(&label) {
                return Err(field_label_error(group, kind, label));
            }
            Ok(canonical_field_label(group, kind, label))
        })
    }

    /// Checks every term against the fields a custom resource can be
    /// selected by: `metadata.name`, `metadata.namespace` when namespaced,
    /// and the CRD's `selectableFields` (their `jsonPath` without the
    /// leading dot). Anything else is `field label not supported: <name>`.
    pub fn convert_for_custom_resource(
        &self,
        selectable: &[&str],
        namespaced: bool,
    ) -> Result<FieldSelector, SelectorError> {
        self.convert_with(|label| {
            if selectable.contains(&label)
                || label == "metadata.name"
                || (namespaced && label == "metadata.namespace")
            {
                Ok(label)
            } else {
                Err(field_label_not_supported(label))
            }
        })
    }

    fn convert_with<'s, F>(&'s self, mut f: F) -> Result<FieldSelector, SelectorError>
    where
        F: FnMut(&'s str) -> Result<&'s str, String>,
    {
        let mut requirements = Vec::with_capacity(self.requirements.len());
        for r in &self.requirements {
            let field = f(&r.field).map_err(SelectorError::UnsupportedField)?;
            if field.is_empty() && r.value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator: r.operator,
                value: r.value.clone(),
            });
        }
        Ok(FieldSelector { requirements })
    }
}

impl fmt::Display for FieldSelector {
    /// kube's `String()`: the terms joined with `,`, values re-escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Fields every kind without its own conversion can be selected by
/// (`runtime.DefaultMetaV1FieldSelectorConversion`): ConfigMaps,
/// Deployments, and every other kind not listed below.
pub const GENERIC_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Namespaces: cluster-scoped, so no `metadata.namespace`.
pub const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "status.phase"];
/// Secrets.
pub const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];
/// Core (`v1`) Events.
pub const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
/// `events.k8s.io` Events, whose names are renamed to the core ones
/// ([`canonical_field_label`]).
pub const EVENTS_API_EVENT_FIELDS: &[&str] = &[
    "reason",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reportingController",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
/// Services.
pub const SERVICE_FIELDS: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
/// Pods (`spec.host` is a legacy spelling of `spec.nodeName`).
pub const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
    "spec.host",
];
/// Nodes: cluster-scoped.
pub const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
/// ReplicationControllers.
pub const REPLICATION_CONTROLLER_FIELDS: &[&str] =
    &["metadata.name", "metadata.namespace", "status.replicas"];
/// `batch` Jobs.
pub const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
/// `certificates.k8s.io` CertificateSigningRequests: cluster-scoped.
pub const CERTIFICATE_SIGNING_REQUEST_FIELDS: &[&str] = &["metadata.name", "spec.signerName"];

/// The fields a built-in kind can be selected by, as its field label
/// conversion in kube 1.33 accepts them. Kinds without their own
/// conversion get [`GENERIC_FIELDS`]. Custom resources are not decided
/// here (see [`FieldSelector::convert_for_custom_resource`]).
pub fn supported_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Namespace") => NAMESPACE_FIELDS,
        ("", "Secret") => SECRET_FIELDS,
        ("", "Event") => EVENT_FIELDS,
        ("events.k8s.io", "Event") => EVENTS_API_EVENT_FIELDS,
        ("", "Service") => SERVICE_FIELDS,
        ("", "Pod") => POD_FIELDS,
        ("", "Node") => NODE_FIELDS,
        ("", "ReplicationController") => REPLICATION_CONTROLLER_FIELDS,
        ("batch", "Job") => JOB_FIELDS,
        ("certificates.k8s.io", "CertificateSigningRequest") => CERTIFICATE_SIGNING_REQUEST_FIELDS,
        _ => GENERIC_FIELDS,
    }
}

/// The name a supported field is matched under, after kube's conversion
/// renames it: pods' `spec.host` is `spec.nodeName`, and events.k8s.io's
/// `regarding.*` and `reportingController` are the core Event names. Any
/// other field is its own name.
pub fn canonical_field_label<'a>(group: &str, kind: &str, label: &'a str) -> &'a str {
    match (group, kind, label) {
        ("", "Pod", "spec.host") => "spec.nodeName",
        ("events.k8s.io", "Event", l) => match l {
            "regarding.kind" => "involvedObject.kind",
            "regarding.namespace" => "involvedObject.namespace",
            "regarding.name" => "involvedObject.name",
            "regarding.uid" => "involvedObject.uid",
            "regarding.apiVersion" => "involvedObject.apiVersion",
            "regarding.resourceVersion" => "involvedObject.resourceVersion",
            "regarding.fieldPath" => "involvedObject.fieldPath",
            "reportingController" => "reportingComponent",
            other => other,
        },
        _ => label,
    }
}

/// The text kube answers (as a `400 BadRequest`) when a field selector
/// names a field the kind cannot be selected by. The wording depends on the
/// kind's conversion function: most say `field label not supported: x`,
/// batch Jobs say `field label "x" not supported for batchv1.Job`, and kinds
/// without their own say `"x" is not a known field selector: only
/// "metadata.name", "metadata.namespace"`.
pub fn field_label_error(group: &str, kind: &str, label: &str) -> String {
    match (group, kind) {
        ("", "Namespace" | "Secret" | "Event" | "Service" | "Pod" | "Node")
        | ("", "ReplicationController")
        | ("events.k8s.io", "Event")
        | ("certificates.k8s.io", "CertificateSigningRequest") => field_label_not_supported(label),
        ("batch", "Job") => format!(
            "field label {} not supported for batchv1.Job",
            crate::field::go_quote(label)
        ),
        _ => format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            crate::field::go_quote(label)
        ),
    }
}

/// `field label not supported: <name>`, the most common wording of an
/// unsupported field (and the only one for custom resources).
pub fn field_label_not_supported(label: &str) -> String {
    format!("field label not supported: {label}")
}

/// Escapes a field selector value as kube's `fields.EscapeValue`.
pub fn escape_field_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// Field selector grammar.

/// Splits on commas not preceded by a backslash, keeping escapes in place.
fn split_field_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::with_capacity(1);
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first operator; at each position `!=` is tried
/// before `==` before `=`, so `a==b` is `a` `==` `b`.
fn split_field_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if rest.starts_with("!=") {
            return Some((&term[..i], FieldOperator::NotEquals, &term[i + 2..]));
        }
        if rest.starts_with("==") {
            return Some((&term[..i], FieldOperator::Equals, &term[i + 2..]));
        }
        if rest.starts_with('=') {
            return Some((&term[..i], FieldOperator::Equals, &term[i + 1..]));
        }
    }
    None
}

fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => {
                    return Err(SelectorError::Field(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    )));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go prints the rune with %v, which is its number.
            ',' | '=' => {
                return Err(SelectorError::Field(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )));
            }
            other => out.push(other),
        }
    }
    if in_slash {
        return Err(SelectorError::Field(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Label selector grammar: a port of the behaviour of kube's lexer and
// recursive-descent parser, including its quirks (a NUL byte ends the
// input when a token would start, `in`/`notin` are values inside values).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

#[derive(Debug, Clone)]
struct Item<'a> {
    tok: Token,
    lit: std::borrow::Cow<'a, str>,
}

/// Which reading of `in`/`notin` applies: as operators after a key, or as
/// plain identifiers anywhere a value (or key) may stand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

fn literal_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the whole input into tokens, ending with one `EndOfString`.
fn lex(input: &str) -> Vec<Item<'_>> {
    let s = input.as_bytes();
    let mut pos = 0;
    let mut items = Vec::new();
    loop {
        // Skip blanks; like kube's reader, a NUL byte reads as the end.
        while pos < s.len() && is_whitespace(s[pos]) {
            pos += 1;
        }
        if pos >= s.len() || s[pos] == 0 {
            items.push(Item {
                tok: Token::EndOfString,
                lit: "".into(),
            });
            return items;
        }
        let start = pos;
        if is_special(s[pos]) {
            let mut last: Option<(Token, usize)> = None;
            while pos < s.len() {
                let b = s[pos];
                if b == 0 {
                    pos += 1;
                    break;
                }
                if !is_special(b) {
                    break;
                }
                pos += 1;
                match literal_token(&s[start..pos]) {
                    Some(t) => last = Some((t, pos)),
                    None if last.is_some() => {
                        pos -= 1;
                        break;
                    }
                    None => {}
                }
            }
            match last {
                Some((tok, end)) => items.push(Item {
                    tok,
                    lit: input[start..end].into(),
                }),
                // Every special character is a token on its own, so this
                // cannot happen; kept for parity with kube's lexer.
                None => items.push(Item {
                    tok: Token::Error,
                    lit: format!(
                        "error expected: keyword found '{}'",
                        &input[start..pos.min(s.len())]
                    )
                    .into(),
                }),
            }
        } else {
            let end;
            loop {
                if pos >= s.len() {
                    end = pos;
                    break;
                }
                let b = s[pos];
                if b == 0 {
                    end = pos;
                    pos += 1;
                    break;
                }
                if is_special(b) || is_whitespace(b) {
                    end = pos;
                    break;
                }
                pos += 1;
            }
            // Slicing at ASCII bytes keeps to character boundaries.
            let lit = &input[start..end];
            let tok = literal_token(lit.as_bytes()).unwrap_or(Token::Identifier);
            items.push(Item {
                tok,
                lit: lit.into(),
            });
        }
    }
}

struct Parser<'a> {
    items: Vec<Item<'a>>,
    pos: usize,
}

/// A requirement as written, before kube's checks.
struct Parsed {
    key: String,
    op: Operator,
    values: Vec<String>,
}

impl<'a> Parser<'a> {
    fn peek(&self, ctx: Context) -> (Token, &str) {
        match self.items.get(self.pos) {
            Some(item) => (contextual(item.tok, ctx), &item.lit),
            None => (Token::EndOfString, ""),
        }
    }

    fn next(&mut self, ctx: Context) -> (Token, String) {
        let (tok, lit) = {
            let (t, l) = self.peek(ctx);
            (t, l.to_string())
        };
        if self.pos < self.items.len() {
            self.pos += 1;
        }
        (tok, lit)
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut out = Vec::new();
        loop {
            let (tok, lit) = self.peek(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    out.push(r);
                    let (t, l) = self.next(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(out),
                        Token::Comma => {
                            let (t2, l2) = self.peek(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(out),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let p = self.parse_requirement_syntax()?;
        Requirement::new(&p.key, p.op, p.values).map_err(|e| e.to_string())
    }

    fn parse_requirement_syntax(&mut self) -> Result<Parsed, String> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Ok(Parsed {
                key,
                op,
                values: Vec::new(),
            });
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Ok(Parsed { key, op, values })
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.next(Context::Values);
        if tok == Token::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.next(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        if let Some(e) = label_key_error(&lit, "<nil>") {
            return Err(e.to_string());
        }
        let (t, _) = self.peek(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.next(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.next(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = {
            let (t, l) = self.peek(Context::Values);
            (t, l.to_string())
        };
        match tok {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (t, _) = self.next(Context::Values);
                if t != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.next(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    /// A comma-separated list of possibly empty identifiers, as a sorted
    /// set (kube collects them in a `sets.String`).
    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut set: Vec<String> = Vec::new();
        let insert = |set: &mut Vec<String>, v: String| {
            if let Err(i) = set.binary_search(&v) {
                set.insert(i, v);
            }
        };
        loop {
            let (tok, lit) = self.next(Context::Values);
            match tok {
                Token::Identifier => {
                    insert(&mut set, lit);
                    let (t2, l2) = self.peek(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        insert(&mut set, String::new());
                    }
                    let (t2, _) = self.peek(Context::Values);
                    if t2 == Token::ClosedPar {
                        insert(&mut set, String::new());
                        return Ok(set);
                    }
                    if t2 == Token::Comma {
                        insert(&mut set, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.peek(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.next(Context::Values);
        if tok == Token::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

fn contextual(tok: Token, ctx: Context) -> Token {
    match (ctx, tok) {
        (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
        _ => tok,
    }
}

/// kube's `validateLabelKey`: one field error whose detail joins every
/// problem with `; `. The selector parser reports it under the path
/// `<nil>` (it has none), `NewRequirement` under `key`.
fn label_key_error(key: &str, path: &str) -> Option<FieldError> {
    let msgs = is_qualified_name(key);
    if msgs.is_empty() {
        None
    } else {
        Some(FieldError::invalid(
            path,
            Value::String(key.to_string()),
            msgs.join("; "),
        ))
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits.
fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().to_string()
    }

    fn canon(s: &str) -> String {
        LabelSelector::parse(s).unwrap().to_string()
    }

    const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn valid_selectors_print_canonically() {
        // Cases from kube's selector_test.go TestSelectorParse and friends.
        let cases = [
            ("", ""),
            ("   ", ""),
            ("a=b", "a=b"),
            ("a==b", "a==b"),
            ("a!=b", "a!=b"),
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("z=c,y=b,x=a", "x=a,y=b,z=c"),
            ("x = a", "x=a"),
            (" x in ( a , b ) ", "x in (a,b)"),
            ("x in (b,a,a)", "x in (a,b)"),
            ("x notin (a)", "x notin (a)"),
            (
                "x in (foo,,baz),y,z notin ()",
                "x in (,baz,foo),y,z notin ()",
            ),
            ("x in (,)", "x in ()"),
            ("x in (,a)", "x in (,a)"),
            ("x in (a,)", "x in (,a)"),
            ("!x", "!x"),
            ("x", "x"),
            ("x>1", "x>1"),
            ("x<1", "x<1"),
            ("x=", "x="),
            ("x=,z= ", "x=,z="),
            ("x= ,z= ", "x=,z="),
            ("x=in", "x=in"),
            ("in in (in, notin)", "in in (in,notin)"),
            ("notin", "notin"),
            ("example.com/key=value", "example.com/key=value"),
            ("a=b\t,\nc=d\r", "a=b,c=d"),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "input {input:?}");
        }
    }

    #[test]
    fn syntax_errors_read_like_kube() {
        let cases = [
            (
                "a b",
                "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
            ),
            ("x=a,", "found '', expected: identifier after ','"),
            ("x=a,,y=b", "found ',', expected: identifier after ','"),
            (
                ",",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            (
                "=a",
                "found '=', expected: !, identifier, or 'end of string'",
            ),
            ("x=a b", "found 'b', expected: ',' or 'end of string'"),
            ("x=a=b", "found '=', expected: ',' or 'end of string'"),
            (
                "x in a",
                "unable to parse requirement: found 'a' expected: '('",
            ),
            (
                "x in (a",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "x in (a b)",
                "unable to parse requirement: found 'b', expected: ',' or ')'",
            ),
            (
                "x in (=)",
                "unable to parse requirement: found '=', expected: ',', ')' or identifier",
            ),
            (
                "x in (a,=)",
                "unable to parse requirement: found '=', expected: ',', or identifier",
            ),
            (
                "x in",
                "unable to parse requirement: found '' expected: '('",
            ),
            (
                "!",
                "unable to parse requirement: found '', expected: identifier",
            ),
            (
                "!=a",
                "found '!=', expected: !, identifier, or 'end of string'",
            ),
            ("x=a==b", "found '==', expected: ',' or 'end of string'"),
            (
                "!!x",
                "unable to parse requirement: found '!', expected: identifier",
            ),
            (
                "x<=1",
                "unable to parse requirement: found '=', expected: identifier",
            ),
            (
                "x=(",
                "unable to parse requirement: found '(', expected: identifier",
            ),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            (
                "x !a",
                "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "(",
                "found '(', expected: !, identifier, or 'end of string'",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(input), want, "input {input:?}");
        }
    }

    #[test]
    fn bad_keys_report_the_nil_path_like_kube() {
        // The exact text kubectl shows after its own prefix, e.g. for
        // `kubectl get pods -l app:monolith`.
        assert_eq!(
            err("app:monolith"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": {NAME_PART}"
            )
        );
        assert_eq!(
            err("a/b/c ?=? def"),
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        );
        assert_eq!(
            err("app.kubernetes_io/name=x"),
            "unable to parse requirement: <nil>: Invalid value: \"app.kubernetes_io/name\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        let long = "k".repeat(64);
        assert_eq!(
            err(&long),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"
            )
        );
        // Several problems are joined with "; " in one error.
        assert_eq!(
            err("/x"),
            "unable to parse requirement: <nil>: Invalid value: \"/x\": prefix part must be non-empty"
        );
        assert_eq!(
            err("a/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; {NAME_PART}"
            )
        );
    }

    #[test]
    fn bad_values_report_the_values_path() {
        assert_eq!(
            err("a=-b"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-b\": {LABEL_VALUE}"
            )
        );
        let long = "v".repeat(64);
        assert_eq!(
            err(&format!("a={long}")),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"{long}\": must be no more than 63 characters"
            )
        );
        // Two bad values: kube aggregates in brackets.
        assert_eq!(
            err("a in (-x,-y)"),
            format!(
                "unable to parse requirement: [values[0][a]: Invalid value: \"-x\": {LABEL_VALUE}, values[1][a]: Invalid value: \"-y\": {LABEL_VALUE}]"
            )
        );
        // -1 is an integer, but not a label value.
        assert_eq!(
            err("x>-1"),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"-1\": {LABEL_VALUE}"
            )
        );
        assert_eq!(
            err("x=a||y=b"),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {LABEL_VALUE}"
            )
        );
        assert_eq!(
            err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            err("a<"),
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            err("a>99999999999999999999"),
            "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn nul_bytes_behave_like_kubes_reader() {
        // At a token's start a NUL ends the input; inside one it splits.
        assert_eq!(
            err("a=b\0garbage"),
            "found 'garbage', expected: ',' or 'end of string'"
        );
        assert_eq!(canon("a=b \0garbage here"), "a=b");
        // After an operator or comma the NUL is eaten with it.
        assert_eq!(canon("a=b,\0c"), "a=b,c");
        assert_eq!(err("a=b, \0c"), "found '', expected: identifier after ','");
        assert_eq!(
            err("a\0b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(canon("a=b\0,c"), "a=b,c");
        assert_eq!(canon("\0a b c"), "");
    }

    #[test]
    fn matching_follows_kube() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5", "empty": ""}));
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "app in (web,db)",
            "app notin (db)",
            "missing notin (db)",
            "app",
            "!missing",
            "n>4",
            "n<6",
            "empty=",
            "empty in ()",
            "app=web,tier=front",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&l), "{s}");
        }
        let no = [
            "app=db",
            "app!=web",
            "missing=x",
            "app in (db)",
            "app notin (web)",
            "missing",
            "!app",
            "n>5",
            "n<5",
            "missing>1",
            "app>1",
            "app=web,tier=back",
            "missing in ()",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&l), "{s}");
        }
    }

    #[test]
    fn missing_labels_are_no_labels() {
        let sel = LabelSelector::parse("!app,x notin (y)").unwrap();
        assert!(sel.matches_labels(None));
        assert!(sel.matches_object(&json!({"metadata": {"name": "a"}})));
        assert!(!sel.matches_object(&json!({"metadata": {"labels": {"app": "a"}}})));
        assert!(LabelSelector::everything().matches_labels(None));
        assert!(!LabelSelector::nothing().matches_labels(None));
    }

    #[test]
    fn everything_and_nothing() {
        assert!(LabelSelector::parse("").unwrap().is_everything());
        assert!(!LabelSelector::parse("a").unwrap().is_everything());
        assert!(!LabelSelector::nothing().is_everything());
        assert_eq!(LabelSelector::nothing().to_string(), "");
    }

    #[test]
    fn from_object_converts_like_label_selector_as_selector() {
        assert!(
            LabelSelector::from_object(&Value::Null)
                .unwrap()
                .is_nothing()
        );
        assert!(
            LabelSelector::from_object(&json!({}))
                .unwrap()
                .is_everything()
        );
        assert!(
            LabelSelector::from_object(&json!({"matchLabels": {}, "matchExpressions": []}))
                .unwrap()
                .is_everything()
        );
        let sel = LabelSelector::from_object(&json!({
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "c", "operator": "In", "values": ["y", "x"]},
                {"key": "d", "operator": "NotIn", "values": ["z"]},
                {"key": "e", "operator": "Exists"},
                {"key": "f", "operator": "DoesNotExist", "values": []}
            ]
        }))
        .unwrap();
        assert_eq!(sel.to_string(), "a=1,b=2,c in (x,y),d notin (z),e,!f");
        assert!(sel.matches(&labels(json!({"a": "1", "b": "2", "c": "x", "e": ""}))));
        assert!(!sel.matches(&labels(
            json!({"a": "1", "b": "2", "c": "x", "e": "", "f": "1"})
        )));
        assert_eq!(sel.requires_exact_match("a"), Some("1"));
        assert_eq!(sel.requires_exact_match("c"), None);
    }

    #[test]
    fn from_object_errors_read_like_kube() {
        let e = |v: Value| LabelSelector::from_object(&v).unwrap_err().to_string();
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            e(json!({"matchLabels": {"a b": "c"}})),
            format!("key: Invalid value: \"a b\": {NAME_PART}")
        );
        assert_eq!(
            e(json!({"matchExpressions": [{"key": "-", "operator": "In", "values": []}]})),
            format!(
                "[key: Invalid value: \"-\": {NAME_PART}, values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty]"
            )
        );
        assert!(LabelSelector::from_object(&json!("a=b")).is_err());
        assert!(LabelSelector::from_object(&json!({"matchLabels": {"a": 1}})).is_err());
    }

    #[test]
    fn from_map_is_unchecked_and_sorted() {
        let sel = LabelSelector::from_map(&labels(json!({"z": "1", "a": "b c"})));
        assert_eq!(sel.to_string(), "a=b c,z=1");
        assert!(sel.matches(&labels(json!({"z": "1", "a": "b c", "q": "r"}))));
        assert!(LabelSelector::from_map(&Map::new()).is_everything());
    }

    #[test]
    fn odd_inputs_never_panic() {
        let inputs = [
            "\u{1F600}",
            "é=é",
            "a=\u{1F600}",
            "(((((",
            ")))",
            "!!!!!!",
            "a in ((((",
            "a in (,,,,,)",
            "<><><>",
            "a>>b",
            "\\",
            "\0",
            "a,\0",
            "in",
            "in in",
            "notin in (notin)",
            "=====",
            "a!==b",
        ];
        for s in inputs {
            let _ = LabelSelector::parse(s);
        }
        let huge = "a=b,".repeat(10_000) + "c";
        assert_eq!(
            LabelSelector::parse(&huge).unwrap().requirements().len(),
            10_001
        );
        assert_eq!(
            err("é=é"),
            format!("unable to parse requirement: <nil>: Invalid value: \"é\": {NAME_PART}")
        );
    }

    #[test]
    fn field_selectors_parse_like_kube() {
        let cases = [
            ("", ""),
            (",", ""),
            ("a=b", "a=b"),
            ("a==b", "a=b"),
            ("a!=b", "a!=b"),
            ("b=2,a=1", "a=1,b=2"),
            ("a=", "a="),
            ("=b", "=b"),
            ("a=b\\,c", "a=b\\,c"),
            ("a=b\\=c\\\\d", "a=b\\=c\\\\d"),
            ("metadata.name=x,,", "metadata.name=x"),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap();
            assert_eq!(sel.to_string(), want, "{input:?}");
        }
        let sel = FieldSelector::parse("a=b\\,c\\=d\\\\").unwrap();
        assert_eq!(sel.requirements()[0].value, "b,c=d\\");
        assert!(FieldSelector::parse("").unwrap().is_everything());
        assert!(FieldSelector::parse(",,").unwrap().is_everything());
        assert!(!FieldSelector::parse("a=b").unwrap().is_everything());
    }

    #[test]
    fn field_selector_errors_read_like_kube() {
        let e = |s: &str| FieldSelector::parse(s).unwrap_err().to_string();
        assert_eq!(e("a"), "invalid selector: 'a'; can't understand 'a'");
        assert_eq!(
            e("x=1,a"),
            "invalid selector: 'x=1,a'; can't understand 'a'"
        );
        assert_eq!(
            e("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            e("a!==b"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            e("a=b\\"),
            "invalid field selector: invalid escape sequence: \\"
        );
        assert_eq!(
            e("a=b\\x"),
            "invalid field selector: invalid escape sequence: \\x"
        );
        assert_eq!(
            e("a=\\é"),
            "invalid field selector: invalid escape sequence: \\é"
        );
        // The escaped comma keeps the term whole; a bare one splits it.
        assert_eq!(
            e("a\\,b"),
            "invalid selector: 'a\\,b'; can't understand 'a\\,b'"
        );
    }

    #[test]
    fn field_matching_reads_missing_fields_as_empty() {
        let get = |f: &str| match f {
            "metadata.name" => Some("web".to_string()),
            "spec.type" => Some(String::new()),
            _ => None,
        };
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches(get);
        assert!(m("metadata.name=web"));
        assert!(m("metadata.name==web"));
        assert!(!m("metadata.name!=web"));
        assert!(m("status.phase="));
        assert!(m("status.phase!=Running"));
        assert!(!m("status.phase=Running"));
        assert!(m("spec.type="));
        assert!(m(""));
        let sel = FieldSelector::parse("metadata.name=web").unwrap();
        assert!(sel.matches(|f| (f == "metadata.name").then_some("web")));
        assert_eq!(sel.requires_exact_match("metadata.name"), Some("web"));
        assert_eq!(sel.requires_exact_match("x"), None);
    }

    #[test]
    fn field_conversion_rejects_unsupported_fields_like_kube() {
        let sel = |s: &str| FieldSelector::parse(s).unwrap();
        assert_eq!(
            sel("status.phase=Active")
                .convert("", "Namespace")
                .unwrap()
                .to_string(),
            "status.phase=Active"
        );
        assert_eq!(
            sel("metadata.namespace=x")
                .convert("", "Namespace")
                .unwrap_err()
                .to_string(),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            sel("spec.foo=x")
                .convert("", "ConfigMap")
                .unwrap_err()
                .to_string(),
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert_eq!(
            sel("status.failed=1")
                .convert("batch", "Job")
                .unwrap_err()
                .to_string(),
            "field label \"status.failed\" not supported for batchv1.Job"
        );
        assert_eq!(
            sel("spec.host=n1").convert("", "Pod").unwrap().to_string(),
            "spec.nodeName=n1"
        );
        assert_eq!(
            sel("regarding.name=p,reportingController=k")
                .convert("events.k8s.io", "Event")
                .unwrap()
                .to_string(),
            "involvedObject.name=p,reportingComponent=k"
        );
        assert!(
            sel("involvedObject.name=p")
                .convert("events.k8s.io", "Event")
                .is_err()
        );
        assert!(sel("type=Opaque").convert("", "Secret").is_ok());
        assert!(
            sel("spec.clusterIP=None,spec.type=ClusterIP")
                .convert("", "Service")
                .is_ok()
        );
        // The first bad term in kube's (sorted) order is the one reported.
        assert_eq!(
            sel("z=1,b=2")
                .convert("", "Secret")
                .unwrap_err()
                .to_string(),
            "field label not supported: b"
        );
        // "=" alone is a term with an empty field: unsupported everywhere.
        assert_eq!(
            sel("=").convert("", "Secret").unwrap_err().to_string(),
            "field label not supported: "
        );
    }

    #[test]
    fn custom_resource_fields() {
        let sel = |s: &str| FieldSelector::parse(s).unwrap();
        assert!(
            sel("spec.color=red")
                .convert_for_custom_resource(&["spec.color"], true)
                .is_ok()
        );
        assert!(
            sel("metadata.namespace=a")
                .convert_for_custom_resource(&[], true)
                .is_ok()
        );
        assert_eq!(
            sel("metadata.namespace=a")
                .convert_for_custom_resource(&[], false)
                .unwrap_err()
                .to_string(),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            sel("spec.size=1")
                .convert_for_custom_resource(&[], true)
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.size"
        );
    }

    #[test]
    fn supported_field_tables() {
        assert_eq!(supported_fields("apps", "Deployment"), GENERIC_FIELDS);
        assert_eq!(supported_fields("", "Namespace"), NAMESPACE_FIELDS);
        assert!(supported_fields("", "Event").contains(&"involvedObject.uid"));
        assert!(supported_fields("", "Service").contains(&"spec.type"));
        assert_eq!(escape_field_value("a,b=c\\"), "a\\,b\\=c\\\\");
    }
}
