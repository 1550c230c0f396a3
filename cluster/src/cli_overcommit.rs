//! `stackboxd cluster overcommit --cpu X --ram Y --disk Z`: the ratios set on every compute node at
//! once through the agents ([`crate::overcommit`] is a node's side), one node after the other, the
//! cluster configuration's `[overcommit]` updated, then read back from placement
//! (`openstack resource provider inventory list`, admin credentials from the environment) until every
//! compute node shows them.

use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stackbox_common::cmd::Command;
use stackbox_common::error::chain;
use stackbox_installer::config::Overcommit;

use crate::agent_client::LinkError;
use crate::cli_desk::{Target, links};
use crate::overcommit::{check, set_config};

/// How long placement may take to show the new ratios after the restarts.
const READ_BACK: Duration = Duration::from_secs(180);

/// `stackboxd cluster overcommit`'s arguments.
#[derive(Debug, clap::Args)]
pub struct OvercommitArgs {
    /// Virtual CPUs per physical CPU (above 0, at most 64).
    #[arg(long)]
    pub cpu: f64,
    /// Virtual memory per physical memory (above 0, at most 4).
    #[arg(long)]
    pub ram: f64,
    /// Virtual disk per physical disk (above 0, at most 10).
    #[arg(long)]
    pub disk: f64,
    #[command(flatten)]
    target: Target,
}

/// placement's (resource class, allocation ratio) of each resource provider, by its name.
pub fn parse_inventory(text: &str) -> Vec<(String, f64)> {
    serde_json::from_str::<Vec<serde_json::Value>>(text)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            Some((
                i.get("resource_class")?.as_str()?.to_owned(),
                i.get("allocation_ratio")?.as_f64()?,
            ))
        })
        .collect()
}

fn openstack(args: &[&str]) -> Result<String, String> {
    Command::new("timeout")
        .args(["--kill-after=10", "120", "openstack"])
        .args(args.iter().copied())
        .run()
        .map(|o| o.stdout)
        .map_err(|e| chain(&e))
}

/// The ratios placement shows for the provider named `node`, or why not.
fn placement_ratios(node: &str) -> Result<Vec<(String, f64)>, String> {
    let list = openstack(&[
        "resource", "provider", "list", "--name", node, "-f", "value", "-c", "uuid",
    ])?;
    let uuid = list
        .lines()
        .next()
        .ok_or(format!("no resource provider named {node}"))?;
    Ok(parse_inventory(&openstack(&[
        "resource",
        "provider",
        "inventory",
        "list",
        uuid,
        "-f",
        "json",
    ])?))
}

/// Whether `shown` holds `o`'s ratios for VCPU, MEMORY_MB and DISK_GB.
pub fn shows(shown: &[(String, f64)], o: &Overcommit) -> bool {
    [("VCPU", o.cpu), ("MEMORY_MB", o.ram), ("DISK_GB", o.disk)]
        .iter()
        .all(|(class, want)| {
            shown
                .iter()
                .any(|(c, r)| c == class && (r - want).abs() < 1e-6)
        })
}

/// `stackboxd cluster overcommit`: exit 0 when every compute node applied the ratios and placement
/// shows them, 1 otherwise, 2 for bad arguments.
pub fn run(args: &OvercommitArgs) -> ExitCode {
    let o = Overcommit {
        cpu: args.cpu,
        ram: args.ram,
        disk: args.disk,
    };
    if let Err(e) = check(&o) {
        eprintln!("stackboxd cluster overcommit: {e}");
        return stackbox_common::cli::usage();
    }
    let nodes = match links(&args.target) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("stackboxd cluster overcommit: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let mut computes = Vec::new();
    for (node, link) in &nodes {
        match link.overcommit(&o) {
            Ok(a) if a.active => {
                println!("{node}: ratios written, nova-compute restarted and active");
                computes.push(node.clone());
            }
            Ok(a) => {
                println!(
                    "{node}: nova-compute is NOT active after the restart; the other nodes were left alone. Its journal:\n{}",
                    a.journal
                );
                return ExitCode::FAILURE;
            }
            Err(LinkError::Refused { status: 404, .. }) => {
                println!("{node}: no nova-compute: skipped")
            }
            Err(e) => {
                println!(
                    "{node}: not applied: {}; the other nodes were left alone",
                    chain(&e)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    for path in [
        args.target.config.clone(),
        args.target.state.join("cluster/config.toml"),
    ] {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mode = std::fs::metadata(&path)
                .map(|m| m.mode() & 0o7777)
                .unwrap_or(0o600);
            match stackbox_common::fs::write_atomic(&path, set_config(&text, &o).as_bytes(), mode) {
                Ok(()) => println!("{}: [overcommit] updated", path.display()),
                Err(e) => println!("{}: not updated: {e}", path.display()),
            }
        }
    }
    let start = Instant::now();
    let mut left = computes.clone();
    while !left.is_empty() && start.elapsed() < READ_BACK {
        left.retain(|node| match placement_ratios(node) {
            Ok(shown) if shows(&shown, &o) => {
                let text: Vec<String> = shown.iter().map(|(c, r)| format!("{c} {r}")).collect();
                println!(
                    "{node}: placement shows the allocation ratios {}",
                    text.join(", ")
                );
                false
            }
            _ => true,
        });
        if !left.is_empty() {
            std::thread::sleep(Duration::from_secs(5));
        }
    }
    if left.is_empty() {
        ExitCode::SUCCESS
    } else {
        for node in &left {
            let shown = placement_ratios(node)
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|e| e);
            println!(
                "{node}: placement does not show the new ratios after {} s: {shown}",
                READ_BACK.as_secs()
            );
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(cpu: f64, ram: f64, disk: f64) -> Overcommit {
        Overcommit { cpu, ram, disk }
    }

    #[test]
    fn placement_s_inventory_read_back() {
        let json = r#"[{"resource_class": "VCPU", "allocation_ratio": 8.0, "total": 4},
                       {"resource_class": "MEMORY_MB", "allocation_ratio": 1.5, "total": 8000},
                       {"resource_class": "DISK_GB", "allocation_ratio": 2.0, "total": 40}]"#;
        let shown = parse_inventory(json);
        assert!(shows(&shown, &o(8.0, 1.5, 2.0)));
        assert!(!shows(&shown, &o(8.0, 1.0, 2.0)));
        assert!(!shows(&parse_inventory("not json"), &o(8.0, 1.5, 2.0)));
    }
}
