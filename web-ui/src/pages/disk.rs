//! The Disk step (`/disk`), after the hardware report on a system that runs live: every disk with its size,
//! model, kind, attachment and what it holds now, the refused ones with the reason; the operator picks one
//! and types its name to confirm that it is erased; then the install's progress (it reloads itself every
//! 5 s while it runs, with no JavaScript) and, when done, what to do: remove the stick, reboot (or the
//! system reboots by itself). An installed system says so and points on. The flow is
//! [`crate::wizard::disk`]'s.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use stackbox_machine::system::Root;

use crate::chrome::{Admin, AdminForm, Chrome, CsrfField, PageError, field_error, html, redirect};
use crate::error::{FieldError, WebError};
use crate::state::AppState;
use crate::wizard::disk::{self, DiskChoice, DiskForm, DiskProgress, PHASES};

/// The Disk page.
#[derive(Template)]
#[template(path = "disk.html")]
pub struct DiskPage {
    /// Layout.
    pub c: Chrome,
    /// Whether the system runs live.
    pub live: bool,
    /// The disks, offered or refused.
    pub disks: Vec<DiskChoice>,
    /// The install under way or done.
    pub progress: Option<DiskProgress>,
    /// Whether it runs (the page reloads itself).
    pub running: bool,
    /// The form's values.
    pub form: DiskForm,
    /// What was wrong with the submission.
    pub errors: Vec<FieldError>,
    /// How many phases an install has.
    pub phases: usize,
    /// The least disk size, in GB.
    pub need_gb: String,
}

impl DiskPage {
    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }

    fn inv(&self, field: &str) -> String {
        crate::chrome::invalid_attrs(&self.errors, field)
    }

    fn size(&self, d: &DiskChoice) -> String {
        format!("{:.1} GB", d.size_bytes as f64 / 1e9)
    }

    fn verified(&self, p: &DiskProgress) -> String {
        let (done, total) = p.verified;
        format!("{} of {} MB", done >> 20, total >> 20)
    }
}

fn page(state: &AppState, form: DiskForm, errors: Vec<FieldError>, csrf: &str) -> DiskPage {
    let root = Root::at(state.wizard.root());
    let progress = state.wizard.disks.current();
    DiskPage {
        c: Chrome::admin("Disk", "disk", csrf),
        live: root.booted_live(),
        disks: disk::choices(&root),
        running: progress.as_ref().is_some_and(|p| !p.done),
        progress,
        form: DiskForm {
            reboot: if form.reboot.is_empty() && errors.is_empty() {
                "on".to_owned()
            } else {
                form.reboot
            },
            ..form
        },
        errors,
        phases: PHASES,
        need_gb: format!("{:.1}", disk::need_bytes(&root) as f64 / 1e9),
    }
}

/// The Disk page: the disks, or the install's progress.
pub async fn disk_view(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    let csrf = s.csrf().to_owned();
    let st = state.clone();
    let p = web::block(move || page(&st, DiskForm::default(), Vec::new(), &csrf))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("the disks' thread: {e}")))?;
    html(StatusCode::OK, &p)
}

/// The Disk form as posted.
#[derive(Deserialize)]
pub struct DiskPost {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: DiskForm,
}

impl CsrfField for DiskPost {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Starts the install to the chosen disk, or shows the form again with what is wrong.
pub async fn disk_submit(
    state: web::Data<AppState>,
    post: AdminForm<DiskPost>,
) -> Result<HttpResponse, PageError> {
    let csrf = post.csrf().to_owned();
    let form = post.body.into_inner().form;
    let st = state.clone();
    let outcome = web::block(move || match st.wizard.start_disk_install(&form) {
        Ok(_) => Ok(None),
        Err(WebError::Invalid(errors)) => Ok(Some(page(&st, form, errors, &csrf))),
        Err(e) => Err(e),
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the disks' thread: {e}")))??;
    match outcome {
        None => Ok(redirect("/disk")),
        Some(p) => html(StatusCode::UNPROCESSABLE_ENTITY, &p),
    }
}
