//! The infrastructure every flavor shares, as steps: the base of every node (/etc/hosts, time, the
//! package index) here, the node's firewall openings ([`firewall`]), one module per service:
//! [`mariadb`] (with Galera), [`rabbitmq`], [`memcached`] and [`haproxy`] (with the endpoint
//! certificate), and the daemons' own certificates ([`tls`]). Also the generic template context of a
//! node ([`context`]), which a flavor's context extends.

pub mod firewall;
pub mod haproxy;
pub mod mariadb;
pub mod memcached;
pub mod rabbitmq;
pub mod tls;

use super::builder::{NodeSteps, argv, file};
use crate::config::{ClusterConfig, Node};
use crate::render::{Api, Ctx, File, Peer, Vrrp};
use crate::secrets::placeholder;

/// The nodes as other nodes' files refer to them.
pub fn peers<'a>(nodes: impl Iterator<Item = &'a Node>) -> Vec<Peer> {
    nodes
        .map(|n| Peer {
            name: n.name.clone(),
            address: n.address.to_string(),
        })
        .collect()
}

/// The shared template context of `node`: clients reach the endpoints on `api_host`, and haproxy fronts
/// the flavor's `apis`.
pub fn context(config: &ClusterConfig, node: &Node, api_host: String, apis: Vec<Api>) -> Ctx {
    let mgmt = peers(config.nodes_with("management"));
    let storage = peers(config.nodes_with("storage-metadata"));
    Ctx {
        cluster: config.name.clone(),
        node_name: node.name.clone(),
        roles: node.roles.join(", "),
        address: node.address.to_string(),
        all_nodes: peers(config.nodes.iter()),
        // Every cluster runs Galera, from one member: growing is a join, never a migration.
        galera: !storage.is_empty(),
        rabbit_nodes: peers(config.nodes_with("message-bus")),
        galera_members: storage
            .iter()
            .map(|p| p.address.clone())
            .collect::<Vec<_>>()
            .join(","),
        memcached_servers: mgmt
            .iter()
            .map(|p| format!("{}:11211", p.address))
            .collect::<Vec<_>>()
            .join(","),
        api_host,
        // A storage member's services use its own Galera member, so that they outlive any other node;
        // a node without the role uses the first member.
        db_host: if node.has("storage-metadata") {
            node.address.to_string()
        } else {
            storage
                .first()
                .map(|p| p.address.clone())
                .unwrap_or_default()
        },
        apis,
        vrrp: vrrp(config, node),
    }
}

/// keepalived's view from `node`: `None` unless the node is a management node and the API address is
/// one of its own.
fn vrrp(config: &ClusterConfig, node: &Node) -> Option<Vrrp> {
    let address = config.floating_api_address()?;
    let mgmt: Vec<&Node> = config.nodes_with("management").collect();
    let rank = mgmt.iter().position(|n| n.name == node.name)?;
    Some(Vrrp {
        address: format!("{address}/{}", config.networks.management_cidr.prefix_len()),
        interface: config
            .networks
            .management_interface
            .clone()
            .unwrap_or_default(),
        router_id: router_id(&config.name),
        // 150, 140, 130, ...: the leader holds the address while it runs.
        priority: 150u8.saturating_sub(10u8.saturating_mul(rank.min(14) as u8)),
        peers: mgmt
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| n.address.to_string())
            .collect(),
    })
}

/// A VRRP router id (1..=255) from the cluster's name: stable, and different for most pairs of clusters
/// sharing a network.
pub fn router_id(cluster: &str) -> u8 {
    let sum = cluster
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (sum % 255) as u8 + 1
}

/// RabbitMQ's AMQP port, over TLS only.
pub const AMQPS_PORT: u16 = 5671;

/// `rabbit://...` for the user `user` on every message-bus node (AMQP over TLS: oslo.messaging's
/// `[oslo_messaging_rabbit] ssl` says so), its password a placeholder.
pub fn transport_url(ctx: &Ctx, user: &str) -> String {
    format!(
        "rabbit://{}/",
        ctx.rabbit_nodes
            .iter()
            .map(|p| {
                format!(
                    "{user}:{}@{}:{AMQPS_PORT}",
                    placeholder("rabbit"),
                    p.address
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// The leaders: the first node of each shared role, which bootstraps it.
#[derive(Debug, Clone, Default)]
pub struct Leaders {
    /// The first storage-metadata node (bootstraps Galera, creates the database users).
    pub db: String,
    /// The first message-bus node (creates the bus user; the others join it).
    pub bus: String,
    /// The first management node.
    pub mgmt: String,
}

impl Leaders {
    /// The leaders of `config` (empty names for roles nobody has).
    pub fn of(config: &ClusterConfig) -> Leaders {
        let leader = |role: &str| {
            config
                .leader(role)
                .map(|n| n.name.clone())
                .unwrap_or_default()
        };
        Leaders {
            db: leader("storage-metadata"),
            bus: leader("message-bus"),
            mgmt: leader("management"),
        }
    }
}

/// Every node's base and its storage and message-bus roles: hosts, time, the package index, then
/// MariaDB and RabbitMQ where the node has those roles. Their starts come after the node's
/// [`firewall::LOADED`]: the flavor plans the firewall first.
pub fn node(s: &mut NodeSteps, ctx: &Ctx, node: &Node, leaders: &Leaders, bus_user: &str) {
    base(s, ctx);
    if node.has("storage-metadata") {
        mariadb::steps(s, ctx, &leaders.db);
    }
    if node.has("message-bus") {
        rabbitmq::steps(s, ctx, &leaders.bus, bus_user);
    }
}

/// /etc/hosts, chrony and `apt-get update`: what every node needs first.
pub fn base(s: &mut NodeSteps, ctx: &Ctx) {
    s.files(
        "hosts",
        "name every node of the cluster in /etc/hosts",
        &[],
        vec![file("/etc/hosts", 0o644, None, File::Hosts.render(ctx))],
    );
    s.units(
        "time",
        "keep the clock synchronised (chrony)",
        &[],
        &[],
        &["chrony.service"],
        "/var/log/syslog",
    );
    s.once(
        "apt.update",
        "read the package index of the offline pool",
        &[],
        vec![argv(&["apt-get", "-q", "update"])],
        "/var/log/apt/term.log",
    );
}
