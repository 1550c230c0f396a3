//! The disk layout shared by the disk image (`stackbox build`) and the install to disk (`stackboxd
//! install-os`): GPT with a BIOS boot partition (GRUB's core.img), an ESP (GRUB for UEFI at the removable-media
//! path `EFI/BOOT/BOOTX64.EFI`, so no NVRAM entry is needed) and an ext4 root.
//!
//! The GRUB images carry no identifier of their own: their prefix `(,gpt3)/boot/grub` names the third
//! partition of the disk the firmware booted from, so the same images (built once, kept in the root at
//! [`BOOT_DIR`]) boot the disk image and every installed disk, whose root file system has a fresh UUID that only
//! its own `/boot/grub/grub.cfg` and fstab name.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, bail};

/// Sector size.
pub const SECTOR: u64 = 512;
/// First sector of the BIOS boot partition (1 MiB).
pub const BIOS_START: u64 = 2048;
/// Size of the BIOS boot partition in sectors (1 MiB).
pub const BIOS_SECTORS: u64 = 2048;
/// First sector of the ESP (2 MiB).
pub const ESP_START: u64 = BIOS_START + BIOS_SECTORS;
/// ESP size in MiB.
pub const ESP_MIB: u64 = 64;
/// Free space left in the root filesystem, for role packages installed from the pool.
pub const ROOT_FREE_MIB: u64 = 2048;

/// First sector of the root partition, after the ESP.
pub const ROOT_START: u64 = ESP_START + ESP_MIB * 2048;
/// Sectors kept free at the end of a disk for the backup GPT (33 sectors, rounded up to 1 MiB).
pub const TAIL_SECTORS: u64 = 2048;

/// Where the root keeps its boot images, relative to the root.
pub const BOOT_DIR: &str = "usr/lib/stackbox/boot";
/// GRUB for UEFI, copied to `EFI/BOOT/BOOTX64.EFI` on the ESP.
pub const EFI_IMAGE: &str = "BOOTX64.EFI";
/// GRUB's BIOS core image, written into the BIOS boot partition.
pub const CORE_IMAGE: &str = "core.img";
/// GRUB's BIOS boot code (the MBR's first 440 bytes).
pub const BOOT_IMAGE: &str = "boot.img";
/// The root's size in bytes (one line), beside the boot images: the Disk step's least disk size.
pub const ROOT_BYTES: &str = "root-bytes";
/// GRUB's prefix in both images: the root partition (the third) of the disk the firmware booted from.
pub const GRUB_PREFIX: &str = "(,gpt3)/boot/grub";
/// The root file system's label.
pub const ROOT_LABEL: &str = "stackbox-root";
/// The ESP's label.
pub const ESP_LABEL: &str = "ESP";

/// The size of a root partition that fills a disk of `disk_bytes`, in sectors (a whole number of MiB).
pub fn root_sectors_filling(disk_bytes: u64) -> u64 {
    let sectors = disk_bytes / SECTOR;
    sectors.saturating_sub(ROOT_START + TAIL_SECTORS) / 2048 * 2048
}

/// The smallest disk whose root partition holds `root_bytes` of files with the same headroom as the disk image
/// (a fifth more, plus [`ROOT_FREE_MIB`] for role packages).
pub fn min_disk_bytes(root_bytes: u64) -> u64 {
    let root_mib = (root_bytes * 12 / 10).div_ceil(1 << 20) + ROOT_FREE_MIB;
    (ROOT_START + root_mib * 2048 + TAIL_SECTORS) * SECTOR
}

/// `/etc/fstab` of an installed disk: the root and the ESP, both by UUID (a live stick carries the same labels).
pub fn render_installed_fstab(root_uuid: &str, esp_id: &str) -> String {
    format!(
        "# stackbox, installed to disk by `stackboxd install-os`. By UUID: a live stick carries the same labels.\n\
         UUID={root_uuid} / ext4 errors=remount-ro 0 1\n\
         UUID={esp_id} /boot/efi vfat umask=0077,nofail,x-systemd.device-timeout=10s 0 2\n"
    )
}

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
    /// Fresh ids for one installed disk, from the system's random source.
    pub fn random() -> anyhow::Result<Ids> {
        let seed = stackbox_common::secret::random_string(b"0123456789abcdef", 32)?;
        Ok(Ids::from_seed(&seed))
    }

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

/// The sfdisk script of the disk layout.
pub fn render_sfdisk(ids: &Ids, root_sectors: u64) -> String {
    let root_start = ROOT_START;
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

/// Writes `bytes` into `dst` (a file or a block device) at byte `offset`.
pub fn write_at(dst: &Path, offset: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = OpenOptions::new()
        .write(true)
        .open(dst)
        .with_context(|| format!("opening {}", dst.display()))?;
    out.seek(SeekFrom::Start(offset))?;
    out.write_all(bytes).with_context(|| {
        format!(
            "writing {} bytes at {offset} of {}",
            bytes.len(),
            dst.display()
        )
    })?;
    out.sync_all()
        .with_context(|| format!("syncing {}", dst.display()))
}

/// Puts GRUB's core image from `boot_dir` into the BIOS boot partition and its boot code into the MBR, both
/// patched to find it. Only the MBR's code area is written: the protective MBR's partition table (from 0x1B8)
/// stays as sfdisk wrote it.
pub fn write_bios_boot(disk: &Path, boot_dir: &Path) -> anyhow::Result<()> {
    let core_path = boot_dir.join(CORE_IMAGE);
    let mut core =
        std::fs::read(&core_path).with_context(|| format!("reading {}", core_path.display()))?;
    patch_core_img(&mut core, BIOS_START)?;
    write_at(disk, BIOS_START * SECTOR, &core)?;
    let boot_path = boot_dir.join(BOOT_IMAGE);
    let mut boot =
        std::fs::read(&boot_path).with_context(|| format!("reading {}", boot_path.display()))?;
    patch_boot_img(&mut boot, BIOS_START)?;
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
        assert!(patch_boot_img(&mut [0u8; 511], 2048).is_err());
    }

    #[test]
    fn the_root_fills_the_disk_and_the_minimum_holds_the_tree() {
        let gib = 1u64 << 30;
        let sectors = root_sectors_filling(10 * gib);
        assert_eq!(sectors % 2048, 0);
        assert!((ROOT_START + sectors + TAIL_SECTORS) * SECTOR <= 10 * gib);
        assert!((ROOT_START + sectors + TAIL_SECTORS + 2048) * SECTOR > 10 * gib);
        assert_eq!(root_sectors_filling(1 << 20), 0);
        let min = min_disk_bytes(gib);
        assert!(root_sectors_filling(min) * SECTOR >= gib * 12 / 10 + (ROOT_FREE_MIB << 20));
    }
}
