//! kubectl against the server: the commands people type, with the output
//! a real cluster gives.

use causeway_testkit::{ApiServer, kubectl, kubectl_with_input};

const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  labels:
    tier: web
data:
  a: "1"
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
"#;

// kubectl runs as a blocking child process; a second worker keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scenarios() {
    let server = ApiServer::start().await.unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let k = |args: &[&str]| kubectl(&kc, args).unwrap();

    let out = k(&["get", "namespaces", "-o", "name"]);
    assert!(out.contains("namespace/default"), "{out}");

    // apply, then apply again: the second changes nothing.
    let out =
        kubectl_with_input(&kc, &["apply", "--validate=false", "-f", "-"], Some(APP)).unwrap();
    assert!(
        out.contains("configmap/app created") && out.contains("service/web created"),
        "{out}"
    );
    let out =
        kubectl_with_input(&kc, &["apply", "--validate=false", "-f", "-"], Some(APP)).unwrap();
    assert!(
        out.contains("configmap/app unchanged") && out.contains("service/web unchanged"),
        "{out}"
    );

    // get in its forms.
    let out = k(&["get", "configmap", "app", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"]["a"], "1");
    assert!(
        v["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    let out = k(&["get", "configmap", "app", "-o", "yaml"]);
    assert!(out.contains("name: app"), "{out}");
    let out = k(&["get", "cm", "-l", "tier=web", "-o", "name"]);
    assert_eq!(out.trim(), "configmap/app");
    let out = k(&[
        "get",
        "cm",
        "--field-selector",
        "metadata.name=app",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "configmap/app");
    let out = k(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(out.starts_with("10."), "{out}");

    // label, annotate, and each patch type.
    k(&["label", "cm", "app", "extra=yes"]);
    k(&["annotate", "cm", "app", "note=hello"]);
    k(&[
        "patch",
        "cm",
        "app",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"b":"2"}}"#,
    ]);
    k(&[
        "patch",
        "cm",
        "app",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/data/c","value":"3"}]"#,
    ]);
    k(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"ports":[{"port":80,"name":"http","targetPort":9090}]}}"#,
    ]);
    let out = k(&["get", "cm", "app", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["metadata"]["labels"]["extra"], "yes");
    assert_eq!(v["metadata"]["annotations"]["note"], "hello");
    assert_eq!(v["data"]["b"], "2");
    assert_eq!(v["data"]["c"], "3");
    let out = k(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.ports[0].targetPort}",
    ]);
    assert_eq!(out.trim(), "9090");

    // Errors read as a real server's.
    let err = kubectl(&kc, &["get", "cm", "missing"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"Error from server (NotFound): configmaps "missing" not found"#),
        "{err}"
    );

    // delete, and wait for it.
    let out = k(&["delete", "cm", "app"]);
    assert!(out.contains(r#"configmap "app" deleted"#), "{out}");
    let out = k(&["get", "cm", "-o", "name"]);
    assert!(out.trim().is_empty(), "{out}");
    server.stop().await;
}
