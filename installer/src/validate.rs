//! Validation of a [`ClusterConfig`]: every problem found at once, each naming its field, plus warnings
//! for configurations that work but are fragile.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use stackbox_hardware_profiles::Catalog;

use crate::config::{ClusterConfig, Flavor, VNI_MAX};

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

impl Validation {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Issue {
            field: field.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Issue {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Whether the configuration may be used.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A DNS label: lowercase ASCII letters, digits and inner dashes, 1 to 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Linux interface name: 1 to 15 bytes, no slash, colon or white space.
pub fn is_ifname(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

/// The roles without which no OpenStack cloud runs.
const REQUIRED_ROLES: &[&str] = &["management", "message-bus", "storage-metadata", "compute"];

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
        if self.region.trim().is_empty() || self.region.len() > 255 {
            v.error("region", "must be 1 to 255 characters");
        }
        self.validate_networks(&mut v);
        self.validate_nodes(catalog, &mut v);
        for (field, value, most) in [
            ("overcommit.cpu", self.overcommit.cpu, 64.0),
            ("overcommit.ram", self.overcommit.ram, 4.0),
            ("overcommit.disk", self.overcommit.disk, 10.0),
        ] {
            if !(value > 0.0 && value <= most) {
                v.error(
                    field,
                    format!("must be above 0 and at most {most}, got {value}"),
                );
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            v.error(
                "tls",
                "give both cert_file and key_file, or neither (a certificate is then generated)",
            );
        }
        if let Some(name) = &self.tls.public_name {
            let ok = name.split('.').all(is_dns_label) || name.parse::<IpAddr>().is_ok();
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
        if net.management_cidr != net.management_cidr.trunc() {
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
            && overlap(&data, &net.management_cidr)
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
            if !is_ifname(&p.nic) {
                v.error(
                    "networks.provider.nic",
                    format!("`{}` is not an interface name", p.nic),
                );
            }
            if !is_dns_label(&p.name) {
                v.error("networks.provider.name", "must be a lowercase label");
            }
            if overlap(&p.cidr, &net.management_cidr) {
                v.error(
                    "networks.provider.cidr",
                    format!(
                        "{} overlaps the management network {}",
                        p.cidr, net.management_cidr
                    ),
                );
            }
            if let Some(data) = net.data_cidr
                && overlap(&p.cidr, &data)
            {
                v.error(
                    "networks.provider.cidr",
                    format!("{} overlaps the data network {data}", p.cidr),
                );
            }
            for (field, ip) in [
                ("gateway", p.gateway),
                ("pool_start", p.pool_start),
                ("pool_end", p.pool_end),
            ] {
                if !p.cidr.contains(&ip) {
                    v.error(
                        format!("networks.provider.{field}"),
                        format!("{ip} is outside {}", p.cidr),
                    );
                }
            }
            if p.pool_start > p.pool_end {
                v.error(
                    "networks.provider.pool_end",
                    format!("{} comes before pool_start {}", p.pool_end, p.pool_start),
                );
            } else if p.pool_start <= p.gateway && p.gateway <= p.pool_end {
                v.error(
                    "networks.provider.gateway",
                    format!(
                        "{} lies inside the pool {}-{}",
                        p.gateway, p.pool_start, p.pool_end
                    ),
                );
            }
        }
        let vni = net.vxlan;
        if vni.first == 0 || vni.first > VNI_MAX {
            v.error(
                "networks.vxlan.first",
                format!("must be from 1 to {VNI_MAX}, got {}", vni.first),
            );
        }
        if vni.last > VNI_MAX {
            v.error(
                "networks.vxlan.last",
                format!("must be at most {VNI_MAX}, got {}", vni.last),
            );
        }
        if vni.last < vni.first {
            v.error(
                "networks.vxlan.last",
                format!("{} is below first ({})", vni.last, vni.first),
            );
        }
    }

    fn validate_nodes(&self, catalog: &Catalog, v: &mut Validation) {
        if self.nodes.is_empty() {
            v.error("nodes", "at least one node is needed");
            return;
        }
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
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
            if !mgmt.contains(&node.address) {
                v.error(
                    at("address"),
                    format!("{} is outside the management network {mgmt}", node.address),
                );
            } else if node.address == mgmt.network()
                || (mgmt.prefix_len() < mgmt.max_prefix_len() - 1
                    && node.address == mgmt.broadcast())
            {
                v.error(
                    at("address"),
                    format!("{} is the network's own or broadcast address", node.address),
                );
            }
            if let Some(nic) = &node.data_nic
                && !is_ifname(nic)
            {
                v.error(at("data_nic"), format!("`{nic}` is not an interface name"));
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
            if node.roles.is_empty() {
                v.error(at("roles"), "a node needs at least one role");
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
        for role in REQUIRED_ROLES {
            if self.leader(role).is_none() {
                v.error(
                    "nodes",
                    format!("no node has the `{role}` role; the cloud needs one"),
                );
            }
        }
        for (role, what) in [("storage-metadata", "Galera"), ("message-bus", "RabbitMQ")] {
            if self.nodes_with(role).count() == 2 {
                v.warn("nodes", format!("two `{role}` nodes: {what} has no quorum when one of them fails; use one or three"));
            }
        }
    }
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ifnames() {
        assert!(is_dns_label("node-1"));
        for bad in [
            "",
            "Node1",
            "node_1",
            "-a",
            "a-",
            "nöde",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
        assert!(is_ifname("enp65s0f0np0"));
        for bad in ["", "a/b", "eth0:1", "a b", "averyveryverylong0"] {
            assert!(!is_ifname(bad), "{bad:?}");
        }
    }
}
