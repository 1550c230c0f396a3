//! `stackboxd install`: validate, load the secrets, plan, and run this node's steps on the real machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackbox_hardware_profiles::Catalog;
use stackbox_machine::system::Root;

use crate::executor::{Event, ExecError, Executor, Summary, System};
use crate::journal::Journal;
use crate::plan::{NodeFacts, Plan, PlanError};
use crate::secrets::{Secrets, SecretsError};
use crate::system::RealSystem;

/// What to install, and where the state lives.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cluster configuration.
    pub config: PathBuf,
    /// This node's name, when it cannot be told from the addresses.
    pub node: Option<String>,
    /// The secrets file.
    pub secrets: PathBuf,
    /// The journal.
    pub journal: PathBuf,
    /// Stop after this step.
    pub stop_after: Option<String>,
    /// The machine whose hardware the plan is made for (`/`; the wizard passes its `--root`, so that
    /// what it reviews and what it runs are one plan).
    pub root: PathBuf,
    /// Facts other nodes' agents reported (a coordinator's run): the plan of a cluster is made with
    /// every node's hardware, and this machine's own probes win for its own nodes.
    pub facts: BTreeMap<String, NodeFacts>,
}

/// Why an installation could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The configuration could not be read.
    #[error(transparent)]
    Load(#[from] crate::LoadError),
    /// The configuration is invalid (nothing was touched).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The hardware profiles are broken.
    #[error("hardware profiles: {0}")]
    Profiles(#[from] stackbox_hardware_profiles::ProfileError),
    /// This machine is none of the configuration's nodes.
    #[error("{0}")]
    Node(String),
    /// The secrets could not be loaded or generated.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The journal failed, or --stop-after names no step.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

impl InstallError {
    /// Whether the operator's arguments were wrong (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            InstallError::Load(_)
                | InstallError::Node(_)
                | InstallError::Exec(ExecError::UnknownStep(_))
        )
    }
}

/// A validated installation, ready to run: nothing has been touched yet.
#[derive(Debug)]
pub struct Prepared {
    config: crate::ClusterConfig,
    plan: Plan,
    node: String,
    opts: Options,
}

/// Parses and validates the configuration, plans it for this machine's hardware and finds the node,
/// touching nothing. (Synchronous: the hardware probes run their own netlink runtime.)
pub fn prepare(opts: &Options) -> Result<Prepared, InstallError> {
    let config = crate::load_config(&opts.config)?;
    let catalog = Catalog::embedded()?;
    let facts = crate::facts::local_facts(&config, &Root::at(&opts.root));
    let mut all = opts.facts.clone();
    all.extend(facts.clone());
    let plan = crate::flavor::build_plan(&config, &catalog, &all)?;
    let node = match &opts.node {
        Some(name) if config.nodes.iter().any(|n| &n.name == name) => name.clone(),
        Some(name) => {
            return Err(InstallError::Node(format!(
                "--node {name}: no such node in {}",
                opts.config.display()
            )));
        }
        None => match facts.keys().next() {
            Some(name) if facts.len() == 1 => name.clone(),
            _ => {
                return Err(InstallError::Node(
                    "cannot tell which node this machine is: pass --node NAME".into(),
                ));
            }
        },
    };
    if let Some(stop) = &opts.stop_after
        && !plan
            .for_node(&node)
            .any(|s| &s.name == stop || &s.id == stop)
    {
        return Err(ExecError::UnknownStep(stop.clone()).into());
    }
    Ok(Prepared {
        config,
        plan,
        node,
        opts: opts.clone(),
    })
}

impl Prepared {
    /// The validated configuration.
    pub fn config(&self) -> &crate::ClusterConfig {
        &self.config
    }

    /// The whole plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The node this machine is.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Loads the secrets, generating the missing ones into the secrets file (mode 0600).
    pub fn secrets(&self) -> Result<Secrets, InstallError> {
        Ok(Secrets::load_or_generate(&self.opts.secrets)?)
    }
}

/// Installs this node's part of the cluster on the real machine: loads (or generates) the secrets, opens
/// the journal and runs the node's steps.
pub async fn execute(
    prepared: &Prepared,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, InstallError> {
    let secrets = prepared.secrets()?;
    let system = real_system(prepared, &secrets);
    execute_on(prepared, &system, &secrets, on_event).await
}

/// Runs the one step `id` of this node on the real machine (a node agent's verb); `acted` names the
/// node's steps that acted earlier in the coordinator's run ([`Executor::run_step`]). The secrets must
/// exist already: a cluster's secrets come from the node that created it, never made up here.
pub async fn execute_step(
    prepared: &Prepared,
    id: &str,
    acted: &[String],
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, InstallError> {
    match prepared.plan.step(id) {
        Some(step) if step.node == prepared.node => {}
        _ => {
            return Err(InstallError::Node(format!(
                "step {id} is not one of node {}'s steps",
                prepared.node
            )));
        }
    }
    let secrets = Secrets::load(&prepared.opts.secrets)?;
    let system = real_system(prepared, &secrets);
    let journal = Journal::open(&prepared.opts.journal).await?;
    let executor = Executor {
        system: &system,
        journal: &journal,
        secrets: &secrets,
    };
    Ok(executor
        .run_step(&prepared.plan, id, acted, on_event)
        .await?)
}

/// The real machine as the executor sees it: the database user's password from the secrets, the
/// database on the first storage node. A run begins by removing the hold on service starts that a killed
/// run may have left ([`crate::service_hold::release_stale`]).
fn real_system(prepared: &Prepared, secrets: &Secrets) -> RealSystem {
    let config = &prepared.config;
    crate::service_hold::release_stale(
        Path::new(crate::service_hold::POLICY_RC_D),
        Path::new(crate::service_hold::DPKG_FRONTEND_LOCK),
    );
    let db_host = config
        .leader("storage-metadata")
        .map(|n| n.address.to_string())
        .unwrap_or_default();
    RealSystem {
        db_host,
        db_port: 3306,
        db_socket: crate::system::MYSQL_SOCKET.into(),
        db_ca: crate::certificate::CA_CERT.into(),
        db_password: secrets
            .get("db-stackbox")
            .cloned()
            .unwrap_or_else(|| String::new().into()),
        held_services: held_services(&prepared.plan),
    }
}

/// Every service the plan starts itself: the units of its units steps and the one unit checks, and
/// what it starts by commands.
fn held_services(plan: &Plan) -> Vec<String> {
    let mut held: Vec<String> = crate::service_hold::STARTED_BY_COMMANDS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for step in &plan.steps {
        if let crate::plan::Action::Units { units } = &step.action {
            held.extend(units.iter().cloned());
        }
        if let crate::plan::DoneCheck::UnitActive { unit } = &step.done {
            held.push(unit.clone());
        }
    }
    held.sort();
    held.dedup();
    held
}

/// Runs the node's steps through any [`System`]: the real machine, or the plan-only one of the wizard's
/// plan mode. The journal is the one the options name.
pub async fn execute_on<S: System>(
    prepared: &Prepared,
    system: &S,
    secrets: &Secrets,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, InstallError> {
    let journal = Journal::open(&prepared.opts.journal).await?;
    let executor = Executor {
        system,
        journal: &journal,
        secrets,
    };
    Ok(executor
        .run(
            &prepared.plan,
            &prepared.node,
            prepared.opts.stop_after.as_deref(),
            on_event,
        )
        .await?)
}

/// One line (or a few) for an event on a terminal.
pub fn render_event(event: &Event, verbose: bool) -> String {
    match event {
        Event::Started { id, title, again } => match again {
            Some(again) => format!("{id}: {title} ({again})\n"),
            None => format!("{id}: {title}\n"),
        },
        Event::Output { line, .. } if verbose => format!("    {line}\n"),
        Event::Output { .. } => String::new(),
        Event::Skipped { id, reason } => format!("{id}: skipped, {reason}\n"),
        Event::Finished { id, seconds } => format!("{id}: done in {seconds:.1}s\n"),
        Event::Failed {
            id,
            error,
            log,
            remedy,
        } => {
            let mut s = format!("{id}: FAILED: {error}\n");
            if let Some(log) = log {
                s.push_str(&format!("    log: {log}\n"));
            }
            if let Some(remedy) = remedy {
                s.push_str(&format!("    remedy: {remedy}\n"));
            }
            s
        }
        Event::Paused { id } => {
            format!("{id}: paused here as asked (--stop-after); run again to go on\n")
        }
    }
}

/// The closing lines of a run.
pub fn render_summary(s: &Summary) -> String {
    let outcome = match (&s.failed, &s.paused) {
        (Some(id), _) => format!("failed at {id}"),
        (None, Some(id)) => format!("paused after {id}"),
        (None, None) => "complete".to_owned(),
    };
    format!(
        "install {outcome}: {} steps acted, {} unchanged, {} already done\n",
        s.acted.len(),
        s.unchanged.len(),
        s.already_done.len()
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_held_services_are_the_ones_the_plan_starts() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/allinone.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let config = crate::ClusterConfig::from_toml(path, &text).unwrap();
        let plan =
            crate::build_plan(&config, &Catalog::embedded().unwrap(), &BTreeMap::new()).unwrap();
        let held = held_services(&plan);
        for unit in [
            "mariadb",
            "rabbitmq-server.service",
            "haproxy.service",
            "keystone.service",
            "nova-api.service",
            "nova-compute.service",
            "libvirtd.service",
            "neutron-dhcp-agent.service",
        ] {
            assert!(held.iter().any(|h| h == unit), "{unit} held: {held:?}");
        }
        // What the packages bring for their own use is not: polkit answers libvirt's access checks.
        for unit in ["polkit.service", "dbus.service", "virtlogd.service"] {
            assert!(!held.iter().any(|h| h == unit), "{unit} not held");
        }
    }
}
