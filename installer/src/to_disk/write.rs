//! The writing itself, in an order that never leaves a bootable half-system: the old partition table and
//! boot code are erased first; the ESP, the BIOS core image and the root file system are written at their
//! offsets into a disk that has no partition table; only when all of it is on the disk and synced are the
//! GPT and the MBR's boot code written. Killed at any moment before that, the disk has no partition table
//! and no firmware boots it; a rerun starts over.
//!
//! The root is copied in one pass by `mkfs.ext4 -d` from an overlay of the source squashfs (read-only,
//! below) and a scratch directory on tmpfs (above) that holds what differs on this disk: fstab and the GRUB
//! configuration with the new root's UUID, a fresh machine-id, no SSH host keys, and the wizard's state.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stackbox_common::cmd::Command;
use stackbox_common::fs::write_atomic;
use stackbox_image::layout::{self, ESP_MIB, ESP_START, Ids, ROOT_START, SECTOR};

/// The scratch directory on a tmpfs (an overlay's upper directory cannot live on the live root's overlay).
pub const SCRATCH: &str = "/run/stackbox-install-os";
/// Bytes erased at each end of the disk: the MBR, the GPT and its backup, and what old boot code follows.
const ERASE_BYTES: u64 = 2 << 20;
/// The wizard's state that stays behind: first boot runs again on the installed disk; a network applied
/// on the live system (its bookkeeping `network/` and a confirmation code) lives in the live system's
/// /etc, which does not go to the disk, so the installed system starts from the image's network and
/// applies the stored one itself.
const STATE_LEFT_BEHIND: &[&str] = &["firstboot.done", "network", "network-confirm"];
/// The record of the install, in the installed system's state directory.
pub const INSTALLED_RECORD: &str = "installed.json";

/// The source mounted as a tree that reads like the installed root; unmounted when dropped.
pub struct Tree {
    /// The merged view that `mkfs.ext4 -d` copies.
    pub merged: PathBuf,
    /// The mount points to unmount, innermost last.
    mounted: Vec<PathBuf>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        for m in self.mounted.iter().rev() {
            unmount(m);
        }
    }
}

/// Unmounts `path`, lazily when it is busy; silent when it is not mounted.
fn unmount(path: &Path) {
    if Command::new("umount").arg(path).run().is_err() {
        let _ = Command::new("umount").arg("-l").arg(path).run();
    }
}

/// Clears what a killed run left in `scratch` (its mounts and files).
pub fn clear_scratch(scratch: &Path) -> anyhow::Result<()> {
    for m in ["merged", "lower"] {
        let path = scratch.join(m);
        if is_mount_point(&path) {
            unmount(&path);
        }
    }
    match std::fs::remove_dir_all(scratch) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", scratch.display())),
    }
}

fn is_mount_point(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let shown = path.display().to_string();
    stackbox_machine::probe::block::parse_mounts(&mounts)
        .iter()
        .any(|(_, target)| *target == shown)
}

/// Mounts `squashfs` read-only under an overlay in `scratch`.
pub fn mount_tree(scratch: &Path, squashfs: &Path) -> anyhow::Result<Tree> {
    clear_scratch(scratch)?;
    let dirs = ["lower", "upper", "work", "merged"].map(|d| scratch.join(d));
    for d in &dirs {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let [lower, upper, work, merged] = dirs;
    let mut tree = Tree {
        merged: merged.clone(),
        mounted: Vec::new(),
    };
    Command::new("mount")
        .args(["-t", "squashfs", "-o", "loop,ro"])
        .arg(squashfs)
        .arg(&lower)
        .run()
        .context("mounting the source squashfs")?;
    tree.mounted.push(lower.clone());
    Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ))
        .arg(&merged)
        .run()
        .context("mounting the overlay of the source")?;
    tree.mounted.push(merged);
    Ok(tree)
}

/// What the installed root gets that the source does not have.
pub struct Customisation<'a> {
    /// The new disk's identifiers.
    pub ids: &'a Ids,
    /// The wizard's state directory to carry over (certificate, key, answers, hardware report).
    pub state: Option<&'a Path>,
    /// The install record (JSON) kept in the installed state directory.
    pub record: String,
    /// An answer file for the installed system's wizard (`/etc/stackbox/answers.toml`, 0600).
    pub answers: Option<&'a str>,
}

/// Writes the installed root's own files into the tree.
pub fn customise(tree: &Path, c: &Customisation<'_>) -> anyhow::Result<()> {
    let fstab = layout::render_installed_fstab(&c.ids.root_uuid, &c.ids.esp_id);
    write_atomic(&tree.join("etc/fstab"), fstab.as_bytes(), 0o644).context("writing fstab")?;
    let grub = tree.join("boot/grub/grub.cfg");
    let cfg = std::fs::read_to_string(&grub)
        .with_context(|| format!("reading the source's {}", grub.display()))?;
    let cfg = with_root_uuid(&cfg, &c.ids.root_uuid)?;
    write_atomic(&grub, cfg.as_bytes(), 0o644).context("writing grub.cfg")?;
    let machine_id = stackbox_common::secret::random_string(b"0123456789abcdef", 32)?;
    write_atomic(
        &tree.join("etc/machine-id"),
        format!("{machine_id}\n").as_bytes(),
        0o444,
    )
    .context("writing the machine-id")?;
    // Host keys are the machine's own: a copied key would be every installed node's.
    if let Ok(entries) = std::fs::read_dir(tree.join("etc/ssh")) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
    }
    let state = tree.join("var/lib/stackbox");
    std::fs::create_dir_all(&state).context("creating the state directory")?;
    if let Some(from) = c.state.filter(|s| s.is_dir()) {
        // cp -a keeps modes and owners (the key and token are 0600).
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(&state)
            .run()
            .context("copying the wizard's state")?;
        for left in STATE_LEFT_BEHIND {
            let path = state.join(left);
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    write_atomic(&state.join(INSTALLED_RECORD), c.record.as_bytes(), 0o644)
        .context("writing the install record")?;
    if let Some(text) = c.answers {
        let path = tree.join(stackbox_image::build::root::ANSWERS_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context("creating /etc/stackbox")?;
        }
        // It holds the admin password's hash (and may hold a join code): root's only.
        write_atomic(&path, text.as_bytes(), 0o600).context("writing the answer file")?;
    }
    Ok(())
}

/// `grub.cfg` with every `root=UUID=...` naming `uuid`; a configuration without one is an error.
pub fn with_root_uuid(cfg: &str, uuid: &str) -> anyhow::Result<String> {
    const KEY: &str = "root=UUID=";
    if !cfg.contains(KEY) {
        anyhow::bail!("the source's grub.cfg has no {KEY}: it is not a stackbox disk root");
    }
    let mut out = String::with_capacity(cfg.len());
    let mut rest = cfg;
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at + KEY.len()]);
        out.push_str(uuid);
        rest = &rest[at + KEY.len()..];
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Zeroes both ends of the disk: no partition table, no boot code, nothing any firmware would boot.
pub fn erase_ends(dev: &Path, size: u64) -> anyhow::Result<()> {
    let zeros = vec![0u8; ERASE_BYTES.min(size) as usize];
    layout::write_at(dev, 0, &zeros)?;
    layout::write_at(dev, size.saturating_sub(zeros.len() as u64), &zeros)
}

/// The ESP at its offset: FAT32 with a fresh volume id, holding GRUB at the removable-media path. It is made
/// as a file in the scratch directory (mtools cannot address a FAT inside a block device) and written whole.
pub fn write_esp(dev: &Path, ids: &Ids, boot_dir: &Path, scratch: &Path) -> anyhow::Result<()> {
    let image = scratch.join("esp.fat");
    let _ = std::fs::remove_file(&image);
    Command::new("mkfs.vfat")
        .args(["-C", "-F", "32", "-n", layout::ESP_LABEL, "-i"])
        .arg(ids.esp_id.replace('-', ""))
        .arg("-h")
        .arg(ESP_START.to_string())
        .arg(&image)
        .arg((ESP_MIB * 1024).to_string())
        .run()
        .context("making the ESP (mkfs.vfat, from dosfstools)")?;
    Command::new("mmd")
        .arg("-i")
        .arg(&image)
        .args(["::/EFI", "::/EFI/BOOT"])
        .run()
        .context("making EFI/BOOT on the ESP (mmd, from mtools)")?;
    Command::new("mcopy")
        .arg("-i")
        .arg(&image)
        .arg(boot_dir.join(layout::EFI_IMAGE))
        .arg(format!("::/EFI/BOOT/{}", layout::EFI_IMAGE))
        .run()
        .context("copying GRUB onto the ESP (mcopy, from mtools)")?;
    let bytes = std::fs::read(&image).context("reading the ESP image")?;
    let _ = std::fs::remove_file(&image);
    layout::write_at(dev, ESP_START * SECTOR, &bytes)
}

/// The root file system at its offset, filling the disk, made from `tree` in one pass.
pub fn write_root(dev: &Path, ids: &Ids, tree: &Path, root_sectors: u64) -> anyhow::Result<()> {
    // setpriv: if install-os is killed, so is mkfs, instead of writing on and holding the disk for a rerun.
    Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--", "mkfs.ext4"])
        .args(["-q", "-F", "-L", layout::ROOT_LABEL, "-U", &ids.root_uuid])
        .arg("-E")
        .arg(format!("offset={},root_owner=0:0", ROOT_START * SECTOR))
        .arg("-d")
        .arg(tree)
        .arg(dev)
        .arg(format!("{}k", root_sectors / 2))
        .run()
        .context("copying the root onto the disk (mkfs.ext4 -d)")?;
    Ok(())
}

/// The GPT (last: until now the disk had none), then GRUB's BIOS core image and boot code.
pub fn write_partition_table(
    dev: &Path,
    ids: &Ids,
    root_sectors: u64,
    boot_dir: &Path,
) -> anyhow::Result<()> {
    sync(dev)?;
    let script = layout::render_sfdisk(ids, root_sectors);
    let mut child = std::process::Command::new("sfdisk")
        .args([
            "--quiet",
            "--no-reread",
            "--no-tell-kernel",
            "--wipe",
            "never",
        ])
        .arg(dev)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running sfdisk (from fdisk)")?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().context("sfdisk's stdin")?;
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "writing the partition table (sfdisk) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    layout::write_bios_boot(dev, boot_dir)?;
    sync(dev)
}

/// Flushes the disk's writes.
fn sync(dev: &Path) -> anyhow::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {}", dev.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", dev.display()))
}

/// Asks the kernel to read the new partition table; a loop device without partition scanning cannot.
pub fn reread(dev: &Path) -> Option<String> {
    Command::new("blockdev")
        .arg("--rereadpt")
        .arg(dev)
        .run()
        .err()
        .map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_gets_the_new_root_uuid_everywhere() {
        let cfg = "menuentry 'a' {\n\tlinux /boot/vmlinuz root=UUID=old-1 rw\n}\nmenuentry 'b' {\n\tlinux /v root=UUID=old-2\n}\n";
        let out = with_root_uuid(cfg, "new").unwrap();
        assert_eq!(out.matches("root=UUID=new").count(), 2);
        assert!(!out.contains("old"));
        assert!(out.contains("root=UUID=new rw\n"));
        assert!(with_root_uuid("linux /vmlinuz root=/dev/sda1", "new").is_err());
    }

    #[test]
    fn ends_are_erased() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk");
        std::fs::write(&disk, vec![0xAAu8; 5 << 20]).unwrap();
        erase_ends(&disk, 5 << 20).unwrap();
        let bytes = std::fs::read(&disk).unwrap();
        assert!(bytes[..2 << 20].iter().all(|&b| b == 0));
        assert!(bytes[3 << 20..].iter().all(|&b| b == 0));
        assert!(bytes[(2 << 20)..(3 << 20)].iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn state_is_carried_without_the_first_boot_marker() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc/ssh")).unwrap();
        std::fs::create_dir_all(tree.join("boot/grub")).unwrap();
        std::fs::write(tree.join("boot/grub/grub.cfg"), "linux /v root=UUID=x rw\n").unwrap();
        std::fs::write(tree.join("etc/ssh/ssh_host_ed25519_key"), "secret").unwrap();
        std::fs::write(tree.join("etc/ssh/sshd_config"), "").unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("tls")).unwrap();
        write_atomic(&state.join("tls/wizard.key"), b"key", 0o600).unwrap();
        std::fs::write(state.join("firstboot.done"), "done").unwrap();
        std::fs::create_dir_all(state.join("network/previous")).unwrap();
        std::fs::write(state.join("network/applied.json"), "{}").unwrap();
        std::fs::write(state.join("network-confirm"), "digest").unwrap();
        let ids = Ids::from_seed("t");
        customise(
            &tree,
            &Customisation {
                ids: &ids,
                state: Some(&state),
                record: "{}\n".into(),
                answers: Some("[admin]\n"),
            },
        )
        .unwrap();
        let carried = tree.join("var/lib/stackbox");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(carried.join("tls/wizard.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!carried.join("firstboot.done").exists());
        assert!(
            !carried.join("network").exists(),
            "the live network's bookkeeping stays"
        );
        assert!(!carried.join("network-confirm").exists());
        assert!(carried.join(INSTALLED_RECORD).exists());
        let answers = tree.join("etc/stackbox/answers.toml");
        let mode = std::fs::metadata(&answers).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!tree.join("etc/ssh/ssh_host_ed25519_key").exists());
        assert!(tree.join("etc/ssh/sshd_config").exists());
        let fstab = std::fs::read_to_string(tree.join("etc/fstab")).unwrap();
        assert!(fstab.contains(&format!("UUID={} / ext4", ids.root_uuid)));
        let id = std::fs::read_to_string(tree.join("etc/machine-id")).unwrap();
        assert_eq!(id.trim().len(), 32);
        let cfg = std::fs::read_to_string(tree.join("boot/grub/grub.cfg")).unwrap();
        assert!(cfg.contains(&ids.root_uuid));
    }
}
