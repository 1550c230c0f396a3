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

use super::rest::{Body, RestError, Session, id};

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

    async fn password_works(&self, user: &str, password: &str) -> Result<bool, RestError> {
        self.0.password_works(user, password).await
    }
}

/// What [`register`] did, a line each.
pub type Changes = Vec<String>;

/// Makes the catalog hold `entries` in `region`: the service project, each user with its password from
/// `password`, its admin role there, its service and endpoints. Returns what it changed.
pub async fn register(
    ks: &Keystone<'_>,
    region: &str,
    entries: &[Entry],
    password: impl Fn(&str) -> Option<String>,
) -> Result<Changes, RestError> {
    let mut changes = Changes::new();
    let project = match ks
        .find(
            &format!("/projects?name={SERVICE_PROJECT}&domain_id={DOMAIN_ID}"),
            "projects",
            SERVICE_PROJECT,
        )
        .await?
    {
        Some(id) => id,
        None => {
            let body = json!({"project": {"name": SERVICE_PROJECT, "domain_id": DOMAIN_ID,
                "description": "Service Project"}});
            changes.push(format!("project {SERVICE_PROJECT} created"));
            id(
                &ks.json(Method::POST, "/projects", Some(&body)).await?["project"],
                "project",
            )?
        }
    };
    let role = ks
        .find(&format!("/roles?name={ROLE}"), "roles", ROLE)
        .await?
        .ok_or_else(|| RestError::Answer(format!("/roles?name={ROLE}"), "admin role"))?;
    for entry in entries {
        let secret = password(&entry.name)
            .ok_or_else(|| RestError::Missing(password_variable(&entry.name)))?;
        let user = user(ks, &entry.name, &secret, &mut changes).await?;
        let grant = format!("/projects/{project}/users/{user}/roles/{role}");
        let has = [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND];
        if ks.send(Method::HEAD, &grant, None, &has).await?.status() == StatusCode::NOT_FOUND {
            ks.send(Method::PUT, &grant, None, &[StatusCode::NO_CONTENT])
                .await?;
            changes.push(format!("{}: role {ROLE} in {SERVICE_PROJECT}", entry.name));
        }
        let service = service(ks, entry, &mut changes).await?;
        endpoints(ks, region, entry, &service, &mut changes).await?;
    }
    Ok(changes)
}

/// The user `name`, made with `password`, or given it again when it no longer signs in with it.
async fn user(
    ks: &Keystone<'_>,
    name: &str,
    password: &str,
    changes: &mut Changes,
) -> Result<String, RestError> {
    let path = format!("/users?name={name}&domain_id={DOMAIN_ID}");
    match ks.find(&path, "users", name).await? {
        Some(id) if ks.password_works(name, password).await? => Ok(id),
        Some(id) => {
            let body = json!({"user": {"password": password}});
            ks.json(Method::PATCH, &format!("/users/{id}"), Some(&body))
                .await?;
            changes.push(format!("{name}: password set again"));
            Ok(id)
        }
        None => {
            let body =
                json!({"user": {"name": name, "domain_id": DOMAIN_ID, "password": password}});
            changes.push(format!("{name}: user created"));
            id(
                &ks.json(Method::POST, "/users", Some(&body)).await?["user"],
                "user",
            )
        }
    }
}

/// The service of the entry's name and type: the first one found, else a new one.
async fn service(
    ks: &Keystone<'_>,
    entry: &Entry,
    changes: &mut Changes,
) -> Result<String, RestError> {
    let path = format!("/services?type={}", entry.kind);
    if let Some(id) = ks.find(&path, "services", &entry.name).await? {
        return Ok(id);
    }
    let body = json!({"service": {"name": entry.name, "type": entry.kind}});
    changes.push(format!("{}: service created", entry.name));
    id(
        &ks.json(Method::POST, "/services", Some(&body)).await?["service"],
        "service",
    )
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
    changes: &mut Changes,
) -> Result<(), RestError> {
    for interface in INTERFACES {
        let path = format!("/endpoints?service_id={service}&interface={interface}");
        let listed = endpoint_rows(&ks.list(&path, "endpoints").await?);
        let patch = json!({"endpoint": {"url": entry.url}});
        let what = format!("{} {interface} endpoint", entry.name);
        match endpoint_fix(&listed, region, &entry.url) {
            EndpointFix::Keep => {}
            EndpointFix::Create => {
                let body = json!({"endpoint": {"service_id": service, "interface": interface,
                    "url": entry.url, "region_id": region}});
                ks.json(Method::POST, "/endpoints", Some(&body)).await?;
                changes.push(format!("{what} created"));
            }
            EndpointFix::Update(id) => {
                ks.json(Method::PATCH, &format!("/endpoints/{id}"), Some(&patch))
                    .await?;
                changes.push(format!("{what} moved to {}", entry.url));
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
                changes.push(format!("{what}: {} duplicates deleted", delete.len()));
            }
        }
    }
    Ok(())
}

/// Whether the catalog holds `entries` in `region` as [`register`] makes it: `Ok(None)` when it does,
/// else what is missing or different (the first found). Changes nothing.
pub async fn missing(
    ks: &Keystone<'_>,
    region: &str,
    entries: &[Entry],
    password: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, RestError> {
    let projects = format!("/projects?name={SERVICE_PROJECT}&domain_id={DOMAIN_ID}");
    let Some(project) = ks.find(&projects, "projects", SERVICE_PROJECT).await? else {
        return Ok(Some(format!("no project {SERVICE_PROJECT}")));
    };
    let Some(role) = ks
        .find(&format!("/roles?name={ROLE}"), "roles", ROLE)
        .await?
    else {
        return Ok(Some(format!("no role {ROLE}")));
    };
    for entry in entries {
        let name = &entry.name;
        let users = format!("/users?name={name}&domain_id={DOMAIN_ID}");
        let Some(user) = ks.find(&users, "users", name).await? else {
            return Ok(Some(format!("no user {name}")));
        };
        let secret = password(name).ok_or_else(|| RestError::Missing(password_variable(name)))?;
        if !ks.password_works(name, &secret).await? {
            return Ok(Some(format!("{name} does not sign in with its password")));
        }
        let grant = format!("/projects/{project}/users/{user}/roles/{role}");
        let has = [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND];
        if ks.send(Method::HEAD, &grant, None, &has).await?.status() == StatusCode::NOT_FOUND {
            return Ok(Some(format!(
                "{name} has no {ROLE} role in {SERVICE_PROJECT}"
            )));
        }
        let services = format!("/services?type={}", entry.kind);
        let Some(service) = ks.find(&services, "services", name).await? else {
            return Ok(Some(format!("no service {name} of type {}", entry.kind)));
        };
        for interface in INTERFACES {
            let path = format!("/endpoints?service_id={service}&interface={interface}");
            let listed = endpoint_rows(&ks.list(&path, "endpoints").await?);
            if endpoint_fix(&listed, region, &entry.url) != EndpointFix::Keep {
                return Ok(Some(format!(
                    "{name}'s {interface} endpoint in {region} is not exactly {}",
                    entry.url
                )));
            }
        }
    }
    Ok(None)
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
