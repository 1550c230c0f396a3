//! The adapter to the real machine: every read of /proc, /sys, /dev and /etc goes through a [`Root`], so
//! tests point it at a fixture tree and `stackboxd check --root DIR` can judge a captured machine.

use std::path::{Path, PathBuf};

/// A root directory under which /proc, /sys, /dev, /etc and /run are read and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// The running system (`/`).
    pub fn live() -> Root {
        Root {
            dir: PathBuf::from("/"),
        }
    }

    /// A tree that stands in for `/`.
    pub fn at(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    /// True when this is the running system, so live-only probes (netlink, ioctls) may be used.
    pub fn is_live(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Whether the system runs live (booted from the ISO, a USB stick or PXE with live-boot, its root in
    /// RAM): the kernel command line says `boot=live`.
    pub fn booted_live(&self) -> bool {
        self.read("/proc/cmdline")
            .is_some_and(|c| c.split_whitespace().any(|w| w == "boot=live"))
    }

    /// The directory that stands in for `/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host path of an absolute path inside the root (`/proc/cpuinfo` -> `DIR/proc/cpuinfo`).
    pub fn path(&self, abs: &str) -> PathBuf {
        self.dir.join(abs.trim_start_matches('/'))
    }

    /// Reads a text file; `None` when it does not exist or cannot be read.
    pub fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.path(abs)).ok()
    }

    /// Reads a one-line sysfs attribute, trimmed; `None` when absent or unreadable (some attributes, such
    /// as a down link's speed, fail to read with EINVAL).
    pub fn attr(&self, abs: &str) -> Option<String> {
        self.read(abs).map(|s| s.trim().to_owned())
    }

    /// Whether a path exists inside the root (a dangling symlink counts as absent).
    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    /// The names in a directory, sorted; empty when it does not exist.
    pub fn list(&self, abs: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The last component of a symlink's target (`.../drivers/ixgbe` -> `ixgbe`).
    pub fn link_name(&self, abs: &str) -> Option<String> {
        std::fs::read_link(self.path(abs))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
    }
}
