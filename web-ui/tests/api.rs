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
    let mut r = with_session(req("POST", path), session)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned());
    if let Some(c) = csrf {
        r = r.insert_header(("x-csrf-token", c));
    }
    r
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
    let r = call(
        &app,
        post_json("/api/v1/cluster", &s, Some(&csrf), r#"{"name": "lab"}"#),
    )
    .await;
    assert_eq!(r.status, 201);
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
    let r = call(
        &app,
        put_json(
            "/api/v1/roles",
            &s,
            Some(&csrf),
            r#"{"roles": ["compute", "management"]}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        json(&r)["assignment"]["roles"],
        serde_json::json!(["compute", "management"])
    );
    assert_eq!(
        json(&r)["report"]["roles"],
        serde_json::json!(["compute", "management"])
    );
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
    opts.session_ttl = std::time::Duration::ZERO;
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
