//! The dashboard (Horizon, Debian's `openstack-dashboard`) on every management node, under uWSGI like
//! the API services (Debian ships it only for Apache, in `openstack-dashboard-apache`, which the
//! appliance leaves out). haproxy serves it with TLS at `https://API-HOST/dashboard/`, beside the console
//! proxy on the same port.
//!
//! - Its settings: `local_settings.py` (the secret key, so mode 0640, root:horizon) with `WEBROOT`,
//!   the allowed hosts, sessions in the management nodes' memcached, keystone's endpoint verified with
//!   the cluster CA and HTTPS-only cookies. Debian's snippets in `local_settings.d` are read after it;
//!   the two that would undo it (`WEBROOT = "/"` and a per-process cache) are emptied.
//! - Its static files: Debian's postinst collects and compresses them offline for `WEBROOT = "/"`; the
//!   compressed pages are keyed by what they render, `/dashboard/` included, so they are made again
//!   once the settings are written (Django answers 500 on every page otherwise).
//! - The service: `horizon.service` runs uWSGI as the horizon user on the management address at the
//!   internal port; the dashboard is ready when its login page answers through haproxy.

use askama::Template;

use super::context::OpenStackCtx;
use super::endpoints::{DASHBOARD_PATH, api_host, dashboard_url, ports};
use crate::config::ClusterConfig;
use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::step::Action;
use crate::secrets::placeholder;

/// Horizon's settings: Debian links the application's `local/local_settings.py` here.
pub const SETTINGS: &str = "/etc/openstack-dashboard/local_settings.py";
/// Debian's settings snippets, read after [`SETTINGS`].
const SNIPPETS: &str = "/etc/openstack-dashboard/local_settings.d";
/// uWSGI's configuration of the dashboard.
pub const INI: &str = "/etc/openstack-dashboard/horizon-uwsgi.ini";
/// The unit that runs it.
pub const UNIT: &str = "horizon.service";
/// Its log: uWSGI's requests and Django's warnings and errors.
pub const LOG: &str = "/var/log/horizon/horizon.log";
/// Debian's Django management command for the dashboard.
const MANAGE: &str = "/usr/share/openstack-dashboard/manage.py";
/// The secret Django signs sessions and CSRF tokens with: the same on every management node.
pub const SECRET: &str = "horizon-key";
/// Workers' threads: Horizon is a plain (threaded) Django application; a page waits on the APIs it
/// calls, so a worker serves a few at once.
const THREADS: u32 = 4;

/// A Python string literal of `text` (single-quoted, backslashes and quotes escaped).
fn py(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A Python list of string literals.
fn py_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| py(i)).collect();
    format!("[{}]", items.join(", "))
}

/// The host names and addresses browsers may reach the dashboard at (Django's `ALLOWED_HOSTS`): the
/// API host, the API address, and each management node's address and name (their endpoint certificates
/// name them too). The same list on every node, since haproxy sends any request to any of them.
pub fn allowed_hosts(config: &ClusterConfig) -> Vec<String> {
    let mut hosts = vec![api_host(config)];
    hosts.extend(config.networks.api_address.map(|a| a.to_string()));
    for node in config.nodes_with("management") {
        hosts.extend([node.address.to_string(), node.name.clone()]);
    }
    let mut unique: Vec<String> = Vec::new();
    for host in hosts {
        if !host.is_empty() && !unique.contains(&host) {
            unique.push(host);
        }
    }
    unique
}

#[derive(Template)]
#[template(path = "horizon-local_settings.py", escape = "none")]
struct LocalSettings<'a> {
    ctx: &'a OpenStackCtx,
    port: u16,
    path: &'a str,
    allowed_hosts: String,
    secret_key: String,
    memcached: String,
    keystone_url: String,
}

#[derive(Template)]
#[template(path = "horizon-uwsgi.ini", escape = "none")]
struct Ini<'a> {
    ctx: &'a OpenStackCtx,
    port: u16,
    path: &'a str,
    processes: u32,
    threads: u32,
}

#[derive(Template)]
#[template(path = "horizon.service", escape = "none")]
struct Unit<'a> {
    ini: &'a str,
}

/// A template's text with a final newline (rendering fails only when a value's Display fails; none of
/// ours can).
fn text(template: &impl Template) -> String {
    let mut text = template
        .render()
        .unwrap_or_else(|e| format!("# render error: {e}\n"));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// `local_settings.py`, with the secret key as a placeholder.
pub fn local_settings(config: &ClusterConfig, ctx: &OpenStackCtx) -> String {
    let memcached: Vec<String> = ctx
        .memcached_servers
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    text(&LocalSettings {
        ctx,
        port: ports::HORIZON.1,
        path: DASHBOARD_PATH,
        allowed_hosts: py_list(&allowed_hosts(config)),
        secret_key: py(&placeholder(SECRET)),
        memcached: py_list(&memcached),
        keystone_url: py(&(ctx.public_url_keystone() + "/v3")),
    })
}

/// What replaces a Debian snippet that would undo `local_settings.py`.
fn emptied(what: &str) -> String {
    format!(
        "# Written by stackbox: emptied. The snippets here run after local_settings.py, where stackbox\n\
         # sets {what};\n# Debian's default here would undo it.\n"
    )
}

/// The dashboard's steps on a management node.
pub fn steps(s: &mut NodeSteps, config: &ClusterConfig, ctx: &OpenStackCtx) {
    s.packages(
        "dashboard.packages",
        "install the dashboard (Horizon) and uWSGI",
        &["openstack.debconf"],
        &["openstack-dashboard", "uwsgi-plugin-python3"],
    );
    let ini = Ini {
        ctx,
        port: ports::HORIZON.1,
        path: DASHBOARD_PATH,
        processes: ctx.api_processes(),
        threads: THREADS,
    };
    s.files(
        "dashboard.config",
        "configure the dashboard and its uWSGI service",
        &["dashboard.packages"],
        vec![
            // The secret key: readable by the group the uWSGI workers run as, nobody else.
            file(
                SETTINGS,
                0o640,
                Some("root:horizon"),
                local_settings(config, ctx),
            ),
            file(
                &format!("{SNIPPETS}/_0005_debian_webroot.py"),
                0o644,
                None,
                emptied("WEBROOT (the path haproxy serves the dashboard under)"),
            ),
            file(
                &format!("{SNIPPETS}/_0006_debian_cache.py"),
                0o644,
                None,
                emptied("CACHES (the management nodes' memcached, which holds the sessions)"),
            ),
            file(INI, 0o644, None, text(&ini)),
            file(
                &format!("/etc/systemd/system/{UNIT}"),
                0o644,
                None,
                text(&Unit { ini: INI }),
            ),
        ],
    );
    // As Debian's postinst does it (as root: the files belong to the package's directories), again
    // whenever the settings change. No bytecode: compiling local_settings.py as root would leave a
    // copy of the secret key beside the package's modules.
    let config_id = s.id("dashboard.config");
    let step = s.once(
        "dashboard.static",
        "collect and compress the dashboard's static files for its path",
        &["dashboard.config"],
        vec![
            argv(&[MANAGE, "collectstatic", "--noinput", "--clear"]),
            argv(&[MANAGE, "compress", "--force"]),
        ],
        LOG,
    );
    step.watch = vec![config_id];
    if let Action::Commands { env, .. } = &mut step.action {
        env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    }
    s.units(
        "dashboard.start",
        "start the dashboard",
        &["dashboard.static", "memcached.start"],
        &["dashboard.config", "dashboard.static"],
        &[UNIT],
        LOG,
    );
    s.ready(
        "dashboard.ready",
        "wait until the dashboard's login page answers through haproxy",
        &["dashboard.start", "haproxy.start"],
        &dashboard_url(config),
        LOG,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_are_quoted() {
        assert_eq!(py("it's a \\ test"), "'it\\'s a \\\\ test'");
        assert_eq!(py_list(&["a".to_owned(), "b".to_owned()]), "['a', 'b']");
        assert_eq!(py_list(&[]), "[]");
    }
}
