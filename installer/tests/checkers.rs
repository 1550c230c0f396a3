//! The daemons' own checkers on the files the plan renders for them, for every example's nodes:
//! `haproxy -c` on haproxy.cfg (with an endpoint certificate made the way `stackboxd certificate` makes
//! it) and `keepalived -t` on keepalived.conf (in a private network namespace that has the interface it
//! names), `systemd-analyze verify` on MariaDB's drop-in and the dashboard's unit. Needs root and
//! Debian's `haproxy` and `keepalived` (deps/test.txt): when one is missing the test fails, it does not
//! skip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::collections::BTreeMap;
use std::path::Path;

use stackbox_common::cmd::Command;
use stackbox_hardware_profiles::Catalog;
use stackbox_installer::certificate::{ENDPOINT_PEM, Paths, generate};
use stackbox_installer::plan::{Action, FileSpec};
use stackbox_installer::{ClusterConfig, build_plan};

fn require(program: &str, package: &str) {
    if let Err(e) = Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", program])
        .run()
    {
        panic!(
            "`{program}` is needed by this test: apt-get install {package} (deps/test.txt): {e}"
        );
    }
}

/// Every example's (node, file) pairs for the files at `path`.
fn rendered(path: &str) -> Vec<(String, FileSpec)> {
    let mut out = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        // Cluster configurations only: examples/answer-files/ holds answer files.
        if !file.is_file() {
            continue;
        }
        let config =
            ClusterConfig::from_toml("example", &std::fs::read_to_string(&file).unwrap()).unwrap();
        let plan = build_plan(&config, &Catalog::embedded().unwrap(), &BTreeMap::new()).unwrap();
        for step in &plan.steps {
            if let Action::Files { files } = &step.action {
                out.extend(
                    files
                        .iter()
                        .filter(|f| f.path == path)
                        .map(|f| (format!("{}: {}", file.display(), step.node), f.clone())),
                );
            }
        }
    }
    out
}

#[test]
fn haproxy_accepts_every_rendered_haproxy_cfg() {
    require("haproxy", "haproxy");
    let configs = rendered("/etc/haproxy/haproxy.cfg");
    assert!(configs.len() >= 4, "{}", configs.len());
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths {
        ca_cert: tmp.path().join("ca.pem"),
        ca_key: tmp.path().join("ca-key.pem"),
        endpoint: tmp.path().join("stackbox.pem"),
    };
    generate(&paths, &["10.20.0.10".to_owned(), "stackbox".to_owned()]).unwrap();
    for (node, cfg) in configs {
        assert!(cfg.content.contains(ENDPOINT_PEM), "{node}");
        let file = tmp.path().join("haproxy.cfg");
        let text = cfg
            .content
            .replace(ENDPOINT_PEM, &paths.endpoint.display().to_string());
        std::fs::write(&file, text).unwrap();
        Command::new("haproxy")
            .args(["-c", "-f"])
            .arg(&file)
            .run()
            .unwrap_or_else(|e| panic!("{node}: haproxy -c refuses its haproxy.cfg: {e}"));
    }
}

#[test]
fn keepalived_accepts_every_rendered_keepalived_conf() {
    require("keepalived", "keepalived");
    require("unshare", "util-linux");
    let configs = rendered("/etc/keepalived/keepalived.conf");
    // The all-in-one (a static address) and the three management nodes (VRRP).
    assert!(configs.len() >= 4, "{}", configs.len());
    let mut vrrp = 0;
    for (node, conf) in configs {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("keepalived.conf");
        std::fs::write(&file, &conf.content).unwrap();
        vrrp += usize::from(conf.content.contains("vrrp_instance"));
        // The interface the examples name, in a namespace of the test's own.
        Command::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "ip link add eth0 type veth peer name eth0-peer && keepalived -t -f \"$1\"",
                "keepalived-check",
            ])
            .arg(&file)
            .run()
            .unwrap_or_else(|e| panic!("{node}: keepalived -t refuses its keepalived.conf: {e}"));
        assert!(
            !conf.content.contains("vrrp_instance") || conf.content.contains("unicast_peer {"),
            "{node}: VRRP without unicast peers would multicast:\n{}",
            conf.content
        );
    }
    assert!(vrrp >= 3, "{vrrp}");
}

/// A must-fail input for the checker itself: keepalived refuses VRRP with an interface that is not
/// there, so the check above is one that can fail.
#[test]
fn keepalived_check_fails_on_a_missing_interface() {
    require("keepalived", "keepalived");
    let (_, conf) = rendered("/etc/keepalived/keepalived.conf")
        .into_iter()
        .find(|(_, c)| c.content.contains("vrrp_instance"))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("keepalived.conf");
    std::fs::write(&file, conf.content.replace("eth0", "nosuch0")).unwrap();
    let refused = Command::new("unshare")
        .args(["-n", "keepalived", "-t", "-f"])
        .arg(&file)
        .run();
    assert!(
        refused.is_err(),
        "keepalived -t accepted a missing interface"
    );
}

/// `systemd-analyze verify` of Debian's mariadb.service (from the host's mariadb-server) with the
/// plan's drop-in; the stackboxd it runs is not installed on a test host, so `/bin/true` stands in.
/// Returns what systemd complained about.
fn verify_mariadb_with(drop_in: &str) -> String {
    require("systemd-analyze", "systemd");
    let unit = Path::new("/lib/systemd/system/mariadb.service");
    assert!(
        unit.exists(),
        "Debian's mariadb-server is needed by this test (deps/test.txt)"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(unit, tmp.path().join("mariadb.service")).unwrap();
    let dir = tmp.path().join("mariadb.service.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("stackbox-galera.conf"),
        drop_in.replace("/usr/bin/stackboxd", "/bin/true"),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .env("SYSTEMD_UNIT_PATH", format!("{}:", tmp.path().display()))
        .arg("verify")
        .arg(tmp.path().join("mariadb.service"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn systemd_accepts_the_mariadb_drop_in() {
    let drop_ins = rendered(stackbox_installer::plan::infrastructure::mariadb::DROP_IN);
    // Every storage-metadata node runs Galera, the all-in-one's one node too.
    assert!(drop_ins.len() >= 4, "{}", drop_ins.len());
    for (node, drop_in) in drop_ins {
        assert!(drop_in.content.contains("galera-start"), "{node}");
        let complaints = verify_mariadb_with(&drop_in.content);
        assert!(
            complaints.trim().is_empty(),
            "{node}: systemd-analyze verify:\n{complaints}"
        );
    }
    // The checker can fail: an unknown key is named.
    let complaints = verify_mariadb_with("[Service]\nExecStartPrae=/bin/true\n");
    assert!(complaints.contains("ExecStartPrae"), "{complaints}");
}

/// `systemd-analyze verify` of the dashboard's unit as the plan writes it (uWSGI is not installed on a
/// test host, so `/bin/true` stands in). Returns what systemd complained about.
fn verify_unit(name: &str, text: &str) -> String {
    require("systemd-analyze", "systemd");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(name), text).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .env("SYSTEMD_UNIT_PATH", format!("{}:", tmp.path().display()))
        .arg("verify")
        .arg(tmp.path().join(name))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn systemd_accepts_the_dashboard_unit() {
    use stackbox_installer::flavor::openstack::dashboard::UNIT;
    let units = rendered(&format!("/etc/systemd/system/{UNIT}"));
    // Every management node of the examples: the all-in-one's and the three-node cluster's.
    assert!(units.len() >= 4, "{}", units.len());
    for (node, unit) in units {
        assert!(unit.content.contains("User=horizon"), "{node}");
        let text = unit.content.replace("/usr/bin/uwsgi_python3", "/bin/true");
        let complaints = verify_unit(UNIT, &text);
        assert!(
            complaints.trim().is_empty(),
            "{node}: systemd-analyze verify:\n{complaints}"
        );
    }
    // The checker can fail: an unknown key is named.
    let complaints = verify_unit(UNIT, "[Service]\nExecStrat=/bin/true\n");
    assert!(complaints.contains("ExecStrat"), "{complaints}");
}
