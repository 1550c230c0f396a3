//! Joining over the wire: a real wizard on loopback with a created cluster and an issued code, and the
//! cluster crate's joiner (the same code `stackboxd cluster join` runs) against it. Also the route's
//! refusals that need no network (stale, version, name, size), through the application in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use actix_web::test::init_service;
use common::*;
use stackbox_cluster::admit::Admission;
use stackbox_cluster::client::ClientError;
use stackbox_cluster::code::{CodeStatus, DEFAULT_VALIDITY, MAX_TRIES};
use stackbox_cluster::node::{self, JoinError, JoiningNode, NODE_DIR, Target};
use stackbox_cluster::{CodeStore, Fingerprint, JoinCode, Joiner};
use stackbox_web::app::app as wizard;
use stackbox_web::state::AppState;

const NETWORK: &str = r#"{"hostname": "node1", "management_nic": "NIC", "data_nic": "NIC",
  "mode": "static", "address": "10.0.0.5/24", "gateway": "10.0.0.1", "dns": "10.0.0.53",
  "bridge": "br-mgmt", "vlan": "", "mtu": "1500", "vxlan_min": "1", "vxlan_max": "1000"}"#;

/// Stores the network and creates the cluster `lab`, as the wizard's steps do.
fn create_cluster(state: &AppState) {
    let nics = state.wizard.nic_names();
    let form = serde_json::from_str(&NETWORK.replace("NIC", &nics[0])).unwrap();
    let settings = stackbox_web::network::validate(&form, &nics).unwrap();
    state.wizard.store_network(&settings).unwrap();
    state.wizard.create_cluster("lab", "").unwrap();
}

/// A member: its wizard serving on loopback with the cluster created, and its fingerprint.
struct MemberNode {
    _dir: tempfile::TempDir,
    running: Running,
    fingerprint: Fingerprint,
}

impl MemberNode {
    fn start() -> MemberNode {
        let dir = tempfile::tempdir().unwrap();
        let running = Running::start(options(dir.path()));
        create_cluster(&running.state);
        let fingerprint = Fingerprint::parse(&running.state.fingerprint).unwrap();
        MemberNode {
            _dir: dir,
            running,
            fingerprint,
        }
    }

    fn codes(&self) -> CodeStore {
        CodeStore::new(&self.running.state_dir)
    }

    /// Issues a code valid for an hour from `at`.
    fn issue_at(&self, at: SystemTime) -> JoinCode {
        self.codes().issue(at, DEFAULT_VALIDITY).unwrap().code
    }

    fn issue(&self) -> JoinCode {
        self.issue_at(SystemTime::now())
    }

    fn tries_left(&self) -> u32 {
        match self.codes().status(SystemTime::now()).unwrap() {
            CodeStatus::Open { tries_left, .. } => tries_left,
            other => panic!("{other:?}"),
        }
    }

    fn target(&self) -> Target {
        Target {
            addr: self.running.addr,
            fingerprint: self.fingerprint,
        }
    }
}

/// A node that has not joined: a state directory with its own wizard certificate.
fn new_node(name: &str) -> (tempfile::TempDir, JoiningNode) {
    let dir = tempfile::tempdir().unwrap();
    stackbox_firstboot::identity::ensure(dir.path(), &[name.to_owned()]).unwrap();
    let node = JoiningNode {
        state_dir: dir.path().to_owned(),
        name: name.to_owned(),
        address: None,
    };
    (dir, node)
}

fn refused(result: Result<std::path::PathBuf, JoinError>) -> node::Refusal {
    match result {
        Err(JoinError::Refused(r)) => r,
        other => panic!("not refused by the member: {other:?}"),
    }
}

fn nothing_stored(node: &JoiningNode) {
    let cluster = node.state_dir.join("cluster");
    assert!(!node.state_dir.join(NODE_DIR).exists());
    if cluster.exists() {
        let left: Vec<_> = std::fs::read_dir(&cluster).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

fn wrong_code(right: &JoinCode) -> JoinCode {
    let wrong = JoinCode::parse("2222-3333-4444").unwrap();
    assert_ne!(&wrong, right);
    wrong
}

#[test]
fn a_wrong_code_is_refused_with_the_tries_left_and_five_lock_even_the_right_one() {
    let member = MemberNode::start();
    let code = member.issue();
    let (_dir, joiner) = new_node("node-2");
    for left in (0..MAX_TRIES).rev() {
        let r = refused(node::join(
            &joiner,
            &member.target(),
            &wrong_code(&code),
            SystemTime::now(),
        ));
        assert_eq!((r.status, r.reason.as_str()), (403, "wrong-code"));
        assert!(r.detail.contains(&format!("{left} tries left")), "{r:?}");
        assert!(!r.detail.contains(&code.expose()));
    }
    let r = refused(node::join(
        &joiner,
        &member.target(),
        &code,
        SystemTime::now(),
    ));
    assert_eq!((r.status, r.reason.as_str()), (403, "locked"));
    nothing_stored(&joiner);
}

#[test]
fn an_expired_code_is_refused() {
    let member = MemberNode::start();
    let code = member.issue_at(SystemTime::now() - DEFAULT_VALIDITY - Duration::from_secs(1));
    let (_dir, joiner) = new_node("node-2");
    let r = refused(node::join(
        &joiner,
        &member.target(),
        &code,
        SystemTime::now(),
    ));
    assert_eq!((r.status, r.reason.as_str()), (403, "expired"));
    nothing_stored(&joiner);
}

#[test]
fn a_wrong_fingerprint_is_refused_by_the_joiner_before_anything_is_sent() {
    let member = MemberNode::start();
    let code = member.issue();
    let (_dir, joiner) = new_node("node-2");
    let mut target = member.target();
    target.fingerprint = Fingerprint::of_der(b"another member's certificate");
    match node::join(&joiner, &target, &code, SystemTime::now()) {
        Err(JoinError::Client(ClientError::Pin {
            pinned, presented, ..
        })) => {
            assert_eq!(pinned, target.fingerprint);
            assert_eq!(presented, member.fingerprint);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        member.tries_left(),
        MAX_TRIES,
        "no request reached the member"
    );
    nothing_stored(&joiner);
}

#[test]
fn a_request_that_names_another_address_is_refused_without_a_try() {
    let member = MemberNode::start();
    let code = member.issue();
    let (_dir, mut joiner) = new_node("node-2");
    joiner.address = Some("127.0.0.2".parse().unwrap());
    let r = refused(node::join(
        &joiner,
        &member.target(),
        &code,
        SystemTime::now(),
    ));
    assert_eq!((r.status, r.reason.as_str()), (403, "address-mismatch"));
    assert_eq!(member.tries_left(), MAX_TRIES);
    nothing_stored(&joiner);
}

/// Verifies `cert` (PEM) against `ca` (PEM).
fn signed_by(cert: &Path, ca: &Path) -> bool {
    use x509_parser::pem::parse_x509_pem;
    let (cert, ca) = (std::fs::read(cert).unwrap(), std::fs::read(ca).unwrap());
    let (_, cert) = parse_x509_pem(&cert).unwrap();
    let (_, ca) = parse_x509_pem(&ca).unwrap();
    let (cert, ca) = (cert.parse_x509().unwrap(), ca.parse_x509().unwrap());
    cert.verify_signature(Some(ca.public_key())).is_ok()
}

#[test]
fn a_failed_join_leaves_nothing_a_retry_with_a_new_code_joins_and_spends_it() {
    let member = MemberNode::start();
    let state_dir = member.running.state_dir.clone();
    let member_ca = state_dir.join("cluster/ca.pem");
    let ca_key = std::fs::metadata(state_dir.join("cluster/ca-key.pem")).unwrap();
    assert_eq!(
        ca_key.permissions().mode() & 0o777,
        0o600,
        "the CA came with the cluster"
    );
    let (_dir, joiner) = new_node("node-2");
    let first = member.issue();
    let r = refused(node::join(
        &joiner,
        &member.target(),
        &wrong_code(&first),
        SystemTime::now(),
    ));
    assert_eq!(r.reason, "wrong-code");
    nothing_stored(&joiner);

    let code = member.issue();
    let dir = node::join(&joiner, &member.target(), &code, SystemTime::now()).unwrap();
    assert_eq!(dir, joiner.state_dir.join(NODE_DIR));
    let key = std::fs::metadata(dir.join(node::NODE_KEY)).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read(dir.join(node::CLUSTER_CA)).unwrap(),
        std::fs::read(&member_ca).unwrap()
    );
    assert!(signed_by(&dir.join(node::NODE_CERT), &member_ca));

    let members = member.running.state.wizard.members().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].name, "node-2");
    assert_eq!(members[0].address, "127.0.0.1".parse::<IpAddr>().unwrap());
    let own = stackbox_common::pki::read_certificate(&joiner.state_dir.join("tls/wizard.crt"));
    assert_eq!(members[0].fingerprint, Fingerprint::of_der(&own.unwrap()));

    // The code is spent: another node cannot use it.
    let (_other_dir, other) = new_node("node-3");
    let r = refused(node::join(
        &other,
        &member.target(),
        &code,
        SystemTime::now(),
    ));
    assert_eq!((r.status, r.reason.as_str()), (403, "no-code"));
    nothing_stored(&other);
    // And this node, joined, does not ask again.
    let again = node::join(
        &joiner,
        &member.target(),
        &member.issue(),
        SystemTime::now(),
    );
    assert!(
        matches!(again, Err(JoinError::AlreadyJoined(_))),
        "{again:?}"
    );
}

fn join_body(member: &Fingerprint, code: &JoinCode, joiner: &Joiner, at: SystemTime) -> String {
    let (request, _) = joiner.request(code, member, at).unwrap();
    serde_json::to_string(&request).unwrap()
}

#[actix_web::test]
async fn the_route_needs_no_session_lists_members_to_the_admin_and_names_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(options(dir.path()));
    let app = init_service(wizard(state.clone())).await;
    let post = |body: String| {
        req("POST", "/api/v1/cluster/join")
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body)
    };
    let member = Fingerprint::parse(&state.fingerprint).unwrap();
    let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
    let joiner = Joiner {
        node: "node-2".to_owned(),
        address: "127.0.0.1".parse().unwrap(),
        fingerprint: Fingerprint::of_der(b"node-2"),
        image_version: stackbox_cluster::image_version().to_owned(),
    };
    let now = SystemTime::now();
    // Before the cluster exists, nobody can join it.
    let r = call(&app, post(join_body(&member, &code, &joiner, now))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    create_cluster(&state);
    let r = call(&app, post(join_body(&member, &code, &joiner, now))).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("problems/no-code"), "{}", r.body);

    let code = CodeStore::new(dir.path())
        .issue(now, DEFAULT_VALIDITY)
        .unwrap()
        .code;
    let old = now - Duration::from_secs(3600);
    let mut other = joiner.clone();
    other.image_version = "0.0.1".to_owned();
    let mut badly_named = joiner.clone();
    badly_named.node = "Node_2".to_owned();
    for (body, status, reason) in [
        (
            join_body(&member, &code, &joiner, old),
            400,
            "stale-request",
        ),
        (
            join_body(&member, &code, &other, now),
            409,
            "version-mismatch",
        ),
        (
            join_body(&member, &code, &badly_named, now),
            422,
            "bad-name",
        ),
        ("{\"node\": 1}".to_owned(), 400, "bad-request"),
        (
            format!("{{\"pad\": \"{}\"}}", "x".repeat(20_000)),
            413,
            "payload-too-large",
        ),
    ] {
        let r = call(&app, post(body)).await;
        assert_eq!(r.status, status, "{reason}: {}", r.body);
        assert!(r.body.contains(&format!("problems/{reason}")), "{}", r.body);
    }
    let r = call(
        &app,
        post(join_body(&member, &wrong_code(&code), &joiner, now)),
    )
    .await;
    assert_eq!(r.status, 403);
    let problem: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(problem["tries_left"], MAX_TRIES - 1);

    let r = call(&app, req("GET", "/api/v1/cluster/members")).await;
    assert_eq!(r.status, 401, "the list needs the admin");
    let r = call(&app, post(join_body(&member, &code, &joiner, now))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The member records the granted certificate's serial: a removal revokes it.
    let grant: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let serial =
        stackbox_cluster::revocation::serial_of(grant["certificate"].as_str().unwrap()).unwrap();
    let recorded = stackbox_cluster::members::load(dir.path()).unwrap();
    assert_eq!(recorded[0].serial.as_deref(), Some(serial.as_str()));
    let (s, _) = admin(&app, &token(dir.path())).await;
    let r = call(
        &app,
        with_session(req("GET", "/api/v1/cluster/members"), &s),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["members"][0]["name"], "node-2");
    assert_eq!(doc["members"][0]["address"], "127.0.0.1");
}

/// The body of a precheck request: an admission for `address` made with `code` at `at`.
fn admission_body(member: &Fingerprint, code: &JoinCode, address: &str, at: SystemTime) -> String {
    let admission = Admission::new(address.parse().unwrap(), code, member, at).unwrap();
    serde_json::to_string(&admission).unwrap()
}

#[actix_web::test]
async fn the_precheck_answers_a_node_that_proves_the_code_with_the_members_facts_and_nothing_else()
{
    let dir = tempfile::tempdir().unwrap();
    let state = state(options(dir.path()));
    let app = init_service(wizard(state.clone())).await;
    let post = |body: String| {
        req("POST", "/api/v1/cluster/precheck")
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body)
    };
    let member = Fingerprint::parse(&state.fingerprint).unwrap();
    let now = SystemTime::now();
    let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
    // Before the cluster exists there is nothing to join; then no code is open.
    let r = call(&app, post(admission_body(&member, &code, "127.0.0.1", now))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    create_cluster(&state);
    let r = call(&app, post(admission_body(&member, &code, "127.0.0.1", now))).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("problems/no-code"), "{}", r.body);
    let codes = CodeStore::new(dir.path());
    let code = codes.issue(now, DEFAULT_VALIDITY).unwrap().code;
    let old = now - Duration::from_secs(3600);
    for (body, status, reason) in [
        (
            admission_body(&member, &code, "10.9.9.9", now),
            403,
            "address-mismatch",
        ),
        (
            admission_body(&member, &code, "127.0.0.1", old),
            400,
            "stale-request",
        ),
        (
            admission_body(
                &Fingerprint::of_der(b"another member"),
                &code,
                "127.0.0.1",
                now,
            ),
            403,
            "wrong-code",
        ),
        ("{\"address\": 1}".to_owned(), 400, "bad-request"),
        (
            format!("{{\"pad\": \"{}\"}}", "x".repeat(20_000)),
            413,
            "payload-too-large",
        ),
    ] {
        let r = call(&app, post(body)).await;
        assert_eq!(r.status, status, "{reason}: {}", r.body);
        assert!(r.body.contains(&format!("problems/{reason}")), "{}", r.body);
    }
    // The proof made for another member's certificate counted one try; the others none.
    let tries = |codes: &CodeStore| match codes.status(SystemTime::now()).unwrap() {
        CodeStatus::Open { tries_left, .. } => tries_left,
        other => panic!("{other:?}"),
    };
    assert_eq!(tries(&codes), MAX_TRIES - 1);

    let r = call(&app, post(admission_body(&member, &code, "127.0.0.1", now))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A good proof does not spend the code: the join still needs it.
    assert_eq!(tries(&codes), MAX_TRIES - 1);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let mut keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["clock_ms", "image_version", "listening", "mtu", "node"],
        "{doc}"
    );
    assert_eq!(doc["node"], "node1");
    assert_eq!(doc["mtu"], 1500);
    assert_eq!(doc["image_version"], stackbox_cluster::image_version());
    let ms = stackbox_cluster::precheck::unix_ms(now);
    assert!(
        doc["clock_ms"].as_u64().unwrap().abs_diff(ms) < 5_000,
        "{doc}"
    );
    // The fixture machine has no /proc/net/tcp: it listens on nothing.
    assert_eq!(doc["listening"], serde_json::json!([]));
    // The facts are no longer told to anyone who asks.
    let r = call(&app, req("GET", "/api/v1/cluster/precheck")).await;
    assert_eq!(r.status, 405, "{}", r.body);
}

#[test]
fn the_joiner_fetches_the_precheck_over_the_pinned_connection() {
    use stackbox_cluster::precheck::{self, PrecheckError};
    let member = MemberNode::start();
    let code = member.issue();
    let admit = |code: JoinCode, pin: Fingerprint| {
        move |local| Admission::new(local, &code, &pin, SystemTime::now())
    };
    let before = SystemTime::now();
    let fetched = precheck::fetch(
        member.running.addr,
        member.fingerprint,
        admit(code.clone(), member.fingerprint),
    )
    .unwrap();
    assert_eq!(fetched.facts.node, "node1");
    assert_eq!(fetched.facts.mtu, Some(1500));
    assert!(before <= fetched.sent && fetched.sent <= fetched.received);
    let skew = precheck::clock_skew_ms(
        fetched.facts.clock_ms,
        precheck::unix_ms(fetched.sent),
        precheck::unix_ms(fetched.received),
    );
    assert!(skew <= 1, "one clock on both sides: {skew} ms");
    // A wrong code: the member's refusal, with its reason, and a try counted.
    match precheck::fetch(
        member.running.addr,
        member.fingerprint,
        admit(wrong_code(&code), member.fingerprint),
    ) {
        Err(PrecheckError::Refused(r)) => assert_eq!(r.reason, "wrong-code", "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(member.tries_left(), MAX_TRIES - 1);
    // Another certificate than the pinned one: nothing is asked.
    let wrong = Fingerprint::of_der(b"another member's certificate");
    match precheck::fetch(member.running.addr, wrong, admit(code, wrong)) {
        Err(PrecheckError::Client(ClientError::Pin { presented, .. })) => {
            assert_eq!(presented, member.fingerprint);
        }
        other => panic!("{other:?}"),
    }
}

/// A member whose wizard answers to `hostname`, with a code issued through its wizard.
fn member_named(hostname: &str) -> (MemberNode, String) {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));
    let nics = running.state.wizard.nic_names();
    let form = serde_json::from_str(
        &NETWORK
            .replace("NIC", &nics[0])
            .replace("\"node1\"", &format!("\"{hostname}\"")),
    )
    .unwrap();
    let settings = stackbox_web::network::validate(&form, &nics).unwrap();
    running.state.wizard.store_network(&settings).unwrap();
    running.state.wizard.create_cluster("lab", "").unwrap();
    let fingerprint = Fingerprint::parse(&running.state.fingerprint).unwrap();
    let issued = running
        .state
        .wizard
        .issue_join_code(SystemTime::now())
        .unwrap();
    assert_eq!(issued.fingerprint, fingerprint.to_string());
    let member = MemberNode {
        _dir: dir,
        running,
        fingerprint,
    };
    (member, issued.code.expose().to_owned())
}

#[test]
fn a_node_joins_through_its_wizard_after_the_checks_and_the_member_lists_it() {
    let (member, code) = member_named("localhost");
    let dir = tempfile::tempdir().unwrap();
    let joiner = Running::start(options(dir.path()));
    let wizard = &joiner.state.wizard;
    let at = member.running.addr.to_string();
    let fp = member.fingerprint.to_string();
    // Must fail: every malformed field is named, nothing is sent or written.
    match wizard.join_existing("not an address", "XX", "SHA256:00", SystemTime::now()) {
        Err(stackbox_web::error::WebError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
            assert_eq!(fields, ["member", "code", "fingerprint"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(wizard.joined().unwrap().is_none());
    let joined = wizard
        .join_existing(&at, &code, &fp, SystemTime::now())
        .unwrap();
    assert_eq!(joined.member, member.running.addr.ip());
    assert_eq!(wizard.joined().unwrap(), Some(joined));
    assert!(
        joiner
            .state_dir
            .join(NODE_DIR)
            .join(node::NODE_CERT)
            .exists()
    );
    assert_eq!(member.running.state.wizard.members().unwrap().len(), 1);
    // Joined once: a second join is refused as a conflict.
    let again = wizard.join_existing(&at, &code, &fp, SystemTime::now());
    assert!(
        matches!(again, Err(stackbox_web::error::WebError::Conflict(_))),
        "{again:?}"
    );
}

#[test]
fn the_wizards_join_refuses_a_member_that_fails_the_checks_and_writes_nothing() {
    // The member's name does not resolve to its address here: the name-resolution check refuses.
    let (member, code) = member_named("node-unresolvable");
    let dir = tempfile::tempdir().unwrap();
    let joiner = Running::start(options(dir.path()));
    let err = joiner
        .state
        .wizard
        .join_existing(
            &member.running.addr.to_string(),
            &code,
            &member.fingerprint.to_string(),
            SystemTime::now(),
        )
        .unwrap_err();
    assert!(format!("{err:?}").contains("name-resolution"), "{err:?}");
    assert!(!joiner.state_dir.join(NODE_DIR).exists());
    assert!(joiner.state.wizard.joined().unwrap().is_none());
    assert!(member.running.state.wizard.members().unwrap().is_empty());
    // A member issues codes only once it has a cluster.
    let lone = tempfile::tempdir().unwrap();
    let alone = Running::start(options(lone.path()));
    assert!(
        alone
            .state
            .wizard
            .issue_join_code(SystemTime::now())
            .is_err()
    );
}

/// Zero-touch joins: an answer file built into the new node's root, with the member's address, a code and the
/// member's fingerprint, joins the cluster by itself through the same checks and pinned request as the
/// Cluster page; the member lists the node.
#[test]
fn an_answer_file_joins_a_cluster_by_itself() {
    let (member, code) = member_named("localhost");
    let hash = stackbox_web::auth::hash_password("a long and unusual phrase 7").unwrap();
    let root = root_with(&format!(
        "[admin]\npassword_hash = \"{hash}\"\n\n[cluster]\njoin = \"{}\"\ncode = \"{code}\"\nfingerprint = \"{}\"\n",
        member.running.addr, member.fingerprint
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.root = root.path().to_owned();
    let joiner = Running::start(opts);
    stackbox_web::zero_touch::start(joiner.state.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while joiner.state.wizard.joined().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the answer file did not join"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(member.running.state.wizard.members().unwrap().len(), 1);
    assert!(joiner.state.passwords.is_set());
}
