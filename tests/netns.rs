//! NIC enumeration over real netlink: a private network namespace with bridge, veth and macvlan links,
//! and `stackboxd check` run inside it. (A `dummy` link would do as well as the bridge, but CI's kernel
//! runs without the dummy module and a container cannot load it.) Needs root and iproute2's `ip`; without them the test fails, it does
//! not skip. No traffic leaves the namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::process::Command;

struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        ip(&["netns", "add", name]);
        Netns(name.to_owned())
    }

    fn exec(&self, args: &[&str]) {
        let mut full = vec!["-n", &self.0];
        full.extend_from_slice(args);
        ip(&full);
    }
}

impl Netns {
    /// `stackboxd check --profile lab --format json` run inside the namespace.
    fn check(&self) -> serde_json::Value {
        let bin = env!("CARGO_BIN_EXE_stackboxd");
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0,
                bin,
                "check",
                "--profile",
                "lab",
                "--format",
                "json",
            ])
            .env_remove("STACKBOX_PROFILE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{stderr}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2's `ip` is needed for this test (apt-get install iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn netlink_probe_sees_the_namespaces_links() {
    let ns = Netns::new(&format!("stackbox-test-{}", std::process::id()));
    ns.exec(&[
        "link",
        "add",
        "br0",
        "address",
        "02:00:00:00:0a:01",
        "type",
        "bridge",
    ]);
    ns.exec(&["link", "set", "br0", "mtu", "9000", "up"]);
    ns.exec(&[
        "link",
        "add",
        "veth0",
        "address",
        "02:00:00:00:0b:01",
        "type",
        "veth",
        "peer",
        "name",
        "veth1",
    ]);
    ns.exec(&[
        "link", "add", "mv0", "link", "veth0", "type", "macvlan", "mode", "bridge",
    ]);
    ns.exec(&["link", "set", "veth0", "up"]);
    ns.exec(&["link", "set", "veth1", "up"]);
    ns.exec(&["addr", "add", "192.0.2.1/24", "dev", "veth0"]);

    let report = ns.check();
    let nics = report["facts"]["nics"].as_array().unwrap();
    let names: Vec<&str> = nics.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["br0", "mv0", "veth0", "veth1"],
        "loopback is left out, nothing else is there"
    );
    let nic = |name: &str| nics.iter().find(|n| n["name"] == name).unwrap();
    assert_eq!(nic("br0")["mac"], "02:00:00:00:0a:01");
    assert_eq!(nic("br0")["mtu"], 9000);
    assert_eq!(nic("br0")["kind"], "bridge");
    assert_eq!(nic("br0")["physical"], false);
    assert_eq!(nic("mv0")["kind"], "macvlan");
    assert_eq!(nic("veth0")["kind"], "veth");
    assert_eq!(nic("veth0")["mac"], "02:00:00:00:0b:01");
    assert_eq!(nic("veth0")["carrier"], true, "both ends are up");
    assert_eq!(nic("veth0")["operstate"], "up");
    // Under the lab profile veths and macvlans count as uplinks, the bridge does not.
    let count = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "nic.count")
        .unwrap();
    assert_eq!(count["summary"], "3 NICs (mv0, veth0, veth1)", "{count}");

    // Take one end down: the other loses carrier, and the probe sees it.
    ns.exec(&["link", "set", "veth1", "down"]);
    let report = ns.check();
    let veth0 = report["facts"]["nics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "veth0")
        .unwrap()
        .clone();
    assert_eq!(veth0["carrier"], false);
}

#[test]
fn tune_treats_a_read_only_proc_sys_as_a_warning() {
    // A private mount namespace makes a read-only bind mount of a fake /proc/sys, as a container has.
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("proc/sys/net/ipv4/ip_forward");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, "0\n").unwrap();
    let sys = tmp.path().join("proc/sys").display().to_string();
    let script = format!(
        "mount --bind {sys} {sys} && mount -o remount,bind,ro {sys} && exec {} tune --root {}",
        env!("CARGO_BIN_EXE_stackboxd"),
        tmp.path().display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("util-linux's `unshare` is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("WARN      net.ipv4.ip_forward: read-only here"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "0\n");
}
