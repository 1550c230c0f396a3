//! The coordinator: runs a cluster's whole plan across its nodes' agents.
//!
//! [`run_plan`] walks the plan with a thread per node: each node's steps run in plan order, one at a
//! time on that node (its agent runs them through its executor and journal), while the nodes run side
//! by side; a step whose `after` names another node's step waits until that step is done anywhere in
//! the cluster. The first failure stops every node at its next step. Nothing is done twice: a step an
//! agent finished is in its journal, so a rerun (after the coordinator was killed, a node rebooted or a
//! step failed) finds it done and goes on from there.
//!
//! [`install`] is `stackboxd cluster install`: it reads the configuration, makes this node's agent
//! credentials when the CA's holder has none yet, asks every agent for its health and hardware facts,
//! plans with them, hands every agent its assignment (the configuration, the secrets, the CA and the
//! endpoint certificate made once, here) and runs the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use stackbox_common::fs::write_atomic;
use stackbox_common::pki;
use stackbox_common::secret::Secret;
use stackbox_hardware_profiles::Catalog;
use stackbox_installer::executor::Event;
use stackbox_installer::plan::Plan;
use stackbox_installer::{ClusterConfig, certificate};
use stackbox_machine::system::Root;

use crate::agent::{AGENT_PORT, Assignment, StepOutcome, StepRequest};
use crate::agent_client::{self, AgentLink, LinkError};
use crate::node::{CLUSTER_CA, NODE_CERT, NODE_DIR, NODE_KEY};

/// Who follows a coordinator's run: the CLI prints it, the wizard keeps it as one progress for all
/// nodes. A closure over a node and an event is a watcher that ignores the rest.
pub trait Watch: Sync {
    /// The plan, once made (before any step runs).
    fn planned(&self, plan: &Plan) {
        let _ = plan;
    }
    /// The coordinator hands `node`'s agent the step `id` (its events follow when it ends).
    fn starting(&self, node: &str, id: &str) {
        let _ = (node, id);
    }
    /// One step's event on `node`.
    fn event(&self, node: &str, event: &Event);
    /// A line for the operator (a removal's stages, its warnings).
    fn say(&self, line: &str) {
        let _ = line;
    }
}

impl<F: Fn(&str, &Event) + Sync + ?Sized> Watch for F {
    fn event(&self, node: &str, event: &Event) {
        self(node, event)
    }
}

/// A node's agent as the scheduler sees it (the real one is an [`AgentLink`]; tests pass fakes).
pub trait Link: Sync {
    /// Runs one step on the node and waits for it.
    fn run_step(&self, request: &StepRequest) -> Result<StepOutcome, String>;
}

impl Link for AgentLink {
    fn run_step(&self, request: &StepRequest) -> Result<StepOutcome, String> {
        AgentLink::run_step(self, request).map_err(|e| stackbox_common::error::chain(&e))
    }
}

/// The step that stopped a run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The step.
    pub id: String,
    /// What went wrong (the step's error, or the agent's).
    pub error: String,
}

/// How a run across the cluster ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Per node, the steps that acted.
    pub acted: BTreeMap<String, Vec<String>>,
    /// Steps found done (journal or own check).
    pub skipped: usize,
    /// The first failure, if any.
    pub failed: Option<Failure>,
    /// Seconds the run took.
    pub seconds: f64,
}

#[derive(Default)]
struct Shared {
    done: BTreeSet<String>,
    failed: Option<Failure>,
    acted: BTreeMap<String, Vec<String>>,
    skipped: usize,
}

/// Runs `plan` on the nodes of `links` (every node of the plan must have one), reporting every event
/// with its node to `watch`.
pub fn run_plan(plan: &Plan, links: &BTreeMap<String, &dyn Link>, watch: &dyn Watch) -> Report {
    let started = Instant::now();
    let shared = Mutex::new(Shared::default());
    let changed = Condvar::new();
    let mut nodes: Vec<&str> = plan.steps.iter().map(|s| s.node.as_str()).collect();
    nodes.dedup();
    let nodes: BTreeSet<&str> = nodes.into_iter().collect();
    if let Some(missing) = nodes.iter().find(|n| !links.contains_key(**n)) {
        return Report {
            failed: Some(Failure {
                id: format!("{missing}/*"),
                error: format!("no agent for node {missing}"),
            }),
            ..Report::default()
        };
    }
    std::thread::scope(|scope| {
        for node in &nodes {
            let link = links[*node];
            let (shared, changed) = (&shared, &changed);
            scope.spawn(move || run_node(plan, node, link, shared, changed, watch));
        }
    });
    let shared = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    Report {
        acted: shared.acted,
        skipped: shared.skipped,
        failed: shared.failed,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// One node's thread: its steps in order, each after its dependencies anywhere in the cluster.
fn run_node(
    plan: &Plan,
    node: &str,
    link: &dyn Link,
    shared: &Mutex<Shared>,
    changed: &Condvar,
    watch: &dyn Watch,
) {
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    for step in plan.for_node(node) {
        let acted = {
            let mut s = lock();
            while s.failed.is_none() && !step.after.iter().all(|d| s.done.contains(d)) {
                s = changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.failed.is_some() {
                return;
            }
            s.acted.get(node).cloned().unwrap_or_default()
        };
        let request = StepRequest {
            id: step.id.clone(),
            acted,
        };
        watch.starting(node, &step.id);
        let result = link.run_step(&request);
        let mut s = lock();
        match result {
            Ok(outcome) => {
                for e in &outcome.events {
                    watch.event(node, e);
                }
                let summary = outcome.summary;
                if let Some(id) = summary.failed {
                    let error = outcome
                        .events
                        .iter()
                        .find_map(|e| match e {
                            Event::Failed { error, .. } => Some(error.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| "failed".into());
                    s.failed.get_or_insert(Failure { id, error });
                } else {
                    if summary.acted.contains(&step.id) {
                        s.acted
                            .entry(node.to_owned())
                            .or_default()
                            .push(step.id.clone());
                    } else {
                        s.skipped += 1;
                    }
                    s.done.insert(step.id.clone());
                }
            }
            Err(error) => {
                watch.event(
                    node,
                    &Event::Failed {
                        id: step.id.clone(),
                        error: error.clone(),
                        log: None,
                        remedy: Some(format!(
                            "check that node {node}'s agent runs (stackbox-wizard.service), then run `stackboxd cluster install` again: finished steps are not repeated"
                        )),
                    },
                );
                s.failed.get_or_insert(Failure {
                    id: step.id.clone(),
                    error,
                });
            }
        }
        changed.notify_all();
        if s.failed.is_some() {
            return;
        }
    }
}

/// Why `stackboxd cluster install` could not run the plan.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The configuration could not be read.
    #[error(transparent)]
    Load(#[from] stackbox_installer::LoadError),
    /// The configuration could not be planned.
    #[error(transparent)]
    Plan(#[from] stackbox_installer::plan::PlanError),
    /// The hardware profiles are broken.
    #[error("hardware profiles: {0}")]
    Profiles(#[from] stackbox_hardware_profiles::ProfileError),
    /// This machine cannot coordinate.
    #[error("{0}")]
    NotHere(String),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An agent could not be reached or refused.
    #[error("node {node}")]
    Agent {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: LinkError,
    },
    /// The agents do not agree with this node.
    #[error("{0}")]
    Mismatch(String),
}

/// The cluster's configuration as it grows and shrinks, relative to the state directory: the first
/// node's wizard writes it as joined nodes get their roles, `cluster remove` without the node removed.
pub const CLUSTER_CONFIG: &str = "cluster/config.toml";

/// Where the coordinator finds its state.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The cluster configuration to install.
    pub config: PathBuf,
    /// The wizard's state directory (this node's agent credentials are in `cluster/node/`).
    pub state_dir: PathBuf,
    /// The secrets file.
    pub secrets: PathBuf,
    /// The cluster CA and the endpoint certificate.
    pub ca: certificate::Paths,
    /// The agents' port.
    pub port: u16,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            config: stackbox_installer::runner::CONFIG_PATH.into(),
            state_dir: "/var/lib/stackbox".into(),
            secrets: stackbox_installer::secrets::DEFAULT_PATH.into(),
            ca: certificate::Paths::default(),
            port: AGENT_PORT,
        }
    }
}

fn file_error(path: &Path) -> impl FnOnce(String) -> CoordError + '_ {
    move |reason| CoordError::File {
        path: path.display().to_string(),
        reason,
    }
}

/// This node's agent credentials, made with the cluster CA when missing (the CA's holder never joined
/// anyone: it signs its own node certificate).
pub fn ensure_own_credentials(
    setup: &Setup,
    name: &str,
    address: std::net::IpAddr,
) -> Result<PathBuf, CoordError> {
    let dir = setup.state_dir.join(NODE_DIR);
    if dir.join(NODE_CERT).exists() && dir.join(NODE_KEY).exists() {
        return Ok(dir);
    }
    let (issuer, _) = certificate::ensure_ca(&setup.ca.ca_cert, &setup.ca.ca_key)
        .map_err(|e| file_error(&setup.ca.ca_cert)(stackbox_common::error::chain(&e)))?;
    let names = [name.to_owned(), address.to_string()];
    let sign = |e: pki::PkiError| file_error(&dir)(stackbox_common::error::chain(&e));
    let params = pki::leaf_params(&names, name, pki::Purpose::ServerAndClient).map_err(sign)?;
    let (cert, key) = pki::new_leaf(params, &issuer).map_err(sign)?;
    let ca = std::fs::read_to_string(&setup.ca.ca_cert)
        .map_err(|e| file_error(&setup.ca.ca_cert)(e.to_string()))?;
    for (file, contents, mode) in [
        (NODE_KEY, key.serialize_pem(), 0o600),
        (CLUSTER_CA, ca, 0o644),
        (NODE_CERT, cert.pem(), 0o644),
    ] {
        let path = dir.join(file);
        write_atomic(&path, contents.as_bytes(), mode)
            .map_err(|e| file_error(&path)(e.to_string()))?;
    }
    Ok(dir)
}

/// A certificate for each daemon of `node` with one (MariaDB on a storage-metadata node, RabbitMQ on a
/// message-bus node), for its name and address, signed by `issuer`: handed to the node in its
/// assignment, put in place by its `tls.SERVICE` step unless the one there is still good.
pub(crate) fn service_certificates(
    config: &ClusterConfig,
    node: &str,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> Result<BTreeMap<String, Secret>, CoordError> {
    use stackbox_installer::service_tls::{Service, issue};
    let Some(node) = config.nodes.iter().find(|n| n.name == node) else {
        return Ok(BTreeMap::new());
    };
    let names = [node.name.clone(), node.address.to_string()];
    Service::ALL
        .into_iter()
        .filter(|s| node.has(s.role()))
        .map(|s| {
            issue(issuer, &names)
                .map(|pem| (s.name().to_owned(), pem))
                .map_err(|e| CoordError::File {
                    path: format!("{}'s {} certificate", node.name, s.name()),
                    reason: stackbox_common::error::chain(&e),
                })
        })
        .collect()
}

/// The node this machine is, which must hold the cluster CA's key.
pub(crate) fn this_node<'a>(
    config: &'a ClusterConfig,
    setup: &Setup,
) -> Result<&'a stackbox_installer::config::Node, CoordError> {
    let local = stackbox_installer::local_nodes(config, &Root::at("/"));
    let [me] = local.as_slice() else {
        return Err(CoordError::NotHere(
            "none of the configuration's nodes has an address of this machine: run it on the node that created the cluster".into(),
        ));
    };
    if !setup.ca.ca_key.exists() {
        return Err(CoordError::NotHere(format!(
            "this node does not hold the cluster CA's key ({}): run it on the node that created the cluster",
            setup.ca.ca_key.display()
        )));
    }
    Ok(me)
}

/// The mutual-TLS configuration this node (`name` at `address`, the CA's holder) calls agents with: its
/// own node credentials, made with the cluster CA when missing.
pub fn client_tls(
    setup: &Setup,
    name: &str,
    address: std::net::IpAddr,
) -> Result<std::sync::Arc<rustls::ClientConfig>, CoordError> {
    let dir = ensure_own_credentials(setup, name, address)?;
    agent_client::tls_config(&setup.ca.ca_cert, &dir.join(NODE_CERT), &dir.join(NODE_KEY)).map_err(
        |source| CoordError::Agent {
            node: name.to_owned(),
            source,
        },
    )
}

/// A link to every node's agent, with this node's credentials (made when missing).
pub(crate) fn links(
    setup: &Setup,
    config: &ClusterConfig,
    me: &stackbox_installer::config::Node,
) -> Result<BTreeMap<String, AgentLink>, CoordError> {
    let tls = client_tls(setup, &me.name, me.address)?;
    Ok(config
        .nodes
        .iter()
        .map(|n| {
            let link = AgentLink {
                addr: SocketAddr::new(n.address, setup.port),
                tls: tls.clone(),
            };
            (n.name.clone(), link)
        })
        .collect())
}

/// How often a hardware report is asked again when the agent's connection fails (a second apart).
const HARDWARE_RETRIES: u32 = 3;

/// The hardware of `nodes` (name, management address), asked of their agents at once by this node
/// (`me`, the CA's holder): each node's report, or why it could not be had.
pub fn hardware_of(
    setup: &Setup,
    me: (&str, IpAddr),
    nodes: &[(String, IpAddr)],
) -> Result<BTreeMap<String, Result<crate::hardware::Hardware, String>>, CoordError> {
    let tls = client_tls(setup, me.0, me.1)?;
    // All at once: a page waits for the slowest agent, not for the sum of them.
    Ok(std::thread::scope(|scope| {
        let asks: Vec<_> = nodes
            .iter()
            .map(|(name, address)| {
                let link = AgentLink {
                    addr: SocketAddr::new(*address, setup.port),
                    tls: tls.clone(),
                };
                let ask = scope.spawn(move || {
                    // A node that has just joined starts its agent a moment after its credentials
                    // arrive: a refused connection is asked again, briefly.
                    let mut tries = 0;
                    loop {
                        match link.hardware() {
                            Err(LinkError::Wire { .. }) if tries < HARDWARE_RETRIES => {
                                tries += 1;
                                std::thread::sleep(std::time::Duration::from_secs(1));
                            }
                            other => return other.map_err(|e| stackbox_common::error::chain(&e)),
                        }
                    }
                });
                (name.clone(), ask)
            })
            .collect();
        asks.into_iter()
            .map(|(name, ask)| {
                let report = ask
                    .join()
                    .unwrap_or_else(|_| Err("asking its agent failed".to_owned()));
                (name, report)
            })
            .collect()
    }))
}

/// An agent's health, asked again for a while when it does not answer yet: this node's own agent
/// starts listening a moment after its credentials were made, another node's after it joined.
fn healthy(link: &AgentLink) -> Result<crate::agent::Health, LinkError> {
    let mut tries = 0;
    loop {
        match link.health() {
            Err(LinkError::Wire { .. }) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// The cluster as the CA's holder finds it before it hands out assignments: its configuration, this
/// node, a link to every agent (each found healthy, on this image), the plan made with their facts, and
/// the assignment every node gets (the configuration, the secrets, the facts, the CAs, the CRL and the
/// endpoint certificate once there is one; no daemon's or node's certificate yet).
pub(crate) struct Survey {
    pub(crate) config: ClusterConfig,
    pub(crate) me: stackbox_installer::config::Node,
    pub(crate) links: BTreeMap<String, AgentLink>,
    pub(crate) plan: Plan,
    pub(crate) assignment: Assignment,
}

/// Surveys the cluster of `setup` (see [`Survey`]).
pub(crate) fn survey(setup: &Setup) -> Result<Survey, CoordError> {
    let config = stackbox_installer::load_config(&setup.config)?;
    let me = this_node(&config, setup)?.clone();
    let links = links(setup, &config, &me)?;
    let mut facts = BTreeMap::new();
    for (name, link) in &links {
        let health = healthy(link).map_err(|source| CoordError::Agent {
            node: name.clone(),
            source,
        })?;
        if health.version != crate::join::image_version() {
            return Err(CoordError::Mismatch(format!(
                "node {name} runs image version {}, this node {}: the same image on every node",
                health.version,
                crate::join::image_version()
            )));
        }
        facts.insert(name.clone(), health.facts);
    }
    let plan = stackbox_installer::build_plan(&config, &Catalog::embedded()?, &facts)?;
    let config_text = std::fs::read_to_string(&setup.config)
        .map_err(|e| file_error(&setup.config)(e.to_string()))?;
    stackbox_installer::secrets::Secrets::load_or_generate(&setup.secrets)
        .map_err(|e| file_error(&setup.secrets)(e.to_string()))?;
    let assignment = Assignment {
        config: config_text,
        secrets: Secret::from(read(&setup.secrets)?),
        facts,
        ca: read(&setup.ca.ca_cert)?,
        endpoint: None,
        crl: crate::revocation::current_crl(&setup.state_dir),
        services: BTreeMap::new(),
        node: None,
    };
    Ok(Survey {
        config,
        me,
        links,
        plan,
        assignment,
    })
}

/// The text of `path`.
pub(crate) fn read(path: &Path) -> Result<String, CoordError> {
    std::fs::read_to_string(path).map_err(|e| file_error(path)(e.to_string()))
}

/// `stackboxd cluster install`: plans `setup.config` with every agent's facts, assigns it to every
/// node and runs it across them.
pub fn install(setup: &Setup, watch: &dyn Watch) -> Result<Report, CoordError> {
    let Survey {
        config,
        me,
        links,
        plan,
        mut assignment,
    } = survey(setup)?;
    watch.planned(&plan);
    let agent = |node: &str| {
        let node = node.to_owned();
        move |source| CoordError::Agent { node, source }
    };
    // The endpoint certificate is made once, here, by the CA's holder: every management node serves it.
    links[&me.name]
        .assign(&assignment)
        .map_err(agent(&me.name))?;
    let own_certificate = format!("{}/tls.certificate", me.name);
    if plan.step(&own_certificate).is_some() {
        let outcome = links[&me.name]
            .run_step(&StepRequest {
                id: own_certificate.clone(),
                acted: vec![],
            })
            .map_err(agent(&me.name))?;
        for e in &outcome.events {
            watch.event(&me.name, e);
        }
        if let Some(id) = outcome.summary.failed {
            return Ok(Report {
                failed: Some(Failure {
                    id,
                    error: "the endpoint certificate could not be made".into(),
                }),
                ..Report::default()
            });
        }
    }
    if setup.ca.endpoint.exists() {
        assignment.endpoint = Some(Secret::from(read(&setup.ca.endpoint)?));
    }
    let (issuer, _) = certificate::ensure_ca(&setup.ca.ca_cert, &setup.ca.ca_key)
        .map_err(|e| file_error(&setup.ca.ca_cert)(stackbox_common::error::chain(&e)))?;
    for (name, link) in &links {
        assignment.services = service_certificates(&config, name, &issuer)?;
        link.assign(&assignment).map_err(agent(name))?;
    }
    let dyn_links: BTreeMap<String, &dyn Link> = links
        .iter()
        .map(|(n, l)| (n.clone(), l as &dyn Link))
        .collect();
    Ok(run_plan(&plan, &dyn_links, watch))
}

#[cfg(test)]
mod tests;
