//! The VMs in ERROR, read from nova's databases on a node whose MariaDB holds them (Galera replicates
//! them to every storage node): each is reported once, by the compute node it is on, or by the node
//! holding the API address when it never reached one (a scheduling failure, kept in cell0); with nova's
//! fault and the lines of its QEMU log and of nova-compute's log that tell why.

use super::model::{Evidence, Observation, Skip};
use super::probe::log_lines;
use super::system::System;
use super::window::Cutoff;

/// The servers in ERROR of one of nova's cell databases (`DB`): uuid, name, host, libvirt's domain
/// name (nova's default `instance-%08x`) and the newest fault, tab-separated.
const QUERY: &str = "SELECT i.uuid, IFNULL(i.display_name, ''), IFNULL(i.host, ''), \
    LOWER(CONCAT('instance-', LPAD(HEX(i.id), 8, '0'))), \
    IFNULL((SELECT CONCAT(f.code, ': ', f.message) FROM DB.instance_faults f \
    WHERE f.instance_uuid = i.uuid ORDER BY f.id DESC LIMIT 1), '') \
    FROM DB.instances i WHERE i.deleted = 0 AND i.vm_state = 'error'";
/// nova's cell databases: cell1 (the servers that reached a compute node) and cell0 (those that never did).
const CELLS: &[&str] = &["nova", "nova_cell0"];
/// How many lines of each log go into the evidence.
const LOG_LINES: usize = 8;

/// A server in ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorVm {
    /// Its id.
    pub uuid: String,
    /// Its name.
    pub name: String,
    /// Its compute node (empty when it never reached one).
    pub host: String,
    /// Its libvirt domain's name.
    pub domain: String,
    /// nova's newest fault: `code: message`.
    pub fault: String,
}

/// `mysql -N -B` output of [`QUERY`] (tabs and newlines inside values escaped as `\t`, `\n`).
pub fn parse_vms(text: &str) -> Vec<ErrorVm> {
    let unescape = |v: &str| {
        v.replace("\\n", " ")
            .replace("\\t", " ")
            .replace("\\\\", "\\")
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [uuid, name, host, domain, fault] = f.as_slice() else {
                return None;
            };
            Some(ErrorVm {
                uuid: (*uuid).to_owned(),
                name: unescape(name),
                host: (*host).to_owned(),
                domain: (*domain).to_owned(),
                fault: unescape(fault),
            })
        })
        .collect()
}

/// The servers in ERROR this node reports (their log lines within the window).
pub fn vms(sys: &dyn System, cut: &Cutoff) -> Result<Vec<Observation>, Skip> {
    let state = sys
        .unit("mariadb")
        .ok_or_else(|| Skip::NotHere("no database here".to_owned()))?;
    if !state.is_active() {
        return Err(Skip::NotHere(
            "MariaDB does not run here (see galera.unhealthy)".to_owned(),
        ));
    }
    let mut all = Vec::new();
    for (i, db) in CELLS.iter().enumerate() {
        let query = QUERY.replace("DB.", &format!("{db}."));
        match sys.run(&[
            "mysql",
            "--protocol=socket",
            "--connect-timeout=5",
            "-N",
            "-B",
            "-e",
            &query,
        ]) {
            Ok(out) => all.extend(parse_vms(&out)),
            Err(e) if e.contains("Unknown database") && i == 0 => {
                return Err(Skip::NotHere("nova's database is not here".to_owned()));
            }
            Err(e) if e.contains("Unknown database") => {}
            Err(e) => return Err(Skip::Failed(e)),
        }
    }
    let me = sys.read("/etc/hostname").unwrap_or_default();
    let me = me.trim();
    let api = sys.holds_api_address();
    Ok(all
        .into_iter()
        .filter(|vm| vm.host == me || (vm.host.is_empty() && api))
        .map(|vm| observation(sys, vm, cut))
        .collect())
}

fn line(text: String) -> Evidence {
    Evidence {
        source: "probe".to_owned(),
        line: None,
        text,
    }
}

fn observation(sys: &dyn System, vm: ErrorVm, cut: &Cutoff) -> Observation {
    let host = if vm.host.is_empty() {
        "no compute node (it was never scheduled)".to_owned()
    } else {
        vm.host.clone()
    };
    let mut evidence = vec![line(format!(
        "server {} ({}) is in ERROR on {host}",
        vm.uuid, vm.name
    ))];
    if !vm.fault.is_empty() {
        evidence.push(line(format!("nova fault: {}", vm.fault)));
    }
    if !vm.host.is_empty() {
        let qemu = format!("/var/log/libvirt/qemu/{}.log", vm.domain);
        let notable = |l: &str| {
            let l = l.to_ascii_lowercase();
            [
                "error",
                "denied",
                "could not",
                "fail",
                "unsupported",
                "not supported",
            ]
            .iter()
            .any(|w| l.contains(w))
        };
        evidence.extend(log_lines(sys, &qemu, &notable, LOG_LINES, cut));
        let uuid = vm.uuid.clone();
        let about =
            move |l: &str| l.contains(&uuid) && (l.contains(" ERROR ") || l.contains(" WARNING "));
        evidence.extend(log_lines(
            sys,
            "/var/log/nova/nova-compute.log",
            &about,
            LOG_LINES,
            cut,
        ));
    }
    Observation {
        subject: format!("server {} ({})", vm.name, vm.uuid),
        unit: None,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_in_error_from_mysql_batch_output() {
        let text = "6f1c\tweb-1\tnode3\tinstance-0000000a\t500: internal error: qemu unexpectedly closed the monitor:\\nCould not open '/var/lib/nova/instances/6f1c/disk': Permission denied\n\
                    77aa\tbig\t\tinstance-0000000b\t500: No valid host was found. \n\
                    broken line\n";
        let vms = parse_vms(text);
        assert_eq!(vms.len(), 2, "{vms:?}");
        assert_eq!(vms[0].domain, "instance-0000000a");
        assert!(
            vms[0]
                .fault
                .ends_with("'/var/lib/nova/instances/6f1c/disk': Permission denied")
        );
        assert!(!vms[0].fault.contains("\\n"));
        assert_eq!((vms[1].host.as_str(), vms[1].name.as_str()), ("", "big"));
        assert!(parse_vms("").is_empty());
    }
}
