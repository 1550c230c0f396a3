//! The configured root and what is keyed by it: the root's identity (its cache key and the disk ids), the cache
//! entries of every artifact made from it, the scratch directory it is unpacked into, and stages `configure`
//! (unpack, offline pool, appliance configuration, GRUB configuration, clamped mtimes) and `kernel` (vmlinuz and
//! the live-boot initramfs).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::build::prepare::{Bootstrap, Index, Pool, Stackboxd};
use crate::cache::{Cache, Key, KeyBuilder, sha256_bytes, sha256_file};
use crate::configure::{self, Inputs};
use crate::disk;
use crate::layout::Ids;
use crate::manifest;
use crate::pool;
use crate::progress::Progress;
use crate::spec::{Format, Spec};

/// Bump when an artifact stage changes what it makes from the same root (v2: reproducible ISO).
const OUTPUTS_VERSION: &str = "outputs-2";

/// Where `--answers` puts the answer file in the root (what the wizard's zero-touch reads).
pub const ANSWERS_FILE: &str = "etc/stackbox/answers.toml";

/// The cache stages keyed by the root key, in the order they are pruned.
pub const OUTPUT_STAGES: [&str; 8] = [
    "kernel", "rootmeta", "tar", "squashfs", "pxe", "iso", "raw", "qcow2",
];

/// The outputs of the stages before the root: everything the configured root is made from.
pub struct Sources<'a> {
    /// Stage `index`.
    pub index: &'a Index,
    /// Stage `bootstrap`.
    pub bootstrap: &'a Bootstrap,
    /// Stage `stackboxd`.
    pub stackboxd: &'a Stackboxd,
    /// Stage `pool`.
    pub pool: &'a Pool,
    /// An answer file built into the root (`--answers`).
    pub answers: Option<&'a str>,
}

/// Who the configured root is: its cache key and the ids derived from the spec.
pub struct RootIdentity {
    /// Hashes the bootstrap key, the pool resolution, the spec, stackboxd and the first-boot unit.
    pub key: Key,
    /// Filesystem UUIDs and GPT GUIDs, derived from the spec's hash.
    pub ids: Ids,
}

impl RootIdentity {
    /// The identity of the root made from `sources` for the spec whose text hashes to `spec_sha`.
    pub fn new(spec_sha: &str, sources: &Sources<'_>) -> anyhow::Result<RootIdentity> {
        let key = KeyBuilder::new("root")
            .add_str("bootstrap", &sources.bootstrap.key.0)
            .add_str("pool", &sha256_file(&sources.pool.json)?)
            .add_str("spec", spec_sha)
            .add_str("stackboxd", &sources.stackboxd.binary_sha)
            .add_str("unit", &sources.stackboxd.unit_sha)
            .add_str(
                "answers",
                &sources
                    .answers
                    .map(|a| sha256_bytes(a.as_bytes()))
                    .unwrap_or_default(),
            )
            .finish();
        Ok(RootIdentity {
            key,
            ids: Ids::from_seed(spec_sha),
        })
    }
}

/// The key of the cache entry `what` made from the root with key `root_key`.
pub fn output_key(root_key: &Key, what: &str) -> Key {
    KeyBuilder::new(what)
        .add_str("version", OUTPUTS_VERSION)
        .add_str("root", &root_key.0)
        .finish()
}

/// The cache entries made from one root; each may or may not exist yet.
pub struct Entries {
    /// [`RootMeta`] as JSON.
    pub meta: PathBuf,
    /// A directory with `vmlinuz` and `initrd.img`.
    pub kernel: PathBuf,
    /// `rootfs.tar`.
    pub tar: PathBuf,
    /// The live root's squashfs (for the ISO and the PXE bundle).
    pub squashfs: PathBuf,
    /// The PXE bundle directory.
    pub pxe: PathBuf,
    /// `stackbox.iso`.
    pub iso: PathBuf,
    /// `disk.raw`.
    pub raw: PathBuf,
    /// `disk.qcow2`.
    pub qcow2: PathBuf,
}

impl Entries {
    /// The entries of the root with key `root_key` in `cache`.
    pub fn new(cache: &Cache, root_key: &Key) -> Entries {
        let entry = |what: &str, ext: &str| {
            let p = cache.entry(what, &output_key(root_key, what));
            if ext.is_empty() {
                p
            } else {
                p.with_extension(ext)
            }
        };
        Entries {
            meta: entry("rootmeta", "json"),
            kernel: entry("kernel", ""),
            tar: entry("tar", "tar"),
            squashfs: entry("squashfs", "squashfs"),
            pxe: entry("pxe", ""),
            iso: entry("iso", "iso"),
            raw: entry("raw", "raw"),
            qcow2: entry("qcow2", "qcow2"),
        }
    }

    /// True when the root facts, the kernel and every artifact in `formats` are cached, so the root need not
    /// be unpacked and configured at all.
    pub fn all_cached(&self, formats: &[Format]) -> bool {
        let mut needed: Vec<&Path> = vec![&self.meta, &self.kernel];
        for (format, entry) in [
            (Format::Tar, &self.tar),
            (Format::Pxe, &self.pxe),
            (Format::Iso, &self.iso),
            (Format::Raw, &self.raw),
            (Format::Qcow2, &self.qcow2),
        ] {
            if formats.contains(&format) {
                needed.push(entry);
            }
        }
        needed.iter().all(|p| p.exists())
    }

    /// The cached facts about the root.
    pub fn read_meta(&self) -> anyhow::Result<RootMeta> {
        serde_json::from_slice(&std::fs::read(&self.meta)?).context("parsing the cached root facts")
    }
}

/// Cached facts about a configured root, so that a fully cached build need not unpack it again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RootMeta {
    /// The kernel version in `/boot`.
    pub kernel: String,
    /// The root's installed packages: name, version, architecture.
    pub root_packages: Vec<(String, String, String)>,
}

/// The build's scratch directory under the cache, with the unpacked root inside; removed when dropped.
pub struct WorkDir {
    dir: tempfile::TempDir,
}

impl WorkDir {
    /// Creates a fresh `work/build-*` directory in the cache.
    pub fn create(cache: &Cache) -> anyhow::Result<WorkDir> {
        let parent = cache.root().join("work");
        std::fs::create_dir_all(&parent)?;
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&parent)
            .context("creating the build's work directory")?;
        Ok(WorkDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the root is unpacked.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Removes the unpacked root once every artifact is made.
    pub fn remove_root(&self) {
        let _ = std::fs::remove_dir_all(self.root());
    }
}

/// Stage `configure`: unpacks the bootstrap into `work`, lays out the offline pool, configures the appliance,
/// writes the disk's GRUB configuration, clamps mtimes and caches the root's facts. Returns the kernel version.
pub fn configure(
    progress: &mut Progress,
    cache: &Cache,
    spec: &Spec,
    sources: &Sources<'_>,
    ids: &Ids,
    entries: &Entries,
    work: &WorkDir,
) -> anyhow::Result<String> {
    let stage = progress.start("configure", "unpack, configure, stackboxd, offline pool");
    let root = work.root();
    crate::bootstrap::unpack(&sources.bootstrap.tar, &root)?;
    let index = sources.index;
    pool::assemble(
        &index.apt,
        &index.indices,
        &sources.pool.packages,
        &cache.debs_dir(),
        &root.join(pool::POOL_DIR),
    )?;
    configure::configure(
        &root,
        spec,
        &Inputs {
            stackboxd: sources.stackboxd.binary.clone(),
            firstboot_unit: sources.stackboxd.unit.clone(),
            root_uuid: ids.root_uuid.clone(),
            esp_id: ids.esp_id.clone(),
            pool_sources: pool::render_appliance_sources(&index.indices),
        },
    )?;
    let kernel = configure::kernel_version(&root)?;
    write_grub_cfg(&root, spec, &kernel, ids)?;
    disk::make_boot_images(&root)?;
    if let Some(text) = sources.answers {
        let path = root.join(ANSWERS_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context("creating /etc/stackbox")?;
        }
        // Only root reads it: it holds the admin password's hash (and may hold a join code).
        stackbox_common::fs::write_atomic(&path, text.as_bytes(), 0o600)
            .context("writing the built-in answer file")?;
    }
    let bytes = disk::tree_size(&root)?;
    std::fs::write(
        root.join(crate::layout::BOOT_DIR)
            .join(crate::layout::ROOT_BYTES),
        format!("{bytes}\n"),
    )
    .context("writing the root's size")?;
    configure::clamp_mtimes(&root, spec.source_date_epoch)?;
    cache_meta(cache, &root, &kernel, &entries.meta)?;
    progress.done(stage, false);
    Ok(kernel)
}

/// `/boot/grub/grub.cfg` of the disk image, which both GRUB images load.
fn write_grub_cfg(root: &Path, spec: &Spec, kernel: &str, ids: &Ids) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join("boot/grub"))?;
    std::fs::write(
        root.join("boot/grub/grub.cfg"),
        disk::render_grub_cfg(spec, kernel, &ids.root_uuid),
    )
    .context("writing /boot/grub/grub.cfg")
}

/// Stores the kernel version and the root's packages (from its dpkg status) as the entry `meta_path`.
fn cache_meta(cache: &Cache, root: &Path, kernel: &str, meta_path: &Path) -> anyhow::Result<()> {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status"))
        .context("reading the root's dpkg status")?;
    let meta = RootMeta {
        kernel: kernel.to_owned(),
        root_packages: manifest::parse_dpkg_status(&status),
    };
    cache.fill(meta_path, |tmp| {
        Ok(std::fs::write(tmp, serde_json::to_vec_pretty(&meta)?)?)
    })?;
    Ok(())
}

/// Stage `kernel`: copies the configured root's kernel and live-boot initramfs into their cache entry.
pub fn kernel(
    progress: &mut Progress,
    cache: &Cache,
    entries: &Entries,
    work: &WorkDir,
    kernel: &str,
) -> anyhow::Result<()> {
    let stage = progress.start("kernel", "kernel and live-boot initramfs");
    let root = work.root();
    let cached = cache.fill(&entries.kernel, |tmp| {
        std::fs::create_dir_all(tmp)?;
        std::fs::copy(
            root.join(format!("boot/vmlinuz-{kernel}")),
            tmp.join("vmlinuz"),
        )
        .context("copying the kernel")?;
        std::fs::copy(
            root.join(format!("boot/initrd.img-{kernel}")),
            tmp.join("initrd.img"),
        )
        .context("copying the initramfs")?;
        Ok(())
    })?;
    progress.done(stage, cached);
    Ok(())
}
