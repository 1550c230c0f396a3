//! An installation run on its own thread, watched as it goes: the configuration is written to its file
//! and planned for this machine ([`Runner::prepare`]), the plan runs through the executor (the real
//! machine, or the plan-only one) on a thread of its own ([`Runner::start`]), and every executor event
//! updates one [`Progress`] that watchers read whole ([`Runner::progress`]) or follow as [`Update`]s
//! ([`Runner::subscribe`]). A failed run can be started again: the journal resumes it where it stopped.
//! A finished run's progress is kept in the state directory, so a restart still shows the result.
//!
//! Nothing here knows about HTTP: the wizard serves it, and a node agent can drive it the same way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use stackbox_common::fs::write_atomic;
use tokio::sync::broadcast;

use crate::ClusterConfig;
use crate::config::SerializeError;
use crate::dry_run::PlanOnlySystem;
use crate::executor::{Event, Summary};
use crate::install::{self, InstallError, Options, Prepared};
use crate::install_log::InstallLog;
use crate::progress::{Failure, Phase, Progress, StepProgress, Update};

/// The file in the state directory that keeps a finished installation's result across restarts.
pub const RESULT_FILE: &str = "install-result.json";
/// Where the configuration file of a real installation is written.
pub const CONFIG_PATH: &str = "/etc/stackbox/cluster.toml";
/// The comment line at the top of the configuration file the runner writes.
pub const WRITTEN_BY: &str =
    "Written by the stackbox setup wizard from its answers; `stackboxd install --config` reads it.";

/// Where an installation runs and keeps its files.
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
            secrets: PathBuf::from(crate::secrets::DEFAULT_PATH),
            journal: PathBuf::from(crate::journal::DEFAULT_PATH),
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

/// Why a run could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// One run at a time.
    #[error("the installation is already running")]
    AlreadyRunning,
    /// The configuration could not be rendered.
    #[error(transparent)]
    Serialize(#[from] SerializeError),
    /// The configuration file could not be written.
    #[error("writing {path}")]
    WriteConfig {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration could not be loaded, planned or matched to this machine.
    #[error("the installation cannot start")]
    Prepare(#[source] InstallError),
    /// The run's thread could not be started.
    #[error("starting the installation's thread")]
    Spawn(#[source] std::io::Error),
}

/// An installation, one run at a time, with its progress.
#[derive(Debug)]
pub struct Runner {
    mode: InstallMode,
    state_dir: PathBuf,
    progress: Mutex<Progress>,
    updates: broadcast::Sender<Update>,
    /// Whether plan mode's one failure was used (a retry must get past it).
    failed_once: AtomicBool,
    /// Every run's whole output.
    log: InstallLog,
}

impl Runner {
    /// An idle runner, or the finished one a previous process left in `state_dir`.
    pub fn new(mode: InstallMode, state_dir: &Path) -> Runner {
        let stored = std::fs::read_to_string(state_dir.join(RESULT_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<Progress>(&t).ok())
            .filter(|p| p.phase == Phase::Complete && p.plan_only == mode.plan_only());
        let (updates, _) = broadcast::channel(1024);
        Runner {
            progress: Mutex::new(stored.unwrap_or_else(|| Progress::idle(mode.plan_only()))),
            mode,
            state_dir: state_dir.to_owned(),
            updates,
            failed_once: AtomicBool::new(false),
            log: InstallLog::new(state_dir),
        }
    }

    /// The installation's whole log (every run's events, stamped), for download.
    pub fn log(&self) -> &InstallLog {
        &self.log
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
        self.log.record(event);
        let update = p.apply(event);
        let _ = self.updates.send(update);
    }

    fn set_phase(&self, p: &mut Progress, phase: Phase) {
        let now = unix_now();
        match phase {
            Phase::Running => (p.started_at, p.ended_at) = (now, None),
            Phase::Failed | Phase::Complete => p.ended_at = now,
            Phase::Idle => {}
        }
        p.phase = phase;
        let _ = self.updates.send(Update::Snapshot(Box::new(p.clone())));
    }

    /// Writes the configuration file and plans it for the machine at `root`, touching nothing else.
    /// (Blocking: the hardware probes run their own netlink runtime.)
    pub fn prepare(&self, config: &ClusterConfig, root: &Path) -> Result<Prepared, RunError> {
        let (config_path, secrets, journal) = self.mode.paths(&self.state_dir);
        let text = config.to_toml_file(WRITTEN_BY)?;
        write_atomic(&config_path, text.as_bytes(), 0o644).map_err(|source| {
            RunError::WriteConfig {
                path: config_path.display().to_string(),
                source,
            }
        })?;
        let opts = Options {
            config: config_path,
            node: config.nodes.first().map(|n| n.name.clone()),
            secrets,
            journal,
            stop_after: None,
            root: root.to_owned(),
            facts: Default::default(),
        };
        install::prepare(&opts).map_err(RunError::Prepare)
    }

    /// Starts (or, after a failure, resumes) the installation on its own thread. Refused while one runs.
    pub fn start(self: &Arc<Self>, prepared: Prepared) -> Result<(), RunError> {
        self.begin(&prepared)?;
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("install".to_owned())
            .spawn(move || me.run(prepared))
            .map_err(RunError::Spawn)?;
        Ok(())
    }

    /// Marks the run started: this node's steps pending, the last run's failure and result gone.
    fn begin(&self, prepared: &Prepared) -> Result<(), RunError> {
        let mut p = self.lock();
        if p.phase == Phase::Running {
            return Err(RunError::AlreadyRunning);
        }
        let node = prepared.node().to_owned();
        let previous = std::mem::take(&mut p.steps);
        p.steps = prepared
            .plan()
            .for_node(&node)
            .map(StepProgress::pending)
            .collect();
        // A retry keeps the earlier run's output; a fresh start begins a new log.
        if previous.is_empty() {
            p.log.clear();
        }
        self.log.begin_run(!previous.is_empty());
        p.failure = None;
        p.smoke = None;
        p.summary = None;
        p.config = Some(prepared.config().clone());
        let _ = std::fs::remove_file(self.state_dir.join(RESULT_FILE));
        self.set_phase(&mut p, Phase::Running);
        Ok(())
    }

    /// The run's thread: executes the plan on a runtime of its own, then records how it ended.
    fn run(&self, prepared: Prepared) {
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(self.execute(&prepared))
                    .map_err(|e| e.to_string())
            });
        let mut p = self.lock();
        match outcome {
            Ok(summary) => {
                self.log.end_run(match summary.complete() {
                    true => "installation complete",
                    false => "installation stopped at its failed step",
                });
                self.finish(&mut p, summary);
            }
            Err(error) => {
                tracing::error!("installation stopped: {error}");
                self.log.end_run(&format!("installation stopped: {error}"));
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

    /// Runs the plan on the machine the mode names, publishing every event.
    async fn execute(&self, prepared: &Prepared) -> Result<Summary, InstallError> {
        let mut on_event = |e: Event| {
            let mut p = self.lock();
            self.publish(&mut p, &e);
        };
        match &self.mode {
            InstallMode::Real { .. } => install::execute(prepared, &mut on_event).await,
            InstallMode::PlanOnly {
                fail_package_once,
                pace,
            } => {
                let first_run = !self.failed_once.swap(true, Ordering::SeqCst);
                let system = match fail_package_once {
                    Some(pkg) if first_run => PlanOnlySystem::failing_once(pkg.clone()),
                    _ => PlanOnlySystem::new(),
                }
                .paced(*pace);
                let secrets = prepared.secrets()?;
                install::execute_on(prepared, &system, &secrets, &mut on_event).await
            }
        }
    }

    /// Records a run that ended with a summary: complete (kept for restarts) or failed.
    fn finish(&self, p: &mut Progress, summary: Summary) {
        let phase = if summary.complete() {
            Phase::Complete
        } else {
            Phase::Failed
        };
        p.summary = Some(summary);
        if phase == Phase::Complete {
            // If the process restarts, the done page still has the result.
            if let Ok(text) = serde_json::to_string_pretty(&Progress {
                phase,
                ended_at: unix_now(),
                ..p.clone()
            }) && let Err(e) =
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
        self.set_phase(p, phase);
    }
}

/// Now, in seconds since the Unix epoch.
fn unix_now() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .ok()
}
