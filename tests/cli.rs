//! The `stackboxd` command line as operators and other tools use it: exit statuses, the JSON contract of
//! DESIGN.md, and errors that name the problem.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stackboxd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackboxd"))
        .args(args)
        .env_remove("STACKBOX_PROFILE")
        .output()
        .expect("running stackboxd")
}

fn machine(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("machine/tests/fixtures/machines")
        .join(name)
        .join("root")
        .display()
        .to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_json_follows_the_contract() {
    let out = stackboxd(&[
        "check",
        "--root",
        &machine("intel-server-4nic"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["profile"], "baremetal");
    let checks = report["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in [
        "cpu.virtualization",
        "kvm.device",
        "nic.count",
        "memory.total",
        "cpu.count",
        "disk.target",
        "firmware.mode",
        "iommu",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for c in checks {
        assert!(["pass", "warn", "fail"].contains(&c["status"].as_str().unwrap()));
        assert!(c["summary"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(c.get("remedy").is_some());
    }
    assert!(report["facts"]["nics"].is_array());
}

#[test]
fn failed_check_exits_1_and_warnings_exit_0() {
    let fail = stackboxd(&["check", "--root", &machine("vm-no-virt")]);
    assert_eq!(fail.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fail.stdout).contains("result: FAIL"));
    let warn = stackboxd(&[
        "check",
        "--root",
        &machine("vm-no-virt"),
        "--profile",
        "lab",
    ]);
    assert_eq!(warn.status.code(), Some(0), "{}", stderr(&warn));
}

#[test]
fn roles_add_up() {
    let out = stackboxd(&[
        "check",
        "--root",
        &machine("vm-no-virt"),
        "--roles",
        "message-bus,console-proxy",
        "--format",
        "json",
    ]);
    // Nothing fails for these two roles: BIOS and the CPU count are warnings.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["roles"],
        serde_json::json!(["message-bus", "console-proxy"])
    );
    let cpu = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "cpu.count")
        .unwrap();
    // 2 + 1 vCPUs needed, 4 present; 4 + 2 recommended, so a warning.
    assert_eq!(cpu["status"], "warn", "{cpu}");
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["check", "--profile", "production"],
            "unknown profile `production`",
        ),
        (&["check", "--roles", "compute,dns"], "unknown role `dns`"),
        (&["check", "--format", "yaml"], "invalid value 'yaml'"),
        (
            &["check", "--root", "/nonexistent-stackbox-root"],
            "proc/cpuinfo",
        ),
        (
            &["check", "--profiles-dir", "/nonexistent-profiles"],
            "cannot read",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
        (
            &["unlock", "--state", "/nonexistent-stackbox-state"],
            "not the wizard's state directory",
        ),
    ];
    for (args, message) in cases {
        let out = stackboxd(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn profile_comes_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_stackboxd"))
        .args([
            "check",
            "--root",
            &machine("vm-no-virt"),
            "--format",
            "json",
        ])
        .env("STACKBOX_PROFILE", "lab")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["profile"], "lab");
}

#[test]
fn tune_dry_run_and_apply_under_a_root() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("proc/sys/net/ipv4/ip_forward");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, "0\n").unwrap();
    let root = tmp.path().display().to_string();
    let dry = stackboxd(&["tune", "--root", &root, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("set  net.ipv4.ip_forward = 1 (now 0)"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "0\n");
    let apply = stackboxd(&["tune", "--root", &root]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim(), "1");
    let again = stackboxd(&["tune", "--root", &root]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("tune: nothing to change"));
}

#[test]
fn firstboot_prints_the_line_and_keeps_secrets_out_of_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf = tmp.path().join("root");
    // The fixture's files are enough for the probes; first boot writes under the copy.
    let src = Path::new(&machine("amd-server-sriov")).to_path_buf();
    let status = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let state = tmp.path().join("state");
    let out = stackboxd(&[
        "firstboot",
        "--root",
        root.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .starts_with("STACKBOX-FIRSTBOOT status=warn profile=baremetal fail=0 warn=1 nics=2 "),
        "{stdout}"
    );
    let token = std::fs::read_to_string(state.join("setup-token")).unwrap();
    assert!(!stdout.contains(token.trim()) && !stderr(&out).contains(token.trim()));
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[test]
fn plan_refuses_a_root_that_is_not_a_machine() {
    let empty = tempfile::tempdir().unwrap();
    for (root, message) in [
        ("/nonexistent-stackbox-root", "no such directory"),
        (empty.path().to_str().unwrap(), "proc/cpuinfo"),
    ] {
        let out = stackboxd(&[
            "plan",
            "--config",
            &repo("examples/allinone.toml"),
            "--root",
            root,
        ]);
        assert_eq!(out.status.code(), Some(2), "{root}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{root}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{root}: nothing is planned");
    }
    let machine = stackboxd(&[
        "plan",
        "--config",
        &repo("examples/allinone.toml"),
        "--root",
        &machine("vm-no-virt"),
    ]);
    assert_eq!(machine.status.code(), Some(0), "{}", stderr(&machine));
}

#[test]
fn plan_prints_the_steps_or_names_the_problem() {
    let text = stackboxd(&["plan", "--config", &repo("examples/allinone.toml")]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.starts_with("plan for cluster lab: "), "{stdout}");
    assert!(stdout.contains("smoke.test"));
    let json = stackboxd(&[
        "plan",
        "--config",
        &repo("examples/three-node.toml"),
        "--format",
        "json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(plan["cluster"], "prod");
    assert!(
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "node2/rabbitmq.join")
    );

    let invalid = stackboxd(&[
        "plan",
        "--config",
        &repo("installer/tests/must-fail/address-outside-cidr.toml"),
    ]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        stderr(&invalid).contains("nodes[0].address: 10.99.0.5 is outside the management network"),
        "{}",
        stderr(&invalid)
    );
    assert!(
        invalid.stdout.is_empty(),
        "nothing is planned from an invalid config"
    );
    let malformed = stackboxd(&[
        "plan",
        "--config",
        &repo("installer/tests/must-fail/unknown-key.toml"),
    ]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(stderr(&malformed).contains("unknown field `role`"));
    let missing = stackboxd(&["plan", "--config", "/nonexistent/cluster.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn install_rejects_an_invalid_config_before_touching_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let secrets = tmp.path().join("secrets.toml");
    let journal = tmp.path().join("state/journal.db");
    for (config, code, message) in [
        (
            "installer/tests/must-fail/overlapping-networks.toml",
            1,
            "overlaps the management network",
        ),
        (
            "installer/tests/must-fail/unknown-key.toml",
            2,
            "unknown field `role`",
        ),
    ] {
        let out = stackboxd(&[
            "install",
            "--config",
            &repo(config),
            "--secrets",
            secrets.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    let bad_step = stackboxd(&[
        "install",
        "--config",
        &repo("examples/allinone.toml"),
        "--stop-after",
        "no.such-step",
        "--secrets",
        secrets.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_eq!(bad_step.status.code(), Some(2), "{}", stderr(&bad_step));
    assert!(
        !secrets.exists() && !journal.exists(),
        "nothing may be written for a rejected install"
    );
}

/// The code `stackboxd cluster code` prints is one the member then accepts, from a joiner that typed it
/// and the printed fingerprint; the code reaches stdout only.
#[test]
fn cluster_code_prints_a_code_the_member_accepts() {
    use stackbox_cluster::{CodeStore, Fingerprint, JoinCode, Joiner, Member};

    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let id = stackbox_firstboot::identity::ensure(&state, &["node-1".to_owned()]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stackboxd"))
        .args(["cluster", "code", "--state", state.to_str().unwrap()])
        .args(["--expires", "10"])
        .env("STACKBOX_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_owned()
    };
    let printed = field("join code:");
    assert!(field("expires:").ends_with("UTC (in 10 min)"), "{stdout}");
    assert_eq!(field("fingerprint:"), id.fingerprint);
    assert!(!stderr(&out).contains(&printed), "the code is never logged");

    let (ca, issuer) = stackbox_common::pki::new_ca("stackbox cluster CA").unwrap();
    let fingerprint = Fingerprint::parse(&field("fingerprint:")).unwrap();
    let member = Member::new(
        CodeStore::new(&state),
        fingerprint,
        "1",
        &ca.pem(),
        &issuer.key().serialize_pem(),
    )
    .unwrap();
    let joiner = Joiner {
        node: "node-2".to_owned(),
        address: "192.0.2.2".parse().unwrap(),
        fingerprint: Fingerprint::of_der(b"node-2's certificate"),
        image_version: "1".to_owned(),
    };
    let typed = JoinCode::parse(&printed.to_lowercase()).unwrap();
    let now = std::time::SystemTime::now();
    let (request, pending) = joiner.request(&typed, &fingerprint, now).unwrap();
    let grant = member.accept(&request, now).unwrap();
    joiner.verify_grant(pending, &grant, now).unwrap();
}

#[test]
fn cluster_code_needs_the_wizards_certificate_and_sane_minutes() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().to_str().unwrap();
    let out = stackboxd(&["cluster", "code", "--state", state]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("tls/wizard.crt"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(!tmp.path().join("cluster/join-code").exists());
    for minutes in ["0", "1441", "soon"] {
        let out = stackboxd(&["cluster", "code", "--state", state, "--expires", minutes]);
        assert_eq!(out.status.code(), Some(2), "{minutes}");
    }
}

/// A member's wizard on 127.0.0.1 (plan mode, fixture machine) with its cluster created, serving on a
/// thread of its own until the test process ends: its address and fingerprint. It is called
/// `localhost`, so that its name resolves here to its address as the pre-join checks require.
fn member_wizard(state: &Path) -> (std::net::SocketAddr, String) {
    let mut opts = stackbox_web::ServeOptions::new(state);
    opts.root = PathBuf::from(machine("intel-server-4nic"));
    opts.profile = "lab".to_owned();
    opts.listen = "127.0.0.1:0".to_owned();
    opts.workers = 1;
    opts.allow = Some(vec!["127.0.0.0/8".parse().unwrap()]);
    opts.install = stackbox_installer::runner::InstallMode::PlanOnly {
        fail_package_once: None,
        pace: std::time::Duration::ZERO,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let state = actix_web::web::Data::new(stackbox_web::AppState::new(opts).unwrap());
            let wizard = &state.wizard;
            let nics = wizard.nic_names();
            let form = serde_json::json!({"hostname": "localhost", "management_nic": nics[0],
                "data_nic": nics[0], "mode": "static", "address": "10.0.0.5/24",
                "gateway": "10.0.0.1", "dns": "10.0.0.53", "bridge": "br-mgmt", "vlan": "",
                "mtu": "1500", "vxlan_min": "1", "vxlan_max": "1000"});
            let form = serde_json::from_value(form).unwrap();
            let settings = stackbox_web::network::validate(&form, &nics).unwrap();
            wizard.store_network(&settings).unwrap();
            wizard.create_cluster("lab", "").unwrap();
            let (server, addrs) = stackbox_web::server::bind(state.clone()).unwrap();
            tx.send((addrs[0], state.fingerprint.clone())).unwrap();
            server.await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn join_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackboxd"))
        .args(["cluster", "join"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits without reading its input: a closed pipe is no error.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

#[test]
fn cluster_join_exits_0_joined_1_refused_2_for_bad_arguments() {
    use stackbox_cluster::CodeStore;
    use std::os::unix::fs::PermissionsExt;

    let tmp = tempfile::tempdir().unwrap();
    let (addr, fingerprint) = member_wizard(&tmp.path().join("member"));
    let node = tmp.path().join("node");
    stackbox_firstboot::identity::ensure(&node, &["node-2".to_owned()]).unwrap();
    let node = node.to_str().unwrap();
    let ip = addr.ip().to_string();
    let port = addr.port().to_string();
    let common = [
        ip.as_str(),
        "--port",
        &port,
        "--fingerprint",
        &fingerprint,
        "--state",
        node,
        "--name",
        "node-2",
    ];
    let codes = CodeStore::new(&tmp.path().join("member"));
    let code = codes
        .issue(
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(600),
        )
        .unwrap()
        .code
        .expose();

    // A code file others may read is refused, and so is a code on the command line.
    let file = tmp.path().join("code");
    std::fs::write(&file, &code).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = stackboxd(
        &[
            &["cluster", "join", "--code-file", file.to_str().unwrap()][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(&code));
    let out = stackboxd(&[&["cluster", "join", "--code", &code][..], &common].concat());
    assert_eq!(out.status.code(), Some(2));
    let out = join_with_stdin(&common, "not a code");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // A wrong code: refused by the member, its reason printed.
    let out = join_with_stdin(
        &[&["--code-stdin"][..], &common].concat(),
        "2222-3333-4444\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("(wrong-code)"), "{}", stderr(&out));
    assert!(stderr(&out).contains("4 tries left"), "{}", stderr(&out));

    // The right one from a private file: joined.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = stackboxd(
        &[
            &["cluster", "join", "--code-file", file.to_str().unwrap()][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cluster/node"));
    for name in ["node.crt", "node.key", "ca.pem"] {
        assert!(
            Path::new(node).join("cluster/node").join(name).exists(),
            "{name}"
        );
    }
}

/// A member that answers the pre-join checks with `facts` (a document it may change between joins)
/// and counts the join requests it gets: its address, fingerprint and the counter.
fn fake_member(
    state: &Path,
    facts: std::sync::Arc<std::sync::Mutex<serde_json::Value>>,
) -> (
    std::net::SocketAddr,
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let id = stackbox_firstboot::identity::ensure(state, &["node1".to_owned()]).unwrap();
    let tls = stackbox_web::server::tls_config(
        &state.join(stackbox_firstboot::identity::CERT_FILE),
        &state.join(stackbox_firstboot::identity::KEY_FILE),
    )
    .unwrap();
    let joins = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = joins.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let facts = facts.clone();
                let counted = counted.clone();
                App::new()
                    .route(
                        "/api/v1/cluster/precheck",
                        web::post().to(move || {
                            let doc = facts.lock().unwrap().clone();
                            async move { HttpResponse::Ok().json(doc) }
                        }),
                    )
                    .route(
                        "/api/v1/cluster/join",
                        web::post().to(move || {
                            counted.fetch_add(1, Ordering::SeqCst);
                            async { HttpResponse::InternalServerError().finish() }
                        }),
                    )
            })
            .workers(1)
            .bind_rustls_0_23("127.0.0.1:0", tls)
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    (rx.recv().unwrap(), id.fingerprint, joins)
}

/// A member whose image version differs, or whose clock is ten minutes ahead, is refused by the
/// joiner before it sends anything: exit 1, the reasons named, no join request, nothing written.
#[test]
fn cluster_join_refuses_a_member_that_fails_the_pre_join_checks() {
    use std::sync::atomic::Ordering;

    let tmp = tempfile::tempdir().unwrap();
    let now_ms = || {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        u64::try_from(since.unwrap().as_millis()).unwrap()
    };
    let facts = std::sync::Arc::new(std::sync::Mutex::new(serde_json::json!({
        "node": "node1", "image_version": "0.0.1", "clock_ms": now_ms(), "mtu": null,
        "listening": [],
    })));
    let (addr, fingerprint, joins) = fake_member(&tmp.path().join("member"), facts.clone());
    let node = tmp.path().join("node");
    stackbox_firstboot::identity::ensure(&node, &["node-2".to_owned()]).unwrap();
    let before: Vec<_> = std::fs::read_dir(&node)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let args = [
        ip.as_str(),
        "--port",
        &port,
        "--fingerprint",
        &fingerprint,
        "--state",
        node.to_str().unwrap(),
        "--name",
        "node-2",
        "--code-stdin",
        "--skip-check",
        "name-resolution",
    ];
    let nothing_written = || {
        let after: Vec<_> = std::fs::read_dir(&node)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(after, before, "nothing written");
        assert!(!node.join("cluster").exists());
    };

    // Another image version.
    let out = join_with_stdin(&args, "ABCD-EFGH-JKMN\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the pre-join checks of member node1 (127.0.0.1) failed (1 of them); the join request was not sent"),
        "{err}"
    );
    assert!(
        err.contains("  version-mismatch: member node1 (127.0.0.1) runs image version 0.0.1"),
        "{err}"
    );
    assert!(
        err.contains("pre-join check name-resolution skipped"),
        "{err}"
    );
    assert!(
        err.contains("pre-join check mtu skipped: member node1 (127.0.0.1) has no data-plane MTU"),
        "{err}"
    );
    assert!(
        !err.contains("ABCD-EFGH-JKMN"),
        "the code is never repeated"
    );
    assert_eq!(joins.load(Ordering::SeqCst), 0, "no join request was sent");
    nothing_written();

    // The same version, but a clock ten minutes ahead; then both at once, both listed.
    *facts.lock().unwrap() = serde_json::json!({
        "node": "node1", "image_version": stackbox_cluster::image_version(),
        "clock_ms": now_ms() + 600_000, "mtu": null, "listening": [],
    });
    let out = join_with_stdin(&args, "ABCD-EFGH-JKMN\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(1 of them)"), "{err}");
    assert!(
        err.contains("  clock-skew: the clock of member node1 (127.0.0.1) is at least "),
        "{err}"
    );
    assert!(err.contains(" s ahead of this node's"), "{err}");
    facts.lock().unwrap()["image_version"] = "0.0.1".into();
    let out = join_with_stdin(&args, "ABCD-EFGH-JKMN\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("(2 of them)")
            && err.contains("  version-mismatch: ")
            && err.contains("  clock-skew: "),
        "{err}"
    );
    assert_eq!(joins.load(Ordering::SeqCst), 0, "no join request was sent");
    nothing_written();

    // Only the checks a legitimate setup may fail can be skipped.
    for check in [
        "version-mismatch",
        "clock-skew",
        "port-unreachable",
        "nonsense",
    ] {
        let out = join_with_stdin(
            &[&args[..], &["--skip-check", check]].concat(),
            "ABCD-EFGH-JKMN\n",
        );
        assert_eq!(out.status.code(), Some(2), "{check}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("name-resolution, mtu"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(joins.load(Ordering::SeqCst), 0);
    nothing_written();
}

/// `install-os` needs a disk (from `--target` or the answer file), judges an answer file whole before
/// anything, and writes nothing when it is refused; `answers check` names each wrong field.
#[test]
fn install_os_and_answers_check_refuse_before_writing() {
    let out = stackboxd(&["install-os", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--target"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answers.toml");
    std::fs::write(
        &file,
        "[disk]\ntarget = \"/dev/nonexistent-disk\"\n[admin]\npassword_hash = \"$1$weak\"\n[mystery]\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = stackboxd(&["install-os", "--answers", path, "--yes"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("mystery: unknown section"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    std::fs::write(
        &file,
        "[disk]\ntarget = \"/dev/nonexistent-disk\"\n[admin]\npassword_hash = \"$1$weak\"\n",
    )
    .unwrap();
    let out = stackboxd(&[
        "answers",
        "check",
        path,
        "--live",
        "--root",
        &machine("intel-server-4nic"),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("admin.password_hash: 1 is not accepted: use argon2id"),
        "{err}"
    );
    assert!(
        err.contains("disk.target: there is no disk /dev/nonexistent-disk"),
        "{err}"
    );
}
