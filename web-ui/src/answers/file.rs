//! The answer file: the wizard's answers written down ahead of time (TOML), so that a machine installs
//! itself without anyone at the console, and the next twenty the same way.
//!
//! Each section is one of the wizard's pages with the same fields, judged by the same rules (the network
//! page's, the cluster name's, the roles' against this machine's hardware, the settings'), so that an
//! answer the wizard would refuse is refused here too, with the field named as `section.field`:
//!
//! ```toml
//! [disk]                       # when booted live: the disk to erase and install to
//! target = "/dev/vda"
//! reboot = true                # reboot into the installed system (default)
//! [admin]
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # `stackboxd answers hash-password`
//! [network]                    # the network page's fields
//! hostname = "node1"
//! management_nic = "ens3"
//! [cluster]
//! create = "lab"               # or: join = "10.0.0.11", code = "...", fingerprint = "SHA256:..."
//! [node]
//! roles = ["management", "message-bus", "storage-metadata", "compute"]
//! [settings]                   # the settings page's fields
//! cpu_ratio = 4.0
//! ```
//!
//! Every section but `[admin]` may be left out: the wizard then asks for it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::answers::cluster::validate_cluster_name;
use crate::answers::roles::{self, SettingsForm};
use crate::error::FieldError;
use crate::network::{self, NetworkForm};

/// The least argon2 memory cost (KiB) and passes accepted: the argon2 crate's defaults, OWASP's minimum.
const ARGON2_MIN_M_KIB: u32 = 19_456;
const ARGON2_MIN_T: u32 = 2;

/// One thing wrong with an answer file, named as `section.field`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerError {
    /// `section.field` (or `section`, or the whole file as `answers`).
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> AnswerError {
    AnswerError {
        field: field.into(),
        message: message.into(),
    }
}

/// The disk to install to, when booted live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskAnswer {
    /// The whole disk's device (`/dev/sda`, `/dev/disk/by-id/...`).
    pub target: String,
    /// Reboot into the installed system once it is written.
    #[serde(default = "yes")]
    pub reboot: bool,
}

fn yes() -> bool {
    true
}

/// How this node comes to a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterAnswer {
    /// Creates a cluster of this name.
    Create {
        /// The cluster's name.
        name: String,
        /// The API address kept by keepalived; empty: this node's own.
        api_address: String,
    },
    /// Joins the member at `address` with a join code and the member's TLS fingerprint.
    Join {
        /// The member's address.
        address: String,
        /// The join code (a secret: never logged, never shown).
        code: String,
        /// The member's certificate fingerprint (`SHA256:AB:...`).
        fingerprint: String,
    },
}

/// A parsed answer file: each page's form as written, not yet judged.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerFile {
    /// `[disk]`.
    pub disk: Option<DiskAnswer>,
    /// `[admin] password_hash`: an argon2id PHC string.
    pub password_hash: String,
    /// `[network]`, as the network page's form.
    pub network: Option<NetworkForm>,
    /// `[cluster]`.
    pub cluster: Option<ClusterAnswer>,
    /// `[node] roles`.
    pub roles: Option<Vec<String>>,
    /// `[settings]`, as the settings page's form.
    pub settings: Option<SettingsForm>,
}

/// The sections an answer file may have.
const SECTIONS: &[&str] = &["disk", "admin", "network", "cluster", "node", "settings"];

/// Parses an answer file; every unknown section or key, wrong type and missing field is reported.
pub fn parse(text: &str) -> Result<AnswerFile, Vec<AnswerError>> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| vec![err("answers", format!("not TOML: {}", e.message()))])?;
    let mut errors = Vec::new();
    for key in table.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(err(
                key.clone(),
                format!("unknown section; the sections are {}", SECTIONS.join(", ")),
            ));
        }
    }
    let section = |name: &str, errors: &mut Vec<AnswerError>| -> Option<toml::Table> {
        match table.get(name) {
            None => None,
            Some(toml::Value::Table(t)) => Some(t.clone()),
            Some(_) => {
                errors.push(err(name, "must be a section ([name])"));
                None
            }
        }
    };
    let disk =
        section("disk", &mut errors).and_then(|t| typed::<DiskAnswer>("disk", t, &mut errors));
    let password_hash = admin(section("admin", &mut errors), &mut errors);
    let network = section("network", &mut errors).and_then(|t| {
        form::<NetworkForm>("network", t, &NetworkForm::defaults(&[], ""), &mut errors)
    });
    let cluster = section("cluster", &mut errors).and_then(|t| cluster(t, &mut errors));
    let roles = section("node", &mut errors).and_then(|t| node_roles(t, &mut errors));
    let settings = section("settings", &mut errors)
        .and_then(|t| form::<SettingsForm>("settings", t, &SettingsForm::defaults(), &mut errors));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AnswerFile {
        disk,
        password_hash,
        network,
        cluster,
        roles,
        settings,
    })
}

/// A section read into a type with its own field names (unknown keys refused by the type).
fn typed<T: serde::de::DeserializeOwned>(
    name: &str,
    table: toml::Table,
    errors: &mut Vec<AnswerError>,
) -> Option<T> {
    let de = toml::Value::Table(table);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{name}.{path}")
            };
            errors.push(err(field, e.inner().to_string()));
            None
        }
    }
}

/// A section read as a wizard form: only the form's fields, each a string, a number or (for lists such as
/// `dns`) an array; the form's defaults fill what is left out.
fn form<T: Serialize + serde::de::DeserializeOwned>(
    name: &str,
    table: toml::Table,
    defaults: &T,
    errors: &mut Vec<AnswerError>,
) -> Option<T> {
    let serde_json::Value::Object(mut fields) = serde_json::to_value(defaults).ok()? else {
        return None;
    };
    let before = errors.len();
    for (key, value) in table {
        if !fields.contains_key(&key) {
            let known: Vec<&String> = fields.keys().collect();
            errors.push(err(
                format!("{name}.{key}"),
                format!(
                    "unknown field; the fields are {}",
                    known
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            continue;
        }
        match as_text(&value) {
            Some(text) => {
                fields.insert(key, serde_json::Value::String(text));
            }
            None => errors.push(err(
                format!("{name}.{key}"),
                "must be a string, a number or a list of them",
            )),
        }
    }
    if errors.len() > before {
        return None;
    }
    serde_json::from_value(serde_json::Value::Object(fields)).ok()
}

/// A TOML value as a form field's text.
fn as_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(format!("{f:?}")),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::Array(_) | toml::Value::Table(_) => None,
                v => as_text(v),
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(", ")),
        _ => None,
    }
}

fn admin(table: Option<toml::Table>, errors: &mut Vec<AnswerError>) -> String {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Admin {
        password_hash: String,
    }
    let Some(table) = table else {
        errors.push(err(
            "admin",
            "missing: [admin] password_hash is required (make one with `stackboxd answers hash-password`)",
        ));
        return String::new();
    };
    typed::<Admin>("admin", table, errors)
        .map(|a| a.password_hash)
        .unwrap_or_default()
}

fn cluster(table: toml::Table, errors: &mut Vec<AnswerError>) -> Option<ClusterAnswer> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        create: Option<String>,
        #[serde(default)]
        api_address: String,
        join: Option<String>,
        code: Option<String>,
        fingerprint: Option<String>,
    }
    let raw = typed::<Raw>("cluster", table, errors)?;
    match (raw.create, raw.join) {
        (Some(name), None) => {
            if raw.code.is_some() || raw.fingerprint.is_some() {
                errors.push(err(
                    "cluster",
                    "code and fingerprint belong to join, not create",
                ));
                return None;
            }
            Some(ClusterAnswer::Create {
                name,
                api_address: raw.api_address,
            })
        }
        (None, Some(address)) => {
            let code = raw.code.filter(|c| !c.trim().is_empty());
            let fingerprint = raw.fingerprint.filter(|f| !f.trim().is_empty());
            if code.is_none() {
                errors.push(err(
                    "cluster.code",
                    "missing: a join needs the code from `stackboxd cluster code` on a member",
                ));
            }
            if fingerprint.is_none() {
                errors.push(err(
                    "cluster.fingerprint",
                    "missing: a join needs the member's TLS fingerprint (SHA256:...)",
                ));
            }
            Some(ClusterAnswer::Join {
                address,
                code: code?,
                fingerprint: fingerprint?,
            })
        }
        (Some(_), Some(_)) => {
            errors.push(err("cluster", "either create or join, not both"));
            None
        }
        (None, None) => {
            errors.push(err(
                "cluster",
                "create = \"NAME\" or join = \"ADDRESS\" is required",
            ));
            None
        }
    }
}

fn node_roles(table: toml::Table, errors: &mut Vec<AnswerError>) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Node {
        roles: Vec<String>,
    }
    typed::<Node>("node", table, errors).map(|n| n.roles)
}

/// Checks an admin password hash: an argon2id PHC string at least as strong as the wizard's own.
pub fn check_password_hash(phc: &str) -> Result<(), String> {
    let hash = argon2::password_hash::PasswordHash::new(phc.trim()).map_err(|e| {
        format!("not an argon2 PHC string ({e}); make one with `stackboxd answers hash-password`")
    })?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "{} is not accepted: use argon2id (`stackboxd answers hash-password`)",
            hash.algorithm
        ));
    }
    let params = argon2::Params::try_from(&hash).map_err(|e| format!("its parameters: {e}"))?;
    if params.m_cost() < ARGON2_MIN_M_KIB
        || params.t_cost() < ARGON2_MIN_T
        || hash.salt.is_none()
        || hash.hash.is_none()
    {
        return Err(format!(
            "too weak: argon2id needs m >= {ARGON2_MIN_M_KIB} and t >= 2 with a salt and a hash (this one: m={}, t={})",
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(())
}

/// What the machine offers, for the answers that depend on it.
pub struct Machine<'a> {
    /// Whether it runs live (from the ISO, a USB stick or PXE): only then is `[disk]` used.
    pub live: bool,
    /// Its disks' kernel names (`sda`, `vda`, ...).
    pub disks: &'a [String],
    /// Its NICs' names.
    pub nics: &'a [String],
    /// Judges a choice of roles against its hardware: field errors, or none.
    pub judge_roles: &'a dyn Fn(&[String]) -> Vec<FieldError>,
}

/// Judges every answer with the wizard's own rules; all that is wrong is reported at once.
pub fn validate(answers: &AnswerFile, machine: &Machine<'_>) -> Result<(), Vec<AnswerError>> {
    let mut errors = Vec::new();
    let prefixed = |section: &str, errors: &mut Vec<AnswerError>, list: Vec<FieldError>| {
        errors.extend(
            list.into_iter()
                .map(|e| err(format!("{section}.{}", e.field), e.message)),
        );
    };
    if let Err(message) = check_password_hash(&answers.password_hash) {
        errors.push(err("admin.password_hash", message));
    }
    match (&answers.disk, machine.live) {
        (Some(disk), true) => {
            if let Err(message) = check_disk(&disk.target, machine.disks) {
                errors.push(err("disk.target", message));
            }
        }
        (None, true) => errors.push(err(
            "disk",
            "missing: this system runs live, so [disk] target must name the disk to install to",
        )),
        (_, false) => {}
    }
    let network = match &answers.network {
        Some(form) => match network::validate(form, machine.nics) {
            Ok(settings) => Some(settings),
            Err(list) => {
                prefixed("network", &mut errors, list);
                None
            }
        },
        None => None,
    };
    match &answers.cluster {
        Some(ClusterAnswer::Create { name, api_address }) => {
            if let Err(e) = validate_cluster_name(name) {
                errors.push(err("cluster.create", e.message));
            }
            if let Some(net) = &network
                && let Err(e) = crate::answers::cluster::parse_api_address(api_address, net)
            {
                errors.push(err("cluster.api_address", e.message));
            }
        }
        Some(ClusterAnswer::Join {
            address,
            code,
            fingerprint,
        }) => {
            let address = address.trim();
            if address.parse::<std::net::SocketAddr>().is_err()
                && address.parse::<std::net::IpAddr>().is_err()
            {
                errors.push(err(
                    "cluster.join",
                    "the member's management address, such as 10.20.0.11 (or 10.20.0.11:8443)",
                ));
            }
            if let Err(e) = stackbox_cluster::code::JoinCode::parse(code) {
                errors.push(err("cluster.code", e.to_string()));
            }
            if stackbox_cluster::proof::Fingerprint::parse(fingerprint).is_err() {
                errors.push(err(
                    "cluster.fingerprint",
                    "not a fingerprint: SHA256: and 32 hex pairs separated by colons",
                ));
            }
        }
        None => {}
    }
    if let Some(chosen) = &answers.roles {
        prefixed("node", &mut errors, (machine.judge_roles)(chosen));
    }
    if let Some(form) = &answers.settings
        && let Err(list) = roles::validate_settings(form)
    {
        prefixed("settings", &mut errors, list);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A disk target must be a device path naming one of the machine's disks (symlinks such as
/// `/dev/disk/by-id/...` are followed when they exist).
fn check_disk(target: &str, disks: &[String]) -> Result<(), String> {
    let Some(rest) = target.strip_prefix("/dev/") else {
        return Err(format!("`{target}` is not a device path such as /dev/sda"));
    };
    let name = std::fs::canonicalize(target)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| rest.to_owned());
    if disks.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "there is no disk {target} on this machine; its disks are {}",
            if disks.is_empty() {
                "none".to_owned()
            } else {
                disks.join(", ")
            }
        ))
    }
}

/// The wizard's answers as an answer file, for the next machines: the admin password's hash is left out
/// (a placeholder says how to make one), and so is a join code.
pub fn export(
    network: Option<&NetworkForm>,
    cluster_name: Option<&str>,
    roles: Option<&[String]>,
    settings: Option<&SettingsForm>,
) -> String {
    let mut out = String::from(
        "# stackbox answer file, exported by the setup wizard. Secrets are left out: set admin.password_hash\n\
         # (`stackboxd answers hash-password`) and disk.target (such as /dev/sda) before using it.\n\n\
         [disk]\ntarget = \"\"\nreboot = true\n\n\
         [admin]\npassword_hash = \"\"\n",
    );
    let section = |out: &mut String, name: &str, fields: BTreeMap<String, serde_json::Value>| {
        out.push_str(&format!("\n[{name}]\n"));
        for (k, v) in fields {
            if let serde_json::Value::String(s) = v
                && !s.is_empty()
            {
                out.push_str(&format!("{k} = {}\n", toml::Value::String(s)));
            }
        }
    };
    if let Some(Ok(serde_json::Value::Object(f))) = network.map(serde_json::to_value) {
        section(&mut out, "network", f.into_iter().collect());
    }
    if let Some(name) = cluster_name {
        out.push_str(&format!(
            "\n[cluster]\ncreate = {}\n",
            toml::Value::String(name.to_owned())
        ));
    }
    if let Some(roles) = roles {
        let list: Vec<toml::Value> = roles.iter().cloned().map(toml::Value::String).collect();
        out.push_str(&format!("\n[node]\nroles = {}\n", toml::Value::Array(list)));
    }
    if let Some(Ok(serde_json::Value::Object(f))) = settings.map(serde_json::to_value) {
        section(&mut out, "settings", f.into_iter().collect());
    }
    out
}
