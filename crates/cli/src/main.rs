//! The `causeway` binary: one subcommand per server role.

use clap::Parser;
use tracing_subscriber::EnvFilter;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Store(args) => runtime.block_on(store::run(args)),
    }
}
