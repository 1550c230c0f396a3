//! The ports an OpenStack node accepts: its roles' ports from the role catalog (OpenStack's and the shared
//! ones), plus what this flavor's topology adds that a role's list cannot say: the haproxy backends on
//! the other management nodes (the APIs' and the dashboard's), the token cache they share, the VNC
//! consoles of the VMs and VXLAN to the network node; and the addresses each reach stands for.

use stackbox_hardware_profiles::{Catalog, Flavor, Protocol, Reach};

use super::context::OpenStackCtx;
use super::endpoints::ports;
use crate::config::{ClusterConfig, Node};
use crate::plan::builder::NodeSteps;
use crate::plan::infrastructure::firewall::{self, Opening, Sources, catalog_openings};

/// The VNC ports of the VMs on a compute node, reached by the console proxy: libvirt gives each VM the
/// next free port from 5900; this opens the first 1024.
pub const VNC: (u16, u16) = (5900, 6923);

/// What `node` accepts; `serves_console`: it runs the console proxy (its role, or a management node when
/// no node has that role).
pub fn openings(catalog: &Catalog, node: &Node, serves_console: bool) -> Vec<Opening> {
    let mut all = catalog_openings(catalog, &node.roles, Flavor::Openstack);
    let members =
        |port: u16, purpose: &str| Opening::port(Reach::Members, Protocol::Tcp, port, purpose);
    if node.has("management") {
        for (name, (_, internal)) in [
            ("keystone", ports::KEYSTONE),
            ("glance", ports::GLANCE),
            ("placement", ports::PLACEMENT),
            ("nova", ports::NOVA),
            ("neutron", ports::NEUTRON),
            ("the dashboard", ports::HORIZON),
        ] {
            all.push(members(
                internal,
                &format!("{name} behind haproxy, from the management nodes"),
            ));
        }
        all.push(members(
            11211,
            "memcached, the token cache of the management nodes",
        ));
        all.push(Opening::port(
            Reach::DataPlane,
            Protocol::Udp,
            4789,
            "VXLAN to the network node (neutron's agents)",
        ));
    }
    if serves_console {
        all.push(members(ports::NOVNC.1, "noVNC proxy behind haproxy"));
    }
    if node.has("compute") {
        all.push(Opening::range(
            Reach::Members,
            Protocol::Tcp,
            VNC.0,
            VNC.1,
            "VNC consoles of the VMs, from the console proxy",
        ));
    }
    all
}

/// The addresses behind each reach, seen from `node`: the operator's client networks, every node's
/// management address and the API address, every node's data-plane address, and the other management
/// nodes for VRRP when keepalived holds the API address.
pub fn sources(config: &ClusterConfig, ctx: &OpenStackCtx) -> Sources {
    let mut members: Vec<_> = config.nodes.iter().map(|n| n.address).collect();
    members.extend(config.networks.api_address);
    Sources {
        clients: config.networks.clients.clone(),
        members,
        data_plane: config
            .nodes
            .iter()
            .map(|n| n.data_address.unwrap_or(n.address))
            .collect(),
        vrrp_peers: ctx
            .vrrp
            .as_ref()
            .map(|v| v.peers.iter().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default(),
    }
}

/// The firewall steps of `node`.
pub fn steps(
    s: &mut NodeSteps,
    config: &ClusterConfig,
    ctx: &OpenStackCtx,
    catalog: &Catalog,
    node: &Node,
    serves_console: bool,
) {
    firewall::steps(
        s,
        &ctx.roles,
        &openings(catalog, node, serves_console),
        &sources(config, ctx),
    );
}
