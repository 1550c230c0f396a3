//! One HTTPS request from this node to another, the other's certificate pinned by its SHA-256
//! fingerprint: TLS 1.3 only (ring), HTTP/1.1 over tokio-rustls and hyper.
//!
//! The pin replaces the web PKI: [`PinnedVerifier`] accepts exactly the end-entity certificate whose
//! fingerprint was given (names, issuers and dates are not looked at: the operator compared the
//! fingerprint with the member's console), and still checks that the server holds that certificate's
//! key (the handshake signature, with the provider's algorithms). A wrong pin fails the handshake, so
//! nothing of the request is sent.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::proof::Fingerprint;

/// How long connecting, the handshake and the whole exchange may each take.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read.
pub const ANSWER_LIMIT: usize = 256 * 1024;

/// Accepts exactly one end-entity certificate, by its SHA-256 fingerprint, and verifies the handshake
/// signature with it. Remembers the fingerprint the server presented, for the error message.
#[derive(Debug)]
pub struct PinnedVerifier {
    /// `None`: any certificate is accepted (the caller checks the content's checksum instead).
    pin: Option<Fingerprint>,
    seen: Arc<Mutex<Option<Fingerprint>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// A verifier that accepts only the certificate whose fingerprint is `pin`, checking signatures
    /// with `provider`'s algorithms.
    pub fn new(pin: Fingerprint, provider: &rustls::crypto::CryptoProvider) -> PinnedVerifier {
        Self::with(Some(pin), provider)
    }

    /// A verifier that pins `pin` when given, else accepts any certificate (still checking the handshake's
    /// signatures): for a document whose integrity its caller checks by its SHA-256.
    pub fn with(
        pin: Option<Fingerprint>,
        provider: &rustls::crypto::CryptoProvider,
    ) -> PinnedVerifier {
        PinnedVerifier {
            pin,
            seen: Arc::new(Mutex::new(None)),
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// The fingerprint of the certificate the server presented, once it did.
    pub fn seen(&self) -> Option<Fingerprint> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(presented);
        if self.pin.is_none_or(|pin| pin == presented) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Why an exchange with another node failed (before any answer, or with an unreadable one).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No TCP connection.
    #[error("connecting to {0}")]
    Connect(SocketAddr, #[source] std::io::Error),
    /// The other node presented another certificate than the pinned one; nothing was sent.
    #[error(
        "{addr} presented the certificate {presented}, not {pinned}: check the fingerprint on the member's console; nothing was sent"
    )]
    Pin {
        /// The address.
        addr: SocketAddr,
        /// The fingerprint given.
        pinned: Fingerprint,
        /// The fingerprint presented.
        presented: Fingerprint,
    },
    /// The TLS handshake failed for another reason.
    #[error("the TLS handshake with {0}")]
    Tls(SocketAddr, #[source] std::io::Error),
    /// rustls refused the client configuration.
    #[error("configuring TLS")]
    Config(#[source] rustls::Error),
    /// The HTTP exchange failed.
    #[error("the HTTP exchange with {0}")]
    Http(
        SocketAddr,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
    /// A step took longer than [`TIMEOUT`].
    #[error("{0} did not answer within {secs} s", secs = TIMEOUT.as_secs())]
    Timeout(SocketAddr),
    /// The body could not be made.
    #[error("making the request")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An answer: its status, its body, and when the request went out and the answer came back (by this
/// node's clock), which bound the moment the other node answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body (at most [`ANSWER_LIMIT`] bytes).
    pub body: Vec<u8>,
    /// Just before the request was sent (after the connection and the handshake).
    pub sent: SystemTime,
    /// When the answer's head arrived.
    pub received: SystemTime,
}

fn config(verifier: Arc<PinnedVerifier>) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(ClientError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn within<T>(
    addr: SocketAddr,
    f: impl std::future::Future<Output = T>,
) -> Result<T, ClientError> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .map_err(|_| ClientError::Timeout(addr))
}

/// POSTs a JSON body to `https://ADDR{path}`, pinning the server's certificate to `pin`. The body is
/// made by `body` once the connection is up and the pin checked, from this node's address on that
/// connection (the address the other node sees). Blocking: runs its own single-thread runtime.
pub fn post_json<E>(
    addr: SocketAddr,
    pin: Fingerprint,
    path: &str,
    body: impl FnOnce(IpAddr) -> Result<Vec<u8>, E>,
) -> Result<Answer, ClientError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    blocking(
        addr,
        exchange(addr, Some(pin), hyper::Method::POST, path, |local| {
            body(local).map(Some)
        }),
    )
}

/// GETs the JSON document at `https://ADDR{path}`, pinning the server's certificate to `pin`, as
/// [`post_json`] does. Blocking: runs its own single-thread runtime.
pub fn get_json(addr: SocketAddr, pin: Fingerprint, path: &str) -> Result<Answer, ClientError> {
    get_document(addr, Some(pin), path)
}

/// GETs `https://ADDR{path}` (TLS 1.3): with `pin`, only that certificate is accepted; without, any is,
/// and the caller must check the body's integrity itself (an answer file whose SHA-256 the kernel command
/// line gives). Blocking, as [`get_json`].
pub fn get_document(
    addr: SocketAddr,
    pin: Option<Fingerprint>,
    path: &str,
) -> Result<Answer, ClientError> {
    blocking(
        addr,
        exchange(addr, pin, hyper::Method::GET, path, |_| {
            Ok::<_, std::convert::Infallible>(None)
        }),
    )
}

/// Runs one exchange on a single-thread runtime of its own.
fn blocking(
    addr: SocketAddr,
    exchange: impl std::future::Future<Output = Result<Answer, ClientError>>,
) -> Result<Answer, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Http(addr, Box::new(e)))?;
    runtime.block_on(exchange)
}

/// Connects, checks the pin, then sends one request: with the body `body` makes from this node's
/// address on the connection (`None`: no body).
async fn exchange<E>(
    addr: SocketAddr,
    pin: Option<Fingerprint>,
    method: hyper::Method,
    path: &str,
    body: impl FnOnce(IpAddr) -> Result<Option<Vec<u8>>, E>,
) -> Result<Answer, ClientError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let tcp = within(addr, tokio::net::TcpStream::connect(addr))
        .await?
        .map_err(|e| ClientError::Connect(addr, e))?;
    let local = tcp
        .local_addr()
        .map_err(|e| ClientError::Connect(addr, e))?
        .ip()
        .to_canonical();
    let provider = rustls::crypto::ring::default_provider();
    let verifier = Arc::new(PinnedVerifier::with(pin, &provider));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config(verifier.clone())?));
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = match within(addr, connector.connect(name, tcp)).await? {
        Ok(tls) => tls,
        Err(e) => {
            return Err(match (verifier.seen(), pin) {
                (Some(presented), Some(pinned)) if presented != pinned => ClientError::Pin {
                    addr,
                    pinned,
                    presented,
                },
                _ => ClientError::Tls(addr, e),
            });
        }
    };
    let body = body(local).map_err(|e| ClientError::Body(Box::new(e)))?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::ACCEPT, "application/json");
    if body.is_some() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| ClientError::Body(Box::new(e)))?;
    send(addr, tls, request).await
}

/// Sends `request` over the TLS connection and reads the answer (at most [`ANSWER_LIMIT`] bytes).
async fn send(
    addr: SocketAddr,
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<Answer, ClientError> {
    let http = |e: hyper::Error| ClientError::Http(addr, Box::new(e));
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(http)?;
    let driver = tokio::spawn(connection);
    let answer = async {
        let sent = SystemTime::now();
        let response = sender.send_request(request).await.map_err(http)?;
        let received = SystemTime::now();
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| ClientError::Http(addr, e))?
            .to_bytes();
        Ok(Answer {
            status,
            body: body.to_vec(),
            sent,
            received,
        })
    };
    let answer = within(addr, answer).await?;
    driver.abort();
    answer
}
