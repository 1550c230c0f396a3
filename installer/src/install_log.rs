//! The installation's whole log: every event of every run (a retry appends), each line stamped with
//! the time and its step's id, secrets redacted as in the progress (the executor redacts output and
//! errors before they become events). The progress keeps only a tail; the wizard offers this file
//! for download, whole or one step's lines.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::executor::Event;

/// The log's file name in the wizard's state directory.
pub const LOG_FILE: &str = "install.log";

/// The log file of one runner, open while a run writes to it.
#[derive(Debug)]
pub struct InstallLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl InstallLog {
    /// The log in `state_dir` (nothing is opened yet).
    pub fn new(state_dir: &Path) -> InstallLog {
        InstallLog {
            path: state_dir.join(LOG_FILE),
            file: Mutex::new(None),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a run's part: a fresh start empties the log, a retry appends to it.
    pub fn begin_run(&self, retry: bool) {
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(retry)
            .write(true)
            .truncate(!retry)
            .open(&self.path)
            .and_then(|f| {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                Ok(f)
            });
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        *file = match opened {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!("the installation's log {}: {e}", self.path.display());
                None
            }
        };
        drop(file);
        let what = if retry {
            "retry: the journal resumes"
        } else {
            "installation started"
        };
        self.write(None, what);
    }

    /// Writes an event's line(s).
    pub fn record(&self, event: &Event) {
        let (id, text) = describe(event);
        self.write(Some(id), &text);
    }

    /// Writes the end of a run.
    pub fn end_run(&self, how: &str) {
        self.write(None, how);
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Each line of `text` as `TIME ID: line` (or `TIME line` for the run's own).
    fn write(&self, id: Option<&str>, text: &str) {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = file.as_mut() else {
            return;
        };
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut out = String::new();
        for line in text.lines() {
            let _ = match id {
                Some(id) => writeln!(out, "{now} {id}: {line}"),
                None => writeln!(out, "{now} {line}"),
            };
        }
        if let Err(e) = f.write_all(out.as_bytes()) {
            tracing::warn!("the installation's log {}: {e}", self.path.display());
            *file = None;
        }
    }

    /// The log's text, or only `step`'s lines; empty when nothing ran yet.
    pub fn read(&self, step: Option<&str>) -> std::io::Result<String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(match step {
            None => text,
            Some(step) => of_step(&text, step),
        })
    }
}

/// The lines of `log` that belong to `step`.
pub fn of_step(log: &str, step: &str) -> String {
    let tag = format!("{step}: ");
    log.lines()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(&tag))
        })
        .fold(String::new(), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

/// An event as the log says it: its step's id and the words.
fn describe(event: &Event) -> (&str, String) {
    match event {
        Event::Started { id, again, .. } => (
            id,
            match again {
                Some(a) => format!("started ({a})"),
                None => "started".to_owned(),
            },
        ),
        Event::Output { id, line } => (id, line.clone()),
        Event::Skipped { id, reason } => (id, format!("skipped: {reason}")),
        Event::Finished { id, seconds } => (id, format!("done in {seconds:.1} s")),
        Event::Failed {
            id, error, remedy, ..
        } => (
            id,
            match remedy {
                Some(r) => format!("failed: {error}\nremedy: {r}"),
                None => format!("failed: {error}"),
            },
        ),
        Event::Paused { id } => (id, "paused here, as asked".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_carries_its_step_and_a_step_reads_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = InstallLog::new(dir.path());
        log.begin_run(false);
        for e in [
            Event::Started {
                id: "n1/keystone.config".into(),
                title: "t".into(),
                again: None,
            },
            Event::Output {
                id: "n1/keystone.config".into(),
                line: "wrote /etc/keystone/keystone.conf".into(),
            },
            Event::Finished {
                id: "n1/keystone.config".into(),
                seconds: 0.25,
            },
            Event::Failed {
                id: "n1/keystone.db-sync".into(),
                error: "keystone-manage failed\nsecond line".into(),
                log: None,
                remedy: Some("read the log".into()),
            },
        ] {
            log.record(&e);
        }
        log.end_run("installation failed");
        let all = log.read(None).unwrap();
        assert_eq!(all.lines().count(), 8, "{all}");
        assert!(
            all.lines()
                .next()
                .unwrap()
                .ends_with(" installation started")
        );
        let one = log.read(Some("n1/keystone.config")).unwrap();
        assert_eq!(one.lines().count(), 3, "{one}");
        assert!(
            one.contains("done in 0.2 s") || one.contains("done in 0.3 s"),
            "{one}"
        );
        let failed = log.read(Some("n1/keystone.db-sync")).unwrap();
        assert!(
            failed.contains("n1/keystone.db-sync: second line"),
            "{failed}"
        );
        assert!(
            failed.contains("n1/keystone.db-sync: remedy: read the log"),
            "{failed}"
        );
        // A step that is a prefix of another's id does not take its lines.
        assert_eq!(log.read(Some("n1/keystone")).unwrap(), "");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A retry appends; a fresh start begins again.
        log.begin_run(true);
        log.end_run("complete");
        assert_eq!(log.read(None).unwrap().lines().count(), 10);
        log.begin_run(false);
        assert_eq!(log.read(None).unwrap().lines().count(), 1);
    }

    #[test]
    fn nothing_ran_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(InstallLog::new(dir.path()).read(None).unwrap(), "");
    }
}
