//! Expiry checks: how long each anchor, intermediate, leaf and bundle causeway knows about
//! has left, so an expiring issuer is seen weeks before it takes traffic down.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::bundle::{BundleError, TrustBundle};
use crate::ca::{CaDir, CaError};
use crate::duration::format_duration;
use crate::pem::{self, PemError};
use crate::spiffe_id::TrustDomain;
use crate::svid;

/// Why a check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The CA directory could not be read.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A file could not be read.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// A bundle file could not be parsed.
    #[error("bundle {path} is unreadable")]
    Bundle {
        /// The file.
        path: String,
        /// The parse error.
        #[source]
        source: BundleError,
    },
}

/// How an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// More time left than the warning threshold.
    Ok,
    /// Less time left than the threshold.
    Warning,
    /// Expired, or not readable.
    Error,
}

/// One certificate's standing.
#[derive(Debug, Clone, Serialize)]
pub struct CheckItem {
    /// `anchor`, `staged-anchor`, `retired-anchor`, `intermediate`, `leaf` or `bundle`.
    pub kind: String,
    /// What it is: a SPIFFE ID, a serial or a file.
    pub name: String,
    /// Unix time of expiry.
    pub not_after: u64,
    /// Seconds left; negative once expired.
    pub seconds_left: i64,
    /// The verdict.
    pub status: Status,
    /// A note for people.
    pub message: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Every item, worst first.
    pub items: Vec<CheckItem>,
    /// The worst status.
    pub status: Status,
}

impl CheckReport {
    fn new(mut items: Vec<CheckItem>) -> Self {
        items.sort_by(|a, b| b.status.cmp(&a.status).then(a.not_after.cmp(&b.not_after)));
        let status = items.iter().map(|i| i.status).max().unwrap_or(Status::Ok);
        Self { items, status }
    }

    /// A table a person can read.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "STATUS".to_owned(),
            "KIND".to_owned(),
            "NAME".to_owned(),
            "TIME LEFT".to_owned(),
            "NOTE".to_owned(),
        ]];
        for i in &self.items {
            let left = if i.seconds_left < 0 {
                format!(
                    "-{}",
                    format_duration(Duration::from_secs(i.seconds_left.unsigned_abs()))
                )
            } else {
                format_duration(Duration::from_secs(i.seconds_left.unsigned_abs()))
            };
            let status = match i.status {
                Status::Ok => "ok",
                Status::Warning => "WARNING",
                Status::Error => "ERROR",
            };
            rows.push([
                status.into(),
                i.kind.clone(),
                i.name.clone(),
                left,
                i.message.clone(),
            ]);
        }
        let mut widths = [0usize; 5];
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let mut line = String::new();
            for (c, w) in r.iter().zip(widths) {
                let _ = write!(line, "{c:<w$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `warn` is cut to half the lifetime, so a day-long SVID, renewed at half-life, warns only
/// once its renewal is overdue rather than from the moment it is issued.
fn item(
    kind: &str,
    name: String,
    (not_before, not_after): (SystemTime, SystemTime),
    now: SystemTime,
    warn: Duration,
) -> CheckItem {
    let life = not_after
        .duration_since(not_before)
        .unwrap_or(Duration::ZERO);
    let warn = warn.min(life / 2);
    let na = unix(not_after);
    let left = i64::try_from(na).unwrap_or(i64::MAX) - i64::try_from(unix(now)).unwrap_or(0);
    let (status, message) = if left <= 0 {
        (Status::Error, "expired".to_owned())
    } else if Duration::from_secs(left.unsigned_abs()) < warn {
        (
            Status::Warning,
            format!("expires within {}", format_duration(warn)),
        )
    } else {
        (Status::Ok, String::new())
    };
    CheckItem {
        kind: kind.to_owned(),
        name,
        not_after: na,
        seconds_left: left,
        status,
        message,
    }
}

fn cert_item(kind: &str, der: &[u8], now: SystemTime, warn: Duration) -> CheckItem {
    match svid::cert_info(der) {
        Ok(info) => item(
            kind,
            format!("{} ({})", info.spiffe_id, short(&info.serial)),
            (info.not_before, info.not_after),
            now,
            warn,
        ),
        Err(e) => CheckItem {
            kind: kind.to_owned(),
            name: "?".into(),
            not_after: 0,
            seconds_left: 0,
            status: Status::Error,
            message: e.to_string(),
        },
    }
}

fn short(serial: &str) -> String {
    serial.chars().take(11).collect()
}

/// What to check besides a CA directory.
#[derive(Debug, Clone, Default)]
pub struct CheckInputs<'a> {
    /// CA directories.
    pub ca_dirs: Vec<&'a Path>,
    /// SVID certificate files.
    pub svids: Vec<&'a Path>,
    /// SPIFFE bundle files with their trust domains.
    pub bundles: Vec<(TrustDomain, &'a Path)>,
}

/// Checks everything in `inputs` at `now`, warning for what expires within `warn`.
pub fn check(
    inputs: &CheckInputs<'_>,
    now: SystemTime,
    warn: Duration,
) -> Result<CheckReport, CheckError> {
    let mut items = Vec::new();
    // An intermediate's directory holds its root too; each certificate is listed once.
    let mut seen = std::collections::BTreeSet::new();
    for dir in &inputs.ca_dirs {
        let ca = CaDir::open(dir)?;
        let chain = ca.ca().chain();
        for (i, der) in chain.iter().enumerate() {
            if !seen.insert(der.as_ref().to_vec()) {
                continue;
            }
            let kind = if i + 1 == chain.len() {
                "anchor"
            } else {
                "intermediate"
            };
            items.push(cert_item(kind, der, now, warn));
        }
        if let Some(next) = ca.staged() {
            items.push(cert_item("staged-anchor", next.root(), now, warn));
        }
        for r in &ca.state().retired {
            if let Ok(certs) = pem::decode_certs(r.certificate.as_bytes(), "retired anchor") {
                for c in certs {
                    let mut it = cert_item("retired-anchor", &c, now, warn);
                    if r.drop_after < unix(now) {
                        it.message =
                            "no longer needed; `causeway ca rotate --prune` drops it".into();
                    }
                    items.push(it);
                }
            }
        }
        // Recorded leaves that expired were replaced or abandoned, so only live ones count.
        for leaf in ca.state().leaves.iter().filter(|l| l.not_after > unix(now)) {
            items.push(item(
                "leaf",
                format!("{} ({})", leaf.spiffe_id, short(&leaf.serial)),
                (
                    UNIX_EPOCH + Duration::from_secs(leaf.not_before),
                    UNIX_EPOCH + Duration::from_secs(leaf.not_after),
                ),
                now,
                warn,
            ));
        }
    }
    for path in &inputs.svids {
        for (i, der) in pem::read_certs(path)?.iter().enumerate() {
            let kind = if i == 0 { "leaf" } else { "intermediate" };
            let mut it = cert_item(kind, der, now, warn);
            it.name = format!("{} [{}]", it.name, path.display());
            items.push(it);
        }
    }
    for (td, path) in &inputs.bundles {
        let bytes = pem::read(path)?;
        let b =
            TrustBundle::from_json(td.clone(), &bytes).map_err(|source| CheckError::Bundle {
                path: path.display().to_string(),
                source,
            })?;
        for der in b.x509_authorities() {
            let mut it = cert_item("bundle", der, now, warn);
            it.name = format!("{} [{}]", it.name, path.display());
            items.push(it);
        }
    }
    Ok(CheckReport::new(items))
}
