//! The OpenStack flavor: its steps on top of the generic plan, one file per service, in the known-good
//! order: shared infrastructure (time, MariaDB, RabbitMQ, memcached, haproxy) -> debconf answers and
//! databases ([`setup`]) -> [`keystone`] -> [`glance`] and [`placement`] -> [`nova`] -> [`neutron`] ->
//! [`console`] proxy -> [`compute`] -> host discovery -> [`smoke`] test; the [`dashboard`] on the
//! management nodes once memcached and haproxy run.
//!
//! [`context`] holds the services' template context and files, [`endpoints`] the public endpoints, their
//! ports and the admin's openrc, [`mgmt`] what a management node's services wait for. This folder imports the generic plan (`crate::plan`); nothing there
//! imports it.

pub mod catalog;
pub mod compute;
pub mod console;
pub mod context;
pub mod dashboard;
pub mod endpoints;
pub mod firewall;
pub mod glance;
pub mod keystone;
pub mod mgmt;
pub mod neutron;
pub mod nova;
pub mod placement;
pub mod rest;
pub mod setup;
pub mod smoke;
pub mod uwsgi;

use std::collections::BTreeMap;

use stackbox_hardware_profiles::Catalog;

use crate::config::{ClusterConfig, Node};
use crate::plan::infrastructure::{self, Leaders, haproxy, memcached};
use crate::plan::{NodeFacts, NodeSteps, Planner, Step};
use context::{OpenStackCtx, admin_env, context};
use mgmt::Mgmt;

/// The OpenStack flavor's [`Planner`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenStack;

/// The user OpenStack's services use on the message bus.
const BUS_USER: &str = "openstack";

impl Planner for OpenStack {
    fn steps(
        &self,
        config: &ClusterConfig,
        catalog: &Catalog,
        facts: &BTreeMap<String, NodeFacts>,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        let leaders = Leaders::of(config);
        for node in &config.nodes {
            let facts = facts.get(&node.name).copied().unwrap_or_default();
            let ctx = context(config, node, facts);
            let mut s = NodeSteps::new(&node.name, &mut steps);
            node_steps(&mut s, config, catalog, node, &ctx, &leaders);
        }
        // Host discovery and the smoke test on the management leader, once every compute node runs.
        if leaders.mgmt.is_empty() {
            return steps;
        }
        let compute_nodes: Vec<&Node> = config.nodes_with("compute").collect();
        let leader_ctx = context(
            config,
            config.leader("management").unwrap_or(&config.nodes[0]),
            facts.get(&leaders.mgmt).copied().unwrap_or_default(),
        );
        let mut s = NodeSteps::new(&leaders.mgmt, &mut steps);
        nova::discover_hosts(&mut s, &compute_nodes);
        smoke::step(&mut s, admin_env(&leader_ctx));
        steps
    }
}

/// One node's steps, by its roles.
fn node_steps(
    s: &mut NodeSteps,
    config: &ClusterConfig,
    catalog: &Catalog,
    node: &Node,
    ctx: &OpenStackCtx,
    leaders: &Leaders,
) {
    let serves_console = node.has("console-proxy")
        || (node.has("management") && config.leader("console-proxy").is_none());
    // The ports first: other nodes reach this one's database and bus as soon as they start.
    firewall::steps(s, config, ctx, catalog, node, serves_console);
    infrastructure::node(s, &ctx.base, node, leaders, BUS_USER);
    if node.has("management") {
        management(s, config, ctx, leaders);
    }
    if serves_console {
        console::steps(s, ctx, &leaders.mgmt);
    }
    if node.has("compute") {
        compute::steps(s, ctx, &leaders.mgmt);
    }
    // The OpenStack packages read their debconf answers as they install.
    if s.has("openstack.debconf") {
        s.packages_together(&["hosts", "openstack.debconf"]);
    } else {
        s.packages_together(&["hosts"]);
    }
}

/// The API services on a management node; the leader also creates databases, users and endpoints.
fn management(s: &mut NodeSteps, config: &ClusterConfig, ctx: &OpenStackCtx, leaders: &Leaders) {
    let m = Mgmt::new(s.node(), leaders);
    memcached::steps(s, &ctx.base);
    haproxy::steps(s, &ctx.base, &config.tls);
    setup::debconf(s, ctx);
    if m.is_leader {
        setup::databases(s, &format!("{}/mariadb.admin", leaders.db));
    }
    keystone::steps(s, ctx, &m);
    glance::steps(s, ctx, &m);
    placement::steps(s, ctx, &m);
    nova::controller(s, ctx, &m);
    neutron::server(s, ctx, &m);
    dashboard::steps(s, config, ctx);
}

/// The admin's OpenStack environment for `config`'s cloud (`OS_AUTH_URL` at the API address, the
/// admin's password a secret placeholder for `Secrets::fill`), for commands stackboxd runs as the admin.
pub fn admin_environment(config: &ClusterConfig) -> Vec<(String, String)> {
    match config.leader("management").or(config.nodes.first()) {
        Some(leader) => admin_env(&context(config, leader, NodeFacts::default())),
        None => Vec::new(),
    }
}
