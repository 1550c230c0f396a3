//! The cluster's health: each node's agent reports what it sees of itself ([`local`]: Galera, RabbitMQ,
//! whether it holds the API address, the step it runs), and `stackboxd cluster status` asks every agent
//! ([`gather`]) and renders one table ([`render_text`]) or JSON. Reading the services is a thin shell
//! over `mysql` and `rabbitmqctl` through the one command runner; their output is parsed by pure
//! functions with captured samples.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::Command;
use stackbox_installer::ClusterConfig;
use stackbox_machine::system::Root;

/// Galera as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Galera {
    /// `wsrep_cluster_size`.
    pub size: u32,
    /// `wsrep_local_state_comment` (`Synced`, `Donor/Desynced`, `Joining`, ...).
    pub state: String,
    /// `wsrep_cluster_status` (`Primary`, `non-Primary`).
    pub status: String,
}

/// RabbitMQ as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rabbit {
    /// The running nodes of its cluster.
    pub running: Vec<String>,
    /// How many quorum queues this node leads.
    pub quorum_queues: usize,
    /// The fewest members any of them has (0 without quorum queues).
    pub min_replicas: usize,
}

/// What one node's agent reports of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeStatus {
    /// The node this machine is in its configuration.
    pub node: Option<String>,
    /// Galera, when MariaDB answers.
    pub galera: Option<Galera>,
    /// Why Galera could not be read (not installed, not running).
    pub galera_error: Option<String>,
    /// RabbitMQ, when it answers.
    pub rabbitmq: Option<Rabbit>,
    /// Why RabbitMQ could not be read.
    pub rabbitmq_error: Option<String>,
    /// Whether this machine holds the cluster's API address now.
    pub holds_api_address: bool,
    /// The step the agent runs now.
    pub running: Option<String>,
    /// What MariaDB's last start decided (joined, restored, bootstrapped, or waits, and why).
    #[serde(default)]
    pub galera_start: Option<crate::galera_start::StartRecord>,
}

impl NodeStatus {
    /// The agent in words: `ok`, or `ok, running STEP`.
    pub fn agent_line(&self) -> String {
        match &self.running {
            Some(step) => format!("ok, running {step}"),
            None => "ok".to_owned(),
        }
    }

    /// Galera in words (`Synced of 3, Primary`), or why it could not be read; `None` when nothing is
    /// known.
    pub fn galera_line(&self) -> Option<String> {
        match (&self.galera, &self.galera_error) {
            (Some(g), _) => Some(format!("{} of {}, {}", g.state, g.size, g.status)),
            (None, e) => e.clone(),
        }
    }

    /// RabbitMQ in words: why the queues could not be listed (when membership was read but the
    /// listing failed), then its members and quorum queues, or why it could not be read.
    pub fn rabbitmq_lines(&self) -> Vec<String> {
        match (&self.rabbitmq, &self.rabbitmq_error) {
            (Some(r), error) => error
                .iter()
                .cloned()
                .chain(std::iter::once(format!(
                    "{} running ({}); {} quorum queues led here, each with at least {} replicas",
                    r.running.len(),
                    r.running.join(", "),
                    r.quorum_queues,
                    r.min_replicas
                )))
                .collect(),
            (None, error) => error.iter().cloned().collect(),
        }
    }
}

/// Parses `mysql -N -B` output of `SHOW GLOBAL STATUS LIKE 'wsrep_%'` (name, tab, value per line).
pub fn parse_wsrep(text: &str) -> Option<Galera> {
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    Some(Galera {
        size: value("wsrep_cluster_size")?.parse().ok()?,
        state: value("wsrep_local_state_comment")?,
        status: value("wsrep_cluster_status")?,
    })
}

/// Parses `rabbitmqctl --formatter json cluster_status` (its `running_nodes`) and `list_queues name
/// type members` in JSON.
pub fn parse_rabbit(cluster_status: &str, queues: &str) -> Option<Rabbit> {
    let status: serde_json::Value = serde_json::from_str(cluster_status).ok()?;
    let mut running: Vec<String> = status
        .get("running_nodes")?
        .as_array()?
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    running.sort();
    let queues: Vec<serde_json::Value> = serde_json::from_str(queues).ok()?;
    let members: Vec<usize> = queues
        .iter()
        .filter(|q| q.get("type").and_then(|t| t.as_str()) == Some("quorum"))
        .map(|q| {
            q.get("members")
                .and_then(|m| m.as_array())
                .map_or(0, Vec::len)
        })
        .collect();
    Some(Rabbit {
        running,
        quorum_queues: members.len(),
        min_replicas: members.iter().copied().min().unwrap_or(0),
    })
}

fn run(argv: &[&str]) -> Result<String, String> {
    Command::new(argv[0])
        .args(&argv[1..])
        .run()
        .map(|o| o.stdout)
        .map_err(|e| {
            stackbox_common::error::chain(&e)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
}

/// This node's Galera, asked of its MariaDB over the socket (connecting within 5 s).
pub fn local_galera() -> Result<Galera, String> {
    let out = run(&[
        "mysql",
        "--protocol=socket",
        "--connect-timeout=5",
        "-N",
        "-B",
        "-e",
        "SHOW GLOBAL STATUS LIKE 'wsrep_%'",
    ])?;
    parse_wsrep(&out).ok_or_else(|| "MariaDB answers without Galera".to_owned())
}

/// This node's status, read from its services and the wizard's state directory `state` (the agent's
/// `GET /agent/v1/status`).
pub fn local(config_path: &Path, root: &Root, state: &Path, running: Option<String>) -> NodeStatus {
    let config = stackbox_installer::load_config(config_path).ok();
    let node = config.as_ref().and_then(|c| {
        let local = stackbox_installer::local_nodes(c, root);
        (local.len() == 1).then(|| local[0].name.clone())
    });
    let (galera, galera_error) = match local_galera() {
        Ok(g) => (Some(g), None),
        Err(e) => (None, Some(e)),
    };
    // Membership (cluster_status) is the health; the quorum replicas are shown when list_queues
    // answers, and its failure (an unresponsive queue) is said beside them. Both are bounded, so the
    // agent answers within its caller's time. Each node lists only the queues it leads (`--local`):
    // every agent listing every queue of the cluster at once took over 10 s on busy small nodes.
    let mut queue_error = None;
    let rabbit = run(&[
        "rabbitmqctl",
        "--quiet",
        "--formatter",
        "json",
        "cluster_status",
        "--timeout",
        "10",
    ])
    .and_then(|status| {
        let queues = run(&[
            "rabbitmqctl",
            "--quiet",
            "--formatter",
            "json",
            "list_queues",
            "--local",
            "--timeout",
            "30",
            "name",
            "type",
            "members",
        ])
        .unwrap_or_else(|e| {
            queue_error = Some(format!("listing the queues: {e}"));
            "[]".to_owned()
        });
        parse_rabbit(&status, &queues).ok_or_else(|| "unreadable rabbitmqctl output".to_owned())
    });
    let api = config.as_ref().and_then(|c| c.networks.api_address);
    let holds_api_address = api.is_some_and(|a| {
        stackbox_machine::probe::net::addresses()
            .unwrap_or_default()
            .iter()
            .any(|(_, ip)| *ip == a)
    });
    NodeStatus {
        node,
        galera,
        galera_error,
        rabbitmq: rabbit.as_ref().ok().cloned(),
        rabbitmq_error: rabbit.err().or(queue_error),
        holds_api_address,
        running,
        galera_start: crate::galera_start::last(state),
    }
}

/// One member of the cluster as `stackboxd cluster status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Its management address.
    pub address: IpAddr,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its agent's report, or why there is none.
    #[serde(flatten)]
    pub agent: AgentAnswer,
}

/// An agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "agent")]
pub enum AgentAnswer {
    /// It answered.
    Healthy {
        /// What it reported.
        status: Box<NodeStatus>,
    },
    /// It could not be reached or refused.
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// The cluster as every agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// The cluster's name.
    pub cluster: String,
    /// The API address.
    pub api_address: Option<IpAddr>,
    /// Every node of the configuration.
    pub members: Vec<Member>,
}

impl ClusterStatus {
    /// The member that holds the API address now, among those that answered.
    pub fn api_holder(&self) -> Option<&Member> {
        self.members.iter().find(
            |m| matches!(&m.agent, AgentAnswer::Healthy { status } if status.holds_api_address),
        )
    }

    /// Whether every agent answered, every storage member is a synced Galera member of the whole
    /// storage set, and every bus member runs with all the others.
    pub fn healthy(&self) -> bool {
        let storage = self
            .members
            .iter()
            .filter(|m| m.roles.iter().any(|r| r == "storage-metadata"))
            .count();
        let bus = self
            .members
            .iter()
            .filter(|m| m.roles.iter().any(|r| r == "message-bus"))
            .count();
        self.members.iter().all(|m| match &m.agent {
            AgentAnswer::Unreachable { .. } => false,
            AgentAnswer::Healthy { status } => {
                let role = |r: &str| m.roles.iter().any(|x| x == r);
                let galera_ok = !role("storage-metadata")
                    || status.galera.as_ref().is_some_and(|g| {
                        usize::try_from(g.size).ok() == Some(storage)
                            && g.state == "Synced"
                            && g.status == "Primary"
                    });
                let rabbit_ok = !role("message-bus")
                    || status
                        .rabbitmq
                        .as_ref()
                        .is_some_and(|r| r.running.len() == bus);
                galera_ok && rabbit_ok
            }
        })
    }
}

/// Asks every node's agent of `config` for its status with `ask` (the agent's address: its status, or
/// why there is none), all at once.
pub fn gather(
    config: &ClusterConfig,
    ask: &(dyn Fn(SocketAddr) -> Result<NodeStatus, String> + Sync),
    port: u16,
) -> ClusterStatus {
    let members = std::thread::scope(|scope| {
        let handles: Vec<_> = config
            .nodes
            .iter()
            .map(|n| {
                let addr = SocketAddr::new(n.address, port);
                scope.spawn(move || {
                    let agent = match ask(addr) {
                        Ok(status) => AgentAnswer::Healthy {
                            status: Box::new(status),
                        },
                        Err(reason) => AgentAnswer::Unreachable { reason },
                    };
                    Member {
                        name: n.name.clone(),
                        address: n.address,
                        roles: n.roles.clone(),
                        agent,
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    ClusterStatus {
        cluster: config.name.clone(),
        api_address: config.networks.api_address,
        members,
    }
}

/// The status as a table for people.
pub fn render_text(s: &ClusterStatus) -> String {
    let mut out = format!(
        "cluster {}: {} node(s), API address {} held by {}\n",
        s.cluster,
        s.members.len(),
        s.api_address
            .map_or_else(|| "(none)".to_owned(), |a| a.to_string()),
        s.api_holder()
            .map_or("no node that answered", |m| m.name.as_str())
    );
    for m in &s.members {
        out.push_str(&format!(
            "\n{} ({}): {}\n",
            m.name,
            m.address,
            m.roles.join(", ")
        ));
        match &m.agent {
            AgentAnswer::Unreachable { reason } => {
                out.push_str(&format!("  agent: UNREACHABLE: {reason}\n"));
            }
            AgentAnswer::Healthy { status } => {
                out.push_str(&format!("  agent: {}\n", status.agent_line()));
                if let Some(g) = status.galera_line() {
                    out.push_str(&format!("  galera: {g}\n"));
                }
                if let Some(r) = &status.galera_start {
                    out.push_str(&format!(
                        "  galera start: {}\n",
                        r.describe(std::time::SystemTime::now())
                    ));
                }
                for r in status.rabbitmq_lines() {
                    out.push_str(&format!("  rabbitmq: {r}\n"));
                }
            }
        }
    }
    out.push_str(if s.healthy() {
        "\nhealthy\n"
    } else {
        "\nNOT HEALTHY: see above\n"
    });
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    #[test]
    fn galera_is_read_from_mysql_batch_output() {
        let text = "wsrep_local_state_comment\tSynced\nwsrep_cluster_size\t3\nwsrep_cluster_status\tPrimary\nwsrep_ready\tON\n";
        assert_eq!(
            parse_wsrep(text),
            Some(Galera {
                size: 3,
                state: "Synced".into(),
                status: "Primary".into()
            })
        );
        // Must fail: no Galera variables (MariaDB without wsrep), a size that is not a number.
        assert_eq!(parse_wsrep("Uptime\t5\n"), None);
        assert_eq!(
            parse_wsrep(
                "wsrep_cluster_size\tthree\nwsrep_local_state_comment\tSynced\nwsrep_cluster_status\tPrimary\n"
            ),
            None
        );
    }

    #[test]
    fn rabbitmq_is_read_from_its_json() {
        let status = r#"{"running_nodes": ["rabbit@node2", "rabbit@stackbox", "rabbit@node3"], "disk_nodes": []}"#;
        let queues = r#"[{"name": "conductor", "type": "quorum", "members": ["rabbit@stackbox", "rabbit@node2", "rabbit@node3"]},
            {"name": "q-plugin", "type": "quorum", "members": ["rabbit@stackbox", "rabbit@node2"]},
            {"name": "reply_1", "type": "classic", "members": []}]"#;
        let r = parse_rabbit(status, queues).unwrap();
        assert_eq!(
            r.running,
            ["rabbit@node2", "rabbit@node3", "rabbit@stackbox"]
        );
        assert_eq!((r.quorum_queues, r.min_replicas), (2, 2));
        // Must fail: not JSON, no running_nodes.
        assert_eq!(parse_rabbit("Cluster status of node", queues), None);
        assert_eq!(parse_rabbit("{}", queues), None);
    }

    fn member(name: &str, roles: &[&str], status: Option<NodeStatus>) -> Member {
        Member {
            name: name.into(),
            address: "10.20.0.11".parse().unwrap(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            agent: match status {
                Some(status) => AgentAnswer::Healthy {
                    status: Box::new(status),
                },
                None => AgentAnswer::Unreachable {
                    reason: "connecting: refused".into(),
                },
            },
        }
    }

    fn synced(size: u32, running: usize) -> NodeStatus {
        NodeStatus {
            galera: Some(Galera {
                size,
                state: "Synced".into(),
                status: "Primary".into(),
            }),
            rabbitmq: Some(Rabbit {
                running: (0..running).map(|i| format!("rabbit@n{i}")).collect(),
                quorum_queues: 4,
                min_replicas: 3,
            }),
            ..NodeStatus::default()
        }
    }

    #[test]
    fn a_nodes_status_in_words_keeps_every_error_beside_what_was_read() {
        let mut n = synced(3, 2);
        n.running = Some("node2/nova.start".into());
        assert_eq!(n.agent_line(), "ok, running node2/nova.start");
        assert_eq!(n.galera_line().as_deref(), Some("Synced of 3, Primary"));
        n.rabbitmq_error = Some("listing the queues: timed out".into());
        assert_eq!(
            n.rabbitmq_lines(),
            [
                "listing the queues: timed out",
                "2 running (rabbit@n0, rabbit@n1); 4 quorum queues led here, each with at least 3 replicas"
            ]
        );
        let down = NodeStatus {
            galera_error: Some("MariaDB does not run".into()),
            rabbitmq_error: Some("rabbitmqctl: not running".into()),
            ..NodeStatus::default()
        };
        assert_eq!(down.agent_line(), "ok");
        assert_eq!(down.galera_line().as_deref(), Some("MariaDB does not run"));
        assert_eq!(down.rabbitmq_lines(), ["rabbitmqctl: not running"]);
        assert_eq!(NodeStatus::default().galera_line(), None);
        assert!(NodeStatus::default().rabbitmq_lines().is_empty());
    }

    #[test]
    fn health_needs_every_agent_and_every_member_in_one_cluster() {
        let roles = ["storage-metadata", "message-bus"];
        let mut s = ClusterStatus {
            cluster: "lab".into(),
            api_address: Some("10.20.0.10".parse().unwrap()),
            members: vec![
                member("a", &roles, Some(synced(3, 3))),
                member("b", &roles, Some(synced(3, 3))),
                member("c", &["compute"], Some(NodeStatus::default())),
                member("d", &roles, Some(synced(3, 3))),
            ],
        };
        assert!(s.healthy());
        s.members[0].agent = AgentAnswer::Healthy {
            status: Box::new(synced(2, 3)),
        };
        assert!(!s.healthy(), "a Galera of two when three store metadata");
        s.members[0].agent = AgentAnswer::Healthy {
            status: Box::new(synced(3, 2)),
        };
        assert!(
            !s.healthy(),
            "a RabbitMQ member that does not see all three"
        );
        s.members[0] = member("a", &roles, None);
        assert!(!s.healthy(), "an unreachable agent");
        let text = render_text(&s);
        assert!(
            text.contains("agent: UNREACHABLE: connecting: refused"),
            "{text}"
        );
        assert!(text.contains("NOT HEALTHY"), "{text}");
        assert!(text.contains("held by no node that answered"), "{text}");
    }
}
