//! keystone, the identity service, on every management node, each with the cluster's fernet and
//! credential keys. The leader creates its tables, bootstraps the admin and the identity endpoints, and
//! once keystone answers, registers the other services: the service project, each service's user and
//! its three endpoints.

use super::catalog::password_variable;
use super::context::{File, OpenStackCtx, admin_env};
use super::endpoints::ports;
use super::mgmt::Mgmt;
use super::uwsgi::{self, App};
use crate::plan::builder::{NodeSteps, argv, as_user, file};
use crate::plan::step::{Action, DoneCheck};
use crate::secrets::placeholder;

/// keystone's steps on a management node.
pub fn steps(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.packages(
        "keystone.packages",
        "install keystone",
        &["openstack.debconf"],
        &[
            "keystone",
            "python3-openstackclient",
            "python3-osc-placement",
        ],
    );
    s.files(
        "keystone.config",
        "configure keystone",
        &["keystone.packages"],
        vec![
            file(
                "/etc/keystone/keystone.conf",
                0o640,
                Some("root:keystone"),
                File::KeystoneConf.render(ctx),
            ),
            uwsgi::default_file(App::Keystone, ctx, ports::KEYSTONE.1),
            uwsgi::ini(App::Keystone, ctx),
        ],
    );
    // The same fernet and credential keys on every management node, from the cluster's secrets: a token
    // one node issued is valid on every other (keystone-manage fernet_setup would make keys per node).
    let key = |dir: &str, n: u8, secret: &str| {
        file(
            &format!("/etc/keystone/{dir}/{n}"),
            0o600,
            Some("keystone:keystone"),
            placeholder(secret),
        )
    };
    s.files(
        "keystone.fernet",
        "install the cluster's fernet and credential keys",
        &["keystone.packages"],
        vec![
            key("fernet-keys", 0, "fernet-0"),
            key("fernet-keys", 1, "fernet-1"),
            key("credential-keys", 0, "credential-0"),
            key("credential-keys", 1, "credential-1"),
        ],
    );
    if m.is_leader {
        bootstrap(s, ctx, m);
    }
    s.units(
        "keystone.start",
        "start keystone",
        &[
            "keystone.config",
            "keystone.fernet",
            &m.keystone,
            "memcached.start",
            "haproxy.start",
        ],
        &["keystone.config", "keystone.fernet"],
        &["keystone.service"],
        "/var/log/keystone/keystone.log",
    );
    s.ready(
        "keystone.ready",
        "wait until keystone answers through haproxy",
        &["keystone.start", "haproxy.start"],
        &(ctx.public_url_keystone() + "/v3"),
        "/var/log/keystone/keystone.log",
    );

    if m.is_leader {
        catalog(s, ctx);
    }
}

/// The leader's keystone: tables, keys, the admin user and the identity endpoints.
fn bootstrap(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.once(
        "keystone.db-sync",
        "create keystone's tables",
        &["keystone.config", &m.dbs],
        vec![as_user("keystone", "keystone-manage db_sync")],
        "/var/log/keystone/keystone-manage.log",
    );
    let url = ctx.public_url_keystone() + "/v3/";
    // keystone-manage reads the admin's password from OS_BOOTSTRAP_PASSWORD: it stays off the command
    // line (the environment of a root process is readable by root only).
    let step = s.once(
        "keystone.bootstrap",
        "bootstrap keystone's admin user and identity endpoints",
        &["keystone.fernet", "keystone.db-sync"],
        vec![argv(&[
            "keystone-manage",
            "bootstrap",
            "--bootstrap-admin-url",
            &url,
            "--bootstrap-internal-url",
            &url,
            "--bootstrap-public-url",
            &url,
            "--bootstrap-region-id",
            &ctx.region,
        ])],
        "/var/log/keystone/keystone-manage.log",
    );
    if let Action::Commands { env, .. } = &mut step.action {
        env.push(("OS_BOOTSTRAP_PASSWORD".to_owned(), placeholder("admin")));
    }
}

/// The leader registers the services in keystone's catalog once keystone answers: `stackboxd catalog`
/// over keystone's REST API (see [`super::catalog`]), its `--check` the evidence.
fn catalog(s: &mut NodeSteps, ctx: &OpenStackCtx) {
    let mut env = admin_env(ctx);
    env.extend(SERVICE_USERS.iter().map(|(user, ..)| {
        (
            password_variable(user),
            placeholder(&format!("user-{user}")),
        )
    }));
    let command = catalog_command(ctx);
    let mut check = command.clone();
    check.push("--check".to_owned());
    let step = s.add(
        "keystone.endpoints",
        "create the service project, the services' users and their endpoints",
        &["keystone.ready"],
        Action::Commands {
            commands: vec![command],
            env,
        },
        // The check runs with the action's environment: the admin's and the users' passwords.
        DoneCheck::Command {
            argv: check,
            contains: None,
        },
    );
    step.log = Some("/var/log/keystone/keystone.log".into());
}

/// The services registered in the catalog: user (also the service's name), type and public port.
const SERVICE_USERS: [(&str, &str, u16); 4] = [
    ("glance", "image", ports::GLANCE.0),
    ("placement", "placement", ports::PLACEMENT.0),
    ("nova", "compute", ports::NOVA.0),
    ("neutron", "network", ports::NEUTRON.0),
];

/// `stackboxd catalog` with every service as NAME:TYPE:URL.
fn catalog_command(ctx: &OpenStackCtx) -> Vec<String> {
    let mut command = argv(&["stackboxd", "catalog", "--region", &ctx.region]);
    for (user, kind, port) in SERVICE_USERS {
        let path = if kind == "compute" { "/v2.1" } else { "" };
        command.push("--service".to_owned());
        command.push(format!(
            "{user}:{kind}:https://{}:{port}{path}",
            ctx.api_host
        ));
    }
    command
}
