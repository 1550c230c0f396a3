//! The admin desk's first actions, run on a node by its agent: which process holds a port
//! ([`port_holders`], from `ss`), and restarting one of the appliance's services with the health check
//! after it ([`restart`]: `systemctl restart`, then active within [`RESTART_WAIT`], else its journal's
//! end). Only the cloud's own services may be restarted ([`SERVICES`]). Each action is logged (the
//! agent's journal, tag `stackboxd`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::Command;

/// The agent's routes: `GET PORT_PATH/{port}`, `POST RESTART_PATH` with a [`RestartRequest`].
pub const PORT_PATH: &str = "/agent/v1/port";
/// See [`PORT_PATH`].
pub const RESTART_PATH: &str = "/agent/v1/restart";
/// How long a restarted service has to be active again.
pub const RESTART_WAIT: Duration = Duration::from_secs(90);

/// The services the desk restarts: the cloud's own, each a unit name without `.service`.
pub const SERVICES: &[&str] = &[
    "mariadb",
    "rabbitmq-server",
    "memcached",
    "haproxy",
    "keepalived",
    "keystone",
    "glance-api",
    "placement-api",
    "nova-api",
    "nova-api-metadata",
    "nova-conductor",
    "nova-scheduler",
    "nova-novncproxy",
    "nova-compute",
    "neutron-api",
    "neutron-rpc-server",
    "neutron-linuxbridge-agent",
    "neutron-dhcp-agent",
    "neutron-l3-agent",
    "neutron-metadata-agent",
    "horizon",
    "libvirtd",
    "chrony",
];

/// A socket listening on a port, and the process that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The local address and port as `ss` shows it.
    pub local: String,
    /// The process's name; empty when `ss` could not tell.
    pub process: String,
    /// Its PID, when known.
    pub pid: Option<u32>,
}

/// The sockets of `ss -Hltnup` output (`text`) that listen on `port`.
pub fn parse_holders(text: &str, port: u16) -> Vec<Holder> {
    let suffix = format!(":{port}");
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let protocol = *fields.first()?;
            if !matches!(protocol, "tcp" | "udp") {
                return None;
            }
            let local = *fields.get(4)?;
            if !local.ends_with(&suffix) {
                return None;
            }
            let users = line.find("users:((").map(|i| &line[i + 8..]);
            let process = users
                .and_then(|u| u.strip_prefix('"'))
                .and_then(|u| u.split('"').next())
                .unwrap_or("")
                .to_owned();
            let pid = users
                .and_then(|u| u.find("pid=").map(|i| &u[i + 4..]))
                .and_then(|p| p.split([',', ')']).next())
                .and_then(|p| p.parse().ok());
            Some(Holder {
                protocol: protocol.to_owned(),
                local: local.to_owned(),
                process,
                pid,
            })
        })
        .collect()
}

/// `ss`'s arguments for [`parse_holders`]: listening TCP and UDP sockets, numeric, with their processes
/// and the Netid column the parser expects first.
pub const SS_ARGS: &[&str] = &["-Hltnup"];

/// Which processes listen on `port` on this machine.
pub fn port_holders(port: u16) -> Result<Vec<Holder>, stackbox_common::cmd::CmdError> {
    let out = Command::new("ss").args(SS_ARGS.iter().copied()).run()?;
    let holders = parse_holders(&out.stdout, port);
    tracing::info!(
        port,
        holders = holders.len(),
        "admin desk: who holds the port"
    );
    Ok(holders)
}

/// A request to restart one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartRequest {
    /// One of [`SERVICES`].
    pub service: String,
}

/// What a restart did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarted {
    /// The service.
    pub service: String,
    /// Whether it was active again within [`RESTART_WAIT`].
    pub active: bool,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
    /// The end of its journal when it is not active (or the restart failed).
    pub journal: String,
}

/// Why a restart was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// The service is not one of the cloud's.
    #[error("`{0}` is not one of the cloud's services the desk restarts ({list})", list = SERVICES.join(", "))]
    UnknownService(String),
    /// The service is not installed on this node.
    #[error("{0} is not installed on this node")]
    NotInstalled(String),
}

/// Checks that `service` is one the desk restarts.
pub fn check_service(service: &str) -> Result<(), DeskError> {
    if SERVICES.contains(&service) {
        Ok(())
    } else {
        Err(DeskError::UnknownService(service.to_owned()))
    }
}

/// Restarts `service` (one of [`SERVICES`]) and waits until it is active again, or [`RESTART_WAIT`]
/// passed.
pub fn restart(service: &str) -> Result<Restarted, DeskError> {
    check_service(service)?;
    let unit = format!("{service}.service");
    let known = Command::new("systemctl")
        .args(["cat", unit.as_str()])
        .run()
        .is_ok();
    if !known {
        return Err(DeskError::NotInstalled(service.to_owned()));
    }
    tracing::info!(service, "admin desk: restarting");
    let start = Instant::now();
    let restarted = Command::new("systemctl")
        .args(["restart", unit.as_str()])
        .run();
    let mut active = false;
    if restarted.is_ok() {
        while start.elapsed() < RESTART_WAIT {
            if Command::new("systemctl")
                .args(["is-active", "--quiet", unit.as_str()])
                .run()
                .is_ok()
            {
                active = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let journal = if active {
        String::new()
    } else {
        Command::new("journalctl")
            .args(["-u", unit.as_str(), "-n", "30", "--no-pager"])
            .run()
            .map(|o| o.stdout)
            .unwrap_or_else(|e| e.to_string())
    };
    let took_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(service, active, took_ms, "admin desk: restarted");
    Ok(Restarted {
        service: service.to_owned(),
        active,
        took_ms,
        journal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SS: &str = "\
tcp   LISTEN 0      4096         0.0.0.0:5000       0.0.0.0:*    users:((\"haproxy\",pid=812,fd=7))
tcp   LISTEN 0      100      10.20.0.11:15000       0.0.0.0:*    users:((\"uwsgi\",pid=901,fd=3),(\"uwsgi\",pid=902,fd=3))
tcp   LISTEN 0      4096            [::]:5000          [::]:*    users:((\"haproxy\",pid=812,fd=8))
udp   UNCONN 0      0          0.0.0.0:4789       0.0.0.0:*
tcp   LISTEN 0      80        10.20.0.11:3306       0.0.0.0:*
";

    #[test]
    fn holders_of_a_port_with_their_process_and_pid() {
        let h = parse_holders(SS, 5000);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].process, "haproxy");
        assert_eq!(h[0].pid, Some(812));
        assert_eq!(h[1].local, "[::]:5000");
        let h = parse_holders(SS, 15000);
        assert_eq!((h[0].process.as_str(), h[0].pid), ("uwsgi", Some(901)));
        // No process shown (another user's socket without privileges): the socket, without a name.
        let h = parse_holders(SS, 3306);
        assert_eq!((h[0].process.as_str(), h[0].pid), ("", None));
        assert_eq!(parse_holders(SS, 4789)[0].protocol, "udp");
        // 500 is not 5000; nothing listens on 22 here.
        assert!(parse_holders(SS, 500).is_empty());
        assert!(parse_holders(SS, 22).is_empty());
        assert!(parse_holders("garbage\n\n", 5000).is_empty());
    }

    #[test]
    fn only_the_clouds_services_are_restarted() {
        check_service("nova-compute").unwrap();
        for bad in [
            "sshd",
            "nova-compute; reboot",
            "",
            "../mariadb",
            "mariadb.service",
            "stackbox-wizard",
        ] {
            assert_eq!(
                check_service(bad),
                Err(DeskError::UnknownService(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
