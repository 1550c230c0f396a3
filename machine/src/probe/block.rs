//! Block devices: size, rotational, removable, model, and whether a disk holds the boot medium (a live
//! system's medium) or the running root file system.

use serde::{Deserialize, Serialize};

use crate::system::Root;

/// One whole disk (partitions, loop, RAM and device-mapper devices are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name (`sda`, `nvme0n1`, `vda`, `sr0`).
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Spinning disk (false for SSD, NVMe and most virtual disks).
    pub rotational: bool,
    /// Removable medium (USB stick, CD).
    pub removable: bool,
    /// Read-only device.
    pub read_only: bool,
    /// Vendor model string, when the device has one.
    pub model: Option<String>,
    /// Holds the medium a live system booted from (ISO, USB stick): not an install target.
    pub boot_medium: bool,
    /// Holds the running root file system (an installed appliance).
    pub system_disk: bool,
}

impl Disk {
    /// Whether stackbox may install to (or already runs from) this disk.
    pub fn is_install_target(&self) -> bool {
        !self.removable && !self.read_only && !self.boot_medium && self.size_bytes > 0
    }
}

/// Mount points that hold a live system's boot medium (live-boot mounts it at the first).
const LIVE_MEDIUM_MOUNTS: &[&str] = &["/run/live/medium", "/lib/live/mount/medium", "/cdrom"];

/// Every whole disk backed by a device.
pub fn probe(root: &Root) -> Vec<Disk> {
    let mounts = root
        .read("/proc/mounts")
        .or_else(|| root.read("/proc/self/mounts"))
        .unwrap_or_default();
    let mounts = parse_mounts(&mounts);
    let names = root.list("/sys/block");
    let partitions = |disk: &str| -> Vec<String> {
        root.list(&format!("/sys/block/{disk}"))
            .into_iter()
            .filter(|p| p.starts_with(disk))
            .collect()
    };
    let holder = |mount: &str| -> Option<String> {
        let source = mounts
            .iter()
            .find(|(_, target)| target == mount)
            .map(|(source, _)| source.clone())?;
        let dev = source.strip_prefix("/dev/")?;
        names
            .iter()
            .find(|d| *d == dev || partitions(d).iter().any(|p| p == dev))
            .cloned()
    };
    let medium: Vec<String> = LIVE_MEDIUM_MOUNTS
        .iter()
        .filter_map(|m| holder(m))
        .collect();
    let system = holder("/");
    names
        .iter()
        .filter(|name| root.exists(&format!("/sys/block/{name}/device")))
        .map(|name| {
            let dir = format!("/sys/block/{name}");
            let attr = |a: &str| root.attr(&format!("{dir}/{a}"));
            Disk {
                name: name.clone(),
                size_bytes: attr("size")
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
                    .saturating_mul(512),
                rotational: attr("queue/rotational").as_deref() == Some("1"),
                removable: attr("removable").as_deref() == Some("1"),
                read_only: attr("ro").as_deref() == Some("1"),
                model: attr("device/model").filter(|m| !m.is_empty()),
                boot_medium: medium.contains(name),
                system_disk: system.as_deref() == Some(name.as_str()),
            }
        })
        .collect()
}

/// Parses /proc/mounts into (source, mount point) pairs, decoding the kernel's octal escapes.
pub fn parse_mounts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let source = fields.next()?;
            let target = fields.next()?;
            Some((unescape_octal(source), unescape_octal(target)))
        })
        .collect()
}

/// Decodes `\040`-style escapes (space, tab, newline, backslash) used in /proc/mounts.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let n = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_with_escapes() {
        let text = "/dev/sda2 / ext4 rw 0 0\n/dev/sr0 /run/live/medium iso9660 ro 0 0\n/dev/sdb1 /mnt/my\\040disk vfat rw 0 0\n";
        let m = parse_mounts(text);
        assert_eq!(m[0], ("/dev/sda2".into(), "/".into()));
        assert_eq!(m[1].1, "/run/live/medium");
        assert_eq!(m[2].1, "/mnt/my disk");
    }

    #[test]
    fn malformed_mount_lines_are_skipped() {
        assert!(parse_mounts("garbage\n\n").is_empty());
        assert_eq!(unescape_octal("a\\04"), "a\\04");
        assert_eq!(unescape_octal("a\\999"), "a\\999");
    }
}
