//! A real browser walks the wizard: Debian's Chromium, headless, driven over WebDriver (chromedriver)
//! by fantoccini, against the wizard serving HTTPS on 127.0.0.1. Sign in with the setup token, set the
//! admin password, read the hardware report, submit a bad network form and then a good one, create the
//! cluster (a join with malformed fields first, a join code issued after), choose roles and save the settings (with a bad ratio first); and at phone size, the first node assigns a joined node its roles. With `STACKBOX_SCREENSHOTS=DIR` it saves PNGs of the pages there.
//!
//! Chromium and chromedriver must be installed (deps/web.txt); when they are missing the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_walks_sign_in_password_hardware_network_cluster_roles_settings() {
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.install = stackbox_installer::runner::InstallMode::PlanOnly {
        fail_package_once: Some("glance".to_owned()),
        // Slow enough that the steps before the packages (the failure) take seconds: the page must be
        // watched turning a step done live before that failure reloads it (at 20 ms a loaded machine
        // lost the race).
        pace: Duration::from_millis(100),
    };
    let running = Running::start(opts);
    let (_driver, port) = start_driver();
    let c = browser(port, profile.path()).await;
    let base = running.url();
    let state_dir = dir.path().to_owned();
    let walker = c.clone();
    let result = async move {
        let (c, dir) = (walker, state_dir.as_path());
        // No session: the wizard sends the browser to the sign-in page, which remembers the page.
        c.goto(&format!("{base}/hardware")).await.unwrap();
        assert_eq!(
            at(&c, "/login?next=/hardware").await,
            "/login?next=/hardware"
        );
        shot(&c, "login.png").await;

        // A wrong token is refused with a message; the right one leads to the password page.
        fill(&c, "#secret", "WRONG-WRONG").await;
        click(&c, "#sign-in").await;
        assert!(
            text(&c, "#login-error")
                .await
                .contains("setup token is wrong")
        );
        fill(&c, "#secret", &token(dir).to_lowercase()).await;
        click(&c, "#sign-in").await;
        assert_eq!(at(&c, "/set-password").await, "/set-password");

        fill(&c, "#password", "long enough one").await;
        fill(&c, "#confirm", "long enough two").await;
        click(&c, "#set-password").await;
        assert!(text(&c, "#confirm-error").await.contains("differ"));
        // Guessable: refused with the reason. "Show the passwords" unmasks both fields.
        fill(&c, "#password", "aaaaaaaaaaaa").await;
        fill(&c, "#confirm", "aaaaaaaaaaaa").await;
        click(&c, "#set-password").await;
        assert!(
            text(&c, "#password-error")
                .await
                .contains("too easy to guess")
        );
        let kind = |css: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Css(css))
                    .await
                    .unwrap()
                    .attr("type")
                    .await
                    .unwrap()
                    .unwrap_or_default()
            }
        };
        assert_eq!(kind("#password").await, "password");
        click(&c, "#show-password").await;
        assert_eq!(kind("#password").await, "text");
        assert_eq!(kind("#confirm").await, "text");
        click(&c, "#show-password").await;
        assert_eq!(kind("#password").await, "password");
        fill(&c, "#password", PASSWORD).await;
        fill(&c, "#confirm", PASSWORD).await;
        click(&c, "#set-password").await;
        assert_eq!(at(&c, "/hardware").await, "/hardware");

        // The hardware report, every check with its status; the re-run button comes back to it.
        assert!(text(&c, "#verdict").await.starts_with("Ready"));
        assert_eq!(text(&c, "#check-kvm\\.device td").await, "PASS");
        shot(&c, "hardware.png").await;
        click(&c, "#rerun").await;
        assert_eq!(at(&c, "/hardware?rerun").await, "/hardware?rerun");
        assert!(text(&c, "#rerun-done").await.contains("run again"));
        click(&c, "#next").await;
        assert_eq!(at(&c, "/network").await, "/network");

        // Bad input: messages beside the fields, nothing stored, the script stays text.
        fill(&c, "#hostname", "<script>alert(1)</script>").await;
        fill(&c, "#vlan", "4095").await;
        click(&c, "#mode-static").await;
        fill(&c, "#address", "10.0.0.5/24").await;
        fill(&c, "#gateway", "10.0.1.1").await;
        fill(&c, "#dns", "10.0.0.53").await;
        click(&c, "#save-network").await;
        assert_eq!(at(&c, "/network").await, "/network");
        assert!(text(&c, "#vlan-error").await.contains("1 to 4094"));
        assert!(
            text(&c, "#gateway-error")
                .await
                .contains("outside the subnet")
        );
        assert!(text(&c, "#hostname-error").await.contains("lowercase"));
        assert!(!dir.join("network.json").exists());
        let value = c
            .find(Locator::Css("#hostname"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some("<script>alert(1)</script>"));
        shot(&c, "network-invalid.png").await;

        fill(&c, "#hostname", "node1").await;
        fill(&c, "#vlan", "100").await;
        fill(&c, "#gateway", "10.0.0.1").await;
        c.find(Locator::Css("#data_nic"))
            .await
            .unwrap()
            .select_by_value("eno2")
            .await
            .unwrap();
        click(&c, "#save-network").await;
        assert_eq!(at(&c, "/cluster").await, "/cluster");
        assert!(dir.join("network.json").exists());

        // Create or join: a join with malformed fields names each of them; then a cluster of one.
        fill(&c, "#member", "not an address").await;
        fill(&c, "#code", "XX").await;
        fill(&c, "#fingerprint", "SHA256:00").await;
        click(&c, "#join-cluster").await;
        for id in ["#member-error", "#code-error", "#fingerprint-error"] {
            assert!(!text(&c, id).await.is_empty(), "{id}");
        }
        fill(&c, "#name", "lab").await;
        click(&c, "#create-cluster").await;
        assert!(text(&c, "#cluster-created").await.contains("Cluster lab"));
        // The member issues a join code for the next node, shown once with its fingerprint.
        click(&c, "#issue-code").await;
        let code = text(&c, "#code").await;
        assert!(stackbox_cluster::JoinCode::parse(&code).is_ok(), "{code}");
        assert!(text(&c, "#fingerprint").await.starts_with("SHA256:"));
        shot(&c, "cluster.png").await;
        click(&c, "#next").await;
        assert_eq!(at(&c, "/roles").await, "/roles");

        // Roles: a choice the installer would refuse is refused here, in words (the cluster's only
        // node must carry every role a cloud needs), then the settings.
        for role in ["console-proxy", "message-bus", "storage-metadata"] {
            click(&c, &format!("#role-{role}")).await; // off: the defaults are every role
        }
        click(&c, "#save-roles").await;
        let refused = text(&c, "#roles-error").await;
        assert!(
            refused.contains("the cloud needs a node with the `message-bus` role"),
            "{refused}"
        );
        // Back on, saved.
        for role in ["console-proxy", "message-bus", "storage-metadata"] {
            click(&c, &format!("#role-{role}")).await;
        }
        click(&c, "#save-roles").await;
        assert!(text(&c, "#roles-saved").await.contains("Saved"));
        click(&c, "#next").await;
        assert_eq!(at(&c, "/settings").await, "/settings");
        fill(&c, "#cpu_ratio", "99").await;
        click(&c, "#save-settings").await;
        assert!(text(&c, "#cpu_ratio-error").await.contains("at most 64"));
        fill(&c, "#cpu_ratio", "8").await;
        click(&c, "#save-settings").await;
        assert!(text(&c, "#settings-saved").await.contains("review"));
        shot(&c, "settings.png").await;
        let cluster: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cluster.json")).unwrap())
                .unwrap();
        assert_eq!(cluster["members"], serde_json::json!(["node1"]));

        // Review: the plan for this node, the ports it opens, the files it writes.
        click(&c, "#next").await;
        assert_eq!(at(&c, "/review").await, "/review");
        assert!(
            text(&c, "#plan-mode")
                .await
                .contains("nothing is installed")
        );
        assert!(text(&c, "#summary").await.contains("node1 at 10.0.0.5"));
        assert!(text(&c, "#ports").await.contains("5000/tcp"));
        assert!(
            text(&c, "#files")
                .await
                .contains("/etc/keystone/keystone.conf")
        );
        assert!(text(&c, "#not-applied").await.contains("VLAN 100"));
        let steps = c.find_all(Locator::Css("#steps li")).await.unwrap().len();
        assert!(steps > 40, "{steps} steps");
        shot(&c, "review.png").await;

        // Install: glance's package fails once (plan mode, as the test asked), and with it the node's one
        // transaction of packages; the page names the step,
        // its error and remedy, and live progress arrives over server-sent events without a reload.
        click(&c, "#start-install").await;
        assert_eq!(at(&c, "/install").await, "/install");
        c.execute("window.stackboxNotReloaded = true;", vec![])
            .await
            .unwrap();
        let live = c
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("#steps li.step-done"))
            .await;
        assert!(live.is_ok(), "no step turned done on the page");
        assert!(text(&c, "#elapsed").await.starts_with("Started at "));
        let same_page = c
            .execute("return window.stackboxNotReloaded === true;", vec![])
            .await
            .unwrap();
        assert_eq!(
            same_page,
            serde_json::json!(true),
            "the page reloaded instead of updating live"
        );
        assert!(text(&c, "#failed-step").await.ends_with("/packages"));
        assert!(
            text(&c, "#failed-error")
                .await
                .contains("installing glance failed")
        );
        assert!(!text(&c, "#failed-remedy").await.is_empty());
        assert!(!text(&c, "#log").await.is_empty());
        shot(&c, "install-failed.png").await;

        // Retry: the journal resumes; the steps done before the failure are skipped as unchanged.
        click(&c, "#retry").await;
        visible(&c, "#to-done", Duration::from_secs(60)).await;
        let class = c
            .find(Locator::Css("#step-hosts"))
            .await
            .unwrap()
            .attr("class")
            .await
            .unwrap();
        assert_eq!(class.as_deref(), Some("step-skipped"));
        shot(&c, "install.png").await;
        click(&c, "#to-done").await;
        assert_eq!(at(&c, "/done").await, "/done");
        assert!(
            text(&c, "#smoke-verdict")
                .await
                .contains("No VM was booted")
        );
        assert!(
            text(&c, "#endpoints")
                .await
                .contains("https://10.0.0.5:5000/v3")
        );
        assert!(
            text(&c, "#download-openrc")
                .await
                .contains("admin-openrc.sh")
        );
        let page = c.source().await.unwrap();
        let secrets = std::fs::read_to_string(dir.join("plan/secrets.toml")).unwrap();
        let admin = secrets
            .lines()
            .find_map(|l| l.strip_prefix("admin = \""))
            .unwrap()
            .trim_end_matches('"');
        assert!(
            !page.contains(admin),
            "the admin password is on the done page"
        );
        shot(&c, "done.png").await;
    };
    // Close the browser whatever happened, then report.
    let outcome = tokio::spawn(result).await;
    c.close().await.unwrap();
    drop(running);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// At phone size (390 by 844), the first node's Cluster page lists the joined nodes with their hardware
/// without scrolling sideways, a joined node's roles are assigned on its own page, the cluster grows with
/// its progress per node, and the node is removed again (plan mode: the plan is walked on every node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_size_the_first_node_assigns_a_joined_nodes_roles() {
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let hardware = stackbox_cluster::hardware::Source::Given(
        [("node2".to_owned(), hardware("intel-server-4nic"))].into(),
    );
    // This node's answers first, through the application in process; then the server on the same state.
    {
        let mut opts = options(dir.path());
        opts.joined_hardware = hardware.clone();
        let app = actix_web::test::init_service(stackbox_web::app::app(state(opts))).await;
        let (s, csrf) = admin(&app, &token(dir.path())).await;
        network_and_cluster(&app, &s, &csrf).await;
        roles_and_settings(&app, &s, &csrf).await;
        // Installed (plan mode), so that the cluster may grow.
        let r = call(
            &app,
            with_session(req("POST", "/api/v1/install"), &s)
                .insert_header(("x-csrf-token", csrf.as_str())),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = call(&app, with_session(req("GET", "/api/v1/install"), &s)).await;
            if r.body.contains(r#""phase":"complete""#) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{}", r.body);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    record_joins(dir.path());
    let mut opts = options(dir.path());
    opts.joined_hardware = hardware;
    let running = Running::start(opts);
    let (_driver, port) = start_driver();
    let c = browser(port, profile.path()).await;
    let base = running.url();
    let walker = c.clone();
    let result = async move {
        let c = walker;
        c.set_window_size(390, 844).await.unwrap();
        c.goto(&format!("{base}/login")).await.unwrap();
        fill(&c, "#secret", PASSWORD).await;
        click(&c, "#sign-in").await;
        // The admin resumes where the wizard stands: its installation is complete.
        assert_eq!(at(&c, "/done").await, "/done");
        c.goto(&format!("{base}/cluster")).await.unwrap();
        assert!(text(&c, "#member-node2").await.contains("48 online CPUs"));
        assert!(
            text(&c, "#member-node4")
                .await
                .contains("its agent did not answer")
        );
        let (fits, why) = fits_width(&c).await;
        shot(&c, "cluster-phone.png").await;
        assert!(fits, "the cluster page at 390 px: {why}");
        click(&c, "#assign-node2").await;
        assert_eq!(at(&c, "/cluster/nodes/node2").await, "/cluster/nodes/node2");
        let (fits, why) = fits_width(&c).await;
        assert!(fits, "node2's roles page at 390 px: {why}");
        for role in ["management", "message-bus", "storage-metadata"] {
            click(&c, &format!("#role-{role}")).await;
        }
        click(&c, "#save-roles").await;
        assert!(text(&c, "#roles-saved").await.contains("Saved"));
        assert!(text(&c, "#roles-verdict").await.starts_with("PASS"));
        shot(&c, "node-roles-phone.png").await;
        click(&c, "#next").await;
        assert_eq!(at(&c, "/cluster").await, "/cluster");
        assert!(
            text(&c, "#member-node2")
                .await
                .contains("compute, management, message-bus, storage-metadata")
        );
        // Grow: the operation's page, per node, fits the width and ends complete.
        click(&c, "#grow").await;
        assert_eq!(at(&c, "/cluster/operation").await, "/cluster/operation");
        visible(
            &c,
            r#"#progress[data-phase="complete"]"#,
            Duration::from_secs(30),
        )
        .await;
        assert!(text(&c, "#node-node2").await.contains("done"));
        let (fits, why) = fits_width(&c).await;
        shot(&c, "cluster-grown-phone.png").await;
        assert!(fits, "the operation page at 390 px: {why}");
        // Remove node2 again: its page first, then the same progress.
        click(&c, "#back").await;
        assert_eq!(at(&c, "/cluster").await, "/cluster");
        click(&c, "#remove-node2").await;
        assert_eq!(
            at(&c, "/cluster/nodes/node2/remove").await,
            "/cluster/nodes/node2/remove"
        );
        let (fits, why) = fits_width(&c).await;
        assert!(fits, "the removal page at 390 px: {why}");
        click(&c, "#remove").await;
        assert_eq!(at(&c, "/cluster/operation").await, "/cluster/operation");
        visible(
            &c,
            r#"#progress[data-phase="complete"]"#,
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(text(&c, "#operation").await, "Removing node2");
        assert!(text(&c, "#nodes").await.contains("node1"));
        assert!(!text(&c, "#nodes").await.contains("node2"));
    };
    let outcome = tokio::spawn(result).await;
    c.close().await.unwrap();
    drop(running);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// At phone size, a live system's wizard goes from the hardware report to the Disk step: the boot medium is
/// shown but not offered, a wrong confirmation is refused beside its field, and the typed name starts the
/// install (plan mode walks its phases and writes nothing) to its done message, all without scrolling
/// sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_size_a_live_system_installs_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.root = machine("one-nic-live-usb");
    let running = Running::start(opts);
    let (_driver, port) = start_driver();
    let c = browser(port, profile.path()).await;
    let base = running.url();
    let state_dir = dir.path().to_owned();
    let walker = c.clone();
    let result = async move {
        let (c, dir) = (walker, state_dir.as_path());
        c.set_window_size(390, 844).await.unwrap();
        c.goto(&format!("{base}/login")).await.unwrap();
        fill(&c, "#secret", &token(dir)).await;
        click(&c, "#sign-in").await;
        assert_eq!(at(&c, "/set-password").await, "/set-password");
        fill(&c, "#password", PASSWORD).await;
        fill(&c, "#confirm", PASSWORD).await;
        click(&c, "#set-password").await;
        assert_eq!(at(&c, "/hardware").await, "/hardware");
        assert_eq!(text(&c, "#next").await, "Next: install to disk");
        click(&c, "#next").await;
        assert_eq!(at(&c, "/disk").await, "/disk");
        assert!(text(&c, "#why-sdb").await.contains("booted from"));
        assert!(text(&c, "#disk-nvme0n1").await.contains("old-root"));
        let (fits, why) = fits_width(&c).await;
        shot(&c, "disk-phone.png").await;
        assert!(fits, "the Disk page at 390 px: {why}");
        click(&c, "#target-nvme0n1").await;
        fill(&c, "#confirm", "sdb").await;
        click(&c, "#install-disk").await;
        assert!(text(&c, "#confirm-error").await.contains("nvme0n1"));
        click(&c, "#target-nvme0n1").await;
        fill(&c, "#confirm", "nvme0n1").await;
        click(&c, "#install-disk").await;
        visible(&c, "#disk-done", Duration::from_secs(30)).await;
        assert!(text(&c, "#plan-mode").await.contains("nothing is written"));
        let (fits, why) = fits_width(&c).await;
        shot(&c, "disk-done-phone.png").await;
        assert!(fits, "the Disk page's progress at 390 px: {why}");
        click(&c, "#next").await;
        assert_eq!(at(&c, "/network").await, "/network");
    };
    let outcome = tokio::spawn(result).await;
    c.close().await.unwrap();
    drop(running);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// At phone size, the network page shows each NIC's link, speed, MAC and driver and previews the host
/// without scrolling sideways; Apply (plan mode: the apply itself is faked, nothing on this machine
/// changes) gives the confirmation link, whose page fills the one-time code from the URL's fragment and
/// keeps the network. The wizard on loopback stands in for the node at its new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_size_the_network_page_applies_and_confirms_over_the_new_address() {
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    {
        let app =
            actix_web::test::init_service(stackbox_web::app::app(state(options(dir.path())))).await;
        let (s, csrf) = admin(&app, &token(dir.path())).await;
        let r = call(
            &app,
            form(
                with_session(req("POST", "/network"), &s),
                &good_network(&csrf),
            ),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let running = Running::start(options(dir.path()));
    let (_driver, port) = start_driver();
    let c = browser(port, profile.path()).await;
    let base = running.url();
    let walker = c.clone();
    let result = async move {
        let c = walker;
        c.set_window_size(390, 844).await.unwrap();
        c.goto(&format!("{base}/login")).await.unwrap();
        fill(&c, "#secret", PASSWORD).await;
        click(&c, "#sign-in").await;
        // Going on before the sign-in's answer (its session cookie) came would meet the sign-in page.
        assert_ne!(left(&c, "/login").await, "/login", "the sign-in answered");
        c.goto(&format!("{base}/network")).await.unwrap();
        assert!(
            text(&c, "#nics").await.contains("eno4 no link"),
            "{}",
            text(&c, "#nics").await
        );
        assert!(text(&c, "#nics").await.contains("02:00:5e:10:00:01 ixgbe"));
        assert!(
            text(&c, "#preview")
                .await
                .contains("eno1 → vlan100 → br-mgmt")
        );
        assert!(
            text(&c, "#network-status")
                .await
                .contains("Not applied yet")
        );
        let (fits, why) = fits_width(&c).await;
        shot(&c, "network-phone.png").await;
        assert!(fits, "the network page at 390 px: {why}");
        click(&c, "#apply-network").await;
        assert_eq!(at(&c, "/network/apply").await, "/network/apply");
        visible(&c, "#confirm-link", Duration::from_secs(30)).await;
        let link = c
            .find(Locator::Css("#confirm-link"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let (_, code) = link.split_once('#').unwrap();
        assert!(link.starts_with("https://10.0.0.5:"), "{link}");
        let (fits, why) = fits_width(&c).await;
        shot(&c, "network-applied-phone.png").await;
        assert!(fits, "the applied page at 390 px: {why}");
        c.goto(&format!("{base}/network/confirm#{code}"))
            .await
            .unwrap();
        let filled = c
            .find(Locator::Css("#token"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap();
        assert_eq!(
            filled.as_deref(),
            Some(code),
            "the script takes the code from the fragment"
        );
        click(&c, "#keep-network").await;
        visible(&c, "#confirmed", Duration::from_secs(30)).await;
        assert!(text(&c, "#confirmed").await.contains("The network is kept"));
        shot(&c, "network-confirmed-phone.png").await;
        c.goto(&format!("{base}/network")).await.unwrap();
        assert!(
            text(&c, "#network-status")
                .await
                .contains("Applied and confirmed")
        );
    };
    let outcome = tokio::spawn(result).await;
    c.close().await.unwrap();
    drop(running);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// What was typed into a form survives the session's end: the post goes to the sign-in page, which
/// comes back to the form with the values (never a password) put back, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_typed_across_the_sessions_end_comes_back_after_signing_in() {
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.session_idle = Duration::from_secs(4);
    let running = Running::start(opts);
    let (_driver, port) = start_driver();
    let c = browser(port, profile.path()).await;
    let base = running.url();
    let state_dir = dir.path().to_owned();
    let walker = c.clone();
    let result = async move {
        let (c, dir) = (walker, state_dir.as_path());
        c.goto(&format!("{base}/network")).await.unwrap();
        assert_eq!(at(&c, "/login?next=/network").await, "/login?next=/network");
        fill(&c, "#secret", &token(dir)).await;
        click(&c, "#sign-in").await;
        assert_eq!(at(&c, "/set-password").await, "/set-password");
        fill(&c, "#password", PASSWORD).await;
        fill(&c, "#confirm", PASSWORD).await;
        click(&c, "#set-password").await;
        assert_eq!(at(&c, "/hardware").await, "/hardware");
        c.goto(&format!("{base}/network")).await.unwrap();
        assert_eq!(at(&c, "/network").await, "/network");
        let value = |css: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Css(css))
                    .await
                    .unwrap()
                    .prop("value")
                    .await
                    .unwrap()
                    .unwrap_or_default()
            }
        };
        fill(&c, "#hostname", "typed-before").await;
        fill(&c, "#vlan", "321").await;
        // The session ends while the form is open; its post lands on the sign-in page.
        tokio::time::sleep(Duration::from_secs(6)).await;
        click(&c, "#save-network").await;
        assert_eq!(
            at(&c, "/login?expired&next=/network").await,
            "/login?expired&next=/network"
        );
        assert!(!dir.join("network.json").exists(), "nothing was stored");
        fill(&c, "#secret", PASSWORD).await;
        click(&c, "#sign-in").await;
        at(&c, "/network").await;
        assert!(
            text(&c, "#typed-restored")
                .await
                .contains("what you typed is back")
        );
        assert_eq!(value("#hostname").await, "typed-before");
        assert_eq!(value("#vlan").await, "321");
        // Going elsewhere and back: the kept values are gone, the page is the server's again.
        c.goto(&format!("{base}/hardware")).await.unwrap();
        at(&c, "/hardware").await;
        c.goto(&format!("{base}/network")).await.unwrap();
        at(&c, "/network").await;
        assert!(
            c.find(Locator::Css("#typed-restored")).await.is_err(),
            "restored twice"
        );
        assert_ne!(value("#hostname").await, "typed-before");
    };
    let outcome = tokio::spawn(result).await;
    c.close().await.unwrap();
    drop(running);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
