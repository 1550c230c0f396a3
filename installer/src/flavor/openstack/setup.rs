//! What the OpenStack services of a management node need before their own steps: the debconf answers
//! that keep the packages from configuring themselves, and (on the leader) every service's database and
//! database user.

use super::context::{File, OpenStackCtx};
use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::{Action, DoneCheck};
use crate::secrets::placeholder;

/// The debconf answers, written and loaded.
pub fn debconf(s: &mut NodeSteps, ctx: &OpenStackCtx) {
    s.files(
        "openstack.preseed",
        "tell the OpenStack packages not to configure themselves",
        &[],
        vec![file(
            "/var/cache/stackbox/preseed.cfg",
            0o644,
            None,
            File::Preseed.render(ctx),
        )],
    );
    // debconf keeps no query tool in a minimal system (debconf-get-selections is in debconf-utils):
    // loading the answers is idempotent, so a marker records it, and new answers load them again.
    let preseed = s.id("openstack.preseed");
    s.once(
        "openstack.debconf",
        "load the debconf answers",
        &["openstack.preseed"],
        vec![argv(&[
            "debconf-set-selections",
            "/var/cache/stackbox/preseed.cfg",
        ])],
        "/var/log/apt/term.log",
    )
    .watch
    .push(preseed);
}

/// The leader creates the services' databases and users, as stackbox's administrative database user
/// (`db_admin`: the step that created it).
pub fn databases(s: &mut NodeSteps, db_admin: &str) {
    let mut statements = Vec::new();
    for (user, databases) in [
        ("keystone", &["keystone"][..]),
        ("glance", &["glance"][..]),
        ("placement", &["placement"][..]),
        ("nova", &["nova_api", "nova", "nova_cell0"][..]),
        ("neutron", &["neutron"][..]),
    ] {
        let secret = placeholder(&format!("db-{user}"));
        statements.push(format!(
            "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{secret}'"
        ));
        statements.push(format!("ALTER USER '{user}'@'%' IDENTIFIED BY '{secret}'"));
        for db in databases {
            statements.push(format!("CREATE DATABASE IF NOT EXISTS {db}"));
            statements.push(format!("GRANT ALL PRIVILEGES ON {db}.* TO '{user}'@'%'"));
        }
    }
    s.add(
        "databases",
        "create the services' databases and users",
        &[db_admin],
        Action::Sql { statements, local_root: false },
        DoneCheck::SqlRows {
            query: "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'neutron' AND EXISTS (SELECT 1 FROM mysql.user WHERE User = 'neutron')".into(),
        },
    );
}
