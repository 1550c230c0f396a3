//! File writes that are atomic (write a temporary file beside the target, fsync, rename) and that set the
//! mode before any content lands, so a secret is never readable by others, not even for a moment.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `contents` to `path` atomically with the given permission bits, creating parent directories.
///
/// The temporary file is created with `mode` already applied, so a file meant to be 0600 is never
/// world-readable. An interrupted write leaves the old file (or no file) in place, never half a file; once
/// it returns, the new file and its name are on disk (the file and its directory are synced).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have cleared bits of `mode`; set exactly what was asked for.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename lives in the directory: sync it too, or a power cut can bring back the old file
        // after the journal (synchronous=FULL) already recorded the new one.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `contents` to `path` unless the file already holds exactly that; returns whether it wrote.
///
/// The mode is corrected even when the contents are unchanged.
pub fn write_if_changed(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<bool> {
    if let Ok(existing) = std::fs::read(path) {
        if existing == contents {
            let meta = std::fs::metadata(path)?;
            if meta.permissions().mode() & 0o7777 != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            return Ok(false);
        }
    }
    write_atomic(path, contents, mode)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/secret");
        write_atomic(&path, b"s3cret", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"s3cret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn write_if_changed_reports_changes_and_fixes_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(write_if_changed(&path, b"x", 0o644).unwrap());
        assert!(!write_if_changed(&path, b"x", 0o644).unwrap());
        assert!(!write_if_changed(&path, b"x", 0o600).unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(write_if_changed(&path, b"y", 0o600).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"y");
    }
}
