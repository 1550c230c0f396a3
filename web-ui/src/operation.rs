//! An operation on the cluster (growing it, removing a node) as its watchers see it, with no HTTP in it:
//! [`ClusterRun`] runs one at a time on a thread of its own and keeps one progress for every node (the
//! installer's [`Progress`], whose steps are `node/step`), the operator's lines (a removal's stages and
//! warnings) and the closing line; [`Operation::nodes`] is each node's share. The wizard decides what
//! runs ([`crate::wizard::operate`]); the pages and the API show it.

use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use serde::Serialize;
use stackbox_cluster::coordinator::{Report, Watch};
use stackbox_installer::executor::Event;
use stackbox_installer::plan::Plan;
use stackbox_installer::progress::{Failure, Phase, Progress, StepProgress, StepStatus};

use crate::error::WebError;

/// How many of the operator's lines an operation keeps.
const LINES: usize = 200;

/// What an operation does to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    /// Installs the grown configuration on every node.
    Grow,
    /// Takes a node out, then installs the configuration without it on the others.
    Remove {
        /// The node.
        node: String,
    },
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Grow => f.write_str("Growing the cluster"),
            Kind::Remove { node } => write!(f, "Removing {node}"),
        }
    }
}

/// One node's share of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeProgress {
    /// The node.
    pub name: String,
    /// Its steps done or skipped.
    pub finished: usize,
    /// Its steps.
    pub total: usize,
    /// The step it runs now.
    pub running: Option<String>,
    /// The step that failed on it.
    pub failed: Option<String>,
}

/// An operation on the cluster, as its watchers see it.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// What it does.
    #[serde(flatten)]
    pub kind: Kind,
    /// Every node's steps (`node/step`), the phase, the failure and the log's tail.
    pub progress: Progress,
    /// The operator's lines (a removal's stages and warnings).
    pub lines: Vec<String>,
    /// The closing line, once it ended.
    pub report: Option<String>,
}

impl Operation {
    /// Each node's share, in the order the plan first names them.
    pub fn nodes(&self) -> Vec<NodeProgress> {
        let mut nodes: Vec<NodeProgress> = Vec::new();
        for step in &self.progress.steps {
            let name = step.id.split('/').next().unwrap_or_default();
            let i = match nodes.iter().position(|n| n.name == name) {
                Some(i) => i,
                None => {
                    nodes.push(NodeProgress {
                        name: name.to_owned(),
                        finished: 0,
                        total: 0,
                        running: None,
                        failed: None,
                    });
                    nodes.len() - 1
                }
            };
            let node = &mut nodes[i];
            node.total += 1;
            match step.status {
                StepStatus::Done | StepStatus::Skipped => node.finished += 1,
                StepStatus::Running => node.running = Some(step.name.clone()),
                StepStatus::Failed => node.failed = Some(step.name.clone()),
                StepStatus::Pending => {}
            }
        }
        nodes
    }

    /// The document the API serves: the operation with each node's share and the overall counts.
    pub fn document(&self) -> serde_json::Value {
        let (finished, total) = self.progress.counts();
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        doc["nodes"] = serde_json::to_value(self.nodes()).unwrap_or_default();
        doc["overall"] = serde_json::json!({ "finished": finished, "total": total });
        doc
    }
}

/// The operation on the cluster, one at a time; the last one is kept until another starts.
#[derive(Debug, Default)]
pub struct ClusterRun {
    current: Mutex<Option<Operation>>,
}

/// The work of an operation: given the watcher, the coordinator's report or why it could not run.
pub type Work = Box<dyn FnOnce(&dyn Watch) -> Result<Report, String> + Send>;

impl ClusterRun {
    fn lock(&self) -> MutexGuard<'_, Option<Operation>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current (or last) operation.
    pub fn current(&self) -> Option<Operation> {
        self.lock().clone()
    }

    /// Whether an operation runs.
    pub fn running(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|o| o.progress.phase == Phase::Running)
    }

    /// Starts `work` on a thread of its own; refused while another operation runs.
    pub fn start(
        self: &Arc<Self>,
        kind: Kind,
        plan_only: bool,
        work: Work,
    ) -> Result<Operation, WebError> {
        let started = {
            let mut current = self.lock();
            if let Some(o) = current
                .as_ref()
                .filter(|o| o.progress.phase == Phase::Running)
            {
                return Err(WebError::Conflict(format!(
                    "{} is running: wait until it ends",
                    o.kind.to_string().to_lowercase()
                )));
            }
            let mut progress = Progress::idle(plan_only);
            progress.phase = Phase::Running;
            let operation = Operation {
                kind,
                progress,
                lines: Vec::new(),
                report: None,
            };
            *current = Some(operation.clone());
            operation
        };
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("cluster-operation".to_owned())
            .spawn(move || {
                let result = work(&Watcher(&me));
                me.finish(result);
            })
            .context("starting the operation's thread")?;
        Ok(started)
    }

    /// Records how the operation ended.
    fn finish(&self, result: Result<Report, String>) {
        let mut current = self.lock();
        let Some(op) = current.as_mut() else { return };
        let rerun = match &op.kind {
            Kind::Grow => "Grow the cluster again",
            Kind::Remove { .. } => "Remove the node again",
        };
        let remedy = Some(format!(
            "Fix the cause, then choose \u{201c}{rerun}\u{201d}: finished steps are not repeated."
        ));
        match result {
            Ok(report) => {
                op.report = Some(stackbox_cluster::cli_install::render_report(&report));
                match report.failed {
                    None => op.progress.phase = Phase::Complete,
                    Some(failed) => {
                        op.progress.phase = Phase::Failed;
                        let failure = op.progress.failure.get_or_insert(Failure {
                            step: Some(failed.id),
                            error: failed.error,
                            log: None,
                            remedy: None,
                        });
                        failure.remedy = remedy;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(operation = %op.kind, "the cluster operation stopped: {error}");
                op.progress.phase = Phase::Failed;
                op.progress.failure = Some(Failure {
                    step: None,
                    error,
                    log: Some("journalctl -u stackbox-wizard".to_owned()),
                    remedy,
                });
            }
        }
    }
}

/// Folds a run's plan, events and lines into the current operation.
struct Watcher<'a>(&'a ClusterRun);

impl Watcher<'_> {
    fn with(&self, f: impl FnOnce(&mut Operation)) {
        if let Some(op) = self.0.lock().as_mut() {
            f(op);
        }
    }
}

impl Watch for Watcher<'_> {
    fn planned(&self, plan: &Plan) {
        self.with(|op| {
            op.progress.steps = plan.steps.iter().map(StepProgress::pending).collect();
        });
    }

    fn starting(&self, _node: &str, id: &str) {
        self.with(|op| op.progress.mark_running(id));
    }

    fn event(&self, _node: &str, event: &Event) {
        self.with(|op| {
            op.progress.apply(event);
        });
    }

    fn say(&self, line: &str) {
        self.with(|op| {
            if op.lines.len() == LINES {
                op.lines.remove(0);
            }
            op.lines.push(line.to_owned());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackbox_cluster::coordinator::Failure as StepFailure;
    use std::time::Duration;

    fn wait_until_ended(run: &ClusterRun) -> Operation {
        for _ in 0..500 {
            if !run.running() {
                return run.current().expect("an operation");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the operation did not end");
    }

    #[test]
    fn one_operation_at_a_time_and_each_node_counted() {
        let run = Arc::new(ClusterRun::default());
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let work: Work = Box::new(move |watch: &dyn Watch| {
            watch.say("warning: two left");
            watch.event(
                "a",
                &Event::Started {
                    id: "a/x.one".into(),
                    title: "one".into(),
                    again: None,
                },
            );
            wait.recv().map_err(|e| e.to_string())?;
            Ok(Report::default())
        });
        let started = run.start(Kind::Grow, true, work).unwrap();
        assert_eq!(started.progress.phase, Phase::Running);
        let again = run.start(
            Kind::Grow,
            true,
            Box::new(|_: &dyn Watch| Ok(Report::default())),
        );
        match again {
            Err(WebError::Conflict(why)) => assert!(why.contains("growing the cluster is running")),
            other => panic!("{other:?}"),
        }
        go.send(()).unwrap();
        let op = wait_until_ended(&run);
        assert_eq!(op.progress.phase, Phase::Complete);
        assert_eq!(op.lines, ["warning: two left"]);
        assert!(op.report.unwrap().starts_with("cluster install complete"));
    }

    #[test]
    fn a_failed_step_or_a_run_that_cannot_start_says_what_to_do() {
        let run = Arc::new(ClusterRun::default());
        let failed = Report {
            failed: Some(StepFailure {
                id: "b/y.two".into(),
                error: "boom".into(),
            }),
            ..Report::default()
        };
        let kind = Kind::Remove { node: "b".into() };
        run.start(kind, false, Box::new(move |_: &dyn Watch| Ok(failed)))
            .unwrap();
        let op = wait_until_ended(&run);
        assert_eq!(op.progress.phase, Phase::Failed);
        let f = op.progress.failure.unwrap();
        assert_eq!(
            (f.step.as_deref(), f.error.as_str()),
            (Some("b/y.two"), "boom")
        );
        assert!(f.remedy.unwrap().contains("Remove the node again"));
        run.start(
            Kind::Grow,
            false,
            Box::new(|_: &dyn Watch| Err("node b: connection refused".to_owned())),
        )
        .unwrap();
        let op = wait_until_ended(&run);
        assert_eq!(op.progress.phase, Phase::Failed);
        let f = op.progress.failure.unwrap();
        assert_eq!(
            (f.step, f.error.as_str()),
            (None, "node b: connection refused")
        );
        assert!(f.remedy.unwrap().contains("Grow the cluster again"));
        assert_eq!(op.report, None);
    }

    #[test]
    fn nodes_are_counted_in_the_plans_order() {
        let step = |id: &str, status| StepProgress {
            id: id.into(),
            name: id.split('/').nth(1).unwrap().into(),
            title: String::new(),
            status,
            detail: String::new(),
            redo: None,
        };
        let mut progress = Progress::idle(true);
        progress.steps = vec![
            step("n2/a", StepStatus::Done),
            step("n1/a", StepStatus::Skipped),
            step("n2/b", StepStatus::Running),
            step("n1/b", StepStatus::Failed),
            step("n1/c", StepStatus::Pending),
        ];
        let op = Operation {
            kind: Kind::Grow,
            progress,
            lines: vec![],
            report: None,
        };
        let nodes = op.nodes();
        assert_eq!(
            nodes,
            [
                NodeProgress {
                    name: "n2".into(),
                    finished: 1,
                    total: 2,
                    running: Some("b".into()),
                    failed: None
                },
                NodeProgress {
                    name: "n1".into(),
                    finished: 1,
                    total: 3,
                    running: None,
                    failed: Some("b".into())
                },
            ]
        );
        let doc = op.document();
        assert_eq!(
            doc["overall"],
            serde_json::json!({"finished": 2, "total": 5})
        );
        assert_eq!(doc["kind"], "grow");
    }
}
