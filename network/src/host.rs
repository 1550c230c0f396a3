//! The rules of one node's whole network, across its fields: which NICs, bonds, VLAN and bridge it is made
//! of, their names and MTUs, its addresses and time servers. The single-field rules (`names`, `address`,
//! `link`) are applied here too, so that `check_host` is the one gate before anything is rendered or
//! applied.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::address::{AddressError, GatewayError, check_dns, check_gateway, check_host_address};
use crate::link::{RangeError, check_mtu, check_vlan};
use crate::model::{Addressing, NetworkSettings, VniRange};
use crate::names::{check_hostname, check_ifname, is_dns_label};

/// The most NTP servers a node is given.
pub const NTP_SERVERS_MAX: usize = 4;

/// What the check knows of one NIC of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicFact {
    /// Its interface name.
    pub name: String,
    /// Whether it has link; `None` when the kernel does not say.
    pub carrier: Option<bool>,
}

/// Why a node's network is refused; `field()` names the setting, `Display` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The host name is not a DNS name.
    #[error("{0}")]
    Hostname(String),
    /// A NIC, bond or bridge name is not a Linux interface name.
    #[error("`{name}` {rule}")]
    Ifname {
        /// The setting.
        field: &'static str,
        /// The name.
        name: String,
        /// The rule it breaks.
        rule: String,
    },
    /// An interface the settings use is neither a NIC of this machine nor one of the bonds.
    #[error("`{name}` is not a NIC of this machine{}", bonds_hint(.bonds))]
    Unknown {
        /// The setting.
        field: &'static str,
        /// The name.
        name: String,
        /// The bonds the settings declare.
        bonds: Vec<String>,
    },
    /// A bond or bridge is named like a NIC, another bond, the bridge or the VLAN interface.
    #[error("`{name}` is already the name of {other}; choose another name")]
    NameTaken {
        /// The setting.
        field: &'static str,
        /// The name.
        name: String,
        /// What else has it.
        other: String,
    },
    /// A bond has no NIC.
    #[error("bond `{0}` has no NIC")]
    EmptyBond(String),
    /// A NIC is used twice in conflicting roles.
    #[error("`{nic}` cannot be {first} and {second}")]
    Conflict {
        /// The setting.
        field: &'static str,
        /// The NIC.
        nic: String,
        /// Its first role.
        first: String,
        /// The role that conflicts with it.
        second: String,
    },
    /// A number outside its range.
    #[error("{error}")]
    Range {
        /// The setting.
        field: &'static str,
        /// The range.
        error: RangeError,
    },
    /// A VLAN or bridge would carry larger frames than the NIC or bond under it.
    #[error(
        "the management MTU {child} is above the MTU {parent} of the NIC or bond under it; a VLAN or \
         bridge cannot carry larger frames than its parent"
    )]
    MtuAboveParent {
        /// The management VLAN and bridge's MTU.
        child: u32,
        /// The NIC's or bond's.
        parent: u32,
    },
    /// An address is not a host address.
    #[error("{error}")]
    Address {
        /// The setting.
        field: &'static str,
        /// Why.
        error: AddressError,
    },
    /// The gateway does not fit the address.
    #[error("{0}")]
    Gateway(GatewayError),
    /// Name servers refused.
    #[error("{0}")]
    Dns(String),
    /// A data address is given where VXLAN rides on the management address.
    #[error(
        "the data interface is the management interface, so VXLAN uses the management address; leave \
         the data address empty, or choose another data NIC"
    )]
    DataAddressOnShared,
    /// The data address lies in the management subnet.
    #[error(
        "{address} is in the management subnet {subnet}: two interfaces in one subnet make the replies \
         leave by the wrong one; give the data network a subnet of its own"
    )]
    DataInManagementSubnet {
        /// The data address.
        address: IpAddr,
        /// The management subnet.
        subnet: ipnet::IpNet,
    },
    /// The VXLAN range is reversed or out of range.
    #[error("{0}")]
    Vxlan(String),
    /// An NTP server is neither an address nor a host name, or there are too many.
    #[error("{0}")]
    Ntp(String),
}

fn bonds_hint(bonds: &[String]) -> String {
    if bonds.is_empty() {
        String::new()
    } else {
        format!(" nor a bond ({})", bonds.join(", "))
    }
}

impl HostError {
    /// The setting it is about, as named in `network.json` and the wizard's form.
    pub fn field(&self) -> &'static str {
        match self {
            HostError::Hostname(_) => "hostname",
            HostError::Ifname { field, .. }
            | HostError::Unknown { field, .. }
            | HostError::NameTaken { field, .. }
            | HostError::Conflict { field, .. }
            | HostError::Range { field, .. }
            | HostError::Address { field, .. } => field,
            HostError::EmptyBond(_) => "bonds",
            HostError::MtuAboveParent { .. } => "management_mtu",
            HostError::Gateway(_) => "gateway",
            HostError::Dns(_) => "dns",
            HostError::DataAddressOnShared | HostError::DataInManagementSubnet { .. } => {
                "data_address"
            }
            HostError::Vxlan(_) => "vxlan_max",
            HostError::Ntp(_) => "ntp",
        }
    }
}

/// Something worth telling the operator that does not stop the network from being applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostWarning {
    /// A NIC the settings use has no link: its cable is unplugged or the switch port is down.
    #[error("`{0}` has no link: check its cable and switch port")]
    NoCarrier(String),
}

/// The checks of one node's settings against this machine's NICs: every refusal at once, or the warnings.
pub fn check_host(
    s: &NetworkSettings,
    nics: &[NicFact],
) -> Result<Vec<HostWarning>, Vec<HostError>> {
    let mut errors = Vec::new();
    if let Err(e) = check_hostname(&s.hostname) {
        errors.push(HostError::Hostname(e.to_string()));
    }
    check_interfaces(s, nics, &mut errors);
    check_mtus(s, &mut errors);
    check_addresses(s, &mut errors);
    let vni = VniRange {
        first: s.vxlan_min,
        last: s.vxlan_max,
    };
    errors.extend(
        vni.check()
            .into_iter()
            .map(|e| HostError::Vxlan(format!("the VXLAN range {e}"))),
    );
    check_ntp(&s.ntp, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(used_nics(s)
        .into_iter()
        .filter(|n| {
            nics.iter()
                .any(|f| &f.name == n && f.carrier == Some(false))
        })
        .map(HostWarning::NoCarrier)
        .collect())
}

/// The NICs the settings put to use: the management and data NICs or their bonds' NICs.
pub fn used_nics(s: &NetworkSettings) -> BTreeSet<String> {
    [&s.management_nic, &s.data_nic]
        .into_iter()
        .flat_map(|port| match s.bond(port) {
            Some(bond) => bond.nics.clone(),
            None => vec![port.clone()],
        })
        .collect()
}

fn ifname(field: &'static str, name: &str, errors: &mut Vec<HostError>) -> bool {
    match check_ifname(name) {
        Ok(()) => true,
        Err(e) => {
            errors.push(HostError::Ifname {
                field,
                name: name.to_owned(),
                rule: e.rule().to_owned(),
            });
            false
        }
    }
}

/// Names, membership and roles: bonds of existing NICs, each NIC in one role, no name given twice.
fn check_interfaces(s: &NetworkSettings, nics: &[NicFact], errors: &mut Vec<HostError>) {
    let is_nic = |name: &str| nics.iter().any(|n| n.name == name);
    let mut taken: Vec<(String, String)> = nics
        .iter()
        .map(|n| (n.name.clone(), format!("the NIC {}", n.name)))
        .collect();
    let mut claim = |field: &'static str, name: &str, what: String, errors: &mut Vec<HostError>| {
        if let Some((_, other)) = taken.iter().find(|(n, _)| n == name) {
            errors.push(HostError::NameTaken {
                field,
                name: name.to_owned(),
                other: other.clone(),
            });
        } else {
            taken.push((name.to_owned(), what));
        }
    };
    let mut member_of: Vec<(String, String)> = Vec::new();
    for bond in &s.bonds {
        if ifname("bonds", &bond.name, errors) {
            claim(
                "bonds",
                &bond.name,
                format!("the bond {}", bond.name),
                errors,
            );
        }
        if bond.nics.is_empty() {
            errors.push(HostError::EmptyBond(bond.name.clone()));
        }
        for nic in &bond.nics {
            if !is_nic(nic) {
                errors.push(unknown("bonds", nic, &[]));
            } else if let Some((_, other)) = member_of.iter().find(|(n, _)| n == nic) {
                errors.push(HostError::Conflict {
                    field: "bonds",
                    nic: nic.clone(),
                    first: format!("in bond {other}"),
                    second: format!("in bond {}", bond.name),
                });
            } else {
                member_of.push((nic.clone(), bond.name.clone()));
            }
        }
    }
    if ifname("bridge", &s.bridge, errors) {
        claim(
            "bridge",
            &s.bridge,
            format!("the bridge {}", s.bridge),
            errors,
        );
    }
    if let Some(vlan) = s.vlan_ifname() {
        claim("vlan", &vlan, format!("the VLAN interface {vlan}"), errors);
    }
    let bonds: Vec<String> = s.bonds.iter().map(|b| b.name.clone()).collect();
    for (field, port) in [
        ("management_nic", &s.management_nic),
        ("data_nic", &s.data_nic),
    ] {
        if s.bond(port).is_some() {
            continue;
        }
        if !is_nic(port) {
            errors.push(unknown(field, port, &bonds));
        } else if let Some((_, bond)) = member_of.iter().find(|(n, _)| n == port) {
            errors.push(HostError::Conflict {
                field,
                nic: port.clone(),
                first: format!("in bond {bond}"),
                second: format!(
                    "the {} interface on its own",
                    field.trim_end_matches("_nic")
                ),
            });
        }
    }
}

fn unknown(field: &'static str, name: &str, bonds: &[String]) -> HostError {
    HostError::Unknown {
        field,
        name: name.to_owned(),
        bonds: bonds.to_vec(),
    }
}

fn check_mtus(s: &NetworkSettings, errors: &mut Vec<HostError>) {
    if let Err(error) = check_mtu(s.mtu) {
        errors.push(HostError::Range {
            field: "mtu",
            error,
        });
    }
    if let Some(m) = s.management_mtu {
        if let Err(error) = check_mtu(m) {
            errors.push(HostError::Range {
                field: "management_mtu",
                error,
            });
        } else if m > s.management_port_mtu() {
            errors.push(HostError::MtuAboveParent {
                child: m,
                parent: s.management_port_mtu(),
            });
        }
    }
    if let Some(id) = s.vlan
        && let Err(error) = check_vlan(u32::from(id))
    {
        errors.push(HostError::Range {
            field: "vlan",
            error,
        });
    }
}

fn check_addresses(s: &NetworkSettings, errors: &mut Vec<HostError>) {
    let (dns, management) = match &s.addressing {
        Addressing::Dhcp { dns } => (dns, None),
        Addressing::Static {
            address,
            gateway,
            dns,
        } => {
            if let Err(error) = check_host_address(address.addr(), address) {
                errors.push(HostError::Address {
                    field: "address",
                    error,
                });
            } else if let Err(e) = check_gateway(address, *gateway) {
                errors.push(HostError::Gateway(e));
            }
            (dns, Some(address))
        }
    };
    if let Err(e) = check_dns(dns, management.is_some()) {
        errors.push(HostError::Dns(e.to_string()));
    }
    let Some(data) = s.data_address else {
        return;
    };
    if s.data_shares_management() {
        errors.push(HostError::DataAddressOnShared);
    } else if let Err(error) = check_host_address(data.addr(), &data) {
        errors.push(HostError::Address {
            field: "data_address",
            error,
        });
    } else if let Some(m) = management
        && (m.contains(&data.addr()) || data.contains(&m.addr()))
    {
        errors.push(HostError::DataInManagementSubnet {
            address: data.addr(),
            subnet: m.trunc(),
        });
    }
}

fn check_ntp(servers: &[String], errors: &mut Vec<HostError>) {
    if servers.len() > NTP_SERVERS_MAX {
        errors.push(HostError::Ntp(format!(
            "at most {NTP_SERVERS_MAX} NTP servers"
        )));
    }
    for server in servers {
        let is_name = !server.is_empty()
            && server.len() <= 253
            && server
                .split('.')
                .all(|label| is_dns_label(&label.to_ascii_lowercase()));
        if server.parse::<IpAddr>().is_err() && !is_name {
            errors.push(HostError::Ntp(format!(
                "`{server}` is neither an IP address nor a host name"
            )));
        }
    }
}
