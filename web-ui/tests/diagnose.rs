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
        "<strong>stackbox</strong>: 1 symptoms checked, 0 finding(s); could not check bus.unhealthy (rabbitmqctl: timed out)",
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
