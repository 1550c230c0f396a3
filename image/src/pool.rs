//! The offline pool: a partial Debian mirror inside the image (`/srv/stackbox/pool/<archive>/`) holding every
//! role package with its dependencies, next to Debian's own signed `InRelease` and the `Packages` index it signs.
//! apt on the appliance verifies the signature (archive keyring) and each .deb's SHA-256 with no network and no
//! `trusted=yes`. The builder checks the same chain itself before anything goes in: the `Packages` file against
//! the SHA-256 listed in `InRelease`, and every .deb against the SHA-256 listed in `Packages`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::apt::{self, Apt, Uri};
use crate::cache::sha256_file;
use crate::host::Archive;

/// Where the pool lives inside the root filesystem.
pub const POOL_DIR: &str = "srv/stackbox/pool";

/// One binary package stanza of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexEntry {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub arch: String,
    /// `Filename`, relative to the archive root (`pool/main/...`).
    pub filename: String,
    /// `Size`.
    pub size: u64,
    /// `SHA256`, hex.
    pub sha256: String,
}

/// Parses a `Packages` index into its stanzas (those with a `Filename` and a `SHA256`).
pub fn parse_packages(text: &str) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut f: BTreeMap<&str, &str> = BTreeMap::new();
        for line in stanza.lines() {
            if line.starts_with(' ') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                f.insert(k, v.trim());
            }
        }
        let (Some(name), Some(version), Some(filename), Some(sha)) = (
            f.get("Package"),
            f.get("Version"),
            f.get("Filename"),
            f.get("SHA256"),
        ) else {
            continue;
        };
        out.push(IndexEntry {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
            arch: f.get("Architecture").copied().unwrap_or("").to_owned(),
            filename: (*filename).to_owned(),
            size: f.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
            sha256: sha.to_ascii_lowercase(),
        });
    }
    out
}

/// The `SHA256:` section of a Release/InRelease file: path to (hex hash, size).
pub fn parse_release_sha256(text: &str) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("-----BEGIN PGP SIGNATURE") {
            break;
        }
        if !line.starts_with(' ') {
            inside = line.trim_end() == "SHA256:";
            continue;
        }
        if inside {
            let w: Vec<&str> = line.split_whitespace().collect();
            if let [hash, size, path] = w[..] {
                out.insert(
                    path.to_owned(),
                    (hash.to_ascii_lowercase(), size.parse().unwrap_or(0)),
                );
            }
        }
    }
    out
}

/// Percent-decodes a URI path (apt quotes `+`, `:` and `~` in the URIs it prints). Works on bytes, so any
/// input is safe: an escape that is not `%` and two hex digits stays as it is, and decoded bytes that are not
/// UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let [b'%', hi, lo, ..] = bytes[i..] {
            if let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) {
                out.push((hi << 4) | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hex digit, or `None`.
fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A package that went into the pool.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct PoolPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// SHA-256 of the .deb, hex (checked against the signed index).
    pub sha256: String,
    /// The archive directory inside the pool (`debian`, `debian-security`).
    pub archive: String,
    /// Path inside that archive directory (`pool/main/...`).
    pub filename: String,
    /// apt's local file name (in the download cache).
    pub file: String,
}

/// A .deb whose content does not match the signed index: the build refuses it.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing pool package {file}: its SHA-256 is {actual} but the signed Packages index says {expected} \
     (altered or corrupted after download; delete it from {dir} to fetch it again)"
)]
pub struct TamperedDeb {
    /// apt's file name.
    pub file: String,
    /// The hash of the file on disk.
    pub actual: String,
    /// The hash in `Packages`.
    pub expected: String,
    /// The download directory.
    pub dir: String,
}

/// Checks every package's .deb in `debs` against the SHA-256 of the signed index; the first mismatch is an
/// error ([`TamperedDeb`]).
pub fn verify_debs(debs: &Path, packages: &[PoolPackage]) -> anyhow::Result<()> {
    for p in packages {
        let path = debs.join(&p.file);
        let actual = sha256_file(&path)?;
        if actual != p.sha256 {
            return Err(TamperedDeb {
                file: p.file.clone(),
                actual,
                expected: p.sha256.clone(),
                dir: debs.display().to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// The indices of every suite, checked against their InRelease, keyed by archive URI.
pub struct Indices {
    /// (archive, suite, InRelease path, Packages path).
    pub suites: Vec<(Archive, String, PathBuf, PathBuf)>,
    /// Archive URI + `/` + Filename to the index entry.
    pub by_uri: BTreeMap<String, (Archive, IndexEntry)>,
}

/// Loads the Packages indices apt fetched and checks each against the SHA-256 in its suite's InRelease.
pub fn load_indices(apt: &Apt) -> anyhow::Result<Indices> {
    let inreleases = apt.inreleases()?;
    let packages = apt.packages_indices()?;
    let mut suites = Vec::new();
    let mut by_uri = BTreeMap::new();
    for ((archive, suite, inrelease), (_, _, pkgs)) in inreleases.into_iter().zip(packages) {
        let release = std::fs::read_to_string(&inrelease)
            .with_context(|| format!("reading {}", inrelease.display()))?;
        let listed = parse_release_sha256(&release);
        let rel = format!("main/binary-{}/Packages", apt::ARCH);
        let (want, _) = listed
            .get(&rel)
            .with_context(|| format!("{} does not list {rel}", inrelease.display()))?;
        let got = sha256_file(&pkgs)?;
        if &got != want {
            bail!(
                "{}: SHA-256 {got} does not match {want} from the signed {}",
                pkgs.display(),
                inrelease.display()
            );
        }
        let text = std::fs::read_to_string(&pkgs)
            .with_context(|| format!("reading {}", pkgs.display()))?;
        for e in parse_packages(&text) {
            by_uri.insert(
                format!("{}/{}", archive.uri, e.filename),
                (archive.clone(), e),
            );
        }
        suites.push((archive, suite, inrelease, pkgs));
    }
    Ok(Indices { suites, by_uri })
}

/// Matches what apt would download against the signed index: every URI must be in it, with the same SHA-256.
pub fn match_uris(indices: &Indices, uris: &[Uri]) -> anyhow::Result<Vec<PoolPackage>> {
    let mut out = BTreeSet::new();
    for u in uris {
        let key = percent_decode(&u.uri);
        let (archive, e) = indices
            .by_uri
            .get(&key)
            .with_context(|| format!("{} is not in any signed Packages index", u.uri))?;
        // apt prints one hash of its choice; when it is the SHA-256 it must agree with the index.
        if let Some(h) = u.hash.strip_prefix("SHA256:") {
            if !h.eq_ignore_ascii_case(&e.sha256) {
                bail!(
                    "apt and the Packages index disagree on {}: {h} vs {}",
                    u.file,
                    e.sha256
                );
            }
        }
        if e.size != 0 && e.size != u.size {
            bail!(
                "apt and the Packages index disagree on the size of {}",
                u.file
            );
        }
        out.insert(PoolPackage {
            name: e.name.clone(),
            version: e.version.clone(),
            arch: e.arch.clone(),
            sha256: e.sha256.clone(),
            archive: archive.pool_name(),
            filename: e.filename.clone(),
            file: u.file.clone(),
        });
    }
    Ok(out.into_iter().collect())
}

/// Resolves every role package against the root's dpkg `status` (so the pool holds what the root lacks).
pub fn resolve(
    apt: &Apt,
    indices: &Indices,
    status: &Path,
    packages: &[String],
) -> anyhow::Result<Vec<PoolPackage>> {
    let mut uris = Vec::new();
    for p in packages {
        uris.extend(apt.resolve(status, p)?);
    }
    uris.sort();
    uris.dedup();
    match_uris(indices, &uris)
}

/// Downloads what is missing from `debs`, verifies every .deb and lays the pool out under `dest`.
pub fn assemble(
    apt: &Apt,
    indices: &Indices,
    packages: &[PoolPackage],
    debs: &Path,
    dest: &Path,
) -> anyhow::Result<()> {
    let missing: Vec<String> = packages
        .iter()
        .filter(|p| !debs.join(&p.file).is_file())
        .map(|p| {
            if p.arch == "all" || p.arch.is_empty() {
                format!("{}={}", p.name, p.version)
            } else {
                format!("{}:{}={}", p.name, p.arch, p.version)
            }
        })
        .collect();
    apt.download(debs, &missing)?;
    verify_debs(debs, packages)?;
    for (archive, suite, inrelease, pkgs) in &indices.suites {
        let base = dest.join(archive.pool_name()).join("dists").join(suite);
        let bin = base.join(format!("main/binary-{}", apt::ARCH));
        std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
        std::fs::copy(inrelease, base.join("InRelease"))
            .with_context(|| format!("copying {}", inrelease.display()))?;
        // Only the compressed index, exactly as published: apt on the appliance asks for the first
        // compression InRelease lists and checks it against that entry.
        let _ = pkgs;
        let release = std::fs::read_to_string(inrelease)
            .with_context(|| format!("reading {}", inrelease.display()))?;
        let rel = format!("main/binary-{}/Packages.xz", apt::ARCH);
        let (sha, _) = parse_release_sha256(&release)
            .get(&rel)
            .cloned()
            .with_context(|| format!("{} does not list {rel}", inrelease.display()))?;
        let xz = apt.packages_xz(archive, suite, &sha)?;
        std::fs::copy(&xz, bin.join("Packages.xz"))
            .with_context(|| format!("copying {}", xz.display()))?;
    }
    for p in packages {
        let target = dest.join(&p.archive).join(&p.filename);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::copy(debs.join(&p.file), &target)
            .with_context(|| format!("copying {} into the pool", p.file))?;
    }
    Ok(())
}

/// The apt source on the appliance: one deb822 stanza per pool archive, pinned to the archive keyring.
///
/// `Check-Valid-Until: no` is needed because the security suite's InRelease expires after about a week and an
/// offline appliance cannot refresh it; signatures and hashes are still verified.
pub fn render_appliance_sources(indices: &Indices) -> String {
    let mut by_archive: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (archive, suite, _, _) in &indices.suites {
        by_archive
            .entry(archive.pool_name())
            .or_default()
            .push(suite.clone());
    }
    let mut s = String::from(
        "# The offline package pool of this appliance (see stackbox's image pipeline). Debian's own signed\n\
         # InRelease and Packages files: apt verifies signature and checksums without network access.\n",
    );
    for (name, suites) in by_archive {
        s.push_str(&format!(
            "\nTypes: deb\nURIs: file:/{POOL_DIR}/{name}\nSuites: {}\nComponents: main\n\
             Signed-By: {}\nCheck-Valid-Until: no\n",
            suites.join(" "),
            apt::KEYRING
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGES: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nDescription: x\n \
continued\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 3\nSHA256: \
BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\n\nPackage: nofile\nVersion: 1\n";

    #[test]
    fn packages_index() {
        let e = parse_packages(PACKAGES);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].filename, "pool/main/h/hello/hello_2.10-3_amd64.deb");
        assert_eq!(&e[0].sha256[..6], "ba7816");
    }

    #[test]
    fn release_hashes() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nMD5Sum:\n \
00 1 main/binary-amd64/Packages\nSHA256:\n AB 10 main/binary-amd64/Packages\n CD 5 main/Contents-amd64\n\
-----BEGIN PGP SIGNATURE-----\n";
        let h = parse_release_sha256(text);
        assert_eq!(h["main/binary-amd64/Packages"], ("ab".to_owned(), 10));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn decode() {
        assert_eq!(
            percent_decode("libstdc%2b%2b6_1%3a2.deb"),
            "libstdc++6_1:2.deb"
        );
        assert_eq!(percent_decode("a%zz%2"), "a%zz%2");
    }

    #[test]
    fn decode_non_ascii_and_truncated_escapes() {
        for s in [
            "%1\u{e9}", "%\u{e9}1", "a%\u{e9}", "%\u{e9}", "\u{e9}%", "%", "%2", "a%2", "%%%",
        ] {
            assert_eq!(percent_decode(s), s, "{s:?}");
        }
        assert_eq!(percent_decode("\u{e9}%2B\u{e9}%2b"), "\u{e9}+\u{e9}+");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
        // A sign is not a hex digit (u8::from_str_radix would take `+1`).
        assert_eq!(percent_decode("%+1%-1"), "%+1%-1");
        // Bytes that are not UTF-8 come out as the replacement character, not a panic.
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    fn pkg(file: &str, sha: &str) -> PoolPackage {
        PoolPackage {
            name: "hello".into(),
            version: "2.10-3".into(),
            arch: "amd64".into(),
            sha256: sha.into(),
            archive: "debian".into(),
            filename: format!("pool/main/h/hello/{file}"),
            file: file.into(),
        }
    }

    /// The must-fail case of the pool: a .deb altered after download is refused.
    #[test]
    fn altered_deb_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = "hello_2.10-3_amd64.deb";
        std::fs::write(dir.path().join(file), b"abc").unwrap();
        let good = pkg(
            file,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        verify_debs(dir.path(), std::slice::from_ref(&good)).unwrap();
        std::fs::write(dir.path().join(file), b"abd").unwrap();
        let err = verify_debs(dir.path(), &[good]).unwrap_err();
        assert!(err.downcast_ref::<TamperedDeb>().is_some(), "{err:#}");
        assert!(
            err.to_string()
                .contains("refusing pool package hello_2.10-3_amd64.deb")
        );
    }
}
