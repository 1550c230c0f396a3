//! The application, composed: the routes of the JSON API, the static assets and the pages, the body
//! limits, and the guards every request passes (client subnet, body size, security headers). Only the
//! server (and the tests) build it; no handler imports it: what handlers share is in
//! [`crate::session`] and [`crate::chrome`].

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, header};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, ResponseError, web};

use crate::chrome::{self, PageError};
use crate::error::WebError;
use crate::state::{AppState, BODY_LIMIT};
use crate::{api, assets, connections, pages};

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The `Strict-Transport-Security` of every HTTPS response: a year, this host only (browsers ignore it
/// while the certificate is not trusted, and for addresses). Never sent over plain HTTP.
pub const HSTS: &str = "max-age=31536000";

/// The headers every response carries (the plain-HTTP redirects too).
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

/// How much of a body announced too large is read and dropped before the 413, so that a client that
/// sends its whole body before it reads (curl, browsers) reads the answer instead of a reset.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads and drops up to `limit` bytes of `payload`, within the body deadline.
async fn drain(payload: actix_web::dev::Payload, limit: u64) {
    use futures::StreamExt as _;
    let mut payload = connections::with_deadline(payload, connections::BODY_TIMEOUT);
    let mut read = 0u64;
    while let Some(Ok(chunk)) = payload.next().await {
        read += chunk.len() as u64;
        if read > limit {
            break;
        }
    }
}

/// Refuses clients outside the allowed subnets (403), connections past the per-address cap (429) and
/// bodies announced larger than the limit (413, after reading and dropping the body up to
/// [`DRAIN_LIMIT`]) before any handler runs, closing the connection after the refusal; puts a deadline
/// on the body of every request it lets through.
async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let refusal = refusal(&req);
    match refusal {
        Some(err) => {
            if let WebError::PayloadTooLarge { .. } = err {
                drain(req.take_payload(), DRAIN_LIMIT).await;
            }
            let mut resp = if req.path().starts_with("/api/") {
                err.error_response()
            } else {
                PageError(err).error_response()
            };
            resp.head_mut().set_connection_type(ConnectionType::Close);
            Ok(req.into_response(resp).map_into_right_body())
        }
        None => {
            let payload = req.take_payload();
            req.set_payload(connections::with_deadline(
                payload,
                connections::BODY_TIMEOUT,
            ));
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
    }
}

/// Why a request is refused before any handler runs, if it is.
fn refusal(req: &ServiceRequest) -> Option<WebError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Some(WebError::AddressNotAllowed);
    };
    let Some(peer) = req.peer_addr().filter(|p| state.allowed(p.ip())) else {
        if let Some(peer) = req.peer_addr() {
            tracing::warn!(
                "refused a request from {} (outside the allowed subnets)",
                peer.ip()
            );
        }
        return Some(WebError::AddressNotAllowed);
    };
    // Counted only on a real connection (tests that call the service directly have none).
    if let Some(slot) = req.conn_data::<connections::ConnSlot>() {
        if !state.connections.admit(slot, peer.ip()) {
            tracing::warn!("refused a connection from {} (too many open)", peer.ip());
            return Some(WebError::TooManyConnections {
                limit: connections::PER_ADDRESS,
            });
        }
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(n) if n > BODY_LIMIT as u64 => Some(WebError::PayloadTooLarge { limit: BODY_LIMIT }),
        _ => None,
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

/// Builds the whole application around `state`: routes, then the guard, then the headers with HSTS
/// (outermost, so refusals carry them too).
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
        .wrap(from_fn(crate::chrome::signed_in_error_pages))
        .wrap(from_fn(guard))
        .wrap(security_headers().add((header::STRICT_TRANSPORT_SECURITY, HSTS)))
}
