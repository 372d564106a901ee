use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use crate::Error;
use crate::net::free_port;
use crate::process::{require_on_path, run};

/// The variable scripts/test.sh sets to the DSN of a superuser on one
/// PostgreSQL server shared by the whole test run.
pub const POSTGRES_URL_VAR: &str = "CAUSEWAY_TEST_POSTGRES_URL";

/// Fresh, empty PostgreSQL databases for tests.
#[derive(Debug)]
pub struct Postgres;

impl Postgres {
    /// A new empty database. On the shared server named by
    /// `CAUSEWAY_TEST_POSTGRES_URL` when it is set; otherwise on a private
    /// server started for this database and stopped when it is dropped.
    pub fn database() -> Result<PgDatabase, Error> {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => PgDatabase::create(&url, None),
            _ => {
                let server = Arc::new(PgServer::start()?);
                let url = server.url.clone();
                PgDatabase::create(&url, Some(server))
            }
        }
    }
}

/// One database. Dropping it drops the database (and stops the server when
/// the server was started for it).
#[derive(Debug)]
pub struct PgDatabase {
    dsn: String,
    admin_url: String,
    name: String,
    // Held so that a private server outlives its database.
    _server: Option<Arc<PgServer>>,
}

impl PgDatabase {
    fn create(admin_url: &str, server: Option<Arc<PgServer>>) -> Result<Self, Error> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "causeway_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            dsn: with_database(admin_url, &name),
            admin_url: admin_url.to_string(),
            name,
            _server: server,
        })
    }

    /// `postgres://user@127.0.0.1:PORT/<fresh database>`.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends the sessions of a server under test that is still
        // connected; without it the shared server would fill up with
        // databases of finished tests.
        let _ = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Replaces the database part of a `postgres://` URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn psql(url: &str, sql: &str) -> Result<String, Error> {
    let psql = require_on_path(
        "psql",
        "install postgresql-client (scripts/install-test-deps.sh)",
    )?;
    run(Command::new(psql)
        .arg("-X")
        .arg("-q")
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-d")
        .arg(url)
        .arg("-c")
        .arg(sql))
}

/// A private PostgreSQL server, started as scripts/postgres.sh does.
#[derive(Debug)]
struct PgServer {
    bin: PathBuf,
    dir: TempDir,
    url: String,
}

impl PgServer {
    fn start() -> Result<Self, Error> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new().prefix("causeway-pg.").tempdir()?;
        if is_root() {
            // PostgreSQL refuses to run as root; the Debian package's
            // postgres account owns the cluster instead.
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let port = free_port();
        run(as_postgres(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]))?;
        run(as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .arg("-w")
            .arg("-o")
            .arg(format!(
                "-k {} -h 127.0.0.1 -p {port} -c max_connections=400",
                dir.path().display()
            ))
            .arg("start"))?;
        Ok(Self {
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
        })
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = run(as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"]));
    }
}

fn pg_bin() -> Result<PathBuf, Error> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("postgres").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().ok_or_else(|| {
        Error::Missing(format!(
            "no PostgreSQL server under /usr/lib/postgresql and {POSTGRES_URL_VAR} is unset: \
             install postgresql (scripts/install-test-deps.sh) or run scripts/test.sh"
        ))
    })
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|out| out.trim() == "0")
        .unwrap_or(false)
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5/postgres", "x"),
            "postgres://postgres@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5/db?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
    }
}
