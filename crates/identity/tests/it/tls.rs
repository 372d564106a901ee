//! mTLS interop: causeway's rustls configurations against `openssl s_client` and
//! `openssl s_server`, both ways, with and without the right trust domain; and reloading
//! SVIDs, bundles and `https_web` serving certificates without cutting open connections.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use causeway_identity::ca::{
    CertificateAuthority, DEFAULT_INTERMEDIATE_LIFETIME, DEFAULT_ROOT_LIFETIME,
};
use causeway_identity::tls::peer_spiffe_id;
use causeway_identity::{
    Authorizer, SpiffeId, SpiffeTls, SvidSource, TrustBundle, TrustStore, pem,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::support::*;

const HOUR: Duration = Duration::from_secs(3600);

struct World {
    a_root: CertificateAuthority,
    a_int: CertificateAuthority,
    b_root: CertificateAuthority,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let a_root =
            CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
        let a_int = a_root
            .new_intermediate(td("a.example"), DEFAULT_INTERMEDIATE_LIFETIME)
            .unwrap();
        let b_root =
            CertificateAuthority::new_root(td("b.example"), DEFAULT_ROOT_LIFETIME).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a-root.crt"),
            pem::encode_certs([a_root.root()]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b-root.crt"),
            pem::encode_certs([b_root.root()]),
        )
        .unwrap();
        Self {
            a_root,
            a_int,
            b_root,
            dir,
        }
    }

    fn bundle_a(&self) -> TrustBundle {
        let mut b = TrustBundle::new(td("a.example"));
        b.add_x509_authority(self.a_root.root().clone());
        b
    }

    fn bundle_b(&self) -> TrustBundle {
        let mut b = TrustBundle::new(td("b.example"));
        b.add_x509_authority(self.b_root.root().clone());
        b
    }

    fn path(&self, name: &str) -> String {
        s(&self.dir.path().join(name)).to_owned()
    }
}

/// Runs a causeway mTLS server that greets each authenticated client with its SPIFFE ID,
/// and reports each handshake's outcome.
async fn causeway_server(
    config: rustls::ServerConfig,
) -> (u16, mpsc::UnboundedReceiver<Result<String, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let id = peer_spiffe_id(tls.get_ref().1.peer_certificates())
                            .map(|i| i.to_string())
                            .unwrap_or_default();
                        let _ = tls.write_all(format!("hello {id}\n").as_bytes()).await;
                        let _ = tls.shutdown().await;
                        let _ = tx.send(Ok(id));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    (port, rx)
}

/// The next event (a handshake outcome, a reload) reported, or a failed test after 20 seconds.
async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the event (a handshake, a reload) came within 20 s")
        .expect("the sender (server, reload task) is running")
}

async fn s_client(port: u16, args: &[String]) -> String {
    let out = tokio::process::Command::new(tool("openssl"))
        .arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .args(["-ign_eof", "-verify_return_error"])
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("s_client finished")
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn openssl_s_client_against_causeway_server() {
    let w = World::new();
    let server_svid = issue(&w.a_int, "spiffe://a.example/ns/gw/sa/gateway", HOUR);
    let good = issue(&w.a_int, "spiffe://a.example/ns/app/sa/client", HOUR);
    let foreign = issue(&w.b_root, "spiffe://b.example/ns/app/sa/client", HOUR);
    let good_args = openssl_cert_args(&good, w.dir.path(), "good");
    let foreign_args = openssl_cert_args(&foreign, w.dir.path(), "foreign");
    let with_ca = |args: &[String], ca: &str| {
        let mut v = args.to_vec();
        v.extend(["-CAfile".to_owned(), w.path(ca)]);
        v
    };

    let tls = SpiffeTls::new(
        TrustStore::with([w.bundle_a()]),
        Authorizer::TrustDomains(vec![td("a.example")]),
    )
    .with_svid(SvidSource::new(server_svid).unwrap());
    let (port, mut results) = causeway_server(tls.server_config().unwrap()).await;

    // A client of the right trust domain: openssl also verifies causeway's server chain
    // against the a.example root, and the server sees the client's SPIFFE ID.
    let out = s_client(port, &with_ca(&good_args, "a-root.crt")).await;
    assert!(
        out.contains("hello spiffe://a.example/ns/app/sa/client"),
        "{out}"
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert_eq!(
        next(&mut results).await.unwrap(),
        "spiffe://a.example/ns/app/sa/client"
    );

    // A client of a trust domain the server holds no bundle for.
    let out = s_client(port, &with_ca(&foreign_args, "a-root.crt")).await;
    assert!(!out.contains("hello"), "{out}");
    let err = next(&mut results).await.unwrap_err();
    assert!(
        err.contains("no trust bundle for trust domain b.example"),
        "{err}"
    );

    // A client with no certificate at all.
    let out = s_client(port, &["-CAfile".into(), w.path("a-root.crt")]).await;
    assert!(!out.contains("hello"), "{out}");
    let err = next(&mut results).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // openssl itself refuses causeway's server when it trusts only b.example's root.
    let out = s_client(port, &with_ca(&good_args, "b-root.crt")).await;
    assert!(!out.contains("hello"), "{out}");
    assert!(
        out.contains("verify error") || out.contains("unable to get"),
        "{out}"
    );
}

/// Starts `openssl s_server` requiring a client certificate from the given root.
fn s_server(
    w: &World,
    name: &str,
    svid: &causeway_identity::X509Svid,
    client_ca: &str,
) -> (u16, KillOnDrop) {
    let cert_args = openssl_cert_args(svid, w.dir.path(), name);
    let port = free_port();
    let mut child = std::process::Command::new(tool("openssl"))
        .args(["s_server", "-accept", &port.to_string(), "-www"])
        .args(&cert_args)
        .args([
            "-CAfile",
            &w.path(client_ca),
            "-Verify",
            "3",
            "-verify_return_error",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child);
    (port, KillOnDrop(child))
}

async fn causeway_get(port: u16, config: rustls::ClientConfig) -> Result<String, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    // The name is not checked: the SPIFFE ID is.
    let name = ServerName::try_from("ignored.invalid").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    tls.read_to_string(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

#[tokio::test]
async fn causeway_client_against_openssl_s_server() {
    let w = World::new();
    let server_svid = issue(&w.a_int, "spiffe://a.example/ns/gw/sa/gateway", HOUR);
    let client_svid = issue(&w.a_int, "spiffe://a.example/ns/app/sa/client", HOUR);
    let foreign = issue(&w.b_root, "spiffe://b.example/ns/app/sa/client", HOUR);
    let (port, _server) = s_server(&w, "srv", &server_svid, "a-root.crt");
    let gateway = SpiffeId::parse("spiffe://a.example/ns/gw/sa/gateway").unwrap();

    let config = |svid: &causeway_identity::X509Svid, trust: TrustStore, auth: Authorizer| {
        SpiffeTls::new(trust, auth)
            .with_svid(SvidSource::new(svid.clone()).unwrap())
            .client_config()
            .unwrap()
    };

    let body = causeway_get(
        port,
        config(
            &client_svid,
            TrustStore::with([w.bundle_a()]),
            Authorizer::Exact(vec![gateway.clone()]),
        ),
    )
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");
    // s_server's page shows the client certificate it accepted.
    assert!(body.contains("Client certificate"), "{body}");

    // The client holds only b.example's bundle: the server's trust domain is unknown.
    let err = causeway_get(
        port,
        config(
            &client_svid,
            TrustStore::with([w.bundle_b()]),
            Authorizer::Any,
        ),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("no trust bundle for trust domain a.example"),
        "{err}"
    );

    // The chain is fine but the authorizer wants someone else.
    let err = causeway_get(
        port,
        config(
            &client_svid,
            TrustStore::with([w.bundle_a()]),
            Authorizer::Exact(vec![
                SpiffeId::parse("spiffe://a.example/ns/gw/sa/other").unwrap(),
            ]),
        ),
    )
    .await
    .unwrap_err();
    assert!(err.contains("not authorized"), "{err}");

    // openssl refuses a client SVID of a trust domain it does not trust.
    let result = causeway_get(
        port,
        config(&foreign, TrustStore::with([w.bundle_a()]), Authorizer::Any),
    )
    .await;
    match result {
        Err(e) => assert!(!e.is_empty()),
        Ok(body) => assert!(!body.contains("HTTP/1.0 200"), "{body}"),
    }

    // And with a path-prefix authorizer the right server is admitted again.
    let body = causeway_get(
        port,
        config(
            &client_svid,
            TrustStore::with([w.bundle_a()]),
            Authorizer::PathPrefix {
                trust_domain: td("a.example"),
                prefix: "/ns/gw".into(),
            },
        ),
    )
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");
}

#[tokio::test]
async fn new_svids_and_bundles_apply_to_the_next_handshake_only() {
    let w = World::new();
    let source = SvidSource::new(issue(&w.a_int, "spiffe://a.example/server/one", HOUR)).unwrap();
    let server_trust = TrustStore::with([w.bundle_a()]);
    let server = SpiffeTls::new(server_trust.clone(), Authorizer::Any)
        .with_svid(source.clone())
        .server_config()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    // An echo server: it answers every line with the line, for as long as the client wants.
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 64];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 || tls.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let client_trust = TrustStore::with([w.bundle_a()]);
    let client = SpiffeTls::new(client_trust.clone(), Authorizer::Any)
        .with_svid(SvidSource::new(issue(&w.a_int, "spiffe://a.example/client", HOUR)).unwrap())
        .client_config()
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let connect = || async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        connector
            .connect(ServerName::try_from("x.invalid").unwrap(), tcp)
            .await
    };
    let server_id = |tls: &tokio_rustls::client::TlsStream<TcpStream>| {
        peer_spiffe_id(tls.get_ref().1.peer_certificates())
            .unwrap()
            .to_string()
    };
    let mut first = connect().await.unwrap();
    assert_eq!(server_id(&first), "spiffe://a.example/server/one");

    source
        .set(issue(&w.a_int, "spiffe://a.example/server/two", HOUR))
        .unwrap();
    let second = connect().await.unwrap();
    assert_eq!(server_id(&second), "spiffe://a.example/server/two");
    // The connection made before the reload still carries data.
    first.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    first.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");

    // A new root in the server's SVID: clients trust it from the next handshake once their
    // bundle has it, and not before.
    let a2 = CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    source
        .set(issue(&a2, "spiffe://a.example/server/three", HOUR))
        .unwrap();
    let err = connect().await.unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let mut both = w.bundle_a();
    both.add_x509_authority(a2.root().clone());
    client_trust.set(both.clone());
    server_trust.set(both);
    let third = connect().await.unwrap();
    assert_eq!(server_id(&third), "spiffe://a.example/server/three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svids_renew_at_half_life_and_reload_from_files() {
    let ca =
        Arc::new(CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap());
    // Issued 10 s back-dated with a 30 s TTL: 40 s of life, so half-life is 10 s from now.
    let req = causeway_identity::SvidRequest {
        ip_addresses: Vec::new(),
        spiffe_id: SpiffeId::parse("spiffe://a.example/renewing").unwrap(),
        dns_names: vec![],
        ttl: Duration::from_secs(30),
    };
    let issued = std::time::Instant::now();
    let first = ca.issue(&req).unwrap();
    let source = SvidSource::new(first.clone()).unwrap();
    let task = source.spawn_renewal(ca.clone(), req);
    let deadline = issued + Duration::from_secs(30);
    while source.current().chain()[0] == first.chain()[0] {
        assert!(std::time::Instant::now() < deadline, "never renewed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at = issued.elapsed();
    // Half-life is 10 s after issuance (40 s of life, starting 10 s back).
    assert!(
        at >= Duration::from_secs(9),
        "renewed too early, after {at:?}"
    );
    assert!(
        at < Duration::from_secs(20),
        "renewed too late, after {at:?}"
    );
    let renewed = source.current();
    assert!(renewed.not_after() > first.not_after());
    task.abort();

    // Files replaced on disk are picked up; a broken file is ignored.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("w.crt"), dir.path().join("w.key"));
    let one = issue(&ca, "spiffe://a.example/files/one", HOUR);
    one.write(&cert, &key).unwrap();
    let source = SvidSource::new(one).unwrap();
    let task = source.spawn_file_reload(cert.clone(), key.clone(), Duration::from_millis(100));
    issue(&ca, "spiffe://a.example/files/two", HOUR)
        .write(&cert, &key)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while source.current().spiffe_id().path() != "/files/two" {
        assert!(
            std::time::Instant::now() < deadline,
            "reload did not happen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::write(&cert, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(source.current().spiffe_id().path(), "/files/two");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_files_reload_into_the_trust_store() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.example.json");
    std::fs::write(&file, w.bundle_a().to_json()).unwrap();
    let trust = TrustStore::new();
    let task = causeway_identity::source::spawn_bundle_file_reload(
        trust.clone(),
        td("a.example"),
        file.clone(),
        Duration::from_millis(100),
    );
    let svid = issue(&w.a_int, "spiffe://a.example/x", HOUR);
    let verifies = |t: &TrustStore| {
        causeway_identity::svid::verify_chain(
            svid.chain(),
            t,
            causeway_identity::svid::Role::Server,
            std::time::SystemTime::now(),
        )
        .is_ok()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !verifies(&trust) {
        assert!(std::time::Instant::now() < deadline, "bundle never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A broken file keeps the bundle; a new one replaces it.
    std::fs::write(&file, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(verifies(&trust));
    std::fs::write(&file, w.bundle_b().to_json()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while verifies(&trust) {
        assert!(
            std::time::Instant::now() < deadline,
            "new bundle never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}

/// A Web PKI client that trusts `root` and never resumes a session, so every connection
/// shows the certificate the server presents at that moment.
fn fresh_web_client(
    root: &rustls_pki_types::CertificateDer<'static>,
) -> tokio_rustls::TlsConnector {
    let mut config =
        causeway_identity::http::web_client_config(std::slice::from_ref(root)).unwrap();
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_web_serving_certificate_reloads_for_new_handshakes_only() {
    use causeway_identity::endpoint::{EndpointProfile, PublishedBundle, serve_bundle_endpoint};
    use causeway_identity::{ServingCert, SvidRequest};

    let w = World::new();
    let web = |path: &str| {
        w.a_int
            .issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: SpiffeId::parse(&format!("spiffe://a.example{path}")).unwrap(),
                dns_names: vec!["localhost".into()],
                ttl: HOUR,
            })
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("web.crt"), dir.path().join("web.key"));
    web("/web/one").write(&cert, &key).unwrap();
    let serving = ServingCert::load(&cert, &key).unwrap();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let watch = serving.spawn_file_reload(
        cert.clone(),
        key.clone(),
        Duration::from_millis(100),
        move |r| {
            let _ = events_tx.send(r.map_err(|e| e.to_string()));
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_bundle_endpoint(
        listener,
        EndpointProfile::HttpsWeb {
            cert: serving.clone(),
        },
        PublishedBundle::new(w.bundle_a()),
        async {
            let _ = stopped.await;
        },
    ));
    let connector = fresh_web_client(w.a_root.root());
    let connect = || async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    };
    let served = |tls: &tokio_rustls::client::TlsStream<TcpStream>| {
        peer_spiffe_id(tls.get_ref().1.peer_certificates())
            .unwrap()
            .path()
            .to_owned()
    };
    let mut first = connect().await;
    assert_eq!(served(&first), "/web/one");

    web("/web/two").write(&cert, &key).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while served(&connect().await) != "/web/two" {
        assert!(tokio::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before the swap is served over its old session.
    first.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("spiffe_sequence"), "{answer}");
    // Writing the certificate before its key may have been seen half-done (a failure);
    // the swap ends with a success.
    loop {
        if next(&mut events).await.is_ok() {
            break;
        }
    }

    // A corrupt certificate, then a certificate whose key is elsewhere: each is reported
    // once and the current certificate stays. Each file is replaced whole (a rename), so
    // that the reloader's poll never sees it half-written and each step is one event.
    replace(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n");
    let err = next(&mut events).await.unwrap_err();
    assert!(err.contains("web.crt"), "{err}");
    assert_eq!(served(&connect().await), "/web/two");
    let three = web("/web/three");
    replace(&cert, pem::encode_certs(three.chain()));
    let err = next(&mut events).await.unwrap_err();
    assert!(err.contains("does not match"), "{err}");
    assert_eq!(served(&connect().await), "/web/two");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(events.try_recv().is_err(), "a bad pair is reported once");
    // Its key arriving completes the pair.
    replace(&key, three.key_pem());
    let ok = next(&mut events).await;
    assert_eq!(ok, Ok(()));
    assert_eq!(served(&connect().await), "/web/three");

    watch.abort();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Replaces `path` whole, as certificate rotation tools do: the new contents go to a
/// sibling file, which is then renamed over it.
fn replace(path: &std::path::Path, contents: impl AsRef<[u8]>) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
