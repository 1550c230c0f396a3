//! The wizard's errors: one variant per way a request can fail, each mapped to an HTTP status and an
//! RFC 9457 problem document (`application/problem+json`).
//!
//! The installer's errors arrive through `From` impls that keep them whole and choose the status by
//! their kind: input the installer refuses is 422, a request that does not fit its state 409, and its
//! journal, secrets or files failing 500, with the cause logged once and not shown.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use stackbox_cluster::JoinRefusal;
use stackbox_common::error::chain;
use stackbox_installer::LoadError;
use stackbox_installer::executor::ExecError;
use stackbox_installer::install::InstallError;
use stackbox_installer::journal::JournalError;
use stackbox_installer::plan::PlanError;
use stackbox_installer::runner::RunError;
use stackbox_installer::secrets::SecretsError;

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
    #[error(
        "the form was opened before the last sign-in or in another session, so it was not accepted \
         (no valid CSRF token): nothing was changed"
    )]
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
    /// Another sign-in from this address is still being checked (one at a time per address).
    #[error("another sign-in from this address is being checked; try again in a second")]
    SignInInFlight,
    /// Every argon2 verification slot is taken: the wizard is checking other sign-ins.
    #[error("the wizard is busy checking other sign-ins; try again in {retry_after_secs} s")]
    Busy {
        /// Seconds to wait before trying again.
        retry_after_secs: u64,
    },
    /// The client's address has as many connections open as it may.
    #[error("this address has {limit} connections open to the wizard already; close some")]
    TooManyConnections {
        /// Connections allowed per address.
        limit: usize,
    },
    /// The request's body did not arrive in time.
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout {
        /// The deadline in seconds.
        secs: u64,
    },
    /// The body is larger than the wizard accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Nothing here.
    #[error("there is nothing at this address")]
    NotFound,
    /// The address exists, but not for this method.
    #[error("this address answers {}, not this method", allow.join(", "))]
    MethodNotAllowed {
        /// The methods it answers.
        allow: Vec<&'static str>,
    },
    /// The request does not fit the wizard's state (e.g. a cluster before the network is set).
    #[error("{0}")]
    Conflict(String),
    /// The installation is running: what was asked waits for its end (its progress is the way on).
    #[error("{0}")]
    InstallRunning(String),
    /// The cloud is installed: what was asked belongs before it (the done page is the way on).
    #[error("{0}")]
    Installed(String),
    /// What was asked for existed once and is gone for good (the one-time credentials download).
    #[error("{0}")]
    Gone(String),
    /// A member refused a node's join request: the problem type is the refusal's stable reason
    /// (`wrong-code`, `locked`, `expired`, `no-code`, `address-mismatch`, `version-mismatch`, `bad-csr`,
    /// `bad-name`, `stale-request`) and the detail its message for the operator.
    #[error(transparent)]
    JoinRefused(JoinRefusal),
    /// The installer refused the input (its configuration rules): the cause is shown.
    #[error(transparent)]
    Rejected(anyhow::Error),
    /// The request does not fit the installer's state: the cause is shown.
    #[error(transparent)]
    StateConflict(anyhow::Error),
    /// Something on the appliance failed; the cause is logged, not shown.
    #[error("internal error")]
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
            WebError::SignInInFlight => "sign-in-in-flight",
            WebError::Busy { .. } => "busy",
            WebError::TooManyConnections { .. } => "too-many-connections",
            WebError::BodyTimeout { .. } => "body-timeout",
            WebError::PayloadTooLarge { .. } => "payload-too-large",
            WebError::NotFound => "not-found",
            WebError::MethodNotAllowed { .. } => "method-not-allowed",
            WebError::Conflict(_) => "conflict",
            WebError::InstallRunning(_) => "install-running",
            WebError::Installed(_) => "installed",
            WebError::Gone(_) => "gone",
            WebError::JoinRefused(refusal) => refusal.reason(),
            WebError::Rejected(_) => "invalid-input",
            WebError::StateConflict(_) => "conflict",
            WebError::Internal(_) => "internal",
        }
    }

    /// The short human title of the problem type.
    pub fn title(&self) -> &'static str {
        match self {
            WebError::BadRequest(_) => "The request could not be read",
            WebError::Invalid(_) => "Invalid input",
            WebError::Unauthenticated => "Not signed in",
            WebError::SessionExpired => "Session expired",
            WebError::PasswordNotSet => "Admin password not set",
            WebError::BadCredentials => "Wrong credentials",
            WebError::Csrf => "The form is out of date",
            WebError::AddressNotAllowed => "Client address not allowed",
            WebError::LockedOut { .. } => "Too many failed sign-ins",
            WebError::SignInInFlight => "Sign-in already being checked",
            WebError::Busy { .. } => "Busy",
            WebError::TooManyConnections { .. } => "Too many connections",
            WebError::BodyTimeout { .. } => "Request body too slow",
            WebError::PayloadTooLarge { .. } => "Request body too large",
            WebError::NotFound => "Not found",
            WebError::MethodNotAllowed { .. } => "Method not allowed",
            WebError::Conflict(_) => "Not possible at this step",
            WebError::InstallRunning(_) => "The installation is running",
            WebError::Installed(_) => "The cloud is installed",
            WebError::Gone(_) => "No longer available",
            WebError::JoinRefused(_) => "Join refused",
            WebError::Rejected(_) => "Invalid input",
            WebError::StateConflict(_) => "Not possible at this step",
            WebError::Internal(_) => "Something failed on the appliance",
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
                    "the appliance could not complete the request; the wizard's \
                                          log has the cause under the error id"
                        .to_owned()
                }
                WebError::Rejected(e) | WebError::StateConflict(e) => chain(e.as_ref()),
                WebError::JoinRefused(refusal) => chain(refusal),
                other => other.to_string(),
            },
            errors: match self {
                WebError::Invalid(errors) => errors.clone(),
                _ => Vec::new(),
            },
            tries_left: match self {
                WebError::JoinRefused(JoinRefusal::WrongCode { tries_left }) => Some(*tries_left),
                _ => None,
            },
            error_id: None,
        }
    }

    /// Where an error page sends the operator on from this error.
    pub fn way_forward(&self) -> WayForward {
        let (href, label) = match self {
            WebError::InstallRunning(_) => ("/install", "Follow the installation's progress"),
            WebError::Installed(_) | WebError::Gone(_) => {
                ("/done", "Go to the installed cloud's page")
            }
            WebError::LockedOut { .. } | WebError::SignInInFlight | WebError::Busy { .. } => {
                ("/login", "Sign in again after the wait")
            }
            WebError::Csrf => ("/", "Open the wizard again and repeat the change"),
            WebError::JoinRefused(_) => ("/cluster", "Back to the cluster step"),
            _ => ("/", "Go to the wizard's current step"),
        };
        WayForward { href, label }
    }
}

/// Where an error page sends the operator on: a link and its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WayForward {
    /// The wizard's page.
    pub href: &'static str,
    /// What following it does, in words.
    pub label: &'static str,
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
    /// Wrong tries left before the join code is locked, for `wrong-code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u32>,
    /// For `internal`: the id its cause is logged under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Invalid(_) | WebError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::Unauthenticated | WebError::SessionExpired | WebError::BadCredentials => {
                StatusCode::UNAUTHORIZED
            }
            WebError::Csrf | WebError::AddressNotAllowed | WebError::PasswordNotSet => {
                StatusCode::FORBIDDEN
            }
            WebError::LockedOut { .. }
            | WebError::SignInInFlight
            | WebError::TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            WebError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WebError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            WebError::Conflict(_)
            | WebError::InstallRunning(_)
            | WebError::Installed(_)
            | WebError::StateConflict(_) => StatusCode::CONFLICT,
            WebError::Gone(_) => StatusCode::GONE,
            WebError::JoinRefused(refusal) => join_status(refusal),
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let error_id = self.log();
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(secs) = self.retry_after_secs() {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = self.allow() {
            resp.insert_header((header::ALLOW, allow));
        }
        let problem = Problem {
            error_id,
            ..self.problem()
        };
        resp.body(serde_json::to_string_pretty(&problem).unwrap_or_default())
    }
}

impl WebError {
    /// The seconds a client should wait before trying again (its `Retry-After`), for refusals that
    /// pass.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            WebError::LockedOut { retry_after_secs } | WebError::Busy { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            WebError::SignInInFlight => Some(1),
            WebError::TooManyConnections { .. } => Some(5),
            _ => None,
        }
    }

    /// The methods an address answers (its `Allow`), for a request with another method.
    pub fn allow(&self) -> Option<String> {
        match self {
            WebError::MethodNotAllowed { allow } => Some(allow.join(", ")),
            _ => None,
        }
    }

    /// What answers a request no route took: 405 with the methods the address answers, when a route
    /// of `routes` (method, pattern below `prefix`) has its path; else 404.
    pub fn unrouted(
        method: &actix_web::http::Method,
        path: &str,
        prefix: &str,
        routes: &[(&'static str, &'static str)],
    ) -> WebError {
        let Some(rest) = path.strip_prefix(prefix) else {
            return WebError::NotFound;
        };
        let mut allow: Vec<&'static str> = routes
            .iter()
            .filter(|(m, pattern)| {
                !m.eq_ignore_ascii_case(method.as_str())
                    && actix_web::dev::ResourceDef::new(*pattern).is_match(rest)
            })
            .map(|(m, _)| match *m {
                "get" => "GET",
                "post" => "POST",
                "put" => "PUT",
                "delete" => "DELETE",
                other => other,
            })
            .collect();
        allow.sort_unstable();
        allow.dedup();
        if allow.is_empty() {
            WebError::NotFound
        } else {
            WebError::MethodNotAllowed { allow }
        }
    }

    /// Logs an internal error's cause (once, with its chain) under a new error id, which it returns
    /// for the answer to show; other errors are the client's to read.
    pub fn log(&self) -> Option<String> {
        let WebError::Internal(e) = self else {
            return None;
        };
        let mut bytes = [0u8; 4];
        let id = match getrandom::fill(&mut bytes) {
            Ok(()) => hex::encode(bytes),
            Err(_) => "unnumbered".to_owned(),
        };
        tracing::error!("wizard request failed (error {id}): {}", chain(e.as_ref()));
        Some(id)
    }
}

/// The status of a join refusal: the code (missing, expired, locked, wrong) or the address refused
/// 403, another image 409, an unusable CSR or name 422, a stale request 400. (The member's own
/// failures never get here: they are internal errors.)
fn join_status(refusal: &JoinRefusal) -> StatusCode {
    match refusal {
        JoinRefusal::NoCode
        | JoinRefusal::Expired
        | JoinRefusal::Locked
        | JoinRefusal::WrongCode { .. }
        | JoinRefusal::AddressMismatch { .. } => StatusCode::FORBIDDEN,
        JoinRefusal::VersionMismatch { .. } => StatusCode::CONFLICT,
        JoinRefusal::BadName { .. } | JoinRefusal::BadCsr(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JoinRefusal::Stale { .. } => StatusCode::BAD_REQUEST,
        JoinRefusal::Store(_) | JoinRefusal::Sign(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<JoinRefusal> for WebError {
    fn from(refusal: JoinRefusal) -> WebError {
        match refusal {
            // The member's own failures: the cause is logged, not shown to the joiner.
            JoinRefusal::Store(_) | JoinRefusal::Sign(_) => {
                WebError::Internal(anyhow::Error::new(refusal).context("judging a join request"))
            }
            other => WebError::JoinRefused(other),
        }
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> WebError {
        WebError::Internal(e)
    }
}

impl From<actix_web::error::BlockingError> for WebError {
    fn from(e: actix_web::error::BlockingError) -> WebError {
        WebError::Internal(anyhow::Error::new(e).context("a background task failed"))
    }
}

impl From<PlanError> for WebError {
    fn from(e: PlanError) -> WebError {
        match e {
            PlanError::Invalid(_) => WebError::Rejected(e.into()),
            PlanError::Graph(_) => WebError::Internal(e.into()),
        }
    }
}

impl From<SecretsError> for WebError {
    fn from(e: SecretsError) -> WebError {
        WebError::Internal(e.into())
    }
}

impl From<JournalError> for WebError {
    fn from(e: JournalError) -> WebError {
        WebError::Internal(e.into())
    }
}

impl From<InstallError> for WebError {
    fn from(e: InstallError) -> WebError {
        match e {
            InstallError::Load(LoadError::Parse(_))
            | InstallError::Plan(PlanError::Invalid(_))
            | InstallError::Exec(ExecError::UnknownStep(_)) => WebError::Rejected(e.into()),
            InstallError::Node(_) => WebError::StateConflict(e.into()),
            InstallError::Load(LoadError::Read { .. })
            | InstallError::Plan(PlanError::Graph(_))
            | InstallError::Profiles(_)
            | InstallError::Secrets(_)
            | InstallError::Exec(_)
            | InstallError::Journal(_) => WebError::Internal(e.into()),
        }
    }
}

impl From<RunError> for WebError {
    fn from(e: RunError) -> WebError {
        match e {
            RunError::AlreadyRunning => WebError::InstallRunning(e.to_string()),
            // The status is the cause's: the configuration may be refused, or the journal broken.
            RunError::Prepare(cause) => match WebError::from(cause) {
                WebError::Rejected(c) => {
                    WebError::Rejected(c.context("the installation cannot start"))
                }
                WebError::StateConflict(c) => {
                    WebError::StateConflict(c.context("the installation cannot start"))
                }
                other => other.context("the installation cannot start"),
            },
            RunError::Serialize(_) | RunError::WriteConfig { .. } | RunError::Spawn(_) => {
                WebError::Internal(e.into())
            }
        }
    }
}

impl WebError {
    /// An internal error with a line of context above its cause; other errors are returned as
    /// they are.
    pub fn context(self, what: &'static str) -> WebError {
        match self {
            WebError::Internal(e) => WebError::Internal(e.context(what)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_journal_io_error_is_a_500_with_its_cause_logged_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, "").unwrap();
        let e = stackbox_installer::journal::Journal::open(&not_a_dir.join("journal.db"))
            .await
            .unwrap_err();
        for web in [
            WebError::from(InstallError::Journal(e)),
            WebError::from(RunError::Prepare(InstallError::Exec(ExecError::Journal(
                stackbox_installer::journal::Journal::open(&not_a_dir.join("j.db"))
                    .await
                    .unwrap_err(),
            )))),
        ] {
            assert_eq!(
                web.status_code(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{web:?}"
            );
            let problem = web.problem();
            assert_eq!(problem.status, 500);
            assert!(!problem.detail.contains("journal"), "{}", problem.detail);
        }
    }

    #[test]
    fn a_validation_error_is_a_422_with_its_reason_shown_once() {
        let invalid = PlanError::Invalid("  nodes[0].roles: no role \"dns\"".to_owned());
        let web = WebError::from(RunError::Prepare(InstallError::Plan(invalid)));
        assert_eq!(web.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let detail = web.problem().detail;
        assert!(
            detail.starts_with("the installation cannot start: "),
            "{detail}"
        );
        assert_eq!(detail.matches("no role").count(), 1, "{detail}");
        let web = WebError::from(PlanError::Invalid("x".to_owned()));
        assert_eq!(web.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn a_second_run_is_a_409_and_secrets_failures_a_500() {
        assert_eq!(
            WebError::from(RunError::AlreadyRunning).status_code(),
            StatusCode::CONFLICT
        );
        let io = SecretsError::Io {
            path: "/etc/stackbox/secrets.toml".to_owned(),
            source: std::io::Error::other("disk on fire"),
        };
        let web = WebError::from(io);
        assert_eq!(web.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!web.problem().detail.contains("disk on fire"));
        let WebError::Internal(e) = &web else {
            panic!("{web:?}")
        };
        assert_eq!(chain(e.as_ref()).matches("disk on fire").count(), 1);
    }
}
