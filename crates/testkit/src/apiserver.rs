//! An API server inside the test process, on `127.0.0.1:0`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use causeway_apiserver::bootstrap::Pki;
use causeway_apiserver::storage::{Embedded, Etcd as EtcdStorage, Storage};
use causeway_apiserver::{Api, Config};
use causeway_store::{Datastore, Store, StoreConfig};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;

/// Where an [`ApiServer`] keeps its objects.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The store engine in-process, on SQLite in the server's directory.
    Embedded,
    /// An etcd v3 endpoint (`causeway store` or a real etcd).
    Etcd(String),
}

/// A running API server. Dropping it stops serving; [`ApiServer::stop`]
/// also waits for the store to close, so a restart can reopen it.
#[derive(Debug)]
pub struct ApiServer {
    url: String,
    pki: Pki,
    dir: Arc<TempDir>,
    api: Arc<Api>,
    store: Option<Store>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server on the embedded store in a new temporary directory.
    pub async fn start() -> Result<ApiServer, Error> {
        let dir = Arc::new(tempfile::Builder::new().prefix("causeway-api.").tempdir()?);
        ApiServer::start_in(dir, Backend::Embedded).await
    }

    /// Starts a server on `backend`, keeping its files in `dir` (give the
    /// directory of a stopped server to restart it on the same data).
    pub async fn start_in(dir: Arc<TempDir>, backend: Backend) -> Result<ApiServer, Error> {
        let fail = |what: &str, e: &dyn std::fmt::Display| Error::Missing(format!("{what}: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pki = Pki::load_or_create(&dir.path().join("pki"), &["127.0.0.1".into()])
            .map_err(|e| fail("certificates", &error_chain(&e)))?;
        let (storage, store): (Arc<dyn Storage>, Option<Store>) = match backend {
            Backend::Embedded => {
                let store = open_store(dir.path()).await?;
                (Arc::new(Embedded::new(store.clone())), Some(store))
            }
            Backend::Etcd(endpoint) => {
                let etcd = EtcdStorage::connect(&[endpoint])
                    .await
                    .map_err(|e| fail("etcd", &error_chain(&e)))?;
                (Arc::new(etcd), None)
            }
        };
        let api = Api::new(
            storage,
            Config {
                admin_token: pki.admin_token.clone(),
                ..Config::default()
            },
        );
        api.warm_caches();
        causeway_apiserver::bootstrap::default_objects(&api)
            .await
            .map_err(|e| fail("default objects", &error_chain(&e)))?;
        let tls = pki
            .server_config()
            .map_err(|e| fail("TLS", &error_chain(&e)))?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let serving = api.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = causeway_apiserver::serve(serving, listener, tls, shutdown).await {
                tracing::error!(error = %e, "test API server failed");
            }
        });
        Ok(ApiServer {
            url: format!("https://{addr}"),
            pki,
            dir,
            api,
            store,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's state, for tests that look inside.
    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    /// The directory holding the server's files.
    pub fn dir(&self) -> &Arc<TempDir> {
        &self.dir
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        &self.pki.admin_token
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> Result<Vec<u8>, Error> {
        let certs = causeway_identity::pem::decode_certs(self.pki.ca_pem.as_bytes(), "the test CA")
            .map_err(|e| Error::Missing(format!("CA certificate: {}", error_chain(&e))))?;
        certs
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .ok_or_else(|| Error::Missing("the test CA has no certificate".into()))
    }

    /// Writes an admin kubeconfig for kubectl and returns its path.
    pub fn write_kubeconfig(&self) -> Result<PathBuf, Error> {
        let path = self.dir.path().join("admin.kubeconfig");
        std::fs::write(&path, self.pki.kubeconfig(&self.url))?;
        Ok(path)
    }

    /// A kube-rs client with admin rights.
    pub fn client(&self) -> Result<kube::Client, Error> {
        let fail = |e: &dyn std::fmt::Display| Error::Missing(format!("kube client: {e}"));
        let mut config = kube::Config::new(self.url.parse().map_err(|e| fail(&e))?);
        config.root_cert = Some(vec![self.ca_der()?]);
        config.auth_info.token = Some(self.pki.admin_token.clone().into());
        config.default_namespace = "default".into();
        kube::Client::try_from(config).map_err(|e| fail(&e))
    }

    /// Stops serving, ends watches, and closes the store.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(store) = self.store.take() {
            store.close().await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Opens the SQLite store in `dir`. A server stopped a moment ago may still
/// be letting go of it (its background tasks finish after `stop`), so a
/// store in use is retried for a few seconds.
async fn open_store(dir: &Path) -> Result<Store, Error> {
    let ds = Datastore::Sqlite(dir.join("store.db"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(StoreConfig::new(ds.clone())).await {
            Ok(s) => return Ok(s),
            Err(e)
                if std::time::Instant::now() < deadline && error_chain(&e).contains("in use") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(Error::Missing(format!("store: {}", error_chain(&e)))),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Runs kubectl with a kubeconfig and returns its standard output, or an
/// error with both outputs when it fails.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String, Error> {
    kubectl_with_input(kubeconfig, args, None)
}

/// Runs kubectl with standard input.
pub fn kubectl_with_input(
    kubeconfig: &Path,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, Error> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "kubectl".into(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.unwrap_or("").as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(Error::Command {
            command: format!("kubectl {}", args.join(" ")),
            status: out.status.to_string(),
            output: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        })
    }
}
