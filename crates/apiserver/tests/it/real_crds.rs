//! Real CustomResourceDefinitions, used as a new user would use them: the
//! CRDs that the Multi-Cluster Services API, Gateway API, Linkerd,
//! cert-manager, the Prometheus operator and SPIRE install (copied
//! unchanged into `crds/`, each with its origin), and objects written
//! after those projects' own examples. Every assertion is what
//! kube-apiserver 1.33 answers; the `#[ignore]`d tests are the places where
//! causeway still answers differently, each with the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use serde_json::{Value, json};

use causeway_testkit::{ApiServer, kubectl, kubectl_with_input};

use super::crds::raw;

const SERVICE_EXPORTS: &str = include_str!("crds/multicluster.x-k8s.io_serviceexports.yaml");
const SERVICE_IMPORTS: &str = include_str!("crds/multicluster.x-k8s.io_serviceimports.yaml");
const GATEWAY_CLASSES: &str = include_str!("crds/gateway.networking.k8s.io_gatewayclasses.yaml");
const REFERENCE_GRANTS: &str = include_str!("crds/gateway.networking.k8s.io_referencegrants.yaml");
const LINKERD_SERVERS: &str = include_str!("crds/policy.linkerd.io_servers.yaml");
const CERTIFICATES: &str = include_str!("crds/cert-manager.io_certificates.yaml");
const PROMETHEUS_RULES: &str = include_str!("crds/monitoring.coreos.com_prometheusrules.yaml");
const CLUSTER_SPIFFE_IDS: &str = include_str!("crds/spire.spiffe.io_clusterspiffeids.yaml");

/// mcs-api's `demo/yaml/serviceimport.yaml`, then its VIP variant with a
/// named port and a target port but no protocol (the CRD defaults it).
const DEMO_SERVICE_IMPORTS: &str = r#"
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata:
  name: serve
  namespace: demo
spec:
  type: ClusterSetIP
  ports:
  - port: 80
    protocol: TCP
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata:
  name: serve-with-vip
  namespace: demo
spec:
  type: ClusterSetIP
  ips:
  - 1.2.3.4
  ports:
  - name: http
    port: 80
    targetPort: http
"#;

const DEMO_SERVICE_EXPORT: &str = r#"
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceExport
metadata:
  name: serve
  namespace: demo
"#;

/// The GatewayClass of Gateway API's getting-started guide.
const GATEWAY_CLASS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: example
spec:
  controllerName: example.com/gateway-controller
  description: An example class
"#;

/// The ReferenceGrant of Gateway API's documentation, at the version its
/// CRD stores.
const REFERENCE_GRANT: &str = r#"
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: allow-ns1-gateways-to-ref-secrets
  namespace: default
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: Gateway
    namespace: ns1
  to:
  - group: ""
    kind: Secret
"#;

/// Linkerd's emojivoto Servers: one at the storage version, one at a
/// deprecated version.
const LINKERD_WEB_SERVER: &str = r#"
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  namespace: emojivoto
  name: web-http
  labels:
    app.kubernetes.io/part-of: emojivoto
    app.kubernetes.io/name: web
spec:
  podSelector:
    matchLabels:
      app: web
  port: http
  proxyProtocol: HTTP/1
"#;

const LINKERD_EMOJI_SERVER: &str = r#"
apiVersion: policy.linkerd.io/v1beta1
kind: Server
metadata:
  namespace: emojivoto
  name: emoji-grpc
spec:
  podSelector:
    matchLabels:
      app: emoji-svc
  port: 8080
"#;

/// cert-manager's full Certificate example from its documentation.
const CERTIFICATE: &str = r#"
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: example-com
  namespace: default
spec:
  secretName: example-com-tls
  duration: 2160h # 90d
  renewBefore: 360h # 15d
  subject:
    organizations:
      - jetstack
  isCA: false
  privateKey:
    algorithm: RSA
    encoding: PKCS1
    size: 2048
  usages:
    - server auth
    - client auth
  dnsNames:
    - example.com
    - www.example.com
  uris:
    - spiffe://cluster.local/ns/sandbox/sa/example
  ipAddresses:
    - 192.168.0.5
  issuerRef:
    name: ca-issuer
    kind: Issuer
    group: cert-manager.io
"#;

/// The Prometheus operator's example rules.
const PROMETHEUS_RULE: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  labels:
    prometheus: example
    role: alert-rules
  name: prometheus-example-rules
spec:
  groups:
  - name: ./example.rules
    partial_response_strategy: Abort
    interval: 30s
    rules:
    - alert: ExampleAlert
      expr: vector(1)
      for: 5m
    - record: job:up:sum
      expr: 1
"#;

/// Runs kubectl with the words of `cmd` followed by `extra` as they are
/// (patches and templates, which hold spaces), panicking with its output
/// when it fails.
fn ok(kc: &Path, cmd: &str, extra: &[&str]) -> String {
    kubectl(kc, &args(cmd, extra)).unwrap()
}

/// Runs kubectl with a document on standard input.
fn with_input(kc: &Path, cmd: &str, doc: &str) -> String {
    kubectl_with_input(kc, &args(cmd, &[]), Some(doc)).unwrap()
}

/// Runs kubectl expecting it to fail, and returns what it printed.
fn fails(kc: &Path, cmd: &str, extra: &[&str], doc: Option<&str>) -> String {
    kubectl_with_input(kc, &args(cmd, extra), doc)
        .unwrap_err()
        .to_string()
}

fn args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    cmd.split_whitespace()
        .chain(extra.iter().copied())
        .collect()
}

/// The table kubectl prints, cut at the columns of its header (kubectl pads
/// columns with at least three spaces, so an empty cell stays in place).
fn table(out: &str) -> Vec<Vec<String>> {
    let header = out.lines().next().unwrap_or("").as_bytes();
    let mut starts = vec![0];
    for i in 2..header.len() {
        if header[i] != b' ' && header[i - 1] == b' ' && header[i - 2] == b' ' {
            starts.push(i);
        }
    }
    out.lines()
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts.get(n + 1).map_or(line.len(), |&e| e.min(line.len()));
                    line.get(start.min(end)..end)
                        .unwrap_or("")
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .collect()
}

/// The first `n` cells of every line (the rest is usually AGE).
fn leading(out: &str, n: usize) -> Vec<Vec<String>> {
    table(out)
        .into_iter()
        .map(|row| row.into_iter().take(n).collect())
        .collect()
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap()
}

/// Asserts that `text` holds every one of `messages`.
fn holds_all(text: &str, messages: &[&str]) {
    for message in messages {
        assert!(text.contains(message), "{message}\n{text}");
    }
}

/// Applies CRD files twice (the second changes nothing) and waits until
/// they are Established, as install scripts do.
fn install(kc: &Path, crds: &[(&str, &str)]) {
    for (name, yaml) in crds {
        for verb in ["created", "unchanged"] {
            let out = with_input(kc, "apply -f -", yaml);
            assert_eq!(
                out.trim(),
                format!("customresourcedefinition.apiextensions.k8s.io/{name} {verb}")
            );
        }
    }
    for (name, _) in crds {
        let crd = format!("crd/{name}");
        let out = ok(
            kc,
            "wait --for=condition=Established --timeout=30s",
            &[&crd],
        );
        assert!(out.contains("condition met"), "{out}");
    }
}

/// A server with these CRDs installed, and its kubeconfig.
async fn server_with(crds: &[(&str, &str)]) -> (ApiServer, PathBuf) {
    let server = ApiServer::start().await.unwrap();
    let kc = server.write_kubeconfig().unwrap();
    install(&kc, crds);
    (server, kc)
}

fn dynamic(
    client: &kube::Client,
    gvk: (&str, &str, &str),
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let (group, version, kind) = gvk;
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// The `Status` of a failed kube-rs call.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("{other:?}"),
    }
}

fn object(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

// kubectl runs as a blocking child process; a second worker keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcs_api_service_exports_and_imports() {
    let (server, kc) = server_with(&[
        ("serviceexports.multicluster.x-k8s.io", SERVICE_EXPORTS),
        ("serviceimports.multicluster.x-k8s.io", SERVICE_IMPORTS),
    ])
    .await;
    let kc = kc.as_path();
    ok(kc, "create namespace demo", &[]);

    let out = with_input(kc, "apply -f -", DEMO_SERVICE_IMPORTS);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "serviceimport.multicluster.x-k8s.io/serve created",
            "serviceimport.multicluster.x-k8s.io/serve-with-vip created",
        ]
    );
    let before = json_of(&ok(kc, "get svcim -n demo serve-with-vip -o json", &[]));
    assert_eq!(before["spec"]["ports"][0]["protocol"], "TCP", "{before}");
    assert_eq!(before["metadata"]["generation"], 1);
    // The second apply sends the ports again: kubectl's three-way merge
    // patch replaces the whole list, since the live one has the defaulted
    // protocol. kube reports that as configured, but writes nothing.
    let out = with_input(kc, "apply -f -", DEMO_SERVICE_IMPORTS);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "serviceimport.multicluster.x-k8s.io/serve unchanged",
            "serviceimport.multicluster.x-k8s.io/serve-with-vip configured",
        ]
    );
    let after = json_of(&ok(kc, "get svcim -n demo serve-with-vip -o json", &[]));
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );

    // The printer columns; an array prints as JSON.
    let out = ok(kc, "get svcim -n demo", &[]);
    assert_eq!(
        table(&out),
        [
            ["NAME", "TYPE", "IP", "AGE"],
            ["serve", "ClusterSetIP", "", &table(&out)[1][3]],
            [
                "serve-with-vip",
                "ClusterSetIP",
                r#"["1.2.3.4"]"#,
                &table(&out)[2][3]
            ],
        ],
        "{out}"
    );
    let out = ok(kc, "get serviceimports -A -o name", &[]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "serviceimport.multicluster.x-k8s.io/serve",
            "serviceimport.multicluster.x-k8s.io/serve-with-vip",
        ]
    );

    // explain reads the descriptions from the published schema.
    let out = ok(kc, "explain serviceimports.spec.ports.targetPort", &[]);
    holds_all(
        &out,
        &["Number or name of the port to access on the pods targeted by the service."],
    );
    let out = ok(kc, "explain svcex.status.conditions.reason", &[]);
    holds_all(&out, &["reason contains a programmatic identifier"]);

    // Objects the schema refuses, with kube's messages.
    let bad = r#"{"apiVersion":"multicluster.x-k8s.io/v1alpha1","kind":"ServiceImport",
        "metadata":{"name":"bad","namespace":"demo"},
        "spec":{"type":"LoadBalancer","ips":["1.1.1.1","2.2.2.2"],"ports":[{"port":"80"}]}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(bad)),
        &[
            r#"The ServiceImport "bad" is invalid: "#,
            r#"spec.ips: Too many: 2: must have at most 1 item"#,
            r#"spec.ports[0].port: Invalid value: "string": spec.ports[0].port in body must be of type integer: "string""#,
            r#"spec.type: Unsupported value: "LoadBalancer": supported values: "ClusterSetIP", "Headless""#,
        ],
    );
    let bad = r#"{"apiVersion":"multicluster.x-k8s.io/v1alpha1","kind":"ServiceImport",
        "metadata":{"name":"bad","namespace":"demo"},"spec":{"ports":[{"port":80}]}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(bad)),
        &[r#"The ServiceImport "bad" is invalid: spec.type: Required value"#],
    );

    // A ServiceExport, then its status as an implementation writes it.
    let out = with_input(kc, "apply -f -", DEMO_SERVICE_EXPORT);
    assert_eq!(
        out.trim(),
        "serviceexport.multicluster.x-k8s.io/serve created"
    );
    let rows = table(&ok(kc, "get svcex -n demo", &[]));
    assert_eq!(rows[0], ["NAME", "AGE"]);
    assert_eq!(rows[1][0], "serve");
    let status = "patch svcex serve -n demo --subresource=status --type=merge -p";
    let valid = r#"{"status":{"conditions":[{"type":"Valid","status":"True","reason":"ServiceExported",
        "message":"","lastTransitionTime":"2025-01-01T00:00:00Z","observedGeneration":1}]}}"#;
    let out = ok(kc, status, &[valid]);
    assert_eq!(
        out.trim(),
        "serviceexport.multicluster.x-k8s.io/serve patched"
    );
    let template = r#"jsonpath={.status.conditions[?(@.type=="Valid")].reason}"#;
    assert_eq!(
        ok(kc, "get svcex serve -n demo -o", &[template]),
        "ServiceExported"
    );
    // The main resource ignores status.
    let out = ok(
        kc,
        "patch svcex serve -n demo --type=merge -p",
        &[r#"{"status":{"conditions":[]}}"#],
    );
    assert_eq!(
        out.trim(),
        "serviceexport.multicluster.x-k8s.io/serve patched (no change)"
    );
    let invalid = r#"{"status":{"conditions":[{"type":"Valid","status":"Maybe","reason":"",
        "lastTransitionTime":"yesterday"}]}}"#;
    holds_all(
        &fails(kc, status, &[invalid], None),
        &[
            r#"status.conditions[0].lastTransitionTime: Invalid value: "yesterday": status.conditions[0].lastTransitionTime in body must be of type date-time: "yesterday""#,
            r#"status.conditions[0].message: Required value"#,
            r#"status.conditions[0].reason: Invalid value: "": status.conditions[0].reason in body should be at least 1 chars long"#,
            r#"status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown""#,
        ],
    );
    let twice = r#"{"status":{"conditions":[
        {"type":"Valid","status":"True","reason":"A","message":"","lastTransitionTime":"2025-01-01T00:00:00Z"},
        {"type":"Valid","status":"False","reason":"B","message":"","lastTransitionTime":"2025-01-01T00:00:00Z"}]}}"#;
    holds_all(
        &fails(kc, status, &[twice], None),
        &[
            r#"The ServiceExport "serve" is invalid: status.conditions[1]: Duplicate value: {"type":"Valid"}"#,
        ],
    );

    // An edit as `kubectl edit` makes it: read, change, replace. A replace
    // from a stale read is refused.
    let mut obj = json_of(&ok(kc, "get svcim serve -n demo -o json", &[]));
    obj["spec"]["sessionAffinity"] = json!("ClientIP");
    let stale = obj.to_string();
    let out = with_input(kc, "replace -f -", &stale);
    assert_eq!(
        out.trim(),
        "serviceimport.multicluster.x-k8s.io/serve replaced"
    );
    let template = "jsonpath={.metadata.generation} {.spec.sessionAffinity}";
    assert_eq!(
        ok(kc, "get svcim serve -n demo -o", &[template]),
        "2 ClientIP"
    );
    holds_all(
        &fails(kc, "replace -f -", &[], Some(&stale)),
        &[
            r#"Operation cannot be fulfilled on serviceimports.multicluster.x-k8s.io "serve": the object has been modified; please apply your changes to the latest version and try again"#,
        ],
    );

    // Deleting the CRD deletes its objects; installing it again starts
    // empty.
    let out = ok(kc, "delete crd serviceimports.multicluster.x-k8s.io", &[]);
    assert_eq!(
        out.trim(),
        r#"customresourcedefinition.apiextensions.k8s.io "serviceimports.multicluster.x-k8s.io" deleted"#
    );
    assert_eq!(
        ok(kc, "get crd -o name", &[]).trim(),
        "customresourcedefinition.apiextensions.k8s.io/serviceexports.multicluster.x-k8s.io"
    );
    install(
        kc,
        &[("serviceimports.multicluster.x-k8s.io", SERVICE_IMPORTS)],
    );
    assert_eq!(ok(kc, "get svcim -A -o name", &[]), "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_classes_and_grants() {
    let (server, kc) = server_with(&[
        ("gatewayclasses.gateway.networking.k8s.io", GATEWAY_CLASSES),
        (
            "referencegrants.gateway.networking.k8s.io",
            REFERENCE_GRANTS,
        ),
    ])
    .await;
    let kc = kc.as_path();
    let crd = json_of(&ok(
        kc,
        "get crd referencegrants.gateway.networking.k8s.io -o json",
        &[],
    ));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1beta1"]));
    assert_eq!(
        crd["status"]["acceptedNames"],
        json!({"categories": ["gateway-api"], "kind": "ReferenceGrant", "listKind": "ReferenceGrantList",
               "plural": "referencegrants", "shortNames": ["refgrant"], "singular": "referencegrant"})
    );
    // Discovery prefers v1, though v1beta1 stores.
    let out = ok(
        kc,
        "api-resources --api-group=gateway.networking.k8s.io -o wide",
        &[],
    );
    assert_eq!(
        leading(&out, 5),
        [
            ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
            [
                "gatewayclasses",
                "gc",
                "gateway.networking.k8s.io/v1",
                "false",
                "GatewayClass"
            ],
            [
                "referencegrants",
                "refgrant",
                "gateway.networking.k8s.io/v1",
                "true",
                "ReferenceGrant"
            ],
        ],
        "{out}"
    );

    let out = with_input(kc, "apply -f -", GATEWAY_CLASS);
    assert_eq!(
        out.trim(),
        "gatewayclass.gateway.networking.k8s.io/example created"
    );
    let out = with_input(kc, "apply -f -", GATEWAY_CLASS);
    assert_eq!(
        out.trim(),
        "gatewayclass.gateway.networking.k8s.io/example unchanged"
    );
    // The controller accepts the class; ACCEPTED is a filter expression.
    let status = "patch gc example --subresource=status --type=merge -p";
    let accepted = r#"{"status":{"conditions":[{"type":"Accepted","status":"True","reason":"Accepted",
        "message":"","lastTransitionTime":"2025-01-01T00:00:00Z","observedGeneration":1}],
        "supportedFeatures":[{"name":"Gateway"},{"name":"HTTPRoute"}]}}"#;
    ok(kc, status, &[accepted]);
    let out = ok(kc, "get gc", &[]);
    assert_eq!(
        leading(&out, 3),
        [
            ["NAME", "CONTROLLER", "ACCEPTED"],
            ["example", "example.com/gateway-controller", "True"],
        ],
        "{out}"
    );
    assert_eq!(table(&out)[0].len(), 4, "{out}");
    // The priority-1 column shows with -o wide.
    let rows = table(&ok(kc, "get gatewayclasses -o wide", &[]));
    assert_eq!(
        rows[0],
        ["NAME", "CONTROLLER", "ACCEPTED", "AGE", "DESCRIPTION"]
    );
    assert_eq!(rows[1][4], "An example class");
    // The same object at the other served version.
    let out = ok(
        kc,
        "get gatewayclasses.v1beta1.gateway.networking.k8s.io example -o",
        &["jsonpath={.apiVersion} {.status.supportedFeatures[*].name}"],
    );
    assert_eq!(out, "gateway.networking.k8s.io/v1beta1 Gateway HTTPRoute");
    let twice = r#"{"status":{"supportedFeatures":[{"name":"Gateway"},{"name":"Gateway"}]}}"#;
    holds_all(
        &fails(kc, status, &[twice], None),
        &[
            r#"The GatewayClass "example" is invalid: status.supportedFeatures[1]: Duplicate value: {"name":"Gateway"}"#,
        ],
    );
    let bad = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: bad\nspec:\n  controllerName: no-slash\n";
    holds_all(
        &fails(kc, "apply -f -", &[], Some(bad)),
        &[
            r#"The GatewayClass "bad" is invalid: spec.controllerName: Invalid value: "no-slash": spec.controllerName in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$'"#,
        ],
    );

    // A ReferenceGrant at the storage version, read at the preferred one.
    let out = with_input(kc, "apply -f -", REFERENCE_GRANT);
    assert_eq!(
        out.trim(),
        "referencegrant.gateway.networking.k8s.io/allow-ns1-gateways-to-ref-secrets created"
    );
    let out = ok(
        kc,
        "get refgrant allow-ns1-gateways-to-ref-secrets -o",
        &["jsonpath={.apiVersion}"],
    );
    assert_eq!(out, "gateway.networking.k8s.io/v1");
    let out = ok(kc, "get gateway-api -o name", &[]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "gatewayclass.gateway.networking.k8s.io/example",
            "referencegrant.gateway.networking.k8s.io/allow-ns1-gateways-to-ref-secrets",
        ]
    );
    let bad = r#"{"apiVersion":"gateway.networking.k8s.io/v1","kind":"ReferenceGrant","metadata":{"name":"bad"},
        "spec":{"from":[],"to":[{"group":"Core!","kind":"1Secret","name":""}]}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(bad)),
        &[
            r#"spec.from: Invalid value: 0: spec.from in body should have at least 1 items"#,
            r#"spec.to[0].group: Invalid value: "Core!": spec.to[0].group in body should match '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"#,
            r#"spec.to[0].kind: Invalid value: "1Secret": spec.to[0].kind in body should match '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$'"#,
            r#"spec.to[0].name: Invalid value: "": spec.to[0].name in body should be at least 1 chars long"#,
        ],
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkerd_servers_across_versions() {
    let (server, kc) = server_with(&[("servers.policy.linkerd.io", LINKERD_SERVERS)]).await;
    let kc = kc.as_path();
    ok(kc, "create namespace emojivoto", &[]);
    let out = with_input(kc, "apply -f -", LINKERD_WEB_SERVER);
    assert_eq!(out.trim(), "server.policy.linkerd.io/web-http created");
    let out = with_input(kc, "apply -f -", LINKERD_EMOJI_SERVER);
    assert_eq!(out.trim(), "server.policy.linkerd.io/emoji-grpc created");
    let out = with_input(kc, "apply -f -", LINKERD_WEB_SERVER);
    assert_eq!(out.trim(), "server.policy.linkerd.io/web-http unchanged");

    // The storage version's default, and its column with a space in its
    // name.
    let out = ok(kc, "get srv -n emojivoto web-http", &[]);
    assert_eq!(
        table(&out),
        [
            ["NAME", "PORT", "PROTOCOL", "ACCESS POLICY"],
            ["web-http", "http", "HTTP/1", "deny"],
        ],
        "{out}"
    );
    // Each version prints its own columns; the int-or-string port prints
    // as given.
    let out = ok(
        kc,
        "get servers.v1beta1.policy.linkerd.io -n emojivoto",
        &[],
    );
    assert_eq!(
        table(&out),
        [
            ["NAME", "PORT", "PROTOCOL"],
            ["emoji-grpc", "8080", "unknown"],
            ["web-http", "http", "HTTP/1"],
        ],
        "{out}"
    );
    let out = ok(
        kc,
        "get servers.v1alpha1.policy.linkerd.io -n emojivoto",
        &[],
    );
    assert_eq!(table(&out)[0], ["NAME", "AGE"], "{out}");

    // oneOf, as kube-openapi words it.
    let both = r#"{"apiVersion":"policy.linkerd.io/v1beta3","kind":"Server","metadata":{"name":"both","namespace":"emojivoto"},
        "spec":{"port":80,"podSelector":{},"externalWorkloadSelector":{}}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(both)),
        &[
            r#"The Server "both" is invalid: <nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
        ],
    );
    let neither = r#"{"apiVersion":"policy.linkerd.io/v1beta3","kind":"Server","metadata":{"name":"neither","namespace":"emojivoto"},
        "spec":{"port":80}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(neither)),
        &[
            r#"<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found none valid"#,
            r#"spec.podSelector: Required value"#,
        ],
    );
    let bad = r#"{"apiVersion":"policy.linkerd.io/v1beta3","kind":"Server","metadata":{"name":"bad","namespace":"emojivoto"},
        "spec":{"port":true,"podSelector":{"matchExpressions":[{"key":"a","operator":"Near"}]}}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(bad)),
        &[
            r#"spec.podSelector.matchExpressions[0].operator: Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist""#,
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
        ],
    );
    server.stop().await;
}

/// cert-manager, the Prometheus operator and SPIRE: CRDs installed with
/// kubectl, objects handled through kube-rs as controllers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_prometheus_and_spire() {
    let (server, kc) = server_with(&[
        ("certificates.cert-manager.io", CERTIFICATES),
        ("prometheusrules.monitoring.coreos.com", PROMETHEUS_RULES),
        ("clusterspiffeids.spire.spiffe.io", CLUSTER_SPIFFE_IDS),
    ])
    .await;
    let kc = kc.as_path();
    let client = server.client().unwrap();

    // cert-manager: the Certificate, then the status its controller sets.
    let out = with_input(kc, "apply -f -", CERTIFICATE);
    assert_eq!(
        out.trim(),
        "certificate.cert-manager.io/example-com created"
    );
    let certs = dynamic(
        &client,
        ("cert-manager.io", "v1", "Certificate"),
        "certificates",
        Some("default"),
    );
    let ready = json!({"status": {
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready",
             "message": "Certificate is up to date and has not expired",
             "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1},
            {"type": "Issuing", "status": "False"},
        ],
        "notAfter": "2025-04-01T00:00:00Z",
        "revision": 1,
    }});
    let pp = PatchParams::default();
    certs
        .patch_status("example-com", &pp, &Patch::Merge(ready))
        .await
        .unwrap();
    let out = ok(kc, "get certs", &[]);
    assert_eq!(
        leading(&out, 3),
        [
            ["NAME", "READY", "SECRET"],
            ["example-com", "True", "example-com-tls"]
        ],
        "{out}"
    );
    let rows = table(&ok(kc, "get cert -o wide", &[]));
    assert_eq!(
        rows[0],
        ["NAME", "READY", "SECRET", "ISSUER", "STATUS", "AGE"]
    );
    assert_eq!(
        rows[1][..5],
        [
            "example-com",
            "True",
            "example-com-tls",
            "ca-issuer",
            "Certificate is up to date and has not expired"
        ]
    );
    // The Table itself: a CRD column's description, and the Age column.
    let (code, _, tbl) = raw(
        &client,
        "GET",
        "/apis/cert-manager.io/v1/namespaces/default/certificates?includeObject=None",
        "",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{tbl}");
    assert_eq!(
        tbl["columnDefinitions"][1],
        json!({"name": "Ready", "type": "string", "format": "", "priority": 0,
               "description": r#"Custom resource definition column (in JSONPath format): .status.conditions[?(@.type == "Ready")].status"#})
    );
    assert_eq!(tbl["columnDefinitions"][5]["type"], "date");
    assert!(
        tbl["columnDefinitions"][5]["description"]
            .as_str()
            .unwrap()
            .starts_with("CreationTimestamp is a timestamp")
    );
    holds_all(
        &fails(kc, "get cert --field-selector spec.secretName=x", &[], None),
        &["field label not supported: spec.secretName"],
    );
    let bad = json!({"status": {"notAfter": "2025-04-01T00:00:00", "renewalTime": "2025-02-30T00:00:00Z"}});
    let status = api_error(
        certs
            .patch_status("example-com", &pp, &Patch::Merge(bad))
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        r#"Certificate.cert-manager.io "example-com" is invalid: [status.notAfter: Invalid value: "2025-04-01T00:00:00": status.notAfter in body must be of type date-time: "2025-04-01T00:00:00", status.renewalTime: Invalid value: "2025-02-30T00:00:00Z": status.renewalTime in body must be of type date-time: "2025-02-30T00:00:00Z"]"#
    );

    // The Prometheus operator's rules: a case-insensitive pattern, an
    // int-or-string, and a list keyed by name.
    let out = with_input(kc, "apply -f -", PROMETHEUS_RULE);
    assert_eq!(
        out.trim(),
        "prometheusrule.monitoring.coreos.com/prometheus-example-rules created"
    );
    let rows = table(&ok(kc, "get promrule", &[]));
    assert_eq!(rows[0], ["NAME", "AGE"]);
    assert_eq!(rows[1][0], "prometheus-example-rules");
    let rules = dynamic(
        &client,
        ("monitoring.coreos.com", "v1", "PrometheusRule"),
        "prometheusrules",
        Some("default"),
    );
    let bad = object(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "bad"},
        "spec": {"groups": [
            {"name": "a", "interval": "5 minutes", "partial_response_strategy": "maybe",
             "rules": [{"expr": true}, {"alert": "NoExpr"}]},
            {"name": "a"},
        ]},
    }));
    let status = api_error(rules.create(&PostParams::default(), &bad).await);
    assert_eq!(status.code, 422);
    holds_all(
        &status.message,
        &[
            r#"spec.groups[0].interval: Invalid value: "5 minutes": spec.groups[0].interval in body should match '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'"#,
            r#"spec.groups[0].partial_response_strategy: Invalid value: "maybe": spec.groups[0].partial_response_strategy in body should match '^(?i)(abort|warn)?$'"#,
            r#"spec.groups[0].rules[0].expr: Invalid value: "boolean": spec.groups[0].rules[0].expr in body must be of type integer,string: "boolean""#,
            r#"<nil>: Invalid value: "": "spec.groups[0].rules[0].expr" must validate at least one schema (anyOf)"#,
            r#"spec.groups[0].rules[1].expr: Required value"#,
            r#"spec.groups[1]: Duplicate value: {"name":"a"}"#,
        ],
    );
    // Unknown fields: kubectl validates strictly by default.
    let unknown = r#"{"apiVersion":"monitoring.coreos.com/v1","kind":"PrometheusRule","metadata":{"name":"s"},
        "spec":{"groups":[{"name":"a","bogus":1,"rules":[{"record":"r","expr":1,"severity":"x"}]}]}}"#;
    holds_all(
        &fails(kc, "create -f -", &[], Some(unknown)),
        &[
            r#"PrometheusRule in version "v1" cannot be handled as a PrometheusRule: strict decoding error: unknown field "spec.groups[0].bogus", unknown field "spec.groups[0].rules[0].severity""#,
        ],
    );

    // SPIRE's ClusterSPIFFEID, cluster-scoped, driven by kube-rs.
    let ids = dynamic(
        &client,
        ("spire.spiffe.io", "v1alpha1", "ClusterSPIFFEID"),
        "clusterspiffeids",
        None,
    );
    let id = object(json!({
        "apiVersion": "spire.spiffe.io/v1alpha1", "kind": "ClusterSPIFFEID",
        "metadata": {"name": "backend-workloads"},
        "spec": {
            "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}",
            "podSelector": {"matchLabels": {"banking": "true"}},
            "workloadSelectorTemplates": ["k8s:ns:{{ .PodMeta.Namespace }}"],
        },
        "status": {"stats": {"podsSelected": 99}},
    }));
    let created = ids.create(&PostParams::default(), &id).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.data.get("status").is_none(), "{:?}", created.data);
    let stats = json!({"status": {"stats": {"namespacesSelected": 3, "podsSelected": 7}}});
    let patched = ids
        .patch_status("backend-workloads", &pp, &Patch::Merge(stats))
        .await
        .unwrap();
    assert_eq!(
        patched.data["status"],
        json!({"stats": {"namespacesSelected": 3, "podsSelected": 7}})
    );
    assert_eq!(patched.metadata.generation, Some(1));
    let listed = ids.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].types.as_ref().unwrap().api_version,
        "spire.spiffe.io/v1alpha1"
    );
    let (code, _, body) = raw(
        &client,
        "GET",
        "/apis/spire.spiffe.io/v1alpha1/namespaces/default/clusterspiffeids",
        "",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404, "{body}");
    let missing = object(json!({
        "apiVersion": "spire.spiffe.io/v1alpha1", "kind": "ClusterSPIFFEID",
        "metadata": {"name": "x"},
        "spec": {"podSelector": {"matchLabels": {"a": 1}}},
    }));
    let status = api_error(ids.create(&PostParams::default(), &missing).await);
    assert_eq!(
        status.message,
        r#"ClusterSPIFFEID.spire.spiffe.io "x" is invalid: [spec.podSelector.matchLabels.a: Invalid value: "integer": spec.podSelector.matchLabels.a in body must be of type string: "integer", spec.spiffeIDTemplate: Required value]"#
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Where causeway still differs from kube-apiserver 1.33.
// ---------------------------------------------------------------------------

/// kube's storage codec defaults every object it reads from etcd with the
/// storage version's schema (apiextensions-apiserver
/// `crdConversionRESTOptionsGetter`: `versioning.NewCodec(..., unstructuredDefaulter, ...)`).
/// A GatewayClass is created without status (the status subresource drops
/// it), so the `status` default only ever appears that way: every fresh
/// GatewayClass reads "Waiting for controller", and `kubectl get gc` shows
/// ACCEPTED Unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_class_status_defaults_when_read() {
    let (server, kc) =
        server_with(&[("gatewayclasses.gateway.networking.k8s.io", GATEWAY_CLASSES)]).await;
    let kc = kc.as_path();
    let out = with_input(kc, "create -o json -f -", GATEWAY_CLASS);
    let pending = json!([{"lastTransitionTime": "1970-01-01T00:00:00Z", "message": "Waiting for controller",
                          "reason": "Pending", "status": "Unknown", "type": "Accepted"}]);
    assert_eq!(json_of(&out)["status"]["conditions"], pending);
    let out = ok(kc, "get gc example -o json", &[]);
    assert_eq!(json_of(&out)["status"]["conditions"], pending);
    let out = ok(kc, "get gc", &[]);
    assert_eq!(
        leading(&out, 3)[1],
        ["example", "example.com/gateway-controller", "Unknown"],
        "{out}"
    );
    server.stop().await;
}

/// kube reads an object stored at one version at another by converting it
/// and then pruning it with the target version's schema
/// (`schemaCoercingConverter` → `unstructuredSchemaCoercer.apply`), after
/// defaulting it at the storage version. Linkerd's v1beta3 Server has
/// `accessPolicy`, v1beta1 does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkerd_server_reads_are_converted_like_kube() {
    let (server, kc) = server_with(&[("servers.policy.linkerd.io", LINKERD_SERVERS)]).await;
    let kc = kc.as_path();
    ok(kc, "create namespace emojivoto", &[]);
    with_input(kc, "apply -f -", LINKERD_WEB_SERVER);
    with_input(kc, "apply -f -", LINKERD_EMOJI_SERVER);
    // Stored at v1beta3 with accessPolicy; v1beta1 has no such field.
    let out = ok(
        kc,
        "get servers.v1beta1.policy.linkerd.io -n emojivoto web-http -o json",
        &[],
    );
    assert_eq!(
        json_of(&out)["spec"],
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "port": "http", "proxyProtocol": "HTTP/1"})
    );
    // Written at v1beta1, read at v1beta3: the storage version's default.
    let out = ok(kc, "get srv -n emojivoto emoji-grpc", &[]);
    assert_eq!(
        table(&out)[1],
        ["emoji-grpc", "8080", "unknown", "deny"],
        "{out}"
    );
    server.stop().await;
}

/// kube adds a deprecated version's `deprecationWarning` (or its default
/// text) as a `Warning` header to every request at that version
/// (apiextensions-apiserver `crdHandler.ServeHTTP`: `warning.AddWarning`
/// for `crdInfo.warnings[requestInfo.APIVersion]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkerd_deprecated_versions_warn() {
    let (server, _) = server_with(&[("servers.policy.linkerd.io", LINKERD_SERVERS)]).await;
    let client = server.client().unwrap();
    for (version, warning) in [
        (
            "v1alpha1",
            Some(
                r#"299 - "policy.linkerd.io/v1alpha1 Server is deprecated; use policy.linkerd.io/v1beta1 Server""#,
            ),
        ),
        (
            "v1beta1",
            Some(
                r#"299 - "policy.linkerd.io/v1beta1 Server is deprecated; use policy.linkerd.io/v1beta3 Server""#,
            ),
        ),
        ("v1beta3", None),
    ] {
        let path = format!("/apis/policy.linkerd.io/{version}/servers");
        let (code, warnings, body) =
            raw(&client, "GET", &path, "", "application/json", Value::Null).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            warnings,
            warning.into_iter().collect::<Vec<_>>(),
            "{version}"
        );
    }
    server.stop().await;
}

/// Gateway API moves ReferenceGrant's storage version from v1beta1 to v1
/// between releases. Objects written before keep their old apiVersion in
/// storage, and kube converts every one of them to the version asked for
/// (lists and watches included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_grants_after_a_storage_version_change() {
    let (server, kc) = server_with(&[(
        "referencegrants.gateway.networking.k8s.io",
        REFERENCE_GRANTS,
    )])
    .await;
    let kc = kc.as_path();
    with_input(kc, "apply -f -", REFERENCE_GRANT);
    // The next release: v1 stores.
    let upgraded = REFERENCE_GRANTS
        .replacen("    storage: false\n", "    storage: MARK\n", 1)
        .replacen("    storage: true\n", "    storage: false\n", 1)
        .replacen("    storage: MARK\n", "    storage: true\n", 1);
    let out = with_input(kc, "apply -f -", &upgraded);
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/referencegrants.gateway.networking.k8s.io configured"
    );
    let out = ok(
        kc,
        "get crd referencegrants.gateway.networking.k8s.io -o",
        &["jsonpath={.status.storedVersions}"],
    );
    assert_eq!(out, r#"["v1beta1","v1"]"#);
    let client = server.client().unwrap();
    let path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/referencegrants";
    let (_, _, list) = raw(&client, "GET", path, "", "application/json", Value::Null).await;
    assert_eq!(
        list["items"][0]["apiVersion"], "gateway.networking.k8s.io/v1",
        "{list}"
    );
    let grants = dynamic(
        &client,
        ("gateway.networking.k8s.io", "v1", "ReferenceGrant"),
        "referencegrants",
        Some("default"),
    );
    let mut events = Box::pin(grants.watch(&WatchParams::default(), "0").await.unwrap());
    let first = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Added(obj) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        obj.types.unwrap().api_version,
        "gateway.networking.k8s.io/v1"
    );
    server.stop().await;
}

/// CEL rules (`x-kubernetes-validations`) run in kube: GatewayClass's
/// controllerName is `self == oldSelf`. The message is kube's
/// `Invalid value: "<type>": <rule message>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_class_controller_name_is_immutable() {
    let (server, kc) =
        server_with(&[("gatewayclasses.gateway.networking.k8s.io", GATEWAY_CLASSES)]).await;
    let kc = kc.as_path();
    with_input(kc, "apply -f -", GATEWAY_CLASS);
    let change = r#"{"spec":{"controllerName":"other.example.com/controller"}}"#;
    holds_all(
        &fails(kc, "patch gc example --type=merge -p", &[change], None),
        &[
            r#"The GatewayClass "example" is invalid: spec.controllerName: Invalid value: "string": Value is immutable"#,
        ],
    );
    server.stop().await;
}

/// Groups under k8s.io and kubernetes.io are protected: kube refuses a CRD
/// there without the `api-approved.kubernetes.io` annotation
/// (apiextensions validation `validateAPIApproval`), and reports the
/// approval as the `KubernetesAPIApprovalPolicyConformant` condition
/// (`apiapproval_controller.go` `calculateCondition`). Gateway API's CRDs
/// carry the annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_groups_need_api_approval() {
    let (server, kc) = server_with(&[]).await;
    let kc = kc.as_path();
    let unapproved = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
        "metadata":{"name":"foos.samplecontroller.k8s.io"},
        "spec":{"group":"samplecontroller.k8s.io","scope":"Namespaced",
                "names":{"plural":"foos","singular":"foo","kind":"Foo"},
                "versions":[{"name":"v1alpha1","served":true,"storage":true,
                             "schema":{"openAPIV3Schema":{"type":"object"}}}]}}"#;
    holds_all(
        &fails(kc, "apply -f -", &[], Some(unapproved)),
        &[
            r#"The CustomResourceDefinition "foos.samplecontroller.k8s.io" is invalid: metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111"#,
        ],
    );
    install(
        kc,
        &[("gatewayclasses.gateway.networking.k8s.io", GATEWAY_CLASSES)],
    );
    let crd = json_of(&ok(
        kc,
        "get crd gatewayclasses.gateway.networking.k8s.io -o json",
        &[],
    ));
    let condition = crd["status"]["conditions"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["type"] == "KubernetesAPIApprovalPolicyConformant")
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(condition["status"], "True", "{crd}");
    assert_eq!(condition["reason"], "ApprovedAnnotation");
    assert_eq!(
        condition["message"],
        "approved in https://github.com/kubernetes-sigs/gateway-api/pull/4530"
    );
    server.stop().await;
}

/// A printer column whose jsonPath kube's JSONPath parser refuses passes
/// CRD validation (which only checks that it starts with a dot); kube then
/// serves the CRD anyway, printing the columns before the bad one
/// (apiextensions-apiserver `getOrCreateServingInfoFor`: "falling back to
/// default printing"; `tableconvertor.New` returns the convertor built so
/// far with its error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_printer_column_still_serves() {
    // cert-manager's Certificate with its Ready column cut short.
    let broken = CERTIFICATES.replacen(
        r#"jsonPath: .status.conditions[?(@.type == "Ready")].status"#,
        r#"jsonPath: .status.conditions[?(@.type == "Ready")"#,
        1,
    );
    let (server, kc) = server_with(&[("certificates.cert-manager.io", &broken)]).await;
    let kc = kc.as_path();
    let out = with_input(kc, "apply -f -", CERTIFICATE);
    assert_eq!(
        out.trim(),
        "certificate.cert-manager.io/example-com created"
    );
    let out = ok(kc, "get certs", &[]);
    assert_eq!(table(&out), [["NAME"], ["example-com"]], "{out}");
    server.stop().await;
}

/// Objects embedded whole in a custom resource (`x-kubernetes-embedded-resource`,
/// as Crossplane, Argo and cluster-api templates use it) get the root's
/// treatment in kube: unknown fields in their `metadata` are pruned (with a
/// warning), `apiVersion` and `kind` are required, and the metadata is
/// validated as ObjectMeta (apiextensions-apiserver `schema/objectmeta`:
/// `Coerce`, `validateEmbeddedResource`; pruning's `XEmbeddedResource`
/// case). This CRD is a minimal one of that shape, not a project's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_resources_are_checked_like_objects() {
    let crd = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
        "metadata":{"name":"blueprints.embed.example.com"},
        "spec":{"group":"embed.example.com","scope":"Namespaced",
                "names":{"plural":"blueprints","singular":"blueprint","kind":"Blueprint"},
                "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{
                    "type":"object","properties":{"spec":{"type":"object","properties":{"template":{
                        "type":"object","x-kubernetes-embedded-resource":true,
                        "x-kubernetes-preserve-unknown-fields":true}}}}}}}]}}"#;
    let (server, _) = server_with(&[("blueprints.embed.example.com", crd)]).await;
    let client = server.client().unwrap();
    let path = "/apis/embed.example.com/v1/namespaces/default/blueprints";
    let (code, warnings, body) = raw(
        &client,
        "POST",
        path,
        "application/json",
        "application/json",
        json!({"apiVersion": "embed.example.com/v1", "kind": "Blueprint", "metadata": {"name": "ok"},
               "spec": {"template": {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "cm", "bogus": 1}, "data": {"k": "v"}}}}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"]["template"]["metadata"], json!({"name": "cm"}));
    assert_eq!(
        warnings,
        [r#"299 - "unknown field \"spec.template.metadata.bogus\"""#]
    );
    let (code, _, body) = raw(
        &client,
        "POST",
        path,
        "application/json",
        "application/json",
        json!({"apiVersion": "embed.example.com/v1", "kind": "Blueprint", "metadata": {"name": "bad"},
               "spec": {"template": {"metadata": {"name": ".."}}}}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    holds_all(
        body["message"].as_str().unwrap(),
        &[
            "spec.template.apiVersion: Required value",
            "spec.template.kind: Required value",
            // Embedded names are checked as path segments, not as DNS names.
            r#"spec.template.metadata.name: Invalid value: "..": may not be '..'"#,
        ],
    );
    server.stop().await;
}
