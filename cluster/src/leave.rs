//! A node leaving its cluster, on the leaving node (its agent carries it out when `stackboxd cluster
//! remove NODE` asks): every unit its plan started is stopped and disabled, last started first, so the
//! API address and the balancer go before the services behind them and MariaDB goes last; RabbitMQ
//! hands its quorum-queue replicas back (`rabbitmq-queues shrink`) and leaves its cluster
//! (`rabbitmqctl stop_app` and `reset`) before it stops; MariaDB's stop is a clean
//! Galera leave, which shrinks the others' cluster. Then the node's cluster credentials are deleted: it
//! can no longer reach any agent, and its own agent does not start again.
//!
//! Every command is safe to run twice, so a leave that failed half-way is asked again and goes on.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::node::{CLUSTER_CA, NODE_CERT, NODE_KEY};

/// The agent's route for leaving.
pub const LEAVE_PATH: &str = "/agent/v1/leave";

/// A request to leave: names the node the coordinator means, which the agent must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaveRequest {
    /// The leaving node.
    pub node: String,
}

/// What leaving did: each command and its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveOutcome {
    /// The node that left.
    pub node: String,
    /// `$ command` lines, each followed by its output.
    pub output: Vec<String>,
}

/// RabbitMQ's leave (`$1` its node name): quorum replicas handed back, then the cluster left.
const RABBIT_LEAVE: &str = "systemctl is-active --quiet rabbitmq-server.service || exit 0
set -e
rabbitmqctl start_app
rabbitmq-queues shrink \"$1\"
rabbitmqctl stop_app
rabbitmqctl reset";

/// Units a leaving node keeps running: its clock is its own, not the cluster's.
const KEPT: [&str; 1] = ["chrony.service"];

/// The commands that stop and disable node `node`'s `units` (last started first, as
/// `Plan::units_to_stop` gives them); RabbitMQ (its node `rabbit@NODE`) gives up its quorum-queue
/// replicas and leaves its cluster before its unit stops.
pub fn commands(node: &str, units: &[String]) -> Vec<Vec<String>> {
    let argv = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let mut out = Vec::new();
    for unit in units.iter().filter(|u| !KEPT.contains(&u.as_str())) {
        if unit == "rabbitmq-server.service" {
            // A leave asked again after it stopped half-way finds the application stopped: start it
            // (a no-op when it runs) so that shrink can act; a stopped unit has left already.
            out.push(argv(&[
                "sh",
                "-c",
                RABBIT_LEAVE,
                "sh",
                &format!("rabbit@{node}"),
            ]));
        }
        if unit == "libvirtd.service" {
            // Its sockets would start it again at the first connection.
            out.push(argv(&[
                "systemctl",
                "disable",
                "--now",
                "libvirtd.socket",
                "libvirtd-ro.socket",
                "libvirtd-admin.socket",
            ]));
        }
        out.push(argv(&["systemctl", "disable", "--now", unit]));
    }
    out
}

/// Runs `commands` in order, then deletes the credentials in `credentials`. Stops at the first command
/// that fails, with everything said so far: `Err` carries the output.
pub fn carry_out(commands: &[Vec<String>], credentials: &Path) -> Result<Vec<String>, Vec<String>> {
    let mut output = Vec::new();
    for argv in commands {
        output.push(format!("$ {}", argv.join(" ")));
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let result = Command::new(program).args(args).output();
        match result {
            Ok(o) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                output.extend(text.lines().map(str::to_owned));
                if !o.status.success() {
                    output.push(format!("failed: {}", o.status));
                    return Err(output);
                }
            }
            Err(e) => {
                output.push(format!("failed: {program}: {e}"));
                return Err(output);
            }
        }
    }
    for file in [NODE_KEY, NODE_CERT, CLUSTER_CA] {
        let path = credentials.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => output.push(format!("deleted {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                output.push(format!("failed: deleting {}: {e}", path.display()));
                return Err(output);
            }
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    fn units(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn rabbitmq_leaves_its_cluster_before_it_stops_order_is_kept_and_the_clock_runs_on() {
        let c = commands(
            "node3",
            &units(&[
                "libvirtd.service",
                "keepalived.service",
                "rabbitmq-server.service",
                "mariadb.service",
                "chrony.service",
            ]),
        );
        let lines: Vec<String> = c.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "systemctl disable --now libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket",
                "systemctl disable --now libvirtd.service",
                "systemctl disable --now keepalived.service",
                &format!("sh -c {RABBIT_LEAVE} sh rabbit@node3"),
                "systemctl disable --now rabbitmq-server.service",
                "systemctl disable --now mariadb.service",
            ]
        );
    }

    #[test]
    fn a_failing_command_stops_the_leave_and_keeps_the_credentials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_KEY), "key").unwrap();
        let argv = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let out = carry_out(
            &[
                argv(&["true"]),
                argv(&["false"]),
                argv(&["touch", "/nonexistent/never"]),
            ],
            dir.path(),
        )
        .unwrap_err();
        assert!(out.iter().any(|l| l.starts_with("failed:")), "{out:?}");
        assert!(!out.iter().any(|l| l.contains("touch")), "{out:?}");
        assert!(dir.path().join(NODE_KEY).exists());
    }

    #[test]
    fn a_complete_leave_deletes_the_credentials() {
        let dir = tempfile::tempdir().unwrap();
        for f in [NODE_KEY, NODE_CERT, CLUSTER_CA] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let out = carry_out(&[vec!["true".to_owned()]], dir.path()).unwrap();
        assert_eq!(out.iter().filter(|l| l.starts_with("deleted")).count(), 3);
        for f in [NODE_KEY, NODE_CERT, CLUSTER_CA] {
            assert!(!dir.path().join(f).exists());
        }
    }
}
