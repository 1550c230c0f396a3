//! The network step's Apply (`POST /network/apply`) and the confirmation over the new address
//! (`GET`/`POST /network/confirm`), which needs no session: the one-time token Apply handed out is its
//! proof (see `wizard::net`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::chrome::{AdminForm, Chrome, CsrfOnly, PageError, html};
use crate::error::WebError;
use crate::state::AppState;
use crate::wizard::net::Applied;

/// The page after Apply: where to confirm, and by when.
#[derive(Template)]
#[template(path = "network_applied.html")]
pub struct AppliedPage {
    /// Layout.
    pub c: Chrome,
    /// The confirmation page at the new address, the token in its fragment.
    pub confirm_url: String,
    /// Seconds left to confirm.
    pub within: u64,
    /// What the probe saw.
    pub seen: Vec<String>,
}

/// The confirmation page, and its outcome.
#[derive(Template)]
#[template(path = "network_confirm.html")]
pub struct ConfirmPage {
    /// Layout.
    pub c: Chrome,
    /// `None` before posting; the outcome after.
    pub outcome: Option<Result<String, String>>,
}

/// The confirmation URL for `applied`, as seen from the request that applied it: the new static address
/// on the same port, or this very host when the address comes from DHCP.
fn confirm_url(req: &HttpRequest, applied: &Applied) -> String {
    let info = req.connection_info();
    let port = info
        .host()
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| "443".to_owned());
    let host = match applied.address {
        Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        Some(ip) => format!("{ip}:{port}"),
        None => info.host().to_owned(),
    };
    format!("https://{host}/network/confirm#{}", applied.token)
}

/// Applies the stored network with automatic rollback; the page then moves to the new address.
pub async fn apply(
    state: web::Data<AppState>,
    req: HttpRequest,
    post: AdminForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    let settings = wizard.answers.network()?.ok_or_else(|| {
        WebError::Conflict("save the network settings first, then apply them".to_owned())
    })?;
    let nics = wizard.nic_facts();
    let st = state.clone();
    let running = web::block(move || {
        st.wizard.in_running_cluster().then(|| {
            let held: Vec<(String, std::net::IpAddr)> = st
                .wizard
                .live_addresses()
                .into_iter()
                .map(|(link, ip, _)| (link, ip))
                .collect();
            let applied = st.wizard.network.status().ok().and_then(|s| s.current);
            (held, applied)
        })
    })
    .await?;
    if let Some((held, applied)) = running {
        crate::wizard::net::check_keeps_address(&held, applied.as_ref(), &settings)
            .map_err(WebError::Conflict)?;
    }
    let st = state.clone();
    let applied = web::block(move || st.wizard.network.apply(&settings, &nics)).await?;
    match applied {
        Ok(applied) => html(
            StatusCode::OK,
            &AppliedPage {
                c: Chrome::admin("Network applied", "network", post.csrf()),
                confirm_url: confirm_url(&req, &applied),
                within: applied.within,
                seen: applied.seen,
            },
        ),
        Err(e) => Err(PageError(WebError::Conflict(format!(
            "the network was not applied: {}",
            stackbox_common::error::chain(&e)
        )))),
    }
}

/// The confirmation page: its script puts the token from the URL's fragment into the form.
pub async fn confirm_form() -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &ConfirmPage {
            c: Chrome::public("Confirm the network"),
            outcome: None,
        },
    )
}

/// The confirmation as posted.
#[derive(Deserialize)]
pub struct ConfirmPost {
    #[serde(default)]
    token: String,
}

/// Keeps the pending network when the token is the one Apply handed out.
pub async fn confirm_submit(
    state: web::Data<AppState>,
    post: web::Form<ConfirmPost>,
) -> Result<HttpResponse, PageError> {
    let token = post.into_inner().token;
    let st = state.clone();
    let done = web::block(move || st.wizard.network.confirm(&token)).await?;
    let (status, outcome) = match done {
        Ok(true) => (
            StatusCode::OK,
            Ok("The network is kept: this node is reached here from now on.".to_owned()),
        ),
        Ok(false) => (
            StatusCode::FORBIDDEN,
            Err(
                "Not confirmed: this link is not the one Apply gave, was used already, or the change \
                 was reverted. Sign in and apply the network again."
                    .to_owned(),
            ),
        ),
        Err(e) => (
            StatusCode::CONFLICT,
            Err(format!(
                "Not confirmed: {}",
                stackbox_common::error::chain(&e)
            )),
        ),
    };
    html(
        status,
        &ConfirmPage {
            c: Chrome::public("Confirm the network"),
            outcome: Some(outcome),
        },
    )
}
