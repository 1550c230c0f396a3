//! `stackboxd cluster remove NODE`, on the node that created the cluster (the coordinator's).
//!
//! 1. [`judge`]: the node must be a member, not this node, and lead no role (it bootstrapped that role's
//!    service: moving a leader is not built); every role it has must stay with another node. Two
//!    storage-metadata or message-bus nodes left is allowed, with a warning: their quorum needs a third.
//! 2. A compute node that hosts servers is refused, each server named (`openstack server list --host`).
//! 3. Its agent leaves ([`crate::leave`]): RabbitMQ and Galera let it go cleanly, every unit stops.
//! 4. Its node certificate is revoked ([`crate::revocation`]); nova's compute services and neutron's
//!    agents on it are deleted.
//! 5. The configuration without it is written to `STATE/cluster/config.toml` and installed across the
//!    remaining nodes ([`crate::coordinator::install`]): haproxy's backends, keepalived's peers, Galera's
//!    and RabbitMQ's member lists, memcached's servers and every service's bus list lose the node.
//!
//! Every stage is safe to run again: a removal that stopped half-way is run again and goes on.

use std::path::PathBuf;
use std::process::Command;

use stackbox_common::error::chain;
use stackbox_common::fs::write_atomic;
use stackbox_installer::ClusterConfig;
use stackbox_installer::secrets::Secrets;

use crate::coordinator::{self, CoordError, Report, Setup, Watch};
use crate::leave::LeaveRequest;

/// The roles whose members keep a quorum (Galera, RabbitMQ's quorum queues): two of them lose it with
/// either.
const QUORUM_ROLES: [(&str, &str); 2] =
    [("storage-metadata", "Galera"), ("message-bus", "RabbitMQ")];

/// The roles whose first node leads them (bootstraps the service, runs its one-time steps).
const LEADING_ROLES: [&str; 3] = ["management", "storage-metadata", "message-bus"];

/// A removal this configuration allows: the configuration without the node, and what to warn of.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The configuration without the node.
    pub remaining: ClusterConfig,
    /// The roles the node leaves.
    pub roles: Vec<String>,
    /// Warnings for the operator.
    pub warnings: Vec<String>,
}

/// Why a node cannot be removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// The configuration forbids it, or the node hosts servers.
    #[error("{0}")]
    Refused(String),
    /// OpenStack could not be asked.
    #[error("{0}")]
    Cloud(String),
    /// The coordinator failed (agents, files, the plan).
    #[error(transparent)]
    Coord(#[from] CoordError),
}

/// Whether `node` may leave `config` when `me` coordinates; pure.
pub fn judge(config: &ClusterConfig, node: &str, me: &str) -> Result<Judged, RemoveError> {
    let refuse = |why: String| Err(RemoveError::Refused(why));
    let Some(leaving) = config.nodes.iter().find(|n| n.name == node) else {
        let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
        return refuse(format!(
            "{node} is not a member (the members: {})",
            names.join(", ")
        ));
    };
    if node == me {
        return refuse(format!(
            "{node} is this node, which coordinates the cluster (it holds the cluster CA): it cannot remove itself"
        ));
    }
    let mut remaining = config.clone();
    remaining.nodes.retain(|n| n.name != node);
    let mut warnings = Vec::new();
    for role in &leaving.roles {
        if LEADING_ROLES.contains(&role.as_str())
            && config.leader(role).is_some_and(|l| l.name == node)
        {
            return refuse(format!(
                "{node} leads the {role} role (it bootstrapped it): removing a role's leader is not supported"
            ));
        }
        let left = remaining.nodes_with(role).count();
        if left == 0 {
            return refuse(format!(
                "{node} is the only {role} node: add another with that role first"
            ));
        }
        if let Some((_, what)) = QUORUM_ROLES.iter().find(|(r, _)| r == role)
            && left == 2
        {
            warnings.push(format!(
                "two {role} nodes remain: {what} needs a majority, so losing either stops it until it is back; add a third node"
            ));
        }
    }
    Ok(Judged {
        remaining,
        roles: leaving.roles.clone(),
        warnings,
    })
}

/// Runs `openstack ARGS` as the cloud's admin (`env`: the admin's environment, its password filled in;
/// it stays in the environment, never on the command line) and returns its standard output.
fn openstack(env: &[(String, String)], args: &[&str]) -> Result<String, RemoveError> {
    let out = Command::new("openstack")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| RemoveError::Cloud(format!("openstack {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(RemoveError::Cloud(format!(
            "openstack {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first column of each non-empty line of `openstack ... -f value` output.
pub fn ids(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The admin's environment for `config`'s cloud, with the secrets in `setup.secrets` filled in.
fn admin_env(config: &ClusterConfig, setup: &Setup) -> Result<Vec<(String, String)>, RemoveError> {
    let secrets = Secrets::load(&setup.secrets)
        .map_err(|e| RemoveError::Cloud(format!("{}: {}", setup.secrets.display(), chain(&e))))?;
    stackbox_installer::flavor::openstack::admin_environment(config)
        .into_iter()
        .map(|(k, v)| {
            let filled = secrets
                .fill(&v)
                .map_err(|e| RemoveError::Cloud(chain(&e)))?;
            Ok((k, filled))
        })
        .collect()
}

/// Revokes `node`'s node certificate with the serial its join recorded: a copy made before it left is
/// refused by every agent once the configuration without it is assigned, with the CRL.
fn revoke_certificate(setup: &Setup, node: &str, say: &dyn Fn(&str)) -> Result<(), RemoveError> {
    let serial = crate::members::load(&setup.state_dir)
        .map_err(|e| RemoveError::Cloud(format!("reading {node}'s join: {e}")))?
        .into_iter()
        .find(|m| m.name == node)
        .and_then(|m| m.serial);
    match serial {
        Some(serial) => {
            crate::revocation::revoke(
                &setup.state_dir,
                &setup.ca.ca_cert,
                &setup.ca.ca_key,
                node,
                &serial,
                std::time::SystemTime::now(),
            )
            .map_err(|e| RemoveError::Cloud(format!("revoking {node}'s certificate: {e}")))?;
            say(&format!(
                "revoked {node}'s node certificate (serial {serial}): every agent refuses it"
            ));
        }
        None => say(&format!(
            "warning: {node}'s certificate serial was not recorded when it joined: it cannot be revoked"
        )),
    }
    Ok(())
}

/// Forgets `node`'s join (so the wizard's grown configuration never brings it back) and writes the
/// configuration without it (`remaining`) to `STATE/cluster/config.toml`, whose path it returns.
pub fn forget(
    state: &std::path::Path,
    node: &str,
    remaining: &ClusterConfig,
) -> Result<PathBuf, RemoveError> {
    crate::members::forget(state, node)
        .map_err(|e| RemoveError::Cloud(format!("forgetting {node}'s join: {e}")))?;
    let path = state.join(crate::coordinator::CLUSTER_CONFIG);
    let text = toml::to_string(remaining)
        .map_err(|e| RemoveError::Cloud(format!("the configuration without {node}: {e}")))?;
    write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| CoordError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(path)
}

/// `stackboxd cluster remove NODE`: see the module's text. `watch` is told each stage and follows the
/// install across the remaining nodes.
pub fn remove(setup: &Setup, node: &str, watch: &dyn Watch) -> Result<Report, RemoveError> {
    let say = |line: &str| watch.say(line);
    let config = stackbox_installer::load_config(&setup.config).map_err(CoordError::from)?;
    let me = coordinator::this_node(&config, setup)?;
    if let Some(why) = crate::rotate::under_way(&setup.ca) {
        return Err(RemoveError::Refused(why));
    }
    let judged = judge(&config, node, &me.name)?;
    for w in &judged.warnings {
        say(&format!("warning: {w}"));
    }
    let env = admin_env(&config, setup)?;
    let leaving = config.nodes.iter().find(|n| n.name == node);
    if leaving.is_some_and(|n| n.roles.iter().any(|r| r == "compute")) {
        let listing = openstack(
            &env,
            &[
                "server",
                "list",
                "--all-projects",
                "--host",
                node,
                "-f",
                "value",
                "-c",
                "ID",
                "-c",
                "Name",
            ],
        )?;
        if !listing.trim().is_empty() {
            return Err(RemoveError::Refused(format!(
                "{node} hosts servers; migrate or delete them first:\n{}",
                listing.trim_end()
            )));
        }
    }
    let links = coordinator::links(setup, &config, me)?;
    let link = &links[node];
    say(&format!("{node}: leaving the cluster"));
    let outcome = link
        .leave(&LeaveRequest {
            node: node.to_owned(),
        })
        .map_err(|source| CoordError::Agent {
            node: node.to_owned(),
            source,
        })?;
    for line in &outcome.output {
        say(&format!("{node}: {line}"));
    }
    for (kind, list) in [
        (
            ["compute", "service"],
            ["compute", "service", "list", "--host"],
        ),
        (["network", "agent"], ["network", "agent", "list", "--host"]),
    ] {
        let listed = openstack(
            &env,
            &[&list[..], &[node, "-f", "value", "-c", "ID"]].concat(),
        )?;
        for id in ids(&listed) {
            openstack(&env, &[&kind[..], &["delete", &id]].concat())?;
            say(&format!("deleted {} {} {id} of {node}", kind[0], kind[1]));
        }
    }
    revoke_certificate(setup, node, &say)?;
    let path = forget(&setup.state_dir, node, &judged.remaining)?;
    say(&format!(
        "the configuration without {node} is {}; installing it across the remaining nodes",
        path.display()
    ));
    let setup = Setup {
        config: PathBuf::from(&path),
        ..setup.clone()
    };
    Ok(coordinator::install(&setup, watch)?)
}

#[cfg(test)]
mod tests;
