//! The network settings the wizard collects: the form as submitted (strings, exactly what the operator
//! typed) and the validated model that is stored. Validation is pure, so every must-fail input is a unit
//! test. The model is kept here until the installer's cluster configuration lands; [`NetworkSettings`]
//! maps field for field onto it.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The smallest MTU accepted: IPv6's minimum.
pub const MTU_MIN: u32 = 1280;
/// The largest MTU accepted: common jumbo-frame ceiling of data-center switches.
pub const MTU_MAX: u32 = 9216;
/// The largest VXLAN network identifier (24 bits).
pub const VNI_MAX: u32 = 16_777_215;

/// The network form as submitted: every field a string, so that wrong input can be shown back as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkForm {
    /// The node's host name (a DNS name: lowercase letters, digits, hyphens; labels of at most 63).
    pub hostname: String,
    /// The management NIC, one of the probed NICs.
    pub management_nic: String,
    /// The data-plane NIC (VXLAN tunnels), one of the probed NICs; may equal the management NIC.
    pub data_nic: String,
    /// `dhcp` or `static`.
    pub mode: String,
    /// The static address with its prefix, e.g. `10.0.0.5/24`.
    pub address: String,
    /// The static default gateway; must lie inside `address`'s subnet.
    pub gateway: String,
    /// Name servers, separated by commas or spaces (at most three).
    pub dns: String,
    /// The bridge the management NIC is enslaved to (Linux interface name, at most 15 characters).
    pub bridge: String,
    /// The VLAN id of the management network (1 to 4094), empty for untagged.
    pub vlan: String,
    /// The data-plane MTU (1280 to 9216).
    pub mtu: String,
    /// The first VXLAN network identifier tenants may use.
    pub vxlan_min: String,
    /// The last VXLAN network identifier tenants may use.
    pub vxlan_max: String,
}

impl NetworkForm {
    /// The form filled with the defaults the page offers: DHCP on the first NIC, bridge `br-mgmt`,
    /// MTU 1500, VNIs 1 to 1000.
    pub fn defaults(nics: &[String], hostname: &str) -> NetworkForm {
        let first = nics.first().cloned().unwrap_or_default();
        let second = nics.get(1).cloned().unwrap_or_else(|| first.clone());
        NetworkForm {
            hostname: hostname.to_owned(),
            management_nic: first,
            data_nic: second,
            mode: "dhcp".to_owned(),
            bridge: "br-mgmt".to_owned(),
            mtu: "1500".to_owned(),
            vxlan_min: "1".to_owned(),
            vxlan_max: "1000".to_owned(),
            ..NetworkForm::default()
        }
    }

    /// The form showing stored settings, for editing them again.
    pub fn from_settings(s: &NetworkSettings) -> NetworkForm {
        let (mode, address, gateway, dns) = match &s.addressing {
            Addressing::Dhcp { dns } => ("dhcp", String::new(), String::new(), dns),
            Addressing::Static {
                address,
                gateway,
                dns,
            } => ("static", address.to_string(), gateway.to_string(), dns),
        };
        NetworkForm {
            hostname: s.hostname.clone(),
            management_nic: s.management_nic.clone(),
            data_nic: s.data_nic.clone(),
            mode: mode.to_owned(),
            address,
            gateway,
            dns: dns
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            bridge: s.bridge.clone(),
            vlan: s.vlan.map(|v| v.to_string()).unwrap_or_default(),
            mtu: s.mtu.to_string(),
            vxlan_min: s.vxlan_min.to_string(),
            vxlan_max: s.vxlan_max.to_string(),
        }
    }
}

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

/// Validated network settings, as stored in `network.json` in the state directory.
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

/// Checks a host name: one or more labels of lowercase ASCII letters, digits and hyphens, each 1 to 63
/// characters, not starting or ending with a hyphen; 253 characters at most.
pub fn validate_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("enter a host name".to_owned());
    }
    if name.chars().count() > 253 {
        return Err("a host name has at most 253 characters".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(
                "a host name has no empty labels (no leading, trailing or double dots)".to_owned(),
            );
        }
        if label.chars().count() > 63 {
            return Err("each part of a host name has at most 63 characters".to_owned());
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(
                "a host name uses only lowercase letters a-z, digits 0-9, hyphens and dots (no spaces, no uppercase, no other characters)"
                    .to_owned(),
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a part of a host name does not start or end with a hyphen".to_owned());
        }
    }
    Ok(())
}

/// Checks a Linux interface name for a bridge: 1 to 15 of letters, digits, `-`, `_`, `.`.
fn validate_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err("a bridge name has 1 to 15 characters".to_owned());
    }
    if name == "." || name == ".." {
        return Err("a bridge name cannot be . or ..".to_owned());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("a bridge name uses only letters, digits, '-', '_' and '.'".to_owned());
    }
    Ok(())
}

/// Parses an unsigned integer the way an operator types it (surrounding spaces allowed, nothing else).
fn parse_number(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 9 {
        return None;
    }
    t.parse().ok()
}

fn parse_dns(text: &str, errors: &mut Vec<FieldError>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        match item.parse::<IpAddr>() {
            Ok(ip) => out.push(ip),
            Err(_) => {
                errors.push(FieldError::new(
                    "dns",
                    "name servers are IP addresses separated by commas or spaces",
                ));
                return Vec::new();
            }
        }
    }
    if out.len() > 3 {
        errors.push(FieldError::new("dns", "at most three name servers"));
    }
    out
}

/// Validates the form against the probed NIC names; returns every problem at once, so the page can
/// show each beside its field.
pub fn validate(form: &NetworkForm, nics: &[String]) -> Result<NetworkSettings, Vec<FieldError>> {
    let mut errors = Vec::new();
    let hostname = form.hostname.trim();
    if let Err(m) = validate_hostname(hostname) {
        errors.push(FieldError::new("hostname", m));
    }
    for (field, nic) in [
        ("management_nic", &form.management_nic),
        ("data_nic", &form.data_nic),
    ] {
        if !nics.iter().any(|n| n == nic) {
            errors.push(FieldError::new(
                field,
                format!(
                    "choose one of the NICs found on this machine: {}",
                    if nics.is_empty() {
                        "(none found)".to_owned()
                    } else {
                        nics.join(", ")
                    }
                ),
            ));
        }
    }
    let dns = parse_dns(&form.dns, &mut errors);
    let addressing = match form.mode.as_str() {
        "dhcp" => Some(Addressing::Dhcp { dns }),
        "static" => {
            let address = match form.address.trim().parse::<IpNet>() {
                Ok(net) => {
                    let host = net.addr();
                    let is_edge = net.prefix_len() < net.max_prefix_len().saturating_sub(1)
                        && (host == net.network() || (host.is_ipv4() && host == net.broadcast()));
                    if is_edge {
                        errors.push(FieldError::new(
                            "address",
                            format!("{host} is the subnet's network or broadcast address, not a host address"),
                        ));
                        None
                    } else {
                        Some(net)
                    }
                }
                Err(_) => {
                    errors.push(FieldError::new(
                        "address",
                        "enter the address with its prefix length in CIDR form, e.g. 10.0.0.5/24",
                    ));
                    None
                }
            };
            let gateway = match form.gateway.trim().parse::<IpAddr>() {
                Ok(gw) => Some(gw),
                Err(_) => {
                    errors.push(FieldError::new(
                        "gateway",
                        "enter the gateway as an IP address, e.g. 10.0.0.1",
                    ));
                    None
                }
            };
            if dns.is_empty() && !form.dns.trim().is_empty() {
                // parse_dns already said why.
            } else if dns.is_empty() {
                errors.push(FieldError::new(
                    "dns",
                    "a static address needs at least one name server",
                ));
            }
            match (address, gateway) {
                (Some(address), Some(gateway)) => {
                    if !address.contains(&gateway) {
                        errors.push(FieldError::new(
                            "gateway",
                            format!(
                                "the gateway {gateway} is outside the subnet {}",
                                address.trunc()
                            ),
                        ));
                        None
                    } else if gateway == address.addr() {
                        errors.push(FieldError::new(
                            "gateway",
                            "the gateway cannot be the node's own address",
                        ));
                        None
                    } else {
                        Some(Addressing::Static {
                            address,
                            gateway,
                            dns,
                        })
                    }
                }
                _ => None,
            }
        }
        _ => {
            errors.push(FieldError::new("mode", "choose DHCP or a static address"));
            None
        }
    };
    let bridge = form.bridge.trim();
    if let Err(m) = validate_ifname(bridge) {
        errors.push(FieldError::new("bridge", m));
    }
    let vlan = if form.vlan.trim().is_empty() {
        None
    } else {
        match parse_number(&form.vlan) {
            Some(v @ 1..=4094) => u16::try_from(v).ok(),
            _ => {
                errors.push(FieldError::new(
                    "vlan",
                    "a VLAN id is a whole number from 1 to 4094 (0 and 4095 are reserved); leave it empty for untagged",
                ));
                None
            }
        }
    };
    let mtu = match parse_number(&form.mtu) {
        Some(m @ MTU_MIN..=MTU_MAX) => m,
        _ => {
            errors.push(FieldError::new(
                "mtu",
                format!("the MTU is a whole number from {MTU_MIN} to {MTU_MAX}"),
            ));
            0
        }
    };
    let vni =
        |text: &str, field: &'static str, errors: &mut Vec<FieldError>| match parse_number(text) {
            Some(v @ 1..=VNI_MAX) => Some(v),
            _ => {
                errors.push(FieldError::new(
                    field,
                    format!("a VXLAN id is a whole number from 1 to {VNI_MAX}"),
                ));
                None
            }
        };
    let vxlan_min = vni(&form.vxlan_min, "vxlan_min", &mut errors);
    let vxlan_max = vni(&form.vxlan_max, "vxlan_max", &mut errors);
    if let (Some(lo), Some(hi)) = (vxlan_min, vxlan_max) {
        if lo > hi {
            errors.push(FieldError::new(
                "vxlan_max",
                "the VXLAN range ends before it starts",
            ));
        }
    }
    match (addressing, vxlan_min, vxlan_max) {
        (Some(addressing), Some(vxlan_min), Some(vxlan_max)) if errors.is_empty() => {
            Ok(NetworkSettings {
                hostname: hostname.to_owned(),
                management_nic: form.management_nic.clone(),
                data_nic: form.data_nic.clone(),
                addressing,
                bridge: bridge.to_owned(),
                vlan,
                mtu,
                vxlan_min,
                vxlan_max,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nics() -> Vec<String> {
        vec!["eno1".to_owned(), "eno2".to_owned()]
    }

    fn good() -> NetworkForm {
        NetworkForm {
            hostname: "node1".to_owned(),
            management_nic: "eno1".to_owned(),
            data_nic: "eno2".to_owned(),
            mode: "static".to_owned(),
            address: "10.0.0.5/24".to_owned(),
            gateway: "10.0.0.1".to_owned(),
            dns: "10.0.0.53, 10.0.0.54".to_owned(),
            bridge: "br-mgmt".to_owned(),
            vlan: "100".to_owned(),
            mtu: "9000".to_owned(),
            vxlan_min: "1".to_owned(),
            vxlan_max: "1000".to_owned(),
        }
    }

    fn fails(form: NetworkForm, field: &str) -> String {
        let errors = validate(&form, &nics()).expect_err("must be rejected");
        errors
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error for {field}: {errors:?}"))
            .message
            .clone()
    }

    #[test]
    fn a_good_static_form_validates_and_round_trips() {
        let s = validate(&good(), &nics()).unwrap();
        assert_eq!(s.vlan, Some(100));
        assert_eq!(s.mtu, 9000);
        assert_eq!(NetworkForm::from_settings(&s), good());
        let dhcp = NetworkForm {
            mode: "dhcp".to_owned(),
            dns: String::new(),
            vlan: String::new(),
            ..good()
        };
        let s = validate(&dhcp, &nics()).unwrap();
        assert_eq!(s.addressing, Addressing::Dhcp { dns: vec![] });
        assert_eq!(s.vlan, None);
    }

    #[test]
    fn bad_cidr_and_gateway_outside_are_refused() {
        for bad in [
            "10.0.0.5",
            "10.0.0.5/33",
            "10.0.0.300/24",
            "ten/8",
            "10.0.0.0/24",
        ] {
            let m = fails(
                NetworkForm {
                    address: bad.to_owned(),
                    ..good()
                },
                "address",
            );
            assert!(!m.is_empty(), "{bad}");
        }
        let m = fails(
            NetworkForm {
                gateway: "10.0.1.1".to_owned(),
                ..good()
            },
            "gateway",
        );
        assert!(m.contains("outside the subnet 10.0.0.0/24"), "{m}");
        fails(
            NetworkForm {
                gateway: "10.0.0.5".to_owned(),
                ..good()
            },
            "gateway",
        );
    }

    #[test]
    fn vlan_mtu_and_vxlan_bounds() {
        for bad in ["0", "4095", "text", "-1", "1.5", "99999999999"] {
            fails(
                NetworkForm {
                    vlan: bad.to_owned(),
                    ..good()
                },
                "vlan",
            );
        }
        for bad in ["1279", "9217", "", "jumbo"] {
            fails(
                NetworkForm {
                    mtu: bad.to_owned(),
                    ..good()
                },
                "mtu",
            );
        }
        for ok in ["1280", "9216"] {
            validate(
                &NetworkForm {
                    mtu: ok.to_owned(),
                    ..good()
                },
                &nics(),
            )
            .unwrap();
        }
        fails(
            NetworkForm {
                vxlan_min: "10".to_owned(),
                vxlan_max: "5".to_owned(),
                ..good()
            },
            "vxlan_max",
        );
        fails(
            NetworkForm {
                vxlan_max: "16777216".to_owned(),
                ..good()
            },
            "vxlan_max",
        );
    }

    #[test]
    fn hostnames_are_lowercase_ascii_labels() {
        for bad in [
            "my node",
            "Node1",
            "nödé",
            "NÖDE",
            &"a".repeat(64),
            "-node",
            "node-",
            "a..b",
            "",
            "<script>alert(1)</script>",
        ] {
            fails(
                NetworkForm {
                    hostname: bad.to_owned(),
                    ..good()
                },
                "hostname",
            );
        }
        validate_hostname(&"a".repeat(63)).unwrap();
        validate_hostname("node-1.lab.example").unwrap();
    }

    #[test]
    fn nics_must_be_probed_ones_and_all_errors_come_at_once() {
        let errors = validate(
            &NetworkForm {
                management_nic: "eth9".to_owned(),
                vlan: "0".to_owned(),
                mtu: "1".to_owned(),
                bridge: "a-bridge-name-too-long".to_owned(),
                mode: "magic".to_owned(),
                dns: "not-an-ip".to_owned(),
                ..good()
            },
            &nics(),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["management_nic", "dns", "mode", "bridge", "vlan", "mtu"]
        );
    }
}
