//! The network step's Apply and the confirmation over the new address, through the whole application on
//! a fixture machine. The wizard is in plan mode, so the apply itself is faked (the networkd files land
//! under STATE/plan/, nothing on this machine changes); the real apply is the network tier's
//! (tests/cluster/network.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use actix_web::test;
use common::*;
use stackbox_web::app::app as wizard;

/// `POST /network/apply` in session `s` with the CSRF token `csrf`.
async fn apply<S, B>(app: &S, s: &str, csrf: &str) -> Resp
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    call(
        app,
        form(
            with_session(req("POST", "/network/apply"), s),
            &[("csrf", csrf)],
        ),
    )
    .await
}

/// The token in the applied page's confirmation link.
fn token_in(body: &str) -> String {
    let start =
        body.find("/network/confirm#").expect("a confirmation link") + "/network/confirm#".len();
    body[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[actix_web::test]
async fn apply_then_confirm_with_the_one_time_link_from_the_new_address() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;

    // Nothing to apply before the settings are saved.
    let r = apply(&app, &s, &csrf).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("Save the network settings first"));

    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &s),
            &good_network(&csrf),
        ),
    )
    .await;
    assert_eq!(r.status, 303);
    // Apply needs the session's CSRF token.
    let r = apply(&app, &s, "forged").await;
    assert_eq!(r.status, 403);
    assert!(!dir.path().join("plan/etc/systemd/network").exists());

    let r = apply(&app, &s, &csrf).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = token_in(&r.body);
    assert_eq!(token.len(), 32);
    assert!(
        r.body
            .contains(&format!("https://10.0.0.5:8080/network/confirm#{token}")),
        "the link goes to the new static address: {}",
        r.body
    );
    assert!(r.body.contains("plan mode: nothing was applied"));
    golden("network-applied.html", &r.body.replace(&token, "{TOKEN}"));
    let plan = dir.path().join("plan/etc/systemd/network");
    assert!(plan.join("10-stackbox-br-mgmt.netdev").exists());
    assert!(plan.join("10-stackbox-vlan100.netdev").exists());
    let stored = dir.path().join("network-confirm");
    let mode = std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !std::fs::read_to_string(&stored).unwrap().contains(&token),
        "only its digest is kept"
    );

    // A second apply waits for the first.
    let r = apply(&app, &s, &csrf).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("waits for confirmation"), "{}", r.body);
    let r = call(&app, with_session(req("GET", "/network"), &s)).await;
    assert!(
        r.body
            .contains("Waiting for confirmation: management 10.0.0.5/24 on eno1 VLAN 100"),
        "{}",
        r.body
    );

    // The new address has no session: the page needs none, and the token decides.
    let r = call(&app, req("GET", "/network/confirm")).await;
    assert_eq!(r.status, 200);
    golden("network-confirm.html", &r.body);
    for wrong in ["", "abc", &token[..31], &format!("{token}x")] {
        let r = call(
            &app,
            form(req("POST", "/network/confirm"), &[("token", wrong)]),
        )
        .await;
        assert_eq!(r.status, 403, "{wrong:?}");
        assert!(r.body.contains("Not confirmed"), "{wrong:?}");
    }
    let r = call(
        &app,
        form(req("POST", "/network/confirm"), &[("token", &token)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    golden("network-confirmed.html", &r.body);
    let r = call(
        &app,
        form(req("POST", "/network/confirm"), &[("token", &token)]),
    )
    .await;
    assert_eq!(r.status, 403, "the link works once");

    let r = call(&app, with_session(req("GET", "/network"), &s)).await;
    assert!(
        r.body
            .contains("Applied and confirmed: management 10.0.0.5/24 on eno1 VLAN 100"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Waiting for confirmation"));
}

#[actix_web::test]
async fn a_network_that_breaks_the_whole_node_rules_is_refused_on_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    let mut net = good_network(&csrf);
    for pair in &mut net {
        if pair.0 == "bridge" {
            pair.1 = "eno3";
        }
    }
    let r = call(&app, form(with_session(req("POST", "/network"), &s), &net)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("`eno3` is already the name of the NIC eno3"),
        "{}",
        r.body
    );
    assert!(!dir.path().join("network.json").exists());
}

#[actix_web::test]
async fn a_member_of_a_running_cluster_keeps_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/install"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The fixture machine holds no address: any static address would move the member.
    let r = apply(&app, &s, &csrf).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("member of a running cluster"), "{}", r.body);
    assert!(
        !dir.path().join("plan/etc/systemd/network").exists(),
        "nothing was written"
    );
}
