//! Network interfaces: enumerated over netlink on the running system (name, MAC, MTU, carrier, kind), from
//! /sys/class/net under a fixture root, and in both cases enriched from sysfs (driver, speed, physical or
//! virtual, SR-IOV).

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage, State};
use serde::{Deserialize, Serialize};

use crate::system::Root;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// Interface name.
    pub name: String,
    /// MAC address, lowercase with colons; `None` for links without one.
    pub mac: Option<String>,
    /// MTU in bytes.
    pub mtu: Option<u32>,
    /// Whether the link has carrier (cable plugged, peer up); `None` when the kernel does not say.
    pub carrier: Option<bool>,
    /// RFC 2863 operational state (`up`, `down`, `unknown`, ...).
    pub operstate: Option<String>,
    /// Link speed in Mbit/s when the driver reports one.
    pub speed_mbps: Option<u32>,
    /// The kernel driver (`ixgbe`, `virtio_net`, `veth`, ...).
    pub driver: Option<String>,
    /// The link kind netlink reports for virtual links (`veth`, `bridge`, `dummy`, `vlan`, ...).
    pub kind: Option<String>,
    /// Backed by a device (PCI, virtio, USB); false for software links.
    pub physical: bool,
    /// Virtual functions the NIC can expose (`sriov_totalvfs`); `None` when not SR-IOV capable.
    pub sriov_totalvfs: Option<u32>,
}

/// Software link kinds that can carry a node's traffic to the outside (a container's veth, a macvlan).
const UPLINK_KINDS: &[&str] = &["veth", "macvlan", "macvtap", "ipvlan"];

impl Nic {
    /// Whether a software link can serve as the node's uplink (veth, macvlan, ipvlan); bridges, dummies,
    /// ifb and tun devices cannot.
    pub fn is_uplink(&self) -> bool {
        self.physical
            || self
                .kind
                .as_deref()
                .is_some_and(|k| UPLINK_KINDS.contains(&k))
    }

    fn new(name: String) -> Nic {
        Nic {
            name,
            mac: None,
            mtu: None,
            carrier: None,
            operstate: None,
            speed_mbps: None,
            driver: None,
            kind: None,
            physical: false,
            sriov_totalvfs: None,
        }
    }
}

/// Every interface but loopback: over netlink when `root` is the running system, else from sysfs.
pub fn probe(root: &Root) -> Result<Vec<Nic>, String> {
    let mut nics = if root.is_live() {
        netlink_links()?
    } else {
        sysfs_links(root)
    };
    nics.retain(|n| n.name != "lo");
    for nic in &mut nics {
        enrich_from_sysfs(root, nic);
    }
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nics)
}

/// Runs `work` against a netlink connection to the current network namespace, on a private
/// single-threaded runtime (the probes are synchronous; netlink is not).
fn with_netlink<T>(
    work: impl AsyncFnOnce(rtnetlink::Handle) -> Result<T, String>,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("starting the netlink runtime: {e}"))?;
    runtime.block_on(async {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("opening a netlink socket: {e}"))?;
        tokio::spawn(connection);
        work(handle).await
    })
}

/// Every link of the namespace.
async fn dump_links(handle: &rtnetlink::Handle) -> Result<Vec<LinkMessage>, String> {
    handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("dumping links over netlink: {e}"))
}

/// Dumps the links of the current network namespace over rtnetlink.
fn netlink_links() -> Result<Vec<Nic>, String> {
    with_netlink(async |handle| {
        Ok(dump_links(&handle)
            .await?
            .iter()
            .filter_map(nic_from_link_message)
            .collect())
    })
}

/// The IP addresses of the current network namespace, over rtnetlink: (interface, address).
pub fn addresses() -> Result<Vec<(String, std::net::IpAddr)>, String> {
    Ok(addresses_with_prefix()?
        .into_iter()
        .map(|(name, ip, _)| (name, ip))
        .collect())
}

/// The IP addresses of the current network namespace with their prefix lengths, over rtnetlink:
/// (interface, address, prefix length).
pub fn addresses_with_prefix() -> Result<Vec<(String, std::net::IpAddr, u8)>, String> {
    use rtnetlink::packet_route::address::AddressAttribute;
    with_netlink(async |handle| {
        let links = dump_links(&handle).await?;
        let name_of = |index: u32| {
            links
                .iter()
                .find(|l| l.header.index == index)
                .and_then(nic_from_link_message)
                .map(|n| n.name)
                .unwrap_or_default()
        };
        let messages: Vec<_> = handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| format!("dumping addresses over netlink: {e}"))?;
        let mut out = Vec::new();
        for msg in messages {
            for attr in &msg.attributes {
                if let AddressAttribute::Address(ip) = attr {
                    out.push((name_of(msg.header.index), *ip, msg.header.prefix_len));
                }
            }
        }
        Ok(out)
    })
}

/// The address the wizard is announced on: the first global IPv4 address on a physical NIC, else on any
/// interface, else the first global IPv6 address.
pub fn pick_management_address(
    addresses: &[(String, std::net::IpAddr)],
    nics: &[Nic],
) -> Option<std::net::IpAddr> {
    let global = |ip: &std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => {
            !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified()
        }
        std::net::IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    };
    let physical = |name: &str| nics.iter().any(|n| n.name == name && n.physical);
    let candidates: Vec<&(String, std::net::IpAddr)> =
        addresses.iter().filter(|(_, ip)| global(ip)).collect();
    candidates
        .iter()
        .find(|(n, ip)| ip.is_ipv4() && physical(n))
        .or_else(|| candidates.iter().find(|(_, ip)| ip.is_ipv4()))
        .or_else(|| candidates.first())
        .map(|(_, ip)| *ip)
}

/// The facts netlink gives about one link.
fn nic_from_link_message(msg: &LinkMessage) -> Option<Nic> {
    let mut nic = Nic::new(String::new());
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => nic.name = name.clone(),
            LinkAttribute::Address(bytes) if !bytes.is_empty() => nic.mac = Some(format_mac(bytes)),
            LinkAttribute::Mtu(mtu) => nic.mtu = Some(*mtu),
            LinkAttribute::Carrier(c) => nic.carrier = Some(*c != 0),
            LinkAttribute::OperState(state) => {
                nic.operstate = Some(operstate_name(state).to_owned())
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        nic.kind = Some(kind_name(kind));
                    }
                }
            }
            _ => {}
        }
    }
    (!nic.name.is_empty()).then_some(nic)
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Other(name) => name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn operstate_name(state: &State) -> &'static str {
    match state {
        State::Up => "up",
        State::Down => "down",
        State::LowerLayerDown => "lowerlayerdown",
        State::Testing => "testing",
        State::Dormant => "dormant",
        State::NotPresent => "notpresent",
        _ => "unknown",
    }
}

/// `aa:bb:cc:dd:ee:ff` from raw bytes.
pub fn format_mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Lists /sys/class/net under a fixture root, with the attributes netlink would have given.
fn sysfs_links(root: &Root) -> Vec<Nic> {
    root.list("/sys/class/net")
        .into_iter()
        .map(|name| {
            let dir = format!("/sys/class/net/{name}");
            let mut nic = Nic::new(name);
            nic.mac = root
                .attr(&format!("{dir}/address"))
                .filter(|m| !m.is_empty());
            nic.mtu = root
                .attr(&format!("{dir}/mtu"))
                .and_then(|m| m.parse().ok());
            nic.carrier = root
                .attr(&format!("{dir}/carrier"))
                .and_then(|c| parse_bool01(&c));
            nic.operstate = root.attr(&format!("{dir}/operstate"));
            // Netlink names the kind; sysfs has DEVTYPE for bridges, VLANs and macvlans, and a veth
            // shows itself by a peer link (iflink differs from ifindex) without a device behind it.
            let iflink = root.attr(&format!("{dir}/iflink"));
            let paired = iflink.is_some() && iflink != root.attr(&format!("{dir}/ifindex"));
            nic.kind = root
                .read(&format!("{dir}/uevent"))
                .and_then(|u| uevent_value(&u, "DEVTYPE"))
                .or_else(|| {
                    (paired && !root.exists(&format!("{dir}/device"))).then(|| "veth".to_owned())
                });
            nic
        })
        .collect()
}

/// Driver, speed, physical-or-virtual and SR-IOV from sysfs, for both enumeration paths.
fn enrich_from_sysfs(root: &Root, nic: &mut Nic) {
    let dir = format!("/sys/class/net/{}", nic.name);
    nic.physical = root.exists(&format!("{dir}/device"));
    nic.speed_mbps = root
        .attr(&format!("{dir}/speed"))
        .and_then(|s| parse_speed(&s));
    nic.driver = root
        .read(&format!("{dir}/device/uevent"))
        .and_then(|u| uevent_value(&u, "DRIVER"))
        .or_else(|| root.link_name(&format!("{dir}/device/driver")))
        .or_else(|| nic.kind.clone());
    nic.sriov_totalvfs = root
        .attr(&format!("{dir}/device/sriov_totalvfs"))
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u32| n > 0);
}

/// The value of `KEY=value` in a uevent file.
pub fn uevent_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim().to_owned())
}

/// Link speed: the kernel reports -1 (or nothing) for unknown.
pub fn parse_speed(text: &str) -> Option<u32> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|&s| s > 0)
        .and_then(|s| u32::try_from(s).ok())
}

fn parse_bool01(text: &str) -> Option<bool> {
    match text {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevent_and_speed() {
        let uevent = "DRIVER=ixgbe\nPCI_CLASS=20000\nPCI_SLOT_NAME=0000:3b:00.0\n";
        assert_eq!(uevent_value(uevent, "DRIVER").as_deref(), Some("ixgbe"));
        assert_eq!(uevent_value(uevent, "DEVTYPE"), None);
        assert_eq!(parse_speed("10000\n"), Some(10000));
        assert_eq!(parse_speed("-1"), None);
        assert_eq!(parse_speed("fast"), None);
        assert_eq!(parse_speed("0"), None);
    }

    #[test]
    fn management_address_prefers_ipv4_on_physical_nics() {
        let mut eth = Nic::new("eth0".into());
        eth.physical = true;
        let nics = vec![eth, Nic::new("br0".into())];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let addrs = vec![
            ("lo".to_owned(), ip("127.0.0.1")),
            ("br0".to_owned(), ip("192.0.2.9")),
            ("eth0".to_owned(), ip("fe80::1")),
            ("eth0".to_owned(), ip("2001:db8::5")),
            ("eth0".to_owned(), ip("198.51.100.7")),
        ];
        assert_eq!(
            pick_management_address(&addrs, &nics),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            pick_management_address(&addrs[..3], &nics),
            Some(ip("192.0.2.9"))
        );
        let v6_only = [addrs[0].clone(), addrs[2].clone(), addrs[3].clone()];
        assert_eq!(
            pick_management_address(&v6_only, &nics),
            Some(ip("2001:db8::5"))
        );
        assert_eq!(pick_management_address(&addrs[..1], &nics), None);
    }

    #[test]
    fn mac_format() {
        assert_eq!(
            format_mac(&[0x52, 0x54, 0, 0x12, 0x34, 0xab]),
            "52:54:00:12:34:ab"
        );
    }
}
