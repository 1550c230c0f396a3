//! What the running wizard holds: its options, identity, sessions, the sign-in limiter, the latest
//! hardware report, and the settings it stores in the state directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use stackbox_common::fs::write_atomic;
use stackbox_firstboot::check::Report;
use stackbox_firstboot::identity::{self, Secret};
use stackbox_hardware_profiles::Catalog;
use stackbox_machine::system::Root;

use crate::auth::{PasswordStore, RateLimiter, Sessions};
use crate::cluster_config::{self, Answers, LiveAddress};
use crate::error::WebError;
use crate::install::{InstallMode, Installer};
use stackbox_network::NetworkSettings;

/// The network settings' file in the state directory.
pub const NETWORK_FILE: &str = "network.json";
/// The cluster's file in the state directory.
pub const CLUSTER_FILE: &str = "cluster.json";
/// The node's roles' file in the state directory.
pub const ROLES_FILE: &str = "roles.json";
/// The cloud settings' file in the state directory.
pub const SETTINGS_FILE: &str = "settings.json";
/// The largest request body the wizard reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How `stackboxd serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen (`0.0.0.0:8443` by default).
    pub listen: String,
    /// The state directory: TLS certificate and key, setup token, password hash, stored settings.
    pub state_dir: PathBuf,
    /// The machine's root for the hardware probes (`/`; a fixture tree in tests).
    pub root: PathBuf,
    /// The hardware profile the report is judged under.
    pub profile: String,
    /// Client subnets allowed to reach the wizard; `None` means the management subnet and loopback.
    pub allow: Option<Vec<IpNet>>,
    /// How long a session lives after sign-in.
    pub session_ttl: Duration,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Where to answer plain HTTP with redirects to HTTPS (`0.0.0.0:80`); `None`: no plain HTTP.
    pub redirect_http: Option<String>,
    /// Whether the install step installs the cloud here or only walks the plan.
    pub install: InstallMode,
}

impl ServeOptions {
    /// The defaults of `stackboxd serve`.
    pub fn new(state_dir: impl Into<PathBuf>) -> ServeOptions {
        ServeOptions {
            listen: format!("0.0.0.0:{}", identity::WIZARD_PORT),
            state_dir: state_dir.into(),
            root: PathBuf::from("/"),
            profile: "baremetal".to_owned(),
            allow: None,
            session_ttl: Duration::from_secs(30 * 60),
            workers: 0,
            redirect_http: None,
            install: InstallMode::real(),
        }
    }
}

/// The single-node cluster the wizard creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The cluster's name.
    pub name: String,
    /// Always `single-node` until joining lands.
    pub mode: String,
    /// The members' host names: this node only.
    pub members: Vec<String>,
}

/// The wizard's shared state.
pub struct AppState {
    /// The options it was started with.
    pub opts: ServeOptions,
    token: Secret,
    /// The TLS certificate's fingerprint, as the console banner shows it.
    pub fingerprint: String,
    /// The admin password store.
    pub passwords: PasswordStore,
    sessions: Mutex<Sessions>,
    limiter: Mutex<RateLimiter>,
    report: RwLock<Arc<Report>>,
    /// The hardware profiles and roles.
    pub catalog: Catalog,
    /// The client subnets allowed.
    pub allow: Vec<IpNet>,
    /// Serialises writes to the state directory.
    write_lock: Mutex<()>,
    /// The installation.
    pub installer: Arc<Installer>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("opts", &self.opts)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, taking over a poisoned one (its data are plain tables that stay consistent).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Judges the machine at `root` under `profile` for the profile's default roles.
pub fn run_check(root: &Path, profile: &str) -> anyhow::Result<Report> {
    let catalog = Catalog::embedded().context("loading the built-in hardware profiles")?;
    stackbox_firstboot::check(&Root::at(root), &catalog, profile, &[])
        .context("checking the hardware")
}

use crate::roles::{RoleAssignment, Settings};

/// The default allow-list: loopback plus the subnet of the management address (a /24 for IPv4 and a
/// /64 for IPv6, since the probe reports addresses without their prefix length).
pub fn default_allow(management: Option<IpAddr>) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = vec![
        IpNet::new(IpAddr::from([127, 0, 0, 0]), 8).unwrap_or_default(),
        IpNet::new(IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128).unwrap_or_default(),
    ];
    if let Some(ip) = management {
        let prefix = if ip.is_ipv4() { 24 } else { 64 };
        if let Ok(net) = IpNet::new(ip, prefix) {
            out.push(net.trunc());
        }
    }
    out
}

impl AppState {
    /// Loads or creates the wizard's identity in the state directory, judges the hardware once, and
    /// sets up empty session and limiter tables.
    pub fn new(opts: ServeOptions) -> anyhow::Result<AppState> {
        let report = run_check(&opts.root, &opts.profile)?;
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        if let Some(h) = &report.facts.hostname {
            if stackbox_network::check_hostname(h).is_ok() {
                names.insert(0, h.clone());
            }
        }
        let management = if Root::at(&opts.root).is_live() {
            stackbox_machine::probe::net::addresses()
                .ok()
                .and_then(|a| {
                    stackbox_machine::probe::net::pick_management_address(&a, &report.facts.nics)
                })
        } else {
            None
        };
        if let Some(ip) = management {
            names.push(ip.to_string());
        }
        let id = identity::ensure(&opts.state_dir, &names)
            .context("loading the wizard's token and TLS certificate")?;
        let allow = opts
            .allow
            .clone()
            .unwrap_or_else(|| default_allow(management));
        let catalog = Catalog::embedded().context("loading the built-in hardware profiles")?;
        let installer = Arc::new(Installer::new(opts.install.clone(), &opts.state_dir));
        Ok(AppState {
            installer,
            catalog,
            passwords: PasswordStore::new(&opts.state_dir),
            sessions: Mutex::new(Sessions::new(opts.session_ttl)),
            limiter: Mutex::new(RateLimiter::new()),
            report: RwLock::new(Arc::new(report)),
            token: id.token,
            fingerprint: id.fingerprint,
            allow,
            write_lock: Mutex::new(()),
            opts,
        })
    }

    /// The setup token, for comparison only.
    pub(crate) fn token(&self) -> &Secret {
        &self.token
    }

    /// The session table.
    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.sessions)
    }

    /// The sign-in limiter.
    pub fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.limiter)
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
        let report = Arc::new(run_check(&self.opts.root, &self.opts.profile)?);
        *self.report.write().unwrap_or_else(|p| p.into_inner()) = report.clone();
        Ok(report)
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

    /// Whether a client address may reach the wizard.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow.iter().any(|net| net.contains(&ip))
    }

    fn load<T: serde::de::DeserializeOwned>(&self, file: &str) -> anyhow::Result<Option<T>> {
        let path = self.opts.state_dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn store<T: Serialize>(&self, file: &str, value: &T) -> anyhow::Result<()> {
        let path = self.opts.state_dir.join(file);
        let text = serde_json::to_string_pretty(value).context("serialising settings")?;
        let _guard = lock(&self.write_lock);
        write_atomic(&path, format!("{text}\n").as_bytes(), 0o600)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The stored network settings.
    pub fn network(&self) -> anyhow::Result<Option<NetworkSettings>> {
        self.load(NETWORK_FILE)
    }

    /// Stores validated network settings.
    pub fn set_network(&self, s: &NetworkSettings) -> anyhow::Result<()> {
        self.store(NETWORK_FILE, s)
    }

    /// The stored cluster.
    pub fn cluster(&self) -> anyhow::Result<Option<ClusterSettings>> {
        self.load(CLUSTER_FILE)
    }

    /// Stores the cluster.
    pub fn set_cluster(&self, c: &ClusterSettings) -> anyhow::Result<()> {
        self.store(CLUSTER_FILE, c)
    }

    /// The stored role assignment.
    pub fn roles(&self) -> anyhow::Result<Option<RoleAssignment>> {
        self.load(ROLES_FILE)
    }

    /// Stores the role assignment.
    pub fn set_roles(&self, r: &RoleAssignment) -> anyhow::Result<()> {
        self.store(ROLES_FILE, r)
    }

    /// The stored settings.
    pub fn settings(&self) -> anyhow::Result<Option<Settings>> {
        self.load(SETTINGS_FILE)
    }

    /// Stores the settings.
    pub fn set_settings(&self, s: &Settings) -> anyhow::Result<()> {
        self.store(SETTINGS_FILE, s)
    }

    /// Refuses a change of the answers while the installation runs or after it completed: the cloud is
    /// (being) built from them, and the review must keep showing what was installed.
    pub fn answers_may_change(&self) -> Result<(), WebError> {
        match self.installer.progress().phase {
            crate::install::Phase::Running => Err(WebError::Conflict(
                "the installation is running: the answers cannot change until it ends".to_owned(),
            )),
            crate::install::Phase::Complete => Err(WebError::Conflict(
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
        Ok(Answers {
            network: self.network()?.ok_or_else(|| missing("network"))?,
            cluster: self.cluster()?.ok_or_else(|| missing("cluster"))?,
            roles: self.roles()?.ok_or_else(|| missing("roles"))?,
            settings: self.settings()?.ok_or_else(|| missing("settings"))?,
        })
    }

    /// This machine's addresses (none when the wizard reads a fixture tree instead of the machine).
    /// Blocking: it asks the kernel over netlink.
    pub fn live_addresses(&self) -> Vec<LiveAddress> {
        if Root::at(&self.opts.root).is_live() {
            stackbox_machine::probe::net::addresses_with_prefix().unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// The installer's cluster configuration made from the answers (blocking: see
    /// [`AppState::live_addresses`]).
    pub fn cluster_config(&self) -> Result<stackbox_installer::ClusterConfig, WebError> {
        let answers = self.answers()?;
        cluster_config::cluster_config(&answers, &self.live_addresses(), &self.catalog)
    }
}
