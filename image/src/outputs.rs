//! Artifact assembly from the configured root: the root tarball, the squashfs shared by the ISO and PXE
//! bundle, the hybrid ISO (grub-mkrescue: El Torito for CD, MBR/GPT with an ESP for USB; BIOS and UEFI), the
//! PXE bundle and the qcow2 conversion of the disk image.

use std::path::Path;

use anyhow::Context;
use stackbox_common::cmd::Command;

use crate::host;
use crate::spec::Spec;

/// Writes `rootfs.tar` from `root`: sorted names, numeric owners, mtimes clamped to the epoch, no atime/ctime.
pub fn build_tar(root: &Path, epoch: u64, tar: &Path) -> anyhow::Result<()> {
    host::run(
        &Command::new("tar")
            .args([
                "--sort=name",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "--format=posix",
                "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
                "--clamp-mtime",
            ])
            .arg(format!("--mtime=@{epoch}"))
            .arg("-C")
            .arg(root)
            .arg("-cf")
            .arg(tar)
            .arg(".")
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )
    .context("writing rootfs.tar")?;
    Ok(())
}

/// Writes the live root as a zstd squashfs (mksquashfs clamps times with `SOURCE_DATE_EPOCH`).
pub fn build_squashfs(root: &Path, epoch: u64, out: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(out);
    host::run(
        &Command::new("mksquashfs")
            .arg(root)
            .arg(out)
            .args([
                "-comp",
                "zstd",
                "-Xcompression-level",
                "6",
                "-noappend",
                "-no-progress",
                "-quiet",
            ])
            .args(["-e", "boot/efi"])
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )
    .context("making the squashfs root")?;
    Ok(())
}

/// The live kernel command line (ISO and PXE): live-boot finds or fetches the squashfs.
pub fn live_cmdline(spec: &Spec, extra: &str) -> String {
    spec.cmdline(&format!("boot=live{extra}"))
}

/// The ISO's `/boot/grub/grub.cfg`.
pub fn render_iso_grub_cfg(spec: &Spec) -> String {
    let unit = spec.console.serial.trim_start_matches("ttyS");
    format!(
        "# stackbox live ISO (CD or USB stick, BIOS or UEFI). live-boot finds /live/filesystem.squashfs.\n\
         serial --unit={unit} --speed={baud}\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout=1\n\
         menuentry 'stackbox (live)' {{\n\
         \tlinux /live/vmlinuz {cmdline}\n\
         \tinitrd /live/initrd.img\n\
         }}\n",
        baud = spec.console.baud,
        cmdline = live_cmdline(spec, ""),
    )
}

/// The PXE bundle's iPXE script. Everything is fetched over HTTP from `${base}`; set `base` before chaining
/// this script, or serve the bundle as `http://<next-server>/stackbox/`. The squashfs's SHA-256 rides on the
/// kernel command line, so that `stackboxd install-os` on the PXE-booted system can check what it fetched.
pub fn render_boot_ipxe(spec: &Spec, squashfs_sha256: &str) -> String {
    format!(
        "#!ipxe\n\
         # stackbox PXE boot: kernel, initrd and the squashfs root (fetched by live-boot) over HTTP.\n\
         isset ${{base}} || set base http://${{next-server}}/stackbox/\n\
         kernel ${{base}}vmlinuz initrd=initrd.img {cmdline}\n\
         initrd ${{base}}initrd.img\n\
         boot\n",
        cmdline = live_cmdline(
            spec,
            &format!(" fetch=${{base}}filesystem.squashfs stackbox.root-sha256={squashfs_sha256}"),
        ),
    )
}

/// The ISO's `live/SHA256SUMS`: the squashfs's checksum, beside it.
pub fn render_live_sums(squashfs_sha256: &str) -> String {
    format!("{squashfs_sha256}  filesystem.squashfs\n")
}

/// Writes the PXE bundle into `dir`.
pub fn build_pxe(
    spec: &Spec,
    vmlinuz: &Path,
    initrd: &Path,
    squashfs: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    link_or_copy(vmlinuz, &dir.join("vmlinuz"))?;
    link_or_copy(initrd, &dir.join("initrd.img"))?;
    link_or_copy(squashfs, &dir.join("filesystem.squashfs"))?;
    let sha = crate::cache::sha256_file(squashfs)?;
    std::fs::write(dir.join("boot.ipxe"), render_boot_ipxe(spec, &sha))
        .context("writing boot.ipxe")?;
    Ok(())
}

/// Writes the hybrid ISO `iso` from the live files, using `work` as scratch.
pub fn build_iso(
    spec: &Spec,
    vmlinuz: &Path,
    initrd: &Path,
    squashfs: &Path,
    work: &Path,
    iso: &Path,
) -> anyhow::Result<()> {
    let tree = work.join("iso");
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("live")).context("creating the ISO tree")?;
    std::fs::create_dir_all(tree.join("boot/grub")).context("creating the ISO tree")?;
    link_or_copy(vmlinuz, &tree.join("live/vmlinuz"))?;
    link_or_copy(initrd, &tree.join("live/initrd.img"))?;
    link_or_copy(squashfs, &tree.join("live/filesystem.squashfs"))?;
    // What `stackboxd install-os` checks the squashfs against before it writes a disk.
    let sums = render_live_sums(&crate::cache::sha256_file(squashfs)?);
    std::fs::write(tree.join("live/SHA256SUMS"), sums).context("writing live/SHA256SUMS")?;
    std::fs::write(tree.join("boot/grub/grub.cfg"), render_iso_grub_cfg(spec))
        .context("writing the ISO grub.cfg")?;
    let epoch = spec.source_date_epoch.to_string();
    host::run(
        &Command::new("touch")
            .args(["-h", "-d"])
            .arg(format!("@{epoch}"))
            .arg(tree.join("boot/grub/grub.cfg"))
            .arg(tree.join("live/SHA256SUMS"))
            .arg(tree.join("boot/grub"))
            .arg(tree.join("boot"))
            .arg(tree.join("live"))
            .arg(&tree),
    )?;
    // grub-mkrescue stamps its embedded GRUB images and the ISO's UUID with the current time, and xorriso
    // picks a random GPT disk GUID: a frozen clock (faketime) and a GUID derived from the volume date make the
    // ISO reproducible.
    host::run(
        &Command::new("faketime")
            .arg("-f")
            .arg(utc_datetime(spec.source_date_epoch))
            .arg("grub-mkrescue")
            .arg("-o")
            .arg(iso)
            .args(["--locales=", "--fonts=", "--themes=", "--compress=xz"])
            .arg(&tree)
            // Not STACKBOX: that label marks the file system that carries an answer file.
            .args(["--", "-volid", "STACKBOX_LIVE"])
            .args(["-boot_image", "any", "gpt_disk_guid=volume_date_uuid"])
            .env("SOURCE_DATE_EPOCH", &epoch)
            .env("TZ", "UTC"),
    )
    .context("making the hybrid ISO")?;
    Ok(())
}

/// Converts the raw disk to qcow2.
pub fn build_qcow2(raw: &Path, qcow2: &Path) -> anyhow::Result<()> {
    host::run(
        &Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(raw)
            .arg(qcow2),
    )
    .context("converting the disk to qcow2")?;
    Ok(())
}

/// Hard-links `src` to `dst` (same filesystem), else copies it.
pub fn link_or_copy(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(dst);
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst)
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time, for faketime.
pub fn utc_datetime(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_datetimes() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(utc_datetime(1_735_689_600), "2025-01-01 00:00:00");
        assert_eq!(utc_datetime(951_782_400 + 3661), "2000-02-29 01:01:01");
    }
}
