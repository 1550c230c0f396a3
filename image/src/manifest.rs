//! `manifest.json` and `SHA256SUMS`: every artifact (path, size, SHA-256), every package in the root and in the
//! pool (name, version, SHA-256 from the signed index), the spec's hash and the epoch; and `stackbox verify`,
//! which recomputes every checksum. `SHA256SUMS` vouches for the manifest with its own line, and the manifest
//! for the artifacts: a build whose sums lack the manifest's line, or whose manifest lists nothing, fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::cache::sha256_file;

/// One artifact file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Path relative to the output directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// SHA-256 of the .deb as listed in the signed Packages index; empty when the index has no such version.
    pub sha256: String,
}

/// The manifest of one build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this file.
    pub manifest_version: u32,
    /// SHA-256 of the spec text.
    pub spec_sha256: String,
    /// The epoch all timestamps are clamped to.
    pub source_date_epoch: u64,
    /// The Debian suite.
    pub suite: String,
    /// SHA-256 of each InRelease the build used (archive state), by `URI SUITE`.
    pub archive_state: BTreeMap<String, String>,
    /// Filesystem UUID of the disk image's root.
    pub root_uuid: String,
    /// The kernel version.
    pub kernel: String,
    /// Every artifact.
    pub artifacts: Vec<Artifact>,
    /// Packages installed in the root.
    pub root_packages: Vec<Package>,
    /// Packages in the offline pool.
    pub pool_packages: Vec<Package>,
}

/// The file names inside an output directory.
pub const MANIFEST: &str = "manifest.json";
/// The checksum list, in `sha256sum` format.
pub const SUMS: &str = "SHA256SUMS";

/// Lists every regular file under `dir` (relative paths, sorted), except the manifest and the sums.
pub fn list_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for e in std::fs::read_dir(&abs).with_context(|| format!("listing {}", abs.display()))? {
            let e = e?;
            let r = rel.join(e.file_name());
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(r);
            } else if t.is_file() {
                let s = r.to_string_lossy().into_owned();
                if s != MANIFEST && s != SUMS {
                    out.push(s);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Hashes every artifact in `dir`.
pub fn artifacts(dir: &Path) -> anyhow::Result<Vec<Artifact>> {
    list_files(dir)?
        .into_iter()
        .map(|path| {
            let abs = dir.join(&path);
            let size = abs
                .metadata()
                .with_context(|| format!("stat {}", abs.display()))?
                .len();
            let sha256 = sha256_file(&abs)?;
            Ok(Artifact { path, size, sha256 })
        })
        .collect()
}

/// `SHA256SUMS` text for the artifacts and the manifest.
pub fn render_sums(artifacts: &[Artifact], manifest_sha256: &str) -> String {
    let mut s = String::new();
    for a in artifacts {
        s.push_str(&format!("{}  {}\n", a.sha256, a.path));
    }
    s.push_str(&format!("{manifest_sha256}  {MANIFEST}\n"));
    s
}

/// Writes `manifest.json` and `SHA256SUMS` into `dir`.
pub fn write(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let mut json = serde_json::to_string_pretty(manifest).context("serialising the manifest")?;
    json.push('\n');
    std::fs::write(dir.join(MANIFEST), &json).context("writing manifest.json")?;
    let sums = render_sums(
        &manifest.artifacts,
        &crate::cache::sha256_bytes(json.as_bytes()),
    );
    std::fs::write(dir.join(SUMS), sums).context("writing SHA256SUMS")?;
    Ok(())
}

/// Parses `sha256sum` output lines (`HEX  PATH`).
pub fn parse_sums(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (hash, path) = l
                .split_once("  ")
                .with_context(|| format!("SHA256SUMS: malformed line `{l}`"))?;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("SHA256SUMS: `{hash}` is not a SHA-256");
            }
            Ok((hash.to_ascii_lowercase(), path.to_owned()))
        })
        .collect()
}

/// What `stackbox verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Files whose checksum matched.
    pub ok: Vec<String>,
    /// Problems: mismatches, missing files, files that no list mentions.
    pub problems: Vec<String>,
}

/// Recomputes every checksum of `SHA256SUMS` and `manifest.json` in `dir`. The manifest is vouched for by its own
/// line in `SHA256SUMS` (a missing line is a problem, not a pass); it must list at least one artifact, and every
/// artifact it lists must be in `SHA256SUMS` with the same hash, present, and of the listed size. Files in the
/// directory that no list mentions, and paths listed twice, are problems too.
pub fn verify(dir: &Path) -> anyhow::Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let sums_text = std::fs::read_to_string(dir.join(SUMS))
        .with_context(|| format!("reading {}", dir.join(SUMS).display()))?;
    let sums = parse_sums(&sums_text)?;
    let manifest_text = std::fs::read_to_string(dir.join(MANIFEST))
        .with_context(|| format!("reading {}", dir.join(MANIFEST).display()))?;
    let manifest: Manifest =
        serde_json::from_str(&manifest_text).context("parsing manifest.json")?;
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for (hash, path) in &sums {
        if expected.insert(path.clone(), hash.clone()).is_some() {
            report
                .problems
                .push(format!("{path}: listed more than once in {SUMS}"));
        }
    }
    if !expected.contains_key(MANIFEST) {
        report.problems.push(format!(
            "{MANIFEST}: not in {SUMS}, so nothing vouches for it"
        ));
    }
    if manifest.artifacts.is_empty() {
        report
            .problems
            .push(format!("{MANIFEST}: lists no artifacts"));
    }
    compare_lists(&manifest, &expected, &mut report);
    for (path, hash) in &expected {
        check_file(dir, path, hash, &manifest, &mut report)?;
    }
    for extra in list_files(dir)? {
        if !expected.contains_key(&extra) {
            report
                .problems
                .push(format!("{extra}: present but not in {SUMS}"));
        }
    }
    Ok(report)
}

/// Every artifact of the manifest must be in `SHA256SUMS` with the same hash.
fn compare_lists(
    manifest: &Manifest,
    expected: &BTreeMap<String, String>,
    report: &mut VerifyReport,
) {
    for a in &manifest.artifacts {
        match expected.get(&a.path) {
            Some(h) if h != &a.sha256 => report
                .problems
                .push(format!("{}: {MANIFEST} and {SUMS} disagree", a.path)),
            Some(_) => {}
            None => report
                .problems
                .push(format!("{}: in {MANIFEST} but not in {SUMS}", a.path)),
        }
    }
}

/// Checks one line of `SHA256SUMS`: the path stays inside `dir`, the file exists, its hash matches, and (for an
/// artifact) the manifest lists it with the same size.
fn check_file(
    dir: &Path,
    path: &str,
    hash: &str,
    manifest: &Manifest,
    report: &mut VerifyReport,
) -> anyhow::Result<()> {
    if path.contains("..") || path.starts_with('/') {
        report
            .problems
            .push(format!("{path}: path leaves the directory"));
        return Ok(());
    }
    let abs = dir.join(path);
    if !abs.is_file() {
        report.problems.push(format!("{path}: missing"));
        return Ok(());
    }
    let got = sha256_file(&abs)?;
    if got != hash {
        report
            .problems
            .push(format!("{path}: SHA-256 is {got}, expected {hash}"));
    } else {
        report.ok.push(path.to_owned());
    }
    if path == MANIFEST {
        return Ok(());
    }
    if let Some(a) = manifest.artifacts.iter().find(|a| a.path == path) {
        let size = abs
            .metadata()
            .with_context(|| format!("stat {}", abs.display()))?
            .len();
        if size != a.size {
            report
                .problems
                .push(format!("{path}: size is {size}, manifest says {}", a.size));
        }
    } else {
        report
            .problems
            .push(format!("{path}: in {SUMS} but not in {MANIFEST}"));
    }
    Ok(())
}

/// The installed packages of a dpkg `status` file: (name, version, arch).
pub fn parse_dpkg_status(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut installed = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("Architecture: ") {
                arch = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (true, Some(n), Some(v), Some(a)) = (installed, name, version, arch) {
            out.push((n, v, a));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(artifacts: Vec<Artifact>) -> Manifest {
        Manifest {
            manifest_version: 1,
            spec_sha256: "s".into(),
            source_date_epoch: 1,
            suite: "bookworm".into(),
            archive_state: BTreeMap::new(),
            root_uuid: "u".into(),
            kernel: "k".into(),
            artifacts,
            root_packages: vec![],
            pool_packages: vec![],
        }
    }

    #[test]
    fn verify_catches_mismatch_missing_and_extra() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pxe")).unwrap();
        std::fs::write(dir.path().join("a.iso"), b"abc").unwrap();
        std::fs::write(dir.path().join("pxe/vmlinuz"), b"k").unwrap();
        let arts = artifacts(dir.path()).unwrap();
        assert_eq!(arts.len(), 2);
        write(dir.path(), &manifest(arts)).unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.ok.len(), 3);

        std::fs::write(dir.path().join("a.iso"), b"abd").unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(
            r.problems[0].starts_with("a.iso: SHA-256 is"),
            "{:?}",
            r.problems
        );

        std::fs::write(dir.path().join("a.iso"), b"abc").unwrap();
        std::fs::remove_file(dir.path().join("pxe/vmlinuz")).unwrap();
        std::fs::write(dir.path().join("stray"), b"").unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(
            r.problems.contains(&"pxe/vmlinuz: missing".to_owned()),
            "{:?}",
            r.problems
        );
        assert!(
            r.problems.iter().any(|p| p.starts_with("stray:")),
            "{:?}",
            r.problems
        );
    }

    /// A directory with one artifact, its manifest and its sums, as a build leaves it.
    fn whole_build() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rootfs.tar"), b"tar").unwrap();
        write(dir.path(), &manifest(artifacts(dir.path()).unwrap())).unwrap();
        assert!(verify(dir.path()).unwrap().problems.is_empty());
        dir
    }

    #[test]
    fn verify_requires_the_manifest_line_in_the_sums() {
        let dir = whole_build();
        let sums = std::fs::read_to_string(dir.path().join(SUMS)).unwrap();
        let without: String = sums
            .lines()
            .filter(|l| !l.ends_with(MANIFEST))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.path().join(SUMS), without).unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(
            r.problems.contains(
                &"manifest.json: not in SHA256SUMS, so nothing vouches for it".to_owned()
            ),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn verify_checks_the_manifest_against_its_line() {
        let dir = whole_build();
        let path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("bookworm", "trixie")).unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with("manifest.json: SHA-256 is")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn verify_refuses_an_empty_build() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &manifest(vec![])).unwrap();
        let r = verify(dir.path()).unwrap();
        assert_eq!(
            r.problems,
            vec!["manifest.json: lists no artifacts".to_owned()]
        );
    }

    #[test]
    fn verify_refuses_a_path_listed_twice() {
        let dir = whole_build();
        let sums = std::fs::read_to_string(dir.path().join(SUMS)).unwrap();
        let first = sums.lines().next().unwrap().to_owned();
        std::fs::write(dir.path().join(SUMS), format!("{sums}{first}\n")).unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(
            r.problems
                .contains(&"rootfs.tar: listed more than once in SHA256SUMS".to_owned()),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn dpkg_status() {
        let text = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n\
Package: b\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 2\n";
        assert_eq!(
            parse_dpkg_status(text),
            vec![("a".into(), "1".into(), "amd64".into())]
        );
    }
}
