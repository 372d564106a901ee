//! Test-only helpers: free loopback ports, a real etcd 3.5, PostgreSQL
//! databases, the `causeway` binary as a child process, and polling.
//!
//! Every helper that starts a process stops it on `Drop`, and every helper
//! fails with a clear [`Error`] when the binary it needs is missing: a test
//! that cannot run its real peer must fail, never skip.

mod apiserver;
mod causeway;
mod etcd;
mod net;
mod postgres;
mod process;

pub use apiserver::{ApiServer, Backend, kubectl, kubectl_with_input};
pub use causeway::{CausewayProcess, causeway_bin};
pub use etcd::{Etcd, EtcdBuilder};
pub use net::{free_addr, free_port, http_get, wait_for};
pub use postgres::{POSTGRES_URL_VAR, PgDatabase, Postgres};

use std::path::PathBuf;
use std::time::Duration;

/// Why a helper could not give a test what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary the test needs is not installed or not built.
    #[error("{0}")]
    Missing(String),
    /// A process could not be spawned.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// A helper command ran but failed.
    #[error("{command} failed ({status}): {output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    /// A server exited, or never answered, while we waited for it.
    #[error(
        "{what} did not become ready within {timeout:?}: {detail}\n--- last log lines ({log}) ---\n{tail}"
    )]
    NotReady {
        what: String,
        timeout: Duration,
        detail: String,
        log: PathBuf,
        tail: String,
    },
    /// [`wait_for`] ran out of time.
    #[error("condition still false after {0:?}")]
    Timeout(Duration),
    /// Any other I/O failure (temporary directories, log files).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
