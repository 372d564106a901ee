use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::Error;
use crate::net::{accepts, free_addr};
use crate::process::{Supervised, require_on_path};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A real single-member etcd 3.5 in a temporary directory, on free loopback
/// client and peer ports. Dropping it kills etcd and removes its data.
#[derive(Debug)]
pub struct Etcd {
    process: Supervised,
    client: SocketAddr,
    dir: TempDir,
}

/// Options for [`Etcd`]: extra command-line flags.
#[derive(Debug, Default, Clone)]
pub struct EtcdBuilder {
    args: Vec<String>,
    dir: Option<std::path::PathBuf>,
}

impl EtcdBuilder {
    /// Adds a flag, e.g. `--experimental-watch-progress-notify-interval=1s`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Puts the temporary data directory under `parent` instead of the
    /// system temporary directory (benchmarks want etcd on the same disk
    /// as the server it is compared with).
    pub fn data_parent(mut self, parent: impl Into<std::path::PathBuf>) -> Self {
        self.dir = Some(parent.into());
        self
    }

    /// Starts etcd and waits until it serves KV requests.
    pub async fn start(self) -> Result<Etcd, Error> {
        let etcd = require_on_path("etcd", "install etcd 3.5 (scripts/install-test-deps.sh)")?;
        // A free port can be taken by someone else before etcd binds it;
        // a fresh pair of ports then fixes it.
        let mut last = None;
        for _ in 0..3 {
            let dir = match &self.dir {
                Some(parent) => tempfile::Builder::new()
                    .prefix("causeway-etcd.")
                    .tempdir_in(parent)?,
                None => tempfile::Builder::new()
                    .prefix("causeway-etcd.")
                    .tempdir()?,
            };
            match start_in(&etcd, dir, &self.args).await {
                Ok(e) => return Ok(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Missing("etcd never started".into())))
    }
}

async fn start_in(etcd: &Path, dir: TempDir, extra: &[String]) -> Result<Etcd, Error> {
    let client = free_addr();
    let peer = free_addr();
    let mut command = Command::new(etcd);
    command
        .arg("--name=testkit")
        .arg(format!("--data-dir={}", dir.path().join("data").display()))
        .arg(format!("--listen-client-urls=http://{client}"))
        .arg(format!("--advertise-client-urls=http://{client}"))
        .arg(format!("--listen-peer-urls=http://{peer}"))
        .arg(format!("--initial-advertise-peer-urls=http://{peer}"))
        .arg(format!("--initial-cluster=testkit=http://{peer}"))
        .arg("--initial-cluster-state=new")
        .arg("--log-level=warn")
        .args(extra);
    let process = Supervised::spawn(command, &dir.path().join("etcd.log"))?;
    let mut etcd = Etcd {
        process,
        client,
        dir,
    };
    etcd.wait_ready().await?;
    Ok(etcd)
}

impl Etcd {
    /// Starts etcd with default flags.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// Starts etcd with extra flags.
    pub fn builder() -> EtcdBuilder {
        EtcdBuilder::default()
    }

    /// `127.0.0.1:PORT`, the client endpoint.
    pub fn endpoint(&self) -> String {
        self.client.to_string()
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        self.client
    }

    /// etcd's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// The temporary directory holding the data and `etcd.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let start = Instant::now();
        let mut detail = String::from("no answer yet");
        while start.elapsed() < READY_TIMEOUT {
            if let Some(exit) = self.process.exited() {
                detail = exit;
                break;
            }
            if accepts(self.client).await {
                match probe(&self.endpoint()).await {
                    Ok(()) => return Ok(()),
                    Err(e) => detail = e,
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::NotReady {
            what: format!("etcd on {}", self.client),
            timeout: READY_TIMEOUT,
            detail,
            log: self.process.log().to_path_buf(),
            tail: self.process.tail(),
        })
    }
}

/// One KV read: a server that answers it is ready for tests.
pub(crate) async fn probe(endpoint: &str) -> Result<(), String> {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(2));
    let mut client = etcd_client::Client::connect([endpoint], Some(options))
        .await
        .map_err(|e| e.to_string())?;
    client
        .get("causeway-testkit-probe", None)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
