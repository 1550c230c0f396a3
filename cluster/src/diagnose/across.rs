//! `stackboxd diagnose [--node N] [--since 30m] [--format json]`: every member's agent (mutual TLS with
//! this node's cluster certificate) runs the catalog on its node, its logs read from the window back
//! (`GET /agent/v1/diagnose?since=SECONDS`); each finding is printed with its node, evidence (file and
//! line), cause, remedy and the desk's action. A node that does not answer is a finding of its own ("not
//! asked: why"), never left out.

use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stackbox_common::error::chain;

use super::DIAGNOSE_PATH;
use super::model::{Finding, NodeDiagnosis, Outcome};
use super::window::Window;
use crate::agent_client::AgentLink;
use crate::cli_desk::{Target, links};
use crate::cli_install::Format;

/// How long a node's agent may take to run the catalog (rabbitmqctl alone takes seconds).
const TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer taken from an agent.
const LIMIT: usize = 4 * 1024 * 1024;

/// `stackboxd diagnose`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    target: Target,
    /// How far back log lines and journals count: seconds, or a number with s, m, h or d (`2h`); at
    /// most 30 days.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_since)]
    since: Window,
    /// Output format; json prints {"nodes": [{"node", "error", "checked": [...], "findings": [...]}]}.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// One node's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAnswer {
    /// The node's name in the configuration.
    pub node: String,
    /// Why it could not be asked.
    pub error: Option<String>,
    /// Its diagnosis (empty when it could not be asked).
    #[serde(flatten)]
    pub diagnosis: NodeDiagnosis,
}

/// The whole cluster's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Each node, in the configuration's order.
    pub nodes: Vec<NodeAnswer>,
}

impl Diagnosis {
    /// Whether every node answered and none found anything.
    pub fn clean(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.error.is_none() && n.diagnosis.findings.is_empty())
    }
}

fn parse_since(text: &str) -> Result<Window, String> {
    Window::from_arg(text).map_err(|e| e.to_string())
}

/// The agent's path for a diagnosis with logs read `window` back.
pub fn diagnose_path(window: Window) -> String {
    format!("{DIAGNOSE_PATH}?since={}", window.secs())
}

/// Asks the agents `target` names, all at once.
fn ask(target: &Target, window: Window) -> Result<Diagnosis, crate::cli_desk::TargetError> {
    Ok(ask_links(&links(target)?, window))
}

/// Asks every node of `config` through its agent on `port`, with this node's credentials `tls`, logs
/// read `window` back.
pub fn ask_config(
    config: &stackbox_installer::ClusterConfig,
    tls: std::sync::Arc<rustls::ClientConfig>,
    port: u16,
    window: Window,
) -> Diagnosis {
    let nodes: Vec<(String, AgentLink)> = config
        .nodes
        .iter()
        .map(|n| {
            let link = AgentLink {
                addr: std::net::SocketAddr::new(n.address, port),
                tls: tls.clone(),
            };
            (n.name.clone(), link)
        })
        .collect();
    ask_links(&nodes, window)
}

/// Asks each (name, agent) at once, logs read `window` back; a node that does not answer is named with
/// the reason.
pub fn ask_links(nodes: &[(String, AgentLink)], window: Window) -> Diagnosis {
    let path = diagnose_path(window);
    let path = path.as_str();
    let answers = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|(name, link)| {
                scope.spawn(move || {
                    let asked: Result<NodeDiagnosis, _> = link.get_large(path, TIMEOUT, LIMIT);
                    match asked {
                        Ok(diagnosis) => NodeAnswer {
                            node: name.clone(),
                            error: None,
                            diagnosis,
                        },
                        Err(e) => NodeAnswer {
                            node: name.clone(),
                            error: Some(chain(&e)),
                            diagnosis: NodeDiagnosis::default(),
                        },
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    Diagnosis { nodes: answers }
}

/// One finding as the operator reads it.
pub fn render_finding(node: &str, f: &Finding) -> String {
    let mut s = format!("{node}: {} {} ({})\n", f.symptom, f.subject, f.title);
    s.push_str(&format!("  cause ({}): {}\n", f.cause, f.explanation));
    s.push_str(&format!("  remedy: {}\n", f.remedy));
    if let Some(unit) = &f.restart {
        s.push_str(&format!(
            "  action: stackboxd cluster restart {unit} --node {node}\n"
        ));
    }
    s.push_str("  evidence:\n");
    for e in &f.evidence {
        match e.line {
            Some(n) => s.push_str(&format!("    {}:{n}: {}\n", e.source, e.text)),
            None => s.push_str(&format!("    {}: {}\n", e.source, e.text)),
        }
    }
    s
}

/// A node's line: how many symptoms were checked and what was found (and which could not be
/// checked, why), or why the node was not asked.
pub fn node_summary(n: &NodeAnswer) -> String {
    if let Some(why) = &n.error {
        return format!("NOT ASKED: {why}");
    }
    let checked = n
        .diagnosis
        .checked
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Healthy | Outcome::Found(_)))
        .count();
    let failed: Vec<String> = n
        .diagnosis
        .checked
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Failed(why) => Some(format!("{} ({why})", c.symptom)),
            _ => None,
        })
        .collect();
    let found = match n.diagnosis.findings.len() {
        0 => "nothing found".to_owned(),
        1 => "1 finding".to_owned(),
        k => format!("{k} findings"),
    };
    let unchecked = if failed.is_empty() {
        String::new()
    } else {
        format!("; could not check {}", failed.join(", "))
    };
    format!("{checked} symptoms checked, {found}{unchecked}")
}

/// The whole diagnosis as text: a line per node, then its findings.
pub fn render_text(d: &Diagnosis) -> String {
    let mut s = String::new();
    for n in &d.nodes {
        s.push_str(&format!("{}: {}\n", n.node, node_summary(n)));
        for f in &n.diagnosis.findings {
            s.push_str(&render_finding(&n.node, f));
        }
    }
    s
}

/// `stackboxd diagnose`: exit 0 when every node answered and nothing was found, 1 otherwise.
pub fn run(args: &DiagnoseArgs) -> ExitCode {
    let d = match ask(&args.target, args.since) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("stackboxd diagnose: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    match args.format {
        Format::Text => stackbox_common::cli::out(&render_text(&d)),
        Format::Json => stackbox_common::cli::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&d).unwrap_or_default()
        )),
    }
    if d.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
