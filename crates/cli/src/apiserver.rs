//! `causeway apiserver`: the Kubernetes API on the store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use causeway_apiserver::bootstrap::Pki;
use causeway_apiserver::storage::{Embedded, Etcd, Storage};
use causeway_apiserver::{Api, Config};
use causeway_store::{Datastore, Store, StoreConfig};

/// Serve a Kubernetes-compatible API (discovery, built-in kinds, CRDs,
/// watch) over an embedded store or any etcd v3 endpoint.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to serve HTTPS on.
    #[arg(
        long,
        default_value = "127.0.0.1:6443",
        env = "CAUSEWAY_APISERVER_LISTEN"
    )]
    listen: SocketAddr,

    /// The embedded store: sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB.
    /// Ignored with --etcd-servers.
    #[arg(long, default_value = "sqlite://./.causeway/apiserver.db")]
    datastore: String,

    /// Use these etcd v3 endpoints (causeway store or etcd), comma-separated,
    /// instead of the embedded store.
    #[arg(long, value_delimiter = ',')]
    etcd_servers: Vec<String>,

    /// Where the CA, serving certificate, admin token and kubeconfig live.
    #[arg(long, default_value = "./.causeway")]
    data_dir: PathBuf,

    /// The range ClusterIPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,

    /// Extra host names or addresses for the serving certificate.
    #[arg(long, value_delimiter = ',')]
    tls_san: Vec<String>,

    /// How often to compact the store's history (kube-apiserver's
    /// --etcd-compaction-interval); 0 turns it off.
    #[arg(long, default_value = "5m", value_parser = crate::store::parse_duration)]
    etcd_compaction_interval: Duration,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))?;
    let addr = listener.local_addr().unwrap_or(args.listen);
    let mut hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    if !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(args.tls_san.iter().cloned());
    let pki = Pki::load_or_create(&args.data_dir.join("pki"), &hosts).with_context(|| {
        format!(
            "cannot set up certificates under {}",
            args.data_dir.display()
        )
    })?;

    let (storage, store): (Arc<dyn Storage>, Option<Store>) = if args.etcd_servers.is_empty() {
        let datastore: Datastore = args.datastore.parse()?;
        let store = Store::open(StoreConfig::new(datastore))
            .await
            .with_context(|| format!("cannot open the datastore {}", args.datastore))?;
        (Arc::new(Embedded::new(store.clone())), Some(store))
    } else {
        let etcd = Etcd::connect(&args.etcd_servers)
            .await
            .with_context(|| format!("cannot reach etcd at {}", args.etcd_servers.join(",")))?;
        (Arc::new(etcd), None)
    };
    let api = Api::new(
        storage,
        Config {
            admin_token: pki.admin_token.clone(),
            service_cidr: args.service_cluster_ip_range.clone(),
        },
    );
    api.warm_caches();
    causeway_apiserver::bootstrap::default_objects(&api)
        .await
        .context("cannot create the default namespaces")?;
    if !args.etcd_compaction_interval.is_zero() {
        api.start_compactor(args.etcd_compaction_interval);
    }
    let url = format!("https://{addr}");
    let kubeconfig_path = args.data_dir.join("admin.kubeconfig");
    // The data directory exists: the PKI was just set up under it.
    causeway_identity::pem::write_private(&kubeconfig_path, pki.kubeconfig(&url).as_bytes())?;
    let tls = pki.server_config()?;
    eprintln!("causeway apiserver: serving the Kubernetes API on {url}");
    eprintln!(
        "  try: kubectl --kubeconfig {} get namespaces",
        kubeconfig_path.display()
    );
    causeway_apiserver::serve(api, listener, tls, crate::signals::terminated()).await?;
    if let Some(store) = store {
        store.close().await;
    }
    Ok(())
}
