//! The options of writes: `dryRun=All` (an answer that looks real, and
//! nothing stored) and `fieldValidation` (Strict, Warn, Ignore), as kube
//! answers them.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};

use crate::raw::{self, warning};
use causeway_testkit::ApiServer;

fn cm(v: Value) -> ConfigMap {
    serde_json::from_value(v).unwrap()
}

/// A fresh server, a client of it, and its ConfigMaps in `default`.
async fn start() -> (ApiServer, kube::Client, Api<ConfigMap>) {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let cms = Api::namespaced(client.clone(), "default");
    (server, client, cms)
}

/// Creates a ConfigMap for real.
async fn create(cms: &Api<ConfigMap>, v: Value) -> ConfigMap {
    cms.create(&PostParams::default(), &cm(v)).await.unwrap()
}

/// A ConfigMap that a finalizer holds when it is deleted.
fn held() -> Value {
    json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
}

fn dry() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

/// The store's revision, as a consistent list reports it.
async fn revision(cms: &Api<ConfigMap>) -> String {
    cms.list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
}

#[tokio::test]
async fn dry_run_answers_as_if_written_and_stores_nothing() {
    let (server, client, cms) = start().await;
    let real = create(
        &cms,
        json!({"metadata": {"name": "real"}, "data": {"a": "1"}}),
    )
    .await;
    let rv = real.metadata.resource_version.clone().unwrap();
    let before = revision(&cms).await;
    // Anything a dry run wrote would be this watch's first event.
    let mut watch = cms
        .watch(&WatchParams::default().timeout(30), &before)
        .await
        .unwrap()
        .boxed();

    // Create: the system metadata is filled in, but there is no
    // resourceVersion, as nothing was written.
    let ghost = cms
        .create(
            &dry(),
            &cm(json!({"metadata": {"name": "ghost"}, "data": {"g": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(ghost.metadata.name.as_deref(), Some("ghost"));
    assert_eq!(ghost.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(ghost.metadata.uid.as_ref().map(String::len), Some(36));
    assert!(ghost.metadata.creation_timestamp.is_some());
    assert_eq!(ghost.metadata.resource_version, None);
    assert_eq!(ghost.data.unwrap()["g"], "1");
    assert!(cms.get_opt("ghost").await.unwrap().is_none());
    // Validation still runs.
    let err = cms
        .create(&dry(), &cm(json!({"metadata": {"name": "Bad_Name"}})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422),
        "{err:?}"
    );

    // Update and patch answer the changed object at the unchanged version.
    let mut changed = real.clone();
    changed.data = Some([("b".to_string(), "2".to_string())].into());
    let replaced = cms.replace("real", &dry(), &changed).await.unwrap();
    assert_eq!(replaced.data.unwrap()["b"], "2");
    assert_eq!(replaced.metadata.resource_version.as_deref(), Some(&*rv));
    let patched = cms
        .patch(
            "real",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"data": {"c": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["c"], "3");
    assert_eq!(patched.data.as_ref().unwrap()["a"], "1");
    assert_eq!(patched.metadata.resource_version.as_deref(), Some(&*rv));
    // A stale resourceVersion is still a conflict.
    let mut stale = changed.clone();
    stale.metadata.resource_version = Some("1".into());
    let err = cms.replace("real", &dry(), &stale).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    // Delete (dryRun in the query) answers kube's success Status.
    let a = raw::bodiless(
        &client,
        "DELETE",
        &format!("{CONFIGMAPS}/real?dryRun=All"),
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["kind"], "Status");
    assert_eq!(a.body["status"], "Success");
    assert_eq!(a.body["details"]["name"], "real");
    assert_eq!(a.body["details"]["kind"], "configmaps");
    assert_eq!(a.body["details"]["uid"], json!(real.metadata.uid));
    let a = raw::bodiless(
        &client,
        "DELETE",
        &format!("{CONFIGMAPS}/nothing?dryRun=All"),
        "",
    )
    .await;
    assert_eq!(a.status, 404, "{a:?}");

    // Nothing changed: the object, the store's revision, the watch.
    let now = cms.get("real").await.unwrap();
    assert_eq!(now.metadata.resource_version.as_deref(), Some(&*rv));
    assert_eq!(now.data, real.data);
    assert_eq!(revision(&cms).await, before);
    cms.patch(
        "real",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"z": "real"}})),
    )
    .await
    .unwrap();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Modified(c)) => {
            assert_eq!(c.metadata.name.as_deref(), Some("real"));
            assert_eq!(c.data.unwrap()["z"], "real");
        }
        other => panic!("the first event after the dry runs: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn dry_run_delete_of_a_held_object_only_answers_the_mark() {
    let (server, client, cms) = start().await;
    create(&cms, held()).await;
    let a = raw::bodiless(
        &client,
        "DELETE",
        &format!("{CONFIGMAPS}/held?dryRun=All"),
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["kind"], "ConfigMap");
    assert!(a.body["metadata"]["deletionTimestamp"].is_string(), "{a:?}");
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_none());
    server.stop().await;
}

// kube reads DeleteOptions from the body when there is one, dryRun
// included (the DeleteResource handler in staging/src/k8s.io/apiserver/pkg/
// endpoints/handlers/delete.go decodes the body, else the query); kube-rs
// and client-go send it there.
#[tokio::test]

async fn dry_run_in_the_delete_options_body() {
    let (server, _, cms) = start().await;
    let plain = create(&cms, json!({"metadata": {"name": "plain"}})).await;
    create(&cms, held()).await;
    let dp = DeleteParams::default().dry_run();
    let status = cms.delete("plain", &dp).await.unwrap().right().unwrap();
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    assert_eq!(status.details.unwrap().uid, plain.metadata.uid.unwrap());
    let marked = cms.delete("held", &dp).await.unwrap().left().unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(cms.get_opt("plain").await.unwrap().is_some());
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_none());
    server.stop().await;
}

// kube generates the name in BeforeCreate, before the strategy validates
// (staging/src/k8s.io/apiserver/pkg/registry/rest/create.go), so a create
// with only generateName gets `<prefix><5 random characters>`.
#[tokio::test]

async fn generate_name_makes_a_name() {
    let (server, _, cms) = start().await;
    let c = cm(json!({"metadata": {"generateName": "gen-"}}));
    let made = cms.create(&PostParams::default(), &c).await.unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(cms.get_opt(&name).await.unwrap().is_some());
    // A dry run makes a name too, and stores nothing.
    let ghost = cms.create(&dry(), &c).await.unwrap().metadata.name.unwrap();
    assert!(ghost.starts_with("gen-") && ghost.len() == 9, "{ghost}");
    assert!(cms.get_opt(&ghost).await.unwrap().is_none());
    server.stop().await;
}

// kube's DryRunnableStorage.Create (staging/src/k8s.io/apiserver/pkg/
// registry/generic/registry/dryrun.go) reads the key first and answers
// AlreadyExists when it is taken.
#[tokio::test]

async fn dry_run_create_of_a_taken_name_is_already_exists() {
    let (server, _, cms) = start().await;
    let c = cm(json!({"metadata": {"name": "taken"}}));
    cms.create(&PostParams::default(), &c).await.unwrap();
    match cms.create(&dry(), &c).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "AlreadyExists");
            assert_eq!(s.message, "configmaps \"taken\" already exists");
        }
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

// kube allocates ClusterIPs for a dry run from a dry-run allocator
// (pkg/registry/core/service/storage/alloc.go: allocIPs with
// `allocator.DryRun()`), so the answer carries an IP that is not taken.
#[tokio::test]

async fn dry_run_service_create_shows_a_cluster_ip() {
    let server = ApiServer::start().await.unwrap();
    let svcs: Api<Service> = Api::namespaced(server.client().unwrap(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80}]},
    }))
    .unwrap();
    let dry = svcs.create(&dry(), &svc).await.unwrap();
    let ip = dry.spec.unwrap().cluster_ip.unwrap_or_default();
    assert!(ip.starts_with("10."), "{ip:?}");
    assert!(svcs.get_opt("web").await.unwrap().is_none());
    server.stop().await;
}

/// A Service with unknown fields at two depths, `spec.foo` then
/// `spec.ports[0].bogusPort`.
fn service_body(name: &str, rv: Option<&str>) -> String {
    let mut meta = json!({"name": name});
    if let Some(rv) = rv {
        meta["resourceVersion"] = json!(rv);
    }
    format!(
        r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {meta},
            "spec": {{"foo": 1, "ports": [{{"port": 80, "bogusPort": 1}}]}}}}"#
    )
}

const SERVICES: &str = "/api/v1/namespaces/default/services";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn field_validation_strict_warn_and_ignore() {
    let (server, client, _) = start().await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let unknown = [
        warning(r#"unknown field "spec.foo""#),
        warning(r#"unknown field "spec.ports[0].bogusPort""#),
    ];

    // Strict: 400 with kube's decoding error, nothing stored.
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{SERVICES}?fieldValidation=Strict"),
        &service_body("strict", None),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.body["reason"], "BadRequest");
    assert_eq!(
        a.body["message"],
        r#"Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.foo", unknown field "spec.ports[0].bogusPort""#
    );
    assert!(a.warnings.is_empty(), "{a:?}");
    assert!(svcs.get_opt("strict").await.unwrap().is_none());

    // Warn, and no fieldValidation at all (kube's default is Warn): created,
    // with one Warning header per unknown field.
    for (query, name) in [("?fieldValidation=Warn", "warn"), ("", "default")] {
        let a = raw::send_json(
            &client,
            "POST",
            &format!("{SERVICES}{query}"),
            &service_body(name, None),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.warnings, unknown, "{query}");
    }

    // Ignore: created without a word.
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{SERVICES}?fieldValidation=Ignore"),
        &service_body("ignore", None),
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    assert!(a.warnings.is_empty(), "{a:?}");

    // Updates and patches are checked the same way.
    let rv = a.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let a = raw::send_json(
        &client,
        "PUT",
        &format!("{SERVICES}/ignore?fieldValidation=Strict"),
        &service_body("ignore", Some(&rv)),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    let a = raw::send_json(
        &client,
        "PUT",
        &format!("{SERVICES}/ignore?fieldValidation=Warn"),
        &service_body("ignore", Some(&rv)),
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.warnings, unknown);
    // Each patch type on an object of its own that has no unknown field.
    let patch = r#"{"spec": {"foo": 2}}"#;
    for (ct, what) in [
        ("application/merge-patch+json", "merge"),
        ("application/strategic-merge-patch+json", "strategic"),
    ] {
        let clean: Service = serde_json::from_value(json!({
            "metadata": {"name": what},
            "spec": {"ports": [{"port": 80}]},
        }))
        .unwrap();
        svcs.create(&PostParams::default(), &clean).await.unwrap();
        let a = raw::send(
            &client,
            "PATCH",
            &format!("{SERVICES}/{what}?fieldValidation=Strict"),
            ct,
            "",
            patch,
        )
        .await;
        assert_eq!(a.status, 400, "{what}: {a:?}");
        assert_eq!(
            a.body["message"],
            r#"Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.foo""#,
            "{what}"
        );
        let a = raw::send(
            &client,
            "PATCH",
            &format!("{SERVICES}/{what}?fieldValidation=Warn"),
            ct,
            "",
            patch,
        )
        .await;
        assert_eq!(a.status, 200, "{what}: {a:?}");
        assert_eq!(
            a.warnings,
            [warning(r#"unknown field "spec.foo""#)],
            "{what}"
        );
        let a = raw::send(
            &client,
            "PATCH",
            &format!("{SERVICES}/{what}?fieldValidation=Ignore"),
            ct,
            "",
            patch,
        )
        .await;
        assert_eq!(a.status, 200, "{what}: {a:?}");
        assert!(a.warnings.is_empty(), "{what}: {a:?}");
    }
    server.stop().await;
}

// kube decodes built-in kinds into Go structs, which have nowhere to keep
// an unknown field: under Warn and Ignore the object is created without
// them (the "post-ignore-validation" and "post-warn-validation" cases of
// test/integration/apiserver/field_validation_test.go succeed, and what is
// stored is the typed object).
#[tokio::test]

async fn unknown_fields_of_built_in_kinds_are_dropped() {
    let (server, client, _) = start().await;
    for mode in ["Warn", "Ignore"] {
        let name = mode.to_lowercase();
        let a = raw::send_json(
            &client,
            "POST",
            &format!("{SERVICES}?fieldValidation={mode}"),
            &service_body(&name, None),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.body["spec"].get("foo"), None, "{mode}: {a:?}");
        assert_eq!(
            a.body["spec"]["ports"][0].get("bogusPort"),
            None,
            "{mode}: {a:?}"
        );
        let stored = raw::bodiless(&client, "GET", &format!("{SERVICES}/{name}"), "").await;
        assert_eq!(stored.body["spec"].get("foo"), None, "{mode}: {stored:?}");
    }
    server.stop().await;
}

// kube validates the option itself (ValidateFieldValidation in
// staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation): a value
// other than "", Ignore, Warn or Strict is refused as an invalid
// CreateOptions, before the body is looked at.
#[tokio::test]

async fn an_unknown_field_validation_value_is_refused() {
    let (server, client, _) = start().await;
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{CONFIGMAPS}?fieldValidation=Bogus"),
        r#"{"metadata": {"name": "x"}}"#,
    )
    .await;
    assert_eq!(a.status, 422, "{a:?}");
    let message = a.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus""#),
        "{message}"
    );
    server.stop().await;
}

// kube's strict JSON decoder also reports keys given twice
// (test/integration/apiserver/field_validation_test.go: `duplicate field
// "metadata.name"` among the strict errors and the warnings).
#[tokio::test]
async fn field_validation_reports_duplicate_fields() {
    let (server, client, _) = start().await;
    let body = r#"{"metadata": {"name": "dup"}, "data": {"a": "1"}, "data": {"b": "2"}}"#;
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{CONFIGMAPS}?fieldValidation=Strict"),
        body,
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.body["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data""#
    );
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{CONFIGMAPS}?fieldValidation=Warn"),
        body,
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(a.warnings, [warning(r#"duplicate field "data""#)]);
    server.stop().await;
}

// kube's strict JSON decoder reports problems in the order of the document
// (test/integration/apiserver/field_validation_test.go: for a JSON body,
// `unknown field "spec.unknownDupe"` comes before `unknown field
// "spec.template.spec.containers[0].unknownNested"`; only YAML bodies,
// converted through a sorted map first, come out sorted).
#[tokio::test]
async fn field_validation_reports_in_document_order() {
    let (server, client, _) = start().await;
    let body = r#"{"metadata": {"name": "order"}, "zeta": 1, "data": {}, "alpha": 2}"#;
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{CONFIGMAPS}?fieldValidation=Warn"),
        body,
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(
        a.warnings,
        [
            warning(r#"unknown field "zeta""#),
            warning(r#"unknown field "alpha""#)
        ]
    );
    server.stop().await;
}

// A custom resource is decoded into a plain map, so its duplicates are
// reported wherever they are, in document order, and then come the fields
// pruning removed, sorted (the "crd-put-strict-validation" case of
// test/integration/apiserver/field_validation_test.go, without the
// metadata and embedded-object parts).
#[tokio::test]
async fn field_validation_reports_duplicates_of_custom_resources_first() {
    let (server, client, _) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = json!({
        "metadata": {"name": "dupes.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "dupes", "singular": "dupe", "kind": "Dupe"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "knownField1": {"type": "string"},
                        "ports": {"type": "array", "items": {"type": "object", "properties": {
                            "name": {"type": "string"},
                            "containerPort": {"type": "integer"},
                            "protocol": {"type": "string"},
                            "hostPort": {"type": "integer"},
                        }}},
                    }},
                }}},
            }],
        },
    });
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .unwrap();
    const DUPES: &str = "/apis/example.com/v1/namespaces/default/dupes";
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion": "example.com/v1", "kind": "Dupe",
                "metadata": {{"name": "{name}", "name": "{name}"}},
                "spec": {{
                    "unknown1": "val1",
                    "unknownDupe": "valDupe",
                    "unknownDupe": "valDupe2",
                    "knownField1": "val1",
                    "knownField1": "val2",
                    "ports": [{{
                        "name": "portName",
                        "containerPort": 8080,
                        "protocol": "TCP",
                        "hostPort": 8081,
                        "hostPort": 8082,
                        "unknownNested": "val"
                    }}]
                }}}}"#
        )
    };
    let problems = [
        r#"duplicate field "metadata.name""#,
        r#"duplicate field "spec.unknownDupe""#,
        r#"duplicate field "spec.knownField1""#,
        r#"duplicate field "spec.ports[0].hostPort""#,
        r#"unknown field "spec.ports[0].unknownNested""#,
        r#"unknown field "spec.unknown1""#,
        r#"unknown field "spec.unknownDupe""#,
    ];
    // The resource is served once its CRD is established.
    let strict = format!("{DUPES}?fieldValidation=Strict");
    let mut a = raw::send_json(&client, "POST", &strict, &body("strict")).await;
    for _ in 0..200 {
        if a.status != 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        a = raw::send_json(&client, "POST", &strict, &body("strict")).await;
    }
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.body["message"],
        format!(
            r#"Dupe in version "v1" cannot be handled as a Dupe: strict decoding error: {}"#,
            problems.join(", ")
        )
    );
    let a = raw::send_json(&client, "POST", DUPES, &body("warn")).await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(a.warnings, problems.map(warning));
    // A map keeps the last of two equal keys.
    assert_eq!(
        a.body["spec"],
        json!({"knownField1": "val2", "ports": [{
            "name": "portName", "containerPort": 8080, "protocol": "TCP", "hostPort": 8082
        }]})
    );
    let a = raw::send_json(
        &client,
        "POST",
        &format!("{DUPES}?fieldValidation=Ignore"),
        &body("ignore"),
    )
    .await;
    assert_eq!(a.status, 201, "{a:?}");
    assert!(a.warnings.is_empty(), "{a:?}");
    server.stop().await;
}
