//! nova's controller services on every management node (the leader creates the API and cell databases
//! and the cells), nova.conf for every node that runs a nova service, and the discovery of the compute
//! hosts once they run.

use super::context::{File, OpenStackCtx};
use super::endpoints::ports;
use super::mgmt::Mgmt;
use super::uwsgi::{self, App};
use crate::config::Node;
use crate::plan::builder::{NodeSteps, argv, as_user, file};
use crate::plan::step::{Action, DoneCheck};

/// nova's controller steps on a management node.
pub fn controller(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.packages(
        "nova.packages",
        "install the nova controller services",
        &["openstack.debconf"],
        &["nova-api", "nova-conductor", "nova-scheduler"],
    );
    config(s, ctx, &["nova.packages"]);
    if m.is_leader {
        cells(s, m);
    }
    let nova_db: &str = if m.is_leader {
        "nova.db-sync"
    } else {
        &m.endpoints
    };
    s.files(
        "nova.api-default",
        "bind nova-api to the internal port",
        &["nova.packages"],
        vec![
            uwsgi::default_file(App::NovaApi, ctx, ports::NOVA.1),
            uwsgi::ini(App::NovaApi, ctx),
            uwsgi::ini(App::NovaMetadata, ctx),
        ],
    );
    s.units(
        "nova.start",
        "start nova-api, nova-conductor and nova-scheduler",
        &[
            "nova.config",
            "nova.api-default",
            nova_db,
            &m.endpoints,
            "placement.ready",
        ],
        &["nova.config", "nova.api-default"],
        &[
            "nova-api.service",
            "nova-api-metadata.service",
            "nova-conductor.service",
            "nova-scheduler.service",
        ],
        "/var/log/nova/nova-api.log",
    );
    s.ready(
        "nova.ready",
        "wait until nova answers through haproxy",
        &["nova.start", "haproxy.start"],
        &format!("https://{}:{}", ctx.api_host, ports::NOVA.0),
        "/var/log/nova/nova-api.log",
    );
}

/// The leader's nova databases: the API tables, cell0, cell1 and the cell tables.
fn cells(s: &mut NodeSteps, m: &Mgmt) {
    let nova_log = "/var/log/nova/nova-manage.log";
    s.once(
        "nova.api-db-sync",
        "create nova's API tables",
        &["nova.config", &m.dbs, &m.bus_user],
        vec![as_user("nova", "nova-manage api_db sync")],
        nova_log,
    );
    s.add(
        "nova.cell0",
        "map cell0",
        &["nova.api-db-sync"],
        Action::Commands {
            commands: vec![as_user("nova", "nova-manage cell_v2 map_cell0")],
            env: Vec::new(),
        },
        DoneCheck::Command {
            argv: as_user("nova", "nova-manage cell_v2 list_cells"),
            contains: Some(" cell0 ".into()),
        },
    );
    s.add(
        "nova.cell1",
        "create cell1",
        &["nova.cell0"],
        Action::Commands {
            commands: vec![as_user(
                "nova",
                "nova-manage cell_v2 create_cell --name=cell1 --verbose",
            )],
            env: Vec::new(),
        },
        DoneCheck::Command {
            argv: as_user("nova", "nova-manage cell_v2 list_cells"),
            contains: Some(" cell1 ".into()),
        },
    );
    s.once(
        "nova.db-sync",
        "create nova's cell tables",
        &["nova.cell1"],
        vec![as_user("nova", "nova-manage db sync")],
        nova_log,
    );
}

/// Writes nova.conf once per node (the controller, the console proxy and nova-compute all need it).
pub fn config(s: &mut NodeSteps, ctx: &OpenStackCtx, after: &[&str]) {
    if s.has("nova.config") {
        return;
    }
    s.files(
        "nova.config",
        "configure nova",
        after,
        vec![file(
            "/etc/nova/nova.conf",
            0o640,
            Some("root:nova"),
            File::NovaConf.render(ctx),
        )],
    );
}

/// Discovers the compute hosts as nova, then succeeds when every host named in `$@` is mapped. The host
/// list stays in a shell variable: no file, so nothing in a shared directory for another user to plant
/// or read.
const DISCOVER_HOSTS: &str =
    "hosts=$(su -s /bin/sh -c 'nova-manage cell_v2 discover_hosts --verbose \
    && nova-manage cell_v2 list_hosts' nova) || exit 1
printf '%s\\n' \"$hosts\"
for host in \"$@\"; do printf '%s\\n' \"$hosts\" | grep -qw -- \"$host\" || exit 1; done";

/// On the management leader, once every compute node runs: maps the compute hosts into cell1.
pub fn discover_hosts(s: &mut NodeSteps, compute_nodes: &[&Node]) {
    let computes_up: Vec<String> = compute_nodes
        .iter()
        .map(|n| format!("{}/nova.compute-start", n.name))
        .collect();
    let mut after: Vec<&str> = computes_up.iter().map(String::as_str).collect();
    after.push("neutron.ready");
    let check = as_user("nova", "nova-manage cell_v2 list_hosts");
    let names: Vec<String> = compute_nodes.iter().map(|n| n.name.clone()).collect();
    s.add(
        "nova.discover-hosts",
        "map the compute nodes into cell1",
        &after,
        // A compute node registers itself a moment after nova-compute starts: discover until every
        // compute node is mapped.
        Action::Wait {
            argv: [argv(&["sh", "-c", DISCOVER_HOSTS, "sh"]), names].concat(),
            timeout_secs: 300,
        },
        DoneCheck::Command {
            argv: check,
            contains: compute_nodes.last().map(|n| n.name.clone()),
        },
    )
    .log = Some("/var/log/nova/nova-manage.log".into());
}
