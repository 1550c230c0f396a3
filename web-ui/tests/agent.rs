//! The node agent over the wire: a real agent listener (mutual TLS 1.3, cluster certificates only) on
//! loopback, asked for its node's hardware by the first node's side (`coordinator::hardware_of`, what the
//! wizard's Cluster page calls). A caller from another CA and an agent that does not listen get an
//! error naming the node, never a report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::agent::{LOOPBACK, RunningAgent, setup};
use common::machine;
use stackbox_cluster::coordinator::{Setup, ensure_own_credentials, hardware_of};
use stackbox_cluster::hardware::Hardware;
use stackbox_cluster::node::NODE_DIR;
use stackbox_machine::system::Root;

#[test]
fn the_first_node_reads_a_joined_nodes_hardware_over_mutual_tls() {
    let cluster = tempfile::tempdir().unwrap();
    let node1 = tempfile::tempdir().unwrap();
    let node2 = tempfile::tempdir().unwrap();
    let caller = setup(node1.path(), Some(cluster.path()), 0);
    let agent = RunningAgent::start(node2.path(), cluster.path());
    let caller = Setup {
        port: agent.addr.port(),
        ..caller
    };
    let reports = hardware_of(
        &caller,
        ("node1", LOOPBACK),
        &[("node2".to_owned(), LOOPBACK)],
    )
    .unwrap();
    let report = reports["node2"].as_ref().expect("node2's hardware");
    let want = Hardware::probe(&Root::at(machine("intel-server-4nic"))).unwrap();
    assert_eq!(report, &want, "the agent's report is its machine's probe");
    assert!(report.facts.memory_bytes > 0);
}

#[test]
fn a_caller_of_another_cluster_and_a_silent_agent_get_an_error_never_a_report() {
    let cluster = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let node2 = tempfile::tempdir().unwrap();
    let agent = RunningAgent::start(node2.path(), cluster.path());
    // A node whose certificates come from another cluster's CA: the handshake fails both ways.
    let stranger = Setup {
        port: agent.addr.port(),
        ..setup(other.path(), None, 0)
    };
    let reports = hardware_of(
        &stranger,
        ("node9", LOOPBACK),
        &[("node2".to_owned(), LOOPBACK)],
    )
    .unwrap();
    let why = reports["node2"].as_ref().unwrap_err();
    assert!(why.contains("127.0.0.1"), "{why}");
    // An agent that does not listen: the error names where it was asked.
    let node1 = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let caller = Setup {
        port: closed,
        ..setup(node1.path(), Some(cluster.path()), 0)
    };
    let reports = hardware_of(
        &caller,
        ("node1", LOOPBACK),
        &[("node3".to_owned(), LOOPBACK)],
    )
    .unwrap();
    let why = reports["node3"].as_ref().unwrap_err();
    assert!(why.contains(&format!("127.0.0.1:{closed}")), "{why}");
}

#[test]
fn the_status_carries_what_mariadbs_last_start_decided() {
    let cluster = tempfile::tempdir().unwrap();
    let node1 = tempfile::tempdir().unwrap();
    let node2 = tempfile::tempdir().unwrap();
    let caller = setup(node1.path(), Some(cluster.path()), 0);
    let agent = RunningAgent::start(node2.path(), cluster.path());
    let decision = stackbox_cluster::galera::Decision::Bootstrap {
        mark_safe: false,
        reason: "this node left the cluster last and cleanly (position 42)".into(),
    };
    let (outcome, reason) = decision.outcome();
    let kept = stackbox_cluster::galera_start::keep(
        node2.path(),
        outcome,
        reason,
        std::time::SystemTime::now(),
    )
    .unwrap();
    let mut config: stackbox_installer::ClusterConfig = toml::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/allinone.toml"),
        )
        .unwrap(),
    )
    .unwrap();
    config.nodes.truncate(1);
    config.nodes[0].address = LOOPBACK;
    let tls = stackbox_cluster::coordinator::client_tls(&caller, "node1", LOOPBACK).unwrap();
    let status = stackbox_cluster::agent_client::ask_agents(&config, tls, agent.addr.port());
    let stackbox_cluster::status::AgentAnswer::Healthy { status: node } = &status.members[0].agent
    else {
        panic!("{status:?}");
    };
    assert_eq!(node.galera_start.as_ref(), Some(&kept));
    // No MariaDB here: the status says why Galera could not be read, and is not healthy.
    assert!(node.galera_error.is_some(), "{node:?}");
    assert!(!status.healthy());
    let text = stackbox_cluster::status::render_text(&status);
    assert!(text.contains("galera start: bootstrapped "), "{text}");
    assert!(
        text.contains(" ago: this node left the cluster last"),
        "{text}"
    );
}

/// The health of the agent at `port`, asked with the credentials `ensure_own_credentials` made in `dir`.
fn health_with(dir: &Path, ca: &Path, port: u16) -> Result<(), String> {
    let creds = dir.join(NODE_DIR);
    let tls = stackbox_cluster::agent_client::tls_config(
        &ca.join("ca.pem"),
        &creds.join(stackbox_cluster::node::NODE_CERT),
        &creds.join(stackbox_cluster::node::NODE_KEY),
    )
    .map_err(|e| e.to_string())?;
    stackbox_cluster::agent_client::AgentLink {
        addr: SocketAddr::new(LOOPBACK, port),
        tls,
    }
    .health()
    .map(|_| ())
    .map_err(|e| stackbox_common::error::chain(&e))
}

#[test]
fn a_revoked_nodes_certificate_is_refused_from_the_next_handshake_and_the_others_still_work() {
    let cluster = tempfile::tempdir().unwrap();
    let node1 = tempfile::tempdir().unwrap();
    let node2 = tempfile::tempdir().unwrap();
    let node3 = tempfile::tempdir().unwrap();
    let agent = RunningAgent::start(node2.path(), cluster.path());
    let port = agent.addr.port();
    let first = setup(node1.path(), Some(cluster.path()), port);
    ensure_own_credentials(&first, "node1", LOOPBACK).unwrap();
    let third = setup(node3.path(), Some(cluster.path()), port);
    ensure_own_credentials(&third, "node3", LOOPBACK).unwrap();
    health_with(node1.path(), cluster.path(), port).expect("node1 before the revocation");
    health_with(node3.path(), cluster.path(), port).expect("node3 before the revocation");
    // node3 is removed: its serial is revoked by the CA's holder and the CRL reaches node2's agent
    // (as an assignment writes it).
    let cert = std::fs::read_to_string(
        node3
            .path()
            .join(NODE_DIR)
            .join(stackbox_cluster::node::NODE_CERT),
    )
    .unwrap();
    let serial = stackbox_cluster::revocation::serial_of(&cert).unwrap();
    let crl = stackbox_cluster::revocation::revoke(
        node1.path(),
        &first.ca.ca_cert,
        &first.ca.ca_key,
        "node3",
        &serial,
        std::time::SystemTime::now(),
    )
    .unwrap();
    std::fs::copy(
        &crl,
        node2
            .path()
            .join(NODE_DIR)
            .join(stackbox_cluster::revocation::AGENT_CRL),
    )
    .unwrap();
    let refused = health_with(node3.path(), cluster.path(), port).unwrap_err();
    assert!(refused.contains("127.0.0.1"), "{refused}");
    health_with(node1.path(), cluster.path(), port).expect("node1 after the revocation");
}

/// Node 2's agent running, and node 1's link to it with its cluster credentials: (the directories,
/// kept while the agent runs; the agent; the link).
fn linked_agent() -> (
    [tempfile::TempDir; 3],
    RunningAgent,
    stackbox_cluster::agent_client::AgentLink,
) {
    let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
    let [cluster, node1, node2] = &dirs;
    let caller = setup(node1.path(), Some(cluster.path()), 0);
    let agent = RunningAgent::start(node2.path(), cluster.path());
    let tls = stackbox_cluster::coordinator::client_tls(&caller, "node1", LOOPBACK).unwrap();
    let link = stackbox_cluster::agent_client::AgentLink {
        addr: agent.addr,
        tls,
    };
    (dirs, agent, link)
}

#[test]
fn a_members_agent_answers_its_part_of_a_support_bundle_over_mutual_tls() {
    let (_dirs, _agent, link) = linked_agent();
    let part: stackbox_cluster::bundle::NodePart = link
        .get_large(
            stackbox_cluster::bundle::BUNDLE_PATH,
            stackbox_cluster::bundle::PART_TIMEOUT,
            stackbox_cluster::bundle::PART_LIMIT,
        )
        .unwrap();
    // The fixture machine holds no configuration; the commands ran on this machine: the addresses at
    // least, and what could not run is named.
    let addresses = part
        .files
        .iter()
        .find(|(n, _)| n == "status/addresses.txt")
        .map(|(_, t)| t.as_str())
        .unwrap_or_else(|| panic!("{part:?}"));
    assert!(addresses.contains("lo"), "{addresses}");
    assert!(
        part.missing
            .iter()
            .any(|(what, _)| what == "install/journal.txt"),
        "{:?}",
        part.missing
    );
}

#[test]
fn the_admin_desk_names_a_ports_holder_and_restarts_only_the_clouds_installed_services() {
    let (_dirs, _agent, link) = linked_agent();
    // This test holds a port: the agent (on the same machine) names this process.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holders = link.port_holders(port).unwrap();
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert_eq!(holders[0].pid, Some(std::process::id()), "{holders:?}");
    assert_eq!(holders[0].local, format!("127.0.0.1:{port}"));
    drop(listener);
    assert!(link.port_holders(port).unwrap().is_empty());
    // Not one of the cloud's services: refused before anything runs.
    match link.restart("sshd") {
        Err(stackbox_cluster::agent_client::LinkError::Refused { status, detail, .. }) => {
            assert_eq!(status, 422);
            assert!(
                detail.contains("not one of the cloud's services"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    // One of them, not installed on this machine: said so.
    match link.restart("nova-compute") {
        Err(stackbox_cluster::agent_client::LinkError::Refused { status, detail, .. }) => {
            assert_eq!(status, 404, "{detail}");
            assert!(detail.contains("not installed on this node"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_members_agent_runs_the_troubleshooting_matrix_on_its_node_over_mutual_tls() {
    let (_dirs, _agent, link) = linked_agent();
    // A window that is not 1 second to 30 days is refused before anything runs.
    for bad in [
        "-5",
        "0",
        "2592001",
        "99999999999999999999999",
        "2h",
        "abc",
        "",
    ] {
        let path = format!("{}?since={bad}", stackbox_cluster::diagnose::DIAGNOSE_PATH);
        match link.get_large::<stackbox_cluster::diagnose::NodeDiagnosis>(
            &path,
            std::time::Duration::from_secs(30),
            4 << 20,
        ) {
            Err(stackbox_cluster::agent_client::LinkError::Refused { status, detail, .. }) => {
                assert_eq!(status, 422, "{bad}: {detail}");
                assert!(detail.starts_with("since: "), "{bad}: {detail}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let window = stackbox_cluster::diagnose::Window::from_secs(7200).unwrap();
    let d: stackbox_cluster::diagnose::NodeDiagnosis = link
        .get_large(
            &stackbox_cluster::diagnose::across::diagnose_path(window),
            std::time::Duration::from_secs(120),
            4 << 20,
        )
        .unwrap();
    // Every symptom of the catalog, in its order, each with how it went.
    let catalog = stackbox_cluster::diagnose::catalog::Catalog::shipped().unwrap();
    let want: Vec<&str> = catalog.symptoms.iter().map(|s| s.id.as_str()).collect();
    let got: Vec<&str> = d.checked.iter().map(|c| c.symptom.as_str()).collect();
    assert_eq!(got, want);
    // The fixture machine's root holds no /proc: the disk probe says it could not read its mounts
    // rather than calling the node healthy.
    let disk = d.checked.iter().find(|c| c.symptom == "disk.full").unwrap();
    assert_eq!(
        disk.outcome,
        stackbox_cluster::diagnose::Outcome::Failed("cannot read /proc/self/mounts".into())
    );
}

#[test]
fn the_hypervisor_desk_touches_only_novas_domains() {
    let (_dirs, _agent, link) = linked_agent();
    for bad in ["vm1", "instance-0000000g", "instance-0000000a0"] {
        match link.vm_restart(bad) {
            Err(stackbox_cluster::agent_client::LinkError::Refused { status, detail, .. }) => {
                assert_eq!(status, 422, "{bad}: {detail}");
                assert!(detail.contains("not one of nova's domains"), "{detail}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    // One of nova's names reaches libvirt, which this machine does not run (or has no such domain).
    match link.vm_state("instance-0000000a") {
        Err(stackbox_cluster::agent_client::LinkError::Refused { status, detail, .. }) => {
            assert!(status == 404 || status == 500, "{status}: {detail}");
            assert!(
                detail.contains("virsh") || detail.contains("no domain"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rotated_ca_is_trusted_served_and_retired_without_restarting_the_agent() {
    let [old_ca, new_ca, both, node1, node2, node4] = [(); 6].map(|_| tempfile::tempdir().unwrap());
    let agent = RunningAgent::start(node2.path(), old_ca.path());
    let port = agent.addr.port();
    // node1 has a certificate of the old CA, node4 one of the new CA.
    ensure_own_credentials(
        &setup(node1.path(), Some(old_ca.path()), port),
        "node1",
        LOOPBACK,
    )
    .unwrap();
    let fresh = setup(node4.path(), Some(new_ca.path()), port);
    ensure_own_credentials(&fresh, "node4", LOOPBACK).unwrap();
    let pem = |dir: &Path| std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    std::fs::write(
        both.path().join("ca.pem"),
        format!("{}{}", pem(new_ca.path()), pem(old_ca.path())),
    )
    .unwrap();
    let creds = node2.path().join(NODE_DIR);
    health_with(node4.path(), both.path(), port).expect_err("the new CA is not trusted yet");

    // trust: the agent's credentials list both CAs; it lets node4 in from the next handshake on.
    std::fs::copy(both.path().join("ca.pem"), creds.join("ca.pem")).unwrap();
    health_with(node4.path(), both.path(), port).expect("trusted beside the old one");
    health_with(node1.path(), both.path(), port).expect("the old CA's node still gets in");
    health_with(node4.path(), new_ca.path(), port)
        .expect_err("the agent still presents the old CA's certificate");

    // sign: the agent's own certificate is issued again by the new CA; it serves it from then on.
    let (issuer, _) =
        stackbox_installer::certificate::ensure_ca(&fresh.ca.ca_cert, &fresh.ca.ca_key).unwrap();
    let params = stackbox_common::pki::leaf_params(
        &["node2".to_owned(), "127.0.0.1".to_owned()],
        "node2",
        stackbox_common::pki::Purpose::ServerAndClient,
    )
    .unwrap();
    let (cert, key) = stackbox_common::pki::new_leaf(params, &issuer).unwrap();
    std::fs::write(
        creds.join(stackbox_cluster::node::NODE_KEY),
        key.serialize_pem(),
    )
    .unwrap();
    std::fs::write(creds.join(stackbox_cluster::node::NODE_CERT), cert.pem()).unwrap();
    health_with(node4.path(), new_ca.path(), port).expect("the new certificate is served");

    // retire: the old CA leaves the agent's credentials; its node is refused, the new one is not.
    std::fs::copy(new_ca.path().join("ca.pem"), creds.join("ca.pem")).unwrap();
    let refused = health_with(node1.path(), both.path(), port).unwrap_err();
    assert!(refused.contains("127.0.0.1"), "{refused}");
    health_with(node4.path(), new_ca.path(), port).expect("the new CA's node after the retirement");
}
