//! The cluster step's answer: the single-node cluster the wizard creates, and the rules for its name
//! and its API address.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use stackbox_network::{AddressError, Addressing, NetworkSettings, check_host_address};

use crate::error::FieldError;

/// The single-node cluster the wizard creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The cluster's name.
    pub name: String,
    /// Always `single-node` until joining lands.
    pub mode: String,
    /// The members' host names: this node only.
    pub members: Vec<String>,
    /// The address API clients use, kept by keepalived; absent: this node's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_address: Option<IpAddr>,
}

/// Reads the API address field: empty means this node's own address; else an address in the management
/// network (when the network page gave it a static address) that is not this node's own.
pub fn parse_api_address(
    text: &str,
    network: &NetworkSettings,
) -> Result<Option<IpAddr>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let field = |m: String| FieldError::new("api_address", m);
    let ip: IpAddr = text
        .parse()
        .map_err(|_| field(format!("`{text}` is not an IP address")))?;
    if let Addressing::Static { address, .. } = &network.addressing {
        if address.addr() == ip {
            // The node's own address: nothing moves it, as if left empty.
            return Ok(None);
        }
        match check_host_address(ip, &address.trunc()) {
            Err(AddressError::Outside { .. }) => {
                return Err(field(format!(
                    "{ip} is outside the management network {}",
                    address.trunc()
                )));
            }
            Err(AddressError::NetworkOrBroadcast { .. }) => {
                return Err(field(format!(
                    "{ip} is the management network's own or broadcast address"
                )));
            }
            Err(e @ AddressError::Special { .. }) => return Err(field(e.to_string())),
            Ok(()) => {}
        }
    }
    Ok(Some(ip))
}

/// Checks a cluster name: the rules of a host name label.
pub fn validate_cluster_name(name: &str) -> Result<(), FieldError> {
    if name.contains('.') {
        return Err(FieldError::new(
            "name",
            "a cluster name is a single label: no dots",
        ));
    }
    stackbox_network::check_hostname(name)
        .map_err(|e| FieldError::new("name", e.to_string().replace("host name", "cluster name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(addressing: Addressing) -> NetworkSettings {
        NetworkSettings {
            hostname: "stackbox.lab".to_owned(),
            management_nic: "eth0".to_owned(),
            data_nic: "eth1".to_owned(),
            addressing,
            bridge: String::new(),
            vlan: None,
            mtu: 1500,
            vxlan_min: 1000,
            vxlan_max: 1999,
            bonds: Vec::new(),
            management_mtu: None,
            data_address: None,
            ntp: Vec::new(),
        }
    }

    fn fixed() -> NetworkSettings {
        network(Addressing::Static {
            address: "10.20.0.11/24".parse().unwrap(),
            gateway: "10.20.0.1".parse().unwrap(),
            dns: Vec::new(),
        })
    }

    #[test]
    fn api_addresses_that_are_accepted() {
        assert_eq!(parse_api_address("", &fixed()).unwrap(), None);
        assert_eq!(parse_api_address("  ", &fixed()).unwrap(), None);
        // The node's own address: nothing to move, as if left empty.
        assert_eq!(parse_api_address("10.20.0.11", &fixed()).unwrap(), None);
        assert_eq!(
            parse_api_address(" 10.20.0.10 ", &fixed()).unwrap(),
            Some("10.20.0.10".parse().unwrap())
        );
        // With DHCP the network is known only when the configuration is made (and checked again).
        let dhcp = network(Addressing::Dhcp { dns: Vec::new() });
        assert!(parse_api_address("192.0.2.7", &dhcp).unwrap().is_some());
    }

    #[test]
    fn api_addresses_that_must_fail() {
        for (text, message) in [
            ("10.20.0", "`10.20.0` is not an IP address"),
            ("10.20.0.300", "is not an IP address"),
            ("api.example.net", "is not an IP address"),
            ("10.20.0.10/24", "is not an IP address"),
            ("10.99.0.10", "outside the management network 10.20.0.0/24"),
            ("10.20.0.0", "network's own or broadcast address"),
            ("10.20.0.255", "network's own or broadcast address"),
        ] {
            let e = parse_api_address(text, &fixed()).unwrap_err();
            assert_eq!(e.field, "api_address");
            assert!(e.message.contains(message), "{text}: {}", e.message);
        }
    }
}
