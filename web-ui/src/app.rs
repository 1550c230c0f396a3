//! The application, composed: the routes of the JSON API, the static assets and the pages, the body
//! limits, and the guards every request passes (client subnet, body size, security headers). Only the
//! server (and the tests) build it; no handler imports it: what handlers share is in
//! [`crate::session`] and [`crate::chrome`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, ResponseError, web};

use crate::chrome::{self, PageError};
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
                PageError(err).error_response()
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
                            .error_handler(chrome::form_error),
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
