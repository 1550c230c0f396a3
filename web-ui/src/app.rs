//! The application: routes, the guards every request passes (client subnet, body size, security
//! headers), and the session helpers the pages and the API share.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpRequest, ResponseError, web};

use crate::auth::{Access, SESSION_COOKIE, Session};
use crate::error::WebError;
use crate::state::{AppState, BODY_LIMIT};
use crate::{api, assets, pages};

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every response carries.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
}

/// Refuses clients outside the allowed subnets (403) and bodies announced larger than the limit (413)
/// before any handler runs.
async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let allowed = match (req.app_data::<web::Data<AppState>>(), req.peer_addr()) {
        (Some(state), Some(peer)) => state.allowed(peer.ip()),
        _ => false,
    };
    let refusal = if !allowed {
        if let Some(peer) = req.peer_addr() {
            tracing::warn!(
                "refused a request from {} (outside the allowed subnets)",
                peer.ip()
            );
        }
        Some(WebError::AddressNotAllowed)
    } else {
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match announced {
            Some(n) if n > BODY_LIMIT as u64 => {
                Some(WebError::PayloadTooLarge { limit: BODY_LIMIT })
            }
            _ => None,
        }
    };
    match refusal {
        Some(err) => {
            let resp = if req.path().starts_with("/api/") {
                err.error_response()
            } else {
                pages::PageError(err).error_response()
            };
            Ok(req.into_response(resp).map_into_right_body())
        }
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// Registers every route, the body limits and the guards; `state` is shared by all workers.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .service(
                web::scope("/api/v1")
                    .app_data(
                        web::JsonConfig::default()
                            .limit(BODY_LIMIT)
                            .error_handler(api::json_error),
                    )
                    .configure(api::routes),
            )
            .service(web::resource("/static/{name:.*}").route(web::get().to(assets::serve)))
            .service(
                web::scope("")
                    .app_data(
                        web::FormConfig::default()
                            .limit(BODY_LIMIT)
                            .error_handler(pages::form_error),
                    )
                    .configure(pages::routes),
            );
    }
}

/// Builds the whole application around `state`: routes, then the guard, then the headers (outermost,
/// so refusals carry them too).
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .wrap(from_fn(guard))
        .wrap(security_headers())
}

/// What the session cookie of a request leads to.
#[derive(Debug)]
pub enum Lookup {
    /// No cookie, or an unknown id.
    None,
    /// The session existed but expired (it is now gone).
    Expired,
    /// A live session: its id and contents.
    Live(String, Session),
}

/// Finds the request's session.
pub fn lookup(req: &HttpRequest, state: &AppState) -> Lookup {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Lookup::None;
    };
    let id = cookie.value().to_owned();
    match state.sessions().get(&id, Instant::now()) {
        None => Lookup::None,
        Some(Err(())) => Lookup::Expired,
        Some(Ok(s)) => Lookup::Live(id, s),
    }
}

/// The session when it has at least `need` access: no session is `Unauthenticated`, an expired one
/// `SessionExpired`, a setup-token session where the admin is needed `PasswordNotSet`.
pub fn require(
    req: &HttpRequest,
    state: &AppState,
    need: Access,
) -> Result<(String, Session), WebError> {
    match lookup(req, state) {
        Lookup::None => Err(WebError::Unauthenticated),
        Lookup::Expired => Err(WebError::SessionExpired),
        Lookup::Live(id, s) => match (need, s.access) {
            (_, Access::Anonymous) => Err(WebError::Unauthenticated),
            (Access::Admin, Access::SetupToken) => Err(WebError::PasswordNotSet),
            _ => Ok((id, s)),
        },
    }
}

/// Checks the CSRF token a state-changing request carries against its session's.
pub fn check_csrf(session: &Session, given: Option<&str>) -> Result<(), WebError> {
    match given {
        Some(t) if crate::auth::secrets_equal(t, &session.csrf) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

/// The session cookie: HttpOnly, Secure, SameSite=Strict, for the whole site, expiring with the session.
pub fn session_cookie(id: &str, state: &AppState) -> Cookie<'static> {
    let ttl = state.sessions().ttl();
    Cookie::build(SESSION_COOKIE, id.to_owned())
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that removes the session cookie.
pub fn removal_cookie() -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .finish();
    c.make_removal();
    c
}

/// The client's address (the TCP peer; the wizard sits behind no proxy).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip().to_canonical())
}
