//! Judges the probed facts against a hardware profile and the node's roles: one [`Check`] per concern,
//! each with a stable dotted id, a status, a one-line summary and, when not passed, a remedy an operator
//! can act on.

use serde::Serialize;
use stackbox_hardware_profiles::{Profile, Requirements, Resource, Verdict};

use stackbox_machine::probe::Facts;
use stackbox_machine::probe::platform::Firmware;

/// The outcome of one check, or of a whole report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but not as it should in production.
    Warn,
    /// The node cannot serve its roles until this is fixed.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl From<Verdict> for Status {
    fn from(v: Verdict) -> Status {
        match v {
            Verdict::Warn => Status::Warn,
            Verdict::Fail => Status::Fail,
        }
    }
}

/// One judged concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable dotted id (`cpu.virtualization`, `nic.count`, ...).
    pub id: &'static str,
    /// pass, warn or fail.
    pub status: Status,
    /// What was found, in one line.
    pub summary: String,
    /// What to do about it; `None` when passed.
    pub remedy: Option<String>,
}

/// A hardware report: the profile, the roles, every check, and the facts they were judged on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The profile's name.
    pub profile: String,
    /// The roles the node was judged for.
    pub roles: Vec<String>,
    /// The worst status of any check.
    pub status: Status,
    /// The checks, in a stable order.
    pub checks: Vec<Check>,
    /// What the probes found.
    pub facts: Facts,
}

impl Report {
    /// How many checks have this status.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// Disks are sold in decimal gigabytes.
const GB: u64 = 1_000_000_000;
/// Memory is counted in binary gigabytes.
const GIB: u64 = 1 << 30;

/// Judges `facts` for a node with `req`'s roles under `profile`.
pub fn judge(facts: Facts, profile: &Profile, req: &Requirements) -> Report {
    let v = &profile.verdicts;
    let checks = vec![
        cpu_virtualization(&facts, req, v.no_hardware_virtualization.into()),
        kvm_device(&facts, req, v.no_hardware_virtualization.into()),
        resource_check(
            "cpu.count",
            "CPUs",
            u64::from(facts.cpu.online),
            req.vcpus,
            1,
            "",
            profile,
            req,
            "Give the node more CPUs (or, on a VM, more vCPUs), or move roles to other nodes.",
        ),
        resource_check(
            "memory.total",
            "memory",
            facts.memory_bytes,
            req.memory_gb,
            GIB,
            " GiB",
            profile,
            req,
            "Add memory (or, on a VM, raise its memory), or move roles such as storage-metadata to other nodes.",
        ),
        disk_target(&facts, profile, req),
        nic_count(&facts, profile, req),
        firmware_mode(&facts),
        iommu(&facts),
        platform(&facts, profile),
        clock(&facts),
    ];
    let status = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass);
    Report {
        profile: profile.name.clone(),
        roles: req.roles.clone(),
        status,
        checks,
        facts,
    }
}

fn pass(id: &'static str, summary: String) -> Check {
    Check {
        id,
        status: Status::Pass,
        summary,
        remedy: None,
    }
}

fn problem(id: &'static str, status: Status, summary: String, remedy: &str) -> Check {
    let remedy = (status != Status::Pass).then(|| remedy.to_owned());
    Check {
        id,
        status,
        summary,
        remedy,
    }
}

fn vt_name(flag: &str) -> &'static str {
    if flag == "svm" {
        "AMD-V (svm)"
    } else {
        "Intel VT-x (vmx)"
    }
}

const ENABLE_VT_REMEDY: &str = "Enable virtualization in the firmware setup (Intel: \"Intel Virtualization Technology\" / VT-x; AMD: \"SVM Mode\" / AMD-V), usually under Advanced > CPU Configuration, then power-cycle. On a VM, enable nested virtualization on the host (kvm_intel nested=1 or kvm_amd nested=1) and give the guest the host CPU model.";

fn cpu_virtualization(facts: &Facts, req: &Requirements, verdict: Status) -> Check {
    let id = "cpu.virtualization";
    let cpu = &facts.cpu;
    if let Some(flag) = &cpu.virtualization {
        return pass(id, format!("{} on all {} CPUs", vt_name(flag), cpu.logical));
    }
    let status = if req.virtualization_for.is_empty() {
        Status::Pass
    } else {
        verdict
    };
    let needed = if req.virtualization_for.is_empty() {
        "not needed by this node's roles".to_owned()
    } else {
        format!("needed by {}", req.virtualization_for.join(", "))
    };
    if cpu.virtualization_cpus > 0 {
        return problem(
            id,
            if req.virtualization_for.is_empty() {
                Status::Warn
            } else {
                verdict
            },
            format!(
                "only {} of {} CPUs report VT-x/AMD-V: firmware enabled it inconsistently ({needed})",
                cpu.virtualization_cpus, cpu.logical
            ),
            "Enable virtualization for every socket in the firmware setup and update the firmware; mixed settings make VMs crash when they migrate between cores.",
        );
    }
    let fallback = if status == Status::Pass {
        ""
    } else {
        "; compute would fall back to slow QEMU emulation"
    };
    problem(
        id,
        status,
        format!("no VT-x/AMD-V flag on the CPUs ({needed}){fallback}"),
        ENABLE_VT_REMEDY,
    )
}

fn kvm_device(facts: &Facts, req: &Requirements, verdict: Status) -> Check {
    let id = "kvm.device";
    let kvm = &facts.kvm;
    let status = if req.virtualization_for.is_empty() {
        Status::Pass
    } else {
        verdict
    };
    if kvm.openable {
        return pass(
            id,
            format!(
                "/dev/kvm is usable{}",
                kvm.module
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
        );
    }
    if kvm.device {
        return problem(
            id,
            status,
            format!(
                "/dev/kvm exists but cannot be opened: {}",
                kvm.open_error.as_deref().unwrap_or("unknown error")
            ),
            "Run stackboxd as root, or check the device's permissions (group kvm, mode 0660) and, in a container, that /dev/kvm is passed through.",
        );
    }
    let remedy = match facts.cpu.virtualization.as_deref() {
        Some("vmx") => {
            "Load the module: `modprobe kvm_intel`; if that fails, VT-x is disabled in the firmware setup."
        }
        Some(_) => {
            "Load the module: `modprobe kvm_amd`; if that fails, SVM is disabled in the firmware setup."
        }
        None => ENABLE_VT_REMEDY,
    };
    problem(id, status, "/dev/kvm is missing".to_owned(), remedy)
}

/// Judges a measured figure against a summed requirement. `unit` scales the requirement to the
/// measurement's unit (GB to bytes, or 1).
#[allow(clippy::too_many_arguments)]
fn resource_check(
    id: &'static str,
    what: &str,
    have: u64,
    need: Resource,
    unit: u64,
    suffix: &str,
    profile: &Profile,
    req: &Requirements,
    remedy: &str,
) -> Check {
    let shown = |n: u64| {
        if unit == 1 {
            n.to_string()
        } else {
            format!("{:.1}", n as f64 / unit as f64)
        }
    };
    let roles = req.roles.join(", ");
    // Memory as the kernel reports it is a little below what is installed (firmware and kernel
    // reservations), so a 16 GB machine must pass a 16 GB minimum: 5% is allowed for them, and the
    // messages name the usable amount actually compared, so that they agree with the verdict.
    let usable = |need: u32| {
        let need = u64::from(need) * unit;
        if unit == 1 { need } else { need - need / 20 }
    };
    let reaches = |need: u32| have >= usable(need);
    let amount = |need: u32| {
        if unit == 1 {
            format!("{need}{suffix}")
        } else {
            format!("{need}{suffix} ({}{suffix} usable)", shown(usable(need)))
        }
    };
    if !reaches(need.min) {
        return problem(
            id,
            profile.verdicts.below_minimum.into(),
            format!(
                "{}{suffix} {what}; the roles ({roles}) need at least {}, {}{suffix} recommended",
                shown(have),
                amount(need.min),
                need.recommended
            ),
            remedy,
        );
    }
    if !reaches(need.recommended) {
        return problem(
            id,
            profile.verdicts.below_recommended.into(),
            format!(
                "{}{suffix} {what}: meets the minimum of {}, below the recommended {} for {roles}",
                shown(have),
                amount(need.min),
                amount(need.recommended)
            ),
            remedy,
        );
    }
    pass(
        id,
        format!(
            "{}{suffix} {what} (recommended {}{suffix} for {roles})",
            shown(have),
            need.recommended
        ),
    )
}

fn disk_target(facts: &Facts, profile: &Profile, req: &Requirements) -> Check {
    let id = "disk.target";
    // An installed node is judged by the disk it runs from; a live one by the largest disk it could use.
    let targets = || facts.disks.iter().filter(|d| d.is_install_target());
    let best = targets()
        .find(|d| d.system_disk)
        .or_else(|| targets().max_by_key(|d| d.size_bytes));
    let Some(disk) = best else {
        let seen = if facts.disks.is_empty() {
            "no disks at all".to_owned()
        } else {
            let names: Vec<String> = facts
                .disks
                .iter()
                .map(|d| {
                    let why = if d.boot_medium {
                        "boot medium"
                    } else if d.removable {
                        "removable"
                    } else if d.read_only {
                        "read-only"
                    } else {
                        "empty"
                    };
                    format!("{} ({why})", d.name)
                })
                .collect();
            names.join(", ")
        };
        return problem(
            id,
            Status::Fail,
            format!("no disk to install to: {seen}"),
            "Attach a fixed, writable disk (not the USB stick or CD stackbox booted from); check the controller is in AHCI mode, not RAID, in the firmware setup.",
        );
    };
    let mut check = resource_check(
        id,
        "disk",
        disk.size_bytes,
        req.disk_gb,
        GB,
        " GB",
        profile,
        req,
        "Install to a larger disk, or add one; the storage-metadata role keeps every service's database here.",
    );
    check.summary = format!("{}: {}", disk.name, check.summary);
    check
}

fn nic_count(facts: &Facts, profile: &Profile, req: &Requirements) -> Check {
    let id = "nic.count";
    let counted: Vec<&str> = facts
        .nics
        .iter()
        .filter(|n| n.physical || (profile.count_virtual_nics && n.is_uplink()))
        .map(|n| n.name.as_str())
        .collect();
    let kind = if profile.count_virtual_nics {
        "NIC"
    } else {
        "physical NIC"
    };
    let have = counted.len() as u32;
    let list = if counted.is_empty() {
        String::new()
    } else {
        format!(" ({})", counted.join(", "))
    };
    if have == 0 {
        return problem(
            id,
            Status::Fail,
            format!("no {kind}: the node cannot reach the management network"),
            "Install or enable a network card; check it is enabled in the firmware setup and that its driver loaded (`dmesg | grep -i eth`).",
        );
    }
    if have < req.nics.min {
        return problem(
            id,
            profile.verdicts.too_few_nics.into(),
            format!(
                "{have} {kind}{}{list}; the roles need {}: one for the management plane, one for the data plane (VM traffic over VXLAN)",
                if have == 1 { "" } else { "s" },
                req.nics.min
            ),
            "Add a second NIC and cable it to the data-plane switch; with one NIC, management and VM traffic share it and a VM traffic burst can cut off the cloud's control plane.",
        );
    }
    pass(
        id,
        format!("{have} {kind}{}{list}", if have == 1 { "" } else { "s" }),
    )
}

fn firmware_mode(facts: &Facts) -> Check {
    match facts.platform.firmware {
        Firmware::Uefi => pass("firmware.mode", "UEFI".to_owned()),
        Firmware::Bios => problem(
            "firmware.mode",
            Status::Warn,
            "legacy BIOS boot".to_owned(),
            "Switch the firmware to UEFI mode (disable CSM/legacy boot) before installing to disk: UEFI allows Secure Boot and disks over 2 TB. stackbox also installs and boots under BIOS.",
        ),
    }
}

fn iommu(facts: &Facts) -> Check {
    let groups = facts.platform.iommu_groups;
    let sriov: Vec<&str> = facts
        .nics
        .iter()
        .filter(|n| n.sriov_totalvfs.is_some())
        .map(|n| n.name.as_str())
        .collect();
    if groups > 0 {
        return pass("iommu", format!("IOMMU on: {groups} groups"));
    }
    if sriov.is_empty() {
        return pass(
            "iommu",
            "IOMMU off; only PCI passthrough and SR-IOV need it, and no NIC offers SR-IOV"
                .to_owned(),
        );
    }
    problem(
        "iommu",
        Status::Warn,
        format!(
            "IOMMU off, yet {} can offer SR-IOV virtual functions that cannot be passed to VMs without it",
            sriov.join(", ")
        ),
        "Enable VT-d (Intel) or AMD-Vi/IOMMU in the firmware setup and boot with intel_iommu=on (Intel) or amd_iommu=on iommu=pt.",
    )
}

fn platform(facts: &Facts, profile: &Profile) -> Check {
    let p = &facts.platform;
    if let Some(container) = &p.container {
        return problem(
            "platform",
            Status::Warn,
            format!(
                "running in a {container} container: kernel modules and some sysctls belong to the host"
            ),
            "Load br_netfilter, vhost_net and the KVM module on the host, and pass /dev/kvm and /dev/net/tun into the container.",
        );
    }
    if let Some(vm) = &p.vm {
        let status = if profile.verdicts.no_hardware_virtualization == Verdict::Fail {
            Status::Warn
        } else {
            Status::Pass
        };
        return problem(
            "platform",
            status,
            format!("virtual machine ({vm}): cloud guests will run nested"),
            "For production, install stackbox on bare metal; in a VM, enable nested virtualization on the host or use the lab profile.",
        );
    }
    pass("platform", "bare metal".to_owned())
}

fn clock(facts: &Facts) -> Check {
    match facts.platform.clock_synchronized {
        Some(true) => pass("clock.sync", "system clock synchronised".to_owned()),
        Some(false) => problem(
            "clock.sync",
            Status::Warn,
            "system clock not synchronised".to_owned(),
            "Point chrony at a reachable NTP server (/etc/chrony/chrony.conf) and check `chronyc sources`: Galera, RabbitMQ and keystone tokens misbehave when node clocks drift.",
        ),
        None => problem(
            "clock.sync",
            Status::Warn,
            "cannot tell whether the clock is synchronised".to_owned(),
            "Run chrony or systemd-timesyncd and check `chronyc tracking` or `timedatectl`.",
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;
    use stackbox_hardware_profiles::{Catalog, Resource};

    fn memory_check(have_gib: f64, min: u32, recommended: u32) -> Check {
        let catalog = Catalog::embedded().unwrap();
        let profile = catalog.profile("lab").unwrap();
        let req = Requirements {
            roles: vec!["compute".into()],
            vcpus: Resource {
                min: 1,
                recommended: 1,
            },
            memory_gb: Resource { min, recommended },
            disk_gb: Resource {
                min: 1,
                recommended: 1,
            },
            nics: Resource {
                min: 1,
                recommended: 1,
            },
            virtualization_for: vec![],
            ports: vec![],
        };
        let have = (have_gib * GIB as f64) as u64;
        resource_check(
            "memory.total",
            "memory",
            have,
            req.memory_gb,
            GIB,
            " GiB",
            profile,
            &req,
            "r",
        )
    }

    #[test]
    fn the_memory_message_names_the_usable_amount_it_was_compared_with() {
        // 3.8 GiB as the kernel counts a 4 GiB machine: the minimum is met, and the message says by
        // which usable amount, so that it does not contradict itself.
        let c = memory_check(3.81, 4, 8);
        assert_eq!(
            c.summary,
            "3.8 GiB memory: meets the minimum of 4 GiB (3.8 GiB usable), below the recommended 8 GiB (7.6 GiB usable) for compute"
        );
        // Must fail: below the usable minimum.
        let c = memory_check(3.7, 4, 8);
        assert_eq!(
            c.summary,
            "3.7 GiB memory; the roles (compute) need at least 4 GiB (3.8 GiB usable), 8 GiB recommended"
        );
        assert_ne!(c.status, Status::Pass);
        assert_eq!(
            memory_check(7.7, 4, 8).summary,
            "7.7 GiB memory (recommended 8 GiB for compute)"
        );
    }
}
