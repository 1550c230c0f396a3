//! Hardware probes: each a thin reader over a [`Root`] plus pure parsers with unit tests.

pub mod block;
pub mod cpu;
pub mod kvm;
pub mod memory;
pub mod net;
pub mod platform;

use serde::{Deserialize, Serialize};

use crate::system::Root;

/// Everything the probes found: the `facts` of a hardware report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// The host name.
    pub hostname: Option<String>,
    /// CPUs.
    pub cpu: cpu::CpuFacts,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// /dev/kvm and the KVM modules.
    pub kvm: kvm::KvmFacts,
    /// Network interfaces, loopback left out.
    pub nics: Vec<net::Nic>,
    /// Whole disks.
    pub disks: Vec<block::Disk>,
    /// Firmware, IOMMU, VM or container, clock.
    pub platform: platform::PlatformFacts,
}

/// A probe that could not read what every report needs.
#[derive(Debug, thiserror::Error)]
#[error("probing {what}: {reason}")]
pub struct ProbeError {
    /// What was being probed (`/proc/cpuinfo`, `network interfaces`, ...).
    pub what: String,
    /// Why it failed.
    pub reason: String,
}

fn required(root: &Root, abs: &str) -> Result<String, ProbeError> {
    root.read(abs).ok_or_else(|| ProbeError {
        what: root.path(abs).display().to_string(),
        reason: "cannot read it".into(),
    })
}

/// Runs every probe against `root`.
pub fn probe(root: &Root) -> Result<Facts, ProbeError> {
    fn fail(what: &'static str) -> impl Fn(String) -> ProbeError {
        move |reason| ProbeError {
            what: what.to_owned(),
            reason,
        }
    }
    let mut cpu =
        cpu::parse_cpuinfo(&required(root, "/proc/cpuinfo")?).map_err(fail("/proc/cpuinfo"))?;
    if let Some(list) = root.read("/sys/devices/system/cpu/online") {
        cpu.online = cpu::parse_cpu_list(&list).map_err(fail("/sys/devices/system/cpu/online"))?;
    }
    let memory_bytes = memory::parse_meminfo_total(&required(root, "/proc/meminfo")?)
        .map_err(fail("/proc/meminfo"))?;
    let nics = net::probe(root).map_err(fail("network interfaces"))?;
    let hostname = root
        .attr("/proc/sys/kernel/hostname")
        .or_else(|| root.attr("/etc/hostname"))
        .filter(|h| !h.is_empty());
    Ok(Facts {
        hostname,
        kvm: kvm::probe(root),
        platform: platform::probe(root, cpu.hypervisor_flag),
        cpu,
        memory_bytes,
        nics,
        disks: block::probe(root),
    })
}
