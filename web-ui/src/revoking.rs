//! The node agent's credentials as they change under it, without restarting the listener:
//!
//! - [`RevocationAware`] verifies clients against the cluster CA's certificates (`ca.pem` in the node's
//!   credentials directory: one CA, or the old and the new one while the CA is rotated, see
//!   [`stackbox_cluster::rotate`]), minus the ones the cluster revoked (`crl.pem`, written by an
//!   assignment after a removal). Both files are read again whenever one changes, so a removed node's
//!   certificate is refused from the next handshake on, and a retired CA's certificates too.
//! - [`Reloading`] serves the node's own certificate (`node.crt` and `node.key`), read again whenever
//!   they change (a rotation reissues them).
//!
//! Files that cannot be read when the listener starts stop it (a revoked certificate is never let in by
//! mistake); files that cannot be read later (or a certificate and key that do not match, as between
//! the two writes of a reissue) keep the last good ones in force, and say so in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};

/// When each of `paths` was last modified (`None` for a missing one).
fn stamps(paths: &[&Path]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Something read from files, read again when one of them changed.
#[derive(Debug)]
struct Watched<T> {
    current: Mutex<(Vec<Option<SystemTime>>, T)>,
}

impl<T: Clone> Watched<T> {
    /// Read now with `read` from `paths`.
    fn new(paths: &[&Path], read: impl Fn() -> Result<T, String>) -> Result<Watched<T>, String> {
        let at = stamps(paths);
        Ok(Watched {
            current: Mutex::new((at, read()?)),
        })
    }

    /// The value in force: read again with `read` when a file changed; the last good one stays when
    /// it cannot be (`what` names it in the log).
    fn get(&self, paths: &[&Path], what: &str, read: impl Fn() -> Result<T, String>) -> T {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let at = stamps(paths);
        if at != current.0 {
            match read() {
                Ok(v) => {
                    tracing::info!("{what} changed: read again");
                    *current = (at, v);
                }
                Err(e) => {
                    tracing::error!("{what} cannot be read, the last good one stays: {e}");
                    current.0 = at;
                }
            }
        }
        current.1.clone()
    }
}

/// The certificates in the PEM file `path`.
fn roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(roots)
}

/// A verifier of the CA certificates in `ca` with the CRLs in `crl` (none when the file does not exist).
fn build(
    ca: &Path,
    provider: &Arc<CryptoProvider>,
    crl: &Path,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let roots = Arc::new(roots(ca)?);
    let crls: Vec<CertificateRevocationListDer<'static>> = if crl.exists() {
        CertificateRevocationListDer::pem_file_iter(crl)
            .and_then(|iter| iter.collect())
            .map_err(|e| format!("{}: {e}", crl.display()))?
    } else {
        Vec::new()
    };
    WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| format!("{}: {e}", crl.display()))
}

/// Verifies clients against the cluster CA and the cluster's current CRL.
#[derive(Debug)]
pub struct RevocationAware {
    ca: PathBuf,
    provider: Arc<CryptoProvider>,
    crl: PathBuf,
    current: Watched<Arc<dyn ClientCertVerifier>>,
}

impl RevocationAware {
    /// The verifier of the CA certificates in `ca` with the CRL at `crl`, read now.
    pub fn new(
        ca: PathBuf,
        provider: Arc<CryptoProvider>,
        crl: PathBuf,
    ) -> Result<RevocationAware, String> {
        let current = Watched::new(&[&ca, &crl], || build(&ca, &provider, &crl))?;
        Ok(RevocationAware {
            ca,
            provider,
            crl,
            current,
        })
    }

    /// The verifier in force: rebuilt when the CA's or the CRL's file changed since they were read.
    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.current
            .get(&[&self.ca, &self.crl], "the cluster's CA or CRL", || {
                build(&self.ca, &self.provider, &self.crl)
            })
    }
}

impl ClientCertVerifier for RevocationAware {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: the CAs change while the listener runs (a client sends its one certificate).
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}

/// The certificate chain and key in `cert` and `key`, checked to belong together.
fn certified(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, private, provider)
        .map(Arc::new)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))
}

/// The node's own certificate, read again when its files change.
#[derive(Debug)]
pub struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Watched<Arc<CertifiedKey>>,
}

impl Reloading {
    /// The certificate in `cert` with its key in `key`, read now.
    pub fn new(
        cert: PathBuf,
        key: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> Result<Reloading, String> {
        let current = Watched::new(&[&cert, &key], || certified(&cert, &key, &provider))?;
        Ok(Reloading {
            cert,
            key,
            provider,
            current,
        })
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .get(&[&self.cert, &self.key], "the node's certificate", || {
                    certified(&self.cert, &self.key, &self.provider)
                }),
        )
    }
}
