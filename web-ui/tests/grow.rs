//! The first node's wizard grows the cluster: the nodes that joined are listed with their hardware (their
//! agents' reports; given here, as no agent runs in a test), each gets roles judged against its own
//! hardware, and the grown configuration is written where `stackboxd cluster install --config` takes
//! it. Golden pages and documents, and the input that must be refused with nothing stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use actix_web::test;
use common::*;
use stackbox_cluster::hardware::{Hardware, Source};
use stackbox_web::app::app as wizard;

fn roles_form<'a>(csrf: &'a str, roles: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![("csrf", csrf)];
    pairs.extend(roles.iter().map(|r| ("role", *r)));
    pairs
}

const GROWN: &str = "cluster/config.toml";

#[actix_web::test]
async fn joined_nodes_get_roles_judged_on_their_own_hardware_and_the_grown_configuration_is_written()
 {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    let given: BTreeMap<String, Hardware> = [
        ("node2".to_owned(), hardware("intel-server-4nic")),
        ("node3".to_owned(), hardware("vm-no-virt")),
        ("node5".to_owned(), hardware("intel-server-4nic")),
    ]
    .into();
    opts.joined_hardware = Source::Given(given);
    opts.profile = "baremetal".to_owned();
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    record_joins(dir.path());

    // The cluster page lists every joined node with its hardware, or why it is not known.
    let r = call(&app, with_session(req("GET", "/cluster"), &s)).await;
    assert_eq!(r.status, 200);
    let state_dir = dir.path().display().to_string();
    golden(
        "cluster-joined-nodes.html",
        &r.body.replace(&state_dir, "STATE"),
    );
    assert!(
        r.body.contains("not known: its agent did not answer"),
        "{}",
        r.body
    );

    // A joined node's roles page: its hardware, compute offered first, nothing saved yet.
    let r = call(&app, with_session(req("GET", "/cluster/nodes/node2"), &s)).await;
    assert_eq!(r.status, 200);
    golden("node-roles-form.html", &r.body);
    assert!(!dir.path().join(GROWN).exists());

    // Saved: judged on node2's own hardware, and the grown configuration written.
    let all = ["compute", "management", "message-bus", "storage-metadata"];
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster/nodes/node2"), &s),
            &roles_form(&csrf, &all),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    golden("node-roles-saved.html", &r.body);
    let written = std::fs::read_to_string(dir.path().join(GROWN)).unwrap();
    let mode = std::fs::metadata(dir.path().join(GROWN))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "the configuration holds no secret");
    let config = stackbox_installer::ClusterConfig::from_toml("grown", &written).unwrap();
    let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node1", "node2"]);
    assert_eq!(config.nodes[1].roles, all);
    assert_eq!(config.nodes[1].address.to_string(), "10.0.0.12");

    // The API says the same: the configuration as written, and each node's hardware and roles.
    let r = call(&app, with_session(req("GET", "/api/v1/cluster/config"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["toml"].as_str().unwrap(), written);
    golden("api-cluster-config.toml", &written);
    let r = call(&app, with_session(req("GET", "/api/v1/cluster/nodes"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    assert_eq!(nodes[0]["name"], "node2");
    assert_eq!(nodes[0]["roles"], serde_json::json!(all));
    assert!(
        nodes[0]["hardware"]["facts"]["memory_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(nodes[2]["name"], "node4");
    assert_eq!(nodes[2]["hardware"], serde_json::Value::Null);
    assert_eq!(nodes[2]["hardware_error"], "its agent did not answer");

    // The API's own assignment, for node3 as compute only, is judged as well: VT-x is missing.
    let r = call(
        &app,
        with_session(req("PUT", "/api/v1/cluster/nodes/node3"), &s)
            .insert_header(("x-csrf-token", csrf.as_str()))
            .set_payload(r#"{"roles": ["compute"]}"#)
            .insert_header(("content-type", "application/json")),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_lowercase().contains("virt"), "{}", r.body);
    let after = std::fs::read_to_string(dir.path().join(GROWN)).unwrap();
    assert_eq!(after, written, "a refusal changes nothing");
}

#[actix_web::test]
async fn what_cannot_be_judged_or_would_break_the_cluster_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.joined_hardware = Source::Given(
        [
            ("node2".to_owned(), hardware("intel-server-4nic")),
            ("node5".to_owned(), hardware("intel-server-4nic")),
        ]
        .into(),
    );
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    record_joins(dir.path());
    let post = |node: &str| format!("/cluster/nodes/{node}");
    let cases: Vec<(String, Vec<&str>, u16, &str)> = vec![
        // A node that never joined.
        (post("nobody"), vec!["compute"], 404, "Not found"),
        // A node whose agent does not answer: its hardware cannot be judged.
        (post("node4"), vec!["compute"], 409, "not known"),
        // No role, and a role there is not.
        (post("node2"), vec![], 422, "choose at least one role"),
        (post("node2"), vec!["no-such-role"], 422, "there is no role"),
        // node 1's own management address: the grown cluster would be invalid.
        (post("node5"), vec!["compute"], 422, "10.0.0.5"),
    ];
    for (uri, roles, status, says) in cases {
        let r = call(
            &app,
            form(
                with_session(req("POST", &uri), &s),
                &roles_form(&csrf, &roles),
            ),
        )
        .await;
        assert_eq!(r.status, status, "{uri} {roles:?}: {}", r.body);
        assert!(r.body.contains(says), "{uri} {roles:?}: {}", r.body);
        assert!(
            !dir.path().join("joined-roles.json").exists(),
            "{uri} {roles:?}"
        );
        assert!(!dir.path().join(GROWN).exists(), "{uri} {roles:?}");
    }
    // Without the CSRF token, and with a field the API does not know.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster/nodes/node2"), &s),
            &[("role", "compute")],
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = call(
        &app,
        with_session(req("PUT", "/api/v1/cluster/nodes/node2"), &s)
            .insert_header(("x-csrf-token", csrf.as_str()))
            .insert_header(("content-type", "application/json"))
            .set_payload(r#"{"roles": ["compute"], "node": "node9"}"#),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!dir.path().join("joined-roles.json").exists());
    // Before this node's own answers are complete nothing about the grown cluster can be said.
    let fresh = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(fresh.path())))).await;
    let (s, _) = admin(&app, &token(fresh.path())).await;
    let r = call(&app, with_session(req("GET", "/api/v1/cluster/config"), &s)).await;
    assert_eq!(r.status, 409, "{}", r.body);
}
