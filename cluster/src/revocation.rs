//! Revoking a removed node's certificate. Every agent accepts any client certificate of the cluster CA,
//! so a node that leaves must not keep a usable one: `leave` deletes its credentials, and a copy made
//! before (a disk that walked away, a backup) is revoked here. The CA's holder keeps the list of revoked
//! certificates (`STATE/cluster/revoked.json`: node, serial, when) and the CRL signed from it
//! (`STATE/cluster/crl.pem`); every assignment carries the CRL to every agent, which refuses a revoked
//! client certificate in the TLS handshake from then on.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stackbox_common::fs::write_atomic;

/// The list of revoked certificates, relative to the state directory.
pub const REVOKED_FILE: &str = "cluster/revoked.json";
/// The CRL signed from it, relative to the state directory.
pub const CRL_FILE: &str = "cluster/crl.pem";
/// The CRL as each agent keeps it, in its credentials directory.
pub const AGENT_CRL: &str = "crl.pem";
/// How long a CRL is said to hold (the agents do not enforce it: a new one comes with every removal).
const CRL_DAYS: i64 = 3650;

/// A revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// The node it was issued to.
    pub node: String,
    /// Its serial number, in hexadecimal.
    pub serial: String,
    /// When it was revoked, in seconds since the Unix epoch.
    pub revoked_at: u64,
}

/// Why a certificate could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The certificate or the CRL could not be read or signed.
    #[error("{0}")]
    Pki(String),
}

fn file_error(path: &Path) -> impl Fn(String) -> RevokeError + '_ {
    move |reason| RevokeError::File {
        path: path.display().to_string(),
        reason,
    }
}

/// The serial number of a PEM certificate, in hexadecimal (as the member records it at the join).
pub fn serial_of(certificate_pem: &str) -> Result<String, RevokeError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes())
        .map_err(|e| RevokeError::Pki(format!("the certificate is not PEM: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| RevokeError::Pki(format!("the certificate: {e}")))?;
    Ok(hex::encode(cert.raw_serial()))
}

/// The revoked certificates so far (none before the first removal).
pub fn revoked(state: &Path) -> Result<Vec<Revoked>, RevokeError> {
    let path = state.join(REVOKED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| file_error(&path)(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(file_error(&path)(e.to_string())),
    }
}

/// The cluster's CRL, once a certificate was revoked.
pub fn current_crl(state: &Path) -> Option<String> {
    std::fs::read_to_string(state.join(CRL_FILE)).ok()
}

/// Revokes `node`'s certificate (`serial`, hexadecimal) at `now` with the CA (`ca_cert`, `ca_key`): the
/// list gains it (once), and the CRL is signed again from the whole list. Returns the CRL's path.
pub fn revoke(
    state: &Path,
    ca_cert: &Path,
    ca_key: &Path,
    node: &str,
    serial: &str,
    now: SystemTime,
) -> Result<PathBuf, RevokeError> {
    let bytes = hex::decode(serial)
        .map_err(|e| RevokeError::Pki(format!("serial `{serial}` is not hexadecimal: {e}")))?;
    if bytes.is_empty() {
        return Err(RevokeError::Pki("an empty serial".into()));
    }
    let mut list = revoked(state)?;
    if !list.iter().any(|r| r.serial == serial) {
        list.push(Revoked {
            node: node.to_owned(),
            serial: serial.to_owned(),
            revoked_at: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        });
    }
    let read =
        |path: &Path| std::fs::read_to_string(path).map_err(|e| file_error(path)(e.to_string()));
    let key = rcgen::KeyPair::from_pem(&read(ca_key)?)
        .map_err(|e| RevokeError::Pki(format!("the CA key: {e}")))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&read(ca_cert)?, key)
        .map_err(|e| RevokeError::Pki(format!("the CA certificate: {e}")))?;
    let crl = signed_crls(&list, &[&issuer], now)?;
    let text = serde_json::to_string_pretty(&list).map_err(|e| RevokeError::Pki(e.to_string()))?;
    let list_path = state.join(REVOKED_FILE);
    write_atomic(&list_path, text.as_bytes(), 0o644)
        .map_err(|e| file_error(&list_path)(e.to_string()))?;
    let crl_path = state.join(CRL_FILE);
    write_atomic(&crl_path, crl.as_bytes(), 0o644)
        .map_err(|e| file_error(&crl_path)(e.to_string()))?;
    Ok(crl_path)
}

/// Signs the cluster's CRL again from the list so far, once by each of `issuers` (both CAs while the CA
/// is rotated: a verifier needs a CRL of each certificate's own issuer), at `now`. Nothing is written
/// before the first removal: the CRL's path, once there is one.
pub fn resign(
    state: &Path,
    issuers: &[&rcgen::Issuer<'_, rcgen::KeyPair>],
    now: SystemTime,
) -> Result<Option<PathBuf>, RevokeError> {
    let list = revoked(state)?;
    if list.is_empty() {
        return Ok(None);
    }
    let crl = signed_crls(&list, issuers, now)?;
    let crl_path = state.join(CRL_FILE);
    write_atomic(&crl_path, crl.as_bytes(), 0o644)
        .map_err(|e| file_error(&crl_path)(e.to_string()))?;
    Ok(Some(crl_path))
}

/// The CRL of `list` signed by each of `issuers`, one PEM after the other.
fn signed_crls(
    list: &[Revoked],
    issuers: &[&rcgen::Issuer<'_, rcgen::KeyPair>],
    now: SystemTime,
) -> Result<String, RevokeError> {
    let at = |secs: u64| {
        time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    };
    let this_update = time::OffsetDateTime::from(now);
    let mut pems = String::new();
    for issuer in issuers {
        let mut revoked_certs = Vec::new();
        for r in list {
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(
                    &hex::decode(&r.serial).map_err(|e| RevokeError::Pki(e.to_string()))?,
                ),
                revocation_time: at(r.revoked_at),
                reason_code: Some(rcgen::RevocationReason::CessationOfOperation),
                invalidity_date: None,
            });
        }
        let crl = rcgen::CertificateRevocationListParams {
            this_update,
            next_update: this_update + time::Duration::days(CRL_DAYS),
            crl_number: rcgen::SerialNumber::from(u64::try_from(list.len()).unwrap_or(u64::MAX)),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(*issuer)
        .and_then(|c| c.pem())
        .map_err(|e| RevokeError::Pki(format!("signing the CRL: {e}")))?;
        pems.push_str(&crl);
    }
    Ok(pems)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;
    use stackbox_common::pki;
    use x509_parser::prelude::FromDer;

    #[test]
    fn a_revoked_serial_is_in_the_signed_crl_once() {
        let dir = tempfile::tempdir().unwrap();
        let (ca_cert, ca_key) = (dir.path().join("ca.pem"), dir.path().join("ca-key.pem"));
        let (issuer, _) = stackbox_installer::certificate::ensure_ca(&ca_cert, &ca_key).unwrap();
        let names = ["node3".to_owned()];
        let params = pki::leaf_params(&names, "node3", pki::Purpose::ServerAndClient).unwrap();
        let (cert, _) = pki::new_leaf(params, &issuer).unwrap();
        let serial = serial_of(&cert.pem()).unwrap();
        assert!(!serial.is_empty());
        assert_eq!(current_crl(dir.path()), None);
        let now = SystemTime::now();
        for _ in 0..2 {
            revoke(dir.path(), &ca_cert, &ca_key, "node3", &serial, now).unwrap();
        }
        let list = revoked(dir.path()).unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        let pem = current_crl(dir.path()).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let (_, crl) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)
                .unwrap();
        let serials: Vec<String> = crl
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect();
        assert_eq!(serials, [serial]);
        // Must fail: a serial that is not hexadecimal, an empty one, and a certificate that is not PEM.
        for bad in ["zz", ""] {
            assert!(
                revoke(dir.path(), &ca_cert, &ca_key, "x", bad, now).is_err(),
                "{bad}"
            );
        }
        assert!(serial_of("not a certificate").is_err());
        assert_eq!(revoked(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn while_the_ca_rotates_the_crl_is_signed_by_each_ca() {
        let dir = tempfile::tempdir().unwrap();
        let (_, old) = pki::new_ca("old").unwrap();
        let (_, new) = pki::new_ca("new").unwrap();
        let now = SystemTime::now();
        assert_eq!(
            resign(dir.path(), &[&old, &new], now).unwrap(),
            None,
            "no removal yet"
        );
        assert_eq!(current_crl(dir.path()), None);
        let (ca_cert, ca_key) = (dir.path().join("ca.pem"), dir.path().join("ca-key.pem"));
        stackbox_installer::certificate::ensure_ca(&ca_cert, &ca_key).unwrap();
        revoke(dir.path(), &ca_cert, &ca_key, "node3", "0a1b", now).unwrap();
        resign(dir.path(), &[&old, &new], now).unwrap().unwrap();
        let text = current_crl(dir.path()).unwrap();
        let issuers: Vec<String> = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
            .map(|pem| {
                let pem = pem.unwrap();
                let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(
                    &pem.contents,
                )
                .unwrap();
                assert_eq!(crl.iter_revoked_certificates().count(), 1);
                crl.issuer().to_string()
            })
            .collect();
        assert_eq!(issuers, ["CN=old", "CN=new"]);
    }
}
