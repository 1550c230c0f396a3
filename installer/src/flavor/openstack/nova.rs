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
        cells(s, ctx, m);
    }
    // The other management nodes' nova starts once the leader's cells name each node's own database.
    let nova_db = if m.is_leader {
        "nova.db-sync".to_owned()
    } else {
        format!("{}/nova.cell-urls", m.leader)
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
            &nova_db,
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

/// Makes the cells' database URLs templates that each node fills from its own `[database]/connection`
/// (nova's cell-mapping templates): a cell mapping otherwise names the leader's database host, and every
/// node's nova would fail with the leader. cell0 keeps no message bus; cell1's bus is the configuration's,
/// every bus node.
const CELL_URLS: &str = "set -e
nova-manage cell_v2 update_cell --cell_uuid 00000000-0000-0000-0000-000000000000 \
  --transport-url none:/// --database_connection '{scheme}://{username}:{password}@{hostname}/nova_cell0?{query}'
uuid=$(nova-manage cell_v2 list_cells | awk -F'|' '$2 ~ /^ *cell1 *$/ { gsub(/ /, \"\", $3); print $3 }')
test -n \"$uuid\"
nova-manage cell_v2 update_cell --cell_uuid \"$uuid\" \
  --database_connection '{scheme}://{username}:{password}@{hostname}/{path}?{query}'";

/// `host:port,host:port` of a transport URL (`rabbit://user:password@host:port,.../`), without its
/// users and passwords.
fn bus_hosts(transport_url: &str) -> String {
    let hosts = transport_url
        .trim_start_matches("rabbit://")
        .trim_end_matches('/');
    hosts
        .split(',')
        .map(|h| h.rsplit_once('@').map_or(h, |(_, host)| host))
        .collect::<Vec<_>>()
        .join(",")
}

/// The leader's nova databases: the API tables, cell0, cell1 and the cell tables.
fn cells(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
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
    // The bus hosts are named in the step, so a grown bus redoes it.
    let cell_urls = format!(
        "echo \"cell1's message bus: {}\"\n{CELL_URLS}",
        bus_hosts(&ctx.transport_url)
    );
    s.once(
        "nova.cell-urls",
        "point the cells at each node's own database",
        &["nova.cell1"],
        vec![as_user("nova", &cell_urls)],
        nova_log,
    );
    s.once(
        "nova.db-sync",
        "create nova's cell tables",
        &["nova.cell-urls"],
        vec![as_user("nova", "nova-manage db sync")],
        nova_log,
    );
}

/// Writes nova.conf once per node (the controller, the console proxy and nova-compute all need it).
pub fn config(s: &mut NodeSteps, ctx: &OpenStackCtx, after: &[&str]) {
    if s.has("nova.config") {
        return;
    }
    // The bus list names nodes that serve the bus: written once each of them joined it.
    let after: Vec<&str> = after
        .iter()
        .copied()
        .chain(ctx.bus_joined.iter().map(String::as_str))
        .collect();
    s.files(
        "nova.config",
        "configure nova",
        &after,
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

#[cfg(test)]
mod tests {
    use super::bus_hosts;

    #[test]
    fn bus_hosts_keep_hosts_and_drop_users_and_passwords() {
        assert_eq!(
            bus_hosts(
                "rabbit://openstack:@@secret:rabbit@@@10.0.0.1:5672,openstack:pw@10.0.0.2:5672/"
            ),
            "10.0.0.1:5672,10.0.0.2:5672"
        );
        assert_eq!(bus_hosts("rabbit://u:p@h:5672/"), "h:5672");
        assert!(!bus_hosts("rabbit://u:secret@h:5672/").contains("secret"));
    }
}
