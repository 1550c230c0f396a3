//! The installation as the wizard runs it: the answers become the installer's configuration file, the
//! plan runs on its own thread through the installer's executor (the real machine, or the plan-only one
//! in plan mode), and every executor event updates one [`Progress`] that pages render and that
//! server-sent events stream to browsers. A reload gets the whole progress again; a failed run can be
//! retried, and the journal makes the retry resume where it stopped.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use stackbox_common::fs::write_atomic;
use stackbox_installer::ClusterConfig;
use stackbox_installer::dry_run::PlanOnlySystem;
use stackbox_installer::executor::{Event, Summary};
use stackbox_installer::install::{self, Options, Prepared};
use tokio::sync::broadcast;

use crate::cluster_config;
use crate::error::WebError;

/// How many lines of output the progress keeps for the log tail.
pub const LOG_TAIL: usize = 200;
/// The file in the state directory that keeps a finished installation's result across restarts.
pub const RESULT_FILE: &str = "install-result.json";

/// Where the wizard's installation runs and keeps its files.
#[derive(Debug, Clone)]
pub enum InstallMode {
    /// Installs the cloud on this machine.
    Real {
        /// The cluster configuration file written from the answers.
        config: PathBuf,
        /// The secrets file.
        secrets: PathBuf,
        /// The journal.
        journal: PathBuf,
    },
    /// Walks the plan without touching the machine (`stackboxd serve --plan-only`); its files live in
    /// `STATE/plan/`.
    PlanOnly {
        /// A package whose installation fails once (tests of the failure and retry view).
        fail_package_once: Option<String>,
        /// How long each action pretends to take, so progress can be watched.
        pace: std::time::Duration,
    },
}

impl InstallMode {
    /// The real installation with `stackboxd install`'s default paths.
    pub fn real() -> InstallMode {
        InstallMode::Real {
            config: PathBuf::from(CONFIG_PATH),
            secrets: PathBuf::from(stackbox_installer::secrets::DEFAULT_PATH),
            journal: PathBuf::from(stackbox_installer::journal::DEFAULT_PATH),
        }
    }

    /// Whether nothing is installed.
    pub fn plan_only(&self) -> bool {
        matches!(self, InstallMode::PlanOnly { .. })
    }

    /// (configuration, secrets, journal) paths.
    pub fn paths(&self, state_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        match self {
            InstallMode::Real {
                config,
                secrets,
                journal,
            } => (config.clone(), secrets.clone(), journal.clone()),
            InstallMode::PlanOnly { .. } => {
                let dir = state_dir.join("plan");
                (
                    dir.join("cluster.toml"),
                    dir.join("secrets.toml"),
                    dir.join("journal.db"),
                )
            }
        }
    }
}

/// Where the wizard writes the cluster configuration for a real installation.
pub const CONFIG_PATH: &str = "/etc/stackbox/cluster.toml";

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

/// Everything the install and done pages show.
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
}

impl Progress {
    fn idle(plan_only: bool) -> Progress {
        Progress {
            phase: Phase::Idle,
            plan_only,
            steps: Vec::new(),
            log: VecDeque::new(),
            failure: None,
            smoke: None,
            summary: None,
            config: None,
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

    fn step_mut(&mut self, id: &str) -> Option<&mut StepProgress> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// Applies an executor event; returns what browsers are sent.
    fn apply(&mut self, event: &Event) -> Update {
        match event {
            Event::Started { id, redo, .. } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Running;
                    s.detail = if *redo { "inputs changed: redo" } else { "" }.to_owned();
                }
            }
            Event::Output { id, line } => {
                if id.ends_with("/smoke.test") {
                    let smoke = self.smoke.get_or_insert_with(String::new);
                    smoke.push_str(line);
                    smoke.push('\n');
                }
                let line = LogLine {
                    step: id.clone(),
                    line: line.clone(),
                };
                if self.log.len() == LOG_TAIL {
                    self.log.pop_front();
                }
                self.log.push_back(line.clone());
                return Update::Log(line);
            }
            Event::Skipped { id, reason } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Skipped;
                    s.detail = reason.clone();
                }
            }
            Event::Finished { id, seconds } => {
                if let Some(s) = self.step_mut(id) {
                    s.status = StepStatus::Done;
                    s.detail = format!("{seconds:.1} s");
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
}

/// What a browser is sent as the installation moves.
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
    /// The server-sent event: `event:` name and JSON `data:`.
    pub fn to_sse(&self) -> String {
        let (name, data) = match self {
            Update::Snapshot(p) => ("snapshot", serde_json::to_string(p)),
            Update::Step(s) => ("step", serde_json::to_string(s)),
            Update::Log(l) => ("log", serde_json::to_string(l)),
        };
        format!("event: {name}\ndata: {}\n\n", data.unwrap_or_default())
    }
}

/// The wizard's installation: one at a time.
#[derive(Debug)]
pub struct Installer {
    mode: InstallMode,
    state_dir: PathBuf,
    progress: Mutex<Progress>,
    updates: broadcast::Sender<Update>,
    /// Whether plan mode's one failure was used (a retry must get past it).
    failed_once: std::sync::atomic::AtomicBool,
}

impl Installer {
    /// An idle installer, or the finished one a previous run of the wizard left.
    pub fn new(mode: InstallMode, state_dir: &Path) -> Installer {
        let stored = std::fs::read_to_string(state_dir.join(RESULT_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<Progress>(&t).ok())
            .filter(|p| p.phase == Phase::Complete && p.plan_only == mode.plan_only());
        let (updates, _) = broadcast::channel(1024);
        Installer {
            progress: Mutex::new(stored.unwrap_or_else(|| Progress::idle(mode.plan_only()))),
            mode,
            state_dir: state_dir.to_owned(),
            updates,
            failed_once: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The installation mode.
    pub fn mode(&self) -> &InstallMode {
        &self.mode
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the progress.
    pub fn progress(&self) -> Progress {
        self.lock().clone()
    }

    /// The progress now and every update after it, with none lost in between.
    pub fn subscribe(&self) -> (Progress, broadcast::Receiver<Update>) {
        let p = self.lock();
        (p.clone(), self.updates.subscribe())
    }

    fn publish(&self, p: &mut Progress, event: &Event) {
        let update = p.apply(event);
        let _ = self.updates.send(update);
    }

    fn set_phase(&self, p: &mut Progress, phase: Phase) {
        p.phase = phase;
        let _ = self.updates.send(Update::Snapshot(Box::new(p.clone())));
    }

    /// Writes the configuration file from the answers and plans it for this machine, touching nothing
    /// else. (Blocking: the hardware probes run their own netlink runtime.)
    pub fn prepare(&self, config: &ClusterConfig, root: &Path) -> Result<Prepared, WebError> {
        let (config_path, secrets, journal) = self.mode.paths(&self.state_dir);
        let text = cluster_config::render_toml(config)?;
        write_atomic(&config_path, text.as_bytes(), 0o644).map_err(|e| {
            WebError::Internal(anyhow::anyhow!("writing {}: {e}", config_path.display()))
        })?;
        let opts = Options {
            config: config_path,
            node: config.nodes.first().map(|n| n.name.clone()),
            secrets,
            journal,
            stop_after: None,
            root: root.to_owned(),
        };
        install::prepare(&opts)
            .map_err(|e| WebError::Conflict(format!("the installation cannot start: {e}")))
    }

    /// Starts (or, after a failure, resumes) the installation on its own thread. Refused while one runs.
    pub fn start(self: &Arc<Self>, prepared: Prepared) -> Result<(), WebError> {
        {
            let mut p = self.lock();
            if p.phase == Phase::Running {
                return Err(WebError::Conflict(
                    "the installation is already running".to_owned(),
                ));
            }
            let node = prepared.node().to_owned();
            let previous = std::mem::take(&mut p.steps);
            p.steps = prepared
                .plan()
                .for_node(&node)
                .map(|s| StepProgress {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    title: s.title.clone(),
                    status: StepStatus::Pending,
                    detail: String::new(),
                })
                .collect();
            // A retry keeps the earlier run's output; a fresh start begins a new log.
            if previous.is_empty() {
                p.log.clear();
            }
            p.failure = None;
            p.smoke = None;
            p.summary = None;
            p.config = Some(prepared.config().clone());
            let _ = std::fs::remove_file(self.state_dir.join(RESULT_FILE));
            self.set_phase(&mut p, Phase::Running);
        }
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("install".to_owned())
            .spawn(move || me.run(prepared))
            .map_err(|e| WebError::Internal(anyhow::anyhow!("starting the installation: {e}")))?;
        Ok(())
    }

    fn run(&self, prepared: Prepared) {
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(async {
                    let mut on_event = |e: Event| {
                        let mut p = self.lock();
                        self.publish(&mut p, &e);
                    };
                    let result = match &self.mode {
                        InstallMode::Real { .. } => {
                            install::execute(&prepared, &mut on_event).await
                        }
                        InstallMode::PlanOnly {
                            fail_package_once,
                            pace,
                        } => {
                            let first_run = !self
                                .failed_once
                                .swap(true, std::sync::atomic::Ordering::SeqCst);
                            let system = match fail_package_once {
                                Some(pkg) if first_run => PlanOnlySystem::failing_once(pkg.clone()),
                                _ => PlanOnlySystem::new(),
                            }
                            .paced(*pace);
                            match prepared.secrets() {
                                Ok(secrets) => {
                                    install::execute_on(&prepared, &system, &secrets, &mut on_event)
                                        .await
                                }
                                Err(e) => Err(e),
                            }
                        }
                    };
                    result.map_err(|e| e.to_string())
                })
            });
        let mut p = self.lock();
        match outcome {
            Ok(summary) => {
                let phase = if summary.complete() {
                    Phase::Complete
                } else {
                    Phase::Failed
                };
                p.summary = Some(summary);
                if phase == Phase::Complete {
                    // If the wizard restarts, the done page still has the result.
                    if let Ok(text) = serde_json::to_string_pretty(&Progress { phase, ..p.clone() })
                        && let Err(e) =
                            write_atomic(&self.state_dir.join(RESULT_FILE), text.as_bytes(), 0o600)
                    {
                        tracing::warn!("keeping the installation's result: {e}");
                    }
                    tracing::info!("installation complete");
                }
                if let (Phase::Failed, None) = (phase, &p.failure) {
                    p.failure = Some(Failure {
                        step: None,
                        error: "the installation stopped before its last step".to_owned(),
                        log: None,
                        remedy: None,
                    });
                }
                self.set_phase(&mut p, phase);
            }
            Err(error) => {
                tracing::error!("installation stopped: {error}");
                p.failure = Some(Failure {
                    step: None,
                    error,
                    log: Some("journalctl -u stackbox-wizard".to_owned()),
                    remedy: Some(
                        "Fix the cause, then retry; the journal resumes where the run stopped."
                            .to_owned(),
                    ),
                });
                self.set_phase(&mut p, Phase::Failed);
            }
        }
    }
}
