//! The last steps of the wizard: review (the plan, the ports it opens and the files it writes), install
//! (live progress, the failed step with its remedy and a retry) and done (the smoke test's result, the
//! endpoints and the one-time admin credentials). The logic the API shares lives here too.

use std::io::Write as _;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Serialize;
use stackbox_firstboot::system::Root;
use stackbox_hardware_profiles::Flavor;
use stackbox_installer::ClusterConfig;
use stackbox_installer::flavor::openstack::endpoints::{
    Endpoint, admin_openrc, api_host, public_endpoints,
};
use stackbox_installer::flavor::openstack::smoke::MARKER;
use stackbox_installer::plan::Action;

use crate::app;
use crate::auth::Access;
use crate::error::WebError;
use crate::install::{Phase, Progress};
use crate::network::Addressing;
use crate::pages::{Chrome, CsrfOnly, PageError, html};
use crate::state::AppState;

/// The marker that the one-time credentials download happened.
pub const OPENRC_TAKEN: &str = "openrc.downloaded";
/// Where the cluster's CA certificate is on the appliance.
pub const CA_FILE: &str = "/etc/stackbox/ca.pem";
/// Where the openrc file expects the CA on the operator's machine.
pub const CA_ON_CLIENT: &str = "$HOME/stackbox-ca.pem";

/// A port the installation opens.
#[derive(Debug, Clone, Serialize)]
pub struct PortView {
    /// `5000/tcp`.
    pub port: String,
    /// The role that opens it.
    pub role: String,
    /// What listens there.
    pub purpose: String,
}

/// A step as the review lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// `keystone.db-sync`.
    pub name: String,
    /// What it does.
    pub title: String,
}

/// A file the installation writes.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    /// Its path.
    pub path: String,
    /// Its mode, in octal.
    pub mode: String,
    /// The step that writes it.
    pub step: String,
}

/// What the review page and `GET /api/v1/plan` show: the configuration and this node's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The installer's configuration made from the answers.
    pub config: ClusterConfig,
    /// This node's name.
    pub node: String,
    /// Its management address.
    pub address: String,
    /// `OpenStack`.
    pub flavor: &'static str,
    /// The data plane in words.
    pub data_plane: String,
    /// The roles, comma-separated.
    pub roles: String,
    /// The overcommit ratios in words.
    pub overcommit: String,
    /// Where the endpoints answer.
    pub api_host: String,
    /// Answers this version keeps but does not apply (bridge, VLAN, MTU), in words.
    pub not_applied: String,
    /// The installer's warnings about the configuration.
    pub warnings: Vec<String>,
    /// Ports that will open.
    pub ports: Vec<PortView>,
    /// This node's steps, in order.
    pub steps: Vec<StepView>,
    /// Files that will change.
    pub files: Vec<FileView>,
}

/// Builds the review from the stored answers: the configuration, validated, and the plan for this
/// machine. Blocking (the hardware probes).
pub fn review(state: &AppState) -> Result<Review, WebError> {
    let config = state.cluster_config()?;
    let answers = state.answers()?;
    let facts = stackbox_installer::local_facts(&config, &Root::at(&state.opts.root));
    let plan = stackbox_installer::build_plan(&config, &state.catalog, &facts)
        .map_err(|e| WebError::Conflict(e.to_string()))?;
    let node = config
        .nodes
        .first()
        .cloned()
        .ok_or_else(|| WebError::Conflict("the configuration has no node".to_owned()))?;
    let mut ports = Vec::new();
    for role in &node.roles {
        if let Some(r) = state.catalog.roles().get(role) {
            for p in &r.ports {
                // The management role lists CloudStack's ports too; this installs OpenStack.
                if p.flavor.is_some_and(|f| f != Flavor::Openstack) {
                    continue;
                }
                ports.push(PortView {
                    port: format!("{}/{}", p.port, p.protocol),
                    role: role.clone(),
                    purpose: p.purpose.clone(),
                });
            }
        }
    }
    let mut files = Vec::new();
    let mut steps = Vec::new();
    for s in plan.for_node(&node.name) {
        steps.push(StepView {
            name: s.name.clone(),
            title: s.title.clone(),
        });
        if let Action::Files { files: fs } = &s.action {
            files.extend(fs.iter().map(|f| FileView {
                path: f.path.clone(),
                mode: format!("{:04o}", f.mode),
                step: s.name.clone(),
            }));
        }
    }
    let net = &answers.network;
    let mut not_applied = Vec::new();
    if !net.bridge.is_empty() {
        not_applied.push(format!("management bridge {}", net.bridge));
    }
    if let Some(vlan) = net.vlan {
        not_applied.push(format!("VLAN {vlan}"));
    }
    not_applied.push(format!("MTU {}", net.mtu));
    if let Addressing::Static {
        address, gateway, ..
    } = &net.addressing
    {
        not_applied.push(format!("static address {address} via {gateway}"));
    }
    let data_plane = match (&node.data_address, &config.networks.data_cidr) {
        (Some(ip), Some(cidr)) => format!(
            "VXLAN {}-{} over {} ({ip} in {cidr})",
            config.networks.vxlan.first, config.networks.vxlan.last, config.networks.data_nic
        ),
        _ => format!(
            "VXLAN {}-{} over the management address ({} has no address of its own)",
            config.networks.vxlan.first, config.networks.vxlan.last, config.networks.data_nic
        ),
    };
    let o = config.overcommit;
    Ok(Review {
        node: node.name.clone(),
        address: node.address.to_string(),
        flavor: "OpenStack",
        data_plane,
        roles: node.roles.join(", "),
        overcommit: format!("CPU {:?}, memory {:?}, disk {:?}", o.cpu, o.ram, o.disk),
        api_host: api_host(&config),
        not_applied: not_applied.join(", "),
        warnings: config
            .validate(&state.catalog)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect(),
        ports,
        steps,
        files,
        config,
    })
}

/// Starts the installation, or retries it after a failure (the journal resumes it). Blocking (the
/// configuration is written and planned first).
pub fn start_install(state: &AppState) -> Result<(), WebError> {
    if state.installer.progress().phase == Phase::Running {
        return Err(WebError::Conflict(
            "the installation is already running".to_owned(),
        ));
    }
    let config = state.cluster_config()?;
    let prepared = state.installer.prepare(&config, &state.opts.root)?;
    tracing::info!(
        "installation started{}",
        if state.installer.mode().plan_only() {
            " in plan mode"
        } else {
            ""
        }
    );
    state.installer.start(prepared)
}

/// The admin openrc, once: the first call after a complete installation returns it and marks it taken
/// (mode 0600 marker in the state directory); every later call is `Gone`.
pub fn take_openrc(state: &AppState) -> Result<String, WebError> {
    let progress = state.installer.progress();
    if progress.phase != Phase::Complete {
        return Err(WebError::Conflict(
            "the admin credentials are offered once the installation is complete".to_owned(),
        ));
    }
    let config = progress
        .config
        .ok_or_else(|| WebError::Conflict("the installation has no configuration".to_owned()))?;
    let (_, secrets_path, _) = state.installer.mode().paths(&state.opts.state_dir);
    // The installation made the secrets: never make new ones here, which would hand out a password the
    // cloud never had (and overwrite nothing the cloud uses).
    if !secrets_path.exists() {
        return Err(WebError::Conflict(format!(
            "the secrets file {} is missing: the admin password cannot be read",
            secrets_path.display()
        )));
    }
    let secrets = stackbox_installer::secrets::Secrets::load_or_generate(&secrets_path)
        .map_err(|e| WebError::Internal(anyhow::anyhow!("reading the secrets: {e}")))?;
    let password = secrets
        .get("admin")
        .ok_or_else(|| WebError::Internal(anyhow::anyhow!("the secrets have no admin password")))?;
    let marker = state.opts.state_dir.join(OPENRC_TAKEN);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_0600()
        .open(&marker)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => WebError::Gone(
                "the admin credentials were downloaded already; they are offered once (the \
                 appliance's /etc/stackbox/secrets.toml holds them)"
                    .to_owned(),
            ),
            _ => WebError::Internal(anyhow::anyhow!("marking the credentials taken: {e}")),
        })?;
    let _ = writeln!(file, "downloaded");
    Ok(admin_openrc(&config, password.expose(), CA_ON_CLIENT))
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// The review page.
#[derive(Template)]
#[template(path = "review.html")]
pub struct ReviewPage {
    /// Layout.
    pub c: Chrome,
    /// The review, or why there is none yet.
    pub review: Result<Review, String>,
    /// Whether this is plan mode.
    pub plan_only: bool,
}

/// The install page.
#[derive(Template)]
#[template(path = "install.html")]
pub struct InstallPage {
    /// Layout.
    pub c: Chrome,
    /// The progress.
    pub p: Progress,
    /// The phase in words.
    pub phase_text: String,
    /// Steps done or skipped.
    pub finished: usize,
    /// Steps in all.
    pub total: usize,
}

/// Builds the install page for a progress.
pub fn install_page(p: Progress, csrf: &str) -> InstallPage {
    let (finished, total) = p.counts();
    let phase_text = match p.phase {
        Phase::Idle => "Not started.".to_owned(),
        Phase::Running => match p
            .steps
            .iter()
            .find(|s| s.status == crate::install::StepStatus::Running)
        {
            Some(s) => format!("Running {}: {}", s.name, s.title),
            None => "Running.".to_owned(),
        },
        Phase::Failed => {
            "Stopped at a failed step. Fix the cause and retry: done steps are not redone."
                .to_owned()
        }
        Phase::Complete => "Complete.".to_owned(),
    };
    InstallPage {
        c: Chrome::admin("Install", "install", csrf),
        p,
        phase_text,
        finished,
        total,
    }
}

/// The done page.
#[derive(Template)]
#[template(path = "done.html")]
pub struct DonePage {
    /// Layout.
    pub c: Chrome,
    /// The progress.
    pub p: Progress,
    /// Whether the smoke report carries the smoke test's success marker.
    pub smoke_passed: bool,
    /// The cloud's endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Whether the credentials were downloaded already.
    pub openrc_taken: bool,
}

/// Builds the done page.
pub fn done_page(p: Progress, openrc_taken: bool, csrf: &str) -> DonePage {
    let smoke_passed = !p.plan_only && p.smoke.as_deref().is_some_and(|s| s.contains(MARKER));
    let endpoints = p.config.as_ref().map(public_endpoints).unwrap_or_default();
    DonePage {
        c: Chrome::admin("Done", "done", csrf),
        p,
        smoke_passed,
        endpoints,
        openrc_taken,
    }
}

fn blocking_error(e: actix_web::error::BlockingError) -> WebError {
    WebError::Internal(anyhow::anyhow!("a background task failed: {e}"))
}

async fn review_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let st = state.clone();
    let review = match web::block(move || review(&st))
        .await
        .map_err(blocking_error)?
    {
        Ok(r) => Ok(r),
        Err(WebError::Conflict(m)) => Err(m),
        Err(e) => return Err(e.into()),
    };
    html(
        StatusCode::OK,
        &ReviewPage {
            c: Chrome::admin("Review", "review", &s.csrf),
            review,
            plan_only: state.installer.mode().plan_only(),
        },
    )
}

async fn install_view(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    html(
        StatusCode::OK,
        &install_page(state.installer.progress(), &s.csrf),
    )
}

async fn install_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    app::check_csrf(&s, Some(form.token()))?;
    let st = state.clone();
    web::block(move || start_install(&st))
        .await
        .map_err(blocking_error)??;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/install"))
        .finish())
}

async fn done_view(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let taken = state.opts.state_dir.join(OPENRC_TAKEN).exists();
    html(
        StatusCode::OK,
        &done_page(state.installer.progress(), taken, &s.csrf),
    )
}

/// The openrc file as an attachment.
pub fn openrc_response(text: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"admin-openrc.sh\"",
        ))
        .body(text)
}

async fn openrc_download(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    app::check_csrf(&s, Some(form.token()))?;
    let st = state.clone();
    let text = web::block(move || take_openrc(&st))
        .await
        .map_err(blocking_error)??;
    tracing::info!(
        "admin credentials downloaded by {}",
        app::client_ip(&req)
            .map(|ip| ip.to_string())
            .unwrap_or_default()
    );
    Ok(openrc_response(text))
}

/// The cluster CA certificate (public), once the installation made it.
pub fn ca_pem(state: &AppState) -> Result<String, WebError> {
    if state.installer.mode().plan_only() {
        return Err(WebError::Conflict(
            "plan mode made no certificate authority".to_owned(),
        ));
    }
    std::fs::read_to_string(CA_FILE).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => WebError::NotFound,
        _ => WebError::Internal(anyhow::anyhow!("reading {CA_FILE}: {e}")),
    })
}

async fn ca_download(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    app::require(&req, &state, Access::Admin)?;
    let pem = ca_pem(&state)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/x-pem-file"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"stackbox-ca.pem\"",
        ))
        .body(pem))
}

/// Registers the review, install and done pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/review", web::get().to(review_page))
        .route("/install", web::get().to(install_view))
        .route("/install", web::post().to(install_start))
        .route("/done", web::get().to(done_view))
        .route("/done/openrc", web::post().to(openrc_download))
        .route("/done/ca.pem", web::get().to(ca_download));
}
