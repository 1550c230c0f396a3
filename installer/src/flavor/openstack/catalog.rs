//! keystone's catalog through its REST API (identity v3) from Rust, over one keep-alive connection:
//! the service project, and per service its user (with its password), the user's admin role in the
//! service project, the service and its public, internal and admin endpoints. Each is looked up first and
//! made or corrected only when missing or different: keystone allows two services of one name, so a
//! rerun must not make a second. This is `stackboxd catalog` (the `keystone.endpoints` step) and its
//! `--check` (the step's evidence); the `openstack` client cost 2-3 s of Python start per call, and the
//! step made about 30 of them.
//!
//! The admin's credentials come from the `OS_*` environment (as for the `openstack` client), each service
//! user's password from `STACKBOX_PASSWORD_<USER>`: no secret is ever on a command line.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::rest::{Body, RestError, Session};

/// The project the services' users have their role in.
pub const SERVICE_PROJECT: &str = "service";
/// The role they have there.
const ROLE: &str = "admin";
/// The domain of the project and the users.
const DOMAIN_ID: &str = "default";
/// The interfaces every service gets an endpoint for.
pub const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// One service in the catalog: its name (also its user's), its type and its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The service's and its user's name (`glance`).
    pub name: String,
    /// Its type (`image`).
    pub kind: String,
    /// The URL of its three endpoints.
    pub url: String,
}

impl std::str::FromStr for Entry {
    type Err = String;

    /// `NAME:TYPE:URL`, as `--service` takes it: a lowercase name and type, an https or http URL.
    fn from_str(s: &str) -> Result<Entry, String> {
        let mut parts = s.splitn(3, ':');
        let (Some(name), Some(kind), Some(url)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{s:?}: expected NAME:TYPE:URL"));
        };
        let word = |w: &str| {
            !w.is_empty()
                && w.len() <= 64
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        if !word(name) || !word(kind) {
            return Err(format!(
                "{s:?}: the name and type are lowercase letters, digits, - and _"
            ));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
            return Err(format!(
                "{s:?}: the URL must be http(s)://HOST[:PORT][/PATH]"
            ));
        }
        Ok(Entry {
            name: name.to_owned(),
            kind: kind.to_owned(),
            url: url.to_owned(),
        })
    }
}

/// The environment variable that carries `user`'s password.
pub fn password_variable(user: &str) -> String {
    format!(
        "STACKBOX_PASSWORD_{}",
        user.to_uppercase().replace('-', "_")
    )
}

/// keystone's identity API through a signed-in session: paths below its v3 URL.
pub struct Keystone<'a>(pub &'a Session);

impl Keystone<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.identity)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, RestError> {
        let body = body.map_or(Body::Empty, Body::Json);
        self.0.send(method, &self.url(path), body, expected).await
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let body = body.map_or(Body::Empty, Body::Json);
        self.0.json(method, &self.url(path), body).await
    }

    async fn list(&self, path: &str, key: &'static str) -> Result<Vec<Value>, RestError> {
        self.0.list(&self.url(path), key).await
    }

    /// The id of the first listed object named `name` in the collection `key` at `path`, if any.
    async fn find(
        &self,
        path: &str,
        key: &'static str,
        name: &str,
    ) -> Result<Option<String>, RestError> {
        Ok(self
            .0
            .ids_named(&self.url(path), key, name)
            .await?
            .into_iter()
            .next())
    }

    /// The id of the object named `name` listed at `list` (collection `key`); when there is none,
    /// acting makes it by posting `body` to `create`, looking returns `None`. Either way, records it.
    #[allow(clippy::too_many_arguments)]
    async fn ensure(
        &self,
        list: &str,
        key: &'static str,
        name: &str,
        create: &str,
        body: &Value,
        mode: Mode,
        changes: &mut Changes,
    ) -> Result<Option<String>, RestError> {
        if let Some(id) = self.find(list, key, name).await? {
            return Ok(Some(id));
        }
        let kind = key.trim_end_matches('s');
        record(changes, mode, format!("{kind} {name} created"));
        if mode == Mode::Look {
            return Ok(None);
        }
        let made = self.0.create(&self.url(create), body, Some(kind)).await?;
        Ok(Some(made))
    }

    async fn password_works(&self, user: &str, password: &str) -> Result<bool, RestError> {
        self.0.password_works(user, password).await
    }
}

/// Whether a walk over the catalog makes what is missing or only says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Make or correct what is missing or different (`stackboxd catalog`).
    Act,
    /// Change nothing; report what [`Mode::Act`] would do (`stackboxd catalog --check`).
    Look,
}

/// What a walk did (or, looking, would do), a line each; empty when the catalog holds everything.
pub type Changes = Vec<String>;

/// Records a change: done when acting, to do when looking.
fn record(changes: &mut Changes, mode: Mode, what: String) {
    changes.push(match mode {
        Mode::Act => what,
        Mode::Look => format!("to do: {what}"),
    });
}

/// Walks the catalog for `entries` in `region`: the service project, each user with its password from
/// `password`, its admin role there, its service and its endpoints. Acting, makes or corrects what is
/// missing or different; looking, stops at the first missing object whose children cannot be looked
/// at. Returns the changes.
pub async fn reconcile(
    ks: &Keystone<'_>,
    region: &str,
    entries: &[Entry],
    password: impl Fn(&str) -> Option<String>,
    mode: Mode,
) -> Result<Changes, RestError> {
    let mut changes = Changes::new();
    let projects = format!("/projects?name={SERVICE_PROJECT}&domain_id={DOMAIN_ID}");
    let body = json!({"project": {"name": SERVICE_PROJECT, "domain_id": DOMAIN_ID,
        "description": "Service Project"}});
    let Some(project) = ks
        .ensure(
            &projects,
            "projects",
            SERVICE_PROJECT,
            "/projects",
            &body,
            mode,
            &mut changes,
        )
        .await?
    else {
        return Ok(changes);
    };
    let role = ks
        .find(&format!("/roles?name={ROLE}"), "roles", ROLE)
        .await?
        .ok_or_else(|| RestError::Answer(format!("/roles?name={ROLE}"), "admin role"))?;
    for entry in entries {
        let name = &entry.name;
        let secret = password(name).ok_or_else(|| RestError::Missing(password_variable(name)))?;
        let users = format!("/users?name={name}&domain_id={DOMAIN_ID}");
        let body = json!({"user": {"name": name, "domain_id": DOMAIN_ID, "password": secret}});
        let Some(user) = ks
            .ensure(&users, "users", name, "/users", &body, mode, &mut changes)
            .await?
        else {
            return Ok(changes);
        };
        if !ks.password_works(name, &secret).await? {
            if mode == Mode::Act {
                let body = json!({"user": {"password": secret}});
                ks.json(Method::PATCH, &format!("/users/{user}"), Some(&body))
                    .await?;
            }
            record(&mut changes, mode, format!("{name}: password set again"));
        }
        let grant = format!("/projects/{project}/users/{user}/roles/{role}");
        let has = [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND];
        if ks.send(Method::HEAD, &grant, None, &has).await?.status() == StatusCode::NOT_FOUND {
            if mode == Mode::Act {
                ks.send(Method::PUT, &grant, None, &[StatusCode::NO_CONTENT])
                    .await?;
            }
            record(
                &mut changes,
                mode,
                format!("{name}: role {ROLE} in {SERVICE_PROJECT}"),
            );
        }
        let services = format!("/services?type={}", entry.kind);
        let body = json!({"service": {"name": name, "type": entry.kind}});
        let Some(service) = ks
            .ensure(
                &services,
                "services",
                name,
                "/services",
                &body,
                mode,
                &mut changes,
            )
            .await?
        else {
            return Ok(changes);
        };
        endpoints(ks, region, entry, &service, mode, &mut changes).await?;
    }
    Ok(changes)
}

/// What one interface's endpoints in the region need to become the one wanted URL.
#[derive(Debug, PartialEq, Eq)]
pub enum EndpointFix {
    /// It is there, once.
    Keep,
    /// None is there: make it.
    Create,
    /// One is there with another URL: correct it.
    Update(String),
    /// Several are there: keep the first (corrected when `update`), delete the others.
    Dedupe {
        /// The endpoint kept.
        keep: String,
        /// Whether its URL must change.
        update: bool,
        /// The endpoints deleted.
        delete: Vec<String>,
    },
}

/// Decides what `listed` (this service's endpoints of one interface: id, region, URL) needs to hold
/// exactly one endpoint at `url` in `region`. Endpoints of other regions are left alone.
pub fn endpoint_fix(listed: &[(String, String, String)], region: &str, url: &str) -> EndpointFix {
    let mut here: Vec<&(String, String, String)> =
        listed.iter().filter(|(_, r, _)| r == region).collect();
    // The one already at the URL is the one to keep.
    here.sort_by_key(|(_, _, u)| u != url);
    match here.as_slice() {
        [] => EndpointFix::Create,
        [(_, _, u)] if u == url => EndpointFix::Keep,
        [(id, _, _)] => EndpointFix::Update(id.clone()),
        [(id, _, u), rest @ ..] => EndpointFix::Dedupe {
            keep: id.clone(),
            update: u != url,
            delete: rest.iter().map(|(id, _, _)| id.clone()).collect(),
        },
    }
}

/// The listed endpoints as (id, region, URL).
fn endpoint_rows(items: &[Value]) -> Vec<(String, String, String)> {
    let text = |i: &Value, k: &str| i.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    items
        .iter()
        .map(|i| (text(i, "id"), text(i, "region_id"), text(i, "url")))
        .collect()
}

/// The entry's three endpoints, each exactly once in the region at its URL.
async fn endpoints(
    ks: &Keystone<'_>,
    region: &str,
    entry: &Entry,
    service: &str,
    mode: Mode,
    changes: &mut Changes,
) -> Result<(), RestError> {
    for interface in INTERFACES {
        let path = format!("/endpoints?service_id={service}&interface={interface}");
        let listed = endpoint_rows(&ks.list(&path, "endpoints").await?);
        let fix = endpoint_fix(&listed, region, &entry.url);
        let what = format!("{} {interface} endpoint in {region}", entry.name);
        let what = match &fix {
            EndpointFix::Keep => continue,
            EndpointFix::Create => format!("{what} created at {}", entry.url),
            EndpointFix::Update(_) => format!("{what} moved to {}", entry.url),
            EndpointFix::Dedupe { delete, .. } => {
                format!("{what}: {} duplicates deleted", delete.len())
            }
        };
        record(changes, mode, what);
        if mode == Mode::Look {
            continue;
        }
        let patch = json!({"endpoint": {"url": entry.url}});
        match fix {
            EndpointFix::Keep => {}
            EndpointFix::Create => {
                let body = json!({"endpoint": {"service_id": service, "interface": interface,
                    "url": entry.url, "region_id": region}});
                ks.json(Method::POST, "/endpoints", Some(&body)).await?;
            }
            EndpointFix::Update(id) => {
                ks.json(Method::PATCH, &format!("/endpoints/{id}"), Some(&patch))
                    .await?;
            }
            EndpointFix::Dedupe {
                keep,
                update,
                delete,
            } => {
                if update {
                    ks.json(Method::PATCH, &format!("/endpoints/{keep}"), Some(&patch))
                        .await?;
                }
                for id in &delete {
                    ks.send(
                        Method::DELETE,
                        &format!("/endpoints/{id}"),
                        None,
                        &[StatusCode::NO_CONTENT],
                    )
                    .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_name_type_and_url() {
        let e: Entry = "glance:image:https://10.20.0.10:9292".parse().unwrap();
        assert_eq!(e.name, "glance");
        assert_eq!(e.kind, "image");
        assert_eq!(e.url, "https://10.20.0.10:9292");
        let nova: Entry = "nova:compute:https://api.example:8774/v2.1"
            .parse()
            .unwrap();
        assert_eq!(nova.url, "https://api.example:8774/v2.1");
    }

    #[test]
    fn must_fail_entries() {
        for bad in [
            "",
            "glance",
            "glance:image",
            ":image:https://x",
            "glance::https://x",
            "Glance:image:https://x",
            "glance:image:ftp://x",
            "glance:image:https://",
            "glance:image:https://a b",
            "gl ance:image:https://x",
            "glance;rm:image:https://x",
        ] {
            assert!(bad.parse::<Entry>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_password_variable_per_user() {
        assert_eq!(password_variable("glance"), "STACKBOX_PASSWORD_GLANCE");
        assert_eq!(password_variable("nova-api"), "STACKBOX_PASSWORD_NOVA_API");
    }

    fn row(id: &str, region: &str, url: &str) -> (String, String, String) {
        (id.into(), region.into(), url.into())
    }

    #[test]
    fn each_interface_ends_with_one_endpoint_at_the_url() {
        let url = "https://10.20.0.10:9292";
        assert_eq!(endpoint_fix(&[], "RegionOne", url), EndpointFix::Create);
        assert_eq!(
            endpoint_fix(&[row("a", "RegionOne", url)], "RegionOne", url),
            EndpointFix::Keep
        );
        assert_eq!(
            endpoint_fix(
                &[row("a", "RegionOne", "https://old:9292")],
                "RegionOne",
                url
            ),
            EndpointFix::Update("a".into())
        );
        // Another region's endpoint is not this region's.
        assert_eq!(
            endpoint_fix(&[row("a", "RegionTwo", url)], "RegionOne", url),
            EndpointFix::Create
        );
        // Duplicates: the one at the URL is kept, the rest deleted.
        assert_eq!(
            endpoint_fix(
                &[
                    row("a", "RegionOne", "https://old:9292"),
                    row("b", "RegionOne", url),
                    row("c", "RegionOne", url),
                ],
                "RegionOne",
                url
            ),
            EndpointFix::Dedupe {
                keep: "b".into(),
                update: false,
                delete: vec!["c".into(), "a".into()],
            }
        );
        assert_eq!(
            endpoint_fix(
                &[
                    row("a", "RegionOne", "https://old:9292"),
                    row("b", "RegionOne", "https://older:9292"),
                ],
                "RegionOne",
                url
            ),
            EndpointFix::Dedupe {
                keep: "a".into(),
                update: true,
                delete: vec!["b".into()],
            }
        );
    }
}
