//! neutron: the server and its agents on every management node (it is the network node: DHCP, L3,
//! metadata, linuxbridge); the leader creates its tables. Its configuration files, also for the
//! linuxbridge agent of a compute node.

use super::context::{File, OpenStackCtx};
use super::endpoints::ports;
use super::mgmt::Mgmt;
use super::uwsgi::{self, App};
use crate::plan::builder::{NodeSteps, as_user, file};

/// neutron's steps on a management node.
pub fn server(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.packages(
        "neutron.packages",
        "install the neutron server and agents",
        &["openstack.debconf"],
        &[
            "neutron-api",
            "neutron-rpc-server",
            "neutron-linuxbridge-agent",
            "neutron-dhcp-agent",
            "neutron-l3-agent",
            "neutron-metadata-agent",
        ],
    );
    config(s, ctx, &["neutron.packages"], true);
    if m.is_leader {
        s.once(
            "neutron.db-upgrade",
            "create neutron's tables",
            &["neutron.config", &m.dbs],
            vec![as_user("neutron", "neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head")],
            "/var/log/neutron/neutron-db-manage.log",
        );
    }
    let neutron_db: &str = if m.is_leader {
        "neutron.db-upgrade"
    } else {
        &m.endpoints
    };
    s.units(
        "neutron.start",
        "start the neutron server and agents",
        &["neutron.config", neutron_db, &m.endpoints, "nova.ready"],
        &["neutron.config"],
        &[
            "neutron-api.service",
            "neutron-rpc-server.service",
            "neutron-linuxbridge-agent.service",
            "neutron-dhcp-agent.service",
            "neutron-l3-agent.service",
            "neutron-metadata-agent.service",
        ],
        "/var/log/neutron/neutron-api.log",
    );
    s.ready(
        "neutron.ready",
        "wait until neutron answers through haproxy",
        &["neutron.start", "haproxy.start"],
        &format!("https://{}:{}", ctx.api_host, ports::NEUTRON.0),
        "/var/log/neutron/neutron-api.log",
    );
}

/// Writes neutron's files once per node; a network node also gets the agents' and the API's.
pub fn config(s: &mut NodeSteps, ctx: &OpenStackCtx, after: &[&str], network_node: bool) {
    if s.has("neutron.config") {
        return;
    }
    let owner = Some("root:neutron");
    let mut files = vec![
        file(
            "/etc/neutron/neutron.conf",
            0o640,
            owner,
            File::NeutronConf.render(ctx),
        ),
        file(
            "/etc/neutron/plugins/ml2/ml2_conf.ini",
            0o640,
            owner,
            File::Ml2Conf.render(ctx),
        ),
        file(
            "/etc/neutron/plugins/ml2/linuxbridge_agent.ini",
            0o640,
            owner,
            File::LinuxbridgeAgent.render(ctx),
        ),
    ];
    if network_node {
        files.push(file(
            "/etc/neutron/dhcp_agent.ini",
            0o640,
            owner,
            File::DhcpAgent.render(ctx),
        ));
        files.push(file(
            "/etc/neutron/l3_agent.ini",
            0o640,
            owner,
            File::L3Agent.render(ctx),
        ));
        files.push(file(
            "/etc/neutron/metadata_agent.ini",
            0o640,
            owner,
            File::MetadataAgent.render(ctx),
        ));
        files.push(uwsgi::default_file(App::Neutron, ctx, ports::NEUTRON.1));
        files.push(uwsgi::ini(App::Neutron, ctx));
    }
    // The bus list names nodes that serve the bus: written once each of them joined it.
    let after: Vec<&str> = after
        .iter()
        .copied()
        .chain(ctx.bus_joined.iter().map(String::as_str))
        .collect();
    s.files("neutron.config", "configure neutron", &after, files);
}
