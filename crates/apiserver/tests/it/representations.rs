//! Other representations of objects than the objects themselves:
//! `PartialObjectMetadata` (kube-rs' metadata API and metadata watcher) and
//! `Table` (what kubectl prints).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::raw;
use causeway_testkit::ApiServer;

async fn make(cms: &Api<ConfigMap>, name: &str, data: serde_json::Value) -> ConfigMap {
    let c: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "meta"}, "annotations": {"note": name}},
        "data": data,
    }))
    .unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap()
}

const METADATA: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn partial_object_metadata_get_list_and_watch() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let a = make(&cms, "a", json!({"k": "v"})).await;
    make(&cms, "b", json!({})).await;

    let meta = cms.get_metadata("a").await.unwrap();
    assert_eq!(meta.types.as_ref().unwrap().kind, "PartialObjectMetadata");
    assert_eq!(meta.types.as_ref().unwrap().api_version, "meta.k8s.io/v1");
    assert_eq!(meta.metadata.name.as_deref(), Some("a"));
    assert_eq!(meta.metadata.uid, a.metadata.uid);
    assert_eq!(meta.metadata.resource_version, a.metadata.resource_version);
    assert_eq!(meta.metadata.labels.as_ref().unwrap()["app"], "meta");
    assert_eq!(meta.metadata.annotations.as_ref().unwrap()["note"], "a");
    assert!(cms.get_metadata_opt("nope").await.unwrap().is_none());
    // Only the metadata travels.
    let raw = raw::bodiless(&client, "GET", &format!("{CONFIGMAPS}/a"), METADATA).await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body["kind"], "PartialObjectMetadata");
    assert_eq!(raw.body.get("data"), None, "{raw:?}");

    let list = cms
        .list_metadata(&ListParams::default().labels("app=meta"))
        .await
        .unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .map(|m| m.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let raw = raw::bodiless(&client, "GET", CONFIGMAPS, METADATA_LIST).await;
    assert_eq!(raw.body["kind"], "PartialObjectMetadataList");
    assert_eq!(raw.body["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(raw.body["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(raw.body["items"][0].get("data"), None, "{raw:?}");
    // Pages work in this representation too.
    let page = cms
        .list_metadata(&ListParams::default().limit(1))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let cont = page.metadata.continue_.unwrap();
    let rest = cms
        .list_metadata(&ListParams::default().limit(1).continue_token(&cont))
        .await
        .unwrap();
    assert_eq!(rest.items[0].metadata.name.as_deref(), Some("b"));

    // A metadata watch sees changes as PartialObjectMetadata.
    let from = list.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch_metadata(&WatchParams::default().timeout(30), &from)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"step": "2"}}})),
    )
    .await
    .unwrap();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Modified(m)) => {
            assert_eq!(m.types.unwrap().kind, "PartialObjectMetadata");
            assert_eq!(m.metadata.name.as_deref(), Some("a"));
            assert_eq!(m.metadata.labels.unwrap()["step"], "2");
        }
        other => panic!("{other:?}"),
    }

    // kube-runtime's watcher over metadata (what `metadata_watcher` became
    // in kube 5: an `Api<PartialObjectMeta<K>>` asks for metadata only):
    // the objects there are, then changes.
    let metas: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), "default");
    let mut names = BTreeSet::new();
    let mut watcher = watcher(metas, watcher::Config::default().labels("app=meta"))
        .applied_objects()
        .boxed();
    while names.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), watcher.try_next())
            .await
            .expect("metadata_watcher sent nothing")
            .unwrap()
            .unwrap();
        names.insert(m.metadata.name.unwrap());
    }
    assert_eq!(names, BTreeSet::from(["a".to_string(), "b".to_string()]));
    make(&cms, "c", json!({"big": "x".repeat(1000)})).await;
    let m = tokio::time::timeout(Duration::from_secs(30), watcher.try_next())
        .await
        .expect("metadata_watcher missed a create")
        .unwrap()
        .unwrap();
    assert_eq!(m.metadata.name.as_deref(), Some("c"));
    assert_eq!(m.types.unwrap().kind, "PartialObjectMetadata");
    server.stop().await;
}

#[tokio::test]
async fn configmap_table_has_kubes_columns() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    make(&cms, "one", json!({"a": "1"})).await;
    make(&cms, "three", json!({"a": "1", "b": "2", "c": "3"})).await;

    let t = raw::bodiless(&client, "GET", CONFIGMAPS, TABLE).await;
    assert_eq!(t.status, 200, "{t:?}");
    assert!(t.content_type.starts_with("application/json"), "{t:?}");
    let body = &t.body;
    assert_eq!(body["kind"], "Table");
    assert_eq!(body["apiVersion"], "meta.k8s.io/v1");
    assert!(body["metadata"]["resourceVersion"].is_string(), "{body}");
    let columns = body["columnDefinitions"].as_array().unwrap();
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Data", "Age"]);
    for c in columns {
        assert_eq!(c["type"], "string", "{c}");
        assert_eq!(c["priority"], 0, "{c}");
    }
    assert_eq!(columns[0]["format"], "name");
    assert_eq!(columns[1]["format"], "");
    // kube takes the descriptions from the API documentation.
    let described = |i: usize, start: &str| {
        let d = columns[i]["description"].as_str().unwrap();
        assert!(d.starts_with(start), "{d}");
    };
    described(0, "Name must be unique within a namespace.");
    described(1, "Data contains the configuration data.");
    described(
        2,
        "CreationTimestamp is a timestamp representing the server time",
    );

    let rows = body["rows"].as_array().unwrap();
    let cells: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            let c = r["cells"].as_array().unwrap();
            assert_eq!(c.len(), 3, "{r}");
            let age = c[2].as_str().unwrap();
            assert!(age.ends_with('s') || age.ends_with('m'), "{age}");
            (c[0].as_str().unwrap().to_string(), c[1].as_i64().unwrap())
        })
        .collect();
    // The default namespace also holds kube-root-ca.crt on a real cluster;
    // only the rows made here are checked.
    let mine: Vec<_> = cells
        .into_iter()
        .filter(|(n, _)| n == "one" || n == "three")
        .collect();
    assert_eq!(mine, [("one".to_string(), 1), ("three".to_string(), 3)]);
    // By default each row carries the object's metadata.
    let row = rows.iter().find(|r| r["cells"][0] == "one").unwrap();
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["metadata"]["name"], "one");
    assert_eq!(row["object"].get("data"), None);

    // includeObject=Object carries the whole object; None, nothing.
    let t = raw::bodiless(
        &client,
        "GET",
        &format!("{CONFIGMAPS}/three?includeObject=Object"),
        TABLE,
    )
    .await;
    let rows = t.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["cells"][1], 3);
    assert_eq!(rows[0]["object"]["kind"], "ConfigMap");
    assert_eq!(rows[0]["object"]["data"]["c"], "3");
    let t = raw::bodiless(
        &client,
        "GET",
        &format!("{CONFIGMAPS}/three?includeObject=None"),
        TABLE,
    )
    .await;
    assert!(
        t.body["rows"][0].get("object").is_none_or(|o| o.is_null()),
        "{t:?}"
    );

    // A label selector narrows the rows.
    let t = raw::bodiless(
        &client,
        "GET",
        &format!("{CONFIGMAPS}?labelSelector=app%3Dnobody"),
        TABLE,
    )
    .await;
    assert_eq!(t.body["rows"], json!([]), "{t:?}");
    server.stop().await;
}
