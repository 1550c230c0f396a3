//! The server-rendered pages (askama): sign-in, admin password, hardware report, network and cluster.
//! Every form works without JavaScript and carries the session's CSRF token; bad input is shown back,
//! escaped, with a message beside its field, and nothing is stored.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;
use stackbox_firstboot::check::{Report, Status};

use crate::app::{self, Lookup};
use crate::auth::{self, Access, PASSWORD_MIN_CHARS, PasswordStore};
use crate::error::{FieldError, WebError};
use crate::network::{self, NetworkForm};
use crate::state::{AppState, BODY_LIMIT, ClusterSettings};

/// A [`WebError`] answered as a page: no session sends the browser to the sign-in page, a setup-token
/// session to the password page, anything else is an HTML error page with the same status.
#[derive(Debug)]
pub struct PageError(pub WebError);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<WebError> for PageError {
    fn from(e: WebError) -> PageError {
        PageError(e)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> PageError {
        PageError(WebError::Internal(e))
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            WebError::Unauthenticated | WebError::SessionExpired | WebError::PasswordNotSet => {
                StatusCode::SEE_OTHER
            }
            ref e => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            WebError::Unauthenticated => return redirect("/login"),
            WebError::SessionExpired => {
                let mut r = redirect("/login?expired");
                let _ = r.add_cookie(&app::removal_cookie());
                return r;
            }
            WebError::PasswordNotSet => return redirect("/set-password"),
            WebError::Internal(e) => tracing::error!("wizard page failed: {e:#}"),
            _ => {}
        }
        let problem = self.0.problem();
        let page = ErrorPage {
            c: Chrome::public("Error"),
            title: problem.title,
            detail: problem.detail,
            errors: problem.errors,
            back: if matches!(self.0, WebError::Csrf | WebError::LockedOut { .. }) {
                "/login"
            } else {
                "/"
            },
        };
        let mut resp = HttpResponse::build(self.0.status_code());
        resp.content_type("text/html; charset=utf-8");
        if let WebError::LockedOut { retry_after_secs } = self.0 {
            resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        resp.body(page.render().unwrap_or_else(|_| problem.title.to_owned()))
    }
}

/// Turns a form-body error into a page error: 413 past the limit, else 400.
pub fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::UrlencodedError as E;
    match err {
        E::Overflow { .. } => PageError(WebError::PayloadTooLarge { limit: BODY_LIMIT }).into(),
        other => PageError(WebError::BadRequest(other.to_string())).into(),
    }
}

/// The parts of the layout every page shares.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's title.
    pub title: &'static str,
    /// Whether the step navigation and sign-out are shown (signed in as the admin).
    pub nav: bool,
    /// The session's CSRF token for the forms.
    pub csrf: String,
    /// The current step, highlighted in the navigation.
    pub step: &'static str,
    /// The wizard's version.
    pub version: &'static str,
}

impl Chrome {
    /// The layout of a page seen before signing in as the admin.
    pub fn public(title: &'static str) -> Chrome {
        Chrome {
            title,
            nav: false,
            csrf: String::new(),
            step: "",
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The layout of a signed-in admin's page.
    pub fn admin(title: &'static str, step: &'static str, csrf: &str) -> Chrome {
        Chrome {
            title,
            nav: true,
            csrf: csrf.to_owned(),
            step,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

fn field_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Layout.
    pub c: Chrome,
    /// Whether the admin password is set (ask for it) or not (ask for the setup token).
    pub password_set: bool,
    /// A neutral notice (session expired, signed out).
    pub notice: Option<&'static str>,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// The page that sets the admin password.
#[derive(Template)]
#[template(path = "set_password.html")]
pub struct SetPasswordPage {
    /// Layout.
    pub c: Chrome,
    /// The shortest password accepted.
    pub min_chars: usize,
    /// What was wrong with the last attempt.
    pub errors: Vec<FieldError>,
}

impl SetPasswordPage {
    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

/// The hardware report.
#[derive(Template)]
#[template(path = "hardware.html")]
pub struct HardwarePage {
    /// Layout.
    pub c: Chrome,
    /// The report.
    pub report: Arc<Report>,
    /// `Ready`, `Usable, with warnings` or `Not ready`.
    pub verdict: &'static str,
    /// Checks passed.
    pub passed: usize,
    /// Checks warned.
    pub warned: usize,
    /// Checks failed.
    pub failed: usize,
    /// The host name or `(unnamed)`.
    pub hostname: String,
    /// CPU model and count.
    pub cpu: String,
    /// Memory in GiB.
    pub memory: String,
    /// Whether the checks were just run again.
    pub rerun: bool,
}

impl HardwarePage {
    fn gb(&self, bytes: &u64) -> String {
        format!("{:.0} GB", *bytes as f64 / 1e9)
    }
}

/// The network form.
#[derive(Template)]
#[template(path = "network.html")]
pub struct NetworkPage {
    /// Layout.
    pub c: Chrome,
    /// The form's values.
    pub form: NetworkForm,
    /// The NICs to choose from.
    pub nics: Vec<String>,
    /// What was wrong with the submission.
    pub errors: Vec<FieldError>,
    /// Whether stored settings are shown.
    pub saved: bool,
    /// The smallest MTU.
    pub mtu_min: u32,
    /// The largest MTU.
    pub mtu_max: u32,
}

impl NetworkPage {
    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

/// The cluster page: create a single-node cluster.
#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage {
    /// Layout.
    pub c: Chrome,
    /// The created cluster, if any.
    pub cluster: Option<ClusterSettings>,
    /// Whether network settings are stored.
    pub network_set: bool,
    /// The name field's value.
    pub name: String,
    /// What was wrong with the submission.
    pub errors: Vec<FieldError>,
}

impl ClusterPage {
    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Layout.
    pub c: Chrome,
    /// The problem's title.
    pub title: &'static str,
    /// The problem's detail.
    pub detail: String,
    /// Invalid fields.
    pub errors: Vec<FieldError>,
    /// Where the back link goes.
    pub back: &'static str,
}

/// Renders a page with a status (the one place pages are turned into responses).
pub fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| WebError::Internal(anyhow::anyhow!("rendering a page: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Renders the hardware page for a report (also used by the golden tests).
pub fn hardware_page(report: Arc<Report>, csrf: &str) -> HardwarePage {
    let f = &report.facts;
    HardwarePage {
        c: Chrome::admin("Hardware", "hardware", csrf),
        verdict: match report.status {
            Status::Pass => "Ready",
            Status::Warn => "Usable, with warnings",
            Status::Fail => "Not ready: fix the failed checks",
        },
        passed: report.count(Status::Pass),
        warned: report.count(Status::Warn),
        failed: report.count(Status::Fail),
        hostname: f.hostname.clone().unwrap_or_else(|| "(unnamed)".to_owned()),
        cpu: format!(
            "{} ({} online CPUs{})",
            if f.cpu.model.is_empty() {
                "unknown model"
            } else {
                f.cpu.model.as_str()
            },
            f.cpu.online,
            f.cpu
                .virtualization
                .as_deref()
                .map(|v| format!(", {v}"))
                .unwrap_or_default()
        ),
        memory: format!("{:.1} GiB", f.memory_bytes as f64 / (1u64 << 30) as f64),
        report,
        rerun: false,
    }
}

/// The form fields every state-changing page request carries.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

impl CsrfOnly {
    /// The token as posted.
    pub fn token(&self) -> &str {
        &self.csrf
    }
}

/// `/`: to the first step.
async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    app::require(&req, &state, Access::Admin)?;
    Ok(redirect("/hardware"))
}

async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let expired = req.query_string() == "expired";
    let (cookie, csrf) = match app::lookup(&req, &state) {
        Lookup::Live(_, s) if s.access == Access::Admin => return Ok(redirect("/hardware")),
        Lookup::Live(_, s) if s.access == Access::SetupToken => {
            return Ok(redirect("/set-password"));
        }
        Lookup::Live(_, s) => (None, s.csrf),
        Lookup::None | Lookup::Expired => {
            let (id, s) = state.sessions().create(Access::Anonymous, Instant::now())?;
            (Some(app::session_cookie(&id, &state)), s.csrf)
        }
    };
    let page = LoginPage {
        c: Chrome {
            csrf,
            ..Chrome::public("Sign in")
        },
        password_set: state.passwords.is_set(),
        notice: expired.then_some("Your session expired. Sign in again."),
        error: None,
    };
    let mut resp = html(StatusCode::OK, &page)?;
    if let Some(c) = cookie {
        resp.add_cookie(&c)
            .map_err(|e| WebError::Internal(anyhow::anyhow!("setting the cookie: {e}")))?;
    }
    Ok(resp)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    secret: String,
}

async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let (anon_id, session) = match app::lookup(&req, &state) {
        Lookup::Live(id, s) if s.access == Access::Anonymous => (id, s),
        Lookup::Live(..) => return Ok(redirect("/")),
        _ => return Err(WebError::Csrf.into()),
    };
    app::check_csrf(&session, Some(&form.csrf))?;
    let ip = app::client_ip(&req).ok_or(WebError::AddressNotAllowed)?;
    if let Err(left) = state.limiter().check(ip, Instant::now()) {
        return Err(WebError::LockedOut {
            retry_after_secs: left.as_secs().max(1),
        }
        .into());
    }
    let password_set = state.passwords.is_set();
    let ok = if password_set {
        let store = state.passwords.clone();
        let secret = form.secret.clone();
        web::block(move || store.verify(&secret))
            .await
            .map_err(|e| WebError::Internal(anyhow::anyhow!("checking the password: {e}")))??
    } else {
        auth::secrets_equal(&auth::normalise_token(&form.secret), state.token().expose())
    };
    if !ok {
        let lockout = state.limiter().fail(ip, Instant::now());
        tracing::warn!("failed sign-in from {ip}");
        if let Some(length) = lockout {
            tracing::warn!("{ip} locked out for {} s", length.as_secs());
            return Err(WebError::LockedOut {
                retry_after_secs: length.as_secs(),
            }
            .into());
        }
        let page = LoginPage {
            c: Chrome {
                csrf: session.csrf,
                ..Chrome::public("Sign in")
            },
            password_set,
            notice: None,
            error: Some(if password_set {
                "That password is wrong.".to_owned()
            } else {
                "That setup token is wrong. It is on the appliance's console.".to_owned()
            }),
        };
        return html(StatusCode::UNAUTHORIZED, &page);
    }
    state.limiter().succeed(ip);
    let access = if password_set {
        Access::Admin
    } else {
        Access::SetupToken
    };
    let (id, _) = {
        let mut sessions = state.sessions();
        sessions.remove(&anon_id);
        sessions.create(access, Instant::now())?
    };
    tracing::info!("signed in from {ip} ({access:?})");
    let mut resp = redirect(if password_set {
        "/hardware"
    } else {
        "/set-password"
    });
    resp.add_cookie(&app::session_cookie(&id, &state))
        .map_err(|e| WebError::Internal(anyhow::anyhow!("setting the cookie: {e}")))?;
    Ok(resp)
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let (id, s) = app::require(&req, &state, Access::SetupToken)?;
    app::check_csrf(&s, Some(&form.csrf))?;
    state.sessions().remove(&id);
    let mut resp = redirect("/login");
    let _ = resp.add_cookie(&app::removal_cookie());
    Ok(resp)
}

async fn set_password_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::SetupToken)?;
    if s.access == Access::Admin {
        return Ok(redirect("/hardware"));
    }
    html(
        StatusCode::OK,
        &SetPasswordPage {
            c: Chrome::public("Admin password").with_csrf(&s.csrf),
            min_chars: PASSWORD_MIN_CHARS,
            errors: Vec::new(),
        },
    )
}

impl Chrome {
    fn with_csrf(mut self, csrf: &str) -> Chrome {
        self.csrf = csrf.to_owned();
        self
    }
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn set_password_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let (id, s) = app::require(&req, &state, Access::SetupToken)?;
    app::check_csrf(&s, Some(&form.csrf))?;
    if s.access == Access::Admin || state.passwords.is_set() {
        return Err(WebError::Conflict("the admin password is already set".to_owned()).into());
    }
    if let Err(errors) = PasswordStore::check_new(&form.password, &form.confirm) {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetPasswordPage {
                c: Chrome::public("Admin password").with_csrf(&s.csrf),
                min_chars: PASSWORD_MIN_CHARS,
                errors,
            },
        );
    }
    let store = state.passwords.clone();
    let password = form.into_inner().password;
    web::block(move || store.set(&password))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("storing the password: {e}")))??;
    tracing::info!("admin password set; the setup token no longer signs in");
    let (new_id, _) = {
        // The token is spent: so is every session it opened, this one included.
        let mut sessions = state.sessions();
        sessions.remove(&id);
        sessions.revoke(Access::SetupToken);
        sessions.create(Access::Admin, Instant::now())?
    };
    let mut resp = redirect("/hardware");
    resp.add_cookie(&app::session_cookie(&new_id, &state))
        .map_err(|e| WebError::Internal(anyhow::anyhow!("setting the cookie: {e}")))?;
    Ok(resp)
}

async fn hardware(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let mut page = hardware_page(state.report(), &s.csrf);
    page.rerun = req.query_string() == "rerun";
    html(StatusCode::OK, &page)
}

async fn hardware_rerun(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    app::check_csrf(&s, Some(&form.csrf))?;
    let st = state.clone();
    web::block(move || st.rerun_check())
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("re-running the checks: {e}")))??;
    Ok(redirect("/hardware?rerun"))
}

/// The network page for stored settings, defaults or a rejected submission.
pub fn network_page(
    form: NetworkForm,
    nics: Vec<String>,
    errors: Vec<FieldError>,
    saved: bool,
    csrf: &str,
) -> NetworkPage {
    NetworkPage {
        c: Chrome::admin("Network", "network", csrf),
        form,
        nics,
        errors,
        saved,
        mtu_min: stackbox_network::MTU_MIN,
        mtu_max: stackbox_network::MTU_MAX,
    }
}

async fn network_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let nics = state.nic_names();
    let (form, saved) = match state.network()? {
        Some(stored) => (NetworkForm::from_settings(&stored), true),
        None => (
            NetworkForm::defaults(
                &nics,
                state.report().facts.hostname.as_deref().unwrap_or_default(),
            ),
            false,
        ),
    };
    html(
        StatusCode::OK,
        &network_page(form, nics, Vec::new(), saved, &s.csrf),
    )
}

/// The network form as posted: the CSRF token plus the fields.
#[derive(Deserialize)]
pub struct NetworkPost {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: NetworkForm,
}

async fn network_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: web::Form<NetworkPost>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    app::check_csrf(&s, Some(&post.csrf))?;
    let nics = state.nic_names();
    let form = post.into_inner().form;
    match network::validate(&form, &nics) {
        Ok(settings) => {
            state.answers_may_change()?;
            state.set_network(&settings)?;
            Ok(redirect("/cluster"))
        }
        Err(errors) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &network_page(form, nics, errors, false, &s.csrf),
        ),
    }
}

/// Checks a cluster name: the rules of a host name label.
pub fn validate_cluster_name(name: &str) -> Result<(), FieldError> {
    if name.contains('.') {
        return Err(FieldError::new(
            "name",
            "a cluster name is a single label: no dots",
        ));
    }
    stackbox_network::check_hostname(name)
        .map_err(|e| FieldError::new("name", e.to_string().replace("host name", "cluster name")))
}

/// Creates the single-node cluster from a name, once the network is stored.
pub fn create_cluster(state: &AppState, name: &str) -> Result<ClusterSettings, WebError> {
    state.answers_may_change()?;
    let name = name.trim();
    validate_cluster_name(name).map_err(|e| WebError::Invalid(vec![e]))?;
    let network = state.network()?.ok_or_else(|| {
        WebError::Conflict("save the network settings before creating the cluster".to_owned())
    })?;
    if let Some(existing) = state.cluster()? {
        return Err(WebError::Conflict(format!(
            "this node already belongs to the cluster {}",
            existing.name
        )));
    }
    let cluster = ClusterSettings {
        name: name.to_owned(),
        mode: "single-node".to_owned(),
        members: vec![network.hostname],
    };
    state.set_cluster(&cluster)?;
    Ok(cluster)
}

async fn cluster_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    let network = state.network()?;
    let page = ClusterPage {
        c: Chrome::admin("Cluster", "cluster", &s.csrf),
        cluster: state.cluster()?,
        network_set: network.is_some(),
        name: "stackbox".to_owned(),
        errors: Vec::new(),
    };
    html(StatusCode::OK, &page)
}

/// The cluster form.
#[derive(Deserialize)]
pub struct ClusterPost {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn cluster_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: web::Form<ClusterPost>,
) -> Result<HttpResponse, PageError> {
    let (_, s) = app::require(&req, &state, Access::Admin)?;
    app::check_csrf(&s, Some(&post.csrf))?;
    match create_cluster(&state, &post.name) {
        Ok(_) => Ok(redirect("/cluster")),
        Err(WebError::Invalid(errors)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ClusterPage {
                c: Chrome::admin("Cluster", "cluster", &s.csrf),
                cluster: None,
                network_set: true,
                name: post.name.clone(),
                errors,
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout))
        .route("/set-password", web::get().to(set_password_form))
        .route("/set-password", web::post().to(set_password_submit))
        .route("/hardware", web::get().to(hardware))
        .route("/hardware/rerun", web::post().to(hardware_rerun))
        .route("/network", web::get().to(network_form))
        .route("/network", web::post().to(network_submit))
        .route("/cluster", web::get().to(cluster_form))
        .route("/cluster", web::post().to(cluster_submit))
        .configure(crate::setup_pages::routes)
        .configure(crate::install_pages::routes)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(PageError(WebError::NotFound))
        }));
}
