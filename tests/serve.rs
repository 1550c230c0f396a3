//! `stackboxd serve` as a process: it announces where it listens on stderr, answers HTTPS (TLS 1.3) on
//! loopback with the state directory it was given, and refuses a bad `--allow` as a usage error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn serve_announces_its_address_and_answers_over_tls_1_3() {
    let state = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("machine/tests/fixtures/machines/one-nic-live-usb/root");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackboxd"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--profile",
            "lab",
            "--allow",
            "127.0.0.0/8",
        ])
        .arg("--state")
        .arg(state.path())
        .arg("--root")
        .arg(&root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The server says where it listens once it does: wait for that line, not for a fixed time.
    // The reader stays open until the end: a closed pipe would fail the server's next log line.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches(',')
        .to_owned();
    assert!(
        line.contains("TLS 1.3") && line.contains("SHA256:"),
        "{line}"
    );
    let curl = |extra: &[&str]| {
        Command::new("curl")
            .args(["-sk", "--max-time", "10"])
            .args(extra)
            .arg(format!("{url}api/v1/status"))
            .output()
            .expect("curl is missing: apt-get install curl (deps/web.txt)")
    };
    let out = curl(&["--tlsv1.3"]);
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    let refused = curl(&["--tlsv1.2", "--tls-max", "1.2"]);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stderr);
    assert!(out.status.success(), "{body}");
    assert!(body.contains("\"phase\":\"admin-password\""), "{body}");
    assert!(!refused.status.success(), "TLS 1.2 was accepted");
    for file in ["setup-token", "tls/wizard.crt", "tls/wizard.key"] {
        assert!(state.path().join(file).exists(), "{file}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_stackboxd"))
        .args(["serve", "--allow", "10.0.0.0/33", "--state"])
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow takes CIDRs"));
}
