//! A joined node's roles, on the first node's wizard (`/cluster/nodes/{name}`): its hardware (asked of
//! its agent) and the roles chosen for it, judged under the wizard's profile as this node's own are.
//! Saving writes the grown cluster's configuration ([`crate::wizard::grow`]).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::choices::{Subject, chosen_roles, facts_line, outcome_page, roles_page};
use crate::chrome::{Admin, AdminForm, PageError, html};
use crate::error::WebError;
use crate::state::AppState;
use crate::wizard::grow::JoinedNode;

/// The roles a joined node is offered before any are saved: compute, the role a cluster grows by.
const FIRST_CHOICE: &str = "compute";

fn subject(node: &JoinedNode) -> Subject {
    Subject {
        node: node.member.name.clone(),
        facts: match &node.hardware {
            Ok(h) => format!("{} ({})", facts_line(&h.facts), node.member.address),
            Err(why) => format!("Its hardware is not known: {why}."),
        },
        own: false,
    }
}

async fn joined_node(state: &web::Data<AppState>, name: String) -> Result<JoinedNode, WebError> {
    let st = state.clone();
    web::block(move || st.wizard.joined_node(&name))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agent's thread: {e}")))?
}

/// A joined node's roles page: its saved roles with their judgement, else compute.
pub async fn node_roles_form(
    state: web::Data<AppState>,
    name: web::Path<String>,
    s: Admin,
) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    let node = joined_node(&state, name.into_inner()).await?;
    let (chosen, saved) = match &node.roles {
        Some(r) => (r.roles.clone(), true),
        None => (vec![FIRST_CHOICE.to_owned()], false),
    };
    // The judgement needs the hardware: without it the page says why and judges nothing.
    let report = match wizard.judge_joined(&node, &chosen) {
        Ok(Ok((_, report))) if saved => Some(report),
        _ => None,
    };
    html(
        StatusCode::OK,
        &roles_page(
            wizard,
            s.csrf(),
            subject(&node),
            &chosen,
            report,
            Vec::new(),
            saved,
        )?,
    )
}

/// Judges the roles chosen for a joined node and stores them when its hardware can carry them and the
/// grown cluster stays valid.
pub async fn node_roles_submit(
    state: web::Data<AppState>,
    name: web::Path<String>,
    post: AdminForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let chosen = chosen_roles(&post.body);
    let node = joined_node(&state, name.clone()).await?;
    let st = state.clone();
    let roles = chosen.clone();
    let outcome = web::block(move || st.wizard.assign_joined_roles(&name, &roles))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agent's thread: {e}")))??;
    outcome_page(&state.wizard, post.csrf(), subject(&node), &chosen, outcome)
}
