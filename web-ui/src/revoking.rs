//! The node agent's client-certificate verifier: the cluster CA's certificates only, minus the ones the
//! cluster revoked. The CRL (`crl.pem` in the node's credentials directory, written by an assignment
//! after a removal) is read again whenever its file changes, so a removed node's certificate is
//! refused from the next handshake on, without restarting the listener. A CRL that cannot be read when
//! the listener starts stops it (a revoked certificate is never let in by mistake); one that cannot be
//! read later keeps the last good one in force, and says so in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};

/// Verifies clients against the cluster CA and the cluster's current CRL.
#[derive(Debug)]
pub struct RevocationAware {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    crl: PathBuf,
    hints: Vec<DistinguishedName>,
    current: Mutex<(Option<SystemTime>, Arc<dyn ClientCertVerifier>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A verifier of `roots` with the CRLs in `crl` (none when the file does not exist).
fn build(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    crl: &Path,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let crls: Vec<CertificateRevocationListDer<'static>> = if crl.exists() {
        CertificateRevocationListDer::pem_file_iter(crl)
            .and_then(|iter| iter.collect())
            .map_err(|e| format!("{}: {e}", crl.display()))?
    } else {
        Vec::new()
    };
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| format!("{}: {e}", crl.display()))
}

impl RevocationAware {
    /// The verifier of `roots` with the CRL at `crl`, read now.
    pub fn new(
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
        crl: PathBuf,
    ) -> Result<RevocationAware, String> {
        let roots = Arc::new(roots);
        let at = modified(&crl);
        let verifier = build(&roots, &provider, &crl)?;
        let hints = verifier.root_hint_subjects().to_vec();
        Ok(RevocationAware {
            roots,
            provider,
            crl,
            hints,
            current: Mutex::new((at, verifier)),
        })
    }

    /// The verifier in force: rebuilt when the CRL's file changed since it was read.
    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let at = modified(&self.crl);
        if at != current.0 {
            match build(&self.roots, &self.provider, &self.crl) {
                Ok(v) => {
                    tracing::info!(crl = %self.crl.display(), "the cluster's CRL changed: read again");
                    *current = (at, v);
                }
                Err(e) => {
                    tracing::error!("the cluster's CRL cannot be read, the last one stays: {e}");
                    current.0 = at;
                }
            }
        }
        current.1.clone()
    }
}

impl ClientCertVerifier for RevocationAware {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
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
