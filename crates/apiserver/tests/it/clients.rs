//! kube-rs against the server: CRUD, conflicts, lists, watches, reflectors
//! and a controller, each on the embedded store, on `causeway store` and on
//! a real etcd.

use std::sync::Arc;
use std::time::Duration;

use causeway_testkit::{ApiServer, Backend, CausewayProcess, Etcd};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn cm(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": data,
    }))
    .unwrap()
}

/// The whole client scenario, run once per backend.
async fn crud_list_watch(server: &ApiServer) {
    let client = server.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // Create, and the system metadata is filled in.
    let created = cms
        .create(&PostParams::default(), &cm("one", json!({"a": "1"})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: i64 = meta.resource_version.as_ref().unwrap().parse().unwrap();
    assert!(rv1 > 0);

    // A second create of the same name is AlreadyExists.
    let err = cms
        .create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "AlreadyExists");
            assert_eq!(s.message, "configmaps \"one\" already exists");
        }
        other => panic!("{other:?}"),
    }

    // Update with a stale resourceVersion is a Conflict.
    let mut fresh = cms.get("one").await.unwrap();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = cms
        .replace("one", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    let err = cms
        .replace("one", &PostParams::default(), &fresh)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }

    // Patches of every kind.
    let p = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.as_ref().unwrap()["b"], "2");
    let p = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([{"op": "remove", "path": "/data/a"}])).unwrap(),
            ),
        )
        .await
        .unwrap();
    assert!(!p.data.as_ref().unwrap().contains_key("a"));
    let p = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        p.metadata.finalizers.as_deref(),
        Some(&["example.com/hold".to_string()][..])
    );

    // An unchanged update writes nothing: the resourceVersion stays.
    let same = cms
        .replace("one", &PostParams::default(), &p)
        .await
        .unwrap();
    assert_eq!(same.metadata.resource_version, p.metadata.resource_version);

    // Delete with a finalizer marks, and removing the finalizer deletes.
    cms.delete("one", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("one").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("one").await.unwrap().is_none());

    // Lists: selectors, limit and continue over a consistent snapshot.
    for i in 0..25 {
        let mut c = cm(&format!("item-{i:02}"), json!({"i": i.to_string()}));
        if i % 2 == 0 {
            c.metadata.labels = Some([("parity".to_string(), "even".to_string())].into());
        }
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let even = cms
        .list(&ListParams::default().labels("parity=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 13);
    let first = cms.list(&ListParams::default().limit(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    let token = first.metadata.continue_.clone().unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(15));
    // A write between pages does not show up in the snapshot.
    cms.create(&PostParams::default(), &cm("item-99", json!({})))
        .await
        .unwrap();
    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut cont = Some(token);
    while let Some(c) = cont {
        let page = cms
            .list(&ListParams::default().limit(10).continue_token(&c))
            .await
            .unwrap();
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        cont = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    assert_eq!(names.len(), 25);
    assert!(!names.contains(&"item-99".to_string()));
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=item-03"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let err = cms
        .list(&ListParams::default().fields("spec.nope=1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    let err = cms
        .list(&ListParams::default().labels("a b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );

    // A watch from a resourceVersion sees exactly what happened after it.
    let list = cms.list(&ListParams::default()).await.unwrap();
    let from = list.metadata.resource_version.clone().unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &from)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "item-00",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    cms.delete("item-01", &DeleteParams::default())
        .await
        .unwrap();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Modified(c)) => assert_eq!(c.metadata.name.as_deref(), Some("item-00")),
        other => panic!("{other:?}"),
    }
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(c)) => assert_eq!(c.metadata.name.as_deref(), Some("item-01")),
        other => panic!("{other:?}"),
    }

    // A label-filtered watch sees an object that stops matching as DELETED.
    let list = cms.list(&ListParams::default()).await.unwrap();
    let from = list.metadata.resource_version.clone().unwrap();
    let mut evens = cms
        .watch(
            &WatchParams::default().labels("parity=even").timeout(10),
            &from,
        )
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "item-02",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"parity": "odd"}}})),
    )
    .await
    .unwrap();
    match evens.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(c)) => assert_eq!(c.metadata.name.as_deref(), Some("item-02")),
        other => panic!("{other:?}"),
    }
}

/// Where a test's server keeps its objects.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Store {
    /// The store engine in-process.
    Embedded,
    /// `causeway store` as a child process, through `--etcd-servers`.
    Causeway,
    /// A real etcd 3.5.
    Etcd,
}

/// Runs `scenario` on a server of its own on `store`, then stops both.
pub(crate) async fn run_on(store: Store, scenario: impl AsyncFnOnce(&ApiServer)) {
    // Held to the end: dropping them stops the store processes.
    let (causeway, etcd) = match store {
        Store::Embedded => (None, None),
        Store::Causeway => (
            Some(CausewayProcess::start_sqlite(&[]).await.unwrap()),
            None,
        ),
        Store::Etcd => (None, Some(Etcd::start().await.unwrap())),
    };
    let endpoint = causeway
        .as_ref()
        .map(CausewayProcess::endpoint)
        .or_else(|| etcd.as_ref().map(Etcd::endpoint));
    let server = match endpoint {
        None => ApiServer::start().await.unwrap(),
        Some(endpoint) => {
            let dir = Arc::new(tempfile::tempdir().unwrap());
            ApiServer::start_in(dir, Backend::Etcd(endpoint))
                .await
                .unwrap()
        }
    };
    scenario(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn kube_client_on_the_embedded_store() {
    run_on(Store::Embedded, crud_list_watch).await;
}

#[tokio::test]
async fn kube_client_on_causeway_store() {
    run_on(Store::Causeway, crud_list_watch).await;
}

#[tokio::test]
async fn kube_client_on_real_etcd() {
    run_on(Store::Etcd, crud_list_watch).await;
}

/// A reflector (list + watch, and the streaming-list variant) and a
/// controller that reconciles every ConfigMap, run once per backend.
async fn reflector_and_controller(server: &ApiServer) {
    use kube::runtime::controller::{Action, Controller};
    let client = server.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // Reflectors fill their stores from list + watch, and from a watch
    // that sends the initial objects itself (sendInitialEvents).
    let (reader, writer) = kube::runtime::reflector::store::<ConfigMap>();
    let reflector =
        kube::runtime::reflector(writer, watcher(cms.clone(), watcher::Config::default()))
            .applied_objects()
            .for_each(|_| async {});
    let reflector = tokio::spawn(reflector);
    let (streamed, writer) = kube::runtime::reflector::store::<ConfigMap>();
    let streaming = kube::runtime::reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default().streaming_lists()),
    )
    .applied_objects()
    .for_each(|_| async {});
    let streaming = tokio::spawn(streaming);
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("r{i}"), json!({})))
            .await
            .unwrap();
    }
    causeway_testkit::wait_for(Duration::from_secs(10), || async {
        reader.state().len() == 5 && streamed.state().len() == 5
    })
    .await
    .unwrap();
    // A delete leaves both stores.
    cms.delete("r4", &DeleteParams::default()).await.unwrap();
    causeway_testkit::wait_for(Duration::from_secs(10), || async {
        reader.state().len() == 4 && streamed.state().len() == 4
    })
    .await
    .unwrap();

    // A controller reconciles every ConfigMap: it stamps an annotation.
    let api = cms.clone();
    let controller = Controller::new(cms.clone(), watcher::Config::default())
        .run(
            move |obj: Arc<ConfigMap>, _ctx: Arc<()>| {
                let api = api.clone();
                async move {
                    let name = obj.metadata.name.clone().unwrap_or_default();
                    api.patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"annotations": {"reconciled": "yes"}}})),
                    )
                    .await?;
                    Ok::<_, kube::Error>(Action::await_change())
                }
            },
            |_obj, _err: &kube::Error, _ctx| Action::requeue(Duration::from_secs(1)),
            Arc::new(()),
        )
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);
    cms.create(&PostParams::default(), &cm("late", json!({})))
        .await
        .unwrap();
    causeway_testkit::wait_for(Duration::from_secs(15), || {
        let cms = cms.clone();
        async move {
            let list = cms.list(&ListParams::default()).await.unwrap();
            list.items.len() == 5
                && list.items.iter().all(|c| {
                    c.metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.get("reconciled").map(String::as_str) == Some("yes"))
                })
        }
    })
    .await
    .unwrap();
    // The reflectors saw the controller's writes too.
    causeway_testkit::wait_for(Duration::from_secs(10), || async {
        [&reader, &streamed].iter().all(|store| {
            let state = store.state();
            state.len() == 5
                && state.iter().all(|c| {
                    c.metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key("reconciled"))
                })
        })
    })
    .await
    .unwrap();
    controller.abort();
    streaming.abort();
    reflector.abort();
}

#[tokio::test]
async fn reflector_and_controller_on_the_embedded_store() {
    run_on(Store::Embedded, reflector_and_controller).await;
}

#[tokio::test]
async fn reflector_and_controller_on_causeway_store() {
    run_on(Store::Causeway, reflector_and_controller).await;
}

#[tokio::test]
async fn reflector_and_controller_on_real_etcd() {
    run_on(Store::Etcd, reflector_and_controller).await;
}

#[tokio::test]
async fn namespaces_and_services() {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&want.to_string()), "{names:?}");
    }
    // Creating in a namespace that does not exist is NotFound.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let err = cms
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.message == "namespaces \"nowhere\" not found"),
        "{err:?}"
    );

    // Deleting a namespace empties it, then removes it.
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap();
    let ns = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "scratch");
    cms.create(&PostParams::default(), &cm("inside", json!({})))
        .await
        .unwrap();
    nss.delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    causeway_testkit::wait_for(Duration::from_secs(10), || {
        let nss = nss.clone();
        async move { nss.get_opt("scratch").await.unwrap().is_none() }
    })
    .await
    .unwrap();
    assert!(cms.get_opt("inside").await.unwrap().is_none());

    // Services get distinct ClusterIPs from the range.
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut ips = std::collections::HashSet::new();
    for i in 0..20 {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": format!("svc-{i}")},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}},
        }))
        .unwrap();
        let svc = svcs.create(&PostParams::default(), &svc).await.unwrap();
        let spec = svc.spec.unwrap();
        let ip = spec.cluster_ip.unwrap();
        assert!(ip.starts_with("10."), "{ip}");
        assert!(ips.insert(ip));
        assert_eq!(spec.ports.unwrap()[0].protocol.as_deref(), Some("TCP"));
    }
    // Asking for a taken IP is Invalid.
    let taken = ips.iter().next().unwrap().clone();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "dup"},
        "spec": {"ports": [{"port": 80}], "clusterIP": taken},
    }))
    .unwrap();
    let err = svcs.create(&PostParams::default(), &svc).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("provided IP is already allocated")),
        "{err:?}"
    );
    server.stop().await;
}

fn service(name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn node_port(s: &Service, i: usize) -> i32 {
    s.spec.as_ref().unwrap().ports.as_ref().unwrap()[i]
        .node_port
        .unwrap_or(0)
}

fn invalid_message(err: kube::Error) -> String {
    match err {
        kube::Error::Api(s) => {
            assert_eq!(
                (s.code, s.reason.as_str()),
                (422, "Invalid"),
                "{}",
                s.message
            );
            s.message
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn node_ports_are_allocated_kept_and_released() {
    let server = ApiServer::start().await.unwrap();
    let svcs: Api<Service> = Api::namespaced(server.client().unwrap(), "default");
    let pp = PostParams::default();
    let two_ports =
        json!([{"name": "a", "port": 80}, {"name": "b", "port": 81, "protocol": "UDP"}]);

    // NodePort: one free port per service port, from kube's default range.
    let np = svcs
        .create(
            &pp,
            &service("np", json!({"type": "NodePort", "ports": two_ports})),
        )
        .await
        .unwrap();
    let (a, b) = (node_port(&np, 0), node_port(&np, 1));
    assert!((30000..=32767).contains(&a) && (30000..=32767).contains(&b) && a != b);
    assert_eq!(
        np.spec.as_ref().unwrap().external_traffic_policy.as_deref(),
        Some("Cluster")
    );

    // A port that is taken, out of range, or given to a ClusterIP service.
    let err = svcs
        .create(
            &pp,
            &service(
                "taken",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": a}]}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        invalid_message(err),
        format!(
            "Service \"taken\" is invalid: spec.ports[0].nodePort: Invalid value: {a}: provided port is already allocated"
        )
    );
    let err = svcs
        .create(
            &pp,
            &service(
                "low",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        invalid_message(err),
        "Service \"low\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    let err = svcs
        .create(
            &pp,
            &service("cip", json!({"ports": [{"port": 80, "nodePort": 30001}]})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        invalid_message(err),
        "Service \"cip\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    );
    // An update that leaves the node ports out keeps them.
    let mut replaced = svcs.get("np").await.unwrap();
    for p in replaced.spec.as_mut().unwrap().ports.as_mut().unwrap() {
        p.node_port = None;
    }
    let replaced = svcs.replace("np", &pp, &replaced).await.unwrap();
    assert_eq!((node_port(&replaced, 0), node_port(&replaced, 1)), (a, b));

    // Turning it into a ClusterIP service gives the ports back.
    let patched = svcs
        .patch(
            "np",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .unwrap();
    assert_eq!((node_port(&patched, 0), node_port(&patched, 1)), (0, 0));
    let reuse = svcs
        .create(
            &pp,
            &service(
                "reuse",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": a}]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(node_port(&reuse, 0), a);

    // LoadBalancer services get node ports too; deleting gives them back.
    let lb = svcs
        .create(
            &pp,
            &service(
                "lb",
                json!({"type": "LoadBalancer", "ports": [{"port": 443}]}),
            ),
        )
        .await
        .unwrap();
    let l = node_port(&lb, 0);
    assert!((30000..=32767).contains(&l));
    assert_eq!(
        lb.spec.as_ref().unwrap().allocate_load_balancer_node_ports,
        Some(true)
    );
    svcs.delete("lb", &DeleteParams::default()).await.unwrap();
    svcs.create(
        &pp,
        &service(
            "lb2",
            json!({"type": "NodePort", "ports": [{"port": 443, "nodePort": l}]}),
        ),
    )
    .await
    .unwrap();
    server.stop().await;
}
