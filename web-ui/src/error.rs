//! The wizard's errors: one variant per way a request can fail, each mapped to an HTTP status and an
//! RFC 9457 problem document (`application/problem+json`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// The media type of a problem document (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed validation, with a message an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The form field or JSON member (`address`, `vlan`, ...).
    pub field: &'static str,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Why a wizard request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The request body is not what the endpoint takes (malformed JSON or form).
    #[error("the request body could not be read: {0}")]
    BadRequest(String),
    /// The input was read but is not valid; nothing was stored.
    #[error("the input is not valid; nothing was stored")]
    Invalid(Vec<FieldError>),
    /// No session, or it expired.
    #[error("sign in first: no valid session")]
    Unauthenticated,
    /// The session expired; sign in again.
    #[error("the session expired; sign in again")]
    SessionExpired,
    /// Signed in with the setup token: the admin password must be set first.
    #[error("set the admin password first")]
    PasswordNotSet,
    /// The setup token or password is wrong.
    #[error("the setup token or password is wrong")]
    BadCredentials,
    /// The CSRF token is missing or does not match the session's.
    #[error("the request carries no valid CSRF token")]
    Csrf,
    /// The client's address is outside the allowed subnets.
    #[error("this address may not reach the wizard")]
    AddressNotAllowed,
    /// Too many failed sign-ins from this address.
    #[error("too many failed sign-ins from this address; try again in {retry_after_secs} s")]
    LockedOut {
        /// Seconds until a sign-in is accepted again.
        retry_after_secs: u64,
    },
    /// The body is larger than the wizard accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Nothing here.
    #[error("not found")]
    NotFound,
    /// The request does not fit the wizard's state (e.g. a cluster before the network is set).
    #[error("{0}")]
    Conflict(String),
    /// What was asked for existed once and is gone for good (the one-time credentials download).
    #[error("{0}")]
    Gone(String),
    /// Something on the appliance failed; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(#[source] anyhow::Error),
}

impl WebError {
    /// A stable, short identifier of the problem type, used in the `type` URI.
    pub fn kind(&self) -> &'static str {
        match self {
            WebError::BadRequest(_) => "bad-request",
            WebError::Invalid(_) => "invalid-input",
            WebError::Unauthenticated => "unauthenticated",
            WebError::SessionExpired => "session-expired",
            WebError::PasswordNotSet => "password-not-set",
            WebError::BadCredentials => "bad-credentials",
            WebError::Csrf => "csrf",
            WebError::AddressNotAllowed => "address-not-allowed",
            WebError::LockedOut { .. } => "locked-out",
            WebError::PayloadTooLarge { .. } => "payload-too-large",
            WebError::NotFound => "not-found",
            WebError::Conflict(_) => "conflict",
            WebError::Gone(_) => "gone",
            WebError::Internal(_) => "internal",
        }
    }

    /// The short human title of the problem type.
    pub fn title(&self) -> &'static str {
        match self {
            WebError::BadRequest(_) => "Malformed request",
            WebError::Invalid(_) => "Invalid input",
            WebError::Unauthenticated => "Not signed in",
            WebError::SessionExpired => "Session expired",
            WebError::PasswordNotSet => "Admin password not set",
            WebError::BadCredentials => "Wrong credentials",
            WebError::Csrf => "Missing or wrong CSRF token",
            WebError::AddressNotAllowed => "Client address not allowed",
            WebError::LockedOut { .. } => "Too many failed sign-ins",
            WebError::PayloadTooLarge { .. } => "Request body too large",
            WebError::NotFound => "Not found",
            WebError::Conflict(_) => "Conflict with the wizard's state",
            WebError::Gone(_) => "No longer available",
            WebError::Internal(_) => "Internal error",
        }
    }

    /// The problem document for this error. Internal causes are not included (they may name paths or
    /// secrets); the server logs them.
    pub fn problem(&self) -> Problem {
        let status = self.status_code().as_u16();
        Problem {
            r#type: format!("https://stackbox.invalid/problems/{}", self.kind()),
            title: self.title(),
            status,
            detail: match self {
                WebError::Internal(_) => {
                    "the appliance could not complete the request; see the server log".to_owned()
                }
                other => other.to_string(),
            },
            errors: match self {
                WebError::Invalid(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// An RFC 9457 problem document; `errors` is an extension member listing invalid fields.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI naming the problem type.
    pub r#type: String,
    /// A short summary of the problem type.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// This occurrence, in a sentence.
    pub detail: String,
    /// The invalid fields, for `invalid-input`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::Unauthenticated | WebError::SessionExpired | WebError::BadCredentials => {
                StatusCode::UNAUTHORIZED
            }
            WebError::Csrf | WebError::AddressNotAllowed | WebError::PasswordNotSet => {
                StatusCode::FORBIDDEN
            }
            WebError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Gone(_) => StatusCode::GONE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::Internal(e) = self {
            tracing::error!("wizard request failed: {e:#}");
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let WebError::LockedOut { retry_after_secs } = self {
            resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        resp.body(serde_json::to_string_pretty(&self.problem()).unwrap_or_default())
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> WebError {
        WebError::Internal(e)
    }
}
