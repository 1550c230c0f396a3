//! The disk image: GPT with a BIOS boot partition (GRUB's core.img for BIOS), an ESP (GRUB for UEFI as the
//! removable-media path `EFI/BOOT/BOOTX64.EFI`) and an ext4 root. Everything is built from files, without loop
//! devices or mounts: `mkfs.ext4 -d` fills the root, mtools fills the ESP, and the images are copied into the
//! disk at their partition offsets. GRUB's BIOS boot code is patched the way `grub-bios-setup` does it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stackbox_common::cmd::Command;

use crate::host;
use crate::spec::Spec;

/// Sector size.
const SECTOR: u64 = 512;
/// First sector of the BIOS boot partition (1 MiB).
const BIOS_START: u64 = 2048;
/// Size of the BIOS boot partition in sectors (1 MiB).
const BIOS_SECTORS: u64 = 2048;
/// First sector of the ESP (2 MiB).
const ESP_START: u64 = BIOS_START + BIOS_SECTORS;
/// ESP size in MiB.
const ESP_MIB: u64 = 64;
/// Free space left in the root filesystem, for role packages installed from the pool.
const ROOT_FREE_MIB: u64 = 2048;

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

/// The GPT partition type GUIDs.
const TYPE_BIOS: &str = "21686148-6449-6E6F-744E-656564454649";
const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const TYPE_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// Identifiers derived from the build so that two builds of the same spec give the same disk.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Root filesystem UUID.
    pub root_uuid: String,
    /// ESP FAT volume id, as `XXXX-XXXX`.
    pub esp_id: String,
    /// GPT disk GUID.
    pub disk_guid: String,
    /// GPT partition GUIDs (BIOS, ESP, root).
    pub part_guids: [String; 3],
}

/// A UUID formatted from 16 bytes of `seed`'s SHA-256, with the version 4 and variant bits set.
pub fn uuid_from(seed: &str) -> String {
    let h = crate::cache::sha256_bytes(seed.as_bytes());
    let mut b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

impl Ids {
    /// Ids derived from `seed` (the spec's hash).
    pub fn from_seed(seed: &str) -> Ids {
        let esp = crate::cache::sha256_bytes(format!("{seed}/esp").as_bytes()).to_ascii_uppercase();
        Ids {
            root_uuid: uuid_from(&format!("{seed}/root")),
            esp_id: format!("{}-{}", &esp[0..4], &esp[4..8]),
            disk_guid: uuid_from(&format!("{seed}/disk")),
            part_guids: [
                uuid_from(&format!("{seed}/part-bios")),
                uuid_from(&format!("{seed}/part-esp")),
                uuid_from(&format!("{seed}/part-root")),
            ],
        }
    }
}

/// The GRUB configuration inside the root (`/boot/grub/grub.cfg`) for the disk image.
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

/// The configuration built into the GRUB images: find the root and read its grub.cfg.
pub fn render_early_cfg(root_uuid: &str) -> String {
    format!(
        "search --no-floppy --fs-uuid --set=root {root_uuid}\n\
         set prefix=($root)/boot/grub\n\
         configfile ($root)/boot/grub/grub.cfg\n"
    )
}

/// The sfdisk script of the disk layout.
pub fn render_sfdisk(ids: &Ids, root_sectors: u64) -> String {
    let root_start = ESP_START + ESP_MIB * 2048;
    format!(
        "label: gpt\nlabel-id: {}\nfirst-lba: 34\n\
         start={BIOS_START}, size={BIOS_SECTORS}, type={TYPE_BIOS}, uuid={}, name=bios\n\
         start={ESP_START}, size={}, type={TYPE_ESP}, uuid={}, name=esp\n\
         start={root_start}, size={root_sectors}, type={TYPE_ROOT_X86_64}, uuid={}, name=root\n",
        ids.disk_guid,
        ids.part_guids[0],
        ESP_MIB * 2048,
        ids.part_guids[1],
        ids.part_guids[2],
    )
}

/// Patches GRUB's `boot.img` (MBR code) to load core.img from `core_lba`, as grub-bios-setup does.
pub fn patch_boot_img(boot: &mut [u8], core_lba: u64) -> anyhow::Result<()> {
    if boot.len() != 512 {
        bail!("boot.img is {} bytes, expected 512", boot.len());
    }
    // GRUB_BOOT_MACHINE_KERNEL_SECTOR
    boot[0x5c..0x64].copy_from_slice(&core_lba.to_le_bytes());
    // GRUB_BOOT_MACHINE_DRIVE_CHECK: a hard disk, so skip the floppy probe (two NOPs).
    boot[0x66] = 0x90;
    boot[0x67] = 0x90;
    Ok(())
}

/// Patches core.img's first sector (diskboot.img) with the block list of the rest of core.img, which follows
/// it contiguously from `core_lba + 1`.
pub fn patch_core_img(core: &mut [u8], core_lba: u64) -> anyhow::Result<()> {
    let sectors = (core.len() as u64).div_ceil(SECTOR);
    if !(2..=BIOS_SECTORS).contains(&sectors) {
        bail!("core.img has {sectors} sectors; it must fit in the 1 MiB BIOS boot partition");
    }
    // The first block-list entry sits at the end of the first sector: start (u64), len (u16), segment (u16).
    let at = SECTOR as usize - 12;
    core[at..at + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    core[at + 8..at + 10].copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
    Ok(())
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

fn write_at(dst: &Path, offset: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = OpenOptions::new()
        .write(true)
        .open(dst)
        .with_context(|| format!("opening {}", dst.display()))?;
    out.seek(SeekFrom::Start(offset))?;
    out.write_all(bytes)?;
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
        let root_start = ESP_START + ESP_MIB * 2048;
        Ok(Layout {
            root_mib,
            root_sectors,
            root_start,
            total: (root_start + root_sectors + 2048) * SECTOR,
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
    let (efi, core) = make_grub_images(work, ids)?;
    let esp = make_esp(work, ids, epoch, &efi)?;

    // The disk: partition table, then the images at their offsets, then the BIOS boot code.
    let _ = std::fs::remove_file(disk);
    let f = std::fs::File::create(disk).with_context(|| format!("creating {}", disk.display()))?;
    f.set_len(layout.total)?;
    drop(f);
    partition(disk, work, ids, layout.root_sectors)?;
    copy_into(&esp, disk, ESP_START * SECTOR)?;
    copy_into(&root_img, disk, layout.root_start * SECTOR)?;
    install_bios_boot(disk, &core)?;
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
            .args(["-q", "-F", "-L", "stackbox-root", "-U", &ids.root_uuid])
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

/// GRUB's UEFI image (`BOOTX64.EFI`) and BIOS image (`core.img`), both with the early configuration built in.
fn make_grub_images(work: &Path, ids: &Ids) -> anyhow::Result<(PathBuf, PathBuf)> {
    let early = work.join("early.cfg");
    std::fs::write(&early, render_early_cfg(&ids.root_uuid)).context("writing early.cfg")?;
    let efi = work.join("BOOTX64.EFI");
    host::run(
        &Command::new("grub-mkimage")
            .args(["-O", "x86_64-efi", "-p", "/boot/grub", "-c"])
            .arg(&early)
            .arg("-o")
            .arg(&efi)
            .args(GRUB_COMMON_MODULES.iter().copied())
            .args(["efi_gop", "efi_uga"]),
    )
    .context("making the UEFI GRUB image")?;
    let core = work.join("core.img");
    host::run(
        &Command::new("grub-mkimage")
            .args(["-O", "i386-pc", "-p", "/boot/grub", "-c"])
            .arg(&early)
            .arg("-o")
            .arg(&core)
            .args(GRUB_COMMON_MODULES.iter().copied())
            .arg("biosdisk"),
    )
    .context("making the BIOS GRUB image")?;
    Ok((efi, core))
}

/// The FAT32 ESP image with `efi` as the removable-media path `EFI/BOOT/BOOTX64.EFI`, filled by mtools.
fn make_esp(work: &Path, ids: &Ids, epoch: u64, efi: &Path) -> anyhow::Result<PathBuf> {
    let esp = work.join("esp.fat");
    let _ = std::fs::remove_file(&esp);
    let epoch_s = epoch.to_string();
    host::run(
        &Command::new("mkfs.vfat")
            .args(["-C", "--invariant", "-F", "32", "-n", "ESP", "-i"])
            .arg(ids.esp_id.replace('-', ""))
            .arg(&esp)
            .arg((ESP_MIB * 1024).to_string())
            .env("SOURCE_DATE_EPOCH", &epoch_s),
    )
    .context("making the ESP")?;
    host::run(
        &Command::new("touch")
            .arg("-d")
            .arg(format!("@{epoch}"))
            .arg(efi),
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
            .arg(efi)
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .env("SOURCE_DATE_EPOCH", &epoch_s),
    )
    .context("copying GRUB onto the ESP")?;
    Ok(esp)
}

/// Writes the GPT of [`render_sfdisk`] onto the disk image with sfdisk.
fn partition(disk: &Path, work: &Path, ids: &Ids, root_sectors: u64) -> anyhow::Result<()> {
    let script = work.join("disk.sfdisk");
    std::fs::write(&script, render_sfdisk(ids, root_sectors))?;
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

/// Puts `core` into the BIOS boot partition and GRUB's boot code into the MBR, both patched to find it.
fn install_bios_boot(disk: &Path, core: &Path) -> anyhow::Result<()> {
    let mut core_bytes = std::fs::read(core).context("reading core.img")?;
    patch_core_img(&mut core_bytes, BIOS_START)?;
    write_at(disk, BIOS_START * SECTOR, &core_bytes)?;
    let mut boot = std::fs::read("/usr/lib/grub/i386-pc/boot.img")
        .context("reading /usr/lib/grub/i386-pc/boot.img (apt-get install grub-pc-bin)")?;
    patch_boot_img(&mut boot, BIOS_START)?;
    // Only the code area: the protective MBR's partition table (from 0x1B8) stays as sfdisk wrote it.
    write_at(disk, 0, &boot[..0x1b8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = uuid_from("x");
        assert_eq!(a, uuid_from("x"));
        assert_ne!(a, uuid_from("y"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        let ids = Ids::from_seed("s");
        assert_eq!(ids.esp_id.len(), 9);
    }

    #[test]
    fn boot_code_patches() {
        let mut boot = vec![0u8; 512];
        patch_boot_img(&mut boot, 2048).unwrap();
        assert_eq!(&boot[0x5c..0x64], &2048u64.to_le_bytes());
        assert_eq!(&boot[0x66..0x68], &[0x90, 0x90]);
        let mut core = vec![0u8; 512 * 10 + 7];
        patch_core_img(&mut core, 2048).unwrap();
        assert_eq!(&core[500..508], &2049u64.to_le_bytes());
        assert_eq!(&core[508..510], &10u16.to_le_bytes());
        assert!(patch_core_img(&mut vec![0u8; 512], 2048).is_err());
    }

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
