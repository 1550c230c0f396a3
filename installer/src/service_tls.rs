//! The TLS identities of a node's cluster-internal daemons: MariaDB (client connections, Galera's
//! replication and its state transfers) and RabbitMQ (AMQP over TLS). Each daemon of each node has a
//! certificate of its own, signed by the cluster CA, for the node's name and management address (the
//! names its peers and clients verify), valid as server and client (Galera's peers and the state
//! transfer's donor are both), its key readable by the daemon's group only (0640 root:GROUP).
//!
//! `stackboxd certificate --service NAME` puts it in place for the plan's `tls.NAME` step: the one in
//! place when it is still good (signed by the current CA, for these names, not expiring within
//! [`RENEW_DAYS`]), else the one the coordinator assigned the node (made by the CA's holder, handed over
//! the agents' mutual TLS, see [`issue`]), else, on the CA's holder, a new one. The certificate is
//! written after its key: its existence says the pair is complete. `--check` says whether the one in
//! place is good, which is the step's evidence: after the CA was rotated, the next install replaces
//! every daemon's certificate.

use std::path::{Path, PathBuf};

use stackbox_common::fs::write_atomic;
use stackbox_common::pki;
use stackbox_common::secret::Secret;

use crate::certificate::{CA_CERT, CA_KEY, CertificateError, ensure_ca};

/// Where the coordinator's assigned certificates are kept (`NAME.pem`, certificate and key, 0600 root).
pub const ASSIGNED_DIR: &str = "/etc/stackbox/tls";
/// A certificate this close to its end is replaced, in days.
pub const RENEW_DAYS: i64 = 30;

/// A daemon with a TLS identity of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// MariaDB: client connections, Galera replication (4567, 4568) and state transfers (4444).
    Mariadb,
    /// RabbitMQ: AMQP over TLS (5671).
    Rabbitmq,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 2] = [Service::Mariadb, Service::Rabbitmq];

    /// Its name: the plan step's suffix and the assigned file's stem.
    pub fn name(self) -> &'static str {
        match self {
            Service::Mariadb => "mariadb",
            Service::Rabbitmq => "rabbitmq",
        }
    }

    /// The service of `name`, if it is one.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The directory of its certificate and key.
    pub fn dir(self) -> &'static str {
        match self {
            Service::Mariadb => "/etc/mysql/tls",
            Service::Rabbitmq => "/etc/rabbitmq/tls",
        }
    }

    /// The group the daemon runs as, which reads the key.
    pub fn group(self) -> &'static str {
        match self {
            Service::Mariadb => "mysql",
            Service::Rabbitmq => "rabbitmq",
        }
    }

    /// Its certificate's path.
    pub fn cert(self) -> String {
        format!("{}/cert.pem", self.dir())
    }

    /// Its key's path.
    pub fn key(self) -> String {
        format!("{}/key.pem", self.dir())
    }

    /// The node role that runs it.
    pub fn role(self) -> &'static str {
        match self {
            Service::Mariadb => "storage-metadata",
            Service::Rabbitmq => "message-bus",
        }
    }
}

/// Where the files are (the real paths, or a test's directory).
#[derive(Debug, Clone)]
pub struct ServicePaths {
    /// The cluster CA's certificate.
    pub ca_cert: PathBuf,
    /// The cluster CA's key (on its holder only).
    pub ca_key: PathBuf,
    /// The coordinator's assigned certificates.
    pub assigned: PathBuf,
    /// The daemon's certificate.
    pub cert: PathBuf,
    /// The daemon's key.
    pub key: PathBuf,
    /// The group that reads the key; `None` leaves it root's (tests).
    pub group: Option<String>,
}

impl ServicePaths {
    /// The real paths of `service`.
    pub fn of(service: Service) -> ServicePaths {
        ServicePaths {
            ca_cert: CA_CERT.into(),
            ca_key: CA_KEY.into(),
            assigned: Path::new(ASSIGNED_DIR).join(format!("{}.pem", service.name())),
            cert: service.cert().into(),
            key: service.key().into(),
            group: Some(service.group().to_owned()),
        }
    }
}

/// Why a certificate is not good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// There is none, or it cannot be read.
    #[error("{0}: missing or unreadable")]
    Missing(String),
    /// It is not a PEM certificate, or not with a key.
    #[error("{0}: not a PEM certificate and key")]
    Malformed(String),
    /// The cluster CA did not sign it.
    #[error("{0}: not signed by the cluster CA")]
    Foreign(String),
    /// It does not name one of the names.
    #[error("{path}: not valid for {name}")]
    Names {
        /// The certificate.
        path: String,
        /// The name it lacks.
        name: String,
    },
    /// It ends within [`RENEW_DAYS`].
    #[error("{0}: expires within {RENEW_DAYS} days")]
    Expiring(String),
}

/// Whether `cert_pem` (with a private key in `key_pem`) is signed by the CA in `ca_pem`, names every
/// one of `names` and lives beyond [`RENEW_DAYS`]; `label` names it in the answer.
pub fn judge(
    label: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    names: &[String],
) -> Result<(), Stale> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::pem::parse_x509_pem;
    let malformed = || Stale::Malformed(label.to_owned());
    if !key_pem.contains("PRIVATE KEY-----") {
        return Err(malformed());
    }
    let (_, ca) = parse_x509_pem(ca_pem.as_bytes()).map_err(|_| malformed())?;
    let ca = ca.parse_x509().map_err(|_| malformed())?;
    let (_, leaf) = parse_x509_pem(cert_pem.as_bytes()).map_err(|_| malformed())?;
    let leaf = leaf.parse_x509().map_err(|_| malformed())?;
    if leaf.verify_signature(Some(ca.public_key())).is_err() {
        return Err(Stale::Foreign(label.to_owned()));
    }
    let mut named: Vec<String> = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => named.push((*d).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                        16 => <[u8; 16]>::try_from(*bytes)
                            .ok()
                            .map(|b| std::net::IpAddr::from(b).to_string()),
                        _ => None,
                    };
                    named.extend(ip);
                }
                _ => {}
            }
        }
    }
    if let Some(name) = names.iter().find(|n| !named.contains(n)) {
        return Err(Stale::Names {
            path: label.to_owned(),
            name: name.clone(),
        });
    }
    let renew_at = time::OffsetDateTime::now_utc() + time::Duration::days(RENEW_DAYS);
    if leaf.validity().not_after.to_datetime() <= renew_at {
        return Err(Stale::Expiring(label.to_owned()));
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, Stale> {
    std::fs::read_to_string(path).map_err(|_| Stale::Missing(path.display().to_string()))
}

/// Whether the daemon's certificate in place is good (see [`judge`]).
pub fn check(paths: &ServicePaths, names: &[String]) -> Result<(), Stale> {
    let label = paths.cert.display().to_string();
    judge(
        &label,
        &read(&paths.ca_cert)?,
        &read(&paths.cert)?,
        &read(&paths.key)?,
        names,
    )
}

/// A new certificate and key (one PEM, the certificate first) for `names` (the first is the common
/// name), signed by `issuer`: what the coordinator assigns a node for each of its daemons.
pub fn issue(
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
    names: &[String],
) -> Result<Secret, pki::PkiError> {
    let common_name = names.first().map(String::as_str).unwrap_or("stackbox");
    let params = pki::leaf_params(names, common_name, pki::Purpose::ServerAndClient)?;
    let (cert, key) = pki::new_leaf(params, issuer)?;
    Ok(Secret::from(format!(
        "{}{}",
        cert.pem(),
        key.serialize_pem()
    )))
}

/// Splits a PEM of certificate and key into the two.
fn split(pem: &str) -> Option<(String, String)> {
    let at = pem.find("-----BEGIN PRIVATE KEY-----")?;
    let (cert, key) = pem.split_at(at);
    cert.contains("-----BEGIN CERTIFICATE-----")
        .then(|| (cert.to_owned(), key.to_owned()))
}

/// Where the certificate [`ensure`] put in place came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The one in place was good.
    Kept,
    /// The coordinator's assigned one.
    Assigned,
    /// Made here, with the CA's key.
    Made,
}

/// Puts a good certificate for `names` in place (see the module's documentation) and says where it came
/// from.
pub fn ensure(paths: &ServicePaths, names: &[String]) -> Result<Origin, CertificateError> {
    if check(paths, names).is_ok() {
        return Ok(Origin::Kept);
    }
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| CertificateError::Io { path, source }
    };
    // No CA at all: this is the node that creates the cluster's (a member has the CA's certificate
    // from its join and its assignment).
    let ca = match std::fs::read_to_string(&paths.ca_cert) {
        Ok(ca) => Some(ca),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&paths.ca_cert)(e)),
    };
    let assigned = std::fs::read_to_string(&paths.assigned)
        .ok()
        .and_then(|pem| split(&pem))
        .filter(|(cert, key)| {
            let label = paths.assigned.display().to_string();
            let Some(ca) = &ca else { return false };
            match judge(&label, ca, cert, key, names) {
                Ok(()) => true,
                Err(why) => {
                    tracing::warn!("the assigned certificate is not used: {why}");
                    false
                }
            }
        });
    let (origin, cert, key) = match assigned {
        Some((cert, key)) => (Origin::Assigned, cert, key),
        None if ca.is_none() || paths.ca_key.exists() => {
            let (issuer, _) = ensure_ca(&paths.ca_cert, &paths.ca_key)?;
            let pem = issue(&issuer, names)?;
            let (cert, key) = split(pem.expose()).ok_or_else(|| CertificateError::Io {
                path: paths.cert.display().to_string(),
                source: std::io::Error::other("the new certificate has no key"),
            })?;
            (Origin::Made, cert, key)
        }
        None => {
            return Err(CertificateError::Unassigned {
                assigned: paths.assigned.display().to_string(),
                ca_key: paths.ca_key.display().to_string(),
            });
        }
    };
    // The key first, readable by the daemon's group; the certificate last.
    write_atomic(&paths.key, key.as_bytes(), 0o640).map_err(io(&paths.key))?;
    if let Some(group) = &paths.group {
        let gid = nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .ok_or_else(|| CertificateError::Io {
                path: paths.key.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no group {group} (is the daemon's package installed?)"),
                ),
            })?
            .gid;
        nix::unistd::chown(&paths.key, Some(nix::unistd::Uid::from_raw(0)), Some(gid))
            .map_err(|e| io(&paths.key)(e.into()))?;
    }
    write_atomic(&paths.cert, cert.as_bytes(), 0o644).map_err(io(&paths.cert))?;
    Ok(origin)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    fn paths(dir: &Path) -> ServicePaths {
        ServicePaths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            assigned: dir.join("assigned/mariadb.pem"),
            cert: dir.join("mysql/cert.pem"),
            key: dir.join("mysql/key.pem"),
            group: None,
        }
    }

    fn names() -> Vec<String> {
        vec!["node2".into(), "10.20.0.12".into()]
    }

    #[test]
    fn the_ca_holder_makes_one_and_keeps_it_while_it_is_good() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        assert!(matches!(check(&p, &names()), Err(Stale::Missing(_))));
        assert_eq!(ensure(&p, &names()).unwrap(), Origin::Made);
        check(&p, &names()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let cert = std::fs::read(&p.cert).unwrap();
        assert_eq!(ensure(&p, &names()).unwrap(), Origin::Kept);
        assert_eq!(std::fs::read(&p.cert).unwrap(), cert);
        // Another name: not good, made again.
        let more = vec!["node2".to_owned(), "10.20.0.99".to_owned()];
        assert_eq!(
            check(&p, &more),
            Err(Stale::Names {
                path: p.cert.display().to_string(),
                name: "10.20.0.99".into()
            })
        );
        assert_eq!(ensure(&p, &more).unwrap(), Origin::Made);
        check(&p, &more).unwrap();
    }

    #[test]
    fn a_member_installs_the_assigned_one_and_refuses_without_one() {
        let holder = tempfile::tempdir().unwrap();
        let hp = paths(holder.path());
        let (issuer, _) = ensure_ca(&hp.ca_cert, &hp.ca_key).unwrap();
        let member = tempfile::tempdir().unwrap();
        let mp = paths(member.path());
        std::fs::copy(&hp.ca_cert, &mp.ca_cert).unwrap();
        let err = ensure(&mp, &names()).unwrap_err();
        assert!(
            err.to_string().contains("no certificate was assigned"),
            "{err}"
        );
        assert!(!mp.cert.exists() && !mp.key.exists());
        // Assigned for another node: refused too.
        let other = issue(&issuer, &["node3".into(), "10.20.0.13".into()]).unwrap();
        write_atomic(&mp.assigned, other.expose().as_bytes(), 0o600).unwrap();
        assert!(ensure(&mp, &names()).is_err());
        let pem = issue(&issuer, &names()).unwrap();
        write_atomic(&mp.assigned, pem.expose().as_bytes(), 0o600).unwrap();
        assert_eq!(ensure(&mp, &names()).unwrap(), Origin::Assigned);
        check(&mp, &names()).unwrap();
        assert!(
            pem.expose()
                .starts_with(&std::fs::read_to_string(&mp.cert).unwrap())
        );
    }

    #[test]
    fn a_certificate_of_another_ca_or_a_broken_one_is_not_good() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        ensure(&p, &names()).unwrap();
        let ca = std::fs::read_to_string(&p.ca_cert).unwrap();
        let cert = std::fs::read_to_string(&p.cert).unwrap();
        let key = std::fs::read_to_string(&p.key).unwrap();
        let (_, other) = pki::new_ca("another CA").unwrap();
        let foreign = issue(&other, &names()).unwrap();
        let (fcert, fkey) = split(foreign.expose()).unwrap();
        assert_eq!(
            judge("x", &ca, &fcert, &fkey, &names()),
            Err(Stale::Foreign("x".into()))
        );
        for (c, k) in [
            ("", key.as_str()),
            ("garbage", key.as_str()),
            (cert.as_str(), ""),
            (cert.as_str(), "-----BEGIN CERTIFICATE-----"),
        ] {
            assert_eq!(
                judge("x", &ca, c, k, &names()),
                Err(Stale::Malformed("x".into())),
                "{c:.20} {k:.20}"
            );
        }
        assert_eq!(
            judge("x", "not a CA", &cert, &key, &names()),
            Err(Stale::Malformed("x".into()))
        );
        // Rotated CA: the old certificate is replaced by one of the new CA.
        std::fs::remove_file(&p.ca_cert).unwrap();
        std::fs::remove_file(&p.ca_key).unwrap();
        ensure_ca(&p.ca_cert, &p.ca_key).unwrap();
        assert!(matches!(check(&p, &names()), Err(Stale::Foreign(_))));
        assert_eq!(ensure(&p, &names()).unwrap(), Origin::Made);
        check(&p, &names()).unwrap();
    }

    #[test]
    fn a_certificate_near_its_end_is_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        let (issuer, _) = ensure_ca(&p.ca_cert, &p.ca_key).unwrap();
        let mut params =
            pki::leaf_params(&names(), "node2", pki::Purpose::ServerAndClient).unwrap();
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(RENEW_DAYS - 1);
        let (cert, key) = pki::new_leaf(params, &issuer).unwrap();
        let ca = std::fs::read_to_string(&p.ca_cert).unwrap();
        assert_eq!(
            judge("x", &ca, &cert.pem(), &key.serialize_pem(), &names()),
            Err(Stale::Expiring("x".into()))
        );
    }

    #[test]
    fn every_service_has_its_own_place_and_group() {
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.name()), Some(s));
            assert!(s.cert().starts_with(s.dir()) && s.key().starts_with(s.dir()));
        }
        assert_eq!(Service::from_name("../etc/passwd"), None);
        assert_ne!(Service::Mariadb.dir(), Service::Rabbitmq.dir());
    }
}
