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
