//! The adapter to the machine the probes read: unit states and journals (systemctl, journalctl), commands
//! (mysql, rabbitmqctl, chronyc, ss), files under the node's root, mounts and their use. [`Host`] is
//! the real one; the tests pass a fake.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use stackbox_common::cmd::Command;

/// A unit's state as systemd tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    /// `active`, `inactive`, `failed`, `activating`, ...
    pub active: String,
    /// `running`, `dead`, `auto-restart`, ...
    pub sub: String,
    /// `success`, `exit-code`, `signal`, ...
    pub result: String,
}

impl UnitState {
    /// Whether it runs.
    pub fn is_active(&self) -> bool {
        self.active == "active" || self.active == "reloading"
    }

    /// The probe's line for it (the catalog's patterns match it).
    pub fn line(&self) -> String {
        format!(
            "state: {} ({}), result {}",
            self.active, self.sub, self.result
        )
    }
}

/// A mounted file system's use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Its size in bytes.
    pub total: u64,
    /// What is free for unprivileged users, in bytes.
    pub available: u64,
}

/// What a command printed and how it ended, whatever its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its exit code (`None`: a signal ended it).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// What the probes read of a node.
pub trait System {
    /// The unit's state, or `None` when it is not installed.
    fn unit(&self, unit: &str) -> Option<UnitState>;
    /// The last `lines` lines of the unit's journal of this boot, written at or after `since` (seconds
    /// since the epoch).
    fn journal(&self, unit: &str, lines: usize, since: i64) -> Vec<String>;
    /// A command's standard output, or why it failed.
    fn run(&self, argv: &[&str]) -> Result<String, String>;
    /// A command's output and exit code, for commands whose status is an answer (`pip check`); an
    /// error only when it could not run (or ran out of time).
    fn run_status(&self, argv: &[&str]) -> Result<Ran, String>;
    /// The node's clock, with its offset from UTC (its logs' time zone).
    fn now(&self) -> time::OffsetDateTime;
    /// A file's text (absolute path, read under the node's root), if it exists.
    fn read(&self, path: &str) -> Option<String>;
    /// The last `bytes` of a file, and how many lines came before them (for line numbers).
    fn tail(&self, path: &str, bytes: u64) -> Option<(String, usize)>;
    /// The use of the file system mounted at `path`.
    fn usage(&self, path: &str) -> Option<Usage>;
    /// Whether the node is a container (it does not keep its own clock).
    fn in_container(&self) -> bool;
    /// Whether this node holds the cluster's API address (or the cluster has none): the node that
    /// reports what belongs to no node.
    fn holds_api_address(&self) -> bool;
}

/// The node itself: commands run here, files read under `root` (`/` on a node).
#[derive(Debug, Clone)]
pub struct Host {
    /// The node's root.
    pub root: PathBuf,
}

impl Host {
    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// systemctl's `Key=value` lines as a state; `None` when the unit is not installed.
pub fn parse_unit_show(text: &str) -> Option<UnitState> {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    if get("LoadState") != "loaded" {
        return None;
    }
    Some(UnitState {
        active: get("ActiveState"),
        sub: get("SubState"),
        result: get("Result"),
    })
}

impl System for Host {
    fn unit(&self, unit: &str) -> Option<UnitState> {
        let name = format!("{unit}.service");
        let out = Command::new("systemctl")
            .args([
                "show",
                "--property=LoadState,ActiveState,SubState,Result",
                name.as_str(),
            ])
            .run()
            .ok()?;
        parse_unit_show(&out.stdout)
    }

    fn journal(&self, unit: &str, lines: usize, since: i64) -> Vec<String> {
        Command::new("journalctl")
            .args(journal_args(unit, lines, since))
            .run()
            .map(|o| o.stdout.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn run(&self, argv: &[&str]) -> Result<String, String> {
        bounded(argv)?
            .run()
            .map(|o| o.stdout)
            .map_err(|e| stackbox_common::error::chain(&e))
    }

    fn run_status(&self, argv: &[&str]) -> Result<Ran, String> {
        let (code, out) = bounded(argv)?
            .run_status()
            .map_err(|e| stackbox_common::error::chain(&e))?;
        // timeout(1) exits 124 when it stopped the command, 137 when it had to kill it.
        if matches!(code, Some(124 | 137)) {
            return Err(format!("`{}` did not finish within 30 s", argv.join(" ")));
        }
        Ok(Ran {
            code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn now(&self) -> time::OffsetDateTime {
        let utc = time::OffsetDateTime::now_utc();
        // The node's offset as date(1) tells it (the time crate cannot read it safely in a threaded
        // program); UTC, the appliance's default, when that fails.
        let offset = Command::new("date")
            .arg("+%z")
            .run()
            .ok()
            .and_then(|o| parse_offset(o.stdout.trim()))
            .unwrap_or(time::UtcOffset::UTC);
        utc.to_offset(offset)
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read(self.path(path))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn tail(&self, path: &str, bytes: u64) -> Option<(String, usize)> {
        let mut f = std::fs::File::open(self.path(path)).ok()?;
        let len = f.metadata().ok()?.len();
        let start = len.saturating_sub(bytes);
        let before = count_lines(&mut f, start).ok()?;
        f.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = Vec::new();
        f.take(bytes).read_to_end(&mut buf).ok()?;
        Some((String::from_utf8_lossy(&buf).into_owned(), before))
    }

    fn usage(&self, path: &str) -> Option<Usage> {
        let s = nix::sys::statvfs::statvfs(&self.path(path)).ok()?;
        // fsblkcnt_t and c_ulong are 64 bits on the Linux targets the appliance runs on.
        let frag = s.fragment_size();
        Some(Usage {
            total: s.blocks().saturating_mul(frag),
            available: s.blocks_available().saturating_mul(frag),
        })
    }

    fn holds_api_address(&self) -> bool {
        let path = self.path(stackbox_installer::runner::CONFIG_PATH);
        let Ok(config) = stackbox_installer::load_config(&path) else {
            return true; // no cluster installed: this node is all there is
        };
        match config.networks.api_address {
            None => true,
            Some(api) => stackbox_machine::probe::net::addresses()
                .unwrap_or_default()
                .iter()
                .any(|(_, ip)| *ip == api),
        }
    }

    fn in_container(&self) -> bool {
        // systemd tells its services through /run/systemd/container (nspawn, lxc, docker, podman).
        self.root.join("run/systemd/container").exists()
            || Path::new("/.dockerenv").exists() && self.root == Path::new("/")
    }
}

/// A command bounded by coreutils' timeout (rabbitmqctl against a node that is stuck would hang).
fn bounded(argv: &[&str]) -> Result<Command, String> {
    let (program, args) = argv.split_first().ok_or("no command")?;
    Ok(Command::new("timeout")
        .args(["--kill-after=5", "30", program])
        .args(args.iter().copied()))
}

/// journalctl's arguments for the last `lines` lines of `unit`'s journal of this boot since `since`.
pub fn journal_args(unit: &str, lines: usize, since: i64) -> Vec<String> {
    [
        "-b".to_owned(),
        "-u".to_owned(),
        format!("{unit}.service"),
        format!("--since=@{since}"),
        "-n".to_owned(),
        lines.to_string(),
        "-o".to_owned(),
        "cat".to_owned(),
        "--no-pager".to_owned(),
        "-q".to_owned(),
    ]
    .into()
}

/// date(1)'s `+%z`: `+0100`, `-0530`.
pub fn parse_offset(text: &str) -> Option<time::UtcOffset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    if rest.len() != 4 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = rest[..2].parse().ok()?;
    let minutes: i32 = rest[2..].parse().ok()?;
    time::UtcOffset::from_whole_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// The newlines in the first `upto` bytes of `f`.
fn count_lines(f: &mut std::fs::File, upto: u64) -> std::io::Result<usize> {
    f.seek(SeekFrom::Start(0))?;
    let mut left = upto;
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let got = f.read(&mut buf[..want])?;
        if got == 0 {
            break;
        }
        n += buf[..got].iter().filter(|b| **b == b'\n').count();
        left -= got as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_states_from_systemctl_show() {
        let s = parse_unit_show(
            "LoadState=loaded\nActiveState=inactive\nSubState=dead\nResult=success\n",
        )
        .unwrap();
        assert_eq!(s.line(), "state: inactive (dead), result success");
        assert!(!s.is_active());
        let s = parse_unit_show(
            "ActiveState=active\nSubState=running\nResult=success\nLoadState=loaded\n",
        )
        .unwrap();
        assert!(s.is_active());
        // A unit that is not installed.
        assert_eq!(
            parse_unit_show(
                "LoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\n"
            ),
            None
        );
        assert_eq!(parse_unit_show(""), None);
    }

    #[test]
    fn journals_are_asked_since_the_cutoff_and_offsets_read_from_date() {
        let args = journal_args("nova-compute", 25, 1_764_529_200);
        assert_eq!(
            args.join(" "),
            "-b -u nova-compute.service --since=@1764529200 -n 25 -o cat --no-pager -q"
        );
        assert_eq!(parse_offset("+0000"), Some(time::UtcOffset::UTC));
        assert_eq!(
            parse_offset("-0530").map(|o| o.whole_seconds()),
            Some(-(5 * 3600 + 30 * 60))
        );
        for bad in ["", "0100", "+01", "+01:00", "UTC"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_tail_of_a_file_counts_the_lines_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("log"), &text).unwrap();
        let host = Host {
            root: dir.path().to_owned(),
        };
        let (tail, before) = host.tail("/log", 100).unwrap();
        // The tail starts inside a line: the lines before it are those whose newline came before.
        let first_whole = tail.split_once('\n').unwrap().1.lines().next().unwrap();
        assert_eq!(first_whole, format!("line {}", before + 2));
        let (all, before) = host.tail("/log", 1 << 20).unwrap();
        assert_eq!((all.len(), before), (text.len(), 0));
        assert!(host.tail("/missing", 10).is_none());
    }
}
