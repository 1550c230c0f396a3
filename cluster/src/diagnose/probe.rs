//! The probes: what a node's agent measures for each kind of symptom, read through [`System`], and the
//! pure parsers of what the commands print (Galera's status, RabbitMQ's cluster status and queues,
//! `/proc/mounts`, `/proc/meminfo`, `chronyc tracking`). A probe returns one [`Observation`] per thing
//! found wrong, with its own lines as the first evidence; [`super::run`] adds the logs and classifies.

use serde_json::Value;

use super::model::{Evidence, Observation, Skip};
use super::system::System;
use super::window::Cutoff;
use crate::diagnose::catalog::PortOwner;

/// How many lines of a unit's journal go into the evidence.
pub const JOURNAL_LINES: usize = 25;

fn probe_line(text: impl Into<String>) -> Evidence {
    Evidence {
        source: "probe".to_owned(),
        line: None,
        text: text.into(),
    }
}

/// The unit's state line and its journal's end within the window (or a line saying it wrote nothing
/// since the cutoff).
fn unit_evidence(sys: &dyn System, unit: &str, first: String, cut: &Cutoff) -> Vec<Evidence> {
    let mut ev = vec![probe_line(first)];
    let source = format!("journal of {unit}.service");
    let journal = sys.journal(unit, JOURNAL_LINES, cut.unix());
    if journal.is_empty() {
        ev.push(probe_line(format!(
            "{unit}.service wrote no journal line since {} (a wider --since shows older ones)",
            cut.local()
        )));
    }
    ev.extend(journal.into_iter().map(|text| Evidence {
        source: source.clone(),
        line: None,
        text,
    }));
    ev
}

/// Each installed unit of `units` that is not active.
pub fn units(sys: &dyn System, units: &[String], cut: &Cutoff) -> Result<Vec<Observation>, Skip> {
    let mut installed = 0;
    let mut found = Vec::new();
    for unit in units {
        let Some(state) = sys.unit(unit) else {
            continue;
        };
        installed += 1;
        if !state.is_active() {
            found.push(Observation {
                subject: unit.clone(),
                unit: Some(unit.clone()),
                evidence: unit_evidence(sys, unit, state.line(), cut),
            });
        }
    }
    if installed == 0 {
        return Err(Skip::NotHere(
            "none of its units is installed here".to_owned(),
        ));
    }
    Ok(found)
}

/// Galera's status variables (`mysql -N -B` output: name, tab, value).
pub fn parse_variables(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// The members of a `gcomm://a,b,c` address (1 for `gcomm://`, a cluster bootstrapping alone).
pub fn address_members(address: &str) -> usize {
    let list = address.strip_prefix("gcomm://").unwrap_or(address);
    list.split(',')
        .filter(|m| !m.trim().is_empty())
        .count()
        .max(1)
}

/// The rendered Galera configuration, whose cluster address names every member (the running variable
/// does not: a node that bootstrapped the cluster runs with `gcomm://`).
pub const GALERA_CNF: &str = "/etc/mysql/mariadb.conf.d/60-stackbox.cnf";

/// The `wsrep_cluster_address` a configuration file sets.
pub fn configured_address(cnf: &str) -> Option<String> {
    cnf.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "wsrep_cluster_address").then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// What is wrong with Galera, from its status variables: the lines that say so, none when healthy.
pub fn galera_lines(vars: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let get = |k: &str| vars.get(k).map(String::as_str).unwrap_or("");
    let mut lines = Vec::new();
    let status = get("wsrep_cluster_status");
    if status != "Primary" {
        lines.push(format!("wsrep_cluster_status={status}"));
    }
    let state = get("wsrep_local_state_comment");
    if state != "Synced" {
        lines.push(format!("wsrep_local_state_comment={state}"));
    }
    let size: usize = get("wsrep_cluster_size").parse().unwrap_or(0);
    let expected = address_members(get("wsrep_cluster_address"));
    if size < expected {
        lines.push(format!(
            "cluster size {size} of {expected} (wsrep_cluster_address {})",
            get("wsrep_cluster_address")
        ));
    }
    lines
}

const GALERA_QUERY: &str =
    "SHOW GLOBAL STATUS LIKE 'wsrep_%'; SHOW GLOBAL VARIABLES LIKE 'wsrep_cluster_address'";

/// MariaDB on this node: running, synced, primary, with every member.
pub fn galera(sys: &dyn System, cut: &Cutoff) -> Result<Vec<Observation>, Skip> {
    let state = sys
        .unit("mariadb")
        .ok_or_else(|| Skip::NotHere("MariaDB is not installed here".to_owned()))?;
    if !state.is_active() {
        let first = format!("mariadb is not running: {}", state.line());
        return Ok(vec![Observation {
            subject: "mariadb".to_owned(),
            unit: Some("mariadb".to_owned()),
            evidence: unit_evidence(sys, "mariadb", first, cut),
        }]);
    }
    let out = sys
        .run(&["mysql", "--protocol=socket", "-N", "-B", "-e", GALERA_QUERY])
        .map_err(Skip::Failed)?;
    let mut vars = parse_variables(&out);
    if let Some(address) = sys.read(GALERA_CNF).as_deref().and_then(configured_address) {
        vars.insert("wsrep_cluster_address".to_owned(), address);
    }
    let lines = galera_lines(&vars);
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let mut evidence: Vec<Evidence> = lines.into_iter().map(probe_line).collect();
    for k in [
        "wsrep_cluster_size",
        "wsrep_incoming_addresses",
        "wsrep_last_committed",
    ] {
        if let Some(v) = vars.get(k) {
            evidence.push(Evidence {
                source: "SHOW GLOBAL STATUS".to_owned(),
                line: None,
                text: format!("{k}={v}"),
            });
        }
    }
    Ok(vec![Observation {
        subject: "mariadb".to_owned(),
        unit: Some("mariadb".to_owned()),
        evidence,
    }])
}

/// What is wrong with RabbitMQ's cluster, from `rabbitmqctl --formatter json cluster_status`.
pub fn cluster_lines(status: &Value) -> Vec<(String, String)> {
    let names = |key: &str| -> Vec<String> {
        status
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let running = names("running_nodes");
    let mut lines = Vec::new();
    let partitions = status.get("partitions");
    let partitioned = match partitions {
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    if let (true, Some(p)) = (partitioned, partitions) {
        lines.push(("partition".to_owned(), format!("partitioned: {p}")));
    }
    for node in names("disk_nodes").into_iter().chain(names("ram_nodes")) {
        if !running.contains(&node) {
            lines.push((
                node.clone(),
                format!("not running: {node} (a cluster node)"),
            ));
        }
    }
    lines
}

/// Queues holding `backlog` messages or more with no consumer, from `rabbitmqctl --formatter json
/// list_queues name messages consumers`.
pub fn backlog_lines(queues: &Value, backlog: u64) -> Vec<(String, String)> {
    queues
        .as_array()
        .map(|qs| {
            qs.iter()
                .filter_map(|q| {
                    let name = q.get("name")?.as_str()?;
                    let messages = q.get("messages")?.as_u64()?;
                    let consumers = q.get("consumers").and_then(Value::as_u64).unwrap_or(0);
                    (messages >= backlog && consumers == 0).then(|| {
                        (
                            format!("queue {name}"),
                            format!("queue {name}: {messages} messages, no consumer"),
                        )
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// RabbitMQ on this node: running, with all its nodes, unpartitioned, no queue backlogged.
pub fn rabbitmq(sys: &dyn System, backlog: u64, cut: &Cutoff) -> Result<Vec<Observation>, Skip> {
    let unit = "rabbitmq-server";
    let state = sys
        .unit(unit)
        .ok_or_else(|| Skip::NotHere("RabbitMQ is not installed here".to_owned()))?;
    if !state.is_active() {
        let first = format!("{unit} is not running: {}", state.line());
        return Ok(vec![Observation {
            subject: unit.to_owned(),
            unit: Some(unit.to_owned()),
            evidence: unit_evidence(sys, unit, first, cut),
        }]);
    }
    let json = |argv: &[&str]| -> Result<Value, Skip> {
        let out = sys.run(argv).map_err(Skip::Failed)?;
        serde_json::from_str(&out)
            .map_err(|e| Skip::Failed(format!("{}: not JSON: {e}", argv.join(" "))))
    };
    let status = json(&[
        "rabbitmqctl",
        "--quiet",
        "--formatter",
        "json",
        "cluster_status",
        "--timeout",
        "10",
    ])?;
    // Each node lists the queues it leads (`--local`): together the nodes cover every queue once, and
    // every node listing every queue at once is slow on small nodes (see status.rs).
    let queues = json(&[
        "rabbitmqctl",
        "--quiet",
        "--formatter",
        "json",
        "list_queues",
        "--local",
        "--timeout",
        "20",
        "name",
        "messages",
        "consumers",
    ])?;
    let found = cluster_lines(&status)
        .into_iter()
        .chain(backlog_lines(&queues, backlog))
        .map(|(subject, line)| Observation {
            subject,
            unit: Some(unit.to_owned()),
            evidence: vec![probe_line(line)],
        })
        .collect();
    Ok(found)
}

/// Each port whose holder is not its unit's process (by the holder's cgroup), or that nothing holds
/// while its unit is active.
pub fn ports(sys: &dyn System, owners: &[PortOwner]) -> Result<Vec<Observation>, Skip> {
    let mut argv = vec!["ss"];
    argv.extend_from_slice(crate::desk::SS_ARGS);
    let listening = sys.run(&argv).map_err(Skip::Failed)?;
    let mut checked = 0;
    let mut found = Vec::new();
    for owner in owners {
        let Some(state) = sys.unit(&owner.unit) else {
            continue;
        };
        checked += 1;
        let holders = crate::desk::parse_holders(&listening, owner.port);
        let mut evidence = Vec::new();
        let service = format!("/{}.service", owner.unit);
        for h in &holders {
            let cgroup = h
                .pid
                .and_then(|pid| sys.read(&format!("/proc/{pid}/cgroup")))
                .unwrap_or_default();
            if cgroup.contains(&service) {
                continue;
            }
            let who = match h.pid {
                Some(pid) => format!("{} (pid {pid})", h.process),
                None => "a process ss could not name".to_owned(),
            };
            evidence.push(probe_line(format!(
                "port {} is held by {who}, not by {}",
                owner.port, owner.unit
            )));
            evidence.push(probe_line(format!("{} cgroup: {}", h.local, cgroup.trim())));
        }
        if holders.is_empty() && state.is_active() {
            evidence.push(probe_line(format!(
                "{} is active but nothing listens on port {}",
                owner.unit, owner.port
            )));
        }
        if !evidence.is_empty() {
            evidence.push(probe_line(format!("{}: {}", owner.unit, state.line())));
            found.push(Observation {
                subject: format!("port {}", owner.port),
                unit: Some(owner.unit.clone()),
                evidence,
            });
        }
    }
    if checked == 0 {
        return Err(Skip::NotHere(
            "none of the ports' services is installed here".to_owned(),
        ));
    }
    Ok(found)
}

/// The file systems worth watching: (mount point, type, source) of `/proc/self/mounts`, each mount
/// point once, pseudo and memory file systems left out.
pub fn parse_mounts(text: &str) -> Vec<(String, String, String)> {
    const REAL: &[&str] = &[
        "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "f2fs", "zfs",
    ];
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (source, point, kind) = (f.next()?, f.next()?, f.next()?);
            // Octal escapes (\040 for a space) as the kernel writes them.
            let point = point.replace("\\040", " ");
            (REAL.contains(&kind) && seen.insert(point.clone()))
                .then(|| (point, kind.to_owned(), source.to_owned()))
        })
        .collect()
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

/// Each file system `percent` full or more.
pub fn disk(sys: &dyn System, percent: u8) -> Result<Vec<Observation>, Skip> {
    let mounts = sys
        .read("/proc/self/mounts")
        .ok_or_else(|| Skip::Failed("cannot read /proc/self/mounts".to_owned()))?;
    let mut found = Vec::new();
    for (point, kind, source) in parse_mounts(&mounts) {
        let Some(u) = sys.usage(&point) else { continue };
        if u.total == 0 {
            continue;
        }
        let used = u.total.saturating_sub(u.available);
        let pct = used.saturating_mul(100).div_ceil(u.total);
        if pct >= u64::from(percent) {
            found.push(Observation {
                subject: point.clone(),
                unit: None,
                evidence: vec![probe_line(format!(
                    "{point} ({kind} on {source}): {pct}% used, {} MiB free of {} MiB",
                    mib(u.available),
                    mib(u.total)
                ))],
            });
        }
    }
    Ok(found)
}

/// `/proc/meminfo`'s figure for `key`, in KiB.
pub fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The largest processes by resident memory: (name, pid, KiB), from `ps -eo comm,pid,rss --sort=-rss`.
fn largest(sys: &dyn System) -> Vec<String> {
    sys.run(&["ps", "-eo", "comm,pid,rss", "--sort=-rss", "--no-headers"])
        .map(|o| {
            o.lines()
                .take(5)
                .map(|l| {
                    format!(
                        "largest: {}",
                        l.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Available memory below `percent` of the total.
pub fn memory(sys: &dyn System, percent: u8) -> Result<Vec<Observation>, Skip> {
    let text = sys
        .read("/proc/meminfo")
        .ok_or_else(|| Skip::Failed("cannot read /proc/meminfo".to_owned()))?;
    let (Some(total), Some(available)) =
        (meminfo(&text, "MemTotal"), meminfo(&text, "MemAvailable"))
    else {
        return Err(Skip::Failed(
            "/proc/meminfo has no MemTotal or MemAvailable".to_owned(),
        ));
    };
    if total == 0 || available.saturating_mul(100) >= total.saturating_mul(u64::from(percent)) {
        return Ok(Vec::new());
    }
    let mut evidence = vec![probe_line(format!(
        "MemAvailable {}% of MemTotal ({} MiB of {} MiB)",
        available * 100 / total,
        available / 1024,
        total / 1024
    ))];
    evidence.extend(largest(sys).into_iter().map(probe_line));
    Ok(vec![Observation {
        subject: "memory".to_owned(),
        unit: None,
        evidence,
    }])
}

/// chrony's tracking (`chronyc -c tracking`, comma-separated): the offset in seconds (field 5) and the
/// leap status (the last field).
pub fn parse_tracking(text: &str) -> Option<(f64, String)> {
    let fields: Vec<&str> = text.trim().split(',').collect();
    let offset = fields.get(4)?.trim().parse().ok()?;
    let leap = fields.last()?.trim().to_owned();
    Some((offset, leap))
}

/// The clock: chrony running, synchronised, the offset under `offset_ms`.
pub fn clock(sys: &dyn System, offset_ms: u64, cut: &Cutoff) -> Result<Vec<Observation>, Skip> {
    if sys.in_container() {
        return Err(Skip::NotHere(
            "a container: the host keeps its clock".to_owned(),
        ));
    }
    let found = |evidence: Vec<Evidence>| {
        Ok(vec![Observation {
            subject: "clock".to_owned(),
            unit: Some("chrony".to_owned()),
            evidence,
        }])
    };
    match sys.unit("chrony") {
        Some(s) if s.is_active() => {}
        Some(s) => {
            return found(unit_evidence(
                sys,
                "chrony",
                format!("chrony is not running: {}", s.line()),
                cut,
            ));
        }
        None => return found(vec![probe_line("chrony is not running: not installed")]),
    }
    let out = sys
        .run(&["chronyc", "-c", "tracking"])
        .map_err(Skip::Failed)?;
    let (offset, leap) = parse_tracking(&out)
        .ok_or_else(|| Skip::Failed(format!("chronyc tracking said: {}", out.trim())))?;
    let ms = (offset.abs() * 1000.0).round();
    let mut lines = Vec::new();
    if leap != "Normal" {
        lines.push(probe_line(format!("Leap status : {leap}")));
    }
    if ms >= offset_ms as f64 {
        let way = if offset > 0.0 { "slow" } else { "fast" };
        lines.push(probe_line(format!(
            "System time : {:.3} seconds {way} of NTP time",
            offset.abs()
        )));
    }
    if lines.is_empty() {
        Ok(Vec::new())
    } else {
        found(lines)
    }
}

/// How much of each log file the log probes read: its end.
pub const LOG_WINDOW: u64 = 1024 * 1024;

/// The last `most` lines at the end of the log `path` within the window that `keep` takes, each with
/// its file and line.
pub fn log_lines(
    sys: &dyn System,
    path: &str,
    keep: &dyn Fn(&str) -> bool,
    most: usize,
    cut: &Cutoff,
) -> Vec<Evidence> {
    let Some((text, before)) = sys.tail(path, LOG_WINDOW) else {
        return Vec::new();
    };
    let hits: Vec<Evidence> = cut
        .recent(&text)
        .into_iter()
        .filter(|(_, l)| keep(l))
        .map(|(i, l)| Evidence {
            source: path.to_owned(),
            line: Some(before + i + 1),
            text: l.to_owned(),
        })
        .collect();
    let skip = hits.len().saturating_sub(most);
    hits.into_iter().skip(skip).collect()
}

/// `at_least` lines matching `pattern` in the ends of `logs`, written within the window: one observation
/// with the last of them.
pub fn log(
    sys: &dyn System,
    logs: &[String],
    pattern: &regex::Regex,
    at_least: usize,
    cut: &Cutoff,
) -> Result<Vec<Observation>, Skip> {
    let mut read = 0;
    let mut hits = Vec::new();
    for path in logs {
        let Some((text, before)) = sys.tail(path, LOG_WINDOW) else {
            continue;
        };
        read += 1;
        for (i, line) in cut.recent(&text) {
            if pattern.is_match(line) {
                hits.push(Evidence {
                    source: path.clone(),
                    line: Some(before + i + 1),
                    text: line.to_owned(),
                });
            }
        }
    }
    if read == 0 {
        return Err(Skip::NotHere("none of its logs is here".to_owned()));
    }
    if hits.len() < at_least {
        return Ok(Vec::new());
    }
    let count = hits.len();
    let mut evidence = vec![probe_line(format!(
        "{count} matching lines since {}",
        cut.local()
    ))];
    evidence.extend(hits.into_iter().rev().take(10).rev());
    Ok(vec![Observation {
        subject: format!("{count} log lines"),
        unit: None,
        evidence,
    }])
}
