//! The `causeway` binary: one subcommand per server role.

use clap::Parser;
use tracing_subscriber::EnvFilter;

mod apiserver;
mod ca;
mod identity;
mod signals;
mod store;

/// causeway joins Kubernetes clusters into one ClusterSet.
#[derive(Debug, Parser)]
#[command(name = "causeway", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the etcd v3 API on SQLite or PostgreSQL.
    Store(store::Args),
    /// Serve a Kubernetes-compatible API on the store or on etcd.
    Apiserver(apiserver::Args),
    /// Certificate authorities, X.509-SVIDs, bundles, rotation and expiry checks.
    Ca(ca::CaArgs),
    /// Serve a trust domain's SPIFFE bundle, and federate with other trust domains.
    Identity(identity::IdentityArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Store(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(store::run(args))),
        Command::Apiserver(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(apiserver::run(args))),
        Command::Ca(args) => ca::run(args),
        Command::Identity(args) => identity::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The reason and its causes on one line; a backtrace (which
            // anyhow's Debug output adds when RUST_BACKTRACE is set) would
            // bury it.
            eprintln!("causeway: error: {}", error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `e` and its causes on one line, each said once. Library errors often
/// repeat their source's text in their own message (rusqlite, `io::Error`),
/// so a cause already said, or said again behind a code such as
/// `Error code 26: `, is left out.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(ToString::to_string) {
        let rest = cause.split_once(": ").map_or(cause.as_str(), |(_, r)| r);
        if !line.is_empty() && (line.contains(&cause) || line.contains(rest)) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_cause_once() {
        let e = anyhow::anyhow!("file is not a database")
            .context("sqlite: file is not a database")
            .context("cannot open the datastore x");
        assert_eq!(
            error_line(&e),
            "cannot open the datastore x: sqlite: file is not a database"
        );
        let coded = anyhow::anyhow!("Error code 14: unable to open database file")
            .context("sqlite: unable to open database file: /tmp/d")
            .context("storage backend failed");
        assert_eq!(
            error_line(&coded),
            "storage backend failed: sqlite: unable to open database file: /tmp/d"
        );
        let distinct = anyhow::anyhow!("permission denied").context("creating /var/lib/x");
        assert_eq!(
            error_line(&distinct),
            "creating /var/lib/x: permission denied"
        );
    }
}
