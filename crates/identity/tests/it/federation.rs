//! Federation between bundle endpoints on 127.0.0.1: a root rotation on one side followed
//! by the other before the old root is dropped, an endpoint that goes down and comes back,
//! early refresh on an unknown key, and fetches that must be refused.

use std::time::{Duration, SystemTime};

use causeway_identity::ca::{CaDir, DEFAULT_ROOT_LIFETIME, RotationStep};
use causeway_identity::endpoint::{EndpointProfile, PublishedBundle, serve_bundle_endpoint};
use causeway_identity::federation::{
    FederationClient, FederationConfig, FederationError, FederationProfile, FetchOutcome,
};
use causeway_identity::jwt::{JwtSigner, verify_jwt_svid};
use causeway_identity::source::ServingCert;
use causeway_identity::svid::{self, Role};
use causeway_identity::{SpiffeId, SvidRequest, SvidSource, TrustBundle, TrustStore, X509Svid};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::*;

const HINT: Duration = Duration::from_secs(1);

/// One trust domain with its CA and a bundle endpoint.
struct Side {
    ca: CaDir,
    published: PublishedBundle,
    endpoint_svid: SvidSource,
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Side {
    fn new(name: &str, hint: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CaDir::init(&dir.path().join("ca"), td(name), DEFAULT_ROOT_LIFETIME).unwrap();
        let svid = ca
            .issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: SpiffeId::parse(&format!("spiffe://{name}/bundle-endpoint")).unwrap(),
                dns_names: vec!["localhost".into()],
                ttl: Duration::from_secs(3600),
            })
            .unwrap();
        let mut bundle = ca.bundle(SystemTime::now());
        bundle.set_refresh_hint(hint);
        Self {
            ca,
            published: PublishedBundle::new(bundle),
            endpoint_svid: SvidSource::new(svid).unwrap(),
            port: 0,
            stop: None,
            _dir: dir,
        }
    }

    fn td(&self) -> causeway_identity::TrustDomain {
        self.ca.ca().trust_domain().clone()
    }

    fn endpoint_id(&self) -> SpiffeId {
        SpiffeId::parse(&format!("spiffe://{}/bundle-endpoint", self.td())).unwrap()
    }

    fn bundle(&self) -> TrustBundle {
        (*self.published.get()).clone()
    }

    /// Publishes the CA directory's current bundle, keeping the hint.
    fn republish(&self) {
        let hint = self.published.get().refresh_hint();
        let mut b = self.ca.bundle(SystemTime::now());
        b.set_refresh_hint(hint);
        self.published.set(b);
    }

    async fn start(&mut self, spiffe_profile: bool) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.port = listener.local_addr().unwrap().port();
        let profile = if spiffe_profile {
            EndpointProfile::HttpsSpiffe {
                svid: self.endpoint_svid.clone(),
            }
        } else {
            let svid = self.endpoint_svid.current();
            EndpointProfile::HttpsWeb {
                cert: ServingCert::new(svid.chain().to_vec(), svid.key().clone_key()).unwrap(),
            }
        };
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve_bundle_endpoint(
            listener,
            profile,
            self.published.clone(),
            async {
                let _ = rx.await;
            },
        ));
        self.stop = Some(tx);
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    fn issue(&mut self, path: &str) -> X509Svid {
        self.ca
            .issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: SpiffeId::parse(&format!("spiffe://{}{path}", self.td())).unwrap(),
                dns_names: vec![],
                ttl: Duration::from_secs(3600),
            })
            .unwrap()
    }

    /// A federation client for this side's trust domain, writing into `trust`.
    fn client(&self, trust: &TrustStore, spiffe_profile: bool) -> FederationClient {
        let (profile, url, initial) = if spiffe_profile {
            (
                FederationProfile::HttpsSpiffe {
                    endpoint_id: self.endpoint_id(),
                },
                format!("https://127.0.0.1:{}/bundle", self.port),
                Some(self.bundle()),
            )
        } else {
            (
                FederationProfile::HttpsWeb {
                    ca: vec![self.ca.ca().root().clone()],
                },
                format!("https://localhost:{}/", self.port),
                None,
            )
        };
        let mut config = FederationConfig::new(self.td(), url, profile);
        config.min_refresh_interval = Duration::from_millis(300);
        config.retry_interval = Duration::from_millis(500);
        FederationClient::new(config, trust.clone(), initial).unwrap()
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `cond` holds, or fails the test after 15 seconds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sequence(trust: &TrustStore, side: &Side) -> u64 {
    trust.get(&side.td()).map_or(0, |b| b.sequence())
}

fn verifies(trust: &TrustStore, svid: &X509Svid) -> bool {
    svid::verify_chain(svid.chain(), trust, Role::Client, SystemTime::now()).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_on_one_side_is_trusted_before_the_old_root_leaves() {
    let mut a = Side::new("a.example", HINT);
    let mut b = Side::new("b.example", HINT);
    a.start(true).await;
    b.start(true).await;
    // Each side holds its own bundle and federates with the other over https_spiffe.
    let at_a = TrustStore::with([a.bundle()]);
    let at_b = TrustStore::with([b.bundle()]);
    let ta = b.client(&at_a, true).spawn();
    let tb = a.client(&at_b, true).spawn();

    let old = b.issue("/ns/shop/sa/cart");
    assert!(verifies(&at_a, &old));
    assert!(verifies(&at_b, &a.issue("/ns/web/sa/front")));

    // B stages a new root: published at once, signing nothing yet.
    assert_eq!(
        b.ca.rotate(None, DEFAULT_ROOT_LIFETIME).unwrap(),
        RotationStep::Staged
    );
    b.republish();
    let staged_seq = b.bundle().sequence();
    eventually("A to hold B's staged root", || {
        at_a.get(&b.td())
            .is_some_and(|x| x.x509_authorities().len() == 2)
    })
    .await;
    assert_eq!(sequence(&at_a, &b), staged_seq);
    // A trusts SVIDs of the new root before that root has signed anything for real.
    let early =
        causeway_identity::ca::CertificateAuthority::load(&b.ca.path().join("next")).unwrap();
    assert!(verifies(
        &at_a,
        &issue(&early, "spiffe://b.example/early", HOUR)
    ));

    // B activates it, and its endpoint now presents an SVID of the new root: A, holding
    // the new root already, still authenticates the endpoint.
    let RotationStep::Activated { drop_after } = b.ca.rotate(None, DEFAULT_ROOT_LIFETIME).unwrap()
    else {
        panic!("expected activation");
    };
    b = reopen(b);
    let endpoint_svid = b.issue("/bundle-endpoint");
    b.endpoint_svid.set(endpoint_svid).unwrap();
    b.republish();
    let active_seq = b.bundle().sequence();
    eventually("A to fetch B's activated bundle", || {
        sequence(&at_a, &b) == active_seq
    })
    .await;
    let new = b.issue("/ns/shop/sa/cart");
    assert!(verifies(&at_a, &new), "new root trusted");
    assert!(
        verifies(&at_a, &old),
        "old root still trusted during the overlap"
    );

    // Once everything the old root signed has expired, B drops it, and so does A.
    let after = SystemTime::UNIX_EPOCH + Duration::from_secs(drop_after + 1);
    assert_eq!(
        b.ca.prune(after).unwrap(),
        2,
        "the old root and the old JWT key"
    );
    b.republish();
    let pruned_seq = b.bundle().sequence();
    eventually("A to drop B's old root", || {
        sequence(&at_a, &b) == pruned_seq
    })
    .await;
    assert!(!verifies(&at_a, &old));
    assert!(verifies(&at_a, &new));
    // Federation never touched A's own bundle.
    assert_eq!(at_a.get(&a.td()).unwrap().as_ref(), &a.bundle());
    ta.abort();
    tb.abort();
}

const HOUR: Duration = Duration::from_secs(3600);

/// Re-reads a side's CA directory after rotation changed it on disk.
fn reopen(mut side: Side) -> Side {
    side.ca = CaDir::open(side.ca.path()).unwrap();
    side
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_goes_down_and_comes_back() {
    let mut b = Side::new("b.example", HINT);
    b.start(false).await;
    let at_a = TrustStore::new();
    let task = b.client(&at_a, false).spawn();
    eventually("the first fetch over https_web", || {
        sequence(&at_a, &b) == 1
    })
    .await;
    let svid = b.issue("/w");
    assert!(verifies(&at_a, &svid));

    b.stop();
    // Several refresh hints pass with the endpoint down: the last good bundle stays.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sequence(&at_a, &b), 1);
    assert!(verifies(&at_a, &svid));

    // It comes back on the same port, with a newer bundle.
    assert_eq!(
        b.ca.rotate(None, DEFAULT_ROOT_LIFETIME).unwrap(),
        RotationStep::Staged
    );
    b.republish();
    b.start(false).await;
    eventually("the fetch after the endpoint returned", || {
        sequence(&at_a, &b) == 2
    })
    .await;
    assert_eq!(at_a.get(&b.td()).unwrap().x509_authorities().len(), 2);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_triggers_an_early_fetch() {
    // A one-hour hint: only the early fetch can explain the new key arriving in seconds.
    let mut b = Side::new("b.example", Duration::from_secs(3600));
    b.start(false).await;
    let at_a = TrustStore::new();
    let task = b.client(&at_a, false).spawn();
    eventually("the first fetch", || sequence(&at_a, &b) == 1).await;

    let next_key = JwtSigner::generate().unwrap();
    let mut bundle = b.bundle();
    bundle.add_jwt_authority(next_key.kid().into(), next_key.public_jwk());
    bundle.set_sequence(2);
    b.published.set(bundle);
    let token = next_key
        .mint_svid(
            &SpiffeId::parse("spiffe://b.example/ns/x/sa/y").unwrap(),
            &["a".into()],
            Duration::from_secs(300),
        )
        .unwrap();
    let first = verify_jwt_svid(&token, &at_a, "a", SystemTime::now());
    assert!(first.is_err(), "the key is not known yet");
    eventually("the early fetch", || {
        verify_jwt_svid(&token, &at_a, "a", SystemTime::now()).is_ok()
    })
    .await;
    assert_eq!(sequence(&at_a, &b), 2);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_foreign_bundles_are_refused() {
    let mut b = Side::new("b.example", HINT);
    let mut c = Side::new("c.example", HINT);
    b.start(true).await;
    c.start(true).await;
    let at_a = TrustStore::new();
    let client = b.client(&at_a, true);
    assert_eq!(
        client.fetch_once().await.unwrap(),
        FetchOutcome::Unchanged,
        "the initial bundle is what the endpoint serves"
    );

    // A sequence number going backwards is a stale or replayed bundle.
    let mut newer = b.bundle();
    newer.set_sequence(5);
    at_a.set(newer.clone());
    let err = client.fetch_once().await.unwrap_err();
    assert!(
        matches!(
            err,
            FederationError::SequenceRollback {
                held: 5,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(at_a.get(&b.td()).unwrap().as_ref(), &newer);

    // Pointing b.example's client at c.example's endpoint: the endpoint cannot prove it
    // is b.example's, so nothing is taken and b's bundle is kept.
    let mut cfg = FederationConfig::new(
        b.td(),
        format!("https://127.0.0.1:{}/", c.port),
        FederationProfile::HttpsSpiffe {
            endpoint_id: b.endpoint_id(),
        },
    );
    cfg.min_refresh_interval = Duration::from_millis(100);
    let wrong = FederationClient::new(cfg, at_a.clone(), None).unwrap();
    let err = wrong.fetch_once().await.unwrap_err();
    assert!(matches!(err, FederationError::Fetch { .. }), "{err}");
    let chain = error_chain(&err);
    assert!(chain.contains("c.example"), "{chain}");
    assert_eq!(at_a.get(&b.td()).unwrap().as_ref(), &newer);
    assert!(
        at_a.get(&c.td()).is_none(),
        "bundles are never merged across trust domains"
    );

    // https_spiffe needs a bundle to authenticate the first fetch.
    let cfg = FederationConfig::new(
        c.td(),
        format!("https://127.0.0.1:{}/", c.port),
        FederationProfile::HttpsSpiffe {
            endpoint_id: c.endpoint_id(),
        },
    );
    assert!(matches!(
        FederationClient::new(cfg, TrustStore::new(), None).unwrap_err(),
        FederationError::NoInitialBundle(_)
    ));
}

/// An error and its causes, joined, for assertions on the reason.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
