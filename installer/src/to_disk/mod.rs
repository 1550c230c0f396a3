//! Install to disk (`stackboxd install-os`): the live system (booted from the ISO as a CD or USB stick, or
//! over PXE) writes the appliance onto a disk in the layout of the image's `disk.raw`
//! ([`stackbox_image::layout`]) and carries the wizard's state over, so that the installed system resumes
//! the wizard with the same certificate the operator already trusts.
//!
//! The order: [`source`] (which squashfs, which checksum) -> [`target`] (which disk may be erased) ->
//! verify the source's SHA-256 -> mount it under an overlay -> judge the disk's size -> [`write`] (erase the
//! ends, ESP, root, then the partition table last). A failure after the first write erases the ends again,
//! so no half-written system can boot; a kill leaves no partition table for the same reason.

pub mod source;
pub mod target;
pub mod write;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use stackbox_image::layout::{BOOT_DIR, Ids};
use stackbox_machine::system::Root;

pub use source::{Source, SourceError};
pub use target::{Refusal, Target};

/// What `install-os` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The system it runs on (`/`).
    pub root: Root,
    /// The disk to erase.
    pub target: PathBuf,
    /// The squashfs to install; the live medium's when absent.
    pub source: Option<PathBuf>,
    /// The wizard's state directory to carry over, when there is one.
    pub state: Option<PathBuf>,
    /// Scratch directory on a tmpfs.
    pub scratch: PathBuf,
    /// An answer file (already judged) to build into the installed system for its wizard to go on.
    pub answers: Option<String>,
}

/// The steps, as the operator sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Judging the disk.
    Check,
    /// Reading the source and comparing its SHA-256.
    Verify,
    /// Preparing the installed root's own files.
    Prepare,
    /// Erasing the old partition table and boot code.
    Erase,
    /// Making the ESP with GRUB for UEFI.
    Esp,
    /// Copying the root file system.
    Root,
    /// Writing the partition table and the BIOS boot code, then syncing.
    Finish,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 7] = [
        Phase::Check,
        Phase::Verify,
        Phase::Prepare,
        Phase::Erase,
        Phase::Esp,
        Phase::Root,
        Phase::Finish,
    ];

    /// What the phase does, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Check => "checking the target disk",
            Phase::Verify => "verifying the source's SHA-256",
            Phase::Prepare => "preparing the installed system's files",
            Phase::Erase => "erasing the old partition table",
            Phase::Esp => "making the ESP (GRUB for UEFI)",
            Phase::Root => "copying the root file system",
            Phase::Finish => "writing the partition table and BIOS boot code",
        }
    }

    /// Its number from 1.
    pub fn number(self) -> usize {
        Phase::ALL.iter().position(|p| *p == self).unwrap_or(0) + 1
    }
}

/// Who follows an install: the command line prints, the wizard keeps a progress.
pub trait Ui {
    /// A phase begins.
    fn phase(&mut self, phase: Phase);
    /// Bytes of the source verified so far.
    fn verified(&mut self, done: u64, total: u64);
    /// The disk is judged fit: may it be erased? (false stops before anything is written)
    fn confirm(&mut self, target: &Target) -> bool;
}

/// What was installed.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The disk's device node.
    pub disk: String,
    /// The disk, described.
    pub described: String,
    /// The root file system's UUID.
    pub root_uuid: String,
    /// The source and its verified SHA-256.
    pub source: String,
    /// The source's SHA-256.
    pub sha256: String,
    /// Seconds since the epoch.
    pub at: u64,
    /// A warning about re-reading the partition table, when the kernel could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reread: Option<String>,
}

/// Why nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallOsError {
    /// The source is missing, unverifiable or damaged.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The disk may not be erased.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The operator said no.
    #[error("not confirmed: nothing was written")]
    NotConfirmed,
    /// Something failed before the disk was touched.
    #[error("{0:#}")]
    Before(anyhow::Error),
    /// Something failed while writing; the disk's ends were erased again.
    #[error(
        "{error:#}\nThe disk {disk} was left without a partition table, so it boots nothing; run the same command again to retry."
    )]
    Writing {
        /// The disk.
        disk: String,
        /// What failed.
        error: anyhow::Error,
    },
}

/// Installs the appliance onto `opts.target`.
pub fn install_os(opts: &Options, ui: &mut dyn Ui) -> Result<Installed, InstallOsError> {
    ui.phase(Phase::Check);
    let source = source::locate(&opts.root, opts.source.as_deref())?;
    // The fast refusals before the long read; the size is judged once the tree is known.
    target::judge(&opts.root, &opts.target, 0, &source.path)?;
    ui.phase(Phase::Verify);
    source::verify(&source, &mut |done, total| ui.verified(done, total))?;
    let tree = write::mount_tree(&opts.scratch, &source.path).map_err(InstallOsError::Before)?;
    let boot_dir = tree.merged.join(BOOT_DIR);
    let tree_bytes =
        stackbox_image::disk::tree_size(&tree.merged).map_err(InstallOsError::Before)?;
    let target = target::judge(
        &opts.root,
        &opts.target,
        stackbox_image::layout::min_disk_bytes(tree_bytes),
        &source.path,
    )?;
    if !ui.confirm(&target) {
        return Err(InstallOsError::NotConfirmed);
    }
    ui.phase(Phase::Prepare);
    let ids = Ids::random().map_err(InstallOsError::Before)?;
    let installed = Installed {
        disk: target.dev.display().to_string(),
        described: target.describe(),
        root_uuid: ids.root_uuid.clone(),
        source: source.path.display().to_string(),
        sha256: source.sha256.clone(),
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        reread: None,
    };
    let record =
        serde_json::to_string_pretty(&installed).map_err(|e| InstallOsError::Before(e.into()))?;
    write::customise(
        &tree.merged,
        &write::Customisation {
            ids: &ids,
            state: opts.state.as_deref(),
            record: format!("{record}\n"),
            answers: opts.answers.as_deref(),
        },
    )
    .map_err(InstallOsError::Before)?;
    let size = target.disk.size_bytes;
    let written = write_disk(
        &target.dev,
        size,
        &ids,
        &tree.merged,
        &boot_dir,
        &opts.scratch,
        ui,
    );
    drop(tree);
    if let Err(error) = written {
        let _ = write::erase_ends(&target.dev, size);
        return Err(InstallOsError::Writing {
            disk: target.dev.display().to_string(),
            error,
        });
    }
    Ok(Installed {
        reread: write::reread(&target.dev),
        ..installed
    })
}

/// The writing phases, in their safe order.
fn write_disk(
    dev: &Path,
    size: u64,
    ids: &Ids,
    tree: &Path,
    boot_dir: &Path,
    scratch: &Path,
    ui: &mut dyn Ui,
) -> anyhow::Result<()> {
    let root_sectors = stackbox_image::layout::root_sectors_filling(size);
    ui.phase(Phase::Erase);
    write::erase_ends(dev, size)?;
    ui.phase(Phase::Esp);
    write::write_esp(dev, ids, boot_dir, scratch)?;
    ui.phase(Phase::Root);
    write::write_root(dev, ids, tree, root_sectors)?;
    ui.phase(Phase::Finish);
    write::write_partition_table(dev, ids, root_sectors, boot_dir).context("finishing the disk")
}
