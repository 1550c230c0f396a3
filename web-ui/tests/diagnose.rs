//! The Diagnose page: findings across the nodes with their evidence, cause, remedy and action, a node
//! that did not answer, and what a log line may hold (markup) shown as text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use stackbox_cluster::diagnose::across::{Diagnosis, NodeAnswer};
use stackbox_cluster::diagnose::{Checked, Evidence, Finding, NodeDiagnosis, Outcome};

fn checked(symptom: &str, outcome: Outcome) -> Checked {
    Checked {
        symptom: symptom.into(),
        outcome,
    }
}

#[test]
fn the_diagnose_page_shows_each_finding_with_its_evidence_cause_remedy_and_action() {
    let stopped = Finding {
        symptom: "agent.down".into(),
        title: "A nova or neutron agent is down".into(),
        subject: "neutron-linuxbridge-agent".into(),
        cause: "stopped".into(),
        explanation: "The agent was stopped.".into(),
        remedy: "Start it again.".into(),
        restart: Some("neutron-linuxbridge-agent".into()),
        evidence: vec![
            Evidence {
                source: "probe".into(),
                line: None,
                text: "state: inactive (dead), result success".into(),
            },
            Evidence {
                source: "/var/log/neutron/neutron-linuxbridge-agent.log".into(),
                line: Some(1234),
                text: "ERROR neutron <script>alert(1)</script>".into(),
            },
        ],
    };
    let full = Finding {
        symptom: "disk.full".into(),
        title: "A disk is filling".into(),
        subject: "/srv/fill".into(),
        cause: "filling".into(),
        explanation: "A file system is nearly full.".into(),
        remedy: "Find what grows.".into(),
        restart: None,
        evidence: vec![Evidence {
            source: "probe".into(),
            line: None,
            text: "/srv/fill (ext4 on /dev/loop0): 100% used, 0 MiB free of 15 MiB".into(),
        }],
    };
    let d = Diagnosis {
        nodes: vec![
            NodeAnswer {
                node: "stackbox".into(),
                error: None,
                diagnosis: NodeDiagnosis {
                    checked: vec![
                        checked("agent.down", Outcome::Healthy),
                        checked(
                            "bus.unhealthy",
                            Outcome::Failed("rabbitmqctl: timed out".into()),
                        ),
                        checked("clock.skew", Outcome::NotHere("a container".into())),
                    ],
                    findings: vec![],
                },
            },
            NodeAnswer {
                node: "node2".into(),
                error: None,
                diagnosis: NodeDiagnosis {
                    checked: vec![
                        checked("agent.down", Outcome::Found(1)),
                        checked("disk.full", Outcome::Found(1)),
                    ],
                    findings: vec![stopped, full],
                },
            },
            NodeAnswer {
                node: "node3".into(),
                error: Some("connecting to 10.20.0.13:8444: no route to host".into()),
                diagnosis: NodeDiagnosis::default(),
            },
        ],
    };
    assert!(!d.clean());
    let page = stackbox_web::pages::diagnose::diagnose_page(Ok(d), "CSRF");
    let body = askama::Template::render(&page).unwrap();
    golden("diagnose.html", &body);
    for says in [
        "2 finding(s)",
        "<strong>stackbox</strong>: 1 symptoms checked, nothing found; could not check bus.unhealthy (rabbitmqctl: timed out)",
        "<strong>node2</strong>: 2 symptoms checked, 2 findings",
        "<strong>node3</strong>: NOT ASKED: connecting to 10.20.0.13:8444",
        r#"<code class="action">stackboxd cluster restart neutron-linuxbridge-agent --node node2</code>"#,
        "/var/log/neutron/neutron-linuxbridge-agent.log:1234: ERROR neutron &#60;script&#62;",
        "probe: /srv/fill (ext4 on /dev/loop0): 100% used",
    ] {
        assert!(body.contains(says), "{says}: {body}");
    }
    assert!(!body.contains("<script>"), "{body}");
    // No action for a full disk: only the restart's.
    assert_eq!(body.matches(r#"class="action""#).count(), 1, "{body}");
}

#[test]
fn the_desk_page_shows_who_holds_a_port_and_what_each_restart_did() {
    let mut page =
        stackbox_web::pages::desk::desk_page(Ok(vec!["stackbox".into(), "node2".into()]), "CSRF");
    page.port = "5000".into();
    page.holders = vec![
        "stackbox: tcp 0.0.0.0:5000 held by haproxy (pid 812)".into(),
        "node2: not asked: connecting to 10.20.0.12:8444: no route to host".into(),
    ];
    page.restarted = vec![
        "stackbox: memcached restarted, active again after 0.6 s".into(),
        "node2: memcached is NOT active 90 s after its restart; the other nodes were left alone. Its journal:\n<oops>".into(),
    ];
    page.restart_ok = Some(false);
    page.service = "memcached".into();
    page.node = "node2".into();
    let body = askama::Template::render(&page).unwrap();
    golden("desk.html", &body);
    for says in [
        "<option>nova-compute</option>",
        "A restart did NOT come back",
        "&#60;oops&#62;",
        r#"value="5000""#,
        // The restart's choice stays chosen.
        "<option selected>memcached</option>",
        r#"<option value="">every node, in turn</option><option>stackbox</option><option selected>node2</option>"#,
    ] {
        assert!(body.contains(says), "{says}: {body}");
    }
    // A refused port: its message right after the field, which is marked invalid and keeps the text;
    // a refused restart: its message in its form.
    page.port = "70000".into();
    page.port_error = Some("`70000` is not a port (1 to 65535)".into());
    page.restart_error = Some("`sshd` is not one of the cloud's services".into());
    let body = askama::Template::render(&page).unwrap();
    for says in [
        r#"value="70000" required aria-invalid="true" aria-describedby="port-error">
<p class="field-error" role="alert" id="port-error">`70000` is not a port (1 to 65535)</p>"#,
        r#"<select id="service-field" name="service" aria-invalid="true" aria-describedby="restart-error">"#,
        r#"<p class="field-error" role="alert" id="restart-error">`sshd` is not one of the cloud&#39;s services</p>
<button type="submit" id="restart-service">"#,
    ] {
        assert!(body.contains(says), "{says}: {body}");
    }
    // Ports as typed: only 1 to 65535.
    use stackbox_web::pages::desk::parse_port;
    assert_eq!(parse_port(" 5000 "), Ok(5000));
    for bad in ["0", "65536", "-1", "abc", "", "50 00", "5000/tcp"] {
        assert!(parse_port(bad).is_err(), "{bad}");
    }
}
