//! The files as written (serde, unknown keys refused) and their validation into the model.
//!
//! Numbers are read as signed integers so that a negative figure gets a message of ours that names the key,
//! rather than a type error.

use std::collections::BTreeMap;

use serde::Deserialize;
use stackbox_common::toml_file;

use crate::ProfileError;
use crate::model::{Flavor, Port, Profile, Protocol, Reach, Resource, Role, Verdict, Verdicts};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    roles: BTreeMap<String, RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    description: String,
    impact: i64,
    #[serde(default)]
    virtualization: bool,
    vcpus: Option<RawResource>,
    memory_gb: Option<RawResource>,
    disk_gb: Option<RawResource>,
    nics: Option<RawResource>,
    #[serde(default)]
    ports: Vec<RawPort>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    min: i64,
    recommended: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    port: i64,
    protocol: Protocol,
    purpose: String,
    from: Reach,
    #[serde(default)]
    flavor: Option<Flavor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    description: String,
    default_roles: Vec<String>,
    #[serde(default)]
    count_virtual_nics: bool,
    verdicts: Verdicts,
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(other),
                &"`tcp` or `udp`",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Flavor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "openstack" => Ok(Flavor::Openstack),
            "cloudstack" => Ok(Flavor::Cloudstack),
            other => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(other),
                &"`openstack` or `cloudstack` (leave it out for a port every flavor opens)",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Reach {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "anyone" => Ok(Reach::Anyone),
            "members" => Ok(Reach::Members),
            "data-plane" => Ok(Reach::DataPlane),
            other => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(other),
                &"`anyone`, `members` or `data-plane`",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "warn" => Ok(Verdict::Warn),
            "fail" => Ok(Verdict::Fail),
            other => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(other),
                &"`warn` or `fail`",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Verdicts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct V {
            no_hardware_virtualization: Verdict,
            too_few_nics: Verdict,
            below_minimum: Verdict,
            below_recommended: Verdict,
        }
        let v = V::deserialize(d)?;
        Ok(Verdicts {
            no_hardware_virtualization: v.no_hardware_virtualization,
            too_few_nics: v.too_few_nics,
            below_minimum: v.below_minimum,
            below_recommended: v.below_recommended,
        })
    }
}

/// Upper bounds past which a figure is a typo, not hardware.
struct Bound {
    key: &'static str,
    least: i64,
    most: i64,
}

const VCPUS: Bound = Bound {
    key: "vcpus",
    least: 1,
    most: 4096,
};
const MEMORY_GB: Bound = Bound {
    key: "memory_gb",
    least: 1,
    most: 65_536,
};
const DISK_GB: Bound = Bound {
    key: "disk_gb",
    least: 0,
    most: 1_000_000,
};
const NICS: Bound = Bound {
    key: "nics",
    least: 1,
    most: 64,
};

fn invalid(file: &str, key: impl Into<String>, reason: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        file: file.to_owned(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// A role or profile name: lowercase ASCII letters, digits and single dashes.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn resource(
    file: &str,
    role: &str,
    bound: &Bound,
    raw: Option<&RawResource>,
) -> Result<Option<Resource>, ProfileError> {
    let Some(raw) = raw else { return Ok(None) };
    let key = |field: &str| format!("roles.{role}.{}.{field}", bound.key);
    for (field, value) in [("min", raw.min), ("recommended", raw.recommended)] {
        if value < 0 {
            return Err(invalid(
                file,
                key(field),
                format!("must not be negative, got {value}"),
            ));
        }
        if value < bound.least {
            return Err(invalid(
                file,
                key(field),
                format!("must be at least {}, got {value}", bound.least),
            ));
        }
        if value > bound.most {
            return Err(invalid(
                file,
                key(field),
                format!(
                    "{value} is absurd for {} (at most {})",
                    bound.key, bound.most
                ),
            ));
        }
    }
    if raw.recommended < raw.min {
        return Err(invalid(
            file,
            key("recommended"),
            format!(
                "recommended ({}) is below min ({})",
                raw.recommended, raw.min
            ),
        ));
    }
    // Both fit in u32: bounded above.
    Ok(Some(Resource {
        min: raw.min as u32,
        recommended: raw.recommended as u32,
    }))
}

/// Parses and validates the roles file.
pub(crate) fn parse_roles(file: &str, text: &str) -> Result<BTreeMap<String, Role>, ProfileError> {
    let parsed: RolesFile = toml_file::parse(file, text)?;
    if parsed.roles.is_empty() {
        return Err(invalid(file, "roles", "no role is defined"));
    }
    let mut roles = BTreeMap::new();
    for (name, raw) in parsed.roles {
        let role = parse_role(file, &name, raw)?;
        roles.insert(name, role);
    }
    Ok(roles)
}

/// Validates one role.
fn parse_role(file: &str, name: &str, raw: RawRole) -> Result<Role, ProfileError> {
    if !valid_name(name) {
        return Err(invalid(
            file,
            format!("roles.{name}"),
            "a role name is lowercase letters, digits and dashes",
        ));
    }
    if raw.description.trim().is_empty() {
        return Err(invalid(
            file,
            format!("roles.{name}.description"),
            "must not be empty",
        ));
    }
    if !(1..=10).contains(&raw.impact) {
        return Err(invalid(
            file,
            format!("roles.{name}.impact"),
            format!("must be from 1 to 10, got {}", raw.impact),
        ));
    }
    let vcpus = resource(file, name, &VCPUS, raw.vcpus.as_ref())?;
    let memory = resource(file, name, &MEMORY_GB, raw.memory_gb.as_ref())?;
    let disk = resource(file, name, &DISK_GB, raw.disk_gb.as_ref())?;
    let nics = resource(file, name, &NICS, raw.nics.as_ref())?;
    let (vcpus, memory) = match (vcpus, memory) {
        (Some(v), Some(m)) => (v, m),
        (None, None) if disk.is_none() && nics.is_none() => {
            return Err(invalid(
                file,
                format!("roles.{name}"),
                "the role has no resources: give at least vcpus and memory_gb",
            ));
        }
        (None, _) => {
            return Err(invalid(
                file,
                format!("roles.{name}.vcpus"),
                "missing: every role needs CPUs",
            ));
        }
        (_, None) => {
            return Err(invalid(
                file,
                format!("roles.{name}.memory_gb"),
                "missing: every role needs memory",
            ));
        }
    };
    Ok(Role {
        name: name.to_owned(),
        description: raw.description,
        impact: raw.impact as u8,
        virtualization: raw.virtualization,
        vcpus,
        memory_gb: memory,
        disk_gb: disk.unwrap_or_default(),
        nics: nics.unwrap_or(Resource {
            min: 1,
            recommended: 1,
        }),
        ports: parse_ports(file, name, raw.ports)?,
    })
}

/// Validates a role's ports: numbers in range, none listed twice, each with a purpose.
fn parse_ports(file: &str, name: &str, raw: Vec<RawPort>) -> Result<Vec<Port>, ProfileError> {
    let mut ports: Vec<Port> = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        let key = format!("roles.{name}.ports[{i}].port");
        let port = u16::try_from(p.port)
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| {
                invalid(
                    file,
                    &key,
                    format!("must be from 1 to 65535, got {}", p.port),
                )
            })?;
        if ports
            .iter()
            .any(|q| q.port == port && q.protocol == p.protocol)
        {
            return Err(invalid(
                file,
                key,
                format!("{port}/{} is listed twice", p.protocol),
            ));
        }
        if p.purpose.trim().is_empty() {
            return Err(invalid(
                file,
                format!("roles.{name}.ports[{i}].purpose"),
                "must not be empty",
            ));
        }
        ports.push(Port {
            port,
            protocol: p.protocol,
            purpose: p.purpose,
            from: p.from,
            flavor: p.flavor,
        });
    }
    Ok(ports)
}

/// Parses and validates one profile file against the roles; the name is the file's stem.
pub(crate) fn parse_profile(
    file: &str,
    text: &str,
    roles: &BTreeMap<String, Role>,
) -> Result<Profile, ProfileError> {
    let name = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !valid_name(&name) {
        return Err(invalid(
            file,
            "(file name)",
            "a profile's file name is lowercase letters, digits and dashes, ending in .toml",
        ));
    }
    let parsed: ProfileFile = toml_file::parse(file, text)?;
    if parsed.description.trim().is_empty() {
        return Err(invalid(file, "description", "must not be empty"));
    }
    if parsed.default_roles.is_empty() {
        return Err(invalid(
            file,
            "default_roles",
            "must name at least one role",
        ));
    }
    for (i, role) in parsed.default_roles.iter().enumerate() {
        if !roles.contains_key(role) {
            return Err(invalid(
                file,
                format!("default_roles[{i}]"),
                format!(
                    "unknown role `{role}` (known roles: {})",
                    roles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if parsed.default_roles[..i].contains(role) {
            return Err(invalid(
                file,
                format!("default_roles[{i}]"),
                format!("`{role}` is listed twice"),
            ));
        }
    }
    Ok(Profile {
        name,
        description: parsed.description,
        default_roles: parsed.default_roles,
        count_virtual_nics: parsed.count_virtual_nics,
        verdicts: parsed.verdicts,
    })
}
