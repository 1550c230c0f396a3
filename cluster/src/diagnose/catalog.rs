//! The troubleshooting matrix as data: `cluster/diagnoses.toml` (embedded), read with serde (unknown
//! keys refused) and validated into the model, errors naming the file, the key and the reason, as the
//! hardware profiles are. Each symptom names what the node agent measures (its probe), the log files
//! whose lines are evidence, and its causes: patterns over the evidence, tried in order, the last one
//! without a pattern (what is left when nothing more specific matched), each with its remedy and the
//! desk's action where there is one.

use std::collections::BTreeSet;

use regex::Regex;
use serde::Deserialize;
use stackbox_common::toml_file::{self, TomlError};

/// The shipped catalog.
pub const SHIPPED: &str = include_str!("../../diagnoses.toml");
/// Its name in errors.
pub const SHIPPED_NAME: &str = "cluster/diagnoses.toml";

/// What is wrong with a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Not TOML, an unknown key, a value of the wrong type.
    #[error(transparent)]
    Parse(#[from] TomlError),
    /// A value that is well-formed but not acceptable.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The dotted key path.
        key: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The validated catalog: symptoms in the file's order.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Every symptom.
    pub symptoms: Vec<Symptom>,
}

/// One row of the troubleshooting matrix.
#[derive(Debug, Clone)]
pub struct Symptom {
    /// Dotted and stable (`agent.down`, `galera.unhealthy`).
    pub id: String,
    /// What the operator sees.
    pub title: String,
    /// What is measured.
    pub probe: Probe,
    /// Log files whose lines matching a cause are evidence; `{unit}` stands for the finding's unit.
    pub logs: Vec<String>,
    /// The causes, the most specific first; the last has no pattern.
    pub causes: Vec<Cause>,
}

/// What a node's agent measures for a symptom.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Each of these units that is installed must be active.
    Units(Vec<String>),
    /// MariaDB must run, synced, in the primary component, with every member of its cluster address.
    Galera,
    /// RabbitMQ must run with every cluster node, unpartitioned, and no queue may hold `backlog`
    /// messages or more without a consumer.
    Rabbitmq {
        /// The backlog that is a finding.
        backlog: u64,
    },
    /// Each port must be held by its unit's processes (when the unit is installed and active).
    Ports(Vec<PortOwner>),
    /// No file system may be `percent` full or more.
    Disk {
        /// Use, in percent.
        percent: u8,
    },
    /// Available memory must stay above `percent` of the total.
    Memory {
        /// Available, in percent.
        percent: u8,
    },
    /// The clock must be synchronised, off by less than `offset_ms`.
    Clock {
        /// The largest offset, in milliseconds.
        offset_ms: u64,
    },
    /// The servers in ERROR in nova's databases, with nova's fault and their QEMU and nova-compute
    /// log lines.
    Vms,
    /// `pip check` over the installed Python packages, on a node with OpenStack's: each package with a
    /// requirement missing or of a version it does not accept, with the Debian packages that installed
    /// them.
    PipCheck,
    /// Lines matching `pattern` in the end of the symptom's logs, written within the window: `at_least`
    /// of them is a finding.
    Log {
        /// What a bad line looks like.
        pattern: Regex,
        /// How many make a finding.
        at_least: usize,
    },
}

/// A port and the unit that should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortOwner {
    /// The TCP port.
    pub port: u16,
    /// The unit (without `.service`).
    pub unit: String,
}

/// One cause of a symptom.
#[derive(Debug, Clone)]
pub struct Cause {
    /// Stable within its symptom (`stopped`, `bus-unreachable`).
    pub id: String,
    /// Matched against each line of evidence; `None` for the last, catch-all cause.
    pub pattern: Option<Regex>,
    /// What happened, for the operator.
    pub cause: String,
    /// What to do.
    pub remedy: String,
    /// The desk's action that repairs it, when one does.
    pub action: Option<Action>,
}

/// An admin desk action a finding offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Restart the finding's unit on its node (`stackboxd cluster restart UNIT --node NODE`).
    Restart,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    symptom: Vec<RawSymptom>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSymptom {
    id: String,
    title: String,
    probe: RawProbe,
    #[serde(default)]
    logs: Vec<String>,
    causes: Vec<RawCause>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum RawProbe {
    Units { units: Vec<String> },
    Galera {},
    Rabbitmq { backlog: i64 },
    Ports { ports: Vec<PortOwner> },
    Disk { percent: i64 },
    Memory { percent: i64 },
    Clock { offset_ms: i64 },
    Log { pattern: String, at_least: i64 },
    Vms {},
    PipCheck {},
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCause {
    id: String,
    pattern: Option<String>,
    cause: String,
    remedy: String,
    action: Option<Action>,
}

impl Catalog {
    /// The shipped catalog. It is checked by the tests; a build whose catalog does not load is a defect.
    pub fn shipped() -> Result<Catalog, CatalogError> {
        Catalog::parse(SHIPPED_NAME, SHIPPED)
    }

    /// Reads and validates `text` (the contents of `file`).
    pub fn parse(file: &str, text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = toml_file::parse(file, text)?;
        let invalid = |key: String, reason: String| CatalogError::Invalid {
            file: file.to_owned(),
            key,
            reason,
        };
        let mut seen = BTreeSet::new();
        let mut symptoms = Vec::new();
        for (i, s) in raw.symptom.into_iter().enumerate() {
            let at = format!("symptom[{i}]");
            if !is_dotted_id(&s.id) {
                return Err(invalid(
                    format!("{at}.id"),
                    format!("`{}` is not a dotted id like `agent.down`", s.id),
                ));
            }
            if !seen.insert(s.id.clone()) {
                return Err(invalid(format!("{at}.id"), format!("`{}` twice", s.id)));
            }
            if s.title.trim().is_empty() {
                return Err(invalid(format!("{at}.title"), "empty".to_owned()));
            }
            let probe = probe(s.probe).map_err(|(k, r)| invalid(format!("{at}.probe.{k}"), r))?;
            for (j, log) in s.logs.iter().enumerate() {
                if !log.starts_with('/') || log.contains("..") {
                    return Err(invalid(
                        format!("{at}.logs[{j}]"),
                        format!("`{log}` is not an absolute path"),
                    ));
                }
                if log.contains("{unit}") && !names_units(&probe) {
                    return Err(invalid(
                        format!("{at}.logs[{j}]"),
                        "`{unit}` in a symptom whose probe names no unit".to_owned(),
                    ));
                }
            }
            let causes =
                causes(s.causes, &probe).map_err(|(k, r)| invalid(format!("{at}.{k}"), r))?;
            symptoms.push(Symptom {
                id: s.id,
                title: s.title,
                probe,
                logs: s.logs,
                causes,
            });
        }
        if symptoms.is_empty() {
            return Err(invalid("symptom".to_owned(), "no symptom".to_owned()));
        }
        Ok(Catalog { symptoms })
    }
}

/// `agent.down`, `disk.full`: lower-case words joined by dots, at least two.
fn is_dotted_id(id: &str) -> bool {
    let words: Vec<&str> = id.split('.').collect();
    words.len() >= 2 && words.iter().all(|w| is_word(w))
}

/// `bus-unreachable`: lower-case letters, digits and inner dashes.
fn is_word(w: &str) -> bool {
    !w.is_empty()
        && !w.starts_with('-')
        && !w.ends_with('-')
        && w.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether a probe's findings name a unit (so that `{unit}` and the restart action mean something).
fn names_units(probe: &Probe) -> bool {
    matches!(
        probe,
        Probe::Units(_) | Probe::Galera | Probe::Rabbitmq { .. } | Probe::Ports(_)
    )
}

fn percent(key: &str, value: i64) -> Result<u8, (String, String)> {
    u8::try_from(value)
        .ok()
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| {
            (
                key.to_owned(),
                format!("{value} is not a percentage from 1 to 100"),
            )
        })
}

fn positive(key: &str, value: i64) -> Result<u64, (String, String)> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| (key.to_owned(), format!("{value} must be above 0")))
}

fn unit(key: String, unit: &str) -> Result<(), (String, String)> {
    crate::desk::check_service(unit).map_err(|e| (key, e.to_string()))
}

fn probe(raw: RawProbe) -> Result<Probe, (String, String)> {
    Ok(match raw {
        RawProbe::Units { units } => {
            if units.is_empty() {
                return Err(("units".to_owned(), "no unit".to_owned()));
            }
            for (i, u) in units.iter().enumerate() {
                unit(format!("units[{i}]"), u)?;
            }
            Probe::Units(units)
        }
        RawProbe::Galera {} => Probe::Galera,
        RawProbe::Rabbitmq { backlog } => Probe::Rabbitmq {
            backlog: positive("backlog", backlog)?,
        },
        RawProbe::Ports { ports } => {
            if ports.is_empty() {
                return Err(("ports".to_owned(), "no port".to_owned()));
            }
            for (i, p) in ports.iter().enumerate() {
                if p.port == 0 {
                    return Err((format!("ports[{i}].port"), "0 is not a port".to_owned()));
                }
                unit(format!("ports[{i}].unit"), &p.unit)?;
            }
            Probe::Ports(ports)
        }
        RawProbe::Disk { percent: p } => Probe::Disk {
            percent: percent("percent", p)?,
        },
        RawProbe::Memory { percent: p } => Probe::Memory {
            percent: percent("percent", p)?,
        },
        RawProbe::Clock { offset_ms } => Probe::Clock {
            offset_ms: positive("offset_ms", offset_ms)?,
        },
        RawProbe::Vms {} => Probe::Vms,
        RawProbe::PipCheck {} => Probe::PipCheck,
        RawProbe::Log { pattern, at_least } => Probe::Log {
            pattern: regex("pattern", &pattern)?,
            at_least: usize::try_from(positive("at_least", at_least)?).unwrap_or(usize::MAX),
        },
    })
}

fn regex(key: &str, pattern: &str) -> Result<Regex, (String, String)> {
    if pattern.is_empty() {
        return Err((key.to_owned(), "empty pattern".to_owned()));
    }
    Regex::new(pattern).map_err(|e| {
        let first = e.to_string().lines().last().unwrap_or("").trim().to_owned();
        (key.to_owned(), format!("not a regular expression: {first}"))
    })
}

fn causes(raw: Vec<RawCause>, probe: &Probe) -> Result<Vec<Cause>, (String, String)> {
    if raw.is_empty() {
        return Err(("causes".to_owned(), "no cause".to_owned()));
    }
    let last = raw.len() - 1;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let at = format!("causes[{i}]");
        if !is_word(&c.id) {
            return Err((
                format!("{at}.id"),
                format!("`{}` is not a word like `bus-unreachable`", c.id),
            ));
        }
        if !seen.insert(c.id.clone()) {
            return Err((format!("{at}.id"), format!("`{}` twice", c.id)));
        }
        let pattern = match (&c.pattern, i == last) {
            (Some(p), false) => Some(regex(&format!("{at}.pattern"), p)?),
            (None, true) => None,
            (Some(_), true) => {
                return Err((
                    format!("{at}.pattern"),
                    "the last cause is the catch-all: it has no pattern".to_owned(),
                ));
            }
            (None, false) => {
                return Err((
                    format!("{at}.pattern"),
                    "only the last cause may go without a pattern".to_owned(),
                ));
            }
        };
        if c.cause.trim().is_empty() || c.remedy.trim().is_empty() {
            return Err((at, "a cause needs its text and its remedy".to_owned()));
        }
        if c.action == Some(Action::Restart) && !names_units(probe) {
            return Err((
                format!("{at}.action"),
                "restart needs a probe whose findings name a unit".to_owned(),
            ));
        }
        out.push(Cause {
            id: c.id,
            pattern,
            cause: c.cause,
            remedy: c.remedy,
            action: c.action,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_loads_with_the_issues_symptoms() {
        let c = Catalog::shipped().unwrap();
        let ids: Vec<&str> = c.symptoms.iter().map(|s| s.id.as_str()).collect();
        for want in [
            "agent.down",
            "service.down",
            "galera.unhealthy",
            "bus.unhealthy",
            "port.taken",
            "disk.full",
            "memory.low",
            "clock.skew",
            "auth.failures",
            "api.timeouts",
            "vm.error",
            "python.deps",
        ] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
        // Every symptom ends with its catch-all.
        for s in &c.symptoms {
            assert!(s.causes.last().unwrap().pattern.is_none(), "{}", s.id);
        }
    }

    #[test]
    fn ids_are_dotted_words() {
        assert!(is_dotted_id("agent.down"));
        assert!(is_dotted_id("bus.queue-backlog"));
        for bad in [
            "agent",
            "Agent.down",
            "agent..down",
            ".down",
            "agent.-down",
            "a b.c",
            "",
        ] {
            assert!(!is_dotted_id(bad), "{bad}");
        }
    }
}
