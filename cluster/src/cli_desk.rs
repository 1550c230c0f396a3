//! `stackboxd cluster port PORT` and `stackboxd cluster restart SERVICE`: the admin desk from the
//! command line, through every member's agent (mutual TLS with this node's cluster certificate), or one
//! node's with `--node`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use stackbox_common::error::chain;
use stackbox_installer::ClusterConfig;

use crate::agent_client::{AgentLink, LinkError};
use crate::desk::{self, Holder, Restarted};

/// The options every desk command shares.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Only this node (its name in the configuration); all of them when left out.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The cluster configuration (the one the last install assigned).
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::runner::CONFIG_PATH)]
    pub config: PathBuf,
    /// The wizard's state directory (this node's agent credentials are in `cluster/node/`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// The agents' port.
    #[arg(long, value_name = "PORT", default_value_t = crate::agent::AGENT_PORT)]
    pub agent_port: u16,
}

/// `stackboxd cluster port`'s arguments.
#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// The TCP or UDP port.
    pub port: u16,
    #[command(flatten)]
    target: Target,
}

/// `stackboxd cluster restart`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// The service (one of the cloud's: mariadb, rabbitmq-server, haproxy, nova-compute, ...).
    pub service: String,
    #[command(flatten)]
    target: Target,
}

/// Why the nodes could not be asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    #[error("reading the cluster configuration")]
    Config(#[source] stackbox_installer::LoadError),
    #[error("this node has no cluster credentials ({0})")]
    Credentials(String, #[source] LinkError),
    #[error("no node is called {0} in the configuration")]
    NoSuchNode(String),
}

/// The (name, agent) of every node `target` names.
pub(crate) fn links(target: &Target) -> Result<Vec<(String, AgentLink)>, TargetError> {
    let config: ClusterConfig =
        stackbox_installer::load_config(&target.config).map_err(TargetError::Config)?;
    let tls = crate::agent_client::node_tls(&target.state).map_err(|e| {
        let dir = target.state.join(crate::node::NODE_DIR);
        TargetError::Credentials(dir.display().to_string(), e)
    })?;
    let nodes: Vec<_> = config
        .nodes
        .iter()
        .filter(|n| target.node.as_ref().is_none_or(|want| *want == n.name))
        .map(|n| {
            let link = AgentLink {
                addr: SocketAddr::new(n.address, target.agent_port),
                tls: tls.clone(),
            };
            (n.name.clone(), link)
        })
        .collect();
    match (&target.node, nodes.is_empty()) {
        (Some(name), true) => Err(TargetError::NoSuchNode(name.clone())),
        _ => Ok(nodes),
    }
}

/// One node's answer as lines.
pub fn render_holders(node: &str, port: u16, holders: &Result<Vec<Holder>, String>) -> String {
    match holders {
        Err(why) => format!("{node}: not asked: {why}\n"),
        Ok(h) if h.is_empty() => format!("{node}: nothing listens on {port}\n"),
        Ok(h) => h
            .iter()
            .map(|h| {
                let who = match (h.process.as_str(), h.pid) {
                    ("", _) => "a process ss could not name".to_owned(),
                    (p, Some(pid)) => format!("{p} (pid {pid})"),
                    (p, None) => p.to_owned(),
                };
                format!("{node}: {} {} held by {who}\n", h.protocol, h.local)
            })
            .collect(),
    }
}

/// Each node's answer to who holds `port`, all asked at once.
pub type PortAnswers = Vec<(String, Result<Vec<Holder>, String>)>;

/// Asks every (name, agent) at once which process holds `port`.
pub fn ask_port(nodes: &[(String, AgentLink)], port: u16) -> PortAnswers {
    std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|(name, link)| {
                scope.spawn(move || {
                    let asked = link.port_holders(port).map_err(|e| chain(&e));
                    (name.clone(), asked)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// `stackboxd cluster port PORT`: which process holds the port on each node. Exit 0 when every node
/// answered, 1 otherwise, 2 for bad arguments.
pub fn port(args: &PortArgs) -> ExitCode {
    let nodes = match links(&args.target) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("stackboxd cluster port: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let mut ok = true;
    for (node, holders) in &ask_port(&nodes, args.port) {
        print!("{}", render_holders(node, args.port, holders));
        ok &= holders.is_ok();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Restarts `service` (checked by the caller) on each node in turn, waiting until it is active again
/// before the next; stops at the first node where it is not. Each node's line goes to `say` as it
/// happens. Whether every restart came back.
pub fn restart_in_turn(
    nodes: &[(String, AgentLink)],
    service: &str,
    say: &mut dyn FnMut(String),
) -> bool {
    for (node, link) in nodes {
        match link.restart(service) {
            Ok(Restarted {
                active: true,
                took_ms,
                ..
            }) => say(format!(
                "{node}: {service} restarted, active again after {:.1} s",
                took_ms as f64 / 1000.0
            )),
            Ok(r) => {
                say(format!(
                    "{node}: {service} is NOT active {} s after its restart; the other nodes were left alone. Its journal:\n{}",
                    desk::RESTART_WAIT.as_secs(),
                    r.journal
                ));
                return false;
            }
            Err(LinkError::Refused { status: 404, .. }) => {
                say(format!("{node}: {service} is not installed there: skipped"));
            }
            Err(e) => {
                say(format!(
                    "{node}: the restart could not be asked: {}; the other nodes were left alone",
                    chain(&e)
                ));
                return false;
            }
        }
    }
    true
}

/// `stackboxd cluster restart SERVICE`: restarts it on each node in turn, waiting until it is active
/// again before the next node; stops at the first node where it is not (the others keep it running).
/// A node without the service is skipped. Exit 0 when every restart came back, 1 otherwise.
pub fn restart(args: &RestartArgs) -> ExitCode {
    if let Err(e) = desk::check_service(&args.service) {
        eprintln!("stackboxd cluster restart: {e}");
        return stackbox_common::cli::usage();
    }
    let nodes = match links(&args.target) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("stackboxd cluster restart: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    if restart_in_turn(&nodes, &args.service, &mut |line| println!("{line}")) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_nodes_holders_are_one_line_each_and_a_silent_node_says_why() {
        let h = vec![
            Holder {
                protocol: "tcp".into(),
                local: "0.0.0.0:5000".into(),
                process: "haproxy".into(),
                pid: Some(812),
            },
            Holder {
                protocol: "tcp".into(),
                local: "[::]:5000".into(),
                process: String::new(),
                pid: None,
            },
        ];
        assert_eq!(
            render_holders("node1", 5000, &Ok(h)),
            "node1: tcp 0.0.0.0:5000 held by haproxy (pid 812)\nnode1: tcp [::]:5000 held by a process ss could not name\n"
        );
        assert_eq!(
            render_holders("node2", 5000, &Ok(Vec::new())),
            "node2: nothing listens on 5000\n"
        );
        assert_eq!(
            render_holders("node3", 5000, &Err("connecting: refused".into())),
            "node3: not asked: connecting: refused\n"
        );
    }
}
