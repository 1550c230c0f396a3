//! Keeps Debian's maintainer scripts from starting the services stackbox starts itself while it installs
//! packages.
//!
//! A package's postinst starts its daemon with Debian's defaults (`invoke-rc.d`, `deb-systemd-invoke`):
//! the API services on their public ports before haproxy holds them, nova-compute before libvirt is
//! configured (its start then waits minutes). stackbox starts those services itself, with its
//! configuration, in the plan's start steps; during the transaction `/usr/sbin/policy-rc.d` answers 101
//! ("action forbidden") for them, the interface both helpers honour (Debian Policy, invoke-rc.d(8)), and
//! 0 for every other service: what the packages bring for their own use (polkit, which libvirt asks
//! before nova may connect; D-Bus's reload that makes it known) starts as Debian starts it. Units are
//! still enabled, so a reboot starts them.
//!
//! A postinst also enables its units, so a machine that loses power before stackbox configured them
//! would boot them with Debian's defaults (the API services then hold the public ports haproxy needs:
//! the cluster tier's node 3, powered off between its packages and its start steps, booted keystone on
//! port 5000). Each of the plan's units that the transaction brings new gets a drop-in with a
//! condition that never holds (`/etc/systemd/system/UNIT.d/50-stackbox-held.conf`), so that a boot
//! skips it; enabling still works (a mask made the postinsts that enable through systemctl fail). The
//! drop-in stays after the transaction, through any reboot, until the plan's start step of that unit
//! removes it just before starting it ([`hold_at_boot`], [`release_at_boot`]). A unit that was there
//! before the transaction gets none: it already runs as stackbox configured it.
//!
//! The file carries a marker, so that an operator's own policy-rc.d is never touched. An installer
//! killed mid-transaction leaves the file for its apt-get, which goes on as an orphan; the next run
//! removes the file once nothing holds dpkg's lock ([`release_stale`]).

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::StepError;

/// Where invoke-rc.d and deb-systemd-invoke look.
pub const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
/// The lock apt holds for a whole transaction (dpkg's frontend lock).
pub const DPKG_FRONTEND_LOCK: &str = "/var/lib/dpkg/lock-frontend";
/// Marks the file as stackbox's.
const MARKER: &str = "# stackbox: services start in the plan's start steps";

/// The services the plan starts by commands rather than a units step (MariaDB through
/// `galera_new_cluster` on the bootstrap node), held as well.
pub const STARTED_BY_COMMANDS: &[&str] = &["mariadb", "mysql"];

/// The file's content: every action on one of `held` (init script names or units; `.service` is
/// dropped) forbidden, any other allowed. invoke-rc.d calls it as `policy-rc.d [--quiet] ID ACTION
/// [RUNLEVEL]`, deb-systemd-invoke as `policy-rc.d UNIT ACTION`.
fn content(held: &[String]) -> String {
    let mut names: Vec<&str> = held
        .iter()
        .map(|u| u.strip_suffix(".service").unwrap_or(u))
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let pattern = if names.is_empty() {
        // Nothing to hold: a pattern that matches no service name.
        "/".to_owned()
    } else {
        names.join("|")
    };
    format!(
        "#!/bin/sh\n{MARKER}\n\
         # The services stackbox starts itself, with its configuration, in the plan's start steps.\n\
         while [ \"${{1#--}}\" != \"$1\" ]; do shift; done\n\
         case \"${{1%.service}}\" in\n  {pattern}) exit 101 ;;\nesac\nexit 0\n"
    )
}

/// True when the file at `path` is the one stackbox writes.
fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|c| c.contains(MARKER))
}

/// Held while packages install; dropping it lets services start again.
#[derive(Debug)]
pub struct ServiceStartsHeld {
    /// The file written, or `None` when an operator's own policy-rc.d was there (it stays in charge).
    path: Option<PathBuf>,
}

impl ServiceStartsHeld {
    /// Writes the policy at `path` (executable) that holds the services `held`, unless a file not
    /// written by stackbox is there.
    pub fn hold(path: &Path, held: &[String]) -> Result<Self, StepError> {
        if path.exists() && !is_ours(path) {
            tracing::info!(path = %path.display(), "an operator's policy-rc.d is in place: kept");
            return Ok(Self { path: None });
        }
        let io = |e: std::io::Error| StepError::Io {
            path: path.display().to_string(),
            source: e,
        };
        stackbox_common::fs::write_atomic(path, content(held).as_bytes(), 0o755).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        Ok(Self {
            path: Some(path.to_owned()),
        })
    }
}

impl Drop for ServiceStartsHeld {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            remove_ours(path);
        }
    }
}

fn remove_ours(path: &Path) {
    if is_ours(path) {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove policy-rc.d");
        }
    }
}

/// Where the drop-ins go (beside stackbox's own unit files and drop-ins).
pub const SYSTEMD_DIR: &str = "/etc/systemd/system";
/// The drop-in's file name in `UNIT.d/`: stackbox's, so only these files are ever removed.
const HELD_DROP_IN: &str = "50-stackbox-held.conf";

/// The drop-in: a boot skips the unit (a condition that never holds); nothing else changes.
const HELD_CONTENT: &str = "# Written by stackbox when the unit's package installed: a boot before stackbox \
configured it\n# skips it (it would run with Debian's defaults). Removed when stackbox starts the unit.\n\
[Unit]\nConditionPathExists=/run/stackbox/never-exists\n";

fn unit_name_ok(unit: &str) -> bool {
    unit.ends_with(".service")
        && !unit.starts_with('.')
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// Where unit files and init scripts are found, under `root`.
pub const UNIT_DIRS: &[&str] = &[
    "lib/systemd/system",
    "usr/lib/systemd/system",
    "etc/systemd/system",
];

/// Of `units`, the ones no unit file or init script under `root` provides yet: those a package
/// transaction brings new.
pub fn not_installed(root: &Path, units: &[String]) -> Vec<String> {
    units
        .iter()
        .filter(|u| unit_name_ok(u))
        .filter(|u| {
            let script = u.strip_suffix(".service").unwrap_or(u);
            !UNIT_DIRS.iter().any(|d| root.join(d).join(u).exists())
                && !root.join("etc/init.d").join(script).exists()
        })
        .cloned()
        .collect()
}

/// Writes the drop-in a boot skips for each of `units` (`NAME.service`) under `dir`; it stays until
/// [`release_at_boot`].
pub fn hold_at_boot(dir: &Path, units: &[String]) -> Result<(), StepError> {
    for unit in units.iter().filter(|u| unit_name_ok(u)) {
        let drop_ins = dir.join(format!("{unit}.d"));
        let file = drop_ins.join(HELD_DROP_IN);
        let io = |e: std::io::Error| StepError::Io {
            path: file.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(&drop_ins).map_err(io)?;
        stackbox_common::fs::write_atomic(&file, HELD_CONTENT.as_bytes(), 0o644).map_err(io)?;
    }
    Ok(())
}

/// Removes the held drop-in of each of `units` under `dir` (and a drop-in directory it leaves empty:
/// stackbox's own drop-ins stay); true when one was removed (systemd must reload to see it).
pub fn release_at_boot(dir: &Path, units: &[String]) -> Result<bool, StepError> {
    let mut removed = false;
    for unit in units {
        let unit = match unit.contains('.') {
            true => unit.clone(),
            false => format!("{unit}.service"),
        };
        if !unit_name_ok(&unit) {
            continue;
        }
        let drop_ins = dir.join(format!("{unit}.d"));
        let file = drop_ins.join(HELD_DROP_IN);
        match std::fs::remove_file(&file) {
            Ok(()) => {
                removed = true;
                let _ = std::fs::remove_dir(&drop_ins);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StepError::Io {
                    path: file.display().to_string(),
                    source: e,
                });
            }
        }
    }
    Ok(removed)
}

/// True when some process holds the lock file's write lock (apt or dpkg at work). A missing lock file
/// means no package manager has run.
fn lock_held(lock: &Path) -> bool {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open(lock)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return false,
        // Unreadable: assume busy, and leave the file.
        Err(_) => return true,
    };
    // F_GETLK, as dpkg's own lock is an fcntl record lock: asks without taking it.
    let mut query = nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    let asked = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETLK(&mut query));
    asked.is_err() || query.l_type != nix::libc::F_UNLCK as i16
}

/// Removes the policy-rc.d a killed installer left behind, once no apt or dpkg holds the lock (an
/// orphaned transaction still needs it). Leaves any other file alone, and the held drop-ins: the plan's
/// start steps remove those.
pub fn release_stale(path: &Path, lock: &Path) {
    if lock_held(lock) {
        return;
    }
    if is_ours(path) {
        tracing::info!(path = %path.display(), "removing the policy-rc.d a stopped install left");
        remove_ours(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Vec<String> {
        ["nova-compute.service", "keystone.service", "mariadb"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn hold_forbids_the_held_services_only_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        {
            let _held = ServiceStartsHeld::hold(&path, &held()).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o755);
            let ask = |args: &[&str]| {
                std::process::Command::new(&path)
                    .args(args)
                    .status()
                    .unwrap()
                    .code()
            };
            // As invoke-rc.d asks (with --quiet and a runlevel) and as deb-systemd-invoke asks.
            for args in [
                &["nova-compute", "start"][..],
                &["--quiet", "keystone", "start", "2"],
                &["nova-compute.service", "start"],
                &["mariadb", "stop"],
            ] {
                assert_eq!(ask(args), Some(101), "{args:?}: forbidden");
            }
            for args in [
                &["polkit.service", "start"][..],
                &["--quiet", "dbus", "reload"],
                &["nova-compute-extra", "start"],
                &["nova", "start"],
            ] {
                assert_eq!(ask(args), Some(0), "{args:?}: allowed");
            }
        }
        assert!(!path.exists(), "removed when the hold ends");
    }

    #[test]
    fn nothing_held_allows_everything_and_odd_names_are_left_out() {
        let text = content(&["a;rm -rf /".to_owned(), String::new()]);
        assert!(!text.contains("rm -rf"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        let _held = ServiceStartsHeld::hold(&path, &[]).unwrap();
        let code = std::process::Command::new(&path)
            .args(["anything", "start"])
            .status()
            .unwrap()
            .code();
        assert_eq!(code, Some(0));
    }

    #[test]
    fn an_operators_policy_is_never_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        drop(ServiceStartsHeld::hold(&path, &held()).unwrap());
        release_stale(&path, &dir.path().join("lock"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "#!/bin/sh\nexit 0\n"
        );
    }

    #[test]
    fn a_stale_policy_goes_only_when_the_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        let lock = dir.path().join("lock-frontend");
        std::fs::write(&lock, "").unwrap();
        // A killed installer's leftover: the hold forgotten, so its drop never runs.
        std::mem::forget(ServiceStartsHeld::hold(&path, &held()).unwrap());
        // An orphaned apt-get holds the lock (a child process, as record locks are per process).
        let mut apt = std::process::Command::new("python3")
            .args([
                "-c",
                "import fcntl,sys,time; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
            ])
            .arg(&lock)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(apt.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        let units = dir.path().join("system");
        hold_at_boot(&units, &held()).unwrap();
        let drop_in = units.join("keystone.service.d").join(HELD_DROP_IN);
        release_stale(&path, &lock);
        assert!(path.exists(), "kept while the orphaned transaction runs");
        apt.kill().unwrap();
        apt.wait().unwrap();
        release_stale(&path, &lock);
        assert!(!path.exists(), "removed once the lock is free");
        assert!(
            drop_in.exists(),
            "a boot keeps skipping the unit until its start step"
        );
    }

    #[test]
    fn held_units_get_a_drop_in_that_a_boot_skips_until_their_start_removes_only_it() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("system");
        // stackbox's own drop-in beside it stays.
        std::fs::create_dir_all(units.join("keystone.service.d")).unwrap();
        std::fs::write(
            units.join("keystone.service.d/override.conf"),
            "[Service]\n",
        )
        .unwrap();
        let wanted = ["keystone.service", "nova-api.service", "mariadb"].map(String::from);
        hold_at_boot(&units, &wanted).unwrap();
        for unit in ["keystone.service", "nova-api.service"] {
            let file = units.join(format!("{unit}.d")).join(HELD_DROP_IN);
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.contains("[Unit]\nConditionPathExists=/run/stackbox/never-exists\n"));
        }
        assert!(!units.join("mariadb.d").exists(), "not a unit name");
        // keystone's start step: only its drop-in goes (named with or without `.service`).
        assert!(release_at_boot(&units, &["keystone".to_owned()]).unwrap());
        assert!(!units.join("keystone.service.d").join(HELD_DROP_IN).exists());
        assert!(units.join("keystone.service.d/override.conf").exists());
        assert!(units.join("nova-api.service.d").join(HELD_DROP_IN).exists());
        assert!(!release_at_boot(&units, &["keystone.service".to_owned()]).unwrap());
        assert!(release_at_boot(&units, &["nova-api.service".to_owned()]).unwrap());
        assert!(
            !units.join("nova-api.service.d").exists(),
            "an emptied directory goes"
        );
    }

    #[test]
    fn only_units_no_package_provides_yet_are_new() {
        let root = tempfile::tempdir().unwrap();
        let lib = root.path().join("lib/systemd/system");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("keystone.service"), "").unwrap();
        std::fs::create_dir_all(root.path().join("etc/init.d")).unwrap();
        std::fs::write(root.path().join("etc/init.d/memcached"), "").unwrap();
        let units = [
            "keystone.service",
            "memcached.service",
            "nova-api.service",
            "mariadb",
        ]
        .map(String::from);
        assert_eq!(
            not_installed(root.path(), &units),
            vec!["nova-api.service".to_owned()]
        );
    }
}
