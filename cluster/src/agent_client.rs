//! The coordinator's side of the agent's wire: HTTP/1.1 over mutual TLS 1.3 (ring), both certificates
//! from the cluster CA. The agent's certificate must be the CA's and name the address called; this node
//! presents its own node certificate ([`crate::node::NODE_DIR`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::agent::{
    ASSIGNMENT_PATH, Assignment, HEALTH_PATH, Health, STATUS_PATH, STEPS_PATH, StepOutcome,
    StepRequest,
};
use crate::galera::view::{GALERA_PATH, PeerGalera};
use crate::leave::{LEAVE_PATH, LeaveOutcome, LeaveRequest};
use crate::status::NodeStatus;

/// How long a health probe or an assignment may take.
pub const SHORT: Duration = Duration::from_secs(30);
/// How long a status may take: the agent asks MariaDB and RabbitMQ (`rabbitmqctl` starts an Erlang VM
/// per call, slow on a busy node, and waits up to its own timeout for unresponsive queues).
pub const STATUS: Duration = Duration::from_secs(90);
/// How long one step may take (package installs and database migrations on a slow node).
pub const STEP: Duration = Duration::from_secs(3600);
/// How long a Galera state may take (a file and one query, while MariaDB starts at boot).
pub const GALERA: Duration = Duration::from_secs(10);
/// The largest answer read (a step's output is kept short by the journal).
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

/// Why a call to an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// This node's credentials could not be read.
    #[error("reading {path}")]
    Credentials {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the configuration.
    #[error("configuring mutual TLS")]
    Config(#[source] rustls::Error),
    /// Connecting, the handshake or the exchange failed.
    #[error("the agent at {addr}: {what}")]
    Wire {
        /// The agent.
        addr: SocketAddr,
        /// What failed.
        what: String,
    },
    /// The agent answered with an error.
    #[error("the agent at {addr} answered {status}: {detail}")]
    Refused {
        /// The agent.
        addr: SocketAddr,
        /// The HTTP status.
        status: u16,
        /// The problem's detail, or the body.
        detail: String,
    },
}

/// A TLS client configuration for agent calls: the cluster CA as the only root, this node's
/// certificate and key as the client's.
pub fn tls_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ClientConfig>, LinkError> {
    let pem = |path: &Path| {
        let path = path.display().to_string();
        move |source| LinkError::Credentials { path, source }
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(pem(ca))? {
        roots.add(c.map_err(pem(ca))?).map_err(LinkError::Config)?;
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(LinkError::Config)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(LinkError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`tls_config`] from this node's cluster credentials in `STATE/cluster/node/` (`state` is the
/// wizard's state directory).
pub fn node_tls(state: &Path) -> Result<Arc<rustls::ClientConfig>, LinkError> {
    let dir = state.join(crate::node::NODE_DIR);
    tls_config(
        &dir.join(crate::node::CLUSTER_CA),
        &dir.join(crate::node::NODE_CERT),
        &dir.join(crate::node::NODE_KEY),
    )
}

/// One node's agent, as the coordinator calls it.
#[derive(Debug, Clone)]
pub struct AgentLink {
    /// The agent's address and port.
    pub addr: SocketAddr,
    /// The mutual-TLS configuration.
    pub tls: Arc<rustls::ClientConfig>,
}

impl AgentLink {
    /// The agent's health.
    pub fn health(&self) -> Result<Health, LinkError> {
        self.call("GET", HEALTH_PATH, None::<&()>, SHORT)
    }

    /// What the agent sees of its node (Galera, RabbitMQ, the API address).
    pub fn status(&self) -> Result<NodeStatus, LinkError> {
        self.call("GET", STATUS_PATH, None::<&()>, STATUS)
    }

    /// Hands the agent its assignment.
    pub fn assign(&self, assignment: &Assignment) -> Result<(), LinkError> {
        let _: serde_json::Value = self.call("PUT", ASSIGNMENT_PATH, Some(assignment), SHORT)?;
        Ok(())
    }

    /// Runs one step on the agent's node and waits for it.
    pub fn run_step(&self, request: &StepRequest) -> Result<StepOutcome, LinkError> {
        self.call("POST", STEPS_PATH, Some(request), STEP)
    }

    /// The agent's node's Galera: its saved primary component and whether it is primary now.
    pub fn galera(&self) -> Result<PeerGalera, LinkError> {
        self.call("GET", GALERA_PATH, None::<&()>, GALERA)
    }

    /// A signing request for a new key of the agent's node (kept there until its certificate comes).
    pub fn certificate_request(&self) -> Result<String, LinkError> {
        let answer: crate::agent::CertificateRequest = self.call(
            "POST",
            crate::agent::CSR_PATH,
            Some(&serde_json::json!({})),
            SHORT,
        )?;
        Ok(answer.csr)
    }

    /// The agent's node's hardware report and addresses.
    pub fn hardware(&self) -> Result<crate::hardware::Hardware, LinkError> {
        self.call(
            "GET",
            crate::hardware::HARDWARE_PATH,
            None::<&()>,
            crate::hardware::HARDWARE,
        )
    }

    /// Asks the agent's node to leave the cluster (see [`crate::leave`]) and waits for it.
    pub fn leave(&self, request: &LeaveRequest) -> Result<LeaveOutcome, LinkError> {
        self.call("POST", LEAVE_PATH, Some(request), STEP)
    }

    /// The state of one of nova's libvirt domains on the agent's node.
    pub fn vm_state(&self, domain: &str) -> Result<crate::hypervisor::DomainState, LinkError> {
        let path = format!("{}/{domain}", crate::hypervisor::VM_PATH);
        self.call("GET", &path, None::<&()>, SHORT)
    }

    /// Destroys and starts one of nova's libvirt domains on the agent's node (the desk's recovery
    /// when nova cannot).
    pub fn vm_restart(&self, domain: &str) -> Result<crate::hypervisor::DomainState, LinkError> {
        let path = format!("{}/{domain}/restart", crate::hypervisor::VM_PATH);
        self.call(
            "POST",
            &path,
            None::<&()>,
            crate::desk::RESTART_WAIT + SHORT,
        )
    }

    /// Writes the overcommit ratios into the agent's node's nova.conf and restarts its nova-compute.
    pub fn overcommit(
        &self,
        ratios: &stackbox_installer::config::Overcommit,
    ) -> Result<crate::overcommit::Applied, LinkError> {
        let wait = crate::desk::RESTART_WAIT + SHORT;
        self.call(
            "POST",
            crate::overcommit::OVERCOMMIT_PATH,
            Some(ratios),
            wait,
        )
    }

    /// Which processes listen on `port` on the agent's node.
    pub fn port_holders(&self, port: u16) -> Result<Vec<crate::desk::Holder>, LinkError> {
        let path = format!("{}/{port}", crate::desk::PORT_PATH);
        self.call("GET", &path, None::<&()>, SHORT)
    }

    /// Restarts `service` on the agent's node and waits until it is active again (or says why not).
    pub fn restart(&self, service: &str) -> Result<crate::desk::Restarted, LinkError> {
        let request = crate::desk::RestartRequest {
            service: service.to_owned(),
        };
        let wait = crate::desk::RESTART_WAIT + SHORT;
        self.call("POST", crate::desk::RESTART_PATH, Some(&request), wait)
    }

    /// GETs `path` of the agent, waiting `timeout` for an answer of at most `limit` bytes: for callers
    /// whose answers are larger than the others' (a node's part of a support bundle).
    pub fn get_large<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
        limit: usize,
    ) -> Result<T, LinkError> {
        self.call_limited("GET", path, None::<&()>, timeout, limit)
    }

    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T, LinkError> {
        self.call_limited(method, path, body, timeout, ANSWER_LIMIT)
    }

    fn call_limited<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
        limit: usize,
    ) -> Result<T, LinkError> {
        let wire = |what: String| LinkError::Wire {
            addr: self.addr,
            what,
        };
        let body = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| wire(e.to_string()))?,
            None => Vec::new(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| wire(e.to_string()))?;
        let exchange = exchange(self.addr, self.tls.clone(), method, path, body, limit);
        let (status, answer) = runtime
            .block_on(async { tokio::time::timeout(timeout, exchange).await })
            .map_err(|_| wire(format!("no answer within {} s", timeout.as_secs())))?
            .map_err(wire)?;
        if !(200..300).contains(&status) {
            let detail = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned());
            return Err(LinkError::Refused {
                addr: self.addr,
                status,
                detail,
            });
        }
        serde_json::from_slice(&answer).map_err(|e| wire(format!("an unreadable answer: {e}")))
    }
}

async fn exchange(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    body: Vec<u8>,
    limit: usize,
) -> Result<(u16, Vec<u8>), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    let stream = connector
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .map_err(|e| format!("the TLS handshake: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("the request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status().as_u16();
    let answer = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok((status, answer))
}

/// Every member's status, asked of its agent at `port` with `tls` (this node's cluster credentials).
pub fn ask_agents(
    config: &stackbox_installer::ClusterConfig,
    tls: std::sync::Arc<rustls::ClientConfig>,
    port: u16,
) -> crate::status::ClusterStatus {
    let ask = |addr| {
        AgentLink {
            addr,
            tls: tls.clone(),
        }
        .status()
        .map_err(|e| stackbox_common::error::chain(&e))
    };
    crate::status::gather(config, &ask, port)
}
