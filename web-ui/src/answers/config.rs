//! The answers (network, cluster, roles, settings) turned into the installer's
//! [`ClusterConfig`]: the one model `stackboxd plan` and `stackboxd install` take, so the wizard, the
//! answer file and the API install the same way.
//!
//! What the installer has no field for (the management bridge, VLAN and MTU) is kept in the wizard's
//! settings and shown on the review page as not applied; this version of the installer does not
//! reconfigure the host's own network.

use std::net::IpAddr;

use ipnet::IpNet;
use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::config::{Flavor, Networks, Node, Overcommit, Tls};

use super::Answers;
use super::roles::JoinedRoles;
use crate::error::WebError;
use stackbox_network::{Addressing, VniRange};

/// An address of this machine: (interface, address, prefix length), as rtnetlink reports it.
pub type LiveAddress = (String, IpAddr, u8);

/// The first IPv4 address (else IPv6) on one of `names` other than `not` (the API address, which
/// keepalived adds to the management NIC once the cloud is installed), with its network and interface.
fn address_on(
    addrs: &[LiveAddress],
    names: &[&str],
    not: Option<IpAddr>,
) -> Option<(IpAddr, IpNet, String)> {
    let on = |v4: bool| {
        addrs.iter().find(|(ifname, ip, _)| {
            names.contains(&ifname.as_str())
                && Some(*ip) != not
                && ip.is_ipv4() == v4
                && !ip.is_loopback()
                && !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
        })
    };
    let (ifname, ip, prefix) = on(true).or_else(|| on(false))?;
    IpNet::new(*ip, *prefix)
        .ok()
        .map(|net| (*ip, net.trunc(), ifname.clone()))
}

/// The node's name in the cluster: the first label of its host name.
pub fn node_name(hostname: &str) -> String {
    hostname.split('.').next().unwrap_or(hostname).to_owned()
}

/// Builds the cluster configuration from the answers and this machine's addresses (for DHCP, the
/// address the management NIC holds now, and the data NIC's address, if any), then validates it as the
/// installer would.
pub fn cluster_config(
    answers: &Answers,
    addrs: &[LiveAddress],
    catalog: &Catalog,
) -> Result<ClusterConfig, WebError> {
    let net = &answers.network;
    let (address, management_cidr, interface) = match &net.addressing {
        // On a running machine (addresses known), the cloud is built only on an address the host holds:
        // a typed address that was never applied would leave every endpoint unreachable.
        Addressing::Static { address, .. }
            if !addrs.is_empty() && !addrs.iter().any(|(_, ip, _)| *ip == address.addr()) =>
        {
            return Err(WebError::Conflict(format!(
                "this node does not hold {address}: apply the network on the network page first \
                 (the cloud is built on addresses the host holds)"
            )));
        }
        Addressing::Static { address, .. } => {
            (address.addr(), address.trunc(), net.management_nic.clone())
        }
        Addressing::Dhcp { .. } => address_on(
            addrs,
            &[&net.management_nic, &net.bridge],
            answers.cluster.api_address,
        )
        .ok_or_else(|| {
            WebError::Conflict(format!(
                "the management NIC {} has no address from DHCP yet: wait for the lease, or \
                     give it a static address on the network page",
                net.management_nic
            ))
        })?,
    };
    let (data_address, data_cidr) = if net.data_nic == net.management_nic {
        (None, None)
    } else {
        match address_on(addrs, &[&net.data_nic], None) {
            Some((ip, cidr, _)) => (Some(ip), Some(cidr)),
            None => (None, None),
        }
    };
    let config = ClusterConfig {
        name: answers.cluster.name.clone(),
        flavor: Flavor::Openstack,
        region: "RegionOne".to_owned(),
        networks: Networks {
            management_cidr,
            api_address: answers.cluster.api_address,
            // keepalived puts the API address where the management address is.
            management_interface: answers.cluster.api_address.map(|_| interface),
            data_nic: net.data_nic.clone(),
            data_cidr,
            provider: None,
            vxlan: VniRange {
                first: net.vxlan_min,
                last: net.vxlan_max,
            },
            clients: answers.settings.api_clients.clone(),
        },
        nodes: vec![Node {
            name: node_name(&net.hostname),
            address,
            roles: answers.roles.roles.clone(),
            data_nic: None,
            data_address,
        }],
        overcommit: Overcommit {
            cpu: answers.settings.overcommit.cpu,
            ram: answers.settings.overcommit.ram,
            disk: answers.settings.overcommit.disk,
        },
        tls: Tls::default(),
    };
    valid(config, catalog, "the answers do not make")
}

/// The cluster grown by the nodes that joined and have roles: each (its management address from its
/// join, its roles and data address as saved) added after this node's own, in the order given, and
/// validated as the installer would (names, addresses and data addresses unique, each in its network).
pub fn grown_config(
    mut base: ClusterConfig,
    joined: &[(IpAddr, JoinedRoles)],
    catalog: &Catalog,
) -> Result<ClusterConfig, WebError> {
    for (address, j) in joined {
        base.nodes.push(Node {
            name: j.node.clone(),
            address: *address,
            roles: j.roles.clone(),
            data_nic: None,
            data_address: j.data_address,
        });
    }
    valid(base, catalog, "the nodes' roles do not make")
}

fn valid(config: ClusterConfig, catalog: &Catalog, what: &str) -> Result<ClusterConfig, WebError> {
    let v = config.validate(catalog);
    if !v.is_ok() {
        return Err(WebError::Conflict(format!(
            "{what} a valid cluster configuration: {}",
            v.errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::cluster::ClusterSettings;
    use crate::answers::roles::{Overcommit as WizardOvercommit, RoleAssignment, Settings};
    use stackbox_installer::runner::WRITTEN_BY;
    use stackbox_network::NetworkSettings;

    fn answers(addressing: Addressing) -> Answers {
        Answers {
            network: NetworkSettings {
                hostname: "stackbox.lab".to_owned(),
                management_nic: "eth0".to_owned(),
                data_nic: "eth1".to_owned(),
                addressing,
                bridge: "br-mgmt".to_owned(),
                vlan: None,
                mtu: 1500,
                vxlan_min: 1000,
                vxlan_max: 1999,
                bonds: Vec::new(),
                management_mtu: None,
                data_address: None,
                ntp: Vec::new(),
            },
            cluster: ClusterSettings {
                name: "lab".to_owned(),
                mode: "single-node".to_owned(),
                members: vec!["stackbox.lab".to_owned()],
                api_address: None,
            },
            roles: RoleAssignment {
                node: "stackbox.lab".to_owned(),
                roles: [
                    "management",
                    "message-bus",
                    "storage-metadata",
                    "console-proxy",
                    "compute",
                ]
                .map(String::from)
                .to_vec(),
            },
            settings: Settings {
                flavor: "openstack".to_owned(),
                overcommit: WizardOvercommit {
                    cpu: 8.0,
                    ram: 1.5,
                    disk: 1.0,
                },
                api_clients: vec!["192.168.7.0/24".parse().unwrap()],
            },
        }
    }

    fn addrs() -> Vec<LiveAddress> {
        vec![
            ("lo".to_owned(), "127.0.0.1".parse().unwrap(), 8),
            ("eth0".to_owned(), "fe80::1".parse().unwrap(), 64),
            ("eth0".to_owned(), "10.20.0.11".parse().unwrap(), 24),
            ("eth1".to_owned(), "10.30.0.11".parse().unwrap(), 24),
        ]
    }

    #[test]
    fn dhcp_takes_the_live_address_and_its_network() {
        let catalog = Catalog::embedded().unwrap();
        let c = cluster_config(
            &answers(Addressing::Dhcp { dns: vec![] }),
            &addrs(),
            &catalog,
        )
        .unwrap();
        assert_eq!(c.nodes[0].name, "stackbox");
        assert_eq!(c.nodes[0].address.to_string(), "10.20.0.11");
        assert_eq!(c.networks.management_cidr.to_string(), "10.20.0.0/24");
        assert_eq!(c.nodes[0].data_address.unwrap().to_string(), "10.30.0.11");
        // The settings' client networks reach every node's firewall.
        assert_eq!(c.networks.clients, ["192.168.7.0/24".parse().unwrap()]);
        assert_eq!(c.networks.data_cidr.unwrap().to_string(), "10.30.0.0/24");
        assert_eq!(c.overcommit.cpu, 8.0);
        let toml = c.to_toml_file(WRITTEN_BY).unwrap();
        let back = ClusterConfig::from_toml("wizard.toml", &toml).unwrap();
        assert_eq!(back, c);
        let golden =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cluster-dhcp.toml");
        stackbox_common::test_utils::golden(&golden, &toml);
    }

    /// Once installed, keepalived's API address sits on the management NIC too, maybe listed first:
    /// it is never taken for the node's own.
    #[test]
    fn the_api_address_on_the_nic_is_never_the_nodes_own() {
        let catalog = Catalog::embedded().unwrap();
        let mut a = answers(Addressing::Dhcp { dns: vec![] });
        a.cluster.api_address = Some("10.20.0.10".parse().unwrap());
        let mut live = vec![("eth0".to_owned(), "10.20.0.10".parse().unwrap(), 32)];
        live.extend(addrs());
        let c = cluster_config(&a, &live, &catalog).unwrap();
        assert_eq!(c.nodes[0].address.to_string(), "10.20.0.11");
        assert_eq!(c.networks.management_cidr.to_string(), "10.20.0.0/24");
    }

    #[test]
    fn static_addressing_needs_no_live_address() {
        let catalog = Catalog::embedded().unwrap();
        let c = cluster_config(
            &answers(Addressing::Static {
                address: "192.168.50.7/23".parse().unwrap(),
                gateway: "192.168.50.1".parse().unwrap(),
                dns: vec![],
            }),
            &[],
            &catalog,
        )
        .unwrap();
        assert_eq!(c.nodes[0].address.to_string(), "192.168.50.7");
        assert_eq!(c.networks.management_cidr.to_string(), "192.168.50.0/23");
        assert_eq!(c.nodes[0].data_address, None);
    }

    #[test]
    fn a_static_address_the_host_does_not_hold_is_refused() {
        let catalog = Catalog::embedded().unwrap();
        let fixed = answers(Addressing::Static {
            address: "10.20.0.21/24".parse().unwrap(),
            gateway: "10.20.0.1".parse().unwrap(),
            dns: vec![],
        });
        let e = cluster_config(&fixed, &addrs(), &catalog).unwrap_err();
        assert!(e.to_string().contains("does not hold 10.20.0.21/24"), "{e}");
        let mut held = addrs();
        held.push(("br-mgmt".to_owned(), "10.20.0.21".parse().unwrap(), 24));
        let c = cluster_config(&fixed, &held, &catalog).unwrap();
        assert_eq!(c.nodes[0].address.to_string(), "10.20.0.21");
    }

    #[test]
    fn dhcp_without_a_lease_is_refused_with_the_nic_named() {
        let catalog = Catalog::embedded().unwrap();
        let only_link_local = vec![("eth0".to_owned(), "fe80::1".parse().unwrap(), 64)];
        let e = cluster_config(
            &answers(Addressing::Dhcp { dns: vec![] }),
            &only_link_local,
            &catalog,
        )
        .unwrap_err();
        assert!(e.to_string().contains("eth0 has no address"), "{e}");
    }

    #[test]
    fn roles_the_installer_cannot_plan_are_refused() {
        let catalog = Catalog::embedded().unwrap();
        let mut a = answers(Addressing::Dhcp { dns: vec![] });
        a.roles.roles = vec!["no-such-role".to_owned()];
        let e = cluster_config(&a, &addrs(), &catalog).unwrap_err();
        assert!(matches!(e, WebError::Conflict(_)), "{e:?}");
        assert!(e.to_string().contains("nodes[0].roles"), "{e}");
    }

    fn joined(name: &str, i: u8, roles: &[&str]) -> (IpAddr, JoinedRoles) {
        (
            format!("10.20.0.1{i}").parse().unwrap(),
            JoinedRoles {
                node: name.to_owned(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                data_address: Some(format!("10.30.0.1{i}").parse().unwrap()),
            },
        )
    }

    /// The grown configuration is the same model as `examples/three-node.toml`: the first node's own,
    /// then each joined node with its saved roles.
    #[test]
    fn joined_nodes_with_roles_grow_the_configuration() {
        let catalog = Catalog::embedded().unwrap();
        let mut a = answers(Addressing::Dhcp { dns: vec![] });
        a.cluster.api_address = Some("10.20.0.10".parse().unwrap());
        let base = cluster_config(&a, &addrs(), &catalog).unwrap();
        let all = ["compute", "management", "message-bus", "storage-metadata"];
        let grown = grown_config(
            base.clone(),
            &[joined("node2", 2, &all), joined("node3", 3, &all)],
            &catalog,
        )
        .unwrap();
        assert_eq!(grown.nodes.len(), 3);
        assert_eq!(grown.nodes[0], base.nodes[0]);
        let toml = grown.to_toml_file(crate::wizard::grow::GROWN_BY).unwrap();
        assert_eq!(
            ClusterConfig::from_toml("grown.toml", &toml).unwrap(),
            grown
        );
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/cluster-grown.toml");
        stackbox_common::test_utils::golden(&golden, &toml);
        // No joined node with roles: this node's configuration, unchanged.
        assert_eq!(grown_config(base.clone(), &[], &catalog).unwrap(), base);
    }

    #[test]
    fn a_grown_configuration_the_installer_refuses_is_refused_with_the_field_named() {
        let catalog = Catalog::embedded().unwrap();
        let base = cluster_config(
            &answers(Addressing::Dhcp { dns: vec![] }),
            &addrs(),
            &catalog,
        )
        .unwrap();
        let all = ["compute", "management", "message-bus", "storage-metadata"];
        let (addr, ok) = joined("node2", 2, &all);
        let cases: Vec<(&str, Vec<(IpAddr, JoinedRoles)>)> = vec![
            // Two nodes of one name (the second is named).
            (
                "2].name",
                vec![(addr, ok.clone()), joined("node2", 3, &all)],
            ),
            // This node's own management address.
            (
                "1].address",
                vec![("10.20.0.11".parse().unwrap(), ok.clone())],
            ),
            // Another node's data address.
            (
                "1].data_address",
                vec![(
                    addr,
                    JoinedRoles {
                        data_address: Some("10.30.0.11".parse().unwrap()),
                        ..ok.clone()
                    },
                )],
            ),
            // A data address outside the data network.
            (
                "1].data_address",
                vec![(
                    addr,
                    JoinedRoles {
                        data_address: Some("192.0.2.7".parse().unwrap()),
                        ..ok.clone()
                    },
                )],
            ),
            // A role there is not.
            (
                "1].roles",
                vec![(
                    addr,
                    JoinedRoles {
                        roles: vec!["no-such-role".into()],
                        ..ok.clone()
                    },
                )],
            ),
            // No role at all.
            (
                "1].roles",
                vec![(
                    addr,
                    JoinedRoles {
                        roles: vec![],
                        ..ok.clone()
                    },
                )],
            ),
        ];
        for (field, joined) in cases {
            let e = grown_config(base.clone(), &joined, &catalog).unwrap_err();
            assert!(matches!(e, WebError::Conflict(_)), "{field}: {e:?}");
            assert!(
                e.to_string().contains(&format!("nodes[{field}")),
                "{field}: {e}"
            );
        }
    }
}
