//! Addresses: a host address inside its subnet, the default gateway, name servers, subnets and overlaps.

use std::net::IpAddr;

use ipnet::IpNet;

/// The most name servers a node is given (the resolver's `MAXNS`).
pub const DNS_SERVERS_MAX: usize = 3;

/// Why an address is not a usable host address of a subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The address lies outside the subnet.
    #[error("{address} is outside the subnet {subnet}")]
    Outside {
        /// The address.
        address: IpAddr,
        /// The subnet, host bits cleared.
        subnet: IpNet,
    },
    /// The address is the subnet's network address, or its last (broadcast) address in a subnet of more
    /// than two addresses.
    #[error("{address} is the subnet's network or broadcast address, not a host address")]
    NetworkOrBroadcast {
        /// The address.
        address: IpAddr,
    },
    /// The address is of a kind no host is reached on: unspecified, loopback, multicast or link-local.
    #[error("{address} is a {kind} address, not one other hosts can reach this node on")]
    Special {
        /// The address.
        address: IpAddr,
        /// `unspecified`, `loopback`, `multicast`, `link-local` or `broadcast`.
        kind: &'static str,
    },
}

/// The kind of address `address` is when no host can be reached on it.
fn special_kind(address: IpAddr) -> Option<&'static str> {
    match address {
        _ if address.is_unspecified() => Some("unspecified"),
        _ if address.is_loopback() => Some("loopback"),
        _ if address.is_multicast() => Some("multicast"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("link-local"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("link-local"),
        _ => None,
    }
}

/// Checks that `address` is a host address of `subnet`: not unspecified, loopback, multicast or link-local;
/// inside the subnet, not its network address, and not its broadcast (last) address unless the subnet has
/// only two addresses (/31, /127).
///
/// This is the stricter of the wizard's and the installer's former rules: the network address is refused
/// at every prefix length, the last address in IPv6 subnets too.
pub fn check_host_address(address: IpAddr, subnet: &IpNet) -> Result<(), AddressError> {
    if let Some(kind) = special_kind(address) {
        return Err(AddressError::Special { address, kind });
    }
    if !subnet.contains(&address) {
        return Err(AddressError::Outside {
            address,
            subnet: subnet.trunc(),
        });
    }
    let two_or_fewer = subnet.prefix_len() >= subnet.max_prefix_len().saturating_sub(1);
    if address == subnet.network() || (!two_or_fewer && address == subnet.broadcast()) {
        return Err(AddressError::NetworkOrBroadcast { address });
    }
    Ok(())
}

/// Why a default gateway does not fit a static address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway lies outside the address's subnet.
    #[error("the gateway {gateway} is outside the subnet {subnet}")]
    Outside {
        /// The gateway.
        gateway: IpAddr,
        /// The address's subnet, host bits cleared.
        subnet: IpNet,
    },
    /// The gateway is the node's own address.
    #[error("the gateway cannot be the node's own address")]
    Own,
}

/// Checks a default gateway against the node's static `address` (with its prefix).
pub fn check_gateway(address: &IpNet, gateway: IpAddr) -> Result<(), GatewayError> {
    if !address.contains(&gateway) {
        Err(GatewayError::Outside {
            gateway,
            subnet: address.trunc(),
        })
    } else if gateway == address.addr() {
        Err(GatewayError::Own)
    } else {
        Ok(())
    }
}

/// Why a list of name servers is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// More than [`DNS_SERVERS_MAX`].
    #[error("at most three name servers")]
    TooMany,
    /// A static address without any name server.
    #[error("a static address needs at least one name server")]
    NoneForStatic,
}

/// Checks the name servers of a node; a static address needs at least one (DHCP may offer them).
pub fn check_dns(servers: &[IpAddr], is_static: bool) -> Result<(), DnsError> {
    if servers.len() > DNS_SERVERS_MAX {
        Err(DnsError::TooMany)
    } else if is_static && servers.is_empty() {
        Err(DnsError::NoneForStatic)
    } else {
        Ok(())
    }
}

/// Whether a network is written as a subnet, with no host bits set (`10.0.0.0/24`, not `10.0.0.5/24`).
pub fn is_subnet(net: &IpNet) -> bool {
    *net == net.trunc()
}

/// Whether two networks share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn host_addresses() {
        let lan = net("10.0.0.0/24");
        check_host_address(ip("10.0.0.5"), &lan).unwrap();
        check_host_address(ip("10.0.0.254"), &lan).unwrap();
        for edge in ["10.0.0.0", "10.0.0.255"] {
            assert_eq!(
                check_host_address(ip(edge), &lan),
                Err(AddressError::NetworkOrBroadcast { address: ip(edge) })
            );
        }
        let e = check_host_address(ip("10.0.1.5"), &net("10.0.0.5/24")).unwrap_err();
        assert_eq!(e.to_string(), "10.0.1.5 is outside the subnet 10.0.0.0/24");
        // Point-to-point: the upper address of a /31 is a host; the lower one is refused (stricter rule).
        check_host_address(ip("10.0.0.1"), &net("10.0.0.0/31")).unwrap();
        assert!(check_host_address(ip("10.0.0.0"), &net("10.0.0.0/31")).is_err());
        assert!(check_host_address(ip("10.0.0.7"), &net("10.0.0.7/32")).is_err());
        let v6 = net("2001:db8::/64");
        check_host_address(ip("2001:db8::1"), &v6).unwrap();
        assert!(check_host_address(ip("2001:db8::"), &v6).is_err());
        assert!(check_host_address(ip("2001:db8::ffff:ffff:ffff:ffff"), &v6).is_err());
    }

    #[test]
    fn addresses_no_host_is_reached_on_are_refused() {
        for (address, subnet, kind) in [
            ("0.0.0.0", "0.0.0.0/0", "unspecified"),
            ("127.0.0.5", "127.0.0.0/8", "loopback"),
            ("224.0.0.5", "224.0.0.0/24", "multicast"),
            ("169.254.3.4", "169.254.0.0/16", "link-local"),
            ("255.255.255.255", "255.255.255.255/32", "broadcast"),
            ("::1", "::1/128", "loopback"),
            ("fe80::5", "fe80::/64", "link-local"),
            ("ff02::1", "ff02::/64", "multicast"),
        ] {
            let e = check_host_address(ip(address), &net(subnet)).unwrap_err();
            assert_eq!(
                e,
                AddressError::Special {
                    address: ip(address),
                    kind
                },
                "{address}"
            );
            assert!(e.to_string().contains(kind), "{e}");
        }
    }

    #[test]
    fn gateways_and_name_servers() {
        let me = net("10.0.0.5/24");
        check_gateway(&me, ip("10.0.0.1")).unwrap();
        assert_eq!(
            check_gateway(&me, ip("10.0.1.1")).unwrap_err().to_string(),
            "the gateway 10.0.1.1 is outside the subnet 10.0.0.0/24"
        );
        assert_eq!(check_gateway(&me, ip("10.0.0.5")), Err(GatewayError::Own));
        check_dns(&[], false).unwrap();
        assert_eq!(check_dns(&[], true), Err(DnsError::NoneForStatic));
        let four = [
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.0.3"),
            ip("10.0.0.4"),
        ];
        check_dns(&four[..3], true).unwrap();
        assert_eq!(check_dns(&four, false), Err(DnsError::TooMany));
    }

    #[test]
    fn subnets_and_overlaps() {
        assert!(is_subnet(&net("10.20.0.0/24")));
        assert!(!is_subnet(&net("10.20.0.5/24")));
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.20.0.0/24")));
        assert!(overlaps(&net("10.20.0.128/25"), &net("10.20.0.0/24")));
        assert!(!overlaps(&net("10.21.0.0/24"), &net("10.20.0.0/24")));
    }
}
