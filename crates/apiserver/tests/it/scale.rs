//! The scale subresource of custom resources, through kube-rs
//! (`get_scale`, `patch_scale`, `replace_scale`), raw requests and kubectl
//! (`kubectl scale`, `--current-replicas`, `kubectl get --subresource`),
//! with the answers kube-apiserver gives.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use serde_json::{Value, json};

use causeway_testkit::{ApiServer, kubectl};

use crate::crds::{established, raw};

/// A CRD like the one kube's documentation scales: replicas at
/// `.spec.replicas`, a status subresource, a selector in the status, and
/// printer columns (which kube also uses to print a Scale).
fn crd(name: &str, scale: Value) -> Value {
    let plural = name.split('.').next().unwrap();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": plural, "kind": if plural == "crontabs" { "CronTab" } else { "Bad" }},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "cronSpec": {"type": "string"},
                        "replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "selector": {"type": "string"}}}}}},
                "subresources": {"status": {}, "scale": scale},
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    })
}

fn scale_paths() -> Value {
    json!({
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    })
}

const ITEM: &str = "/apis/stable.example.com/v1/namespaces/default/crontabs";

/// Asserts that a call failed with kube's code, reason and message.
fn assert_status<T: std::fmt::Debug>(
    result: Result<T, kube::Error>,
    code: u16,
    reason: &str,
    message: &str,
) {
    match result {
        Err(kube::Error::Api(s)) => {
            assert_eq!(
                (s.code, s.reason.as_str(), s.message.as_str()),
                (code, reason, message)
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A merge patch of an object's Scale, as `kubectl scale` sends it.
async fn merge_scale(
    api: &Api<DynamicObject>,
    name: &str,
    pp: &PatchParams,
    patch: Value,
) -> Result<Scale, kube::Error> {
    api.patch_scale(name, pp, &Patch::Merge(patch)).await
}

// kubectl runs as a blocking child process; a second worker keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_subresource_of_custom_resources() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());

    // Scale paths are checked as kube checks them.
    let bad = crd(
        "bads.stable.example.com",
        json!({"specReplicasPath": "foo,bar", "statusReplicasPath": ".spec.replicas"}),
    );
    assert_status(
        crds.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await,
        422,
        "Invalid",
        r#"CustomResourceDefinition.apiextensions.k8s.io "bads.stable.example.com" is invalid: [spec.subresources.scale.specReplicasPath: Invalid value: "foo,bar": must be a simple json path starting with ., spec.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under .status]"#,
    );

    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd("crontabs.stable.example.com", scale_paths())).unwrap(),
    )
    .await
    .unwrap();
    established(&crds, "crontabs.stable.example.com").await;

    // Discovery names the Scale's group and version, as clients need to
    // find the kind to send.
    let list = client
        .list_api_group_resources("stable.example.com/v1")
        .await
        .unwrap();
    let scale = serde_json::to_value(&list.resources[2]).unwrap();
    assert_eq!(
        scale,
        json!({"name": "crontabs/scale", "singularName": "", "namespaced": true,
               "group": "autoscaling", "version": "v1", "kind": "Scale",
               "verbs": ["get", "patch", "update"]})
    );

    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("stable.example.com", "v1", "CronTab"),
        "crontabs",
    );
    let crontabs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let x: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "x"},
        "spec": {"cronSpec": "* * * * */5", "replicas": 1},
    }))
    .unwrap();
    let created = crontabs.create(&PostParams::default(), &x).await.unwrap();

    // The Scale of the object.
    let scale = crontabs.get_scale("x").await.unwrap();
    assert_eq!(scale.metadata.name.as_deref(), Some("x"));
    assert_eq!(scale.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(scale.metadata.uid, created.metadata.uid);
    assert_eq!(
        scale.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        scale.metadata.creation_timestamp,
        created.metadata.creation_timestamp
    );
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    let status = scale.status.unwrap();
    assert_eq!((status.replicas, status.selector), (0, None));

    // The status subresource feeds the Scale's status.
    crontabs
        .patch_status(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "selector": "app=x"}})),
        )
        .await
        .unwrap();
    let status = crontabs.get_scale("x").await.unwrap().status.unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (1, Some("app=x"))
    );

    // A watch of the kind sees what the Scale writes.
    let rv = crontabs
        .get("x")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = crontabs
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();

    // A merge patch of the Scale, as kubectl scale sends it, writes only
    // the replicas, and counts as a spec change.
    let patched = merge_scale(
        &crontabs,
        "x",
        &PatchParams::default(),
        json!({"spec": {"replicas": 3}, "status": {"replicas": 7}}),
    )
    .await
    .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(3));
    assert_eq!(patched.status.unwrap().replicas, 1);
    let now = crontabs.get("x").await.unwrap();
    assert_eq!(now.data["spec"]["replicas"], 3);
    assert_eq!(
        now.data["status"],
        json!({"replicas": 1, "selector": "app=x"})
    );
    assert_eq!(now.metadata.generation, Some(2));
    assert_eq!(
        patched.metadata.resource_version,
        now.metadata.resource_version
    );
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Modified(o) => assert_eq!(o.data["spec"]["replicas"], 3),
        other => panic!("{other:?}"),
    }

    // A JSON patch works on the Scale's fields.
    let patched = crontabs
        .patch_scale(
            "x",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "test", "path": "/spec/replicas", "value": 3},
                    {"op": "replace", "path": "/spec/replicas", "value": 4},
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(4));

    // A replace with the Scale's resourceVersion works; with an old one it
    // conflicts.
    let mut scale = crontabs.get_scale("x").await.unwrap();
    let stale = Scale {
        metadata: kube::api::ObjectMeta {
            resource_version: created.metadata.resource_version.clone(),
            ..scale.metadata.clone()
        },
        spec: Some(ScaleSpec { replicas: Some(9) }),
        status: None,
    };
    assert_status(
        crontabs
            .replace_scale("x", &PostParams::default(), &stale)
            .await,
        409,
        "Conflict",
        r#"Operation cannot be fulfilled on crontabs.stable.example.com "x": the object has been modified; please apply your changes to the latest version and try again"#,
    );
    scale.spec = Some(ScaleSpec { replicas: Some(5) });
    let replaced = crontabs
        .replace_scale("x", &PostParams::default(), &scale)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().replicas, Some(5));
    assert_ne!(
        replaced.metadata.resource_version,
        scale.metadata.resource_version
    );

    // Negative replicas fail the custom resource's own validation.
    assert_status(
        merge_scale(
            &crontabs,
            "x",
            &PatchParams::default(),
            json!({"spec": {"replicas": -1}}),
        )
        .await,
        422,
        "Invalid",
        r#"CronTab.stable.example.com "x" is invalid: .spec.replicas: Invalid value: -1: should be a non-negative integer"#,
    );

    // A dry run answers the Scale it would write and writes nothing.
    let dry = merge_scale(
        &crontabs,
        "x",
        &PatchParams::default().dry_run(),
        json!({"spec": {"replicas": 8}}),
    )
    .await
    .unwrap();
    assert_eq!(dry.spec.unwrap().replicas, Some(8));
    assert_eq!(crontabs.get("x").await.unwrap().data["spec"]["replicas"], 5);

    // Unknown fields in the patched Scale: a warning by default, an error
    // under Strict. Strategic merge is not for custom resources.
    let path = format!("{ITEM}/x/scale");
    let (code, warnings, _) = raw(
        &client,
        "PATCH",
        &path,
        "application/merge-patch+json",
        "application/json",
        json!({"spec": {"replicas": 5, "bogus": 1}}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.bogus\"""#]);
    let (code, _, body) = raw(
        &client,
        "PATCH",
        &format!("{path}?fieldValidation=Strict"),
        "application/merge-patch+json",
        "application/json",
        json!({"spec": {"replicas": 5, "bogus": 1}}),
    )
    .await;
    assert_eq!(code, 422);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#" "" is invalid: patch: Invalid value: "#)
            && message.ends_with(r#": strict decoding error: unknown field "spec.bogus""#),
        "{message}"
    );
    let (code, _, body) = raw(
        &client,
        "PATCH",
        &path,
        "application/strategic-merge-patch+json",
        "application/json",
        json!({"spec": {"replicas": 5}}),
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(
        body["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );

    // A missing object is the custom resource's 404.
    let missing = r#"crontabs.stable.example.com "nope" not found"#;
    assert_status(crontabs.get_scale("nope").await, 404, "NotFound", missing);
    assert_status(
        merge_scale(
            &crontabs,
            "nope",
            &PatchParams::default(),
            json!({"spec": {"replicas": 1}}),
        )
        .await,
        404,
        "NotFound",
        missing,
    );

    // An object without replicas: its Scale cannot be read, a patch must
    // set them, and then it can.
    let empty: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "empty"}, "spec": {"cronSpec": "* * * * */5"},
    }))
    .unwrap();
    crontabs
        .create(&PostParams::default(), &empty)
        .await
        .unwrap();
    assert_status(
        crontabs.get_scale("empty").await,
        500,
        "InternalError",
        r#"Internal error occurred: the spec replicas field ".spec.replicas" does not exist"#,
    );
    assert_status(
        merge_scale(
            &crontabs,
            "empty",
            &PatchParams::default(),
            json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await,
        400,
        "BadRequest",
        r#"the spec replicas field ".spec.replicas" cannot be empty"#,
    );
    let patched = merge_scale(
        &crontabs,
        "empty",
        &PatchParams::default(),
        json!({"spec": {"replicas": 2}}),
    )
    .await
    .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(2));

    // A replaced Scale is checked as kube checks it: the name in the URL,
    // the uid as a precondition, unknown fields under Strict.
    let put = |body: Value, query: &'static str| {
        let client = client.clone();
        let path = format!("{path}{query}");
        async move {
            raw(
                &client,
                "PUT",
                &path,
                "application/json",
                "application/json",
                body,
            )
            .await
        }
    };
    let (code, _, body) = put(
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": "y", "namespace": "default"}, "spec": {"replicas": 1}}),
        "",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "the name of the object (y) does not match the name on the URL (x)"
    );
    let (code, _, body) = put(
        json!({"metadata": {"name": "x", "uid": "other"}, "spec": {"replicas": 1}}),
        "",
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(
        body["message"],
        format!(
            r#"Operation cannot be fulfilled on crontabs.stable.example.com "x": Precondition failed: UID in precondition: other, UID in object meta: {}"#,
            created.metadata.uid.as_deref().unwrap()
        )
    );
    let (code, _, body) = put(
        json!({"metadata": {"name": "x"}, "spec": {"replicas": 1, "bogus": true}}),
        "?fieldValidation=Strict",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"Scale in version "v1" cannot be handled as a Scale: strict decoding error: unknown field "spec.bogus""#
    );
    let (code, _, body) = put(
        json!({"metadata": {"name": "x"}, "spec": {"replicas": "two"}}),
        "",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32"#
    );
    assert_eq!(crontabs.get("x").await.unwrap().data["spec"]["replicas"], 5);

    // Other verbs are not served on /scale.
    let (code, _, body) = raw(
        &client,
        "DELETE",
        &path,
        "application/json",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 405);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": r#"delete is not supported on resources of kind "crontabs.stable.example.com""#,
               "reason": "MethodNotAllowed",
               "details": {"group": "stable.example.com", "kind": "crontabs"}, "code": 405})
    );

    // kubectl, as people scale.
    let kc = server.write_kubeconfig().unwrap();
    let k = |args: &[&str]| kubectl(&kc, args);
    let out = k(&["scale", "crontab/x", "--replicas=3"]).unwrap();
    assert_eq!(out.trim(), "crontab.stable.example.com/x scaled");
    assert_eq!(crontabs.get("x").await.unwrap().data["spec"]["replicas"], 3);
    let err = k(&["scale", "crontab/x", "--current-replicas=2", "--replicas=4"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("Expected replicas to be 2, was 3"), "{err}");
    let out = k(&["scale", "crontab/x", "--current-replicas=3", "--replicas=4"]).unwrap();
    assert_eq!(out.trim(), "crontab.stable.example.com/x scaled");
    assert_eq!(crontabs.get("x").await.unwrap().data["spec"]["replicas"], 4);
    let out = k(&["get", "crontab", "x", "--subresource=scale", "-o", "json"]).unwrap();
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["kind"], "Scale");
    assert_eq!(got["apiVersion"], "autoscaling/v1");
    assert_eq!(got["spec"], json!({"replicas": 4}));
    assert_eq!(got["status"], json!({"replicas": 1, "selector": "app=x"}));
    // The table of a Scale has the CRD's columns, read from the Scale.
    let out = k(&["get", "crontab", "x", "--subresource=scale"]).unwrap();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "REPLICAS", "AGE"]);
    assert_eq!(lines[1][..2], ["x", "4"]);
    let out = k(&[
        "patch",
        "crontab",
        "x",
        "--subresource=scale",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":6}}"#,
    ])
    .unwrap();
    // kubectl names what the server answered: a Scale.
    assert_eq!(out.trim(), "scale.autoscaling/x patched");
    assert_eq!(crontabs.get("x").await.unwrap().data["spec"]["replicas"], 6);
    let err = k(&["scale", "crontab/nope", "--replicas=1"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"crontabs.stable.example.com "nope" not found"#),
        "{err}"
    );

    server.stop().await;
}
