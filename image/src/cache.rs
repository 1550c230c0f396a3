//! Stage caching: every stage's result is stored under the cache directory, named by a [`Key`] that hashes every
//! input the stage reads (spec fields, archive state, tool versions, the previous stage's key, file contents).
//! A stage whose key is unchanged is reused; any change to an input gives a new key, so a stale result is never
//! picked up. Results are written beside their final name and renamed into place, so an interrupted build never
//! leaves a half-written entry.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// Bump when the code of a stage changes what it produces, so old cache entries are not reused.
pub const PIPELINE_VERSION: &str = "stackbox-image-pipeline-2";

/// A stage's cache key: the SHA-256 of its inputs, hex-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Key(pub String);

impl Key {
    /// The first 16 hex digits, enough to name a cache entry.
    pub fn short(&self) -> &str {
        &self.0[..16]
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Accumulates the inputs of a stage. Each input is framed by its label and length so that two different
/// input lists can never hash the same.
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// Starts a key for the stage `stage`.
    pub fn new(stage: &str) -> Self {
        let mut b = KeyBuilder {
            hasher: Sha256::new(),
        };
        b.add("pipeline", PIPELINE_VERSION.as_bytes());
        b.add("stage", stage.as_bytes());
        b
    }

    /// Adds one labelled input.
    pub fn add(&mut self, label: &str, value: &[u8]) -> &mut Self {
        for part in [label.as_bytes(), value] {
            self.hasher.update((part.len() as u64).to_le_bytes());
            self.hasher.update(part);
        }
        self
    }

    /// Adds a string input.
    pub fn add_str(&mut self, label: &str, value: &str) -> &mut Self {
        self.add(label, value.as_bytes())
    }

    /// Finishes the key.
    pub fn finish(&self) -> Key {
        Key(hex::encode(self.hasher.clone().finalize()))
    }
}

/// SHA-256 of a file, hex-encoded, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 of bytes, hex-encoded.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The cache directory and its layout.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating) the cache at `root`.
    pub fn open(root: &Path) -> anyhow::Result<Cache> {
        for sub in ["apt", "debs", "stages"] {
            std::fs::create_dir_all(root.join(sub))
                .with_context(|| format!("creating cache directory {}", root.display()))?;
        }
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving {}", root.display()))?;
        Ok(Cache { root })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host-side apt state (lists, configuration).
    pub fn apt_dir(&self) -> PathBuf {
        self.root.join("apt")
    }

    /// Downloaded .deb files, shared by every build (each is checked against the index before use).
    pub fn debs_dir(&self) -> PathBuf {
        self.root.join("debs")
    }

    /// The entry of stage `stage` with key `key` (a file or a directory, as the stage decides).
    pub fn entry(&self, stage: &str, key: &Key) -> PathBuf {
        self.root
            .join("stages")
            .join(format!("{stage}-{}", key.short()))
    }

    /// A scratch path beside `entry` to build into before renaming it into place.
    pub fn scratch_for(&self, entry: &Path) -> PathBuf {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entry.with_file_name(format!(".{name}.partial.{}", std::process::id()))
    }

    /// Runs `make` into a scratch path beside the entry `entry` and renames it into place, unless the entry
    /// already exists. Returns whether it was cached. A failed `make` leaves neither scratch nor entry behind.
    pub fn fill(
        &self,
        entry: &Path,
        make: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<bool> {
        if entry.exists() {
            return Ok(true);
        }
        let scratch = self.scratch_for(entry);
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

    /// Removes stage entries of `stage` other than `keep`, so the cache does not grow without bound.
    pub fn prune(&self, stage: &str, keep: &Key) -> anyhow::Result<()> {
        let dir = self.root.join("stages");
        let keep_prefix = format!("{stage}-{}", keep.short());
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = name.starts_with(&format!("{stage}-")) && !name.starts_with(&keep_prefix);
            if stale {
                let path = e.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                }
                .with_context(|| format!("removing stale cache entry {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// Removes the file or directory at `p`, if there is one.
fn remove_any(p: &Path) -> anyhow::Result<()> {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))
        }
        Ok(_) => std::fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_frame_their_inputs() {
        let a = KeyBuilder::new("s")
            .add_str("x", "ab")
            .add_str("y", "c")
            .finish();
        let b = KeyBuilder::new("s")
            .add_str("x", "a")
            .add_str("y", "bc")
            .finish();
        let c = KeyBuilder::new("t")
            .add_str("x", "ab")
            .add_str("y", "c")
            .finish();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            KeyBuilder::new("s")
                .add_str("x", "ab")
                .add_str("y", "c")
                .finish()
        );
    }

    #[test]
    fn file_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
