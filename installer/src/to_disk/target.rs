//! Which disk `install-os` may erase: a whole disk (a block device, not a partition) that holds neither the
//! boot medium nor the running system nor the source, that nothing uses (no mounted file system, no active
//! swap, no LVM, dm-crypt or RAID on it), that is writable and large enough. Every refusal says what to do.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use stackbox_machine::probe::block::{self, Disk};
use stackbox_machine::system::Root;

/// A disk judged fit to install to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The device node (`/dev/sda`), after following symlinks such as `/dev/disk/by-id/...`.
    pub dev: PathBuf,
    /// What sysfs says about it.
    pub disk: Disk,
}

impl Target {
    /// One line for the operator: name, size, model, attachment, rotational or not.
    pub fn describe(&self) -> String {
        describe(&self.disk)
    }
}

/// One line about a disk: `sda: 100.0 GB, QEMU HARDDISK, sata, SSD`.
pub fn describe(d: &Disk) -> String {
    let mut parts = vec![format!("{:.1} GB", d.size_bytes as f64 / 1e9)];
    parts.extend(d.model.clone());
    parts.extend(d.transport.clone());
    parts.push(d.kind().to_owned());
    format!("{}: {}", d.name, parts.join(", "))
}

/// Why a disk is not erased.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refusal {
    /// The path is not a block device.
    #[error("{0} is not a block device: give the whole disk, such as /dev/sda or /dev/nvme0n1")]
    NotABlockDevice(String),
    /// The path is a partition.
    #[error(
        "{dev} is a partition of {disk}: install-os takes the whole disk (/dev/{disk}) and erases all of it"
    )]
    Partition {
        /// The partition given.
        dev: String,
        /// Its disk.
        disk: String,
    },
    /// The disk holds the medium this live system booted from.
    #[error(
        "{0} holds the medium this system booted from (the USB stick or CD): choose another disk"
    )]
    BootMedium(String),
    /// The disk holds the running root file system.
    #[error("{0} holds the running system's root file system: it is installed there already")]
    SystemDisk(String),
    /// The disk holds the source being copied.
    #[error(
        "{0} holds the source being installed: choose another disk, or copy the source elsewhere first"
    )]
    HoldsSource(String),
    /// Something uses the disk.
    #[error("{disk} is in use: {}; unmount, swapoff or stop what uses it, then run install-os again", uses.join("; "))]
    InUse {
        /// The disk.
        disk: String,
        /// What uses it.
        uses: Vec<String>,
    },
    /// The disk cannot be written.
    #[error("{0} is read-only (a write-protect switch, or the kernel marked it read-only)")]
    ReadOnly(String),
    /// The disk is too small.
    #[error("{disk} is too small: {size:.1} GB, the appliance needs at least {need:.1} GB")]
    TooSmall {
        /// The disk.
        disk: String,
        /// Its size in GB.
        size: f64,
        /// The least size in GB.
        need: f64,
    },
}

/// Judges `dev` as the target for a root of `need_bytes` (the disk's least size) copied from `source`.
pub fn judge(root: &Root, dev: &Path, need_bytes: u64, source: &Path) -> Result<Target, Refusal> {
    let shown = dev.display().to_string();
    let real = std::fs::canonicalize(dev).unwrap_or_else(|_| dev.to_owned());
    let meta = std::fs::metadata(&real).map_err(|_| Refusal::NotABlockDevice(shown.clone()))?;
    if !meta.file_type().is_block_device() {
        return Err(Refusal::NotABlockDevice(shown));
    }
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if root.exists(&format!("/sys/class/block/{name}/partition")) {
        let disk = parent_disk(root, &name).unwrap_or_else(|| "the disk".into());
        return Err(Refusal::Partition { dev: shown, disk });
    }
    let disk = block::describe(root, &name).ok_or(Refusal::NotABlockDevice(shown))?;
    if holds(root, &name, source) {
        return Err(Refusal::HoldsSource(name));
    }
    if let Some(refused) = refusal(&disk, need_bytes) {
        return Err(refused);
    }
    Ok(Target { dev: real, disk })
}

/// Why a disk as sysfs describes it may not be erased for a root of `need_bytes` (the disk's least size):
/// the boot medium, the running system, in use, read-only, too small. The wizard's Disk step offers only
/// the disks this refuses nothing of.
pub fn refusal(disk: &Disk, need_bytes: u64) -> Option<Refusal> {
    let name = disk.name.clone();
    Some(if disk.boot_medium {
        Refusal::BootMedium(name)
    } else if disk.system_disk {
        Refusal::SystemDisk(name)
    } else if !disk.in_use.is_empty() {
        Refusal::InUse {
            disk: name,
            uses: disk.in_use.clone(),
        }
    } else if disk.read_only {
        Refusal::ReadOnly(name)
    } else if disk.size_bytes < need_bytes {
        Refusal::TooSmall {
            disk: name,
            size: disk.size_bytes as f64 / 1e9,
            need: need_bytes as f64 / 1e9,
        }
    } else {
        return None;
    })
}

/// The disk a partition belongs to, from sysfs's layout (`/sys/block/DISK/PART`).
fn parent_disk(root: &Root, part: &str) -> Option<String> {
    root.list("/sys/block")
        .into_iter()
        .find(|d| root.exists(&format!("/sys/block/{d}/{part}")))
}

/// Whether the file system holding `source` lives on `disk` or one of its partitions.
fn holds(root: &Root, disk: &str, source: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(source) else {
        return false;
    };
    let dev = meta.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let Some(name) = root.link_name(&format!("/sys/dev/block/{major}:{minor}")) else {
        return false;
    };
    name == disk || root.exists(&format!("/sys/block/{disk}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        let cases = [
            (
                Refusal::NotABlockDevice("/tmp/x".into()),
                "give the whole disk",
            ),
            (
                Refusal::Partition {
                    dev: "/dev/sda1".into(),
                    disk: "sda".into(),
                },
                "takes the whole disk (/dev/sda)",
            ),
            (Refusal::BootMedium("sdb".into()), "choose another disk"),
            (
                Refusal::InUse {
                    disk: "sdc".into(),
                    uses: vec!["/dev/sdc1 is mounted at /mnt".into()],
                },
                "/dev/sdc1 is mounted at /mnt; unmount",
            ),
            (
                Refusal::TooSmall {
                    disk: "vdb".into(),
                    size: 1.0,
                    need: 5.6,
                },
                "1.0 GB, the appliance needs at least 5.6 GB",
            ),
        ];
        for (refusal, words) in cases {
            assert!(refusal.to_string().contains(words), "{refusal}");
        }
    }

    #[test]
    fn a_file_or_a_missing_path_is_not_a_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        std::fs::write(&file, b"").unwrap();
        let root = Root::live();
        for dev in [file, dir.path().join("missing")] {
            let err = judge(&root, &dev, 0, Path::new("/nonexistent")).unwrap_err();
            assert!(matches!(err, Refusal::NotABlockDevice(_)), "{err}");
        }
    }

    #[test]
    fn a_disk_is_refused_for_what_it_holds_or_its_size() {
        let free = Disk {
            name: "sda".into(),
            size_bytes: 100_000_000_000,
            rotational: true,
            removable: false,
            read_only: false,
            model: None,
            boot_medium: false,
            system_disk: false,
            transport: None,
            in_use: vec![],
        };
        assert_eq!(refusal(&free, 10_000_000_000), None);
        let cases = [
            (
                Disk {
                    boot_medium: true,
                    ..free.clone()
                },
                "booted from",
            ),
            (
                Disk {
                    system_disk: true,
                    ..free.clone()
                },
                "running system",
            ),
            (
                Disk {
                    read_only: true,
                    ..free.clone()
                },
                "read-only",
            ),
            (
                Disk {
                    in_use: vec!["/dev/sda1 is active swap".into()],
                    ..free.clone()
                },
                "active swap",
            ),
            (
                Disk {
                    size_bytes: 1_000_000_000,
                    ..free.clone()
                },
                "too small",
            ),
        ];
        for (disk, words) in cases {
            let why = refusal(&disk, 10_000_000_000).expect(words).to_string();
            assert!(why.starts_with("sda") && why.contains(words), "{why}");
        }
    }

    #[test]
    fn disks_are_described_by_size_model_bus_and_kind() {
        let disk = Disk {
            name: "nvme0n1".into(),
            size_bytes: 512_110_190_592,
            rotational: false,
            removable: false,
            read_only: false,
            model: Some("Samsung SSD 980 PRO".into()),
            boot_medium: false,
            system_disk: false,
            transport: Some("nvme".into()),
            in_use: vec![],
        };
        assert_eq!(
            describe(&disk),
            "nvme0n1: 512.1 GB, Samsung SSD 980 PRO, nvme, NVMe"
        );
        let hdd = Disk {
            rotational: true,
            transport: Some("sata".into()),
            model: None,
            name: "sda".into(),
            ..disk
        };
        assert_eq!(describe(&hdd), "sda: 512.1 GB, sata, HDD");
    }
}
