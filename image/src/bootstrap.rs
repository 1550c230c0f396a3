//! Stage `bootstrap`: mmdebstrap builds the Debian root as a tarball. apt inside mmdebstrap checks Debian's
//! signatures against the archive keyring; the build never passes `--allow-insecure` or `trusted=yes`.
//! With `SOURCE_DATE_EPOCH` set, mmdebstrap makes the tarball reproducible for a given archive state.

use std::path::Path;

use anyhow::Context;
use stackbox_common::cmd::Command;

use crate::apt::{self, KEYRING};
use crate::cache::KeyBuilder;
use crate::host::{self, Archive};
use crate::spec::Spec;

/// dpkg filters that keep documentation and translations out of the root (copyright files stay).
pub const DPKG_OPTS: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
];

/// Adds the inputs of the bootstrap stage to `key`.
pub fn key_inputs(
    key: &mut KeyBuilder,
    spec: &Spec,
    archives: &[Archive],
    inrelease_hashes: &[String],
) -> anyhow::Result<()> {
    let version = host::run(&Command::new("mmdebstrap").arg("--version"))?;
    key.add_str("mmdebstrap", version.stdout.trim())
        .add_str("suite", &spec.suite)
        .add_str("packages", &spec.packages.base.join(","))
        .add_str("epoch", &spec.source_date_epoch.to_string())
        .add_str("dpkgopts", &DPKG_OPTS.join(","))
        .add_str("sources", &apt::render_sources(archives))
        .add_str("inrelease", &inrelease_hashes.join(","));
    Ok(())
}

/// Runs mmdebstrap, writing the root tarball to `tar`.
pub fn bootstrap(spec: &Spec, archives: &[Archive], tar: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new("mmdebstrap")
        .args([
            "--variant=minbase",
            "--mode=root",
            "--format=tar",
            "--quiet",
        ])
        .arg(format!("--include={}", spec.packages.base.join(",")))
        .arg("--aptopt=Acquire::Languages \"none\"")
        .env("SOURCE_DATE_EPOCH", spec.source_date_epoch.to_string());
    for opt in DPKG_OPTS {
        cmd = cmd.arg(format!("--dpkgopt={opt}"));
    }
    cmd = cmd.arg(&spec.suite).arg(tar);
    for a in archives {
        for suite in &a.suites {
            cmd = cmd.arg(format!("deb [signed-by={KEYRING}] {} {suite} main", a.uri));
        }
    }
    host::run(&cmd).context("bootstrapping the root with mmdebstrap")?;
    Ok(())
}

/// Unpacks the root tarball into `dir` (numeric owners, permissions, extended attributes).
pub fn unpack(tar: &Path, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    host::run(
        &Command::new("tar")
            .args([
                "--numeric-owner",
                "-p",
                "--xattrs",
                "--xattrs-include=*",
                "-xf",
            ])
            .arg(tar)
            .arg("-C")
            .arg(dir),
    )
    .context("unpacking the bootstrapped root")?;
    Ok(())
}

/// Extracts the root's dpkg status file from the tarball, for resolving the pool against it.
pub fn dpkg_status(tar: &Path, dest: &Path) -> anyhow::Result<()> {
    let out = host::run(
        &Command::new("tar")
            .args(["-xOf"])
            .arg(tar)
            .arg("./var/lib/dpkg/status"),
    )
    .context("reading the root's dpkg status")?;
    std::fs::write(dest, out.stdout).with_context(|| format!("writing {}", dest.display()))
}
