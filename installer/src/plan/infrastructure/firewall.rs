//! The node's firewall openings: the image's `/etc/nftables.conf` drops every inbound packet except SSH and
//! the wizard, and jumps to the empty chain `roles` of table `inet stackbox` for the rest (the contract is
//! in the module doc of `stackbox_image::configure`). This step writes one drop-in,
//! [`DROPIN`], that accepts exactly the ports of the node's roles (from the role catalog, the flavor's and
//! the shared ones) plus the ones the flavor's own topology needs, checks the whole ruleset with
//! `nft -c`, and reloads the chain.
//!
//! The reload does not run `nft -f /etc/nftables.conf`: that file starts with `flush ruleset`, which
//! would also wipe the rules neutron's agents and libvirt keep in their own tables. It runs [`RELOAD`]
//! instead, which (in one transaction) makes sure the table and chain exist, flushes only the chain
//! `roles` and includes the drop-ins again: the same chain the boot-time load builds, and idempotent.

use sha2::{Digest, Sha256};
use stackbox_hardware_profiles::{Catalog, Flavor, Protocol};

use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::step::{Action, DoneCheck};

/// The base ruleset the image ships (loaded at boot by `nftables.service`).
pub const BASE: &str = "/etc/nftables.conf";
/// The drop-in this step writes (read by the base's `include "/etc/nftables.d/*.nft"`).
pub const DROPIN: &str = "/etc/nftables.d/50-stackbox-roles.nft";
/// The reload file: refills chain `roles` from the drop-ins without touching the rest of the ruleset.
pub const RELOAD: &str = "/etc/stackbox/nftables-roles.nft";
/// The table and chain of the image's contract.
const TABLE: &str = "inet stackbox";
const CHAIN: &str = "roles";

/// Ports a node accepts from other machines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Opening {
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
    pub fn port(protocol: Protocol, port: u16, purpose: &str) -> Opening {
        Opening::range(protocol, port, port, purpose)
    }

    /// A range of ports.
    pub fn range(protocol: Protocol, first: u16, last: u16, purpose: &str) -> Opening {
        Opening {
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
                        p.protocol,
                        p.port,
                        &format!("{} ({})", p.purpose, role.name),
                    )
                })
        })
        .collect()
}

/// Sorts and removes repeated ports (the first purpose stays).
fn normalized(openings: &[Opening]) -> Vec<Opening> {
    let mut all = openings.to_vec();
    all.sort();
    all.dedup_by(|b, a| a.protocol == b.protocol && a.first == b.first && a.last == b.last);
    all
}

/// The tag on every rule of the drop-in: it changes whenever the openings or the VRRP peers do, so the
/// step can tell from the kernel's chain that exactly this drop-in is loaded.
pub fn tag(openings: &[Opening], vrrp_peers: &[String]) -> String {
    let mut h = Sha256::new();
    for o in normalized(openings) {
        h.update(format!("{} {}\n", o.protocol, o.ports()).as_bytes());
    }
    for peer in vrrp_peers {
        h.update(format!("vrrp {peer}\n").as_bytes());
    }
    format!("stackbox-roles {}", &hex::encode(h.finalize())[..12])
}

/// The drop-in of `node` with `roles`: a comment line per opening, then one rule per protocol, then VRRP
/// (IP protocol 112, keepalived's adverts) from the other management nodes only.
pub fn render(node: &str, roles: &str, openings: &[Opening], vrrp_peers: &[String]) -> String {
    let all = normalized(openings);
    let tag = tag(openings, vrrp_peers);
    let mut out = format!(
        "# Written by stackbox: the ports of node {node} ({roles}),\n\
         # accepted in chain {CHAIN} of table {TABLE} (defined by {BASE}, which drops everything else).\n\
         # Rewritten by every install.\n\
         table {TABLE} {{\n\tchain {CHAIN} {{\n"
    );
    for o in &all {
        out.push_str(&format!(
            "\t\t# {}/{}: {}\n",
            o.ports(),
            o.protocol,
            o.purpose
        ));
    }
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        let ports: Vec<String> = all
            .iter()
            .filter(|o| o.protocol == protocol)
            .map(Opening::ports)
            .collect();
        if !ports.is_empty() {
            out.push_str(&format!(
                "\t\t{protocol} dport {{ {} }} accept comment \"{tag}\"\n",
                ports.join(", ")
            ));
        }
    }
    let (v4, v6): (Vec<&String>, Vec<&String>) = vrrp_peers.iter().partition(|p| !p.contains(':'));
    for (peers, rule) in [
        (v4, "ip protocol vrrp ip saddr"),
        (v6, "ip6 nexthdr vrrp ip6 saddr"),
    ] {
        if !peers.is_empty() {
            let peers: Vec<&str> = peers.iter().map(|p| p.as_str()).collect();
            out.push_str(&format!(
                "\t\t# VRRP from the other management nodes (keepalived, the API address)\n\t\t{rule} {{ {} }} accept comment \"{tag}\"\n",
                peers.join(", ")
            ));
        }
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
pub fn steps(s: &mut NodeSteps, roles: &str, openings: &[Opening], vrrp_peers: &[String]) {
    let node = s.node().to_owned();
    s.files(
        "firewall.config",
        "open the ports of the node's roles (nftables drop-in)",
        &[],
        vec![
            file(
                DROPIN,
                0o644,
                None,
                render(&node, roles, openings, vrrp_peers),
            ),
            file(RELOAD, 0o644, None, render_reload()),
        ],
    );
    let config = s.id("firewall.config");
    let step = s.add(
        "firewall.load",
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
            contains: Some(format!("\"{}\"", tag(openings, vrrp_peers))),
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

    #[test]
    fn openings_are_sorted_and_unique_and_the_tag_follows_them() {
        let a = vec![
            Opening::port(Protocol::Udp, 4789, "VXLAN"),
            Opening::port(Protocol::Tcp, 5000, "keystone"),
            Opening::port(Protocol::Tcp, 5000, "keystone again"),
            Opening::range(Protocol::Tcp, 5900, 5999, "VNC"),
        ];
        let text = render("n1", "compute", &a, &[]);
        assert!(
            text.contains("tcp dport { 5000, 5900-5999 } accept"),
            "{text}"
        );
        assert!(text.contains("udp dport { 4789 } accept"), "{text}");
        assert!(!text.contains("keystone again"), "{text}");
        let b = vec![Opening::port(Protocol::Tcp, 5000, "keystone")];
        assert!(!text.contains("vrrp"), "{text}");
        assert_ne!(tag(&a, &[]), tag(&b, &[]));
        assert_eq!(
            tag(&a, &[]),
            tag(&a.iter().rev().cloned().collect::<Vec<_>>(), &[])
        );
    }

    #[test]
    fn vrrp_is_accepted_from_the_other_management_nodes_only() {
        let ports = vec![Opening::port(Protocol::Tcp, 5000, "keystone")];
        let peers = ["10.20.0.12".to_owned(), "fd00::13".to_owned()];
        let text = render("n1", "management", &ports, &peers);
        assert!(
            text.contains("ip protocol vrrp ip saddr { 10.20.0.12 } accept"),
            "{text}"
        );
        assert!(
            text.contains("ip6 nexthdr vrrp ip6 saddr { fd00::13 } accept"),
            "{text}"
        );
        // The step sees a change of peers in the kernel's chain.
        assert_ne!(tag(&ports, &peers), tag(&ports, &peers[..1]));
        assert_eq!(tag(&ports, &[]), tag(&ports, &[]));
    }
}
