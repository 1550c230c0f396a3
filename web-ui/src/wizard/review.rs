//! The review: the configuration made from the answers, validated, and this node's plan (the ports it
//! opens, the steps and the files it writes), as the review page and `GET /api/v1/plan` show it.

use serde::Serialize;
use stackbox_firstboot::check::Status;
use stackbox_hardware_profiles::Flavor;
use stackbox_installer::ClusterConfig;
use stackbox_installer::flavor::openstack::endpoints::api_host;
use stackbox_installer::plan::Action;
use stackbox_machine::system::Root;

use super::Wizard;
use crate::error::WebError;
use stackbox_network::Addressing;

/// A port the installation opens.
#[derive(Debug, Clone, Serialize)]
pub struct PortView {
    /// `5000/tcp`.
    pub port: String,
    /// The role that opens it.
    pub role: String,
    /// What listens there.
    pub purpose: String,
}

/// A step as the review lists it.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    /// `keystone.db-sync`.
    pub name: String,
    /// What it does.
    pub title: String,
}

/// A file the installation writes.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    /// Its path.
    pub path: String,
    /// Its mode, in octal.
    pub mode: String,
    /// The step that writes it.
    pub step: String,
}

/// A hardware check that did not pass, repeated on the review so that nobody installs past it unseen.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareNote {
    /// Its id (`cpu.virtualization`).
    pub id: &'static str,
    /// `warn` or `fail`.
    pub status: &'static str,
    /// What was found.
    pub summary: String,
    /// What to do about it.
    pub remedy: Option<String>,
}

/// What the review page and `GET /api/v1/plan` show: the configuration and this node's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The installer's configuration made from the answers.
    pub config: ClusterConfig,
    /// This node's name.
    pub node: String,
    /// Its management address.
    pub address: String,
    /// `OpenStack`.
    pub flavor: &'static str,
    /// The data plane in words.
    pub data_plane: String,
    /// The roles, comma-separated.
    pub roles: String,
    /// The overcommit ratios in words.
    pub overcommit: String,
    /// Where the endpoints answer.
    pub api_host: String,
    /// Answers this version keeps but does not apply (bridge, VLAN, MTU), in words.
    pub not_applied: String,
    /// The installer's warnings about the configuration.
    pub warnings: Vec<String>,
    /// The hardware checks that warned or failed, from the report the hardware page shows.
    pub hardware: Vec<HardwareNote>,
    /// Ports that will open.
    pub ports: Vec<PortView>,
    /// This node's steps, in order.
    pub steps: Vec<StepView>,
    /// Files that will change.
    pub files: Vec<FileView>,
}

/// The ports this node's roles open.
fn ports(wizard: &Wizard, roles: &[String]) -> Vec<PortView> {
    let mut ports = Vec::new();
    for role in roles {
        if let Some(r) = wizard.catalog.roles().get(role) {
            for p in &r.ports {
                // The management role lists CloudStack's ports too; this installs OpenStack.
                if p.flavor.is_some_and(|f| f != Flavor::Openstack) {
                    continue;
                }
                ports.push(PortView {
                    port: format!("{}/{}", p.port, p.protocol),
                    role: role.clone(),
                    purpose: p.purpose.clone(),
                });
            }
        }
    }
    ports
}

/// Builds the review from the stored answers: the configuration, validated, and the plan for this
/// machine. Blocking (the hardware probes).
pub fn review(wizard: &Wizard) -> Result<Review, WebError> {
    let config = wizard.cluster_config()?;
    let answers = wizard.answers()?;
    let facts = stackbox_installer::local_facts(&config, &Root::at(wizard.root()));
    let plan = stackbox_installer::build_plan(&config, &wizard.catalog, &facts)?;
    let node = config
        .nodes
        .first()
        .cloned()
        .ok_or_else(|| WebError::Conflict("the configuration has no node".to_owned()))?;
    let ports = ports(wizard, &node.roles);
    let mut files = Vec::new();
    let mut steps = Vec::new();
    for s in plan.for_node(&node.name) {
        steps.push(StepView {
            name: s.name.clone(),
            title: s.title.clone(),
        });
        if let Action::Files { files: fs } = &s.action {
            files.extend(fs.iter().map(|f| FileView {
                path: f.path.clone(),
                mode: format!("{:04o}", f.mode),
                step: s.name.clone(),
            }));
        }
    }
    let net = &answers.network;
    let mut not_applied = Vec::new();
    if !net.bridge.is_empty() {
        not_applied.push(format!("management bridge {}", net.bridge));
    }
    if let Some(vlan) = net.vlan {
        not_applied.push(format!("VLAN {vlan}"));
    }
    not_applied.push(format!("MTU {}", net.mtu));
    if let Addressing::Static {
        address, gateway, ..
    } = &net.addressing
    {
        not_applied.push(format!("static address {address} via {gateway}"));
    }
    let data_plane = match (&node.data_address, &config.networks.data_cidr) {
        (Some(ip), Some(cidr)) => format!(
            "VXLAN {}-{} over {} ({ip} in {cidr})",
            config.networks.vxlan.first, config.networks.vxlan.last, config.networks.data_nic
        ),
        _ => format!(
            "VXLAN {}-{} over the management address ({} has no address of its own)",
            config.networks.vxlan.first, config.networks.vxlan.last, config.networks.data_nic
        ),
    };
    let o = config.overcommit;
    Ok(Review {
        node: node.name.clone(),
        address: node.address.to_string(),
        flavor: "OpenStack",
        data_plane,
        roles: node.roles.join(", "),
        overcommit: format!("CPU {:?}, memory {:?}, disk {:?}", o.cpu, o.ram, o.disk),
        api_host: api_host(&config),
        not_applied: not_applied.join(", "),
        warnings: config
            .validate(&wizard.catalog)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect(),
        hardware: hardware_notes(wizard),
        ports,
        steps,
        files,
        config,
    })
}

/// The hardware report's checks that did not pass, in the report's order.
fn hardware_notes(wizard: &Wizard) -> Vec<HardwareNote> {
    wizard
        .report()
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| HardwareNote {
            id: c.id,
            status: c.status.as_str(),
            summary: c.summary.clone(),
            remedy: c.remedy.clone(),
        })
        .collect()
}
