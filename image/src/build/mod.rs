//! `stackbox build`: runs the stages in order, each keyed in the cache by its inputs, and moves the finished
//! artifacts into `--out` with a manifest. The output is assembled in a temporary directory beside `--out` and
//! renamed into place at the end, so a failed or interrupted build leaves `--out` as it was.
//!
//! Stages: `check` (root, host tools) -> `index` (archive state) -> `bootstrap` (mmdebstrap tarball) ->
//! `stackboxd` (the binary and its unit) -> `pool` (resolution of the role packages) -> `configure` (unpack,
//! configure, install stackboxd, lay out and verify the pool) -> `kernel` (vmlinuz and the live-boot initramfs)
//! -> one stage per artifact -> `manifest` (assemble beside `--out`, swap into place).
//!
//! [`build`] is that list; each stage is a function with a typed output:
//! - [`prepare`]: `check`, `index` ([`prepare::Index`]), `bootstrap` ([`prepare::Bootstrap`]), `stackboxd`
//!   ([`prepare::Stackboxd`]) and `pool` ([`prepare::Pool`]);
//! - [`root`]: the root's identity ([`root::RootIdentity`]), its cache entries ([`root::Entries`]), the work
//!   directory, and stages `configure` and `kernel` ([`root::RootMeta`]);
//! - [`artifacts`]: `tar`, `squashfs`, `pxe`, `iso`, `disk`, `qcow2`;
//! - [`assemble`]: the staging directory, the manifest and the swap into place.

pub mod artifacts;
pub mod assemble;
pub mod prepare;
pub mod root;

use std::path::PathBuf;

use anyhow::Context;

use crate::cache::{Cache, sha256_bytes};
use crate::manifest::{self, Manifest};
use crate::progress::Progress;
use crate::spec::{DEFAULT_SPEC, Format, Spec};
use artifacts::Artifacts;
use assemble::Staging;
pub use prepare::cargo_build_stackboxd;
use root::{Entries, OUTPUT_STAGES, RootIdentity, Sources, WorkDir, output_key};

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
    /// An answer file to build into the root as `/etc/stackbox/answers.toml` (zero-touch installs).
    pub answers: Option<PathBuf>,
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

/// The spec and its text (the text's hash keys the root and names the disk ids).
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

/// Runs the whole pipeline.
pub fn build(opts: &BuildOptions) -> anyhow::Result<BuildSummary> {
    let mut progress = Progress::new();
    let (spec, spec_text) = load_spec(opts)?;
    let formats = opts.formats.clone().unwrap_or_else(|| spec.outputs.clone());
    prepare::check_host(&mut progress)?;
    let cache = Cache::open(&opts.cache)?;
    let spec_sha = sha256_bytes(spec_text.as_bytes());

    let index = prepare::index(&mut progress, &cache, &spec, opts.mirror.as_deref())?;
    let bootstrap = prepare::bootstrap(&mut progress, &cache, &spec, &index)?;
    let stackboxd = prepare::stackboxd(
        &mut progress,
        opts.stackboxd.as_deref(),
        opts.firstboot_unit.as_deref(),
        &opts.workspace,
    )?;
    let pool = prepare::pool(&mut progress, &cache, &spec, &index, &bootstrap)?;
    let answers = opts
        .answers
        .as_deref()
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("--answers: reading {}", p.display()))
        })
        .transpose()?;
    let sources = Sources {
        index: &index,
        bootstrap: &bootstrap,
        stackboxd: &stackboxd,
        pool: &pool,
        answers: answers.as_deref(),
    };

    let identity = RootIdentity::new(&spec_sha, &sources)?;
    let entries = Entries::new(&cache, &identity.key);
    let work = WorkDir::create(&cache)?;
    if !entries.all_cached(&formats) {
        let ids = &identity.ids;
        let kernel = root::configure(&mut progress, &cache, &spec, &sources, ids, &entries, &work)?;
        root::kernel(&mut progress, &cache, &entries, &work, &kernel)?;
    }
    let meta = entries.read_meta()?;
    Artifacts {
        cache: &cache,
        spec: &spec,
        formats: &formats,
        entries: &entries,
        work: &work,
        ids: &identity.ids,
    }
    .make(&mut progress)?;
    work.remove_root();

    let stage = progress.start("manifest", "artifacts, manifest.json, SHA256SUMS");
    let staging = Staging::beside(&opts.out)?;
    staging.link_artifacts(&entries, &formats)?;
    let manifest = assemble::manifest(
        &spec,
        &spec_sha,
        &sources,
        &identity.ids,
        &meta,
        staging.path(),
    )?;
    manifest::write(staging.path(), &manifest)?;
    staging.swap_into_place()?;
    progress.done(stage, false);

    prune(&cache, &sources, &identity)?;
    let timings = progress.render_timings();
    if opts.timings {
        eprint!("{timings}");
    }
    Ok(BuildSummary {
        out: opts.out.clone(),
        manifest,
        timings,
    })
}

/// Keeps one entry per stage in the cache: what this build used.
fn prune(cache: &Cache, sources: &Sources<'_>, identity: &RootIdentity) -> anyhow::Result<()> {
    cache.prune("bootstrap", &sources.bootstrap.key)?;
    cache.prune("pool", &sources.pool.key)?;
    for what in OUTPUT_STAGES {
        cache.prune(what, &output_key(&identity.key, what))?;
    }
    Ok(())
}
