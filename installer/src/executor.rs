//! The executor: carries out one node's steps of a plan, in order, through a [`System`], recording each
//! in the [`Journal`]. A step whose inputs are unchanged since it was done is skipped; one whose inputs
//! changed is redone (a unit is restarted); one that is not in the journal, or was interrupted, is first
//! asked whether it is already done and acts only if not. Progress is a stream of [`Event`]s.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::StepError;
use crate::journal::{Journal, JournalError, Record, State};
use crate::plan::{Action, DoneCheck, FileSpec, Plan, Step};
use crate::secrets::Secrets;

/// How many times a unit step's units are asked after the start, a [`System::pause`] apart, before the
/// step is not done (20 s on a machine).
pub const UNIT_SETTLE_TRIES: u32 = 20;

/// The machine as the executor sees it: the real one ([`crate::system::RealSystem`]), the plan-only one
/// ([`crate::dry_run::PlanOnlySystem`]) or a fake in tests. Only primitive verbs (packages, files, units,
/// SQL, commands, paths; waiting is the executor's loop over a command): it knows no flavor. Arguments
/// arrive with secrets filled in.
#[allow(async_fn_in_trait)]
pub trait System {
    /// Whether every package is installed.
    async fn packages_installed(&self, packages: &[String]) -> Result<bool, StepError>;
    /// Installs packages; returns the output.
    async fn install_packages(&self, packages: &[String]) -> Result<String, StepError>;
    /// Whether the file exists with exactly this content and mode.
    async fn file_matches(&self, file: &FileSpec, content: &str) -> Result<bool, StepError>;
    /// Writes the file atomically with its mode and owner.
    async fn write_file(&self, file: &FileSpec, content: &str) -> Result<(), StepError>;
    /// Whether every unit is active.
    async fn units_active(&self, units: &[String]) -> Result<bool, StepError>;
    /// Enables and starts (or restarts) units and waits until they are active.
    async fn start_units(&self, units: &[String], restart: bool) -> Result<(), StepError>;
    /// Runs SQL statements.
    async fn sql(&self, local_root: bool, statements: &[String]) -> Result<(), StepError>;
    /// Whether the query returns a row.
    async fn sql_rows(&self, local_root: bool, query: &str) -> Result<bool, StepError>;
    /// Runs a command; returns its output.
    async fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<String, StepError>;
    /// Whether a path exists.
    async fn path_exists(&self, path: &str) -> bool;
    /// Creates an empty marker file (and its directory).
    async fn touch(&self, path: &str) -> Result<(), StepError>;
    /// How long a wait pauses between two asks (a machine that only says what it would do, or a test's,
    /// need not pause).
    fn pause(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    /// Whether a step's own check can be asked again after it acted. A machine that only says what it
    /// would do (plan mode) cannot: its checks always answer "not done".
    fn verifies(&self) -> bool {
        true
    }
}

/// Progress of an installation.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A step started acting.
    Started {
        /// Step id.
        id: String,
        /// What it does.
        title: String,
        /// Why it acts again, if it acted before (or may have): `None` for a first run.
        again: Option<Again>,
    },
    /// A line of a step's output.
    Output {
        /// Step id.
        id: String,
        /// The line (secrets redacted).
        line: String,
    },
    /// A step did not need to act.
    Skipped {
        /// Step id.
        id: String,
        /// `unchanged` (journal) or `already done` (its own check).
        reason: String,
    },
    /// A step finished.
    Finished {
        /// Step id.
        id: String,
        /// How long it took.
        seconds: f64,
    },
    /// A step failed; the installation stops here.
    Failed {
        /// Step id.
        id: String,
        /// What went wrong (secrets redacted).
        error: String,
        /// The log to read.
        log: Option<String>,
        /// What to try.
        remedy: Option<String>,
    },
    /// The operator asked to stop after this step.
    Paused {
        /// Step id.
        id: String,
    },
}

/// Why a step acts again although it acted before: what a rerun's log and the wizard say of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Again {
    /// Its inputs changed since it was done.
    InputsChanged,
    /// A step it watches acted in this run (`step`), or may have acted in an earlier run that died
    /// (`step` is `None`): its units restart.
    Restart {
        /// The watched step that acted.
        step: Option<String>,
    },
    /// It was done with these inputs, but a look finds its work undone (a stopped unit, a changed file):
    /// it is repaired.
    Repair {
        /// What the look found.
        found: String,
    },
}

impl std::fmt::Display for Again {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Again::InputsChanged => f.write_str("inputs changed: redo"),
            Again::Restart { step: Some(step) } => write!(f, "restart: {step} acted"),
            Again::Restart { step: None } => {
                f.write_str("restart: what it watches may have changed")
            }
            Again::Repair { found } => write!(f, "repair: {found}"),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Steps that acted.
    pub acted: Vec<String>,
    /// Steps skipped, unchanged since they were done.
    pub unchanged: Vec<String>,
    /// Steps found already done by their own check.
    pub already_done: Vec<String>,
    /// The step that failed, if one did.
    pub failed: Option<String>,
    /// The step after which the run paused, if asked to.
    pub paused: Option<String>,
}

impl Summary {
    /// Whether every step of the node is done.
    pub fn complete(&self) -> bool {
        self.failed.is_none() && self.paused.is_none()
    }
}

/// What stops a run other than a failed step.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The journal could not be read or written: nothing can be trusted.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// `--stop-after` names no step of this node.
    #[error("--stop-after {0}: no such step on this node")]
    UnknownStep(String),
    /// A node agent was asked for a step the plan does not have.
    #[error("no step {0} in the plan")]
    NoSuchStep(String),
    /// A secret placeholder could not be filled while hashing inputs.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// How many passes in a row, a second apart, a wait needs.
const WAIT_PASSES: u32 = 2;
/// Markers of steps whose only evidence is that they ran.
const MARKERS: &str = "/var/lib/stackbox/markers/";
/// How many bytes of a step's output the journal keeps.
const TAIL: usize = 4096;

/// Carries out plans on one node.
pub struct Executor<'a, S: System> {
    /// The machine.
    pub system: &'a S,
    /// The journal.
    pub journal: &'a Journal,
    /// The secrets.
    pub secrets: &'a Secrets,
}

impl<S: System> Executor<'_, S> {
    /// Runs `node`'s steps of `plan`, stopping after the step `stop_after` (a step name or id) if given.
    pub async fn run(
        &self,
        plan: &Plan,
        node: &str,
        stop_after: Option<&str>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Summary, ExecError> {
        if let Some(stop) = stop_after
            && !plan.for_node(node).any(|s| s.name == stop || s.id == stop)
        {
            return Err(ExecError::UnknownStep(stop.to_owned()));
        }
        let hashes = self.input_hashes(plan)?;
        let mut summary = Summary::default();
        for step in plan.for_node(node) {
            self.step(step, &hashes[&step.id], &mut summary, on_event)
                .await?;
            if summary.failed.is_some() || self.pause_here(step, stop_after, &mut summary, on_event)
            {
                return Ok(summary);
            }
        }
        Ok(summary)
    }

    /// Runs the one step `id` of `plan` (the node agent's verb: a coordinator walks the plan across nodes
    /// and hands each node its steps one at a time). `acted` names this node's steps that acted earlier
    /// in the coordinator's run, so that a unit watching one of them is restarted as [`Executor::run`]
    /// would. The summary tells this step's outcome only.
    pub async fn run_step(
        &self,
        plan: &Plan,
        id: &str,
        acted: &[String],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Summary, ExecError> {
        let step = plan
            .step(id)
            .ok_or_else(|| ExecError::NoSuchStep(id.to_owned()))?;
        let hashes = self.input_hashes(plan)?;
        let mut summary = Summary {
            acted: acted.to_vec(),
            ..Summary::default()
        };
        self.step(step, &hashes[&step.id], &mut summary, on_event)
            .await?;
        summary.acted.retain(|a| a == id);
        Ok(summary)
    }

    /// One step: skipped when the journal has it done with the same inputs, or its own check finds it
    /// done; else carried out (redone when its inputs changed). A failure lands in `summary.failed`.
    async fn step(
        &self,
        step: &Step,
        hash: &str,
        summary: &mut Summary,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), ExecError> {
        let record = self.journal.get(&step.id).await?;
        // A unit must restart when a step it watches acted in this run, even if it is already
        // running: a package's postinst starts its service before stackbox writes the configuration.
        let watched_acted = step.watch.iter().find(|w| summary.acted.contains(w));
        let journaled_done = |r: &Option<Record>| {
            r.as_ref()
                .is_some_and(|r| r.state == State::Done && r.input_hash == hash)
        };
        if journaled_done(&record) && watched_acted.is_none() {
            // Done with these inputs: skipped, unless a cheap look finds its state lost or drifted
            // (a deleted file, a stopped unit, a removed package), which is then repaired.
            if let Some(found) = self.drift(step).await {
                let again = Again::Repair { found };
                return self
                    .carry_out(step, hash, Some(again), summary, on_event)
                    .await;
            }
            on_event(Event::Skipped {
                id: step.id.clone(),
                reason: "unchanged".into(),
            });
            summary.unchanged.push(step.id.clone());
            return Ok(());
        }
        // A step that watches others and has not finished with these inputs acts even when its own
        // check says done: a watched step may have acted in an earlier run that died before this one
        // (a config written, the installer killed, the unit still running the package's defaults).
        let again = if let Some(w) = watched_acted {
            Some(Again::Restart {
                step: Some(w.clone()),
            })
        } else if record.as_ref().is_some_and(|r| r.state == State::Done) {
            Some(Again::InputsChanged)
        } else if !step.watch.is_empty() {
            Some(Again::Restart { step: None })
        } else {
            None
        };
        if again.is_none() && self.is_done(step).await.unwrap_or(false) {
            self.journal
                .finish(&step.id, hash, State::Done, "already done\n", None)
                .await?;
            on_event(Event::Skipped {
                id: step.id.clone(),
                reason: "already done".into(),
            });
            summary.already_done.push(step.id.clone());
            return Ok(());
        }
        self.carry_out(step, hash, again, summary, on_event).await
    }

    /// Acts, journals the outcome (output or error, secrets redacted) and reports it.
    async fn carry_out(
        &self,
        step: &Step,
        hash: &str,
        again: Option<Again>,
        summary: &mut Summary,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), ExecError> {
        self.journal.begin(&step.id, hash).await?;
        let redo = again.is_some();
        on_event(Event::Started {
            id: step.id.clone(),
            title: step.title.clone(),
            again,
        });
        let started = Instant::now();
        match self.act_and_verify(step, redo).await {
            Ok(output) => {
                let output = self.secrets.redact(&output);
                for line in output.lines().filter(|l| !l.trim().is_empty()) {
                    on_event(Event::Output {
                        id: step.id.clone(),
                        line: line.to_owned(),
                    });
                }
                self.journal
                    .finish(&step.id, hash, State::Done, tail(&output), None)
                    .await?;
                on_event(Event::Finished {
                    id: step.id.clone(),
                    seconds: started.elapsed().as_secs_f64(),
                });
                summary.acted.push(step.id.clone());
            }
            Err(e) => {
                let error = self.secrets.redact(&stackbox_common::error::chain(&e));
                self.journal
                    .finish(&step.id, hash, State::Failed, "", Some(&error))
                    .await?;
                on_event(Event::Failed {
                    id: step.id.clone(),
                    error,
                    log: step.log.clone(),
                    remedy: step.remedy.clone(),
                });
                summary.failed = Some(step.id.clone());
            }
        }
        Ok(())
    }

    fn pause_here(
        &self,
        step: &Step,
        stop_after: Option<&str>,
        summary: &mut Summary,
        on_event: &mut dyn FnMut(Event),
    ) -> bool {
        if stop_after.is_some_and(|s| s == step.name || s == step.id) {
            on_event(Event::Paused {
                id: step.id.clone(),
            });
            summary.paused = Some(step.id.clone());
            return true;
        }
        false
    }

    /// Each step's input hash: its action with secrets filled in (so a changed secret counts), folded with
    /// the hashes of the steps it watches. A step that is never done before it runs (the smoke test)
    /// watches every step before it: any change to the cloud is proven again, and an unchanged cloud is
    /// not.
    fn input_hashes(&self, plan: &Plan) -> Result<BTreeMap<String, String>, ExecError> {
        let mut hashes: BTreeMap<String, String> = BTreeMap::new();
        for step in &plan.steps {
            let action = serde_json::to_string(&step.action).unwrap_or_default();
            let mut h = Sha256::new();
            h.update(self.secrets.fill(&action)?.as_bytes());
            if step.done == DoneCheck::Never {
                for earlier in hashes.values() {
                    h.update(earlier.as_bytes());
                }
            }
            for w in &step.watch {
                h.update(b"\0");
                h.update(hashes.get(w).map(String::as_str).unwrap_or("").as_bytes());
            }
            hashes.insert(step.id.clone(), hex::encode(h.finalize()));
        }
        Ok(hashes)
    }

    fn fill_env(&self, env: &[(String, String)]) -> Result<Vec<(String, String)>, StepError> {
        env.iter()
            .map(|(k, v)| Ok((k.clone(), self.secrets.fill(v)?)))
            .collect()
    }

    /// SQL statements with their secrets filled in. Command lines are never filled: the plan refuses a
    /// secret there, so an argv is used as planned.
    fn fill_all(&self, items: &[String]) -> Result<Vec<String>, StepError> {
        items
            .iter()
            .map(|s| self.secrets.fill(s).map_err(StepError::from))
            .collect()
    }

    /// What undid a step journaled done, or `None` while it still looks done. Asked only where asking is
    /// cheap and local (dpkg's status, file contents and owners, unit states, paths): a machine that
    /// cannot answer (plan mode), a check that costs a service call (SQL, commands) or a step that is
    /// never done counts as still done.
    async fn drift(&self, step: &Step) -> Option<String> {
        let cheap = matches!(
            step.done,
            DoneCheck::PackagesInstalled
                | DoneCheck::FilesMatch
                | DoneCheck::UnitsActive
                | DoneCheck::UnitActive { .. }
                | DoneCheck::Path { .. }
                | DoneCheck::Current { .. }
        );
        if !cheap || !self.system.verifies() || self.is_done(step).await.unwrap_or(true) {
            return None;
        }
        // Undone: name what is, for the log (one more look, only now).
        let sys = self.system;
        let found = match (&step.done, &step.action) {
            (DoneCheck::UnitsActive, Action::Units { units }) => {
                let mut stopped = Vec::new();
                for u in units {
                    if !sys
                        .units_active(std::slice::from_ref(u))
                        .await
                        .unwrap_or(true)
                    {
                        stopped.push(u.as_str());
                    }
                }
                format!("not running: {}", stopped.join(", "))
            }
            (DoneCheck::UnitActive { unit }, _) => format!("not running: {unit}"),
            (DoneCheck::FilesMatch, Action::Files { files }) => {
                let mut changed = Vec::new();
                for f in files {
                    let want = self.secrets.fill(&f.content).unwrap_or_default();
                    if !sys.file_matches(f, &want).await.unwrap_or(true) {
                        changed.push(f.path.as_str());
                    }
                }
                format!("changed or missing: {}", changed.join(", "))
            }
            (DoneCheck::PackagesInstalled, _) => "a package is missing".to_owned(),
            (DoneCheck::Path { path }, _) => format!("{path} is missing"),
            (DoneCheck::Current { .. }, _) => match self.command_check(step).await {
                Ok(Some(why)) => why,
                _ => "its check fails".to_owned(),
            },
            _ => "its check fails".to_owned(),
        };
        Some(found)
    }

    /// The step's own check, with secrets filled in.
    async fn is_done(&self, step: &Step) -> Result<bool, StepError> {
        let sys = self.system;
        if !sys.verifies() {
            // Plan mode: a check would be answered by a command that only says what it would do.
            return Ok(false);
        }
        match (&step.done, &step.action) {
            (DoneCheck::PackagesInstalled, Action::Packages { packages }) => {
                sys.packages_installed(packages).await
            }
            (DoneCheck::FilesMatch, Action::Files { files }) => {
                for f in files {
                    if !sys.file_matches(f, &self.secrets.fill(&f.content)?).await? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            (DoneCheck::UnitsActive, Action::Units { units }) => sys.units_active(units).await,
            (DoneCheck::UnitActive { unit }, _) => {
                sys.units_active(std::slice::from_ref(unit)).await
            }
            (DoneCheck::SqlRows { query }, Action::Sql { local_root, .. }) => {
                sys.sql_rows(*local_root, query).await
            }
            (DoneCheck::SqlRows { query }, _) => sys.sql_rows(false, query).await,
            (DoneCheck::Command { .. } | DoneCheck::Current { .. }, _) => {
                Ok(self.command_check(step).await?.is_none())
            }
            (DoneCheck::Path { path }, _) => Ok(sys.path_exists(path).await),
            (DoneCheck::Never, _) => Ok(false),
            (check, action) => Err(StepError::NotDone(format!(
                "check {check:?} does not fit action {action:?}"
            ))),
        }
    }

    /// A `DoneCheck::Command` or `Current` step's check, run with the action's environment: `None`
    /// when it holds, else why not (the command's own words, or the text its output lacks).
    async fn command_check(&self, step: &Step) -> Result<Option<String>, StepError> {
        let (argv, contains) = match &step.done {
            DoneCheck::Command { argv, contains } => (argv, contains.as_ref()),
            DoneCheck::Current { argv } => (argv, None),
            _ => return Ok(Some(format!("{:?} is no command check", step.done))),
        };
        let env = match &step.action {
            Action::Commands { env, .. } => self.fill_env(env)?,
            _ => Vec::new(),
        };
        match self.system.run(argv, &env).await {
            Ok(out) => Ok(contains
                .filter(|c| !out.contains(c.as_str()))
                .map(|c| format!("its output lacks {c:?}"))),
            Err(StepError::Command(why)) => Ok(Some(why.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Acts, then asks the step's check again (except for steps whose evidence is the marker written
    /// here, and those never done before they run).
    async fn act_and_verify(&self, step: &Step, redo: bool) -> Result<String, StepError> {
        let output = self.act(step, redo).await?;
        match &step.done {
            DoneCheck::Path { path } if path.starts_with(MARKERS) => {
                self.system.touch(path).await?
            }
            DoneCheck::Never => {}
            // A wait is its own check, asked until it held (asking once more could meet a flap).
            _ if matches!(step.action, Action::Wait { .. }) => {}
            _ if !self.system.verifies() => {}
            DoneCheck::UnitsActive | DoneCheck::UnitActive { .. } => {
                if !self.units_settled(step).await? {
                    return Err(StepError::NotDone(format!("{:?}", step.done)));
                }
            }
            DoneCheck::Command { .. } | DoneCheck::Current { .. } => {
                if let Some(why) = self.command_check(step).await? {
                    return Err(StepError::NotDone(format!("{:?}: {why}", step.done)));
                }
            }
            _ => {
                if !self.is_done(step).await? {
                    return Err(StepError::NotDone(format!("{:?}", step.done)));
                }
            }
        }
        Ok(output)
    }

    /// Whether a step's units are active after it started them, asked up to [`UNIT_SETTLE_TRIES`] times
    /// a pause apart: a service whose first start meets the port its killed predecessor still holds
    /// comes back by its own `Restart=` within seconds, and is not a failed step. The first active look
    /// ends the wait.
    async fn units_settled(&self, step: &Step) -> Result<bool, StepError> {
        for _ in 0..UNIT_SETTLE_TRIES {
            if self.is_done(step).await? {
                return Ok(true);
            }
            tokio::time::sleep(self.system.pause()).await;
        }
        Ok(false)
    }

    async fn act(&self, step: &Step, redo: bool) -> Result<String, StepError> {
        let sys = self.system;
        match &step.action {
            Action::Packages { packages } => sys.install_packages(packages).await,
            Action::Files { files } => {
                let mut out = String::new();
                for f in files {
                    sys.write_file(f, &self.secrets.fill(&f.content)?).await?;
                    out.push_str(&format!("wrote {}\n", f.path));
                }
                Ok(out)
            }
            Action::Units { units } => {
                sys.start_units(units, redo).await?;
                Ok(format!(
                    "{} {}\n",
                    if redo { "restarted" } else { "started" },
                    units.join(" ")
                ))
            }
            Action::Sql {
                statements,
                local_root,
            } => {
                sys.sql(*local_root, &self.fill_all(statements)?).await?;
                Ok(format!("ran {} statements\n", statements.len()))
            }
            Action::Commands { commands, env } => {
                let env = self.fill_env(env)?;
                let mut out = String::new();
                for argv in commands {
                    // Each command's output on lines of its own, even when it ends without a newline.
                    if !out.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(&sys.run(argv, &env).await?);
                }
                Ok(out)
            }
            Action::Wait { argv, timeout_secs } => {
                // Ready means ready twice in a row, a second apart: one answer can slip through while
                // a service restarts (haproxy retries the connection, then its health check marks the
                // server down), and what comes next must not meet the gap.
                let deadline = Instant::now() + std::time::Duration::from_secs(*timeout_secs);
                let mut passes = 0;
                loop {
                    match sys.run(argv, &[]).await {
                        Ok(out) if passes + 1 >= WAIT_PASSES => return Ok(out),
                        Ok(_) => passes += 1,
                        Err(e) if Instant::now() >= deadline => {
                            return Err(StepError::NotReady {
                                seconds: *timeout_secs,
                                source: Box::new(e),
                            });
                        }
                        Err(_) => passes = 0,
                    }
                    tokio::time::sleep(sys.pause()).await;
                }
            }
        }
    }
}

/// The last `TAIL` bytes of the output, cut at a character boundary.
fn tail(s: &str) -> &str {
    if s.len() <= TAIL {
        return s;
    }
    let mut start = s.len() - TAIL;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
