//! The validated catalog: roles with their requirements, and named profiles that say how strictly
//! shortfalls are judged.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ProfileError;

/// A resource figure: the least a role works with, and what production should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Resource {
    /// The minimum.
    pub min: u32,
    /// The recommended figure (never below `min`).
    pub recommended: u32,
}

impl std::ops::Add for Resource {
    type Output = Resource;
    fn add(self, other: Resource) -> Resource {
        Resource {
            min: self.min.saturating_add(other.min),
            recommended: self.recommended.saturating_add(other.recommended),
        }
    }
}

/// A transport protocol of a port a role opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// The cloud software (flavor) a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// OpenStack.
    Openstack,
    /// Apache CloudStack.
    Cloudstack,
}

/// Who may reach a port a role opens: the node's firewall accepts its packets only from these sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// Anyone on the networks the operator allows: the public APIs and the console proxy.
    Anyone,
    /// The cluster's members only (their management addresses and the API address): replication,
    /// clustering, the message bus, the backends behind haproxy.
    Members,
    /// The members' data-plane addresses only: tenant traffic (VXLAN).
    DataPlane,
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reach::Anyone => "anyone",
            Reach::Members => "members",
            Reach::DataPlane => "data-plane",
        })
    }
}

/// A port a role opens, with what it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    /// The port number.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// What listens there.
    pub purpose: String,
    /// Who may reach it.
    pub from: Reach,
    /// The flavor that opens it; `None` when every flavor does (the database, the message bus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Flavor>,
}

/// What one role needs of its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// The role's name (`management`, `compute`, ...).
    pub name: String,
    /// One line for operators.
    pub description: String,
    /// 1-10: how badly the cloud suffers when this role is down or starved.
    pub impact: u8,
    /// Whether the role needs hardware virtualization (VT-x/AMD-V and a usable /dev/kvm).
    pub virtualization: bool,
    /// Virtual CPUs.
    pub vcpus: Resource,
    /// Memory in GB.
    pub memory_gb: Resource,
    /// Disk in GB.
    pub disk_gb: Resource,
    /// Network interfaces.
    pub nics: Resource,
    /// Ports the role opens.
    pub ports: Vec<Port>,
}

/// How a shortfall is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Reported, but the node may go on.
    Warn,
    /// The node cannot go on until it is fixed.
    Fail,
}

/// A profile's verdict for each kind of shortfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    /// No VT-x/AMD-V, or /dev/kvm missing or unusable, on a node with a role that needs it.
    pub no_hardware_virtualization: Verdict,
    /// Fewer NICs than the roles need.
    pub too_few_nics: Verdict,
    /// CPU, memory or disk below the sum of the roles' minimums.
    pub below_minimum: Verdict,
    /// Between the minimum and the recommended figure.
    pub below_recommended: Verdict,
}

/// A named profile: which roles a node has by default and how strictly the checks judge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The profile's name (its file stem).
    pub name: String,
    /// One line for operators.
    pub description: String,
    /// The roles assumed when the operator names none.
    pub default_roles: Vec<String>,
    /// Whether NICs with no device behind them (veth, bridge, dummy) count towards the NIC requirement.
    pub count_virtual_nics: bool,
    /// The verdicts.
    pub verdicts: Verdicts,
}

/// What a node with a given set of roles needs: the sums of the roles' figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirements {
    /// The roles, in the order asked for, without duplicates.
    pub roles: Vec<String>,
    /// Virtual CPUs, summed.
    pub vcpus: Resource,
    /// Memory in GB, summed.
    pub memory_gb: Resource,
    /// Disk in GB, summed.
    pub disk_gb: Resource,
    /// NICs: the largest need of any role (NICs are shared between roles, not consumed).
    pub nics: Resource,
    /// The roles that need hardware virtualization.
    pub virtualization_for: Vec<String>,
    /// Every port the roles open, sorted.
    pub ports: Vec<Port>,
}

/// Every role and profile.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) roles: BTreeMap<String, Role>,
    pub(crate) profiles: BTreeMap<String, Profile>,
}

impl Catalog {
    /// The roles, by name.
    pub fn roles(&self) -> &BTreeMap<String, Role> {
        &self.roles
    }

    /// The profiles, by name.
    pub fn profiles(&self) -> &BTreeMap<String, Profile> {
        &self.profiles
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ProfileError::UnknownProfile {
                name: name.to_owned(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The role called `name`.
    pub fn role(&self, name: &str) -> Result<&Role, ProfileError> {
        self.roles
            .get(name)
            .ok_or_else(|| ProfileError::UnknownRole {
                name: name.to_owned(),
                known: self.roles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The summed requirements of a node that carries every role in `roles`.
    pub fn requirements<S: AsRef<str>>(&self, roles: &[S]) -> Result<Requirements, ProfileError> {
        let mut names: Vec<String> = Vec::new();
        for name in roles {
            let name = name.as_ref();
            self.role(name)?;
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        let mut req = Requirements {
            roles: names.clone(),
            vcpus: Resource::default(),
            memory_gb: Resource::default(),
            disk_gb: Resource::default(),
            nics: Resource {
                min: 1,
                recommended: 1,
            },
            virtualization_for: Vec::new(),
            ports: Vec::new(),
        };
        for name in &names {
            let role = &self.roles[name];
            req.vcpus = req.vcpus + role.vcpus;
            req.memory_gb = req.memory_gb + role.memory_gb;
            req.disk_gb = req.disk_gb + role.disk_gb;
            req.nics.min = req.nics.min.max(role.nics.min);
            req.nics.recommended = req.nics.recommended.max(role.nics.recommended);
            if role.virtualization {
                req.virtualization_for.push(name.clone());
            }
            req.ports.extend(role.ports.iter().cloned());
        }
        req.ports.sort_by_key(|p| (p.protocol, p.port));
        req.ports.dedup_by_key(|p| (p.protocol, p.port));
        Ok(req)
    }
}
