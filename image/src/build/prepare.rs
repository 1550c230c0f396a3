//! The stages before the root exists: `check` (root, host tools), `index` (the signed archive state),
//! `bootstrap` (the mmdebstrap tarball), `stackboxd` (the binary and its first-boot unit) and `pool` (the role
//! packages resolved against the bootstrapped root). Each returns what later stages read, with the hashes that
//! go into their cache keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stackbox_common::cmd::Command;

use crate::apt::Apt;
use crate::cache::{Cache, Key, KeyBuilder, sha256_file};
use crate::host::{self, Archive};
use crate::pool::{self, Indices, PoolPackage};
use crate::progress::Progress;
use crate::spec::Spec;

/// Stage `check`: the build runs as root and every host tool and file is present.
pub fn check_host(progress: &mut Progress) -> anyhow::Result<()> {
    let stage = progress.start("check", "root, host tools");
    host::require_root()?;
    host::check_tools(host::TOOLS, host::FILES)?;
    progress.done(stage, false);
    Ok(())
}

/// The archive state every later stage depends on (output of stage `index`).
pub struct Index {
    /// The Debian archives the build reads.
    pub archives: Vec<Archive>,
    /// The host-side apt over those archives, updated.
    pub apt: Apt,
    /// The signed Packages indices.
    pub indices: Indices,
    /// `"URI SUITE"` to the SHA-256 of its InRelease, for the manifest.
    pub archive_state: BTreeMap<String, String>,
    /// `"URI SUITE SHA256"` per InRelease, for cache keys.
    pub inrelease_hashes: Vec<String>,
}

/// Stage `index`: refreshes the signed archive indices in the cache and hashes every InRelease.
pub fn index(
    progress: &mut Progress,
    cache: &Cache,
    spec: &Spec,
    mirror: Option<&str>,
) -> anyhow::Result<Index> {
    let stage = progress.start("index", "refreshing the signed archive indices");
    let archives = host::archives(&spec.suite, mirror)?;
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
    Ok(Index {
        archives,
        apt,
        indices,
        archive_state,
        inrelease_hashes,
    })
}

/// The bootstrapped root as a cached tarball (output of stage `bootstrap`).
pub struct Bootstrap {
    /// Its cache key.
    pub key: Key,
    /// The tarball in the cache.
    pub tar: PathBuf,
}

/// Stage `bootstrap`: mmdebstrap's tarball of the base system, keyed by the spec and the archive state.
pub fn bootstrap(
    progress: &mut Progress,
    cache: &Cache,
    spec: &Spec,
    index: &Index,
) -> anyhow::Result<Bootstrap> {
    let stage = progress.start("bootstrap", "mmdebstrap");
    let mut kb = KeyBuilder::new("bootstrap");
    crate::bootstrap::key_inputs(&mut kb, spec, &index.archives, &index.inrelease_hashes)?;
    let key = kb.finish();
    let tar = cache.entry("bootstrap", &key).with_extension("tar");
    let cached = cache.fill(&tar, |tmp| {
        crate::bootstrap::bootstrap(spec, &index.archives, tmp)
    })?;
    progress.done(stage, cached);
    Ok(Bootstrap { key, tar })
}

/// `stackboxd` and its first-boot unit, with their hashes (output of stage `stackboxd`).
pub struct Stackboxd {
    /// The binary installed as `/usr/bin/stackboxd`.
    pub binary: PathBuf,
    /// `stackbox-firstboot.service`.
    pub unit: PathBuf,
    /// SHA-256 of the binary.
    pub binary_sha: String,
    /// SHA-256 of the unit.
    pub unit_sha: String,
}

/// Stage `stackboxd`: the prebuilt binary when given (reported as cached), else a cargo build from
/// `workspace`; the first-boot unit from `unit` or from the workspace's firstboot crate.
pub fn stackboxd(
    progress: &mut Progress,
    prebuilt: Option<&Path>,
    unit: Option<&Path>,
    workspace: &Path,
) -> anyhow::Result<Stackboxd> {
    let stage = progress.start("stackboxd", "the binary and its first-boot unit");
    let binary = match prebuilt {
        Some(p) => p.to_owned(),
        None => cargo_build_stackboxd(workspace)?,
    };
    let unit = unit
        .map(Path::to_owned)
        .unwrap_or_else(|| workspace.join("firstboot/systemd/stackbox-firstboot.service"));
    if !unit.is_file() {
        bail!(
            "the first-boot unit {} does not exist (it comes with the firstboot crate; pass --firstboot-unit)",
            unit.display()
        );
    }
    let binary_sha = sha256_file(&binary)?;
    let unit_sha = sha256_file(&unit)?;
    progress.done(stage, prebuilt.is_some());
    Ok(Stackboxd {
        binary,
        unit,
        binary_sha,
        unit_sha,
    })
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

/// The role packages the offline pool holds (output of stage `pool`).
pub struct Pool {
    /// Its cache key.
    pub key: Key,
    /// The cached resolution (JSON); its hash goes into the root key.
    pub json: PathBuf,
    /// The resolved packages.
    pub packages: Vec<PoolPackage>,
}

/// Stage `pool`: what each role package needs on top of the bootstrapped root, resolved by apt.
pub fn pool(
    progress: &mut Progress,
    cache: &Cache,
    spec: &Spec,
    index: &Index,
    bootstrap: &Bootstrap,
) -> anyhow::Result<Pool> {
    let stage = progress.start("pool", "resolving role packages against the root");
    let key = KeyBuilder::new("pool")
        .add_str("bootstrap", &bootstrap.key.0)
        .add_str("packages", &spec.pool_packages().join(","))
        .add_str("inrelease", &index.inrelease_hashes.join(","))
        .finish();
    let json = cache.entry("pool", &key).with_extension("json");
    let cached = cache.fill(&json, |tmp| {
        let status = cache.apt_dir().join("root-status");
        crate::bootstrap::dpkg_status(&bootstrap.tar, &status)?;
        let pkgs = pool::resolve(&index.apt, &index.indices, &status, &spec.pool_packages())?;
        std::fs::write(tmp, serde_json::to_vec_pretty(&pkgs)?)
            .with_context(|| format!("writing {}", tmp.display()))
    })?;
    let packages: Vec<PoolPackage> = serde_json::from_slice(
        &std::fs::read(&json).with_context(|| format!("reading {}", json.display()))?,
    )
    .context("parsing the cached pool resolution")?;
    progress.done(stage, cached);
    Ok(Pool {
        key,
        json,
        packages,
    })
}
