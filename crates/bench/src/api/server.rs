//! The `causeway apiserver` under test: a child process on a free loopback
//! port with its data in a temporary directory, so that its memory can be
//! read from /proc and nothing of one run reaches the next.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::client::Endpoint;

/// How long the server may take to answer /readyz.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to stop on SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `causeway apiserver`; killed on drop if not stopped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pid: u32,
    dir: TempDir,
    /// Where to reach it.
    pub endpoint: Arc<Endpoint>,
}

impl Server {
    /// Starts `bin apiserver` on SQLite in a fresh temporary directory and
    /// waits until it is ready.
    pub async fn start(bin: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("causeway-bench-apiserver-")
            .tempdir()?;
        Self::start_in(bin, dir).await
    }

    /// Starts `bin apiserver` on the data (SQLite database and PKI) in
    /// `dir`, as [`Server::stop`] left it, and waits until it is ready:
    /// with its watch caches filled from the database.
    pub async fn start_in(bin: &Path, dir: TempDir) -> Result<Self> {
        let port = free_port()?;
        let kubeconfig = dir.path().join("admin.kubeconfig");
        // The previous run's kubeconfig names the previous port.
        if kubeconfig.exists() {
            std::fs::remove_file(&kubeconfig)?;
        }
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.path().join("apiserver.log"))?;
        let mut child = Command::new(bin)
            .arg("apiserver")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--datastore")
            .arg(format!("sqlite://{}", db_path(dir.path()).display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let pid = child
            .id()
            .context("the apiserver exited as soon as it started")?;
        let start = Instant::now();
        let endpoint = loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "causeway apiserver exited ({status}) before it was ready; its log:\n{}",
                    log_tail(dir.path())
                );
            }
            // The kubeconfig is written just before the server starts
            // accepting; until then (or while it is half written) keep
            // polling.
            let ready = match Endpoint::from_kubeconfig(&kubeconfig) {
                Ok(e) => e.wait_ready().await.map(|()| e),
                Err(e) => Err(e),
            };
            match ready {
                Ok(e) => break e,
                Err(e) if start.elapsed() > READY_TIMEOUT => {
                    bail!(
                        "causeway apiserver was not ready within {READY_TIMEOUT:?} ({e:#}); its log:\n{}",
                        log_tail(dir.path())
                    );
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Ok(Self {
            child,
            pid,
            dir,
            endpoint,
        })
    }

    /// The server's process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The SQLite database and its `-wal` and `-shm` files, with their
    /// sizes in bytes (0 for a file that does not exist).
    pub fn db_files(&self) -> Vec<(String, u64)> {
        let db = db_path(self.dir.path());
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| {
                let mut p = db.clone().into_os_string();
                p.push(suffix);
                let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (
                    PathBuf::from(p)
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    size,
                )
            })
            .collect()
    }

    /// SIGTERM, then a wait for a clean exit (SIGKILL after a while).
    /// Returns the data directory, for [`Server::start_in`].
    pub async fn stop(mut self) -> Result<TempDir> {
        // `kill` rather than a signal call of our own: this crate has no
        // unsafe code and no signal library.
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()?;
        if !sent.success() {
            bail!("kill -TERM {} failed: {sent}", self.pid);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!(
                        "causeway apiserver exited with {status} on SIGTERM; its log:\n{}",
                        log_tail(self.dir.path())
                    );
                }
                Ok(self.dir)
            }
            Err(_) => {
                self.child.kill().await?;
                bail!(
                    "causeway apiserver did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it"
                );
            }
        }
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("apiserver.db")
}

/// A port that was free a moment ago. Another process could take it before
/// the server binds it; the server then fails to start, and says so.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("apiserver.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
