//! The node's roles and the cloud's settings: what the operator chooses after creating the cluster.
//! Like [`crate::network`], the form is strings as typed and the stored model is validated; the models
//! map onto the installer's cluster configuration (`Node::roles`, `Flavor`, `Overcommit`, with the
//! installer's bounds) once the wizard drives it.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use stackbox_firstboot::check::{self, Report, Status};
use stackbox_hardware_profiles::{Catalog, Profile};
use stackbox_machine::probe::Facts;

use crate::error::FieldError;

/// The roles chosen for this node, as stored in `roles.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// The node's host name.
    pub node: String,
    /// Its roles, in the catalog's order.
    pub roles: Vec<String>,
}

/// The roles chosen for a node that joined, and its data-plane address (found on its data NIC when
/// its roles were saved), as stored in `joined-roles.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinedRoles {
    /// The node's name.
    pub node: String,
    /// Its roles, in the catalog's order.
    pub roles: Vec<String>,
    /// Its address on the cluster's data NIC, when the cluster has a data network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_address: Option<std::net::IpAddr>,
}

/// Why a choice of roles cannot be the install of a cluster's only node: each role a cloud needs that
/// it lacks (the installer's rule, [`stackbox_installer::validate::missing_roles`]). Other machines can
/// take roles only once they join, which is after this node's install.
pub fn missing_on_the_only_node(roles: &[String]) -> Vec<FieldError> {
    stackbox_installer::validate::missing_roles(roles.iter().map(String::as_str))
        .into_iter()
        .map(|role| {
            FieldError::new(
                "roles",
                format!(
                    "the cloud needs a node with the `{role}` role, and this is the cluster's only node: \
                     choose it here (other machines can take roles once they join, after this install)"
                ),
            )
        })
        .collect()
}

/// Judges the machine for a choice of roles: unknown or no roles are field errors; the report says
/// what the hardware profile thinks of the choice. Duplicates are dropped; the catalog's order is kept.
pub fn judge_roles(
    chosen: &[String],
    catalog: &Catalog,
    profile: &Profile,
    facts: &Facts,
) -> Result<(Vec<String>, Report), Vec<FieldError>> {
    let mut errors = Vec::new();
    for role in chosen {
        if !catalog.roles().contains_key(role) {
            errors.push(FieldError::new(
                "roles",
                format!(
                    "there is no role {role:?}; the roles are {}",
                    catalog
                        .roles()
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if chosen.is_empty() {
        errors.push(FieldError::new("roles", "choose at least one role"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let roles: Vec<String> = catalog
        .roles()
        .keys()
        .filter(|r| chosen.contains(r))
        .cloned()
        .collect();
    let req = catalog
        .requirements(&roles)
        .map_err(|e| vec![FieldError::new("roles", e.to_string())])?;
    let report = check::judge(facts.clone(), profile, &req);
    Ok((roles, report))
}

/// Turns the failed checks of a role report into field errors: a choice the hardware cannot carry is
/// not stored.
pub fn failures(report: &Report) -> Vec<FieldError> {
    report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| {
            FieldError::new(
                "roles",
                format!(
                    "{}: {}{}",
                    c.id,
                    c.summary,
                    c.remedy
                        .as_deref()
                        .map(|r| format!(". {r}"))
                        .unwrap_or_default()
                ),
            )
        })
        .collect()
}

/// The largest CPU overcommit ratio accepted (the installer's bound).
pub const CPU_RATIO_MAX: f64 = 64.0;
/// The largest RAM overcommit ratio accepted.
pub const RAM_RATIO_MAX: f64 = 4.0;
/// The largest disk overcommit ratio accepted.
pub const DISK_RATIO_MAX: f64 = 10.0;

/// The settings form as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    /// `openstack` (CloudStack is not installable yet).
    pub flavor: String,
    /// vCPUs per physical CPU.
    pub cpu_ratio: String,
    /// Virtual memory per physical memory.
    pub ram_ratio: String,
    /// Virtual disk per physical disk.
    pub disk_ratio: String,
    /// The networks allowed to reach the public APIs and the console proxy, separated by commas or
    /// spaces; empty: any address.
    pub api_clients: String,
}

impl SettingsForm {
    /// Nova's own initial ratios (Zed): 4.0, 1.0, 1.0, on OpenStack.
    pub fn defaults() -> SettingsForm {
        SettingsForm {
            flavor: "openstack".to_owned(),
            cpu_ratio: "4.0".to_owned(),
            ram_ratio: "1.0".to_owned(),
            disk_ratio: "1.0".to_owned(),
            api_clients: String::new(),
        }
    }

    /// The form showing stored settings.
    pub fn from_settings(s: &Settings) -> SettingsForm {
        SettingsForm {
            flavor: s.flavor.clone(),
            cpu_ratio: format!("{:?}", s.overcommit.cpu),
            ram_ratio: format!("{:?}", s.overcommit.ram),
            disk_ratio: format!("{:?}", s.overcommit.disk),
            api_clients: s
                .api_clients
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Overcommit (allocation) ratios of the compute nodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overcommit {
    /// vCPUs per physical CPU.
    pub cpu: f64,
    /// Virtual memory per physical memory.
    pub ram: f64,
    /// Virtual disk per physical disk.
    pub disk: f64,
}

/// Validated settings, as stored in `settings.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The cloud flavor: `openstack`.
    pub flavor: String,
    /// The overcommit ratios.
    pub overcommit: Overcommit,
    /// The networks allowed to reach the public APIs and the console proxy (every node's firewall);
    /// empty: any address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_clients: Vec<IpNet>,
}

/// Parses a ratio as typed: digits with at most one decimal point, above 0 and at most `max`.
fn ratio(text: &str, field: &'static str, max: f64, errors: &mut Vec<FieldError>) -> f64 {
    let t = text.trim();
    let well_formed = !t.is_empty()
        && t.len() <= 8
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().filter(|b| *b == b'.').count() <= 1
        && !t.starts_with('.')
        && !t.ends_with('.');
    match t.parse::<f64>() {
        Ok(v) if well_formed && v > 0.0 && v <= max => v,
        _ => {
            errors.push(FieldError::new(
                field,
                format!("a ratio is a number above 0 and at most {max}, such as 1.5"),
            ));
            0.0
        }
    }
}

/// Parses the client networks as typed: networks (`10.9.0.0/16`) or single addresses, separated by commas
/// or white space; at most 64, none twice, none with host bits set, none loopback, multicast or unspecified.
fn api_clients(text: &str, errors: &mut Vec<FieldError>) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = Vec::new();
    let mut fail = |m: String| errors.push(FieldError::new("api_clients", m));
    for word in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let net = match (word.parse::<IpNet>(), word.parse::<IpAddr>()) {
            (Ok(net), _) => net,
            (_, Ok(ip)) => IpNet::from(ip),
            _ => {
                fail(format!(
                    "`{word}` is not a network such as 192.168.10.0/24 or an address"
                ));
                continue;
            }
        };
        let first = net.network();
        if net.trunc() != net {
            fail(format!(
                "`{net}` has host bits set; did you mean `{}`?",
                net.trunc()
            ));
        } else if first.is_loopback()
            || first.is_multicast()
            || (first.is_unspecified() && net.prefix_len() == net.max_prefix_len())
        {
            fail(format!("{net} is not a network clients come from"));
        } else if nets.contains(&net) {
            fail(format!("{net} is listed twice"));
        } else {
            nets.push(net);
        }
    }
    if nets.len() > 64 {
        fail(format!(
            "{} networks: at most 64 (use wider networks)",
            nets.len()
        ));
    }
    nets
}

/// Validates the settings form.
pub fn validate_settings(form: &SettingsForm) -> Result<Settings, Vec<FieldError>> {
    let mut errors = Vec::new();
    match form.flavor.as_str() {
        "openstack" => {}
        "cloudstack" => errors.push(FieldError::new(
            "flavor",
            "Apache CloudStack is not installable yet; choose OpenStack",
        )),
        _ => errors.push(FieldError::new("flavor", "choose OpenStack")),
    }
    let overcommit = Overcommit {
        cpu: ratio(&form.cpu_ratio, "cpu_ratio", CPU_RATIO_MAX, &mut errors),
        ram: ratio(&form.ram_ratio, "ram_ratio", RAM_RATIO_MAX, &mut errors),
        disk: ratio(&form.disk_ratio, "disk_ratio", DISK_RATIO_MAX, &mut errors),
    };
    let api_clients = api_clients(&form.api_clients, &mut errors);
    if errors.is_empty() {
        Ok(Settings {
            flavor: form.flavor.clone(),
            overcommit,
            api_clients,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_bounds() {
        let s = validate_settings(&SettingsForm::defaults()).unwrap();
        assert_eq!(s.overcommit.cpu, 4.0);
        assert_eq!(SettingsForm::from_settings(&s), SettingsForm::defaults());
        for (field, bad) in [
            ("cpu_ratio", "0"),
            ("cpu_ratio", "64.5"),
            ("cpu_ratio", "NaN"),
            ("cpu_ratio", "inf"),
            ("ram_ratio", "4.01"),
            ("ram_ratio", "-1"),
            ("disk_ratio", "1e1"),
            ("disk_ratio", "1..5"),
            ("disk_ratio", ""),
            ("flavor", "cloudstack"),
            ("flavor", "<b>x</b>"),
        ] {
            let mut form = SettingsForm::defaults();
            match field {
                "cpu_ratio" => form.cpu_ratio = bad.to_owned(),
                "ram_ratio" => form.ram_ratio = bad.to_owned(),
                "disk_ratio" => form.disk_ratio = bad.to_owned(),
                _ => form.flavor = bad.to_owned(),
            }
            let errors = validate_settings(&form).unwrap_err();
            assert_eq!(errors.len(), 1, "{field}={bad}: {errors:?}");
            assert_eq!(errors[0].field, field);
        }
        let edge = SettingsForm {
            cpu_ratio: "64".to_owned(),
            ram_ratio: "4".to_owned(),
            disk_ratio: "10.0".to_owned(),
            ..SettingsForm::defaults()
        };
        validate_settings(&edge).unwrap();
    }

    #[test]
    fn client_networks_are_read_and_shown_again() {
        let form = SettingsForm {
            api_clients: " 10.9.0.0/16,192.168.7.20\n fd00:1::/64 ".to_owned(),
            ..SettingsForm::defaults()
        };
        let s = validate_settings(&form).unwrap();
        assert_eq!(
            s.api_clients,
            ["10.9.0.0/16", "192.168.7.20/32", "fd00:1::/64"].map(|n| n.parse::<IpNet>().unwrap())
        );
        let again = SettingsForm::from_settings(&s);
        assert_eq!(
            again.api_clients,
            "10.9.0.0/16, 192.168.7.20/32, fd00:1::/64"
        );
        assert_eq!(validate_settings(&again).unwrap(), s);
        assert!(
            validate_settings(&SettingsForm::defaults())
                .unwrap()
                .api_clients
                .is_empty()
        );
    }

    #[test]
    fn client_networks_that_must_fail() {
        for (text, message) in [
            ("the office", "`the` is not a network"),
            ("10.9.0.0/33", "`10.9.0.0/33` is not a network"),
            (
                "10.9.0.1/16",
                "has host bits set; did you mean `10.9.0.0/16`?",
            ),
            ("127.0.0.0/8", "is not a network clients come from"),
            ("224.0.0.0/4", "is not a network clients come from"),
            ("0.0.0.0", "is not a network clients come from"),
            ("10.9.0.0/16 10.9.0.0/16", "10.9.0.0/16 is listed twice"),
            ("10.9.0.0/16;10.8.0.0/16", "is not a network"),
        ] {
            let form = SettingsForm {
                api_clients: text.to_owned(),
                ..SettingsForm::defaults()
            };
            let errors = validate_settings(&form).unwrap_err();
            assert_eq!(errors[0].field, "api_clients", "{text}");
            assert!(
                errors[0].message.contains(message),
                "{text}: {}",
                errors[0].message
            );
        }
        let many: Vec<String> = (0..65).map(|i| format!("10.{i}.0.0/16")).collect();
        let form = SettingsForm {
            api_clients: many.join(","),
            ..SettingsForm::defaults()
        };
        assert!(
            validate_settings(&form).unwrap_err()[0]
                .message
                .contains("at most 64")
        );
    }

    #[test]
    fn roles_are_judged_against_the_profile() {
        let catalog = Catalog::embedded().unwrap();
        let root = stackbox_machine::system::Root::at(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../machine/tests/fixtures/machines/vm-no-virt/root"),
        );
        let facts = stackbox_machine::probe::probe(&root).unwrap();
        let strict = catalog.profile("baremetal").unwrap();
        let lab = catalog.profile("lab").unwrap();
        let all: Vec<String> = catalog.roles().keys().cloned().collect();
        let (_, report) = judge_roles(&all, &catalog, strict, &facts).unwrap();
        assert!(!failures(&report).is_empty());
        let (roles, report) = judge_roles(
            &["message-bus".to_owned(), "message-bus".to_owned()],
            &catalog,
            lab,
            &facts,
        )
        .unwrap();
        assert_eq!(roles, ["message-bus"]);
        assert!(failures(&report).is_empty(), "{report:?}");
        assert!(judge_roles(&[], &catalog, lab, &facts).is_err());
        let e = judge_roles(&["dns".to_owned()], &catalog, lab, &facts).unwrap_err();
        assert!(e[0].message.contains("no role \"dns\""));
    }
}
