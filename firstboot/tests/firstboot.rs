//! First boot against a copy of a fixture machine: what it writes, with which modes, and the golden
//! banner and console line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use stackbox_common::test_utils::golden;
use stackbox_firstboot::check::Report;
use stackbox_firstboot::firstboot::{self, Options};
use stackbox_firstboot::identity::WizardIdentity;
use stackbox_hardware_profiles::Catalog;
use stackbox_machine::system::Root;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fixture_report(root: &Root) -> Report {
    stackbox_firstboot::check(root, &Catalog::embedded().unwrap(), "lab", &[]).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_boot_writes_report_banner_identity_and_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let machine = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../machine/tests/fixtures/machines/vm-no-virt/root");
    copy_tree(&machine, tmp.path());
    let root = Root::at(tmp.path());
    let state = tmp.path().join("var/lib/stackbox");
    let report = fixture_report(&root);
    let outcome = firstboot::run(
        &Options {
            root: root.clone(),
            state_dir: state.clone(),
        },
        &report,
    )
    .unwrap();

    assert!(
        outcome
            .line
            .starts_with("STACKBOX-FIRSTBOOT status=warn profile=lab fail=0 "),
        "{}",
        outcome.line
    );
    assert!(outcome.line.contains(" nics=2 "));
    let token = std::fs::read_to_string(state.join("setup-token")).unwrap();
    assert!(
        !outcome.line.contains(token.trim()),
        "the console line must not carry the token"
    );
    assert!(outcome.banner.contains(token.trim()));

    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("var/lib/stackbox/hardware.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["profile"], "lab");
    assert_eq!(saved["facts"]["nics"].as_array().unwrap().len(), 2);

    let issue = tmp.path().join("etc/issue.d/stackbox.issue");
    assert_eq!(mode(&issue), 0o600);
    assert_eq!(mode(&state.join("setup-token")), 0o600);
    assert_eq!(mode(&state.join("tls/wizard.key")), 0o600);
    assert!(tmp.path().join("etc/sysctl.d/90-stackbox.conf").exists());
    let marker =
        std::fs::read_to_string(tmp.path().join("var/lib/stackbox/firstboot.done")).unwrap();
    assert_eq!(marker.trim(), outcome.line);

    // A second run keeps the token and the certificate.
    let again = firstboot::run(
        &Options {
            root,
            state_dir: state.clone(),
        },
        &report,
    )
    .unwrap();
    assert_eq!(again.line, outcome.line);
    assert_eq!(
        std::fs::read_to_string(state.join("setup-token")).unwrap(),
        token
    );
}

#[test]
fn banner_and_line_match_golden() {
    let root = Root::at(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../machine/tests/fixtures/machines/one-nic-live-usb/root"),
    );
    let report = fixture_report(&root);
    let identity = WizardIdentity {
        token: String::from("AAAAA-BBBBB-CCCCC-DDDDD").into(),
        fingerprint: "SHA256:00:11:22".into(),
        cert_path: "/var/lib/stackbox/tls/wizard.crt".into(),
        key_path: "/var/lib/stackbox/tls/wizard.key".into(),
    };
    let url = firstboot::wizard_url(Some("192.0.2.10".parse().unwrap()));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    golden(
        &dir.join("banner.issue"),
        &firstboot::render_banner(&report, &url, &identity),
    );
    golden(
        &dir.join("firstboot-line.txt"),
        &(firstboot::render_line(&report, 1, &url, &identity.fingerprint) + "\n"),
    );
    assert_eq!(
        firstboot::wizard_url(Some("2001:db8::1".parse().unwrap())),
        "https://[2001:db8::1]:8443/"
    );
}
