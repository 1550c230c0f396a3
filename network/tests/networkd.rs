//! systemd-networkd itself reads every rendered shape: each in a private network and mount namespace
//! (veth NICs, its own sysfs mounted read-only so networkd takes the links as initialised without udev,
//! tmpfs over `/etc/systemd/network` and `/run/systemd`). For every shape, networkd must report no line of
//! any file as wrong; where the running kernel has every link kind the shape needs, the links must come up
//! as rendered: the bridge with its address and MTU, the NIC in the bridge, the data NIC with its own
//! address. CI's kernel has no bonding and no 802.1Q module (a container cannot load them): for the bond
//! and VLAN shapes this test checks the parse only, and says so; the kernel's list is printed.
//!
//! Needs root, util-linux's `unshare` and `nsenter`, iproute2 and `/lib/systemd/systemd-networkd`: without
//! them the test fails. No traffic leaves the namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackbox_network::{Addressing, Bond, BondMode, NetworkSettings, render_networkd};

const NETWORKD: &str = "/lib/systemd/systemd-networkd";

/// A private network and mount namespace, held open by a sleeping shell.
struct Namespace {
    holder: Child,
    networkd: Option<Child>,
}

impl Namespace {
    /// A namespace with networkd's directories on tmpfs, its own sysfs, and veth NICs eno1..eno3 (each
    /// with its peer up, so that the NIC gets carrier).
    fn new() -> Namespace {
        let holder = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount -t tmpfs tmpfs /etc/systemd/network && mount -t tmpfs tmpfs /run/systemd && \
                 mkdir /run/systemd/netif && chown systemd-network: /run/systemd/netif && \
                 mount -t sysfs -o ro sysfs /sys && echo ready && exec sleep 600",
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) must be installed");
        let mut ns = Namespace {
            holder,
            networkd: None,
        };
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(ns.holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "the namespace was not set up");
        ns.sh("ip link set lo up");
        for nic in ["eno1", "eno2", "eno3"] {
            ns.sh(&format!(
                "ip link add {nic} type veth peer name p{nic} && ip link set p{nic} up"
            ));
        }
        ns
    }

    /// Runs a shell command inside; returns its stdout, or panics with its stderr.
    fn sh(&self, script: &str) -> String {
        let out = self.command(script).output().unwrap();
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Whether a shell command inside succeeds.
    fn ok(&self, script: &str) -> bool {
        self.command(script)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    fn command(&self, script: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args([
            "-t",
            &self.holder.id().to_string(),
            "-n",
            "-m",
            "sh",
            "-c",
            script,
        ]);
        c
    }

    /// Writes the files and starts networkd, its log to `log`.
    fn start_networkd(&mut self, files: &[(String, String)], log: &Path) {
        for (name, text) in files {
            let path = format!("/etc/systemd/network/{name}");
            let mut c = self.command(&format!("cat > {path}"));
            let mut child = c.stdin(Stdio::piped()).spawn().unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
            assert!(child.wait().unwrap().success());
        }
        let log = std::fs::File::create(log).unwrap();
        let child = self
            .command(&format!("exec {NETWORKD}"))
            .env("SYSTEMD_LOG_LEVEL", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.networkd = Some(child);
    }

    /// Waits until `script` succeeds inside, for at most 15 s.
    fn wait_for(&self, what: &str, script: &str) {
        let start = Instant::now();
        while !self.ok(script) {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{what}: not so after 15 s (`{script}`); links:\n{}",
                self.sh("ip -d addr")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(mut n) = self.networkd.take() {
            let _ = n.kill();
            let _ = n.wait();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn base() -> NetworkSettings {
    NetworkSettings {
        hostname: "node1".to_owned(),
        management_nic: "eno1".to_owned(),
        data_nic: "eno2".to_owned(),
        addressing: Addressing::Static {
            address: "10.0.0.5/24".parse().unwrap(),
            gateway: "10.0.0.1".parse().unwrap(),
            dns: vec!["10.0.0.53".parse().unwrap()],
        },
        bridge: "br-mgmt".to_owned(),
        vlan: None,
        mtu: 9000,
        vxlan_min: 1,
        vxlan_max: 1000,
        bonds: vec![],
        management_mtu: None,
        data_address: Some("10.30.0.5/24".parse().unwrap()),
        ntp: vec![],
    }
}

/// The lines of networkd's log that name a line of one of its files: a key or value it refused.
fn file_complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.starts_with("/etc/systemd/network/"))
        .collect()
}

/// Runs networkd on the settings' files; returns the namespace (networkd running) and its log.
fn networkd_on(files: &[(String, String)], log: &Path) -> Namespace {
    let mut ns = Namespace::new();
    ns.start_networkd(files, log);
    ns.wait_for(
        "networkd enumerated the links",
        &format!("grep -q 'Enumeration completed' {}", log.display()),
    );
    ns
}

fn files(s: &NetworkSettings) -> Vec<(String, String)> {
    render_networkd(s)
        .into_iter()
        .map(|f| (f.name, f.text))
        .collect()
}

#[test]
fn networkd_builds_a_bridge_with_a_static_address_and_a_data_nic() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("networkd.log");
    let ns = networkd_on(&files(&base()), &log);
    ns.wait_for(
        "the bridge holds the management address",
        "ip -br addr show br-mgmt | grep -q ' 10.0.0.5/24'",
    );
    ns.wait_for(
        "the data NIC holds its own address",
        "ip -br addr show eno2 | grep -q ' 10.30.0.5/24'",
    );
    ns.wait_for(
        "the management NIC is in the bridge",
        "ip -o link show eno1 | grep -q 'master br-mgmt'",
    );
    assert!(
        ns.ok("ip -o link show eno2 | grep -q 'mtu 9000'"),
        "{}",
        ns.sh("ip link")
    );
    assert!(ns.ok("ip -o link show br-mgmt | grep -q 'mtu 1500'"));
    assert!(
        ns.ok("ip route show default | grep -q 'via 10.0.0.1 dev br-mgmt'"),
        "the default route is the management gateway's: {}",
        ns.sh("ip route")
    );
    // The bridge keeps the NIC's MAC address, so that a DHCP server would hand it the NIC's lease.
    let mac = |dev: &str| ns.sh(&format!("cat /sys/class/net/{dev}/address"));
    assert_eq!(mac("br-mgmt"), mac("eno1"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(file_complaints(&log), Vec::<&str>::new(), "{log}");
}

#[test]
fn networkd_reads_every_shape_without_a_complaint() {
    let mut bonded = base();
    bonded.management_nic = "bond0".to_owned();
    bonded.data_nic = "bond0".to_owned();
    bonded.data_address = None;
    bonded.vlan = Some(100);
    bonded.management_mtu = Some(1500);
    bonded.bonds = vec![Bond {
        name: "bond0".to_owned(),
        mode: BondMode::Lacp,
        nics: vec!["eno1".to_owned(), "eno2".to_owned()],
    }];
    let mut backup = base();
    backup.addressing = Addressing::Dhcp {
        dns: vec!["10.0.0.53".parse().unwrap()],
    };
    backup.data_nic = "bond1".to_owned();
    backup.data_address = None;
    backup.bonds = vec![Bond {
        name: "bond1".to_owned(),
        mode: BondMode::ActiveBackup,
        nics: vec!["eno2".to_owned(), "eno3".to_owned()],
    }];
    let dir = tempfile::tempdir().unwrap();
    for (shape, s) in [
        ("vlan-on-lacp-bond", bonded),
        ("dhcp-with-backup-bond", backup),
    ] {
        let log = dir.path().join(format!("{shape}.log"));
        let _ns = networkd_on(&files(&s), &log);
        // networkd parses every file before it enumerates the links.
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(file_complaints(&log), Vec::<&str>::new(), "{shape}: {log}");
        println!(
            "{shape}: parsed by networkd; links not built here ({})",
            log.lines()
                .find(|l| l.contains("could not be created"))
                .unwrap_or("every netdev created")
        );
    }
}

#[test]
fn a_broken_file_is_reported_by_networkd_so_the_check_can_fail() {
    let mut broken = files(&base());
    broken[0].1.push_str("Bridge=\nNoSuchKey=1\n");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("networkd.log");
    let _ns = networkd_on(&broken, &log);
    let log = std::fs::read_to_string(&log).unwrap();
    let complaints = file_complaints(&log);
    assert!(
        complaints.iter().any(|l| l.contains("NoSuchKey")),
        "networkd did not name the unknown key: {log}"
    );
}
