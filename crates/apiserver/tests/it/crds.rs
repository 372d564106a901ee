//! CustomResourceDefinitions through kube-rs and raw requests: establishing,
//! discovery, schema validation, pruning and defaulting, the status
//! subresource, several versions, printer columns, selectable fields,
//! name conflicts, restarts, and deletion with finalizers.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::Discovery;
use serde_json::{Value, json};

use causeway_testkit::{ApiServer, Backend};

use crate::clients::{Store, run_on};

fn crontab_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [
                {
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["cronSpec"],
                                "properties": {
                                    "cronSpec": {"type": "string", "pattern": "^(\\S+ ){4}\\S+$"},
                                    "image": {"type": "string"},
                                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                                    "mode": {"type": "string", "enum": ["Fast", "Slow"]},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                },
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }},
                    "subresources": {"status": {}},
                    "selectableFields": [{"jsonPath": ".spec.image"}],
                    "additionalPrinterColumns": [
                        {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                },
                {
                    "name": "v1beta1", "served": true, "storage": false,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                },
            ],
        },
    })
}

fn crontab_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("stable.example.com", version, "CronTab"),
        "crontabs",
    )
}

/// Waits until the CRD reports Established, and returns it.
pub(crate) async fn established(
    crds: &Api<CustomResourceDefinition>,
    name: &str,
) -> CustomResourceDefinition {
    for _ in 0..200 {
        if let Ok(crd) = crds.get(name).await {
            let ok = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if ok {
                return crd;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never became Established");
}

/// A raw request: status, Warning headers, and the JSON body.
pub(crate) async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    accept: &str,
    body: Value,
) -> (u16, Vec<String>, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let status = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = resp.into_body().collect_bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, warnings, json)
}

const CRONTABS: &str = "/apis/stable.example.com/v1/namespaces/default/crontabs";

#[tokio::test]
async fn custom_resources_on_the_embedded_store() {
    run_on(Store::Embedded, custom_resources_behave_like_kube).await;
}

#[tokio::test]
async fn custom_resources_on_real_etcd() {
    run_on(Store::Etcd, custom_resources_behave_like_kube).await;
}

async fn custom_resources_behave_like_kube(server: &ApiServer) {
    let client = server.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let created = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(crontab_crd()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let crd = established(&crds, "crontabs.stable.example.com").await;
    let status = crd.status.unwrap();
    assert_eq!(status.accepted_names.unwrap().kind, "CronTab");
    assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));
    let conditions = status.conditions.unwrap();
    let names = conditions
        .iter()
        .find(|c| c.type_ == "NamesAccepted")
        .unwrap();
    assert_eq!(
        (names.status.as_str(), names.reason.as_deref()),
        ("True", Some("NoConflicts"))
    );

    // Discovery lists the kind, its versions (preferred first) and status.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let group = discovery
        .groups()
        .find(|g| g.name() == "stable.example.com")
        .unwrap();
    assert_eq!(group.preferred_version(), Some("v1"));
    assert_eq!(group.versions().collect::<Vec<_>>(), ["v1", "v1beta1"]);
    let (_, _, list) = raw(
        &client,
        "GET",
        "/apis/stable.example.com/v1",
        "",
        "application/json",
        Value::Null,
    )
    .await;
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crontabs", "crontabs/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["ct"]));

    // Create: unknown fields are pruned with a warning, defaults filled in.
    let (code, warnings, body) = raw(
        &client,
        "POST",
        CRONTABS,
        "application/json",
        "application/json",
        json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "one"},
            "spec": {"cronSpec": "* * * * */5", "image": "app:1", "bogus": 1, "extra": {"kept": true}},
            "status": {"phase": "ignored"},
        }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.bogus\"""#]);
    assert_eq!(body["spec"]["replicas"], 1);
    assert_eq!(body["spec"]["extra"], json!({"kept": true}));
    assert!(body["spec"].get("bogus").is_none());
    assert!(
        body.get("status").is_none(),
        "status is set through /status only"
    );
    assert_eq!(body["metadata"]["generation"], 1);

    // Strict refuses unknown fields, and nothing is stored.
    let (code, _, body) = raw(
        &client,
        "POST",
        &format!("{CRONTABS}?fieldValidation=Strict"),
        "application/json",
        "application/json",
        json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "strict"},
            "spec": {"cronSpec": "* * * * *", "bogus": 1, "other": 2},
        }),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field "spec.bogus", unknown field "spec.other""#
    );

    // Schema violations are 422 with kube's causes.
    let (code, _, body) = raw(
        &client,
        "POST",
        CRONTABS,
        "application/json",
        "application/json",
        json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "bad"},
            "spec": {"cronSpec": "nope", "replicas": 11, "mode": "Medium"},
        }),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["reason"], "Invalid");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"CronTab.stable.example.com "bad" is invalid: ["#),
        "{message}"
    );
    for part in [
        r#"spec.cronSpec: Invalid value: "nope": spec.cronSpec in body should match '^(\S+ ){4}\S+$'"#,
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        r#"spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow""#,
    ] {
        assert!(message.contains(part), "missing {part} in {message}");
    }
    let (code, _, _) = raw(
        &client,
        "POST",
        CRONTABS,
        "application/json",
        "application/json",
        json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
               "metadata": {"name": "bad"}, "spec": {}}),
    )
    .await;
    assert_eq!(code, 422);
    let v1: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &crontab_resource("v1"));
    assert_eq!(
        v1.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    // The status subresource: the main endpoint keeps status, /status keeps
    // the spec; only spec changes bump the generation.
    let patch = PatchParams::default();
    let o = v1
        .patch(
            "one",
            &patch,
            &Patch::Merge(json!({"spec": {"image": "app:2"}, "status": {"phase": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(o.data["spec"]["image"], "app:2");
    assert!(o.data.get("status").is_none());
    assert_eq!(o.metadata.generation, Some(2));
    let o = v1
        .patch_status(
            "one",
            &patch,
            &Patch::Merge(json!({"spec": {"image": "ignored"}, "status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert_eq!(o.data["status"]["phase"], "Running");
    assert_eq!(o.data["spec"]["image"], "app:2");
    assert_eq!(o.metadata.generation, Some(2));

    // The other version serves the same object under its apiVersion.
    let beta: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &crontab_resource("v1beta1"));
    let b = beta.get("one").await.unwrap();
    assert_eq!(
        b.types.as_ref().unwrap().api_version,
        "stable.example.com/v1beta1"
    );
    assert_eq!(b.metadata.uid, o.metadata.uid);

    // Printer columns in Table output.
    let (code, _, table) = raw(
        &client,
        "GET",
        CRONTABS,
        "",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200);
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Spec", "Replicas", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "one");
    assert_eq!(table["rows"][0]["cells"][1], "* * * * */5");
    assert_eq!(table["rows"][0]["cells"][2], 1);

    // Selectable fields; others answer 400.
    let two = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                     "metadata": {"name": "two"}, "spec": {"cronSpec": "1 2 3 4 5", "image": "other"}});
    v1.create(
        &PostParams::default(),
        &serde_json::from_value(two).unwrap(),
    )
    .await
    .unwrap();
    let picked = v1
        .list(&ListParams::default().fields("spec.image=other"))
        .await
        .unwrap();
    assert_eq!(picked.items.len(), 1);
    assert_eq!(picked.items[0].metadata.name.as_deref(), Some("two"));
    let err = v1
        .list(&ListParams::default().fields("spec.cronSpec=x"))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 400);
            assert_eq!(s.message, r#"field label not supported: spec.cronSpec"#);
        }
        other => panic!("{other:?}"),
    }

    // A watch sees changes.
    let list = v1.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut events = v1
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    v1.delete("two", &DeleteParams::default()).await.unwrap();
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Deleted(o) => assert_eq!(o.metadata.name.as_deref(), Some("two")),
        other => panic!("{other:?}"),
    }

    // A default added to the schema later shows on objects stored before,
    // as kube defaults on read: in gets, lists and Tables.
    let patch_crd = json!({"spec": {"versions": [
        crontab_crd()["spec"]["versions"][0].clone(),
        crontab_crd()["spec"]["versions"][1].clone(),
    ]}});
    let mut patch_crd = patch_crd;
    patch_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["mode"]["default"] = json!("Slow");
    crds.patch(
        "crontabs.stable.example.com",
        &PatchParams::default(),
        &Patch::Merge(patch_crd),
    )
    .await
    .unwrap();
    let mut defaulted = None;
    for _ in 0..200 {
        let o = v1.get("one").await.unwrap();
        if o.data["spec"].get("mode").is_some() {
            defaulted = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let defaulted = defaulted.expect("the new default was never served");
    assert_eq!(defaulted.data["spec"]["mode"], "Slow");
    let listed = v1.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items[0].data["spec"]["mode"], "Slow");
    // The stored object itself is unchanged until it is written again.
    assert_eq!(
        defaulted.metadata.resource_version,
        o.metadata.resource_version
    );

    // A second CRD whose kind is taken is not accepted.
    let mut clash = crontab_crd();
    clash["metadata"]["name"] = json!("crontabz.stable.example.com");
    clash["spec"]["names"] = json!({"plural": "crontabz", "singular": "crontabz", "kind": "CronTab", "listKind": "CronTabzList"});
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(clash).unwrap(),
    )
    .await
    .unwrap();
    let mut accepted = None;
    for _ in 0..200 {
        let c = crds.get("crontabz.stable.example.com").await.unwrap();
        let conds = c.status.and_then(|s| s.conditions).unwrap_or_default();
        if let Some(n) = conds.iter().find(|c| c.type_ == "NamesAccepted") {
            accepted = Some((n.status.clone(), n.reason.clone(), n.message.clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        accepted,
        Some((
            "False".to_string(),
            Some("KindConflict".to_string()),
            Some(r#""CronTab" is already in use"#.to_string())
        ))
    );
    let (code, _, _) = raw(
        &client,
        "GET",
        "/apis/stable.example.com/v1/crontabz",
        "",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404);

    // Once the CRD holding the kind is gone, the other one gets it.
    crds.delete("crontabs.stable.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let crd = established(&crds, "crontabz.stable.example.com").await;
    let names = crd.status.unwrap().accepted_names.unwrap();
    assert_eq!(
        (names.plural.as_str(), names.kind.as_str()),
        ("crontabz", "CronTab")
    );
}

#[tokio::test]
async fn bad_crds_get_kube_errors() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let mut bad = crontab_crd();
    bad["metadata"]["name"] = json!("wrong");
    bad["spec"]["versions"][1]["storage"] = json!(true);
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["cronSpec"]
        ["pattern"] = json!("(");
    let (code, _, body) = raw(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        "application/json",
        bad,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message
            .starts_with(r#"CustomResourceDefinition.apiextensions.k8s.io "wrong" is invalid: ["#),
        "{message}"
    );
    assert!(
        message.contains(
            r#"metadata.name: Invalid value: "wrong": must be spec.names.plural+"."+spec.group"#
        ),
        "{message}"
    );
    assert!(
        message.contains("must have exactly one version marked as storage version"),
        "{message}"
    );
    assert!(
        message.contains(
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[cronSpec].pattern"
        ),
        "{message}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    assert!(
        crds.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test]
async fn crds_survive_a_restart_and_deleting_one_deletes_its_objects() {
    let server = ApiServer::start().await.unwrap();
    let dir = server.dir().clone();
    let client = server.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crontab_crd()).unwrap(),
    )
    .await
    .unwrap();
    established(&crds, "crontabs.stable.example.com").await;
    let v1: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &crontab_resource("v1"));
    for (name, finalizers) in [("plain", json!([])), ("held", json!(["example.com/hold"]))] {
        let o = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                       "metadata": {"name": name, "finalizers": finalizers},
                       "spec": {"cronSpec": "* * * * *"}});
        v1.create(&PostParams::default(), &serde_json::from_value(o).unwrap())
            .await
            .unwrap();
    }
    server.stop().await;

    // After a restart the kind is served at once, objects intact.
    let server = ApiServer::start_in(dir, Backend::Embedded).await.unwrap();
    let client = server.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let v1: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &crontab_resource("v1"));
    assert_eq!(
        v1.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );

    // Deleting the CRD deletes its objects; one held by a finalizer holds
    // the CRD, which is Terminating and refuses new objects meanwhile.
    crds.delete("crontabs.stable.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let mut terminating = false;
    for _ in 0..200 {
        let left = v1.list(&ListParams::default()).await.unwrap().items;
        if left.len() == 1 && left[0].metadata.deletion_timestamp.is_some() {
            terminating = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(terminating, "the plain object was not deleted");
    let crd = crds.get("crontabs.stable.example.com").await.unwrap();
    assert_eq!(
        crd.metadata.finalizers,
        Some(vec![
            "customresourcecleanup.apiextensions.k8s.io".to_string()
        ])
    );
    let conds = crd.status.unwrap().conditions.unwrap();
    let t = conds.iter().find(|c| c.type_ == "Terminating").unwrap();
    assert_eq!(t.reason.as_deref(), Some("InstanceDeletionInProgress"));
    let (code, _, body) = raw(
        &client,
        "POST",
        CRONTABS,
        "application/json",
        "application/json",
        json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
               "metadata": {"name": "late"}, "spec": {"cronSpec": "* * * * *"}}),
    )
    .await;
    assert_eq!(code, 405, "{body}");
    assert_eq!(
        body["message"],
        "create not allowed while custom resource definition is terminating"
    );

    // Releasing the finalizer lets the object, then the CRD, go.
    v1.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if matches!(
            crds.get("crontabs.stable.example.com").await,
            Err(kube::Error::Api(ref s)) if s.code == 404
        ) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the CRD was not deleted");
    let mut unserved = false;
    for _ in 0..100 {
        let (code, _, _) = raw(
            &client,
            "GET",
            CRONTABS,
            "",
            "application/json",
            Value::Null,
        )
        .await;
        if code == 404 {
            unserved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(unserved, "the kind is still served");

    // A new CRD of the same name starts empty.
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crontab_crd()).unwrap(),
    )
    .await
    .unwrap();
    established(&crds, "crontabs.stable.example.com").await;
    let v1: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &crontab_resource("v1"));
    assert!(
        v1.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    server.stop().await;
}
