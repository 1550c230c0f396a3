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
    /// How the disk is attached: `nvme`, `virtio`, `usb`, `sata`, `scsi`, `mmc` (absent when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// What uses the disk now: a mounted file system or active swap on it or a partition, or a
    /// device-mapper (LVM, dm-crypt) or RAID device built on it. Empty when nothing does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_use: Vec<String>,
}

impl Disk {
    /// `NVMe`, `HDD` (rotational) or `SSD`.
    pub fn kind(&self) -> &'static str {
        match (self.transport.as_deref(), self.rotational) {
            (Some("nvme"), _) => "NVMe",
            (_, true) => "HDD",
            (_, false) => "SSD",
        }
    }

    /// Whether stackbox may install to (or already runs from) this disk.
    pub fn is_install_target(&self) -> bool {
        !self.removable && !self.read_only && !self.boot_medium && self.size_bytes > 0
    }
}

/// Mount points that hold a live system's boot medium (live-boot mounts it at the first).
const LIVE_MEDIUM_MOUNTS: &[&str] = &["/run/live/medium", "/lib/live/mount/medium", "/cdrom"];

/// What the probe reads once for every disk: mounts, swaps and the mount points of interest.
struct Usage {
    mounts: Vec<(String, String)>,
    swaps: Vec<String>,
}

impl Usage {
    fn read(root: &Root) -> Usage {
        let mounts = root
            .read("/proc/mounts")
            .or_else(|| root.read("/proc/self/mounts"))
            .unwrap_or_default();
        let swaps = root.read("/proc/swaps").unwrap_or_default();
        Usage {
            mounts: parse_mounts(&mounts),
            swaps: swaps
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .map(unescape_octal)
                .collect(),
        }
    }

    /// The device mounted at `target`, without `/dev/`.
    fn source_of(&self, target: &str) -> Option<&str> {
        self.mounts
            .iter()
            .find(|(_, t)| t == target)
            .and_then(|(source, _)| source.strip_prefix("/dev/"))
    }
}

/// The partitions of `disk` (`sda1`, `nvme0n1p2`, `loop0p1`), as sysfs lists them.
fn partitions(root: &Root, disk: &str) -> Vec<String> {
    root.list(&format!("/sys/block/{disk}"))
        .into_iter()
        .filter(|p| p.starts_with(disk))
        .collect()
}

/// Every whole disk backed by a device (partitions, loop, RAM and device-mapper devices are left out).
pub fn probe(root: &Root) -> Vec<Disk> {
    let usage = Usage::read(root);
    root.list("/sys/block")
        .iter()
        .filter(|name| root.exists(&format!("/sys/block/{name}/device")))
        .filter_map(|name| describe_with(root, name, &usage))
        .collect()
}

/// One block device by its kernel name (`sda`, or `loop3` for a test's target); `None` when sysfs has none.
pub fn describe(root: &Root, name: &str) -> Option<Disk> {
    describe_with(root, name, &Usage::read(root))
}

fn describe_with(root: &Root, name: &str, usage: &Usage) -> Option<Disk> {
    let dir = format!("/sys/block/{name}");
    if !root.exists(&dir) {
        return None;
    }
    let attr = |a: &str| root.attr(&format!("{dir}/{a}"));
    let parts = partitions(root, name);
    let on_disk = |dev: &str| dev == name || parts.iter().any(|p| p == dev);
    Some(Disk {
        name: name.to_owned(),
        size_bytes: attr("size")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_mul(512),
        rotational: attr("queue/rotational").as_deref() == Some("1"),
        removable: attr("removable").as_deref() == Some("1"),
        read_only: attr("ro").as_deref() == Some("1"),
        model: attr("device/model").filter(|m| !m.is_empty()),
        boot_medium: LIVE_MEDIUM_MOUNTS
            .iter()
            .any(|m| usage.source_of(m).is_some_and(on_disk)),
        system_disk: usage.source_of("/").is_some_and(on_disk),
        transport: transport(root, name),
        in_use: in_use(root, name, &parts, usage),
    })
}

/// What uses `disk` or one of its `parts`: mounts, swaps and holders, one phrase each.
fn in_use(root: &Root, disk: &str, parts: &[String], usage: &Usage) -> Vec<String> {
    let mut uses = Vec::new();
    for dev in std::iter::once(disk).chain(parts.iter().map(String::as_str)) {
        let path = format!("/dev/{dev}");
        for (source, target) in &usage.mounts {
            if *source == path {
                uses.push(format!("{path} is mounted at {target}"));
            }
        }
        if usage.swaps.contains(&path) {
            uses.push(format!("{path} is active swap"));
        }
        for holder in root.list(&format!("/sys/class/block/{dev}/holders")) {
            let what = match root.attr(&format!("/sys/class/block/{holder}/dm/name")) {
                Some(dm) => format!("device-mapper device {dm} ({holder}: LVM or dm-crypt)"),
                None if holder.starts_with("md") => format!("RAID array {holder}"),
                None => holder.clone(),
            };
            uses.push(format!("{path} is part of {what}"));
        }
    }
    uses
}

/// How `disk` is attached, from its name and its device's path in sysfs.
fn transport(root: &Root, disk: &str) -> Option<String> {
    if disk.starts_with("nvme") {
        return Some("nvme".into());
    }
    if disk.starts_with("mmcblk") {
        return Some("mmc".into());
    }
    let link = std::fs::read_link(root.path(&format!("/sys/block/{disk}"))).ok()?;
    let path = link.to_string_lossy();
    let kind = if path.contains("/usb") {
        "usb"
    } else if path.contains("/virtio") {
        "virtio"
    } else if path.contains("/ata") {
        "sata"
    } else if path.contains("/host") {
        "scsi"
    } else {
        return None;
    };
    Some(kind.into())
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

    /// A sysfs tree with `disks` (name, partitions) and the given /proc files.
    fn fixture(disks: &[(&str, &[&str])], mounts: &str, swaps: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mk = |p: &str, text: &str| {
            let path = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        for (disk, parts) in disks {
            mk(&format!("/sys/block/{disk}/size"), "20971520\n");
            mk(
                &format!("/sys/block/{disk}/device/model"),
                "QEMU HARDDISK\n",
            );
            std::fs::create_dir_all(dir.path().join(format!("sys/class/block/{disk}/holders")))
                .unwrap();
            for p in *parts {
                mk(&format!("/sys/block/{disk}/{p}/partition"), "1\n");
            }
        }
        mk("/proc/mounts", mounts);
        mk("/proc/swaps", swaps);
        dir
    }

    #[test]
    fn what_uses_a_disk_is_named() {
        let dir = fixture(
            &[
                ("sda", &["sda1", "sda2"]),
                ("sdb", &[]),
                ("sdc", &["sdc1"]),
                ("sdd", &[]),
            ],
            "/dev/sda2 / ext4 rw 0 0\n/dev/sdc1 /run/live/medium iso9660 ro 0 0\n",
            "Filename\tType\tSize\tUsed\tPriority\n/dev/sda1 partition 1024 0 -2\n",
        );
        let holders = dir.path().join("sys/class/block/sdd/holders/dm-0");
        std::fs::create_dir_all(&holders).unwrap();
        let dm = dir.path().join("sys/class/block/dm-0/dm");
        std::fs::create_dir_all(&dm).unwrap();
        std::fs::write(dm.join("name"), "vg0-root\n").unwrap();
        let root = Root::at(dir.path());
        let disks = probe(&root);
        assert_eq!(disks.len(), 4);
        let sda = &disks[0];
        assert!(sda.system_disk && !sda.boot_medium);
        assert_eq!(
            sda.in_use,
            ["/dev/sda1 is active swap", "/dev/sda2 is mounted at /"]
        );
        assert!(disks[1].in_use.is_empty() && !disks[1].system_disk);
        assert!(disks[2].boot_medium && !disks[2].is_install_target());
        assert_eq!(
            disks[2].in_use,
            ["/dev/sdc1 is mounted at /run/live/medium"]
        );
        assert!(
            disks[3].in_use[0].contains("vg0-root"),
            "{:?}",
            disks[3].in_use
        );
        assert_eq!(describe(&root, "sdb").unwrap().size_bytes, 10 << 30);
        assert!(describe(&root, "sdz").is_none());
    }

    #[test]
    fn malformed_mount_lines_are_skipped() {
        assert!(parse_mounts("garbage\n\n").is_empty());
        assert_eq!(unescape_octal("a\\04"), "a\\04");
        assert_eq!(unescape_octal("a\\999"), "a\\999");
    }
}
