//! Stage `manifest`: the artifacts are linked from the cache into a staging directory beside `--out`, the
//! manifest and `SHA256SUMS` are written there, and the staging directory is swapped into place, so a failed or
//! interrupted build leaves `--out` as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::build::root::{Entries, RootMeta, Sources};
use crate::layout::Ids;
use crate::manifest::{self, Manifest, Package};
use crate::outputs::link_or_copy;
use crate::pool::Indices;
use crate::spec::{Format, Spec};

/// The output being assembled: a hidden directory beside `--out`.
pub struct Staging {
    dir: tempfile::TempDir,
    out: PathBuf,
    parent: PathBuf,
    name: String,
}

impl Staging {
    /// Creates `.NAME.partial-*` in the parent of `out` (creating the parent).
    pub fn beside(out: &Path) -> anyhow::Result<Staging> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let name = out
            .file_name()
            .context("--out must name a directory")?
            .to_string_lossy()
            .into_owned();
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-"))
            .tempdir_in(parent)
            .with_context(|| format!("creating a staging directory in {}", parent.display()))?;
        Ok(Staging {
            dir,
            out: out.to_owned(),
            parent: parent.to_owned(),
            name,
        })
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Links (or copies) each artifact in `formats` from its cache entry under its published name.
    pub fn link_artifacts(&self, entries: &Entries, formats: &[Format]) -> anyhow::Result<()> {
        let s = self.path();
        let want = |f: Format| formats.contains(&f);
        if want(Format::Tar) {
            link_or_copy(&entries.tar, &s.join("rootfs.tar"))?;
        }
        if want(Format::Iso) {
            link_or_copy(&entries.iso, &s.join("stackbox.iso"))?;
        }
        if want(Format::Raw) {
            link_or_copy(&entries.raw, &s.join("disk.raw"))?;
        }
        if want(Format::Qcow2) {
            link_or_copy(&entries.qcow2, &s.join("disk.qcow2"))?;
        }
        if want(Format::Pxe) {
            std::fs::create_dir_all(s.join("pxe"))?;
            for f in ["vmlinuz", "initrd.img", "filesystem.squashfs", "boot.ipxe"] {
                link_or_copy(&entries.pxe.join(f), &s.join("pxe").join(f))?;
            }
        }
        Ok(())
    }

    /// Replaces `--out` with the staging directory: the old output is moved aside, the new one renamed in, and
    /// the old one removed.
    pub fn swap_into_place(self) -> anyhow::Result<()> {
        let staged = self.dir.keep();
        let out = &self.out;
        if out.exists() {
            let old = self
                .parent
                .join(format!(".{}.old-{}", self.name, std::process::id()));
            std::fs::rename(out, &old)
                .with_context(|| format!("moving the old {} aside", out.display()))?;
            std::fs::rename(&staged, out)
                .with_context(|| format!("moving the build into {}", out.display()))?;
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        } else {
            std::fs::rename(&staged, out)
                .with_context(|| format!("moving the build into {}", out.display()))?;
        }
        Ok(())
    }
}

/// The manifest of the artifacts in `dir`: the spec's hash and epoch, the archive state, the root's identity and
/// every root and pool package with its SHA-256 from the signed index.
pub fn manifest(
    spec: &Spec,
    spec_sha: &str,
    sources: &Sources<'_>,
    ids: &Ids,
    meta: &RootMeta,
    dir: &Path,
) -> anyhow::Result<Manifest> {
    Ok(Manifest {
        manifest_version: 1,
        spec_sha256: spec_sha.to_owned(),
        source_date_epoch: spec.source_date_epoch,
        suite: spec.suite.clone(),
        archive_state: sources.index.archive_state.clone(),
        root_uuid: ids.root_uuid.clone(),
        kernel: meta.kernel.clone(),
        artifacts: manifest::artifacts(dir)?,
        root_packages: root_packages(&sources.index.indices, meta),
        pool_packages: sources
            .pool
            .packages
            .iter()
            .map(|p| Package {
                name: p.name.clone(),
                version: p.version.clone(),
                arch: p.arch.clone(),
                sha256: p.sha256.clone(),
            })
            .collect(),
    })
}

/// The root's packages, each with the SHA-256 its .deb has in the signed index (empty when not listed there).
fn root_packages(indices: &Indices, meta: &RootMeta) -> Vec<Package> {
    let by_nva: BTreeMap<(String, String, String), String> = indices
        .by_uri
        .values()
        .map(|(_, e)| {
            (
                (e.name.clone(), e.version.clone(), e.arch.clone()),
                e.sha256.clone(),
            )
        })
        .collect();
    meta.root_packages
        .iter()
        .map(|(n, v, a)| Package {
            name: n.clone(),
            version: v.clone(),
            arch: a.clone(),
            sha256: by_nva
                .get(&(n.clone(), v.clone(), a.clone()))
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}
