//! Restarts, bad input and expired resource versions.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use causeway_testkit::{ApiServer, Backend};

#[tokio::test]
async fn restart_keeps_objects_and_resource_versions() {
    let server = ApiServer::start().await.unwrap();
    let dir = server.dir().clone();
    let cms: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    let mut before = Vec::new();
    for i in 0..10 {
        let c: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("keep-{i}")}, "data": {"i": i.to_string()}}),
        )
        .unwrap();
        before.push(cms.create(&PostParams::default(), &c).await.unwrap());
    }
    server.stop().await;
    let server = ApiServer::start_in(dir, Backend::Embedded).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    for b in &before {
        let a = cms.get(b.metadata.name.as_deref().unwrap()).await.unwrap();
        assert_eq!(a.metadata.resource_version, b.metadata.resource_version);
        assert_eq!(a.metadata.uid, b.metadata.uid);
        assert_eq!(a.data, b.data);
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_kube_errors_and_stores_nothing() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    match cms.create(&PostParams::default(), &bad).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert_eq!(s.reason, "Invalid");
            assert!(s.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }
    // Raw requests: bad JSON, wrong kind, oversized body.
    let path = "/api/v1/namespaces/default/configmaps";
    assert_eq!(send(&client, "POST", path, "{not json".into()).await, 400);
    let wrong =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).to_string();
    assert_eq!(send(&client, "POST", path, wrong).await, 400);
    let big = "x".repeat(3 * 1024 * 1024 + 10);
    let big = json!({"metadata": {"name": "big"}, "data": {"a": big}}).to_string();
    assert_eq!(send(&client, "POST", path, big).await, 413);
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert!(list.items.is_empty(), "{:?}", list.items);
    // Unknown resources are 404.
    assert_eq!(
        send(&client, "GET", "/api/v1/widgets", String::new()).await,
        404
    );
    // No token: 401.
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.root_cert = Some(vec![server.ca_der().unwrap()]);
    let anon = kube::Client::try_from(config).unwrap();
    assert_eq!(
        send(&anon, "GET", "/api/v1/namespaces", String::new()).await,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn watch_from_a_version_older_than_the_cache_is_gone() {
    let server = ApiServer::start().await.unwrap();
    let dir = server.dir().clone();
    let cms: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    server.stop().await;
    // After a restart the watch cache holds no history before its start, so
    // revision 1 is too old, as after a compaction.
    let server = ApiServer::start_in(dir, Backend::Embedded).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), "1")
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

async fn send(client: &kube::Client, method: &str, path: &str, body: String) -> u16 {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body.into_bytes()))
        .unwrap();
    client.send(req).await.unwrap().status().as_u16()
}
