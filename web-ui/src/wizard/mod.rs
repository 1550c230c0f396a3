//! The wizard's flow, with no HTTP in it: what each step does with the operator's answers. Create the
//! cluster, assign the roles, store the settings ([`Wizard`]'s methods here), review the plan
//! ([`review`]), start the installation, take the one-time credentials ([`finish`]). The pages and the
//! JSON API both call these and never each other; they only turn requests into calls and results into
//! pages or documents.
//!
//! The wizard holds the latest hardware report, the answers' store and the installation's
//! [`Runner`]; a step refused is a [`WebError`] whose kind says why (invalid input, a step still to do,
//! the installation running).

pub mod disk;
pub mod finish;
pub mod grow;
pub mod join;
pub mod joining;
pub mod net;
pub mod operate;
pub mod review;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use stackbox_firstboot::check::Report;
use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::progress::Phase;
use stackbox_installer::runner::{InstallMode, Runner};
use stackbox_machine::system::Root;

use crate::answers::cluster::{ClusterSettings, parse_api_address, validate_cluster_name};
use crate::answers::config::{self, LiveAddress};
use crate::answers::roles::{self, RoleAssignment, Settings, SettingsForm};
use crate::answers::{AnswerStore, Answers};
use crate::error::{FieldError, WebError};
use stackbox_network::NetworkSettings;

/// Judges the machine at `root` under `profile` for the profile's default roles.
pub fn run_check(root: &Path, profile: &str) -> anyhow::Result<Report> {
    let catalog = Catalog::embedded().context("loading the built-in hardware profiles")?;
    stackbox_firstboot::check(&Root::at(root), &catalog, profile, &[])
        .context("checking the hardware")
}

/// What became of a choice of roles.
#[derive(Debug)]
pub enum RolesOutcome {
    /// Stored; the report may carry warnings.
    Saved(RoleAssignment, Report),
    /// Refused and not stored: the reasons, and the report when the roles were known.
    Refused(Vec<FieldError>, Option<Report>),
}

/// A choice of roles judged: the roles in the catalog's order and the hardware report for them, or why
/// the choice names no valid roles.
pub type Judgement = Result<(Vec<String>, Report), Vec<FieldError>>;

/// The wizard: the machine it runs on, the answers, and the installation.
#[derive(Debug)]
pub struct Wizard {
    root: PathBuf,
    profile: String,
    state_dir: PathBuf,
    report: RwLock<Arc<Report>>,
    /// The hardware profiles and roles.
    pub catalog: Catalog,
    /// The answers stored so far.
    pub answers: AnswerStore,
    /// The installation.
    pub runner: Arc<Runner>,
    /// The cluster CA's certificate and key: `stackbox_installer::certificate`'s paths, or under
    /// `STATE/cluster/` in plan mode (which touches nothing outside the state directory).
    ca_cert: PathBuf,
    ca_key: PathBuf,
    /// Where the joined nodes' hardware comes from.
    joined_hardware: stackbox_cluster::hardware::Source,
    /// Growing or shrinking the cluster.
    operations: Arc<crate::operation::ClusterRun>,
    /// The install to disk (a live system's Disk step).
    pub disks: disk::DiskRun,
    /// The network step's Apply and its confirmation.
    pub network: net::NetworkStep,
}

impl Wizard {
    /// The wizard for the machine at `root`, judged under `profile` (`report` is its first judgement),
    /// keeping its answers in `state_dir` and installing in `mode`, asking joined nodes' hardware of
    /// `joined_hardware`, with the cluster CA in `ca_dir` (`None`: the mode's own place).
    pub fn new(
        root: &Path,
        profile: &str,
        state_dir: &Path,
        mode: InstallMode,
        report: Report,
        joined_hardware: stackbox_cluster::hardware::Source,
        ca_dir: Option<&Path>,
    ) -> anyhow::Result<Wizard> {
        let (ca_cert, ca_key) = if let Some(dir) = ca_dir {
            (dir.join("ca.pem"), dir.join("ca-key.pem"))
        } else if mode.plan_only() {
            // Not in STATE/plan/, which holds what the (walked) installation wrote.
            let cluster = state_dir.join("cluster");
            (cluster.join("ca.pem"), cluster.join("ca-key.pem"))
        } else {
            use stackbox_installer::certificate::{CA_CERT, CA_KEY};
            (PathBuf::from(CA_CERT), PathBuf::from(CA_KEY))
        };
        // A wizard on a fixture tree never touches this machine's network either.
        let network =
            net::NetworkStep::new(state_dir, mode.plan_only() || !Root::at(root).is_live());
        Ok(Wizard {
            network,
            ca_cert,
            ca_key,
            joined_hardware,
            root: root.to_owned(),
            profile: profile.to_owned(),
            state_dir: state_dir.to_owned(),
            report: RwLock::new(Arc::new(report)),
            catalog: Catalog::embedded().context("loading the built-in hardware profiles")?,
            answers: AnswerStore::new(state_dir),
            runner: Arc::new(Runner::new(mode, state_dir)),
            operations: Arc::default(),
            disks: disk::DiskRun::default(),
        })
    }

    /// The machine's root (`/`, or a fixture tree).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The cluster CA's certificate and key files.
    pub fn ca_paths(&self) -> (&Path, &Path) {
        (&self.ca_cert, &self.ca_key)
    }

    /// The latest hardware report.
    pub fn report(&self) -> Arc<Report> {
        self.report
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Probes and judges the hardware again (blocking: call it off the async workers).
    pub fn rerun_check(&self) -> anyhow::Result<Arc<Report>> {
        let report = Arc::new(run_check(&self.root, &self.profile)?);
        *self.report.write().unwrap_or_else(|p| p.into_inner()) = report.clone();
        Ok(report)
    }

    /// Whether this node is part of a running cluster: its install started or finished, or it joined a
    /// member. Its network may then change only if it keeps the node's address.
    pub fn in_running_cluster(&self) -> bool {
        self.phase() != Phase::Idle || self.joined().ok().flatten().is_some()
    }

    /// The NICs an operator may choose from with their link, for the network checks.
    pub fn nic_facts(&self) -> Vec<stackbox_network::NicFact> {
        let names = self.nic_names();
        self.report()
            .facts
            .nics
            .iter()
            .filter(|n| names.contains(&n.name))
            .map(|n| stackbox_network::NicFact {
                name: n.name.clone(),
                carrier: n.carrier,
            })
            .collect()
    }

    /// Names of the NICs an operator may choose from (the probed uplinks; all of them when none is).
    pub fn nic_names(&self) -> Vec<String> {
        let report = self.report();
        let uplinks: Vec<String> = report
            .facts
            .nics
            .iter()
            .filter(|n| n.is_uplink())
            .map(|n| n.name.clone())
            .collect();
        if uplinks.is_empty() {
            report.facts.nics.iter().map(|n| n.name.clone()).collect()
        } else {
            uplinks
        }
    }

    /// Whether this system runs live and has not been installed to disk yet in this boot (plan mode
    /// counts a walked install): a cluster made now would live in RAM and be lost at the reboot.
    pub fn needs_disk(&self) -> bool {
        let walked = self
            .disks
            .current()
            .is_some_and(|p| p.done && p.installed.is_some());
        Root::at(&self.root).booted_live() && !walked
    }

    /// Starts the install to disk chosen on the Disk page (or posted to the API).
    pub fn start_disk_install(&self, form: &disk::DiskForm) -> Result<String, WebError> {
        if !Root::at(&self.root).booted_live() {
            return Err(WebError::Conflict(
                "this system runs from its disk already: there is nothing to install to disk"
                    .to_owned(),
            ));
        }
        let (name, dev) = disk::judge_form(form, &disk::choices(&Root::at(&self.root)))
            .map_err(WebError::Invalid)?;
        let opts = disk::options(&self.root, &self.state_dir, &dev);
        let plan_only = self.runner.mode().plan_only();
        self.disks
            .start_with(
                opts,
                disk::checked(&form.reboot),
                plan_only,
                Box::new(|line| tracing::info!("{line}")),
            )
            .map_err(WebError::Conflict)?;
        Ok(name)
    }

    /// The answers stored so far as an answer file for the next machines, secrets left out (see
    /// [`crate::answers::file::export`]).
    pub fn answer_file(&self) -> Result<String, WebError> {
        let network = self
            .answers
            .network()?
            .map(|n| crate::network::NetworkForm::from_settings(&n));
        let cluster = self.answers.cluster()?.map(|c| c.name);
        let roles = self.answers.roles()?.map(|r| r.roles);
        let settings = self
            .answers
            .settings()?
            .map(|s| SettingsForm::from_settings(&s));
        Ok(crate::answers::file::export(
            network.as_ref(),
            cluster.as_deref(),
            roles.as_deref(),
            settings.as_ref(),
        ))
    }

    /// Where a signed-in admin resumes: the first step not answered yet. With nothing answered that is
    /// the hardware report; on a system just installed to disk (its state came along) it is the network.
    pub fn next_step(&self) -> &'static str {
        let installed_to_disk = self
            .state_dir
            .join(stackbox_installer::to_disk::write::INSTALLED_RECORD)
            .exists();
        let has = |file: &str| self.answers.has(file);
        if self.needs_disk() {
            // Hardware first, then the Disk step; its progress once it started.
            return if self.disks.current().is_some() {
                "/disk"
            } else {
                "/hardware"
            };
        }
        if !has(crate::answers::NETWORK_FILE) {
            return if installed_to_disk {
                "/network"
            } else {
                "/hardware"
            };
        }
        if !has(crate::answers::CLUSTER_FILE) {
            return "/cluster";
        }
        if !has(crate::answers::ROLES_FILE) {
            return "/roles";
        }
        if !has(crate::answers::SETTINGS_FILE) {
            return "/settings";
        }
        match self.phase() {
            Phase::Idle => "/review",
            Phase::Complete => "/done",
            _ => "/install",
        }
    }

    /// The installation's phase.
    pub fn phase(&self) -> Phase {
        self.runner.progress().phase
    }

    /// Refuses a change of the answers while the installation runs or after it completed: the cloud is
    /// (being) built from them, and the review must keep showing what was installed.
    pub fn answers_may_change(&self) -> Result<(), WebError> {
        match self.phase() {
            Phase::Running => Err(WebError::InstallRunning(
                "the installation is running: the answers cannot change until it ends".to_owned(),
            )),
            Phase::Complete => Err(WebError::Installed(
                "the cloud is installed with these answers; they can no longer change here"
                    .to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// Every step's answer, or a conflict naming the first step still to do.
    pub fn answers(&self) -> Result<Answers, WebError> {
        let missing = |what: &str| {
            WebError::Conflict(format!("the {what} step is not done yet: finish it first"))
        };
        let a = &self.answers;
        Ok(Answers {
            network: a.network()?.ok_or_else(|| missing("network"))?,
            cluster: a.cluster()?.ok_or_else(|| missing("cluster"))?,
            roles: a.roles()?.ok_or_else(|| missing("roles"))?,
            settings: a.settings()?.ok_or_else(|| missing("settings"))?,
        })
    }

    /// This machine's addresses (none when the wizard reads a fixture tree instead of the machine).
    /// Blocking: it asks the kernel over netlink.
    pub fn live_addresses(&self) -> Vec<LiveAddress> {
        if Root::at(&self.root).is_live() {
            stackbox_machine::probe::net::addresses_with_prefix().unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// The installer's cluster configuration made from the answers (blocking: see
    /// [`Wizard::live_addresses`]).
    pub fn cluster_config(&self) -> Result<ClusterConfig, WebError> {
        let answers = self.answers()?;
        config::cluster_config(&answers, &self.live_addresses(), &self.catalog)
    }

    /// Validates and stores the network settings.
    pub fn store_network(&self, settings: &NetworkSettings) -> Result<(), WebError> {
        self.answers_may_change()?;
        Ok(self.answers.set_network(settings)?)
    }

    /// Creates the single-node cluster from a name and the API address (empty: this node's own), once
    /// the network is stored, with the cluster CA (made now unless one exists; the install signs its
    /// endpoint certificate with it and joined nodes get their certificates from it).
    pub fn create_cluster(
        &self,
        name: &str,
        api_address: &str,
    ) -> Result<ClusterSettings, WebError> {
        self.answers_may_change()?;
        if self.needs_disk() {
            return Err(WebError::Conflict(
                "this system runs live, from RAM: install it to disk first (the Disk step), or the cluster \
                 is lost at the next reboot"
                    .to_owned(),
            ));
        }
        let name = name.trim();
        let network = self.answers.network()?.ok_or_else(|| {
            WebError::Conflict("save the network settings before creating the cluster".to_owned())
        })?;
        let api = parse_api_address(api_address, &network);
        let errors: Vec<FieldError> = [validate_cluster_name(name).err(), api.clone().err()]
            .into_iter()
            .flatten()
            .collect();
        if !errors.is_empty() {
            return Err(WebError::Invalid(errors));
        }
        if let Some(existing) = self.answers.cluster()? {
            return Err(WebError::Conflict(format!(
                "this node already belongs to the cluster {}",
                existing.name
            )));
        }
        let (_, origin) = stackbox_installer::certificate::ensure_ca(&self.ca_cert, &self.ca_key)
            .context("making the cluster CA")?;
        tracing::info!(?origin, ca = %self.ca_cert.display(), "the cluster CA");
        let cluster = ClusterSettings {
            name: name.to_owned(),
            mode: "single-node".to_owned(),
            members: vec![network.hostname],
            api_address: api.ok().flatten(),
        };
        self.answers.set_cluster(&cluster)?;
        Ok(cluster)
    }

    /// Judges a choice of roles for this machine under the wizard's profile.
    pub fn judge_roles(&self, chosen: &[String]) -> Result<Judgement, WebError> {
        self.judge_on(chosen, &self.report().facts)
    }

    /// Judges a choice of roles for a machine with `facts` under the wizard's profile.
    fn judge_on(
        &self,
        chosen: &[String],
        facts: &stackbox_machine::probe::Facts,
    ) -> Result<Judgement, WebError> {
        let profile = self
            .catalog
            .profile(&self.profile)
            .context("the wizard's profile")?;
        Ok(roles::judge_roles(chosen, &self.catalog, profile, facts))
    }

    /// Judges and, when the hardware can carry them, stores this node's roles. The cluster must exist.
    pub fn assign_roles(&self, chosen: &[String]) -> Result<RolesOutcome, WebError> {
        self.answers_may_change()?;
        let cluster = self.answers.cluster()?.ok_or_else(|| {
            WebError::Conflict("create the cluster before assigning roles".to_owned())
        })?;
        match self.judge_roles(chosen)? {
            Err(errors) => Ok(RolesOutcome::Refused(errors, None)),
            Ok((roles, report)) => {
                let mut failed = roles::failures(&report);
                // The installer's rule, where it already decides: the first install is of this node
                // alone (others join after it), so it must carry every role a cloud needs.
                if cluster.members.len() <= 1 {
                    failed.extend(roles::missing_on_the_only_node(&roles));
                }
                if !failed.is_empty() {
                    return Ok(RolesOutcome::Refused(failed, Some(report)));
                }
                let assignment = RoleAssignment {
                    node: cluster.members.first().cloned().unwrap_or_default(),
                    roles,
                };
                self.answers.set_roles(&assignment)?;
                Ok(RolesOutcome::Saved(assignment, report))
            }
        }
    }

    /// Validates and stores the settings; the roles must be assigned first.
    pub fn store_settings(&self, form: &SettingsForm) -> Result<Settings, WebError> {
        self.answers_may_change()?;
        if self.answers.roles()?.is_none() {
            return Err(WebError::Conflict(
                "assign the node's roles before the settings".to_owned(),
            ));
        }
        let settings = roles::validate_settings(form).map_err(WebError::Invalid)?;
        self.answers.set_settings(&settings)?;
        Ok(settings)
    }
}
