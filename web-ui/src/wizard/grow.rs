//! The first node's side of growing, with no HTTP in it: the nodes that joined, each with its hardware
//! report (asked of its agent) and the roles chosen for it, judged under the wizard's profile as this
//! node's own were; and the grown cluster's configuration: this node's, then every joined node that has
//! roles (the same model as `examples/three-node.toml`), written to `STATE/cluster/config.toml` each
//! time a node's roles are saved, where `stackboxd cluster install --config` takes it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use stackbox_cluster::coordinator::{CLUSTER_CONFIG, hardware_of};
use stackbox_cluster::hardware::{Hardware, Source};
use stackbox_common::fs::write_atomic;
use stackbox_installer::ClusterConfig;

use super::join::JoinedMember;
use super::{Judgement, RolesOutcome, Wizard};
use crate::answers::config;
use crate::answers::roles::{self, JoinedRoles, RoleAssignment};
use crate::error::{FieldError, WebError};

/// The grown configuration's first line.
pub const GROWN_BY: &str = "Written by the stackbox setup wizard: this node and the nodes that joined it, with their roles; `stackboxd cluster install --config` reads it.";

/// A node that joined, as the first node's wizard shows it.
#[derive(Debug, Clone)]
pub struct JoinedNode {
    /// Its join record.
    pub member: JoinedMember,
    /// Its hardware, or why its agent did not tell it.
    pub hardware: Result<Hardware, String>,
    /// Its roles, once saved.
    pub roles: Option<JoinedRoles>,
}

impl Wizard {
    /// The hardware of `members`, asked of their agents (blocking: one call per node).
    fn joined_hardware(
        &self,
        members: &[JoinedMember],
    ) -> BTreeMap<String, Result<Hardware, String>> {
        let missing =
            |m: &JoinedMember| (m.name.clone(), Err("its agent did not answer".to_owned()));
        match &self.joined_hardware {
            Source::Given(reports) => members
                .iter()
                .map(|m| match reports.get(&m.name) {
                    Some(h) => (m.name.clone(), Ok(h.clone())),
                    None => missing(m),
                })
                .collect(),
            Source::Agents { .. } => {
                let me = match self.cluster_config() {
                    Ok(c) => (c.nodes[0].name.clone(), c.nodes[0].address),
                    Err(e) => {
                        let why = format!("this node's own answers are not complete: {e}");
                        return members
                            .iter()
                            .map(|m| (m.name.clone(), Err(why.clone())))
                            .collect();
                    }
                };
                let setup = self.coordinator_setup(self.state_dir.join(CLUSTER_CONFIG));
                let nodes: Vec<(String, IpAddr)> = members
                    .iter()
                    .map(|m| (m.name.clone(), m.address))
                    .collect();
                match hardware_of(&setup, (&me.0, me.1), &nodes) {
                    Ok(reports) => reports,
                    Err(e) => {
                        let why = stackbox_common::error::chain(&e);
                        members
                            .iter()
                            .map(|m| (m.name.clone(), Err(why.clone())))
                            .collect()
                    }
                }
            }
        }
    }

    /// The nodes that joined, oldest first, each with its hardware and saved roles (blocking).
    pub fn joined_nodes(&self) -> Result<Vec<JoinedNode>, WebError> {
        let members = self.members()?;
        let mut hardware = self.joined_hardware(&members);
        let saved = self.answers.joined_roles()?;
        Ok(members
            .into_iter()
            .map(|member| JoinedNode {
                hardware: hardware
                    .remove(&member.name)
                    .unwrap_or_else(|| Err("its agent did not answer".to_owned())),
                roles: saved.iter().find(|r| r.node == member.name).cloned(),
                member,
            })
            .collect())
    }

    /// One node that joined (blocking); `NotFound` for a name that did not join this node.
    pub fn joined_node(&self, name: &str) -> Result<JoinedNode, WebError> {
        let member = self
            .members()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or(WebError::NotFound)?;
        let hardware = self
            .joined_hardware(std::slice::from_ref(&member))
            .remove(name)
            .unwrap_or_else(|| Err("its agent did not answer".to_owned()));
        let roles = self
            .answers
            .joined_roles()?
            .into_iter()
            .find(|r| r.node == name);
        Ok(JoinedNode {
            member,
            hardware,
            roles,
        })
    }

    /// Judges a choice of roles for a joined node under the wizard's profile, on its hardware.
    pub fn judge_joined(
        &self,
        node: &JoinedNode,
        chosen: &[String],
    ) -> Result<Judgement, WebError> {
        let hardware = node.hardware.as_ref().map_err(|why| {
            WebError::Conflict(format!(
                "{}'s hardware is not known ({why}): its roles cannot be judged",
                node.member.name
            ))
        })?;
        self.judge_on(chosen, &hardware.facts)
    }

    /// Judges and, when its hardware can carry them and the grown cluster stays valid, stores a joined
    /// node's roles and writes the grown configuration (blocking).
    pub fn assign_joined_roles(
        &self,
        name: &str,
        chosen: &[String],
    ) -> Result<RolesOutcome, WebError> {
        if self.operations.running() {
            return Err(WebError::Conflict(
                "the cluster is changing: roles cannot change until that ends".to_owned(),
            ));
        }
        let node = self.joined_node(name)?;
        let (roles, report) = match self.judge_joined(&node, chosen)? {
            Err(errors) => return Ok(RolesOutcome::Refused(errors, None)),
            Ok(judged) => judged,
        };
        let failed = roles::failures(&report);
        if !failed.is_empty() {
            return Ok(RolesOutcome::Refused(failed, Some(report)));
        }
        let base = self.cluster_config()?;
        let data_address = match (&base.networks.data_cidr, &node.hardware) {
            (Some(_), Ok(h)) => match h.address_on(&base.networks.data_nic) {
                Some(ip) => Some(ip),
                None => {
                    let why = format!(
                        "{name} has no address on {}, the cluster's data NIC: give it one in its network settings first",
                        base.networks.data_nic
                    );
                    return Ok(RolesOutcome::Refused(
                        vec![FieldError::new("roles", why)],
                        Some(report),
                    ));
                }
            },
            _ => None,
        };
        let assigned = JoinedRoles {
            node: name.to_owned(),
            roles: roles.clone(),
            data_address,
        };
        // The whole grown cluster must stay valid with this node's roles, before anything is stored.
        let mut joined = self.joined_with_roles()?;
        joined.retain(|(_, j)| j.node != name);
        joined.push((node.member.address, assigned.clone()));
        if let Err(e) = config::grown_config(base, &joined, &self.catalog) {
            return Ok(RolesOutcome::Refused(
                vec![FieldError::new("roles", e.to_string())],
                Some(report),
            ));
        }
        self.answers.set_joined_roles(&assigned)?;
        self.write_grown_config()?;
        Ok(RolesOutcome::Saved(
            RoleAssignment {
                node: name.to_owned(),
                roles,
            },
            report,
        ))
    }

    /// Every joined node that has roles, with its management address, in the order they joined.
    fn joined_with_roles(&self) -> Result<Vec<(IpAddr, JoinedRoles)>, WebError> {
        let saved = self.answers.joined_roles()?;
        Ok(self
            .members()?
            .into_iter()
            .filter_map(|m| {
                let roles = saved.iter().find(|r| r.node == m.name)?;
                Some((m.address, roles.clone()))
            })
            .collect())
    }

    /// The grown cluster's configuration: this node's, then every joined node that has roles.
    pub fn grown_config(&self) -> Result<ClusterConfig, WebError> {
        config::grown_config(
            self.cluster_config()?,
            &self.joined_with_roles()?,
            &self.catalog,
        )
    }

    /// The grown configuration as the file `stackboxd cluster install --config` takes.
    pub fn grown_toml(&self) -> Result<String, WebError> {
        Ok(self
            .grown_config()?
            .to_toml_file(GROWN_BY)
            .context("writing the grown configuration")?)
    }

    /// Writes the grown configuration to `STATE/cluster/config.toml` (0644: it holds no secret) and
    /// returns its path.
    pub fn write_grown_config(&self) -> Result<PathBuf, WebError> {
        let text = self.grown_toml()?;
        let path = self.state_dir.join(CLUSTER_CONFIG);
        write_atomic(&path, text.as_bytes(), 0o644)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}
