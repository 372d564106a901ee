//! CRD validation rules (`x-kubernetes-validations`, CEL) end to end: a CRD
//! whose rules kube refuses, and one whose rules (immutability, a
//! cross-field rule, `messageExpression`, `reason`, `fieldPath`, rules on
//! list items and map-list items) hold objects to kube-apiserver 1.33's
//! answers.

use std::time::Duration;

use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use causeway_testkit::ApiServer;

use crate::crds::raw;

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const WIDGETS: &str = "/apis/rules.example.com/v1/namespaces/default/widgets";

fn crd(spec_schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.rules.example.com"},
        "spec": {
            "group": "rules.example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": spec_schema},
                }},
            }],
        },
    })
}

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.maxReplicas"},
            {"rule": "self.maxReplicas <= 100",
             "messageExpression": "'maxReplicas must be at most 100, not ' + string(self.maxReplicas)",
             "fieldPath": ".maxReplicas"},
            {"rule": "!has(self.owner) || self.owner != 'root'",
             "message": "root may not own widgets", "reason": "FieldValueForbidden"},
        ],
        "properties": {
            "class": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "Value is immutable"}
            ]},
            "minReplicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"},
            "owner": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self.matches('^[a-z]+$')", "message": "tags are lowercase words"}
            ]}},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                    "x-kubernetes-validations": [
                        {"rule": "self.port == oldSelf.port", "message": "a named port keeps its number"}
                    ],
                },
            },
        },
    })
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "rules.example.com/v1", "kind": "Widget",
           "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

async fn install(client: &kube::Client) {
    let (status, _, body) = raw(
        client,
        "POST",
        CRDS,
        "application/json",
        "application/json",
        crd(widget_schema()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("rules.example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    for _ in 0..200 {
        if api.list(&Default::default()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("widgets never served");
}

/// The message of a `422` answer, and its causes as `field: message`.
async fn refused(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Value,
) -> (String, Vec<String>) {
    let content_type = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let (status, _, out) = raw(client, method, path, content_type, "application/json", body).await;
    assert_eq!(status, 422, "{out}");
    let causes = out["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                c["reason"].as_str().unwrap_or(""),
                c["field"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    (out["message"].as_str().unwrap_or("").to_string(), causes)
}

#[tokio::test]
async fn crds_with_bad_rules_get_kubes_errors() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let at = "spec.versions[0].schema.openAPIV3Schema.properties[spec]";

    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.b > 0"}]});
    let (message, _) = refused(&client, "POST", CRDS, crd(schema)).await;
    assert_eq!(
        message,
        format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"widgets.rules.example.com\" is invalid: \
             {at}.x-kubernetes-validations[0].rule: Invalid value: apiextensions.ValidationRule{{Rule:\"self.b > 0\", \
             Message:\"\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", \
             OptionalOldSelf:(*bool)(nil)}}: compilation failed: ERROR: <input>:1:5: undefined field 'b'\n | self.b > 0\n | ....^"
        )
    );

    let schema = json!({"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}},
        "x-kubernetes-validations": [{"rule": "true", "reason": "Bogus", "fieldPath": ".nope"}]});
    let (_, causes) = refused(&client, "POST", CRDS, crd(schema)).await;
    assert_eq!(
        causes,
        vec![
            format!(
                "FieldValueNotSupported {at}.x-kubernetes-validations[0].reason: Unsupported value: \"Bogus\": supported values: \
                 \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
            ),
            format!(
                "FieldValueInvalid {at}.x-kubernetes-validations[0].fieldPath: Invalid value: \".nope\": fieldPath must be a valid path"
            ),
            // The items' rules compile (nothing is wrong under them), and
            // kube lists compile errors after the schema's.
            format!(
                "FieldValueInvalid {at}.properties[list].items.x-kubernetes-validations[0].rule: Invalid value: \"self == oldSelf\": \
                 oldSelf cannot be used on the uncorrelatable portion of the schema within {at}.properties[list]"
            ),
        ]
    );

    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.a > 0", "messageExpression": "self.a"}]});
    let (_, causes) = refused(&client, "POST", CRDS, crd(schema)).await;
    assert_eq!(
        causes,
        vec![format!(
            "FieldValueInvalid {at}.x-kubernetes-validations[0].messageExpression: Invalid value: \
             apiextensions.ValidationRule{{Rule:\"self.a > 0\", Message:\"\", MessageExpression:\"self.a\", \
             Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}: \
             messageExpression must evaluate to a string"
        )]
    );
    server.stop().await;
}

#[tokio::test]
async fn custom_resources_are_held_to_their_rules() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    install(&client).await;
    let invalid = |causes: &str| format!("Widget.rules.example.com \"w\" is invalid: {causes}");

    // Create: the cross-field rule, messageExpression with fieldPath,
    // reason Forbidden and a list item rule, all at once.
    let bad = widget(
        "w",
        json!({"class": "gold", "minReplicas": 300, "maxReplicas": 200, "owner": "root",
               "tags": ["ok", "Not-OK"]}),
    );
    let (message, causes) = refused(&client, "POST", WIDGETS, bad).await;
    assert_eq!(
        message,
        invalid(
            "[spec: Invalid value: \"object\": failed rule: self.minReplicas <= self.maxReplicas, \
             spec.maxReplicas: Invalid value: \"object\": maxReplicas must be at most 100, not 200, \
             spec: Forbidden: root may not own widgets, \
             spec.tags[1]: Invalid value: \"string\": tags are lowercase words]"
        )
    );
    assert_eq!(
        causes,
        vec![
            "FieldValueInvalid spec: Invalid value: \"object\": failed rule: self.minReplicas <= self.maxReplicas",
            "FieldValueInvalid spec.maxReplicas: Invalid value: \"object\": maxReplicas must be at most 100, not 200",
            "FieldValueForbidden spec: Forbidden: root may not own widgets",
            "FieldValueInvalid spec.tags[1]: Invalid value: \"string\": tags are lowercase words",
        ]
    );

    let good = widget(
        "w",
        json!({"class": "gold", "minReplicas": 1, "maxReplicas": 3, "tags": ["a"],
               "ports": [{"name": "http", "port": 80}, {"name": "grpc", "port": 9000}]}),
    );
    let (status, _, body) = raw(
        &client,
        "POST",
        WIDGETS,
        "application/json",
        "application/json",
        good,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Update: transition rules see the stored object.
    let (message, _) = refused(
        &client,
        "PATCH",
        &format!("{WIDGETS}/w"),
        json!({"spec": {"class": "silver"}}),
    )
    .await;
    assert_eq!(
        message,
        invalid("spec.class: Invalid value: \"string\": Value is immutable")
    );
    // Map-list items correlate by key: reordering and adding is fine,
    // renumbering a named port is not.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("rules.example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let reordered = json!({"spec": {"ports": [
        {"name": "grpc", "port": 9000}, {"name": "http", "port": 80}, {"name": "admin", "port": 81}
    ]}});
    api.patch("w", &PatchParams::default(), &Patch::Merge(&reordered))
        .await
        .unwrap();
    let (message, _) = refused(
        &client,
        "PATCH",
        &format!("{WIDGETS}/w"),
        json!({"spec": {"ports": [{"name": "http", "port": 8080}]}}),
    )
    .await;
    assert_eq!(
        message,
        invalid("spec.ports[0]: Invalid value: \"object\": a named port keeps its number")
    );
    // Through kube-rs, the error is a 422 Status with kube's reason.
    let mut obj: DynamicObject = api.get("w").await.unwrap();
    obj.data["spec"]["maxReplicas"] = json!(0);
    let err = api
        .replace("w", &PostParams::default(), &obj)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422);
            assert_eq!(status.reason, "Invalid");
            assert_eq!(
                status.message,
                invalid(
                    "spec: Invalid value: \"object\": failed rule: self.minReplicas <= self.maxReplicas"
                )
            );
        }
        other => panic!("{other:?}"),
    }
    server.stop().await;
}
