//! The rules of a provider network on its own: its NIC and label, and its gateway and address pool inside
//! its subnet. How it sits beside the cluster's other networks is the cluster configuration's business.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::ProviderNetwork;
use crate::names::{is_dns_label, is_ifname};

/// Why a provider network is refused; `Display` is the wording of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The NIC is not an interface name.
    #[error("`{0}` is not an interface name")]
    Nic(String),
    /// The label is not a DNS label.
    #[error("must be a lowercase label")]
    Name,
    /// The gateway or an end of the pool lies outside the subnet.
    #[error("{address} is outside {cidr}")]
    Outside {
        /// `gateway`, `pool_start` or `pool_end`.
        field: &'static str,
        /// The address.
        address: IpAddr,
        /// The subnet.
        cidr: IpNet,
    },
    /// The pool ends before it starts.
    #[error("{end} comes before pool_start {start}")]
    PoolReversed {
        /// The pool's first address.
        start: IpAddr,
        /// The pool's last address.
        end: IpAddr,
    },
    /// The gateway would be handed out.
    #[error("{gateway} lies inside the pool {start}-{end}")]
    GatewayInPool {
        /// The gateway.
        gateway: IpAddr,
        /// The pool's first address.
        start: IpAddr,
        /// The pool's last address.
        end: IpAddr,
    },
}

impl ProviderError {
    /// The field of the provider network it is about (`nic`, `name`, `gateway`, `pool_start`, `pool_end`).
    pub fn field(&self) -> &'static str {
        match self {
            ProviderError::Nic(_) => "nic",
            ProviderError::Name => "name",
            ProviderError::Outside { field, .. } => field,
            ProviderError::PoolReversed { .. } => "pool_end",
            ProviderError::GatewayInPool { .. } => "gateway",
        }
    }
}

impl ProviderNetwork {
    /// Every problem of the network on its own, in the order of its fields.
    pub fn check(&self) -> Vec<ProviderError> {
        let mut errors = Vec::new();
        if !is_ifname(&self.nic) {
            errors.push(ProviderError::Nic(self.nic.clone()));
        }
        if !is_dns_label(&self.name) {
            errors.push(ProviderError::Name);
        }
        for (field, address) in [
            ("gateway", self.gateway),
            ("pool_start", self.pool_start),
            ("pool_end", self.pool_end),
        ] {
            if !self.cidr.contains(&address) {
                errors.push(ProviderError::Outside {
                    field,
                    address,
                    cidr: self.cidr,
                });
            }
        }
        let (start, end) = (self.pool_start, self.pool_end);
        if start > end {
            errors.push(ProviderError::PoolReversed { start, end });
        } else if start <= self.gateway && self.gateway <= end {
            errors.push(ProviderError::GatewayInPool {
                gateway: self.gateway,
                start,
                end,
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ProviderNetwork {
        ProviderNetwork {
            name: "provider".to_owned(),
            nic: "eno3".to_owned(),
            cidr: "203.0.113.0/24".parse().unwrap(),
            gateway: "203.0.113.1".parse().unwrap(),
            pool_start: "203.0.113.100".parse().unwrap(),
            pool_end: "203.0.113.200".parse().unwrap(),
        }
    }

    fn problems(p: ProviderNetwork) -> Vec<String> {
        p.check()
            .iter()
            .map(|e| format!("{}: {e}", e.field()))
            .collect()
    }

    #[test]
    fn a_good_provider_network_passes() {
        assert!(good().check().is_empty());
    }

    #[test]
    fn must_fail_provider_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            problems(ProviderNetwork {
                gateway: ip("198.51.100.1"),
                ..good()
            }),
            ["gateway: 198.51.100.1 is outside 203.0.113.0/24"]
        );
        assert_eq!(
            problems(ProviderNetwork {
                gateway: ip("203.0.113.150"),
                ..good()
            }),
            ["gateway: 203.0.113.150 lies inside the pool 203.0.113.100-203.0.113.200"]
        );
        assert_eq!(
            problems(ProviderNetwork {
                pool_start: ip("203.0.113.201"),
                ..good()
            }),
            ["pool_end: 203.0.113.200 comes before pool_start 203.0.113.201"]
        );
        assert_eq!(
            problems(ProviderNetwork {
                nic: "eth1/0".to_owned(),
                name: "Provider".to_owned(),
                pool_end: ip("198.51.100.9"),
                ..good()
            }),
            [
                "nic: `eth1/0` is not an interface name",
                "name: must be a lowercase label",
                "pool_end: 198.51.100.9 is outside 203.0.113.0/24",
                "pool_end: 198.51.100.9 comes before pool_start 203.0.113.100",
            ]
        );
    }
}
