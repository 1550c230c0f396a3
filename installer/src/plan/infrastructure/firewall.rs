//! The node's firewall openings: the image's `/etc/nftables.conf` drops every inbound packet except SSH,
//! the wizard and the node agent, and jumps to the empty chain `roles` of table `inet stackbox` for the rest
//! (the contract is in the module doc of `stackbox_image::configure`). This step writes one drop-in,
//! [`DROPIN`], that accepts exactly the ports of the node's roles (from the role catalog, the flavor's and
//! the shared ones) plus the ones the flavor's own topology needs, each from the sources its [`Reach`]
//! names ([`Sources`]): the public APIs from the networks the operator allows, the cluster's own ports
//! (replication, clustering, the bus, haproxy's backends) from the members only, VXLAN from the members'
//! data-plane addresses only. It checks the whole ruleset with `nft -c`, and reloads the chain.
//!
//! The reload does not run `nft -f /etc/nftables.conf`: that file starts with `flush ruleset`, which
//! would also wipe the rules neutron's agents and libvirt keep in their own tables. It runs [`RELOAD`]
//! instead, which (in one transaction) makes sure the table and chain exist, flushes only the chain
//! `roles` and includes the drop-ins again: the same chain the boot-time load builds, and idempotent.
//!
//! Every step that other nodes reach over a members-only port (MariaDB's, RabbitMQ's starts) comes after
//! `firewall.load`, so a node that joins finds the ports of the members before it open to it.

use std::net::IpAddr;

use ipnet::IpNet;
use sha2::{Digest, Sha256};
use stackbox_hardware_profiles::{Catalog, Flavor, Protocol, Reach};

use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::step::{Action, DoneCheck};

/// The base ruleset the image ships (loaded at boot by `nftables.service`).
pub const BASE: &str = "/etc/nftables.conf";
/// The drop-in this step writes (read by the base's `include "/etc/nftables.d/*.nft"`).
pub const DROPIN: &str = "/etc/nftables.d/50-stackbox-roles.nft";
/// The reload file: refills chain `roles` from the drop-ins without touching the rest of the ruleset.
pub const RELOAD: &str = "/etc/stackbox/nftables-roles.nft";
/// The step that loads the drop-in: what cluster-facing starts come after.
pub const LOADED: &str = "firewall.load";
/// The sets of the addresses of nodes about to join, IPv4 and IPv6: a member adds a joiner's address
/// (with a timeout) once it has proved it holds the join code, so that the pre-join checks and the
/// state transfers reach the members-only ports before the joiner is in the configuration.
pub const JOINERS: [&str; 2] = ["joiners4", "joiners6"];
/// The table and chain of the image's contract.
pub const TABLE: &str = "inet stackbox";
const CHAIN: &str = "roles";

/// Ports a node accepts from other machines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Opening {
    /// Who may reach them.
    pub from: Reach,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The first port.
    pub first: u16,
    /// The last port (the same as `first` for one port).
    pub last: u16,
    /// What listens there.
    pub purpose: String,
}

impl Opening {
    /// One port.
    pub fn port(from: Reach, protocol: Protocol, port: u16, purpose: &str) -> Opening {
        Opening::range(from, protocol, port, port, purpose)
    }

    /// A range of ports.
    pub fn range(from: Reach, protocol: Protocol, first: u16, last: u16, purpose: &str) -> Opening {
        Opening {
            from,
            protocol,
            first,
            last,
            purpose: purpose.to_owned(),
        }
    }

    fn ports(&self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}-{}", self.first, self.last)
        }
    }
}

/// The addresses each [`Reach`] stands for on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// The networks allowed to reach the public ports; empty: any address.
    pub clients: Vec<IpNet>,
    /// The cluster's members: every node's management address and the API address.
    pub members: Vec<IpAddr>,
    /// The members' data-plane addresses.
    pub data_plane: Vec<IpAddr>,
    /// The other management nodes, whose VRRP adverts keepalived hears.
    pub vrrp_peers: Vec<IpAddr>,
}

impl Sources {
    /// The source networks of `reach`, sorted and unique; `None`: any address.
    fn of(&self, reach: Reach) -> Option<Vec<IpNet>> {
        let hosts = |a: &[IpAddr]| a.iter().map(|&ip| IpNet::from(ip)).collect::<Vec<_>>();
        let mut nets = match reach {
            Reach::Anyone if self.clients.is_empty() => return None,
            // The members use the public endpoints too.
            Reach::Anyone => [self.clients.clone(), hosts(&self.members)].concat(),
            Reach::Members => hosts(&self.members),
            Reach::DataPlane => hosts(&self.data_plane),
        };
        nets.sort();
        nets.dedup();
        // nft refuses overlapping elements in a set: an address inside a listed network goes.
        let all = nets.clone();
        nets.retain(|n| !all.iter().any(|o| o != n && o.contains(n)));
        Some(nets)
    }
}

/// The ports the catalog lists for `roles`: those of `flavor` and those every flavor opens. A role the
/// catalog does not know adds nothing (validation refuses such a configuration before it is planned).
pub fn catalog_openings(catalog: &Catalog, roles: &[String], flavor: Flavor) -> Vec<Opening> {
    roles
        .iter()
        .filter_map(|r| catalog.roles().get(r))
        .flat_map(|role| {
            role.ports
                .iter()
                .filter(|p| p.flavor.is_none_or(|f| f == flavor))
                .map(|p| {
                    Opening::port(
                        p.from,
                        p.protocol,
                        p.port,
                        &format!("{} ({})", p.purpose, role.name),
                    )
                })
        })
        .collect()
}

/// Sorts and removes repeated ports (the first purpose stays). A port listed with two reaches keeps the
/// wider one (`anyone` before `members` before `data-plane`).
fn normalized(openings: &[Opening]) -> Vec<Opening> {
    let mut all = openings.to_vec();
    all.sort();
    let mut out: Vec<Opening> = Vec::new();
    for o in all {
        if !out
            .iter()
            .any(|p| p.protocol == o.protocol && p.first == o.first && p.last == o.last)
        {
            out.push(o);
        }
    }
    out
}

/// One `nft` match of source addresses per address family: `ip saddr { ... }`, `ip6 saddr { ... }`; one
/// empty match (any address) for `None`. A family without an address gets no rule.
fn source_matches(nets: Option<Vec<IpNet>>) -> Vec<String> {
    let Some(nets) = nets else {
        return vec![String::new()];
    };
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
        nets.into_iter().partition(|n| matches!(n, IpNet::V4(_)));
    [("ip", v4), ("ip6", v6)]
        .into_iter()
        .filter(|(_, nets)| !nets.is_empty())
        .map(|(family, nets)| {
            let nets: Vec<String> = nets
                .iter()
                .map(|n| {
                    if n.prefix_len() == n.max_prefix_len() {
                        n.addr().to_string()
                    } else {
                        n.to_string()
                    }
                })
                .collect();
            format!("{family} saddr {{ {} }} ", nets.join(", "))
        })
        .collect()
}

/// The rules of the drop-in without their tag.
fn rules(openings: &[Opening], sources: &Sources) -> Vec<String> {
    let all = normalized(openings);
    let mut out = Vec::new();
    for reach in [Reach::Anyone, Reach::Members, Reach::DataPlane] {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let ports: Vec<String> = all
                .iter()
                .filter(|o| o.from == reach && o.protocol == protocol)
                .map(Opening::ports)
                .collect();
            if ports.is_empty() {
                continue;
            }
            let mut matches = source_matches(sources.of(reach));
            if reach == Reach::Members {
                matches.push(format!("ip saddr @{} ", JOINERS[0]));
                matches.push(format!("ip6 saddr @{} ", JOINERS[1]));
            }
            for source in matches {
                out.push(format!(
                    "{source}{protocol} dport {{ {} }} accept",
                    ports.join(", ")
                ));
            }
        }
    }
    let peers: Vec<IpNet> = sources
        .vrrp_peers
        .iter()
        .map(|&ip| IpNet::from(ip))
        .collect();
    if !peers.is_empty() {
        for source in source_matches(Some(peers)) {
            let protocol = if source.starts_with("ip6") {
                "ip6 nexthdr vrrp"
            } else {
                "ip protocol vrrp"
            };
            out.push(format!("{protocol} {}accept", source));
        }
    }
    out
}

/// The tag on every rule of the drop-in: it changes whenever the rules do, so the step can tell from the
/// kernel's chain that exactly this drop-in is loaded.
pub fn tag(openings: &[Opening], sources: &Sources) -> String {
    let mut h = Sha256::new();
    for rule in rules(openings, sources) {
        h.update(rule.as_bytes());
        h.update(b"\n");
    }
    format!("stackbox-roles {}", &hex::encode(h.finalize())[..12])
}

/// The drop-in of `node` with `roles`: a comment line per opening, then one rule per reach, protocol and
/// address family, then VRRP (IP protocol 112, keepalived's adverts) from the other management nodes.
pub fn render(node: &str, roles: &str, openings: &[Opening], sources: &Sources) -> String {
    let tag = tag(openings, sources);
    let mut out = format!(
        "# Written by stackbox: the ports of node {node} ({roles}),\n\
         # accepted in chain {CHAIN} of table {TABLE} (defined by {BASE}, which drops everything else).\n\
         # Rewritten by every install.\n\
         table {TABLE} {{\n\
         \t# Nodes about to join, added by a member for a while once they proved the join code.\n\
         \tset {} {{\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}}\n\
         \tset {} {{\n\t\ttype ipv6_addr\n\t\tflags timeout\n\t}}\n\
         \tchain {CHAIN} {{\n",
        JOINERS[0], JOINERS[1]
    );
    for o in normalized(openings) {
        out.push_str(&format!(
            "\t\t# {}/{} from {}: {}\n",
            o.ports(),
            o.protocol,
            o.from,
            o.purpose
        ));
    }
    if !sources.vrrp_peers.is_empty() {
        out.push_str("\t\t# VRRP from the other management nodes: keepalived's adverts for the API address\n");
    }
    for rule in rules(openings, sources) {
        out.push_str(&format!("\t\t{rule} comment \"{tag}\"\n"));
    }
    out.push_str("\t}\n}\n");
    out
}

/// The reload file (see the module doc).
pub fn render_reload() -> String {
    format!(
        "#!/usr/sbin/nft -f\n\
         # Written by stackbox: refills chain {CHAIN} of table {TABLE} from the drop-ins in one transaction,\n\
         # leaving the rest of the ruleset (neutron's, libvirt's) alone. {BASE} does the same at boot.\n\
         table {TABLE} {{\n\tchain {CHAIN} {{\n\t}}\n}}\n\
         flush chain {TABLE} {CHAIN}\n\
         include \"/etc/nftables.d/*.nft\"\n"
    )
}

/// Writes the drop-in and the reload file, then checks the whole ruleset and reloads the chain; done when
/// the kernel's chain carries this drop-in's tag.
pub fn steps(s: &mut NodeSteps, roles: &str, openings: &[Opening], sources: &Sources) {
    let node = s.node().to_owned();
    s.files(
        "firewall.config",
        "open the ports of the node's roles (nftables drop-in)",
        &[],
        vec![
            file(DROPIN, 0o644, None, render(&node, roles, openings, sources)),
            file(RELOAD, 0o644, None, render_reload()),
        ],
    );
    let config = s.id("firewall.config");
    let step = s.add(
        LOADED,
        "check the firewall rules and load them",
        &["firewall.config"],
        Action::Commands {
            commands: vec![
                argv(&["nft", "-c", "-f", BASE]),
                argv(&["nft", "-f", RELOAD]),
            ],
            env: Vec::new(),
        },
        DoneCheck::Command {
            argv: argv(&["nft", "list", "chain", "inet", "stackbox", CHAIN]),
            contains: Some(format!("\"{}\"", tag(openings, sources))),
        },
    );
    step.watch.push(config);
    step.log = Some("/var/log/syslog".into());
    step.remedy = Some(format!(
        "Run `nft -c -f {BASE}`: it names the line it refuses; `nft list ruleset` shows what is loaded."
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sources() -> Sources {
        Sources {
            clients: Vec::new(),
            members: vec![ip("10.20.0.11"), ip("10.20.0.12"), ip("fd00::13")],
            data_plane: vec![ip("10.30.0.11"), ip("10.30.0.12")],
            vrrp_peers: Vec::new(),
        }
    }

    #[test]
    fn each_reach_gets_its_sources_and_ports_are_sorted_and_unique() {
        let a = vec![
            Opening::port(Reach::DataPlane, Protocol::Udp, 4789, "VXLAN"),
            Opening::port(Reach::Anyone, Protocol::Tcp, 5000, "keystone"),
            Opening::port(Reach::Anyone, Protocol::Tcp, 5000, "keystone again"),
            Opening::port(Reach::Members, Protocol::Tcp, 3306, "MariaDB"),
            Opening::range(Reach::Members, Protocol::Tcp, 5900, 5999, "VNC"),
        ];
        let text = render("n1", "compute", &a, &sources());
        assert!(text.contains("\t\ttcp dport { 5000 } accept"), "{text}");
        assert!(
            text.contains(
                "ip saddr { 10.20.0.11, 10.20.0.12 } tcp dport { 3306, 5900-5999 } accept"
            ),
            "{text}"
        );
        assert!(
            text.contains("ip6 saddr { fd00::13 } tcp dport { 3306, 5900-5999 } accept"),
            "{text}"
        );
        // No IPv6 data-plane address: no IPv6 rule for VXLAN.
        assert!(
            text.contains("ip saddr { 10.30.0.11, 10.30.0.12 } udp dport { 4789 } accept"),
            "{text}"
        );
        assert_eq!(text.matches("udp dport").count(), 1, "{text}");
        assert!(!text.contains("keystone again"), "{text}");
        assert!(!text.contains("vrrp"), "{text}");
    }

    #[test]
    fn a_port_listed_for_anyone_and_for_members_is_opened_once_to_anyone() {
        let a = vec![
            Opening::port(Reach::Members, Protocol::Tcp, 443, "backend"),
            Opening::port(Reach::Anyone, Protocol::Tcp, 443, "console"),
        ];
        let text = render("n1", "management", &a, &sources());
        assert_eq!(text.matches("443").count(), 2, "{text}"); // its comment and one rule
        assert!(text.contains("\t\ttcp dport { 443 } accept"), "{text}");
    }

    #[test]
    fn client_networks_narrow_the_public_ports_and_the_members_keep_them() {
        let mut s = sources();
        s.clients = vec!["192.168.0.0/16".parse().unwrap()];
        let a = vec![Opening::port(
            Reach::Anyone,
            Protocol::Tcp,
            5000,
            "keystone",
        )];
        let text = render("n1", "management", &a, &s);
        assert!(
            text.contains(
                "ip saddr { 10.20.0.11, 10.20.0.12, 192.168.0.0/16 } tcp dport { 5000 } accept"
            ),
            "{text}"
        );
        // A member inside a client network is not listed twice (nft refuses overlapping elements).
        s.clients.push("10.20.0.0/24".parse().unwrap());
        let text = render("n1", "management", &a, &s);
        assert!(
            text.contains("ip saddr { 10.20.0.0/24, 192.168.0.0/16 } tcp dport { 5000 } accept"),
            "{text}"
        );
        assert!(
            text.contains("ip6 saddr { fd00::13 } tcp dport { 5000 } accept"),
            "{text}"
        );
        assert!(!text.contains("\t\ttcp dport"), "{text}");
        assert_ne!(tag(&a, &s), tag(&a, &sources()));
    }

    #[test]
    fn vrrp_is_accepted_from_the_other_management_nodes_only() {
        let ports = vec![Opening::port(
            Reach::Anyone,
            Protocol::Tcp,
            5000,
            "keystone",
        )];
        let mut s = sources();
        s.vrrp_peers = vec![ip("10.20.0.12"), ip("fd00::13")];
        let text = render("n1", "management", &ports, &s);
        assert!(
            text.contains("ip protocol vrrp ip saddr { 10.20.0.12 } accept"),
            "{text}"
        );
        assert!(
            text.contains("ip6 nexthdr vrrp ip6 saddr { fd00::13 } accept"),
            "{text}"
        );
        // The step sees a change of peers, of members or of ports in the kernel's chain.
        let mut fewer = s.clone();
        fewer.vrrp_peers.pop();
        assert_ne!(tag(&ports, &s), tag(&ports, &fewer));
        let mut grown = s.clone();
        grown.members.push(ip("10.20.0.14"));
        let members = vec![Opening::port(
            Reach::Members,
            Protocol::Tcp,
            3306,
            "MariaDB",
        )];
        assert_ne!(tag(&members, &s), tag(&members, &grown));
        assert_eq!(tag(&ports, &s), tag(&ports, &s.clone()));
        assert_eq!(
            tag(&members, &s),
            tag(&members.iter().rev().cloned().collect::<Vec<_>>(), &s)
        );
    }
}
