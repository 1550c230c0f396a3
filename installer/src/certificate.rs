//! The endpoint certificate haproxy serves and the cluster CA that signs it, as `stackboxd certificate`
//! makes them for the plan's `tls.certificate` step: generated (rcgen), or the operator's certificate and
//! key installed in their place. The endpoint PEM is written last: its existence is the step's evidence.
//!
//! The cluster CA is made once, when the cluster is created (the wizard calls [`ensure_ca`]); the
//! install then signs the endpoint certificate with that CA and never replaces it, since the node
//! certificates of joined nodes were signed by it.

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
    /// The CA's certificate exists but its key is missing or unusable: replacing the CA would orphan
    /// every node certificate it signed, so nothing is made.
    #[error(
        "the cluster CA {cert} exists but its key {key} is missing or unusable; restore the key (a new CA would break every joined node)"
    )]
    CaUnusable {
        /// The CA certificate.
        cert: String,
        /// The CA key.
        key: String,
        /// Why it cannot be used, when it was read.
        #[source]
        source: Option<rcgen::Error>,
    },
    /// A member's daemon has no certificate: none was assigned to it and the CA's key is not here.
    #[error(
        "no certificate was assigned to this node ({assigned}) and the cluster CA's key ({ca_key}) is not here: run `stackboxd cluster install` on the node that holds it"
    )]
    Unassigned {
        /// The assigned certificate's path.
        assigned: String,
        /// The CA key's path.
        ca_key: String,
    },
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

/// What [`ensure_ca`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaOrigin {
    /// The CA existed and is used as it is.
    Existing,
    /// A new CA was made.
    Made,
}

/// The cluster CA at `ca_cert` and `ca_key`: the existing one when its certificate and key are both
/// there and usable, else a new one (key written first, mode 0600, then the certificate: the
/// certificate's existence says the CA is complete). A certificate without a usable key is an error,
/// never replaced. Returns the issuer that signs with it and whether it was made now.
pub fn ensure_ca(
    ca_cert: &Path,
    ca_key: &Path,
) -> Result<(rcgen::Issuer<'static, rcgen::KeyPair>, CaOrigin), CertificateError> {
    let unusable = |source| CertificateError::CaUnusable {
        cert: ca_cert.display().to_string(),
        key: ca_key.display().to_string(),
        source,
    };
    match std::fs::read_to_string(ca_cert) {
        Ok(cert) => {
            let key = match std::fs::read_to_string(ca_key) {
                Ok(key) => key,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unusable(None)),
                Err(e) => return Err(io(ca_key)(e)),
            };
            let key = rcgen::KeyPair::from_pem(&key).map_err(|e| unusable(Some(e)))?;
            // The key must be the certificate's (rcgen signs with any key under the certificate's
            // name, and nothing would verify what it signed).
            if !key_fits(&cert, &key) {
                return Err(unusable(Some(rcgen::Error::CouldNotParseKeyPair)));
            }
            let issuer =
                rcgen::Issuer::from_ca_cert_pem(&cert, key).map_err(|e| unusable(Some(e)))?;
            Ok((issuer, CaOrigin::Existing))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (cert, issuer) = pki::new_ca("stackbox cluster CA")?;
            write_atomic(ca_key, issuer.key().serialize_pem().as_bytes(), 0o600)
                .map_err(io(ca_key))?;
            write_atomic(ca_cert, cert.pem().as_bytes(), 0o644).map_err(io(ca_cert))?;
            Ok((issuer, CaOrigin::Made))
        }
        Err(e) => Err(io(ca_cert)(e)),
    }
}

/// Whether `key` is the key of the first certificate in `cert_pem`.
pub fn key_fits(cert_pem: &str, key: &rcgen::KeyPair) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    pem.parse_x509().is_ok_and(|cert| {
        cert.public_key().raw == rcgen::PublicKeyData::subject_public_key_info(key).as_slice()
    })
}

/// Makes an endpoint certificate for `names` (the first is the common name), signed by the cluster CA
/// ([`ensure_ca`]: the existing one, made when the cluster was created, or a new one), with the
/// validity and extensions of [`stackbox_common::pki`]: the CA ten years, the endpoint two.
pub fn generate(paths: &Paths, names: &[String]) -> Result<(), CertificateError> {
    let (issuer, origin) = ensure_ca(&paths.ca_cert, &paths.ca_key)?;
    tracing::debug!(?origin, "the cluster CA signs the endpoint certificate");
    let common_name = names.first().map(String::as_str).unwrap_or("stackbox");
    let (leaf, leaf_key) = pki::new_leaf(
        pki::leaf_params(names, common_name, pki::Purpose::Server)?,
        &issuer,
    )?;
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

    fn endpoint_signed_by_ca(paths: &Paths) -> bool {
        use x509_parser::pem::parse_x509_pem;
        let ca = std::fs::read(&paths.ca_cert).unwrap();
        let endpoint = std::fs::read(&paths.endpoint).unwrap();
        let (_, ca) = parse_x509_pem(&ca).unwrap();
        let (_, leaf) = parse_x509_pem(&endpoint).unwrap();
        let (ca, leaf) = (ca.parse_x509().unwrap(), leaf.parse_x509().unwrap());
        leaf.verify_signature(Some(ca.public_key())).is_ok()
    }

    #[test]
    fn the_install_signs_with_the_ca_the_cluster_was_created_with() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            ca_cert: dir.path().join("ca.pem"),
            ca_key: dir.path().join("ca-key.pem"),
            endpoint: dir.path().join("endpoint.pem"),
        };
        let (_, origin) = ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap();
        assert_eq!(origin, CaOrigin::Made);
        let ca = std::fs::read(&paths.ca_cert).unwrap();
        let key = std::fs::read(&paths.ca_key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&paths.ca_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (_, origin) = ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap();
        assert_eq!(origin, CaOrigin::Existing);
        for _ in 0..2 {
            generate(&paths, &["cloud.example.net".into()]).unwrap();
            assert_eq!(std::fs::read(&paths.ca_cert).unwrap(), ca, "the CA is kept");
            assert_eq!(std::fs::read(&paths.ca_key).unwrap(), key);
            assert!(endpoint_signed_by_ca(&paths));
        }
    }

    #[test]
    fn a_ca_certificate_without_its_key_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            ca_cert: dir.path().join("ca.pem"),
            ca_key: dir.path().join("ca-key.pem"),
            endpoint: dir.path().join("endpoint.pem"),
        };
        ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap();
        let ca = std::fs::read(&paths.ca_cert).unwrap();
        std::fs::remove_file(&paths.ca_key).unwrap();
        let err = generate(&paths, &["cloud.example.net".into()]).unwrap_err();
        assert!(
            matches!(err, CertificateError::CaUnusable { .. }),
            "{err:?}"
        );
        std::fs::write(&paths.ca_key, "not a key").unwrap();
        let err = ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap_err();
        assert!(err.to_string().contains("missing or unusable"), "{err}");
        // Another CA's key: refused too (rcgen would sign with it under this CA's name).
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&paths.ca_key, other.serialize_pem()).unwrap();
        let err = ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap_err();
        assert!(err.to_string().contains("missing or unusable"), "{err}");
        assert_eq!(std::fs::read(&paths.ca_cert).unwrap(), ca);
        assert!(!paths.endpoint.exists());
    }
}
