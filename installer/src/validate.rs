//! Validation of a [`ClusterConfig`]: every problem found at once, each naming its field, plus warnings
//! for configurations that work but are fragile.
//!
//! The rules of a single value (a DNS label, an interface name, a host address in its subnet, a VXLAN
//! range, a provider network on its own) are `stackbox_network`'s, the same the wizard's form uses; this
//! module words them for the configuration file and adds the rules that need the whole cluster (unique
//! names and addresses, overlapping networks, roles).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use stackbox_common::text::excerpt;
use stackbox_hardware_profiles::Catalog;
use stackbox_network::{
    AddressError, ProviderNetwork, check_host_address, check_hostname, is_dns_label, is_ifname,
    is_subnet, overlaps,
};

use crate::config::{ClusterConfig, Flavor, Node};

/// One problem, with the dotted path of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The field (`nodes[1].address`, `networks.vxlan.last`).
    pub field: String,
    /// What is wrong, or what is risky.
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The outcome of validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// Problems that make the configuration unusable.
    pub errors: Vec<Issue>,
    /// Configurations that work but that an operator should know about.
    pub warnings: Vec<Issue>,
}

impl Issue {
    /// An issue; messages may quote what the operator wrote, so both parts are cut (a huge value stays a
    /// readable error in the CLI, the journal and the wizard).
    fn new(field: impl Into<String>, message: impl Into<String>) -> Issue {
        let (field, message) = (field.into(), message.into());
        Issue {
            field: excerpt(&field).into_owned(),
            message: excerpt(&message).into_owned(),
        }
    }
}

impl Validation {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Issue::new(field, message));
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Issue::new(field, message));
    }

    /// Whether the configuration may be used.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The roles without which no OpenStack cloud runs.
pub const REQUIRED_ROLES: &[&str] = &["management", "message-bus", "storage-metadata", "compute"];

/// The required roles that none of `held` (the roles of every node, together) is: the one rule the
/// installer's validation and the wizard's roles page both apply.
pub fn missing_roles<'a>(held: impl IntoIterator<Item = &'a str> + Clone) -> Vec<&'static str> {
    REQUIRED_ROLES
        .iter()
        .copied()
        .filter(|r| !held.clone().into_iter().any(|h| h == *r))
        .collect()
}

impl ClusterConfig {
    /// Checks everything the types cannot, against the roles of `catalog`.
    pub fn validate(&self, catalog: &Catalog) -> Validation {
        let mut v = Validation::default();
        if !is_dns_label(&self.name) {
            v.error(
                "name",
                format!(
                    "`{}` is not a DNS label (lowercase letters, digits and dashes, at most 63)",
                    self.name
                ),
            );
        }
        if self.flavor == Flavor::Cloudstack {
            v.error("flavor", "cloudstack is not installable yet; use openstack");
        }
        if self.region.is_empty() || self.region.len() > 255 {
            v.error("region", "must be 1 to 255 characters");
        } else if !is_region(&self.region) {
            // The region lands in every service's INI file and on the services' command lines.
            v.error(
                "region",
                format!(
                    "`{}` may hold only letters, digits, '.', '_' and '-'",
                    self.region.escape_debug()
                ),
            );
        }
        self.validate_networks(&mut v);
        self.validate_nodes(catalog, &mut v);
        for (key, why) in self.overcommit.problems() {
            v.error(format!("overcommit.{key}"), why);
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            v.error(
                "tls",
                "give both cert_file and key_file, or neither (a certificate is then generated)",
            );
        }
        if let Some(name) = &self.tls.public_name {
            let ok = check_hostname(name).is_ok() || name.parse::<IpAddr>().is_ok();
            if !ok {
                v.error(
                    "tls.public_name",
                    format!("`{name}` is neither a DNS name nor an address"),
                );
            }
        }
        v
    }

    fn validate_networks(&self, v: &mut Validation) {
        let net = &self.networks;
        let cidrs = std::iter::once(("networks.management_cidr", net.management_cidr))
            .chain(net.data_cidr.map(|c| ("networks.data_cidr", c)));
        for (field, cidr) in cidrs {
            if let Some(kind) = special_network(&cidr) {
                v.error(field, format!("{cidr} is a {kind} network"));
            }
        }
        if !is_subnet(&net.management_cidr) {
            v.error(
                "networks.management_cidr",
                format!(
                    "`{}` has host bits set; did you mean `{}`?",
                    net.management_cidr,
                    net.management_cidr.trunc()
                ),
            );
        }
        if !is_ifname(&net.data_nic) {
            v.error(
                "networks.data_nic",
                format!("`{}` is not an interface name", net.data_nic),
            );
        }
        if let Some(data) = net.data_cidr
            && overlaps(&data, &net.management_cidr)
        {
            v.error(
                "networks.data_cidr",
                format!(
                    "{data} overlaps the management network {}",
                    net.management_cidr
                ),
            );
        }
        if let Some(p) = &net.provider {
            self.validate_provider(p, v);
        }
        for e in net.vxlan.check() {
            v.error(format!("networks.vxlan.{}", e.field()), e.to_string());
        }
        Self::validate_clients(&net.clients, v);
    }

    /// The client networks of the public ports: real networks, each once.
    fn validate_clients(clients: &[IpNet], v: &mut Validation) {
        for (i, cidr) in clients.iter().enumerate() {
            let field = format!("networks.clients[{i}]");
            if let Some(kind) = special_network(cidr) {
                v.error(&field, format!("{cidr} is a {kind} network"));
            }
            if !is_subnet(cidr) {
                v.error(
                    &field,
                    format!(
                        "`{cidr}` has host bits set; did you mean `{}`?",
                        cidr.trunc()
                    ),
                );
            }
            if clients[..i].contains(cidr) {
                v.error(&field, format!("{cidr} is listed twice"));
            }
        }
    }

    /// The provider network: its own rules, then how it sits beside the management and data networks.
    fn validate_provider(&self, p: &ProviderNetwork, v: &mut Validation) {
        let net = &self.networks;
        let problems = p.check();
        let mut problems = problems.iter().peekable();
        // The NIC and the label come first, the overlaps next, the addresses last, as the fields are read.
        while let Some(e) = problems.next_if(|e| matches!(e.field(), "nic" | "name")) {
            v.error(format!("networks.provider.{}", e.field()), e.to_string());
        }
        if overlaps(&p.cidr, &net.management_cidr) {
            v.error(
                "networks.provider.cidr",
                format!(
                    "{} overlaps the management network {}",
                    p.cidr, net.management_cidr
                ),
            );
        }
        if let Some(data) = net.data_cidr
            && overlaps(&p.cidr, &data)
        {
            v.error(
                "networks.provider.cidr",
                format!("{} overlaps the data network {data}", p.cidr),
            );
        }
        for e in problems {
            v.error(format!("networks.provider.{}", e.field()), e.to_string());
        }
        if let IpNet::V4(cidr) = p.cidr
            && cidr.prefix_len() < 31
        {
            for (what, address) in [("network", cidr.network()), ("broadcast", cidr.broadcast())] {
                let address = IpAddr::V4(address);
                if p.pool_start <= address && address <= p.pool_end {
                    v.error(
                        "networks.provider.pool_end",
                        format!(
                            "the pool {}-{} holds the {what} address {address}",
                            p.pool_start, p.pool_end
                        ),
                    );
                }
            }
        }
    }

    fn validate_nodes(&self, catalog: &Catalog, v: &mut Validation) {
        if self.nodes.is_empty() {
            v.error("nodes", "at least one node is needed");
            return;
        }
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        let mut data_addresses = BTreeSet::new();
        let mgmt = self.networks.management_cidr;
        for (i, node) in self.nodes.iter().enumerate() {
            let at = |f: &str| format!("nodes[{i}].{f}");
            if !is_dns_label(&node.name) {
                v.error(at("name"), format!("`{}` is not a host name (lowercase letters, digits and dashes, at most 63)", node.name));
            } else if !names.insert(node.name.as_str()) {
                v.error(
                    at("name"),
                    format!("`{}` is used by another node", node.name),
                );
            }
            if !addresses.insert(node.address) {
                v.error(
                    at("address"),
                    format!("{} is used by another node", node.address),
                );
            }
            match check_host_address(node.address, &mgmt) {
                Err(AddressError::Outside { address, .. }) => v.error(
                    at("address"),
                    format!("{address} is outside the management network {mgmt}"),
                ),
                Err(AddressError::NetworkOrBroadcast { address }) => v.error(
                    at("address"),
                    format!("{address} is the network's own or broadcast address"),
                ),
                Err(e @ AddressError::Special { .. }) => v.error(at("address"), e.to_string()),
                Ok(()) => {}
            }
            if let Some(nic) = &node.data_nic
                && !is_ifname(nic)
            {
                v.error(at("data_nic"), format!("`{nic}` is not an interface name"));
            }
            if let Some(ip) = node.data_address {
                if !data_addresses.insert(ip) {
                    v.error(at("data_address"), format!("{ip} is used by another node"));
                }
                if let Some(cidr) = self.networks.data_cidr
                    && let Err(AddressError::NetworkOrBroadcast { address }) =
                        check_host_address(ip, &cidr)
                {
                    v.error(
                        at("data_address"),
                        format!("{address} is the data network's own or broadcast address"),
                    );
                }
            }
            match (node.data_address, self.networks.data_cidr) {
                (Some(ip), Some(cidr)) if !cidr.contains(&ip) => {
                    v.error(
                        at("data_address"),
                        format!("{ip} is outside the data network {cidr}"),
                    );
                }
                (Some(ip), _) if mgmt.contains(&ip) && ip != node.address => {
                    v.error(
                        at("data_address"),
                        format!("{ip} is in the management network; give the data plane its own"),
                    );
                }
                _ => {}
            }
            validate_roles(i, node, catalog, v);
            if node.has("compute")
                && node.data_address.is_none()
                && self.nodes_with("compute").count() > 1
            {
                v.warn(
                    at("data_address"),
                    "no data-plane address: VXLAN tunnels will run over the management network",
                );
            }
        }
        self.validate_api_address(v);
        let held = self
            .nodes
            .iter()
            .flat_map(|n| n.roles.iter().map(String::as_str));
        for role in missing_roles(held) {
            v.error(
                "nodes",
                format!("no node has the `{role}` role; the cloud needs one"),
            );
        }
        for (role, what) in [("storage-metadata", "Galera"), ("message-bus", "RabbitMQ")] {
            if self.nodes_with(role).count() == 2 {
                v.warn("nodes", format!("two `{role}` nodes: {what} has no quorum when one of them fails; use one or three"));
            }
        }
    }
}

impl ClusterConfig {
    /// The API address: in the management network; a node's own address only in a cluster of one
    /// management node (an address of its own moves between them); keepalived needs the interface.
    fn validate_api_address(&self, v: &mut Validation) {
        let net = &self.networks;
        if let Some(nic) = &net.management_interface
            && !is_ifname(nic)
        {
            v.error(
                "networks.management_interface",
                format!("`{nic}` is not an interface name"),
            );
        }
        let Some(api) = net.api_address else {
            return;
        };
        match check_host_address(api, &net.management_cidr) {
            Err(AddressError::Outside { .. }) => v.error(
                "networks.api_address",
                format!(
                    "{api} is outside the management network {}",
                    net.management_cidr
                ),
            ),
            Err(AddressError::NetworkOrBroadcast { .. }) => v.error(
                "networks.api_address",
                format!("{api} is the network's own or broadcast address"),
            ),
            Err(e @ AddressError::Special { .. }) => v.error("networks.api_address", e.to_string()),
            Ok(()) => {}
        }
        let owner = self.nodes.iter().find(|n| n.address == api);
        let managers = self.nodes_with("management").count();
        match owner {
            Some(node) if managers > 1 || !node.has("management") => v.error(
                "networks.api_address",
                format!(
                    "{api} is {}'s own address; with {managers} management node(s) the API address must be one of its own, which can move",
                    node.name
                ),
            ),
            Some(_) => {}
            None if net.management_interface.is_none() => v.error(
                "networks.management_interface",
                format!("name the interface the management addresses are on: keepalived puts {api} there"),
            ),
            None => {}
        }
    }
}

/// Whether `region` is safe in an INI file and as a command's argument: letters, digits, `.`, `_`, `-`.
fn is_region(region: &str) -> bool {
    region
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `loopback` or `multicast` when `net` holds such addresses: no cluster network can be one.
fn special_network(net: &IpNet) -> Option<&'static str> {
    let (loopback, multicast): (IpAddr, IpAddr) = match net {
        IpNet::V4(_) => ([127, 0, 0, 1].into(), [224, 0, 0, 1].into()),
        IpNet::V6(_) => (
            std::net::Ipv6Addr::LOCALHOST.into(),
            "ff02::1"
                .parse()
                .unwrap_or(std::net::Ipv6Addr::LOCALHOST)
                .into(),
        ),
    };
    let first = net.network();
    if first.is_loopback() || net.contains(&loopback) {
        Some("loopback")
    } else if first.is_multicast() || net.contains(&multicast) {
        Some("multicast")
    } else {
        None
    }
}

/// The roles of node `i`: at least one, each known to `catalog`, none twice.
fn validate_roles(i: usize, node: &Node, catalog: &Catalog, v: &mut Validation) {
    if node.roles.is_empty() {
        v.error(
            format!("nodes[{i}].roles"),
            "a node needs at least one role",
        );
    }
    for (j, role) in node.roles.iter().enumerate() {
        if catalog.role(role).is_err() {
            let known: Vec<&str> = catalog.roles().keys().map(String::as_str).collect();
            v.error(
                format!("nodes[{i}].roles[{j}]"),
                format!("unknown role `{role}` (known roles: {})", known.join(", ")),
            );
        } else if node.roles[..j].contains(role) {
            v.error(
                format!("nodes[{i}].roles[{j}]"),
                format!("`{role}` is listed twice"),
            );
        }
    }
}
