//! The whole-node rules: a good network of every shape passes; each must-fail input is refused with the
//! field it is about.

use stackbox_network::{
    Addressing, Bond, BondMode, HostError, HostWarning, NetworkSettings, NicFact, check_host,
};

fn nics(names: &[&str]) -> Vec<NicFact> {
    names
        .iter()
        .map(|n| NicFact {
            name: (*n).to_owned(),
            carrier: Some(true),
        })
        .collect()
}

fn ip(text: &str) -> std::net::IpAddr {
    text.parse().expect("test address")
}

/// A tagged management VLAN on an LACP bond under a bridge, with a static address; VXLAN on the bond.
fn good() -> NetworkSettings {
    NetworkSettings {
        hostname: "node1.lab".to_owned(),
        management_nic: "bond0".to_owned(),
        data_nic: "bond0".to_owned(),
        addressing: Addressing::Static {
            address: "10.0.0.5/24".parse().expect("net"),
            gateway: ip("10.0.0.1"),
            dns: vec![ip("10.0.0.53")],
        },
        bridge: "br-mgmt".to_owned(),
        vlan: Some(100),
        mtu: 9000,
        vxlan_min: 1,
        vxlan_max: 1000,
        bonds: vec![Bond {
            name: "bond0".to_owned(),
            mode: BondMode::Lacp,
            nics: vec!["eno1".to_owned(), "eno2".to_owned()],
        }],
        management_mtu: Some(1500),
        data_address: None,
        ntp: vec!["ntp.lab".to_owned(), "10.0.0.123".to_owned()],
    }
}

fn machine() -> Vec<NicFact> {
    nics(&["eno1", "eno2", "eno3"])
}

/// The fields of every error the settings are refused with.
fn refused(s: &NetworkSettings, on: &[NicFact]) -> Vec<(&'static str, String)> {
    match check_host(s, on) {
        Ok(warnings) => panic!("accepted, with warnings {warnings:?}: {s:#?}"),
        Err(errors) => errors.iter().map(|e| (e.field(), e.to_string())).collect(),
    }
}

#[test]
fn every_good_shape_passes() {
    assert_eq!(check_host(&good(), &machine()), Ok(vec![]));
    let mut plain = good();
    plain.bonds.clear();
    plain.management_nic = "eno1".to_owned();
    plain.data_nic = "eno2".to_owned();
    plain.vlan = None;
    plain.management_mtu = None;
    plain.data_address = Some("10.30.0.5/24".parse().expect("net"));
    plain.addressing = Addressing::Dhcp { dns: vec![] };
    assert_eq!(check_host(&plain, &machine()), Ok(vec![]));
}

#[test]
fn a_nic_without_link_is_a_warning_not_a_refusal() {
    let mut on = machine();
    on[1].carrier = Some(false);
    assert_eq!(
        check_host(&good(), &on),
        Ok(vec![HostWarning::NoCarrier("eno2".to_owned())])
    );
    assert_eq!(
        HostWarning::NoCarrier("eno2".to_owned()).to_string(),
        "`eno2` has no link: check its cable and switch port"
    );
}

#[test]
fn management_addresses_no_host_is_reached_on_are_refused() {
    for (address, says) in [
        ("224.0.0.5/24", "multicast"),
        ("169.254.1.1/16", "link-local"),
        ("127.0.0.2/8", "loopback"),
        ("10.0.0.0/24", "network or broadcast"),
        ("10.0.0.255/24", "network or broadcast"),
    ] {
        let mut s = good();
        s.addressing = Addressing::Static {
            address: address.parse().expect("net"),
            gateway: ip("10.0.0.1"),
            dns: vec![ip("10.0.0.53")],
        };
        let errors = refused(&s, &machine());
        assert!(
            errors
                .iter()
                .any(|(f, m)| *f == "address" && m.contains(says)),
            "{address}: {errors:?}"
        );
    }
}

/// One must-fail case: what to change, the field that must be named and words the reason must hold.
type Case = (
    &'static str,
    fn(&mut NetworkSettings),
    &'static str,
    &'static str,
);

const CASES: &[Case] = &[
    (
        "bridge named like a NIC",
        |s| s.bridge = "eno3".into(),
        "bridge",
        "the NIC eno3",
    ),
    (
        "bond named like a NIC",
        |s| s.bonds[0].name = "eno3".into(),
        "bonds",
        "the NIC eno3",
    ),
    (
        "bond named like the bridge",
        |s| s.bridge = "bond0".into(),
        "bridge",
        "the bond bond0",
    ),
    (
        "bridge name too long",
        |s| s.bridge = "bridge-management".into(),
        "bridge",
        "1 to 15",
    ),
    (
        "bond of an unknown NIC",
        |s| s.bonds[0].nics[1] = "eno9".into(),
        "bonds",
        "eno9",
    ),
    (
        "bond without NICs",
        |s| s.bonds[0].nics.clear(),
        "bonds",
        "has no NIC",
    ),
    (
        "NIC in two bonds",
        |s| {
            s.bonds.push(Bond {
                name: "bond1".into(),
                mode: BondMode::ActiveBackup,
                nics: vec!["eno2".into()],
            });
            s.data_nic = "bond1".into();
            s.management_mtu = None;
        },
        "bonds",
        "in bond bond0",
    ),
    (
        "bond NIC used on its own",
        |s| {
            s.data_nic = "eno1".into();
            s.management_mtu = None;
        },
        "data_nic",
        "in bond bond0",
    ),
    (
        "unknown data NIC",
        |s| s.data_nic = "eth7".into(),
        "data_nic",
        "not a NIC of this machine nor a bond (bond0)",
    ),
    (
        "management MTU above its NIC's",
        |s| {
            s.mtu = 1500;
            s.management_mtu = Some(9000);
        },
        "management_mtu",
        "above the MTU 1500",
    ),
    ("MTU out of range", |s| s.mtu = 70000, "mtu", "1280 to 9216"),
    ("VLAN 4095", |s| s.vlan = Some(4095), "vlan", "4094"),
    (
        "data address where VXLAN rides on management",
        |s| s.data_address = Some("10.30.0.5/24".parse().expect("net")),
        "data_address",
        "leave the data address empty",
    ),
    (
        "data address in the management subnet",
        |s| {
            s.bonds.clear();
            s.management_nic = "eno1".into();
            s.data_nic = "eno2".into();
            s.management_mtu = None;
            s.data_address = Some("10.0.0.77/24".parse().expect("net"));
        },
        "data_address",
        "management subnet 10.0.0.0/24",
    ),
    (
        "data address link-local",
        |s| {
            s.bonds.clear();
            s.management_nic = "eno1".into();
            s.data_nic = "eno2".into();
            s.management_mtu = None;
            s.data_address = Some("169.254.0.9/16".parse().expect("net"));
        },
        "data_address",
        "link-local",
    ),
    (
        "gateway outside the subnet",
        |s| {
            s.addressing = Addressing::Static {
                address: "10.0.0.5/24".parse().expect("net"),
                gateway: "10.9.0.1".parse().expect("ip"),
                dns: vec!["10.0.0.53".parse().expect("ip")],
            }
        },
        "gateway",
        "outside",
    ),
    (
        "static address without name servers",
        |s| {
            s.addressing = Addressing::Static {
                address: "10.0.0.5/24".parse().expect("net"),
                gateway: "10.0.0.1".parse().expect("ip"),
                dns: vec![],
            }
        },
        "dns",
        "",
    ),
    (
        "four name servers",
        |s| {
            s.addressing = Addressing::Dhcp {
                dns: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
                    .iter()
                    .map(|d| d.parse().expect("ip"))
                    .collect(),
            }
        },
        "dns",
        "",
    ),
    (
        "an NTP server that is no name",
        |s| s.ntp = vec!["ntp server!".into()],
        "ntp",
        "neither an IP address nor a host name",
    ),
    (
        "five NTP servers",
        |s| s.ntp = vec!["a.lab".into(); 5],
        "ntp",
        "at most 4",
    ),
    (
        "reversed VXLAN range",
        |s| {
            s.vxlan_min = 500;
            s.vxlan_max = 20;
        },
        "vxlan_max",
        "below first",
    ),
    (
        "host name with an underscore",
        |s| s.hostname = "node_1".into(),
        "hostname",
        "",
    ),
];

#[test]
fn must_fail_networks_are_refused_with_their_field() {
    for (what, change, field, says) in CASES {
        let mut s = good();
        change(&mut s);
        let errors = refused(&s, &machine());
        assert!(
            errors.iter().any(|(f, m)| f == field && m.contains(says)),
            "{what}: expected `{field}` saying `{says}`, got {errors:?}"
        );
    }
}

#[test]
fn a_vlan_interface_named_like_a_nic_is_refused() {
    let errors = refused(&good(), &nics(&["eno1", "eno2", "vlan100"]));
    assert_eq!(
        errors,
        vec![(
            "vlan",
            "`vlan100` is already the name of the NIC vlan100; choose another name".to_owned()
        )]
    );
    assert!(matches!(
        check_host(&good(), &nics(&["eno1"])),
        Err(ref e) if e.contains(&HostError::Unknown { field: "bonds", name: "eno2".into(), bonds: vec![] })
    ));
}
