//! The official Python `kubernetes` client (the version pinned in
//! requirements-test.txt) against the server: CRUD, lists, watches with
//! writes between events, and a watch from an expired resourceVersion that
//! gets 410 Gone and recovers by listing again. The checks themselves are
//! in `python_client.py`; this test sets the scene and reads its report.

use std::process::Stdio;
use std::time::Duration;

use causeway_testkit::{ApiServer, Backend};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/python_client.py");

/// What scripts/install-test-deps.sh installs from.
const REQUIREMENTS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../requirements-test.txt"
));

/// The client version requirements-test.txt pins; the test refuses any
/// other, so a stale install cannot pass for the real thing.
fn pinned_version() -> &'static str {
    REQUIREMENTS
        .lines()
        .find_map(|l| l.trim().strip_prefix("kubernetes=="))
        .expect("requirements-test.txt pins kubernetes==VERSION")
        .trim()
}

/// How long the whole script may take: far more than it needs, so only a
/// hung server hits it.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Fails the test, saying how to fix it, unless python3 and the pinned
/// client are installed. CI installs both, so a missing one is an error,
/// never a skip.
async fn require_client() {
    let out = tokio::process::Command::new("python3")
        .args(["-c", "import kubernetes; print(kubernetes.__version__)"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); run scripts/install-test-deps.sh"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python `kubernetes` package cannot be imported by python3 ({}); run \
         scripts/install-test-deps.sh",
        stderr.trim().lines().last().unwrap_or_default()
    );
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pinned = pinned_version();
    assert_eq!(
        version, pinned,
        "python3 has kubernetes {version}, requirements-test.txt pins {pinned}; run \
         scripts/install-test-deps.sh"
    );
}

#[tokio::test]
async fn python_kubernetes_client() {
    require_client().await;

    // A ConfigMap written before a restart: after it, the watch cache holds
    // no history from before its start, so this version is expired, as
    // kube-apiserver's is after a restart or once its cache has moved on.
    let server = ApiServer::start().await.unwrap();
    let dir = server.dir().clone();
    let cms: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    let seeded: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "seeded"}, "data": {"n": "1"}}))
            .unwrap();
    let seeded = cms.create(&PostParams::default(), &seeded).await.unwrap();
    let expired = seeded.metadata.resource_version.unwrap();
    cms.patch(
        "seeded",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"n": "2"}})),
    )
    .await
    .unwrap();
    server.stop().await;
    let server = ApiServer::start_in(dir, Backend::Embedded).await.unwrap();
    let kubeconfig = server.write_kubeconfig().unwrap();

    let child = tokio::process::Command::new("python3")
        .arg(SCRIPT)
        .arg(&kubeconfig)
        .arg("py-client")
        .arg(&expired)
        .arg("seeded")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .expect("python_client.py did not finish")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python_client.py failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("python_client.py printed no JSON report ({e}): {stdout}"));

    assert_eq!(report["client_version"], pinned_version());
    assert_eq!(report["list"]["names"], json!(["a", "b", "c"]));
    let events: Vec<(String, String)> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        events,
        [
            ("MODIFIED".into(), "a".into()),
            ("ADDED".into(), "d".into()),
            ("MODIFIED".into(), "b".into()),
            ("DELETED".into(), "c".into()),
        ]
    );
    assert_eq!(
        report["initial"],
        json!([["ADDED", "a"], ["ADDED", "b"], ["ADDED", "d"]])
    );
    assert_eq!(report["selected"], json!([["DELETED", "d"]]));
    for key in ["gone", "gone_after_retry"] {
        assert_eq!(report[key]["status"], 410, "{report}");
        let reason = report[key]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("Expired: too old resource version: {expired} (")),
            "{reason}"
        );
    }
    assert_eq!(
        report["resumed"],
        json!([["ADDED", "after-gone"], ["DELETED", "seeded"]])
    );

    // What the script did is really there.
    let cms: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "default");
    assert!(cms.get_opt("seeded").await.unwrap().is_none());
    assert!(cms.get_opt("after-gone").await.unwrap().is_some());
    let py: Api<ConfigMap> = Api::namespaced(server.client().unwrap(), "py-client");
    let b = py.get("b").await.unwrap();
    assert_eq!(b.data.unwrap()["k"], "b2");
    assert!(py.get_opt("c").await.unwrap().is_none());
    server.stop().await;
}
