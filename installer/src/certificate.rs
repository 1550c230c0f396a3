//! The endpoint certificate haproxy serves and the cluster CA that signs it, as `stackboxd certificate`
//! makes them for the plan's `tls.certificate` step: generated (rcgen), or the operator's certificate and
//! key installed in their place. The endpoint PEM is written last: its existence is the step's evidence.

use std::path::{Path, PathBuf};

use stackbox_common::fs::write_atomic;
use stackbox_common::pki;

/// The cluster CA's certificate (public; clients trust it).
pub const CA_CERT: &str = "/etc/stackbox/ca.pem";
/// The cluster CA's key.
pub const CA_KEY: &str = "/etc/stackbox/ca-key.pem";
/// The endpoint certificate and key haproxy serves.
pub const ENDPOINT_PEM: &str = "/etc/haproxy/stackbox.pem";

/// Why the certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The certificate or a key could not be generated.
    #[error("making the certificate")]
    Generate(#[from] pki::PkiError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertificateError + '_ {
    move |source| CertificateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the files go (the real paths, or a test's directory).
#[derive(Debug, Clone)]
pub struct Paths {
    /// The CA certificate.
    pub ca_cert: PathBuf,
    /// The CA key.
    pub ca_key: PathBuf,
    /// The endpoint PEM.
    pub endpoint: PathBuf,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            ca_cert: CA_CERT.into(),
            ca_key: CA_KEY.into(),
            endpoint: ENDPOINT_PEM.into(),
        }
    }
}

/// Installs the operator's certificate (chain included) and key: the certificate as the CA clients
/// trust, both as haproxy's PEM.
pub fn install_provided(paths: &Paths, cert: &Path, key: &Path) -> Result<(), CertificateError> {
    let cert = std::fs::read_to_string(cert).map_err(io(cert))?;
    let key = std::fs::read_to_string(key).map_err(io(key))?;
    write_atomic(&paths.ca_cert, cert.as_bytes(), 0o644).map_err(io(&paths.ca_cert))?;
    write_atomic(&paths.endpoint, format!("{cert}{key}").as_bytes(), 0o600)
        .map_err(io(&paths.endpoint))
}

/// Makes a cluster CA and an endpoint certificate for `names` (the first is the common name), with the
/// validity and extensions of [`stackbox_common::pki`]: the CA ten years, the endpoint two.
pub fn generate(paths: &Paths, names: &[String]) -> Result<(), CertificateError> {
    let (ca_cert, issuer) = pki::new_ca("stackbox cluster CA")?;
    let common_name = names.first().map(String::as_str).unwrap_or("stackbox");
    let (leaf, leaf_key) = pki::new_leaf(
        pki::leaf_params(names, common_name, pki::Purpose::Server)?,
        &issuer,
    )?;
    write_atomic(
        &paths.ca_key,
        issuer.key().serialize_pem().as_bytes(),
        0o600,
    )
    .map_err(io(&paths.ca_key))?;
    write_atomic(&paths.ca_cert, ca_cert.pem().as_bytes(), 0o644).map_err(io(&paths.ca_cert))?;
    // Written last: its existence is the step's evidence.
    write_atomic(
        &paths.endpoint,
        format!("{}{}", leaf.pem(), leaf_key.serialize_pem()).as_bytes(),
        0o600,
    )
    .map_err(io(&paths.endpoint))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    #[test]
    fn generated_and_provided_certificates_land_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            ca_cert: dir.path().join("ca.pem"),
            ca_key: dir.path().join("ca-key.pem"),
            endpoint: dir.path().join("endpoint.pem"),
        };
        generate(&paths, &["cloud.example.net".into(), "10.0.0.1".into()]).unwrap();
        let pem = std::fs::read_to_string(&paths.endpoint).unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"));
        std::fs::write(dir.path().join("c"), "CERT\n").unwrap();
        std::fs::write(dir.path().join("k"), "KEY\n").unwrap();
        install_provided(&paths, &dir.path().join("c"), &dir.path().join("k")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&paths.endpoint).unwrap(),
            "CERT\nKEY\n"
        );
        let missing = install_provided(&paths, &dir.path().join("nope"), &dir.path().join("k"));
        assert!(matches!(missing, Err(CertificateError::Io { .. })));
    }
}
