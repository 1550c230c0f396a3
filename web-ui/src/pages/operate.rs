//! Growing and shrinking the cluster on the first node's wizard: "Grow the cluster" (`POST
//! /cluster/grow`), a node's removal (`/cluster/nodes/{name}/remove`: what it does and its warnings,
//! then the button), and the operation's progress (`/cluster/operation`: overall and per node, the
//! failed step with its remedy, the operator's lines and the output's tail; it reloads itself every 5 s
//! while the operation runs, with no JavaScript), and the cluster's status (`/cluster/status`: every
//! member's agent, Galera with what its last start decided, RabbitMQ, the API address's holder). The flow
//! is [`crate::wizard::operate`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use stackbox_cluster::status::{AgentAnswer, ClusterStatus, Member};
use stackbox_installer::progress::Phase;

use crate::chrome::{Admin, AdminForm, Chrome, CsrfOnly, PageError, html, redirect};
use crate::error::WebError;
use crate::operation::{Kind, NodeProgress, Operation};
use crate::state::AppState;

/// Where an operation's progress is shown.
pub const OPERATION_PAGE: &str = "/cluster/operation";

/// The operation's page.
#[derive(Template)]
#[template(path = "operation.html")]
pub struct OperationPage {
    /// Layout.
    pub c: Chrome,
    /// The current (or last) operation.
    pub op: Option<Operation>,
    /// Each node's share.
    pub nodes: Vec<NodeProgress>,
    /// Whether it runs (the page reloads itself).
    pub running: bool,
    /// The phase in words.
    pub phase_text: String,
    /// Steps done or skipped, on every node.
    pub finished: usize,
    /// Steps in all.
    pub total: usize,
}

/// Builds the operation's page.
pub fn operation_page(op: Option<Operation>, csrf: &str) -> OperationPage {
    let (finished, total) = op.as_ref().map(|o| o.progress.counts()).unwrap_or_default();
    let nodes = op.as_ref().map(Operation::nodes).unwrap_or_default();
    let phase_text = match &op {
        None => String::new(),
        Some(o) => match o.progress.phase {
            Phase::Idle | Phase::Running if o.progress.steps.is_empty() => {
                "Starting: asking every node's agent.".to_owned()
            }
            Phase::Idle | Phase::Running => {
                let now: Vec<String> = nodes
                    .iter()
                    .filter_map(|n| Some(format!("{} {}", n.name, n.running.as_ref()?)))
                    .collect();
                if now.is_empty() {
                    "Running.".to_owned()
                } else {
                    format!("Running: {}.", now.join(", "))
                }
            }
            Phase::Failed => {
                "Stopped. Fix the cause and run it again: done steps are not redone.".to_owned()
            }
            Phase::Complete => "Complete: every node is done.".to_owned(),
        },
    };
    OperationPage {
        c: Chrome::admin("Cluster", "cluster", csrf),
        running: op
            .as_ref()
            .is_some_and(|o| o.progress.phase == Phase::Running),
        op,
        nodes,
        phase_text,
        finished,
        total,
    }
}

/// The operation's progress.
pub async fn operation_view(
    state: web::Data<AppState>,
    s: Admin,
) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &operation_page(state.wizard.operation(), s.csrf()),
    )
}

/// Starts growing the cluster (or runs it again), then shows its progress.
pub async fn grow_start(
    state: web::Data<AppState>,
    _: AdminForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    web::block(move || st.wizard.start_grow())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the operation's thread: {e}")))??;
    Ok(redirect(OPERATION_PAGE))
}

/// The removal page.
#[derive(Template)]
#[template(path = "remove.html")]
pub struct RemovePage {
    /// Layout.
    pub c: Chrome,
    /// The node.
    pub node: String,
    /// Its roles.
    pub roles: String,
    /// What the operator is warned of.
    pub warnings: Vec<String>,
}

/// What removing a node does, its warnings and the button; a refusal (a leader, the only node of a
/// role, this node) is the error page with the reason.
pub async fn remove_form(
    state: web::Data<AppState>,
    name: web::Path<String>,
    s: Admin,
) -> Result<HttpResponse, PageError> {
    let node = name.into_inner();
    let st = state.clone();
    let asked = node.clone();
    let judged = web::block(move || st.wizard.judge_removal(&asked))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the operation's thread: {e}")))??;
    let roles = judged.roles.join(", ");
    html(
        StatusCode::OK,
        &RemovePage {
            c: Chrome::admin("Cluster", "cluster", s.csrf()),
            node,
            roles,
            warnings: judged.warnings,
        },
    )
}

/// Starts removing a node, then shows its progress.
pub async fn remove_start(
    state: web::Data<AppState>,
    name: web::Path<String>,
    _: AdminForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let node = name.into_inner();
    let st = state.clone();
    web::block(move || st.wizard.start_remove(&node))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the operation's thread: {e}")))??;
    Ok(redirect(OPERATION_PAGE))
}

/// A member's row on the status page, in words.
#[derive(Debug, Clone)]
pub struct StatusRow {
    /// Its name.
    pub name: String,
    /// Its management address.
    pub address: String,
    /// Its roles.
    pub roles: String,
    /// Its agent: ok (and the step it runs), or why it did not answer.
    pub agent: String,
    /// Its Galera, or why it could not be read.
    pub galera: String,
    /// What MariaDB's last start decided, and why.
    pub galera_start: Option<String>,
    /// Its RabbitMQ, or why it could not be read.
    pub rabbitmq: String,
}

impl StatusRow {
    fn of(m: &Member, now: std::time::SystemTime) -> StatusRow {
        let (agent, galera, galera_start, rabbitmq) = match &m.agent {
            AgentAnswer::Unreachable { reason } => (
                format!("UNREACHABLE: {reason}"),
                String::new(),
                None,
                String::new(),
            ),
            AgentAnswer::Healthy { status } => (
                status.agent_line(),
                status.galera_line().unwrap_or_default(),
                status.galera_start.as_ref().map(|r| r.describe(now)),
                status.rabbitmq_lines().join("; "),
            ),
        };
        StatusRow {
            name: m.name.clone(),
            address: m.address.to_string(),
            roles: m.roles.join(", "),
            agent,
            galera,
            galera_start,
            rabbitmq,
        }
    }
}

/// The cluster's status page.
#[derive(Template)]
#[template(path = "status.html")]
pub struct StatusPage {
    /// Layout.
    pub c: Chrome,
    /// The status, or why there is none.
    pub status: Result<ClusterStatus, String>,
    /// Each member in words.
    pub rows: Vec<StatusRow>,
    /// The node that holds the API address.
    pub holder: String,
}

/// The cluster's status, asked of every agent now.
pub async fn status_view(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let status = match web::block(move || st.wizard.cluster_status())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))?
    {
        Ok(status) => Ok(status),
        Err(WebError::Conflict(why)) => Err(why),
        Err(e) => return Err(e.into()),
    };
    html(
        StatusCode::OK,
        &status_page(status, s.csrf(), std::time::SystemTime::now()),
    )
}

/// The cluster's support bundle, every secret redacted (`stackboxd bundle`), as a download.
pub async fn support_bundle(
    state: web::Data<AppState>,
    _: Admin,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let bytes = web::block(move || st.wizard.support_bundle())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the bundle's thread: {e}")))??;
    Ok(crate::assets::archive(
        "stackbox-support-bundle.tar.gz",
        bytes,
    ))
}

/// The wizard's recent log lines ([`crate::recent_log`]) as a download, for an error page's error id.
pub async fn wizard_log(_: Admin) -> HttpResponse {
    crate::assets::attachment(
        "text/plain; charset=utf-8",
        "stackbox-wizard.log",
        crate::recent_log::download(),
    )
}

/// Builds the status page for a status (or why there is none) as of `now`.
pub fn status_page(
    status: Result<ClusterStatus, String>,
    csrf: &str,
    now: std::time::SystemTime,
) -> StatusPage {
    let (rows, holder) = match &status {
        Ok(s) => (
            s.members.iter().map(|m| StatusRow::of(m, now)).collect(),
            s.api_holder()
                .map_or_else(|| "no node that answered".to_owned(), |m| m.name.clone()),
        ),
        Err(_) => (Vec::new(), String::new()),
    };
    StatusPage {
        c: Chrome::admin("Cluster", "cluster", csrf),
        status,
        rows,
        holder,
    }
}
