//! `stackboxd cluster recover SERVER`: the admin desk's recovery of a hung VM. First nova's hard reboot
//! (it destroys and recreates the domain); when nova does not bring the server back within `--wait`
//! (its compute service hung or down), the server's compute node's agent destroys and starts the domain
//! at the hypervisor, and nova's state is reset to active (libvirt's lifecycle event then syncs its
//! power state). Credentials come from the environment (an openrc), as for `openstack` itself; every
//! step is printed and logged.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;
use stackbox_common::cmd::Command;
use stackbox_common::error::chain;

use crate::agent_client::{AgentLink, LinkError};
use crate::cli_desk::{Target, links};
use crate::hypervisor::DomainState;

/// The longest one `openstack` call may take.
const CALL_TIMEOUT: &str = "120";

/// `stackboxd cluster recover`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The server's name or ID.
    pub server: String,
    /// How long nova's hard reboot may take to bring it back, in seconds, before the hypervisor is asked.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub wait: u64,
    #[command(flatten)]
    target: Target,
}

/// What nova says of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// ACTIVE, ERROR, HARD_REBOOT, PAUSED, ...
    pub status: String,
    /// Its compute node.
    pub host: String,
    /// Its libvirt domain.
    pub domain: String,
    /// nova's idea of its power (Running, Paused, Shutdown, ...).
    pub power: String,
}

/// Why the recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// An `openstack` call failed.
    #[error("openstack {0}")]
    Openstack(String, #[source] stackbox_common::cmd::CmdError),
    /// nova's answer was not what `server show -f json` prints.
    #[error("nova's answer for the server: {0}")]
    Answer(String),
    /// The server is on no compute node.
    #[error(
        "{0} is on no compute node (it never booted): nothing to recover; delete it and boot it again"
    )]
    NoHost(String),
    /// Its node's agent could not be asked.
    #[error("asking {0}'s agent")]
    Agent(String, #[source] LinkError),
    /// The node is not in the configuration.
    #[error("{0}")]
    Target(String),
    /// Neither way brought it back.
    #[error("{0} is still not back: nova says {1}, the hypervisor says {2}")]
    NotBack(String, String, String),
}

/// nova's `server show -f json` as a [`Server`].
pub fn parse_server(text: &str) -> Result<Server, RecoverError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| RecoverError::Answer(format!("not JSON: {e}")))?;
    let get = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let server = Server {
        id: get("id"),
        name: get("name"),
        status: get("status"),
        host: get("OS-EXT-SRV-ATTR:host"),
        domain: get("OS-EXT-SRV-ATTR:instance_name"),
        power: power_name(v.get("OS-EXT-STS:power_state")),
    };
    if server.id.is_empty() || server.status.is_empty() {
        return Err(RecoverError::Answer(
            "no id or status (are the credentials an admin's?)".into(),
        ));
    }
    Ok(server)
}

/// nova's power state in words: the client prints its number (nova's `power_state` constants) or, in
/// some versions, its name.
fn power_name(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => "NOSTATE".to_owned(),
            Some(1) => "Running".to_owned(),
            Some(3) => "Paused".to_owned(),
            Some(4) => "Shutdown".to_owned(),
            Some(6) => "Crashed".to_owned(),
            Some(7) => "Suspended".to_owned(),
            _ => n.to_string(),
        },
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Whether the server is back: nova says ACTIVE and the hypervisor runs it.
pub fn is_back(server: &Server, hypervisor: &str) -> bool {
    server.status == "ACTIVE" && hypervisor == "running"
}

fn openstack(args: &[&str]) -> Result<String, RecoverError> {
    Command::new("timeout")
        .args(["--kill-after=10", CALL_TIMEOUT, "openstack"])
        .args(args.iter().copied())
        .run()
        .map(|o| o.stdout)
        .map_err(|e| RecoverError::Openstack(args.join(" "), e))
}

fn show(server: &str) -> Result<Server, RecoverError> {
    parse_server(&openstack(&["server", "show", server, "-f", "json"])?)
}

/// The hypervisor's word for the domain (or why it could not be had).
fn domain_state(link: &AgentLink, domain: &str) -> String {
    match link.vm_state(domain) {
        Ok(DomainState { state, .. }) => state,
        Err(e) => format!("unknown ({})", chain(&e)),
    }
}

/// Polls until the server is back or `wait` passed; the last (nova, hypervisor) seen.
fn wait_back(server: &Server, link: &AgentLink, wait: Duration) -> (Server, String, bool) {
    let start = Instant::now();
    loop {
        let now = show(&server.id).unwrap_or_else(|_| server.clone());
        let hv = domain_state(link, &server.domain);
        if is_back(&now, &hv) || start.elapsed() >= wait {
            let back = is_back(&now, &hv);
            return (now, hv, back);
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}

fn recover(args: &RecoverArgs) -> Result<(), RecoverError> {
    let server = show(&args.server)?;
    if server.host.is_empty() {
        return Err(RecoverError::NoHost(args.server.clone()));
    }
    let target = Target {
        node: Some(server.host.clone()),
        config: args.target.config.clone(),
        state: args.target.state.clone(),
        agent_port: args.target.agent_port,
    };
    let nodes = links(&target).map_err(|e| RecoverError::Target(chain(&e)))?;
    let Some((_, link)) = nodes.first() else {
        return Err(RecoverError::Target(format!("no node {}", server.host)));
    };
    let hv = domain_state(link, &server.domain);
    println!(
        "{} ({}) on {} (domain {}): nova says {}, power {}; the hypervisor says {hv}",
        server.name, server.id, server.host, server.domain, server.status, server.power
    );
    let start = Instant::now();
    match openstack(&["server", "reboot", "--hard", &server.id]) {
        Ok(_) => println!("asked nova for a hard reboot"),
        Err(e) => println!("nova refused the hard reboot: {}", chain(&e)),
    }
    let (now, hv, back) = wait_back(&server, link, Duration::from_secs(args.wait));
    if back {
        println!(
            "recovered by nova's hard reboot in {:.1} s: ACTIVE, running",
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    println!(
        "nova did not bring it back within {} s (nova says {}, the hypervisor {hv}): restarting it at the hypervisor",
        args.wait, now.status
    );
    let done = link
        .vm_restart(&server.domain)
        .map_err(|e| RecoverError::Agent(server.host.clone(), e))?;
    println!(
        "{}: {}: now {}",
        server.host,
        done.done.join(", "),
        done.state
    );
    openstack(&["server", "set", "--state", "active", &server.id])?;
    println!("nova's state reset to active");
    let (now, hv, back) = wait_back(&server, link, Duration::from_secs(60));
    if back {
        println!(
            "recovered at the hypervisor in {:.1} s: ACTIVE, running",
            start.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(RecoverError::NotBack(server.name, now.status, hv))
    }
}

/// `stackboxd cluster recover SERVER`: exit 0 when the server is back (ACTIVE and running), 1 otherwise.
pub fn run(args: &RecoverArgs) -> ExitCode {
    tracing::info!(server = %args.server, "admin desk: recovering a server");
    match recover(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stackboxd cluster recover: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = r#"{"id": "6f1c2a", "name": "stackbox-smoke", "status": "PAUSED",
        "OS-EXT-SRV-ATTR:host": "node3", "OS-EXT-SRV-ATTR:instance_name": "instance-0000000a",
        "OS-EXT-STS:power_state": "Paused", "addresses": {}}"#;

    #[test]
    fn nova_s_view_of_a_server() {
        let s = parse_server(SHOW).unwrap();
        assert_eq!(
            (s.host.as_str(), s.domain.as_str(), s.power.as_str()),
            ("node3", "instance-0000000a", "Paused")
        );
        assert!(!is_back(&s, "paused"));
        let active = Server {
            status: "ACTIVE".into(),
            ..s.clone()
        };
        assert!(is_back(&active, "running"));
        assert!(!is_back(&active, "paused"));
        // The client prints the power state as nova's number.
        let s = parse_server(&SHOW.replace(r#""Paused""#, "3")).unwrap();
        assert_eq!(s.power, "Paused");
        // A server that never reached a node has a null host.
        let s = parse_server(&SHOW.replace(r#""node3""#, "null")).unwrap();
        assert_eq!(s.host, "");
        for bad in ["", "not json", "{}", r#"{"id": "x"}"#] {
            assert!(
                matches!(parse_server(bad), Err(RecoverError::Answer(_))),
                "{bad}"
            );
        }
    }
}
