//! MariaDB with Galera on every storage-metadata node, from the first (a cluster of one grows by joining):
//! packages, settings, the unit's drop-in that decides how MariaDB rejoins Galera at each start
//! (`stackboxd cluster galera-start`), the start (the leader bootstraps the Galera cluster, the others
//! join it) and stackbox's administrative database user, which every flavor's database steps connect as.

use super::firewall;
use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::step::{Action, DoneCheck};
use crate::render::{Ctx, File};
use crate::secrets::placeholder;
use crate::service_tls::Service;

/// mariadb.service's drop-in: `stackboxd cluster galera-start` before every start.
pub const DROP_IN: &str = "/etc/systemd/system/mariadb.service.d/stackbox-galera.conf";

/// The steps of a storage-metadata node; `db_leader` bootstraps the cluster.
pub fn steps(s: &mut NodeSteps, ctx: &Ctx, db_leader: &str) {
    s.packages(
        "mariadb.packages",
        "install MariaDB and Galera",
        &["hosts"],
        &[
            "mariadb-server",
            "galera-4",
            "mariadb-backup",
            "python3-pymysql",
        ],
    );
    s.files(
        "mariadb.config",
        "configure MariaDB",
        &["mariadb.packages"],
        // With Galera it holds the state-transfer password (wsrep_sst_auth): the server, which runs as
        // mysql, reads it; nobody else.
        vec![
            file(
                "/etc/mysql/mariadb.conf.d/60-stackbox.cnf",
                0o640,
                Some("root:mysql"),
                File::MariadbCnf.render(ctx),
            ),
            file(DROP_IN, 0o644, None, File::MariadbGalera.render(ctx)),
        ],
    );
    super::tls::step(s, ctx, Service::Mariadb, &["mariadb.packages"]);
    start(s, ctx, db_leader);
    if ctx.node_name == db_leader {
        admin_user(s, ctx);
    }
}

/// Starts MariaDB: the leader of a Galera cluster bootstraps it, the other members start after the
/// leader.
fn start(s: &mut NodeSteps, ctx: &Ctx, db_leader: &str) {
    let is_leader = ctx.node_name == db_leader;
    if ctx.galera && is_leader {
        let step = s.add(
            "mariadb.start",
            "bootstrap the Galera cluster",
            &["mariadb.config", "tls.mariadb", "time", firewall::LOADED],
            Action::Commands {
                // systemd reads the unit's new drop-in first.
                commands: vec![
                    argv(&["systemctl", "daemon-reload"]),
                    argv(&["galera_new_cluster"]),
                ],
                env: Vec::new(),
            },
            // Done when this server is in a primary component: a MariaDB that its package's postinst
            // started without Galera is not (galera_new_cluster restarts it), and neither is a stopped one.
            DoneCheck::Command {
                argv: argv(&[
                    "mysql",
                    "--protocol=socket",
                    "-N",
                    "-B",
                    "-e",
                    "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'",
                ]),
                contains: Some("Primary".into()),
            },
        );
        step.log = Some("/var/log/mysql/error.log".into());
    } else {
        // Members join one at a time, each after the one before it is synced (Galera's advice: two
        // joiners at once, one the other's donor, lost a joiner in the three-node run).
        let before = previous_member(ctx)
            .map(|p| format!("{p}/mariadb.synced"))
            .unwrap_or_else(|| format!("{db_leader}/mariadb.start"));
        let mut after = vec!["mariadb.config", "tls.mariadb", "time", firewall::LOADED];
        if !is_leader {
            after.push(&before);
        }
        s.units(
            "mariadb.start",
            "start MariaDB",
            &after,
            &["mariadb.config", "tls.mariadb"],
            &["mariadb.service"],
            "/var/log/mysql/error.log",
        );
    }
    if ctx.galera {
        synced(s);
    }
}

/// The storage member before this one in the configuration's order, if any.
fn previous_member(ctx: &Ctx) -> Option<String> {
    let members: Vec<&str> = ctx.galera_members.split(',').collect();
    let storage: Vec<&str> = ctx
        .all_nodes
        .iter()
        .filter(|p| members.contains(&p.address.as_str()))
        .map(|p| p.name.as_str())
        .collect();
    let me = storage.iter().position(|n| *n == ctx.node_name)?;
    me.checked_sub(1).map(|i| storage[i].to_owned())
}

/// Waits until this member is synced with the cluster (a joiner has its state transfer behind it).
fn synced(s: &mut NodeSteps) {
    let check = argv(&[
        "sh",
        "-c",
        "mysql --protocol=socket -N -B -e \"SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'\" | grep -qw Synced",
    ]);
    let step = s.add(
        "mariadb.synced",
        "wait until this Galera member is synced",
        &["mariadb.start"],
        Action::Wait {
            argv: check.clone(),
            timeout_secs: 600,
        },
        DoneCheck::Command {
            argv: check,
            contains: None,
        },
    );
    step.log = Some("/var/log/mysql/error.log".into());
    step.remedy = Some(
        "`journalctl -u mariadb` says why the member did not sync; `systemctl restart mariadb` makes it join again (stackboxd cluster galera-start picks a running member)".into(),
    );
}

/// The leader creates stackbox's administrative user (and, with Galera, the state-transfer user).
fn admin_user(s: &mut NodeSteps, ctx: &Ctx) {
    let mut statements = vec![
        format!(
            "CREATE USER IF NOT EXISTS 'stackbox'@'%' IDENTIFIED BY '{}'",
            placeholder("db-stackbox")
        ),
        format!(
            "ALTER USER 'stackbox'@'%' IDENTIFIED BY '{}'",
            placeholder("db-stackbox")
        ),
        "GRANT ALL PRIVILEGES ON *.* TO 'stackbox'@'%' WITH GRANT OPTION".to_owned(),
    ];
    if ctx.galera {
        statements.push(format!(
            "CREATE USER IF NOT EXISTS 'sst'@'localhost' IDENTIFIED BY '{}'",
            placeholder("db-sst")
        ));
        statements.push(
            "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'sst'@'localhost'"
                .to_owned(),
        );
    }
    s.add(
        "mariadb.admin",
        "create stackbox's administrative database user",
        &["mariadb.start"],
        Action::Sql {
            statements,
            local_root: true,
        },
        DoneCheck::SqlRows {
            query: "SELECT 1 FROM mysql.user WHERE User = 'stackbox' AND Host = '%'".into(),
        },
    );
}
