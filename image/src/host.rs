//! The build host: which tools the build and `stackbox boot` need (and which Debian package ships each), the
//! command runner that names the package of a missing tool, the root check, and the Debian archive to build
//! from, read from the host's own apt configuration so that no mirror host name is baked into the code.
//!
//! This module is a leaf: the pipeline stages and the QEMU launcher import it, it imports none of them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stackbox_common::cmd::{CmdError, Command};

/// Host tools and the Debian package that ships each one.
pub const TOOLS: &[(&str, &str)] = &[
    ("mmdebstrap", "mmdebstrap"),
    ("apt-get", "apt"),
    ("mksquashfs", "squashfs-tools"),
    ("xorriso", "xorriso"),
    ("grub-mkrescue", "grub-common"),
    ("faketime", "faketime"),
    ("grub-mkimage", "grub-common"),
    ("mformat", "mtools"),
    ("mkfs.vfat", "dosfstools"),
    ("mkfs.ext4", "e2fsprogs"),
    ("sfdisk", "fdisk"),
    ("qemu-img", "qemu-utils"),
    ("tar", "tar"),
    ("chroot", "coreutils"),
];

/// Host tools for booting an artifact (`stackbox boot`, the boot tests) and their packages.
pub const BOOT_TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-img", "qemu-utils"),
];

/// Host files (not programs) the build needs, and their package.
pub const FILES: &[(&str, &str)] = &[
    ("/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi/linux.mod", "grub-efi-amd64-bin"),
    (
        "/usr/share/keyrings/debian-archive-keyring.gpg",
        "debian-archive-keyring",
    ),
];

/// The Debian package that ships `tool`, when it is one the builder knows.
pub fn package_for(tool: &str) -> Option<&'static str> {
    TOOLS
        .iter()
        .chain(BOOT_TOOLS)
        .find(|(t, _)| *t == tool)
        .map(|(_, p)| *p)
}

/// Turns a command error into one that names the package to install when the program is missing.
pub fn explain(err: CmdError) -> anyhow::Error {
    if err.is_not_found() {
        let argv = err.to_string();
        let tool = argv
            .split('`')
            .nth(1)
            .and_then(|a| a.split_whitespace().next())
            .unwrap_or("")
            .to_owned();
        if let Some(pkg) = package_for(&tool) {
            return anyhow::Error::new(err)
                .context(format!("`{tool}` is not installed: apt-get install {pkg}"));
        }
    }
    anyhow::Error::new(err)
}

/// Runs `cmd`, naming the package to install when its program is missing.
pub fn run(cmd: &Command) -> anyhow::Result<stackbox_common::cmd::Output> {
    cmd.run().map_err(explain)
}

/// Finds `tool` in `PATH`.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Fails with one message listing every missing tool or file and the packages that provide them.
pub fn check_tools(tools: &[(&str, &str)], files: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut missing: Vec<String> = Vec::new();
    let mut pkgs: Vec<&str> = Vec::new();
    for (tool, pkg) in tools {
        if which(tool).is_none() {
            missing.push((*tool).to_owned());
            pkgs.push(pkg);
        }
    }
    for (file, pkg) in files {
        if !Path::new(file).exists() {
            missing.push((*file).to_owned());
            pkgs.push(pkg);
        }
    }
    if !missing.is_empty() {
        pkgs.sort();
        pkgs.dedup();
        bail!(
            "missing on this host: {}; install with: apt-get install {}",
            missing.join(", "),
            pkgs.join(" ")
        );
    }
    Ok(())
}

/// Builds need root (mmdebstrap in root mode, chroot, device nodes in the root filesystem).
pub fn require_root() -> anyhow::Result<()> {
    // SAFETY-free: geteuid has no preconditions; we read it through /proc to keep `unsafe` out.
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let euid = parse_euid(&status).context("no Uid line in /proc/self/status")?;
    if euid != 0 {
        bail!(
            "stackbox build must run as root on Debian 12 (it runs mmdebstrap, chroot and mkfs); \
             try: sudo stackbox build ..."
        );
    }
    Ok(())
}

/// The effective uid from the text of `/proc/self/status`.
pub fn parse_euid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// One Debian archive (a base URI) and the suites taken from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Archive {
    /// Base URI, e.g. `http://HOST/debian` (no trailing slash).
    pub uri: String,
    /// Suites of this archive (`bookworm`, `bookworm-updates`, ...).
    pub suites: Vec<String>,
}

impl Archive {
    /// The directory name this archive gets inside the offline pool: the last path component of its URI.
    pub fn pool_name(&self) -> String {
        let trimmed = self.uri.trim_end_matches('/');
        trimmed
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty() && !s.contains(':'))
            .unwrap_or("debian")
            .to_owned()
    }
}

/// Reads the archives for `suite` from the host's apt sources (`/etc/apt/sources.list` and
/// `/etc/apt/sources.list.d/*.list|*.sources`), or uses `mirror` when given (then the suite alone, with
/// `-updates`, and the `-security` archive only if the host lists one).
pub fn archives(suite: &str, mirror: Option<&str>) -> anyhow::Result<Vec<Archive>> {
    let mut entries = Vec::new();
    let main = Path::new("/etc/apt/sources.list");
    if let Ok(text) = std::fs::read_to_string(main) {
        entries.extend(parse_one_line_sources(&text));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let name = p.to_string_lossy().into_owned();
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            if name.ends_with(".sources") {
                entries.extend(parse_deb822_sources(&text));
            } else if name.ends_with(".list") {
                entries.extend(parse_one_line_sources(&text));
            }
        }
    }
    let found = select_archives(&entries, suite);
    if let Some(m) = mirror {
        let mut out = vec![Archive {
            uri: m.trim_end_matches('/').to_owned(),
            suites: vec![suite.to_owned(), format!("{suite}-updates")],
        }];
        out.extend(
            found
                .into_iter()
                .filter(|a| a.suites.iter().any(|s| s.ends_with("-security"))),
        );
        return Ok(out);
    }
    if found.is_empty() {
        bail!(
            "the host's apt sources list no Debian archive for `{suite}` (main component); \
             pass --mirror URI"
        );
    }
    Ok(found)
}

/// One `deb` source line: URI, suite and components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// Base URI.
    pub uri: String,
    /// Suite.
    pub suite: String,
    /// Components.
    pub components: Vec<String>,
}

/// Parses `deb [opts] URI SUITE COMPONENTS...` lines; `deb-src` and comments are skipped.
pub fn parse_one_line_sources(text: &str) -> Vec<SourceEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(i) => rest = rest[i + 1..].trim(),
                None => continue,
            }
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() >= 3 {
            out.push(SourceEntry {
                uri: words[0].trim_end_matches('/').to_owned(),
                suite: words[1].to_owned(),
                components: words[2..].iter().map(|s| (*s).to_owned()).collect(),
            });
        }
    }
    out
}

/// Parses deb822 `.sources` stanzas (`Types`, `URIs`, `Suites`, `Components`, `Enabled`).
pub fn parse_deb822_sources(text: &str) -> Vec<SourceEntry> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if !get("types").split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if get("enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        let comps: Vec<String> = get("components")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for uri in get("uris").split_whitespace() {
            for suite in get("suites").split_whitespace() {
                out.push(SourceEntry {
                    uri: uri.trim_end_matches('/').to_owned(),
                    suite: suite.to_owned(),
                    components: comps.clone(),
                });
            }
        }
    }
    out
}

/// The archives that carry `suite`, `suite-updates` or `suite-security` with the `main` component, grouped by
/// URI in the order first seen.
pub fn select_archives(entries: &[SourceEntry], suite: &str) -> Vec<Archive> {
    let wanted = [
        suite.to_owned(),
        format!("{suite}-updates"),
        format!("{suite}-security"),
    ];
    let mut out: Vec<Archive> = Vec::new();
    for e in entries {
        if !wanted.contains(&e.suite) || !e.components.iter().any(|c| c == "main") {
            continue;
        }
        if !(e.uri.starts_with("http://") || e.uri.starts_with("https://")) {
            continue;
        }
        match out.iter_mut().find(|a| a.uri == e.uri) {
            Some(a) if !a.suites.contains(&e.suite) => a.suites.push(e.suite.clone()),
            Some(_) => {}
            None => out.push(Archive {
                uri: e.uri.clone(),
                suites: vec![e.suite.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# comment\nURIs: http://mirror.example/debian\n\
Suites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/x.gpg\n\n\
Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
Types: deb\nURIs: https://other.example/apt\nSuites: nodistro\nComponents: main\n";

    #[test]
    fn deb822_selects_debian_suites() {
        let entries = parse_deb822_sources(DEB822);
        let archives = select_archives(&entries, "bookworm");
        assert_eq!(archives.len(), 2);
        assert_eq!(archives[0].uri, "http://mirror.example/debian");
        assert_eq!(archives[0].suites, vec!["bookworm", "bookworm-updates"]);
        assert_eq!(archives[1].pool_name(), "debian-security");
    }

    #[test]
    fn one_line_sources() {
        let text = "# x\ndeb [signed-by=/k.gpg] http://m.example/debian/ bookworm main contrib\n\
deb-src http://m.example/debian bookworm main\ndeb http://m.example/debian bookworm-backports main\n";
        let entries = parse_one_line_sources(text);
        assert_eq!(entries.len(), 2);
        let archives = select_archives(&entries, "bookworm");
        assert_eq!(archives.len(), 1);
        assert_eq!(archives[0].suites, vec!["bookworm"]);
        assert_eq!(archives[0].pool_name(), "debian");
    }

    #[test]
    fn euid_from_status() {
        assert_eq!(parse_euid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(0));
        assert_eq!(parse_euid("Name:\tx\n"), None);
    }

    #[test]
    fn package_hint() {
        assert_eq!(package_for("mksquashfs"), Some("squashfs-tools"));
        assert_eq!(package_for("qemu-system-x86_64"), Some("qemu-system-x86"));
    }
}
