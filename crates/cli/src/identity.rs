//! `causeway identity …`: serve a trust domain's bundle, and federate with another's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use causeway_identity::ca::{CaDir, SvidRequest};
use causeway_identity::duration::parse_duration;
use causeway_identity::endpoint::{EndpointProfile, PublishedBundle, bundle_router, endpoint_tls};
use causeway_identity::federation::{FederationClient, FederationConfig, FederationProfile};
use causeway_identity::metrics::{FederationMetrics, Reloaded, ServeMetrics};
use causeway_identity::oidc::{PublishedKeys, issuer_router};
use causeway_identity::{
    ServingCert, SpiffeId, SvidSource, TrustBundle, TrustDomain, TrustStore, pem,
};
use causeway_ops::{Ops, Readiness};
use prometheus_client::registry::Registry;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;

/// How often the `https_web` serving certificate and key files are re-read.
const SERVING_CERT_POLL: Duration = Duration::from_secs(2);

/// Serve and federate SPIFFE trust bundles.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    #[command(subcommand)]
    command: IdentityCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum Profile {
    /// A Web PKI serving certificate.
    HttpsWeb,
    /// An SVID of the trust domain.
    HttpsSpiffe,
}

#[derive(Debug, clap::Subcommand)]
enum IdentityCommand {
    /// Serve the CA directory's SPIFFE bundle at https://LISTEN/ until SIGTERM or Ctrl-C.
    /// Rotations made with `causeway ca rotate` are served within seconds.
    ServeBundle {
        /// The CA directory.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Address for Prometheus metrics (/metrics) and readiness (/readyz), over plain
        /// HTTP. The default is apart from every other role's: serve-issuer's 8444 and 8454,
        /// federate's 8455, the store's 2381, the gateway's 4191.
        #[arg(long, default_value = "127.0.0.1:8453")]
        metrics_listen: SocketAddr,
        /// How fetchers authenticate this endpoint.
        #[arg(long, value_enum, default_value = "https_spiffe")]
        profile: Profile,
        /// https_web: the serving certificate chain (PEM). It and --key are re-read every
        /// few seconds: a new pair is used from the next handshake on, open connections
        /// keep theirs, and a pair that does not load keeps the current one.
        #[arg(long, required_if_eq("profile", "https_web"))]
        cert: Option<PathBuf>,
        /// https_web: the serving key (PEM).
        #[arg(long, required_if_eq("profile", "https_web"))]
        key: Option<PathBuf>,
        /// https_spiffe: the endpoint's SPIFFE ID (default spiffe://TD/causeway/bundle-endpoint).
        #[arg(long)]
        spiffe_id: Option<String>,
        /// The refresh hint put in the bundle.
        #[arg(long, value_parser = parse_duration, default_value = "5m")]
        refresh_hint: Duration,
    },
    /// Serve this cluster's OIDC discovery document and JWKS (the CA directory's JWT keys,
    /// current, staged and retired), so other clusters can trust its tokens, until SIGTERM
    /// or Ctrl-C.
    ServeIssuer {
        /// The CA directory.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
        /// The issuer URL, exactly as tokens carry it in `iss`.
        #[arg(long)]
        issuer: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8444")]
        listen: SocketAddr,
        /// Address for Prometheus metrics (/metrics) and readiness (/readyz), over plain
        /// HTTP. The default is apart from every other role's: serve-bundle's 8443 and 8453,
        /// federate's 8455, the store's 2381, the gateway's 4191.
        #[arg(long, default_value = "127.0.0.1:8454")]
        metrics_listen: SocketAddr,
        /// The serving certificate chain (PEM). It and --key are re-read every few seconds:
        /// a new pair is used from the next handshake on, open connections keep theirs, and
        /// a pair that does not load keeps the current one.
        #[arg(long)]
        cert: PathBuf,
        /// The serving key (PEM).
        #[arg(long)]
        key: PathBuf,
    },
    /// Keep a foreign trust domain's bundle fresh from its bundle endpoint, writing it to
    /// --out whenever it changes, until SIGTERM or Ctrl-C.
    Federate {
        /// The foreign trust domain.
        #[arg(long)]
        trust_domain: TrustDomain,
        /// Its bundle endpoint.
        #[arg(long)]
        url: String,
        /// How the endpoint is authenticated.
        #[arg(long, value_enum)]
        profile: Profile,
        /// https_spiffe: the endpoint's SPIFFE ID.
        #[arg(long, required_if_eq("profile", "https_spiffe"))]
        endpoint_spiffe_id: Option<String>,
        /// https_spiffe: the bundle to start from (SPIFFE bundle JSON), obtained out of band.
        #[arg(long, required_if_eq("profile", "https_spiffe"))]
        bundle: Option<PathBuf>,
        /// https_web: CA certificates (PEM) for the endpoint's serving certificate.
        #[arg(long, required_if_eq("profile", "https_web"))]
        ca_file: Option<PathBuf>,
        /// Where to write the bundle (default ./.causeway/bundles/TD.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Fetch once, print the bundle and exit.
        #[arg(long)]
        once: bool,
        /// Address for Prometheus metrics (/metrics) and readiness (/readyz, ready once the
        /// bundle is written to --out), over plain HTTP; not served with --once. The default
        /// is apart from every other role's: serve-bundle's 8453, serve-issuer's 8454, the
        /// store's 2381, the gateway's 4191.
        #[arg(long, default_value = "127.0.0.1:8455")]
        metrics_listen: SocketAddr,
    },
}

/// Runs a `causeway identity` command.
pub fn run(args: IdentityArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            IdentityCommand::ServeBundle {
                dir,
                listen,
                metrics_listen,
                profile,
                cert,
                key,
                spiffe_id,
                refresh_hint,
            } => {
                serve(
                    dir,
                    (listen, metrics_listen),
                    profile,
                    cert,
                    key,
                    spiffe_id,
                    refresh_hint,
                )
                .await
            }
            IdentityCommand::ServeIssuer {
                dir,
                issuer,
                listen,
                metrics_listen,
                cert,
                key,
            } => serve_issuer(dir, issuer, listen, metrics_listen, cert, key).await,
            IdentityCommand::Federate {
                trust_domain,
                url,
                profile,
                endpoint_spiffe_id,
                bundle,
                ca_file,
                out,
                once,
                metrics_listen,
            } => {
                let profile = match profile {
                    Profile::HttpsWeb => FederationProfile::HttpsWeb {
                        ca: pem::read_certs(&ca_file.context("--ca-file is required")?)?,
                    },
                    Profile::HttpsSpiffe => FederationProfile::HttpsSpiffe {
                        endpoint_id: SpiffeId::parse_workload(
                            &endpoint_spiffe_id.context("--endpoint-spiffe-id is required")?,
                        )
                        .context("invalid --endpoint-spiffe-id")?,
                    },
                };
                let initial = match &bundle {
                    Some(p) => Some(
                        TrustBundle::from_json(trust_domain.clone(), &pem::read(p)?)
                            .with_context(|| format!("reading {}", p.display()))?,
                    ),
                    None => None,
                };
                let out = out.unwrap_or_else(|| {
                    PathBuf::from(format!("./.causeway/bundles/{trust_domain}.json"))
                });
                federate(
                    trust_domain,
                    url,
                    profile,
                    initial,
                    out,
                    once,
                    metrics_listen,
                )
                .await
            }
        }
    })
}

/// The API listener and the operations (metrics and readiness) listener of a role.
struct Listeners {
    api: TcpListener,
    ops: TcpListener,
}

impl Listeners {
    /// Binds both, refusing one address for both with a message that says so.
    async fn bind(listen: SocketAddr, metrics_listen: SocketAddr) -> anyhow::Result<Self> {
        let same_ip = listen.ip() == metrics_listen.ip()
            || listen.ip().is_unspecified()
            || metrics_listen.ip().is_unspecified();
        if listen.port() != 0 && listen.port() == metrics_listen.port() && same_ip {
            bail!(
                "--listen {listen} and --metrics-listen {metrics_listen} must be different addresses"
            );
        }
        let api = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (--listen)"))?;
        let ops = bind_ops(metrics_listen).await?;
        Ok(Self { api, ops })
    }
}

async fn bind_ops(metrics_listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(metrics_listen)
        .await
        .with_context(|| format!("listening for metrics on {metrics_listen} (--metrics-listen)"))
}

/// The operations endpoint running beside a role, until [`stop`](Self::stop).
struct OpsServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl OpsServer {
    fn start(listener: TcpListener, ops: Ops) -> Self {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving metrics at http://{addr}/metrics and readiness at /readyz");
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(causeway_ops::serve(listener, ops, async {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the metrics server panicked")?
            .context("the metrics server failed")
    }
}

/// The shutdown signal of a role: readiness turns to 503 as soon as it arrives, before the
/// listeners close.
async fn stopping(readiness: Readiness) {
    shutdown_signal().await;
    readiness.set_stopping();
}

/// What the bundle endpoint presents to fetchers, for the expiry metric.
enum Presented {
    Web(ServingCert),
    Spiffe(SvidSource),
}

impl Presented {
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        match self {
            Presented::Web(c) => c.chain(),
            Presented::Spiffe(s) => s.current().chain().to_vec(),
        }
    }
}

/// Loads the serving certificate and key, and re-reads them every few seconds, counting
/// reloads and failures.
fn serving_cert(
    cert: PathBuf,
    key: PathBuf,
    metrics: &ServeMetrics,
) -> anyhow::Result<(ServingCert, tokio::task::JoinHandle<()>)> {
    let serving = ServingCert::load(&cert, &key).with_context(|| {
        format!(
            "loading the serving certificate {} and key {}",
            cert.display(),
            key.display()
        )
    })?;
    let metrics = metrics.clone();
    metrics.watch(Reloaded::ServingCert);
    let watch = serving.spawn_file_reload(cert, key, SERVING_CERT_POLL, move |r| match r {
        Ok(()) => metrics.reloaded(Reloaded::ServingCert),
        Err(_) => metrics.reload_failed(Reloaded::ServingCert),
    });
    Ok((serving, watch))
}

async fn serve(
    dir: PathBuf,
    (listen, metrics_listen): (SocketAddr, SocketAddr),
    profile: Profile,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    spiffe_id: Option<String>,
    refresh_hint: Duration,
) -> anyhow::Result<()> {
    let ca = CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
    let td = ca.ca().trust_domain().clone();
    let mut registry = Registry::default();
    let metrics = ServeMetrics::new(&mut registry);
    let bundle_now = |ca: &CaDir| {
        let mut b = ca.bundle(SystemTime::now());
        b.set_refresh_hint(refresh_hint);
        b
    };
    let published = PublishedBundle::new(bundle_now(&ca));
    metrics.set_sequence(published.get().sequence());
    let mut tasks = Vec::new();
    let (endpoint_profile, presented) = match profile {
        Profile::HttpsWeb => {
            let (Some(cert), Some(key)) = (cert, key) else {
                bail!("--profile https_web needs --cert and --key");
            };
            let (serving, watch) = serving_cert(cert, key, &metrics)?;
            tasks.push(watch);
            (
                EndpointProfile::HttpsWeb {
                    cert: serving.clone(),
                },
                Presented::Web(serving),
            )
        }
        Profile::HttpsSpiffe => {
            let id = match spiffe_id {
                Some(s) => SpiffeId::parse_workload(&s).context("invalid --spiffe-id")?,
                None => SpiffeId::parse(&format!("spiffe://{td}/causeway/bundle-endpoint"))?,
            };
            let req = SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id: id,
                dns_names: vec![],
                ttl: Duration::from_secs(86_400),
            };
            let mut ca = ca;
            let svid = ca.issue(&req)?;
            let source = SvidSource::new(svid)?;
            // The endpoint's own SVID renews itself at half its lifetime. The directory is
            // re-read each time so that after `ca rotate` the active CA signs, and the
            // expiry is recorded for the old root's retirement.
            let id = req.spiffe_id.to_string();
            let dir2 = dir.clone();
            let m = metrics.clone();
            m.watch(Reloaded::Svid);
            tasks.push(source.spawn_renewal_with(id, move || {
                let issued = CaDir::open(&dir2)
                    .and_then(|mut ca| ca.issue(&req))
                    .map_err(|e| e.to_string());
                match &issued {
                    Ok(_) => m.reloaded(Reloaded::Svid),
                    Err(_) => m.reload_failed(Reloaded::Svid),
                }
                issued
            }));
            (
                EndpointProfile::HttpsSpiffe {
                    svid: source.clone(),
                },
                Presented::Spiffe(source),
            )
        }
    };
    let tls = endpoint_tls(endpoint_profile)?;
    let listeners = Listeners::bind(listen, metrics_listen).await?;
    tasks.push(tokio::spawn(reload_bundle(
        dir.clone(),
        published.clone(),
        refresh_hint,
        metrics.clone(),
    )));
    let readiness = Readiness::new();
    let ops = Ops::new(registry, readiness.clone()).before_scrape({
        let (published, metrics) = (published.clone(), metrics.clone());
        move || {
            let mut certs = published.get().x509_authorities().to_vec();
            certs.extend(presented.chain());
            metrics.set_earliest_expiry(&certs, SystemTime::now());
        }
    });
    let ops = OpsServer::start(listeners.ops, ops);
    tracing::info!(%listen, trust_domain = %td, ?profile, "serving the SPIFFE bundle at https://{listen}/");
    // Listening, with a bundle loaded: fetchers can be sent here.
    readiness.set_ready();
    causeway_identity::http::serve_tls(
        listeners.api,
        Arc::new(tls),
        metrics.instrument(bundle_router(published)),
        stopping(readiness),
    )
    .await;
    for t in tasks {
        t.abort();
    }
    ops.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn serve_issuer(
    dir: PathBuf,
    issuer: String,
    listen: SocketAddr,
    metrics_listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
) -> anyhow::Result<()> {
    if !issuer.starts_with("https://") || issuer.len() <= "https://".len() {
        bail!("--issuer must be an https:// URL, not {issuer:?}");
    }
    let mut registry = Registry::default();
    let metrics = ServeMetrics::new(&mut registry);
    let keys = PublishedKeys::default();
    // The JWKS with the sequence of the bundle it comes from.
    let jwks = |dir: &Path| -> anyhow::Result<(u64, Vec<causeway_identity::jwk::Jwk>)> {
        let ca = CaDir::open(dir).with_context(|| format!("opening CA {}", dir.display()))?;
        let bundle = ca.bundle(SystemTime::now());
        let keys = bundle
            .jwt_authorities()
            .values()
            .cloned()
            .map(|mut k| {
                // In an OIDC JWKS the keys are for signatures.
                k.use_ = Some("sig".into());
                k
            })
            .collect();
        Ok((bundle.sequence(), keys))
    };
    let (sequence, initial) = jwks(&dir)?;
    keys.set(initial);
    metrics.set_sequence(sequence);
    let (serving, watch) = serving_cert(cert, key, &metrics)?;
    let tls = causeway_identity::http::web_server_config_with(Arc::new(serving.clone()))?;
    let listeners = Listeners::bind(listen, metrics_listen).await?;
    metrics.watch(Reloaded::Jwks);
    let reload = {
        let (keys, metrics) = (keys.clone(), metrics.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                match jwks(&dir) {
                    Ok((sequence, k)) if k != keys.get() => {
                        tracing::info!(keys = k.len(), "JWKS changed; serving the new one");
                        keys.set(k);
                        metrics.set_sequence(sequence);
                        metrics.reloaded(Reloaded::Jwks);
                    }
                    Ok((sequence, _)) => metrics.set_sequence(sequence),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot re-read the CA directory");
                        metrics.reload_failed(Reloaded::Jwks);
                    }
                }
            }
        })
    };
    let readiness = Readiness::new();
    let ops = Ops::new(registry, readiness.clone()).before_scrape({
        let metrics = metrics.clone();
        move || metrics.set_earliest_expiry(&serving.chain(), SystemTime::now())
    });
    let ops = OpsServer::start(listeners.ops, ops);
    tracing::info!(%listen, %issuer, "serving OIDC discovery and JWKS");
    // Listening, with the JWKS loaded.
    readiness.set_ready();
    causeway_identity::http::serve_tls(
        listeners.api,
        Arc::new(tls),
        metrics.instrument(issuer_router(&issuer, keys)),
        stopping(readiness),
    )
    .await;
    reload.abort();
    watch.abort();
    ops.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Re-reads the CA directory every few seconds, so a rotation shows in the bundle served.
async fn reload_bundle(
    dir: PathBuf,
    published: PublishedBundle,
    hint: Duration,
    metrics: ServeMetrics,
) {
    metrics.watch(Reloaded::Bundle);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match CaDir::open(&dir) {
            Ok(ca) => {
                let mut b = ca.bundle(SystemTime::now());
                b.set_refresh_hint(hint);
                if b != *published.get() {
                    tracing::info!(
                        sequence = b.sequence(),
                        "bundle changed; serving the new one"
                    );
                    metrics.set_sequence(b.sequence());
                    metrics.reloaded(Reloaded::Bundle);
                    published.set(b);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the CA directory");
                metrics.reload_failed(Reloaded::Bundle);
            }
        }
    }
}

async fn federate(
    td: TrustDomain,
    url: String,
    profile: FederationProfile,
    initial: Option<TrustBundle>,
    out: PathBuf,
    once: bool,
    metrics_listen: SocketAddr,
) -> anyhow::Result<()> {
    let trust = TrustStore::new();
    let client = FederationClient::new(
        FederationConfig::new(td.clone(), url.clone(), profile),
        trust.clone(),
        initial,
    )?;
    if once {
        client.fetch_once().await?;
        let b = trust
            .get(&td)
            .context("no bundle after a successful fetch")?;
        println!("{}", b.to_json());
        return Ok(());
    }
    let listener = bind_ops(metrics_listen).await?;
    let mut registry = Registry::default();
    let client = client.with_metrics(FederationMetrics::new(&mut registry));
    let readiness = Readiness::new();
    let ops = OpsServer::start(listener, Ops::new(registry, readiness.clone()));
    tracing::info!(trust_domain = %td, %url, out = %out.display(), "federating");
    let task = client.spawn();
    let writer = tokio::spawn(write_on_change(trust, td, out, readiness.clone()));
    stopping(readiness).await;
    task.abort();
    writer.abort();
    ops.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Writes the trust domain's bundle to `out` each time it changes. The role is ready once
/// a bundle is written: that file is what its consumers read.
async fn write_on_change(trust: TrustStore, td: TrustDomain, out: PathBuf, readiness: Readiness) {
    let mut written: Option<Arc<TrustBundle>> = None;
    loop {
        if let Some(b) = trust.get(&td)
            && written.as_ref() != Some(&b)
        {
            match write_bundle(&out, &b) {
                Ok(()) => {
                    tracing::info!(sequence = b.sequence(), path = %out.display(), "wrote bundle");
                    written = Some(b);
                    readiness.set_ready();
                }
                Err(e) => tracing::warn!(error = %e, "cannot write the bundle"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn write_bundle(out: &Path, b: &TrustBundle) -> anyhow::Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    pem::write_public(out, b.to_json().as_bytes())?;
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
