//! TLS with client certificates: a CA, server and client certificates made
//! with the openssl CLI, and the real etcdctl as the client.

use std::path::Path;
use std::process::{Command, Output};

use causeway_testkit::CausewayProcess;

fn run(cmd: &mut Command) -> Output {
    let rendered = format!("{cmd:?}");
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {rendered}: {e} (is it installed?)"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes ca.crt, server.{crt,key} (SAN IP:127.0.0.1) and client.{crt,key}
/// into `dir`, plus other-ca.crt and stranger.{crt,key} signed by another CA.
fn make_pki(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    for (ca, cn) in [("ca", "causeway test CA"), ("other-ca", "another CA")] {
        let (key, crt, subj) = (
            format!("{ca}.key"),
            format!("{ca}.crt"),
            format!("/CN={cn}"),
        );
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &crt, "-subj", &subj]);
        openssl(dir, &args);
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n",
    )
    .unwrap();
    for (name, ca, ext) in [
        ("server", "ca", "server.ext"),
        ("client", "ca", "client.ext"),
        ("stranger", "other-ca", "client.ext"),
    ] {
        let (key, csr, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("/CN={name}"),
        );
        let mut args = vec!["req", "-nodes"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &args);
        let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &crt,
                "-extfile",
                ext,
            ],
        );
    }
}

fn etcdctl(endpoint: &str, tls: &[String], args: &[&str]) -> Output {
    run(Command::new("etcdctl")
        .arg(format!("--endpoints={endpoint}"))
        .args(["--dial-timeout=2s", "--command-timeout=4s"])
        .args(tls)
        .args(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_over_tls() {
    let pki = tempfile::tempdir().unwrap();
    let d = pki.path();
    make_pki(d);
    let file = |n: &str| d.join(n).display().to_string();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let p = CausewayProcess::start_sqlite(&[
        "--cert-file",
        &cert,
        "--key-file",
        &key,
        "--trusted-ca-file",
        &ca,
        "--client-cert-auth",
    ])
    .await
    .unwrap();
    let https = format!("https://{}", p.endpoint());
    let flags = |cert: &str, key: &str| {
        vec![
            format!("--cacert={}", file("ca.crt")),
            format!("--cert={}", file(cert)),
            format!("--key={}", file(key)),
        ]
    };

    // With a client certificate from the trusted CA: works.
    let out = etcdctl(
        &https,
        &flags("client.crt", "client.key"),
        &["put", "k", "v"],
    );
    assert!(
        out.status.success(),
        "put over mTLS failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log_tail()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let out = etcdctl(
        &https,
        &flags("client.crt", "client.key"),
        &["get", "k", "--print-value-only"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");

    // No client certificate: refused.
    let out = etcdctl(
        &https,
        &[format!("--cacert={}", file("ca.crt"))],
        &["get", "k"],
    );
    assert!(
        !out.status.success(),
        "a client without a certificate was served: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A certificate from a CA the server does not trust: refused.
    let out = etcdctl(
        &https,
        &flags("stranger.crt", "stranger.key"),
        &["get", "k"],
    );
    assert!(
        !out.status.success(),
        "a client with an untrusted certificate was served: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Plain HTTP to the TLS port: refused, by etcdctl and by etcd-client.
    let http = format!("http://{}", p.endpoint());
    let out = etcdctl(&http, &[], &["get", "k"]);
    assert!(
        !out.status.success(),
        "a plain-http client was served: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(std::time::Duration::from_secs(2))
        .with_timeout(std::time::Duration::from_secs(2));
    let plain = match etcd_client::Client::connect([p.endpoint()], Some(options)).await {
        Ok(mut c) => c.get("k", None).await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(plain.is_err(), "a plain-http etcd-client was served");

    // The server is still fine for the right client.
    let out = etcdctl(
        &https,
        &flags("client.crt", "client.key"),
        &["get", "k", "--print-value-only"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
}
