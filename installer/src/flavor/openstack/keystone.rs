//! keystone, the identity service, on every management node. The leader creates its tables, its fernet
//! and credential keys, bootstraps the admin and the identity endpoints, and once keystone answers,
//! registers the other services: the service project, each service's user and its three endpoints.

use super::context::{File, OpenStackCtx, admin_env, service_default};
use super::endpoints::ports;
use super::mgmt::Mgmt;
use crate::plan::builder::{NodeSteps, argv, as_user, file};
use crate::plan::step::{Action, DoneCheck};
use crate::secrets::placeholder;

/// keystone's steps on a management node.
pub fn steps(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.packages(
        "keystone.packages",
        "install keystone",
        &["openstack.debconf"],
        &["keystone", "python3-openstackclient"],
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
            file(
                "/etc/default/keystone",
                0o644,
                None,
                service_default(
                    "keystone",
                    &ctx.address,
                    ports::KEYSTONE.1,
                    "/etc/keystone/keystone-uwsgi.ini",
                ),
            ),
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
            &m.keystone,
            "memcached.start",
            "haproxy.start",
        ],
        &["keystone.config"],
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
    s.add(
        "keystone.fernet",
        "create the fernet and credential keys",
        &["keystone.db-sync"],
        Action::Commands {
            commands: vec![
                argv(&[
                    "keystone-manage",
                    "fernet_setup",
                    "--keystone-user",
                    "keystone",
                    "--keystone-group",
                    "keystone",
                ]),
                argv(&[
                    "keystone-manage",
                    "credential_setup",
                    "--keystone-user",
                    "keystone",
                    "--keystone-group",
                    "keystone",
                ]),
            ],
            env: Vec::new(),
        },
        DoneCheck::Path {
            path: "/etc/keystone/credential-keys/0".into(),
        },
    );
    let url = ctx.public_url_keystone() + "/v3/";
    s.once(
        "keystone.bootstrap",
        "bootstrap keystone's admin user and identity endpoints",
        &["keystone.fernet"],
        vec![argv(&[
            "keystone-manage",
            "bootstrap",
            "--bootstrap-password",
            &placeholder("admin"),
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
}

/// The leader registers the services in keystone's catalog once keystone answers.
fn catalog(s: &mut NodeSteps, ctx: &OpenStackCtx) {
    let commands = catalog_commands(ctx);
    let step = s.add(
        "keystone.endpoints",
        "create the service project, the services' users and their endpoints",
        &["keystone.ready"],
        Action::Commands {
            commands,
            env: admin_env(ctx),
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

/// The service project, then per service its user (its password set again, in case it changed), its
/// admin role, the service and its public, internal and admin endpoints: each only when missing.
fn catalog_commands(ctx: &OpenStackCtx) -> Vec<Vec<String>> {
    let mut commands = vec![argv(&[
        "sh",
        "-c",
        "openstack project show service >/dev/null 2>&1 || openstack project create --domain default --description 'Service Project' service",
    ])];
    for (user, service, kind, port) in [
        ("glance", "glance", "image", ports::GLANCE.0),
        ("placement", "placement", "placement", ports::PLACEMENT.0),
        ("nova", "nova", "compute", ports::NOVA.0),
        ("neutron", "neutron", "network", ports::NEUTRON.0),
    ] {
        let url = if kind == "compute" {
            format!("https://{}:{port}/v2.1", ctx.api_host)
        } else {
            format!("https://{}:{port}", ctx.api_host)
        };
        commands.push(argv(&[
            "openstack",
            "user",
            "create",
            "--or-show",
            "--domain",
            "default",
            "--password",
            &placeholder(&format!("user-{user}")),
            user,
        ]));
        commands.push(argv(&[
            "openstack",
            "user",
            "set",
            "--password",
            &placeholder(&format!("user-{user}")),
            user,
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
        commands.push(argv(&["sh", "-c", &format!("openstack service show {service} >/dev/null 2>&1 || openstack service create --name {service} {kind}")]));
        for interface in ["public", "internal", "admin"] {
            commands.push(argv(&[
                "sh",
                "-c",
                &format!(
                    "openstack endpoint list --service {service} --interface {interface} -f value -c URL | grep -qx '{url}' || openstack endpoint create --region {} {service} {interface} {url}",
                    ctx.region
                ),
            ]));
        }
    }
    commands
}
