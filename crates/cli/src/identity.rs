//! `causeway identity …`: serve a trust domain's bundle, and federate with another's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use causeway_identity::ca::{CaDir, SvidRequest};
use causeway_identity::duration::parse_duration;
use causeway_identity::endpoint::{EndpointProfile, PublishedBundle, serve_bundle_endpoint};
use causeway_identity::federation::{FederationClient, FederationConfig, FederationProfile};
use causeway_identity::oidc::{PublishedKeys, issuer_router};
use causeway_identity::{SpiffeId, SvidSource, TrustBundle, TrustDomain, TrustStore, pem};

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
        /// How fetchers authenticate this endpoint.
        #[arg(long, value_enum, default_value = "https_spiffe")]
        profile: Profile,
        /// https_web: the serving certificate chain (PEM).
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
        /// The serving certificate chain (PEM).
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
                profile,
                cert,
                key,
                spiffe_id,
                refresh_hint,
            } => serve(dir, listen, profile, cert, key, spiffe_id, refresh_hint).await,
            IdentityCommand::ServeIssuer {
                dir,
                issuer,
                listen,
                cert,
                key,
            } => serve_issuer(dir, issuer, listen, cert, key).await,
            IdentityCommand::Federate {
                trust_domain,
                url,
                profile,
                endpoint_spiffe_id,
                bundle,
                ca_file,
                out,
                once,
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
                federate(trust_domain, url, profile, initial, out, once).await
            }
        }
    })
}

async fn serve(
    dir: PathBuf,
    listen: SocketAddr,
    profile: Profile,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    spiffe_id: Option<String>,
    refresh_hint: Duration,
) -> anyhow::Result<()> {
    let ca = CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
    let td = ca.ca().trust_domain().clone();
    let bundle_now = |ca: &CaDir| {
        let mut b = ca.bundle(SystemTime::now());
        b.set_refresh_hint(refresh_hint);
        b
    };
    let published = PublishedBundle::new(bundle_now(&ca));
    let mut tasks = Vec::new();
    let endpoint_profile = match profile {
        Profile::HttpsWeb => {
            let (Some(cert), Some(key)) = (cert, key) else {
                bail!("--profile https_web needs --cert and --key");
            };
            EndpointProfile::HttpsWeb {
                chain: pem::read_certs(&cert)?,
                key: pem::read_key(&key)?,
            }
        }
        Profile::HttpsSpiffe => {
            let id = match spiffe_id {
                Some(s) => SpiffeId::parse_workload(&s).context("invalid --spiffe-id")?,
                None => SpiffeId::parse(&format!("spiffe://{td}/causeway/bundle-endpoint"))?,
            };
            let req = SvidRequest {
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
            tasks.push(source.spawn_renewal_with(id, move || {
                CaDir::open(&dir2)
                    .and_then(|mut ca| ca.issue(&req))
                    .map_err(|e| e.to_string())
            }));
            EndpointProfile::HttpsSpiffe { svid: source }
        }
    };
    tasks.push(tokio::spawn(reload_bundle(
        dir.clone(),
        published.clone(),
        refresh_hint,
    )));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, trust_domain = %td, ?profile, "serving the SPIFFE bundle at https://{listen}/");
    serve_bundle_endpoint(listener, endpoint_profile, published, shutdown_signal()).await?;
    for t in tasks {
        t.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn serve_issuer(
    dir: PathBuf,
    issuer: String,
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
) -> anyhow::Result<()> {
    if !issuer.starts_with("https://") || issuer.len() <= "https://".len() {
        bail!("--issuer must be an https:// URL, not {issuer:?}");
    }
    let keys = PublishedKeys::default();
    let jwks = |dir: &Path| -> anyhow::Result<Vec<causeway_identity::jwk::Jwk>> {
        let ca = CaDir::open(dir).with_context(|| format!("opening CA {}", dir.display()))?;
        Ok(ca
            .bundle(SystemTime::now())
            .jwt_authorities()
            .values()
            .cloned()
            .map(|mut k| {
                // In an OIDC JWKS the keys are for signatures.
                k.use_ = Some("sig".into());
                k
            })
            .collect())
    };
    keys.set(jwks(&dir)?);
    let tls =
        causeway_identity::http::web_server_config(pem::read_certs(&cert)?, pem::read_key(&key)?)?;
    let reload = {
        let keys = keys.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                match jwks(&dir) {
                    Ok(k) if k != keys.get() => {
                        tracing::info!(keys = k.len(), "JWKS changed; serving the new one");
                        keys.set(k);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot re-read the CA directory"),
                }
            }
        })
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, %issuer, "serving OIDC discovery and JWKS");
    causeway_identity::http::serve_tls(
        listener,
        Arc::new(tls),
        issuer_router(&issuer, keys),
        shutdown_signal(),
    )
    .await;
    reload.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Re-reads the CA directory every few seconds, so a rotation shows in the bundle served.
async fn reload_bundle(dir: PathBuf, published: PublishedBundle, hint: Duration) {
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
                    published.set(b);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot re-read the CA directory"),
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
    tracing::info!(trust_domain = %td, %url, out = %out.display(), "federating");
    let task = client.spawn();
    let writer = tokio::spawn(write_on_change(trust, td, out));
    shutdown_signal().await;
    task.abort();
    writer.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Writes the trust domain's bundle to `out` each time it changes.
async fn write_on_change(trust: TrustStore, td: TrustDomain, out: PathBuf) {
    let mut written: Option<Arc<TrustBundle>> = None;
    loop {
        if let Some(b) = trust.get(&td)
            && written.as_ref() != Some(&b)
        {
            match write_bundle(&out, &b) {
                Ok(()) => {
                    tracing::info!(sequence = b.sequence(), path = %out.display(), "wrote bundle");
                    written = Some(b);
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
