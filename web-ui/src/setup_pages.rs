//! The pages of the steps after the cluster: the node's roles (checked against the hardware profile as
//! they are chosen) and the cloud's settings (flavor, overcommit ratios). The logic both pages and the
//! API use lives here too.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use stackbox_firstboot::check::Report;

use crate::app;
use crate::auth::Access;
use crate::error::{FieldError, WebError};
use crate::pages::{Chrome, PageError, html};
use crate::roles::{self, RoleAssignment, Settings, SettingsForm};
use crate::state::AppState;

/// What became of a choice of roles.
#[derive(Debug)]
pub enum RolesOutcome {
    /// Stored; the report may carry warnings.
    Saved(RoleAssignment, Report),
    /// Refused and not stored: the reasons, and the report when the roles were known.
    Refused(Vec<FieldError>, Option<Report>),
}

/// Judges and, when the hardware can carry them, stores this node's roles. The cluster must exist.
pub fn assign_roles(state: &AppState, chosen: &[String]) -> Result<RolesOutcome, WebError> {
    state.answers_may_change()?;
    let cluster = state.cluster()?.ok_or_else(|| {
        WebError::Conflict("create the cluster before assigning roles".to_owned())
    })?;
    let profile = state
        .catalog
        .profile(&state.opts.profile)
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the wizard's profile: {e}")))?;
    let facts = state.report().facts.clone();
    match roles::judge_roles(chosen, &state.catalog, profile, &facts) {
        Err(errors) => Ok(RolesOutcome::Refused(errors, None)),
        Ok((roles, report)) => {
            let failed = roles::failures(&report);
            if !failed.is_empty() {
                return Ok(RolesOutcome::Refused(failed, Some(report)));
            }
            let assignment = RoleAssignment {
                node: cluster.members.first().cloned().unwrap_or_default(),
                roles,
            };
            state.set_roles(&assignment)?;
            Ok(RolesOutcome::Saved(assignment, report))
        }
    }
}

/// One role as the page shows it.
#[derive(Debug, Clone)]
pub struct RoleView {
    /// The role's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its minimum resources, in words.
    pub needs: String,
    /// The ports it opens.
    pub ports: String,
    /// Whether it is chosen.
    pub chosen: bool,
}

/// The roles page.
#[derive(Template)]
#[template(path = "roles.html")]
pub struct RolesPage {
    /// Layout.
    pub c: Chrome,
    /// Whether the cluster exists.
    pub cluster_set: bool,
    /// The node's name.
    pub node: String,
    /// The node's facts in a line.
    pub facts: String,
    /// Every role.
    pub roles: Vec<RoleView>,
    /// The judgement of the current choice.
    pub report: Option<Report>,
    /// Why the choice was refused.
    pub errors: Vec<FieldError>,
    /// Whether the shown choice is stored.
    pub saved: bool,
}

/// Builds the roles page for a choice.
pub fn roles_page(
    state: &AppState,
    csrf: &str,
    chosen: &[String],
    report: Option<Report>,
    errors: Vec<FieldError>,
    saved: bool,
) -> Result<RolesPage, WebError> {
    let cluster = state.cluster()?;
    let hw: Arc<Report> = state.report();
    let f = &hw.facts;
    let roles = state
        .catalog
        .roles()
        .values()
        .map(|r| RoleView {
            name: r.name.clone(),
            description: r.description.trim_end_matches('.').to_owned() + ".",
            needs: format!(
                "{}, {} GiB memory, {} GB disk, {}{}",
                plural(r.vcpus.min as usize, "vCPU"),
                r.memory_gb.min,
                r.disk_gb.min,
                plural(r.nics.min as usize, "NIC"),
                if r.virtualization { ", VT-x/AMD-V" } else { "" }
            ),
            ports: r
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, p.protocol))
                .collect::<Vec<_>>()
                .join(", "),
            chosen: chosen.contains(&r.name),
        })
        .collect();
    Ok(RolesPage {
        c: Chrome::admin("Roles", "roles", csrf),
        cluster_set: cluster.is_some(),
        node: cluster
            .and_then(|c| c.members.first().cloned())
            .unwrap_or_default(),
        facts: format!(
            "{}, {:.1} GiB memory, {}, {} (profile {})",
            plural(f.cpu.online as usize, "online CPU"),
            f.memory_bytes as f64 / (1u64 << 30) as f64,
            plural(f.disks.len(), "disk"),
            plural(f.nics.iter().filter(|n| n.is_uplink()).count(), "NIC"),
            hw.profile
        ),
        roles,
        report,
        errors,
        saved,
    })
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

async fn roles_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let (chosen, report, saved) = match state.roles()? {
        Some(stored) => {
            let profile = state
                .catalog
                .profile(&state.opts.profile)
                .map_err(|e| WebError::Internal(anyhow::anyhow!("the wizard's profile: {e}")))?;
            let report = roles::judge_roles(
                &stored.roles,
                &state.catalog,
                profile,
                &state.report().facts,
            )
            .ok()
            .map(|(_, r)| r);
            (stored.roles, report, true)
        }
        None => (state.report().roles.clone(), None, false),
    };
    html(
        StatusCode::OK,
        &roles_page(&state, &s.csrf, &chosen, report, Vec::new(), saved)?,
    )
}

async fn roles_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    pairs: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    app::check_csrf(&s, csrf)?;
    let chosen: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.clone())
        .collect();
    match assign_roles(&state, &chosen)? {
        RolesOutcome::Saved(a, report) => html(
            StatusCode::OK,
            &roles_page(&state, &s.csrf, &a.roles, Some(report), Vec::new(), true)?,
        ),
        RolesOutcome::Refused(errors, report) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &roles_page(&state, &s.csrf, &chosen, report, errors, false)?,
        ),
    }
}

/// The settings page.
#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    /// Layout.
    pub c: Chrome,
    /// The form's values.
    pub form: SettingsForm,
    /// What was wrong with the submission.
    pub errors: Vec<FieldError>,
    /// Whether stored settings are shown.
    pub saved: bool,
    /// The largest CPU ratio.
    pub cpu_max: f64,
    /// The largest RAM ratio.
    pub ram_max: f64,
    /// The largest disk ratio.
    pub disk_max: f64,
}

impl SettingsPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// Builds the settings page.
pub fn settings_page(
    csrf: &str,
    form: SettingsForm,
    errors: Vec<FieldError>,
    saved: bool,
) -> SettingsPage {
    SettingsPage {
        c: Chrome::admin("Settings", "settings", csrf),
        form,
        errors,
        saved,
        cpu_max: roles::CPU_RATIO_MAX,
        ram_max: roles::RAM_RATIO_MAX,
        disk_max: roles::DISK_RATIO_MAX,
    }
}

/// Validates and stores the settings; the roles must be assigned first.
pub fn store_settings(state: &AppState, form: &SettingsForm) -> Result<Settings, WebError> {
    state.answers_may_change()?;
    if state.roles()?.is_none() {
        return Err(WebError::Conflict(
            "assign the node's roles before the settings".to_owned(),
        ));
    }
    let settings = roles::validate_settings(form).map_err(WebError::Invalid)?;
    state.set_settings(&settings)?;
    Ok(settings)
}

async fn settings_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let (form, saved) = match state.settings()? {
        Some(stored) => (SettingsForm::from_settings(&stored), true),
        None => (SettingsForm::defaults(), false),
    };
    html(
        StatusCode::OK,
        &settings_page(&s.csrf, form, Vec::new(), saved),
    )
}

/// The settings form as posted.
#[derive(serde::Deserialize)]
pub struct SettingsPost {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: SettingsForm,
}

async fn settings_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: web::Form<SettingsPost>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    app::check_csrf(&s, Some(&post.csrf))?;
    let form = post.into_inner().form;
    match store_settings(&state, &form) {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/settings"))
            .finish()),
        Err(WebError::Invalid(errors)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &settings_page(&s.csrf, form, errors, false),
        ),
        Err(e) => Err(e.into()),
    }
}

/// Registers the roles and settings pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(roles_form))
        .route("/roles", web::post().to(roles_submit))
        .route("/settings", web::get().to(settings_form))
        .route("/settings", web::post().to(settings_submit));
}
