//! What the running wizard holds: its options, identity, sessions, the sign-in limiter and the allowed
//! client subnets around the [`Wizard`] (the flow, the hardware report, the answers, the installation).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use stackbox_firstboot::identity::{self, Secret};
use stackbox_installer::runner::InstallMode;
use stackbox_machine::system::Root;

use crate::auth::{PasswordStore, Sessions, SignInGate, VERIFIERS};
use crate::connections::Connections;
use crate::wizard::{Wizard, run_check};

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
    /// How long a session lives without a request (each request extends it).
    pub session_idle: Duration,
    /// How long a session lives at most, active or not.
    pub session_absolute: Duration,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Where to answer plain HTTP with redirects to HTTPS (`0.0.0.0:80`); `None`: no plain HTTP.
    pub redirect_http: Option<String>,
    /// Whether the install step installs the cloud here or only walks the plan.
    pub install: InstallMode,
    /// Where the node agent listens (mutual TLS with cluster certificates), once this node has them;
    /// `None`: no agent (plan mode, tests).
    pub agent_listen: Option<String>,
    /// Where the first node's wizard asks joined nodes' hardware: their agents, or given reports.
    pub joined_hardware: stackbox_cluster::hardware::Source,
    /// The directory of the cluster CA's certificate and key (`ca.pem`, `ca-key.pem`); `None`: the
    /// installer's (`/etc/stackbox`) in a real installation, `STATE/cluster` in plan mode. Tests give
    /// one of their own, so that a wizard outside plan mode asks agents on loopback without touching
    /// this machine's CA.
    pub ca_dir: Option<PathBuf>,
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
            session_idle: crate::auth::SESSION_IDLE,
            session_absolute: crate::auth::SESSION_ABSOLUTE,
            workers: 0,
            redirect_http: None,
            install: InstallMode::real(),
            agent_listen: None,
            joined_hardware: stackbox_cluster::hardware::Source::Agents {
                port: stackbox_cluster::agent::AGENT_PORT,
            },
            ca_dir: None,
        }
    }
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
    /// The sign-in limiter and the bound on argon2 verifications.
    pub sign_in: SignInGate,
    /// The client subnets allowed.
    pub allow: Vec<IpNet>,
    /// The names and addresses the wizard answers to, the one first boot printed (or the listen
    /// address) first: the only hosts plain HTTP is redirected to.
    pub own_names: Vec<String>,
    /// Open connections per client address.
    pub connections: Connections,
    /// The wizard's flow: the hardware report, the answers and the installation.
    pub wizard: Wizard,
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

/// The wizard's own names, most preferred first: the listen address when it is a specific one, the
/// management address (the URL first boot printed), then the certificate's names.
fn own_names(listen: &str, management: Option<IpAddr>, names: &[String]) -> Vec<String> {
    let listen_host = listen
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified());
    let mut out: Vec<String> = Vec::new();
    let candidates = listen_host
        .into_iter()
        .chain(management)
        .map(|ip| ip.to_string())
        .chain(names.iter().cloned());
    for name in candidates {
        if !out.contains(&name) {
            out.push(name);
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
        let own_names = own_names(&opts.listen, management, &names);
        let allow = opts
            .allow
            .clone()
            .unwrap_or_else(|| default_allow(management));
        let wizard = Wizard::new(
            &opts.root,
            &opts.profile,
            &opts.state_dir,
            opts.install.clone(),
            report,
            opts.joined_hardware.clone(),
            opts.ca_dir.as_deref(),
        )?;
        Ok(AppState {
            wizard,
            passwords: PasswordStore::new(&opts.state_dir),
            sessions: Mutex::new(Sessions::new(opts.session_idle, opts.session_absolute)),
            sign_in: SignInGate::new(VERIFIERS, opts.state_dir.join(crate::auth::UNLOCK_FILE)),
            token: id.token,
            fingerprint: id.fingerprint,
            allow,
            connections: Connections::default(),
            own_names,
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

    /// Whether a client address may reach the wizard.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow.iter().any(|net| net.contains(&ip))
    }
}
