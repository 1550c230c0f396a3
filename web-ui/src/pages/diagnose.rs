//! The Diagnose page (`/diagnose`): the troubleshooting matrix run now by every member's agent
//! (`stackboxd diagnose`), each finding with its node, evidence (file and line), cause, remedy and the
//! admin desk's command that repairs it; a node that did not answer is named with the reason.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use stackbox_cluster::diagnose::Finding;
use stackbox_cluster::diagnose::across::Diagnosis;

use crate::chrome::{Admin, Chrome, PageError, html};
use crate::error::WebError;
use crate::state::AppState;

/// One node's line on the page.
pub struct NodeRow {
    /// Its name.
    pub node: String,
    /// What was checked and found, or why it was not asked.
    pub summary: String,
    /// Whether it is in trouble (a finding, no answer).
    pub trouble: bool,
    /// Its findings.
    pub findings: Vec<Finding>,
}

/// The Diagnose page.
#[derive(Template)]
#[template(path = "diagnose.html")]
pub struct DiagnosePage {
    /// Layout.
    pub c: Chrome,
    /// Each node, or why the cluster could not be asked.
    pub nodes: Result<Vec<NodeRow>, String>,
    /// Findings in all.
    pub findings: usize,
}

impl DiagnosePage {
    /// `finding`'s evidence line as text: `source:line: text`.
    pub fn evidence(e: &stackbox_cluster::diagnose::Evidence) -> String {
        match e.line {
            Some(n) => format!("{}:{n}: {}", e.source, e.text),
            None => format!("{}: {}", e.source, e.text),
        }
    }
}

/// Builds the page for a diagnosis (or why there is none).
pub fn diagnose_page(diagnosis: Result<Diagnosis, String>, csrf: &str) -> DiagnosePage {
    let nodes = diagnosis.map(|d| {
        d.nodes
            .into_iter()
            .map(|n| {
                let summary = stackbox_cluster::diagnose::across::node_summary(&n);
                NodeRow {
                    trouble: n.error.is_some() || !n.diagnosis.findings.is_empty(),
                    node: n.node,
                    summary,
                    findings: n.diagnosis.findings,
                }
            })
            .collect::<Vec<_>>()
    });
    let findings = nodes
        .as_ref()
        .map(|n| n.iter().map(|r| r.findings.len()).sum())
        .unwrap_or(0);
    DiagnosePage {
        c: Chrome::admin("Diagnose", "cluster", csrf),
        nodes,
        findings,
    }
}

/// The troubleshooting matrix, run now on every node.
pub async fn diagnose_view(
    state: web::Data<AppState>,
    s: Admin,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let diagnosis = match web::block(move || st.wizard.diagnose(Default::default()))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))?
    {
        Ok(d) => Ok(d),
        Err(WebError::Conflict(why)) => Err(why),
        Err(e) => return Err(e.into()),
    };
    html(StatusCode::OK, &diagnose_page(diagnosis, s.csrf()))
}
