//! Kernel tuning: golden files for what it writes, and apply/verify/idempotency against a fake /proc/sys.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::{Path, PathBuf};

use stackbox_common::test_utils::golden;
use stackbox_firstboot::tune::{self, KeyOutcome, SYSCTLS};
use stackbox_machine::system::Root;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn rendered_files_match_golden() {
    golden(
        &golden_dir().join("90-stackbox.conf"),
        &tune::render_sysctl_conf(),
    );
    golden(
        &golden_dir().join("modules-load-stackbox.conf"),
        &tune::render_modules_conf(),
    );
    golden(
        &golden_dir().join("stackbox-kvm-intel.conf"),
        &tune::render_kvm_conf(Some("vmx")).unwrap(),
    );
    golden(
        &golden_dir().join("stackbox-kvm-amd.conf"),
        &tune::render_kvm_conf(Some("svm")).unwrap(),
    );
    assert_eq!(tune::render_kvm_conf(None), None);
}

#[test]
fn ip_forward_comes_first_and_every_key_says_why() {
    assert_eq!(SYSCTLS[0].key, "net.ipv4.ip_forward");
    let conf = tune::render_sysctl_conf();
    for s in SYSCTLS {
        let line = format!("{} = {}", s.key, s.value);
        let at = conf.find(&line).unwrap_or_else(|| panic!("{line} missing"));
        let before = &conf[..at];
        assert!(
            before
                .trim_end()
                .rsplit('\n')
                .next()
                .unwrap()
                .starts_with("# "),
            "{} has no comment",
            s.key
        );
    }
}

/// A root whose /proc/sys holds every key with a value other than the wanted one, except `missing`.
fn fake_root(missing: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for s in SYSCTLS {
        if missing.contains(&s.key) {
            continue;
        }
        let path = dir
            .path()
            .join(tune::proc_sys_path(s.key).trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "0\n").unwrap();
    }
    dir
}

#[test]
fn apply_sets_verifies_and_is_idempotent() {
    let dir = fake_root(&["net.bridge.bridge-nf-call-iptables"]);
    let root = Root::at(dir.path());
    let plan = tune::plan(Some("vmx"));
    let first = tune::apply(&root, &plan, false);
    assert_eq!(first.failures(), 0, "{first:?}");
    assert!(first.files.iter().all(|(_, written)| *written));
    for (key, value, outcome) in &first.keys {
        if *key == "net.bridge.bridge-nf-call-iptables" {
            assert_eq!(*outcome, KeyOutcome::Missing);
            continue;
        }
        assert_eq!(*outcome, KeyOutcome::Set { was: "0".into() }, "{key}");
        let path = dir
            .path()
            .join(tune::proc_sys_path(key).trim_start_matches('/'));
        assert_eq!(std::fs::read_to_string(path).unwrap().trim(), *value);
    }
    assert_eq!(first.warnings(), 1);
    let written =
        std::fs::read_to_string(dir.path().join("etc/sysctl.d/90-stackbox.conf")).unwrap();
    assert_eq!(written, tune::render_sysctl_conf());
    assert!(dir.path().join("etc/modprobe.d/stackbox-kvm.conf").exists());

    let second = tune::apply(&root, &plan, false);
    assert!(!second.changed(), "{second:?}");
    assert!(second.files.iter().all(|(_, written)| !*written));
    assert!(
        second
            .keys
            .iter()
            .all(|(k, _, o)| *o == KeyOutcome::Unchanged
                || (*o == KeyOutcome::Missing && k.contains("iptables")))
    );
    assert!(
        tune::render_report(&second).contains("tune: nothing to change (1 warnings, 0 failures)")
    );
}

#[test]
fn multi_value_keys_compare_by_fields() {
    let dir = fake_root(&[]);
    let key = dir.path().join("proc/sys/vm/swappiness");
    std::fs::write(&key, "10\n").unwrap();
    let report = tune::apply(&Root::at(dir.path()), &tune::plan(None), false);
    let outcome = report
        .keys
        .iter()
        .find(|(k, _, _)| *k == "vm.swappiness")
        .unwrap();
    assert_eq!(outcome.2, KeyOutcome::Unchanged);
    assert!(
        !dir.path().join("etc/modprobe.d/stackbox-kvm.conf").exists(),
        "no nesting without VT-x/AMD-V"
    );
}

#[test]
fn dry_run_writes_nothing_and_shows_the_plan() {
    let dir = fake_root(&["net.netfilter.nf_conntrack_max"]);
    let before = std::fs::read_to_string(dir.path().join("proc/sys/net/ipv4/ip_forward")).unwrap();
    let text = tune::render_dry_run(&Root::at(dir.path()), &tune::plan(Some("svm")), false);
    assert!(
        text.contains("file /etc/sysctl.d/90-stackbox.conf (new):"),
        "{text}"
    );
    assert!(text.contains("file /etc/modprobe.d/stackbox-kvm.conf (new):"));
    assert!(text.contains("  | options kvm_amd nested=1"));
    assert!(text.contains("set  net.ipv4.ip_forward = 1 (now 0)"));
    assert!(text.contains("set  net.netfilter.nf_conntrack_max = 1048576 (key absent now"));
    assert!(!dir.path().join("etc").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("proc/sys/net/ipv4/ip_forward")).unwrap(),
        before
    );
}

#[test]
fn a_file_that_cannot_be_written_is_a_failure() {
    let dir = fake_root(&[]);
    // A regular file where /etc should be a directory.
    std::fs::write(dir.path().join("etc"), "").unwrap();
    let report = tune::apply(&Root::at(dir.path()), &tune::plan(None), false);
    assert_eq!(report.file_errors.len(), 2, "{report:?}");
    assert!(report.failures() >= 2);
    assert!(tune::render_report(&report).contains("FAILED    /etc/sysctl.d/90-stackbox.conf"));
}
