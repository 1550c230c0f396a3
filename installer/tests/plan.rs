//! The plans of the shipped examples: golden text and JSON, golden config files per node, and the
//! ordering rules the installation depends on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackbox_common::test_utils::golden;
use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::build_plan;
use stackbox_installer::flavor::openstack::endpoints;
use stackbox_installer::plan::{Action, NodeFacts, Plan};

fn example(name: &str) -> ClusterConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.toml"));
    ClusterConfig::from_toml(name, &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn plan(name: &str, facts: &BTreeMap<String, NodeFacts>) -> Plan {
    build_plan(&example(name), &Catalog::embedded().unwrap(), facts).unwrap()
}

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// The all-in-one node is a container without KVM (as in the cluster tier); the three-node cluster's
/// compute nodes have KVM.
fn facts_for(name: &str) -> BTreeMap<String, NodeFacts> {
    match name {
        "allinone" => [(
            "stackbox".to_owned(),
            NodeFacts {
                kvm: false,
                in_container: true,
                cpus: 2,
            },
        )]
        .into(),
        _ => ["node2", "node3"]
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    NodeFacts {
                        kvm: true,
                        in_container: false,
                        cpus: 8,
                    },
                )
            })
            .collect(),
    }
}

#[test]
fn golden_plans_and_files() {
    for name in ["allinone", "three-node"] {
        let p = plan(name, &facts_for(name));
        let dir = golden_dir(name);
        golden(&dir.join("plan.txt"), &p.render_text());
        golden(
            &dir.join("plan.json"),
            &(serde_json::to_string_pretty(&p).unwrap() + "\n"),
        );
        for step in &p.steps {
            if let Action::Files { files } = &step.action {
                for f in files {
                    let flat = f.path.trim_start_matches('/').replace('/', "__");
                    golden(&dir.join(&step.node).join(flat), &f.content);
                }
            }
        }
    }
}

#[test]
fn order_follows_the_known_good_sequence() {
    let p = plan("allinone", &facts_for("allinone"));
    let pos = |name: &str| {
        p.steps
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name}"))
    };
    let sequence = [
        "mariadb.start",
        "mariadb.admin",
        "rabbitmq.user",
        "databases",
        "keystone.fernet",
        "keystone.db-sync",
        "keystone.bootstrap",
        "keystone.start",
        "keystone.endpoints",
        "glance.start",
        "placement.start",
        "nova.api-db-sync",
        "nova.cell0",
        "nova.cell1",
        "nova.db-sync",
        "nova.start",
        "neutron.db-upgrade",
        "neutron.start",
        "nova.compute-start",
        "nova.discover-hosts",
        "smoke.test",
    ];
    for pair in sequence.windows(2) {
        assert!(
            pos(pair[0]) < pos(pair[1]),
            "{} must come before {}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(p.steps.last().unwrap().name, "smoke.test");
    // Every dependency comes earlier.
    for (i, s) in p.steps.iter().enumerate() {
        for d in &s.after {
            assert!(
                p.steps[..i].iter().any(|e| &e.id == d),
                "{} runs before its dependency {d}",
                s.id
            );
        }
    }
}

#[test]
fn virt_type_follows_the_hardware() {
    let qemu = plan("allinone", &facts_for("allinone"));
    let kvm = plan(
        "allinone",
        &[(
            "stackbox".to_owned(),
            NodeFacts {
                kvm: true,
                in_container: false,
                cpus: 8,
            },
        )]
        .into(),
    );
    let nova_conf = |p: &Plan| match &p.step("stackbox/nova.config").unwrap().action {
        Action::Files { files } => files[0].content.clone(),
        other => panic!("{other:?}"),
    };
    assert!(nova_conf(&qemu).contains("virt_type = qemu"));
    assert!(nova_conf(&kvm).contains("virt_type = kvm"));
    let packages = |p: &Plan| {
        format!(
            "{:?}",
            p.step("stackbox/nova.compute-packages").unwrap().action
        )
    };
    assert!(packages(&qemu).contains("nova-compute-qemu"));
    assert!(packages(&kvm).contains("nova-compute-kvm"));
    let qemu_conf = |p: &Plan| format!("{:?}", p.step("stackbox/libvirt.config").unwrap().action);
    assert!(qemu_conf(&qemu).contains("cgroup_controllers = [ ]"));
    assert!(!qemu_conf(&kvm).contains("cgroup_controllers"));
}

/// The API services' worker processes follow the node's CPUs (at least 2, at most 8); nova's and
/// neutron's APIs (eventlet) run one thread a worker with the RabbitMQ heartbeat in a native thread.
#[test]
fn api_workers_follow_the_cpus() {
    let ini = |cpus: u32, path: &str| {
        let facts = [(
            "stackbox".to_owned(),
            NodeFacts {
                kvm: false,
                in_container: true,
                cpus,
            },
        )]
        .into();
        let p = plan("allinone", &facts);
        p.steps
            .iter()
            .find_map(|s| match &s.action {
                Action::Files { files } => files.iter().find(|f| f.path == path).cloned(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no step writes {path}"))
            .content
    };
    let neutron = "/etc/neutron/neutron-api-uwsgi.ini";
    for (cpus, processes) in [(0, 2), (1, 2), (6, 6), (64, 8)] {
        let text = ini(cpus, neutron);
        assert!(
            text.contains(&format!("\nprocesses = {processes}\n")),
            "{cpus} CPUs:\n{text}"
        );
        assert!(text.contains("\nthreads = 1\n"), "{text}");
        assert!(text.contains("HEARTBEAT_IN_PTHREAD=true"), "{text}");
    }
    let keystone = ini(4, "/etc/keystone/keystone-uwsgi.ini");
    assert!(keystone.contains("\nprocesses = 4\n"), "{keystone}");
    assert!(!keystone.contains("HEARTBEAT_IN_PTHREAD"), "{keystone}");
    assert!(ini(64, "/etc/glance/glance-api.conf").contains("\nworkers = 8\n"));
}

#[test]
fn three_nodes_cluster_galera_and_rabbitmq() {
    let p = plan("three-node", &facts_for("three-node"));
    assert_eq!(
        p.step("node1/mariadb.start").unwrap().title,
        "bootstrap the Galera cluster"
    );
    // Members join one at a time: each after the one before it is synced.
    for (node, before) in [("node2", "node1"), ("node3", "node2")] {
        let after = &p.step(&format!("{node}/mariadb.start")).unwrap().after;
        assert!(
            after.contains(&format!("{before}/mariadb.synced")),
            "{node}: {after:?}"
        );
    }
    assert!(p.step("node1/mariadb.synced").is_some());
    assert!(p.step("node2/rabbitmq.join").is_some());
    assert!(p.step("node1/rabbitmq.join").is_none());
    assert!(
        p.step("node2/databases").is_none(),
        "only the leader creates databases"
    );
    assert!(
        p.step("node1/nova.compute-start").is_none(),
        "node1 runs no VMs"
    );
    let discover = p.step("node1/nova.discover-hosts").unwrap();
    assert!(
        discover
            .after
            .contains(&"node3/nova.compute-start".to_owned())
    );
}

#[test]
fn a_leaving_node_stops_its_units_last_started_first() {
    let p = plan("three-node", &facts_for("three-node"));
    let units = p.units_to_stop("node3");
    let at = |u: &str| {
        units
            .iter()
            .position(|x| x == u)
            .unwrap_or_else(|| panic!("{u}: {units:?}"))
    };
    assert_eq!(
        units.first().map(String::as_str),
        Some("nova-compute.service")
    );
    assert_eq!(units.last().map(String::as_str), Some("chrony.service"));
    assert!(at("keepalived.service") < at("haproxy.service"));
    assert!(at("keystone.service") < at("rabbitmq-server.service"));
    assert!(at("rabbitmq-server.service") < at("mariadb.service"));
    // The Galera leader starts MariaDB by a command (galera_new_cluster): it counts as starting it.
    assert!(
        p.units_to_stop("node1")
            .contains(&"mariadb.service".to_owned())
    );
    let mut sorted = units.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), units.len(), "each unit once: {units:?}");
}

#[test]
fn plans_hold_no_secrets_only_placeholders() {
    let json = serde_json::to_string(&plan("allinone", &facts_for("allinone"))).unwrap();
    assert!(json.contains("@@secret:db-keystone@@"));
    assert!(json.contains("@@secret:admin@@"));
    assert!(
        !json.to_lowercase().contains("password = @@") || json.contains("password = @@secret:")
    );
}

#[test]
fn invalid_config_is_rejected_before_planning() {
    let mut config = example("allinone");
    config.nodes[0].address = "192.0.2.1".parse().unwrap();
    let err = build_plan(&config, &Catalog::embedded().unwrap(), &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nodes[0].address: 192.0.2.1 is outside the management network"),
        "{err}"
    );
}

#[test]
fn the_same_config_gives_the_same_plan() {
    assert_eq!(
        plan("three-node", &facts_for("three-node")),
        plan("three-node", &facts_for("three-node"))
    );
}

#[test]
fn endpoints_and_openrc() {
    let config = example("allinone");
    let endpoints = endpoints::public_endpoints(&config);
    assert_eq!(endpoints[0].url, "https://10.20.0.10:5000/v3");
    assert!(
        endpoints
            .iter()
            .any(|e| e.url == "https://10.20.0.10/vnc_auto.html")
    );
    // A password with a quote, a dollar and a backslash stays one shell word.
    let password = "it's $HOME \\ `x`";
    let openrc = endpoints::admin_openrc(&config, password, "$HOME/stackbox-ca.pem");
    stackbox_common::test_utils::golden(&golden_dir("allinone").join("admin-openrc.sh"), &openrc);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{openrc}\nprintf %s \"$OS_PASSWORD\""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), password);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{openrc}\nprintf %s \"$OS_CACERT\""))
        .env("HOME", "/home/op")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/home/op/stackbox-ca.pem"
    );
}

/// The API address: an address of its own is kept by keepalived (and named in the endpoint
/// certificate); a lone node's own address needs no keepalived; no API address means the first
/// management node's address.
#[test]
fn the_api_address_decides_keepalived() {
    let with = |api: Option<&str>| {
        let mut config = example("allinone");
        config.networks.api_address = api.map(|a| a.parse().unwrap());
        build_plan(
            &config,
            &Catalog::embedded().unwrap(),
            &facts_for("allinone"),
        )
        .unwrap()
    };
    let start = |p: &Plan| format!("{:?}", p.step("stackbox/haproxy.start").unwrap().action);
    let certificate =
        |p: &Plan| format!("{:?}", p.step("stackbox/tls.certificate").unwrap().action);
    let floating = with(Some("10.20.0.10"));
    assert!(start(&floating).contains("keepalived.service"));
    assert!(certificate(&floating).contains("\"10.20.0.10\""));
    assert!(certificate(&floating).contains("\"10.20.0.11\""));
    for p in [with(Some("10.20.0.11")), with(None)] {
        assert!(!start(&p).contains("keepalived"), "{}", start(&p));
        assert!(
            !format!("{:?}", p.step("stackbox/haproxy.config").unwrap().action)
                .contains("keepalived")
        );
        assert!(
            format!(
                "{:?}",
                p.step("stackbox/keystone.bootstrap").unwrap().action
            )
            .contains("https://10.20.0.11:5000")
        );
    }
}

/// The dashboard on every management node: its settings hold the secret key only as a placeholder,
/// readable by the horizon group alone, and name every host a browser may use; the static files are made
/// again whenever the settings change, and the service restarts then; haproxy routes its path on the
/// console's port.
#[test]
fn the_dashboard_keeps_its_key_private_and_is_routed_by_path() {
    use stackbox_installer::flavor::openstack::dashboard;
    let p = plan("three-node", &facts_for("three-node"));
    let file = |node: &str, path: &str| {
        p.for_node(node)
            .find_map(|s| match &s.action {
                Action::Files { files } => files.iter().find(|f| f.path == path).cloned(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{node}: no {path}"))
    };
    for node in ["node1", "node2", "node3"] {
        let settings = file(node, dashboard::SETTINGS);
        assert_eq!(settings.mode, 0o640, "{node}");
        assert_eq!(settings.owner.as_deref(), Some("root:horizon"), "{node}");
        for says in [
            "SECRET_KEY = '@@secret:horizon-key@@'",
            "WEBROOT = '/dashboard/'",
            "'cloud.example.net', '10.20.0.10', '10.20.0.11', 'node1'",
            "OPENSTACK_KEYSTONE_URL = 'https://cloud.example.net:5000/v3'",
            "OPENSTACK_SSL_CACERT = '/etc/stackbox/ca.pem'",
            "'LOCATION': ['10.20.0.11:11211', '10.20.0.12:11211', '10.20.0.13:11211']",
            "SESSION_COOKIE_SECURE = True",
            "CSRF_COOKIE_SECURE = True",
        ] {
            assert!(settings.content.contains(says), "{node}: {says}");
        }
        let step = |name: &str| p.step(&format!("{node}/{name}")).unwrap();
        assert!(
            step("dashboard.static")
                .watch
                .contains(&format!("{node}/dashboard.config"))
        );
        assert_eq!(
            step("dashboard.start").watch,
            [
                format!("{node}/dashboard.config"),
                format!("{node}/dashboard.static")
            ]
        );
        let haproxy = file(node, "/etc/haproxy/haproxy.cfg").content;
        assert!(
            haproxy.contains(
                "use_backend horizon if { path /dashboard } || { path_beg /dashboard/ }\n    default_backend novnc"
            ),
            "{haproxy}"
        );
        assert!(haproxy.contains("server node3 10.20.0.13:18080 check"));
    }
    assert!(stackbox_installer::secrets::NAMES.contains(&dashboard::SECRET));
}
