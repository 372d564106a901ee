//! PEM encoding and decoding of certificates and private keys, and writing key files
//! that only their owner can read.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why PEM material could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text was not valid PEM of the expected kind.
    #[error("{what} is not valid PEM")]
    Parse {
        /// What was being parsed (usually a file name).
        what: String,
        /// The decoder's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The PEM held no certificate.
    #[error("{0} holds no certificate")]
    NoCertificate(String),
}

/// Encodes DER as one PEM block with the given label.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 output is ASCII, so splitting the bytes into 64-byte lines keeps it valid UTF-8.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Encodes certificates as consecutive `CERTIFICATE` blocks.
pub fn encode_certs<'a>(certs: impl IntoIterator<Item = &'a CertificateDer<'a>>) -> String {
    certs
        .into_iter()
        .map(|c| encode("CERTIFICATE", c.as_ref()))
        .collect()
}

/// Decodes every certificate in a PEM text; `what` names the source in errors.
pub fn decode_certs(text: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PemError::Parse {
            what: what.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate(what.to_owned()));
    }
    Ok(certs)
}

/// Decodes the first private key in a PEM text.
pub fn decode_key(text: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(text).map_err(|source| PemError::Parse {
        what: what.to_owned(),
        source,
    })
}

/// Reads every certificate from a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    decode_certs(&read(path)?, &path.display().to_string())
}

/// Reads a private key from a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    decode_key(&read(path)?, &path.display().to_string())
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes a public file (certificates, bundles) through a temporary file and a rename, so a
/// reader never sees half of it.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<(), PemError> {
    write_atomic(path, contents, 0o644)
}

/// Writes a private key with mode 0600 from the moment it exists.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PemError> {
    write_atomic(path, contents, 0o600)
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PemError> {
    let err = |source| PemError::Write {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(contents).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}
