//! The first node's wizard grows the cluster and removes a node, with one progress for every node. Plan
//! mode walks the plan on every node (no agent runs in a test; the cluster tier runs the real
//! coordinator through the same routes). Golden pages, the API's documents, and what must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use actix_web::test;
use common::*;
use stackbox_cluster::hardware::Source;
use stackbox_web::app::app as wizard;

/// How long a plan-mode run may take before the test gives up.
const LIMIT: Duration = Duration::from_secs(60);

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// Polls `path` until its `phase` is no longer `running`.
async fn settled<S, B>(app: &S, s: &str, path: &str) -> serde_json::Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let deadline = Instant::now() + LIMIT;
    loop {
        let r = call(app, with_session(req("GET", path), s)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let doc = json(&r);
        let phase = doc
            .get("progress")
            .map_or(&doc["phase"], |p| &p["phase"])
            .clone();
        if phase != "running" {
            return doc;
        }
        assert!(Instant::now() < deadline, "still running: {}", r.body);
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

fn node_names(config: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(config).unwrap();
    stackbox_installer::ClusterConfig::from_toml("t", &text)
        .unwrap()
        .nodes
        .into_iter()
        .map(|n| n.name)
        .collect()
}

#[actix_web::test]
async fn the_cluster_grows_and_loses_a_node_from_the_wizard_with_one_progress_per_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.joined_hardware = Source::Given(
        [
            ("node2".to_owned(), hardware("intel-server-4nic")),
            ("node3".to_owned(), hardware("intel-server-4nic")),
        ]
        .into(),
    );
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    record_joins(dir.path());
    let grow = |csrf: Option<&str>| json_call("POST", "/api/v1/cluster/grow", &s, csrf, "");

    // Nothing has run yet; the cluster cannot grow before this node is installed.
    let r = call(
        &app,
        with_session(req("GET", "/api/v1/cluster/operation"), &s),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = call(&app, with_session(req("GET", "/cluster/operation"), &s)).await;
    assert!(r.body.contains(r#"id="no-operation""#), "{}", r.body);
    let r = call(&app, with_session(req("GET", "/cluster"), &s)).await;
    assert!(r.body.contains(r#"id="grow-later""#), "{}", r.body);
    assert!(!r.body.contains(r#"id="grow""#), "{}", r.body);
    let r = call(&app, grow(Some(&csrf))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("install this node first"), "{}", r.body);
    // Plan mode has no agents to ask for a status: the API refuses, the page says why.
    let r = call(&app, with_session(req("GET", "/api/v1/cluster/status"), &s)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("plan mode"), "{}", r.body);
    let r = call(&app, with_session(req("GET", "/cluster/status"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="no-status""#), "{}", r.body);
    // Nor a diagnosis; a window that is not 1 second to 30 days is refused first.
    for bad in ["-60", "0", "2592001", "abc", "1h"] {
        let path = format!("/api/v1/diagnose?since={bad}");
        let r = call(&app, with_session(req("GET", &path), &s)).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body.contains("since"), "{bad}: {}", r.body);
    }
    let r = call(
        &app,
        with_session(req("GET", "/api/v1/diagnose?since=7200"), &s),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = call(&app, with_session(req("GET", "/api/v1/diagnose"), &s)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("no diagnosis to ask"), "{}", r.body);
    let r = call(&app, with_session(req("GET", "/diagnose"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="no-diagnosis""#), "{}", r.body);
    let r = call(&app, req("GET", "/api/v1/diagnose")).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Nor a desk: the page says why; a bad port is refused first, whatever the mode.
    let r = call(&app, with_session(req("GET", "/desk"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(r#"id="no-desk""#) && r.body.contains("plan mode"),
        "{}",
        r.body
    );
    for bad in ["abc", "0", "70000"] {
        let r = call(
            &app,
            with_session(req("GET", &format!("/desk?port={bad}")), &s),
        )
        .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body.contains("is not a port"), "{}", r.body);
    }
    let restart = |csrf: &str| {
        form(
            with_session(req("POST", "/desk/restart"), &s),
            &[("csrf", csrf), ("service", "memcached"), ("node", "")],
        )
    };
    let r = call(&app, restart("wrong")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = call(&app, restart(&csrf)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains(r#"id="no-desk""#), "{}", r.body);
    // The desk's API: the same refusals.
    let r = call(&app, with_session(req("GET", "/api/v1/desk/port/5000"), &s)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = call(&app, with_session(req("GET", "/api/v1/desk/port/abc"), &s)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    for (body, status) in [
        (r#"{"service": "sshd"}"#, 422),
        (r#"{"service": "memcached", "reboot": true}"#, 400),
        (r#"{"service": "memcached"}"#, 409),
    ] {
        let r = call(
            &app,
            json_call("POST", "/api/v1/desk/restart", &s, Some(&csrf), body),
        )
        .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
    let r = call(
        &app,
        json_call("POST", "/api/v1/install", &s, Some(&csrf), ""),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        settled(&app, &s, "/api/v1/install").await["phase"],
        "complete"
    );

    // Installed, but no joined node has roles yet; and the CSRF token is required.
    let r = call(&app, grow(Some(&csrf))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("no joined node has roles"), "{}", r.body);
    let r = call(&app, grow(None)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    for (node, roles) in [
        (
            "node2",
            r#"["compute", "management", "message-bus", "storage-metadata"]"#,
        ),
        ("node3", r#"["compute", "message-bus", "storage-metadata"]"#),
    ] {
        let path = format!("/api/v1/cluster/nodes/{node}");
        let body = format!(r#"{{"roles": {roles}}}"#);
        let r = call(&app, json_call("PUT", &path, &s, Some(&csrf), &body)).await;
        assert_eq!(r.status, 200, "{node}: {}", r.body);
    }

    // "Grow the cluster" on the page starts it and shows its progress.
    let r = call(&app, with_session(req("GET", "/cluster"), &s)).await;
    assert!(r.body.contains(r#"id="grow""#), "{}", r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster/grow"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/cluster/operation"));
    let op = settled(&app, &s, "/api/v1/cluster/operation").await;
    assert_eq!(op["kind"], "grow", "{op:#}");
    assert_eq!(op["progress"]["phase"], "complete", "{op:#}");
    let nodes = op["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["node1", "node2", "node3"], "{op:#}");
    for n in nodes {
        assert!(n["total"].as_u64().unwrap() > 5, "{n}");
        assert_eq!(n["finished"], n["total"], "{n}");
        assert_eq!(n["failed"], serde_json::Value::Null, "{n}");
    }
    let total: u64 = nodes.iter().map(|n| n["total"].as_u64().unwrap()).sum();
    assert_eq!(op["overall"]["total"].as_u64(), Some(total));
    assert_eq!(op["overall"]["finished"], op["overall"]["total"]);
    assert!(
        op["report"]
            .as_str()
            .unwrap()
            .starts_with("cluster install complete"),
        "{op:#}"
    );
    let installed = dir.path().join("plan/cluster.toml");
    assert_eq!(node_names(&installed), ["node1", "node2", "node3"]);
    let r = call(&app, with_session(req("GET", "/cluster/operation"), &s)).await;
    assert_eq!(r.status, 200);
    // The run's seconds vary.
    let page = placeholders(&r.body);
    let (head, tail) = page.split_once("already done, in ").unwrap();
    let (_, tail) = tail.split_once(" s\n").unwrap();
    golden(
        "cluster-grown.html",
        &format!("{head}already done, in N s\n{tail}"),
    );

    // Removing: this node, a node that is not a member and the only leader are refused; node3 is
    // shown with its warnings, then removed.
    let r = call(&app, with_session(req("GET", "/cluster"), &s)).await;
    assert!(r.body.contains(r#"id="remove-node3""#), "{}", r.body);
    assert!(r.body.contains(r#"id="operation-status""#), "{}", r.body);
    for (node, status, says) in [
        ("node1", 409, "cannot remove itself"),
        ("nobody", 404, "Not found"),
    ] {
        let r = call(
            &app,
            with_session(req("GET", &format!("/cluster/nodes/{node}/remove")), &s),
        )
        .await;
        assert_eq!(r.status, status, "{node}: {}", r.body);
        assert!(r.body.contains(says), "{node}: {}", r.body);
        let path = format!("/api/v1/cluster/nodes/{node}");
        let r = call(&app, json_call("DELETE", &path, &s, Some(&csrf), "")).await;
        assert_eq!(r.status, status, "{node}: {}", r.body);
    }
    let r = call(
        &app,
        with_session(req("GET", "/cluster/nodes/node3/remove"), &s),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    golden("node-remove.html", &r.body);
    assert!(r.body.contains("add a third node"), "{}", r.body);
    let r = call(
        &app,
        json_call("DELETE", "/api/v1/cluster/nodes/node3", &s, None, ""),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(node_names(&installed), ["node1", "node2", "node3"]);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster/nodes/node3/remove"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let op = settled(&app, &s, "/api/v1/cluster/operation").await;
    assert_eq!(
        (&op["kind"], &op["node"], &op["progress"]["phase"]),
        (
            &serde_json::json!("remove"),
            &serde_json::json!("node3"),
            &serde_json::json!("complete")
        ),
        "{op:#}"
    );
    let lines = op["lines"].to_string();
    assert!(
        lines.contains("warning: two storage-metadata nodes remain"),
        "{lines}"
    );
    let names: Vec<&str> = op["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node1", "node2"], "{op:#}");
    assert_eq!(node_names(&installed), ["node1", "node2"]);
    assert_eq!(
        node_names(&dir.path().join("cluster/config.toml")),
        ["node1", "node2"]
    );
    let members = std::fs::read_to_string(dir.path().join("cluster/members.json")).unwrap();
    assert!(
        !members.contains("node3") && members.contains("node2"),
        "{members}"
    );
    // node2 may still leave (node1 keeps every role), with nothing to warn of: one node is no quorum
    // to lose.
    let r = call(
        &app,
        with_session(req("GET", "/cluster/nodes/node2/remove"), &s),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("warning-1"), "{}", r.body);
    let r = call(&app, with_session(req("GET", "/cluster"), &s)).await;
    assert!(!r.body.contains(r#"id="remove-node3""#), "{}", r.body);
}

#[actix_web::test]
async fn the_status_page_says_who_bootstrapped_who_waits_and_who_is_unreachable() {
    use stackbox_cluster::galera::Decision;
    use stackbox_cluster::galera_start::StartRecord;
    use stackbox_cluster::status::{
        AgentAnswer, ClusterStatus, Galera, Member, NodeStatus, Rabbit,
    };
    let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let node = |name: &str, last: u8, agent| Member {
        name: name.to_owned(),
        address: format!("10.20.0.1{last}").parse().unwrap(),
        roles: vec!["storage-metadata".into(), "message-bus".into()],
        agent,
    };
    let healthy = |galera: Option<Galera>, decision: Decision, api: bool| AgentAnswer::Healthy {
        status: Box::new(NodeStatus {
            node: None,
            galera_error: galera.is_none().then(|| "MariaDB does not run".to_owned()),
            galera,
            rabbitmq: Some(Rabbit {
                running: vec!["rabbit@node1".into(), "rabbit@node2".into()],
                quorum_queues: 4,
                min_replicas: 2,
            }),
            rabbitmq_error: None,
            holds_api_address: api,
            running: None,
            galera_start: Some({
                let (outcome, reason) = decision.outcome();
                StartRecord::of(outcome, reason, t0, None)
            }),
        }),
    };
    let synced = Galera {
        size: 2,
        state: "Synced".into(),
        status: "Primary".into(),
    };
    let status = ClusterStatus {
        cluster: "stackbox".into(),
        api_address: Some("10.20.0.100".parse().unwrap()),
        members: vec![
            node(
                "node1",
                1,
                healthy(
                    Some(synced),
                    Decision::Bootstrap {
                        mark_safe: false,
                        reason: "this node left the cluster last and cleanly (position 42)".into(),
                    },
                    true,
                ),
            ),
            node(
                "node2",
                2,
                healthy(
                    None,
                    Decision::Wait("node3 may hold newer data".into()),
                    false,
                ),
            ),
            node(
                "node3",
                3,
                AgentAnswer::Unreachable {
                    reason: "connecting to 10.20.0.13:8444: no route to host".into(),
                },
            ),
        ],
    };
    let page =
        stackbox_web::pages::operate::status_page(Ok(status), "CSRF", t0 + Duration::from_secs(75));
    let body = askama::Template::render(&page).unwrap();
    golden("cluster-status.html", &body);
    for says in [
        "NOT HEALTHY",
        r#"<strong id="api-holder">node1</strong>"#,
        "Last start: bootstrapped 75 s ago: this node left the cluster last",
        "Last start: WAITING for 75 s: node3 may hold newer data",
        "UNREACHABLE: connecting to 10.20.0.13:8444",
    ] {
        assert!(body.contains(says), "{says}: {body}");
    }
    let page = stackbox_web::pages::operate::status_page(
        Err("plan mode: no agent runs".into()),
        "CSRF",
        t0,
    );
    let body = askama::Template::render(&page).unwrap();
    assert!(
        body.contains(r#"id="no-status""#) && body.contains("plan mode"),
        "{body}"
    );
}
