//! The wizard's network form: what the operator typed (strings, shown back as typed) and how it becomes
//! the network model of `stackbox_network`. Parsing is here; every rule is the network crate's, the same
//! ones the installer checks a cluster configuration with. Validation is pure, so every must-fail input is
//! a unit test.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use stackbox_network::{
    Addressing, Bond, BondMode, DnsError, NetworkSettings, NicFact, RangeError, VniRange,
    check_dns, check_gateway, check_host, check_host_address, check_hostname, check_ifname,
    check_mtu, check_vlan, check_vni,
};

use crate::error::FieldError;

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
    /// NICs bonded with the management NIC (commas or spaces), empty for none: the management NIC and
    /// these become `bond0` (and so does the data NIC when it is the management NIC).
    pub bond_with: String,
    /// `lacp` (802.3ad, the switch ports form a LAG; the default) or `active-backup`.
    pub bond_mode: String,
    /// The MTU of the management VLAN and bridge, empty for the NIC's own.
    pub management_mtu: String,
    /// The data NIC's own static address with its prefix, when it is another NIC; empty for DHCP.
    pub data_address: String,
    /// NTP servers (host names or addresses, commas or spaces), empty for the image's.
    pub ntp: String,
}

/// The name of the bond the form makes.
pub const FORM_BOND: &str = "bond0";

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
            management_nic: form_nic(s, &s.management_nic),
            data_nic: form_nic(s, &s.data_nic),
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
            ..extras_of(s)
        }
    }
}

/// The NIC the form shows for an interface of the settings: a bond's first NIC.
fn form_nic(s: &NetworkSettings, port: &str) -> String {
    s.bond(port)
        .and_then(|b| b.nics.first().cloned())
        .unwrap_or_else(|| port.to_owned())
}

/// The fields beyond the first form's: the bond, the management MTU, the data address, NTP; and the
/// management and data NICs as the form names them (a bond's first NIC).
fn extras_of(s: &NetworkSettings) -> NetworkForm {
    let mut form = NetworkForm {
        management_mtu: s.management_mtu.map(|m| m.to_string()).unwrap_or_default(),
        data_address: s.data_address.map(|a| a.to_string()).unwrap_or_default(),
        ntp: s.ntp.join(", "),
        ..NetworkForm::default()
    };
    if let Some(bond) = s.bond(&s.management_nic) {
        form.bond_with = bond.nics.get(1..).unwrap_or_default().join(", ");
        form.bond_mode = match bond.mode {
            BondMode::Lacp => "lacp",
            BondMode::ActiveBackup => "active-backup",
        }
        .to_owned();
    }
    form
}

/// The bond, the management MTU, the data address and the NTP servers of the form, each checked on its
/// own (the whole node's rules come after).
struct Extras {
    bond: Option<Bond>,
    management_mtu: Option<u32>,
    data_address: Option<IpNet>,
    ntp: Vec<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn extras(form: &NetworkForm, errors: &mut Vec<FieldError>) -> Extras {
    let with = words(&form.bond_with);
    let mode = match form.bond_mode.trim() {
        "" | "lacp" => Some(BondMode::Lacp),
        "active-backup" => Some(BondMode::ActiveBackup),
        _ => {
            errors.push(FieldError::new("bond_mode", "choose LACP or active-backup"));
            None
        }
    };
    let bond = match mode {
        Some(mode) if !with.is_empty() => {
            if with.contains(&form.management_nic) {
                errors.push(FieldError::new(
                    "bond_with",
                    "list the NICs bonded with the management NIC, not the management NIC itself",
                ));
            }
            let mut nics = vec![form.management_nic.clone()];
            nics.extend(with);
            Some(Bond {
                name: FORM_BOND.to_owned(),
                mode,
                nics,
            })
        }
        _ => None,
    };
    let management_mtu = match form.management_mtu.trim() {
        "" => None,
        text => number(text, "management_mtu", RangeError::Mtu, check_mtu, errors),
    };
    let data_address = match form.data_address.trim() {
        "" => None,
        text => match text.parse::<IpNet>() {
            Ok(net) => Some(net),
            Err(_) => {
                errors.push(FieldError::new(
                    "data_address",
                    "enter the address with its prefix length in CIDR form, e.g. 10.30.0.5/24",
                ));
                None
            }
        },
    };
    Extras {
        bond,
        management_mtu,
        data_address,
        ntp: words(&form.ntp),
    }
}

/// Parses an unsigned integer the way an operator types it (surrounding spaces allowed, nothing else).
fn parse_number(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 9 {
        return None;
    }
    t.parse().ok()
}

/// Parses a number and checks it with `check`; a text that is not a whole number is refused as `kind`.
fn number<T>(
    text: &str,
    field: &'static str,
    kind: RangeError,
    check: fn(u32) -> Result<T, RangeError>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match parse_number(text).ok_or(kind).and_then(check) {
        Ok(value) => Some(value),
        Err(e) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
    }
}

/// The name servers, `None` when the list does not parse (the error says why).
fn parse_dns(text: &str, errors: &mut Vec<FieldError>) -> Option<Vec<IpAddr>> {
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
                return None;
            }
        }
    }
    if let Err(e) = check_dns(&out, false) {
        errors.push(FieldError::new("dns", e.to_string()));
    }
    Some(out)
}

/// The static addressing of the form, or `None` with the reasons in `errors`. `dns` is `None` when the
/// name servers did not parse (already reported).
fn static_addressing(
    form: &NetworkForm,
    dns: Option<Vec<IpAddr>>,
    errors: &mut Vec<FieldError>,
) -> Option<Addressing> {
    let address = match form.address.trim().parse::<IpNet>() {
        Ok(net) => match check_host_address(net.addr(), &net) {
            Ok(()) => Some(net),
            Err(e) => {
                errors.push(FieldError::new("address", e.to_string()));
                None
            }
        },
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
    // A list that did not parse, or has too many servers, was reported by `parse_dns`.
    if let Some(servers) = &dns
        && let Err(e @ DnsError::NoneForStatic) = check_dns(servers, true)
    {
        errors.push(FieldError::new("dns", e.to_string()));
    }
    let dns = dns.unwrap_or_default();
    let (address, gateway) = (address?, gateway?);
    match check_gateway(&address, gateway) {
        Ok(()) => Some(Addressing::Static {
            address,
            gateway,
            dns,
        }),
        Err(e) => {
            errors.push(FieldError::new("gateway", e.to_string()));
            None
        }
    }
}

/// Checks that both NICs are among the probed ones.
fn check_nics(form: &NetworkForm, nics: &[String], errors: &mut Vec<FieldError>) {
    for (field, nic) in [
        ("management_nic", &form.management_nic),
        ("data_nic", &form.data_nic),
    ] {
        if !nics.iter().any(|n| n == nic) {
            let found = if nics.is_empty() {
                "(none found)".to_owned()
            } else {
                nics.join(", ")
            };
            errors.push(FieldError::new(
                field,
                format!("choose one of the NICs found on this machine: {found}"),
            ));
        }
    }
}

/// Validates the form against the probed NIC names; returns every problem at once, so the page can
/// show each beside its field.
pub fn validate(form: &NetworkForm, nics: &[String]) -> Result<NetworkSettings, Vec<FieldError>> {
    let mut errors = Vec::new();
    let hostname = form.hostname.trim();
    if let Err(e) = check_hostname(hostname) {
        errors.push(FieldError::new("hostname", e.to_string()));
    }
    check_nics(form, nics, &mut errors);
    let dns = parse_dns(&form.dns, &mut errors);
    let addressing = match form.mode.as_str() {
        "dhcp" => dns.clone().map(|dns| Addressing::Dhcp { dns }),
        "static" => static_addressing(form, dns, &mut errors),
        _ => {
            errors.push(FieldError::new("mode", "choose DHCP or a static address"));
            None
        }
    };
    let bridge = form.bridge.trim();
    if let Err(e) = check_ifname(bridge) {
        errors.push(FieldError::new(
            "bridge",
            format!("a bridge name {}", e.rule()),
        ));
    }
    let vlan = match form.vlan.trim() {
        "" => None,
        text => number(text, "vlan", RangeError::Vlan, check_vlan, &mut errors),
    };
    let mtu = number(&form.mtu, "mtu", RangeError::Mtu, check_mtu, &mut errors);
    let vni = |text: &str, field: &'static str, errors: &mut Vec<FieldError>| {
        number(text, field, RangeError::Vni, check_vni, errors)
    };
    let extra = extras(form, &mut errors);
    let vxlan_min = vni(&form.vxlan_min, "vxlan_min", &mut errors);
    let vxlan_max = vni(&form.vxlan_max, "vxlan_max", &mut errors);
    if let (Some(first), Some(last)) = (vxlan_min, vxlan_max)
        && !(VniRange { first, last }.check().is_empty())
    {
        errors.push(FieldError::new(
            "vxlan_max",
            "the VXLAN range ends before it starts",
        ));
    }
    match (addressing, mtu, vxlan_min, vxlan_max) {
        (Some(addressing), Some(mtu), Some(vxlan_min), Some(vxlan_max)) if errors.is_empty() => {
            // With a bond, the management NIC (and the data NIC when it is the same) is the bond.
            let (management_nic, data_nic) = match &extra.bond {
                Some(bond) if form.data_nic == form.management_nic => {
                    (bond.name.clone(), bond.name.clone())
                }
                Some(bond) => (bond.name.clone(), form.data_nic.clone()),
                None => (form.management_nic.clone(), form.data_nic.clone()),
            };
            let settings = NetworkSettings {
                hostname: hostname.to_owned(),
                management_nic,
                data_nic,
                addressing,
                bridge: bridge.to_owned(),
                vlan,
                mtu,
                vxlan_min,
                vxlan_max,
                bonds: extra.bond.into_iter().collect(),
                management_mtu: extra.management_mtu,
                data_address: extra.data_address,
                ntp: extra.ntp,
            };
            // The whole node's rules: names that clash with a NIC, MTUs, addresses across fields.
            let facts: Vec<NicFact> = nics
                .iter()
                .map(|n| NicFact {
                    name: n.clone(),
                    carrier: None,
                })
                .collect();
            match check_host(&settings, &facts) {
                Ok(_) => Ok(settings),
                Err(host) => Err(host
                    .iter()
                    .map(|e| {
                        // The form names its bond by the NICs bonded with the management NIC.
                        let field = match e.field() {
                            "bonds" => "bond_with",
                            other => other,
                        };
                        FieldError::new(field, e.to_string())
                    })
                    .collect()),
            }
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
            ..NetworkForm::default()
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
        check_hostname(&"a".repeat(63)).unwrap();
        check_hostname("node-1.lab.example").unwrap();
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

    #[test]
    fn a_bond_an_mtu_a_data_address_and_ntp_go_through_the_form_and_back() {
        let mut f = good();
        f.data_nic = "eno1".to_owned();
        f.bond_with = "eno2".to_owned();
        f.bond_mode = "active-backup".to_owned();
        f.management_mtu = "1500".to_owned();
        f.ntp = "ntp.lab, 10.0.0.123".to_owned();
        let s = validate(&f, &nics()).unwrap();
        assert_eq!(s.management_nic, FORM_BOND);
        assert_eq!(s.data_nic, FORM_BOND, "the data NIC was the management NIC");
        assert_eq!(s.bonds[0].nics, ["eno1", "eno2"]);
        assert_eq!(s.bonds[0].mode, BondMode::ActiveBackup);
        assert_eq!(s.management_mtu, Some(1500));
        assert_eq!(s.ntp, ["ntp.lab", "10.0.0.123"]);
        let back = NetworkForm::from_settings(&s);
        assert_eq!(back.management_nic, "eno1");
        assert_eq!(back.bond_with, "eno2");
        assert_eq!(validate(&back, &nics()).unwrap(), s);

        let mut data = good();
        data.data_address = "10.30.0.5/24".to_owned();
        let s = validate(&data, &nics()).unwrap();
        assert_eq!(s.data_address, Some("10.30.0.5/24".parse().unwrap()));
        assert_eq!(NetworkForm::from_settings(&s).data_address, "10.30.0.5/24");
    }

    #[test]
    fn must_fail_bonds_mtus_data_addresses_and_ntp_name_their_field() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "bond_mode",
                "round-robin",
                "bond_mode",
                "LACP or active-backup",
            ),
            (
                "bond_with",
                "eno1",
                "bond_with",
                "not the management NIC itself",
            ),
            (
                "bond_with",
                "eno9",
                "bond_with",
                "`eno9` is not a NIC of this machine",
            ),
            ("bond_with", "eno2", "data_nic", "in bond bond0"),
            ("management_mtu", "99999", "management_mtu", "1280 to 9216"),
            (
                "management_mtu",
                "9000",
                "management_mtu",
                "above the MTU 1500",
            ),
            ("data_address", "10.30.0.5", "data_address", "CIDR form"),
            (
                "data_address",
                "10.0.0.77/24",
                "data_address",
                "management subnet",
            ),
            (
                "ntp",
                "ntp server!",
                "ntp",
                "neither an IP address nor a host name",
            ),
        ];
        for (field, value, refused, says) in cases {
            let mut f = good();
            match *field {
                "bond_mode" => {
                    f.bond_with = "eno2".to_owned();
                    f.bond_mode = (*value).to_owned();
                }
                "bond_with" => f.bond_with = (*value).to_owned(),
                "management_mtu" => {
                    // VXLAN on the management NIC at 1500: its VLAN and bridge cannot carry more.
                    f.data_nic = "eno1".to_owned();
                    f.mtu = "1500".to_owned();
                    f.management_mtu = (*value).to_owned();
                }
                "data_address" => f.data_address = (*value).to_owned(),
                _ => f.ntp = (*value).to_owned(),
            }
            let errors = validate(&f, &nics()).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.field == *refused && e.message.contains(says)),
                "{field}={value}: expected {refused} saying {says:?}, got {errors:?}"
            );
        }
    }
}
