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

/// Waits until something listens on `port`.
fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain HTTP/1.0 GET; returns the whole answer, status line first.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(tcp, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    out
}

/// The value of one series (`name{labels}` exactly as exposed) in a metrics answer.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// Polls the metrics at `port` until `series` satisfies `cond`; returns the last value.
fn wait_metric(port: u16, series: &str, cond: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http_get(port, "/metrics");
        if let Some(v) = metric(&text, series)
            && cond(v)
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never got the value wanted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
    let mport = free_port();
    let server = start(
        &[
            "identity",
            "serve-bundle",
            "--dir",
            p(&ca),
            "--listen",
            &listen,
            "--metrics-listen",
            &format!("127.0.0.1:{mport}"),
            "--refresh-hint",
            "1s",
        ],
        port,
    );
    wait_port(mport);
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
    let follower_mport = free_port();
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
        .args(["--metrics-listen", &format!("127.0.0.1:{follower_mport}")])
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
    let sequence = |dir: &Path| -> f64 {
        let b: serde_json::Value =
            serde_json::from_str(&ok(&["ca", "bundle", "--dir", p(dir)])).unwrap();
        b["spiffe_sequence"].as_u64().unwrap() as f64
    };
    let first_sequence = sequence(&ca);
    // The federating side is ready once it has written a bundle, and says what it holds.
    wait_port(follower_mport);
    assert!(http_get(follower_mport, "/readyz").contains("200 OK"));
    let fseq = r#"causeway_identity_federation_bundle_sequence{trust_domain="b.example"}"#;
    wait_metric(follower_mport, fseq, |v| v == first_sequence);
    let fetched_at =
        r#"causeway_identity_federation_last_success_timestamp_seconds{trust_domain="b.example"}"#;
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    wait_metric(follower_mport, fetched_at, |v| {
        (unix_now - 60.0..unix_now + 60.0).contains(&v)
    });
    let failures = metric(
        &http_get(follower_mport, "/metrics"),
        r#"causeway_identity_federation_fetch_failures_total{trust_domain="b.example"}"#,
    );
    assert!(failures.is_none_or(|f| f == 0.0), "{failures:?}");

    ok(&["ca", "rotate", "--dir", p(&ca)]);
    while anchors() != 2 {
        assert!(
            Instant::now() < deadline,
            "the staged root never reached {}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both sides count the rotation.
    let rotated = sequence(&ca);
    assert!(rotated > first_sequence);
    wait_metric(mport, "causeway_identity_bundle_sequence", |v| v == rotated);
    wait_metric(
        mport,
        r#"causeway_identity_reloads_total{what="bundle"}"#,
        |v| v >= 1.0,
    );
    wait_metric(follower_mport, fseq, |v| v == rotated);
    assert!(http_get(mport, "/readyz").contains("200 OK"));
    assert!(
        terminate(follower).success(),
        "federate stops cleanly on SIGTERM"
    );
    let status = terminate(server);
    // The metrics listener closes with the server.
    assert!(std::net::TcpStream::connect(("127.0.0.1", mport)).is_err());
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
            "--metrics-listen",
            &format!("127.0.0.1:{}", free_port()),
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

/// The serial number of the certificate a TLS server on `port` presents to a new
/// connection, as `openssl s_client` sees it.
fn served_serial(port: u16) -> String {
    let out = openssl(&[
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "localhost",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pem_start = text.find("-----BEGIN CERTIFICATE-----");
    let pem_end = text.find("-----END CERTIFICATE-----");
    let (Some(a), Some(b)) = (pem_start, pem_end) else {
        return String::new();
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("served.crt");
    std::fs::write(&file, &text[a..b + "-----END CERTIFICATE-----".len()]).unwrap();
    serial_of(&file)
}

fn serial_of(cert: &Path) -> String {
    let out = openssl(&["x509", "-in", p(cert), "-noout", "-serial"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An `openssl s_client` connection kept open, to send requests over later.
struct OpenConnection {
    child: std::process::Child,
    received: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl OpenConnection {
    fn open(port: u16) -> Self {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", "localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            received,
            seen: String::new(),
        }
    }

    /// Sends a keep-alive GET and waits for the `n`th answer on this connection.
    fn get(&mut self, n: usize) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        stdin.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.seen.matches("spiffe_sequence").count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(e) => panic!("answer {n} never came ({e}); got {:?}", self.seen),
            }
        }
        assert_eq!(
            self.seen.matches("HTTP/1.1 200 OK").count(),
            n,
            "{}",
            self.seen
        );
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_bundle_reloads_its_https_web_certificate_and_serves_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&["ca", "init", "--trust-domain", "a.example", "--dir", p(&ca)]);
    // Serving certificates made for the purpose, told apart by their serial numbers.
    for name in ["one", "two"] {
        ok(&[
            "ca",
            "issue",
            "--dir",
            p(&ca),
            "--spiffe-id",
            &format!("spiffe://a.example/web/{name}"),
            "--dns",
            "localhost",
            "--out",
            p(&tmp.path().join(name)),
        ]);
    }
    let file = |n: &str| tmp.path().join(n);
    let (cert, key) = (file("serving.crt"), file("serving.key"));
    std::fs::copy(file("one.crt"), &cert).unwrap();
    std::fs::copy(file("one.key"), &key).unwrap();
    let (one, two) = (serial_of(&file("one.crt")), serial_of(&file("two.crt")));
    assert_ne!(one, two);

    let (port, mport) = (free_port(), free_port());
    let server = start(
        &[
            "identity",
            "serve-bundle",
            "--dir",
            p(&ca),
            "--profile",
            "https_web",
            "--cert",
            p(&cert),
            "--key",
            p(&key),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{mport}"),
        ],
        port,
    );
    wait_port(mport);
    let ready = http_get(mport, "/readyz");
    assert!(ready.contains("200 OK"), "{ready}");
    assert_eq!(served_serial(port), one);

    // A connection opened before the swap, which has already been answered once.
    let mut old = OpenConnection::open(port);
    old.get(1);

    std::fs::copy(file("two.key"), &key).unwrap();
    std::fs::copy(file("two.crt"), &cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while served_serial(port) != two {
        assert!(
            Instant::now() < deadline,
            "the new serving certificate was never presented"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The old connection still carries requests.
    old.get(2);
    wait_metric(
        mport,
        r#"causeway_identity_reloads_total{what="serving_cert"}"#,
        |v| v >= 1.0,
    );

    // A corrupt replacement is counted and the current certificate kept.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    wait_metric(
        mport,
        r#"causeway_identity_reload_failures_total{what="serving_cert"}"#,
        |v| v >= 1.0,
    );
    assert_eq!(served_serial(port), two);
    // So is a certificate whose key is not the one on disk.
    std::fs::copy(file("one.crt"), &cert).unwrap();
    wait_metric(
        mport,
        r#"causeway_identity_reload_failures_total{what="serving_cert"}"#,
        |v| v >= 2.0,
    );
    assert_eq!(served_serial(port), two);
    old.get(3);

    // The other metrics carry real values.
    let text = http_get(mport, "/metrics");
    let bundle: serde_json::Value =
        serde_json::from_str(&ok(&["ca", "bundle", "--dir", p(&ca)])).unwrap();
    assert_eq!(
        metric(&text, "causeway_identity_bundle_sequence"),
        Some(bundle["spiffe_sequence"].as_u64().unwrap() as f64),
        "{text}"
    );
    let served = metric(
        &text,
        r#"causeway_identity_requests_total{path="/",status="200"}"#,
    )
    .unwrap_or_default();
    assert!(served >= 3.0, "{text}");
    // The leaf served lives 24 hours, much less than the root in the bundle.
    let left = metric(&text, "causeway_identity_earliest_expiry_seconds").unwrap();
    assert!((86_000.0..=86_400.0).contains(&left), "{text}");
    assert!(
        text.contains("# TYPE causeway_identity_reloads counter"),
        "{text}"
    );

    let status = terminate(server);
    assert!(
        status.success(),
        "serve-bundle stops cleanly on SIGTERM: {status}"
    );
    drop(old);
}

#[test]
fn identity_servers_refuse_clashing_listeners() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    ok(&["ca", "init", "--trust-domain", "a.example", "--dir", p(&ca)]);
    let addr = format!("127.0.0.1:{}", free_port());
    let out = causeway(&[
        "identity",
        "serve-bundle",
        "--dir",
        p(&ca),
        "--listen",
        &addr,
        "--metrics-listen",
        &addr,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must be different addresses"), "{err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let out = causeway(&[
        "identity",
        "serve-bundle",
        "--dir",
        p(&ca),
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--metrics-listen",
        &taken,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--metrics-listen"), "{err}");

    let help = ok(&["identity", "serve-bundle", "--help"]);
    assert!(help.contains("127.0.0.1:8453"), "{help}");
    let help = ok(&["identity", "serve-issuer", "--help"]);
    assert!(help.contains("127.0.0.1:8454"), "{help}");
}
