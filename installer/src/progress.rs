//! Where an installation stands, as a model anyone can hold without HTTP: the phase, each step's
//! status, the tail of the output, the failure with its remedy, and [`Progress::apply`], which folds one
//! executor [`Event`] into the progress and says what changed as an [`Update`].
//!
//! The wizard renders a [`Progress`] as pages and streams [`Update`]s as server-sent events; a node
//! agent or the coordinator can hold the same model. The serde shape is what browsers read.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::ClusterConfig;
use crate::executor::{Again, Event, Summary};

/// How many lines of output the progress keeps for the log tail.
pub const LOG_TAIL: usize = 200;

/// Where an installation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Not started since the wizard started.
    Idle,
    /// Steps are running.
    Running,
    /// A step failed; a retry resumes there.
    Failed,
    /// Every step is done and the smoke test passed.
    Complete,
}

impl Phase {
    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Running => "running",
            Phase::Failed => "failed",
            Phase::Complete => "complete",
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not reached.
    Pending,
    /// Acting now.
    Running,
    /// Acted and done.
    Done,
    /// Did not need to act (unchanged, or already done).
    Skipped,
    /// Failed.
    Failed,
}

impl StepStatus {
    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
        }
    }
}

/// One step as the progress shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    /// `node/name`.
    pub id: String,
    /// `keystone.db-sync`.
    pub name: String,
    /// What it does.
    pub title: String,
    /// Where it stands.
    pub status: StepStatus,
    /// Why it was skipped, or how long it took.
    pub detail: String,
    /// Why a step done before acts again (its inputs changed, or a repair), kept when it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redo: Option<String>,
}

impl StepProgress {
    /// A step of the plan, not reached yet.
    pub fn pending(step: &crate::plan::Step) -> StepProgress {
        StepProgress {
            id: step.id.clone(),
            name: step.name.clone(),
            title: step.title.clone(),
            status: StepStatus::Pending,
            detail: String::new(),
            redo: None,
        }
    }
}

/// A failed step, with what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The step's id, when a step failed (else the run could not start).
    pub step: Option<String>,
    /// What went wrong (secrets redacted by the executor).
    pub error: String,
    /// The log to read.
    pub log: Option<String>,
    /// What to try.
    pub remedy: Option<String>,
}

/// A line of a step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The step's id.
    pub step: String,
    /// The line.
    pub line: String,
}

/// Everything an installation's watchers are shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Where it stands.
    pub phase: Phase,
    /// Whether this is plan mode (nothing is installed).
    pub plan_only: bool,
    /// This node's steps, in order.
    pub steps: Vec<StepProgress>,
    /// The last lines of output.
    pub log: VecDeque<LogLine>,
    /// The failure, when the phase is `failed`.
    pub failure: Option<Failure>,
    /// The smoke test's report, once it ran.
    pub smoke: Option<String>,
    /// How the last run ended.
    pub summary: Option<Summary>,
    /// The configuration being installed.
    pub config: Option<ClusterConfig>,
    /// When the current (or last) run started, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When it ended (failed or complete), in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

impl Progress {
    /// Nothing started yet.
    pub fn idle(plan_only: bool) -> Progress {
        Progress {
            phase: Phase::Idle,
            plan_only,
            steps: Vec::new(),
            log: VecDeque::new(),
            failure: None,
            smoke: None,
            summary: None,
            config: None,
            started_at: None,
            ended_at: None,
        }
    }

    /// Steps done or skipped, and the total.
    pub fn counts(&self) -> (usize, usize) {
        let finished = self
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Done | StepStatus::Skipped))
            .count();
        (finished, self.steps.len())
    }

    /// The step running now, if one is.
    pub fn running_step(&self) -> Option<&StepProgress> {
        self.steps.iter().find(|s| s.status == StepStatus::Running)
    }

    /// Marks a step running before its own events arrive (a coordinator that handed it to an agent).
    pub fn mark_running(&mut self, id: &str) {
        if let Some(s) = self.step_mut(id)
            && s.status == StepStatus::Pending
        {
            s.status = StepStatus::Running;
        }
    }

    fn step_mut(&mut self, id: &str) -> Option<&mut StepProgress> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// Applies an executor event; returns what watchers are sent.
    pub fn apply(&mut self, event: &Event) -> Update {
        match event {
            Event::Started { id, again, .. } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Running;
                    s.detail = again.as_ref().map(ToString::to_string).unwrap_or_default();
                    s.redo = match again {
                        Some(a @ (Again::InputsChanged | Again::Repair { .. })) => {
                            Some(a.to_string())
                        }
                        _ => None,
                    };
                }
            }
            Event::Output { id, line } => return Update::Log(self.push_line(id, line)),
            Event::Skipped { id, reason } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Skipped;
                    s.detail = reason.clone();
                }
            }
            Event::Finished { id, seconds } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Done;
                    s.detail = match &s.redo {
                        Some(why) => format!("{seconds:.1} s ({why})"),
                        None => format!("{seconds:.1} s"),
                    };
                }
            }
            Event::Failed {
                id,
                error,
                log,
                remedy,
            } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Failed;
                    s.detail = "failed".to_owned();
                }
                self.failure = Some(Failure {
                    step: Some(id.clone()),
                    error: error.clone(),
                    log: log.clone(),
                    remedy: remedy.clone(),
                });
            }
            Event::Paused { .. } => {}
        }
        let id = match event {
            Event::Started { id, .. }
            | Event::Skipped { id, .. }
            | Event::Finished { id, .. }
            | Event::Failed { id, .. }
            | Event::Paused { id }
            | Event::Output { id, .. } => id,
        };
        match self.steps.iter().find(|s| &s.id == id) {
            Some(s) => Update::Step(s.clone()),
            None => Update::Snapshot(Box::new(self.clone())),
        }
    }

    /// Keeps a line of output in the tail (and in the smoke report, for the smoke test's step).
    fn push_line(&mut self, id: &str, line: &str) -> LogLine {
        if id.ends_with("/smoke.test") {
            let smoke = self.smoke.get_or_insert_with(String::new);
            smoke.push_str(line);
            smoke.push('\n');
        }
        let line = LogLine {
            step: id.to_owned(),
            line: line.to_owned(),
        };
        if self.log.len() == LOG_TAIL {
            self.log.pop_front();
        }
        self.log.push_back(line.clone());
        line
    }
}

/// What watchers are sent as the installation moves.
#[derive(Debug, Clone)]
pub enum Update {
    /// The whole progress (on connecting, and when the phase changes).
    Snapshot(Box<Progress>),
    /// One step changed.
    Step(StepProgress),
    /// A line of output.
    Log(LogLine),
}

impl Update {
    /// The update's name: `snapshot`, `step` or `log`.
    pub fn name(&self) -> &'static str {
        match self {
            Update::Snapshot(_) => "snapshot",
            Update::Step(_) => "step",
            Update::Log(_) => "log",
        }
    }

    /// The update's contents as JSON: the progress, the step or the line.
    pub fn json(&self) -> String {
        match self {
            Update::Snapshot(p) => serde_json::to_string(p),
            Update::Step(s) => serde_json::to_string(s),
            Update::Log(l) => serde_json::to_string(l),
        }
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Progress {
        let mut p = Progress::idle(true);
        p.phase = Phase::Running;
        p.steps = ["n/a.one", "n/smoke.test"]
            .iter()
            .map(|id| StepProgress {
                id: (*id).to_owned(),
                name: id.trim_start_matches("n/").to_owned(),
                title: "t".to_owned(),
                status: StepStatus::Pending,
                detail: String::new(),
                redo: None,
            })
            .collect();
        p
    }

    #[test]
    fn events_move_the_steps_and_name_what_changed() {
        let mut p = running();
        let u = p.apply(&Event::Started {
            id: "n/a.one".into(),
            title: "t".into(),
            again: Some(crate::executor::Again::InputsChanged),
        });
        assert_eq!(u.name(), "step");
        assert_eq!(p.running_step().unwrap().detail, "inputs changed: redo");
        p.apply(&Event::Finished {
            id: "n/a.one".into(),
            seconds: 1.25,
        });
        assert_eq!(p.steps[0].detail, "1.2 s (inputs changed: redo)");
        // A restart because a watched step acted is the plan's own flow, not a redo: not kept.
        p.apply(&Event::Started {
            id: "n/a.one".into(),
            title: "t".into(),
            again: Some(crate::executor::Again::Restart { step: None }),
        });
        assert!(p.running_step().unwrap().detail.starts_with("restart"));
        p.apply(&Event::Finished {
            id: "n/a.one".into(),
            seconds: 0.5,
        });
        assert_eq!(
            (p.steps[0].detail.as_str(), &p.steps[0].redo),
            ("0.5 s", &None)
        );
        assert_eq!(p.counts(), (1, 2));
        let u = p.apply(&Event::Output {
            id: "n/smoke.test".into(),
            line: "ok".into(),
        });
        assert_eq!(u.name(), "log");
        assert_eq!(u.json(), r#"{"step":"n/smoke.test","line":"ok"}"#);
        assert_eq!(p.smoke.as_deref(), Some("ok\n"));
        p.apply(&Event::Failed {
            id: "n/smoke.test".into(),
            error: "boom".into(),
            log: None,
            remedy: Some("retry".into()),
        });
        assert_eq!(p.steps[1].status, StepStatus::Failed);
        assert_eq!(p.failure.as_ref().unwrap().error, "boom");
        let u = p.apply(&Event::Paused { id: "x/y".into() });
        assert_eq!(u.name(), "snapshot");
    }

    #[test]
    fn a_step_handed_out_is_running_until_its_events_say_more() {
        let mut p = running();
        p.mark_running("n/a.one");
        assert_eq!(p.running_step().unwrap().id, "n/a.one");
        p.apply(&Event::Finished {
            id: "n/a.one".into(),
            seconds: 2.0,
        });
        // A finished step stays finished; an unknown one changes nothing.
        p.mark_running("n/a.one");
        p.mark_running("n/none");
        assert_eq!(p.steps[0].status, StepStatus::Done);
        assert!(p.running_step().is_none());
    }

    #[test]
    fn the_log_keeps_its_tail() {
        let mut p = running();
        for i in 0..LOG_TAIL + 5 {
            p.apply(&Event::Output {
                id: "n/a.one".into(),
                line: i.to_string(),
            });
        }
        assert_eq!(p.log.len(), LOG_TAIL);
        assert_eq!(p.log.front().unwrap().line, "5");
    }
}
