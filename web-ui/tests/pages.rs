//! The wizard's pages through the whole application (guards, sessions, CSRF), on a fixture machine:
//! golden renders of every page, the sign-in flow, and the input that must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test;
use common::*;
use stackbox_web::app::app as wizard;

#[actix_web::test]
async fn every_page_renders_as_its_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let tok = token(dir.path());

    let r = call(&app, req("GET", "/login")).await;
    golden("login-token.html", &r.body);
    let (anon, csrf) = (r.session().unwrap(), r.csrf());
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", "WRONG-TOKEN")],
        ),
    )
    .await;
    assert_eq!(r.status, 401);
    golden("login-wrong-token.html", &r.body);

    let s = sign_in_token(&app, &tok).await;
    let r = call(&app, with_session(req("GET", "/set-password"), &s)).await;
    golden("set-password.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/set-password"), &s),
            &[
                ("csrf", &r.csrf()),
                ("password", "short"),
                ("confirm", "other"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("set-password-invalid.html", &r.body);
    every_error_marks_its_field(&r.body);
    // Long enough but guessable: refused with the reason, and nothing stored.
    for weak in ["            ", "aaaaaaaaaaaa", "password1234"] {
        let page = call(&app, with_session(req("GET", "/set-password"), &s)).await;
        let r = call(
            &app,
            form(
                with_session(req("POST", "/set-password"), &s),
                &[
                    ("csrf", &page.csrf()),
                    ("password", weak),
                    ("confirm", weak),
                ],
            ),
        )
        .await;
        assert_eq!(r.status, 422, "{weak:?}");
        assert!(r.body.contains("too easy to guess"), "{weak:?}: {}", r.body);
        assert!(
            !dir.path().join(stackbox_web::auth::PASSWORD_FILE).exists(),
            "{weak:?}"
        );
    }

    let (admin_s, csrf) = admin(&app, &tok).await;
    let r = call(&app, with_session(req("GET", "/hardware"), &admin_s)).await;
    // Each disk says its kind and model, each NIC whether it has a link: what an operator matches
    // against the machine in front of them.
    for shown in [
        "<code>nvme0n1</code> 960 GB NVMe <q>Dell Express Flash PM1725b 960GB</q>",
        "<code>sda</code> 4000 GB HDD <q>ST4000NM0035-1V4</q>",
        "<code>eno1</code> 02:00:5e:10:00:01, link up,",
        "<code>eno4</code> 02:00:5e:10:00:04, no link,",
    ] {
        assert!(
            r.body.contains(shown),
            "{shown} missing from the hardware page"
        );
    }
    golden("hardware.html", &r.body);
    let r = call(&app, with_session(req("GET", "/cluster"), &admin_s)).await;
    golden("cluster-needs-network.html", &r.body);
    let r = call(&app, with_session(req("GET", "/network"), &admin_s)).await;
    golden("network-defaults.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &admin_s),
            &[
                ("csrf", &csrf),
                ("hostname", "<script>alert(1)</script>"),
                ("management_nic", "eno1"),
                ("data_nic", "\"><script>alert(2)</script>"),
                ("mode", "static"),
                ("address", "10.0.0.5/24"),
                ("gateway", "10.0.1.1"),
                ("dns", "<img src=x onerror=alert(3)>"),
                ("bridge", "br-mgmt"),
                ("vlan", "4095"),
                ("mtu", "9217"),
                ("vxlan_min", "1"),
                ("vxlan_max", "1000"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("network-invalid.html", &r.body);
    every_error_marks_its_field(&r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &admin_s),
            &good_network(&csrf),
        ),
    )
    .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/cluster")));
    let r = call(&app, with_session(req("GET", "/network"), &admin_s)).await;
    golden("network-saved.html", &r.body);
    let r = call(&app, with_session(req("GET", "/cluster"), &admin_s)).await;
    golden("cluster-form.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster"), &admin_s),
            &[("csrf", &csrf), ("name", "Bad Name")],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("cluster-invalid.html", &r.body);
    every_error_marks_its_field(&r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster"), &admin_s),
            &[("csrf", &csrf), ("name", "lab")],
        ),
    )
    .await;
    assert_eq!(r.status, 303);
    let r = call(&app, with_session(req("GET", "/cluster"), &admin_s)).await;
    golden("cluster-created.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster"), &admin_s),
            &[("csrf", "nope"), ("name", "x")],
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    golden("error-csrf.html", &r.body);
    let r = call(&app, req("GET", "/no-such-page")).await;
    assert_eq!(r.status, 404);
    golden("error-not-found.html", &r.body);

    // Signed out, the sign-in page now asks for the password.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/logout"), &admin_s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/login")));
    let r = call(&app, req("GET", "/login")).await;
    golden("login-password.html", &r.body);
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    for path in [
        "/login",
        "/hardware",
        "/api/v1/status",
        "/static/wizard.css",
        "/nope",
    ] {
        let r = call(&app, req("GET", path)).await;
        let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
        let csp = h("content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(h("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            h("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
    }
    // No inline script: every <script> is a file of the wizard's own.
    let r = call(&app, req("GET", "/login")).await;
    for tag in r.body.split("<script").skip(1) {
        assert!(
            tag.starts_with(" src=\"/static/") && tag.contains("></script>"),
            "<script{tag}"
        );
        assert!(
            tag.split_once("></script>").unwrap().0.contains(".js\""),
            "<script{tag}"
        );
    }
    let c = r.set_cookie.unwrap();
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Max-Age=43200", // the absolute timeout: the server ends an idle session sooner
        "Path=/",
    ] {
        assert!(c.contains(attr), "{c}");
    }
}

#[actix_web::test]
async fn without_a_session_pages_go_to_sign_in_and_an_expired_one_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    // The sign-in page remembers the page asked for (a deep link survives the sign-in).
    for path in ["/", "/hardware", "/network", "/cluster", "/set-password"] {
        let r = call(&app, req("GET", path)).await;
        let to = match path {
            "/" => "/login".to_owned(),
            _ => format!("/login?next={path}"),
        };
        assert_eq!(
            (r.status, r.location.as_deref()),
            (303, Some(to.as_str())),
            "{path}"
        );
    }
    let r = call(&app, with_session(req("GET", "/hardware"), &"0".repeat(64))).await;
    assert_eq!(r.location.as_deref(), Some("/login?next=/hardware"));
    // A setup-token session must set the password before anything else.
    let s = sign_in_token(&app, &token(dir.path())).await;
    let r = call(&app, with_session(req("GET", "/hardware"), &s)).await;
    assert_eq!(r.location.as_deref(), Some("/set-password"));

    // Sessions that live no time at all expire at once.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.session_idle = std::time::Duration::ZERO;
    let app = test::init_service(wizard(state(opts))).await;
    let (anon, csrf) = anonymous(&app).await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", &token(dir.path()))],
        ),
    )
    .await;
    assert_eq!(
        r.status, 403,
        "an expired sign-in form is refused: {}",
        r.body
    );
    let r = call(&app, with_session(req("GET", "/hardware"), &anon)).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/login?next=/hardware"),
        "already removed"
    );
    let r = call(&app, req("GET", "/login")).await;
    let fresh = r.session().unwrap();
    let r = call(&app, with_session(req("GET", "/hardware"), &fresh)).await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/login?expired&next=/hardware"))
    );
    assert!(r.set_cookie.unwrap().contains("stackbox_session=;"));
    // A form's post comes back to its page after the sign-in (its typed values with it:
    // static/forms.js); a post to an address no page has goes to the sign-in alone.
    for (path, to) in [
        ("/network", "/login?next=/network"),
        ("/network/apply", "/login"),
    ] {
        let r = call(
            &app,
            form(with_session(req("POST", path), &anon), &[("csrf", &csrf)]),
        )
        .await;
        assert_eq!((r.status, r.location.as_deref()), (303, Some(to)), "{path}");
    }
    let r = call(&app, req("GET", "/login?expired&next=/hardware")).await;
    assert!(r.body.contains("Your session expired"), "{}", r.body);
    assert!(
        r.body
            .contains(r#"<input type="hidden" name="next" value="/hardware">"#),
        "{}",
        r.body
    );
}

#[actix_web::test]
async fn a_deep_link_survives_the_sign_in_and_only_a_local_path_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    admin(&app, &token(dir.path())).await;
    let sign_in = |next: &str| {
        let next = next.to_owned();
        let app = &app;
        async move {
            let r = call(app, req("GET", &format!("/login?next={next}"))).await;
            let (anon, csrf) = (r.session().unwrap(), r.csrf());
            call(
                app,
                form(
                    with_session(req("POST", "/login"), &anon),
                    &[("csrf", &csrf), ("secret", PASSWORD), ("next", &next)],
                ),
            )
            .await
        }
    };
    let r = sign_in("/settings").await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/settings")));
    // Must fail: another host, a scheme, an escape, a backslash: the first step not answered instead.
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/%2F%2Fevil.example",
        "/\\evil.example",
        "settings",
    ] {
        let r = sign_in(next).await;
        assert_eq!(
            (r.status, r.location.as_deref()),
            (303, Some("/hardware")),
            "{next}"
        );
    }
    // A wrong password keeps the page to come back to.
    let r = call(&app, req("GET", "/login?next=/review")).await;
    let (anon, csrf) = (r.session().unwrap(), r.csrf());
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[
                ("csrf", &csrf),
                ("secret", "wrong password"),
                ("next", "/review"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains(r#"name="next" value="/review""#),
        "{}",
        r.body
    );
}

#[actix_web::test]
async fn state_changing_requests_need_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let tok = token(dir.path());
    // Sign-in: missing, wrong, and another session's token.
    let (anon, _) = anonymous(&app).await;
    let (_, other_csrf) = anonymous(&app).await;
    for pairs in [
        vec![("secret", tok.as_str())],
        vec![("csrf", "0000"), ("secret", tok.as_str())],
        vec![("csrf", other_csrf.as_str()), ("secret", tok.as_str())],
    ] {
        let r = call(
            &app,
            form(with_session(req("POST", "/login"), &anon), &pairs),
        )
        .await;
        assert_eq!(r.status, 403, "{pairs:?}");
    }
    let (s, csrf) = admin(&app, &tok).await;
    let net = good_network(&csrf);
    for (path, pairs) in [
        ("/network", net[1..].to_vec()),
        (
            "/network",
            [
                vec![("csrf", "x".repeat(64).leak() as &str)],
                net[1..].to_vec(),
            ]
            .concat(),
        ),
        ("/cluster", vec![("name", "lab")]),
        ("/hardware/rerun", vec![]),
        ("/logout", vec![("csrf", "")]),
    ] {
        let r = call(&app, form(with_session(req("POST", path), &s), &pairs)).await;
        assert_eq!(r.status, 403, "{path} {pairs:?}");
        assert!(r.body.contains("The form is out of date"), "{}", r.body);
        assert!(r.body.contains("nothing was changed"), "{}", r.body);
    }
    assert!(!dir.path().join("network.json").exists(), "nothing stored");
    assert!(!dir.path().join("cluster.json").exists(), "nothing stored");
    // With the token, the same requests work; the rerun re-judges the machine.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/hardware/rerun"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/hardware?rerun"))
    );
}

async fn post_network(pairs: &[(&str, &str)]) -> (Resp, bool) {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    let mut all = good_network(&csrf);
    for (k, v) in pairs {
        all.retain(|(key, _)| key != k);
        all.push((k, v));
    }
    let r = call(&app, form(with_session(req("POST", "/network"), &s), &all)).await;
    (r, dir.path().join("network.json").exists())
}

#[actix_web::test]
async fn bad_network_input_is_refused_with_a_message_and_nothing_stored() {
    let cases: &[(&str, &str, &str)] = &[
        ("address", "10.0.0.5", "CIDR form"),
        ("address", "10.0.0.500/24", "CIDR form"),
        ("address", "10.0.0.5/33", "CIDR form"),
        ("gateway", "192.168.1.1", "outside the subnet 10.0.0.0/24"),
        ("vlan", "0", "1 to 4094"),
        ("vlan", "4095", "1 to 4094"),
        ("vlan", "ten", "1 to 4094"),
        ("mtu", "1279", "1280 to 9216"),
        ("mtu", "9217", "1280 to 9216"),
        ("hostname", "my node", "no spaces"),
        ("hostname", "NÖDE", "no uppercase"),
        ("hostname", "nöde", "lowercase letters a-z"),
        ("hostname", &"n".repeat(64), "at most 63 characters"),
        ("management_nic", "eth99", "choose one of the NICs"),
        ("vxlan_max", "0", "VXLAN id"),
    ];
    for (field, value, message) in cases {
        let (r, stored) = post_network(&[(field, value)]).await;
        assert_eq!(r.status, 422, "{field}={value}");
        assert!(!stored, "{field}={value} stored something");
        let id = format!("id=\"{field}-error\">");
        let at = r
            .body
            .find(&id)
            .unwrap_or_else(|| panic!("no message for {field}={value}"));
        let shown = &r.body[at..at + r.body[at..].find("</p>").unwrap()];
        assert!(
            shown.contains(&message.replace('\'', "&#x27;")),
            "{field}={value}: {shown}"
        );
    }
    let (r, _) = post_network(&[]).await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/cluster")));
}

#[actix_web::test]
async fn script_payloads_in_every_text_field_are_rendered_inert() {
    let payload = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>";
    for field in [
        "hostname",
        "management_nic",
        "data_nic",
        "mode",
        "address",
        "gateway",
        "dns",
        "bridge",
        "vlan",
        "mtu",
        "vxlan_min",
        "vxlan_max",
    ] {
        let (r, stored) = post_network(&[(field, payload)]).await;
        assert_eq!(r.status, 422, "{field}");
        assert!(!stored);
        assert!(!r.body.contains("<script>"), "{field}: {}", r.body);
        assert!(!r.body.contains("<img"), "{field}");
        assert!(!r.body.contains("\"'>"), "{field}");
    }
    // The cluster name too.
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    call(
        &app,
        form(
            with_session(req("POST", "/network"), &s),
            &good_network(&csrf),
        ),
    )
    .await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/cluster"), &s),
            &[("csrf", &csrf), ("name", payload)],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(!r.body.contains("<script>") && !r.body.contains("<img"));
    assert!(!dir.path().join("cluster.json").exists());
}

#[actix_web::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    let big = "a".repeat(65 * 1024);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &s),
            &[("csrf", &csrf), ("hostname", &big)],
        ),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(!dir.path().join("network.json").exists());
    // Just under the limit is read (and refused for what it says).
    let fits = "a".repeat(60 * 1024);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &s),
            &[("csrf", &csrf), ("hostname", &fits)],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    // The API answers with a problem document.
    let r = call(
        &app,
        with_session(req("PUT", "/api/v1/network"), &s)
            .insert_header(("x-csrf-token", csrf.as_str()))
            .insert_header(("content-type", "application/json"))
            .set_payload(format!("{{\"hostname\": \"{big}\"}}")),
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
}

#[actix_web::test]
async fn static_files_are_served_by_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let r = call(&app, req("GET", "/static/wizard.css")).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.unwrap().starts_with("text/css"));
    for path in [
        "/static/../Cargo.toml",
        "/static/..%2f..%2fCargo.toml",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/....//....//etc/passwd",
        "/static//etc/passwd",
        "/static/wizard.css/../../src/lib.rs",
        "/static/..%5c..%5cCargo.toml",
    ] {
        let r = call(&app, req("GET", path)).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !r.body.contains("[package]") && !r.body.contains("root:"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn clients_outside_the_allowed_subnets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.allow = Some(vec!["10.20.0.0/16".parse().unwrap()]);
    let app = test::init_service(wizard(state(opts))).await;
    let from = |ip: &str, path: &str| {
        actix_web::test::TestRequest::get()
            .uri(path)
            .peer_addr(format!("{ip}:5000").parse().unwrap())
    };
    for path in ["/login", "/api/v1/status", "/static/wizard.css"] {
        let r = call(&app, from("127.0.0.1", path)).await;
        assert_eq!(r.status, 403, "{path}");
        let r = call(&app, from("10.21.0.1", path)).await;
        assert_eq!(r.status, 403, "{path}");
        let r = call(&app, from("10.20.3.4", path)).await;
        assert_eq!(r.status, 200, "{path}");
    }
    let r = call(&app, from("192.0.2.1", "/api/v1/status")).await;
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    // IPv4-mapped IPv6 peers are judged as IPv4.
    let r = call(&app, from("[::ffff:10.20.0.9]", "/api/v1/status")).await;
    assert_eq!(r.status, 200);
    // The default allows loopback and the management subnet.
    let allow = stackbox_web::state::default_allow(Some("192.0.2.10".parse().unwrap()));
    let shown: Vec<String> = allow.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["127.0.0.0/8", "::1/128", "192.0.2.0/24"]);
}

#[actix_web::test]
async fn token_guessing_locks_the_address_out_and_the_token_dies_with_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let tok = token(dir.path());
    let (anon, csrf) = anonymous(&app).await;
    for i in 0..5 {
        let r = call(
            &app,
            form(
                with_session(req("POST", "/login"), &anon),
                &[("csrf", &csrf), ("secret", &format!("GUESS-{i}"))],
            ),
        )
        .await;
        assert_eq!(r.status, if i < 4 { 401 } else { 429 }, "attempt {i}");
    }
    // Locked out: even the right token is refused, with Retry-After.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", &tok)],
        ),
    )
    .await;
    assert_eq!(r.status, 429);
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(r.body.contains("Too many failed sign-ins"));
    // Another address is not affected.
    let other =
        || actix_web::test::TestRequest::default().peer_addr("127.0.0.2:4000".parse().unwrap());
    let r = call(&app, other().uri("/login")).await;
    let (anon2, csrf2) = (r.session().unwrap(), r.csrf());
    let r = call(
        &app,
        form(
            with_session(
                other().method(actix_web::http::Method::POST).uri("/login"),
                &anon2,
            ),
            &[("csrf", &csrf2), ("secret", &tok.to_lowercase())],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/set-password"))
    );
    // `stackboxd unlock` on the console clears the lockout: the locked address signs in at once.
    let right_token = || {
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", &tok)],
        )
    };
    assert_eq!(call(&app, right_token()).await.status, 429, "still locked");
    let _ = stackbox_web::cli::unlock(&stackbox_web::cli::UnlockArgs {
        state: dir.path().to_owned(),
    });
    let r = call(&app, right_token()).await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/set-password")),
        "unlocked"
    );

    // Once the password is set, the token no longer signs in; the password does.
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let tok = token(dir.path());
    let other_browser = sign_in_token(&app, &tok).await;
    admin(&app, &tok).await;
    let r = call(
        &app,
        with_session(req("GET", "/set-password"), &other_browser),
    )
    .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/login?next=/set-password"),
        "setup-token sessions end when the password is set"
    );
    let stored = std::fs::read_to_string(dir.path().join("admin-password.argon2")).unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PASSWORD));
    let (anon, csrf) = anonymous(&app).await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", &tok)],
        ),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", PASSWORD)],
        ),
    )
    .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/hardware")));
}

#[actix_web::test]
async fn secrets_never_appear_in_a_page_or_an_api_answer() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let tok = token(dir.path());
    let (s, _) = admin(&app, &tok).await;
    let key = std::fs::read_to_string(dir.path().join("tls/wizard.key")).unwrap();
    let key_line = key.lines().nth(1).unwrap().to_owned();
    for path in [
        "/login",
        "/hardware",
        "/network",
        "/cluster",
        "/api/v1/status",
        "/api/v1/system",
        "/api/v1/hardware",
        "/api/v1/network",
        "/api/v1/openapi.json",
    ] {
        let r = call(&app, with_session(req("GET", path), &s)).await;
        assert!(r.status == 200 || path == "/login", "{path}: {}", r.status);
        assert!(!r.body.contains(&tok), "{path} shows the token");
        assert!(!r.body.contains(PASSWORD), "{path} shows the password");
        assert!(!r.body.contains("$argon2"), "{path} shows the hash");
        assert!(!r.body.contains(&key_line), "{path} shows the key");
    }
}

#[actix_web::test]
async fn the_hardware_page_shows_every_failure_with_its_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.root = machine("vm-no-virt");
    opts.profile = "baremetal".to_owned();
    let app = test::init_service(wizard(state(opts))).await;
    let (s, _) = admin(&app, &token(dir.path())).await;
    let r = call(&app, with_session(req("GET", "/hardware"), &s)).await;
    assert!(r.body.contains("class=\"status-fail\""));
    golden("hardware-failing.html", &r.body);
}

#[actix_web::test]
async fn roles_are_judged_as_chosen_and_settings_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    let r = call(&app, with_session(req("GET", "/roles"), &s)).await;
    golden("roles-needs-cluster.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/roles"), &s),
            &[("csrf", &csrf), ("role", "compute")],
        ),
    )
    .await;
    assert_eq!(r.status, 409);
    let r = call(&app, with_session(req("GET", "/settings"), &s)).await;
    golden("settings-defaults.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/settings"), &s),
            &[
                ("csrf", &csrf),
                ("flavor", "openstack"),
                ("cpu_ratio", "4"),
                ("ram_ratio", "1"),
                ("disk_ratio", "1"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 409, "settings come after the roles");

    network_and_cluster(&app, &s, &csrf).await;
    let r = call(&app, with_session(req("GET", "/roles"), &s)).await;
    golden("roles-form.html", &r.body);
    // No role, an unknown role, a script: refused, nothing stored.
    for pairs in [
        vec![("csrf", csrf.as_str())],
        vec![("csrf", csrf.as_str()), ("role", "dns")],
        vec![
            ("csrf", csrf.as_str()),
            ("role", "<script>alert(1)</script>"),
        ],
    ] {
        let r = call(&app, form(with_session(req("POST", "/roles"), &s), &pairs)).await;
        assert_eq!(r.status, 422, "{pairs:?}");
        assert!(!r.body.contains("<script>alert"));
        assert!(!dir.path().join("roles.json").exists());
    }
    let r = call(
        &app,
        form(
            with_session(req("POST", "/roles"), &s),
            &[("role", "compute")],
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    // The cluster's only node without the roles a cloud needs: refused in words, nothing stored.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/roles"), &s),
            &[("csrf", &csrf), ("role", "compute"), ("role", "management")],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("the cloud needs a node with the `message-bus` role, and this is the cluster&#39;s only node"),
        "{}",
        r.body
    );
    assert!(!dir.path().join("roles.json").exists());
    let r = call(
        &app,
        form(
            with_session(req("POST", "/roles"), &s),
            &[
                ("csrf", &csrf),
                ("role", "compute"),
                ("role", "management"),
                ("role", "message-bus"),
                ("role", "storage-metadata"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    golden("roles-saved.html", &r.body);
    let stored = std::fs::read_to_string(dir.path().join("roles.json")).unwrap();
    assert!(
        stored.contains("\"management\"") && stored.contains("\"node\": \"node1\""),
        "{stored}"
    );

    let r = call(
        &app,
        form(
            with_session(req("POST", "/settings"), &s),
            &[
                ("csrf", &csrf),
                ("flavor", "cloudstack"),
                ("cpu_ratio", "65"),
                ("ram_ratio", "NaN"),
                ("disk_ratio", "<b>1</b>"),
                ("api_clients", "10.9.0.1/16, the office"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("settings-invalid.html", &r.body);
    every_error_marks_its_field(&r.body);
    assert!(!dir.path().join("settings.json").exists());
    let r = call(
        &app,
        form(
            with_session(req("POST", "/settings"), &s),
            &[
                ("csrf", &csrf),
                ("flavor", "openstack"),
                ("cpu_ratio", "8"),
                ("ram_ratio", "1.5"),
                ("disk_ratio", "1"),
                ("api_clients", "192.168.10.0/24, 10.9.0.0/16"),
            ],
        ),
    )
    .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/settings")));
    let r = call(&app, with_session(req("GET", "/settings"), &s)).await;
    golden("settings-saved.html", &r.body);
    assert!(
        r.body.contains("value=\"192.168.10.0/24, 10.9.0.0/16\""),
        "{}",
        r.body
    );
    let r = call(&app, req("GET", "/api/v1/status")).await;
    assert!(r.body.contains("\"phase\":\"review\""), "{}", r.body);
}

#[actix_web::test]
async fn roles_the_hardware_cannot_carry_are_refused_with_the_failed_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.root = machine("vm-no-virt");
    opts.profile = "baremetal".to_owned();
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/roles"), &s),
            &[
                ("csrf", &csrf),
                ("role", "compute"),
                ("role", "management"),
                ("role", "storage-metadata"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 422);
    golden("roles-refused.html", &r.body);
    assert!(!dir.path().join("roles.json").exists());
}

/// Replaces step durations (`<span class="detail">0.0 s</span>`), which vary from run to run, with
/// `{SECONDS}`.
fn mask_seconds(page: &str) -> String {
    const OPEN: &str = "<span class=\"detail\">";
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(i) = rest.find(OPEN) {
        let (before, after) = rest.split_at(i + OPEN.len());
        out.push_str(before);
        let end = after.find("</span>").unwrap_or(0);
        let detail = &after[..end];
        match detail.strip_suffix(" s") {
            Some(n) if n.parse::<f64>().is_ok() => out.push_str("{SECONDS}"),
            _ => out.push_str(detail),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces the run's start and running time (`<time datetime="…">…</time>`, `<span class="elapsed"…>…</span>`)
/// with `{TIME}` and `{ELAPSED}`.
fn mask_timing(page: &str) -> String {
    let mut out = page.to_owned();
    for (open, close, with) in [
        ("<time datetime=\"", "</time>", "<time>{TIME}"),
        (
            "<span class=\"elapsed\"",
            "</span>",
            "<span class=\"elapsed\">{ELAPSED}",
        ),
    ] {
        if let Some(i) = out.find(open) {
            let end = i + out[i..].find(close).unwrap();
            out.replace_range(i..end, with);
        }
    }
    out
}

/// An install page as its golden file holds it: durations masked. (The plan is the fixture's, whatever
/// the test host has: api.rs `the_installation_runs_the_plan_the_review_showed`.)
fn install_golden(name: &str, page: &str) {
    golden(name, &mask_timing(&mask_seconds(page)));
}

/// After [`network_and_cluster`]: all five roles and the settings, through the pages.
/// Polls `GET /api/v1/install` until the installation no longer runs (at most two minutes): its phase.
async fn installation_ends<S, B>(app: &S, s: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let r = call(app, with_session(req("GET", "/api/v1/install"), s)).await;
        let p: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let phase = p["phase"].as_str().unwrap().to_owned();
        if phase != "running" {
            return phase;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {}",
            r.body
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn review_install_and_done_render_as_their_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.install = stackbox_installer::runner::InstallMode::PlanOnly {
        fail_package_once: Some("glance".into()),
        pace: std::time::Duration::ZERO,
    };
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;

    // Before the answers: the review says what is missing, nothing has run, nothing is done.
    let r = call(&app, with_session(req("GET", "/review"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"review-error\""));
    assert!(!r.body.contains("id=\"start-install\""));
    golden("review-needs-answers.html", &r.body);
    let r = call(&app, with_session(req("GET", "/install"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-phase=\"idle\""));
    golden("install-idle.html", &r.body);
    let r = call(&app, with_session(req("GET", "/done"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"not-done\""));
    golden("done-not-complete.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/done/openrc"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 409, "no credentials before the installation");

    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    let r = call(&app, with_session(req("GET", "/review"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"start-install\""), "{}", r.body);
    assert!(r.body.contains("id=\"plan-mode\""));
    golden("review.html", &r.body);
    // The answers as an answer file for the next machines: what was answered, no secret.
    let r = call(&app, with_session(req("GET", "/review/answers.toml"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("[network]") && r.body.contains("[node]") && r.body.contains("[settings]"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("password_hash = \"\""),
        "no hash leaves the wizard: {}",
        r.body
    );
    assert!(!r.body.contains("argon2"), "{}", r.body);
    golden("answers.toml", &r.body);

    // Without the CSRF token nothing starts.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/install"), &s),
            &[("csrf", "forged")],
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = call(&app, with_session(req("GET", "/install"), &s)).await;
    assert!(r.body.contains("data-phase=\"idle\""));

    // The first run fails at the node's packages (glance's among them).
    let r = call(
        &app,
        form(
            with_session(req("POST", "/install"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/install")));
    assert_eq!(installation_ends(&app, &s).await, "failed");
    let r = call(&app, with_session(req("GET", "/install"), &s)).await;
    assert!(r.body.contains("data-phase=\"failed\""));
    assert!(
        r.body
            .contains("<code id=\"failed-step\">node1/packages</code>")
    );
    assert!(r.body.contains("id=\"failed-remedy\""), "{}", r.body);
    assert!(r.body.contains("class=\"step-failed\""));
    install_golden("install-failed.html", &r.body);
    let r = call(&app, with_session(req("GET", "/done"), &s)).await;
    assert!(r.body.contains("id=\"not-done\""));

    // The retry completes.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/install"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!((r.status, r.location.as_deref()), (303, Some("/install")));
    assert_eq!(installation_ends(&app, &s).await, "complete");
    let r = call(&app, with_session(req("GET", "/install"), &s)).await;
    assert!(r.body.contains("data-phase=\"complete\""));
    assert!(!r.body.contains("class=\"step-pending\""));
    assert!(
        !r.body.contains("<div id=\"failure\">"),
        "the failure is hidden"
    );
    install_golden("install-complete.html", &r.body);
    // The whole log holds both runs, stamped; a step's link gives that step's lines alone; a step
    // not in the plan is not found.
    let r = call(&app, with_session(req("GET", "/install/log"), &s)).await;
    assert_eq!(r.status, 200);
    let whole = r.body;
    assert!(whole.contains(" installation started\n"), "{whole}");
    assert!(whole.contains(" retry: the journal resumes\n"), "{whole}");
    assert!(whole.contains(" node1/packages: failed: "), "{whole}");
    assert!(whole.ends_with(" installation complete\n"), "{whole}");
    let r = call(
        &app,
        with_session(req("GET", "/install/log?step=node1/packages"), &s),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.is_empty());
    assert!(
        r.body.lines().all(|l| l.contains(" node1/packages: ")),
        "{}",
        r.body
    );
    assert!(r.body.lines().count() < whole.lines().count());
    for bad in ["node1/nope", "../../etc/passwd", "node1/packages%0Ax"] {
        let r = call(
            &app,
            with_session(req("GET", &format!("/install/log?step={bad}")), &s),
        )
        .await;
        assert_eq!(r.status, 404, "{bad}");
    }
    let r = call(&app, req("GET", "/install/log")).await;
    assert_ne!(r.status, 200, "the log is the admin's");

    let r = call(&app, with_session(req("GET", "/done"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"download-openrc\""));
    assert!(r.body.contains(stackbox_installer::dry_run::SMOKE_REPORT));
    // Plan mode installed no dashboard to link to.
    assert!(!r.body.contains("id=\"dashboard\""));
    golden("done.html", &r.body);
    let r = call(&app, with_session(req("GET", "/done/ca.pem"), &s)).await;
    assert_eq!(r.status, 409, "plan mode made no CA");

    // The credentials, once.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/done/openrc"), &s),
            &[("csrf", "forged")],
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/done/openrc"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers.get("content-disposition").unwrap(),
        "attachment; filename=\"admin-openrc.sh\""
    );
    assert!(r.body.contains("export OS_USERNAME=admin\n"));
    let r = call(&app, with_session(req("GET", "/done"), &s)).await;
    assert!(r.body.contains("id=\"openrc-taken\""));
    assert!(!r.body.contains("id=\"download-openrc\""));
    golden("done-openrc-taken.html", &r.body);
    let r = call(
        &app,
        form(
            with_session(req("POST", "/done/openrc"), &s),
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(r.status, 410);
    assert!(r.content_type.as_deref().unwrap().starts_with("text/html"));
    assert!(!r.body.contains("OS_PASSWORD"));
    golden("error-gone.html", &r.body);
}

#[actix_web::test]
async fn step_durations_are_masked_and_nothing_else() {
    assert_eq!(
        mask_seconds(
            "<span class=\"detail\">0.0 s</span> <span class=\"detail\">12.5 s</span> \
             <span class=\"detail\">unchanged</span><span class=\"detail\">x s</span>"
        ),
        "<span class=\"detail\">{SECONDS}</span> <span class=\"detail\">{SECONDS}</span> \
         <span class=\"detail\">unchanged</span><span class=\"detail\">x s</span>"
    );
}

/// Each field's message (`<p class="field-error" id="F-error">`) is tied to an input marked invalid
/// (`aria-invalid="true"`, `aria-describedby` naming it), so a screen reader reads it with the field.
fn every_error_marks_its_field(body: &str) {
    let mut found = 0;
    for part in body.split(r#"<p class="field-error""#).skip(1) {
        let id = part
            .split(r#"id=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let marked = body.split('<').any(|tag| {
            (tag.starts_with("input ") || tag.starts_with("select "))
                && tag.contains(r#"aria-invalid="true""#)
                && tag
                    .split(r#"aria-describedby=""#)
                    .nth(1)
                    .is_some_and(|ids| ids.split('"').next().unwrap().split(' ').any(|i| i == id))
        });
        assert!(marked, "no input is marked invalid and described by {id}");
        found += 1;
    }
    assert!(found > 0, "the page shows no field error");
}

#[actix_web::test]
async fn a_real_installation_starts_only_when_confirmed_on_the_review_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    // The real mode's refusal comes before anything runs: nothing is installed on the test host.
    opts.install = stackbox_installer::runner::InstallMode::real();
    let app = actix_web::test::init_service(stackbox_web::app::app(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    let r = call(&app, with_session(req("GET", "/review"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="confirm-install""#), "{}", r.body);
    assert!(r.body.contains("about 10 minutes"), "{}", r.body);
    // Must fail: no confirmation, or another value; the installation stays idle.
    for pairs in [
        vec![("csrf", csrf.as_str())],
        vec![("csrf", &csrf), ("confirm", "no")],
    ] {
        let r = call(
            &app,
            form(with_session(req("POST", "/install"), &s), &pairs),
        )
        .await;
        assert_eq!(r.status, 422, "{pairs:?}: {}", r.body);
        assert!(r.body.contains("confirm on the review page"), "{}", r.body);
        let r = call(&app, with_session(req("GET", "/api/v1/install"), &s)).await;
        assert!(r.body.contains(r#""phase":"idle""#), "{}", r.body);
    }
}

#[actix_web::test]
async fn the_done_page_of_a_real_installation_says_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    // A completed real installation, as the runner keeps it across restarts.
    let mut result = stackbox_installer::progress::Progress::idle(false);
    result.phase = stackbox_installer::progress::Phase::Complete;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/allinone.toml");
    result.config = Some(
        stackbox_installer::ClusterConfig::from_toml(
            "allinone",
            &std::fs::read_to_string(example).unwrap(),
        )
        .unwrap(),
    );
    std::fs::write(
        dir.path().join(stackbox_installer::runner::RESULT_FILE),
        serde_json::to_string(&result).unwrap(),
    )
    .unwrap();
    let mut opts = options(dir.path());
    opts.install = stackbox_installer::runner::InstallMode::real();
    let app = actix_web::test::init_service(stackbox_web::app::app(state(opts))).await;
    let (s, _) = admin(&app, &token(dir.path())).await;
    let r = call(&app, with_session(req("GET", "/done"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for says in [
        r#"id="next-steps""#,
        // The dashboard, at the API address of the example, under its path.
        r#"<a href="https://10.20.0.10/dashboard/" id="dashboard">"#,
        "openstack image create",
        "openstack network create net1",
        r#"<a href="/cluster">Cluster</a>"#,
    ] {
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
    assert!(!r.body.contains(r#"id="plan-mode""#));
}

/// Signs in with the admin password from a fresh browser: its session.
async fn sign_in_password<S, B>(app: &S, password: &str) -> (u16, Option<String>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let (anon, csrf) = anonymous(app).await;
    let r = call(
        app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", password)],
        ),
    )
    .await;
    (r.status, r.session())
}

#[actix_web::test]
async fn the_admin_password_changes_with_the_current_one_and_signs_other_browsers_out() {
    const NEW: &str = "velvet harbour quietly sings";
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    let (_, other) = sign_in_password(&app, PASSWORD).await;
    let other = other.expect("a second browser signed in");
    let r = call(&app, with_session(req("GET", "/password"), &s)).await;
    assert_eq!(r.status, 200);
    golden("change-password.html", &r.body);
    let hash = || std::fs::read_to_string(dir.path().join("admin-password.argon2")).unwrap();
    let before = hash();
    // Must fail, nothing changed: a wrong current password, a guessable new one, a confirmation that
    // differs, no CSRF token.
    for (current, new, confirm, field) in [
        ("not the password at all", NEW, NEW, "current"),
        (PASSWORD, "aaaaaaaaaaaa", "aaaaaaaaaaaa", "password"),
        (PASSWORD, NEW, "another phrase entirely here", "confirm"),
    ] {
        let r = call(
            &app,
            form(
                with_session(req("POST", "/password"), &s),
                &[
                    ("csrf", &csrf),
                    ("current", current),
                    ("password", new),
                    ("confirm", confirm),
                ],
            ),
        )
        .await;
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert!(
            r.body.contains(&format!("id=\"{field}-error\"")),
            "{field}: {}",
            r.body
        );
        every_error_marks_its_field(&r.body);
        assert_eq!(hash(), before, "{field}: nothing changed");
    }
    let change = |session: &str| {
        form(
            with_session(req("POST", "/password"), session),
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("password", NEW),
                ("confirm", NEW),
            ],
        )
    };
    let r = call(
        &app,
        form(
            with_session(req("POST", "/password"), &s),
            &[("current", PASSWORD), ("password", NEW), ("confirm", NEW)],
        ),
    )
    .await;
    assert_eq!(r.status, 403, "no CSRF token");
    assert_eq!(hash(), before);
    // Right: changed; this browser goes on under a new session, every other one is signed out.
    let r = call(&app, change(&s)).await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/password?changed"))
    );
    let renewed = r.session().expect("a new session for this browser");
    assert_ne!(renewed, s);
    assert_ne!(hash(), before);
    let r = call(
        &app,
        with_session(req("GET", "/password?changed"), &renewed),
    )
    .await;
    assert!(r.body.contains("id=\"password-changed\""), "{}", r.body);
    for old in [&s, &other] {
        let r = call(&app, with_session(req("GET", "/hardware"), old)).await;
        assert_eq!(r.location.as_deref(), Some("/login?next=/hardware"));
    }
    assert_eq!(
        sign_in_password(&app, PASSWORD).await.0,
        401,
        "the old password"
    );
    assert_eq!(sign_in_password(&app, NEW).await.0, 303, "the new password");
}

#[actix_web::test]
async fn the_review_repeats_the_hardware_warnings_and_links_each_section_to_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.root = machine("vm-no-virt");
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    let r = call(&app, with_session(req("GET", "/review"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let notes = r
        .body
        .split_once("id=\"hardware-notes\"")
        .map(|(_, rest)| rest.split_once("</ul>").unwrap().0)
        .unwrap_or_else(|| panic!("no hardware notes on the review: {}", r.body));
    assert!(notes.contains("class=\"status-warn\""), "{notes}");
    assert!(!notes.contains("status-pass"), "{notes}");
    // The same checks the API's plan lists, none of them passed.
    let r2 = call(&app, with_session(req("GET", "/api/v1/plan"), &s)).await;
    let plan: serde_json::Value = serde_json::from_str(&r2.body).unwrap();
    let ids: Vec<&str> = plan["hardware"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty());
    for id in &ids {
        assert!(
            notes.contains(&format!("<code>{id}</code>")),
            "{id}: {notes}"
        );
    }
    for (section, step) in [
        ("cluster", "/cluster"),
        ("node", "/network"),
        ("data plane", "/network"),
        ("roles", "/roles"),
        ("overcommit", "/settings"),
    ] {
        assert!(
            r.body.contains(&format!(
                "<a href=\"{step}\" class=\"edit\" aria-label=\"Change: {section}\">"
            )),
            "no edit link for {section}"
        );
    }
}

#[actix_web::test]
async fn an_internal_error_page_gives_an_error_id_the_downloadable_log_holds() {
    use tracing_subscriber::layer::SubscriberExt;
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(stackbox_web::recent_log::layer()),
    );
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    // The answers cannot be stored: a directory stands where the file goes.
    std::fs::create_dir(dir.path().join(stackbox_web::answers::NETWORK_FILE)).unwrap();
    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &s),
            &good_network(&csrf),
        ),
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("Something failed on the appliance"),
        "{}",
        r.body
    );
    let id = r
        .body
        .split_once("Error id <code>")
        .and_then(|(_, rest)| rest.split_once("</code>"))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no error id: {}", r.body));
    assert_eq!(id.len(), 8, "{id}");
    // A signed-in admin keeps the navigation and sign-out, and is offered the log and a way on.
    assert!(r.body.contains("aria-label=\"Wizard steps\""), "{}", r.body);
    assert!(r.body.contains("action=\"/logout\""), "{}", r.body);
    assert!(r.body.contains("<a href=\"/log\" download"), "{}", r.body);
    assert!(r.body.contains("id=\"way-forward\""), "{}", r.body);
    // The cause is not on the page; the log has it, under the id.
    assert!(!r.body.contains("network.json"), "{}", r.body);
    let log = call(&app, with_session(req("GET", "/log"), &s)).await;
    assert_eq!(log.status, 200);
    let line = log
        .body
        .lines()
        .find(|l| l.contains(&format!("error {id}")))
        .unwrap_or_else(|| panic!("error {id} not in the log:\n{}", log.body));
    assert!(line.contains("network.json"), "{line}");
    // The log is the admin's only.
    let (anon, _) = anonymous(&app).await;
    let r = call(&app, with_session(req("GET", "/log"), &anon)).await;
    assert_eq!(r.status, 303);
    let r = call(&app, req("GET", "/log")).await;
    assert_ne!(r.status, 200);
}

#[actix_web::test]
async fn a_refusal_while_the_install_runs_leads_to_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.install = stackbox_installer::runner::InstallMode::PlanOnly {
        fail_package_once: None,
        pace: std::time::Duration::from_secs(5),
    };
    let app = test::init_service(wizard(state(opts))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    network_and_cluster(&app, &s, &csrf).await;
    roles_and_settings(&app, &s, &csrf).await;
    let r = call(
        &app,
        form(
            with_session(req("POST", "/install"), &s),
            &[("csrf", &csrf), ("confirm", "yes")],
        ),
    )
    .await;
    assert!(
        r.status == 303 || r.status == 200,
        "{}: {}",
        r.status,
        r.body
    );
    let r = call(
        &app,
        form(
            with_session(req("POST", "/network"), &s),
            &good_network(&csrf),
        ),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("The installation is running"), "{}", r.body);
    assert!(
        r.body.contains(
            "<a href=\"/install\" id=\"way-forward\">Follow the installation&#39;s progress</a>"
        ),
        "{}",
        r.body
    );
}
