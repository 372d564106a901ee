//! The `causeway ca` and `causeway identity` command-line contract, checked with openssl.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn causeway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = causeway(args);
    assert!(
        out.status.success(),
        "causeway {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a long-running causeway command and waits until it listens on `port`.
fn start(args: &[&str], port: u16) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("causeway {args:?} exited with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "causeway {args:?} did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Sends SIGTERM and returns how the process ended.
fn terminate(mut child: std::process::Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap()
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is not on PATH; run scripts/install-test-deps.sh")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn ca_commands_follow_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let east = tmp.path().join("east");
    let out = ok(&[
        "ca",
        "init",
        "--trust-domain",
        "mesh.example",
        "--dir",
        p(&root),
    ]);
    assert!(
        !out.contains("PRIVATE KEY"),
        "the key is never printed: {out}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(root.join("ca.crt").is_file());
    // Refuses to overwrite an existing CA.
    assert!(
        !causeway(&[
            "ca",
            "init",
            "--trust-domain",
            "mesh.example",
            "--dir",
            p(&root)
        ])
        .status
        .success()
    );

    ok(&[
        "ca",
        "intermediate",
        "--dir",
        p(&root),
        "--trust-domain",
        "mesh.example",
        "--out",
        p(&east),
    ]);
    let prefix = tmp.path().join("web");
    ok(&[
        "ca",
        "issue",
        "--dir",
        p(&east),
        "--spiffe-id",
        "spiffe://mesh.example/ns/shop/sa/web",
        "--dns",
        "web.shop.svc",
        "--dns",
        "web",
        "--ttl",
        "2h",
        "--out",
        p(&prefix),
    ]);
    let crt = tmp.path().join("web.crt");
    let pem = std::fs::read_to_string(&crt).unwrap();
    assert_eq!(
        pem.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and intermediate, no root"
    );
    let verify = openssl(&[
        "verify",
        "-CAfile",
        p(&root.join("ca.crt")),
        "-untrusted",
        p(&crt),
        p(&crt),
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let text =
        String::from_utf8_lossy(&openssl(&["x509", "-in", p(&crt), "-noout", "-text"]).stdout)
            .into_owned();
    assert!(
        text.contains("URI:spiffe://mesh.example/ns/shop/sa/web"),
        "{text}"
    );
    assert!(
        text.contains("DNS:web.shop.svc") && text.contains("DNS:web"),
        "{text}"
    );

    let bundle: serde_json::Value =
        serde_json::from_str(&ok(&["ca", "bundle", "--dir", p(&east)])).unwrap();
    let keys = bundle["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["use"] == "x509-svid" && k["x5c"].as_array().unwrap().len() == 1)
    );
    assert!(
        keys.iter()
            .any(|k| k["use"] == "jwt-svid" && k["kid"].is_string())
    );
    assert!(bundle["spiffe_sequence"].as_u64().unwrap() >= 1);

    // A JWT-SVID from the CLI verifies against the bundle the CLI prints.
    let token = ok(&[
        "ca",
        "jwt-svid",
        "--dir",
        p(&east),
        "--spiffe-id",
        "spiffe://mesh.example/ns/shop/sa/web",
        "--audience",
        "payments",
    ]);
    let east_bundle = causeway_identity::TrustBundle::from_json(
        "mesh.example".parse().unwrap(),
        ok(&["ca", "bundle", "--dir", p(&east)]).as_bytes(),
    )
    .unwrap();
    let trust = causeway_identity::TrustStore::with([east_bundle]);
    let svid = causeway_identity::jwt::verify_jwt_svid(
        token.trim(),
        &trust,
        "payments",
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert_eq!(
        svid.spiffe_id.to_string(),
        "spiffe://mesh.example/ns/shop/sa/web"
    );
    assert!(
        causeway_identity::jwt::verify_jwt_svid(
            token.trim(),
            &trust,
            "billing",
            std::time::SystemTime::now()
        )
        .is_err()
    );

    let table = ok(&["ca", "check", "--dir", p(&root), "--dir", p(&east)]);
    assert!(
        table.contains("anchor") && table.contains("intermediate") && table.contains("leaf"),
        "{table}"
    );
    let bundles = tmp.path().join("bundles");
    std::fs::create_dir(&bundles).unwrap();
    std::fs::write(
        bundles.join("mesh.example.json"),
        ok(&["ca", "bundle", "--dir", p(&root)]),
    )
    .unwrap();
    let with_bundles = ok(&[
        "ca",
        "check",
        "--dir",
        p(&root),
        "--bundle-dir",
        p(&bundles),
    ]);
    assert!(with_bundles.contains("bundle"), "{with_bundles}");
    assert!(with_bundles.contains("mesh.example.json"), "{with_bundles}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["ca", "check", "--dir", p(&east), "--output", "json"])).unwrap();
    assert_eq!(json["status"], "ok");

    // An SVID that expires makes `ca check` fail.
    let short = tmp.path().join("short");
    ok(&[
        "ca",
        "issue",
        "--dir",
        p(&east),
        "--spiffe-id",
        "spiffe://mesh.example/short",
        "--ttl",
        "1s",
        "--out",
        p(&short),
    ]);
    std::thread::sleep(Duration::from_millis(2100));
    let out = causeway(&[
        "ca",
        "check",
        "--dir",
        p(&east),
        "--svid",
        p(&tmp.path().join("short.crt")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("expired"));

    // Bad input is refused with the reason.
    let refused = [
        (
            vec!["--spiffe-id", "spiffe://Mesh.example/x"],
            "trust domain \"Mesh.example\" contains 'M'",
        ),
        (
            vec!["--spiffe-id", "spiffe://other.example/x"],
            "not in this CA's trust domain",
        ),
        (
            vec!["--spiffe-id", "spiffe://mesh.example/x", "--ttl", "5w"],
            "unknown unit",
        ),
        (
            vec!["--spiffe-id", "spiffe://mesh.example/x?q"],
            "has a query",
        ),
    ];
    for (extra, reason) in refused {
        let mut args = vec!["ca", "issue", "--dir", p(&east), "--out", p(&prefix)];
        args.extend(extra);
        let out = causeway(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{args:?}: {err}");
    }
}

#[test]
fn serve_bundle_and_federate_once_then_stop_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&["ca", "init", "--trust-domain", "b.example", "--dir", p(&ca)]);
    let initial = tmp.path().join("initial.json");
    std::fs::write(&initial, ok(&["ca", "bundle", "--dir", p(&ca)])).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = start(
        &[
            "identity",
            "serve-bundle",
            "--dir",
            p(&ca),
            "--listen",
            &listen,
            "--refresh-hint",
            "1s",
        ],
        port,
    );
    let federate_once = |endpoint_id: &str| {
        causeway(&[
            "identity",
            "federate",
            "--trust-domain",
            "b.example",
            "--url",
            &format!("https://{listen}/"),
            "--profile",
            "https_spiffe",
            "--endpoint-spiffe-id",
            endpoint_id,
            "--bundle",
            p(&initial),
            "--once",
        ])
    };
    let fetched = federate_once("spiffe://b.example/causeway/bundle-endpoint");
    // The wrong endpoint ID is refused while the server is still up.
    let wrong = federate_once("spiffe://b.example/x");
    let stdout = String::from_utf8_lossy(&fetched.stdout);

    // The long-running client writes the bundle, and follows a rotation staged on the
    // serving side without a restart of either.
    let out = tmp.path().join("bundles").join("b.example.json");
    let follower = Command::new(env!("CARGO_BIN_EXE_causeway"))
        .args([
            "identity",
            "federate",
            "--trust-domain",
            "b.example",
            "--url",
        ])
        .arg(format!("https://{listen}/"))
        .args(["--profile", "https_spiffe", "--endpoint-spiffe-id"])
        .arg("spiffe://b.example/causeway/bundle-endpoint")
        .args(["--bundle", p(&initial), "--out", p(&out)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let anchors = || -> usize {
        std::fs::read(&out)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map_or(0, |v| {
                v["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|k| k["use"] == "x509-svid")
                    .count()
            })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while anchors() != 1 {
        assert!(
            Instant::now() < deadline,
            "federate never wrote {}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&["ca", "rotate", "--dir", p(&ca)]);
    while anchors() != 2 {
        assert!(
            Instant::now() < deadline,
            "the staged root never reached {}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        terminate(follower).success(),
        "federate stops cleanly on SIGTERM"
    );
    let status = terminate(server);
    assert!(
        fetched.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let got: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&initial).unwrap()).unwrap();
    assert_eq!(got["keys"], want["keys"]);
    assert!(
        status.success(),
        "serve-bundle stops cleanly on SIGTERM: {status}"
    );

    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not authorized"));
}

#[test]
fn serve_issuer_publishes_discovery_and_the_jwt_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&["ca", "init", "--trust-domain", "a.example", "--dir", p(&ca)]);
    let serving = tmp.path().join("issuer");
    ok(&[
        "ca",
        "issue",
        "--dir",
        p(&ca),
        "--spiffe-id",
        "spiffe://a.example/oidc",
        "--dns",
        "localhost",
        "--out",
        p(&serving),
    ]);
    let port = free_port();
    let issuer = format!("https://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let (cert, key) = (tmp.path().join("issuer.crt"), tmp.path().join("issuer.key"));
    let server = start(
        &[
            "identity",
            "serve-issuer",
            "--dir",
            p(&ca),
            "--issuer",
            &issuer,
            "--listen",
            &listen,
            "--cert",
            p(&cert),
            "--key",
            p(&key),
        ],
        port,
    );
    let roots = causeway_identity::pem::read_certs(&ca.join("ca.crt")).unwrap();
    let tls = std::sync::Arc::new(causeway_identity::http::web_client_config(&roots).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let get = |url: String| {
        let body = rt
            .block_on(causeway_identity::http::get(
                &url,
                tls.clone(),
                Duration::from_secs(10),
            ))
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let discovery = get(format!("{issuer}/.well-known/openid-configuration"));
    assert_eq!(discovery["issuer"], issuer.as_str());
    let jwks = get(discovery["jwks_uri"].as_str().unwrap().to_owned());
    let status = terminate(server);
    let bundle: serde_json::Value =
        serde_json::from_str(&ok(&["ca", "bundle", "--dir", p(&ca)])).unwrap();
    let jwt_kid = bundle["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["use"] == "jwt-svid")
        .unwrap()["kid"]
        .clone();
    assert_eq!(jwks["keys"][0]["kid"], jwt_kid);
    assert_eq!(jwks["keys"][0]["use"], "sig");
    assert!(
        status.success(),
        "serve-issuer stops cleanly on SIGTERM: {status}"
    );
}
