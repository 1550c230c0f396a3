//! The platform: firmware mode, IOMMU, whether we run in a VM or a container, and clock synchronisation.

use serde::{Deserialize, Serialize};

use crate::system::Root;

/// How the machine booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// UEFI (`/sys/firmware/efi` exists).
    Uefi,
    /// Legacy BIOS.
    Bios,
}

/// What the machine runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformFacts {
    /// UEFI or BIOS.
    pub firmware: Firmware,
    /// IOMMU groups the kernel created (0: IOMMU off or absent).
    pub iommu_groups: u32,
    /// The hypervisor, when this is a virtual machine (`qemu`, `vmware`, `hyperv`, ...).
    pub vm: Option<String>,
    /// The container manager, when this is a container (`systemd-nspawn`, `docker`, `lxc`, ...).
    pub container: Option<String>,
    /// Whether the system clock is synchronised to a time source; `None` when it cannot be told.
    pub clock_synchronized: Option<bool>,
}

/// Probes the platform. `hypervisor_flag` comes from the CPU flags.
pub fn probe(root: &Root, hypervisor_flag: bool) -> PlatformFacts {
    let dmi = |f: &str| {
        root.attr(&format!("/sys/class/dmi/id/{f}"))
            .unwrap_or_default()
    };
    PlatformFacts {
        firmware: if root.exists("/sys/firmware/efi") {
            Firmware::Uefi
        } else {
            Firmware::Bios
        },
        iommu_groups: root.list("/sys/kernel/iommu_groups").len() as u32,
        vm: detect_vm(&dmi("sys_vendor"), &dmi("product_name"), hypervisor_flag),
        container: detect_container(
            root.attr("/run/systemd/container").as_deref(),
            std::fs::read(root.path("/proc/1/environ")).ok().as_deref(),
            root.exists("/.dockerenv"),
        ),
        clock_synchronized: clock_synchronized(root),
    }
}

/// Names the hypervisor from DMI strings; a bare `hypervisor` CPU flag gives `unknown`.
pub fn detect_vm(sys_vendor: &str, product_name: &str, hypervisor_flag: bool) -> Option<String> {
    let known = [
        ("QEMU", "qemu"),
        ("VMware", "vmware"),
        ("innotek", "virtualbox"),
        ("Xen", "xen"),
        ("Amazon EC2", "amazon"),
        ("Google", "google"),
        ("OpenStack", "openstack"),
        ("Parallels", "parallels"),
        ("Bochs", "bochs"),
    ];
    for (needle, name) in known {
        if sys_vendor.contains(needle) || product_name.contains(needle) {
            return Some(name.to_owned());
        }
    }
    if sys_vendor.contains("Microsoft") && product_name.contains("Virtual Machine") {
        return Some("hyperv".to_owned());
    }
    if product_name.contains("KVM") {
        return Some("kvm".to_owned());
    }
    hypervisor_flag.then(|| "unknown".to_owned())
}

/// Names the container manager from systemd's marker, PID 1's environment or docker's marker file.
pub fn detect_container(
    systemd_marker: Option<&str>,
    pid1_environ: Option<&[u8]>,
    dockerenv: bool,
) -> Option<String> {
    if let Some(name) = systemd_marker.map(str::trim).filter(|s| !s.is_empty()) {
        return Some(name.to_owned());
    }
    if let Some(env) = pid1_environ {
        for var in env.split(|&b| b == 0) {
            if let Some(value) = var.strip_prefix(b"container=") {
                return Some(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    dockerenv.then(|| "docker".to_owned())
}

/// On the running system the kernel's NTP state (adjtimex) is the truth, whichever daemon set it; under a
/// fixture root, systemd-timesyncd's marker file stands in.
fn clock_synchronized(root: &Root) -> Option<bool> {
    if root.is_live() {
        kernel_clock_synchronized()
    } else {
        root.exists("/run/systemd/timesync/synchronized")
            .then_some(true)
    }
}

/// Asks the kernel whether its clock is synchronised (`adjtimex` returns `TIME_ERROR` when not).
#[allow(unsafe_code)]
fn kernel_clock_synchronized() -> Option<bool> {
    // SAFETY: `modes = 0` makes adjtimex read-only; the struct is plain data, zeroed, and only borrowed
    // for the call.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    match state {
        -1 => None,
        libc::TIME_ERROR => Some(false),
        _ => Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vms() {
        assert_eq!(
            detect_vm("QEMU", "Standard PC (Q35 + ICH9, 2009)", true).as_deref(),
            Some("qemu")
        );
        assert_eq!(
            detect_vm("Microsoft Corporation", "Virtual Machine", true).as_deref(),
            Some("hyperv")
        );
        assert_eq!(detect_vm("Dell Inc.", "PowerEdge R640", false), None);
        assert_eq!(detect_vm("", "", true).as_deref(), Some("unknown"));
    }

    #[test]
    fn containers() {
        assert_eq!(
            detect_container(Some("systemd-nspawn\n"), None, false).as_deref(),
            Some("systemd-nspawn")
        );
        assert_eq!(
            detect_container(None, Some(b"PATH=/bin\0container=lxc\0"), false).as_deref(),
            Some("lxc")
        );
        assert_eq!(
            detect_container(None, None, true).as_deref(),
            Some("docker")
        );
        assert_eq!(
            detect_container(Some(""), Some(b"PATH=/bin\0"), false),
            None
        );
    }
}
