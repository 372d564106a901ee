//! `causeway ca …`: trust anchors, intermediates, SVIDs, bundles, rotation and expiry checks.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use causeway_identity::ca::{
    CaDir, DEFAULT_INTERMEDIATE_LIFETIME, DEFAULT_ROOT_LIFETIME, RotationStep, SvidRequest,
};
use causeway_identity::check::{self, CheckInputs, Status};
use causeway_identity::duration::{format_duration, format_timestamp, parse_duration};
use causeway_identity::{SpiffeId, TrustDomain};

/// Manage certificate authorities and issue X.509-SVIDs.
#[derive(Debug, clap::Args)]
pub struct CaArgs {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CaCommand {
    /// Create a root CA (ECDSA P-256) for a trust domain: DIR/ca.crt and DIR/ca.key (0600).
    Init {
        /// The trust domain, e.g. cluster-a.example.
        #[arg(long)]
        trust_domain: TrustDomain,
        /// The CA directory.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
        /// How long the root is valid.
        #[arg(long, value_parser = parse_duration, default_value = "10y")]
        lifetime: Duration,
    },
    /// Create an intermediate CA under a root, for one cluster.
    Intermediate {
        /// The parent CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The intermediate's trust domain.
        #[arg(long)]
        trust_domain: TrustDomain,
        /// The directory to write the intermediate to.
        #[arg(long)]
        out: PathBuf,
        /// How long the intermediate is valid (cut at the parent's expiry).
        #[arg(long, value_parser = parse_duration, default_value = "1y")]
        lifetime: Duration,
    },
    /// Issue an X.509-SVID: PREFIX.crt (leaf, then chain without the root) and PREFIX.key.
    Issue {
        /// The CA directory.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
        /// The SPIFFE ID, e.g. spiffe://cluster-a.example/ns/default/sa/web.
        #[arg(long)]
        spiffe_id: String,
        /// A DNS SAN; may be repeated.
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// Lifetime of the SVID.
        #[arg(long, value_parser = parse_duration, default_value = "24h")]
        ttl: Duration,
        /// Output prefix.
        #[arg(long)]
        out: PathBuf,
    },
    /// Mint a JWT-SVID signed by the CA directory's JWT key and print it.
    JwtSvid {
        /// The CA directory.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
        /// The subject's SPIFFE ID.
        #[arg(long)]
        spiffe_id: String,
        /// An audience; at least one, may be repeated.
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// Lifetime of the token.
        #[arg(long, value_parser = parse_duration, default_value = "5m")]
        ttl: Duration,
    },
    /// Print the trust domain's SPIFFE bundle (JSON).
    Bundle {
        /// The CA directory.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
    },
    /// Rotate: stage a new root (published, not signing), or activate a staged one, or
    /// replace an intermediate (with --root-dir).
    Rotate {
        /// The CA directory to rotate.
        #[arg(long, default_value = "./.causeway/ca")]
        dir: PathBuf,
        /// For an intermediate: the directory of its root.
        #[arg(long)]
        root_dir: Option<PathBuf>,
        /// Lifetime of the new CA (default: 10y for a root, 1y for an intermediate).
        #[arg(long, value_parser = parse_duration)]
        lifetime: Option<Duration>,
        /// Only drop retired anchors whose certificates have all expired.
        #[arg(long)]
        prune: bool,
    },
    /// Show the time left on every anchor, intermediate, leaf and bundle; exits non-zero
    /// when anything has expired.
    Check {
        /// CA directories.
        #[arg(long = "dir", default_value = "./.causeway/ca")]
        dirs: Vec<PathBuf>,
        /// SVID certificate files to check too.
        #[arg(long = "svid")]
        svids: Vec<PathBuf>,
        /// Bundle files to check too, as TRUST_DOMAIN=FILE.
        #[arg(long = "bundle")]
        bundles: Vec<String>,
        /// A directory of federated bundles named TRUST_DOMAIN.json, as `causeway identity
        /// federate` writes them; checked when it exists.
        #[arg(long, default_value = "./.causeway/bundles")]
        bundle_dir: PathBuf,
        /// Warn when less than this is left.
        #[arg(long, value_parser = parse_duration, default_value = "30d")]
        warn: Duration,
        /// `table` or `json`.
        #[arg(long, default_value = "table")]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

/// Runs a `causeway ca` command.
pub fn run(args: CaArgs) -> anyhow::Result<()> {
    match args.command {
        CaCommand::Init {
            trust_domain,
            dir,
            lifetime,
        } => {
            CaDir::init(&dir, trust_domain.clone(), lifetime)
                .with_context(|| format!("creating a root CA in {}", dir.display()))?;
            println!(
                "created root CA for {trust_domain} in {} (valid {}); key in {}",
                dir.display(),
                format_duration(lifetime),
                dir.join(causeway_identity::ca::KEY_FILE).display()
            );
        }
        CaCommand::Intermediate {
            dir,
            trust_domain,
            out,
            lifetime,
        } => {
            let mut parent =
                CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
            CaDir::init_intermediate(&mut parent, &out, trust_domain.clone(), lifetime)
                .with_context(|| format!("creating an intermediate in {}", out.display()))?;
            println!(
                "created intermediate CA for {trust_domain} in {}",
                out.display()
            );
        }
        CaCommand::Issue {
            dir,
            spiffe_id,
            dns,
            ttl,
            out,
        } => {
            let spiffe_id = SpiffeId::parse_workload(&spiffe_id)
                .with_context(|| format!("invalid --spiffe-id {spiffe_id:?}"))?;
            let mut ca =
                CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
            let svid = ca.issue(&SvidRequest {
                ip_addresses: Vec::new(),
                spiffe_id,
                dns_names: dns,
                ttl,
            })?;
            let cert = with_ext(&out, "crt");
            let key = with_ext(&out, "key");
            svid.write(&cert, &key)?;
            println!(
                "issued {} until {} in {} and {}",
                svid.spiffe_id(),
                humantime_utc(svid.not_after()),
                cert.display(),
                key.display()
            );
        }
        CaCommand::JwtSvid {
            dir,
            spiffe_id,
            audiences,
            ttl,
        } => {
            let spiffe_id = SpiffeId::parse_workload(&spiffe_id)
                .with_context(|| format!("invalid --spiffe-id {spiffe_id:?}"))?;
            let mut ca =
                CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
            println!("{}", ca.mint_jwt_svid(&spiffe_id, &audiences, ttl)?);
        }
        CaCommand::Bundle { dir } => {
            let ca = CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
            println!("{}", ca.bundle(SystemTime::now()).to_json());
        }
        CaCommand::Rotate {
            dir,
            root_dir,
            lifetime,
            prune,
        } => {
            let mut ca =
                CaDir::open(&dir).with_context(|| format!("opening CA {}", dir.display()))?;
            if prune {
                let n = ca.prune(SystemTime::now())?;
                println!("dropped {n} retired anchor(s) from the bundle");
                return Ok(());
            }
            let mut parent = match &root_dir {
                Some(p) => {
                    Some(CaDir::open(p).with_context(|| format!("opening CA {}", p.display()))?)
                }
                None => None,
            };
            let lifetime = lifetime.unwrap_or(if ca.ca().is_root() {
                DEFAULT_ROOT_LIFETIME
            } else {
                DEFAULT_INTERMEDIATE_LIFETIME
            });
            match ca.rotate(parent.as_mut(), lifetime)? {
                RotationStep::Staged => println!(
                    "staged a new root: it is in the bundle now but signs nothing yet. Once every \
                     peer has fetched the bundle (its refresh hint is {}), run `causeway ca rotate` \
                     again to make it the signer.",
                    format_duration(ca.bundle(SystemTime::now()).refresh_hint())
                ),
                RotationStep::Activated { drop_after } => println!(
                    "the new root now signs; the old root stays in the bundle until {}, when the \
                     last certificate it signed expires",
                    format_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(drop_after))
                ),
                RotationStep::Replaced => {
                    println!("replaced the intermediate in {}", dir.display())
                }
            }
        }
        CaCommand::Check {
            dirs,
            svids,
            bundles,
            bundle_dir,
            warn,
            output,
        } => {
            let mut parsed = federated_bundles(&bundle_dir)?;
            for b in &bundles {
                let Some((td, path)) = b.split_once('=') else {
                    bail!("--bundle {b:?} must be TRUST_DOMAIN=FILE");
                };
                parsed.push((TrustDomain::new(td)?, PathBuf::from(path)));
            }
            let inputs = CheckInputs {
                ca_dirs: dirs.iter().map(PathBuf::as_path).collect(),
                svids: svids.iter().map(PathBuf::as_path).collect(),
                bundles: parsed
                    .iter()
                    .map(|(t, p)| (t.clone(), p.as_path()))
                    .collect(),
            };
            let report = check::check(&inputs, SystemTime::now(), warn)?;
            match output {
                Output::Table => print!("{}", report.table()),
                Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            if report.status == Status::Error {
                let n = report
                    .items
                    .iter()
                    .filter(|i| i.status == Status::Error)
                    .count();
                bail!("{n} item(s) expired or unreadable");
            }
        }
    }
    Ok(())
}

/// The `TRUST_DOMAIN.json` files of a bundle directory, if it exists.
fn federated_bundles(dir: &std::path::Path) -> anyhow::Result<Vec<(TrustDomain, PathBuf)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            let td = TrustDomain::new(stem)
                .with_context(|| format!("{} is not named for a trust domain", path.display()))?;
            out.push((td, path));
        }
    }
    out.sort();
    Ok(out)
}

fn with_ext(prefix: &std::path::Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn humantime_utc(t: SystemTime) -> String {
    let left = t.duration_since(SystemTime::now()).unwrap_or_default();
    format!(
        "{} ({} from now)",
        format_timestamp(t),
        format_duration(left)
    )
}
