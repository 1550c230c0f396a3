//! The admin desk (`/desk`), as `stackboxd cluster port` and `stackboxd cluster restart` through the
//! nodes' agents: which process holds a port on every node (`GET /desk?port=N`), and one of the
//! cloud's services restarted on one node or on all in turn, each active again before the next
//! (`POST /desk/restart`, also the Diagnose page's action buttons).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use stackbox_cluster::cli_desk::{ask_port, render_holders, restart_in_turn};
use stackbox_cluster::desk::{SERVICES, check_service};

use crate::chrome::{Admin, AdminForm, Chrome, CsrfField, PageError, html};
use crate::error::WebError;
use crate::state::AppState;

/// The port asked for, as typed.
#[derive(Debug, Deserialize)]
pub struct PortQuery {
    #[serde(default)]
    port: String,
}

/// The restart form as posted: a service and a node (empty: every node in turn).
#[derive(Debug, Deserialize)]
pub struct RestartPost {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    node: String,
}

impl CsrfField for RestartPost {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// The desk's page.
#[derive(Template)]
#[template(path = "desk.html")]
pub struct DeskPage {
    /// Layout.
    pub c: Chrome,
    /// The members' names, or why the desk cannot act (plan mode, no cluster yet).
    pub nodes: Result<Vec<String>, String>,
    /// The services the desk restarts.
    pub services: &'static [&'static str],
    /// The port field as typed.
    pub port: String,
    /// Who holds the port, a line per socket or node.
    pub holders: Vec<String>,
    /// What the restart did, a line per node.
    pub restarted: Vec<String>,
    /// Whether every restart came back (when one was asked).
    pub restart_ok: Option<bool>,
    /// The service and the node last chosen (empty node: every node), kept selected.
    pub service: String,
    /// See [`DeskPage::service`].
    pub node: String,
    /// What is wrong with the port as typed, shown beside its field.
    pub port_error: Option<String>,
    /// What is wrong with the restart asked, shown beside its form.
    pub restart_error: Option<String>,
}

/// The page with nothing asked yet.
pub fn desk_page(nodes: Result<Vec<String>, String>, csrf: &str) -> DeskPage {
    DeskPage {
        c: Chrome::admin("Admin desk", "cluster", csrf),
        nodes,
        services: SERVICES,
        port: String::new(),
        holders: Vec::new(),
        restarted: Vec::new(),
        restart_ok: None,
        service: String::new(),
        node: String::new(),
        port_error: None,
        restart_error: None,
    }
}

/// `text` as a port, or what is wrong with it.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{}` is not a port (1 to 65535)", text.trim())),
    }
}

type Links = Vec<(String, stackbox_cluster::agent_client::AgentLink)>;

/// The members' links, or why there are none (a refusal the page shows, not an error page).
fn links(st: &AppState) -> Result<Result<Links, String>, WebError> {
    match st.wizard.desk_links() {
        Ok(l) => Ok(Ok(l)),
        Err(WebError::Conflict(why)) => Ok(Err(why)),
        Err(e) => Err(e),
    }
}

fn names(links: &Result<Links, String>) -> Result<Vec<String>, String> {
    links
        .as_ref()
        .map(|l| l.iter().map(|(n, _)| n.clone()).collect())
        .map_err(Clone::clone)
}

/// The desk, and who holds the port when one is asked.
pub async fn desk_view(
    state: web::Data<AppState>,
    s: Admin,
    query: web::Query<PortQuery>,
) -> Result<HttpResponse, PageError> {
    let csrf = s.csrf().to_owned();
    let typed = query.into_inner().port;
    let st = state.clone();
    let (status, page) = web::block(move || -> Result<(StatusCode, DeskPage), WebError> {
        let links = links(&st)?;
        let mut page = desk_page(names(&links), &csrf);
        page.port = typed.trim().to_owned();
        if page.port.is_empty() {
            return Ok((StatusCode::OK, page));
        }
        let port = match parse_port(&typed) {
            Ok(p) => p,
            Err(why) => {
                page.port_error = Some(why);
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, page));
            }
        };
        if let Ok(l) = &links {
            page.holders = ask_port(l, port)
                .iter()
                .flat_map(|(node, h)| {
                    render_holders(node, port, h)
                        .lines()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        Ok((StatusCode::OK, page))
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    html(status, &page)
}

/// Restarts a service on one node or every node in turn, then shows what each did.
pub async fn restart_submit(
    state: web::Data<AppState>,
    post: AdminForm<RestartPost>,
) -> Result<HttpResponse, PageError> {
    let csrf = post.csrf().to_owned();
    let form = post.body.into_inner();
    let st = state.clone();
    let (status, page) = web::block(move || -> Result<(StatusCode, DeskPage), WebError> {
        let links = links(&st)?;
        let mut page = desk_page(names(&links), &csrf);
        page.service.clone_from(&form.service);
        page.node.clone_from(&form.node);
        let Ok(all) = links else {
            return Ok((StatusCode::CONFLICT, page));
        };
        if let Err(e) = check_service(&form.service) {
            page.restart_error = Some(e.to_string());
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page));
        }
        let chosen: Links = all
            .into_iter()
            .filter(|(n, _)| form.node.is_empty() || *n == form.node)
            .collect();
        if chosen.is_empty() {
            page.restart_error = Some(format!("no node is called `{}`", form.node));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page));
        }
        let mut lines = Vec::new();
        let ok = restart_in_turn(&chosen, &form.service, &mut |l| lines.push(l));
        page.restarted = lines;
        page.restart_ok = Some(ok);
        Ok((StatusCode::OK, page))
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    html(status, &page)
}
