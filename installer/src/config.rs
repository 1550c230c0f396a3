//! The cluster configuration: one serde model for the TOML answer file, the wizard and the JSON API.
//!
//! Parsing refuses unknown keys; [`ClusterConfig::validate`] then checks what types cannot (addresses in
//! the management network, unique names, roles that exist, ranges), naming the field of every problem.
//! The parts of the networks that stand on their own (the VXLAN range, a provider network) are
//! `stackbox_network`'s types.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use stackbox_common::toml_file::{self, TomlError};
use stackbox_network::{ProviderNetwork, VniRange};

/// The cloud software the appliance installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// OpenStack (Debian 12 ships Zed).
    #[default]
    Openstack,
    /// Apache CloudStack: planned, not installable yet.
    Cloudstack,
}

/// A whole cluster: its nodes, networks and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster's name: a DNS label.
    pub name: String,
    /// The cloud software.
    #[serde(default)]
    pub flavor: Flavor,
    /// The OpenStack region name.
    #[serde(default = "default_region")]
    pub region: String,
    /// Networks.
    pub networks: Networks,
    /// Nodes, in the order given; the first node with a role leads it (bootstraps Galera, for instance).
    pub nodes: Vec<Node>,
    /// Overcommit ratios of the compute nodes.
    #[serde(default)]
    pub overcommit: Overcommit,
    /// TLS of the public endpoints.
    #[serde(default)]
    pub tls: Tls,
}

fn default_region() -> String {
    "RegionOne".to_owned()
}

/// The cluster's networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Networks {
    /// The management network: every node's `address` is in it; APIs, database and bus traffic use it.
    pub management_cidr: IpNet,
    /// The address API clients use (haproxy's endpoints): an address of its own, which keepalived keeps
    /// on one management node and moves when that node fails, so clients keep it while the cluster grows
    /// and loses nodes. With one node it may be the node's own address (then nothing moves it). Absent:
    /// the first management node's address.
    #[serde(default)]
    pub api_address: Option<IpAddr>,
    /// The interface the management addresses are on (a NIC or a bridge): where keepalived puts the API
    /// address. Needed when `api_address` is an address of its own.
    #[serde(default)]
    pub management_interface: Option<String>,
    /// The data-plane NIC that carries VM traffic (VXLAN), unless a node names its own.
    pub data_nic: String,
    /// The data-plane network of the nodes' `data_address`es, when VXLAN has a network of its own.
    #[serde(default)]
    pub data_cidr: Option<IpNet>,
    /// The provider (external) network VMs reach the outside through, if any.
    #[serde(default)]
    pub provider: Option<ProviderNetwork>,
    /// VXLAN network identifiers for tenant networks.
    #[serde(default)]
    pub vxlan: VniRange,
    /// The networks allowed to reach the public API ports and the console proxy (every node's firewall
    /// accepts them from these and from the members); empty: from anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<IpNet>,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Host name: a DNS label.
    pub name: String,
    /// Management address, inside `networks.management_cidr`.
    pub address: IpAddr,
    /// Roles: `management`, `message-bus`, `storage-metadata`, `console-proxy`, `compute`.
    pub roles: Vec<String>,
    /// This node's data-plane NIC, when it differs from `networks.data_nic`.
    #[serde(default)]
    pub data_nic: Option<String>,
    /// This node's address on the data plane (VXLAN endpoint); the management address when absent.
    #[serde(default)]
    pub data_address: Option<IpAddr>,
}

impl Node {
    /// Whether the node has a role.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Overcommit (allocation) ratios of the compute nodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overcommit {
    /// Virtual CPUs per physical CPU.
    pub cpu: f64,
    /// Virtual memory per physical memory.
    pub ram: f64,
    /// Virtual disk per physical disk.
    pub disk: f64,
}

impl Overcommit {
    /// The largest ratio of each kind the appliance accepts: (key, most).
    pub const LIMITS: [(&'static str, f64); 3] = [("cpu", 64.0), ("ram", 4.0), ("disk", 10.0)];

    /// What is wrong with the ratios: (key, why) for each out of bounds (each must be above 0 and at
    /// most its [`Overcommit::LIMITS`]).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        Self::LIMITS
            .iter()
            .zip([self.cpu, self.ram, self.disk])
            .filter(|((_, most), value)| !(*value > 0.0 && value <= most))
            .map(|((key, most), value)| {
                (
                    *key,
                    format!("must be above 0 and at most {most}, got {value}"),
                )
            })
            .collect()
    }
}

impl Default for Overcommit {
    fn default() -> Self {
        // Nova's own initial allocation ratios (Zed).
        Overcommit {
            cpu: 4.0,
            ram: 1.0,
            disk: 1.0,
        }
    }
}

/// TLS of the public endpoints (haproxy).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The name clients use for the endpoints; the first management node's address when absent.
    #[serde(default)]
    pub public_name: Option<String>,
    /// A certificate (PEM, chain included) to use instead of a generated one.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// A configuration that could not be read: malformed, unknown key, wrong type.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// TOML.
    #[error(transparent)]
    Toml(#[from] TomlError),
    /// JSON (the API), with the path of the offending field.
    #[error("{path}: {reason}")]
    Json {
        /// Dotted path of the field.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl ClusterConfig {
    /// Parses a TOML answer file; `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<ClusterConfig, ParseError> {
        Ok(toml_file::parse(file, text)?)
    }

    /// Parses the JSON form (the wizard's API).
    pub fn from_json(text: &str) -> Result<ClusterConfig, ParseError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| ParseError::Json {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot serialise: {e}\n"))
    }

    /// The nodes that have `role`, in order.
    pub fn nodes_with<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.has(role))
    }

    /// The first node with `role`, which leads it.
    pub fn leader(&self, role: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.has(role))
    }

    /// The API address when it is one of its own (keepalived keeps it), not a node's.
    pub fn floating_api_address(&self) -> Option<IpAddr> {
        self.networks
            .api_address
            .filter(|a| self.nodes.iter().all(|n| n.address != *a))
    }
}

/// A configuration that could not be written as TOML.
#[derive(Debug, thiserror::Error)]
#[error("writing the cluster configuration as TOML")]
pub struct SerializeError(#[source] toml::ser::Error);

impl ClusterConfig {
    /// The TOML answer file `stackboxd install --config` reads, under one comment line that says who
    /// wrote it (`written_by`, without the leading `# `); [`ClusterConfig::from_toml`] reads it back.
    pub fn to_toml_file(&self, written_by: &str) -> Result<String, SerializeError> {
        let body = toml::to_string(self).map_err(SerializeError)?;
        Ok(format!("# {written_by}\n{body}"))
    }
}
