//! The admin desk's JSON API, as its page (`/desk`) and `stackboxd cluster port` / `restart`: which
//! process holds a port on every node, and a service restarted on one node or on all in turn.

use actix_web::{HttpResponse, web};

use crate::error::{FieldError, WebError};
use crate::session::{self, AdminAccess, Api, Checked};
use crate::state::AppState;

/// The admin desk: which process holds a port on every node (as `stackboxd cluster port`).
pub async fn desk_port(
    state: web::Data<AppState>,
    _: session::Admin<Api>,
    port: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let port = crate::pages::desk::parse_port(&port.into_inner())
        .map_err(|why| WebError::Invalid(vec![FieldError::new("port", why)]))?;
    let st = state.clone();
    let answers = web::block(move || -> Result<_, WebError> {
        let links = st.wizard.desk_links()?;
        Ok(stackbox_cluster::cli_desk::ask_port(&links, port))
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    let nodes: Vec<serde_json::Value> = answers
        .into_iter()
        .map(|(node, asked)| match asked {
            Ok(holders) => serde_json::json!({"node": node, "holders": holders}),
            Err(why) => serde_json::json!({"node": node, "error": why}),
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"port": port, "nodes": nodes})))
}

/// A service to restart, on one node or (without `node`) on every node in turn.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskRestart {
    /// One of the cloud's services.
    pub service: String,
    /// One node's name; every node in turn when left out.
    #[serde(default)]
    pub node: Option<String>,
}

/// The admin desk: restarts a service, each node's active again before the next (as `stackboxd
/// cluster restart`); answers once done, with each node's line and whether every restart came back.
pub async fn desk_restart(
    state: web::Data<AppState>,
    post: Checked<AdminAccess, web::Json<DeskRestart>>,
) -> Result<HttpResponse, WebError> {
    let DeskRestart { service, node } = post.body.into_inner();
    stackbox_cluster::desk::check_service(&service)
        .map_err(|e| WebError::Invalid(vec![FieldError::new("service", e.to_string())]))?;
    let st = state.clone();
    let (ok, lines) = web::block(move || -> Result<_, WebError> {
        let chosen: Vec<_> = st
            .wizard
            .desk_links()?
            .into_iter()
            .filter(|(n, _)| node.as_ref().is_none_or(|want| want == n))
            .collect();
        if chosen.is_empty() {
            return Err(WebError::Invalid(vec![FieldError::new(
                "node",
                format!("no node is called `{}`", node.unwrap_or_default()),
            )]));
        }
        let mut lines = Vec::new();
        let ok =
            stackbox_cluster::cli_desk::restart_in_turn(&chosen, &service, &mut |l| lines.push(l));
        Ok((ok, lines))
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"ok": ok, "lines": lines})))
}
