//! The plan: a graph of idempotent steps per node, in a stable order, built as a pure function of the
//! cluster configuration and each node's hardware facts.

mod openstack;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::ClusterConfig;

/// What the plan needs to know of a node's hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct NodeFacts {
    /// /dev/kvm is usable: nova-compute runs `virt_type = kvm`, else `qemu` (emulation).
    pub kvm: bool,
    /// The node is a system container (libvirt cannot manage cgroup controllers there).
    pub in_container: bool,
}

/// A file a step writes; `content` may hold `@@secret:NAME@@` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSpec {
    /// Absolute path.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group (`user:group`) when not root.
    pub owner: Option<String>,
    /// The contents.
    pub content: String,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Installs packages from the offline pool with apt, non-interactively (debconf preseeded).
    Packages {
        /// Package names.
        packages: Vec<String>,
    },
    /// Writes files (atomically, with their modes).
    Files {
        /// The files.
        files: Vec<FileSpec>,
    },
    /// Enables and starts systemd units, and restarts them when a watched step changed.
    Units {
        /// Unit names.
        units: Vec<String>,
    },
    /// Runs SQL statements on the storage-metadata leader.
    Sql {
        /// Statements; may hold secret placeholders.
        statements: Vec<String>,
        /// Connect as root over the local socket (on the database node itself) instead of the
        /// `stackbox` administrative user over TCP.
        local_root: bool,
    },
    /// Runs commands, in order, through the command runner.
    Commands {
        /// Each command's argv; may hold secret placeholders.
        commands: Vec<Vec<String>>,
        /// Extra environment (for the `openstack` client's credentials).
        env: Vec<(String, String)>,
    },
    /// Makes the cluster's CA and the endpoint certificate (haproxy's PEM) unless given.
    Certificate {
        /// Names and addresses the certificate is valid for.
        names: Vec<String>,
    },
    /// Waits until a command succeeds (a service answering through its endpoint), polling once a
    /// second up to a deadline.
    Wait {
        /// The command that succeeds once the service is ready.
        argv: Vec<String>,
        /// How long to wait.
        timeout_secs: u64,
    },
    /// Boots a test VM and checks its console (the smoke test).
    Smoke {
        /// The admin credentials for the `openstack` client.
        env: Vec<(String, String)>,
    },
}

/// How a step tells that it is already done, before it acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DoneCheck {
    /// Every package is installed (dpkg status).
    PackagesInstalled,
    /// Every file exists with exactly the content (secrets filled in) and mode.
    FilesMatch,
    /// Every unit of the step's `Units` action is active.
    UnitsActive,
    /// One unit is active (for a step that starts it by other means, such as `galera_new_cluster`).
    UnitActive {
        /// The unit.
        unit: String,
    },
    /// The query returns at least one row.
    SqlRows {
        /// The query.
        query: String,
    },
    /// The command succeeds and, when given, its output contains the text.
    Command {
        /// argv.
        argv: Vec<String>,
        /// Text the output must contain.
        contains: Option<String>,
    },
    /// The path exists (a file the action produces, or the step's marker under
    /// /var/lib/stackbox/markers, written when the action succeeded).
    Path {
        /// The path.
        path: String,
    },
    /// Never done before it runs (the smoke test runs every time it is reached).
    Never,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `node/name`: unique in the plan.
    pub id: String,
    /// The node that executes it.
    pub node: String,
    /// Short name (`keystone.db-sync`).
    pub name: String,
    /// What it does, for people.
    pub title: String,
    /// Steps that must be done first (ids).
    pub after: Vec<String>,
    /// Steps whose changes this step must react to (a unit restarts when its configuration changed).
    pub watch: Vec<String>,
    /// What it does.
    pub action: Action,
    /// How it knows it is done.
    pub done: DoneCheck,
    /// The log to read when it fails.
    pub log: Option<String>,
    /// What to try when it fails.
    pub remedy: Option<String>,
}

/// The whole plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The cluster.
    pub cluster: String,
    /// Steps, ordered so that every step comes after its dependencies; ties keep the builder's order.
    pub steps: Vec<Step>,
}

/// A plan that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The configuration did not validate.
    #[error("the configuration is invalid:\n{0}")]
    Invalid(String),
    /// A dependency names no step, or the steps depend on each other in a circle: a bug in the builder.
    #[error("plan graph: {0}")]
    Graph(String),
}

impl Plan {
    /// Builds the plan for a valid configuration; `facts` per node name (missing nodes: no KVM, not a
    /// container).
    pub fn build(
        config: &ClusterConfig,
        catalog: &stackbox_hardware_profiles::Catalog,
        facts: &BTreeMap<String, NodeFacts>,
    ) -> Result<Plan, PlanError> {
        let v = config.validate(catalog);
        if !v.is_ok() {
            return Err(PlanError::Invalid(
                v.errors
                    .iter()
                    .map(|e| format!("  {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
        let steps = openstack::steps(config, facts);
        Ok(Plan {
            cluster: config.name.clone(),
            steps: order(steps)?,
        })
    }

    /// The steps of one node, in order.
    pub fn for_node<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        self.steps.iter().filter(move |s| s.node == node)
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Text for people: per node, each step with its dependencies and the files it writes.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let nodes: Vec<&str> = {
            let mut seen = Vec::new();
            for s in &self.steps {
                if !seen.contains(&s.node.as_str()) {
                    seen.push(s.node.as_str());
                }
            }
            seen
        };
        let _ = writeln!(
            out,
            "plan for cluster {}: {} steps on {} node(s)",
            self.cluster,
            self.steps.len(),
            nodes.len()
        );
        let index: BTreeMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i + 1))
            .collect();
        for node in nodes {
            let _ = writeln!(out, "\nnode {node}");
            for s in self.for_node(node) {
                let _ = writeln!(
                    out,
                    "  {:>3}. {:<28} {}",
                    index[s.id.as_str()],
                    s.name,
                    s.title
                );
                if !s.after.is_empty() {
                    let deps: Vec<String> = s
                        .after
                        .iter()
                        .map(|d| format!("{}", index[d.as_str()]))
                        .collect();
                    let _ = writeln!(out, "       after {}", deps.join(", "));
                }
                if let Action::Files { files } = &s.action {
                    for f in files {
                        let _ = writeln!(out, "       writes {} ({:o})", f.path, f.mode);
                    }
                }
            }
        }
        out
    }
}

/// A public API endpoint of the cloud (through haproxy, TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The OpenStack service (`keystone`, `nova`, ...).
    pub service: &'static str,
    /// What it is for.
    pub kind: &'static str,
    /// Its public URL.
    pub url: String,
}

/// The host name or address clients reach the public endpoints on: the configured public name, else the
/// first management node's address.
pub fn api_host(config: &ClusterConfig) -> String {
    config.tls.public_name.clone().unwrap_or_else(|| {
        config
            .nodes
            .iter()
            .find(|n| n.has("management"))
            .map(|n| n.address.to_string())
            .unwrap_or_default()
    })
}

/// The cloud's public endpoints, as the catalog registers them.
pub fn public_endpoints(config: &ClusterConfig) -> Vec<Endpoint> {
    use crate::render::ports;
    let host = api_host(config);
    let url = |port: u16, path: &str| {
        if port == 443 {
            format!("https://{host}{path}")
        } else {
            format!("https://{host}:{port}{path}")
        }
    };
    vec![
        Endpoint {
            service: "keystone",
            kind: "identity",
            url: url(ports::KEYSTONE.0, "/v3"),
        },
        Endpoint {
            service: "glance",
            kind: "image",
            url: url(ports::GLANCE.0, ""),
        },
        Endpoint {
            service: "placement",
            kind: "placement",
            url: url(ports::PLACEMENT.0, ""),
        },
        Endpoint {
            service: "nova",
            kind: "compute",
            url: url(ports::NOVA.0, "/v2.1"),
        },
        Endpoint {
            service: "neutron",
            kind: "network",
            url: url(ports::NEUTRON.0, ""),
        },
        Endpoint {
            service: "novnc",
            kind: "VM consoles",
            url: url(ports::NOVNC.0, "/vnc_auto.html"),
        },
    ]
}

/// The admin's credentials as an openrc file for the `openstack` client. `ca_file` is where the
/// cluster's CA certificate will be on the machine that sources the file; it is double-quoted, so
/// `$HOME` in it expands there.
pub fn admin_openrc(config: &ClusterConfig, admin_password: &str, ca_file: &str) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
    let keystone = public_endpoints(config)
        .into_iter()
        .next()
        .map(|e| e.url)
        .unwrap_or_default();
    format!(
        "# Admin credentials of the stackbox cloud {cluster}. Keep this file private (chmod 600):\n\
         # it holds the admin password. Use it with: . ./admin-openrc.sh && openstack server list\n\
         # The endpoints' CA certificate is /etc/stackbox/ca.pem on the appliance; copy it to {ca}.\n\
         export OS_AUTH_URL={auth}\n\
         export OS_IDENTITY_API_VERSION=3\n\
         export OS_USERNAME=admin\n\
         export OS_PASSWORD={password}\n\
         export OS_PROJECT_NAME=admin\n\
         export OS_USER_DOMAIN_NAME=Default\n\
         export OS_PROJECT_DOMAIN_NAME=Default\n\
         export OS_REGION_NAME={region}\n\
         export OS_CACERT=\"{ca_file}\"\n",
        cluster = config.name,
        ca = ca_file,
        auth = quote(&keystone),
        password = quote(admin_password),
        region = quote(&config.region),
    )
}

/// Orders steps so each follows its dependencies, keeping the builder's order among ready steps (Kahn's
/// algorithm, taking the earliest ready step each time): the same config always gives the same order.
fn order(steps: Vec<Step>) -> Result<Vec<Step>, PlanError> {
    let ids: BTreeSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    if ids.len() != steps.len() {
        return Err(PlanError::Graph("two steps share an id".into()));
    }
    for s in &steps {
        for d in s.after.iter().chain(&s.watch) {
            if !ids.contains(d.as_str()) {
                return Err(PlanError::Graph(format!(
                    "{} depends on unknown step {d}",
                    s.id
                )));
            }
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut left: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(left.len());
    while ordered.len() < left.len() {
        let next = left.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.after.iter().all(|d| done.contains(d)))
        });
        let Some(i) = next else {
            let stuck: Vec<&str> = left.iter().flatten().map(|s| s.id.as_str()).collect();
            return Err(PlanError::Graph(format!(
                "circular dependencies among {}",
                stuck.join(", ")
            )));
        };
        let step = left[i]
            .take()
            .ok_or_else(|| PlanError::Graph("step taken twice".into()))?;
        done.insert(step.id.clone());
        ordered.push(step);
    }
    Ok(ordered)
}
