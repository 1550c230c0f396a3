//! Applying a node's network with automatic rollback, so that no one is locked out.
//!
//! `apply` checks the settings, saves stackbox's files as they are (`previous/`) and records the change as
//! pending (`pending.json`) with its deadline, arms a revert that outlives this process (a transient systemd
//! timer), and only then writes the new files, deletes the netdevs whose definition changed (networkd never
//! changes an existing one) and reloads networkd. It probes the result; a failed probe reverts at once.
//! `confirm` disarms the timer and keeps the change. `revert` (the timer's, the operator's, or the boot
//! guard's when the machine restarted before a confirmation) puts the saved files back. Every apply,
//! confirmation and revert is appended to `history.jsonl` with its reason, and logged.
//!
//! The steps that touch the machine are the [`Host`] trait's; [`system::SystemHost`] is the real one.

pub mod probe;
pub mod system;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::host::{HostError, NicFact, check_host};
use crate::model::NetworkSettings;
use crate::render::{CHRONY_SOURCES, render_chrony_sources, render_networkd};

/// The default time the operator has to confirm a change.
pub const DEFAULT_CONFIRM_WITHIN: u64 = 120;

/// Where the networkd files, chrony's sources and the bookkeeping live (under a root, for tests).
#[derive(Debug, Clone)]
pub struct Paths {
    /// systemd-networkd's configuration directory.
    pub networkd: PathBuf,
    /// chrony's sources file.
    pub chrony: PathBuf,
    /// The bookkeeping: `applied.json`, `pending.json`, `previous/`, `history.jsonl`, `lock`.
    pub state: PathBuf,
}

impl Paths {
    /// The machine's own.
    pub fn system() -> Paths {
        Paths::under(Path::new("/"))
    }

    /// The same layout under `root`.
    pub fn under(root: &Path) -> Paths {
        Paths {
            networkd: root.join("etc/systemd/network"),
            chrony: root.join(CHRONY_SOURCES.trim_start_matches('/')),
            state: root.join("var/lib/stackbox/network"),
        }
    }

    fn pending(&self) -> PathBuf {
        self.state.join("pending.json")
    }
    fn applied(&self) -> PathBuf {
        self.state.join("applied.json")
    }
    fn previous(&self) -> PathBuf {
        self.state.join("previous")
    }
    fn history(&self) -> PathBuf {
        self.state.join("history.jsonl")
    }
}

/// The machine's side of an apply: networkd, the revert timer and the probe.
pub trait Host {
    /// Arms the revert to run by itself after `seconds`, whatever becomes of this process.
    fn arm_revert(&self, seconds: u64) -> Result<(), String>;
    /// Disarms it (no error when it is not armed).
    fn disarm_revert(&self) -> Result<(), String>;
    /// Deletes a link networkd made, so that it is made anew from its changed file (none when absent).
    fn delete_link(&self, name: &str) -> Result<(), String>;
    /// Makes networkd read its files again and reconfigure the links they match.
    fn reload(&self, links: &[String]) -> Result<(), String>;
    /// Makes chrony read its sources again.
    fn reload_time_sources(&self) -> Result<(), String>;
    /// Checks the applied settings hold: links up, address held, gateway and name servers answer, peers
    /// reachable. The error says which check failed and how.
    fn probe(&self, settings: &NetworkSettings) -> Result<Vec<String>, String>;
}

/// A change waiting for the operator's confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The settings applied.
    pub settings: NetworkSettings,
    /// When it was applied (seconds since the epoch).
    pub applied_at: u64,
    /// When it is reverted unless confirmed (seconds since the epoch).
    pub deadline: u64,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the epoch.
    pub at: u64,
    /// `applied`, `confirmed`, `reverted` or `refused`.
    pub event: String,
    /// Why, in words.
    pub reason: String,
}

/// What `status` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The confirmed settings, if any were ever applied.
    pub current: Option<NetworkSettings>,
    /// The change waiting for confirmation, with the seconds left.
    pub pending: Option<(Pending, u64)>,
    /// The last revert.
    pub last_revert: Option<Event>,
    /// stackbox's files in networkd's directory.
    pub files: Vec<String>,
}

/// Why an apply, confirmation or revert did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The settings break a rule; nothing was touched.
    #[error("the network is refused: {}", refusals(.0))]
    Refused(Vec<HostError>),
    /// Another change waits for its confirmation.
    #[error(
        "a network change applied at {applied_at} waits for confirmation until {deadline}: confirm it \
         (`stackboxd network confirm`) or revert it (`stackboxd network revert`) first"
    )]
    AlreadyPending {
        /// When it was applied.
        applied_at: u64,
        /// Its deadline.
        deadline: u64,
    },
    /// Nothing waits for a confirmation.
    #[error("no network change is waiting for confirmation")]
    NothingPending,
    /// The probe failed; the previous network was put back.
    #[error("the new network failed its check ({0}); the previous network was put back")]
    ProbeFailed(String),
    /// The machine refused a step.
    #[error("{0}")]
    Host(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn refusals(errors: &[HostError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {e}", e.field()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
    move |source| ApplyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Whether a file in networkd's directory is stackbox's (the rendered ones and the image's DHCP default).
pub fn is_ours(name: &str) -> bool {
    name.contains("stackbox")
        && [".network", ".netdev", ".link"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// stackbox's files in a directory, by name.
fn our_files(dir: &Path) -> Result<BTreeMap<String, String>, ApplyError> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ours(&name) {
            let text = std::fs::read_to_string(entry.path()).map_err(io(&entry.path()))?;
            files.insert(name, text);
        }
    }
    Ok(files)
}

/// Replaces stackbox's files in `dir` with `files`.
fn put_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), ApplyError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for name in our_files(dir)?.keys() {
        if !files.contains_key(name) {
            let path = dir.join(name);
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        stackbox_common::fs::write_atomic(&path, text.as_bytes(), 0o644).map_err(io(&path))?;
    }
    Ok(())
}

/// The netdevs defined in `from` that `to` defines differently or not at all: networkd must delete them.
fn changed_netdevs(from: &BTreeMap<String, String>, to: &BTreeMap<String, String>) -> Vec<String> {
    from.iter()
        .filter(|(name, text)| name.ends_with(".netdev") && to.get(*name) != Some(text))
        .filter_map(|(_, text)| netdev_name(text))
        .collect()
}

/// The `Name=` of a `.netdev` file's `[NetDev]` section.
fn netdev_name(text: &str) -> Option<String> {
    let mut in_netdev = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_netdev = line == "[NetDev]";
        } else if in_netdev && let Some(name) = line.strip_prefix("Name=") {
            return Some(name.to_owned());
        }
    }
    None
}

/// The links the `[Match] Name=` lines of `.network` files name, for networkd to reconfigure.
fn matched_links<'a>(sets: impl IntoIterator<Item = &'a BTreeMap<String, String>>) -> Vec<String> {
    let mut links: Vec<String> = sets
        .into_iter()
        .flat_map(|set| set.iter())
        .filter(|(name, _)| name.ends_with(".network"))
        .flat_map(|(_, text)| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("Name="))
                .flat_map(|names| names.split_whitespace().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .filter(|name| !name.contains('*'))
        .collect();
    links.sort();
    links.dedup();
    links
}

/// The bookkeeping and the lock that serialises apply, confirm and revert.
pub struct Network<'a> {
    paths: Paths,
    host: &'a dyn Host,
}

impl<'a> Network<'a> {
    /// The network of the machine behind `host`, its files at `paths`.
    pub fn new(paths: Paths, host: &'a dyn Host) -> Self {
        Network { paths, host }
    }

    fn lock(&self) -> Result<Flock<File>, ApplyError> {
        let dir = &self.paths.state;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("lock");
        let file = File::create(&path).map_err(io(&path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| ApplyError::Io {
            path,
            source: errno.into(),
        })
    }

    fn record(&self, event: &str, reason: &str) -> Result<(), ApplyError> {
        let line = serde_json::to_string(&Event {
            at: now(),
            event: event.to_owned(),
            reason: reason.to_owned(),
        })
        .unwrap_or_default();
        match event {
            "reverted" | "refused" => tracing::warn!(event, reason, "network"),
            _ => tracing::info!(event, reason, "network"),
        }
        // The journal, whoever ran the command (a terminal, the wizard, the revert timer).
        let _ = stackbox_common::cmd::Command::new("logger")
            .args(["--tag", "stackbox-network", "--"])
            .arg(format!("{event}: {reason}"))
            .run();
        let path = self.paths.history();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).map_err(io(&path))
    }

    /// The change waiting for confirmation.
    pub fn pending(&self) -> Result<Option<Pending>, ApplyError> {
        read_json(&self.paths.pending())
    }

    /// Applies `settings` with a revert armed for `within` seconds; returns the pending change and what the
    /// probe saw, after the check's warnings (a NIC without link). On a failed probe the previous network
    /// is back before this returns.
    pub fn apply(
        &self,
        settings: &NetworkSettings,
        nics: &[NicFact],
        within: u64,
    ) -> Result<(Pending, Vec<String>), ApplyError> {
        let _lock = self.lock()?;
        let warnings = match check_host(settings, nics) {
            Ok(warnings) => warnings,
            Err(errors) => {
                let e = ApplyError::Refused(errors);
                self.record("refused", &e.to_string())?;
                return Err(e);
            }
        };
        if let Some(p) = self.pending()? {
            return Err(ApplyError::AlreadyPending {
                applied_at: p.applied_at,
                deadline: p.deadline,
            });
        }
        let before = our_files(&self.paths.networkd)?;
        let previous = self.paths.previous();
        let _ = std::fs::remove_dir_all(&previous);
        put_files(&previous, &before)?;
        if let Ok(chrony) = std::fs::read_to_string(&self.paths.chrony) {
            std::fs::write(previous.join("chrony.sources"), chrony).map_err(io(&previous))?;
        }
        let at = now();
        let pending = Pending {
            settings: settings.clone(),
            applied_at: at,
            deadline: at + within,
        };
        write_json(&self.paths.pending(), &pending)?;
        self.host.arm_revert(within).map_err(ApplyError::Host)?;
        self.record(
            "applied",
            &format!(
                "{} on {}; confirm within {within} s",
                describe(settings),
                settings.bridge
            ),
        )?;
        let after: BTreeMap<String, String> = render_networkd(settings)
            .into_iter()
            .map(|f| (f.name, f.text))
            .collect();
        let switched = self.switch(&before, &after, render_chrony_sources(&settings.ntp));
        match switched.and_then(|()| self.host.probe(settings).map_err(ApplyError::ProbeFailed)) {
            Ok(seen) => {
                let warned = warnings.iter().map(|w| format!("warning: {w}"));
                Ok((pending, warned.chain(seen).collect()))
            }
            Err(e) => {
                drop(_lock);
                self.revert(&format!("the apply failed: {e}"))?;
                Err(match e {
                    ApplyError::ProbeFailed(_) => e,
                    other => {
                        ApplyError::Host(format!("{other}; the previous network was put back"))
                    }
                })
            }
        }
    }

    /// Puts `after` in place of `before` and makes networkd and chrony take it.
    fn switch(
        &self,
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
        chrony: Option<String>,
    ) -> Result<(), ApplyError> {
        put_files(&self.paths.networkd, after)?;
        for link in changed_netdevs(before, after) {
            self.host.delete_link(&link).map_err(ApplyError::Host)?;
        }
        self.host
            .reload(&matched_links([before, after]))
            .map_err(ApplyError::Host)?;
        let chrony_path = &self.paths.chrony;
        let old_chrony = std::fs::read_to_string(chrony_path).ok();
        if old_chrony != chrony {
            match &chrony {
                Some(text) => {
                    if let Some(dir) = chrony_path.parent() {
                        std::fs::create_dir_all(dir).map_err(io(dir))?;
                    }
                    stackbox_common::fs::write_atomic(chrony_path, text.as_bytes(), 0o644)
                        .map_err(io(chrony_path))?;
                }
                None => std::fs::remove_file(chrony_path).map_err(io(chrony_path))?,
            }
            if let Err(e) = self.host.reload_time_sources() {
                tracing::warn!("chrony did not reload its sources: {e}");
            }
        }
        Ok(())
    }

    /// Keeps the pending change: disarms the revert and records the settings as the node's.
    pub fn confirm(&self) -> Result<NetworkSettings, ApplyError> {
        let _lock = self.lock()?;
        let pending = self.pending()?.ok_or(ApplyError::NothingPending)?;
        self.host.disarm_revert().map_err(ApplyError::Host)?;
        write_json(&self.paths.applied(), &pending.settings)?;
        let _ = std::fs::remove_dir_all(self.paths.previous());
        remove(&self.paths.pending())?;
        self.record(
            "confirmed",
            &format!(
                "{} kept, {} s after it was applied",
                describe(&pending.settings),
                now().saturating_sub(pending.applied_at)
            ),
        )?;
        Ok(pending.settings)
    }

    /// Puts the network from before the pending change back, for `reason`; `Ok(false)` when nothing was
    /// pending. With `files_only` (at boot, before networkd starts) only the files are put back.
    pub fn revert_with(&self, reason: &str, files_only: bool) -> Result<bool, ApplyError> {
        let _lock = self.lock()?;
        let Some(pending) = self.pending()? else {
            return Ok(false);
        };
        let previous = self.paths.previous();
        let mut saved = our_files(&previous)?;
        saved.retain(|name, _| is_ours(name));
        let chrony = std::fs::read_to_string(previous.join("chrony.sources")).ok();
        if files_only {
            put_files(&self.paths.networkd, &saved)?;
            match &chrony {
                Some(text) => std::fs::write(&self.paths.chrony, text),
                None => std::fs::remove_file(&self.paths.chrony).or(Ok(())),
            }
            .map_err(io(&self.paths.chrony))?;
        } else {
            let now_files = our_files(&self.paths.networkd)?;
            self.switch(&now_files, &saved, chrony)?;
            self.host.disarm_revert().map_err(ApplyError::Host)?;
        }
        remove(&self.paths.pending())?;
        self.record(
            "reverted",
            &format!("{reason}; {} undone", describe(&pending.settings)),
        )?;
        Ok(true)
    }

    /// [`Network::revert_with`] on a running machine.
    pub fn revert(&self, reason: &str) -> Result<bool, ApplyError> {
        self.revert_with(reason, false)
    }

    /// The current, pending and last reverted network.
    pub fn status(&self) -> Result<Status, ApplyError> {
        let history = std::fs::read_to_string(self.paths.history()).unwrap_or_default();
        let last_revert = history
            .lines()
            .filter_map(|l| serde_json::from_str::<Event>(l).ok())
            .rfind(|e| e.event == "reverted");
        Ok(Status {
            current: read_json(&self.paths.applied())?,
            pending: self.pending()?.map(|p| {
                let left = p.deadline.saturating_sub(now());
                (p, left)
            }),
            last_revert,
            files: our_files(&self.paths.networkd)?.into_keys().collect(),
        })
    }
}

/// The settings in a few words, for the history.
pub fn describe(s: &NetworkSettings) -> String {
    let address = match &s.addressing {
        crate::model::Addressing::Static { address, .. } => address.to_string(),
        crate::model::Addressing::Dhcp { .. } => "DHCP".to_owned(),
    };
    let vlan = s.vlan.map(|v| format!(" VLAN {v}")).unwrap_or_default();
    format!("management {address} on {}{vlan}", s.management_nic)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ApplyError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ApplyError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ApplyError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    stackbox_common::fs::write_atomic(path, text.as_bytes(), 0o644).map_err(io(path))
}

fn remove(path: &Path) -> Result<(), ApplyError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}
