//! What `install-os` copies: the live root's squashfs (from the boot medium, or fetched into RAM by a PXE
//! boot) or a squashfs given with `--source`, and the SHA-256 it must have before a byte is written.
//!
//! The checksum comes from the image itself: the `SHA256SUMS` that `stackbox build` writes beside the
//! squashfs (the ISO's `live/`, or the build's output directory one level up), or, for a PXE boot, the
//! `stackbox.root-sha256=` argument that the build puts on the kernel command line of `boot.ipxe`. A source
//! without a checksum is refused: nothing else is trusted.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use stackbox_machine::system::Root;

/// Where live-boot keeps the squashfs of a live system: on the mounted medium (ISO, USB stick) or in the
/// tmpfs it fetched it into (PXE, `fetch=`).
pub const LIVE_SQUASHFS: &str = "/run/live/medium/live/filesystem.squashfs";
/// The kernel command-line argument with the squashfs's SHA-256 (PXE boots).
pub const CMDLINE_SHA256: &str = "stackbox.root-sha256=";
/// The checksum list `stackbox build` writes.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// The squashfs to copy and the checksum it must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The squashfs file.
    pub path: PathBuf,
    /// Its expected SHA-256 (lower-case hex).
    pub sha256: String,
    /// Where the expected checksum came from, for the report.
    pub sha256_from: String,
}

/// Why a source cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    /// No `--source` and this is not a live system.
    #[error(
        "this system was not booted live ({LIVE_SQUASHFS} does not exist): give the root to install with --source FILE"
    )]
    NotLive,
    /// The file cannot be read.
    #[error("cannot read the source {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The OS's words.
        reason: String,
    },
    /// The file is not a squashfs.
    #[error("{path} is not a squashfs (stackbox installs the image's filesystem.squashfs)")]
    NotSquashfs {
        /// The file.
        path: String,
    },
    /// No checksum was found for it.
    #[error(
        "no checksum for {path}: neither {SUMS_FILE} beside it or one directory up lists it, nor does the kernel command line carry {CMDLINE_SHA256}; nothing unverified is written"
    )]
    NoChecksum {
        /// The file.
        path: String,
    },
    /// A checksum list is malformed.
    #[error("{path}, line {line}: not `SHA256  NAME`")]
    BadSums {
        /// The list.
        path: String,
        /// The line number (from 1).
        line: usize,
    },
    /// The bytes do not match.
    #[error(
        "{path} is damaged or not the image's own: its SHA-256 is {actual}, {from} says {expected}; write the image to the medium again"
    )]
    Mismatch {
        /// The file.
        path: String,
        /// The SHA-256 read.
        actual: String,
        /// The SHA-256 expected.
        expected: String,
        /// Where the expected one came from.
        from: String,
    },
}

/// Parses a `SHA256SUMS` list into (hash, name) pairs; a line that is not 64 hex digits, blanks and a
/// name is an error.
pub fn parse_sums(text: &str, path: &str) -> Result<Vec<(String, String)>, SourceError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || SourceError::BadSums {
            path: path.to_owned(),
            line: i + 1,
        };
        let (hash, name) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let name = name.trim_start().trim_start_matches('*');
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return Err(bad());
        }
        out.push((hash.to_ascii_lowercase(), name.to_owned()));
    }
    Ok(out)
}

/// The squashfs's SHA-256 from the kernel command line, when it carries a well-formed one.
pub fn cmdline_sha256(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(CMDLINE_SHA256))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

/// The source to install: `given`, or the live medium's squashfs; with the checksum it must match.
pub fn locate(root: &Root, given: Option<&Path>) -> Result<Source, SourceError> {
    let path = match given {
        Some(p) => p.to_owned(),
        None if root.exists(LIVE_SQUASHFS) => root.path(LIVE_SQUASHFS),
        None => return Err(SourceError::NotLive),
    };
    let shown = path.display().to_string();
    check_squashfs(&path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("/"));
    // SHA256SUMS beside the file names it plainly; one directory up names it with its directory.
    let mut lists = vec![(dir.join(SUMS_FILE), name.clone())];
    if let (Some(up), Some(d)) = (dir.parent(), dir.file_name()) {
        lists.push((
            up.join(SUMS_FILE),
            format!("{}/{name}", d.to_string_lossy()),
        ));
    }
    for (list, entry) in lists {
        let Ok(text) = std::fs::read_to_string(&list) else {
            continue;
        };
        let list_shown = list.display().to_string();
        if let Some((hash, _)) = parse_sums(&text, &list_shown)?
            .into_iter()
            .find(|(_, n)| *n == entry)
        {
            return Ok(Source {
                path,
                sha256: hash,
                sha256_from: list_shown,
            });
        }
    }
    if given.is_none()
        && let Some(hash) = root
            .read("/proc/cmdline")
            .as_deref()
            .and_then(cmdline_sha256)
    {
        return Ok(Source {
            path,
            sha256: hash,
            sha256_from: "the kernel command line".into(),
        });
    }
    Err(SourceError::NoChecksum { path: shown })
}

/// Refuses a file that does not start with squashfs's magic.
fn check_squashfs(path: &Path) -> Result<(), SourceError> {
    let shown = path.display().to_string();
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| SourceError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if &magic != b"hsqs" {
        return Err(SourceError::NotSquashfs { path: shown });
    }
    Ok(())
}

/// Reads the whole source and compares its SHA-256; `progress(done, total)` hears about every MiB read.
pub fn verify(source: &Source, progress: &mut dyn FnMut(u64, u64)) -> Result<(), SourceError> {
    let shown = source.path.display().to_string();
    let unreadable = |e: std::io::Error| SourceError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let mut file = std::fs::File::open(&source.path).map_err(unreadable)?;
    let total = file.metadata().map_err(unreadable)?.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done, total);
    }
    let actual = hex::encode(hasher.finalize());
    if actual != source.sha256 {
        return Err(SourceError::Mismatch {
            path: shown,
            actual,
            expected: source.sha256.clone(),
            from: source.sha256_from.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "c3508cd99e3a581dcb91abe2bdb5d9f7e46fdae41ed7a512a3646d90a759b73f";

    #[test]
    fn sums_parse_and_must_fail() {
        let text = format!("{HASH}  pxe/filesystem.squashfs\n\n{HASH} *disk.raw\n");
        let sums = parse_sums(&text, "S").unwrap();
        assert_eq!(sums[0].1, "pxe/filesystem.squashfs");
        assert_eq!(sums[1].1, "disk.raw");
        for bad in [
            "nohash",
            "abc  file",
            &format!("{}  file", &HASH[..63]),
            &format!("{}g  file", &HASH[..63]),
            &format!("{HASH}  "),
        ] {
            let err = parse_sums(bad, "S").unwrap_err();
            assert_eq!(
                err,
                SourceError::BadSums {
                    path: "S".into(),
                    line: 1
                },
                "{bad}"
            );
        }
    }

    #[test]
    fn the_command_line_checksum_must_be_whole() {
        let line = format!("boot=live {CMDLINE_SHA256}{} quiet", HASH.to_uppercase());
        assert_eq!(cmdline_sha256(&line).as_deref(), Some(HASH));
        assert_eq!(
            cmdline_sha256(&format!("{CMDLINE_SHA256}{}", &HASH[1..])),
            None
        );
        assert_eq!(cmdline_sha256("boot=live"), None);
    }

    fn squashfs_in(dir: &Path, rel: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"hsqs and the rest").unwrap();
        path
    }

    #[test]
    fn the_checksum_is_found_beside_or_one_up_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::at(dir.path().join("nothing"));
        let sq = squashfs_in(dir.path(), "out/pxe/filesystem.squashfs");
        let err = locate(&root, Some(&sq)).unwrap_err();
        assert!(matches!(err, SourceError::NoChecksum { .. }), "{err}");
        let real = hex::encode(Sha256::digest(b"hsqs and the rest"));
        std::fs::write(
            dir.path().join("out/SHA256SUMS"),
            format!("{real}  pxe/filesystem.squashfs\n"),
        )
        .unwrap();
        let source = locate(&root, Some(&sq)).unwrap();
        assert_eq!(source.sha256, real);
        let mut seen = 0;
        verify(&source, &mut |done, _| seen = done).unwrap();
        assert_eq!(seen, 17);
        // Beside it, a list naming it plainly wins; a wrong checksum is refused by verify.
        std::fs::write(
            dir.path().join("out/pxe/SHA256SUMS"),
            format!("{HASH}  filesystem.squashfs\n"),
        )
        .unwrap();
        let source = locate(&root, Some(&sq)).unwrap();
        let err = verify(&source, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, SourceError::Mismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("write the image to the medium again")
        );
    }

    #[test]
    fn a_file_that_is_not_a_squashfs_or_absent_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::at(dir.path());
        assert_eq!(locate(&root, None).unwrap_err(), SourceError::NotLive);
        let other = dir.path().join("root.tar");
        std::fs::write(&other, b"ustar").unwrap();
        let err = locate(&root, Some(&other)).unwrap_err();
        assert!(matches!(err, SourceError::NotSquashfs { .. }), "{err}");
        let err = locate(&root, Some(&dir.path().join("missing"))).unwrap_err();
        assert!(matches!(err, SourceError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn a_live_pxe_boot_takes_the_checksum_from_its_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::at(dir.path());
        squashfs_in(dir.path(), LIVE_SQUASHFS.trim_start_matches('/'));
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(
            dir.path().join("proc/cmdline"),
            format!("boot=live fetch=http://x/filesystem.squashfs {CMDLINE_SHA256}{HASH}\n"),
        )
        .unwrap();
        let source = locate(&root, None).unwrap();
        assert_eq!(source.sha256, HASH);
        assert_eq!(source.sha256_from, "the kernel command line");
    }
}
