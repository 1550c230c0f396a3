//! The generic plan: a graph of idempotent steps per node, in a stable order, built as a pure function of
//! the cluster configuration and each node's hardware facts.
//!
//! The house:
//! - [`step`]: the vocabulary (actions, done checks, steps), re-exported here;
//! - [`builder`]: [`NodeSteps`], the step builder every flavor and the infrastructure use, and its helpers;
//! - [`infrastructure`]: what every flavor shares (hosts, time, apt, MariaDB/Galera, RabbitMQ, memcached,
//!   haproxy with its certificate);
//! - this module: [`Plan`], its ordering and text rendering, and the [`Planner`] a flavor implements.
//!
//! Flavors (`crate::flavor::*`) import this module; it imports none of them.

pub mod builder;
pub mod infrastructure;
pub mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

pub use builder::NodeSteps;
pub use step::{Action, DoneCheck, FileSpec, NodeFacts, SMOKE_COMMAND, Step};

use crate::config::ClusterConfig;
use crate::secrets::MARK as SECRET_MARK;

/// What a flavor gives the generic plan: every step of the cluster, in the builder's order (the plan
/// then orders them by their dependencies).
pub trait Planner {
    /// The steps for a configuration that validated; `catalog` says which ports each role opens.
    fn steps(
        &self,
        config: &ClusterConfig,
        catalog: &stackbox_hardware_profiles::Catalog,
        facts: &BTreeMap<String, NodeFacts>,
    ) -> Vec<Step>;
}

/// The whole plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The cluster.
    pub cluster: String,
    /// Steps, ordered so that every step comes after its dependencies; ties keep the builder's order.
    pub steps: Vec<Step>,
}

/// A plan that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The configuration did not validate.
    #[error("the configuration is invalid:\n{0}")]
    Invalid(String),
    /// A dependency names no step, the steps depend on each other in a circle, or a step's check cannot
    /// be evaluated for its action: a bug in the builder.
    #[error("plan graph: {0}")]
    Graph(String),
}

impl Plan {
    /// Builds the plan for a valid configuration with the flavor's `planner`; `facts` per node name
    /// (missing nodes: no KVM, not a container). The flavor is the caller's choice
    /// (`crate::flavor::build_plan` picks it from the configuration): the plan never names one.
    pub fn build(
        config: &ClusterConfig,
        catalog: &stackbox_hardware_profiles::Catalog,
        facts: &BTreeMap<String, NodeFacts>,
        planner: &dyn Planner,
    ) -> Result<Plan, PlanError> {
        let v = config.validate(catalog);
        if !v.is_ok() {
            return Err(PlanError::Invalid(
                v.errors
                    .iter()
                    .map(|e| format!("  {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
        let steps = planner.steps(config, catalog, facts);
        if let Some(s) = steps.iter().find(|s| !s.done.fits(&s.action)) {
            return Err(PlanError::Graph(format!(
                "{}: the check {:?} cannot be evaluated for its action {:?}",
                s.id, s.done, s.action
            )));
        }
        // A command line is world-readable (/proc/PID/cmdline): secrets go in the environment or a file.
        let on_command_line = |s: &&Step| {
            s.action
                .argv_words()
                .chain(s.done.argv_words())
                .any(|w| w.contains(SECRET_MARK))
        };
        if let Some(s) = steps.iter().find(on_command_line) {
            return Err(PlanError::Graph(format!(
                "{}: a secret on a command line (pass it in the environment)",
                s.id
            )));
        }
        Ok(Plan {
            cluster: config.name.clone(),
            steps: order(steps)?,
        })
    }

    /// The steps of one node, in order.
    pub fn for_node<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        self.steps.iter().filter(move |s| s.node == node)
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The units `node`'s steps start, last started first: the order a node leaving the cluster stops
    /// them in (its API address and balancer before the services behind them, the database last).
    /// MariaDB's Galera bootstrap starts `mariadb.service` by a command, and counts as starting it.
    pub fn units_to_stop(&self, node: &str) -> Vec<String> {
        let mut units: Vec<String> = Vec::new();
        for step in self.steps.iter().filter(|s| s.node == node) {
            let started: Vec<String> = match &step.action {
                Action::Units { units } => units.clone(),
                Action::Commands { .. } if step.name == "mariadb.start" => {
                    vec!["mariadb.service".to_owned()]
                }
                _ => Vec::new(),
            };
            for unit in started {
                if !units.contains(&unit) {
                    units.push(unit);
                }
            }
        }
        units.reverse();
        units
    }

    /// Text for people: per node, each step with its dependencies and the files it writes.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let nodes: Vec<&str> = {
            let mut seen = Vec::new();
            for s in &self.steps {
                if !seen.contains(&s.node.as_str()) {
                    seen.push(s.node.as_str());
                }
            }
            seen
        };
        let _ = writeln!(
            out,
            "plan for cluster {}: {} steps on {} node(s)",
            self.cluster,
            self.steps.len(),
            nodes.len()
        );
        let index: BTreeMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i + 1))
            .collect();
        for node in nodes {
            let _ = writeln!(out, "\nnode {node}");
            for s in self.for_node(node) {
                let _ = writeln!(
                    out,
                    "  {:>3}. {:<28} {}",
                    index[s.id.as_str()],
                    s.name,
                    s.title
                );
                if !s.after.is_empty() {
                    let deps: Vec<String> = s
                        .after
                        .iter()
                        .map(|d| format!("{}", index[d.as_str()]))
                        .collect();
                    let _ = writeln!(out, "       after {}", deps.join(", "));
                }
                if let Action::Files { files } = &s.action {
                    for f in files {
                        let _ = writeln!(out, "       writes {} ({:o})", f.path, f.mode);
                    }
                }
            }
        }
        out
    }
}

/// Orders steps so each follows its dependencies, keeping the builder's order among ready steps (Kahn's
/// algorithm, taking the earliest ready step each time): the same config always gives the same order.
fn order(steps: Vec<Step>) -> Result<Vec<Step>, PlanError> {
    let ids: BTreeSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    if ids.len() != steps.len() {
        return Err(PlanError::Graph("two steps share an id".into()));
    }
    for s in &steps {
        for d in s.after.iter().chain(&s.watch) {
            if !ids.contains(d.as_str()) {
                return Err(PlanError::Graph(format!(
                    "{} depends on unknown step {d}",
                    s.id
                )));
            }
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut left: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(left.len());
    while ordered.len() < left.len() {
        let next = left.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.after.iter().all(|d| done.contains(d)))
        });
        let Some(i) = next else {
            let stuck: Vec<&str> = left.iter().flatten().map(|s| s.id.as_str()).collect();
            return Err(PlanError::Graph(format!(
                "circular dependencies among {}",
                stuck.join(", ")
            )));
        };
        let step = left[i]
            .take()
            .ok_or_else(|| PlanError::Graph("step taken twice".into()))?;
        done.insert(step.id.clone());
        ordered.push(step);
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flavor with a bug: one step `n1/NAME` with this action and check.
    struct OneStep(&'static str, Action, DoneCheck);

    impl Planner for OneStep {
        fn steps(
            &self,
            _config: &ClusterConfig,
            _catalog: &stackbox_hardware_profiles::Catalog,
            _facts: &BTreeMap<String, NodeFacts>,
        ) -> Vec<Step> {
            let mut steps = Vec::new();
            NodeSteps::new("n1", &mut steps).add(
                self.0,
                "the bug",
                &[],
                self.1.clone(),
                self.2.clone(),
            );
            steps
        }
    }

    /// Why `Plan::build` refuses the one step of `planner`.
    fn refusal(planner: &OneStep) -> Result<String, Box<dyn std::error::Error>> {
        let config = ClusterConfig::from_toml(
            "allinone.toml",
            include_str!("../../../examples/allinone.toml"),
        )?;
        let catalog = stackbox_hardware_profiles::Catalog::embedded()?;
        Ok(Plan::build(&config, &catalog, &BTreeMap::new(), planner)
            .err()
            .ok_or("the step was planned")?
            .to_string())
    }

    #[test]
    fn a_secret_on_a_command_line_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let rabbitmqctl = ["rabbitmqctl", "add_user", "openstack"].map(String::from);
        let argv = [&rabbitmqctl[..], &[crate::secrets::placeholder("rabbitmq")]].concat();
        let leaky = OneStep(
            "bus.user",
            Action::Commands {
                commands: vec![argv],
                env: Vec::new(),
            },
            DoneCheck::Never,
        );
        let err = refusal(&leaky)?;
        assert!(
            err.contains("n1/bus.user: a secret on a command line"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn a_check_that_does_not_fit_its_action_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        // A command evidenced by the state of units it does not name.
        let mismatched = OneStep(
            "db.start",
            Action::Commands {
                commands: vec![vec!["galera_new_cluster".into()]],
                env: Vec::new(),
            },
            DoneCheck::UnitsActive,
        );
        let err = refusal(&mismatched)?;
        assert!(
            err.contains("n1/db.start: the check UnitsActive cannot be evaluated"),
            "{err}"
        );
        Ok(())
    }
}
