//! What every page shares: the layout ([`Chrome`]), the one renderer ([`html`]), the redirect, the
//! error page and [`PageError`] (how the pages answer a refusal: no session sends the browser to sign
//! in, anything else is an HTML error page with the problem's status), and the form bodies that carry
//! a CSRF token ([`CsrfField`]).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use anyhow::Context;
use askama::Template;
use serde::Deserialize;

use crate::error::{FieldError, WebError};
use crate::session::{self, CsrfCarrier, Face};
use crate::state::BODY_LIMIT;

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
        PageError(e.into())
    }
}

impl From<actix_web::error::BlockingError> for PageError {
    fn from(e: actix_web::error::BlockingError) -> PageError {
        PageError(e.into())
    }
}

/// The pages' face: refusals are redirects or error pages.
#[derive(Debug)]
pub struct Page;

impl Face for Page {
    fn refuse(e: WebError) -> actix_web::Error {
        PageError(e).into()
    }

    /// A page asked for without a (live) session: the sign-in page, which comes back here after it (a
    /// deep link survives the sign-in). A GET of a plain path is remembered, and a form's post when its
    /// page is the same address (its typed values come back there: `static/forms.js`).
    fn refuse_request(e: WebError, req: &HttpRequest) -> actix_web::Error {
        let path = req.path();
        let comes_back = match *req.method() {
            actix_web::http::Method::GET => true,
            actix_web::http::Method::POST => crate::page_routes::ROUTES.contains(&("get", path)),
            _ => false,
        };
        let next = comes_back
            .then(|| local_path(path))
            .flatten()
            .filter(|p| *p != "/" && *p != "/login");
        let to = match (&e, next) {
            (WebError::Unauthenticated, Some(next)) => format!("/login?next={next}"),
            (WebError::SessionExpired, Some(next)) => format!("/login?expired&next={next}"),
            _ => return Self::refuse(e),
        };
        let mut resp = redirect(&to);
        if matches!(e, WebError::SessionExpired) {
            let _ = resp.add_cookie(&session::removal_cookie());
        }
        actix_web::error::InternalError::from_response(e, resp).into()
    }
}

/// `path` when it is a path of this site that is safe to send a browser to after signing in: absolute,
/// not `//` (another host), letters, digits and `/._-` only (the wizard's own paths; nothing to escape).
pub fn local_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
    ok.then_some(path)
}

/// A `303 See Other` to `to`.
pub fn redirect(to: &str) -> HttpResponse {
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
                let _ = r.add_cookie(&session::removal_cookie());
                return r;
            }
            WebError::PasswordNotSet => return redirect("/set-password"),
            _ => {}
        }
        let error_id = self.0.log();
        let page = self.page(Chrome::public("Error"), error_id.clone());
        let mut resp = HttpResponse::build(self.0.status_code());
        resp.content_type("text/html; charset=utf-8");
        if let Some(secs) = self.0.retry_after_secs() {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = self.0.allow() {
            resp.insert_header((header::ALLOW, allow));
        }
        let mut resp = resp.body(page.render().unwrap_or_else(|_| self.0.title().to_owned()));
        if let Some(id) = error_id {
            resp.extensions_mut().insert(ErrorId(id));
        }
        resp
    }
}

/// The id an internal error's cause was logged under, kept with its answer so that the page drawn
/// again for a signed-in admin ([`signed_in_error_pages`]) shows the same one.
#[derive(Debug, Clone)]
struct ErrorId(String);

impl PageError {
    /// The error page in `chrome`: the problem in words, capitalised, what to do next and, for an
    /// internal error, the id its cause was logged under.
    fn page(&self, chrome: Chrome, error_id: Option<String>) -> ErrorPage {
        let problem = self.0.problem();
        let mut detail = problem.detail;
        if let Some(first) = detail.get(..1) {
            detail = first.to_uppercase() + &detail[1..];
        }
        ErrorPage {
            c: chrome,
            title: problem.title,
            detail,
            errors: problem.errors,
            forward: self.0.way_forward(),
            error_id,
        }
    }
}

/// Draws an error page again with the navigation, the password link and sign-out when the request
/// came from a signed-in admin (an error answer is made without its request, so in the public
/// layout).
pub async fn signed_in_error_pages(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<
        actix_web::body::EitherBody<impl actix_web::body::MessageBody, String>,
    >,
    actix_web::Error,
> {
    let res = next.call(req).await?;
    let redrawn = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PageError>())
        .filter(|_| res.response().head().status.as_u16() >= 400)
        .and_then(|e| match session::Lookup::of(res.request()) {
            session::Lookup::Live(_, s) if s.access == crate::auth::Access::Admin => {
                let id = res
                    .response()
                    .extensions()
                    .get::<ErrorId>()
                    .map(|i| i.0.clone());
                e.page(Chrome::admin("Error", "", &s.csrf), id)
                    .render()
                    .ok()
            }
            _ => None,
        });
    Ok(match redrawn {
        Some(body) => res.map_body(|_, _| actix_web::body::EitherBody::right(body)),
        None => res.map_into_left_body(),
    })
}

/// Turns a form-body error into a page error: 413 past the limit, else 400.
pub fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::UrlencodedError as E;
    match err {
        E::Overflow { .. } => PageError(WebError::PayloadTooLarge { limit: BODY_LIMIT }).into(),
        E::Payload(e) if crate::connections::is_timeout(&e) => PageError(WebError::BodyTimeout {
            secs: crate::connections::BODY_TIMEOUT.as_secs(),
        })
        .into(),
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

    /// The wizard's steps, in order: (path below `/`, label).
    pub fn steps(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("hardware", "Hardware"),
            ("disk", "Disk"),
            ("network", "Network"),
            ("cluster", "Cluster"),
            ("roles", "Roles"),
            ("settings", "Settings"),
            ("review", "Review"),
            ("install", "Install"),
            ("done", "Done"),
        ]
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

    /// The same layout with the session's CSRF token for its forms.
    pub fn with_csrf(mut self, csrf: &str) -> Chrome {
        self.csrf = csrf.to_owned();
        self
    }
}

/// The message of the first error about `field`.
pub fn field_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// The attributes that mark `field`'s input invalid and tie it to its message (`FIELD-error`), when
/// `errors` name it; else nothing. Field names are the code's own identifiers, never input, so the
/// result is safe to insert unescaped.
pub fn invalid_attrs(errors: &[FieldError], field: &str) -> String {
    if field_error(errors, field).is_some() {
        format!(r#" aria-invalid="true" aria-describedby="{field}-error""#)
    } else {
        String::new()
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
    /// What to do next.
    pub forward: crate::error::WayForward,
    /// For an internal error: the id its cause was logged under.
    pub error_id: Option<String>,
}

/// Renders a page with a status (the one place pages are turned into responses).
pub fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().context("rendering a page")?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A page form's fields that carry the CSRF token.
pub trait CsrfField {
    /// The token as posted, if any.
    fn csrf(&self) -> Option<&str>;
}

impl<T: CsrfField + serde::de::DeserializeOwned + 'static> CsrfCarrier for web::Form<T> {
    type Face = Page;

    fn csrf_token<'a>(&'a self, _: &'a HttpRequest) -> Option<&'a str> {
        self.0.csrf()
    }
}

/// A form of repeated fields (the roles' check boxes): the token is its `csrf` field.
impl CsrfField for Vec<(String, String)> {
    fn csrf(&self) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
    }
}

/// The form fields every state-changing page request carries.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

impl CsrfField for CsrfOnly {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// A page's form posted with the session's CSRF token, read in this order: the body, the admin's
/// session, the token.
pub type AdminForm<T> = session::Checked<session::AdminAccess, web::Form<T>>;
/// A page's form posted by a session signed in with the setup token or as the admin.
pub type SignedInForm<T> = session::Checked<session::TokenAccess, web::Form<T>>;
/// The admin's session, for a page.
pub type Admin = session::Admin<Page>;
/// A session signed in with the setup token or as the admin, for a page.
pub type SignedIn = session::SignedIn<Page>;
