//! The network step's Apply: the stored settings applied with `stackbox_network`'s automatic rollback,
//! and the confirmation that comes back over the new address.
//!
//! Apply hands out a one-time confirmation token (32 random characters, kept only as its SHA-256 in
//! `STATE/network-confirm`, 0600) which the page carries to the new address in the URL's fragment (never
//! sent to a server, so never in a log); the confirmation page there posts it back. The new address has
//! no session cookie (a cookie belongs to the host it was set by): the token is the proof that the
//! operator who applied reaches the node over its new network.
//!
//! In plan mode (and on a fixture tree) nothing is applied: the files are written under `STATE/plan/` and
//! the probe says so; this fakes only the apply itself.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use stackbox_common::secret::random_string;
use stackbox_network::apply::system::SystemHost;
use stackbox_network::apply::{ApplyError, Host, Network, Paths, Status};
use stackbox_network::{Addressing, NetworkSettings, NicFact};

/// The seconds an operator has to confirm from the browser.
pub const CONFIRM_WITHIN: u64 = 120;

/// How long after answering the browser the wizard changes the network.
pub const APPLY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// A change applied from the wizard, waiting for its confirmation.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The seconds the operator has to confirm.
    pub within: u64,
    /// What the probe saw.
    pub seen: Vec<String>,
    /// The address the node is reached on once the change holds; `None` with DHCP (the lease decides).
    pub address: Option<IpAddr>,
    /// The one-time token the confirmation needs.
    pub token: String,
}

/// Plan mode's host: nothing on the machine changes.
struct PlanHost;

impl Host for PlanHost {
    fn arm_revert(&self, _: u64) -> Result<(), String> {
        Ok(())
    }
    fn disarm_revert(&self) -> Result<(), String> {
        Ok(())
    }
    fn delete_link(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn reload(&self, _: &[String]) -> Result<(), String> {
        Ok(())
    }
    fn reload_time_sources(&self) -> Result<(), String> {
        Ok(())
    }
    fn probe(&self, _: &NetworkSettings) -> Result<Vec<String>, String> {
        Ok(vec![
            "plan mode: nothing was applied; the files were written under STATE/plan/".to_owned(),
        ])
    }
}

/// Where the wizard's network changes go: the machine, or `STATE/plan/` in plan mode.
#[derive(Debug)]
pub struct NetworkStep {
    state_dir: PathBuf,
    plan_only: bool,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl NetworkStep {
    /// The step for a wizard keeping its state in `state_dir`.
    pub fn new(state_dir: &Path, plan_only: bool) -> NetworkStep {
        NetworkStep {
            state_dir: state_dir.to_owned(),
            plan_only,
        }
    }

    fn token_path(&self) -> PathBuf {
        self.state_dir.join("network-confirm")
    }

    fn with<T>(&self, work: impl FnOnce(&Network<'_>) -> T) -> T {
        with_network(&self.state_dir, self.plan_only, work)
    }

    /// Applies `settings` (blocking: call it off the async workers). The rules and a change already
    /// waiting are judged here, so that a refusal reaches the page; the change itself starts
    /// [`APPLY_DELAY`] later in a thread of its own, once the answer to the browser has left over the old
    /// address (plan mode applies at once: nothing moves).
    pub fn apply(
        &self,
        settings: &NetworkSettings,
        nics: &[NicFact],
    ) -> Result<Applied, ApplyError> {
        stackbox_network::check_host(settings, nics).map_err(ApplyError::Refused)?;
        if let Some((p, _)) = self.status()?.pending {
            return Err(ApplyError::AlreadyPending {
                applied_at: p.applied_at,
                deadline: p.deadline,
            });
        }
        let token = random_string(b"abcdefghijkmnopqrstuvwxyz23456789", 32)
            .map_err(|e| ApplyError::Host(e.to_string()))?;
        let path = self.token_path();
        stackbox_common::fs::write_atomic(&path, digest(&token).as_bytes(), 0o600).map_err(
            |source| ApplyError::Io {
                path: path.clone(),
                source,
            },
        )?;
        let address = match &settings.addressing {
            Addressing::Static { address, .. } => Some(address.addr()),
            Addressing::Dhcp { .. } => None,
        };
        let seen = if self.plan_only {
            self.with(|n| n.apply(settings, nics, CONFIRM_WITHIN))?.1
        } else {
            let (dir, settings, nics) = (self.state_dir.clone(), settings.clone(), nics.to_vec());
            std::thread::spawn(move || {
                std::thread::sleep(APPLY_DELAY);
                // A failure is reverted and recorded by the apply itself (history, journal, status).
                if let Err(e) =
                    with_network(&dir, false, |n| n.apply(&settings, &nics, CONFIRM_WITHIN))
                {
                    tracing::warn!("the network from the wizard was not applied: {e}");
                }
            });
            vec![format!(
                "the node moves to the new network in {} s; if its check fails, the previous network \
                 stays and the network page says why",
                APPLY_DELAY.as_secs()
            )]
        };
        Ok(Applied {
            within: CONFIRM_WITHIN,
            seen,
            address,
            token,
        })
    }

    /// Applies `settings` and keeps them once the probe passed, with no one to confirm (zero-touch): the
    /// probe is the safety net, and a failed one leaves the previous network. Nothing happens when they are
    /// the network already confirmed. Returns what the probe saw.
    pub fn apply_unattended(
        &self,
        settings: &NetworkSettings,
        nics: &[NicFact],
    ) -> Result<Vec<String>, ApplyError> {
        if self.status()?.current.as_ref() == Some(settings) {
            return Ok(vec!["the network is applied already".to_owned()]);
        }
        self.with(|n| {
            let (_, seen) = n.apply(settings, nics, CONFIRM_WITHIN)?;
            n.confirm()?;
            Ok(seen)
        })
    }

    /// Confirms the pending change when `token` is the one Apply handed out; `Ok(false)` when it is not
    /// (or none waits).
    pub fn confirm(&self, token: &str) -> Result<bool, ApplyError> {
        let Ok(stored) = std::fs::read_to_string(self.token_path()) else {
            return Ok(false);
        };
        let given = digest(token.trim());
        // Both are hex digests of one length: comparing every byte keeps the time independent of where
        // they differ.
        let same = stored.len() == given.len()
            && stored
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Ok(false);
        }
        self.with(|n| n.confirm())?;
        let _ = std::fs::remove_file(self.token_path());
        Ok(true)
    }

    /// The current, pending and last reverted network.
    pub fn status(&self) -> Result<Status, ApplyError> {
        self.with(|n| n.status())
    }
}

/// Runs `work` on the machine's network, or on `STATE/plan/` with nothing applied.
fn with_network<T>(state_dir: &Path, plan_only: bool, work: impl FnOnce(&Network<'_>) -> T) -> T {
    if plan_only {
        let net = Network::new(Paths::under(&state_dir.join("plan")), &PlanHost);
        work(&net)
    } else {
        let host = SystemHost {
            stackboxd: std::env::current_exe().unwrap_or_else(|_| "/usr/bin/stackboxd".into()),
            peers: Vec::new(),
            settle: std::time::Duration::from_secs(30),
        };
        let net = Network::new(Paths::system(), &host);
        work(&net)
    }
}

/// One row of the page's preview: how the node's traffic goes from a NIC to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRow {
    /// What the row carries (`management`, `data (VXLAN)`).
    pub role: &'static str,
    /// The chain, e.g. `eno1 + eno2 → bond0 (LACP) → vlan100 → br-mgmt`.
    pub chain: String,
    /// The address, e.g. `10.0.0.5/24 via 10.0.0.1` or `DHCP`.
    pub address: String,
}

/// The preview of what the host will look like.
pub fn preview(s: &NetworkSettings) -> Vec<PreviewRow> {
    let port = |name: &str| match s.bond(name) {
        Some(b) => format!(
            "{} → {} ({})",
            b.nics.join(" + "),
            b.name,
            match b.mode {
                stackbox_network::BondMode::Lacp => "LACP",
                stackbox_network::BondMode::ActiveBackup => "active-backup",
            }
        ),
        None => name.to_owned(),
    };
    let mut chain = port(&s.management_nic);
    if let Some(vlan) = s.vlan_ifname() {
        chain.push_str(&format!(" → {vlan}"));
    }
    chain.push_str(&format!(" → {}", s.bridge));
    let address = match &s.addressing {
        Addressing::Static {
            address, gateway, ..
        } => format!("{address} via {gateway}"),
        Addressing::Dhcp { .. } => "DHCP".to_owned(),
    };
    let mut rows = vec![PreviewRow {
        role: if s.data_shares_management() {
            "management and data (VXLAN)"
        } else {
            "management"
        },
        chain: format!("{chain} (MTU {})", s.management_bridge_mtu()),
        address,
    }];
    if !s.data_shares_management() {
        rows.push(PreviewRow {
            role: "data (VXLAN)",
            chain: format!("{} (MTU {})", port(&s.data_nic), s.mtu),
            address: s
                .data_address
                .map(|a| a.to_string())
                .unwrap_or_else(|| "DHCP".to_owned()),
        });
    }
    rows
}

/// Why a network change is refused on a member of a running cluster: it would move the address the
/// other members, the cloud's endpoints and its database reach this node on. Re-addressing a cluster is
/// a planned change of its own, not a network page's Apply. `held` is what the host holds now (link and
/// address); `applied` the network last confirmed, `None` for the image's DHCP default.
pub fn check_keeps_address(
    held: &[(String, IpAddr)],
    applied: Option<&NetworkSettings>,
    new: &NetworkSettings,
) -> Result<(), String> {
    let holds = |link: &str| held.iter().any(|(l, ip)| l == link && ip.is_ipv4());
    let kept = match &new.addressing {
        Addressing::Static { address, .. } => held.iter().any(|(_, ip)| *ip == address.addr()),
        // A DHCP lease follows the MAC address, which the bridge takes from the same first NIC.
        Addressing::Dhcp { .. } => match applied {
            Some(old) => {
                matches!(old.addressing, Addressing::Dhcp { .. })
                    && old.management_nic == new.management_nic
                    && old.bond(&old.management_nic) == new.bond(&new.management_nic)
            }
            None => holds(&new.management_nic),
        },
    };
    if kept {
        Ok(())
    } else {
        let now: Vec<String> = held
            .iter()
            .filter(|(l, ip)| ip.is_ipv4() && l != "lo")
            .map(|(l, ip)| format!("{ip} on {l}"))
            .collect();
        Err(format!(
            "this node is a member of a running cluster: a network change must keep the address it is \
             reached on ({}); re-addressing a cluster is a planned change, not an Apply",
            now.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(addressing: Addressing, nic: &str) -> NetworkSettings {
        NetworkSettings {
            hostname: "node1".to_owned(),
            management_nic: nic.to_owned(),
            data_nic: nic.to_owned(),
            addressing,
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

    fn fixed(address: &str) -> Addressing {
        Addressing::Static {
            address: address.parse().unwrap(),
            gateway: "10.0.0.1".parse().unwrap(),
            dns: vec!["10.0.0.53".parse().unwrap()],
        }
    }

    #[test]
    fn a_running_member_keeps_its_address() {
        let held = vec![
            ("lo".to_owned(), "127.0.0.1".parse().unwrap()),
            ("br-mgmt".to_owned(), "10.0.0.5".parse().unwrap()),
        ];
        let old = settings(fixed("10.0.0.5/24"), "eno1");
        let mut vlan = settings(fixed("10.0.0.5/24"), "eno1");
        vlan.vlan = Some(20);
        check_keeps_address(&held, Some(&old), &vlan).unwrap();
        let moved = settings(fixed("10.0.0.6/24"), "eno1");
        let e = check_keeps_address(&held, Some(&old), &moved).unwrap_err();
        assert!(
            e.contains("must keep the address it is reached on (10.0.0.5 on br-mgmt)"),
            "{e}"
        );
        let dhcp = settings(Addressing::Dhcp { dns: vec![] }, "eno1");
        assert!(
            check_keeps_address(&held, Some(&old), &dhcp).is_err(),
            "static to DHCP"
        );
        check_keeps_address(&held, Some(&dhcp), &dhcp).unwrap();
        let other_nic = settings(Addressing::Dhcp { dns: vec![] }, "eno2");
        assert!(
            check_keeps_address(&held, Some(&dhcp), &other_nic).is_err(),
            "DHCP on another NIC"
        );
        // On the image's default, DHCP stays where the NIC holds a lease now.
        let on_eno1 = vec![("eno1".to_owned(), "10.0.0.9".parse().unwrap())];
        check_keeps_address(&on_eno1, None, &dhcp).unwrap();
        assert!(check_keeps_address(&on_eno1, None, &other_nic).is_err());
    }
}
