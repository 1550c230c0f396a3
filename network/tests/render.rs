//! Golden files of every network shape: each shape's networkd files (and chrony's sources) in one golden
//! file, `==> NAME <==` before each file's text.

use std::path::Path;

use stackbox_common::test_utils::golden;
use stackbox_network::{
    Addressing, Bond, BondMode, NetworkSettings, NicFact, check_host, render_chrony_sources,
    render_networkd,
};

fn ip(text: &str) -> std::net::IpAddr {
    text.parse().expect("test address")
}

fn base() -> NetworkSettings {
    NetworkSettings {
        hostname: "node1".to_owned(),
        management_nic: "eno1".to_owned(),
        data_nic: "eno1".to_owned(),
        addressing: Addressing::Dhcp { dns: vec![] },
        bridge: "br-mgmt".to_owned(),
        vlan: None,
        mtu: 1500,
        vxlan_min: 1,
        vxlan_max: 1000,
        bonds: vec![],
        management_mtu: None,
        data_address: None,
        ntp: vec![],
    }
}

fn fixed(address: &str, gateway: &str) -> Addressing {
    Addressing::Static {
        address: address.parse().expect("net"),
        gateway: ip(gateway),
        dns: vec![ip("10.0.0.53"), ip("10.0.0.54")],
    }
}

/// Every shape the wizard can build, by name.
fn shapes() -> Vec<(&'static str, NetworkSettings)> {
    let plain_dhcp = base();
    let mut static_data = base();
    static_data.addressing = fixed("10.0.0.5/24", "10.0.0.1");
    static_data.data_nic = "eno2".to_owned();
    static_data.mtu = 9000;
    static_data.data_address = Some("10.30.0.5/24".parse().expect("net"));
    let mut dhcp_dns = base();
    dhcp_dns.addressing = Addressing::Dhcp {
        dns: vec![ip("10.0.0.53")],
    };
    dhcp_dns.data_nic = "bond1".to_owned();
    dhcp_dns.mtu = 9000;
    dhcp_dns.bonds = vec![Bond {
        name: "bond1".to_owned(),
        mode: BondMode::ActiveBackup,
        nics: vec!["eno2".to_owned(), "eno3".to_owned()],
    }];
    let mut vlan_bond_bridge = base();
    vlan_bond_bridge.addressing = fixed("10.0.0.5/24", "10.0.0.1");
    vlan_bond_bridge.management_nic = "bond0".to_owned();
    vlan_bond_bridge.data_nic = "bond0".to_owned();
    vlan_bond_bridge.vlan = Some(100);
    vlan_bond_bridge.mtu = 9000;
    vlan_bond_bridge.management_mtu = Some(1500);
    vlan_bond_bridge.bonds = vec![Bond {
        name: "bond0".to_owned(),
        mode: BondMode::Lacp,
        nics: vec!["eno1".to_owned(), "eno2".to_owned()],
    }];
    vlan_bond_bridge.ntp = vec!["ntp1.lab".to_owned(), "10.0.0.123".to_owned()];
    let mut vlan_nic = base();
    vlan_nic.vlan = Some(20);
    vec![
        ("plain-dhcp", plain_dhcp),
        ("static-with-data-nic", static_data),
        ("dhcp-with-data-bond", dhcp_dns),
        ("vlan-on-lacp-bond-under-bridge", vlan_bond_bridge),
        ("vlan-on-nic", vlan_nic),
    ]
}

#[test]
fn every_shape_renders_as_its_golden_file() {
    let nics: Vec<NicFact> = ["eno1", "eno2", "eno3"]
        .iter()
        .map(|n| NicFact {
            name: (*n).to_owned(),
            carrier: Some(true),
        })
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/networkd");
    for (shape, settings) in shapes() {
        assert_eq!(check_host(&settings, &nics), Ok(vec![]), "{shape}");
        let mut all = String::new();
        for file in render_networkd(&settings) {
            assert!(file.name.starts_with("10-stackbox-"), "{}", file.name);
            all.push_str(&format!("==> {} <==\n{}\n", file.name, file.text));
        }
        if let Some(chrony) = render_chrony_sources(&settings.ntp) {
            all.push_str(&format!("==> chrony: stackbox.sources <==\n{chrony}\n"));
        }
        golden(&dir.join(format!("{shape}.txt")), &all);
    }
}

#[test]
fn netdev_files_name_the_interface_they_create() {
    let (_, shape) = shapes().remove(3);
    let netdevs: Vec<String> = render_networkd(&shape)
        .iter()
        .filter_map(|f| f.netdev().map(str::to_owned))
        .collect();
    assert_eq!(netdevs, ["bond0", "br-mgmt", "vlan100"]);
    assert_eq!(render_chrony_sources(&[]), None);
}
