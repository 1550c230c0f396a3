//! One stage per artifact, each made from the configured root (or from another artifact) into its cache entry:
//! `tar`, `squashfs` (only when the ISO or the PXE bundle still has to be made), `pxe`, `iso`, `disk` (raw,
//! also when only the qcow2 is wanted and not yet cached) and `qcow2`.

use std::path::Path;

use crate::build::root::{Entries, WorkDir};
use crate::cache::Cache;
use crate::disk;
use crate::layout::Ids;
use crate::outputs;
use crate::progress::Progress;
use crate::spec::{Format, Spec};

/// What every artifact stage reads.
pub struct Artifacts<'a> {
    /// The stage cache.
    pub cache: &'a Cache,
    /// The spec (boot entries, epoch).
    pub spec: &'a Spec,
    /// The formats asked for.
    pub formats: &'a [Format],
    /// Where each artifact is cached.
    pub entries: &'a Entries,
    /// The scratch directory with the configured root.
    pub work: &'a WorkDir,
    /// The disk's ids.
    pub ids: &'a Ids,
}

impl Artifacts<'_> {
    fn want(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// Makes every artifact in `formats` that is not cached yet, in build order.
    pub fn make(&self, progress: &mut Progress) -> anyhow::Result<()> {
        let (e, root, epoch) = (self.entries, self.work.root(), self.spec.source_date_epoch);
        let vmlinuz = e.kernel.join("vmlinuz");
        let initrd = e.kernel.join("initrd.img");
        if self.want(Format::Tar) {
            self.stage(progress, "tar", "rootfs.tar", &e.tar, |tmp| {
                outputs::build_tar(&root, epoch, tmp)
            })?;
        }
        let squash_needed = (self.want(Format::Iso) && !e.iso.exists())
            || (self.want(Format::Pxe) && !e.pxe.exists());
        if squash_needed {
            self.stage(
                progress,
                "squashfs",
                "live root (zstd)",
                &e.squashfs,
                |tmp| outputs::build_squashfs(&root, epoch, tmp),
            )?;
        }
        if self.want(Format::Pxe) {
            let what = "kernel, initrd, squashfs, boot.ipxe";
            self.stage(progress, "pxe", what, &e.pxe, |tmp| {
                outputs::build_pxe(self.spec, &vmlinuz, &initrd, &e.squashfs, tmp)
            })?;
        }
        if self.want(Format::Iso) {
            let what = "hybrid ISO (BIOS+UEFI, CD+USB)";
            self.stage(progress, "iso", what, &e.iso, |tmp| {
                let work = self.work.path();
                outputs::build_iso(self.spec, &vmlinuz, &initrd, &e.squashfs, work, tmp)
            })?;
        }
        if self.want(Format::Raw) || self.want(Format::Qcow2) {
            self.disk(progress, &root)?;
        }
        if self.want(Format::Qcow2) {
            self.stage(progress, "qcow2", "disk.qcow2", &e.qcow2, |tmp| {
                outputs::build_qcow2(&e.raw, tmp)
            })?;
        }
        Ok(())
    }

    /// Stage `disk`: the raw GPT disk, needed for `raw` and as the source of a qcow2 not yet cached.
    fn disk(&self, progress: &mut Progress, root: &Path) -> anyhow::Result<()> {
        let stage = progress.start("disk", "GPT disk (ESP + root, BIOS+UEFI)");
        let cached = if self.want(Format::Raw) || !self.entries.qcow2.exists() {
            self.cache.fill(&self.entries.raw, |tmp| {
                let epoch = self.spec.source_date_epoch;
                disk::build_disk(root, self.work.path(), self.ids, epoch, tmp)
            })?
        } else {
            true
        };
        progress.done(stage, cached);
        Ok(())
    }

    /// Runs one stage that fills the cache entry `entry` with `make` unless it exists.
    fn stage(
        &self,
        progress: &mut Progress,
        name: &str,
        what: &str,
        entry: &Path,
        make: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let stage = progress.start(name, what);
        let cached = self.cache.fill(entry, make)?;
        progress.done(stage, cached);
        Ok(())
    }
}
