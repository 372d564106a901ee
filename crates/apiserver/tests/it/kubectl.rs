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
    let out = kubectl_with_input(&kc, &["apply", "-f", "-"], Some(APP)).unwrap();
    assert!(
        out.contains("configmap/app created") && out.contains("service/web created"),
        "{out}"
    );
    let out = kubectl_with_input(&kc, &["apply", "-f", "-"], Some(APP)).unwrap();
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

    // Generators send protobuf bodies.
    k(&[
        "create",
        "configmap",
        "gen",
        "--from-literal=k=v",
        "--from-literal=k2=v2",
    ]);
    k(&["create", "secret", "generic", "sec", "--from-literal=k=v"]);
    k(&["create", "namespace", "team-a"]);
    k(&["create", "serviceaccount", "robot"]);
    k(&["create", "service", "clusterip", "api", "--tcp=443:8443"]);
    let out = k(&["get", "secret", "sec", "-o", "jsonpath={.type} {.data.k}"]);
    assert_eq!(out.trim(), "Opaque dg==");

    // Tables: the columns of a real cluster.
    let out = k(&["get", "configmaps", "gen"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DATA", "AGE"], "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("gen "), "{out}");
    assert_eq!(
        out.lines().nth(1).unwrap().split_whitespace().nth(1),
        Some("2"),
        "{out}"
    );
    let out = k(&["get", "services", "api", "-o", "wide"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ],
        "{out}"
    );
    assert!(out.contains("443/TCP") && out.contains("app=api"), "{out}");
    let out = k(&["get", "secrets"]);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .eq(["NAME", "TYPE", "DATA", "AGE"]),
        "{out}"
    );
    assert!(out.contains("Opaque"), "{out}");
    let out = k(&["get", "namespaces", "team-a"]);
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(2)
            .eq(["team-a", "Active"]),
        "{out}"
    );

    // explain reads the OpenAPI documents.
    let out = k(&["explain", "services.spec.ports"]);
    assert!(out.contains("FIELD: ports <[]ServicePort>"), "{out}");
    assert!(out.contains("targetPort"), "{out}");

    // Strict field validation, as kubectl asks for it by default.
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nbogus: 1\n";
    let err = kubectl_with_input(&kc, &["apply", "-f", "-"], Some(bad))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"strict decoding error: unknown field "bogus""#),
        "{err}"
    );
    assert!(kubectl(&kc, &["get", "cm", "bad"]).is_err());

    // The system namespaces cannot be deleted.
    let err = kubectl(&kc, &["delete", "namespace", "default"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"namespaces "default" is forbidden: this namespace may not be deleted"#),
        "{err}"
    );

    // wait for a deletion to finish.
    k(&["delete", "namespace", "team-a", "--wait=false"]);
    k(&["wait", "--for=delete", "namespace/team-a", "--timeout=30s"]);

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
    let out = k(&["get", "cm", "app", "--ignore-not-found", "-o", "name"]);
    assert!(out.trim().is_empty(), "{out}");
    server.stop().await;
}

const CRONTAB_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer, default: 1}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
"#;

const CRONTABS: &str = r#"
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
spec:
  cronSpec: "0 3 * * *"
---
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: hourly
spec:
  cronSpec: "0 * * * *"
  replicas: 2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_with_custom_resources() {
    let server = ApiServer::start().await.unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let k = |args: &[&str]| kubectl(&kc, args).unwrap();
    let apply = |doc: &str| kubectl_with_input(&kc, &["apply", "-f", "-"], Some(doc)).unwrap();

    // The CRD, applied twice, then waited for as people script it.
    let out = apply(CRONTAB_CRD);
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
    );
    let out = apply(CRONTAB_CRD);
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com unchanged"
    );
    let out = k(&[
        "wait",
        "--for=condition=Established",
        "crd/crontabs.stable.example.com",
        "--timeout=30s",
    ]);
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com condition met"
    );

    // Its objects, applied twice (validated against the CRD's schema by
    // kubectl and the server).
    let out = apply(CRONTABS);
    assert!(
        out.contains("crontab.stable.example.com/nightly created")
            && out.contains("crontab.stable.example.com/hourly created"),
        "{out}"
    );
    let out = apply(CRONTABS);
    assert!(
        out.contains("crontab.stable.example.com/nightly unchanged")
            && out.contains("crontab.stable.example.com/hourly unchanged"),
        "{out}"
    );

    // get prints the CRD's columns; the short name works.
    let out = k(&["get", "ct"]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(lines[0], ["NAME", "SPEC", "REPLICAS"], "{out}");
    assert_eq!(lines[1], ["hourly", "0 * * * *", "2"], "{out}");
    assert_eq!(lines[2], ["nightly", "0 3 * * *", "1"], "{out}");
    let out = k(&[
        "get",
        "crontab",
        "nightly",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(out, "1");

    // explain reads the CRD's schema from OpenAPI.
    let out = k(&["explain", "crontabs.spec"]);
    assert!(
        out.contains("cronSpec") && out.contains("replicas"),
        "{out}"
    );

    // An unknown field is refused by kubectl's strict validation.
    let err = kubectl_with_input(
        &kc,
        &["apply", "-f", "-"],
        Some(
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: bad\nspec:\n  cronSpec: x\n  bogus: 1\n",
        ),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(r#"unknown field "spec.bogus""#), "{err}");

    // get -w prints changes as they happen.
    let mut watch = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "get",
            "crontabs",
            "-w",
            "--output-watch-events",
            "--request-timeout=60s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("DELETED");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    });
    // The watch's initial list shows both objects first.
    std::thread::sleep(std::time::Duration::from_millis(500));
    k(&["delete", "crontab", "hourly"]);
    let seen = lines.join().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    let words = |l: &String| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words(&seen[0])[..3], ["EVENT", "NAME", "SPEC"], "{seen:?}");
    assert!(
        seen.iter().any(|l| words(l)[..2] == ["ADDED", "nightly"]),
        "{seen:?}"
    );
    assert!(
        seen.last()
            .is_some_and(|l| words(l)[..2] == ["DELETED", "hourly"]),
        "{seen:?}"
    );

    // Deleting the CRD takes its objects with it.
    let out = k(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--wait=true",
    ]);
    assert!(out.contains("deleted"), "{out}");
    let err = kubectl(&kc, &["get", "crontabs"]).unwrap_err().to_string();
    // kubectl's discovery cache may still know the kind: then the server's
    // 404 for the resource is what it prints.
    assert!(
        err.contains(r#"the server doesn't have a resource type "crontabs""#)
            || err.contains("the server could not find the requested resource"),
        "{err}"
    );
    server.stop().await;
}
