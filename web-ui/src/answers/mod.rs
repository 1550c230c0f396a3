//! The operator's answers, one submodule per step, and where they are kept: the network
//! ([`crate::network`], re-exported here as [`network`]; its rules move to the network crate), the
//! cluster ([`cluster`]), the node's roles and the cloud's settings ([`roles`]), and [`config`], which
//! turns them all into the installer's cluster configuration; [`file`] reads them from an answer file
//! (zero-touch installs). [`AnswerStore`] keeps each step's answer
//! as a JSON file in the state directory.

pub mod cluster;
pub mod config;
pub mod file;
pub mod roles;

pub use crate::network;

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use serde::Serialize;
use stackbox_common::fs::write_atomic;

use self::cluster::ClusterSettings;
use self::roles::{JoinedRoles, RoleAssignment, Settings};
use stackbox_network::NetworkSettings;

/// The network settings' file in the state directory.
pub const NETWORK_FILE: &str = "network.json";
/// The cluster's file in the state directory.
pub const CLUSTER_FILE: &str = "cluster.json";
/// The node's roles' file in the state directory.
pub const ROLES_FILE: &str = "roles.json";
/// The joined nodes' roles' file in the state directory.
pub const JOINED_ROLES_FILE: &str = "joined-roles.json";
/// The cloud settings' file in the state directory.
pub const SETTINGS_FILE: &str = "settings.json";

/// Everything the wizard stored, each step's answer.
#[derive(Debug, Clone)]
pub struct Answers {
    /// The network page.
    pub network: NetworkSettings,
    /// The cluster page.
    pub cluster: ClusterSettings,
    /// The roles page.
    pub roles: RoleAssignment,
    /// The settings page.
    pub settings: Settings,
}

/// The answers as files in the state directory (mode 0600, written atomically, one writer at a time).
#[derive(Debug)]
pub struct AnswerStore {
    dir: PathBuf,
    write_lock: Mutex<()>,
}

impl AnswerStore {
    /// The store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> AnswerStore {
        AnswerStore {
            dir: dir.into(),
            write_lock: Mutex::new(()),
        }
    }

    /// Whether a step's file is stored.
    pub fn has(&self, file: &str) -> bool {
        self.dir.join(file).exists()
    }

    fn load<T: serde::de::DeserializeOwned>(&self, file: &str) -> anyhow::Result<Option<T>> {
        let path = self.dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn store<T: Serialize>(&self, file: &str, value: &T) -> anyhow::Result<()> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.store_locked(file, value)
    }

    /// Stores with the write lock already held.
    fn store_locked<T: Serialize>(&self, file: &str, value: &T) -> anyhow::Result<()> {
        let path = self.dir.join(file);
        let text = serde_json::to_string_pretty(value).context("serialising settings")?;
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

    /// The roles of the nodes that joined, in the order they were saved (none before the first).
    pub fn joined_roles(&self) -> anyhow::Result<Vec<JoinedRoles>> {
        Ok(self.load(JOINED_ROLES_FILE)?.unwrap_or_default())
    }

    /// Stores (or replaces) one joined node's roles.
    pub fn set_joined_roles(&self, r: &JoinedRoles) -> anyhow::Result<()> {
        // One read-modify-write at a time: two nodes' roles saved at once both stay.
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = self.joined_roles()?;
        match all.iter_mut().find(|j| j.node == r.node) {
            Some(j) => *j = r.clone(),
            None => all.push(r.clone()),
        }
        self.store_locked(JOINED_ROLES_FILE, &all)
    }

    /// Forgets one joined node's roles (it joins again, or was removed).
    pub fn forget_joined_roles(&self, node: &str) -> anyhow::Result<()> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = self.joined_roles()?;
        let before = all.len();
        all.retain(|j| j.node != node);
        if all.len() != before {
            self.store_locked(JOINED_ROLES_FILE, &all)?;
        }
        Ok(())
    }

    /// The stored settings.
    pub fn settings(&self) -> anyhow::Result<Option<Settings>> {
        self.load(SETTINGS_FILE)
    }

    /// Stores the settings.
    pub fn set_settings(&self, s: &Settings) -> anyhow::Result<()> {
        self.store(SETTINGS_FILE, s)
    }
}
