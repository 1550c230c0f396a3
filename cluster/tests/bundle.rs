//! The support bundle of a node made from a fixture root: secrets planted as written, URL-encoded and
//! inside base64 in configuration and logs are gone from the archive, which this test reads back with
//! tar and searches for every planted value itself; keys are left out; the report counts; the archive is
//! private and opens with the summary; an existing output is never overwritten.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use stackbox_cluster::bundle::{self, BundleArgs, BundleError};
use stackbox_common::cmd::Command;

const DB_NOVA: &str = "Qm7xT2vLp9Rz4NwK";
const RABBIT: &str = "r4bb1t+Pa55/w0rd=";
const TOKEN: &str = "setup-7HJ3-KQ9P-W2XM";
const CODE: &str = "ABCD-EFGH-JKMN";

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn fixture(root: &Path) {
    write(root, "etc/hostname", "node1\n");
    write(
        root,
        "etc/stackbox/secrets.toml",
        &format!("db-nova = \"{DB_NOVA}\"\nrabbit = \"{RABBIT}\"\n"),
    );
    write(
        root,
        "etc/stackbox/ca.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n",
    );
    write(
        root,
        "etc/stackbox/ca-key.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----\n",
    );
    let url = percent_encoding::utf8_percent_encode(RABBIT, percent_encoding::NON_ALPHANUMERIC);
    write(
        root,
        "etc/nova/nova.conf",
        &format!(
            "[database]\nconnection = mysql+pymysql://nova:{DB_NOVA}@10.20.0.10/nova\n\
             [DEFAULT]\ntransport_url = rabbit://openstack:{url}@10.20.0.11:5672/\n"
        ),
    );
    write(
        root,
        "var/log/nova/nova-api.log",
        &format!(
            "INFO request with Authorization: Basic {}\nERROR retried login with {DB_NOVA}\n",
            STANDARD.encode(format!("nova:{DB_NOVA}"))
        ),
    );
    write(
        root,
        "var/log/nova/nova-api.log.1.gz",
        "not taken: not a .log",
    );
    write(root, "var/lib/stackbox/setup-token", &format!("{TOKEN}\n"));
    write(
        root,
        "var/lib/stackbox/cluster/join-code",
        &format!("{{\"code\": \"{CODE}\", \"expires\": 1, \"failures\": 0}}"),
    );
    write(
        root,
        "var/lib/stackbox/settings.json",
        &format!("{{\"flavor\": \"openstack\", \"note\": \"token {TOKEN} code {CODE}\"}}"),
    );
}

#[test]
fn a_bundle_holds_no_secret_and_counts_what_it_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fixture(&root);
    let out = tmp.path().join("bundle.tar.gz");
    let args = BundleArgs {
        out: out.clone(),
        root: root.clone(),
        state: "/var/lib/stackbox".into(),
        this_node: false,
        agent_port: 8444,
    };
    let report = bundle::make(&args).unwrap();
    assert!(report.total() >= 6, "{}", report.render());
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&out)
        .run()
        .unwrap()
        .stdout;
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names[0], "stackbox-bundle/summary.txt", "{listing}");
    assert_eq!(
        names[1], "stackbox-bundle/redaction-report.txt",
        "{listing}"
    );
    for want in [
        "nodes/node1/etc/nova/nova.conf",
        "nodes/node1/var/log/nova/nova-api.log",
        "nodes/node1/etc/stackbox/ca.pem",
        "nodes/node1/state/settings.json",
    ] {
        assert!(listing.contains(want), "{want} missing:\n{listing}");
    }
    for never in [
        "secrets.toml",
        "ca-key.pem",
        "setup-token",
        "join-code",
        ".gz\n",
    ] {
        assert!(!listing.contains(never), "{never} taken:\n{listing}");
    }

    let x = tmp.path().join("x");
    std::fs::create_dir(&x).unwrap();
    Command::new("tar")
        .arg("-xzf")
        .arg(&out)
        .arg("-C")
        .arg(&x)
        .run()
        .unwrap();
    let mut all = String::new();
    for name in &names {
        all.push_str(&std::fs::read_to_string(x.join(name)).unwrap());
    }
    let url = percent_encoding::utf8_percent_encode(RABBIT, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let b64 = STANDARD.encode(format!("nova:{DB_NOVA}"));
    for (what, value) in [
        ("db-nova", DB_NOVA),
        ("rabbit, URL-encoded", url.as_str()),
        ("db-nova in base64", &b64[8..24]),
        ("setup token", TOKEN),
        ("join code", CODE),
        ("private key", "MIIEkey"),
    ] {
        assert!(!all.contains(value), "{what} is in the bundle");
    }
    let report_text = std::fs::read_to_string(x.join(names[1])).unwrap();
    for line in [
        "nodes/node1/etc/nova/nova.conf\tsecret db-nova (as written)\t1",
        "nodes/node1/etc/nova/nova.conf\tsecret rabbit (URL-encoded)\t1",
        "nodes/node1/var/log/nova/nova-api.log\tsecret db-nova (as written)\t1",
        "nodes/node1/var/log/nova/nova-api.log\tsecret db-nova (base64)\t1",
        "nodes/node1/state/settings.json\tsecret setup-token (as written)\t1",
        "nodes/node1/state/settings.json\tsecret join-code (as written)\t1",
    ] {
        assert!(report_text.contains(line), "no `{line}` in\n{report_text}");
    }
    let summary = std::fs::read_to_string(x.join(names[0])).unwrap();
    assert!(summary.contains("node: node1"), "{summary}");
    assert!(
        summary.contains("install journal") || summary.contains("no install journal"),
        "{summary}"
    );

    // Nothing is overwritten.
    match bundle::make(&args) {
        Err(BundleError::Exists(p)) => assert!(p.ends_with("bundle.tar.gz")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unreadable_secrets_refuse_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    write(&root, "etc/stackbox/secrets.toml", "this is [not toml");
    let out = tmp.path().join("b.tar.gz");
    let args = BundleArgs {
        out: out.clone(),
        root,
        state: "/var/lib/stackbox".into(),
        this_node: false,
        agent_port: 8444,
    };
    match bundle::make(&args) {
        Err(BundleError::Secrets { reason, .. }) => {
            assert!(!reason.contains("not toml"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.exists());
}

#[test]
fn a_node_without_a_part_is_named_with_why_and_a_part_that_leaks_refuses_the_bundle() {
    use stackbox_cluster::bundle::NodePart;
    use stackbox_cluster::bundle::redact::Redactor;
    let part = NodePart {
        node: "node1".to_owned(),
        files: vec![("etc/hosts".to_owned(), "10.20.0.11 node1\n".to_owned())],
        redactions: vec![(
            "etc/nova/nova.conf".to_owned(),
            "secret db-nova (as written)".to_owned(),
            2,
        )],
        missing: vec![(
            "status/rabbitmq.txt".to_owned(),
            "`rabbitmqctl`: not found".to_owned(),
        )],
    };
    let redactor = Redactor::new([("db-nova", DB_NOVA)]);
    let parts = vec![
        ("node1".to_owned(), Ok(part.clone())),
        (
            "node2".to_owned(),
            Err("the agent at 10.20.0.12:8444: connecting: refused".to_owned()),
        ),
    ];
    let b = bundle::assemble(&parts, &redactor).unwrap();
    let summary = &b.files[0].1;
    assert!(
        summary
            .contains("== node: node2\nno part: the agent at 10.20.0.12:8444: connecting: refused"),
        "{summary}"
    );
    assert!(
        summary.contains("status/rabbitmq.txt: `rabbitmqctl`: not found"),
        "{summary}"
    );
    assert_eq!(
        b.report.count(
            "nodes/node1/etc/nova/nova.conf",
            "secret db-nova (as written)"
        ),
        2
    );
    assert_eq!(b.files[2].0, "nodes/node1/etc/hosts");
    // A part that comes back holding a secret this node knows is redacted once more here (the check
    // that refuses a bundle is the redactor's, tested in its module).
    let mut leaky = part;
    leaky
        .files
        .push(("var/log/x.log".to_owned(), format!("login {DB_NOVA}\n")));
    let b = bundle::assemble(&[("node1".to_owned(), Ok(leaky))], &redactor).unwrap();
    assert!(b.files.iter().all(|(_, t)| !t.contains(DB_NOVA)));
    assert_eq!(
        b.report
            .count("nodes/node1/var/log/x.log", "secret db-nova (as written)"),
        1
    );
}
