//! A machine that is never touched: the plan mode of the wizard (`stackboxd serve --plan-only`) walks a
//! real plan through the real executor and journal, and every action only says what it would do.
//!
//! Nothing here installs, writes, starts or boots anything, and its smoke "report" says so: a plan-mode
//! run proves the wizard's flow and the plan, never the cloud.

use std::sync::Mutex;

use crate::error::StepError;
use crate::executor::System;
use crate::plan::{FileSpec, SMOKE_COMMAND};

/// The report the plan-mode smoke step returns: it names itself, so no page can mistake it for a VM.
pub const SMOKE_REPORT: &str = "plan mode: no VM was booted; nothing was installed on this machine";

/// A [`System`] that acts on nothing. Every "is it done?" question answers no, so each step reports
/// what it would do.
#[derive(Debug, Default)]
pub struct PlanOnlySystem {
    /// A package whose installation fails the first time it is asked for: how the tests make a step fail
    /// to show the wizard's error, remedy and retry. Taken (set to `None`) when it fires.
    fail_package_once: Mutex<Option<String>>,
    /// How long each action pretends to take, so that progress can be watched.
    pace: std::time::Duration,
}

impl PlanOnlySystem {
    /// A plan-only machine on which nothing fails.
    pub fn new() -> PlanOnlySystem {
        PlanOnlySystem::default()
    }

    /// A plan-only machine on which installing `package` fails once.
    pub fn failing_once(package: impl Into<String>) -> PlanOnlySystem {
        PlanOnlySystem {
            fail_package_once: Mutex::new(Some(package.into())),
            ..PlanOnlySystem::default()
        }
    }

    /// The same machine, each action taking `pace`.
    pub fn paced(self, pace: std::time::Duration) -> PlanOnlySystem {
        PlanOnlySystem { pace, ..self }
    }

    async fn act(&self) {
        if !self.pace.is_zero() {
            tokio::time::sleep(self.pace).await;
        }
    }
}

fn would(what: String) -> String {
    format!("plan mode: would {what}")
}

impl System for PlanOnlySystem {
    async fn packages_installed(&self, _packages: &[String]) -> Result<bool, StepError> {
        Ok(false)
    }

    async fn install_packages(&self, packages: &[String]) -> Result<String, StepError> {
        self.act().await;
        let mut fail = self
            .fail_package_once
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(name) = fail.as_ref()
            && packages.contains(name)
        {
            let name = fail.take().unwrap_or_default();
            return Err(StepError::NotDone(format!(
                "plan mode: installing {name} failed as the test asked (it succeeds on retry)"
            )));
        }
        Ok(would(format!("install {}", packages.join(" "))))
    }

    async fn file_matches(&self, _file: &FileSpec, _content: &str) -> Result<bool, StepError> {
        Ok(false)
    }

    async fn write_file(&self, _file: &FileSpec, _content: &str) -> Result<(), StepError> {
        self.act().await;
        Ok(())
    }

    async fn units_active(&self, _units: &[String]) -> Result<bool, StepError> {
        Ok(false)
    }

    async fn start_units(&self, _units: &[String], _restart: bool) -> Result<(), StepError> {
        self.act().await;
        Ok(())
    }

    async fn sql(&self, _local_root: bool, _statements: &[String]) -> Result<(), StepError> {
        self.act().await;
        Ok(())
    }

    async fn sql_rows(&self, _local_root: bool, _query: &str) -> Result<bool, StepError> {
        Ok(false)
    }

    async fn run(&self, argv: &[String], _env: &[(String, String)]) -> Result<String, StepError> {
        self.act().await;
        if argv.iter().map(String::as_str).eq(SMOKE_COMMAND) {
            return Ok(SMOKE_REPORT.to_owned());
        }
        // argv has its secrets filled in: show the program only.
        Ok(would(format!(
            "run {}",
            argv.first().map(String::as_str).unwrap_or("")
        )))
    }

    async fn path_exists(&self, _path: &str) -> bool {
        false
    }

    async fn touch(&self, _path: &str) -> Result<(), StepError> {
        self.act().await;
        Ok(())
    }

    fn verifies(&self) -> bool {
        false
    }

    fn pause(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}
