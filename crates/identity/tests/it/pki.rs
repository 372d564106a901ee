//! The PKI checked by openssl: chains verify, every field the X.509-SVID specification
//! requires is there, and bad certificates crafted by openssl are refused with a reason.

use std::time::{Duration, SystemTime};

use causeway_identity::ca::{
    CaDir, CertificateAuthority, DEFAULT_INTERMEDIATE_LIFETIME, DEFAULT_ROOT_LIFETIME,
    RotationStep, SvidRequest,
};
use causeway_identity::check::{self, CheckInputs, Status};
use causeway_identity::jwt::verify_jwt_svid;
use causeway_identity::svid::{self, Role, SvidError};
use causeway_identity::{SpiffeId, TrustBundle, TrustStore, X509Svid, pem};

use crate::support::*;

const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3600);

fn store_of(dirs: &[&CaDir]) -> TrustStore {
    TrustStore::with(dirs.iter().map(|d| d.bundle(SystemTime::now())))
}

#[test]
fn shared_root_with_per_cluster_intermediates_verifies_in_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let root_dir = tmp.path().join("root");
    let mut root = CaDir::init(&root_dir, td("mesh.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    // Linkerd/Istio model: one trust domain, one root, an intermediate per cluster.
    let mut east = CaDir::init_intermediate(
        &mut root,
        &tmp.path().join("east"),
        td("mesh.example"),
        DEFAULT_INTERMEDIATE_LIFETIME,
    )
    .unwrap();
    let svid = east
        .issue(&SvidRequest {
            ip_addresses: Vec::new(),
            spiffe_id: SpiffeId::parse("spiffe://mesh.example/ns/shop/sa/cart").unwrap(),
            dns_names: vec!["cart.shop.svc".into()],
            ttl: DAY,
        })
        .unwrap();
    let cert = tmp.path().join("cart.crt");
    let key = tmp.path().join("cart.key");
    svid.write(&cert, &key).unwrap();

    // The key files are private from the moment they exist.
    use std::os::unix::fs::PermissionsExt;
    for k in [
        &root_dir.join("ca.key"),
        &tmp.path().join("east/ca.key"),
        &key,
    ] {
        let mode = std::fs::metadata(k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", k.display());
    }
    // PREFIX.crt is the leaf then the chain up to, not including, the root.
    let chain = pem::read_certs(&cert).unwrap();
    assert_eq!(chain.len(), 2);
    // DIR/ca.crt of an intermediate is the intermediate followed by its chain.
    assert_eq!(
        pem::read_certs(&tmp.path().join("east/ca.crt"))
            .unwrap()
            .len(),
        2
    );

    let out = openssl_ok(&[
        "verify",
        "-CAfile",
        s(&root_dir.join("ca.crt")),
        "-untrusted",
        s(&cert),
        "-purpose",
        "sslserver",
        s(&cert),
    ]);
    assert!(out.contains(": OK"), "{out}");
    openssl_ok(&[
        "verify",
        "-CAfile",
        s(&root_dir.join("ca.crt")),
        "-untrusted",
        s(&cert),
        "-purpose",
        "sslclient",
        s(&cert),
    ]);
    // The key belongs to the certificate.
    let cert_pub = openssl_ok(&["x509", "-in", s(&cert), "-noout", "-pubkey"]);
    let key_pub = openssl_ok(&["pkey", "-in", s(&key), "-pubout"]);
    assert_eq!(cert_pub, key_pub);

    let leaf = x509_text(&cert);
    assert_eq!(leaf.matches("URI:").count(), 1, "{leaf}");
    assert!(
        leaf.contains("URI:spiffe://mesh.example/ns/shop/sa/cart"),
        "{leaf}"
    );
    assert!(leaf.contains("DNS:cart.shop.svc"), "{leaf}");
    assert!(leaf.contains("X509v3 Key Usage: critical"), "{leaf}");
    assert!(leaf.contains("Digital Signature"), "{leaf}");
    assert!(!leaf.contains("Certificate Sign"), "{leaf}");
    assert!(leaf.contains("CA:FALSE"), "{leaf}");
    assert!(
        leaf.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{leaf}"
    );
    assert!(
        leaf.contains("id-ecPublicKey") && leaf.contains("P-256"),
        "{leaf}"
    );
    assert!(!leaf.contains("Name Constraints"), "{leaf}");

    for ca_cert in [root_dir.join("ca.crt"), tmp.path().join("east/ca.crt")] {
        let text = x509_text(&ca_cert);
        assert!(text.contains("CA:TRUE"), "{text}");
        assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
        assert!(text.contains("Certificate Sign"), "{text}");
        // Signing certificates carry the trust domain's ID with no path.
        assert_eq!(text.matches("URI:").count(), 1, "{text}");
        assert!(text.contains("URI:spiffe://mesh.example\n"), "{text}");
        assert!(!text.contains("Name Constraints"), "{text}");
    }
    // The root lives ten years by default.
    let root_text = x509_text(&root_dir.join("ca.crt"));
    let year = |t: &str, field: &str| -> i32 {
        let line = t.lines().find(|l| l.contains(field)).unwrap();
        line.split_whitespace()
            .rev()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        year(&root_text, "Not After") - year(&root_text, "Not Before"),
        10
    );

    // causeway's own verifier agrees.
    let store = store_of(&[&root]);
    let id = svid::verify_chain(svid.chain(), &store, Role::Server, SystemTime::now()).unwrap();
    assert_eq!(id.to_string(), "spiffe://mesh.example/ns/shop/sa/cart");
}

#[test]
fn a_root_per_cluster_keeps_trust_domains_apart() {
    let a = CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let b = CertificateAuthority::new_root(td("b.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let svid_a = issue(&a, "spiffe://a.example/ns/x/sa/y", DAY);
    let cert = tmp.path().join("a.crt");
    std::fs::write(&cert, svid_a.chain_pem()).unwrap();
    let b_root = tmp.path().join("b-root.crt");
    std::fs::write(&b_root, pem::encode_certs([b.root()])).unwrap();
    let out = openssl(&["verify", "-CAfile", s(&b_root), s(&cert)]);
    assert!(
        !out.status.success(),
        "openssl must refuse a chain of another root"
    );

    // Only b's bundle: no bundle for a.example at all.
    let mut bundle_b = TrustBundle::new(td("b.example"));
    bundle_b.add_x509_authority(b.root().clone());
    let store = TrustStore::with([bundle_b.clone()]);
    let err =
        svid::verify_chain(svid_a.chain(), &store, Role::Client, SystemTime::now()).unwrap_err();
    assert!(
        matches!(err, SvidError::UnknownTrustDomain(ref t) if t == "a.example"),
        "{err}"
    );
    // b's root filed under a.example's name (a bundle from the wrong trust domain) does not
    // make a's SVIDs valid.
    let mut forged = TrustBundle::new(td("a.example"));
    forged.add_x509_authority(b.root().clone());
    let store = TrustStore::with([forged]);
    let err =
        svid::verify_chain(svid_a.chain(), &store, Role::Client, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::Chain { .. }), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    // And the store refuses b's bundle offered for a.
    assert!(
        TrustStore::new()
            .set_for(&td("a.example"), bundle_b)
            .is_err()
    );
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    let ca = CertificateAuthority::new_root(td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let svid = issue(&ca, "spiffe://a.example/w", Duration::from_secs(3600));
    let mut bundle = TrustBundle::new(td("a.example"));
    bundle.add_x509_authority(ca.root().clone());
    let store = TrustStore::with([bundle]);
    let later = SystemTime::now() + 2 * DAY;
    let err = svid::verify_chain(svid.chain(), &store, Role::Server, later).unwrap_err();
    assert!(matches!(err, SvidError::Expired(_)), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    let earlier = SystemTime::now() - 2 * DAY;
    let err = svid::verify_chain(svid.chain(), &store, Role::Server, earlier).unwrap_err();
    assert!(matches!(err, SvidError::NotYetValid(_)), "{err}");

    // openssl agrees about the same certificate at the same times.
    let tmp = tempfile::tempdir().unwrap();
    let cert = tmp.path().join("w.crt");
    let root = tmp.path().join("root.crt");
    std::fs::write(&cert, svid.chain_pem()).unwrap();
    std::fs::write(&root, pem::encode_certs([ca.root()])).unwrap();
    let at = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string()
    };
    let out = openssl(&[
        "verify",
        "-attime",
        &at(later),
        "-CAfile",
        s(&root),
        s(&cert),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("expired")
            || String::from_utf8_lossy(&out.stderr).contains("expired")
    );
}

/// Signs a CSR made by openssl with the CA's key, using openssl and the given extensions.
fn openssl_signed(
    dir: &std::path::Path,
    ca_dir: &std::path::Path,
    name: &str,
    ext: &str,
) -> X509SvidParts {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let cert = dir.join(format!("{name}.crt"));
    let extfile = dir.join(format!("{name}.ext"));
    std::fs::write(&extfile, ext).unwrap();
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&key),
        "-subj",
        "/O=test",
        "-out",
        s(&csr),
    ]);
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&ca_dir.join("ca.crt")),
        "-CAkey",
        s(&ca_dir.join("ca.key")),
        "-days",
        "1",
        "-extfile",
        s(&extfile),
        "-out",
        s(&cert),
    ]);
    X509SvidParts { cert, key }
}

struct X509SvidParts {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

#[test]
fn certificates_that_break_the_svid_rules_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    let ca = CaDir::init(&ca_dir, td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let store = store_of(&[&ca]);
    let good_ext = "subjectAltName=URI:spiffe://a.example/ok\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n";
    type Check = fn(&SvidError) -> bool;
    let cases: &[(&str, &str, Check)] = &[
        ("good", good_ext, |_| false),
        (
            "two-uris",
            "subjectAltName=URI:spiffe://a.example/one,URI:spiffe://a.example/two\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::MultipleUriSans(2)),
        ),
        (
            "no-uri",
            "subjectAltName=DNS:a.example\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::NoUriSan),
        ),
        (
            "bad-id",
            "subjectAltName=URI:spiffe://a.example/x?y=1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::BadSpiffeId(_)),
        ),
        (
            "cert-sign",
            "subjectAltName=URI:spiffe://a.example/x\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::LeafCanSign),
        ),
        (
            "no-digital-signature",
            "subjectAltName=URI:spiffe://a.example/x\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::NoDigitalSignature),
        ),
        (
            "ku-not-critical",
            "subjectAltName=URI:spiffe://a.example/x\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::KeyUsageNotCritical),
        ),
        (
            "leaf-is-ca",
            "subjectAltName=URI:spiffe://a.example/x\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::LeafIsCa),
        ),
        (
            "no-path",
            "subjectAltName=URI:spiffe://a.example\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
            |e| matches!(e, SvidError::LeafWithoutPath(_)),
        ),
        (
            "client-only",
            "subjectAltName=URI:spiffe://a.example/x\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
            |e| matches!(e, SvidError::Chain { .. }),
        ),
    ];
    for (name, ext, expected) in cases {
        let parts = openssl_signed(tmp.path(), &ca_dir, name, ext);
        let chain = pem::read_certs(&parts.cert).unwrap();
        let result = svid::verify_chain(&chain, &store, Role::Server, SystemTime::now());
        if *name == "good" {
            // The control case: openssl-made certificates are accepted when they are right,
            // so the refusals below are for the reasons named.
            assert_eq!(result.unwrap().to_string(), "spiffe://a.example/ok");
            X509Svid::load(&parts.cert, &parts.key).unwrap();
            continue;
        }
        let err = result.expect_err(name);
        assert!(expected(&err), "{name}: {err:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn root_rotation_overlaps_old_and_new_anchors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut ca = CaDir::init(&dir, td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let req = |p: &str| SvidRequest {
        ip_addresses: Vec::new(),
        spiffe_id: SpiffeId::parse(p).unwrap(),
        dns_names: vec![],
        ttl: DAY,
    };
    let old_svid = ca.issue(&req("spiffe://a.example/old")).unwrap();
    let aud = vec!["api".to_owned()];
    let old_jwt = ca
        .mint_jwt_svid(
            &SpiffeId::parse("spiffe://a.example/old").unwrap(),
            &aud,
            HOUR,
        )
        .unwrap();
    let seq0 = ca.bundle(SystemTime::now()).sequence();

    // Step 1: the new root is published before it signs anything.
    assert_eq!(
        ca.rotate(None, DEFAULT_ROOT_LIFETIME).unwrap(),
        RotationStep::Staged
    );
    let mut ca = CaDir::open(&dir).unwrap();
    let staged = ca.bundle(SystemTime::now());
    assert_eq!(staged.x509_authorities().len(), 2);
    assert_eq!(
        staged.jwt_authorities().len(),
        2,
        "the next JWT key is published too"
    );
    assert!(staged.sequence() > seq0);
    let still_old = ca.issue(&req("spiffe://a.example/still-old")).unwrap();
    let store = TrustStore::with([staged.clone()]);
    svid::verify_chain(still_old.chain(), &store, Role::Server, SystemTime::now()).unwrap();

    // Step 2: the new root signs; both are trusted during the overlap.
    let RotationStep::Activated { drop_after } = ca.rotate(None, DEFAULT_ROOT_LIFETIME).unwrap()
    else {
        panic!("expected activation")
    };
    let mut ca = CaDir::open(&dir).unwrap();
    let new_svid = ca.issue(&req("spiffe://a.example/new")).unwrap();
    let new_jwt = ca
        .mint_jwt_svid(
            &SpiffeId::parse("spiffe://a.example/new").unwrap(),
            &aud,
            HOUR,
        )
        .unwrap();
    let overlap = ca.bundle(SystemTime::now());
    assert_eq!(overlap.x509_authorities().len(), 2);
    assert!(overlap.sequence() > staged.sequence());
    let store = TrustStore::with([overlap.clone()]);
    for s in [&old_svid, &still_old, &new_svid] {
        svid::verify_chain(s.chain(), &store, Role::Server, SystemTime::now()).unwrap();
    }
    // Both JWT keys are published during the overlap, and both tokens verify.
    assert_eq!(overlap.jwt_authorities().len(), 2);
    for t in [&old_jwt, &new_jwt] {
        verify_jwt_svid(t, &store, "api", SystemTime::now()).unwrap();
    }
    assert_ne!(
        causeway_identity::jwt::UnverifiedToken::parse(&old_jwt)
            .unwrap()
            .header
            .kid,
        causeway_identity::jwt::UnverifiedToken::parse(&new_jwt)
            .unwrap()
            .header
            .kid,
        "the new key signs after activation"
    );
    // The old root stays until the last certificate it signed has expired.
    let old_expiry = still_old
        .not_after()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(drop_after >= old_expiry, "{drop_after} < {old_expiry}");
    let just_before = SystemTime::UNIX_EPOCH + Duration::from_secs(drop_after - 10);
    assert_eq!(ca.bundle(just_before).x509_authorities().len(), 2);
    let after = SystemTime::UNIX_EPOCH + Duration::from_secs(drop_after + 10);
    let pruned = ca.bundle(after);
    assert_eq!(pruned.x509_authorities().len(), 1);
    assert_eq!(
        pruned.jwt_authorities().len(),
        1,
        "the old JWT key leaves too"
    );
    let store = TrustStore::with([pruned]);
    let err =
        svid::verify_chain(old_svid.chain(), &store, Role::Server, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::Chain { .. }), "{err}");
    svid::verify_chain(new_svid.chain(), &store, Role::Server, SystemTime::now()).unwrap();
    // The old root and the old JWT key.
    assert_eq!(ca.prune(after).unwrap(), 2);
}

#[test]
fn intermediate_rotation_needs_no_bundle_change() {
    let tmp = tempfile::tempdir().unwrap();
    let mut root = CaDir::init(
        &tmp.path().join("root"),
        td("a.example"),
        DEFAULT_ROOT_LIFETIME,
    )
    .unwrap();
    let int_dir = tmp.path().join("int");
    let mut int = CaDir::init_intermediate(&mut root, &int_dir, td("a.example"), DAY * 30).unwrap();
    let before = int.ca().certificate().clone();
    assert!(
        int.rotate(None, DAY).is_err(),
        "an intermediate needs its root to rotate"
    );
    assert_eq!(
        int.rotate(Some(&mut root), DAY * 30).unwrap(),
        RotationStep::Replaced
    );
    let reopened = CaDir::open(&int_dir).unwrap();
    assert_ne!(reopened.ca().certificate(), &before);
    let store = store_of(&[&root]);
    let s = issue(reopened.ca(), "spiffe://a.example/w", DAY);
    svid::verify_chain(s.chain(), &store, Role::Client, SystemTime::now()).unwrap();
}

#[test]
fn check_reports_time_left_and_expiry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let mut ca = CaDir::init(&dir, td("a.example"), Duration::from_secs(90 * 86_400)).unwrap();
    ca.issue(&SvidRequest {
        ip_addresses: Vec::new(),
        spiffe_id: SpiffeId::parse("spiffe://a.example/w").unwrap(),
        dns_names: vec![],
        ttl: DAY,
    })
    .unwrap();
    let bundle_file = tmp.path().join("bundle.json");
    std::fs::write(&bundle_file, ca.bundle(SystemTime::now()).to_json()).unwrap();
    let inputs = CheckInputs {
        ca_dirs: vec![&dir],
        svids: vec![],
        bundles: vec![(td("a.example"), &bundle_file)],
    };
    let now = check::check(&inputs, SystemTime::now(), 30 * DAY).unwrap();
    assert_eq!(now.status, Status::Ok, "{}", now.table());
    assert_eq!(now.items.len(), 3, "{}", now.table());
    assert!(now.table().contains("anchor") && now.table().contains("leaf"));
    // Inside the warning window of the root (which also means the leaf has expired).
    let soon = check::check(&inputs, SystemTime::now() + 70 * DAY, 30 * DAY).unwrap();
    assert!(
        soon.items
            .iter()
            .any(|i| i.status == Status::Warning && i.kind == "anchor")
    );
    let late = check::check(&inputs, SystemTime::now() + 100 * DAY, 30 * DAY).unwrap();
    assert_eq!(late.status, Status::Error);
    assert!(late.table().contains("expired"), "{}", late.table());
    let json: serde_json::Value = serde_json::to_value(&late).unwrap();
    assert_eq!(json["status"], "error");
    assert!(json["items"][0]["seconds_left"].as_i64().unwrap() < 0);
}

#[test]
fn an_intermediate_whose_id_has_a_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    let ca = CaDir::init(&ca_dir, td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let store = store_of(&[&ca]);
    // openssl makes an intermediate under causeway's root, with a workload-style ID.
    let int = openssl_signed(
        tmp.path(),
        &ca_dir,
        "int",
        "subjectAltName=URI:spiffe://a.example/not-a-trust-domain\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    let int_dir = tmp.path().join("int-dir");
    std::fs::create_dir(&int_dir).unwrap();
    std::fs::copy(&int.cert, int_dir.join("ca.crt")).unwrap();
    std::fs::copy(&int.key, int_dir.join("ca.key")).unwrap();
    let leaf = openssl_signed(
        tmp.path(),
        &int_dir,
        "leaf",
        "subjectAltName=URI:spiffe://a.example/w\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    let mut chain = pem::read_certs(&leaf.cert).unwrap();
    chain.extend(pem::read_certs(&int.cert).unwrap());
    // openssl itself accepts the chain: the refusal is the SPIFFE rule, not a broken chain.
    let out = openssl_ok(&[
        "verify",
        "-CAfile",
        s(&ca_dir.join("ca.crt")),
        "-untrusted",
        s(&int.cert),
        s(&leaf.cert),
    ]);
    assert!(out.contains("OK"), "{out}");
    let err = svid::verify_chain(&chain, &store, Role::Server, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::SignerWithPath(_)), "{err}");
    assert!(
        err.to_string().contains("must name only the trust domain"),
        "{err}"
    );
}
