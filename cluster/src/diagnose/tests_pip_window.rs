//! The log window against the fake node (an old line is no finding, a fresh one is, the boundary counts;
//! journals are asked from the cutoff) and the broken Python dependencies (`pip check`'s lines classified,
//! the Debian packages named, a node where pip cannot run said to be unchecked, not healthy).

use super::tests::{Fake, NOW, ago, diagnose, finding, ran, state};
use super::*;

fn outcome(d: &NodeDiagnosis, symptom: &str) -> Outcome {
    d.checked
        .iter()
        .find(|c| c.symptom == symptom)
        .map(|c| c.outcome.clone())
        .unwrap_or_else(|| panic!("{symptom} not checked: {:?}", d.checked))
}

fn with_window(f: &Fake, window: &str) -> NodeDiagnosis {
    run(
        &Catalog::shipped().unwrap(),
        f,
        Window::from_arg(window).unwrap(),
    )
}

fn auth_failures(minutes_ago: i64) -> String {
    let line = format!(
        "{} 812 WARNING keystone.server.flask.application [req-1] Authorization failed. from 203.0.113.9\n",
        ago(minutes_ago)
    );
    line.repeat(6)
}

#[test]
fn last_weeks_auth_failures_are_no_finding_today_and_fresh_ones_are() {
    let mut f = Fake::healthy();
    f.files.insert(
        "/var/log/keystone/keystone.log".into(),
        auth_failures(7 * 24 * 60),
    );
    let d = diagnose(&f);
    assert!(d.findings.is_empty(), "{:#?}", d.findings);
    assert_eq!(outcome(&d, "auth.failures"), Outcome::Healthy);
    // Widened to eight days, last week's count.
    let wide = with_window(&f, "8d");
    let a = finding(&wide, "auth.failures");
    assert!(
        a.evidence[0]
            .text
            .starts_with("6 matching lines since 2026-11-22 19:30:00")
    );
    // Fresh ones are a finding.
    f.files
        .insert("/var/log/keystone/keystone.log".into(), auth_failures(29));
    assert_eq!(finding(&diagnose(&f), "auth.failures").cause, "credentials");
}

#[test]
fn the_windows_boundary_counts_a_second_before_does_not() {
    let stamp = |secs_ago: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(NOW - secs_ago).unwrap();
        format!("{}.000", super::window::log_stamp(t))
    };
    let lines = |secs_ago: i64| {
        format!(
            "{} 1 ERROR nova.api [-] MessagingTimeout: Timed out waiting for a reply\n",
            stamp(secs_ago)
        )
        .repeat(3)
    };
    let mut f = Fake::healthy();
    f.files
        .insert("/var/log/nova/nova-api.log".into(), lines(1800));
    assert_eq!(finding(&diagnose(&f), "api.timeouts").cause, "bus");
    f.files
        .insert("/var/log/nova/nova-api.log".into(), lines(1801));
    assert_eq!(outcome(&diagnose(&f), "api.timeouts"), Outcome::Healthy);
}

#[test]
fn a_traceback_goes_with_its_line_and_old_evidence_does_not_classify_a_new_finding() {
    // nova-compute failed now; last week it lost the bus. The old lines are not its evidence today.
    let mut f = Fake::healthy();
    f.units.insert(
        "nova-compute".into(),
        state("failed", "failed", "exit-code"),
    );
    f.files.insert(
        "/var/log/nova/nova-compute.log".into(),
        format!(
            "{} 7 ERROR oslo.messaging._drivers.impl_rabbit [-] AMQP server on 10.20.0.11:5672 is unreachable\n\
             Traceback (most recent call last): MessagingTimeout\n\
             {} 7 CRITICAL nova [-] Unhandled error: ImportError: cannot import name 'x'\n\
             Traceback (most recent call last):\n\
             ModuleNotFoundError: No module named 'os_vif'\n",
            ago(7 * 24 * 60),
            ago(1)
        ),
    );
    let a = finding(&diagnose(&f), "agent.down").clone();
    assert_eq!(a.cause, "python-dependencies");
    let lines: Vec<Option<usize>> = a
        .evidence
        .iter()
        .filter(|e| e.source.ends_with("nova-compute.log"))
        .map(|e| e.line)
        .collect();
    // The fresh CRITICAL line and its traceback's ModuleNotFoundError; nothing of last week's.
    assert_eq!(lines, [Some(3), Some(5)]);
    // The journal was asked from the cutoff, and says it had nothing.
    assert_eq!(f.journal_since.borrow().as_slice(), [NOW - 1800]);
    assert!(
        a.evidence
            .iter()
            .any(|e| e.text == "nova-compute.service wrote no journal line since 2026-11-30 19:00:00 (a wider --since shows older ones)"),
        "{:?}",
        a.evidence
    );
}

const PIP: &str = "python3 -m pip check";

fn owner(f: &mut Fake, name_glob: &str, version: &str, package: &str) {
    let pattern = format!("/usr/lib/python3*/dist-packages/{name_glob}-{version}.*-info");
    f.commands.insert(
        format!("dpkg -S {pattern}"),
        format!("{package}: /usr/lib/python3/dist-packages/x-{version}.egg-info\n"),
    );
}

#[test]
fn a_missing_python_requirement_names_the_debian_package_to_reinstall() {
    let mut f = Fake::healthy();
    f.statuses.insert(
        PIP.into(),
        ran(
            1,
            "nova 26.2.2 requires oslo-config, which is not installed.\n",
            "",
        ),
    );
    owner(&mut f, "[nN][oO][vV][aA]", "26.2.2", "python3-nova");
    let d = diagnose(&f);
    let p = finding(&d, "python.deps");
    assert_eq!(
        (p.subject.as_str(), p.cause.as_str()),
        ("python package nova 26.2.2", "missing")
    );
    let texts: Vec<(&str, &str)> = p
        .evidence
        .iter()
        .map(|e| (e.source.as_str(), e.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (
                "pip check",
                "nova 26.2.2 requires oslo-config, which is not installed."
            ),
            (
                "dpkg -S",
                "nova 26.2.2 is installed by the Debian package python3-nova"
            ),
        ]
    );
    assert!(p.remedy.contains("apt-get install --reinstall"));
    assert_eq!(p.restart, None);
}

#[test]
fn a_version_conflict_from_debian_or_from_a_pip_install() {
    let conflict = "nova 26.2.2 has requirement sqlalchemy>=1.4.13, but you have sqlalchemy 1.3.24.\n\
                    nova 26.2.2 has requirement webob>=1.8.1, but you have webob 1.2.\n\
                    keystone 22.0.2 has requirement webob>=1.7.1, but you have webob 1.2.\n";
    let mut f = Fake::healthy();
    f.statuses.insert(PIP.into(), ran(1, conflict, ""));
    owner(&mut f, "[nN][oO][vV][aA]", "26.2.2", "python3-nova");
    owner(
        &mut f,
        "[kK][eE][yY][sS][tT][oO][nN][eE]",
        "22.0.2",
        "python3-keystone",
    );
    owner(
        &mut f,
        "[sS][qQ][lL][aA][lL][cC][hH][eE][mM][yY]",
        "1.3.24",
        "python3-sqlalchemy",
    );
    owner(&mut f, "[wW][eE][bB][oO][bB]", "1.2", "python3-webob");
    let d = diagnose(&f);
    let found: Vec<(&str, &str)> = d
        .findings
        .iter()
        .map(|f| (f.subject.as_str(), f.cause.as_str()))
        .collect();
    // One finding per package with a broken requirement, each of its lines in it.
    assert_eq!(
        found,
        [
            ("python package nova 26.2.2", "version-conflict"),
            ("python package keystone 22.0.2", "version-conflict")
        ]
    );
    assert_eq!(outcome(&d, "python.deps"), Outcome::Found(2));
    let nova = &d.findings[0];
    assert!(nova.evidence.iter().any(
        |e| e.text == "sqlalchemy 1.3.24 is installed by the Debian package python3-sqlalchemy"
    ));
    assert_eq!(
        nova.evidence
            .iter()
            .filter(|e| e.text.starts_with("nova 26.2.2 is installed by"))
            .count(),
        1
    );
    // webob 1.2 from a pip install: no Debian package owns its metadata.
    f.commands
        .retain(|k, _| !k.contains("[wW][eE][bB][oO][bB]"));
    let d = diagnose(&f);
    assert!(
        d.findings.iter().all(|f| f.cause == "outside-debian"),
        "{:#?}",
        d.findings
    );
    assert!(d.findings[0].evidence.iter().any(|e| e.text
        == "webob 1.2 is installed by no Debian package (a pip install into /usr/local?)"));
}

#[test]
fn pip_that_cannot_run_is_a_check_not_made_never_a_pass() {
    let mut f = Fake::healthy();
    f.statuses.insert(
        PIP.into(),
        ran(1, "", "/usr/bin/python3: No module named pip\n"),
    );
    let d = diagnose(&f);
    assert!(d.findings.is_empty());
    assert!(
        matches!(outcome(&d, "python.deps"), Outcome::Failed(why) if why.contains("python3-pip")),
        "{:?}",
        d.checked
    );
    let line = across::node_summary(&across::NodeAnswer {
        node: "node2".into(),
        error: None,
        diagnosis: d,
    });
    assert!(
        line.contains("could not check python.deps (pip is not installed"),
        "{line}"
    );
    // The command not answering at all is no pass either.
    let mut f = Fake::healthy();
    f.statuses.clear();
    assert!(matches!(
        outcome(&diagnose(&f), "python.deps"),
        Outcome::Failed(_)
    ));
    // Exit 1 with only stderr (metadata pip cannot read): a finding with pip's words.
    let mut f = Fake::healthy();
    f.statuses.insert(
        PIP.into(),
        ran(1, "", "Error parsing requirements for foo: bad metadata\n"),
    );
    let d = diagnose(&f);
    let p = finding(&d, "python.deps");
    assert_eq!(
        (p.subject.as_str(), p.cause.as_str()),
        ("pip check", "other")
    );
    // A node without OpenStack's Python packages: not for this check.
    let mut f = Fake::healthy();
    f.files.remove("/var/lib/dpkg/info/python3-nova.list");
    assert!(matches!(
        outcome(&diagnose(&f), "python.deps"),
        Outcome::NotHere(_)
    ));
}
