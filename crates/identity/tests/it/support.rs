//! Helpers for the integration tests: running the real `openssl` and `python3`, free ports,
//! and child processes that are stopped when a test ends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use causeway_identity::ca::{CertificateAuthority, SvidRequest};
use causeway_identity::{SpiffeId, TrustDomain, X509Svid};

/// Finds a tool on PATH or fails the test with a message that says how to get it.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` is not on PATH; run scripts/install-test-deps.sh");
}

/// Runs openssl with the arguments and returns its output, whatever its exit status.
pub fn openssl(args: &[&str]) -> Output {
    Command::new(tool("openssl"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl")
}

/// Runs openssl and fails the test unless it succeeds; returns stdout.
pub fn openssl_ok(args: &[&str]) -> String {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text form of a certificate, as `openssl x509 -text` prints it.
pub fn x509_text(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", s(cert), "-noout", "-text"])
}

/// A path as &str; test paths are always UTF-8 temp paths.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Waits until something listens on the port, or fails the test.
pub fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port} after 20s");
}

/// A child process killed when dropped, so a failing test leaves no server behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A trust domain.
pub fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).unwrap()
}

/// Issues an SVID for `id` from `ca`.
pub fn issue(ca: &CertificateAuthority, id: &str, ttl: Duration) -> X509Svid {
    ca.issue(&SvidRequest {
        ip_addresses: Vec::new(),
        spiffe_id: SpiffeId::parse(id).unwrap(),
        dns_names: vec![],
        ttl,
    })
    .unwrap()
}

/// Writes an SVID as `dir/name.crt` (the leaf), `dir/name.chain.crt` (intermediates, when
/// there are any) and `dir/name.key`, and returns the `-cert`, `-cert_chain` and `-key`
/// arguments that `openssl s_client` and `s_server` take.
pub fn openssl_cert_args(svid: &X509Svid, dir: &Path, name: &str) -> Vec<String> {
    let leaf = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(
        &leaf,
        causeway_identity::pem::encode_certs(&svid.chain()[..1]),
    )
    .unwrap();
    std::fs::write(&key, svid.key_pem()).unwrap();
    let mut args = vec![
        "-cert".to_owned(),
        s(&leaf).to_owned(),
        "-key".to_owned(),
        s(&key).to_owned(),
    ];
    if svid.chain().len() > 1 {
        let chain = dir.join(format!("{name}.chain.crt"));
        std::fs::write(
            &chain,
            causeway_identity::pem::encode_certs(&svid.chain()[1..]),
        )
        .unwrap();
        args.extend(["-cert_chain".to_owned(), s(&chain).to_owned()]);
    }
    args
}

/// Runs the PyJWT helper with the arguments; returns (exit code, stdout + stderr).
pub fn pyjwt(args: &[&str]) -> (i32, String) {
    let python = tool("python3");
    let check = Command::new(&python)
        .args(["-c", "import jwt, cryptography"])
        .output()
        .expect("run python3");
    assert!(
        check.status.success(),
        "PyJWT is not installed for {}; run scripts/install-test-deps.sh",
        python.display()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(include_str!("pyjwt_helper.py"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs the PyJWT helper and fails the test unless it succeeds; returns stdout trimmed.
pub fn pyjwt_ok(args: &[&str]) -> String {
    let (code, out) = pyjwt(args);
    assert_eq!(code, 0, "pyjwt {args:?}: {out}");
    out.trim().to_owned()
}
