//! One node's network as systemd-networkd files, and its time servers as a chrony sources file.
//!
//! The shape, from the wire up: NICs (a bond's NICs name the bond), the management NIC or bond (untagged
//! into the bridge, or carrying the management VLAN, which goes into the bridge), the bridge (the
//! management address, static or DHCP), and the data NIC or bond when it is another one (its own address).
//! Every file starts `10-stackbox-`, so it is matched before the image's DHCP catch-all
//! (`50-stackbox-dhcp.network`) and every file of stackbox's is known by its name.
//!
//! Bridges and bonds keep the MAC address of their first port (`MACAddress=none`): a DHCP server then
//! hands the bridge the lease the NIC held, and the address does not move under the operator's feet.

use std::fmt::Write as _;

use crate::model::{Addressing, Bond, NetworkSettings};

/// The prefix of every networkd file stackbox writes, and of no other.
pub const FILE_PREFIX: &str = "10-stackbox-";
/// The first line of every rendered file.
const HEADER: &str = "# Written by `stackboxd network apply`; changes here are replaced. See `stackboxd network status`.\n";

/// One rendered file: its name in `/etc/systemd/network` and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFile {
    /// The file name, `10-stackbox-NAME.netdev` or `.network`.
    pub name: String,
    /// Its text.
    pub text: String,
}

impl NetworkFile {
    fn new(ifname: &str, ext: &str, sections: &[(&str, Vec<(&str, String)>)]) -> NetworkFile {
        let mut text = HEADER.to_owned();
        for (section, keys) in sections {
            let _ = write!(text, "\n[{section}]\n");
            for (key, value) in keys {
                let _ = writeln!(text, "{key}={value}");
            }
        }
        NetworkFile {
            name: format!("{FILE_PREFIX}{ifname}.{ext}"),
            text,
        }
    }

    /// The interface a `.netdev` file creates, `None` for a `.network` file.
    pub fn netdev(&self) -> Option<&str> {
        self.name.strip_prefix(FILE_PREFIX)?.strip_suffix(".netdev")
    }
}

/// The networkd files of a node's settings, in file-name order. The settings must have passed
/// [`crate::check_host`].
pub fn render_networkd(s: &NetworkSettings) -> Vec<NetworkFile> {
    let mut files = Vec::new();
    for bond in &s.bonds {
        let port_mtu = port_mtu(s, &bond.name);
        files.push(bond_netdev(bond, port_mtu));
        for nic in &bond.nics {
            files.push(NetworkFile::new(
                nic,
                "network",
                &[
                    match_name(nic),
                    ("Link", vec![("MTUBytes", port_mtu.to_string())]),
                    ("Network", vec![("Bond", bond.name.clone())]),
                ],
            ));
        }
    }
    let bridge_mtu = s.management_bridge_mtu().to_string();
    let into_bridge = ("Bridge", s.bridge.clone());
    let mut management_port = vec![("LinkLocalAddressing", "no".to_owned())];
    if let (Some(id), Some(vlan)) = (s.vlan, s.vlan_ifname()) {
        management_port.push(("VLAN", vlan.clone()));
        files.push(NetworkFile::new(
            &vlan,
            "netdev",
            &[
                (
                    "NetDev",
                    vec![
                        ("Name", vlan.clone()),
                        ("Kind", "vlan".to_owned()),
                        ("MTUBytes", bridge_mtu.clone()),
                    ],
                ),
                ("VLAN", vec![("Id", id.to_string())]),
            ],
        ));
        files.push(NetworkFile::new(
            &vlan,
            "network",
            &[
                match_name(&vlan),
                (
                    "Network",
                    vec![("LinkLocalAddressing", "no".to_owned()), into_bridge],
                ),
            ],
        ));
    } else {
        management_port.push(into_bridge);
    }
    files.push(NetworkFile::new(
        &s.management_nic,
        "network",
        &[
            match_name(&s.management_nic),
            (
                "Link",
                vec![("MTUBytes", s.management_port_mtu().to_string())],
            ),
            ("Network", management_port),
        ],
    ));
    files.push(NetworkFile::new(
        &s.bridge,
        "netdev",
        &[
            (
                "NetDev",
                vec![
                    ("Name", s.bridge.clone()),
                    ("Kind", "bridge".to_owned()),
                    ("MTUBytes", bridge_mtu),
                    ("MACAddress", "none".to_owned()),
                ],
            ),
            ("Bridge", vec![("STP", "no".to_owned())]),
        ],
    ));
    files.push(addressed(&s.bridge, &s.addressing));
    if !s.data_shares_management() {
        files.push(data_network(s));
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The MTU of a NIC or bond: the data MTU where data rides on it, else the management port's.
fn port_mtu(s: &NetworkSettings, port: &str) -> u32 {
    if port == s.data_nic {
        s.mtu
    } else {
        s.management_port_mtu()
    }
}

fn match_name(ifname: &str) -> (&'static str, Vec<(&'static str, String)>) {
    ("Match", vec![("Name", ifname.to_owned())])
}

fn bond_netdev(bond: &Bond, mtu: u32) -> NetworkFile {
    let mut options = vec![
        ("Mode", bond.mode.kernel_name().to_owned()),
        ("MIIMonitorSec", "100ms".to_owned()),
    ];
    if bond.mode == crate::model::BondMode::Lacp {
        options.push(("LACPTransmitRate", "fast".to_owned()));
        options.push(("TransmitHashPolicy", "layer3+4".to_owned()));
    }
    NetworkFile::new(
        &bond.name,
        "netdev",
        &[
            (
                "NetDev",
                vec![
                    ("Name", bond.name.clone()),
                    ("Kind", "bond".to_owned()),
                    ("MTUBytes", mtu.to_string()),
                    ("MACAddress", "none".to_owned()),
                ],
            ),
            ("Bond", options),
        ],
    )
}

/// The data interface's `.network` file, when it is not the management interface: its own address, no
/// default route and no name servers (those are the management network's).
fn data_network(s: &NetworkSettings) -> NetworkFile {
    let mut network = vec![
        ("LinkLocalAddressing", "no".to_owned()),
        ("IPv6AcceptRA", "no".to_owned()),
    ];
    let mut dhcp = None;
    match s.data_address {
        Some(address) => network.push(("Address", address.to_string())),
        None => {
            network.push(("DHCP", "ipv4".to_owned()));
            dhcp = Some((
                "DHCPv4",
                vec![("UseGateway", "no".to_owned()), ("UseDNS", "no".to_owned())],
            ));
        }
    }
    let mut sections = vec![
        match_name(&s.data_nic),
        ("Link", vec![("MTUBytes", s.mtu.to_string())]),
        ("Network", network),
    ];
    sections.extend(dhcp);
    NetworkFile::new(&s.data_nic, "network", &sections)
}

/// The `.network` file of the management bridge, which holds the node's address.
fn addressed(ifname: &str, addressing: &Addressing) -> NetworkFile {
    let mut network = vec![
        ("LinkLocalAddressing", "no".to_owned()),
        ("IPv6AcceptRA", "no".to_owned()),
    ];
    let mut sections = vec![match_name(ifname)];
    match addressing {
        Addressing::Static {
            address,
            gateway,
            dns,
        } => {
            network.push(("Address", address.to_string()));
            network.push(("Gateway", gateway.to_string()));
            network.extend(dns.iter().map(|d| ("DNS", d.to_string())));
            sections.push(("Network", network));
        }
        Addressing::Dhcp { dns } => {
            network.push(("DHCP", "ipv4".to_owned()));
            network.extend(dns.iter().map(|d| ("DNS", d.to_string())));
            sections.push(("Network", network));
            if !dns.is_empty() {
                sections.push(("DHCPv4", vec![("UseDNS", "no".to_owned())]));
            }
        }
    }
    NetworkFile::new(ifname, "network", &sections)
}

/// Where chrony reads extra sources from on Debian (`sourcedir` in its `chrony.conf`).
pub const CHRONY_SOURCES: &str = "/etc/chrony/sources.d/stackbox.sources";

/// chrony's sources file for the node's NTP servers; `None` when the image's defaults stay.
pub fn render_chrony_sources(ntp: &[String]) -> Option<String> {
    if ntp.is_empty() {
        return None;
    }
    let mut text = HEADER.to_owned();
    for server in ntp {
        let _ = writeln!(text, "server {server} iburst");
    }
    Some(text)
}

/// The boot guard's unit name.
pub const GUARD_UNIT: &str = "stackbox-network-guard.service";

/// The boot guard: when the machine starts with a network change still unconfirmed (it restarted or lost
/// power inside the confirmation window), the previous network's files are put back before
/// systemd-networkd reads them.
pub fn render_guard_unit() -> String {
    r#"[Unit]
Description=stackbox: put back the network from before an unconfirmed change
Documentation=man:stackboxd(8)
DefaultDependencies=no
After=local-fs.target
Before=systemd-networkd.service network-pre.target shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target
ConditionPathExists=/var/lib/stackbox/network/pending.json

[Service]
Type=oneshot
ExecStart=/usr/bin/stackboxd network revert --at-boot --reason "the machine restarted before the change was confirmed"

[Install]
WantedBy=sysinit.target
"#
    .to_owned()
}
