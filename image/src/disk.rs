//! The disk image in the [`layout`] (GPT: BIOS boot partition, ESP, ext4 root), and the GRUB images every disk
//! of the appliance boots with. Everything is built from files, without loop devices or mounts:
//! `mkfs.ext4 -d` fills the root, mtools fills the ESP, and the images are copied into the disk at their
//! partition offsets. GRUB's BIOS boot code is patched the way `grub-bios-setup` does it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use stackbox_common::cmd::Command;

use crate::host;
use crate::layout::{
    self, BOOT_DIR, BOOT_IMAGE, CORE_IMAGE, EFI_IMAGE, ESP_MIB, ESP_START, Ids, ROOT_FREE_MIB,
    ROOT_START, SECTOR,
};
use crate::spec::Spec;

/// GRUB modules built into both boot images, so that nothing is loaded from disk before grub.cfg.
const GRUB_COMMON_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "ext2",
    "fat",
    "search",
    "search_fs_uuid",
    "normal",
    "configfile",
    "linux",
    "echo",
    "test",
    "serial",
    "terminal",
    "gzio",
    "sleep",
    "reboot",
    "halt",
    "ls",
    "cat",
];

/// The GRUB configuration inside the root (`/boot/grub/grub.cfg`), which both GRUB images read from their
/// prefix. `stackboxd install-os` puts the installed root's own UUID in its place.
pub fn render_grub_cfg(spec: &Spec, kernel: &str, root_uuid: &str) -> String {
    let unit = spec.console.serial.trim_start_matches("ttyS");
    format!(
        "# stackbox disk image: BIOS and UEFI load this file after searching the root by UUID.\n\
         serial --unit={unit} --speed={baud}\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout=1\n\
         menuentry 'stackbox' {{\n\
         \tlinux /boot/vmlinuz-{kernel} {cmdline}\n\
         \tinitrd /boot/initrd.img-{kernel}\n\
         }}\n",
        baud = spec.console.baud,
        cmdline = spec.cmdline(&format!("root=UUID={root_uuid} rw")),
    )
}

/// Copies `src` into `dst` at byte `offset`, skipping all-zero blocks so that `dst` stays sparse.
pub fn copy_into(src: &Path, dst: &Path, offset: u64) -> anyhow::Result<()> {
    let mut input =
        std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let mut out = OpenOptions::new()
        .write(true)
        .open(dst)
        .with_context(|| format!("opening {}", dst.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = offset;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = input.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        if buf[..filled].iter().any(|&b| b != 0) {
            out.seek(SeekFrom::Start(pos))?;
            out.write_all(&buf[..filled])?;
        }
        pos += filled as u64;
        if filled < buf.len() {
            break;
        }
    }
    out.sync_all()?;
    Ok(())
}

/// Bytes used by the tree at `dir` (file sizes rounded up to 4 KiB blocks, plus one block per entry).
pub fn tree_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            let meta = e.path().symlink_metadata()?;
            total += meta.len().div_ceil(4096) * 4096 + 4096;
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(total)
}

/// Where the partitions go, sized for one root tree.
struct Layout {
    /// Size of the root filesystem in MiB: the tree plus 20 % plus [`ROOT_FREE_MIB`].
    root_mib: u64,
    /// The same in sectors.
    root_sectors: u64,
    /// First sector of the root partition, after the ESP.
    root_start: u64,
    /// The disk's size in bytes, with 1 MiB for the backup GPT.
    total: u64,
}

impl Layout {
    fn for_tree(root: &Path) -> anyhow::Result<Layout> {
        let content = tree_size(root)?;
        let root_mib = (content * 12 / 10).div_ceil(1 << 20) + ROOT_FREE_MIB;
        let root_sectors = root_mib * 2048;
        Ok(Layout {
            root_mib,
            root_sectors,
            root_start: ROOT_START,
            total: (ROOT_START + root_sectors + 2048) * SECTOR,
        })
    }
}

/// Builds `disk.raw` from the configured `root` (which already has `/boot/grub/grub.cfg`).
pub fn build_disk(
    root: &Path,
    work: &Path,
    ids: &Ids,
    epoch: u64,
    disk: &Path,
) -> anyhow::Result<()> {
    let layout = Layout::for_tree(root)?;
    let root_img = make_root_fs(root, work, ids, epoch, layout.root_mib)?;
    let boot = root.join(BOOT_DIR);
    let esp = make_esp(work, ids, epoch, &boot.join(EFI_IMAGE))?;

    // The disk: partition table, then the images at their offsets, then the BIOS boot code.
    let _ = std::fs::remove_file(disk);
    let f = std::fs::File::create(disk).with_context(|| format!("creating {}", disk.display()))?;
    f.set_len(layout.total)?;
    drop(f);
    partition(disk, work, ids, layout.root_sectors)?;
    copy_into(&esp, disk, ESP_START * SECTOR)?;
    copy_into(&root_img, disk, layout.root_start * SECTOR)?;
    layout::write_bios_boot(disk, &boot)?;
    let _ = std::fs::remove_file(&root_img);
    Ok(())
}

/// The ext4 root filesystem image, filled from `root` by `mkfs.ext4 -d` with clamped times.
fn make_root_fs(
    root: &Path,
    work: &Path,
    ids: &Ids,
    epoch: u64,
    root_mib: u64,
) -> anyhow::Result<PathBuf> {
    let root_img = work.join("root.ext4");
    let _ = std::fs::remove_file(&root_img);
    host::run(
        &Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", layout::ROOT_LABEL, "-U", &ids.root_uuid])
            .arg("-E")
            .arg(format!("hash_seed={},root_owner=0:0", ids.root_uuid))
            .arg("-d")
            .arg(root)
            .arg(&root_img)
            .arg(format!("{root_mib}M"))
            .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )
    .context("making the root filesystem")?;
    Ok(root_img)
}

/// GRUB's UEFI image ([`EFI_IMAGE`]) and BIOS images ([`CORE_IMAGE`], [`BOOT_IMAGE`]), made into the root's
/// [`BOOT_DIR`] with the prefix [`layout::GRUB_PREFIX`], so that the disk image and every installed disk boot
/// with the same bytes.
pub fn make_boot_images(root: &Path) -> anyhow::Result<()> {
    let dir = root.join(BOOT_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    host::run(
        &Command::new("grub-mkimage")
            .args(["-O", "x86_64-efi", "-p", layout::GRUB_PREFIX, "-o"])
            .arg(dir.join(EFI_IMAGE))
            .args(GRUB_COMMON_MODULES.iter().copied())
            .args(["efi_gop", "efi_uga"]),
    )
    .context("making the UEFI GRUB image")?;
    host::run(
        &Command::new("grub-mkimage")
            .args(["-O", "i386-pc", "-p", layout::GRUB_PREFIX, "-o"])
            .arg(dir.join(CORE_IMAGE))
            .args(GRUB_COMMON_MODULES.iter().copied())
            .arg("biosdisk"),
    )
    .context("making the BIOS GRUB image")?;
    std::fs::copy("/usr/lib/grub/i386-pc/boot.img", dir.join(BOOT_IMAGE))
        .context("copying /usr/lib/grub/i386-pc/boot.img (apt-get install grub-pc-bin)")?;
    Ok(())
}

/// The FAT32 ESP image with `efi` as the removable-media path `EFI/BOOT/BOOTX64.EFI`, filled by mtools.
fn make_esp(work: &Path, ids: &Ids, epoch: u64, efi: &Path) -> anyhow::Result<PathBuf> {
    let esp = work.join("esp.fat");
    let _ = std::fs::remove_file(&esp);
    let epoch_s = epoch.to_string();
    host::run(
        &Command::new("mkfs.vfat")
            .args([
                "-C",
                "--invariant",
                "-F",
                "32",
                "-n",
                layout::ESP_LABEL,
                "-i",
            ])
            .arg(ids.esp_id.replace('-', ""))
            .arg(&esp)
            .arg((ESP_MIB * 1024).to_string())
            .env("SOURCE_DATE_EPOCH", &epoch_s),
    )
    .context("making the ESP")?;
    // A copy, so that clamping its time leaves the root's file alone.
    let efi_copy = work.join(EFI_IMAGE);
    std::fs::copy(efi, &efi_copy).context("copying the UEFI GRUB image")?;
    host::run(
        &Command::new("touch")
            .arg("-d")
            .arg(format!("@{epoch}"))
            .arg(&efi_copy),
    )?;
    for dir in ["::/EFI", "::/EFI/BOOT"] {
        host::run(
            &Command::new("mmd")
                .arg("-i")
                .arg(&esp)
                .arg(dir)
                .env("SOURCE_DATE_EPOCH", &epoch_s),
        )?;
    }
    host::run(
        &Command::new("mcopy")
            .args(["-m", "-i"])
            .arg(&esp)
            .arg(&efi_copy)
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .env("SOURCE_DATE_EPOCH", &epoch_s),
    )
    .context("copying GRUB onto the ESP")?;
    Ok(esp)
}

/// Writes the GPT of [`layout::render_sfdisk`] onto the disk image with sfdisk.
fn partition(disk: &Path, work: &Path, ids: &Ids, root_sectors: u64) -> anyhow::Result<()> {
    let script = work.join("disk.sfdisk");
    std::fs::write(&script, layout::render_sfdisk(ids, root_sectors))?;
    host::run(
        &Command::new("sh")
            .arg("-c")
            .arg("sfdisk --quiet --no-reread --no-tell-kernel \"$1\" < \"$2\"")
            .arg("sfdisk")
            .arg(disk)
            .arg(&script),
    )
    .context("partitioning the disk image")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_copy_skips_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let mut data = vec![0u8; 3 << 20];
        data[(2 << 20) + 5] = 7;
        std::fs::write(&src, &data).unwrap();
        let dst = dir.path().join("dst");
        std::fs::File::create(&dst)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        copy_into(&src, &dst, 4096).unwrap();
        let out = std::fs::read(&dst).unwrap();
        assert_eq!(out[4096 + (2 << 20) + 5], 7);
        assert_eq!(out.iter().filter(|&&b| b != 0).count(), 1);
    }
}
