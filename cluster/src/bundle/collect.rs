//! What a node puts in the support bundle, read from its root and its commands: the install journal,
//! the answers and cluster files, the hardware report, failed units and their journals, the services'
//! logs (their last [`LOG_TAIL`] bytes), the rendered configuration, Galera's and RabbitMQ's status, the
//! firewall's ruleset, addresses, routes and listening sockets, and the node's diagnoses. Whatever
//! cannot be had is listed with the reason. Nothing here is redacted yet: [`super::build`] does that before anything is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stackbox_common::cmd::Command;

/// How much of a log file is taken: its end.
pub const LOG_TAIL: u64 = 512 * 1024;
/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One file of the bundle, before redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its path inside the node's folder of the bundle.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// What a node's collection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// The files, in the order collected.
    pub parts: Vec<Part>,
    /// What could not be had: (what, why).
    pub missing: Vec<(String, String)>,
}

/// Files of the state directory that go into the bundle (never the setup token, keys, the join code or
/// the admin's password hash: those are left out, not only redacted).
const STATE_FILES: &[&str] = &[
    "hardware.json",
    "network.json",
    "cluster.json",
    "roles.json",
    "joined-roles.json",
    "settings.json",
    "zero-touch.json",
    "cluster/config.toml",
    "cluster/members.json",
    "cluster/joined.json",
    "cluster/galera-start.json",
    "cluster/revoked.json",
    "network/applied.json",
    "network/pending.json",
    "network/history.jsonl",
];

/// Configuration directories and files taken whole (text files only).
const CONFIG: &[&str] = &[
    "etc/stackbox",
    "etc/keystone",
    "etc/glance",
    "etc/placement",
    "etc/nova",
    "etc/neutron",
    "etc/mysql/mariadb.conf.d",
    "etc/systemd/system/mariadb.service.d",
    "etc/rabbitmq",
    "etc/haproxy/haproxy.cfg",
    "etc/keepalived/keepalived.conf",
    "etc/memcached.conf",
    "etc/nftables.conf",
    "etc/nftables.d",
    "etc/systemd/network",
    "etc/chrony/sources.d",
    "etc/hosts",
    "etc/default/stackbox",
];

/// Files never taken, even inside a directory that is: secrets and keys.
fn never(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "secrets.toml"
        || name.ends_with(".key")
        || name.ends_with("-key.pem")
        || name == "stackbox.pem"
        || name == "key.pem"
        // The daemons' certificates the coordinator assigned, each with its key.
        || path.parent().is_some_and(|p| p.ends_with("etc/stackbox/tls"))
        || name == ".erlang.cookie"
        || name.starts_with("fernet")
        || name == "credential-keys"
}

/// Log directories whose `*.log` files are taken (their ends).
const LOGS: &[&str] = &[
    "var/log/keystone",
    "var/log/glance",
    "var/log/placement",
    "var/log/nova",
    "var/log/neutron",
    "var/log/mysql",
    "var/log/rabbitmq",
    "var/log/haproxy.log",
    "var/log/libvirt/qemu",
];

/// Commands whose output goes in: (file, argv).
const COMMANDS: &[(&str, &[&str])] = &[
    (
        "status/failed-units.txt",
        &[
            "systemctl",
            "--failed",
            "--no-legend",
            "--plain",
            "--no-pager",
        ],
    ),
    (
        "status/units.txt",
        &[
            "systemctl",
            "list-units",
            "--type=service",
            "--no-legend",
            "--plain",
            "--no-pager",
        ],
    ),
    (
        "status/galera.txt",
        &[
            "mysql",
            "--protocol=socket",
            "-N",
            "-B",
            "-e",
            "SHOW GLOBAL STATUS LIKE 'wsrep%'",
        ],
    ),
    ("status/rabbitmq.txt", &["rabbitmqctl", "cluster_status"]),
    (
        "status/rabbitmq-queues.txt",
        &[
            "rabbitmqctl",
            "--quiet",
            "list_queues",
            "name",
            "type",
            "messages",
            "consumers",
        ],
    ),
    ("status/nft-ruleset.txt", &["nft", "list", "ruleset"]),
    ("status/addresses.txt", &["ip", "-d", "address"]),
    (
        "status/routes.txt",
        &["ip", "route", "show", "table", "all"],
    ),
    ("status/listening.txt", &["ss", "-Hltnup"]),
    ("status/disk.txt", &["df", "-h"]),
    ("status/memory.txt", &["free", "-m"]),
    ("status/time.txt", &["chronyc", "tracking"]),
];

/// Collects this node's files under `root` (`/` on a node) with its state directory `state` (absolute,
/// under `root`) and the install journal `journal`, and runs the commands (on this machine).
pub fn collect(root: &Path, state: &Path, journal: Option<String>) -> Collected {
    let mut c = Collected::default();
    for name in STATE_FILES {
        let path = under(root, &state.join(name));
        if path.is_file() {
            read_into(&mut c, &format!("state/{name}"), &path, None);
        }
    }
    match journal {
        Some(text) => c.parts.push(Part {
            name: "install/journal.txt".to_owned(),
            text,
        }),
        None => c.missing.push((
            "install/journal.txt".to_owned(),
            "no install journal on this node".to_owned(),
        )),
    }
    for entry in CONFIG {
        walk(&mut c, root, &root.join(entry), None);
    }
    for entry in LOGS {
        walk(&mut c, root, &root.join(entry), Some(LOG_TAIL));
    }
    for (name, argv) in COMMANDS {
        run_into(&mut c, name, argv);
    }
    failed_unit_journals(&mut c);
    diagnoses(&mut c, root);
    c
}

/// The troubleshooting matrix run on this node, as `stackboxd diagnose` prints it (its default window).
fn diagnoses(c: &mut Collected, root: &Path) {
    match crate::diagnose::local(root, crate::diagnose::Window::default()) {
        Ok(d) => {
            let all = crate::diagnose::across::Diagnosis {
                nodes: vec![crate::diagnose::across::NodeAnswer {
                    node: "this node".to_owned(),
                    error: None,
                    diagnosis: d,
                }],
            };
            c.parts.push(Part {
                name: "status/diagnoses.txt".to_owned(),
                text: crate::diagnose::across::render_text(&all),
            });
        }
        Err(e) => c.missing.push((
            "status/diagnoses.txt".to_owned(),
            stackbox_common::error::chain(&e),
        )),
    }
}

/// `path` (absolute) under `root`.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Every text file under `path` (or `path` itself), named by its path below `root`.
fn walk(c: &mut Collected, root: &Path, path: &Path, tail: Option<u64>) {
    if never(path) {
        return;
    }
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            c.missing
                .push((shown(root, path), "the directory cannot be read".to_owned()));
            return;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if tail.is_some() && p.is_file() && p.extension().is_none_or(|e| e != "log") {
                continue;
            }
            walk(c, root, &p, tail);
        }
    } else if path.is_file() {
        read_into(c, &shown(root, path), path, tail);
    }
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Reads `path` (its last `tail` bytes when given) into the part `name`; a file that is not text is
/// listed as missing.
fn read_into(c: &mut Collected, name: &str, path: &Path, tail: Option<u64>) {
    let bytes = match read_tail(path, tail) {
        Ok(b) => b,
        Err(e) => {
            c.missing
                .push((name.to_owned(), format!("cannot be read: {e}")));
            return;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => c.parts.push(Part {
            name: name.to_owned(),
            text,
        }),
        Err(e) => {
            // A log cut in the middle of a character: the rest is text.
            let bytes = e.into_bytes();
            let text = String::from_utf8_lossy(&bytes);
            if text.chars().filter(|&ch| ch == '\u{fffd}').count() > 4 {
                c.missing
                    .push((name.to_owned(), "not a text file".to_owned()));
            } else {
                c.parts.push(Part {
                    name: name.to_owned(),
                    text: text.into_owned(),
                });
            }
        }
    }
}

fn read_tail(path: &Path, tail: Option<u64>) -> std::io::Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    if let Some(tail) = tail {
        let len = file.metadata()?.len();
        if len > tail {
            file.seek(SeekFrom::Start(len - tail))?;
        }
    }
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

/// Runs `argv` into the part `name`: its output, or why there is none (missing).
fn run_into(c: &mut Collected, name: &str, argv: &[&str]) {
    if argv.is_empty() {
        return;
    }
    // coreutils' timeout: a command that hangs (a RabbitMQ that does not answer) is killed.
    let limit = COMMAND_TIMEOUT.as_secs().to_string();
    match Command::new("timeout")
        .args(["--kill-after=5", limit.as_str()])
        .args(argv.iter().copied())
        .run()
    {
        Ok(out) => c.parts.push(Part {
            name: name.to_owned(),
            text: format!("$ {}\n{}{}", argv.join(" "), out.stdout, out.stderr),
        }),
        Err(e) => c
            .missing
            .push((name.to_owned(), format!("`{}`: {e}", argv.join(" ")))),
    }
}

/// The last 200 journal lines of every failed unit.
fn failed_unit_journals(c: &mut Collected) {
    let failed: Vec<String> = c
        .parts
        .iter()
        .find(|p| p.name == "status/failed-units.txt")
        .map(|p| {
            p.text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for unit in failed {
        run_into(
            c,
            &format!("journal/{unit}.txt"),
            &["journalctl", "-u", &unit, "-n", "200", "--no-pager"],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_secrets_files_are_never_taken() {
        for p in [
            "etc/stackbox/secrets.toml",
            "etc/stackbox/ca-key.pem",
            "var/lib/stackbox/tls/wizard.key",
            "etc/haproxy/stackbox.pem",
            "var/lib/rabbitmq/.erlang.cookie",
            "etc/keystone/fernet-keys",
            "etc/mysql/tls/key.pem",
            "etc/rabbitmq/tls/key.pem",
            "etc/stackbox/tls/mariadb.pem",
        ] {
            assert!(never(Path::new(p)), "{p}");
        }
        for p in [
            "etc/nova/nova.conf",
            "etc/stackbox/ca.pem",
            "etc/hosts",
            "etc/rabbitmq/tls/cert.pem",
        ] {
            assert!(!never(Path::new(p)), "{p}");
        }
    }
}
