//! A real browser walks the wizard's operations pages, the Diagnose page and the admin desk, at phone size
//! (390 by 844) and at desktop size (1280 by 800): Debian's Chromium, headless, over WebDriver, against a
//! wizard serving HTTPS on 127.0.0.1 whose installed cluster has two nodes: node1, whose agent listens on
//! loopback (mutual TLS with certificates of a cluster CA in a temporary directory) and diagnoses a copy of
//! a fixture machine with a keystone log full of failed sign-ins, and node2 at 127.0.0.2, where no agent
//! listens. With `STACKBOX_SCREENSHOTS=DIR` it saves PNGs of the pages there.
//!
//! On each page, at each size: nothing scrolls sideways (neither the page nor a box in it), every form
//! control has a label, every button, field and disclosure is at least 24 by 24 px (WCAG 2.2's minimum
//! target size, 2.5.8) and every text field and list is written at 16 px or more (a phone zooms into a
//! smaller one when it is tapped).
//!
//! Chromium and chromedriver must be installed (deps/web.txt); when they are missing the tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::agent::RunningAgent;
use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};

/// The window sizes walked: a phone's (an iPhone 12 to 15) and a laptop's.
const SIZES: [(&str, u32, u32); 2] = [("phone", 390, 844), ("desktop", 1280, 800)];

/// The wizard of an installed cluster (node1 with its agent on loopback, node2 without one), and what
/// they keep.
struct Cluster {
    running: Running,
    _agent: RunningAgent,
    _dirs: [tempfile::TempDir; 4],
}

/// node1's keystone log: six failed sign-ins from inside the cluster, written just now (in the node's
/// time zone, as keystone writes them), so that the diagnosis finds `auth.failures` with its cause
/// `service-password`.
fn keystone_log() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d %H:%M:%S")
        .output()
        .expect("running date");
    assert!(out.status.success());
    let now = String::from_utf8(out.stdout).unwrap();
    let now = now.trim();
    (0..6)
        .map(|i| {
            format!(
                "{now}.{i:03} 812 WARNING keystone.server.flask.application [None req-{i} - - - - - -] \
                 Authorization failed. The request you have made requires authentication. from 10.20.0.12\n"
            )
        })
        .collect()
}

impl Cluster {
    /// Starts node1's agent on a copy of the 4-NIC fixture machine with a keystone log, and the wizard
    /// outside plan mode (so that it asks the agents) with the installed cluster's configuration in its
    /// state directory and the test's own CA: nothing of this machine's is installed or read.
    fn start() -> Cluster {
        let dirs = [(); 4].map(|_| tempfile::tempdir().unwrap());
        let [ca, agent_dir, root, state] = &dirs;
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", machine("intel-server-4nic").display()))
            .arg(root.path())
            .status()
            .unwrap();
        assert!(copied.success());
        let logs = root.path().join("var/log/keystone");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("keystone.log"), keystone_log()).unwrap();
        let agent = RunningAgent::start_on(agent_dir.path(), ca.path(), root.path(), "node1");

        let config = state.path().join("installed/cluster.toml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(
            &config,
            r#"name = "lab"
flavor = "openstack"
region = "RegionOne"

[networks]
management_cidr = "127.0.0.0/8"
management_interface = "lo"
data_nic = "lo"
data_cidr = "127.0.0.0/8"
vxlan = { first = 1000, last = 1999 }

[[nodes]]
name = "node1"
address = "127.0.0.1"
data_address = "127.0.0.1"
roles = ["compute", "console-proxy", "management", "message-bus", "storage-metadata"]

[[nodes]]
name = "node2"
address = "127.0.0.2"
data_address = "127.0.0.2"
roles = ["compute"]

[overcommit]
cpu = 4.0
ram = 1.0
disk = 1.0
"#,
        )
        .unwrap();
        let mut opts = options(state.path());
        opts.install = stackbox_installer::runner::InstallMode::Real {
            config,
            secrets: state.path().join("installed/secrets.toml"),
            journal: state.path().join("installed/journal.db"),
        };
        opts.joined_hardware = stackbox_cluster::hardware::Source::Agents {
            port: agent.addr.port(),
        };
        opts.ca_dir = Some(ca.path().to_owned());
        Cluster {
            running: Running::start(opts),
            _agent: agent,
            _dirs: dirs,
        }
    }
}

/// Signs in with the setup token and sets the admin password, in the browser.
async fn sign_in_as_admin(c: &Client, base: &str, state: &Path) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#secret", &token(state)).await;
    click(c, "#sign-in").await;
    assert_eq!(at(c, "/set-password").await, "/set-password");
    fill(c, "#password", PASSWORD).await;
    fill(c, "#confirm", PASSWORD).await;
    click(c, "#set-password").await;
    assert_eq!(at(c, "/hardware").await, "/hardware");
}

/// What is wrong with the page for a phone or a mouse: a box that scrolls sideways, a form control
/// without a label, a target smaller than 24 by 24 px, a field written smaller than 16 px. Empty when
/// nothing is.
async fn layout_defects(c: &Client) -> Vec<String> {
    let found = c
        .execute(
            r#"
const out = [];
const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.name ? '[name=' + e.name + ']' : '');
const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
for (const e of document.querySelectorAll('main *')) {
  const x = getComputedStyle(e).overflowX;
  if ((x === 'auto' || x === 'scroll') && e.scrollWidth > e.clientWidth + 1) {
    out.push(name(e) + ' scrolls sideways: ' + e.scrollWidth + ' > ' + e.clientWidth);
  }
}
for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = [...e.labels].some((l) => l.textContent.trim() !== '')
    || (e.getAttribute('aria-label') || '').trim() !== '' || e.hasAttribute('aria-labelledby');
  if (!labelled) { out.push(name(e) + ' has no label'); }
  const size = parseFloat(getComputedStyle(e).fontSize);
  if (shown(e) && e.type !== 'radio' && e.type !== 'checkbox' && size < 16) {
    out.push(name(e) + ' is written at ' + size + ' px');
  }
}
for (const e of document.querySelectorAll('button, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, textarea')) {
  if (!shown(e)) { continue; }
  const r = e.getBoundingClientRect(), box = e.parentElement.getBoundingClientRect(), p = getComputedStyle(e.parentElement);
  const left = box.left + parseFloat(p.paddingLeft) + parseFloat(p.borderLeftWidth);
  const right = box.right - parseFloat(p.paddingRight) - parseFloat(p.borderRightWidth);
  if (r.left < left - 1 || r.right > right + 1) {
    out.push(name(e) + ' sticks out of its ' + e.parentElement.tagName.toLowerCase() + ': ' + Math.round(r.left) + '..' + Math.round(r.right) + ' in ' + Math.round(left) + '..' + Math.round(right));
  }
}
for (const e of document.querySelectorAll('button, input:not([type=hidden]), select, textarea, summary')) {
  if (!shown(e)) { continue; }
  const r = e.getBoundingClientRect();
  if (r.width < 24 || r.height < 24) {
    out.push(name(e) + ' "' + e.textContent.trim().slice(0, 40) + '" is ' + Math.round(r.width) + ' by ' + Math.round(r.height) + ' px');
  }
}
return out;
"#,
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// Asserts that the page fits the window's width and has no layout defect, saving it as `shot_name`.
async fn judge_layout(c: &Client, what: &str, shot_name: &str) {
    let (fits, why) = fits_width(c).await;
    shot(c, shot_name).await;
    assert!(fits, "{what}: {why}");
    let defects = layout_defects(c).await;
    assert!(defects.is_empty(), "{what}: {defects:#?}");
}

/// Asserts that the element `css` (an answer, a few lines) is wholly within the window: a tap that
/// answers below the fold looks, on a phone, as if nothing happened.
async fn on_screen(c: &Client, css: &str) {
    let seen = c
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();
             return [r.top, r.bottom, window.innerHeight];",
            vec![serde_json::json!(css)],
        )
        .await
        .unwrap();
    let [top, bottom, height] = [0, 1, 2].map(|i| seen[i].as_f64().unwrap());
    assert!(
        top >= 0.0 && bottom <= height,
        "{css} is at {top}..{bottom} px, not wholly within the window (0..{height} px)"
    );
}

/// A property of the element `css` (its `value`, `selected`...), as the page has it now.
async fn prop(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .prop(name)
        .await
        .unwrap()
}

/// Runs `walk` in a browser against the cluster's wizard, then closes the browser whatever happened.
async fn in_browser<F, Fut>(walk: F)
where
    F: FnOnce(Client, String, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let cluster = Cluster::start();
    let profile = tempfile::tempdir().unwrap();
    let (_driver, port) = start_driver();
    let c = browser(port, profile.path()).await;
    let walking = walk(
        c.clone(),
        cluster.running.url(),
        cluster.running.state_dir.clone(),
    );
    let outcome = tokio::spawn(walking).await;
    c.close().await.unwrap();
    drop(cluster);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The admin desk at both sizes: which process holds a port this test listens on (node1's agent names
/// this process; node2 is named as not asked), a port out of range and letters refused beside the field
/// with what was typed kept, a crafted restart of a service that is not the cloud's refused beside its
/// form with the node still chosen, and a restart of nova-compute on node1 (not installed on this
/// machine, so the agent skips it and says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_and_desktop_size_the_desk_names_a_ports_holder_and_refuses_a_bad_port_beside_it()
{
    // This test holds a port on 127.0.0.1: node1's agent, on the same machine, names this process.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    // The restart below must not restart anything on this machine: the agent runs systemctl here.
    let nova_compute = std::process::Command::new("systemctl")
        .args(["cat", "nova-compute.service"])
        .output();
    assert!(
        !nova_compute.is_ok_and(|o| o.status.success()),
        "nova-compute is installed on this machine: this test would restart it"
    );
    in_browser(move |c, base, state| async move {
        sign_in_as_admin(&c, &base, &state).await;
        for (size, width, height) in SIZES {
            c.set_window_size(width, height).await.unwrap();
            c.goto(&format!("{base}/desk")).await.unwrap();
            for css in [
                "#port-field",
                "#ask-port",
                "#service-field",
                "#node-field",
                "#restart-service",
            ] {
                visible(&c, css, Duration::from_secs(5)).await;
            }
            judge_layout(
                &c,
                &format!("the desk at {size} size"),
                &format!("desk-{size}.png"),
            )
            .await;

            // Who holds the port: this process on node1; node2 could not be asked.
            fill(&c, "#port-field", &port.to_string()).await;
            click(&c, "#ask-port").await;
            let asked = format!("/desk?port={port}");
            assert_eq!(at(&c, &asked).await, asked);
            let holders = text(&c, "#holders").await;
            assert!(
                holders.contains(&format!("node1: tcp 127.0.0.1:{port} held by "))
                    && holders.contains(&format!("(pid {})", std::process::id())),
                "{holders}"
            );
            assert!(holders.contains("node2: not asked: "), "{holders}");
            on_screen(&c, "#holders").await;
            assert_eq!(
                prop(&c, "#port-field", "value").await.as_deref(),
                Some(&*port.to_string())
            );
            judge_layout(
                &c,
                &format!("the desk's answer at {size} size"),
                &format!("desk-port-{size}.png"),
            )
            .await;

            // Out of range: refused beside the field, which keeps what was typed and is marked invalid.
            for bad in ["70000", "0"] {
                fill(&c, "#port-field", bad).await;
                click(&c, "#ask-port").await;
                let refused = format!("/desk?port={bad}");
                assert_eq!(at(&c, &refused).await, refused);
                let why = text(&c, "#port-error").await;
                assert_eq!(why, format!("`{bad}` is not a port (1 to 65535)"));
                on_screen(&c, "#port-error").await;
                assert_eq!(prop(&c, "#port-field", "value").await.as_deref(), Some(bad));
                let field = c.find(Locator::Css("#port-field")).await.unwrap();
                assert_eq!(
                    field.attr("aria-invalid").await.unwrap().as_deref(),
                    Some("true")
                );
                assert_eq!(
                    field.attr("aria-describedby").await.unwrap().as_deref(),
                    Some("port-error")
                );
                let beside = c
                    .execute(
                        "return document.getElementById('port-field').nextElementSibling.id;",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert_eq!(beside, "port-error", "the message follows the field");
                assert!(
                    c.find(Locator::Css("#holders")).await.is_err(),
                    "no answer for {bad}"
                );
                // The restart form is all there.
                visible(&c, "#restart-service", Duration::from_secs(5)).await;
            }
            judge_layout(
                &c,
                &format!("the desk's refusal at {size} size"),
                &format!("desk-port-refused-{size}.png"),
            )
            .await;
            // Letters: the browser keeps them from being sent (the field's pattern); the server refuses
            // them too when they are.
            fill(&c, "#port-field", "http").await;
            let valid = c
                .execute(
                    "const f = document.getElementById('port-field');
                     return [f.validity.patternMismatch, f.form.checkValidity()];",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(valid, serde_json::json!([true, false]));
            c.goto(&format!("{base}/desk?port=http")).await.unwrap();
            assert_eq!(
                text(&c, "#port-error").await,
                "`http` is not a port (1 to 65535)"
            );
            assert_eq!(
                prop(&c, "#port-field", "value").await.as_deref(),
                Some("http")
            );

            // A crafted restart of a service that is not the cloud's: refused beside the form before any
            // agent is asked; the chosen node stays chosen.
            c.find(Locator::Css("#node-field"))
                .await
                .unwrap()
                .select_by_label("node1")
                .await
                .unwrap();
            c.execute(
                "const s = document.getElementById('service-field');
                 s.add(new Option('sshd', 'sshd', true, true));",
                vec![],
            )
            .await
            .unwrap();
            click(&c, "#restart-service").await;
            assert_eq!(at(&c, "/desk/restart").await, "/desk/restart");
            assert!(
                text(&c, "#restart-error")
                    .await
                    .starts_with("`sshd` is not one of the cloud's services the desk restarts"),
                "{}",
                text(&c, "#restart-error").await
            );
            on_screen(&c, "#restart-error").await;
            assert_eq!(
                prop(&c, "#node-field", "value").await.as_deref(),
                Some("node1")
            );
            assert!(c.find(Locator::Css("#restarted")).await.is_err());
            judge_layout(
                &c,
                &format!("the desk's refused restart at {size} size"),
                &format!("desk-restart-refused-{size}.png"),
            )
            .await;

            // nova-compute on node1: its agent finds it not installed and skips it; the page says so and
            // keeps the choice.
            c.find(Locator::Css("#service-field"))
                .await
                .unwrap()
                .select_by_label("nova-compute")
                .await
                .unwrap();
            click(&c, "#restart-service").await;
            let restarted = text(&c, "#restarted").await;
            assert_eq!(
                restarted,
                "node1: nova-compute is not installed there: skipped"
            );
            assert_eq!(
                text(&c, "#restart-verdict").await,
                "No restart failed: each node's line says what was done."
            );
            on_screen(&c, "#restart-verdict").await;
            assert_eq!(
                prop(&c, "#service-field", "value").await.as_deref(),
                Some("nova-compute")
            );
            assert_eq!(
                prop(&c, "#node-field", "value").await.as_deref(),
                Some("node1")
            );
            judge_layout(
                &c,
                &format!("the desk's restart at {size} size"),
                &format!("desk-restarted-{size}.png"),
            )
            .await;
        }
    })
    .await;
    drop(held);
}

/// The Diagnose page at both sizes: node1's agent ran the troubleshooting matrix on its machine and found
/// the failed sign-ins in its keystone log, shown with their cause, remedy and evidence (file and line);
/// node2, where no agent listens, is named as not asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_phone_and_desktop_size_the_diagnose_page_shows_a_findings_evidence_cause_and_remedy() {
    in_browser(move |c, base, state| async move {
        sign_in_as_admin(&c, &base, &state).await;
        for (size, width, height) in SIZES {
            c.set_window_size(width, height).await.unwrap();
            c.goto(&format!("{base}/diagnose")).await.unwrap();
            visible(&c, "#verdict", Duration::from_secs(5)).await;
            assert!(text(&c, "#verdict").await.contains("finding(s)"));
            assert!(
                text(&c, "#node-node2").await.starts_with("node2: NOT ASKED: "),
                "{}",
                text(&c, "#node-node2").await
            );
            let finding = r#"section.finding[id^="finding-node1-auth.failures-"]"#;
            visible(&c, finding, Duration::from_secs(5)).await;
            let shown = text(&c, finding).await;
            for says in [
                "node1: Authentication failures (auth.failures, 6 log lines)",
                "Cause (service-password): Repeated authentication failures from inside the cluster",
                "Remedy: The address in the evidence names the node",
            ] {
                assert!(shown.contains(says), "{says}: {shown}");
            }
            // The evidence, folded at first, opens with a tap.
            let evidence = format!("{finding} pre.evidence");
            let folded = c.find(Locator::Css(&evidence)).await.unwrap();
            assert!(!folded.is_displayed().await.unwrap());
            click(&c, &format!("{finding} summary")).await;
            visible(&c, &evidence, Duration::from_secs(5)).await;
            let lines = text(&c, &evidence).await;
            assert!(lines.starts_with("probe: 6 matching lines since "), "{lines}");
            assert!(
                lines.contains("/var/log/keystone/keystone.log:6: ")
                    && lines.contains("Authorization failed.")
                    && lines.contains("from 10.20.0.12"),
                "{lines}"
            );
            c.execute(
                "document.querySelector(arguments[0]).scrollIntoView();",
                vec![serde_json::json!(finding)],
            )
            .await
            .unwrap();
            let what = format!("the Diagnose page at {size} size");
            judge_layout(&c, &what, &format!("diagnose-{size}.png")).await;
        }
    })
    .await;
}
