//! The hardware facts the plan needs, read from this machine with the first-boot probes.

use std::collections::BTreeMap;

use stackbox_machine::probe::{cpu, kvm, net, platform};
use stackbox_machine::system::Root;

use crate::ClusterConfig;
use crate::config::Node;
use crate::plan::NodeFacts;

/// A `--root` that cannot stand for a machine: planning from it would silently assume no KVM.
#[derive(Debug, thiserror::Error)]
#[error("--root {dir}: {reason}")]
pub struct RootError {
    /// The directory given.
    pub dir: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Refuses a root other than `/` that is not a machine's tree: a missing directory, or one without a
/// readable `proc/cpuinfo` (what every probe starts from).
pub fn check_root(root: &Root) -> Result<(), RootError> {
    if root.is_live() {
        return Ok(());
    }
    let error = |reason: &str| RootError {
        dir: root.dir().display().to_string(),
        reason: reason.to_owned(),
    };
    if !root.dir().is_dir() {
        return Err(error("no such directory"));
    }
    if root.read("/proc/cpuinfo").is_none() {
        return Err(error(
            "not a machine's tree: cannot read proc/cpuinfo under it",
        ));
    }
    Ok(())
}

/// The nodes this machine is: the only node of a single-node cluster, or the nodes whose management
/// address is one of this machine's addresses (none under a `--root` other than `/`).
pub fn local_nodes<'a>(config: &'a ClusterConfig, root: &Root) -> Vec<&'a Node> {
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
        .collect()
}

/// This machine's facts, whatever node it is (a node agent reports them to the coordinator).
pub fn probe(root: &Root) -> NodeFacts {
    let kvm = kvm::probe(root);
    let platform = platform::probe(root, false);
    NodeFacts {
        kvm: kvm.openable,
        in_container: platform.container.is_some(),
        cpus: cpu::online(root).unwrap_or(0),
    }
}

/// Facts for the nodes this machine is ([`local_nodes`]). Other nodes get none (no KVM assumed) until
/// their agents report.
pub fn local_facts(config: &ClusterConfig, root: &Root) -> BTreeMap<String, NodeFacts> {
    let facts = probe(root);
    local_nodes(config, root)
        .into_iter()
        .map(|n| (n.name.clone(), facts))
        .collect()
}
