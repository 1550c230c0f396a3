//! Growing and shrinking the cluster from the first node's wizard, with no HTTP in it. "Grow the
//! cluster" runs the coordinator ([`stackbox_cluster::coordinator::install`]) over the grown
//! configuration; "Remove" runs [`stackbox_cluster::remove::remove`]. Either runs as an
//! [`crate::operation`] (one at a time, one progress for every node), and only once this node is
//! installed. A run that failed or was cut short is started again: the agents' journals skip what is
//! done.
//!
//! In plan mode (`stackboxd serve --plan-only`) the same flow walks the plan without agents: every step
//! is reported done after the mode's pace, and the installed configuration is `STATE/plan/cluster.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use stackbox_cluster::agent::{StepOutcome, StepRequest};
use stackbox_cluster::coordinator::{self, Link, Setup, Watch};
use stackbox_cluster::remove::{self, Judged, RemoveError};
use stackbox_cluster::status::ClusterStatus;
use stackbox_common::error::chain;
use stackbox_common::fs::write_atomic;
use stackbox_installer::ClusterConfig;
use stackbox_installer::executor::{Event, Summary};
use stackbox_installer::progress::Phase;
use stackbox_installer::runner::InstallMode;

use super::Wizard;
use crate::error::WebError;
use crate::operation::{Kind, Operation, Work};

/// Plan mode's agent: every step is done after the pace, on no machine.
struct Walk {
    titles: BTreeMap<String, String>,
    pace: Duration,
}

impl Link for Walk {
    fn run_step(&self, request: &StepRequest) -> Result<StepOutcome, String> {
        std::thread::sleep(self.pace);
        let id = request.id.clone();
        Ok(StepOutcome {
            events: vec![
                Event::Started {
                    id: id.clone(),
                    title: self.titles.get(&id).cloned().unwrap_or_default(),
                    again: None,
                },
                Event::Finished {
                    id: id.clone(),
                    seconds: self.pace.as_secs_f64(),
                },
            ],
            summary: Summary {
                acted: vec![id.clone()],
                ..Summary::default()
            },
            id,
        })
    }
}

/// Plan mode's run of `config`: its plan walked on every node, after `config` is written where the
/// plan-mode installation keeps its configuration.
fn walk(
    config: ClusterConfig,
    installed: PathBuf,
    catalog: stackbox_hardware_profiles::Catalog,
    pace: Duration,
) -> Work {
    Box::new(move |watch: &dyn Watch| {
        let text = toml::to_string(&config).map_err(|e| e.to_string())?;
        write_atomic(&installed, text.as_bytes(), 0o644)
            .map_err(|e| format!("{}: {e}", installed.display()))?;
        let plan = stackbox_installer::build_plan(&config, &catalog, &BTreeMap::new())
            .map_err(|e| chain(&e))?;
        watch.planned(&plan);
        let walk = Walk {
            titles: plan
                .steps
                .iter()
                .map(|s| (s.id.clone(), s.title.clone()))
                .collect(),
            pace,
        };
        let links: BTreeMap<String, &dyn Link> = config
            .nodes
            .iter()
            .map(|n| (n.name.clone(), &walk as &dyn Link))
            .collect();
        Ok(coordinator::run_plan(&plan, &links, watch))
    })
}

impl Wizard {
    /// The cluster's current (or last) operation.
    pub fn operation(&self) -> Option<Operation> {
        self.operations.current()
    }

    /// Whether the cluster may be grown or shrunk now: this node is installed (one operation at a
    /// time is the [`crate::operation::ClusterRun`]'s to enforce).
    fn may_operate(&self) -> Result<(), WebError> {
        if self.phase() != Phase::Complete {
            return Err(WebError::Conflict(
                "install this node first (Review, then Install): the cluster grows from an installed node"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The nodes of the installed cluster, once this node is installed (none before).
    pub fn installed_nodes(&self) -> Vec<String> {
        if self.phase() != Phase::Complete {
            return Vec::new();
        }
        stackbox_installer::load_config(&self.installed_config_path())
            .map(|c| c.nodes.into_iter().map(|n| n.name).collect())
            .unwrap_or_default()
    }

    /// The configuration the last installation or operation installed.
    fn installed_config_path(&self) -> PathBuf {
        self.runner.mode().paths(&self.state_dir).0
    }

    /// The coordinator's setup for `config`, with the wizard's state and CA.
    pub(super) fn coordinator_setup(&self, config: PathBuf) -> Setup {
        let (_, secrets, _) = self.runner.mode().paths(&self.state_dir);
        Setup {
            config,
            state_dir: self.state_dir.clone(),
            secrets,
            ca: stackbox_installer::certificate::Paths {
                ca_cert: self.ca_cert.clone(),
                ca_key: self.ca_key.clone(),
                ..Default::default()
            },
            port: self.agent_port(),
        }
    }

    /// The agents' port.
    fn agent_port(&self) -> u16 {
        match &self.joined_hardware {
            stackbox_cluster::hardware::Source::Agents { port } => *port,
            stackbox_cluster::hardware::Source::Given(_) => stackbox_cluster::agent::AGENT_PORT,
        }
    }

    /// The pace of plan mode's walk (`None`: the real installation).
    fn walk_pace(&self) -> Option<Duration> {
        match self.runner.mode() {
            InstallMode::PlanOnly { pace, .. } => Some(*pace),
            InstallMode::Real { .. } => None,
        }
    }

    /// Starts growing the cluster to the grown configuration (blocking: it is written first).
    pub fn start_grow(&self) -> Result<Operation, WebError> {
        self.may_operate()?;
        let grown = self.grown_config()?;
        if grown.nodes.len() < 2 {
            return Err(WebError::Conflict(
                "no joined node has roles yet: assign a joined node its roles first".to_owned(),
            ));
        }
        let path = self.write_grown_config()?;
        let work: Work = match self.walk_pace() {
            Some(pace) => walk(
                grown,
                self.installed_config_path(),
                self.catalog.clone(),
                pace,
            ),
            None => {
                let setup = self.coordinator_setup(path);
                Box::new(move |watch: &dyn Watch| {
                    coordinator::install(&setup, watch).map_err(|e| chain(&e))
                })
            }
        };
        self.operations
            .start(Kind::Grow, self.walk_pace().is_some(), work)
    }

    /// Whether `node` may be removed from the installed cluster, and with what warnings.
    pub fn judge_removal(&self, node: &str) -> Result<Judged, WebError> {
        self.may_operate()?;
        let path = self.installed_config_path();
        let config = stackbox_installer::load_config(&path)
            .with_context(|| format!("reading the installed configuration {}", path.display()))?;
        if !config.nodes.iter().any(|n| n.name == node) {
            return Err(WebError::NotFound);
        }
        let me = config.nodes[0].name.clone();
        remove::judge(&config, node, &me).map_err(|e| match e {
            RemoveError::Refused(why) => WebError::Conflict(why),
            other => WebError::Internal(anyhow::anyhow!(chain(&other))),
        })
    }

    /// Starts removing `node` (judged first: a refusal starts nothing).
    pub fn start_remove(&self, node: &str) -> Result<Operation, WebError> {
        let judged = self.judge_removal(node)?;
        let kind = Kind::Remove {
            node: node.to_owned(),
        };
        let work: Work = match self.walk_pace() {
            Some(pace) => {
                let walk = walk(
                    judged.remaining.clone(),
                    self.installed_config_path(),
                    self.catalog.clone(),
                    pace,
                );
                let (state, node, warnings) =
                    (self.state_dir.clone(), node.to_owned(), judged.warnings);
                Box::new(move |watch: &dyn Watch| {
                    for w in &warnings {
                        watch.say(&format!("warning: {w}"));
                    }
                    watch.say(&format!(
                        "{node}: plan mode, nothing leaves: its join is forgotten"
                    ));
                    remove::forget(&state, &node, &judged.remaining).map_err(|e| chain(&e))?;
                    walk(watch)
                })
            }
            None => {
                let setup = self.coordinator_setup(self.installed_config_path());
                let node = node.to_owned();
                Box::new(move |watch: &dyn Watch| {
                    remove::remove(&setup, &node, watch).map_err(|e| chain(&e))
                })
            }
        };
        self.operations
            .start(kind, self.walk_pace().is_some(), work)
    }
}

impl Wizard {
    /// The installed cluster's status as every member's agent tells it (blocking: the agents are
    /// asked at once, each within its own time limits): agents, Galera, RabbitMQ, the API address's
    /// holder, and what each node's MariaDB decided at its last start (after a power loss: who
    /// bootstrapped and why, or who waits and for what).
    pub fn cluster_status(&self) -> Result<ClusterStatus, WebError> {
        let (config, tls) = self.agents_link("status")?;
        Ok(stackbox_cluster::agent_client::ask_agents(
            &config,
            tls,
            self.agent_port(),
        ))
    }

    /// The troubleshooting matrix run by every member's agent (`stackboxd diagnose`), their logs read
    /// `window` back, blocking.
    pub fn diagnose(
        &self,
        window: stackbox_cluster::diagnose::Window,
    ) -> Result<stackbox_cluster::diagnose::across::Diagnosis, WebError> {
        let (config, tls) = self.agents_link("diagnosis")?;
        Ok(stackbox_cluster::diagnose::across::ask_config(
            &config,
            tls,
            self.agent_port(),
            window,
        ))
    }

    /// Every member's (name, agent) for the admin desk's actions.
    pub fn desk_links(
        &self,
    ) -> Result<Vec<(String, stackbox_cluster::agent_client::AgentLink)>, WebError> {
        let (config, tls) = self.agents_link("admin desk")?;
        let port = self.agent_port();
        Ok(config
            .nodes
            .iter()
            .map(|n| {
                let link = stackbox_cluster::agent_client::AgentLink {
                    addr: std::net::SocketAddr::new(n.address, port),
                    tls: tls.clone(),
                };
                (n.name.clone(), link)
            })
            .collect())
    }

    /// The installed configuration and this node's credentials to ask the agents with (`what` is
    /// what is asked, for the refusal in plan mode).
    fn agents_link(
        &self,
        what: &str,
    ) -> Result<
        (
            stackbox_installer::ClusterConfig,
            std::sync::Arc<rustls::ClientConfig>,
        ),
        WebError,
    > {
        if self.walk_pace().is_some() {
            return Err(WebError::Conflict(format!(
                "plan mode: no agent runs, so there is no {what} to ask"
            )));
        }
        let path = self.installed_config_path();
        let config = stackbox_installer::load_config(&path).map_err(|e| {
            WebError::Conflict(format!(
                "no cluster is installed on this node yet ({}): {}",
                path.display(),
                chain(&e)
            ))
        })?;
        let creds = self.state_dir.join(stackbox_cluster::node::NODE_DIR);
        let has_creds = creds.join(stackbox_cluster::node::NODE_CERT).exists();
        if !has_creds && !self.ca_key.exists() {
            return Err(WebError::Conflict(
                "this node has no cluster credentials: it neither created nor joined a cluster"
                    .to_owned(),
            ));
        }
        // The CA's holder makes its own credentials when it has none yet (a cluster of one).
        let me = &config.nodes[0];
        let tls =
            coordinator::client_tls(&self.coordinator_setup(path.clone()), &me.name, me.address)
                .map_err(|e| WebError::Internal(anyhow::anyhow!(chain(&e))))?;
        Ok((config, tls))
    }
}

impl Wizard {
    /// A support bundle of the cluster (`stackboxd bundle`): every member's part, redacted at its source;
    /// the archive's bytes. Blocking: the nodes' commands take a while. Made in the state directory and
    /// deleted once read.
    pub fn support_bundle(&self) -> Result<Vec<u8>, WebError> {
        let out = self
            .state_dir
            .join(format!("support-bundle-{}.tar.gz", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let args = stackbox_cluster::bundle::BundleArgs {
            out: out.clone(),
            root: self.root().to_owned(),
            state: self.state_dir.clone(),
            this_node: false,
            agent_port: stackbox_cluster::agent::AGENT_PORT,
        };
        let made = stackbox_cluster::bundle::make(&args);
        let bytes = std::fs::read(&out);
        let _ = std::fs::remove_file(&out);
        match made {
            Ok(_) => Ok(bytes.context("reading the support bundle")?),
            Err(e) => Err(WebError::Internal(anyhow::anyhow!(chain(&e)))),
        }
    }
}
