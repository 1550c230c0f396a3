//! Signing in and out: the sign-in page (the setup token, then the admin password), the page that sets
//! the admin password, and signing out. The sign-in limiter locks an address out after repeated
//! failures.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, Access, PASSWORD_MIN_CHARS, PasswordStore, Refused};
use crate::chrome::{
    Admin, AdminForm, Chrome, CsrfField, CsrfOnly, PageError, SignedIn, SignedInForm, field_error,
    html, local_path, redirect,
};
use crate::error::{FieldError, WebError};
use crate::session::{self, Lookup};
use crate::state::AppState;

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
    /// Where to go after signing in (a page asked for without a session).
    pub next: Option<String>,
}

/// The sign-in page's query: `expired` (the session ended) and `next=PATH` (where to go after it).
fn login_query(query: &str) -> (bool, Option<String>) {
    let mut expired = false;
    let mut next = None;
    for part in query.split('&') {
        match part.split_once('=') {
            None if part == "expired" => expired = true,
            Some(("next", path)) => next = local_path(path).map(str::to_owned),
            _ => {}
        }
    }
    (expired, next)
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

    fn inv(&self, field: &str) -> String {
        crate::chrome::invalid_attrs(&self.errors, field)
    }
}

/// `/`: to the first step not answered yet.
pub async fn index(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    redirect(state.wizard.next_step())
}

/// Adds a cookie to a response.
fn with_cookie(
    mut resp: HttpResponse,
    cookie: &actix_web::cookie::Cookie<'_>,
) -> Result<HttpResponse, PageError> {
    resp.add_cookie(cookie).context("setting the cookie")?;
    Ok(resp)
}

/// The sign-in page; a browser without a session gets an anonymous one to carry the form's token.
pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    lookup: Lookup,
) -> Result<HttpResponse, PageError> {
    let (expired, next) = login_query(req.query_string());
    let (cookie, csrf) = match lookup {
        Lookup::Live(_, s) if s.access == Access::Admin => {
            return Ok(redirect(next.as_deref().unwrap_or("/hardware")));
        }
        Lookup::Live(_, s) if s.access == Access::SetupToken => {
            return Ok(redirect("/set-password"));
        }
        Lookup::Live(_, s) => (None, s.csrf),
        Lookup::None | Lookup::Expired => {
            let (id, s) = state.sessions().create(Access::Anonymous, Instant::now())?;
            (Some(session::session_cookie(&id, &state)), s.csrf)
        }
    };
    let page = LoginPage {
        c: Chrome::public("Sign in").with_csrf(&csrf),
        password_set: state.passwords.is_set(),
        notice: expired.then_some("Your session expired. Sign in again."),
        error: None,
        next,
    };
    let resp = html(StatusCode::OK, &page)?;
    match cookie {
        Some(c) => with_cookie(resp, &c),
        None => Ok(resp),
    }
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    next: String,
}

/// Checks the setup token or the admin password, under the sign-in limiter; a success replaces the
/// anonymous session with a signed-in one.
pub async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
    lookup: Lookup,
) -> Result<HttpResponse, PageError> {
    // Signing in has no session to require yet: the anonymous one carries the form's token.
    let (anon_id, session) = match lookup {
        Lookup::Live(id, s) if s.access == Access::Anonymous => (id, s),
        Lookup::Live(..) => return Ok(redirect("/")),
        _ => return Err(WebError::Csrf.into()),
    };
    session::check_csrf(&session, Some(&form.csrf))?;
    let ip = session::client_ip(&req).ok_or(WebError::AddressNotAllowed)?;
    let password_set = state.passwords.is_set();
    let typed = match password_set {
        true => Typed::Password(form.secret.clone()),
        false => Typed::Token(form.secret.clone()),
    };
    let checked = limited_check(&state, ip, typed).await?;
    let next = local_path(&form.next).map(str::to_owned);
    let attempt = match checked {
        Checked::Right(attempt) => attempt,
        Checked::Wrong(lockout) => {
            return refuse_sign_in(ip, lockout, session.csrf, password_set, next);
        }
    };
    attempt.succeed();
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
    // The page asked for before signing in, else the first step not answered yet (an install's
    // progress while one runs); the setup token only ever leads to the password page.
    let resp = redirect(match (password_set, next.as_deref()) {
        (true, Some(next)) => next,
        (true, None) => state.wizard.next_step(),
        (false, _) => "/set-password",
    });
    with_cookie(resp, &session::session_cookie(&id, &state))
}

/// What was typed on a sign-in: the admin password (checked by argon2) or the setup token.
enum Typed {
    Password(String),
    Token(String),
}

/// One check of a typed secret under the sign-in limiter.
enum Checked {
    /// Right: the attempt is still to be marked a success.
    Right(auth::Attempt),
    /// Wrong (its failure counted already), with the lockout it started, if any.
    Wrong(Option<Duration>),
}

/// Checks what `ip` typed under the sign-in limiter (the sign-in and the password page's current
/// password go through here alike): refused while the address is locked out or has an attempt in
/// flight; for the password a slot for argon2 first (without one nothing is counted), then the
/// attempt, its failure counted before the check runs.
async fn limited_check(
    state: &AppState,
    ip: std::net::IpAddr,
    typed: Typed,
) -> Result<Checked, PageError> {
    let gate = &state.sign_in;
    let locked_out = |left: Duration| WebError::LockedOut {
        retry_after_secs: left.as_secs().max(1),
    };
    gate.check(ip, Instant::now()).map_err(locked_out)?;
    let verifier = match typed {
        Typed::Password(_) => Some(gate.verifier().ok_or(WebError::Busy {
            retry_after_secs: 1,
        })?),
        Typed::Token(_) => None,
    };
    let attempt = gate.begin(ip, Instant::now()).map_err(|r| match r {
        Refused::LockedOut(left) => locked_out(left),
        Refused::InFlight => WebError::SignInInFlight,
    })?;
    let (ok, attempt) = match typed {
        Typed::Password(secret) => {
            let store = state.passwords.clone();
            // The slot and the attempt stay taken until argon2 is done, even if the client goes away.
            web::block(move || {
                let _slot = verifier;
                (store.verify(&secret), attempt)
            })
            .await?
        }
        Typed::Token(secret) => {
            let typed = auth::normalise_token(&secret);
            (
                Ok(auth::secrets_equal(&typed, state.token().expose())),
                attempt,
            )
        }
    };
    Ok(match ok? {
        true => Checked::Right(attempt),
        false => Checked::Wrong(attempt.lockout()),
    })
}

/// A wrong token or password (its failure counted already): the page again, or the lockout it
/// started.
fn refuse_sign_in(
    ip: std::net::IpAddr,
    lockout: Option<Duration>,
    csrf: String,
    password_set: bool,
    next: Option<String>,
) -> Result<HttpResponse, PageError> {
    tracing::warn!("failed sign-in from {ip}");
    if let Some(length) = lockout {
        tracing::warn!("{ip} locked out for {} s", length.as_secs());
        return Err(WebError::LockedOut {
            retry_after_secs: length.as_secs().max(1),
        }
        .into());
    }
    let page = LoginPage {
        c: Chrome::public("Sign in").with_csrf(&csrf),
        password_set,
        notice: None,
        error: Some(if password_set {
            "That password is wrong.".to_owned()
        } else {
            "That setup token is wrong. It is on the appliance's console.".to_owned()
        }),
        next,
    };
    html(StatusCode::UNAUTHORIZED, &page)
}

/// Signs out: the session is gone and its cookie removed.
pub async fn logout(
    state: web::Data<AppState>,
    post: SignedInForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    state.sessions().remove(&post.id);
    let mut resp = redirect("/login");
    let _ = resp.add_cookie(&session::removal_cookie());
    Ok(resp)
}

/// The password page, for a session signed in with the setup token.
pub async fn set_password_form(s: SignedIn) -> Result<HttpResponse, PageError> {
    if s.session.access == Access::Admin {
        return Ok(redirect("/hardware"));
    }
    html(
        StatusCode::OK,
        &SetPasswordPage {
            c: Chrome::public("Admin password").with_csrf(s.csrf()),
            min_chars: PASSWORD_MIN_CHARS,
            errors: Vec::new(),
        },
    )
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

impl CsrfField for PasswordForm {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Sets the admin password once; the setup token and every session it opened are spent.
pub async fn set_password_submit(
    state: web::Data<AppState>,
    post: SignedInForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    if post.session.access == Access::Admin || state.passwords.is_set() {
        return Err(WebError::Conflict("the admin password is already set".to_owned()).into());
    }
    let form = &post.body;
    if let Err(errors) = PasswordStore::check_new(&form.password, &form.confirm) {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetPasswordPage {
                c: Chrome::public("Admin password").with_csrf(post.csrf()),
                min_chars: PASSWORD_MIN_CHARS,
                errors,
            },
        );
    }
    let store = state.passwords.clone();
    let password = form.password.clone();
    web::block(move || store.set(&password)).await??;
    tracing::info!("admin password set; the setup token no longer signs in");
    let (new_id, _) = {
        // The token is spent: so is every session it opened, this one included.
        let mut sessions = state.sessions();
        sessions.remove(&post.id);
        sessions.revoke(Access::SetupToken);
        sessions.create(Access::Admin, Instant::now())?
    };
    with_cookie(
        redirect("/hardware"),
        &session::session_cookie(&new_id, &state),
    )
}

/// The page that changes the admin password.
#[derive(Template)]
#[template(path = "change_password.html")]
pub struct ChangePasswordPage {
    /// Layout.
    pub c: Chrome,
    /// The shortest password accepted.
    pub min_chars: usize,
    /// What was wrong with the last attempt.
    pub errors: Vec<FieldError>,
    /// Whether the password was just changed.
    pub changed: bool,
}

impl ChangePasswordPage {
    fn new(csrf: &str, errors: Vec<FieldError>, changed: bool) -> ChangePasswordPage {
        ChangePasswordPage {
            c: Chrome::admin("Change the admin password", "", csrf),
            min_chars: PASSWORD_MIN_CHARS,
            errors,
            changed,
        }
    }

    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }

    fn inv(&self, field: &str) -> String {
        crate::chrome::invalid_attrs(&self.errors, field)
    }
}

/// The password-change page (`?changed` after a change).
pub async fn change_password_form(req: HttpRequest, s: Admin) -> Result<HttpResponse, PageError> {
    let changed = req.query_string() == "changed";
    html(
        StatusCode::OK,
        &ChangePasswordPage::new(s.csrf(), Vec::new(), changed),
    )
}

/// The password-change form.
#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

impl CsrfField for ChangePasswordForm {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Changes the admin password: the current one is checked as a sign-in is (under the same limiter, so
/// that a browser left signed in cannot be used to guess it), the new one by the same rules as the
/// first; every other admin session ends, this one goes on under a new id.
pub async fn change_password_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: AdminForm<ChangePasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = &post.body;
    let csrf = post.csrf().to_owned();
    if let Err(errors) = PasswordStore::check_new(&form.password, &form.confirm) {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ChangePasswordPage::new(&csrf, errors, false),
        );
    }
    let ip = session::client_ip(&req).ok_or(WebError::AddressNotAllowed)?;
    let checked = limited_check(&state, ip, Typed::Password(form.current.clone())).await?;
    let attempt = match checked {
        Checked::Right(attempt) => attempt,
        Checked::Wrong(Some(length)) => {
            tracing::warn!("wrong current password on the password page from {ip}; locked out");
            return Err(WebError::LockedOut {
                retry_after_secs: length.as_secs().max(1),
            }
            .into());
        }
        Checked::Wrong(None) => {
            tracing::warn!("wrong current password on the password page from {ip}");
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ChangePasswordPage::new(
                    &csrf,
                    vec![FieldError::new(
                        "current",
                        "that is not the current password",
                    )],
                    false,
                ),
            );
        }
    };
    attempt.succeed();
    let new = form.password.clone();
    let store = state.passwords.clone();
    web::block(move || store.set(&new)).await??;
    tracing::info!("admin password changed from {ip}; the other admin sessions end");
    let (new_id, _) = {
        let mut sessions = state.sessions();
        // Every admin session ends, this one included (its id may have been seen); this browser
        // goes on under a new one.
        sessions.revoke(Access::Admin);
        sessions.create(Access::Admin, Instant::now())?
    };
    with_cookie(
        redirect("/password?changed"),
        &session::session_cookie(&new_id, &state),
    )
}
