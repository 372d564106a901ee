use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::Error;
use crate::etcd::probe;
use crate::net::{accepts, free_addr, http_get};
use crate::process::Supervised;

/// Where to find the binary when `CAUSEWAY_BIN` is unset: the workspace's
/// target directory, two levels above this crate.
const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `causeway store` as a child process on free loopback ports: the etcd API
/// on [`endpoint`](Self::endpoint) and metrics on
/// [`metrics_endpoint`](Self::metrics_endpoint). Dropping it kills it.
#[derive(Debug)]
pub struct CausewayProcess {
    bin: PathBuf,
    listen: SocketAddr,
    metrics: SocketAddr,
    datastore: String,
    extra: Vec<String>,
    process: Option<Supervised>,
    dir: TempDir,
    _sqlite_dir: Option<TempDir>,
}

impl CausewayProcess {
    /// Runs `causeway store --listen 127.0.0.1:P --metrics-listen
    /// 127.0.0.1:P2 --datastore <datastore> <extra_args…>` and waits until
    /// it answers an etcd KV request (with `--cert-file` among the extra
    /// arguments: until it listens and its `/readyz` answers 200).
    pub async fn start(datastore: &str, extra_args: &[&str]) -> Result<Self, Error> {
        Self::start_inner(datastore.to_string(), extra_args, None).await
    }

    /// Like [`start`](Self::start), on a SQLite file in a temporary
    /// directory that lives as long as the returned value.
    pub async fn start_sqlite(extra_args: &[&str]) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("causeway-sqlite.")
            .tempdir()?;
        let datastore = format!("sqlite://{}", dir.path().join("store.db").display());
        Self::start_inner(datastore, extra_args, Some(dir)).await
    }

    async fn start_inner(
        datastore: String,
        extra_args: &[&str],
        sqlite_dir: Option<TempDir>,
    ) -> Result<Self, Error> {
        let mut me = Self {
            bin: causeway_bin()?,
            listen: free_addr(),
            metrics: free_addr(),
            datastore,
            extra: extra_args.iter().map(|s| s.to_string()).collect(),
            process: None,
            dir: tempfile::Builder::new()
                .prefix("causeway-proc.")
                .tempdir()?,
            _sqlite_dir: sqlite_dir,
        };
        me.spawn().await?;
        Ok(me)
    }

    async fn spawn(&mut self) -> Result<(), Error> {
        let mut command = Command::new(&self.bin);
        command
            .arg("store")
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--metrics-listen")
            .arg(self.metrics.to_string())
            .arg("--datastore")
            .arg(&self.datastore)
            .args(&self.extra);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        self.process = Some(Supervised::spawn(command, &self.log_path())?);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let start = Instant::now();
        let mut detail = String::from("no answer yet");
        let endpoint = self.endpoint();
        let tls = self.extra.iter().any(|a| a == "--cert-file");
        while start.elapsed() < READY_TIMEOUT {
            match self.process.as_mut().and_then(Supervised::exited) {
                Some(exit) => {
                    detail = exit;
                    break;
                }
                // A plain etcd client cannot talk to a TLS server; its
                // readiness endpoint (always plain HTTP) says the same.
                None if tls && accepts(self.listen).await => {
                    match http_get(&self.metrics.to_string(), "/readyz").await {
                        Ok((200, _)) => return Ok(()),
                        Ok((code, body)) => detail = format!("/readyz answered {code}: {body}"),
                        Err(e) => detail = e,
                    }
                }
                None if accepts(self.listen).await => match probe(&endpoint).await {
                    Ok(()) => return Ok(()),
                    Err(e) => detail = e,
                },
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::NotReady {
            what: format!("causeway store on {}", self.listen),
            timeout: READY_TIMEOUT,
            detail,
            log: self.log_path(),
            tail: self.log_tail(),
        })
    }

    /// `127.0.0.1:PORT` of the etcd API.
    pub fn endpoint(&self) -> String {
        self.listen.to_string()
    }

    /// `127.0.0.1:PORT` of the metrics and readiness server.
    pub fn metrics_endpoint(&self) -> String {
        self.metrics.to_string()
    }

    /// The `--datastore` URL it runs on.
    pub fn datastore(&self) -> &str {
        &self.datastore
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Supervised::pid)
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> Result<ExitStatus, Error> {
        match self.process.take() {
            Some(mut p) => p.terminate(),
            None => Err(Error::Missing("causeway store is not running".into())),
        }
    }

    /// Starts the process again on the same ports and datastore (killing
    /// it first if it still runs), and waits until it answers.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill9();
        self.spawn().await
    }

    /// The file holding stdout and stderr of every run of this process.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("causeway.log")
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log_path())
    }
}

/// The `causeway` binary: `$CAUSEWAY_BIN`, else the newer of
/// `target/debug/causeway` and `target/release/causeway`.
pub fn causeway_bin() -> Result<PathBuf, Error> {
    if let Some(bin) = std::env::var_os("CAUSEWAY_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(Error::Missing(format!(
                "CAUSEWAY_BIN={} is not a file",
                bin.display()
            )))
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(WORKSPACE_ROOT).join("target"));
    let candidates = [
        target.join("debug/causeway"),
        target.join("release/causeway"),
    ];
    candidates
        .iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p.clone())
        .ok_or_else(|| {
            Error::Missing(format!(
                "the causeway binary is not built: looked for {} and {}; run `cargo build -p causeway-cli` \
                 or set CAUSEWAY_BIN",
                candidates[0].display(),
                candidates[1].display()
            ))
        })
}
