//! The firewall drop-ins of every example's nodes, checked by Debian's own `nft` against the base ruleset the
//! image ships (`stackbox_image::configure::render_nftables`), in a private network namespace (`unshare -n`)
//! so the host's ruleset is never read or changed. Needs root and the `nftables` package: when `nft` is
//! missing the test fails, it does not skip.
//!
//! Also proves the firewall step's action/check pair: after the base is loaded, the reload file refills the
//! chain `roles` and `nft list chain inet stackbox roles` shows the drop-in's tag (what the step's check
//! looks for), and loading it twice leaves one copy of each rule.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::collections::BTreeMap;
use std::path::Path;

use stackbox_common::cmd::Command;
use stackbox_hardware_profiles::Catalog;
use stackbox_image::configure::{NFTABLES_DROPIN_DIR, render_nftables};
use stackbox_installer::ClusterConfig;
use stackbox_installer::build_plan;
use stackbox_installer::plan::infrastructure::firewall::{DROPIN, RELOAD};
use stackbox_installer::plan::{Action, DoneCheck, FileSpec};

fn require_nft() {
    if let Err(e) = Command::new("nft").arg("--version").run() {
        panic!("`nft` is needed by this test: apt-get install nftables (deps/test.txt): {e}");
    }
}

/// Every example's nodes: (node, the drop-in, the reload file, the check's text).
fn dropins() -> Vec<(String, FileSpec, FileSpec, String)> {
    let mut out = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Cluster configurations only: examples/answer-files/ holds answer files.
        if !path.is_file() {
            continue;
        }
        let config =
            ClusterConfig::from_toml("example", &std::fs::read_to_string(&path).unwrap()).unwrap();
        let plan = build_plan(&config, &Catalog::embedded().unwrap(), &BTreeMap::new()).unwrap();
        for node in &config.nodes {
            let files = plan
                .step(&format!("{}/firewall.config", node.name))
                .unwrap();
            let load = plan.step(&format!("{}/firewall.load", node.name)).unwrap();
            let Action::Files { files } = &files.action else {
                panic!("{files:?}")
            };
            let DoneCheck::Command {
                contains: Some(tag),
                ..
            } = &load.done
            else {
                panic!("{load:?}")
            };
            let find = |p: &str| files.iter().find(|f| f.path == p).unwrap().clone();
            out.push((node.name.clone(), find(DROPIN), find(RELOAD), tag.clone()));
        }
    }
    assert!(out.len() >= 4, "{}", out.len());
    out
}

/// `text` with the drop-in directory moved to `dir`.
fn moved(text: &str, dir: &Path) -> String {
    let include = format!("include \"{NFTABLES_DROPIN_DIR}/*.nft\"\n");
    assert_eq!(text.matches(&include).count(), 1, "{text}");
    text.replace(&include, &format!("include \"{}/*.nft\"\n", dir.display()))
}

#[test]
fn every_nodes_drop_in_passes_nft_and_its_check_sees_it_loaded() {
    require_nft();
    for (node, dropin, reload, tag) in dropins() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nftables.d");
        std::fs::create_dir(&dir).unwrap();
        let name = Path::new(&dropin.path).file_name().unwrap();
        std::fs::write(dir.join(name), &dropin.content).unwrap();
        let base = tmp.path().join("nftables.conf");
        std::fs::write(&base, moved(&render_nftables(), &dir)).unwrap();
        let reload_path = tmp.path().join("reload.nft");
        std::fs::write(&reload_path, moved(&reload.content, &dir)).unwrap();

        Command::new("unshare")
            .args(["-n", "nft", "-c", "-f"])
            .arg(&base)
            .run()
            .unwrap_or_else(|e| panic!("{node}: nft -c refuses the base with its drop-in: {e}"));

        // Boot loads the base; the step reloads the chain twice (a rerun); the check lists it.
        let listed = Command::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "nft -f \"$1\" && nft -f \"$2\" && nft -f \"$2\" && nft list chain inet stackbox roles",
                "nft-load",
            ])
            .arg(&base)
            .arg(&reload_path)
            .run()
            .unwrap_or_else(|e| panic!("{node}: loading the base and the reload: {e}"))
            .stdout;
        assert!(listed.contains(&tag), "{node}: no {tag} in\n{listed}");
        let rules = listed.matches("accept").count();
        let expected = dropin.content.matches(" accept ").count();
        assert_eq!(
            rules, expected,
            "{node}: a reload duplicated rules:\n{listed}"
        );
        assert!(listed.contains("tcp dport"), "{node}:\n{listed}");
    }
}

/// `ip netns exec NS ARGS...`.
fn in_ns(ns: &str, args: &[&str]) -> Command {
    Command::new("ip").args(["netns", "exec", ns]).args(args)
}

/// Two namespaces joined by a veth pair, deleted on drop.
struct Link {
    node: String,
    peer: String,
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.node, &self.peer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).run();
        }
    }
}

/// What a connection from `source` (an address of the peer namespace) to `port` on 10.20.0.11 meets:
/// `true` when the node answers (a listener accepts), `false` when the packet is dropped (the connection
/// times out).
fn reaches(link: &Link, source: &str, port: u16) -> bool {
    let out = in_ns(
        &link.peer,
        &[
            "python3",
            "-c",
            "import socket, sys\n\
             s = socket.socket()\n\
             s.bind((sys.argv[1], 0))\n\
             s.settimeout(1.5)\n\
             try:\n    s.connect(('10.20.0.11', int(sys.argv[2])))\n    print('open')\n\
             except socket.timeout:\n    print('dropped')\n",
            source,
            &port.to_string(),
        ],
    )
    .run()
    .unwrap_or_else(|e| panic!("connecting from {source} to port {port}: {e}"))
    .stdout;
    match out.trim() {
        "open" => true,
        "dropped" => false,
        other => panic!("from {source} to {port}: {other}"),
    }
}

/// The three-node example's node1 behind its real ruleset (the image's base with its drop-in) in a network
/// namespace; a second namespace on the same link holds a member's address (node2's), an address of the
/// operator's client network (10.20.0.0/24) that is no member, and an address outside every allowed
/// network. Listeners on a public port (keystone, 5000) and a members-only one (MariaDB, 3306) tell which
/// connections the firewall lets through; then the stranger in the client network is added to the
/// joiners' set, as a member does for a node about to join, and reaches MariaDB.
#[test]
fn members_reach_the_cluster_ports_clients_only_the_public_ones_strangers_neither() {
    require_nft();
    let (_, dropin, _, _) = dropins()
        .into_iter()
        .find(|(node, d, _, _)| node == "node1" && d.content.contains("198.51.100.0/24"))
        .expect("the three-node example's node1 with client networks");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nftables.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("50-stackbox-roles.nft"), &dropin.content).unwrap();
    let base = tmp.path().join("nftables.conf");
    std::fs::write(&base, moved(&render_nftables(), &dir)).unwrap();

    let pid = std::process::id();
    let link = Link {
        node: format!("fw-node-{pid}"),
        peer: format!("fw-peer-{pid}"),
    };
    for ns in [&link.node, &link.peer] {
        Command::new("ip").args(["netns", "add", ns]).run().unwrap();
        in_ns(ns, &["ip", "link", "set", "lo", "up"]).run().unwrap();
    }
    Command::new("ip")
        .args([
            "-n", &link.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
            "netns",
        ])
        .arg(&link.peer)
        .run()
        .unwrap();
    for (ns, addresses) in [
        (&link.node, &["10.20.0.11/24", "192.0.2.1/24"][..]),
        (
            &link.peer,
            &["10.20.0.12/24", "10.20.0.99/24", "192.0.2.50/24"][..],
        ),
    ] {
        for a in addresses {
            in_ns(ns, &["ip", "addr", "add", a, "dev", "eth0", "nodad"])
                .run()
                .unwrap();
        }
        in_ns(ns, &["ip", "link", "set", "eth0", "up"])
            .run()
            .unwrap();
    }
    in_ns(&link.node, &["nft", "-f"]).arg(&base).run().unwrap();
    let mut listener = std::process::Command::new("ip")
        .args(["netns", "exec", &link.node, "python3", "-c"])
        .arg(
            "import socket, threading, time\n\
             def serve(s):\n    while True:\n        s.accept()[0].close()\n\
             for p in (5000, 3306):\n    threading.Thread(target=serve, args=(socket.create_server(('0.0.0.0', p)),), daemon=True).start()\n\
             print('listening', flush=True)\n\
             time.sleep(60)\n",
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both sockets listen before the first connection (a fixed sleep lost the race on a loaded machine:
    // the connection was refused).
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(listener.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(
        ready.trim(),
        "listening",
        "the test's listeners did not start"
    );

    let seen: Vec<(&str, u16, bool)> = [
        ("10.20.0.12", 5000),
        ("10.20.0.12", 3306),
        ("10.20.0.99", 5000),
        ("10.20.0.99", 3306),
        ("192.0.2.50", 5000),
        ("192.0.2.50", 3306),
    ]
    .into_iter()
    .map(|(source, port)| (source, port, reaches(&link, source, port)))
    .collect();
    // A node about to join, once a member added its address to the joiners' set (what the member does
    // when it proved the join code), reaches the members-only port too.
    in_ns(
        &link.node,
        &[
            "nft",
            "add",
            "element",
            "inet",
            "stackbox",
            "joiners4",
            "{ 10.20.0.99 timeout 10m }",
        ],
    )
    .run()
    .unwrap();
    let joiner = reaches(&link, "10.20.0.99", 3306);
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(joiner, "a joiner in the set does not reach 3306");
    assert_eq!(
        seen,
        vec![
            ("10.20.0.12", 5000, true),
            ("10.20.0.12", 3306, true),
            ("10.20.0.99", 5000, true),
            ("10.20.0.99", 3306, false),
            ("192.0.2.50", 5000, false),
            ("192.0.2.50", 3306, false),
        ],
        "(source, port, reached)"
    );
}
