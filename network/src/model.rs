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

/// One node's validated network settings, as the wizard stores them in `network.json` in its state
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    /// The node's host name.
    pub hostname: String,
    /// The management NIC.
    pub management_nic: String,
    /// The data-plane NIC.
    pub data_nic: String,
    /// The management addressing.
    pub addressing: Addressing,
    /// The management bridge.
    pub bridge: String,
    /// The management VLAN, `None` for untagged.
    pub vlan: Option<u16>,
    /// The data-plane MTU.
    pub mtu: u32,
    /// The first tenant VNI.
    pub vxlan_min: u32,
    /// The last tenant VNI.
    pub vxlan_max: u32,
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
