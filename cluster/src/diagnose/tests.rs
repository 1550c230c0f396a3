//! The catalog's symptoms against a fake node: each fault the cluster tier induces for real is here with
//! the cause it must be classified as, and a healthy node has no finding.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::system::{Ran, System, UnitState, Usage};
use super::*;

#[derive(Default)]
pub(super) struct Fake {
    pub(super) units: BTreeMap<String, UnitState>,
    pub(super) journals: BTreeMap<String, Vec<String>>,
    pub(super) commands: BTreeMap<String, String>,
    /// Commands whose exit status is an answer, by their argv joined with spaces.
    pub(super) statuses: BTreeMap<String, Ran>,
    pub(super) files: BTreeMap<String, String>,
    pub(super) usage: BTreeMap<String, Usage>,
    pub(super) container: bool,
    pub(super) api: bool,
    /// The node's clock, seconds since the epoch (UTC).
    pub(super) now: i64,
    /// The `since` each journal was asked with.
    pub(super) journal_since: RefCell<Vec<i64>>,
}

/// The fake node's clock: 2026-11-30 19:30:00 UTC.
pub(super) const NOW: i64 = 1_796_067_000;
/// A log line's timestamp `minutes` before [`NOW`], as OpenStack writes it.
pub(super) fn ago(minutes: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(NOW - minutes * 60).unwrap();
    format!("{}.123", super::window::log_stamp(t))
}

pub(super) fn ran(code: i32, stdout: &str, stderr: &str) -> Ran {
    Ran {
        code: Some(code),
        stdout: stdout.into(),
        stderr: stderr.into(),
    }
}

pub(super) fn state(active: &str, sub: &str, result: &str) -> UnitState {
    UnitState {
        active: active.into(),
        sub: sub.into(),
        result: result.into(),
    }
}

const HEALTHY_GALERA: &str = "wsrep_cluster_size\t3\nwsrep_cluster_status\tPrimary\nwsrep_local_state_comment\tSynced\nwsrep_cluster_address\tgcomm://10.20.0.11,10.20.0.12,10.20.0.13\n";
const RABBIT_OK: &str = r#"{"disk_nodes":["rabbit@stackbox","rabbit@node2"],"ram_nodes":[],"running_nodes":["rabbit@node2","rabbit@stackbox"],"partitions":{},"alarms":[]}"#;
const QUEUES_OK: &str = r#"[{"name":"conductor","messages":0,"consumers":2},{"name":"notifications.info","messages":40,"consumers":0}]"#;
/// `ss -Hltnup` as a node prints it (Netid first).
const SS: &str = "tcp   LISTEN 0      100     10.20.0.12:15000      0.0.0.0:*    users:((\"uwsgi\",pid=900,fd=3))\ntcp   LISTEN 0      80      10.20.0.12:3306       0.0.0.0:*    users:((\"mariadbd\",pid=700,fd=20))\ntcp   LISTEN 0      128     10.20.0.12:5671       0.0.0.0:*    users:((\"beam.smp\",pid=800,fd=80))\nudp   UNCONN 0      0          0.0.0.0:4789       0.0.0.0:*\n";

impl Fake {
    /// A healthy management, storage, bus and compute node.
    pub(super) fn healthy() -> Fake {
        let mut f = Fake {
            now: NOW,
            ..Fake::default()
        };
        for u in [
            "nova-compute",
            "neutron-linuxbridge-agent",
            "keystone",
            "haproxy",
            "mariadb",
            "rabbitmq-server",
            "chrony",
        ] {
            f.units
                .insert(u.into(), state("active", "running", "success"));
        }
        f.commands.insert("mysql".into(), HEALTHY_GALERA.into());
        f.commands.insert("mysql nova".into(), String::new());
        f.commands.insert("mysql nova_cell0".into(), String::new());
        f.files.insert("/etc/hostname".into(), "node3\n".into());
        f.commands
            .insert("rabbitmqctl cluster_status".into(), RABBIT_OK.into());
        f.commands
            .insert("rabbitmqctl list_queues".into(), QUEUES_OK.into());
        f.commands.insert("ss".into(), SS.into());
        f.commands
            .insert("chronyc".into(), "A9FEA9FE,169.254.169.254,3,1764500000.1,0.000012,0.0,0.0,1.0,0.0,0.1,0.01,0.01,64.0,Normal\n".into());
        f.files.insert(
            "/proc/900/cgroup".into(),
            "0::/system.slice/keystone.service\n".into(),
        );
        f.files.insert(
            "/proc/800/cgroup".into(),
            "0::/system.slice/rabbitmq-server.service\n".into(),
        );
        f.files.insert(
            "/proc/700/cgroup".into(),
            "0::/system.slice/mariadb.service\n".into(),
        );
        f.files.insert(
            "/proc/self/mounts".into(),
            "/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n".into(),
        );
        f.usage.insert(
            "/".into(),
            Usage {
                total: 100 << 30,
                available: 60 << 30,
            },
        );
        f.files.insert(
            "/proc/meminfo".into(),
            "MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:    8000000 kB\n".into(),
        );
        f.files.insert(
            "/var/log/keystone/keystone.log".into(),
            format!("{} 812 INFO keystone.server [-] started\n", ago(5)),
        );
        f.files.insert(
            "/var/lib/dpkg/info/python3-nova.list".into(),
            "/usr/lib/python3/dist-packages/nova\n".into(),
        );
        f.statuses.insert(
            pip::PIP_CHECK.join(" "),
            ran(0, "No broken requirements found.\n", ""),
        );
        f
    }
}

impl System for Fake {
    fn unit(&self, unit: &str) -> Option<UnitState> {
        self.units.get(unit).cloned()
    }
    fn journal(&self, unit: &str, _lines: usize, since: i64) -> Vec<String> {
        self.journal_since.borrow_mut().push(since);
        self.journals.get(unit).cloned().unwrap_or_default()
    }
    fn run_status(&self, argv: &[&str]) -> Result<Ran, String> {
        let key = argv.join(" ");
        self.statuses
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("{key}: not found"))
    }
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.now).unwrap()
    }
    fn run(&self, argv: &[&str]) -> Result<String, String> {
        // Keyed by the program, and for rabbitmqctl by its subcommand.
        let key = match argv {
            ["rabbitmqctl", rest @ ..] if rest.contains(&"cluster_status") => {
                "rabbitmqctl cluster_status".to_owned()
            }
            ["rabbitmqctl", rest @ ..] => {
                // Each node lists only the queues it leads, within a bound.
                assert!(
                    rest.contains(&"--local") && rest.contains(&"--timeout"),
                    "{rest:?}"
                );
                "rabbitmqctl list_queues".to_owned()
            }
            ["dpkg", "-S", pattern] => format!("dpkg -S {pattern}"),
            ["mysql", .., q] if q.contains("nova_cell0.") => "mysql nova_cell0".to_owned(),
            ["mysql", .., q] if q.contains("nova.") => "mysql nova".to_owned(),
            ["ss", args @ ..] => {
                assert_eq!(
                    args,
                    crate::desk::SS_ARGS,
                    "the desk's parser needs its columns"
                );
                "ss".to_owned()
            }
            [p, ..] => (*p).to_owned(),
            [] => String::new(),
        };
        self.commands
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("{key}: not found"))
    }
    fn read(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }
    fn tail(&self, path: &str, _bytes: u64) -> Option<(String, usize)> {
        self.files.get(path).map(|t| (t.clone(), 0))
    }
    fn usage(&self, path: &str) -> Option<Usage> {
        self.usage.get(path).cloned()
    }
    fn in_container(&self) -> bool {
        self.container
    }
    fn holds_api_address(&self) -> bool {
        self.api
    }
}

pub(super) fn diagnose(f: &Fake) -> NodeDiagnosis {
    run(&Catalog::shipped().unwrap(), f, Window::default())
}

/// The one finding of `symptom`.
pub(super) fn finding<'a>(d: &'a NodeDiagnosis, symptom: &str) -> &'a Finding {
    let found: Vec<&Finding> = d.findings.iter().filter(|f| f.symptom == symptom).collect();
    assert_eq!(found.len(), 1, "{symptom}: {:#?}", d.findings);
    found[0]
}

#[test]
fn a_healthy_node_has_no_finding_and_says_what_it_checked() {
    let d = diagnose(&Fake::healthy());
    assert!(d.findings.is_empty(), "{:#?}", d.findings);
    let healthy: Vec<&str> = d
        .checked
        .iter()
        .filter(|c| c.outcome == Outcome::Healthy)
        .map(|c| c.symptom.as_str())
        .collect();
    for s in [
        "agent.down",
        "galera.unhealthy",
        "bus.unhealthy",
        "port.taken",
        "disk.full",
        "memory.low",
        "clock.skew",
        "auth.failures",
        "python.deps",
    ] {
        assert!(healthy.contains(&s), "{s} not healthy: {:?}", d.checked);
    }
    // No API log here: the timeouts are not checked, and say so.
    let timeouts = d
        .checked
        .iter()
        .find(|c| c.symptom == "api.timeouts")
        .unwrap();
    assert!(
        matches!(timeouts.outcome, Outcome::NotHere(_)),
        "{timeouts:?}"
    );
}

#[test]
fn a_stopped_neutron_agent_is_down_because_it_was_stopped_and_offers_a_restart() {
    let mut f = Fake::healthy();
    f.units.insert(
        "neutron-linuxbridge-agent".into(),
        state("inactive", "dead", "success"),
    );
    f.files.insert(
        "/var/log/neutron/neutron-linuxbridge-agent.log".into(),
        format!(
            "{} 9 INFO neutron [-] Agent out of sync\n{} 9 ERROR neutron [-] oops\n",
            ago(3),
            ago(2)
        ),
    );
    let d = diagnose(&f);
    let a = finding(&d, "agent.down");
    assert_eq!(
        (a.subject.as_str(), a.cause.as_str()),
        ("neutron-linuxbridge-agent", "stopped")
    );
    assert_eq!(a.restart.as_deref(), Some("neutron-linuxbridge-agent"));
    // The log's ERROR line is evidence, with its file and line.
    let log = a
        .evidence
        .iter()
        .find(|e| e.source.ends_with("neutron-linuxbridge-agent.log"))
        .unwrap();
    assert_eq!((log.line, log.text.contains("oops")), (Some(2), true));
}

#[test]
fn an_agent_that_lost_the_bus_says_so() {
    let mut f = Fake::healthy();
    f.units.insert(
        "nova-compute".into(),
        state("failed", "failed", "exit-code"),
    );
    f.files.insert(
        "/var/log/nova/nova-compute.log".into(),
        format!("{} 7 INFO x\n{} 7 ERROR oslo.messaging._drivers.impl_rabbit [-] AMQP server on 10.20.0.11:5672 is unreachable: Connection refused\n", ago(9), ago(8)),
    );
    let a = finding(&diagnose(&f), "agent.down").clone();
    assert_eq!(a.cause, "bus-unreachable");
    // A crash with nothing recognisable is the catch-all.
    let mut f = Fake::healthy();
    f.units.insert(
        "nova-compute".into(),
        state("failed", "failed", "exit-code"),
    );
    f.journals.insert(
        "nova-compute".into(),
        vec!["Traceback (most recent call last):".into()],
    );
    assert_eq!(finding(&diagnose(&f), "agent.down").cause, "crashed");
}

#[test]
fn galera_stopped_here_is_not_the_same_as_a_member_missing_elsewhere() {
    let mut f = Fake::healthy();
    f.units
        .insert("mariadb".into(), state("inactive", "dead", "success"));
    let g = finding(&diagnose(&f), "galera.unhealthy").clone();
    assert_eq!(
        (g.cause.as_str(), g.restart.as_deref()),
        ("stopped", Some("mariadb"))
    );
    // On the others: two of three, no restart offered there. The node that bootstrapped the cluster
    // runs with `gcomm://`: the members are the rendered configuration's.
    let mut f = Fake::healthy();
    f.commands.insert(
        "mysql".into(),
        HEALTHY_GALERA
            .replace("size\t3", "size\t2")
            .replace("gcomm://10.20.0.11,10.20.0.12,10.20.0.13", "gcomm://"),
    );
    f.files.insert(
        probe::GALERA_CNF.into(),
        "[galera]\nwsrep_on = ON\nwsrep_cluster_address = gcomm://10.20.0.11,10.20.0.12,10.20.0.13\n".into(),
    );
    let g = finding(&diagnose(&f), "galera.unhealthy").clone();
    assert_eq!(g.cause, "member-missing");
    let mut f = Fake::healthy();
    f.commands
        .insert("mysql".into(), HEALTHY_GALERA.replace("size\t3", "size\t2"));
    let g = finding(&diagnose(&f), "galera.unhealthy").clone();
    assert_eq!((g.cause.as_str(), g.restart), ("member-missing", None));
    assert!(
        g.evidence[0].text.starts_with("cluster size 2 of 3"),
        "{:?}",
        g.evidence
    );
    // Non-primary wins over the size.
    let mut f = Fake::healthy();
    f.commands.insert(
        "mysql".into(),
        HEALTHY_GALERA
            .replace("size\t3", "size\t1")
            .replace("Primary", "non-Primary")
            .replace("Synced", "Initialized"),
    );
    assert_eq!(
        finding(&diagnose(&f), "galera.unhealthy").cause,
        "non-primary"
    );
}

#[test]
fn rabbitmq_partitions_missing_nodes_and_backlogs() {
    let mut f = Fake::healthy();
    f.commands.insert(
        "rabbitmqctl cluster_status".into(),
        r#"{"disk_nodes":["rabbit@stackbox","rabbit@node2","rabbit@node3"],"running_nodes":["rabbit@stackbox","rabbit@node2"],"partitions":{}}"#.into(),
    );
    f.commands.insert(
        "rabbitmqctl list_queues".into(),
        r#"[{"name":"q-agent-notifier-port-update","messages":5000,"consumers":0}]"#.into(),
    );
    let d = diagnose(&f);
    let causes: Vec<(&str, &str)> = d
        .findings
        .iter()
        .map(|f| (f.subject.as_str(), f.cause.as_str()))
        .collect();
    assert_eq!(
        causes,
        [
            ("rabbit@node3", "node-missing"),
            ("queue q-agent-notifier-port-update", "backlog")
        ]
    );
    let mut f = Fake::healthy();
    f.commands.insert(
        "rabbitmqctl cluster_status".into(),
        RABBIT_OK.replace(
            r#""partitions":{}"#,
            r#""partitions":{"rabbit@node2":["rabbit@stackbox"]}"#,
        ),
    );
    assert_eq!(finding(&diagnose(&f), "bus.unhealthy").cause, "partition");
    // Not JSON: the check failed, it is not healthy.
    let mut f = Fake::healthy();
    f.commands.insert(
        "rabbitmqctl cluster_status".into(),
        "Error: unable to perform an operation".into(),
    );
    let d = diagnose(&f);
    let c = d
        .checked
        .iter()
        .find(|c| c.symptom == "bus.unhealthy")
        .unwrap();
    assert!(
        matches!(&c.outcome, Outcome::Failed(why) if why.contains("not JSON")),
        "{c:?}"
    );
}

#[test]
fn a_port_held_by_another_process_is_found_by_its_cgroup() {
    let mut f = Fake::healthy();
    f.units.insert(
        "keystone".into(),
        state("activating", "auto-restart", "exit-code"),
    );
    f.commands.insert(
        "ss".into(),
        SS.replace("uwsgi\",pid=900", "python3\",pid=4242"),
    );
    f.files.insert(
        "/proc/4242/cgroup".into(),
        "0::/user.slice/session-1.scope\n".into(),
    );
    let d = diagnose(&f);
    let p = finding(&d, "port.taken");
    assert_eq!(
        (p.subject.as_str(), p.cause.as_str()),
        ("port 15000", "other-process")
    );
    assert_eq!(
        p.evidence[0].text,
        "port 15000 is held by python3 (pid 4242), not by keystone"
    );
    assert_eq!(p.restart.as_deref(), Some("keystone"));
    // A process named like the service but outside its unit is still another process.
    let mut f = Fake::healthy();
    f.files.insert(
        "/proc/900/cgroup".into(),
        "0::/system.slice/other.service\n".into(),
    );
    assert_eq!(finding(&diagnose(&f), "port.taken").cause, "other-process");
    // Active but not listening.
    let mut f = Fake::healthy();
    f.commands.insert("ss".into(), String::new());
    let d = diagnose(&f);
    let causes: Vec<&str> = d.findings.iter().map(|f| f.cause.as_str()).collect();
    // keystone's, MariaDB's and RabbitMQ's ports (the fake's active units with a port).
    assert_eq!(
        causes,
        ["not-listening", "not-listening", "not-listening"],
        "{:#?}",
        d.findings
    );
}

#[test]
fn a_full_file_system_memory_and_the_clock() {
    let mut f = Fake::healthy();
    f.files
        .get_mut("/proc/self/mounts")
        .unwrap()
        .push_str("/dev/loop0 /srv/fill ext4 rw 0 0\n/dev/loop0 /srv/fill ext4 rw 0 0\n");
    f.usage.insert(
        "/srv/fill".into(),
        Usage {
            total: 15 << 20,
            available: 0,
        },
    );
    let d = diagnose(&f);
    let disk = finding(&d, "disk.full");
    assert_eq!(
        (disk.subject.as_str(), disk.cause.as_str()),
        ("/srv/fill", "filling")
    );
    assert_eq!(
        disk.evidence[0].text,
        "/srv/fill (ext4 on /dev/loop0): 100% used, 0 MiB free of 15 MiB"
    );

    let mut f = Fake::healthy();
    f.files.insert(
        "/proc/meminfo".into(),
        "MemTotal: 16000000 kB\nMemAvailable: 320000 kB\n".into(),
    );
    assert!(
        finding(&diagnose(&f), "memory.low").evidence[0]
            .text
            .starts_with("MemAvailable 2% of MemTotal")
    );

    let mut f = Fake::healthy();
    f.commands.insert(
        "chronyc".into(),
        "0,,0,0.0,-1.25,0,0,0,0,0,0,0,0,Not synchronised\n".into(),
    );
    let c = finding(&diagnose(&f), "clock.skew").clone();
    assert_eq!(c.cause, "unsynchronised");
    assert!(
        c.evidence
            .iter()
            .any(|e| e.text == "System time : 1.250 seconds fast of NTP time"),
        "{:?}",
        c.evidence
    );
    let mut f = Fake::healthy();
    f.units
        .insert("chrony".into(), state("inactive", "dead", "success"));
    assert_eq!(finding(&diagnose(&f), "clock.skew").cause, "chrony-stopped");
    // A container keeps no clock of its own: not checked there, and it says so.
    let mut f = Fake::healthy();
    f.container = true;
    f.units.remove("chrony");
    let d = diagnose(&f);
    assert!(d.findings.is_empty());
    assert!(
        d.checked
            .iter()
            .any(|c| c.symptom == "clock.skew" && matches!(c.outcome, Outcome::NotHere(_)))
    );
}

#[test]
fn repeated_authentication_failures_name_their_lines() {
    let mut f = Fake::healthy();
    let mut log = format!("{} 812 INFO keystone [-] start\n", ago(20));
    for i in 0..6 {
        log.push_str(&format!("{} 812 WARNING keystone.server.flask.application [req-{i}] Authorization failed. The request you have made requires authentication. from 203.0.113.9\n", ago(10)));
    }
    f.files.insert("/var/log/keystone/keystone.log".into(), log);
    let d = diagnose(&f);
    let a = finding(&d, "auth.failures");
    assert_eq!(a.cause, "credentials");
    assert_eq!(
        a.evidence[0].text,
        "6 matching lines since 2026-11-30 19:00:00"
    );
    assert_eq!(a.evidence[1].line, Some(2));
    // Four are not enough.
    let mut f = Fake::healthy();
    f.files.insert(
        "/var/log/keystone/keystone.log".into(),
        format!("{} 1 WARNING x Authorization failed\n", ago(1)).repeat(4),
    );
    assert!(diagnose(&f).findings.is_empty());
}

#[test]
fn the_diagnosis_travels_as_json_and_back() {
    let mut f = Fake::healthy();
    f.units
        .insert("mariadb".into(), state("inactive", "dead", "success"));
    let d = diagnose(&f);
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains(r#""outcome":"found","detail":1"#), "{json}");
    let back: NodeDiagnosis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    let text = across::render_finding("node2", &d.findings[0]);
    assert!(
        text.starts_with("node2: galera.unhealthy mariadb ("),
        "{text}"
    );
    assert!(
        text.contains("  action: stackboxd cluster restart mariadb --node node2\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "    probe: mariadb is not running: state: inactive (dead), result success\n"
        ),
        "{text}"
    );
}

#[test]
fn a_vm_in_error_is_reported_by_its_compute_node_with_the_fault_and_its_qemu_log() {
    let mut f = Fake::healthy();
    f.commands.insert(
        "mysql nova".into(),
        "6f1c\tweb-1\tnode3\tinstance-0000000a\t500: internal error: process exited while connecting to monitor\n\
         9d2e\tdb-1\tnode2\tinstance-0000000c\t500: elsewhere\n"
            .into(),
    );
    f.files.insert(
        "/var/log/libvirt/qemu/instance-0000000a.log".into(),
        "2026-11-30 19:24:00.000+0000: starting up\n2026-11-30T19:25:00.000000Z qemu-system-x86_64: -blockdev {...}: Could not open '/var/lib/nova/instances/6f1c/disk': Permission denied\n".into(),
    );
    let d = diagnose(&f);
    // node2's server is node2's to report.
    let v = finding(&d, "vm.error");
    assert_eq!(
        (v.subject.as_str(), v.cause.as_str()),
        ("server web-1 (6f1c)", "disk-permission")
    );
    assert_eq!(v.restart, None);
    let qemu = v
        .evidence
        .iter()
        .find(|e| e.source.ends_with("instance-0000000a.log"))
        .unwrap();
    assert_eq!(qemu.line, Some(2));
    // A scheduling failure (no host, in cell0) is reported by the API address's holder only.
    let mut f = Fake::healthy();
    f.commands.insert(
        "mysql nova_cell0".into(),
        "77aa\tbig\t\tinstance-0000000b\t500: No valid host was found. \n".into(),
    );
    assert!(diagnose(&f).findings.is_empty());
    f.api = true;
    let d = diagnose(&f);
    let v = finding(&d, "vm.error");
    assert_eq!(v.cause, "no-valid-host");
    assert_eq!(
        v.evidence[0].text,
        "server 77aa (big) is in ERROR on no compute node (it was never scheduled)"
    );
    // The other classes, from nova's fault alone.
    for (fault, cause) in [
        (
            "500: unsupported configuration: guest CPU doesn't match specification: missing features: avx512f",
            "instruction-set",
        ),
        ("404: Image 1b2c could not be found.", "image-not-found"),
        ("500: Something else", "other"),
    ] {
        let mut f = Fake::healthy();
        f.commands.insert(
            "mysql nova".into(),
            format!("6f1c\tweb-1\tnode3\tinstance-0000000a\t{fault}\n"),
        );
        assert_eq!(finding(&diagnose(&f), "vm.error").cause, cause, "{fault}");
    }
    // Without nova's database here: not checked, and said.
    let mut f = Fake::healthy();
    f.commands.remove("mysql nova");
    f.commands.insert("mysql".into(), HEALTHY_GALERA.into());
    let d = diagnose(&f);
    let c = d.checked.iter().find(|c| c.symptom == "vm.error").unwrap();
    assert!(matches!(c.outcome, Outcome::Failed(_)), "{c:?}");
}
