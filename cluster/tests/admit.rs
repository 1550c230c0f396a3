//! Letting a node about to join through the member's firewall: the proof of the code, and the real `nft`
//! adding its address to the joiners' set of the installer's drop-in, in a network namespace of the
//! test's own (`unshare(CLONE_NEWNET)` on one thread, whose commands inherit it), so the host's ruleset is
//! never read or changed. Needs root and the `nftables` package: without `nft` the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use stackbox_cluster::admit::{self, Admission, Opened};
use stackbox_cluster::proof::JoinKey;
use stackbox_cluster::{Fingerprint, JoinCode};
use stackbox_common::cmd::Command;
use stackbox_hardware_profiles::{Protocol, Reach};
use stackbox_installer::plan::infrastructure::firewall::{Opening, Sources, render};

#[test]
fn an_admission_verifies_only_with_the_code_and_the_member_it_was_made_for() {
    let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
    let member = Fingerprint::of_der(b"member");
    let now = SystemTime::now();
    let a = Admission::new("10.20.0.12".parse().unwrap(), &code, &member, now).unwrap();
    assert!(a.verify(&JoinKey::derive(&code, &member)));
    let other_code = JoinCode::parse("2222-3333-4444").unwrap();
    assert!(!a.verify(&JoinKey::derive(&other_code, &member)));
    assert!(!a.verify(&JoinKey::derive(&code, &Fingerprint::of_der(b"other"))));
    // Each field is covered by the MAC.
    let key = JoinKey::derive(&code, &member);
    let mut moved = a.clone();
    moved.address = "10.20.0.13".parse().unwrap();
    assert!(!moved.verify(&key));
    let mut later = a.clone();
    later.timestamp += 1;
    assert!(!later.verify(&key));
    let b = Admission::new(a.address, &code, &member, now).unwrap();
    assert_ne!(a.nonce, b.nonce, "a fresh nonce each time");
    // The JSON a joiner sends, read back; an unknown field is refused.
    let text = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<Admission>(&text).unwrap(), a);
    let extra = text.replacen('{', "{\"node\":\"x\",", 1);
    assert!(serde_json::from_str::<Admission>(&extra).is_err());
}

fn nft(args: &[&str]) -> String {
    Command::new("nft")
        .args(args)
        .run()
        .unwrap_or_else(|e| panic!("nft {args:?}: {e}"))
        .stdout
}

#[test]
fn the_joiners_address_goes_into_the_drop_ins_set_and_nothing_happens_without_one() {
    if let Err(e) = Command::new("nft").arg("--version").run() {
        panic!("`nft` is needed by this test: apt-get install nftables (deps/test.txt): {e}");
    }
    let dropin = render(
        "node1",
        "storage-metadata",
        &[Opening::port(
            Reach::Members,
            Protocol::Tcp,
            3306,
            "MariaDB",
        )],
        &Sources {
            members: vec!["10.20.0.11".parse().unwrap()],
            ..Sources::default()
        },
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("50-stackbox-roles.nft");
    std::fs::write(&file, dropin).unwrap();
    let file = file.display().to_string();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let v4: IpAddr = "10.20.0.12".parse().unwrap();
        let v6: IpAddr = "fd00::12".parse().unwrap();
        // No drop-in loaded: no cluster port is open, nothing to let through, nothing changed.
        assert_eq!(
            admit::open_firewall(v4, Duration::from_secs(60)).unwrap(),
            Opened::NothingToOpen
        );
        assert!(nft(&["list", "ruleset"]).trim().is_empty());
        nft(&["-f", &file]);
        assert_eq!(
            admit::open_firewall(v4, admit::ADMITTED_FOR).unwrap(),
            Opened::Admitted
        );
        assert_eq!(
            admit::open_firewall(v6, admit::ADMITTED_FOR).unwrap(),
            Opened::Admitted
        );
        // Admitted twice (a retried check): still one element.
        admit::open_firewall(v4, admit::ADMITTED_FOR).unwrap();
        let set4 = nft(&["list", "set", "inet", "stackbox", "joiners4"]);
        assert_eq!(set4.matches("10.20.0.12").count(), 1, "{set4}");
        assert!(
            set4.contains("expires"),
            "the address leaves the set by itself: {set4}"
        );
        let set6 = nft(&["list", "set", "inet", "stackbox", "joiners6"]);
        assert!(set6.contains("fd00::12"), "{set6}");
        // A reload of the drop-in (a rerun of the firewall step) keeps the joiners.
        nft(&["-f", &file]);
        let set4 = nft(&["list", "set", "inet", "stackbox", "joiners4"]);
        assert!(set4.contains("10.20.0.12"), "{set4}");
    })
    .join()
    .unwrap();
}
