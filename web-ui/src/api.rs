//! The JSON API under `/api/v1`: the same model as the pages (status, session, system, hardware report,
//! network, cluster, roles, settings, plan, install and its events, the openrc). It uses the pages'
//! session cookie; every state-changing request carries the session's CSRF token in `X-CSRF-Token`,
//! checked by the [`AdminJson`] and [`AdminAction`] extractors before a handler runs. Two routes have
//! neither: `POST /cluster/join`, where another node asks to join (the join code's MAC authenticates
//! it, and it must come from the address it names), and `POST /cluster/precheck`, where a node about to
//! join proves the code the same way, is let through the firewall to the cluster ports for a while and
//! gets the few facts it checks before it asks (name, image version, clock, MTU, listening cluster ports). The handlers call
//! the wizard's flow ([`crate::wizard`]), as the pages do. Errors are RFC 9457 problem documents.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use stackbox_installer::progress::{Phase, Update};
use tokio::sync::broadcast;

use crate::answers::network::{self, NetworkForm};
use crate::answers::roles::SettingsForm;
use crate::answers::{CLUSTER_FILE, NETWORK_FILE, ROLES_FILE, SETTINGS_FILE};
use crate::assets;
use crate::auth::Access;
use crate::error::{FieldError, WebError};
use crate::session::{self, AdminAccess, Api, Checked, NoBody, OptionalJson};
use crate::state::{AppState, BODY_LIMIT};
use crate::wizard::RolesOutcome;
use crate::wizard::finish::{start_install, take_openrc};
use crate::wizard::review::review;
use stackbox_network::NetworkSettings;

pub use crate::session::CSRF_HEADER;

/// The admin's session, for the API.
pub type Admin = session::Admin<Api>;
/// A JSON body posted by the admin with the session's CSRF token in the header.
pub type AdminJson<T> = Checked<AdminAccess, web::Json<T>>;
/// A request without a body posted by the admin with the session's CSRF token in the header.
pub type AdminAction = Checked<AdminAccess, NoBody>;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Turns a JSON-body error into a problem: 413 past the limit, else 400.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => {
            WebError::PayloadTooLarge { limit: BODY_LIMIT }.into()
        }
        E::Payload(e) if crate::connections::is_timeout(&e) => WebError::BodyTimeout {
            secs: crate::connections::BODY_TIMEOUT.as_secs(),
        }
        .into(),
        other => WebError::BadRequest(other.to_string()).into(),
    }
}

/// [`json_error`] for join requests, whose limit is [`JOIN_BODY_LIMIT`].
fn join_json_error(err: actix_web::error::JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => WebError::PayloadTooLarge {
            limit: JOIN_BODY_LIMIT,
        }
        .into(),
        other => json_error(other, req),
    }
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
    let answers = &state.wizard.answers;
    let admin_password_set = state.passwords.is_set();
    let network_configured = answers.has(NETWORK_FILE);
    let cluster_created = answers.has(CLUSTER_FILE);
    let phase = if !admin_password_set {
        "admin-password"
    } else if !network_configured {
        "network"
    } else if !cluster_created {
        "cluster"
    } else if !answers.has(ROLES_FILE) {
        "roles"
    } else if !answers.has(SETTINGS_FILE) {
        "settings"
    } else {
        match state.wizard.phase() {
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
        hardware: state.wizard.report().status.as_str(),
        network_configured,
        cluster_created,
    })
}

async fn session(signed: session::SignedIn<Api>) -> HttpResponse {
    let s = signed.session;
    let left = s
        .expires
        .saturating_duration_since(std::time::Instant::now());
    HttpResponse::Ok().json(serde_json::json!({
        "access": match s.access { Access::Admin => "admin", _ => "setup-token" },
        "csrf_token": s.csrf,
        "expires_in_secs": left.as_secs(),
    }))
}

async fn system(state: web::Data<AppState>, _: Admin) -> HttpResponse {
    let report = state.wizard.report();
    HttpResponse::Ok().json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "hostname": report.facts.hostname,
        "profile": report.profile,
        "roles": report.roles,
        "tls_fingerprint": state.fingerprint,
    }))
}

async fn hardware(state: web::Data<AppState>, _: Admin) -> HttpResponse {
    HttpResponse::Ok().json(&*state.wizard.report())
}

async fn hardware_rerun(
    state: web::Data<AppState>,
    _: AdminAction,
) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let report = web::block(move || st.wizard.rerun_check()).await??;
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

async fn network_get(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::Ok().json(NetworkDoc {
        nics: state.wizard.nic_names(),
        settings: state.wizard.answers.network()?,
    }))
}

async fn network_put(
    state: web::Data<AppState>,
    put: AdminJson<NetworkForm>,
) -> Result<HttpResponse, WebError> {
    let wizard = &state.wizard;
    let settings = network::validate(&put.body, &wizard.nic_names()).map_err(WebError::Invalid)?;
    wizard.store_network(&settings)?;
    Ok(HttpResponse::Ok().json(settings))
}

async fn cluster_get(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::Ok().json(serde_json::json!({ "cluster": state.wizard.answers.cluster()? })))
}

/// A request to create the single-node cluster.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    /// The cluster's name.
    pub name: String,
    /// The address API clients use (keepalived keeps it); empty or absent: this node's own address.
    #[serde(default)]
    pub api_address: String,
}

async fn cluster_post(
    state: web::Data<AppState>,
    post: AdminJson<CreateCluster>,
) -> Result<HttpResponse, WebError> {
    let cluster = state
        .wizard
        .create_cluster(&post.body.name, &post.body.api_address)?;
    Ok(HttpResponse::Created().json(cluster))
}

/// The largest join request read (a CSR and a few names: about 1 KiB).
pub const JOIN_BODY_LIMIT: usize = 16 * 1024;

/// Another node asks to join: 200 with the grant, or a problem whose type is the refusal's reason.
/// No session: the MAC made with the join code authenticates the request.
async fn cluster_join(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<stackbox_cluster::JoinRequest>,
) -> Result<HttpResponse, WebError> {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .ok_or(WebError::AddressNotAllowed)?;
    let st = state.clone();
    let request = body.into_inner();
    let grant = web::block(move || {
        st.wizard
            .accept_join(&request, peer, std::time::SystemTime::now())
    })
    .await??;
    Ok(HttpResponse::Ok().json(grant))
}

/// A node about to join proves the join code: it is let through this node's firewall to the cluster
/// ports for a while and gets this member's facts ([`stackbox_cluster::precheck::MemberFacts`]); a
/// problem whose type is the refusal's reason otherwise. No session, as for the join itself: the MAC made
/// with the code authenticates it, and it must come from the address it names.
async fn cluster_precheck(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<stackbox_cluster::admit::Admission>,
) -> Result<HttpResponse, WebError> {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .ok_or(WebError::AddressNotAllowed)?;
    let st = state.clone();
    let admission = body.into_inner();
    let facts = web::block(move || {
        st.wizard
            .admit(&admission, peer, std::time::SystemTime::now())
    })
    .await??;
    Ok(HttpResponse::Ok().json(facts))
}

/// The nodes that joined through this member.
async fn cluster_members(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::Ok().json(serde_json::json!({ "members": state.wizard.members()? })))
}

/// A new node's request to join a member (its wizard's "Join an existing cluster").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinExisting {
    /// The member's management address.
    pub member: String,
    /// The join code the member showed.
    pub code: String,
    /// The member's TLS fingerprint.
    pub fingerprint: String,
}

async fn cluster_join_existing(
    state: web::Data<AppState>,
    post: AdminJson<JoinExisting>,
) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let body = post.body.into_inner();
    let joined = web::block(move || {
        st.wizard.join_existing(
            &body.member,
            &body.code,
            &body.fingerprint,
            std::time::SystemTime::now(),
        )
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the join's thread: {e}")))??;
    Ok(HttpResponse::Ok().json(joined))
}

async fn cluster_code(
    state: web::Data<AppState>,
    _: AdminAction,
) -> Result<HttpResponse, WebError> {
    let issued = state.wizard.issue_join_code(std::time::SystemTime::now())?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "code": issued.code.expose(),
        "fingerprint": issued.fingerprint,
        "expires_in_minutes": issued.minutes,
    })))
}

/// The nodes that joined, each with its hardware (asked of its agent, or why not) and saved roles.
async fn cluster_nodes(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let nodes = web::block(move || st.wizard.joined_nodes())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    let nodes: Vec<_> = nodes
        .into_iter()
        .map(|n| {
            let (hardware, hardware_error) = match n.hardware {
                Ok(h) => (Some(h), None),
                Err(why) => (None, Some(why)),
            };
            serde_json::json!({
                "name": n.member.name,
                "address": n.member.address,
                "fingerprint": n.member.fingerprint,
                "joined_at": n.member.joined_at,
                "hardware": hardware,
                "hardware_error": hardware_error,
                "roles": n.roles.as_ref().map(|r| &r.roles),
                "data_address": n.roles.and_then(|r| r.data_address),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "nodes": nodes })))
}

/// Judges and stores a joined node's roles (its hardware must carry them, the grown cluster must stay
/// valid), then writes the grown configuration.
async fn cluster_node_put(
    state: web::Data<AppState>,
    name: web::Path<String>,
    put: AdminJson<AssignRoles>,
) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let (name, roles) = (name.into_inner(), put.body.into_inner().roles);
    let outcome = web::block(move || st.wizard.assign_joined_roles(&name, &roles))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    match outcome {
        RolesOutcome::Saved(assignment, report) => Ok(HttpResponse::Ok()
            .json(serde_json::json!({ "assignment": assignment, "report": report }))),
        RolesOutcome::Refused(errors, _) => Err(WebError::Invalid(errors)),
    }
}

/// The grown cluster's configuration (this node's, then every joined node with roles) as the TOML
/// file `stackboxd cluster install --config` takes, and where it is written.
async fn cluster_config(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let toml = web::block(move || st.wizard.grown_toml())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the configuration's thread: {e}")))??;
    let path = state
        .wizard
        .state_dir()
        .join(stackbox_cluster::coordinator::CLUSTER_CONFIG);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "path": path, "toml": toml })))
}

/// Starts growing the cluster to the grown configuration (or runs it again); follow it at
/// `/cluster/operation`.
async fn cluster_grow(
    state: web::Data<AppState>,
    _: AdminAction,
) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let op = web::block(move || st.wizard.start_grow())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the operation's thread: {e}")))??;
    Ok(operation_started(&op))
}

/// Starts removing a joined node from the installed cluster (refused with the reason when it may not
/// leave); follow it at `/cluster/operation`.
async fn cluster_node_delete(
    state: web::Data<AppState>,
    name: web::Path<String>,
    _: AdminAction,
) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let name = name.into_inner();
    let op = web::block(move || st.wizard.start_remove(&name))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the operation's thread: {e}")))??;
    Ok(operation_started(&op))
}

fn operation_started(op: &crate::operation::Operation) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((header::LOCATION, "/api/v1/cluster/operation"))
        .json(op.document())
}

/// The installed cluster's status, asked of every agent now (as `stackboxd cluster status --format
/// json`, with `healthy`).
async fn cluster_status(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let status = web::block(move || st.wizard.cluster_status())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    let mut doc = serde_json::to_value(&status).map_err(|e| WebError::Internal(e.into()))?;
    doc["healthy"] = serde_json::Value::Bool(status.healthy());
    Ok(HttpResponse::Ok().json(doc))
}

/// The troubleshooting matrix, run now by every member's agent (as `stackboxd diagnose --format json`,
/// with `clean`), their logs read `?since=SECONDS` back (30 minutes when not given).
async fn diagnose(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<stackbox_cluster::diagnose::SinceQuery>,
) -> Result<HttpResponse, WebError> {
    let window = query
        .window()
        .map_err(|e| WebError::Invalid(vec![FieldError::new("since", e.to_string())]))?;
    let st = state.clone();
    let d = web::block(move || st.wizard.diagnose(window))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
    let mut doc = serde_json::to_value(&d).map_err(|e| WebError::Internal(e.into()))?;
    doc["clean"] = serde_json::Value::Bool(d.clean());
    Ok(HttpResponse::Ok().json(doc))
}

/// The current (or last) operation on the cluster: overall and per node, with every step.
async fn cluster_operation(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let op = state.wizard.operation().ok_or(WebError::NotFound)?;
    Ok(HttpResponse::Ok().json(op.document()))
}

async fn roles_get(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let roles: Vec<_> = state.wizard.catalog.roles().values().collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "available": roles,
        "assignment": state.wizard.answers.roles()?,
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
    state: web::Data<AppState>,
    put: AdminJson<AssignRoles>,
) -> Result<HttpResponse, WebError> {
    match state.wizard.assign_roles(&put.body.roles)? {
        RolesOutcome::Saved(assignment, report) => Ok(HttpResponse::Ok()
            .json(serde_json::json!({ "assignment": assignment, "report": report }))),
        RolesOutcome::Refused(errors, _) => Err(WebError::Invalid(errors)),
    }
}

async fn settings_get(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "settings": state.wizard.answers.settings()? })),
    )
}

async fn settings_put(
    state: web::Data<AppState>,
    put: AdminJson<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    let settings = state.wizard.store_settings(&put.body)?;
    Ok(HttpResponse::Ok().json(settings))
}

/// The Disk step (a live system): every disk, offered or refused with the reason, the least size, and the
/// install to disk under way or done.
async fn disks_get(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let (live, need, disks) = web::block(move || {
        let root = stackbox_machine::system::Root::at(st.wizard.root());
        (
            root.booted_live(),
            crate::wizard::disk::need_bytes(&root),
            crate::wizard::disk::choices(&root),
        )
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the disks' thread: {e}")))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "live": live,
        "need_bytes": need,
        "disks": disks,
        "install": state.wizard.disks.current(),
    })))
}

/// The install to disk as posted: the disk, its name typed again, and whether to reboot when done.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskInstall {
    target: String,
    confirm: String,
    #[serde(default = "reboot_default")]
    reboot: bool,
}

fn reboot_default() -> bool {
    true
}

async fn disk_install_post(
    state: web::Data<AppState>,
    post: AdminJson<DiskInstall>,
) -> Result<HttpResponse, WebError> {
    let form = crate::wizard::disk::DiskForm {
        target: post.body.target.clone(),
        confirm: post.body.confirm.clone(),
        reboot: if post.body.reboot { "on" } else { "" }.to_owned(),
    };
    let st = state.clone();
    let name = web::block(move || st.wizard.start_disk_install(&form))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the disks' thread: {e}")))??;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "target": name })))
}

async fn disk_install_get(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let progress = state.wizard.disks.current().ok_or(WebError::NotFound)?;
    Ok(HttpResponse::Ok().json(progress))
}

/// Everything the wizard has stored, in one document: the input the installer's cluster
/// configuration is made from (`null` for a step not done yet).
async fn config(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let answers = &state.wizard.answers;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "network": answers.network()?,
        "cluster": answers.cluster()?,
        "roles": answers.roles()?,
        "settings": answers.settings()?,
    })))
}

async fn plan(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let review = web::block(move || review(&st.wizard)).await??;
    Ok(HttpResponse::Ok().json(review))
}

async fn install_get(state: web::Data<AppState>, _: Admin) -> HttpResponse {
    HttpResponse::Ok().json(state.wizard.runner.progress())
}

/// The optional body of `POST /install`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInstall {
    /// Run a complete installation again (refused with 409 otherwise).
    #[serde(default)]
    pub reinstall: bool,
}

/// Starts the installation, or retries it after a failure: 202 with the progress. A complete one is
/// run again only with `{"reinstall": true}`.
async fn install_post(
    state: web::Data<AppState>,
    post: Checked<AdminAccess, OptionalJson<StartInstall>>,
) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let reinstall = post.body.0.reinstall;
    web::block(move || start_install(&st.wizard, reinstall)).await??;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, "/api/v1/install"))
        .json(state.wizard.runner.progress()))
}

/// Server-sent events: a `snapshot` of the whole progress first, then `step` and `log` events as they
/// happen, a new `snapshot` when the phase changes, and a comment every 15 s to keep the stream open.
async fn events(state: web::Data<AppState>, _: Admin) -> HttpResponse {
    let (progress, rx) = state.wizard.runner.subscribe();
    let first = sse(&Update::Snapshot(Box::new(progress)));
    let stream = futures::stream::unfold((Some(first), rx), |(first, mut rx)| async move {
        if let Some(text) = first {
            return Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(text)),
                (None, rx),
            ));
        }
        let text = match tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv()).await {
            Ok(Ok(update)) => sse(&update),
            // Missed updates: the browser catches up from a new snapshot.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                "event: resync\ndata: {}\n\n".to_owned()
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            Err(_) => ": keep-alive\n\n".to_owned(),
        };
        Some((Ok(web::Bytes::from(text)), (None, rx)))
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}

/// A progress update as a server-sent event: `event:` its name, `data:` its JSON.
pub fn sse(update: &Update) -> String {
    format!("event: {}\ndata: {}\n\n", update.name(), update.json())
}

/// The cluster's support bundle, every secret redacted (`stackboxd bundle`).
async fn support_bundle(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let bytes = web::block(move || st.wizard.support_bundle()).await??;
    Ok(crate::assets::archive(
        "stackbox-support-bundle.tar.gz",
        bytes,
    ))
}

/// The admin openrc, once (410 afterwards).
async fn openrc(state: web::Data<AppState>, _: AdminAction) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let text = web::block(move || take_openrc(&st.wizard)).await??;
    tracing::info!("admin credentials downloaded through the API");
    Ok(assets::openrc(text))
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
        .route("/disks", web::get().to(disks_get))
        .route("/disk/install", web::get().to(disk_install_get))
        .route("/disk/install", web::post().to(disk_install_post))
        .route("/network", web::get().to(network_get))
        .route("/network", web::put().to(network_put))
        .route("/cluster", web::get().to(cluster_get))
        .route("/cluster", web::post().to(cluster_post))
        .service(
            web::resource("/cluster/join")
                .app_data(
                    web::JsonConfig::default()
                        .limit(JOIN_BODY_LIMIT)
                        .error_handler(join_json_error),
                )
                .route(web::post().to(cluster_join)),
        )
        .service(
            web::resource("/cluster/precheck")
                .app_data(
                    web::JsonConfig::default()
                        .limit(JOIN_BODY_LIMIT)
                        .error_handler(join_json_error),
                )
                .route(web::post().to(cluster_precheck)),
        )
        .route("/cluster/members", web::get().to(cluster_members))
        .route(
            "/cluster/join-existing",
            web::post().to(cluster_join_existing),
        )
        .route("/cluster/code", web::post().to(cluster_code))
        .route("/cluster/nodes", web::get().to(cluster_nodes))
        .route("/cluster/nodes/{name}", web::put().to(cluster_node_put))
        .route(
            "/cluster/nodes/{name}",
            web::delete().to(cluster_node_delete),
        )
        .route("/cluster/grow", web::post().to(cluster_grow))
        .route("/cluster/operation", web::get().to(cluster_operation))
        .route("/cluster/status", web::get().to(cluster_status))
        .route("/diagnose", web::get().to(diagnose))
        .route(
            "/desk/port/{port}",
            web::get().to(crate::api_desk::desk_port),
        )
        .route(
            "/desk/restart",
            web::post().to(crate::api_desk::desk_restart),
        )
        .route("/cluster/config", web::get().to(cluster_config))
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
        .route("/support-bundle", web::get().to(support_bundle))
        .route("/openapi.json", web::get().to(openapi))
        .default_service(web::to(|req: actix_web::HttpRequest| async move {
            Err::<HttpResponse, _>(WebError::unrouted(
                req.method(),
                req.path(),
                "/api/v1",
                ROUTES,
            ))
        }));
}

/// Every (method, path) the API serves, for checking the OpenAPI document against the router.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/status"),
    ("get", "/session"),
    ("get", "/system"),
    ("get", "/hardware"),
    ("post", "/hardware/rerun"),
    ("get", "/disks"),
    ("get", "/disk/install"),
    ("post", "/disk/install"),
    ("get", "/network"),
    ("put", "/network"),
    ("get", "/cluster"),
    ("post", "/cluster"),
    ("post", "/cluster/join"),
    ("post", "/cluster/precheck"),
    ("get", "/cluster/members"),
    ("post", "/cluster/code"),
    ("post", "/cluster/join-existing"),
    ("get", "/cluster/nodes"),
    ("put", "/cluster/nodes/{name}"),
    ("delete", "/cluster/nodes/{name}"),
    ("post", "/cluster/grow"),
    ("get", "/cluster/operation"),
    ("get", "/cluster/status"),
    ("get", "/diagnose"),
    ("get", "/desk/port/{port}"),
    ("post", "/desk/restart"),
    ("get", "/cluster/config"),
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
    ("get", "/support-bundle"),
    ("get", "/openapi.json"),
];
