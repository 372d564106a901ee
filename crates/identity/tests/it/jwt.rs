//! JWT trust against PyJWT: service-account tokens minted by PyJWT and published through a
//! discovery document and JWKS this test serves over HTTPS, verified by causeway across a
//! key rotation; and causeway's JWT-SVIDs, bundle and issuer documents checked by PyJWT.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use causeway_identity::ca::{CaDir, CertificateAuthority, DEFAULT_ROOT_LIFETIME};
use causeway_identity::http::{serve_tls, web_server_config};
use causeway_identity::jwk::Jwk;
use causeway_identity::jwt::{JwtError, verify_jwt_svid};
use causeway_identity::oidc::{
    IssuerConfig, OidcError, OidcVerifier, PublishedKeys, TrustedIssuers, issuer_router,
};
use causeway_identity::{SpiffeId, SvidRequest, TrustBundle, TrustStore, pem};
use serde_json::json;
use tokio::sync::oneshot;

use crate::support::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HTTPS issuer on localhost serving whatever keys the test publishes.
struct Issuer {
    url: String,
    keys: PublishedKeys,
    ca_file: std::path::PathBuf,
    ca: CertificateAuthority,
    stop: Option<oneshot::Sender<()>>,
}

impl Issuer {
    async fn start(dir: &std::path::Path) -> Self {
        let ca =
            CertificateAuthority::new_root(td("issuer.example"), DEFAULT_ROOT_LIFETIME).unwrap();
        let cert = ca
            .issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: SpiffeId::parse("spiffe://issuer.example/oidc").unwrap(),
                dns_names: vec!["localhost".into()],
                ttl: Duration::from_secs(3600),
            })
            .unwrap();
        let ca_file = dir.join("issuer-ca.crt");
        std::fs::write(&ca_file, pem::encode_certs([ca.root()])).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let keys = PublishedKeys::default();
        let tls = web_server_config(cert.chain().to_vec(), cert.key().clone_key()).unwrap();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve_tls(
            listener,
            Arc::new(tls),
            issuer_router(&url, keys.clone()),
            async {
                let _ = rx.await;
            },
        ));
        Self {
            url,
            keys,
            ca_file,
            ca,
            stop: Some(tx),
        }
    }

    fn verifier(&self, min_refresh: Duration) -> OidcVerifier {
        let mut cfg = IssuerConfig::new(self.url.clone(), vec!["cluster-b".into()]);
        cfg.ca = vec![self.ca.root().clone()];
        cfg.prefix = "cluster-a:".into();
        cfg.min_refresh_interval = min_refresh;
        OidcVerifier::new(cfg).unwrap()
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn keygen(dir: &std::path::Path, alg: &str, kid: &str) -> (String, Jwk) {
    let path = dir.join(format!("{kid}.pem"));
    let jwk = pyjwt_ok(&["keygen", alg, s(&path), kid]);
    (s(&path).to_owned(), serde_json::from_str(&jwk).unwrap())
}

fn sign(alg: &str, key: &str, kid: &str, claims: serde_json::Value) -> String {
    pyjwt_ok(&["sign", alg, key, kid, &claims.to_string()])
}

fn sa_claims(iss: &str) -> serde_json::Value {
    json!({
        "iss": iss,
        "aud": ["cluster-b"],
        "sub": "system:serviceaccount:shop:cart",
        "exp": now() + 600,
        "nbf": now() - 10,
        "iat": now() - 10,
        "kubernetes.io": {"namespace": "shop", "serviceaccount": {"name": "cart", "uid": "u-123"}},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_from_pyjwt_through_oidc_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path()).await;
    let (k1_path, k1) = keygen(dir.path(), "RS256", "k1");
    issuer.keys.set(vec![k1.clone()]);
    let verifier = issuer.verifier(Duration::from_secs(2));

    let t1 = sign("RS256", &k1_path, "k1", sa_claims(&issuer.url));
    // The next key and its token are made now, so that no slow Python run falls between
    // the first fetch and the rate-limited one below.
    let (k2_path, k2) = keygen(dir.path(), "ES256", "k2");
    let t2 = sign("ES256", &k2_path, "k2", sa_claims(&issuer.url));
    let user = verifier.verify(&t1).await.unwrap();
    assert_eq!(user.username, "cluster-a:system:serviceaccount:shop:cart");
    assert_eq!(
        user.groups,
        vec![
            "cluster-a:system:serviceaccounts",
            "cluster-a:system:serviceaccounts:shop",
            "system:authenticated"
        ]
    );
    assert_eq!(user.uid.as_deref(), Some("u-123"));

    // Rotation: the issuer adds k2 and signs with it. The verifier refreshes early for the
    // unknown kid, but not more often than its rate limit allows.
    issuer.keys.set(vec![k1.clone(), k2.clone()]);
    let err = verifier.verify(&t2).await.unwrap_err();
    assert!(
        matches!(err, OidcError::Jwt(JwtError::UnknownKid(ref k)) if k == "k2"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let user = verifier.verify(&t2).await.unwrap();
    assert_eq!(user.name, "cart");
    // Tokens of the old key still verify during the overlap.
    verifier.verify(&t1).await.unwrap();

    // Each refusal says why.
    type Check = fn(&OidcError) -> bool;
    let cases: Vec<(serde_json::Value, &str, Check)> = vec![
        (json!({"aud": ["someone-else"]}), "ES256", |e| {
            matches!(e, OidcError::Jwt(JwtError::WrongAudience { .. }))
        }),
        (json!({"iss": "https://evil.example"}), "ES256", |e| {
            matches!(e, OidcError::Jwt(JwtError::WrongIssuer { .. }))
        }),
        (json!({"exp": now() - 120}), "ES256", |e| {
            matches!(e, OidcError::Jwt(JwtError::Expired(_)))
        }),
        (json!({"nbf": now() + 600}), "ES256", |e| {
            matches!(e, OidcError::Jwt(JwtError::NotYetValid(_)))
        }),
        (json!({"exp": null}), "ES256", |e| {
            matches!(e, OidcError::Jwt(JwtError::MissingClaim("exp")))
        }),
        (json!({"sub": "alice"}), "ES256", |e| {
            matches!(e, OidcError::NotServiceAccount(_))
        }),
        (
            json!({}),
            "none",
            |e| matches!(e, OidcError::Jwt(JwtError::AlgorithmNotAllowed(a)) if a == "none"),
        ),
        (
            json!({}),
            "HS256",
            |e| matches!(e, OidcError::Jwt(JwtError::AlgorithmNotAllowed(a)) if a == "HS256"),
        ),
    ];
    for (patch, alg, expected) in cases {
        let mut claims = sa_claims(&issuer.url);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        let tok = sign(alg, &k2_path, "k2", claims);
        let err = verifier.verify(&tok).await.unwrap_err();
        assert!(expected(&err), "{patch} {alg}: {err:?}");
        assert!(!err.to_string().is_empty());
    }
    // A token signed by a key the issuer never published.
    let (rogue_path, _) = keygen(dir.path(), "ES256", "k2-rogue");
    let forged = sign("ES256", &rogue_path, "k2", sa_claims(&issuer.url));
    assert!(matches!(
        verifier.verify(&forged).await.unwrap_err(),
        OidcError::Jwt(JwtError::BadSignature)
    ));

    // Among several trusted issuers, a token goes to its own issuer's verifier, and a
    // token of an issuer nobody trusts is refused by name.
    let mut issuers = TrustedIssuers::new();
    for url in ["https://localhost:1".to_owned(), issuer.url.clone()] {
        let mut cfg = IssuerConfig::new(url, vec!["cluster-b".into()]);
        cfg.ca = vec![issuer.ca.root().clone()];
        issuers.add(cfg).unwrap();
    }
    assert_eq!(
        issuers.verify(&t2).await.unwrap().username,
        "system:serviceaccount:shop:cart"
    );
    let tok = sign(
        "ES256",
        &k2_path,
        "k2",
        sa_claims("https://stranger.example"),
    );
    assert!(matches!(
        issuers.verify(&tok).await.unwrap_err(),
        OidcError::UntrustedIssuer(i) if i == "https://stranger.example"
    ));

    // The issuer goes away: keys already fetched keep working.
    drop(issuer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    verifier.verify(&t2).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn causeway_jwt_svids_and_issuer_documents_checked_by_pyjwt() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca = CaDir::init(&ca_dir, td("a.example"), DEFAULT_ROOT_LIFETIME).unwrap();
    let signer = ca.jwt_signer().unwrap();
    let id = SpiffeId::parse("spiffe://a.example/ns/shop/sa/cart").unwrap();
    let token = signer
        .mint_svid(&id, &["payments".into()], Duration::from_secs(300))
        .unwrap();
    let bundle = ca.bundle(SystemTime::now());

    // PyJWT reads causeway's SPIFFE bundle as a JWKS and verifies the JWT-SVID.
    let claims = pyjwt_ok(&["verify", &bundle.to_json(), &token, "payments"]);
    let claims: serde_json::Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["sub"], "spiffe://a.example/ns/shop/sa/cart");
    assert!(claims["exp"].as_u64().unwrap() > now());
    // And refuses it for another audience, so the check above could have failed.
    let (code, out) = pyjwt(&["verify", &bundle.to_json(), &token, "billing"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("InvalidAudienceError"), "{out}");

    // causeway verifies a JWT-SVID minted by PyJWT with a key placed in the bundle.
    let (key_path, jwk) = keygen(dir.path(), "ES256", "py-1");
    let mut with_py = bundle.clone();
    with_py.add_jwt_authority("py-1".into(), jwk);
    let trust = TrustStore::with([with_py]);
    let py_token = sign(
        "ES256",
        &key_path,
        "py-1",
        json!({"sub": "spiffe://a.example/ns/x/sa/y", "aud": "payments", "exp": now() + 60}),
    );
    let svid = verify_jwt_svid(&py_token, &trust, "payments", SystemTime::now()).unwrap();
    assert_eq!(svid.spiffe_id.to_string(), "spiffe://a.example/ns/x/sa/y");
    // Refusals: the subject must be a SPIFFE ID, and its trust domain must have a bundle.
    let bad_sub = sign(
        "ES256",
        &key_path,
        "py-1",
        json!({"sub": "alice", "aud": "payments", "exp": now() + 60}),
    );
    assert!(matches!(
        verify_jwt_svid(&bad_sub, &trust, "payments", SystemTime::now()),
        Err(JwtError::BadSubject(_))
    ));
    let other_td = sign(
        "ES256",
        &key_path,
        "py-1",
        json!({"sub": "spiffe://b.example/x", "aud": "payments", "exp": now() + 60}),
    );
    assert!(matches!(
        verify_jwt_svid(&other_td, &trust, "payments", SystemTime::now()),
        Err(JwtError::UnknownTrustDomain(_))
    ));
    let none = sign(
        "none",
        "",
        "py-1",
        json!({"sub": "spiffe://a.example/x", "aud": "payments", "exp": now() + 60}),
    );
    assert!(matches!(
        verify_jwt_svid(&none, &trust, "payments", SystemTime::now()),
        Err(JwtError::AlgorithmNotAllowed(_))
    ));
    // A bundle read back from JSON still verifies (jwt-svid keys survive the round trip).
    let reread = TrustBundle::from_json(td("a.example"), bundle.to_json().as_bytes()).unwrap();
    verify_jwt_svid(
        &token,
        &TrustStore::with([reread]),
        "payments",
        SystemTime::now(),
    )
    .unwrap();

    // causeway as an issuer: PyJWT's side fetches the discovery document and JWKS over
    // HTTPS and verifies a token causeway signed.
    let issuer = Issuer::start(dir.path()).await;
    issuer.keys.set(vec![signer.public_jwk()]);
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!(issuer.url));
    claims.insert("sub".into(), json!("system:serviceaccount:shop:cart"));
    claims.insert("aud".into(), json!(["cluster-b"]));
    claims.insert("exp".into(), json!(now() + 300));
    let sa_token = signer.sign(&claims, "JWT").unwrap();
    let out = pyjwt_ok(&[
        "fetch-verify",
        &issuer.url,
        s(&issuer.ca_file),
        &sa_token,
        "cluster-b",
    ]);
    assert!(out.contains("system:serviceaccount:shop:cart"), "{out}");
    // And causeway's own verifier accepts it through the same documents.
    let user = issuer
        .verifier(Duration::from_secs(10))
        .verify(&sa_token)
        .await
        .unwrap();
    assert_eq!(user.username, "cluster-a:system:serviceaccount:shop:cart");
}
