//! keystone, the identity service, on every management node, each with the cluster's fernet and
//! credential keys. The leader creates its tables, bootstraps the admin and the identity endpoints, and
//! once keystone answers, registers the other services: the service project, each service's user and
//! its three endpoints.

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

/// The leader registers the services in keystone's catalog once keystone answers.
fn catalog(s: &mut NodeSteps, ctx: &OpenStackCtx) {
    let mut env = admin_env(ctx);
    env.extend(SERVICE_USERS.iter().map(|(user, ..)| {
        (
            password_variable(user),
            placeholder(&format!("user-{user}")),
        )
    }));
    let step = s.add(
        "keystone.endpoints",
        "create the service project, the services' users and their endpoints",
        &["keystone.ready"],
        Action::Commands {
            commands: catalog_commands(ctx),
            env,
        },
        DoneCheck::Command {
            argv: argv(&[
                "openstack",
                "endpoint",
                "list",
                "--service",
                "neutron",
                "--interface",
                "admin",
                "-f",
                "value",
                "-c",
                "URL",
            ]),
            contains: Some(format!(":{}", ports::NEUTRON.0)),
        },
    );
    step.log = Some("/var/log/keystone/keystone.log".into());
}

/// The services registered in the catalog: user, service name, type and public port.
const SERVICE_USERS: [(&str, &str, &str, u16); 4] = [
    ("glance", "glance", "image", ports::GLANCE.0),
    ("placement", "placement", "placement", ports::PLACEMENT.0),
    ("nova", "nova", "compute", ports::NOVA.0),
    ("neutron", "neutron", "network", ports::NEUTRON.0),
];

/// The environment variable that carries `user`'s password to [`SET_USER_PASSWORD`].
fn password_variable(user: &str) -> String {
    format!("STACKBOX_PASSWORD_{}", user.to_uppercase())
}

/// Creates the user `argv[1]` in the default domain, or sets its password when it exists, with the password
/// from the environment variable `argv[2]`: the `openstack` client takes a password only as an argument
/// or from a terminal, so this uses its library (openstacksdk, which reads the admin's `OS_*` variables).
const SET_USER_PASSWORD: &str = "import os, sys, openstack
name, password = sys.argv[1], os.environ[sys.argv[2]]
conn = openstack.connect()
user = conn.identity.find_user(name)
if user is None:
    conn.identity.create_user(name=name, password=password, domain_id='default')
else:
    conn.identity.update_user(user, password=password)
";

/// Creates the project `$1` unless it exists.
const PROJECT: &str = "openstack project show \"$1\" >/dev/null 2>&1 \
    || openstack project create --domain default --description 'Service Project' \"$1\"";

/// Creates the service `$1` of type `$2` unless it exists.
const SERVICE: &str = "openstack service show \"$1\" >/dev/null 2>&1 \
    || openstack service create --name \"$1\" \"$2\"";

/// Creates the endpoint of service `$1`, interface `$2`, in region `$3`, at URL `$4`, unless it exists.
const ENDPOINT: &str = "openstack endpoint list --service \"$1\" --interface \"$2\" -f value -c URL \
    | grep -qxF -- \"$4\" || openstack endpoint create --region \"$3\" \"$1\" \"$2\" \"$4\"";

/// The service project, then per service its user (its password set again, in case it changed), its
/// admin role, the service and its public, internal and admin endpoints: each only when missing. The
/// shell scripts are constants: every value reaches them as an argument (`$1`...), never as shell text.
fn catalog_commands(ctx: &OpenStackCtx) -> Vec<Vec<String>> {
    let mut commands = vec![argv(&["sh", "-c", PROJECT, "sh", "service"])];
    for (user, service, kind, port) in SERVICE_USERS {
        let url = if kind == "compute" {
            format!("https://{}:{port}/v2.1", ctx.api_host)
        } else {
            format!("https://{}:{port}", ctx.api_host)
        };
        commands.push(argv(&[
            "python3",
            "-c",
            SET_USER_PASSWORD,
            user,
            &password_variable(user),
        ]));
        commands.push(argv(&[
            "openstack",
            "role",
            "add",
            "--project",
            "service",
            "--user",
            user,
            "admin",
        ]));
        commands.push(argv(&["sh", "-c", SERVICE, "sh", service, kind]));
        for interface in ["public", "internal", "admin"] {
            commands.push(argv(&[
                "sh",
                "-c",
                ENDPOINT,
                "sh",
                service,
                interface,
                &ctx.region,
                &url,
            ]));
        }
    }
    commands
}
