//! The last pages: review (the plan, the ports it opens and the files it writes), install (live
//! progress, the failed step with its remedy and a retry) and done (the smoke test's result, the
//! dashboard's link, the endpoints and the one-time admin credentials).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use stackbox_installer::flavor::openstack::endpoints::{Endpoint, dashboard_url, public_endpoints};
use stackbox_installer::flavor::openstack::smoke::MARKER;
use stackbox_installer::progress::{Phase, Progress};

use crate::assets;
use crate::chrome::{Admin, AdminForm, Chrome, CsrfOnly, PageError, html, redirect};
use crate::error::WebError;
use crate::session;
use crate::state::AppState;
use crate::wizard::finish::{ca_pem, openrc_taken, start_install, take_openrc};
use crate::wizard::review::{Review, review};

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
    /// When the run started and how long it ran, once it started.
    pub timing: Option<Timing>,
}

/// When an installation run started and how long it ran (or has been running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// The start, RFC 3339 (the `<time>` element's `datetime`).
    pub started: String,
    /// The start as the page says it: `14:02:27 UTC`.
    pub started_text: String,
    /// The start in seconds since the Unix epoch (the page's script counts on from it).
    pub since: u64,
    /// How long it ran, in words: `6 min 3 s`.
    pub elapsed: String,
    /// Whether it still runs.
    pub running: bool,
}

impl Timing {
    /// The timing of `p` as of `now` (seconds since the Unix epoch); none before a run.
    pub fn of(p: &Progress, now: u64) -> Option<Timing> {
        let since = p.started_at?;
        let start = time::OffsetDateTime::from_unix_timestamp(i64::try_from(since).ok()?).ok()?;
        let running = p.phase == Phase::Running;
        let end = match (running, p.ended_at) {
            (false, Some(end)) => end,
            _ => now,
        };
        Some(Timing {
            started: start
                .format(&time::format_description::well_known::Rfc3339)
                .ok()?,
            started_text: format!(
                "{:02}:{:02}:{:02} UTC",
                start.hour(),
                start.minute(),
                start.second()
            ),
            since,
            elapsed: duration_words(end.saturating_sub(since)),
            running,
        })
    }
}

/// `secs` in words: `45 s`, `6 min 3 s`, `1 h 2 min`.
pub fn duration_words(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Builds the install page for a progress.
pub fn install_page(p: Progress, csrf: &str) -> InstallPage {
    let (finished, total) = p.counts();
    let phase_text = match p.phase {
        Phase::Idle => "Not started.".to_owned(),
        Phase::Running => match p.running_step() {
            Some(s) => format!("Running {}: {}", s.name, s.title),
            None => "Running.".to_owned(),
        },
        Phase::Failed => {
            "Stopped at a failed step. Fix the cause and retry: done steps are not redone."
                .to_owned()
        }
        Phase::Complete => "Complete.".to_owned(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    InstallPage {
        c: Chrome::admin("Install", "install", csrf),
        timing: Timing::of(&p, now),
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
    /// The dashboard's URL (none in plan mode, which installed nothing).
    pub dashboard: Option<String>,
    /// Whether the credentials were downloaded already.
    pub openrc_taken: bool,
}

/// Builds the done page.
pub fn done_page(p: Progress, openrc_taken: bool, csrf: &str) -> DonePage {
    let smoke_passed = !p.plan_only && p.smoke.as_deref().is_some_and(|s| s.contains(MARKER));
    let endpoints = p.config.as_ref().map(public_endpoints).unwrap_or_default();
    let dashboard = p
        .config
        .as_ref()
        .filter(|_| !p.plan_only)
        .map(dashboard_url);
    DonePage {
        c: Chrome::admin("Done", "done", csrf),
        p,
        smoke_passed,
        endpoints,
        dashboard,
        openrc_taken,
    }
}

/// The review page: the plan for the stored answers, or which step is still to do.
pub async fn review_page(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let review = match web::block(move || review(&st.wizard)).await? {
        Ok(r) => Ok(r),
        Err(WebError::Conflict(m)) => Err(m),
        Err(e @ (WebError::StateConflict(_) | WebError::Rejected(_))) => Err(e.problem().detail),
        Err(e) => return Err(e.into()),
    };
    html(
        StatusCode::OK,
        &ReviewPage {
            c: Chrome::admin("Review", "review", s.csrf()),
            review,
            plan_only: state.wizard.runner.mode().plan_only(),
        },
    )
}

/// The install page: the progress, live with JavaScript, on reload without.
pub async fn install_view(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &install_page(state.wizard.runner.progress(), s.csrf()),
    )
}

/// Which part of the installation's log to download.
#[derive(Debug, serde::Deserialize)]
pub struct LogQuery {
    /// One step's id (`node1/keystone.db-sync`); the whole log without it.
    step: Option<String>,
}

/// The installation's log ([`stackbox_installer::install_log`]) as a download: whole, or one step's
/// lines (a step of this installation's plan, else 404).
pub async fn install_log(
    state: web::Data<AppState>,
    _: Admin,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, PageError> {
    let runner = &state.wizard.runner;
    let step = match &query.step {
        Some(id) if runner.progress().steps.iter().any(|s| &s.id == id) => Some(id.clone()),
        Some(_) => return Err(WebError::NotFound.into()),
        None => None,
    };
    let st = state.clone();
    let wanted = step.clone();
    let text = web::block(move || st.wizard.runner.log().read(wanted.as_deref()))
        .await?
        .map_err(|e| {
            WebError::Internal(anyhow::Error::new(e).context("reading the installation's log"))
        })?;
    // Step ids are the plan's own (`[a-z0-9./-]`): safe in a file name once `/` is replaced.
    let name = match &step {
        Some(id) => format!("stackbox-install-{}.log", id.replace('/', "_")),
        None => "stackbox-install.log".to_owned(),
    };
    Ok(assets::attachment("text/plain; charset=utf-8", &name, text))
}

/// The start form: the CSRF token and, for the first real start, the operator's confirmation.
#[derive(Debug, serde::Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

impl crate::chrome::CsrfField for StartForm {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Starts the installation (a first real start must be confirmed on the review page), or retries it.
pub async fn install_start(
    state: web::Data<AppState>,
    post: AdminForm<StartForm>,
) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    if !wizard.runner.mode().plan_only()
        && wizard.phase() == Phase::Idle
        && post.body.confirm != "yes"
    {
        return Err(WebError::Invalid(vec![crate::error::FieldError::new(
            "confirm",
            "confirm on the review page that the cloud is to be installed on this machine",
        )])
        .into());
    }
    let st = state.clone();
    // The pages never run a complete installation again; the API does, when asked explicitly.
    web::block(move || start_install(&st.wizard, false)).await??;
    Ok(redirect("/install"))
}

/// The done page: the smoke test's result, the endpoints and the credentials' download.
pub async fn done_view(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    html(
        StatusCode::OK,
        &done_page(wizard.runner.progress(), openrc_taken(wizard), s.csrf()),
    )
}

/// The admin openrc, once.
pub async fn openrc_download(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: AdminForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let text = web::block(move || take_openrc(&st.wizard)).await??;
    tracing::info!(
        "admin credentials downloaded by {}",
        session::client_ip(&req)
            .map(|ip| ip.to_string())
            .unwrap_or_default()
    );
    Ok(assets::openrc(text))
}

/// The answers as an answer file (secrets left out), for installing the next machines the same way.
pub async fn answers_download(
    state: web::Data<AppState>,
    _: Admin,
) -> Result<HttpResponse, PageError> {
    let text = state.wizard.answer_file()?;
    Ok(assets::attachment(
        "application/toml; charset=utf-8",
        "answers.toml",
        text,
    ))
}

/// The cluster CA certificate, once the installation made it.
pub async fn ca_download(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, PageError> {
    let pem = ca_pem(&state.wizard)?;
    Ok(assets::attachment(
        "application/x-pem-file",
        "stackbox-ca.pem",
        pem,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timing_says_when_a_run_started_and_how_long_it_ran() {
        let mut p = Progress::idle(true);
        assert_eq!(Timing::of(&p, 1_000), None, "nothing ran yet");
        // 2026-12-02 14:02:27 UTC.
        let start = 1_796_220_147;
        p.started_at = Some(start);
        p.phase = Phase::Running;
        let t = Timing::of(&p, start + 363).unwrap();
        assert_eq!(t.started_text, "14:02:27 UTC");
        assert_eq!(t.started, "2026-12-02T14:02:27Z");
        assert_eq!((t.elapsed.as_str(), t.running), ("6 min 3 s", true));
        // Ended: the run's own length, whenever the page is drawn.
        p.phase = Phase::Complete;
        p.ended_at = Some(start + 45);
        let t = Timing::of(&p, start + 99_999).unwrap();
        assert_eq!((t.elapsed.as_str(), t.running), ("45 s", false));
        // A clock that went back never shows a negative time.
        p.phase = Phase::Running;
        assert_eq!(Timing::of(&p, start - 10).unwrap().elapsed, "0 s");
        assert_eq!(duration_words(3_725), "1 h 2 min");
    }
}
