//! A node's hardware report for the member that assigns its roles: the machine's probe (CPUs, memory,
//! KVM, NICs, disks, platform: what the first boot judged) and its addresses, served by its agent at
//! `GET /agent/v1/hardware`, so that the first node's wizard shows a joined node's hardware and judges
//! the roles chosen for it, and finds its data-plane address.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stackbox_machine::probe::{self, Facts, ProbeError};
use stackbox_machine::system::Root;

/// The agent's route for its node's hardware.
pub const HARDWARE_PATH: &str = "/agent/v1/hardware";
/// How long a hardware report may take (the probes read sysfs and ask netlink once).
pub const HARDWARE: Duration = Duration::from_secs(15);

/// A node's hardware and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// What the probes found.
    pub facts: Facts,
    /// Its addresses: (interface, address, prefix length); none when the machine probed is not the
    /// one running (a fixture tree).
    pub addresses: Vec<(String, IpAddr, u8)>,
}

impl Hardware {
    /// Probes the machine at `root` (blocking: the NIC probe runs a netlink runtime of its own).
    pub fn probe(root: &Root) -> Result<Hardware, ProbeError> {
        let facts = probe::probe(root)?;
        let addresses = if root.is_live() {
            probe::net::addresses_with_prefix().map_err(|reason| ProbeError {
                what: "addresses".into(),
                reason,
            })?
        } else {
            Vec::new()
        };
        Ok(Hardware { facts, addresses })
    }

    /// Its first address on `nic` (IPv4 first, then IPv6; never loopback or link-local).
    pub fn address_on(&self, nic: &str) -> Option<IpAddr> {
        let on = |v4: bool| {
            self.addresses.iter().find(|(name, ip, _)| {
                name == nic
                    && ip.is_ipv4() == v4
                    && !ip.is_loopback()
                    && !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
            })
        };
        on(true).or_else(|| on(false)).map(|(_, ip, _)| *ip)
    }
}

/// Where a member learns the hardware of the nodes that joined it.
#[derive(Debug, Clone)]
pub enum Source {
    /// Their agents, on this port (mutual TLS with the member's cluster credentials).
    Agents {
        /// The agents' port.
        port: u16,
    },
    /// These reports by node name (plan mode's walks and tests, where no agent runs); a node not in
    /// the map did not answer.
    Given(BTreeMap<String, Hardware>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardware(addresses: &[(&str, &str, u8)]) -> Hardware {
        let root = Root::at(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../machine/tests/fixtures/machines/intel-server-4nic/root"
        ));
        let facts = probe::probe(&root).expect("the fixture probes");
        Hardware {
            facts,
            addresses: addresses
                .iter()
                .map(|(n, ip, p)| ((*n).to_owned(), ip.parse().unwrap(), *p))
                .collect(),
        }
    }

    #[test]
    fn the_data_address_is_the_nics_own_and_never_loopback_or_link_local() {
        let h = hardware(&[
            ("eth0", "10.20.0.12", 24),
            ("eth1", "fe80::1", 64),
            ("eth1", "fd00::12", 64),
            ("eth1", "10.30.0.12", 24),
            ("lo", "127.0.0.1", 8),
        ]);
        assert_eq!(h.address_on("eth1"), Some("10.30.0.12".parse().unwrap()));
        assert_eq!(h.address_on("eth0"), Some("10.20.0.12".parse().unwrap()));
        assert_eq!(h.address_on("lo"), None);
        assert_eq!(h.address_on("eth9"), None);
        let v6 = hardware(&[("eth1", "fe80::1", 64), ("eth1", "fd00::12", 64)]);
        assert_eq!(v6.address_on("eth1"), Some("fd00::12".parse().unwrap()));
    }

    #[test]
    fn a_report_survives_the_wire() {
        let h = hardware(&[("eth0", "10.20.0.12", 24)]);
        let wire = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hardware>(&wire).unwrap(), h);
        // A truncated answer is refused, not half read.
        assert!(serde_json::from_str::<Hardware>(&wire[..wire.len() / 2]).is_err());
    }
}
