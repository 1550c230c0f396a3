//! Host-side apt, isolated from the host's own apt state: its own configuration, lists and status file under
//! the cache. It refreshes the archive indices (verifying Debian's signatures with the archive keyring), resolves
//! what a role package needs on top of the bootstrapped root, and downloads those .debs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stackbox_common::cmd::Command;

use crate::host::{self, Archive};

/// The keyring every source is pinned to (`Signed-By`).
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The architecture the appliance is built for.
pub const ARCH: &str = "amd64";

/// An apt instance rooted in a directory of the cache.
#[derive(Debug, Clone)]
pub struct Apt {
    dir: PathBuf,
    archives: Vec<Archive>,
}

/// One package apt says it would download: where from, the local file name, size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Uri {
    /// The full URI of the .deb.
    pub uri: String,
    /// The local file name apt gives it (`name_version_arch.deb`, epoch colon as `%3a`).
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// The hash apt printed, as `TYPE:hex` (apt prints one of the index's hashes, not always SHA-256, and
    /// sometimes none: then this is empty).
    pub hash: String,
}

impl Apt {
    /// Sets up the apt directory for `archives` under `dir`.
    pub fn new(dir: &Path, archives: &[Archive]) -> anyhow::Result<Apt> {
        let apt = Apt {
            dir: dir.to_owned(),
            archives: archives.to_vec(),
        };
        for sub in ["lists/partial", "cache/archives/partial", "empty", "etc"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let empty_status = dir.join("empty-status");
        if !empty_status.exists() {
            std::fs::write(&empty_status, b"").context("writing empty dpkg status")?;
        }
        let sources = render_sources(archives);
        stackbox_common::fs::write_if_changed(
            &dir.join("etc/sources.list"),
            sources.as_bytes(),
            0o644,
        )
        .context("writing the build's apt sources")?;
        stackbox_common::fs::write_if_changed(
            &dir.join("etc/apt.conf"),
            apt.config().as_bytes(),
            0o644,
        )
        .context("writing the build's apt configuration")?;
        Ok(apt)
    }

    fn config(&self) -> String {
        let d = self.dir.display();
        format!(
            "Dir \"/\";\n\
             Dir::State \"{d}\";\n\
             Dir::State::lists \"{d}/lists\";\n\
             Dir::State::status \"{d}/empty-status\";\n\
             Dir::Cache \"{d}/cache\";\n\
             Dir::Etc::SourceList \"{d}/etc/sources.list\";\n\
             Dir::Etc::SourceParts \"{d}/empty\";\n\
             Dir::Etc::Parts \"{d}/empty\";\n\
             Dir::Etc::Preferences \"{d}/empty/none\";\n\
             Dir::Etc::PreferencesParts \"{d}/empty\";\n\
             APT::Architecture \"{ARCH}\";\n\
             APT::Architectures \"{ARCH}\";\n\
             APT::Install-Recommends \"false\";\n\
             APT::Sandbox::User \"root\";\n\
             Acquire::Languages \"none\";\n\
             Acquire::GzipIndexes \"false\";\n\
             Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled \"false\";\n\
             Acquire::Retries \"3\";\n"
        )
    }

    fn command(&self, status: Option<&Path>) -> Command {
        let mut cmd = Command::new("apt-get")
            .env("APT_CONFIG", self.dir.join("etc/apt.conf"))
            .env("DEBIAN_FRONTEND", "noninteractive");
        if let Some(s) = status {
            cmd = cmd
                .arg("-o")
                .arg(format!("Dir::State::status={}", s.display()));
        }
        cmd
    }

    /// `apt-get update`: fetches InRelease and Packages of every suite, verifying the signatures.
    pub fn update(&self) -> anyhow::Result<()> {
        host::run(
            &self
                .command(None)
                .args(["-q", "update", "-o", "APT::Update::Error-Mode=any"]),
        )
        .context("refreshing the archive indices")?;
        Ok(())
    }

    /// The path of a list file apt keeps for `archive`'s `rel` (e.g. `dists/bookworm/InRelease`).
    pub fn list_file(&self, archive: &Archive, rel: &str) -> PathBuf {
        self.dir
            .join("lists")
            .join(list_file_name(&archive.uri, rel))
    }

    /// The verified InRelease of every suite, as (archive, suite, path).
    pub fn inreleases(&self) -> anyhow::Result<Vec<(Archive, String, PathBuf)>> {
        let mut out = Vec::new();
        for a in &self.archives {
            for s in &a.suites {
                let p = self.list_file(a, &format!("dists/{s}/InRelease"));
                if !p.is_file() {
                    bail!(
                        "apt has no InRelease for {} {s} ({} missing): the archive must publish a signed \
                         InRelease",
                        a.uri,
                        p.display()
                    );
                }
                out.push((a.clone(), s.clone(), p));
            }
        }
        Ok(out)
    }

    /// The `main/binary-amd64/Packages` index of every suite, as (archive, suite, path).
    pub fn packages_indices(&self) -> anyhow::Result<Vec<(Archive, String, PathBuf)>> {
        let mut out = Vec::new();
        for a in &self.archives {
            for s in &a.suites {
                let p = self.list_file(a, &format!("dists/{s}/main/binary-{ARCH}/Packages"));
                if !p.is_file() {
                    bail!(
                        "apt has no Packages index for {} {s} at {}",
                        a.uri,
                        p.display()
                    );
                }
                out.push((a.clone(), s.clone(), p));
            }
        }
        Ok(out)
    }

    /// The suite's `main/binary-amd64/Packages.xz`, byte for byte as the archive publishes it (so that apt on
    /// the appliance finds the hash that `InRelease` lists), downloaded once per content hash with
    /// `apt-helper`, which checks it against `sha256`. It is fetched by hash first (`by-hash/SHA256/…`, which
    /// Debian's archives keep for a while after each update, as apt itself does), so that a mirror updating
    /// between `apt-get update` and this download does not hand over a newer file; by name only if the archive
    /// publishes no by-hash copies.
    pub fn packages_xz(
        &self,
        archive: &Archive,
        suite: &str,
        sha256: &str,
    ) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join("xz");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{sha256}.xz"));
        if path.is_file() && crate::cache::sha256_file(&path)? == sha256 {
            return Ok(path);
        }
        let partial = dir.join(format!("{sha256}.partial"));
        let mut errors = Vec::new();
        for uri in packages_xz_uris(&archive.uri, suite, sha256) {
            let fetched = host::run(
                &Command::new("/usr/lib/apt/apt-helper")
                    .env("APT_CONFIG", self.dir.join("etc/apt.conf"))
                    .arg("download-file")
                    .arg(&uri)
                    .arg(&partial)
                    .arg(format!("SHA256:{sha256}")),
            );
            match fetched {
                Ok(_) => {
                    let got = crate::cache::sha256_file(&partial)?;
                    if got != sha256 {
                        bail!(
                            "{uri}: SHA-256 {got} does not match {sha256} from the signed InRelease"
                        );
                    }
                    std::fs::rename(&partial, &path)
                        .with_context(|| format!("renaming {}", partial.display()))?;
                    return Ok(path);
                }
                Err(e) => errors.push(format!("downloading {uri}: {e:#}")),
            }
        }
        let _ = std::fs::remove_file(&partial);
        bail!("{}", errors.join("\n"))
    }

    /// What installing `package` on a system whose dpkg status is `status` would download.
    pub fn resolve(&self, status: &Path, package: &str) -> anyhow::Result<Vec<Uri>> {
        let out = host::run(&self.command(Some(status)).args([
            "-qq",
            "-y",
            "--print-uris",
            "install",
            package,
        ]))
        .with_context(|| format!("resolving role package `{package}` and its dependencies"))?;
        parse_print_uris(&out.stdout)
    }

    /// Downloads `name=version` packages into `dest` (apt checks them against the index as it goes).
    pub fn download(&self, dest: &Path, pins: &[String]) -> anyhow::Result<()> {
        if pins.is_empty() {
            return Ok(());
        }
        for chunk in pins.chunks(200) {
            host::run(
                &self
                    .command(None)
                    .args(["-q", "download"])
                    .args(chunk.iter().cloned())
                    .current_dir(dest),
            )
            .context("downloading pool packages")?;
        }
        Ok(())
    }
}

/// The `deb` lines of the build's sources, each pinned to the Debian archive keyring.
pub fn render_sources(archives: &[Archive]) -> String {
    let mut s = String::new();
    for a in archives {
        for suite in &a.suites {
            s.push_str(&format!(
                "deb [signed-by={KEYRING}] {} {suite} main\n",
                a.uri
            ));
        }
    }
    s
}

/// Where a suite's Packages.xz with content `sha256` is: by hash first, then by name.
pub fn packages_xz_uris(archive: &str, suite: &str, sha256: &str) -> [String; 2] {
    let dir = format!(
        "{}/dists/{suite}/main/binary-{ARCH}",
        archive.trim_end_matches('/')
    );
    [
        format!("{dir}/by-hash/SHA256/{sha256}"),
        format!("{dir}/Packages.xz"),
    ]
}

/// apt's file name for a list: the URI without scheme, `/` turned into `_`.
pub fn list_file_name(uri: &str, rel: &str) -> String {
    let no_scheme = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    format!("{}/{}", no_scheme.trim_end_matches('/'), rel).replace('/', "_")
}

/// Parses `apt-get --print-uris` lines: `'URI' FILE SIZE HASHTYPE:HEX`.
pub fn parse_print_uris(text: &str) -> anyhow::Result<Vec<Uri>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('\'')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        // apt prints the hash it would check with, and for some indices none at all; the pool stage checks
        // every .deb against the signed Packages index itself.
        let (uri, file, size, hash) = match words[..] {
            [uri, file, size, hash] => (uri, file, size, hash),
            [uri, file, size] => (uri, file, size, ""),
            _ => bail!("unexpected apt-get --print-uris line: {line}"),
        };
        out.push(Uri {
            uri: uri.trim_matches('\'').to_owned(),
            file: file.to_owned(),
            size: size
                .parse()
                .with_context(|| format!("bad size in: {line}"))?,
            hash: hash.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_xz_is_fetched_by_hash_before_by_name() {
        let sha = "c49617c0b30619d7403f5e66de60aeeb47c6488262e4327418830d0d6e83500a";
        assert_eq!(
            packages_xz_uris("http://deb.debian.org/debian-security/", "bookworm-security", sha),
            [
                format!(
                    "http://deb.debian.org/debian-security/dists/bookworm-security/main/binary-amd64/by-hash/SHA256/{sha}"
                ),
                "http://deb.debian.org/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn list_names_match_apt() {
        assert_eq!(
            list_file_name("http://mirror.example/debian", "dists/bookworm/InRelease"),
            "mirror.example_debian_dists_bookworm_InRelease"
        );
        assert_eq!(
            list_file_name(
                "http://mirror.example/debian-security/",
                "dists/bookworm-security/main/binary-amd64/Packages"
            ),
            "mirror.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages"
        );
    }

    #[test]
    fn print_uris() {
        let text = "'http://m.example/debian/pool/main/a/acl/libacl1_2.3.1-3_amd64.deb' \
libacl1_2.3.1-3_amd64.deb 19160 SHA256:ABCDEF\n\
'http://m.example/debian/pool/main/m/mariadb/mariadb-server_1%3a10.11.6-0+deb12u1_amd64.deb' \
mariadb-server_1%3a10.11.6-0+deb12u1_amd64.deb 3000 SHA256:0123\n";
        let uris = parse_print_uris(text).unwrap();
        assert_eq!(uris.len(), 2);
        assert_eq!(uris[0].hash, "SHA256:ABCDEF");
        assert_eq!(uris[1].size, 3000);
        assert!(parse_print_uris("'x' y\n").is_err());
        assert_eq!(parse_print_uris("'x' y 1 \n").unwrap()[0].hash, "");
    }
}
