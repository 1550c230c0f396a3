//! OpenStack's REST APIs from Rust: a session signed in to keystone as the admin of the `OS_*`
//! variables (as the `openstack` client reads them), over one keep-alive connection per service, the
//! cluster CA as the only root. Used by the catalog step ([`super::catalog`]) and the smoke test
//! ([`super::smoke`]): the `openstack` client costs 2-3 s of Python start per call, and they made dozens.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long one request may take (an image upload included).
const TIMEOUT: Duration = Duration::from_secs(180);
/// The start of an error answer kept for the message.
const ERROR_BODY: usize = 300;
/// How many times a request that reached no service is sent.
const TRIES: u32 = 10;

/// Whether sending the request twice does what sending it once does: reads, puts and deletes, and a
/// sign-in (a second token is harmless). A create is not: it could make two.
fn repeatable(method: &Method, url: &str) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE
    ) || url.ends_with("/auth/tokens")
}

/// Whether haproxy answered for want of a backend (the request reached no service).
fn unreached(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE
    )
}

/// What went wrong talking to OpenStack.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// A variable the call needs is not set.
    #[error("{0} is not set")]
    Missing(String),
    /// The CA file could not be read or holds no certificate.
    #[error("the CA {path}: {why}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The request did not get an answer.
    #[error("{method} {url}: {source}")]
    Http {
        /// The method.
        method: Method,
        /// The URL.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with an unexpected status.
    #[error("{method} {url}: {status}: {body}")]
    Status {
        /// The method.
        method: Method,
        /// The URL.
        url: String,
        /// Its status.
        status: StatusCode,
        /// The start of its body (the service's error message; never a token).
        body: String,
    },
    /// An answer did not hold what it should.
    #[error("{0}: the answer holds no {1}")]
    Answer(String, &'static str),
    /// The catalog has no such endpoint.
    #[error("the catalog has no {interface} endpoint of type {kind} in {region}")]
    NoEndpoint {
        /// The service type.
        kind: String,
        /// The interface.
        interface: &'static str,
        /// The region.
        region: String,
    },
    /// The admin's sign-in answered without a token.
    #[error("keystone issued no token")]
    NoToken,
    /// The async runtime could not start.
    #[error("the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// The admin's credentials, as the `openstack` client reads them.
#[derive(Debug)]
pub struct Admin {
    /// `OS_AUTH_URL`: the identity v3 URL.
    pub auth_url: String,
    /// `OS_USERNAME`.
    pub user: String,
    /// `OS_PASSWORD`.
    pub password: String,
    /// `OS_PROJECT_NAME`.
    pub project: String,
    /// `OS_USER_DOMAIN_NAME`.
    pub user_domain: String,
    /// `OS_PROJECT_DOMAIN_NAME`.
    pub project_domain: String,
    /// `OS_REGION_NAME`, `RegionOne` when unset.
    pub region: String,
    /// `OS_CACERT`: the CA that signed the endpoints, if not the system's.
    pub ca: Option<String>,
}

impl Admin {
    /// From the `OS_*` variables (`lookup` is the process environment outside tests).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Admin, RestError> {
        let need = |k: &str| lookup(k).ok_or_else(|| RestError::Missing(k.to_owned()));
        let or = |k: &str, default: &str| lookup(k).unwrap_or_else(|| default.to_owned());
        Ok(Admin {
            auth_url: identity_v3(&need("OS_AUTH_URL")?),
            user: need("OS_USERNAME")?,
            password: need("OS_PASSWORD")?,
            project: need("OS_PROJECT_NAME")?,
            user_domain: or("OS_USER_DOMAIN_NAME", "Default"),
            project_domain: or("OS_PROJECT_DOMAIN_NAME", "Default"),
            region: or("OS_REGION_NAME", "RegionOne"),
            ca: lookup("OS_CACERT"),
        })
    }

    /// From this process's environment (an empty variable counts as unset).
    pub fn from_process_env() -> Result<Admin, RestError> {
        Self::from_env(process_env)
    }
}

/// The identity v3 URL of an `OS_AUTH_URL`, which may name keystone's root (`https://host:5000`) as
/// the `openstack` client allows.
fn identity_v3(auth_url: &str) -> String {
    let url = auth_url.trim_end_matches('/');
    if url.ends_with("/v3") {
        url.to_owned()
    } else {
        format!("{url}/v3")
    }
}

/// A variable of this process's environment; an empty one counts as unset.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The body that asks keystone for a token for `user` in domain `domain`, scoped to `project` (in
/// `project_domain`) when given.
pub fn password_auth(
    user: &str,
    domain: &str,
    password: &str,
    project: Option<(&str, &str)>,
) -> Value {
    let mut auth = json!({
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": {"name": domain}, "password": password}},
        },
    });
    if let Some((project, project_domain)) = project {
        auth["scope"] = json!({"project": {"name": project, "domain": {"name": project_domain}}});
    }
    json!({ "auth": auth })
}

/// What a request carries.
pub enum Body<'a> {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(&'a Value),
    /// Raw bytes (an image's data).
    Bytes(&'a [u8]),
}

/// A session signed in to keystone.
pub struct Session {
    http: reqwest::Client,
    /// The identity v3 URL.
    pub identity: String,
    token: String,
    /// The token's catalog (`token.catalog`).
    catalog: Vec<Value>,
    /// The region whose endpoints [`Session::endpoint`] gives.
    pub region: String,
}

impl Session {
    /// Signs in as the admin.
    pub async fn sign_in(admin: &Admin) -> Result<Session, RestError> {
        let http = client(admin.ca.as_deref())?;
        let mut session = Session {
            http,
            identity: admin.auth_url.clone(),
            token: String::new(),
            catalog: Vec::new(),
            region: admin.region.clone(),
        };
        let body = password_auth(
            &admin.user,
            &admin.user_domain,
            &admin.password,
            Some((&admin.project, &admin.project_domain)),
        );
        let url = format!("{}/auth/tokens", session.identity);
        let answer = session
            .send(
                Method::POST,
                &url,
                Body::Json(&body),
                &[StatusCode::CREATED],
            )
            .await?;
        session.token = answer
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .ok_or(RestError::NoToken)?
            .to_owned();
        let mut document: Value = answer.json().await.map_err(|source| RestError::Http {
            method: Method::POST,
            url: url.clone(),
            source,
        })?;
        if let Some(Value::Array(catalog)) = document.pointer_mut("/token/catalog") {
            session.catalog = std::mem::take(catalog);
        }
        Ok(session)
    }

    /// The public URL of the service of type `kind` in the session's region, without a trailing slash.
    pub fn endpoint(&self, kind: &str) -> Result<String, RestError> {
        catalog_url(&self.catalog, kind, "public", &self.region).ok_or_else(|| {
            RestError::NoEndpoint {
                kind: kind.to_owned(),
                interface: "public",
                region: self.region.clone(),
            }
        })
    }

    /// One request with the session's token (none before it has one); an answer whose status is not
    /// in `expected` is an error. A request that found no server (connection refused) or that haproxy
    /// answered 502 or 503 (no backend up, as for a moment after a service restarts) reached no service,
    /// so it is sent again, up to [`TRIES`] times a second apart; so is one that may be repeated
    /// ([`repeatable`]) when its connection broke (a kept-alive connection the other end had closed:
    /// "connection closed before message completed").
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Body<'_>,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, RestError> {
        self.exchange(true, method, url, body, expected).await
    }

    /// [`Session::send`], with the session's token or without it.
    async fn exchange(
        &self,
        with_token: bool,
        method: Method,
        url: &str,
        body: Body<'_>,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, RestError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut request = self.http.request(method.clone(), url);
            if with_token && !self.token.is_empty() {
                request = request.header("X-Auth-Token", &self.token);
            }
            request = match &body {
                Body::Empty => request,
                Body::Json(value) => request.json(value),
                Body::Bytes(bytes) => request
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes.to_vec()),
            };
            let answer = match request.send().await {
                Err(e)
                    if tries < TRIES
                        && (e.is_connect() || (repeatable(&method, url) && !e.is_timeout())) =>
                {
                    None
                }
                Err(source) => {
                    return Err(RestError::Http {
                        method,
                        url: url.to_owned(),
                        source,
                    });
                }
                Ok(answer) => Some(answer),
            };
            let status = answer.as_ref().map(reqwest::Response::status);
            match answer {
                Some(answer) if expected.contains(&answer.status()) => return Ok(answer),
                Some(answer) if !unreached(answer.status()) || tries >= TRIES => {
                    let status = answer.status();
                    let body = answer.text().await.unwrap_or_default();
                    return Err(RestError::Status {
                        method,
                        url: url.to_owned(),
                        status,
                        body: body.chars().take(ERROR_BODY).collect(),
                    });
                }
                _ => {
                    tracing::debug!(%method, url, ?status, "no service reached; sending again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// A request whose answer is a JSON document (200, 201 or 202).
    pub async fn json(
        &self,
        method: Method,
        url: &str,
        body: Body<'_>,
    ) -> Result<Value, RestError> {
        let ok = [StatusCode::OK, StatusCode::CREATED, StatusCode::ACCEPTED];
        self.send(method.clone(), url, body, &ok)
            .await?
            .json()
            .await
            .map_err(|source| RestError::Http {
                method,
                url: url.to_owned(),
                source,
            })
    }

    /// Posts `body` to `url` and returns the id of what was made: the answer's member `key` (nova,
    /// neutron, keystone), or the answer itself when `key` is `None` (glance).
    pub async fn create(
        &self,
        url: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<String, RestError> {
        let made = self.json(Method::POST, url, Body::Json(body)).await?;
        id(key.map_or(&made, |k| &made[k]), url)
    }

    /// The members of the collection `key` at `url` (a query string included).
    pub async fn list(&self, url: &str, key: &'static str) -> Result<Vec<Value>, RestError> {
        match self.json(Method::GET, url, Body::Empty).await?.get_mut(key) {
            Some(Value::Array(items)) => Ok(std::mem::take(items)),
            _ => Err(RestError::Answer(url.to_owned(), key)),
        }
    }

    /// The ids of the listed members named `name` in the collection `key` at `url`.
    pub async fn ids_named(
        &self,
        url: &str,
        key: &'static str,
        name: &str,
    ) -> Result<Vec<String>, RestError> {
        let items = self.list(url, key).await?;
        items
            .iter()
            .filter(|i| i.get("name").and_then(Value::as_str) == Some(name))
            .map(|i| id(i, url))
            .collect()
    }

    /// Deletes `url`; one already gone counts as deleted.
    pub async fn delete(&self, url: &str) -> Result<(), RestError> {
        let gone = [
            StatusCode::NO_CONTENT,
            StatusCode::ACCEPTED,
            StatusCode::OK,
            StatusCode::NOT_FOUND,
        ];
        self.send(Method::DELETE, url, Body::Empty, &gone)
            .await
            .map(drop)
    }

    /// Whether `user` (of the default domain) signs in with `password`.
    pub async fn password_works(&self, user: &str, password: &str) -> Result<bool, RestError> {
        let body = password_auth(user, "Default", password, None);
        let url = format!("{}/auth/tokens", self.identity);
        let known = [StatusCode::CREATED, StatusCode::UNAUTHORIZED];
        let answer = self
            .exchange(false, Method::POST, &url, Body::Json(&body), &known)
            .await?;
        Ok(answer.status() == StatusCode::CREATED)
    }
}

/// The HTTP client: TLS through rustls, trusting only `ca` when given.
fn client(ca: Option<&str>) -> Result<reqwest::Client, RestError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(30));
    if let Some(path) = ca {
        let ca_error = |why: String| RestError::Ca {
            path: path.to_owned(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_error("no certificate in it".into()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|source| RestError::Http {
        method: Method::GET,
        url: String::new(),
        source,
    })
}

/// The id of a made or listed object.
pub fn id(value: &Value, what: &str) -> Result<String, RestError> {
    value
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| RestError::Answer(what.to_owned(), "id"))
}

/// The URL of the `interface` endpoint of the service of type `kind` in `region`, from a token's
/// catalog, without a trailing slash.
pub fn catalog_url(catalog: &[Value], kind: &str, interface: &str, region: &str) -> Option<String> {
    catalog
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(kind))
        .flat_map(|s| {
            s.get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|e| {
            e.get("interface").and_then(Value::as_str) == Some(interface)
                && e.get("region_id")
                    .or_else(|| e.get("region"))
                    .and_then(Value::as_str)
                    == Some(region)
        })
        .and_then(|e| e.get("url").and_then(Value::as_str))
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// Runs `work` on a runtime of its own (the command line's verbs are synchronous).
pub fn block_on<T>(work: impl Future<Output = Result<T, RestError>>) -> Result<T, RestError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RestError::Runtime)?
        .block_on(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        [
            ("OS_AUTH_URL", "https://10.20.0.10:5000/v3/"),
            ("OS_USERNAME", "admin"),
            ("OS_PASSWORD", "pw"),
            ("OS_PROJECT_NAME", "admin"),
            ("OS_CACERT", "/etc/stackbox/ca.pem"),
        ]
        .iter()
        .find(|(n, _)| *n == k)
        .map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_admin_comes_from_the_os_variables() {
        let admin = Admin::from_env(env).unwrap();
        assert_eq!(admin.auth_url, "https://10.20.0.10:5000/v3");
        assert_eq!(admin.user_domain, "Default");
        assert_eq!(admin.region, "RegionOne");
        assert_eq!(admin.ca.as_deref(), Some("/etc/stackbox/ca.pem"));
        for needed in [
            "OS_AUTH_URL",
            "OS_USERNAME",
            "OS_PASSWORD",
            "OS_PROJECT_NAME",
        ] {
            let without = |k: &str| (k != needed).then(|| env(k)).flatten();
            assert!(
                matches!(Admin::from_env(without), Err(RestError::Missing(v)) if v == needed),
                "{needed}"
            );
        }
    }

    #[test]
    fn the_identity_url_is_keystones_v3() {
        assert_eq!(identity_v3("https://k:5000/v3"), "https://k:5000/v3");
        assert_eq!(identity_v3("https://k:5000/v3/"), "https://k:5000/v3");
        assert_eq!(identity_v3("https://k:5000"), "https://k:5000/v3");
        assert_eq!(identity_v3("https://k/identity/"), "https://k/identity/v3");
    }

    #[test]
    fn a_scoped_sign_in_names_the_project() {
        let body = password_auth("admin", "Default", "pw", Some(("admin", "Default")));
        assert_eq!(body["auth"]["scope"]["project"]["name"], "admin");
        assert_eq!(
            body["auth"]["identity"]["password"]["user"]["password"],
            "pw"
        );
        assert!(
            password_auth("glance", "Default", "pw", None)["auth"]
                .get("scope")
                .is_none()
        );
    }

    #[test]
    fn endpoints_come_from_the_tokens_catalog() {
        let catalog = json!([
            {"type": "image", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "https://in:9292"},
                {"interface": "public", "region_id": "RegionTwo", "url": "https://two:9292"},
                {"interface": "public", "region_id": "RegionOne", "url": "https://10.20.0.10:9292/"},
            ]},
            {"type": "compute", "endpoints": [
                {"interface": "public", "region": "RegionOne", "url": "https://10.20.0.10:8774/v2.1"},
            ]},
        ]);
        let catalog = catalog.as_array().unwrap();
        assert_eq!(
            catalog_url(catalog, "image", "public", "RegionOne").as_deref(),
            Some("https://10.20.0.10:9292")
        );
        assert_eq!(
            catalog_url(catalog, "compute", "public", "RegionOne").as_deref(),
            Some("https://10.20.0.10:8774/v2.1")
        );
        assert_eq!(catalog_url(catalog, "network", "public", "RegionOne"), None);
        assert_eq!(catalog_url(catalog, "image", "admin", "RegionOne"), None);
        assert_eq!(catalog_url(catalog, "compute", "public", "RegionTwo"), None);
    }

    #[test]
    fn only_haproxys_no_backend_answers_are_sent_again() {
        assert!(unreached(StatusCode::BAD_GATEWAY));
        assert!(unreached(StatusCode::SERVICE_UNAVAILABLE));
        // A gateway timeout may have reached a service that acted: not sent again.
        assert!(!unreached(StatusCode::GATEWAY_TIMEOUT));
        assert!(!unreached(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!unreached(StatusCode::CONFLICT));
    }

    #[test]
    fn only_repeatable_requests_are_sent_again_after_a_broken_connection() {
        let url = "https://k:9696/v2.0/networks";
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(repeatable(&method, url), "{method}");
        }
        assert!(!repeatable(&Method::POST, url));
        assert!(!repeatable(&Method::PATCH, url));
        assert!(repeatable(&Method::POST, "https://k:5000/v3/auth/tokens"));
    }

    #[test]
    fn ids_are_read_or_refused() {
        assert_eq!(id(&json!({"id": "abc"}), "x").unwrap(), "abc");
        assert!(id(&json!({"id": 3}), "x").is_err());
        assert!(id(&json!({}), "x").is_err());
    }
}
