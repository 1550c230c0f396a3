//! What a request's session lets it do, stated in a handler's signature: actix extractors that find
//! the session ([`Lookup`]), require the access a handler needs ([`Signed`]: [`Admin`] or
//! [`SignedIn`]), and, for a state-changing request, read its body first and then check the CSRF token
//! it carries ([`Checked`]). How a refusal is answered is the [`Face`]'s: the JSON API answers with a
//! problem document ([`Api`]); the pages redirect or show an error page (`chrome::Page`).
//!
//! Also the session cookie and its removal, and the client's address.

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Instant;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{Access, SESSION_COOKIE, Session, secrets_equal};
use crate::error::WebError;
use crate::state::AppState;

/// The header that carries the CSRF token of an API request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a face of the wizard answers a refused request.
pub trait Face: 'static {
    /// The refusal as an actix error.
    fn refuse(e: WebError) -> actix_web::Error;

    /// The refusal of `req` (by default as [`Face::refuse`]; pages send a browser without a session to
    /// the sign-in page with the address it asked for).
    fn refuse_request(e: WebError, _req: &HttpRequest) -> actix_web::Error {
        Self::refuse(e)
    }
}

/// The JSON API's face: refusals are problem documents.
#[derive(Debug)]
pub struct Api;

impl Face for Api {
    fn refuse(e: WebError) -> actix_web::Error {
        e.into()
    }
}

/// The access a handler needs.
pub trait Need: 'static {
    /// The least access accepted.
    const ACCESS: Access;
}

/// The admin (signed in with the password).
#[derive(Debug)]
pub struct AdminAccess;

impl Need for AdminAccess {
    const ACCESS: Access = Access::Admin;
}

/// Signed in with the setup token or as the admin.
#[derive(Debug)]
pub struct TokenAccess;

impl Need for TokenAccess {
    const ACCESS: Access = Access::SetupToken;
}

/// What the session cookie of a request leads to (an extractor that never refuses).
#[derive(Debug)]
pub enum Lookup {
    /// No cookie, or an unknown id.
    None,
    /// The session existed but expired (it is now gone).
    Expired,
    /// A live session: its id and contents.
    Live(String, Session),
}

impl Lookup {
    /// Finds the request's session.
    pub fn of(req: &HttpRequest) -> Lookup {
        let (Some(cookie), Some(state)) = (
            req.cookie(SESSION_COOKIE),
            req.app_data::<web::Data<AppState>>(),
        ) else {
            return Lookup::None;
        };
        let id = cookie.value().to_owned();
        match state.sessions().get(&id, Instant::now()) {
            None => Lookup::None,
            Some(Err(())) => Lookup::Expired,
            Some(Ok(s)) => Lookup::Live(id, s),
        }
    }

    /// The live session when it has at least `need` access: no session is `Unauthenticated`, an
    /// expired one `SessionExpired`, a setup-token session where the admin is needed `PasswordNotSet`.
    pub fn require(self, need: Access) -> Result<(String, Session), WebError> {
        match self {
            Lookup::None => Err(WebError::Unauthenticated),
            Lookup::Expired => Err(WebError::SessionExpired),
            Lookup::Live(id, s) => match (need, s.access) {
                (_, Access::Anonymous) => Err(WebError::Unauthenticated),
                (Access::Admin, Access::SetupToken) => Err(WebError::PasswordNotSet),
                _ => Ok((id, s)),
            },
        }
    }
}

impl FromRequest for Lookup {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Lookup, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Lookup::of(req)))
    }
}

/// Checks the CSRF token a state-changing request carries against its session's.
pub fn check_csrf(session: &Session, given: Option<&str>) -> Result<(), WebError> {
    match given {
        Some(t) if secrets_equal(t, &session.csrf) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

/// A live session with the access `N` needs; refused in face `F`'s way.
#[derive(Debug)]
pub struct Signed<N, F> {
    /// The session's id.
    pub id: String,
    /// The session.
    pub session: Session,
    need: PhantomData<(N, F)>,
}

/// The admin's session.
pub type Admin<F> = Signed<AdminAccess, F>;
/// A session signed in with the setup token or as the admin.
pub type SignedIn<F> = Signed<TokenAccess, F>;

impl<N, F> Signed<N, F> {
    /// The session's CSRF token, for the forms of a page.
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

impl<N: Need, F: Face> FromRequest for Signed<N, F> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            Lookup::of(req)
                .require(N::ACCESS)
                .map(|(id, session)| Signed {
                    id,
                    session,
                    need: PhantomData,
                })
                .map_err(|e| F::refuse_request(e, req)),
        )
    }
}

/// A request body (or its absence) that carries a CSRF token, and the face that answers refusals.
pub trait CsrfCarrier: FromRequest + 'static {
    /// How a refusal is answered.
    type Face: Face;
    /// The token the request carries, if any.
    fn csrf_token<'a>(&'a self, req: &'a HttpRequest) -> Option<&'a str>;
}

/// The token in the API's `X-CSRF-Token` header.
fn header_token(req: &HttpRequest) -> Option<&str> {
    req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

impl<T: serde::de::DeserializeOwned + 'static> CsrfCarrier for web::Json<T> {
    type Face = Api;

    fn csrf_token<'a>(&'a self, req: &'a HttpRequest) -> Option<&'a str> {
        header_token(req)
    }
}

/// An API request without a body: the token is in the header.
#[derive(Debug)]
pub struct NoBody;

impl FromRequest for NoBody {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<NoBody, Self::Error>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(NoBody))
    }
}

impl CsrfCarrier for NoBody {
    type Face = Api;

    fn csrf_token<'a>(&'a self, req: &'a HttpRequest) -> Option<&'a str> {
        header_token(req)
    }
}

/// An API request whose JSON body may be left out (then `T::default()`); the token is in the header.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            serde_json::from_slice(&bytes)
                .map(OptionalJson)
                .map_err(|e| WebError::BadRequest(e.to_string()).into())
        })
    }
}

impl<T: serde::de::DeserializeOwned + Default + 'static> CsrfCarrier for OptionalJson<T> {
    type Face = Api;

    fn csrf_token<'a>(&'a self, req: &'a HttpRequest) -> Option<&'a str> {
        header_token(req)
    }
}

/// A state-changing request: its body `B` read first (so an oversized or malformed body is refused as
/// such), then the session with the access `N` needs, then the CSRF token the body or the header
/// carries, checked against the session's.
#[derive(Debug)]
pub struct Checked<N, B> {
    /// The session's id.
    pub id: String,
    /// The session.
    pub session: Session,
    /// The body.
    pub body: B,
    need: PhantomData<N>,
}

impl<N, B> Checked<N, B> {
    /// The session's CSRF token, for the forms of a page shown again.
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

impl<N: Need, B: CsrfCarrier> FromRequest for Checked<N, B> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = B::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await.map_err(Into::into)?;
            let (id, session) = Lookup::of(&req)
                .require(N::ACCESS)
                .map_err(|e| <B::Face as Face>::refuse_request(e, &req))?;
            check_csrf(&session, body.csrf_token(&req)).map_err(<B::Face as Face>::refuse)?;
            Ok(Checked {
                id,
                session,
                body,
                need: PhantomData,
            })
        })
    }
}

/// The session cookie: HttpOnly, Secure, SameSite=Strict, for the whole site, kept by the browser for
/// the session's longest life (the server ends an idle session sooner).
pub fn session_cookie(id: &str, state: &AppState) -> Cookie<'static> {
    let ttl = state.sessions().absolute();
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
