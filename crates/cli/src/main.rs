//! The `causeway` binary.

use clap::Parser;

mod ca;
mod identity;

/// causeway joins Kubernetes clusters into one ClusterSet.
#[derive(Debug, Parser)]
#[command(name = "causeway", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Certificate authorities, X.509-SVIDs, bundles, rotation and expiry checks.
    Ca(ca::CaArgs),
    /// Serve a trust domain's SPIFFE bundle, and federate with other trust domains.
    Identity(identity::IdentityArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ca(args) => ca::run(args),
        Command::Identity(args) => identity::run(args),
    }
}
