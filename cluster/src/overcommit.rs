//! The admin desk's overcommit ratios, a node's side: `stackboxd cluster overcommit` (see
//! [`crate::cli_overcommit`]) sets the
//! CPU, RAM and disk allocation ratios on every compute node at once. Each compute node's agent writes
//! them into its nova.conf (`POST /agent/v1/overcommit`) and restarts nova-compute, one node after the
//! other, each active again before the next; nova-compute reports the new ratios to placement when it
//! starts, and the command reads them back from placement (`openstack resource provider inventory
//! list`, admin credentials from the environment) until every node shows them. The cluster
//! configuration's `[overcommit]` is updated too, so that a later install or growth renders the same.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::Command;
use stackbox_installer::config::Overcommit;

/// The agent's route: `POST` with an [`Overcommit`].
pub const OVERCOMMIT_PATH: &str = "/agent/v1/overcommit";
/// nova's configuration on a node.
const NOVA_CONF: &str = "/etc/nova/nova.conf";

/// What a node did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The ratios written.
    pub ratios: Overcommit,
    /// Whether nova-compute was active again within the desk's wait.
    pub active: bool,
    /// The end of nova-compute's journal when it is not.
    pub journal: String,
}

/// Why a node did not apply the ratios.
#[derive(Debug, thiserror::Error)]
pub enum OvercommitError {
    /// Out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// No nova-compute on this node.
    #[error("nova-compute is not installed on this node")]
    NotCompute,
    /// nova.conf could not be read, edited or written.
    #[error("{NOVA_CONF}: {0}")]
    Conf(String),
}

/// The ratios' problems (the same bounds as the cluster configuration's).
pub fn check(o: &Overcommit) -> Result<(), OvercommitError> {
    let problems: Vec<String> = o
        .problems()
        .into_iter()
        .map(|(k, why)| format!("{k} {why}"))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OvercommitError::Invalid(problems.join("; ")))
    }
}

/// nova.conf's text with the three ratios of its `[DEFAULT]` section set to `o`; refused when the
/// section does not hold all three (a file stackbox did not render for a compute node).
pub fn set_ratios(text: &str, o: &Overcommit) -> Result<String, String> {
    let mut section = String::new();
    let mut set = [false; 3];
    let keys = [
        ("cpu_allocation_ratio", o.cpu),
        ("ram_allocation_ratio", o.ram),
        ("disk_allocation_ratio", o.disk),
    ];
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            section = t.to_owned();
        }
        let key = t.split('=').next().unwrap_or("").trim();
        match keys.iter().position(|(k, _)| *k == key) {
            Some(i) if section == "[DEFAULT]" && t.contains('=') => {
                out.push_str(&format!("{key} = {}\n", keys[i].1));
                set[i] = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    match keys.iter().zip(set).find(|(_, done)| !done) {
        Some(((k, _), _)) => Err(format!(
            "no {k} in [DEFAULT]: not a compute node's nova.conf"
        )),
        None => Ok(out),
    }
}

/// The cluster configuration's text with its `[overcommit]` table set to `o` (appended when absent);
/// the rest of the file, its comments included, is kept.
pub fn set_config(text: &str, o: &Overcommit) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    let mut found = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[overcommit]";
            if inside {
                found = true;
                out.push_str(&format!(
                    "[overcommit]\ncpu = {:?}\nram = {:?}\ndisk = {:?}\n",
                    o.cpu, o.ram, o.disk
                ));
                continue;
            }
        }
        let key = t.split('=').next().unwrap_or("").trim();
        if inside && matches!(key, "cpu" | "ram" | "disk") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !found {
        out.push_str(&format!(
            "\n[overcommit]\ncpu = {:?}\nram = {:?}\ndisk = {:?}\n",
            o.cpu, o.ram, o.disk
        ));
    }
    out
}

/// On this node (under `root`): writes the ratios into nova.conf (its mode and owner kept) and
/// restarts nova-compute, waiting for it (the agent's `POST /agent/v1/overcommit`).
pub fn apply(root: &Path, o: &Overcommit) -> Result<Applied, OvercommitError> {
    check(o)?;
    let installed = Command::new("systemctl")
        .args(["cat", "nova-compute.service"])
        .run()
        .is_ok();
    if !installed {
        return Err(OvercommitError::NotCompute);
    }
    let path = root.join(NOVA_CONF.trim_start_matches('/'));
    let meta = std::fs::metadata(&path).map_err(|e| OvercommitError::Conf(e.to_string()))?;
    let text = std::fs::read_to_string(&path).map_err(|e| OvercommitError::Conf(e.to_string()))?;
    let new = set_ratios(&text, o).map_err(OvercommitError::Conf)?;
    stackbox_common::fs::write_atomic(&path, new.as_bytes(), meta.mode() & 0o7777)
        .map_err(|e| OvercommitError::Conf(e.to_string()))?;
    nix::unistd::chown(
        &path,
        Some(nix::unistd::Uid::from_raw(meta.uid())),
        Some(nix::unistd::Gid::from_raw(meta.gid())),
    )
    .map_err(|e| OvercommitError::Conf(e.to_string()))?;
    tracing::info!(
        cpu = o.cpu,
        ram = o.ram,
        disk = o.disk,
        "admin desk: overcommit ratios written"
    );
    let restarted = crate::desk::restart("nova-compute")
        .map_err(|e| OvercommitError::Conf(format!("restarting nova-compute: {e}")))?;
    Ok(Applied {
        ratios: *o,
        active: restarted.active,
        journal: restarted.journal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOVA: &str = "# Written by stackbox\n[DEFAULT]\nmy_ip = 10.20.0.12\ncpu_allocation_ratio = 4.0\nram_allocation_ratio = 1.0\ndisk_allocation_ratio = 1.0\n\n[libvirt]\ncpu_allocation_ratio = 9\n";

    fn o(cpu: f64, ram: f64, disk: f64) -> Overcommit {
        Overcommit { cpu, ram, disk }
    }

    #[test]
    fn the_ratios_are_set_in_default_only() {
        let new = set_ratios(NOVA, &o(8.0, 1.5, 2.0)).unwrap();
        assert!(new.contains("[DEFAULT]\nmy_ip = 10.20.0.12\ncpu_allocation_ratio = 8\nram_allocation_ratio = 1.5\ndisk_allocation_ratio = 2\n"), "{new}");
        assert!(
            new.ends_with("[libvirt]\ncpu_allocation_ratio = 9\n"),
            "{new}"
        );
        // A management-only node's nova.conf has none: refused, not half-written.
        let err = set_ratios("[DEFAULT]\nmy_ip = 1\n", &o(8.0, 1.5, 2.0)).unwrap_err();
        assert!(err.contains("no cpu_allocation_ratio"), "{err}");
    }

    #[test]
    fn the_configuration_keeps_its_comments() {
        let text = "# my cloud\nregion = \"r\"\n\n[overcommit]\ncpu = 4.0\nram = 1.0\ndisk = 1.0\n\n[[nodes]]\nname = \"a\"\n";
        let new = set_config(text, &o(8.0, 1.5, 2.0));
        assert_eq!(
            new,
            "# my cloud\nregion = \"r\"\n\n[overcommit]\ncpu = 8.0\nram = 1.5\ndisk = 2.0\n\n[[nodes]]\nname = \"a\"\n"
        );
        let new = set_config("region = \"r\"\n", &o(8.0, 1.5, 2.0));
        assert!(
            new.ends_with("\n[overcommit]\ncpu = 8.0\nram = 1.5\ndisk = 2.0\n"),
            "{new}"
        );
    }

    #[test]
    fn out_of_bounds_ratios_are_refused() {
        check(&o(8.0, 1.5, 2.0)).unwrap();
        for bad in [
            o(0.0, 1.0, 1.0),
            o(65.0, 1.0, 1.0),
            o(4.0, 4.5, 1.0),
            o(4.0, 1.0, -1.0),
            o(f64::NAN, 1.0, 1.0),
        ] {
            assert!(
                matches!(check(&bad), Err(OvercommitError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
