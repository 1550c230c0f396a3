//! The PKI helpers every certificate of the appliance is made with: the cluster CA, the certificates it
//! signs, the wizard's self-signed certificate, and SHA-256 fingerprints.
//!
//! Validity is bounded and the extensions say what a key is for, so that a stolen key is worth little and
//! a client can tell a server certificate from a CA: a CA lives [`CA_DAYS`] (ten years), a leaf
//! [`LEAF_DAYS`] (two years; renew it by running the step that made it again, see the README), both start
//! an hour in the past to tolerate clock skew between nodes. A CA may sign leaves only (path length 0);
//! a leaf carries `digitalSignature` and the extended key usages of its [`Purpose`].

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// How long a CA certificate is valid, in days (ten years).
pub const CA_DAYS: i64 = 3650;
/// How long a leaf certificate is valid, in days (two years).
pub const LEAF_DAYS: i64 = 730;
/// The wizard's TLS certificate, relative to the state directory (`stackboxd serve --state`): made at
/// first boot, shown on the console by its fingerprint, pinned by nodes that join this one.
pub const WIZARD_CERT_FILE: &str = "tls/wizard.crt";

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A TLS server (an API endpoint, the wizard).
    Server,
    /// A TLS client (a node calling another node).
    Client,
    /// Both: a node's certificate in mutual TLS.
    ServerAndClient,
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A name is neither a DNS name nor an IP address.
    #[error("`{0}` is not a valid DNS name or address for a certificate")]
    Name(String),
    /// Key generation or signing failed.
    #[error("making the certificate")]
    Sign(#[source] rcgen::Error),
    /// A certificate file could not be read or holds no PEM certificate.
    #[error("reading the certificate {path}")]
    Read {
        /// The file.
        path: String,
        /// Why it could not be read.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
}

fn validity(params: &mut rcgen::CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

/// The parameters of a CA certificate named `common_name`: signs certificates and CRLs, path length 0.
pub fn ca_params(common_name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, CA_DAYS);
    params
}

/// The parameters of a leaf certificate for `names` (DNS names or addresses, the subject alternative
/// names) with the common name `common_name`.
pub fn leaf_params(
    names: &[String],
    common_name: &str,
    purpose: Purpose,
) -> Result<rcgen::CertificateParams, PkiError> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|_| {
        let bad = names
            .iter()
            .find(|n| rcgen::CertificateParams::new(vec![(*n).clone()]).is_err());
        PkiError::Name(bad.cloned().unwrap_or_default())
    })?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    // Names the issuer's key: while a CA is rotated two CAs are trusted, and OpenSSL picks the issuer
    // by this (else by name alone, and it may check the signature against the wrong CA).
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match purpose {
        Purpose::Server => vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth],
        Purpose::Client => vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
        Purpose::ServerAndClient => vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    validity(&mut params, LEAF_DAYS);
    Ok(params)
}

/// A new CA: its certificate and the issuer (CA parameters and key) that signs leaves.
pub fn new_ca(
    common_name: &str,
) -> Result<(rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>), PkiError> {
    let params = ca_params(common_name);
    let key = rcgen::KeyPair::generate().map_err(PkiError::Sign)?;
    let cert = params.self_signed(&key).map_err(PkiError::Sign)?;
    Ok((cert, rcgen::Issuer::new(params, key)))
}

/// A new leaf certificate and its key, signed by `issuer`.
pub fn new_leaf(
    params: rcgen::CertificateParams,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> Result<(rcgen::Certificate, rcgen::KeyPair), PkiError> {
    let key = rcgen::KeyPair::generate().map_err(PkiError::Sign)?;
    let cert = params.signed_by(&key, issuer).map_err(PkiError::Sign)?;
    Ok((cert, key))
}

/// A new self-signed leaf certificate and its key (the wizard's, before any cluster CA exists).
pub fn new_self_signed(
    params: rcgen::CertificateParams,
) -> Result<(rcgen::Certificate, rcgen::KeyPair), PkiError> {
    let key = rcgen::KeyPair::generate().map_err(PkiError::Sign)?;
    let cert = params.self_signed(&key).map_err(PkiError::Sign)?;
    Ok((cert, key))
}

/// The SHA-256 fingerprint of a DER certificate as operators compare it: `SHA256:AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

/// The DER encoding of the first certificate in a PEM file.
pub fn read_certificate(path: &Path) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_file(path)
        .map(|der| der.to_vec())
        .map_err(|source| PkiError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// The fingerprint ([`fingerprint`]) of the first certificate in a PEM file.
pub fn fingerprint_pem_file(path: &Path) -> Result<String, PkiError> {
    read_certificate(path).map(|der| fingerprint(&der))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;
    use x509_parser::prelude::*;

    fn days(cert: &X509Certificate<'_>) -> i64 {
        let v = cert.validity();
        (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400
    }

    #[test]
    fn the_ca_lives_ten_years_and_signs_only_certificates() {
        let (ca, _) = new_ca("test CA").unwrap();
        let (_, cert) = X509Certificate::from_der(ca.der()).unwrap();
        assert_eq!(days(&cert), CA_DAYS, "plus the hour of skew, rounded down");
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert!(!ku.key_encipherment());
        assert!(cert.validity().is_valid(), "valid now");
    }

    #[test]
    fn a_leaf_lives_two_years_with_its_purpose() {
        let (_, issuer) = new_ca("test CA").unwrap();
        let names = vec!["api.example.test".to_owned(), "192.0.2.10".to_owned()];
        let params = leaf_params(&names, "api", Purpose::Server).unwrap();
        let (leaf, _) = new_leaf(params, &issuer).unwrap();
        let (_, cert) = X509Certificate::from_der(leaf.der()).unwrap();
        assert_eq!(days(&cert), LEAF_DAYS);
        assert!(cert.validity().is_valid());
        assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        assert!(cert.key_usage().unwrap().unwrap().value.digital_signature());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert_eq!(cert.issuer().to_string(), "CN=test CA");
        assert!(
            cert.extensions().iter().any(|e| matches!(
                e.parsed_extension(),
                ParsedExtension::AuthorityKeyIdentifier(_)
            )),
            "the leaf names its issuer's key"
        );
        let sans = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(sans.general_names.len(), 2);

        let params = leaf_params(&names, "node", Purpose::ServerAndClient).unwrap();
        let (both, _) = new_self_signed(params).unwrap();
        let (_, cert) = X509Certificate::from_der(both.der()).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
    }

    #[test]
    fn a_name_that_is_neither_dns_nor_address_is_named() {
        let names = vec!["ok.test".to_owned(), "caf\u{e9}.test".to_owned()];
        match leaf_params(&names, "x", Purpose::Server) {
            Err(PkiError::Name(n)) => assert_eq!(n, "caf\u{e9}.test"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fingerprint_of_a_pem_file_is_that_of_its_der() {
        let dir = tempfile::tempdir().unwrap();
        let params = leaf_params(&["a.test".to_owned()], "a", Purpose::Server).unwrap();
        let (cert, _) = new_self_signed(params).unwrap();
        let path = dir.path().join("a.crt");
        std::fs::write(&path, cert.pem()).unwrap();
        assert_eq!(
            fingerprint_pem_file(&path).unwrap(),
            fingerprint(cert.der())
        );
        let missing = dir.path().join("missing.crt");
        let err = fingerprint_pem_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.crt"), "{err}");
    }

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint(b"abc");
        assert!(fp.starts_with("SHA256:BA:78:16:BF"), "{fp}");
        assert_eq!(fp.len(), "SHA256:".len() + 32 * 3 - 1);
    }
}
