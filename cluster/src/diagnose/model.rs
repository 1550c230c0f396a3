//! What a diagnosis is made of: the evidence, what a probe observed, a classified finding, and how each
//! symptom's check went on a node (the agent's answer, as JSON).

use serde::{Deserialize, Serialize};

/// One line of evidence: where it was read and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `probe` (what the probe measured), a log file's path, `journal of UNIT.service`, ...
    pub source: String,
    /// The line number in a file.
    pub line: Option<usize>,
    /// The line.
    pub text: String,
}

/// One thing a probe found wrong, before it is classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// What is wrong: a unit, a mount point, `port 15000`, a queue.
    pub subject: String,
    /// The unit concerned (what a restart action restarts, what `{unit}` in the logs names).
    pub unit: Option<String>,
    /// The probe's own lines first.
    pub evidence: Vec<Evidence>,
}

/// Why a symptom was not checked on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// It does not apply (the service is not installed here, a container keeps no clock).
    NotHere(String),
    /// The probe could not measure (a command failed).
    Failed(String),
}

/// A symptom found on a node, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The symptom's id (`agent.down`).
    pub symptom: String,
    /// Its title.
    pub title: String,
    /// What is wrong.
    pub subject: String,
    /// The cause's id within the symptom (`stopped`).
    pub cause: String,
    /// What happened.
    pub explanation: String,
    /// What to do.
    pub remedy: String,
    /// The unit the desk's restart would restart, when the cause offers it.
    pub restart: Option<String>,
    /// What was seen.
    pub evidence: Vec<Evidence>,
}

/// How one symptom's check went on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "detail")]
pub enum Outcome {
    /// Checked, nothing wrong.
    Healthy,
    /// Checked: this many findings.
    Found(usize),
    /// Not checked: it does not apply here (why).
    NotHere(String),
    /// Not checked: the probe failed (why).
    Failed(String),
}

/// One symptom's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// The symptom's id.
    pub symptom: String,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a node's agent found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDiagnosis {
    /// Every symptom of the catalog, in its order.
    pub checked: Vec<Checked>,
    /// What is wrong.
    pub findings: Vec<Finding>,
}
