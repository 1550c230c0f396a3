//! `stackbox build`: runs the stages in order, each keyed in the cache by its inputs, and moves the finished
//! artifacts into `--out` with a manifest. The output is assembled in a temporary directory beside `--out` and
//! renamed into place at the end, so a failed or interrupted build leaves `--out` as it was.
//!
//! Stages: `index` (archive state) -> `bootstrap` (mmdebstrap tarball) -> `stackboxd` (the binary and its
//! unit) -> `pool` (resolution of the role packages) -> `configure` (unpack, configure, install stackboxd, lay
//! out and verify the pool) -> `kernel` (vmlinuz and the live-boot initramfs) -> one stage per artifact ->
//! `manifest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stackbox_common::cmd::Command;

use crate::apt::Apt;
use crate::cache::{Cache, Key, KeyBuilder, sha256_bytes, sha256_file};
use crate::configure::{self, Inputs};
use crate::disk::{self, Ids};
use crate::host;
use crate::manifest::{self, Manifest, Package};
use crate::outputs::{self, link_or_copy};
use crate::pool::{self, PoolPackage};
use crate::progress::Progress;
use crate::spec::{DEFAULT_SPEC, Format, Spec};

/// What `stackbox build` was asked to do.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The spec file; the embedded default when `None`.
    pub spec: Option<PathBuf>,
    /// The output directory.
    pub out: PathBuf,
    /// Formats to build; the spec's `outputs` when `None`.
    pub formats: Option<Vec<Format>>,
    /// The cache directory.
    pub cache: PathBuf,
    /// Print each stage's time at the end.
    pub timings: bool,
    /// A Debian mirror URI to use instead of the host's apt sources.
    pub mirror: Option<String>,
    /// A prebuilt `stackboxd`; when `None` it is built from `workspace` with cargo.
    pub stackboxd: Option<PathBuf>,
    /// The first-boot unit; `workspace/firstboot/systemd/stackbox-firstboot.service` when `None`.
    pub firstboot_unit: Option<PathBuf>,
    /// The stackbox workspace (for building stackboxd and finding the unit).
    pub workspace: PathBuf,
}

/// What a build produced.
#[derive(Debug)]
pub struct BuildSummary {
    /// The output directory.
    pub out: PathBuf,
    /// The manifest written into it.
    pub manifest: Manifest,
    /// Per-stage timings.
    pub timings: String,
}

/// Cached facts about a configured root, so that a fully cached build need not unpack it again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RootMeta {
    kernel: String,
    root_packages: Vec<(String, String, String)>,
}

fn load_spec(opts: &BuildOptions) -> anyhow::Result<(Spec, String)> {
    match &opts.spec {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading the spec {}", p.display()))?;
            let spec = Spec::parse(&p.display().to_string(), &text)?;
            Ok((spec, text))
        }
        None => Ok((Spec::default_spec()?, DEFAULT_SPEC.to_owned())),
    }
}

/// Builds `stackboxd` from the workspace (release, `--locked`) and returns the binary's path.
pub fn cargo_build_stackboxd(workspace: &Path) -> anyhow::Result<PathBuf> {
    host::run(
        &Command::new("cargo")
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "stackbox",
                "--bin",
                "stackboxd",
            ])
            .current_dir(workspace),
    )
    .context("building stackboxd (or pass --stackboxd PATH)")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("release/stackboxd");
    if !bin.is_file() {
        bail!("cargo built stackboxd but {} does not exist", bin.display());
    }
    Ok(bin)
}

/// Runs `make` into a scratch path beside the cache entry `entry` and renames it into place, unless the entry
/// already exists. Returns whether it was cached.
fn cached_entry(
    cache: &Cache,
    entry: &Path,
    make: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<bool> {
    if entry.exists() {
        return Ok(true);
    }
    let scratch = cache.scratch_for(entry);
    remove_any(&scratch)?;
    let result = make(&scratch);
    if let Err(e) = result {
        let _ = remove_any(&scratch);
        return Err(e);
    }
    std::fs::rename(&scratch, entry)
        .with_context(|| format!("moving {} into the cache", entry.display()))?;
    Ok(false)
}

fn remove_any(p: &Path) -> anyhow::Result<()> {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))
        }
        Ok(_) => std::fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
        Err(_) => Ok(()),
    }
}

/// Bump when an artifact stage changes what it makes from the same root (v2: reproducible ISO).
const OUTPUTS_VERSION: &str = "outputs-2";

fn output_key(root_key: &Key, what: &str) -> Key {
    KeyBuilder::new(what)
        .add_str("version", OUTPUTS_VERSION)
        .add_str("root", &root_key.0)
        .finish()
}

/// Runs the whole pipeline.
pub fn build(opts: &BuildOptions) -> anyhow::Result<BuildSummary> {
    let mut progress = Progress::new();
    let (spec, spec_text) = load_spec(opts)?;
    let formats = opts.formats.clone().unwrap_or_else(|| spec.outputs.clone());
    let want = |f: Format| formats.contains(&f);

    let stage = progress.start("check", "root, host tools");
    host::require_root()?;
    host::check_tools(host::TOOLS, host::FILES)?;
    progress.done(stage, false);

    let cache = Cache::open(&opts.cache)?;
    let spec_sha = sha256_bytes(spec_text.as_bytes());
    let epoch = spec.source_date_epoch;

    // index: the archive state every later stage depends on.
    let stage = progress.start("index", "refreshing the signed archive indices");
    let archives = host::archives(&spec.suite, opts.mirror.as_deref())?;
    let apt = Apt::new(&cache.apt_dir(), &archives)?;
    apt.update()?;
    let mut archive_state = BTreeMap::new();
    let mut inrelease_hashes = Vec::new();
    for (a, suite, path) in apt.inreleases()? {
        let h = sha256_file(&path)?;
        inrelease_hashes.push(format!("{} {suite} {h}", a.uri));
        archive_state.insert(format!("{} {suite}", a.uri), h);
    }
    let indices = pool::load_indices(&apt)?;
    progress.done(stage, false);

    // bootstrap
    let stage = progress.start("bootstrap", "mmdebstrap");
    let mut kb = KeyBuilder::new("bootstrap");
    crate::bootstrap::key_inputs(&mut kb, &spec, &archives, &inrelease_hashes)?;
    let bootstrap_key = kb.finish();
    let root_tar = cache
        .entry("bootstrap", &bootstrap_key)
        .with_extension("tar");
    let cached = cached_entry(&cache, &root_tar, |tmp| {
        crate::bootstrap::bootstrap(&spec, &archives, tmp)
    })?;
    progress.done(stage, cached);

    // stackboxd and its unit
    let stage = progress.start("stackboxd", "the binary and its first-boot unit");
    let stackboxd = match &opts.stackboxd {
        Some(p) => p.clone(),
        None => cargo_build_stackboxd(&opts.workspace)?,
    };
    let unit = opts.firstboot_unit.clone().unwrap_or_else(|| {
        opts.workspace
            .join("firstboot/systemd/stackbox-firstboot.service")
    });
    if !unit.is_file() {
        bail!(
            "the first-boot unit {} does not exist (it comes with the firstboot crate; pass --firstboot-unit)",
            unit.display()
        );
    }
    let stackboxd_sha = sha256_file(&stackboxd)?;
    let unit_sha = sha256_file(&unit)?;
    progress.done(stage, opts.stackboxd.is_some());

    // pool resolution
    let stage = progress.start("pool", "resolving role packages against the root");
    let pool_key = KeyBuilder::new("pool")
        .add_str("bootstrap", &bootstrap_key.0)
        .add_str("packages", &spec.pool_packages().join(","))
        .add_str("inrelease", &inrelease_hashes.join(","))
        .finish();
    let pool_json = cache.entry("pool", &pool_key).with_extension("json");
    let cached = cached_entry(&cache, &pool_json, |tmp| {
        let status = cache.apt_dir().join("root-status");
        crate::bootstrap::dpkg_status(&root_tar, &status)?;
        let pkgs = pool::resolve(&apt, &indices, &status, &spec.pool_packages())?;
        std::fs::write(tmp, serde_json::to_vec_pretty(&pkgs)?)
            .with_context(|| format!("writing {}", tmp.display()))
    })?;
    let pool_packages: Vec<PoolPackage> = serde_json::from_slice(
        &std::fs::read(&pool_json).with_context(|| format!("reading {}", pool_json.display()))?,
    )
    .context("parsing the cached pool resolution")?;
    progress.done(stage, cached);

    let root_key = KeyBuilder::new("root")
        .add_str("bootstrap", &bootstrap_key.0)
        .add_str("pool", &sha256_file(&pool_json)?)
        .add_str("spec", &spec_sha)
        .add_str("stackboxd", &stackboxd_sha)
        .add_str("unit", &unit_sha)
        .finish();
    let ids = Ids::from_seed(&spec_sha);

    // Which artifact entries exist already?
    let entry = |what: &str, ext: &str| {
        let k = output_key(&root_key, what);
        let p = cache.entry(what, &k);
        if ext.is_empty() {
            p
        } else {
            p.with_extension(ext)
        }
    };
    let meta_path = entry("rootmeta", "json");
    let kernel_dir = entry("kernel", "");
    let tar_entry = entry("tar", "tar");
    let squash_entry = entry("squashfs", "squashfs");
    let pxe_entry = entry("pxe", "");
    let iso_entry = entry("iso", "iso");
    let raw_entry = entry("raw", "raw");
    let qcow2_entry = entry("qcow2", "qcow2");
    let needs_squash = want(Format::Iso) || want(Format::Pxe);
    let mut needed: Vec<&Path> = vec![&meta_path, &kernel_dir];
    if want(Format::Tar) {
        needed.push(&tar_entry);
    }
    if want(Format::Pxe) {
        needed.push(&pxe_entry);
    }
    if want(Format::Iso) {
        needed.push(&iso_entry);
    }
    if want(Format::Raw) {
        needed.push(&raw_entry);
    }
    if want(Format::Qcow2) {
        needed.push(&qcow2_entry);
    }
    let all_cached = needed.iter().all(|p| p.exists());

    let work_parent = cache.root().join("work");
    std::fs::create_dir_all(&work_parent)?;
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&work_parent)
        .context("creating the build's work directory")?;
    let root = work.path().join("root");

    if !all_cached {
        let stage = progress.start("configure", "unpack, configure, stackboxd, offline pool");
        crate::bootstrap::unpack(&root_tar, &root)?;
        let pool_dest = root.join(pool::POOL_DIR);
        pool::assemble(
            &apt,
            &indices,
            &pool_packages,
            &cache.debs_dir(),
            &pool_dest,
        )?;
        configure::configure(
            &root,
            &spec,
            &Inputs {
                stackboxd: stackboxd.clone(),
                firstboot_unit: unit.clone(),
                root_uuid: ids.root_uuid.clone(),
                esp_id: ids.esp_id.clone(),
                pool_sources: pool::render_appliance_sources(&indices),
            },
        )?;
        let kernel = configure::kernel_version(&root)?;
        std::fs::create_dir_all(root.join("boot/grub"))?;
        std::fs::write(
            root.join("boot/grub/grub.cfg"),
            disk::render_grub_cfg(&spec, &kernel, &ids.root_uuid),
        )
        .context("writing /boot/grub/grub.cfg")?;
        configure::clamp_mtimes(&root, epoch)?;
        let status = std::fs::read_to_string(root.join("var/lib/dpkg/status"))
            .context("reading the root's dpkg status")?;
        let meta = RootMeta {
            kernel: kernel.clone(),
            root_packages: manifest::parse_dpkg_status(&status),
        };
        cached_entry(&cache, &meta_path, |tmp| {
            Ok(std::fs::write(tmp, serde_json::to_vec_pretty(&meta)?)?)
        })?;
        progress.done(stage, false);

        let stage = progress.start("kernel", "kernel and live-boot initramfs");
        let cached = cached_entry(&cache, &kernel_dir, |tmp| {
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
    }
    let meta: RootMeta = serde_json::from_slice(&std::fs::read(&meta_path)?)
        .context("parsing the cached root facts")?;
    let vmlinuz = kernel_dir.join("vmlinuz");
    let initrd = kernel_dir.join("initrd.img");

    if want(Format::Tar) {
        let stage = progress.start("tar", "rootfs.tar");
        let cached = cached_entry(&cache, &tar_entry, |tmp| {
            outputs::build_tar(&root, epoch, tmp)
        })?;
        progress.done(stage, cached);
    }
    let squash_needed =
        (want(Format::Iso) && !iso_entry.exists()) || (want(Format::Pxe) && !pxe_entry.exists());
    if needs_squash && squash_needed {
        let stage = progress.start("squashfs", "live root (zstd)");
        let cached = cached_entry(&cache, &squash_entry, |tmp| {
            outputs::build_squashfs(&root, epoch, tmp)
        })?;
        progress.done(stage, cached);
    }
    if want(Format::Pxe) {
        let stage = progress.start("pxe", "kernel, initrd, squashfs, boot.ipxe");
        let cached = cached_entry(&cache, &pxe_entry, |tmp| {
            outputs::build_pxe(&spec, &vmlinuz, &initrd, &squash_entry, tmp)
        })?;
        progress.done(stage, cached);
    }
    if want(Format::Iso) {
        let stage = progress.start("iso", "hybrid ISO (BIOS+UEFI, CD+USB)");
        let cached = cached_entry(&cache, &iso_entry, |tmp| {
            outputs::build_iso(&spec, &vmlinuz, &initrd, &squash_entry, work.path(), tmp)
        })?;
        progress.done(stage, cached);
    }
    if want(Format::Raw) || want(Format::Qcow2) {
        let stage = progress.start("disk", "GPT disk (ESP + root, BIOS+UEFI)");
        let cached = if want(Format::Raw) || !qcow2_entry.exists() {
            cached_entry(&cache, &raw_entry, |tmp| {
                disk::build_disk(&root, work.path(), &ids, epoch, tmp)
            })?
        } else {
            true
        };
        progress.done(stage, cached);
    }
    if want(Format::Qcow2) {
        let stage = progress.start("qcow2", "disk.qcow2");
        let cached = cached_entry(&cache, &qcow2_entry, |tmp| {
            outputs::build_qcow2(&raw_entry, tmp)
        })?;
        progress.done(stage, cached);
    }
    // The unpacked root is no longer needed.
    let _ = std::fs::remove_dir_all(&root);

    // Assemble the output beside --out, then swap it in.
    let stage = progress.start("manifest", "artifacts, manifest.json, SHA256SUMS");
    let out = &opts.out;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = out
        .file_name()
        .context("--out must name a directory")?
        .to_string_lossy()
        .into_owned();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(parent)
        .with_context(|| format!("creating a staging directory in {}", parent.display()))?;
    let s = staging.path();
    if want(Format::Tar) {
        link_or_copy(&tar_entry, &s.join("rootfs.tar"))?;
    }
    if want(Format::Iso) {
        link_or_copy(&iso_entry, &s.join("stackbox.iso"))?;
    }
    if want(Format::Raw) {
        link_or_copy(&raw_entry, &s.join("disk.raw"))?;
    }
    if want(Format::Qcow2) {
        link_or_copy(&qcow2_entry, &s.join("disk.qcow2"))?;
    }
    if want(Format::Pxe) {
        std::fs::create_dir_all(s.join("pxe"))?;
        for f in ["vmlinuz", "initrd.img", "filesystem.squashfs", "boot.ipxe"] {
            link_or_copy(&pxe_entry.join(f), &s.join("pxe").join(f))?;
        }
    }
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
    let root_packages = meta
        .root_packages
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
        .collect();
    let manifest = Manifest {
        manifest_version: 1,
        spec_sha256: spec_sha.clone(),
        source_date_epoch: epoch,
        suite: spec.suite.clone(),
        archive_state,
        root_uuid: ids.root_uuid.clone(),
        kernel: meta.kernel.clone(),
        artifacts: manifest::artifacts(s)?,
        root_packages,
        pool_packages: pool_packages
            .iter()
            .map(|p| Package {
                name: p.name.clone(),
                version: p.version.clone(),
                arch: p.arch.clone(),
                sha256: p.sha256.clone(),
            })
            .collect(),
    };
    manifest::write(s, &manifest)?;
    let staged = staging.keep();
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old)
            .with_context(|| format!("moving the old {} aside", out.display()))?;
        std::fs::rename(&staged, out)
            .with_context(|| format!("moving the build into {}", out.display()))?;
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else {
        std::fs::rename(&staged, out)
            .with_context(|| format!("moving the build into {}", out.display()))?;
    }
    progress.done(stage, false);

    // Keep one entry per stage: what this build used.
    cache.prune("bootstrap", &bootstrap_key)?;
    cache.prune("pool", &pool_key)?;
    for what in [
        "kernel", "rootmeta", "tar", "squashfs", "pxe", "iso", "raw", "qcow2",
    ] {
        cache.prune(what, &output_key(&root_key, what))?;
    }

    let timings = progress.render_timings();
    if opts.timings {
        eprint!("{timings}");
    }
    Ok(BuildSummary {
        out: out.clone(),
        manifest,
        timings,
    })
}
