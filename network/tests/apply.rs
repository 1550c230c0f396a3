//! The apply engine's bookkeeping on a directory tree, with a recording host: the revert is armed before
//! any file changes, a failed probe puts every file back, a confirmation keeps the change, a restart
//! before it (the boot guard) restores the files alone, and a second apply waits for the first.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use stackbox_network::apply::{ApplyError, Host, Network, Paths};
use stackbox_network::{Addressing, NetworkSettings, NicFact};

/// Records every call; the probe answers as told.
struct Recorder {
    calls: RefCell<Vec<String>>,
    probe: Result<Vec<String>, String>,
    networkd: std::path::PathBuf,
    files_when_armed: RefCell<Option<BTreeMap<String, String>>>,
}

impl Recorder {
    fn new(root: &Path, probe: Result<Vec<String>, String>) -> Recorder {
        Recorder {
            calls: RefCell::new(Vec::new()),
            probe,
            networkd: Paths::under(root).networkd,
            files_when_armed: RefCell::new(None),
        }
    }
    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl Host for Recorder {
    fn arm_revert(&self, seconds: u64) -> Result<(), String> {
        *self.files_when_armed.borrow_mut() = Some(files(&self.networkd));
        self.calls.borrow_mut().push(format!("arm {seconds}"));
        Ok(())
    }
    fn disarm_revert(&self) -> Result<(), String> {
        self.calls.borrow_mut().push("disarm".to_owned());
        Ok(())
    }
    fn delete_link(&self, name: &str) -> Result<(), String> {
        self.calls.borrow_mut().push(format!("delete {name}"));
        Ok(())
    }
    fn reload(&self, links: &[String]) -> Result<(), String> {
        self.calls
            .borrow_mut()
            .push(format!("reload {}", links.join(",")));
        Ok(())
    }
    fn reload_time_sources(&self) -> Result<(), String> {
        self.calls.borrow_mut().push("chrony".to_owned());
        Ok(())
    }
    fn probe(&self, _: &NetworkSettings) -> Result<Vec<String>, String> {
        self.calls.borrow_mut().push("probe".to_owned());
        self.probe.clone()
    }
}

fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn nics() -> Vec<NicFact> {
    ["eth0", "eth1"]
        .iter()
        .map(|n| NicFact {
            name: (*n).to_owned(),
            carrier: Some(true),
        })
        .collect()
}

fn settings(address: &str) -> NetworkSettings {
    NetworkSettings {
        hostname: "node1".to_owned(),
        management_nic: "eth0".to_owned(),
        data_nic: "eth1".to_owned(),
        addressing: Addressing::Static {
            address: address.parse().unwrap(),
            gateway: "10.20.0.1".parse().unwrap(),
            dns: vec!["10.20.0.1".parse().unwrap()],
        },
        bridge: "br-mgmt".to_owned(),
        vlan: None,
        mtu: 1500,
        vxlan_min: 1,
        vxlan_max: 1000,
        bonds: vec![],
        management_mtu: None,
        data_address: Some("10.30.0.11/24".parse().unwrap()),
        ntp: vec!["10.20.0.1".to_owned()],
    }
}

/// A machine as the image leaves it: the DHCP catch-all and a file of the operator's own.
fn machine() -> (tempfile::TempDir, Paths) {
    let root = tempfile::tempdir().unwrap();
    let paths = Paths::under(root.path());
    std::fs::create_dir_all(&paths.networkd).unwrap();
    std::fs::write(
        paths.networkd.join("50-stackbox-dhcp.network"),
        "[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n",
    )
    .unwrap();
    std::fs::write(
        paths.networkd.join("80-operator.network"),
        "[Match]\nName=wg0\n",
    )
    .unwrap();
    (root, paths)
}

fn events(paths: &Paths) -> Vec<String> {
    std::fs::read_to_string(paths.state.join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            format!(
                "{}: {}",
                v["event"].as_str().unwrap(),
                v["reason"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_revert_is_armed_before_any_file_changes_and_a_confirmation_keeps_the_change() {
    let (root, paths) = machine();
    let before = files(&paths.networkd);
    let host = Recorder::new(root.path(), Ok(vec!["br-mgmt up".to_owned()]));
    let net = Network::new(paths.clone(), &host);
    let (pending, seen) = net.apply(&settings("10.20.0.21/24"), &nics(), 90).unwrap();
    assert_eq!(pending.deadline - pending.applied_at, 90);
    assert_eq!(seen, ["br-mgmt up"]);
    assert_eq!(host.files_when_armed.borrow().as_ref(), Some(&before));
    assert_eq!(host.calls()[0], "arm 90");
    assert!(host.calls().contains(&"probe".to_owned()));
    let now = files(&paths.networkd);
    assert!(now.contains_key("10-stackbox-br-mgmt.netdev"));
    assert!(
        !now.contains_key("50-stackbox-dhcp.network"),
        "the catch-all is replaced"
    );
    assert!(
        now.contains_key("80-operator.network"),
        "the operator's file is not ours"
    );
    assert!(
        std::fs::read_to_string(&paths.chrony)
            .unwrap()
            .contains("server 10.20.0.1 iburst")
    );

    let kept = net.confirm().unwrap();
    assert_eq!(kept, settings("10.20.0.21/24"));
    assert_eq!(host.calls().last().unwrap(), "disarm");
    let status = net.status().unwrap();
    assert_eq!(status.current, Some(settings("10.20.0.21/24")));
    assert!(status.pending.is_none());
    assert!(matches!(net.confirm(), Err(ApplyError::NothingPending)));
    assert!(!net.revert("nothing waits").unwrap());
    let log = events(&paths);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].starts_with("applied: management 10.20.0.21/24 on eth0"));
    assert!(log[1].starts_with("confirmed: "));
}

#[test]
fn a_failed_probe_puts_every_file_back_at_once_and_deletes_what_the_change_made() {
    let (root, paths) = machine();
    let before = files(&paths.networkd);
    let host = Recorder::new(
        root.path(),
        Err("the gateway 10.20.0.1 did not answer ARP".to_owned()),
    );
    let net = Network::new(paths.clone(), &host);
    let err = net
        .apply(&settings("10.20.0.21/24"), &nics(), 120)
        .unwrap_err();
    assert!(matches!(err, ApplyError::ProbeFailed(_)), "{err}");
    assert!(err.to_string().contains("previous network was put back"));
    assert_eq!(files(&paths.networkd), before);
    assert!(!paths.chrony.exists());
    assert!(net.pending().unwrap().is_none());
    let calls = host.calls();
    assert!(calls.contains(&"delete br-mgmt".to_owned()), "{calls:?}");
    assert_eq!(calls.last().unwrap(), "disarm");
    let status = net.status().unwrap();
    let revert = status.last_revert.unwrap();
    assert!(
        revert.reason.contains("did not answer ARP"),
        "{}",
        revert.reason
    );
}

#[test]
fn a_changed_bridge_is_deleted_for_networkd_to_make_it_anew() {
    let (root, paths) = machine();
    let host = Recorder::new(root.path(), Ok(vec![]));
    let net = Network::new(paths.clone(), &host);
    net.apply(&settings("10.20.0.21/24"), &nics(), 60).unwrap();
    net.confirm().unwrap();
    let mut jumbo = settings("10.20.0.21/24");
    jumbo.management_mtu = Some(1400);
    host.calls.borrow_mut().clear();
    net.apply(&jumbo, &nics(), 60).unwrap();
    assert!(
        host.calls().contains(&"delete br-mgmt".to_owned()),
        "{:?}",
        host.calls()
    );
    // Reverting deletes it again, so that the confirmed definition comes back.
    host.calls.borrow_mut().clear();
    assert!(net.revert("operator").unwrap());
    assert!(host.calls().contains(&"delete br-mgmt".to_owned()));
    let bridge =
        std::fs::read_to_string(paths.networkd.join("10-stackbox-br-mgmt.netdev")).unwrap();
    assert!(bridge.contains("MTUBytes=1500"));
}

#[test]
fn a_second_change_waits_for_the_first_and_refused_settings_touch_nothing() {
    let (root, paths) = machine();
    let host = Recorder::new(root.path(), Ok(vec![]));
    let net = Network::new(paths.clone(), &host);
    let mut bad = settings("10.20.0.21/24");
    bad.bridge = "eth1".to_owned();
    let before = files(&paths.networkd);
    let err = net.apply(&bad, &nics(), 60).unwrap_err();
    assert!(
        err.to_string()
            .contains("bridge: `eth1` is already the name of the NIC eth1"),
        "{err}"
    );
    assert_eq!(files(&paths.networkd), before);
    assert!(host.calls().is_empty());
    net.apply(&settings("10.20.0.21/24"), &nics(), 60).unwrap();
    let err = net
        .apply(&settings("10.20.0.22/24"), &nics(), 60)
        .unwrap_err();
    assert!(matches!(err, ApplyError::AlreadyPending { .. }), "{err}");
    assert!(events(&paths)[0].starts_with("refused: "));
}

#[test]
fn at_boot_an_unconfirmed_change_is_undone_in_the_files_alone() {
    let (root, paths) = machine();
    let before = files(&paths.networkd);
    let host = Recorder::new(root.path(), Ok(vec![]));
    let net = Network::new(paths.clone(), &host);
    net.apply(&settings("10.20.0.21/24"), &nics(), 60).unwrap();
    host.calls.borrow_mut().clear();
    assert!(
        net.revert_with(
            "the machine restarted before the change was confirmed",
            true
        )
        .unwrap()
    );
    assert_eq!(
        host.calls(),
        Vec::<String>::new(),
        "networkd is not running yet"
    );
    assert_eq!(files(&paths.networkd), before);
    assert!(!paths.chrony.exists());
    assert!(
        events(&paths)
            .last()
            .unwrap()
            .starts_with("reverted: the machine restarted")
    );
}

#[test]
fn a_nic_without_link_is_warned_of_before_what_the_probe_saw() {
    let (root, paths) = machine();
    let host = Recorder::new(root.path(), Ok(vec!["br-mgmt up".to_owned()]));
    let net = Network::new(paths, &host);
    let mut unplugged = nics();
    unplugged[1].carrier = Some(false);
    let (_, seen) = net
        .apply(&settings("10.20.0.21/24"), &unplugged, 90)
        .unwrap();
    assert_eq!(
        seen,
        [
            "warning: `eth1` has no link: check its cable and switch port",
            "br-mgmt up"
        ]
    );
}
