//! What `stackboxd cluster galera-start` ([`crate::galera`]) last decided on this node, kept for the status: after a power
//! loss the operator reads there (`stackboxd cluster status`, the wizard's cluster status) whether this
//! node joined, restored the saved component, bootstrapped (and why it was provably newest), or waits
//! (and for what, since when). The file holds no secret (0644) and each decision replaces it; a wait
//! that goes on keeps the time it began.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stackbox_common::fs::write_atomic;

/// The record, relative to the wizard's state directory.
pub const START_RECORD: &str = "cluster/galera-start.json";

/// What the last start decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Joined a running member, or restored the saved component.
    Start,
    /// Bootstrapped a new primary component from this node.
    Bootstrap,
    /// Waits: this node cannot prove it is newest and no member runs.
    Wait,
}

/// The last decision, with its reason and when it was made (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecord {
    /// What it decided.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// When.
    pub at: u64,
    /// When the wait began, for a wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<u64>,
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl StartRecord {
    /// The record of a decision (`outcome` for `reason`) made at `now`, after `previous` (a wait that
    /// goes on keeps its start).
    pub fn of(
        outcome: Outcome,
        reason: &str,
        now: SystemTime,
        previous: Option<&StartRecord>,
    ) -> StartRecord {
        let at = seconds(now);
        let waiting_since = (outcome == Outcome::Wait).then(|| match previous {
            Some(p) if p.outcome == Outcome::Wait => p.waiting_since.unwrap_or(p.at),
            _ => at,
        });
        StartRecord {
            outcome,
            reason: reason.to_owned(),
            at,
            waiting_since,
        }
    }

    /// The record in a line: `bootstrapped 12 s ago: REASON`, `waiting for 5 min: REASON`.
    pub fn describe(&self, now: SystemTime) -> String {
        let ago = |t: u64| {
            let s = seconds(now).saturating_sub(t);
            match s {
                0..120 => format!("{s} s"),
                120..7200 => format!("{} min", s / 60),
                _ => format!("{} h", s / 3600),
            }
        };
        match self.outcome {
            Outcome::Start => format!("started {} ago: {}", ago(self.at), self.reason),
            Outcome::Bootstrap => format!("bootstrapped {} ago: {}", ago(self.at), self.reason),
            Outcome::Wait => format!(
                "WAITING for {}: {}",
                ago(self.waiting_since.unwrap_or(self.at)),
                self.reason
            ),
        }
    }
}

/// The last record in `state` (none before the first start, or when it cannot be read).
pub fn last(state: &Path) -> Option<StartRecord> {
    let text = std::fs::read_to_string(state.join(START_RECORD)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Records a decision (`outcome` for `reason`), made at `now`, in `state`.
pub fn keep(
    state: &Path,
    outcome: Outcome,
    reason: &str,
    now: SystemTime,
) -> std::io::Result<StartRecord> {
    let record = StartRecord::of(outcome, reason, now, last(state).as_ref());
    let text = serde_json::to_string_pretty(&record).map_err(std::io::Error::other)?;
    write_atomic(&state.join(START_RECORD), text.as_bytes(), 0o644)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use std::time::Duration;

    use super::*;

    #[test]
    fn a_wait_keeps_its_start_and_a_start_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(last(dir.path()), None);
        let wait = "node3 may be newer";
        keep(dir.path(), Outcome::Wait, wait, t0).unwrap();
        let second = keep(
            dir.path(),
            Outcome::Wait,
            wait,
            t0 + Duration::from_secs(600),
        )
        .unwrap();
        assert_eq!(second.waiting_since, Some(1_800_000_000));
        assert_eq!(
            second.describe(t0 + Duration::from_secs(630)),
            "WAITING for 10 min: node3 may be newer"
        );
        let third = keep(
            dir.path(),
            Outcome::Bootstrap,
            "left last",
            t0 + Duration::from_secs(700),
        )
        .unwrap();
        assert_eq!(
            (third.outcome, third.waiting_since),
            (Outcome::Bootstrap, None)
        );
        assert_eq!(last(dir.path()), Some(third.clone()));
        assert_eq!(
            third.describe(t0 + Duration::from_secs(712)),
            "bootstrapped 12 s ago: left last"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(START_RECORD))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o644);
        // Must fail: a damaged record is no record (the status says nothing rather than something
        // false).
        std::fs::write(dir.path().join(START_RECORD), "{\"outcome\": \"maybe\"}").unwrap();
        assert_eq!(last(dir.path()), None);
    }
}
