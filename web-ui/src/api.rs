//! The JSON API under `/api/v1`: the same model as the pages (status, session, system, hardware report,
//! network, cluster). It uses the pages' session cookie; every state-changing request carries the
//! session's CSRF token in `X-CSRF-Token`. Errors are RFC 9457 problem documents.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use stackbox_network::NetworkSettings;

use crate::app;
use crate::auth::Access;
use crate::error::WebError;
use crate::install::{Phase, Update};
use crate::install_pages;
use crate::network::{self, NetworkForm};
use crate::pages;
use crate::roles::SettingsForm;
use crate::setup_pages;
use crate::state::{AppState, BODY_LIMIT, CLUSTER_FILE, NETWORK_FILE, ROLES_FILE, SETTINGS_FILE};
use tokio::sync::broadcast;

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Turns a JSON-body error into a problem: 413 past the limit, else 400.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => {
            WebError::PayloadTooLarge { limit: BODY_LIMIT }.into()
        }
        other => WebError::BadRequest(other.to_string()).into(),
    }
}

fn csrf(req: &HttpRequest, session: &crate::auth::Session) -> Result<(), WebError> {
    app::check_csrf(
        session,
        req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()),
    )
}

/// Where the wizard stands, without signing in.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    /// The wizard's version.
    pub version: &'static str,
    /// The next step: `admin-password`, `network`, `cluster`, `roles`, `settings`, `review`, then
    /// `installing`, `install-failed` or `done`.
    pub phase: &'static str,
    /// Whether the admin password is set.
    pub admin_password_set: bool,
    /// The hardware report's overall status.
    pub hardware: &'static str,
    /// Whether network settings are stored.
    pub network_configured: bool,
    /// Whether the cluster is created.
    pub cluster_created: bool,
}

async fn status(state: web::Data<AppState>) -> HttpResponse {
    let admin_password_set = state.passwords.is_set();
    let network_configured = state.opts.state_dir.join(NETWORK_FILE).exists();
    let cluster_created = state.opts.state_dir.join(CLUSTER_FILE).exists();
    let phase = if !admin_password_set {
        "admin-password"
    } else if !network_configured {
        "network"
    } else if !cluster_created {
        "cluster"
    } else if !state.opts.state_dir.join(ROLES_FILE).exists() {
        "roles"
    } else if !state.opts.state_dir.join(SETTINGS_FILE).exists() {
        "settings"
    } else {
        match state.installer.progress().phase {
            Phase::Idle => "review",
            Phase::Running => "installing",
            Phase::Failed => "install-failed",
            Phase::Complete => "done",
        }
    };
    HttpResponse::Ok().json(StatusDoc {
        version: env!("CARGO_PKG_VERSION"),
        phase,
        admin_password_set,
        hardware: state.report().status.as_str(),
        network_configured,
        cluster_created,
    })
}

async fn session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::SetupToken)?;
    let left = s
        .expires
        .saturating_duration_since(std::time::Instant::now());
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "access": match s.access { Access::Admin => "admin", _ => "setup-token" },
        "csrf_token": s.csrf,
        "expires_in_secs": left.as_secs(),
    })))
}

async fn system(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    let report = state.report();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "hostname": report.facts.hostname,
        "profile": report.profile,
        "roles": report.roles,
        "tls_fingerprint": state.fingerprint,
    })))
}

async fn hardware(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(HttpResponse::Ok().json(&*state.report()))
}

async fn hardware_rerun(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    let st = state.clone();
    let report = web::block(move || st.rerun_check())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("re-running the checks: {e}")))??;
    Ok(HttpResponse::Ok().json(&*report))
}

/// The network resource: the NICs to choose from and the stored settings.
#[derive(Debug, Serialize)]
pub struct NetworkDoc {
    /// NIC names the settings may use.
    pub nics: Vec<String>,
    /// The stored settings, `null` before they are saved.
    pub settings: Option<NetworkSettings>,
}

async fn network_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(HttpResponse::Ok().json(NetworkDoc {
        nics: state.nic_names(),
        settings: state.network()?,
    }))
}

async fn network_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Json<NetworkForm>,
) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    let settings = network::validate(&form, &state.nic_names()).map_err(WebError::Invalid)?;
    state.answers_may_change()?;
    state.set_network(&settings)?;
    Ok(HttpResponse::Ok().json(settings))
}

async fn cluster_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "cluster": state.cluster()? })))
}

/// A request to create the single-node cluster.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    /// The cluster's name.
    pub name: String,
}

async fn cluster_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateCluster>,
) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    let cluster = pages::create_cluster(&state, &body.name)?;
    Ok(HttpResponse::Created().json(cluster))
}

async fn roles_get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    let roles: Vec<_> = state.catalog.roles().values().collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "available": roles,
        "assignment": state.roles()?,
    })))
}

/// A request to assign this node's roles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRoles {
    /// The roles.
    pub roles: Vec<String>,
}

async fn roles_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<AssignRoles>,
) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    match setup_pages::assign_roles(&state, &body.roles)? {
        setup_pages::RolesOutcome::Saved(assignment, report) => Ok(HttpResponse::Ok()
            .json(serde_json::json!({ "assignment": assignment, "report": report }))),
        setup_pages::RolesOutcome::Refused(errors, _) => Err(WebError::Invalid(errors)),
    }
}

async fn settings_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "settings": state.settings()? })))
}

async fn settings_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Json<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    let settings = setup_pages::store_settings(&state, &form)?;
    Ok(HttpResponse::Ok().json(settings))
}

/// Everything the wizard has stored, in one document: the input the installer's cluster
/// configuration is made from (`null` for a step not done yet).
async fn config(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "network": state.network()?,
        "cluster": state.cluster()?,
        "roles": state.roles()?,
        "settings": state.settings()?,
    })))
}

async fn plan(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    let st = state.clone();
    let review = web::block(move || install_pages::review(&st))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("planning: {e}")))??;
    Ok(HttpResponse::Ok().json(review))
}

async fn install_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(HttpResponse::Ok().json(state.installer.progress()))
}

/// Starts the installation, or retries it after a failure: 202 with the progress.
async fn install_post(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    let st = state.clone();
    web::block(move || install_pages::start_install(&st))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("starting the installation: {e}")))??;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, "/api/v1/install"))
        .json(state.installer.progress()))
}

/// Server-sent events: a `snapshot` of the whole progress first, then `step` and `log` events as they
/// happen, a new `snapshot` when the phase changes, and a comment every 15 s to keep the stream open.
async fn events(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    app::require(&req, &state, Access::Admin)?;
    let (progress, rx) = state.installer.subscribe();
    let first = Update::Snapshot(Box::new(progress)).to_sse();
    let stream = futures::stream::unfold((Some(first), rx), |(first, mut rx)| async move {
        if let Some(text) = first {
            return Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(text)),
                (None, rx),
            ));
        }
        let text = match tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv()).await {
            Ok(Ok(update)) => update.to_sse(),
            // Missed updates: the browser catches up from a new snapshot.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                "event: resync\ndata: {}\n\n".to_owned()
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            Err(_) => ": keep-alive\n\n".to_owned(),
        };
        Some((Ok(web::Bytes::from(text)), (None, rx)))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// The admin openrc, once (410 afterwards).
async fn openrc(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    csrf(&req, &s)?;
    let st = state.clone();
    let text = web::block(move || install_pages::take_openrc(&st))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("reading the credentials: {e}")))??;
    tracing::info!("admin credentials downloaded through the API");
    Ok(install_pages::openrc_response(text))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(OPENAPI)
}

/// Registers the API's routes (relative to `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/status", web::get().to(status))
        .route("/session", web::get().to(session))
        .route("/system", web::get().to(system))
        .route("/hardware", web::get().to(hardware))
        .route("/hardware/rerun", web::post().to(hardware_rerun))
        .route("/network", web::get().to(network_get))
        .route("/network", web::put().to(network_put))
        .route("/cluster", web::get().to(cluster_get))
        .route("/cluster", web::post().to(cluster_post))
        .route("/roles", web::get().to(roles_get))
        .route("/roles", web::put().to(roles_put))
        .route("/settings", web::get().to(settings_get))
        .route("/settings", web::put().to(settings_put))
        .route("/config", web::get().to(config))
        .route("/plan", web::get().to(plan))
        .route("/install", web::get().to(install_get))
        .route("/install", web::post().to(install_post))
        .route("/events", web::get().to(events))
        .route("/openrc", web::post().to(openrc))
        .route("/openapi.json", web::get().to(openapi))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(WebError::NotFound)
        }));
}

/// Every (method, path) the API serves, for checking the OpenAPI document against the router.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/status"),
    ("get", "/session"),
    ("get", "/system"),
    ("get", "/hardware"),
    ("post", "/hardware/rerun"),
    ("get", "/network"),
    ("put", "/network"),
    ("get", "/cluster"),
    ("post", "/cluster"),
    ("get", "/roles"),
    ("put", "/roles"),
    ("get", "/settings"),
    ("put", "/settings"),
    ("get", "/config"),
    ("get", "/plan"),
    ("get", "/install"),
    ("post", "/install"),
    ("get", "/events"),
    ("post", "/openrc"),
    ("get", "/openapi.json"),
];
