#![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

use std::sync::Mutex;

use stackbox_installer::executor::Summary;

use super::*;

/// A node's agent with a journal of its own: a step it finished is skipped when asked again.
struct FakeAgent {
    journal: Mutex<BTreeSet<String>>,
    /// Every step that acted, in order, across all fake agents (shared log).
    log: &'static Mutex<Vec<String>>,
    fail: Option<&'static str>,
}

impl Link for FakeAgent {
    fn run_step(&self, request: &StepRequest) -> Result<StepOutcome, String> {
        let mut summary = Summary::default();
        let mut events = Vec::new();
        if self.fail == Some(request.id.as_str()) {
            summary.failed = Some(request.id.clone());
            events.push(Event::Failed {
                id: request.id.clone(),
                error: "boom".into(),
                log: None,
                remedy: None,
            });
        } else if self.journal.lock().unwrap().insert(request.id.clone()) {
            std::thread::sleep(std::time::Duration::from_millis(2));
            self.log.lock().unwrap().push(request.id.clone());
            summary.acted.push(request.id.clone());
            events.push(Event::Finished {
                id: request.id.clone(),
                seconds: 0.002,
            });
        } else {
            summary.unchanged.push(request.id.clone());
        }
        Ok(StepOutcome {
            id: request.id.clone(),
            events,
            summary,
        })
    }
}

fn plan() -> Plan {
    let config = stackbox_installer::load_config(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/three-node.toml"
    )))
    .unwrap();
    stackbox_installer::build_plan(&config, &Catalog::embedded().unwrap(), &BTreeMap::new())
        .unwrap()
}

fn agents(log: &'static Mutex<Vec<String>>, fail: Option<&'static str>) -> Vec<FakeAgent> {
    (0..3)
        .map(|_| FakeAgent {
            journal: Mutex::default(),
            log,
            fail,
        })
        .collect()
}

fn links(agents: &[FakeAgent]) -> BTreeMap<String, &dyn Link> {
    ["node1", "node2", "node3"]
        .iter()
        .zip(agents)
        .map(|(n, a)| ((*n).to_owned(), a as &dyn Link))
        .collect()
}

#[test]
fn every_step_runs_once_after_its_dependencies_anywhere_in_the_cluster() {
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let plan = plan();
    let agents = agents(&LOG, None);
    let report = run_plan(&plan, &links(&agents), &|_: &str, _: &Event| {});
    assert_eq!(report.failed, None);
    let log = LOG.lock().unwrap().clone();
    assert_eq!(log.len(), plan.steps.len(), "every step acted once");
    let position: BTreeMap<&str, usize> = log
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    for step in &plan.steps {
        for dep in &step.after {
            assert!(
                position[dep.as_str()] < position[step.id.as_str()],
                "{} ran before its dependency {dep}",
                step.id
            );
        }
    }
    // node2's MariaDB joins after node1 bootstrapped Galera: a cross-node wait.
    assert!(position["node1/mariadb.start"] < position["node2/mariadb.start"]);
    // The nodes ran side by side: node2 and node3 both started before node1 finished.
    let last_of_node1 = log.iter().rposition(|s| s.starts_with("node1/")).unwrap();
    assert!(position["node2/hosts"] < last_of_node1);
    assert!(position["node3/hosts"] < last_of_node1);
}

#[test]
fn a_failure_stops_the_cluster_and_a_rerun_does_nothing_twice() {
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let plan = plan();
    let mut agents = agents(&LOG, None);
    agents[1].fail = Some("node2/rabbitmq.join");
    let seen = Mutex::new(Vec::new());
    let report = run_plan(&plan, &links(&agents), &|node: &str, e: &Event| {
        seen.lock().unwrap().push((node.to_owned(), e.clone()));
    });
    let failure = report.failed.clone().unwrap();
    assert_eq!(failure.id, "node2/rabbitmq.join");
    assert_eq!(failure.error, "boom");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|(n, e)| n == "node2" && matches!(e, Event::Failed { .. }))
    );
    let first = LOG.lock().unwrap().len();
    assert!(first < plan.steps.len());
    assert!(!LOG.lock().unwrap().iter().any(|s| s == "node1/smoke.test"));
    // The rerun (the failure mended) acts only on what was not done: nothing twice.
    agents[1].fail = None;
    let report = run_plan(&plan, &links(&agents), &|_: &str, _: &Event| {});
    assert_eq!(report.failed, None);
    let log = LOG.lock().unwrap().clone();
    assert_eq!(log.len(), plan.steps.len());
    let unique: BTreeSet<&String> = log.iter().collect();
    assert_eq!(unique.len(), log.len(), "a step acted twice");
    assert_eq!(report.skipped, first);
}

#[test]
fn an_unreachable_agent_fails_its_node_with_a_way_forward() {
    struct Down;
    impl Link for Down {
        fn run_step(&self, _: &StepRequest) -> Result<StepOutcome, String> {
            Err("connecting: refused".into())
        }
    }
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let plan = plan();
    let agents = agents(&LOG, None);
    let mut links = links(&agents);
    links.insert("node3".into(), &Down);
    let remedies = Mutex::new(Vec::new());
    let report = run_plan(&plan, &links, &|_: &str, e: &Event| {
        if let Event::Failed { remedy, .. } = e {
            remedies
                .lock()
                .unwrap()
                .push(remedy.clone().unwrap_or_default());
        }
    });
    assert!(report.failed.unwrap().id.starts_with("node3/"));
    assert!(remedies.lock().unwrap()[0].contains("cluster install"));
    // A node without an agent is refused before anything runs.
    let mut missing = self::links(&agents);
    missing.remove("node2");
    let before = LOG.lock().unwrap().len();
    let report = run_plan(&plan, &missing, &|_: &str, _: &Event| {});
    assert!(
        report
            .failed
            .unwrap()
            .error
            .contains("no agent for node node2")
    );
    assert_eq!(LOG.lock().unwrap().len(), before);
}

/// Records what a watcher is told, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Watch for Recorder {
    fn starting(&self, node: &str, id: &str) {
        self.0.lock().unwrap().push(format!("{node} starting {id}"));
    }
    fn event(&self, node: &str, event: &Event) {
        if let Event::Finished { id, .. } = event {
            self.0.lock().unwrap().push(format!("{node} finished {id}"));
        }
    }
}

#[test]
fn a_watcher_hears_each_step_handed_to_its_agent_before_its_events() {
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let plan = plan();
    let agents = agents(&LOG, None);
    let recorder = Recorder::default();
    let report = run_plan(&plan, &links(&agents), &recorder);
    assert_eq!(report.failed, None);
    let heard = recorder.0.into_inner().unwrap();
    for step in &plan.steps {
        let starting = heard
            .iter()
            .position(|l| *l == format!("{} starting {}", step.node, step.id));
        let finished = heard
            .iter()
            .position(|l| *l == format!("{} finished {}", step.node, step.id));
        assert!(
            matches!((starting, finished), (Some(s), Some(f)) if s < f),
            "{}: {starting:?} {finished:?}",
            step.id
        );
    }
}

#[test]
fn each_node_is_assigned_its_own_daemons_certificates() {
    use stackbox_installer::service_tls::{Service, judge};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/three-node.toml"
    ))
    .unwrap();
    let mut config = ClusterConfig::from_toml("three-node", &text).unwrap();
    // A compute-only node has no daemon of its own.
    config.nodes[2].roles = vec!["compute".into()];
    let (ca, issuer) = pki::new_ca("test CA").unwrap();
    let node2 = &config.nodes[1];
    let names = [node2.name.clone(), node2.address.to_string()];
    let services = service_certificates(&config, &node2.name, &issuer).unwrap();
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        [Service::Mariadb.name(), Service::Rabbitmq.name()]
    );
    let pems: Vec<&str> = services.values().map(|p| p.expose()).collect();
    assert_ne!(pems[0], pems[1], "every daemon has a key of its own");
    for pem in pems {
        let at = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
        judge("assigned", &ca.pem(), &pem[..at], &pem[at..], &names).unwrap();
    }
    let third = &config.nodes[2].name;
    assert!(
        service_certificates(&config, third, &issuer)
            .unwrap()
            .is_empty()
    );
    assert!(
        service_certificates(&config, "nobody", &issuer)
            .unwrap()
            .is_empty()
    );
}
