//! The steps after the cluster: the node's roles (judged against the hardware profile as they are
//! chosen) and the cloud's settings (flavor, overcommit ratios).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use stackbox_firstboot::check::Report;
use stackbox_machine::probe::Facts;

use crate::answers::roles::{self, SettingsForm};
use crate::chrome::{Admin, AdminForm, Chrome, CsrfField, PageError, field_error, html, redirect};
use crate::error::{FieldError, WebError};
use crate::state::AppState;
use crate::wizard::{RolesOutcome, Wizard};

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
    /// Whether it is this node (else a node that joined it).
    pub own: bool,
    /// Where the form posts.
    pub action: String,
    /// Where to go once saved, and the link's words.
    pub next: (String, String),
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

/// Whose roles a roles page shows: this node's, or a node's that joined it.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The node's name (empty before the cluster exists).
    pub node: String,
    /// Its hardware in a line.
    pub facts: String,
    /// Whether it is this node.
    pub own: bool,
}

impl Subject {
    /// This node, as the wizard's hardware report has it.
    pub fn own(wizard: &Wizard) -> Result<Subject, WebError> {
        let hw: Arc<Report> = wizard.report();
        Ok(Subject {
            node: wizard
                .answers
                .cluster()?
                .and_then(|c| c.members.first().cloned())
                .unwrap_or_default(),
            facts: format!("{} (profile {})", facts_line(&hw.facts), hw.profile),
            own: true,
        })
    }
}

/// A machine's hardware in a line: CPUs, memory, disks, NICs.
pub fn facts_line(f: &Facts) -> String {
    format!(
        "{}, {:.1} GiB memory, {}, {}",
        plural(f.cpu.online as usize, "online CPU"),
        f.memory_bytes as f64 / (1u64 << 30) as f64,
        plural(f.disks.len(), "disk"),
        plural(f.nics.iter().filter(|n| n.is_uplink()).count(), "NIC"),
    )
}

/// Builds the roles page for a choice.
pub fn roles_page(
    wizard: &Wizard,
    csrf: &str,
    subject: Subject,
    chosen: &[String],
    report: Option<Report>,
    errors: Vec<FieldError>,
    saved: bool,
) -> Result<RolesPage, WebError> {
    let cluster = wizard.answers.cluster()?;
    let roles = wizard
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
    let (c, action, next) = if subject.own {
        (
            Chrome::admin("Roles", "roles", csrf),
            "/roles".to_owned(),
            ("/settings".to_owned(), "Next: settings".to_owned()),
        )
    } else {
        (
            Chrome::admin("Roles of a joined node", "cluster", csrf),
            format!("/cluster/nodes/{}", subject.node),
            ("/cluster".to_owned(), "Back to the cluster".to_owned()),
        )
    };
    Ok(RolesPage {
        c,
        cluster_set: cluster.is_some(),
        node: subject.node,
        own: subject.own,
        action,
        next,
        facts: subject.facts,
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

/// The roles page: the stored choice with its judgement, else the profile's default roles.
pub async fn roles_form(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    let (chosen, report, saved) = match wizard.answers.roles()? {
        Some(stored) => {
            let report = wizard.judge_roles(&stored.roles)?.ok().map(|(_, r)| r);
            (stored.roles, report, true)
        }
        None => (wizard.report().roles.clone(), None, false),
    };
    html(
        StatusCode::OK,
        &roles_page(
            wizard,
            s.csrf(),
            Subject::own(wizard)?,
            &chosen,
            report,
            Vec::new(),
            saved,
        )?,
    )
}

/// The roles a roles form chose (its `role` fields).
pub fn chosen_roles(form: &[(String, String)]) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.clone())
        .collect()
}

/// The roles page after a choice was judged: saved (200, with its report) or refused (422, the choice
/// shown back with what is wrong).
pub fn outcome_page(
    wizard: &Wizard,
    csrf: &str,
    subject: Subject,
    chosen: &[String],
    outcome: RolesOutcome,
) -> Result<HttpResponse, PageError> {
    match outcome {
        RolesOutcome::Saved(a, report) => html(
            StatusCode::OK,
            &roles_page(
                wizard,
                csrf,
                subject,
                &a.roles,
                Some(report),
                Vec::new(),
                true,
            )?,
        ),
        RolesOutcome::Refused(errors, report) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &roles_page(wizard, csrf, subject, chosen, report, errors, false)?,
        ),
    }
}

/// Judges the chosen roles and stores them when the hardware can carry them.
pub async fn roles_submit(
    state: web::Data<AppState>,
    post: AdminForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    let chosen = chosen_roles(&post.body);
    let outcome = wizard.assign_roles(&chosen)?;
    outcome_page(wizard, post.csrf(), Subject::own(wizard)?, &chosen, outcome)
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
        field_error(&self.errors, field)
    }

    fn inv(&self, field: &str) -> String {
        crate::chrome::invalid_attrs(&self.errors, field)
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

/// The settings page: the stored settings, else Nova's defaults.
pub async fn settings_form(
    state: web::Data<AppState>,
    s: Admin,
) -> Result<HttpResponse, PageError> {
    let (form, saved) = match state.wizard.answers.settings()? {
        Some(stored) => (SettingsForm::from_settings(&stored), true),
        None => (SettingsForm::defaults(), false),
    };
    html(
        StatusCode::OK,
        &settings_page(s.csrf(), form, Vec::new(), saved),
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

impl CsrfField for SettingsPost {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Stores valid settings, or shows the form again with what is wrong.
pub async fn settings_submit(
    state: web::Data<AppState>,
    post: AdminForm<SettingsPost>,
) -> Result<HttpResponse, PageError> {
    let csrf = post.csrf().to_owned();
    let form = post.body.into_inner().form;
    match state.wizard.store_settings(&form) {
        Ok(_) => Ok(redirect("/settings")),
        Err(WebError::Invalid(errors)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &settings_page(&csrf, form, errors, false),
        ),
        Err(e) => Err(e.into()),
    }
}
