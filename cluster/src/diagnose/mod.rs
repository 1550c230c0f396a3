//! The troubleshooting matrix, live: each node's agent runs the catalog's probes on its node ([`run`],
//! behind `GET /agent/v1/diagnose`), adds the matching lines of the symptom's logs to each thing found
//! wrong and classifies it by the catalog's causes; `stackboxd diagnose` asks every member's agent and
//! prints each finding with its evidence (file and line), cause, remedy and the desk's action
//! ([`across`]). Logs and journals count only within a [`Window`] (30 minutes unless asked for more), so
//! that last week's failures are no finding today.

pub mod across;
pub mod catalog;
pub mod model;
pub mod pip;
pub mod probe;
pub mod system;
pub mod vms;
pub mod window;

pub use model::{Checked, Evidence, Finding, NodeDiagnosis, Observation, Outcome, Skip};

use catalog::{Action, Catalog, Probe, Symptom};
use system::System;
pub use window::{Cutoff, SinceQuery, Window, WindowError};

/// The agent's route: `GET` answers this node's [`NodeDiagnosis`].
pub const DIAGNOSE_PATH: &str = "/agent/v1/diagnose";
/// How many lines of each log go into a finding's evidence (the last that match).
const LOG_EVIDENCE: usize = 8;

/// Runs every symptom of `catalog` on the node `sys` reads; logs and journals count from `window` back.
pub fn run(catalog: &Catalog, sys: &dyn System, window: Window) -> NodeDiagnosis {
    let mut d = NodeDiagnosis::default();
    let cut = Cutoff::new(sys.now(), window);
    for symptom in &catalog.symptoms {
        let observed = match &symptom.probe {
            Probe::Units(units) => probe::units(sys, units, &cut),
            Probe::Galera => probe::galera(sys, &cut),
            Probe::Rabbitmq { backlog } => probe::rabbitmq(sys, *backlog, &cut),
            Probe::Ports(owners) => probe::ports(sys, owners),
            Probe::Disk { percent } => probe::disk(sys, *percent),
            Probe::Memory { percent } => probe::memory(sys, *percent),
            Probe::Clock { offset_ms } => probe::clock(sys, *offset_ms, &cut),
            Probe::Vms => vms::vms(sys, &cut),
            Probe::PipCheck => pip::pip_check(sys),
            Probe::Log { pattern, at_least } => {
                probe::log(sys, &symptom.logs, pattern, *at_least, &cut)
            }
        };
        let outcome = match observed {
            Ok(found) if found.is_empty() => Outcome::Healthy,
            Ok(found) => {
                let n = found.len();
                for o in found {
                    d.findings
                        .push(classify(symptom, with_logs(symptom, sys, o, &cut)));
                }
                Outcome::Found(n)
            }
            Err(Skip::NotHere(why)) => Outcome::NotHere(why),
            Err(Skip::Failed(why)) => Outcome::Failed(why),
        };
        tracing::info!(symptom = %symptom.id, ?outcome, "diagnose");
        d.checked.push(Checked {
            symptom: symptom.id.clone(),
            outcome,
        });
    }
    d
}

/// The observation with the lines of the symptom's logs (for its unit) within the window that match a
/// cause, or say ERROR or CRITICAL: the last [`LOG_EVIDENCE`] of each file.
fn with_logs(symptom: &Symptom, sys: &dyn System, mut o: Observation, cut: &Cutoff) -> Observation {
    if matches!(symptom.probe, Probe::Log { .. }) {
        return o; // its evidence is the logs already
    }
    let Some(unit) = o.unit.clone() else {
        return o;
    };
    for template in &symptom.logs {
        let path = template.replace("{unit}", &unit);
        let notable = |line: &str| {
            line.contains(" ERROR ")
                || line.contains(" CRITICAL ")
                || symptom
                    .causes
                    .iter()
                    .filter_map(|c| c.pattern.as_ref())
                    .any(|p| p.is_match(line))
        };
        o.evidence
            .extend(probe::log_lines(sys, &path, &notable, LOG_EVIDENCE, cut));
    }
    o
}

/// The first cause whose pattern matches a line of evidence (the catch-all when none does).
pub fn classify(symptom: &Symptom, o: Observation) -> Finding {
    let cause = symptom
        .causes
        .iter()
        .find(|c| match &c.pattern {
            Some(p) => o.evidence.iter().any(|e| p.is_match(&e.text)),
            None => true,
        })
        .or(symptom.causes.last());
    let (id, explanation, remedy, action) = match cause {
        Some(c) => (c.id.clone(), c.cause.clone(), c.remedy.clone(), c.action),
        None => (String::new(), String::new(), String::new(), None),
    };
    Finding {
        symptom: symptom.id.clone(),
        title: symptom.title.clone(),
        subject: o.subject,
        cause: id,
        explanation,
        remedy,
        restart: match action {
            Some(Action::Restart) => o.unit,
            None => None,
        },
        evidence: o.evidence,
    }
}

/// This node's diagnosis with the shipped catalog, `root` its root (`/`), its logs read `window` back.
pub fn local(
    root: &std::path::Path,
    window: Window,
) -> Result<NodeDiagnosis, catalog::CatalogError> {
    let catalog = Catalog::shipped()?;
    Ok(run(
        &catalog,
        &system::Host {
            root: root.to_owned(),
        },
        window,
    ))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pip_window;
