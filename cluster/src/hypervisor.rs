//! The admin desk at a compute node's hypervisor, run by its agent: a libvirt domain's state
//! (`virsh domstate`) and its restart when nova cannot recover it (`virsh destroy`, then `virsh start`).
//! Only nova's domains (`instance-` and eight hex digits) are touched. Each action is logged (the
//! agent's journal, tag `stackboxd`).

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::Command;

/// The agent's routes: `GET VM_PATH/{domain}` (its state), `POST VM_PATH/{domain}/restart`.
pub const VM_PATH: &str = "/agent/v1/vm";

/// A domain's state as libvirt tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainState {
    /// The domain (`instance-0000000a`).
    pub domain: String,
    /// `running`, `paused`, `shut off`, ...
    pub state: String,
    /// What was done to it, in order (empty for a look).
    pub done: Vec<String>,
}

/// Why the hypervisor was not asked, or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HypervisorError {
    /// Not one of nova's domain names.
    #[error("`{0}` is not one of nova's domains (instance- and eight hex digits)")]
    BadDomain(String),
    /// libvirt has no such domain here.
    #[error("no domain {0} on this node")]
    NoSuchDomain(String),
    /// virsh failed.
    #[error("virsh: {0}")]
    Virsh(String),
}

/// Checks that `domain` is one of nova's (`instance-%08x`).
pub fn check_domain(domain: &str) -> Result<(), HypervisorError> {
    let ok = domain
        .strip_prefix("instance-")
        .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(HypervisorError::BadDomain(domain.to_owned()))
    }
}

fn virsh(args: &[&str], domain: &str) -> Result<String, HypervisorError> {
    Command::new("virsh")
        .args(["--connect", "qemu:///system"])
        .args(args.iter().copied())
        .arg(domain)
        .run()
        .map(|o| o.stdout.trim().to_owned())
        .map_err(|e| {
            let text = stackbox_common::error::chain(&e);
            if text.contains("failed to get domain") || text.contains("Domain not found") {
                HypervisorError::NoSuchDomain(domain.to_owned())
            } else {
                HypervisorError::Virsh(text)
            }
        })
}

/// The domain's state.
pub fn state(domain: &str) -> Result<DomainState, HypervisorError> {
    check_domain(domain)?;
    Ok(DomainState {
        domain: domain.to_owned(),
        state: virsh(&["domstate"], domain)?,
        done: Vec::new(),
    })
}

/// Destroys the domain (a hard power-off; nothing when it is not running) and starts it again.
pub fn restart(domain: &str) -> Result<DomainState, HypervisorError> {
    let before = state(domain)?;
    tracing::info!(domain, state = %before.state, "admin desk: restarting a domain at the hypervisor");
    let mut done = vec![format!("was {}", before.state)];
    if before.state != "shut off" {
        virsh(&["destroy"], domain)?;
        done.push("virsh destroy".to_owned());
    }
    virsh(&["start"], domain)?;
    done.push("virsh start".to_owned());
    let after = state(domain)?;
    tracing::info!(domain, state = %after.state, "admin desk: domain restarted");
    Ok(DomainState { done, ..after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_novas_domains_are_touched() {
        check_domain("instance-0000000a").unwrap();
        check_domain("instance-00ABCdef").unwrap();
        for bad in [
            "instance-0000000",
            "instance-0000000g",
            "instance-0000000a0",
            "vm1",
            "instance-0000000a; reboot",
            "../instance-0000000a",
            "",
        ] {
            assert_eq!(
                check_domain(bad),
                Err(HypervisorError::BadDomain(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
