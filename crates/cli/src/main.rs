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
            eprintln!("causeway: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
