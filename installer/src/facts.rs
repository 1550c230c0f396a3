//! The hardware facts the plan needs, read from this machine with the first-boot probes.

use std::collections::BTreeMap;

use stackbox_machine::probe::{kvm, net, platform};
use stackbox_machine::system::Root;

use crate::ClusterConfig;
use crate::plan::NodeFacts;

/// Facts for the nodes this machine is: the only node of a single-node cluster, or the nodes whose
/// management address is one of this machine's addresses. Other nodes get none (no KVM assumed) until
/// their agents report.
pub fn local_facts(config: &ClusterConfig, root: &Root) -> BTreeMap<String, NodeFacts> {
    let kvm = kvm::probe(root);
    let platform = platform::probe(root, false);
    let facts = NodeFacts {
        kvm: kvm.openable,
        in_container: platform.container.is_some(),
    };
    let local: Vec<std::net::IpAddr> = if root.is_live() {
        net::addresses()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, ip)| ip)
            .collect()
    } else {
        Vec::new()
    };
    config
        .nodes
        .iter()
        .filter(|n| config.nodes.len() == 1 || local.contains(&n.address))
        .map(|n| (n.name.clone(), facts))
        .collect()
}
