//! Zero-touch on an installed system (plan mode, the `intel-server-4nic` fixture with an answer file built
//! into its root): the wizard answers its own pages and installs the cloud by itself; a refused answer file
//! stores nothing. The live half (install to disk, reboot) runs in the boot tier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use stackbox_installer::progress::Phase;

fn answers(extra: &str) -> String {
    let hash = stackbox_web::auth::hash_password("a long and unusual phrase 7").unwrap();
    format!(
        "[admin]\npassword_hash = \"{hash}\"\n\n\
         [network]\nhostname = \"node1\"\nmanagement_nic = \"eno1\"\ndata_nic = \"eno1\"\nmode = \"static\"\n\
         address = \"10.0.0.5/24\"\ngateway = \"10.0.0.1\"\ndns = [\"10.0.0.53\"]\nmtu = 9000\n\n\
         [cluster]\ncreate = \"lab\"\n\n\
         [node]\nroles = [\"management\", \"message-bus\", \"storage-metadata\", \"console-proxy\", \"compute\"]\n\n\
         [settings]\nflavor = \"openstack\"\ncpu_ratio = 8\n{extra}"
    )
}

#[actix_web::test]
async fn built_in_answers_install_the_cloud_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_with(&answers(""));
    let mut opts = options(dir.path());
    opts.root = root.path().to_owned();
    let st = state(opts);
    stackbox_web::zero_touch::start(st.clone());
    let deadline = Instant::now() + Duration::from_secs(90);
    while st.wizard.phase() != Phase::Complete {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            st.wizard.runner.progress().failure
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let answers = &st.wizard.answers;
    assert_eq!(answers.cluster().unwrap().unwrap().name, "lab");
    assert_eq!(answers.roles().unwrap().unwrap().roles.len(), 5);
    assert_eq!(answers.settings().unwrap().unwrap().overcommit.cpu, 8.0);
    assert_eq!(answers.network().unwrap().unwrap().mtu, 9000);
    assert!(st.passwords.verify("a long and unusual phrase 7").unwrap());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("zero-touch.json")).unwrap())
            .unwrap();
    assert_eq!(record["installed_done"], true);
    assert_eq!(record["origin"], "/etc/stackbox/answers.toml");
    // The admin signs in with the answer file's password and lands where the wizard stands: done.
    assert_eq!(st.wizard.next_step(), "/done");
}

#[actix_web::test]
async fn a_refused_answer_file_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_with(&answers("overcommit = 2\n"));
    let mut opts = options(dir.path());
    opts.root = root.path().to_owned();
    let st = state(opts);
    stackbox_web::zero_touch::start(st.clone());
    // The refusal is immediate; give the thread time to have stored something if it were going to.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    assert!(!Path::new(&dir.path().join("zero-touch.json")).exists());
    assert!(st.wizard.answers.network().unwrap().is_none());
    assert!(!st.passwords.is_set());
    assert_eq!(st.wizard.phase(), Phase::Idle);
}

#[actix_web::test]
async fn a_machine_that_fails_the_hardware_check_is_not_installed_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_with(&answers(""));
    // The fixture's memory, cut to 1 GiB: the bare-metal profile fails it.
    std::fs::write(
        root.path().join("proc/meminfo"),
        "MemTotal:        1048576 kB\nMemFree:          524288 kB\nMemAvailable:     524288 kB\n",
    )
    .unwrap();
    let mut opts = options(dir.path());
    opts.root = root.path().to_owned();
    opts.profile = "baremetal".to_owned();
    let st = state(opts);
    let report = st.wizard.report();
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.id == "memory.total" && c.status == stackbox_firstboot::check::Status::Fail),
        "{:#?}",
        report.checks
    );
    stackbox_web::zero_touch::start(st.clone());
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    assert!(!dir.path().join("zero-touch.json").exists());
    assert!(st.wizard.answers.network().unwrap().is_none());
    assert!(!st.passwords.is_set());
}

#[test]
fn the_wizard_reads_the_answer_file_where_the_build_puts_it() {
    assert_eq!(
        format!("/{}", stackbox_image::build::root::ANSWERS_FILE),
        stackbox_web::zero_touch::BUILT_IN
    );
}

#[test]
fn the_command_line_names_an_https_answer_file_and_what_trusts_it() {
    use stackbox_web::zero_touch::remote;
    let sha = "ab".repeat(32);
    let fp = format!("SHA256:{}", vec!["AB"; 32].join(":"));
    assert_eq!(remote("boot=live quiet").unwrap(), None);
    let r = remote(&format!(
        "stackbox.answers=https://10.0.0.1:8443/a/node.toml stackbox.answers-sha256={sha}"
    ))
    .unwrap()
    .unwrap();
    assert_eq!(r.addr, "10.0.0.1:8443".parse().unwrap());
    assert_eq!(r.path, "/a/node.toml");
    assert_eq!(r.sha256.as_deref(), Some(sha.as_str()));
    let r = remote(&format!(
        "stackbox.answers=https://10.0.0.1 stackbox.answers-fingerprint={fp}"
    ))
    .unwrap()
    .unwrap();
    assert_eq!((r.addr.port(), r.path.as_str()), (443, "/"));
    // Must fail: plain HTTP, a host name, no trust, a short checksum, a malformed fingerprint.
    for (line, words) in [
        (
            format!("stackbox.answers=http://10.0.0.1/a stackbox.answers-sha256={sha}"),
            "only https://",
        ),
        (
            format!("stackbox.answers=https://deploy.lab/a stackbox.answers-sha256={sha}"),
            "must be an IP address",
        ),
        (
            "stackbox.answers=https://10.0.0.1/a".to_owned(),
            "nothing else is trusted",
        ),
        (
            "stackbox.answers=https://10.0.0.1/a stackbox.answers-sha256=abc".to_owned(),
            "not 64 hex digits",
        ),
        (
            "stackbox.answers=https://10.0.0.1/a stackbox.answers-fingerprint=SHA256:AB".to_owned(),
            "not SHA256:",
        ),
    ] {
        let err = remote(&line).unwrap_err();
        assert!(err.contains(words), "{line}: {err}");
    }
}

/// A document over HTTPS (the wizard's own stylesheet stands in for an answer file): fetched when its
/// checksum or the server's pinned certificate matches, refused when either does not.
#[test]
fn an_https_answer_file_is_fetched_only_when_its_checksum_or_certificate_matches() {
    use sha2::Digest;
    use stackbox_web::zero_touch::{Remote, fetch};
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));
    let css =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("static/wizard.css")).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&css));
    let pin = stackbox_cluster::proof::Fingerprint::parse(&running.state.fingerprint).unwrap();
    let remote = |sha256: Option<String>, fingerprint| Remote {
        addr: running.addr,
        path: "/static/wizard.css".to_owned(),
        sha256,
        fingerprint,
    };
    assert_eq!(
        fetch(&remote(Some(sha.clone()), None)).unwrap().as_bytes(),
        &css[..]
    );
    assert_eq!(
        fetch(&remote(None, Some(pin))).unwrap().as_bytes(),
        &css[..]
    );
    let err = fetch(&remote(Some("00".repeat(32)), None)).unwrap_err();
    assert!(err.contains("refused"), "{err}");
    let other = stackbox_cluster::proof::Fingerprint::parse(&format!(
        "SHA256:{}",
        vec!["AB"; 32].join(":")
    ))
    .unwrap();
    let err = fetch(&remote(Some(sha), Some(other))).unwrap_err();
    assert!(err.contains("presented the certificate"), "{err}");
}
