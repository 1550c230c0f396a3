//! The JSON API: its model, its RFC 9457 problem documents (golden files), CSRF in a header, and an
//! OpenAPI document that names every route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test;
use common::*;
use stackbox_web::app::app as wizard;

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

fn put_json(
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: &str,
) -> actix_web::test::TestRequest {
    let mut r = with_session(req("PUT", path), session)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned());
    if let Some(c) = csrf {
        r = r.insert_header(("x-csrf-token", c));
    }
    r
}

fn post_json(
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: &str,
) -> actix_web::test::TestRequest {
    json_call("POST", path, session, csrf, body)
}

const GOOD: &str = r#"{"hostname": "node1", "management_nic": "eno1", "data_nic": "eno2", "mode": "static",
  "address": "10.0.0.5/24", "gateway": "10.0.0.1", "dns": "10.0.0.53", "bridge": "br-mgmt",
  "vlan": "", "mtu": "1500", "vxlan_min": "1", "vxlan_max": "1000"}"#;

#[actix_web::test]
async fn the_api_walks_the_same_model_and_answers_problems() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;

    let r = call(&app, req("GET", "/api/v1/status")).await;
    assert_eq!(r.status, 200);
    golden("api-status-new.json", &r.body);

    let r = call(&app, req("GET", "/api/v1/hardware")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    golden("problem-401.json", &r.body);

    let tok = token(dir.path());
    let s = sign_in_token(&app, &tok).await;
    let r = call(&app, with_session(req("GET", "/api/v1/hardware"), &s)).await;
    assert_eq!(r.status, 403);
    golden("problem-403-password-not-set.json", &r.body);

    let (s, _) = admin(&app, &tok).await;
    let r = call(&app, with_session(req("GET", "/api/v1/session"), &s)).await;
    let csrf = json(&r)["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(json(&r)["access"], "admin");

    let r = call(&app, with_session(req("GET", "/api/v1/hardware"), &s)).await;
    let report = json(&r);
    assert_eq!(report["profile"], "lab");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"].is_string() && c["status"].is_string())
    );

    let r = call(&app, with_session(req("GET", "/api/v1/system"), &s)).await;
    let sys = json(&r);
    assert!(
        sys["tls_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );

    let r = call(&app, with_session(req("GET", "/api/v1/network"), &s)).await;
    golden("api-network-empty.json", &r.body);

    // Cluster before network: 409.
    let r = call(
        &app,
        post_json("/api/v1/cluster", &s, Some(&csrf), r#"{"name": "lab"}"#),
    )
    .await;
    assert_eq!(r.status, 409);
    golden("problem-409.json", &r.body);

    // CSRF: missing and wrong.
    let r = call(&app, put_json("/api/v1/network", &s, None, GOOD)).await;
    assert_eq!(r.status, 403);
    golden("problem-403-csrf.json", &r.body);
    let r = call(&app, put_json("/api/v1/network", &s, Some("forged"), GOOD)).await;
    assert_eq!(r.status, 403);

    // Malformed and invalid bodies.
    let r = call(
        &app,
        put_json("/api/v1/network", &s, Some(&csrf), "{not json"),
    )
    .await;
    assert_eq!(r.status, 400);
    golden("problem-400.json", &r.body);
    let bad = GOOD
        .replace("\"1500\"", "\"9217\"")
        .replace("10.0.0.1\"", "10.9.0.1\"")
        .replace("\"\"", "\"0\"");
    let r = call(&app, put_json("/api/v1/network", &s, Some(&csrf), &bad)).await;
    assert_eq!(r.status, 422);
    golden("problem-422.json", &r.body);
    assert!(!dir.path().join("network.json").exists());

    let r = call(&app, put_json("/api/v1/network", &s, Some(&csrf), GOOD)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    golden("api-network-stored.json", &r.body);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("network.json")).unwrap())
            .unwrap();
    assert_eq!(stored, json(&r));

    let r = call(
        &app,
        post_json("/api/v1/cluster", &s, Some(&csrf), r#"{"name": "Lab 1"}"#),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = call(
        &app,
        post_json(
            "/api/v1/cluster",
            &s,
            Some(&csrf),
            r#"{"name": "lab", "join": "10.0.0.9"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 400, "joining is not offered: {}", r.body);
    // The API address: an address, in the management network (10.0.0.0/24), not its own or broadcast.
    for bad in ["10.0.0", "10.9.0.7", "10.0.0.255"] {
        let body = format!(r#"{{"name": "lab", "api_address": "{bad}"}}"#);
        let r = call(&app, post_json("/api/v1/cluster", &s, Some(&csrf), &body)).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body.contains("api_address"), "{}", r.body);
    }
    let r = call(
        &app,
        post_json(
            "/api/v1/cluster",
            &s,
            Some(&csrf),
            r#"{"name": "lab", "api_address": "10.0.0.4"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(json(&r)["api_address"], "10.0.0.4", "{}", r.body);
    golden("api-cluster-created.json", &r.body);
    let r = call(
        &app,
        post_json("/api/v1/cluster", &s, Some(&csrf), r#"{"name": "lab2"}"#),
    )
    .await;
    assert_eq!(r.status, 409);

    // Roles, then settings.
    let r = call(
        &app,
        put_json(
            "/api/v1/settings",
            &s,
            Some(&csrf),
            r#"{"flavor": "openstack", "cpu_ratio": "4", "ram_ratio": "1", "disk_ratio": "1"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 409, "settings before roles: {}", r.body);
    let r = call(
        &app,
        put_json("/api/v1/roles", &s, Some(&csrf), r#"{"roles": ["dns"]}"#),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("problem-422-roles.json", &r.body);
    let r = call(
        &app,
        put_json("/api/v1/roles", &s, None, r#"{"roles": ["compute"]}"#),
    )
    .await;
    assert_eq!(r.status, 403);
    // The installer's rule on the roles page: the cluster's only node must carry every role a cloud
    // needs (management only passed the hardware check, then failed at the review).
    for partial in [r#"["management"]"#, r#"["compute", "management"]"#] {
        let r = call(
            &app,
            put_json(
                "/api/v1/roles",
                &s,
                Some(&csrf),
                &format!(r#"{{"roles": {partial}}}"#),
            ),
        )
        .await;
        assert_eq!(r.status, 422, "{partial}: {}", r.body);
        for role in ["message-bus", "storage-metadata"] {
            assert!(
                r.body
                    .contains(&format!("the cloud needs a node with the `{role}` role")),
                "{partial}: {}",
                r.body
            );
        }
    }
    let r = call(&app, with_session(req("GET", "/api/v1/roles"), &s)).await;
    assert!(
        json(&r)["assignment"].is_null(),
        "nothing stored on a refusal: {}",
        r.body
    );
    let r = call(
        &app,
        put_json(
            "/api/v1/roles",
            &s,
            Some(&csrf),
            r#"{"roles": ["compute", "management", "message-bus", "storage-metadata"]}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let required = serde_json::json!(["compute", "management", "message-bus", "storage-metadata"]);
    assert_eq!(json(&r)["assignment"]["roles"], required);
    assert_eq!(json(&r)["report"]["roles"], required);
    let r = call(
        &app,
        put_json(
            "/api/v1/settings",
            &s,
            Some(&csrf),
            r#"{"flavor": "cloudstack", "cpu_ratio": "0", "ram_ratio": "1", "disk_ratio": "1"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("problem-422-settings.json", &r.body);
    let r = call(
        &app,
        put_json(
            "/api/v1/settings",
            &s,
            Some(&csrf),
            r#"{"flavor": "openstack", "cpu_ratio": "16", "ram_ratio": "1.5", "disk_ratio": "1"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    golden("api-settings-stored.json", &r.body);
    let r = call(&app, with_session(req("GET", "/api/v1/roles"), &s)).await;
    assert_eq!(json(&r)["available"].as_array().unwrap().len(), 5);
    let r = call(
        &app,
        post_json("/api/v1/hardware/rerun", &s, Some(&csrf), ""),
    )
    .await;
    assert_eq!(r.status, 200);

    let r = call(&app, req("GET", "/api/v1/status")).await;
    golden("api-status-done.json", &r.body);
    let r = call(&app, with_session(req("GET", "/api/v1/config"), &s)).await;
    golden("api-config.json", &r.body);

    let r = call(&app, req("GET", "/api/v1/nothing")).await;
    assert_eq!(r.status, 404);
    golden("problem-404.json", &r.body);
}

#[actix_web::test]
async fn an_expired_session_is_a_problem_not_a_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.session_idle = std::time::Duration::ZERO;
    let app = test::init_service(wizard(state(opts))).await;
    let r = call(&app, req("GET", "/login")).await;
    let r = call(
        &app,
        with_session(req("GET", "/api/v1/hardware"), &r.session().unwrap()),
    )
    .await;
    assert_eq!(r.status, 401);
    golden("problem-401-expired.json", &r.body);
}

#[actix_web::test]
async fn the_openapi_document_names_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let r = call(&app, req("GET", "/api/v1/openapi.json")).await;
    assert_eq!(r.status, 200);
    let doc = json(&r);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                stackbox_web::api::ROUTES.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is documented but not routed"
            );
            documented += 1;
        }
    }
    assert_eq!(
        documented,
        stackbox_web::api::ROUTES.len(),
        "every route is documented"
    );
    // Every documented route is really served (not the 404 fallback).
    for (method, path) in stackbox_web::api::ROUTES {
        let r = call(&app, req(&method.to_uppercase(), &format!("/api/v1{path}"))).await;
        assert_ne!(r.status, 404, "{method} {path}");
    }
    // Every $ref resolves.
    let text = r.body;
    for part in text.split("\"$ref\": \"#/").skip(1) {
        let pointer = format!("/{}", &part[..part.find('"').unwrap()]);
        assert!(doc.pointer(&pointer).is_some(), "{pointer}");
    }
}

#[actix_web::test]
async fn a_known_address_with_another_method_is_405_with_allow_and_an_unknown_one_404() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    // Every page route the 405 answer relies on is really routed with its method.
    for (method, path) in stackbox_web::pages::ROUTES {
        let path = path.replace("{name}", "node2");
        let r = call(&app, req(&method.to_uppercase(), &path)).await;
        assert!(
            ![404, 405].contains(&r.status),
            "{method} {path}: {}",
            r.status
        );
    }
    for (method, path, allow) in [
        ("POST", "/hardware", "GET"),
        ("PUT", "/cluster", "GET, POST"),
        ("GET", "/cluster/grow", "POST"),
        ("DELETE", "/cluster/nodes/node2", "GET, POST"),
        ("DELETE", "/api/v1/network", "GET, PUT"),
        ("GET", "/api/v1/cluster/grow", "POST"),
        ("POST", "/api/v1/cluster/nodes/node2", "DELETE, PUT"),
    ] {
        let r = call(&app, req(method, path)).await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.body);
        assert_eq!(
            r.headers.get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
    }
    // Must fail as 404: paths nobody routes, with any method.
    for (method, path) in [
        ("GET", "/nowhere"),
        ("POST", "/api/v1/nowhere"),
        ("PUT", "/cluster/nodes/node2/elsewhere"),
    ] {
        let r = call(&app, req(method, path)).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
    }
}

/// The five roles a single node carries.
const ALL_ROLES: &str = r#"{"roles": ["management", "message-bus", "storage-metadata", "console-proxy",
  "compute"]}"#;
const SETTINGS: &str =
    r#"{"flavor": "openstack", "cpu_ratio": "16", "ram_ratio": "1.5", "disk_ratio": "1"}"#;
/// How long a plan-mode installation may take before a test gives up on it.
const INSTALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Options whose plan-mode installation fails once at `fail` (if any) and paces each action.
fn plan_mode(
    dir: &std::path::Path,
    fail: Option<&str>,
    pace_ms: u64,
) -> stackbox_web::ServeOptions {
    let mut o = options(dir);
    o.install = stackbox_installer::runner::InstallMode::PlanOnly {
        fail_package_once: fail.map(str::to_owned),
        pace: std::time::Duration::from_millis(pace_ms),
    };
    o
}

/// The session's CSRF token, from `GET /api/v1/session`.
async fn api_csrf<S, B>(app: &S, session: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = call(app, with_session(req("GET", "/api/v1/session"), session)).await;
    json(&r)["csrf_token"].as_str().unwrap().to_owned()
}

/// Signs in as the admin and stores every answer through the API (a static address, the cluster
/// `lab`, all five roles, settings): the session and its CSRF token.
async fn answered<S, B>(app: &S, dir: &std::path::Path) -> (String, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (s, _) = admin(app, &token(dir)).await;
    let csrf = api_csrf(app, &s).await;
    // The fixture's own NICs: the first for management, the second (if any) for data.
    let r = call(app, with_session(req("GET", "/api/v1/network"), &s)).await;
    let nics: Vec<String> = json(&r)["nics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    let network = GOOD
        .replace("\"eno1\"", &format!("\"{}\"", nics[0]))
        .replace(
            "\"eno2\"",
            &format!("\"{}\"", nics.get(1).unwrap_or(&nics[0])),
        );
    for (r, want) in [
        (put_json("/api/v1/network", &s, Some(&csrf), &network), 200),
        (
            post_json("/api/v1/cluster", &s, Some(&csrf), r#"{"name": "lab"}"#),
            201,
        ),
        (put_json("/api/v1/roles", &s, Some(&csrf), ALL_ROLES), 200),
        (put_json("/api/v1/settings", &s, Some(&csrf), SETTINGS), 200),
    ] {
        let r = call(app, r).await;
        assert_eq!(r.status, want, "{}", r.body);
    }
    (s, csrf)
}

/// Polls `GET /api/v1/install` until the phase is no longer `running`; panics past [`INSTALL_LIMIT`].
async fn wait_for_install<S, B>(app: &S, session: &str) -> serde_json::Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let deadline = std::time::Instant::now() + INSTALL_LIMIT;
    loop {
        let r = call(app, with_session(req("GET", "/api/v1/install"), session)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let p = json(&r);
        if p["phase"] != "running" {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the installation still runs after {INSTALL_LIMIT:?}: {}",
            r.body
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The phase `GET /api/v1/status` reports.
async fn status_phase<S, B>(app: &S) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = call(app, req("GET", "/api/v1/status")).await;
    json(&r)["phase"].as_str().unwrap().to_owned()
}

/// The statuses of a progress document's steps, in order: (id, status, detail).
fn steps(progress: &serde_json::Value) -> Vec<(String, String, String)> {
    progress["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Whether a plan-mode step ran: done, or (the readiness checks, which plan mode cannot verify)
/// skipped as already done.
fn acted(status: &str, detail: &str) -> bool {
    status == "done" || (status, detail) == ("skipped", "already done")
}

#[actix_web::test]
async fn the_plan_names_the_missing_step_then_shows_steps_ports_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let r = call(&app, req("GET", "/api/v1/plan")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));

    let (s, _) = admin(&app, &token(dir.path())).await;
    let csrf = api_csrf(&app, &s).await;
    let r = call(&app, with_session(req("GET", "/api/v1/plan"), &s)).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    golden("problem-409-plan.json", &r.body);
    // Each answer stored moves the problem on to the next missing step.
    for (step, next) in [
        (
            put_json("/api/v1/network", &s, Some(&csrf), GOOD),
            "cluster",
        ),
        (
            post_json("/api/v1/cluster", &s, Some(&csrf), r#"{"name": "lab"}"#),
            "roles",
        ),
        (
            put_json("/api/v1/roles", &s, Some(&csrf), ALL_ROLES),
            "settings",
        ),
    ] {
        let r = call(&app, step).await;
        assert!(r.status < 300, "{}", r.body);
        let r = call(&app, with_session(req("GET", "/api/v1/plan"), &s)).await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
        let detail = json(&r)["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains(&format!("the {next} step is not done")),
            "{detail}"
        );
    }
    let r = call(
        &app,
        put_json("/api/v1/settings", &s, Some(&csrf), SETTINGS),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = call(&app, with_session(req("GET", "/api/v1/plan"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let plan = json(&r);
    assert_eq!(plan["node"], "node1");
    assert_eq!(plan["address"], "10.0.0.5");
    assert_eq!(plan["config"]["name"], "lab");
    assert_eq!(
        plan["roles"],
        "compute, console-proxy, management, message-bus, storage-metadata"
    );
    let steps = plan["steps"].as_array().unwrap();
    assert!(steps.len() > 10, "{steps:?}");
    assert!(
        steps
            .iter()
            .all(|s| !s["name"].as_str().unwrap().is_empty() && s["title"].is_string())
    );
    assert!(
        steps.iter().any(|s| s["name"] == "glance.packages"),
        "{steps:?}"
    );
    let ports = plan["ports"].as_array().unwrap();
    assert!(ports.iter().any(|p| p["port"] == "5000/tcp"), "{ports:?}");
    assert!(
        ports
            .iter()
            .all(|p| !p["purpose"].as_str().unwrap().starts_with("CloudStack")),
        "an OpenStack plan opens no CloudStack port: {ports:?}"
    );
    let files = plan["files"].as_array().unwrap();
    assert!(!files.is_empty());
    for f in files {
        assert!(f["path"].as_str().unwrap().starts_with('/'), "{f}");
        let mode = f["mode"].as_str().unwrap();
        assert!(
            mode.len() == 4 && mode.chars().all(|c| ('0'..='7').contains(&c)),
            "{f}"
        );
        assert!(
            steps.iter().any(|s| s["name"] == f["step"]),
            "{f} names a step of the plan"
        );
    }
    // Planning touched nothing: no configuration, secrets or journal yet.
    assert!(!dir.path().join("plan").exists());
}

#[actix_web::test]
async fn install_needs_the_csrf_token_and_refuses_a_second_run_while_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(plan_mode(dir.path(), None, 20)))).await;
    let r = call(&app, post_json("/api/v1/install", "nobody", None, "")).await;
    assert_eq!(r.status, 401);
    let (s, csrf) = answered(&app, dir.path()).await;
    assert_eq!(status_phase(&app).await, "review");

    for forged in [None, Some("forged")] {
        let r = call(&app, post_json("/api/v1/install", &s, forged, "")).await;
        assert_eq!(r.status, 403, "{forged:?}: {}", r.body);
        assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    }
    let r = call(&app, with_session(req("GET", "/api/v1/install"), &s)).await;
    assert_eq!(r.status, 200);
    let p = json(&r);
    assert_eq!(p["phase"], "idle", "{}", r.body);
    assert_eq!(p["steps"], serde_json::json!([]));
    assert_eq!(p["plan_only"], true);
    assert!(!dir.path().join("plan").exists(), "nothing was written");
    assert_eq!(status_phase(&app).await, "review");

    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/api/v1/install"));
    let p = json(&r);
    assert_eq!(p["phase"], "running", "paced at 20 ms an action");
    assert!(!p["steps"].as_array().unwrap().is_empty());
    assert_eq!(status_phase(&app).await, "installing");
    assert!(dir.path().join("plan/cluster.toml").exists());

    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 409, "a second run while one runs: {}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    assert!(
        json(&r)["detail"]
            .as_str()
            .unwrap()
            .contains("already running")
    );
    assert_eq!(
        json(&r)["type"],
        "https://stackbox.invalid/problems/install-running"
    );

    let p = wait_for_install(&app, &s).await;
    assert_eq!(p["phase"], "complete", "{p:#}");
    assert_eq!(p["failure"], serde_json::Value::Null);
    assert_eq!(p["summary"]["failed"], serde_json::Value::Null);
    for (id, status, detail) in steps(&p) {
        assert!(acted(&status, &detail), "{id}: {status} {detail}");
    }
    assert!(
        p["smoke"]
            .as_str()
            .unwrap()
            .contains(stackbox_installer::dry_run::SMOKE_REPORT),
        "{}",
        p["smoke"]
    );
    assert_eq!(status_phase(&app).await, "done");
    assert!(
        dir.path()
            .join(stackbox_installer::runner::RESULT_FILE)
            .exists()
    );

    // A complete installation is not started again by accident: 409, the result kept ...
    for body in ["", "{}", r#"{"reinstall": false}"#] {
        let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), body)).await;
        assert_eq!(r.status, 409, "{body}: {}", r.body);
        let detail = json(&r)["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(r#"{"reinstall": true}"#), "{detail}");
    }
    assert_eq!(status_phase(&app).await, "done");
    assert!(
        dir.path()
            .join(stackbox_installer::runner::RESULT_FILE)
            .exists()
    );
    let r = call(
        &app,
        post_json(
            "/api/v1/install",
            &s,
            Some(&csrf),
            r#"{"reinstall": "yes"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // ... only when asked explicitly.
    let r = call(
        &app,
        post_json("/api/v1/install", &s, Some(&csrf), r#"{"reinstall": true}"#),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait_for_install(&app, &s).await["phase"], "complete");
}

#[actix_web::test]
async fn a_failed_step_shows_its_remedy_and_a_retry_resumes_after_the_unchanged_steps() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(plan_mode(dir.path(), Some("glance"), 0)))).await;
    let (s, csrf) = answered(&app, dir.path()).await;
    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let p = wait_for_install(&app, &s).await;
    assert_eq!(p["phase"], "failed", "{p:#}");
    let failure = &p["failure"];
    let failed = failure["step"].as_str().unwrap().to_owned();
    // glance is among the packages the node installs in one transaction.
    assert!(failed.ends_with("/packages"), "{failure}");
    assert!(
        !failure["remedy"].as_str().unwrap_or_default().is_empty(),
        "{failure}"
    );
    assert!(
        failure["error"].as_str().unwrap().contains("glance"),
        "{failure}"
    );
    let first = steps(&p);
    let at = first.iter().position(|(id, _, _)| *id == failed).unwrap();
    assert!(at > 0, "steps run before the packages");
    assert!(
        first[..at].iter().all(|(_, st, d)| acted(st, d)),
        "{first:?}"
    );
    assert_eq!(first[at].1, "failed");
    assert!(first[at + 1..].iter().all(|(_, st, _)| st == "pending"));
    assert_eq!(status_phase(&app).await, "install-failed");
    let r = call(
        &app,
        with_session(req("POST", "/api/v1/openrc"), &s)
            .insert_header(("x-csrf-token", csrf.as_str())),
    )
    .await;
    assert_eq!(
        r.status, 409,
        "no credentials from a failed run: {}",
        r.body
    );

    // The retry resumes: the steps done before are unchanged, the packages (glance's too) install now.
    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let p = wait_for_install(&app, &s).await;
    assert_eq!(p["phase"], "complete", "{p:#}");
    assert_eq!(p["failure"], serde_json::Value::Null);
    let retry = steps(&p);
    assert_eq!(
        retry.iter().map(|s| &s.0).collect::<Vec<_>>(),
        first.iter().map(|s| &s.0).collect::<Vec<_>>(),
        "the same steps"
    );
    for (id, status, detail) in &retry[..at] {
        assert_eq!(
            (status.as_str(), detail.as_str()),
            ("skipped", "unchanged"),
            "{id}"
        );
    }
    assert_eq!(retry[at].1, "done", "the packages install on the retry");
    for (id, status, detail) in &retry[at..] {
        assert!(acted(status, detail), "{id}: {status} {detail}");
    }
    assert_eq!(status_phase(&app).await, "done");
}

/// Reads a server-sent event stream event by event.
struct Events<B> {
    body: std::pin::Pin<Box<B>>,
    buffer: String,
}

impl<B: actix_web::body::MessageBody> Events<B> {
    fn new(body: B) -> Events<B> {
        Events {
            body: Box::pin(body),
            buffer: String::new(),
        }
    }

    /// The next event's (name, data); panics after 10 s without one, or when the stream ends.
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if event.starts_with(':') {
                    continue;
                }
                let mut name = String::new();
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                return (name, data);
            }
            let body = &mut self.body;
            let chunk = actix_web::rt::time::timeout(
                std::time::Duration::from_secs(10),
                std::future::poll_fn(|cx| body.as_mut().poll_next(cx)),
            )
            .await
            .expect("no event within 10 s")
            .expect("the event stream ended");
            let Ok(chunk) = chunk else {
                panic!("the event stream failed")
            };
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[actix_web::test]
async fn events_start_with_a_snapshot_and_follow_the_installation() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let r = call(&app, req("GET", "/api/v1/events")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(json(&r)["status"], 401);

    let (s, csrf) = answered(&app, dir.path()).await;
    let resp = test::call_service(
        &app,
        with_session(req("GET", "/api/v1/events"), &s).to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut events = Events::new(resp.into_body());
    let (name, data) = events.next().await;
    assert_eq!(name, "snapshot");
    let snapshot: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot["phase"], "idle", "{data}");
    assert_eq!(snapshot["plan_only"], true);

    // The installation, as a browser sees it: a running snapshot, steps and output, a complete
    // snapshot.
    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let (name, data) = events.next().await;
    assert_eq!(name, "snapshot", "{data}");
    let running: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(running["phase"], "running");
    let mut seen = std::collections::BTreeSet::new();
    let mut streamed = String::new();
    let deadline = std::time::Instant::now() + INSTALL_LIMIT;
    loop {
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        let (name, data) = events.next().await;
        assert_ne!(name, "resync", "a test reader keeps up");
        let doc: serde_json::Value = serde_json::from_str(&data).unwrap();
        streamed.push_str(&data);
        match name.as_str() {
            "step" => assert!(doc["id"].is_string() && doc["status"].is_string(), "{data}"),
            "log" => assert!(doc["step"].is_string() && doc["line"].is_string(), "{data}"),
            "snapshot" => {
                assert_eq!(doc["phase"], "complete", "{data}");
                break;
            }
            other => panic!("unexpected event {other}: {data}"),
        }
        seen.insert(name);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["log", "step"],
        "steps and output were streamed"
    );
    assert!(
        !streamed.contains(&admin_password(dir.path())),
        "the events show the admin password"
    );
    // A new connection starts from the finished progress.
    let resp = test::call_service(
        &app,
        with_session(req("GET", "/api/v1/events"), &s).to_request(),
    )
    .await;
    let (name, data) = Events::new(resp.into_body()).next().await;
    assert_eq!(name, "snapshot");
    assert!(data.contains("\"phase\":\"complete\""), "{data}");
}

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The admin password the plan-mode installation generated.
fn admin_password(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(dir.join("plan/secrets.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let password = table["admin"].as_str().unwrap().to_owned();
    assert!(password.len() >= 16, "a real password: {password}");
    password
}

/// `POST /api/v1/openrc`, with the CSRF header when given.
fn post_openrc(session: &str, csrf: Option<&str>) -> actix_web::test::TestRequest {
    let mut r = with_session(req("POST", "/api/v1/openrc"), session);
    if let Some(c) = csrf {
        r = r.insert_header(("x-csrf-token", c));
    }
    r
}

#[actix_web::test]
async fn the_openrc_is_given_once_after_completion_and_its_password_is_shown_nowhere_else() {
    // This is the only test in this file that captures the log (one global subscriber per process).
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = answered(&app, dir.path()).await;
    assert_eq!(status_phase(&app).await, "review");
    let r = call(&app, post_openrc(&s, Some(&csrf))).await;
    assert_eq!(r.status, 409, "before the installation: {}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    let r = call(&app, post_openrc(&s, None)).await;
    assert_eq!(r.status, 403);

    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let p = wait_for_install(&app, &s).await;
    assert_eq!(p["phase"], "complete", "{p:#}");
    assert_eq!(status_phase(&app).await, "done");
    let password = admin_password(dir.path());

    let shown_nowhere = |r: &Resp, what: &str| {
        assert!(
            !r.body.contains(&password),
            "{what} shows the admin password"
        );
    };
    for path in [
        "/done",
        "/install",
        "/review",
        "/api/v1/install",
        "/api/v1/plan",
        "/api/v1/config",
        "/api/v1/status",
    ] {
        let r = call(&app, with_session(req("GET", path), &s)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        shown_nowhere(&r, path);
    }
    let r = call(&app, post_openrc(&s, None)).await;
    assert_eq!(r.status, 403, "still needs the CSRF token");
    shown_nowhere(&r, "a refused download");

    let r = call(&app, post_openrc(&s, Some(&csrf))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    let disposition = r
        .headers
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(disposition, "attachment; filename=\"admin-openrc.sh\"");
    assert!(r.body.contains("export OS_USERNAME=admin\n"), "{}", r.body);
    assert!(
        r.body
            .contains(&format!("export OS_PASSWORD='{password}'\n")),
        "the openrc carries the admin password from the secrets file"
    );
    golden("openrc.sh", &r.body.replace(&password, "{ADMIN_PASSWORD}"));
    let marker = dir.path().join(stackbox_web::wizard::finish::OPENRC_TAKEN);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&marker).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let r = call(&app, post_openrc(&s, Some(&csrf))).await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    golden("problem-410.json", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/done/openrc"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 410, "the page refuses too: {}", r.body);
    assert!(r.content_type.as_deref().unwrap().starts_with("text/html"));
    shown_nowhere(&r, "the 410 page");
    let r = call(&app, with_session(req("GET", "/done"), &s)).await;
    assert!(r.body.contains("id=\"openrc-taken\""), "{}", r.body);
    assert!(!r.body.contains("id=\"download-openrc\""));

    // A restarted wizard still knows the installation is complete and the credentials were taken.
    drop(app);
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    assert_eq!(status_phase(&app).await, "done");
    let (anon, login_csrf) = anonymous(&app).await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &login_csrf), ("secret", PASSWORD)],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let s = r.session().unwrap();
    let csrf = api_csrf(&app, &s).await;
    let r = call(&app, with_session(req("GET", "/api/v1/install"), &s)).await;
    assert_eq!(json(&r)["phase"], "complete", "{}", r.body);
    shown_nowhere(&r, "the restored progress");
    let r = call(&app, post_openrc(&s, Some(&csrf))).await;
    assert_eq!(r.status, 410, "{}", r.body);

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("installation started in plan mode"),
        "the walk was logged:\n{log}"
    );
    assert!(log.contains("installation complete"), "{log}");
    assert!(
        log.contains("admin credentials downloaded through the API"),
        "{log}"
    );
    assert!(
        !log.contains(&password),
        "the log shows the admin password:\n{log}"
    );
    let secrets = std::fs::read_to_string(dir.path().join("plan/secrets.toml")).unwrap();
    let table: toml::Table = toml::from_str(&secrets).unwrap();
    for (name, value) in &table {
        let value = value.as_str().unwrap();
        assert!(!log.contains(value), "the log shows the secret {name}");
    }
}

#[actix_web::test]
async fn the_installation_runs_the_plan_the_review_showed() {
    // The review plans for the machine the wizard was given (a fixture tree here); the installation
    // must run that same plan, not one made from whatever machine the wizard process runs on. One
    // fixture has /dev/kvm and one has not, so at least one differs from any test host.
    for machine_name in ["intel-server-4nic", "vm-no-virt"] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.root = machine(machine_name);
        let app = test::init_service(wizard(state(opts))).await;
        let (s, csrf) = answered(&app, dir.path()).await;
        let r = call(&app, with_session(req("GET", "/api/v1/plan"), &s)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let reviewed: Vec<(String, String)> = json(&r)["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["title"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let p = wait_for_install(&app, &s).await;
        assert_eq!(p["phase"], "complete", "{p:#}");
        let installed: Vec<(String, String)> = p["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["title"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let differ: Vec<_> = reviewed
            .iter()
            .zip(&installed)
            .filter(|(a, b)| a != b)
            .collect();
        assert!(
            reviewed.len() == installed.len() && differ.is_empty(),
            "{machine_name}: the installation ran another plan than the review showed: {differ:?}"
        );
    }
}

#[actix_web::test]
async fn the_openrc_never_carries_a_password_made_up_after_the_installation() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = answered(&app, dir.path()).await;
    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait_for_install(&app, &s).await["phase"], "complete");
    let secrets = dir.path().join("plan/secrets.toml");
    std::fs::remove_file(&secrets).unwrap();
    let r = call(&app, post_openrc(&s, Some(&csrf))).await;
    assert_ne!(r.status, 200, "an openrc with a new password: {}", r.body);
    assert!(!secrets.exists(), "the secrets were generated anew");
}

#[actix_web::test]
async fn answers_cannot_change_once_the_cloud_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = answered(&app, dir.path()).await;
    let r = call(&app, post_json("/api/v1/install", &s, Some(&csrf), "")).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait_for_install(&app, &s).await["phase"], "complete");
    let before = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
    let body = r#"{"flavor":"openstack","cpu_ratio":"2.0","ram_ratio":"1.0","disk_ratio":"1.0"}"#;
    let r = call(&app, put_json("/api/v1/settings", &s, Some(&csrf), body)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("installed with these answers"),
        "{}",
        r.body
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("settings.json")).unwrap(),
        before
    );
}

#[actix_web::test]
async fn the_support_bundle_is_the_admins_a_gzipd_tar_that_opens_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let r = call(&app, req("GET", "/api/v1/support-bundle")).await;
    assert_eq!(r.status, 401, "the bundle needs the admin");
    let r = call(&app, req("GET", "/support-bundle")).await;
    assert_eq!(r.status, 303, "the page sends a stranger to sign in");
    let (s, _) = admin(&app, &token(dir.path())).await;
    for uri in ["/api/v1/support-bundle", "/support-bundle"] {
        let resp = test::call_service(&app, with_session(req("GET", uri), &s).to_request()).await;
        assert_eq!(resp.status().as_u16(), 200, "{uri}");
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "application/gzip",
            "{uri}"
        );
        let Ok(body) = actix_web::body::to_bytes(resp.into_body()).await else {
            panic!("{uri}: the body could not be read")
        };
        assert_eq!(&body[..2], &[0x1f, 0x8b], "{uri}: gzip");
        let file = dir.path().join("got.tar.gz");
        std::fs::write(&file, &body).unwrap();
        let listing = stackbox_common::cmd::Command::new("tar")
            .arg("-tzf")
            .arg(&file)
            .run()
            .unwrap()
            .stdout;
        assert!(
            listing.starts_with("stackbox-bundle/summary.txt\n"),
            "{listing}"
        );
        std::fs::remove_file(&file).unwrap();
    }
    // Nothing is left behind in the state directory.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("bundle"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
