//! The node agent: what every node of a cluster does when the coordinator asks, without HTTP (the
//! wizard's server carries these types over mutual TLS on the agent port, [`AGENT_PORT`]).
//!
//! - [`Agent::health`]: this node's name as the configuration knows it, its image version and its
//!   hardware facts (the plan is made with every node's);
//! - [`Agent::assign`]: takes the cluster's configuration, secrets, every node's facts, the cluster CA's
//!   certificate, the API endpoint's certificate and this node's daemons' certificates, and writes them
//!   where `stackboxd install` reads them (the secrets and the keys 0600), the configuration last: a
//!   node has a configuration only with everything it needs beside it;
//! - [`Agent::run_step`]: runs one of its own steps through the installer's executor and journal, one
//!   at a time. The step runs on a thread of its own, so a coordinator that is killed or disconnects
//!   does not stop it half-way; the next request for it waits for it, then finds it in the journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use stackbox_common::fs::write_atomic;
use stackbox_common::secret::Secret;
use stackbox_installer::executor::{Event, Summary};
use stackbox_installer::install::{self, InstallError, Options};
use stackbox_installer::plan::NodeFacts;
use stackbox_installer::secrets::Secrets;
use stackbox_installer::{ClusterConfig, certificate};
use stackbox_machine::system::Root;

use crate::leave::{LeaveOutcome, LeaveRequest};

/// The port every node's agent listens on (mutual TLS, cluster certificates only).
pub const AGENT_PORT: u16 = 8444;
/// The agent's routes: its health, its assignment, its steps.
pub const HEALTH_PATH: &str = "/agent/v1/health";
/// See [`HEALTH_PATH`].
pub const ASSIGNMENT_PATH: &str = "/agent/v1/assignment";
/// See [`HEALTH_PATH`].
pub const STEPS_PATH: &str = "/agent/v1/steps";
/// See [`HEALTH_PATH`].
pub const STATUS_PATH: &str = "/agent/v1/status";
/// The agent's route for a new key's signing request (a rotation of the CA): `POST`.
pub const CSR_PATH: &str = "/agent/v1/csr";
/// The new key of a signing request, in the node's credentials (0600) until its certificate comes.
pub const NEXT_KEY: &str = "node-next.key";
/// Where an agent keeps the facts of every node that came with its assignment.
pub const FACTS_FILE: &str = "/etc/stackbox/cluster-facts.json";

/// What the coordinator hands a node before it runs the node's steps.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The cluster configuration (TOML), the same on every node.
    pub config: String,
    /// The cluster's secrets file (TOML), the same on every node.
    pub secrets: Secret,
    /// Every node's hardware facts, as their agents reported them.
    pub facts: BTreeMap<String, NodeFacts>,
    /// The cluster CA's certificate (PEM), which clients of the API address trust.
    pub ca: String,
    /// The API endpoint's certificate and key (PEM), the same on every management node, so that the
    /// API address keeps its certificate when it moves.
    pub endpoint: Option<Secret>,
    /// The cluster's CRL (PEM), once a removed node's certificate was revoked: the agent refuses
    /// revoked client certificates from then on.
    #[serde(default)]
    pub crl: Option<String>,
    /// This node's daemons' certificates and keys (PEM), by service name (`mariadb`, `rabbitmq`):
    /// made by the CA's holder for this node's name and address, different on every node.
    #[serde(default)]
    pub services: BTreeMap<String, Secret>,
    /// This node's agent certificate (PEM), when the CA's holder signed the node's request for it with
    /// a new CA (see [`crate::rotate`]): for the key the request was made with, which never left the
    /// node; the agent serves and presents them from then on.
    #[serde(default)]
    pub node: Option<String>,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment")
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

/// A node's signing request for a new key of its agent certificate (the answer of [`CSR_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRequest {
    /// The request (PEM).
    pub csr: String,
}

/// A request to run one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// The step's id (`node/name`).
    pub id: String,
    /// This node's steps that acted earlier in the coordinator's run (a unit watching one restarts).
    pub acted: Vec<String>,
}

/// What running a step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// The step.
    pub id: String,
    /// Its events, in order (output redacted).
    pub events: Vec<Event>,
    /// Its outcome.
    pub summary: Summary,
}

/// An agent's answer to a health probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The image version this node runs.
    pub version: String,
    /// This machine's hardware facts.
    pub facts: NodeFacts,
    /// The node this machine is in its configuration, once it has one.
    pub node: Option<String>,
    /// The step it runs now, if any.
    pub running: Option<String>,
}

/// Why an agent refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The assignment is unusable (nothing was written).
    #[error("the assignment is unusable: {0}")]
    Refused(String),
    /// A file could not be written.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The step could not be run (no configuration, not this node's, journal broken).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The step's thread could not be started or died.
    #[error("the step's thread: {0}")]
    Thread(String),
    /// The hardware could not be probed.
    #[error("probing the hardware")]
    Probe(#[from] stackbox_machine::probe::ProbeError),
    /// Leaving the cluster stopped at a command that failed (its output and every line before it).
    #[error("leaving the cluster failed:\n{0}")]
    Leave(String),
}

/// Where an agent reads and writes (the real paths, or a test's directory).
#[derive(Debug, Clone)]
pub struct AgentPaths {
    /// The cluster configuration.
    pub config: PathBuf,
    /// The secrets.
    pub secrets: PathBuf,
    /// The journal.
    pub journal: PathBuf,
    /// Every node's facts.
    pub facts: PathBuf,
    /// The cluster CA's certificate and key (a node with the key is the CA's holder).
    pub ca: certificate::Paths,
    /// The machine probed for facts.
    pub root: PathBuf,
    /// This node's cluster credentials (deleted when it leaves).
    pub credentials: PathBuf,
    /// The wizard's state directory (what MariaDB's last start decided is kept there).
    pub state: PathBuf,
    /// Where the daemons' assigned certificates are kept.
    pub assigned_tls: PathBuf,
}

impl Default for AgentPaths {
    fn default() -> AgentPaths {
        AgentPaths {
            config: stackbox_installer::runner::CONFIG_PATH.into(),
            secrets: stackbox_installer::secrets::DEFAULT_PATH.into(),
            journal: stackbox_installer::journal::DEFAULT_PATH.into(),
            facts: FACTS_FILE.into(),
            ca: certificate::Paths::default(),
            root: "/".into(),
            credentials: Path::new("/var/lib/stackbox").join(crate::node::NODE_DIR),
            state: "/var/lib/stackbox".into(),
            assigned_tls: stackbox_installer::service_tls::ASSIGNED_DIR.into(),
        }
    }
}

/// A node's agent: one step at a time.
#[derive(Debug, Clone)]
pub struct Agent {
    paths: AgentPaths,
    running: Arc<Mutex<Option<String>>>,
    one_at_a_time: Arc<Mutex<()>>,
}

impl Agent {
    /// An agent over these paths.
    pub fn new(paths: AgentPaths) -> Agent {
        Agent {
            paths,
            running: Arc::default(),
            one_at_a_time: Arc::default(),
        }
    }

    /// Where it reads and writes.
    pub fn paths(&self) -> &AgentPaths {
        &self.paths
    }

    /// The step it runs now, if any.
    pub fn running(&self) -> Option<String> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// This node's health: version, facts, which node it is and what it runs.
    pub fn health(&self) -> Health {
        let root = Root::at(&self.paths.root);
        let node = stackbox_installer::load_config(&self.paths.config)
            .ok()
            .and_then(|c| {
                let local = stackbox_installer::local_nodes(&c, &root);
                (local.len() == 1).then(|| local[0].name.clone())
            });
        Health {
            version: crate::join::image_version().to_owned(),
            facts: stackbox_installer::facts::probe(&root),
            node,
            running: self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// This machine's hardware report and addresses (blocking: see [`crate::hardware::Hardware::probe`]).
    pub fn hardware(&self) -> Result<crate::hardware::Hardware, AgentError> {
        Ok(crate::hardware::Hardware::probe(&Root::at(
            &self.paths.root,
        ))?)
    }

    /// Checks the assignment whole, then writes it: CA certificates (into `/etc/stackbox` unless this
    /// node holds the CA's key: then they must be its own; and into the node's credentials, which the
    /// agent trusts), the node's own reissued certificate (which must be of the first CA), endpoint
    /// certificate, the daemons' certificates (under known service names only), facts, secrets, and the
    /// configuration last.
    pub fn assign(&self, a: &Assignment) -> Result<(), AgentError> {
        let refused = AgentError::Refused;
        check_shared(a)?;
        let mut services = Vec::new();
        for (name, pem) in &a.services {
            if stackbox_installer::service_tls::Service::from_name(name).is_none() {
                return Err(refused(format!("no service is named {name:?}")));
            }
            if !pem.expose().contains("-----BEGIN CERTIFICATE-----")
                || !pem.expose().contains("PRIVATE KEY-----")
            {
                return Err(refused(format!(
                    "{name}'s certificate is not a PEM certificate and key"
                )));
            }
            services.push((self.paths.assigned_tls.join(format!("{name}.pem")), pem));
        }
        let own = match &a.node {
            Some(cert) => Some(self.node_credentials(&a.ca, cert).map_err(refused)?),
            None => None,
        };
        let holder = self.paths.ca.ca_key.exists();
        if holder
            && std::fs::read_to_string(&self.paths.ca.ca_cert)
                .ok()
                .as_deref()
                != Some(&a.ca)
        {
            return Err(refused(
                "this node holds the cluster CA's key, and the assignment names another CA".into(),
            ));
        }
        let facts = serde_json::to_string_pretty(&a.facts).unwrap_or_default();
        let mut files: Vec<(&Path, &[u8], u32)> = Vec::new();
        if !holder {
            files.push((&self.paths.ca.ca_cert, a.ca.as_bytes(), 0o644));
        }
        if let Some(endpoint) = &a.endpoint {
            files.push((&self.paths.ca.endpoint, endpoint.expose().as_bytes(), 0o600));
        }
        let crl = self.paths.credentials.join(crate::revocation::AGENT_CRL);
        if let Some(text) = &a.crl {
            files.push((&crl, text.as_bytes(), 0o644));
        }
        // The node's credentials: the CAs it trusts first (the new one with the old while a rotation
        // runs), then its key and its certificate (the listener reads them again, a good pair only).
        let trusted = self.paths.credentials.join(crate::node::CLUSTER_CA);
        let (node_key, node_cert) = (
            self.paths.credentials.join(crate::node::NODE_KEY),
            self.paths.credentials.join(crate::node::NODE_CERT),
        );
        if self.paths.credentials.exists() {
            files.push((&trusted, a.ca.as_bytes(), 0o644));
        }
        if let Some((cert, key)) = &own {
            files.push((&node_key, key.expose().as_bytes(), 0o600));
            files.push((&node_cert, cert.as_bytes(), 0o644));
        }
        for (path, pem) in &services {
            files.push((path, pem.expose().as_bytes(), 0o600));
        }
        files.push((&self.paths.facts, facts.as_bytes(), 0o644));
        files.push((&self.paths.secrets, a.secrets.expose().as_bytes(), 0o600));
        files.push((&self.paths.config, a.config.as_bytes(), 0o644));
        for (path, contents, mode) in files {
            write_atomic(path, contents, mode).map_err(|source| AgentError::Write {
                path: path.display().to_string(),
                source,
            })?;
        }
        // The request's key is the node's key now.
        let next = self.paths.credentials.join(NEXT_KEY);
        if own.is_some() && next.exists() {
            std::fs::remove_file(&next).map_err(|source| AgentError::Write {
                path: next.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// A new key for this node's agent certificate, kept in its credentials ([`NEXT_KEY`], 0600) until
    /// an assignment brings the certificate for it; its signing request (PEM), which names nothing:
    /// the names are the signer's to decide, as at the join.
    pub fn certificate_request(&self) -> Result<String, AgentError> {
        let failed = |e: rcgen::Error| AgentError::Refused(format!("making the request: {e}"));
        let key = rcgen::KeyPair::generate().map_err(failed)?;
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .and_then(|p| p.serialize_request(&key))
            .and_then(|r| r.pem())
            .map_err(failed)?;
        let path = self.paths.credentials.join(NEXT_KEY);
        write_atomic(&path, key.serialize_pem().as_bytes(), 0o600).map_err(|source| {
            AgentError::Write {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(csr)
    }

    /// The node's reissued certificate `cert` and its key: the key of the node's last request (or, when
    /// an assignment comes again, the node's key already), and the certificate signed by the first
    /// certificate of `ca` (the CA that signs now).
    fn node_credentials(&self, ca: &str, cert: &str) -> Result<(String, Secret), String> {
        let candidates = [
            self.paths.credentials.join(NEXT_KEY),
            self.paths.credentials.join(crate::node::NODE_KEY),
        ];
        let key = candidates
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .find(|pem| {
                rcgen::KeyPair::from_pem(pem)
                    .is_ok_and(|k| stackbox_installer::certificate::key_fits(cert, &k))
            })
            .ok_or(
                "the node's certificate is not for a key of this node (ask for a new request)",
            )?;
        stackbox_installer::service_tls::judge("the node's certificate", ca, cert, &key, &[])
            .map_err(|e| e.to_string())?;
        Ok((cert.to_owned(), Secret::from(key)))
    }

    /// The facts of every node that came with the assignment (none before one).
    fn assigned_facts(&self) -> BTreeMap<String, NodeFacts> {
        std::fs::read_to_string(&self.paths.facts)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Runs one of this node's steps on a thread of its own and waits for it. Steps run one at a
    /// time; a request that arrives while another runs waits its turn.
    pub async fn run_step(&self, request: StepRequest) -> Result<StepOutcome, AgentError> {
        self.on_own_thread(request.id.clone(), move |agent| agent.run_locked(&request))
            .await
    }

    /// Leaves the cluster (see [`crate::leave`]), after any step that runs, on a thread of its own.
    pub async fn leave(&self, request: LeaveRequest) -> Result<LeaveOutcome, AgentError> {
        self.on_own_thread("leave".into(), move |agent| {
            let prepared = agent.prepared(&request.node, "leave")?;
            let units = prepared.plan().units_to_stop(prepared.node());
            let commands = crate::leave::commands(prepared.node(), &units);
            match crate::leave::carry_out(&commands, &agent.paths.credentials) {
                Ok(output) => Ok(LeaveOutcome {
                    node: request.node.clone(),
                    output,
                }),
                Err(output) => Err(AgentError::Leave(output.join("\n"))),
            }
        })
        .await
    }

    /// Runs `work` on a thread of its own, one piece of work at a time, and waits for it: a coordinator
    /// that disconnects does not stop it half-way.
    async fn on_own_thread<T: Send + 'static>(
        &self,
        what: String,
        work: impl FnOnce(&Agent) -> Result<T, AgentError> + Send + 'static,
    ) -> Result<T, AgentError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let agent = self.clone();
        std::thread::Builder::new()
            .name("agent-step".into())
            .spawn(move || {
                let _turn = agent
                    .one_at_a_time
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                *agent.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
                let result = work(&agent);
                *agent.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let _ = tx.send(result);
            })
            .map_err(|e| AgentError::Thread(e.to_string()))?;
        rx.await
            .map_err(|_| AgentError::Thread("it stopped without an answer".into()))?
    }

    /// The assigned plan, prepared for `node`, which must be this machine (`what` names the request).
    fn prepared(&self, node: &str, what: &str) -> Result<install::Prepared, AgentError> {
        let opts = Options {
            config: self.paths.config.clone(),
            node: Some(node.to_owned()),
            secrets: self.paths.secrets.clone(),
            journal: self.paths.journal.clone(),
            stop_after: None,
            root: self.paths.root.clone(),
            facts: self.assigned_facts(),
        };
        let prepared = install::prepare(&opts)?;
        let root = Root::at(&self.paths.root);
        if !stackbox_installer::local_nodes(prepared.config(), &root)
            .iter()
            .any(|n| n.name == prepared.node())
        {
            return Err(AgentError::Refused(format!(
                "{what}: this machine is not node {} (none of its addresses is the node's)",
                prepared.node()
            )));
        }
        Ok(prepared)
    }

    fn run_locked(&self, request: &StepRequest) -> Result<StepOutcome, AgentError> {
        let node = request.id.split('/').next().unwrap_or_default();
        let prepared = self.prepared(node, &format!("step {}", request.id))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AgentError::Thread(e.to_string()))?;
        let mut events = Vec::new();
        let summary = runtime.block_on(install::execute_step(
            &prepared,
            &request.id,
            &request.acted,
            &mut |e| events.push(e),
        ))?;
        Ok(StepOutcome {
            id: request.id.clone(),
            events,
            summary,
        })
    }
}

/// Checks the parts of an assignment that are the same on every node: the configuration, the secrets,
/// a node's facts for each of its nodes, the CRL and the CA as PEM.
fn check_shared(a: &Assignment) -> Result<(), AgentError> {
    let refused = AgentError::Refused;
    let config = ClusterConfig::from_toml("assignment", &a.config)
        .map_err(|e| refused(format!("the configuration: {e}")))?;
    Secrets::parse(a.secrets.expose(), "the assignment's secrets")
        .map_err(|e| refused(e.to_string()))?;
    if let Some(n) = config.nodes.iter().find(|n| !a.facts.contains_key(&n.name)) {
        return Err(refused(format!("no facts for node {}", n.name)));
    }
    if a.crl
        .as_ref()
        .is_some_and(|c| !c.contains("-----BEGIN X509 CRL-----"))
    {
        return Err(refused("the CRL is not a PEM CRL".into()));
    }
    if !a.ca.contains("-----BEGIN CERTIFICATE-----") {
        return Err(refused("the CA is not a PEM certificate".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    fn paths(dir: &Path) -> AgentPaths {
        AgentPaths {
            config: dir.join("cluster.toml"),
            secrets: dir.join("secrets.toml"),
            journal: dir.join("journal.db"),
            facts: dir.join("facts.json"),
            ca: certificate::Paths {
                ca_cert: dir.join("ca.pem"),
                ca_key: dir.join("ca-key.pem"),
                endpoint: dir.join("stackbox.pem"),
            },
            root: dir.to_owned(),
            credentials: dir.join("node"),
            state: dir.to_owned(),
            assigned_tls: dir.join("tls"),
        }
    }

    fn secrets() -> String {
        stackbox_installer::secrets::NAMES
            .iter()
            .map(|n| format!("{n} = \"value-of-{n}\"\n"))
            .collect()
    }

    fn assignment() -> Assignment {
        let config = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/three-node.toml"
        ))
        .unwrap();
        Assignment {
            config,
            secrets: Secret::from(secrets()),
            facts: ["node1", "node2", "node3"]
                .into_iter()
                .map(|n| (n.to_owned(), NodeFacts::default()))
                .collect(),
            ca: "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n".into(),
            endpoint: Some(Secret::from("ENDPOINT PEM\n".to_owned())),
            crl: None,
            node: None,
            services: [(
                "mariadb".to_owned(),
                Secret::from(
                    "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"
                        .to_owned(),
                ),
            )]
            .into(),
        }
    }

    #[test]
    fn an_assignment_lands_whole_with_private_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::new(paths(dir.path()));
        let crl = "-----BEGIN X509 CRL-----\nMII\n-----END X509 CRL-----\n";
        agent
            .assign(&Assignment {
                crl: Some(crl.into()),
                ..assignment()
            })
            .unwrap();
        let kept = dir.path().join("node").join(crate::revocation::AGENT_CRL);
        assert_eq!(std::fs::read_to_string(kept).unwrap(), crl);
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("secrets.toml"), 0o600);
        assert_eq!(mode("stackbox.pem"), 0o600);
        assert_eq!(mode("tls/mariadb.pem"), 0o600);
        assert_eq!(mode("cluster.toml"), 0o644);
        assert_eq!(agent.assigned_facts().len(), 3);
        // The secrets are not in the assignment's Debug form.
        assert!(!format!("{:?}", assignment()).contains("value-of"));
    }

    #[test]
    fn an_unusable_assignment_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::new(paths(dir.path()));
        let mut missing_secret = assignment();
        missing_secret.secrets = Secret::from("admin = \"x\"\n".to_owned());
        let mut missing_facts = assignment();
        missing_facts.facts.remove("node2");
        let mut bad_config = assignment();
        bad_config.config.push_str("\nbogus = 1\n");
        let mut bad_ca = assignment();
        bad_ca.ca = "not a certificate".into();
        let mut bad_crl = assignment();
        bad_crl.crl = Some("-----BEGIN CERTIFICATE-----\n".into());
        let mut bad_service = assignment();
        bad_service.services = [(
            "../../etc/shadow".to_owned(),
            assignment().services["mariadb"].clone(),
        )]
        .into();
        let mut keyless = assignment();
        keyless.services = [(
            "rabbitmq".to_owned(),
            Secret::from("-----BEGIN CERTIFICATE-----\n".to_owned()),
        )]
        .into();
        for (a, why) in [
            (bad_service, "no service is named"),
            (
                keyless,
                "rabbitmq's certificate is not a PEM certificate and key",
            ),
            (bad_crl, "not a PEM CRL"),
            (missing_secret, "is missing"),
            (missing_facts, "no facts for node node2"),
            (bad_config, "configuration"),
            (bad_ca, "PEM"),
        ] {
            let err = agent.assign(&a).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_reissued_node_certificate_for_the_nodes_own_request_lands_in_the_credentials() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        std::fs::create_dir_all(&p.credentials).unwrap();
        let (old, old_issuer) = stackbox_common::pki::new_ca("old").unwrap();
        let (new, new_issuer) = stackbox_common::pki::new_ca("new").unwrap();
        let agent = Agent::new(p.clone());
        let csr = agent.certificate_request().unwrap();
        let next = p.credentials.join(NEXT_KEY);
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&next), 0o600);
        let requested_key = std::fs::read_to_string(&next).unwrap();
        let sign = |issuer| {
            let mut request = rcgen::CertificateSigningRequestParams::from_pem(&csr).unwrap();
            request.params = stackbox_common::pki::leaf_params(
                &["node2".to_owned()],
                "node2",
                stackbox_common::pki::Purpose::ServerAndClient,
            )
            .unwrap();
            request.signed_by(issuer).unwrap().pem()
        };
        // The bundle of a rotation: the new CA signs, first; the old one is still trusted.
        let bundle = format!("{}{}", new.pem(), old.pem());
        let mut a = Assignment {
            ca: bundle.clone(),
            node: Some(sign(&old_issuer)),
            ..assignment()
        };
        let err = agent.assign(&a).unwrap_err().to_string();
        assert!(err.contains("not signed by the cluster CA"), "{err}");
        let strange = stackbox_installer::service_tls::issue(&new_issuer, &["node2".to_owned()])
            .unwrap()
            .expose()
            .to_owned();
        a.node = Some(strange[..strange.find("-----BEGIN PRIVATE KEY-----").unwrap()].to_owned());
        let err = agent.assign(&a).unwrap_err().to_string();
        assert!(err.contains("not for a key of this node"), "{err}");
        assert!(!p.config.exists(), "nothing written");
        let good = sign(&new_issuer);
        a.node = Some(good.clone());
        agent.assign(&a).unwrap();
        let read = |f: &str| std::fs::read_to_string(p.credentials.join(f)).unwrap();
        assert_eq!(read(crate::node::CLUSTER_CA), bundle);
        assert_eq!(read(crate::node::NODE_CERT), good);
        assert_eq!(
            read(crate::node::NODE_KEY),
            requested_key,
            "the key never left the node"
        );
        assert_eq!(mode(&p.credentials.join(crate::node::NODE_KEY)), 0o600);
        assert!(!next.exists());
        assert_eq!(std::fs::read_to_string(&p.ca.ca_cert).unwrap(), bundle);
        // The same assignment again (a rerun): the certificate is the node's key's.
        agent.assign(&a).unwrap();
        assert_eq!(read(crate::node::NODE_KEY), requested_key);
    }

    #[test]
    fn the_ca_holder_keeps_its_own_ca() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        std::fs::write(&p.ca.ca_key, "KEY").unwrap();
        std::fs::write(&p.ca.ca_cert, "OTHER CA").unwrap();
        let agent = Agent::new(p.clone());
        let err = agent.assign(&assignment()).unwrap_err().to_string();
        assert!(err.contains("another CA"), "{err}");
        std::fs::write(&p.ca.ca_cert, &assignment().ca).unwrap();
        agent.assign(&assignment()).unwrap();
        assert!(p.config.exists());
    }

    #[tokio::test]
    async fn a_step_of_another_node_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::new(paths(dir.path()));
        let err = agent
            .run_step(StepRequest {
                id: "node1/hosts".into(),
                acted: vec![],
            })
            .await
            .unwrap_err();
        // No configuration yet: the installer says so.
        assert!(matches!(err, AgentError::Install(_)), "{err:?}");
    }

    #[tokio::test]
    async fn another_machine_is_refused_leaving_and_keeps_its_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::new(paths(dir.path()));
        agent.assign(&assignment()).unwrap();
        std::fs::create_dir_all(dir.path().join("node")).unwrap();
        std::fs::write(dir.path().join("node").join(crate::node::NODE_KEY), "key").unwrap();
        // The test's root has none of node3's addresses: this machine is not node3.
        let err = agent
            .leave(LeaveRequest {
                node: "node3".into(),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentError::Refused(why) if why.contains("not node node3")),
            "{err:?}"
        );
        assert!(dir.path().join("node").join(crate::node::NODE_KEY).exists());
        assert!(agent.running().is_none());
    }
}
