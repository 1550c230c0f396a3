//! The network model: one node's network as the wizard stores it, and the parts of a cluster
//! configuration's networks that stand on their own (the VXLAN range, a provider network).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// How the management interface gets its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Addressing {
    /// From a DHCP server; `dns` overrides the offered name servers when not empty.
    Dhcp {
        /// Name servers to use instead of the offered ones.
        dns: Vec<IpAddr>,
    },
    /// Fixed.
    Static {
        /// The address and its prefix.
        address: IpNet,
        /// The default gateway, inside `address`'s subnet.
        gateway: IpAddr,
        /// Name servers.
        dns: Vec<IpAddr>,
    },
}

/// How a bond spreads its traffic over its NICs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BondMode {
    /// IEEE 802.3ad (LACP): every NIC carries traffic; the switch ports must form a LAG.
    Lacp,
    /// One NIC carries the traffic, the others take over when its link fails; no switch support needed.
    ActiveBackup,
}

impl BondMode {
    /// The kernel's (and systemd-networkd's `Mode=`) name of the mode.
    pub fn kernel_name(self) -> &'static str {
        match self {
            BondMode::Lacp => "802.3ad",
            BondMode::ActiveBackup => "active-backup",
        }
    }
}

/// A bond of NICs, which the management or data interface may name instead of a NIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bond {
    /// The bond's interface name (e.g. `bond0`).
    pub name: String,
    /// How it spreads traffic.
    pub mode: BondMode,
    /// Its NICs.
    pub nics: Vec<String>,
}

/// One node's validated network settings, as the wizard stores them in `network.json` in its state
/// directory and `stackboxd network apply` takes them.
///
/// The management interface is a NIC or a bond (`management_nic`), optionally VLAN-tagged (`vlan`), always
/// under the bridge `bridge`, which holds the management address. The data interface (`data_nic`, VXLAN
/// tunnels) is the same NIC or bond, when VXLAN rides on the management address, or another one with an
/// address of its own (`data_address`, or DHCP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// The node's host name.
    pub hostname: String,
    /// The management NIC, or the name of one of `bonds`.
    pub management_nic: String,
    /// The data-plane NIC, or the name of one of `bonds`.
    pub data_nic: String,
    /// The management addressing.
    pub addressing: Addressing,
    /// The management bridge.
    pub bridge: String,
    /// The management VLAN, `None` for untagged.
    pub vlan: Option<u16>,
    /// The data-plane MTU: the data interface's, and the management NIC's when the two are one.
    pub mtu: u32,
    /// The first tenant VNI.
    pub vxlan_min: u32,
    /// The last tenant VNI.
    pub vxlan_max: u32,
    /// Bonds of NICs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<Bond>,
    /// The MTU of the management VLAN and bridge; `None` for the management NIC's own (1500 when the data
    /// interface is another one, `mtu` when it is the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_mtu: Option<u32>,
    /// The data interface's static address when it is not the management interface; `None` for DHCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_address: Option<IpNet>,
    /// NTP servers (host names or addresses) chrony uses instead of the image's defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp: Vec<String>,
}

/// The MTU of an interface no MTU is asked for.
pub const DEFAULT_MTU: u32 = 1500;

impl NetworkSettings {
    /// Whether VXLAN rides on the management interface (one NIC or bond for both).
    pub fn data_shares_management(&self) -> bool {
        self.data_nic == self.management_nic
    }

    /// The bond named `name`, if it is one.
    pub fn bond(&self, name: &str) -> Option<&Bond> {
        self.bonds.iter().find(|b| b.name == name)
    }

    /// The MTU of the management NIC or bond.
    pub fn management_port_mtu(&self) -> u32 {
        if self.data_shares_management() {
            self.mtu
        } else {
            self.management_mtu.unwrap_or(DEFAULT_MTU)
        }
    }

    /// The MTU of the management VLAN and bridge.
    pub fn management_bridge_mtu(&self) -> u32 {
        self.management_mtu.unwrap_or(self.management_port_mtu())
    }

    /// The interface name of the management VLAN, when it is tagged.
    pub fn vlan_ifname(&self) -> Option<String> {
        self.vlan.map(|id| format!("vlan{id}"))
    }
}

/// A range of VXLAN network identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VniRange {
    /// The first VNI.
    pub first: u32,
    /// The last VNI (inclusive).
    pub last: u32,
}

impl Default for VniRange {
    fn default() -> Self {
        VniRange {
            first: 1,
            last: 1000,
        }
    }
}

/// A flat provider (external) network on a NIC of the network nodes, which VMs reach the outside through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderNetwork {
    /// The physical network label neutron uses.
    #[serde(default = "default_physnet")]
    pub name: String,
    /// The NIC it is bridged to.
    pub nic: String,
    /// Its subnet.
    pub cidr: IpNet,
    /// Its router.
    pub gateway: IpAddr,
    /// First address handed to VMs and routers.
    pub pool_start: IpAddr,
    /// Last address handed out.
    pub pool_end: IpAddr,
}

fn default_physnet() -> String {
    "provider".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_the_shape_of_network_json() {
        let s = NetworkSettings {
            hostname: "node1".to_owned(),
            management_nic: "eno1".to_owned(),
            data_nic: "eno2".to_owned(),
            addressing: Addressing::Static {
                address: "10.0.0.5/24".parse().unwrap(),
                gateway: "10.0.0.1".parse().unwrap(),
                dns: vec!["10.0.0.53".parse().unwrap()],
            },
            bridge: "br-mgmt".to_owned(),
            vlan: Some(100),
            mtu: 9000,
            vxlan_min: 1,
            vxlan_max: 1000,
            bonds: Vec::new(),
            management_mtu: None,
            data_address: None,
            ntp: Vec::new(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"hostname":"node1","management_nic":"eno1","data_nic":"eno2","addressing":{"mode":"static","address":"10.0.0.5/24","gateway":"10.0.0.1","dns":["10.0.0.53"]},"bridge":"br-mgmt","vlan":100,"mtu":9000,"vxlan_min":1,"vxlan_max":1000}"#
        );
        assert_eq!(serde_json::from_str::<NetworkSettings>(&json).unwrap(), s);
        let dhcp: Addressing = serde_json::from_str(r#"{"mode":"dhcp","dns":[]}"#).unwrap();
        assert_eq!(dhcp, Addressing::Dhcp { dns: vec![] });
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<VniRange>(r#"{"first":1,"last":2,"lats":3}"#).is_err());
        assert_eq!(
            VniRange::default(),
            VniRange {
                first: 1,
                last: 1000
            }
        );
    }
}
