use serde_json::{Value, json};

use crate::field::Path;
use crate::schema::{Schema, SchemaError};

fn crd_path() -> Path {
    Path::new("spec")
        .child("versions")
        .index(0)
        .child("schema")
        .child("openAPIV3Schema")
}

fn schema(v: Value) -> Schema {
    match Schema::from_crd(&v, &crd_path()) {
        Ok(s) => s,
        Err(e) => panic!("schema refused: {e}"),
    }
}

fn refused(v: Value) -> Vec<String> {
    match Schema::from_crd(&v, &crd_path()) {
        Ok(_) => panic!("schema accepted"),
        Err(SchemaError::Invalid(errs)) => errs.iter().map(|e| e.to_string()).collect(),
        Err(e) => panic!("unexpected {e}"),
    }
}

fn errors(s: &Schema, v: Value, old: Option<Value>) -> Vec<String> {
    s.validate_update(&v, old.as_ref(), None)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

/// A root schema whose `spec` has `props` and the rules `rules`.
fn spec_schema(props: Value, rules: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": props, "x-kubernetes-validations": rules}
        }
    })
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "a"}, "spec": spec})
}

#[test]
fn immutable_field_fails_on_change_only() {
    let s = schema(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "controllerName": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "Value is immutable"}
            ]}
        }}}
    }));
    assert!(s.has_rules());
    let a = obj(json!({"controllerName": "a"}));
    let b = obj(json!({"controllerName": "b"}));
    assert!(errors(&s, a.clone(), None).is_empty());
    assert!(errors(&s, a.clone(), Some(a.clone())).is_empty());
    assert_eq!(
        errors(&s, b, Some(a)),
        vec![r#"spec.controllerName: Invalid value: "string": Value is immutable"#]
    );
}

#[test]
fn schema_without_rules_has_none() {
    let s = schema(spec_schema(json!({"a": {"type": "string"}}), json!(null)));
    assert!(!s.has_rules());
}

#[test]
fn cross_field_rule_reports_kubes_default_message() {
    let s = schema(spec_schema(
        json!({"min": {"type": "integer"}, "max": {"type": "integer"}}),
        json!([{"rule": "self.min <= self.max"}]),
    ));
    assert!(errors(&s, obj(json!({"min": 1, "max": 2})), None).is_empty());
    assert_eq!(
        errors(&s, obj(json!({"min": 3, "max": 2})), None),
        vec![r#"spec: Invalid value: "object": failed rule: self.min <= self.max"#]
    );
}

#[test]
fn message_expression_reason_and_field_path() {
    let s = schema(spec_schema(
        json!({"min": {"type": "integer"}, "max": {"type": "integer"}}),
        json!([
            {"rule": "self.min <= self.max",
             "messageExpression": "'max must be at least ' + string(self.min)",
             "fieldPath": ".max"},
            {"rule": "self.max < 100", "message": "max too large", "reason": "FieldValueForbidden"},
            {"rule": "self.min != 7", "reason": "FieldValueRequired", "message": "not seven"},
            {"rule": "self.min != 8", "reason": "FieldValueDuplicate"}
        ]),
    ));
    assert_eq!(
        errors(&s, obj(json!({"min": 5, "max": 2})), None),
        vec![r#"spec.max: Invalid value: "object": max must be at least 5"#]
    );
    assert_eq!(
        errors(&s, obj(json!({"min": 5, "max": 200})), None),
        vec!["spec: Forbidden: max too large"]
    );
    assert_eq!(
        errors(&s, obj(json!({"min": 7, "max": 20})), None),
        vec!["spec: Required value: not seven"]
    );
    assert_eq!(
        errors(&s, obj(json!({"min": 8, "max": 20})), None),
        vec![r#"spec: Duplicate value: "object""#]
    );
}

#[test]
fn list_items_are_each_validated() {
    let s = schema(spec_schema(
        json!({"names": {"type": "array", "items": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self.startsWith('a')"}]}}}),
        json!(null),
    ));
    assert_eq!(
        errors(&s, obj(json!({"names": ["ab", "b", "ac", "c"]})), None),
        vec![
            r#"spec.names[1]: Invalid value: "string": failed rule: self.startsWith('a')"#,
            r#"spec.names[3]: Invalid value: "string": failed rule: self.startsWith('a')"#,
        ]
    );
}

#[test]
fn root_rules_print_under_nil_and_see_metadata_name() {
    let s = schema(json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('x')"}],
        "properties": {"spec": {"type": "object"}}
    }));
    assert_eq!(
        errors(&s, obj(json!({})), None),
        vec![r#"<nil>: Invalid value: "object": failed rule: self.metadata.name.startsWith('x')"#]
    );
}

#[test]
fn runtime_errors_read_like_kube() {
    let s = schema(spec_schema(
        json!({"foo": {"type": "string"}, "n": {"type": "integer"}}),
        json!([{"rule": "self.foo == 'x'"}, {"rule": "10 / self.n > 0", "message": "div"}]),
    ));
    assert_eq!(
        errors(&s, obj(json!({"n": 0})), None),
        vec![
            r#"spec: Invalid value: "object": no such key: foo evaluating rule: self.foo == 'x'"#,
            r#"spec: Invalid value: "object": division by zero evaluating rule: div"#,
        ]
    );
}

#[test]
fn compile_errors_carry_kubes_prefix_and_rule() {
    let errs = refused(spec_schema(
        json!({"min": {"type": "integer"}}),
        json!([{"rule": "self.nope > 0"}]),
    ));
    assert_eq!(
        errs,
        vec![
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: \
             apiextensions.ValidationRule{Rule:\"self.nope > 0\", Message:\"\", MessageExpression:\"\", \
             Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}: \
             compilation failed: ERROR: <input>:1:5: undefined field 'nope'\n | self.nope > 0\n | ....^"
        ]
    );
    let errs = refused(spec_schema(json!({}), json!([{"rule": "self.min +"}])));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains("}: compilation failed: ERROR: <input>:1:"),
        "{errs:?}"
    );
    let errs = refused(spec_schema(json!({}), json!([{"rule": "foo(self)"}])));
    assert!(
        errs[0].ends_with(
            "compilation failed: ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')\n | foo(self)\n | ^"
        ),
        "{errs:?}"
    );
    let errs = refused(spec_schema(
        json!({"min": {"type": "integer"}}),
        json!([{"rule": "self.min + 1"}]),
    ));
    assert!(
        errs[0].ends_with("}: cel expression must evaluate to a bool"),
        "{errs:?}"
    );
    let errs = refused(spec_schema(
        json!({"min": {"type": "integer"}}),
        json!([{"rule": "self.min > 0", "messageExpression": "self.min"}]),
    ));
    assert!(
        errs[0].starts_with("spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].messageExpression: Invalid value: apiextensions.ValidationRule{")
            && errs[0].ends_with("}: messageExpression must evaluate to a string"),
        "{errs:?}"
    );
}

#[test]
fn rule_fields_are_checked() {
    let base = "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations";
    let errs = refused(spec_schema(
        json!({"min": {"type": "integer"}}),
        json!([
            {"rule": "true", "reason": "Bogus"},
            {"rule": "true", "fieldPath": ".nope"},
            {"rule": " "},
            {"rule": "true", "message": "a\nb"},
            {"rule": "true &&\ntrue"},
        ]),
    ));
    assert_eq!(
        errs,
        vec![
            format!(
                "{base}[0].reason: Unsupported value: \"Bogus\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
            ),
            format!(
                "{base}[1].fieldPath: Invalid value: \".nope\": fieldPath must be a valid path"
            ),
            format!("{base}[2].rule: Required value: rule is not specified"),
            format!(
                "{base}[3].message: Invalid value: \"a\\nb\": message must not contain line breaks"
            ),
            format!(
                "{base}[4].message: Required value: message must be specified if rule contains line breaks"
            ),
        ]
    );
}

#[test]
fn transition_rules_only_where_kube_correlates() {
    let errs = refused(spec_schema(
        json!({"list": {"type": "array", "items": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}}),
        json!(null),
    ));
    assert_eq!(
        errs,
        vec![
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items.x-kubernetes-validations[0].rule: \
             Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the schema within \
             spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list]"
        ]
    );
    let errs = refused(spec_schema(
        json!({"a": {"type": "string"}}),
        json!([{"rule": "self.a != ''", "optionalOldSelf": true}]),
    ));
    assert_eq!(
        errs,
        vec![
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].optionalOldSelf: \
             Invalid value: true: may not be set if oldSelf is not used in rule"
        ]
    );
}

#[test]
fn map_list_items_correlate_by_key() {
    let s = schema(spec_schema(
        json!({"ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is immutable"}]}
        }}),
        json!(null),
    ));
    let old = obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}));
    let reordered = obj(
        json!({"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 1}, {"name": "c", "port": 3}]}),
    );
    assert!(errors(&s, reordered, Some(old.clone())).is_empty());
    let changed = obj(json!({"ports": [{"name": "b", "port": 5}]}));
    assert_eq!(
        errors(&s, changed, Some(old)),
        vec![r#"spec.ports[0]: Invalid value: "object": port is immutable"#]
    );
}

#[test]
fn optional_old_self_runs_on_create() {
    let s = schema(spec_schema(
        json!({"n": {"type": "integer"}}),
        json!([{"rule": "oldSelf.hasValue() ? self.n >= oldSelf.value().n : self.n < 10",
                "optionalOldSelf": true, "message": "bad"}]),
    ));
    assert!(errors(&s, obj(json!({"n": 5})), None).is_empty());
    assert_eq!(
        errors(&s, obj(json!({"n": 50})), None),
        vec![r#"spec: Invalid value: "object": bad"#]
    );
    assert!(errors(&s, obj(json!({"n": 50})), Some(obj(json!({"n": 40})))).is_empty());
    assert_eq!(
        errors(&s, obj(json!({"n": 30})), Some(obj(json!({"n": 40})))),
        vec![r#"spec: Invalid value: "object": bad"#]
    );
}

#[test]
fn unchanged_values_are_ratcheted() {
    let s = schema(spec_schema(
        json!({"a": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 3"}]},
               "b": {"type": "string"}}),
        json!(null),
    ));
    let old = obj(json!({"a": "long", "b": "x"}));
    assert!(errors(&s, obj(json!({"a": "long", "b": "y"})), Some(old.clone())).is_empty());
    assert_eq!(
        errors(&s, obj(json!({"a": "longer", "b": "y"})), Some(old)),
        vec![r#"spec.a: Invalid value: "string": failed rule: self.size() < 3"#]
    );
}

#[test]
fn library_functions() {
    let rules = [
        "[1, 2, 3].isSorted() && ![3, 1].isSorted()",
        "[1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0",
        "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3",
        "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2",
        "'abcabc'.indexOf('c') == 2 && 'abcabc'.lastIndexOf('c') == 5",
        "'AbC'.lowerAscii() == 'abc' && 'AbC'.upperAscii() == 'ABC'",
        "'a,b,c'.split(',') == ['a', 'b', 'c'] && ['a', 'b'].join('-') == 'a-b'",
        "'  x '.trim() == 'x' && 'aaa'.replace('a', 'b', 2) == 'bba'",
        "'hello'.substring(1, 3) == 'el' && 'hello'.charAt(1) == 'e'",
        "'héllo'.size() == 5 && size([1, 2]) == 2",
        "self.names.exists_one(n, n == 'a') && self.names.all(n, n.size() == 1)",
        "self.names.map(n, n + '!') == ['a!', 'b!'] && self.names.filter(n, n != 'a') == ['b']",
        "self.names.exists(n, n.matches('^[a-z]$')) && !('x' in self.names)",
        "has(self.names) && !has(self.other)",
        "self.foo__dash__bar == 1 && self.count > 1.5",
        "self.labels['k'] == 'v' && 'k' in self.labels",
        "timestamp('2024-01-01T00:00:00Z') < self.at",
        "self.names[0] == 'a'",
        "optional.of(1).value() == 1 && !optional.none().hasValue()",
    ];
    let props = json!({
        "names": {"type": "array", "items": {"type": "string"}},
        "other": {"type": "string"},
        "foo-bar": {"type": "integer"},
        "count": {"type": "integer"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "at": {"type": "string", "format": "date-time"}
    });
    let value = obj(json!({
        "names": ["a", "b"], "foo-bar": 1, "count": 2,
        "labels": {"k": "v"}, "at": "2025-01-01T00:00:00Z"
    }));
    for rule in rules {
        let s = schema(spec_schema(props.clone(), json!([{"rule": rule}])));
        assert_eq!(
            errors(&s, value.clone(), None),
            Vec::<String>::new(),
            "{rule}"
        );
    }
}

#[test]
fn index_errors_are_runtime_errors() {
    let s = schema(spec_schema(
        json!({"names": {"type": "array", "items": {"type": "string"}},
               "labels": {"type": "object", "additionalProperties": {"type": "string"}}}),
        json!([{"rule": "self.names[5] == 'a'"}, {"rule": "self.labels['x'] == 'a'"}]),
    ));
    assert_eq!(
        errors(&s, obj(json!({"names": ["a"], "labels": {}})), None),
        vec![
            r#"spec: Invalid value: "object": index out of bounds: 5 evaluating rule: self.names[5] == 'a'"#,
            r#"spec: Invalid value: "object": no such key: x evaluating rule: self.labels['x'] == 'a'"#,
        ]
    );
}

#[test]
fn or_absorbs_errors_like_cel() {
    let s = schema(spec_schema(
        json!({"a": {"type": "string"}}),
        json!([{"rule": "self.a == 'x' || !has(self.a)"}]),
    ));
    assert_eq!(errors(&s, obj(json!({})), None), Vec::<String>::new());
}

#[test]
fn expensive_rules_stop_at_kubes_limit() {
    let s = schema(spec_schema(
        json!({"list": {"type": "array", "items": {"type": "integer"}}}),
        json!([{"rule": "self.list.all(x, self.list.all(y, x + y >= 0))"},
               {"rule": "self.list.size() > 100000", "message": "never reached"}]),
    ));
    let list: Vec<i64> = (0..3000).collect();
    assert_eq!(
        errors(&s, obj(json!({"list": list})), None),
        vec![
            "spec: Invalid value: \"object\": 'operation cancelled: actual cost limit exceeded': no further validation rules \
             will be run due to call cost exceeds limit for rule: self.list.all(x, self.list.all(y, x + y >= 0))"
        ]
    );
}

#[test]
fn int_or_string_is_dynamic() {
    let s = schema(spec_schema(
        json!({"port": {"x-kubernetes-int-or-string": true,
            "x-kubernetes-validations": [{"rule": "self > 0", "message": "positive"}]}}),
        json!(null),
    ));
    assert!(errors(&s, obj(json!({"port": 8})), None).is_empty());
    assert_eq!(
        errors(&s, obj(json!({"port": -1})), None),
        vec![r#"spec.port: Invalid value: "": positive"#]
    );
    assert_eq!(
        errors(&s, obj(json!({"port": "http"})), None),
        vec![
            r#"spec.port: Invalid value: "": 'no such overload': call arguments did not match a supported operator, function or macro signature for rule: positive"#
        ]
    );
}

#[test]
fn escaping_follows_kube() {
    use super::escape;
    assert_eq!(escape("foo").as_deref(), Some("foo"));
    assert_eq!(escape("foo-bar").as_deref(), Some("foo__dash__bar"));
    assert_eq!(escape("a.b/c").as_deref(), Some("a__dot__b__slash__c"));
    assert_eq!(escape("a__b").as_deref(), Some("a__underscores__b"));
    assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
    assert_eq!(escape("1a"), None);
    assert_eq!(escape("a b"), None);
}

#[test]
fn long_conjunctions_evaluate_each_term_once() {
    // Each term's left side used to be evaluated twice per level, so 40
    // terms would have meant 2^40 evaluations; the cost meter counts them.
    let rule = vec!["self.n > 0"; 40].join(" && ");
    let s = schema(spec_schema(
        json!({"n": {"type": "integer"}}),
        json!([{"rule": rule, "message": "m"}]),
    ));
    assert!(errors(&s, obj(json!({"n": 1})), None).is_empty());
    assert_eq!(
        errors(&s, obj(json!({"n": 0})), None),
        vec![r#"spec: Invalid value: "object": m"#]
    );
}

#[test]
fn type_names_and_non_boolean_results() {
    let s = schema(spec_schema(
        json!({"port": {"x-kubernetes-int-or-string": true}}),
        json!([{"rule": "dyn(self.port)", "message": "not a boolean"}]),
    ));
    assert_eq!(
        errors(&s, obj(json!({"port": 8})), None),
        vec![r#"spec: Invalid value: "object": not a boolean"#]
    );
    // `type` is declared but not evaluated here: the rule is accepted
    // and does not run.
    let s = schema(spec_schema(
        json!({"port": {"x-kubernetes-int-or-string": true}}),
        json!([{"rule": "type(self.port) == string"}]),
    ));
    assert!(errors(&s, obj(json!({"port": 8})), None).is_empty());
}
