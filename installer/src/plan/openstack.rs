//! The OpenStack flavor's steps, in the known-good order: infrastructure (time, MariaDB, RabbitMQ,
//! memcached, haproxy) -> databases and users -> keystone -> glance and placement -> nova -> neutron ->
//! compute -> host discovery -> smoke test.

use std::collections::BTreeMap;

use super::{Action, DoneCheck, FileSpec, NodeFacts, Step};
use crate::config::{ClusterConfig, Node};
use crate::render::{Api, Ctx, File, Peer, ProviderView, ports, service_default};
use crate::secrets::placeholder;

/// Where a step that has no other evidence leaves its marker.
const MARKERS: &str = "/var/lib/stackbox/markers";
/// The keystone admin credentials for the `openstack` client, as environment variables.
fn admin_env(ctx: &Ctx) -> Vec<(String, String)> {
    [
        ("OS_AUTH_URL", ctx.public_url_keystone() + "/v3"),
        ("OS_USERNAME", "admin".to_owned()),
        ("OS_PASSWORD", placeholder("admin")),
        ("OS_PROJECT_NAME", "admin".to_owned()),
        ("OS_USER_DOMAIN_NAME", "Default".to_owned()),
        ("OS_PROJECT_DOMAIN_NAME", "Default".to_owned()),
        ("OS_IDENTITY_API_VERSION", "3".to_owned()),
        ("OS_REGION_NAME", ctx.region.clone()),
        ("OS_CACERT", "/etc/stackbox/ca.pem".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Collects steps for one node.
struct NodeSteps<'a> {
    node: &'a str,
    steps: &'a mut Vec<Step>,
}

impl NodeSteps<'_> {
    fn id(&self, name: &str) -> String {
        format!("{}/{name}", self.node)
    }

    /// Adds a step; `after` names steps of this node by short name, or other nodes' by full id.
    fn add(
        &mut self,
        name: &str,
        title: &str,
        after: &[&str],
        action: Action,
        done: DoneCheck,
    ) -> &mut Step {
        let resolve = |d: &&str| {
            if d.contains('/') {
                (*d).to_owned()
            } else {
                format!("{}/{d}", self.node)
            }
        };
        let after = after.iter().map(resolve).collect();
        self.steps.push(Step {
            id: self.id(name),
            node: self.node.to_owned(),
            name: name.to_owned(),
            title: title.to_owned(),
            after,
            watch: Vec::new(),
            action,
            done,
            log: None,
            remedy: None,
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn packages(&mut self, name: &str, title: &str, after: &[&str], packages: &[&str]) {
        let mut after = after.to_vec();
        after.push("apt.update");
        self.add(
            name,
            title,
            &after,
            Action::Packages { packages: packages.iter().map(|p| (*p).to_owned()).collect() },
            DoneCheck::PackagesInstalled,
        )
        .remedy = Some("Read /var/log/apt/term.log; `apt-cache policy PACKAGE` shows whether the offline pool (/srv/stackbox/pool) holds it.".into());
    }

    fn files(&mut self, name: &str, title: &str, after: &[&str], files: Vec<FileSpec>) {
        self.add(
            name,
            title,
            after,
            Action::Files { files },
            DoneCheck::FilesMatch,
        );
    }

    /// Starts units; they restart when a step in `watch` (short names) changed.
    fn units(
        &mut self,
        name: &str,
        title: &str,
        after: &[&str],
        watch: &[&str],
        units: &[&str],
        log: &str,
    ) {
        let watch: Vec<String> = watch.iter().map(|w| self.id(w)).collect();
        let step = self.add(
            name,
            title,
            after,
            Action::Units {
                units: units.iter().map(|u| (*u).to_owned()).collect(),
            },
            DoneCheck::UnitsActive,
        );
        step.watch = watch;
        step.log = Some(log.to_owned());
        step.remedy = Some(format!("Read {log} and `journalctl -u {}`.", units[0]));
    }

    /// Runs commands whose success leaves only a marker as evidence.
    fn once(
        &mut self,
        name: &str,
        title: &str,
        after: &[&str],
        commands: Vec<Vec<String>>,
        log: &str,
    ) -> &mut Step {
        let marker = format!("{MARKERS}/{}", self.id(name).replace('/', "_"));
        let step = self.add(
            name,
            title,
            after,
            Action::Commands {
                commands,
                env: Vec::new(),
            },
            DoneCheck::Path { path: marker },
        );
        step.log = Some(log.to_owned());
        step
    }
}

/// Succeeds when `url` answers through haproxy with a status below 500 (a version document, a redirect or
/// an authentication demand all mean the service is up), verifying the endpoint certificate against the
/// cluster CA.
fn http_ready(url: &str) -> Vec<String> {
    argv(&[
        "python3",
        "-c",
        "import ssl, sys, urllib.error, urllib.request\n\
         ctx = ssl.create_default_context(cafile='/etc/stackbox/ca.pem')\n\
         try:\n    urllib.request.urlopen(sys.argv[1], context=ctx, timeout=5)\n\
         except urllib.error.HTTPError as e:\n    sys.exit(0 if e.code < 500 else 1)",
        url,
    ])
}

impl NodeSteps<'_> {
    /// Waits until a service answers through its public endpoint.
    fn ready(&mut self, name: &str, title: &str, after: &[&str], url: &str, log: &str) {
        let check = http_ready(url);
        self.add(
            name,
            title,
            after,
            Action::Wait {
                argv: check.clone(),
                timeout_secs: 120,
            },
            DoneCheck::Command {
                argv: check,
                contains: None,
            },
        )
        .log = Some(log.to_owned());
    }
}

fn file(path: &str, mode: u32, owner: Option<&str>, content: String) -> FileSpec {
    FileSpec {
        path: path.to_owned(),
        mode,
        owner: owner.map(str::to_owned),
        content,
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `su -s /bin/sh -c CMD USER`: the service's management commands run as the service's user.
fn as_user(user: &str, cmd: &str) -> Vec<String> {
    argv(&["su", "-s", "/bin/sh", "-c", cmd, user])
}

fn peers<'a>(nodes: impl Iterator<Item = &'a Node>) -> Vec<Peer> {
    nodes
        .map(|n| Peer {
            name: n.name.clone(),
            address: n.address.to_string(),
        })
        .collect()
}

fn ratio(x: f64) -> String {
    format!("{x:.1}")
}

/// The template context of one node.
pub(super) fn context(config: &ClusterConfig, node: &Node, facts: NodeFacts) -> Ctx {
    let mgmt = peers(config.nodes_with("management"));
    let consoles = {
        let c = peers(config.nodes_with("console-proxy"));
        if c.is_empty() { mgmt.clone() } else { c }
    };
    let storage = peers(config.nodes_with("storage-metadata"));
    let rabbit = peers(config.nodes_with("message-bus"));
    let api = |name: &str,
               (public_port, internal_port): (u16, u16),
               balance: &str,
               backends: &[Peer]| Api {
        name: name.to_owned(),
        public_port,
        internal_port,
        balance: balance.to_owned(),
        // The console proxy speaks websockets and serves static files: a TCP check is the honest one.
        check_path: (name != "novnc").then(|| "/".to_owned()),
        backends: backends.to_vec(),
    };
    Ctx {
        cluster: config.name.clone(),
        region: config.region.clone(),
        node_name: node.name.clone(),
        roles: node.roles.join(", "),
        address: node.address.to_string(),
        data_address: node.data_address.unwrap_or(node.address).to_string(),
        data_nic: node
            .data_nic
            .clone()
            .unwrap_or_else(|| config.networks.data_nic.clone()),
        management: node.has("management"),
        compute: node.has("compute"),
        in_container: facts.in_container,
        virt_type: if facts.kvm { "kvm" } else { "qemu" }.to_owned(),
        all_nodes: peers(config.nodes.iter()),
        galera: storage.len() > 1,
        rabbit_nodes: rabbit.clone(),
        galera_members: storage
            .iter()
            .map(|p| p.address.clone())
            .collect::<Vec<_>>()
            .join(","),
        transport_url: format!(
            "rabbit://{}/",
            rabbit
                .iter()
                .map(|p| format!("openstack:{}@{}:5672", placeholder("rabbit"), p.address))
                .collect::<Vec<_>>()
                .join(",")
        ),
        memcached_servers: mgmt
            .iter()
            .map(|p| format!("{}:11211", p.address))
            .collect::<Vec<_>>()
            .join(","),
        api_host: super::api_host(config),
        db_host: storage
            .first()
            .map(|p| p.address.clone())
            .unwrap_or_default(),
        apis: vec![
            api("keystone", ports::KEYSTONE, "roundrobin", &mgmt),
            api("glance", ports::GLANCE, "roundrobin", &mgmt),
            api("placement", ports::PLACEMENT, "roundrobin", &mgmt),
            api("nova", ports::NOVA, "roundrobin", &mgmt),
            api("neutron", ports::NEUTRON, "roundrobin", &mgmt),
            api("novnc", ports::NOVNC, "source", &consoles),
        ],
        provider: config.networks.provider.as_ref().map(|p| ProviderView {
            name: p.name.clone(),
            nic: p.nic.clone(),
        }),
        vni_first: config.networks.vxlan.first,
        vni_last: config.networks.vxlan.last,
        cpu_ratio: ratio(config.overcommit.cpu),
        ram_ratio: ratio(config.overcommit.ram),
        disk_ratio: ratio(config.overcommit.disk),
    }
}

/// Every step of the cluster, in the builder's order (the plan orders them by dependencies).
pub(super) fn steps(config: &ClusterConfig, facts: &BTreeMap<String, NodeFacts>) -> Vec<Step> {
    let mut steps = Vec::new();
    let leader = |role: &str| {
        config
            .leader(role)
            .map(|n| n.name.clone())
            .unwrap_or_default()
    };
    let (db_leader, bus_leader, mgmt_leader) = (
        leader("storage-metadata"),
        leader("message-bus"),
        leader("management"),
    );
    let compute_nodes: Vec<&Node> = config.nodes_with("compute").collect();

    for node in &config.nodes {
        let ctx = context(
            config,
            node,
            facts.get(&node.name).copied().unwrap_or_default(),
        );
        let mut s = NodeSteps {
            node: &node.name,
            steps: &mut steps,
        };
        infrastructure(&mut s, &ctx, node, &db_leader, &bus_leader);
        if node.has("management") {
            management(
                &mut s,
                &ctx,
                node.name == mgmt_leader,
                &db_leader,
                &bus_leader,
                &mgmt_leader,
            );
        }
        if node.has("console-proxy")
            || (node.has("management") && config.leader("console-proxy").is_none())
        {
            console_proxy(&mut s, &ctx, &mgmt_leader);
        }
        if node.has("compute") {
            compute(&mut s, &ctx, &mgmt_leader);
        }
    }

    // Host discovery and the smoke test on the management leader, once every compute node runs.
    if mgmt_leader.is_empty() {
        return steps;
    }
    let mut s = NodeSteps {
        node: &mgmt_leader,
        steps: &mut steps,
    };
    let computes_up: Vec<String> = compute_nodes
        .iter()
        .map(|n| format!("{}/nova.compute-start", n.name))
        .collect();
    let mut after: Vec<&str> = computes_up.iter().map(String::as_str).collect();
    after.push("neutron.ready");
    let check = as_user("nova", "nova-manage cell_v2 list_hosts");
    s.add(
        "nova.discover-hosts",
        "map the compute nodes into cell1",
        &after,
        // A compute node registers itself a moment after nova-compute starts: discover until every
        // compute node is mapped.
        Action::Wait {
            argv: as_user(
                "nova",
                &format!(
                    "nova-manage cell_v2 discover_hosts --verbose && nova-manage cell_v2 list_hosts > /tmp/stackbox-hosts && {}",
                    compute_nodes.iter().map(|n| format!("grep -qw {} /tmp/stackbox-hosts", n.name)).collect::<Vec<_>>().join(" && ")
                ),
            ),
            timeout_secs: 300,
        },
        DoneCheck::Command {
            argv: check,
            contains: compute_nodes.last().map(|n| n.name.clone()),
        },
    )
    .log = Some("/var/log/nova/nova-manage.log".into());
    let smoke = s.add(
        "smoke.test",
        "boot a test VM, read its console, delete it",
        &["nova.discover-hosts"],
        Action::Smoke {
            env: admin_env(&context(
                config,
                config.leader("management").unwrap_or(&config.nodes[0]),
                facts.get(&mgmt_leader).copied().unwrap_or_default(),
            )),
        },
        DoneCheck::Never,
    );
    smoke.remedy = Some("Read /var/log/nova/nova-compute.log and the VM's console log; `openstack server list` shows what is left.".into());
    steps
}

fn infrastructure(s: &mut NodeSteps, ctx: &Ctx, node: &Node, db_leader: &str, bus_leader: &str) {
    s.files(
        "hosts",
        "name every node of the cluster in /etc/hosts",
        &[],
        vec![file("/etc/hosts", 0o644, None, File::Hosts.render(ctx))],
    );
    s.units(
        "time",
        "keep the clock synchronised (chrony)",
        &[],
        &[],
        &["chrony.service"],
        "/var/log/syslog",
    );
    s.once(
        "apt.update",
        "read the package index of the offline pool",
        &[],
        vec![argv(&["apt-get", "-q", "update"])],
        "/var/log/apt/term.log",
    );

    if node.has("storage-metadata") {
        s.packages(
            "mariadb.packages",
            "install MariaDB and Galera",
            &["hosts"],
            &[
                "mariadb-server",
                "galera-4",
                "mariadb-backup",
                "python3-pymysql",
            ],
        );
        s.files(
            "mariadb.config",
            "configure MariaDB",
            &["mariadb.packages"],
            vec![file(
                "/etc/mysql/mariadb.conf.d/60-stackbox.cnf",
                0o644,
                None,
                File::MariadbCnf.render(ctx),
            )],
        );
        let is_leader = node.name == db_leader;
        if ctx.galera && is_leader {
            let step = s.add(
                "mariadb.start",
                "bootstrap the Galera cluster",
                &["mariadb.config", "time"],
                Action::Commands {
                    commands: vec![argv(&["galera_new_cluster"])],
                    env: Vec::new(),
                },
                DoneCheck::UnitsActive,
            );
            step.log = Some("/var/log/mysql/error.log".into());
        } else {
            let after_leader = format!("{db_leader}/mariadb.start");
            let mut after = vec!["mariadb.config", "time"];
            if !is_leader {
                after.push(&after_leader);
            }
            s.units(
                "mariadb.start",
                "start MariaDB",
                &after,
                &["mariadb.config"],
                &["mariadb.service"],
                "/var/log/mysql/error.log",
            );
        }
        if is_leader {
            let mut statements = vec![
                format!(
                    "CREATE USER IF NOT EXISTS 'stackbox'@'%' IDENTIFIED BY '{}'",
                    placeholder("db-stackbox")
                ),
                format!(
                    "ALTER USER 'stackbox'@'%' IDENTIFIED BY '{}'",
                    placeholder("db-stackbox")
                ),
                "GRANT ALL PRIVILEGES ON *.* TO 'stackbox'@'%' WITH GRANT OPTION".to_owned(),
            ];
            if ctx.galera {
                statements.push(format!(
                    "CREATE USER IF NOT EXISTS 'sst'@'localhost' IDENTIFIED BY '{}'",
                    placeholder("db-sst")
                ));
                statements.push("GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'sst'@'localhost'".to_owned());
            }
            s.add(
                "mariadb.admin",
                "create stackbox's administrative database user",
                &["mariadb.start"],
                Action::Sql {
                    statements,
                    local_root: true,
                },
                DoneCheck::SqlRows {
                    query: "SELECT 1 FROM mysql.user WHERE User = 'stackbox' AND Host = '%'".into(),
                },
            );
        }
    }

    if node.has("message-bus") {
        s.packages(
            "rabbitmq.packages",
            "install RabbitMQ",
            &["hosts"],
            &["rabbitmq-server"],
        );
        s.files(
            "rabbitmq.config",
            "configure RabbitMQ and its Erlang cookie",
            &["rabbitmq.packages"],
            vec![
                file(
                    "/etc/rabbitmq/rabbitmq-env.conf",
                    0o644,
                    None,
                    File::RabbitmqEnv.render(ctx),
                ),
                file(
                    "/etc/rabbitmq/rabbitmq.conf",
                    0o644,
                    None,
                    File::RabbitmqConf.render(ctx),
                ),
                file(
                    "/var/lib/rabbitmq/.erlang.cookie",
                    0o400,
                    Some("rabbitmq:rabbitmq"),
                    placeholder("erlang-cookie"),
                ),
            ],
        );
        s.units(
            "rabbitmq.start",
            "start RabbitMQ",
            &["rabbitmq.config", "time"],
            &["rabbitmq.config"],
            &["rabbitmq-server.service"],
            "/var/log/rabbitmq/",
        );
        if node.name == bus_leader {
            s.add(
                "rabbitmq.user",
                "create the openstack user on the message bus",
                &["rabbitmq.start"],
                Action::Commands {
                    commands: vec![
                        argv(&[
                            "rabbitmqctl",
                            "add_user",
                            "openstack",
                            &placeholder("rabbit"),
                        ]),
                        argv(&[
                            "rabbitmqctl",
                            "set_permissions",
                            "openstack",
                            ".*",
                            ".*",
                            ".*",
                        ]),
                    ],
                    env: Vec::new(),
                },
                DoneCheck::Command {
                    argv: argv(&["rabbitmqctl", "--silent", "list_users"]),
                    contains: Some("openstack".into()),
                },
            );
        } else {
            let leader_up = format!("{bus_leader}/rabbitmq.start");
            s.add(
                "rabbitmq.join",
                "join the RabbitMQ cluster",
                &["rabbitmq.start", &leader_up],
                Action::Commands {
                    commands: vec![
                        argv(&["rabbitmqctl", "stop_app"]),
                        argv(&[
                            "rabbitmqctl",
                            "join_cluster",
                            &format!("rabbit@{bus_leader}"),
                        ]),
                        argv(&["rabbitmqctl", "start_app"]),
                    ],
                    env: Vec::new(),
                },
                DoneCheck::Command {
                    argv: argv(&["rabbitmqctl", "cluster_status"]),
                    contains: Some(format!("rabbit@{bus_leader}")),
                },
            );
        }
    }
}

/// The API services on a management node; the leader also creates databases, users and endpoints.
fn management(
    s: &mut NodeSteps,
    ctx: &Ctx,
    is_leader: bool,
    db_leader: &str,
    bus_leader: &str,
    mgmt_leader: &str,
) {
    let db_admin = format!("{db_leader}/mariadb.admin");
    let bus_user = format!("{bus_leader}/rabbitmq.user");
    let leader_keystone = format!("{mgmt_leader}/keystone.endpoints");

    s.packages(
        "memcached.packages",
        "install memcached",
        &["hosts"],
        &["memcached"],
    );
    s.files(
        "memcached.config",
        "configure memcached",
        &["memcached.packages"],
        vec![file(
            "/etc/memcached.conf",
            0o644,
            None,
            File::MemcachedConf.render(ctx),
        )],
    );
    s.units(
        "memcached.start",
        "start memcached",
        &["memcached.config"],
        &["memcached.config"],
        &["memcached.service"],
        "/var/log/memcached.log",
    );

    s.add(
        "tls.certificate",
        "make the endpoint certificate and the cluster CA",
        &[],
        Action::Certificate {
            names: vec![
                ctx.api_host.clone(),
                ctx.address.clone(),
                ctx.node_name.clone(),
            ],
        },
        DoneCheck::Path {
            path: "/etc/haproxy/stackbox.pem".into(),
        },
    );
    s.packages(
        "haproxy.packages",
        "install haproxy",
        &["hosts"],
        &["haproxy"],
    );
    s.files(
        "haproxy.config",
        "configure haproxy's TLS 1.3 endpoints",
        &["haproxy.packages"],
        vec![file(
            "/etc/haproxy/haproxy.cfg",
            0o644,
            None,
            File::HaproxyCfg.render(ctx),
        )],
    );
    s.units(
        "haproxy.start",
        "start haproxy",
        &["haproxy.config", "tls.certificate"],
        &["haproxy.config", "tls.certificate"],
        &["haproxy.service"],
        "/var/log/haproxy.log",
    );

    s.files(
        "openstack.preseed",
        "tell the OpenStack packages not to configure themselves",
        &[],
        vec![file(
            "/var/cache/stackbox/preseed.cfg",
            0o644,
            None,
            File::Preseed.render(ctx),
        )],
    );
    // debconf keeps no query tool in a minimal system (debconf-get-selections is in debconf-utils):
    // loading the answers is idempotent, so a marker records it, and new answers load them again.
    let preseed = s.id("openstack.preseed");
    s.once(
        "openstack.debconf",
        "load the debconf answers",
        &["openstack.preseed"],
        vec![argv(&[
            "debconf-set-selections",
            "/var/cache/stackbox/preseed.cfg",
        ])],
        "/var/log/apt/term.log",
    )
    .watch
    .push(preseed);

    if is_leader {
        let mut statements = Vec::new();
        for (user, databases) in [
            ("keystone", &["keystone"][..]),
            ("glance", &["glance"][..]),
            ("placement", &["placement"][..]),
            ("nova", &["nova_api", "nova", "nova_cell0"][..]),
            ("neutron", &["neutron"][..]),
        ] {
            let secret = placeholder(&format!("db-{user}"));
            statements.push(format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{secret}'"
            ));
            statements.push(format!("ALTER USER '{user}'@'%' IDENTIFIED BY '{secret}'"));
            for db in databases {
                statements.push(format!("CREATE DATABASE IF NOT EXISTS {db}"));
                statements.push(format!("GRANT ALL PRIVILEGES ON {db}.* TO '{user}'@'%'"));
            }
        }
        s.add(
            "databases",
            "create the services' databases and users",
            &[&db_admin],
            Action::Sql { statements, local_root: false },
            DoneCheck::SqlRows {
                query: "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'neutron' AND EXISTS (SELECT 1 FROM mysql.user WHERE User = 'neutron')".into(),
            },
        );
    }
    let dbs: &str = if is_leader {
        "databases"
    } else {
        &leader_keystone
    };
    let infra = ["memcached.start", "haproxy.start", "openstack.debconf"];

    // keystone
    s.packages(
        "keystone.packages",
        "install keystone",
        &["openstack.debconf"],
        &["keystone", "python3-openstackclient"],
    );
    s.files(
        "keystone.config",
        "configure keystone",
        &["keystone.packages"],
        vec![
            file(
                "/etc/keystone/keystone.conf",
                0o640,
                Some("root:keystone"),
                File::KeystoneConf.render(ctx),
            ),
            file(
                "/etc/default/keystone",
                0o644,
                None,
                service_default(
                    "keystone",
                    &ctx.address,
                    ports::KEYSTONE.1,
                    "/etc/keystone/keystone-uwsgi.ini",
                ),
            ),
        ],
    );
    if is_leader {
        s.once(
            "keystone.db-sync",
            "create keystone's tables",
            &["keystone.config", dbs],
            vec![as_user("keystone", "keystone-manage db_sync")],
            "/var/log/keystone/keystone-manage.log",
        );
        s.add(
            "keystone.fernet",
            "create the fernet and credential keys",
            &["keystone.db-sync"],
            Action::Commands {
                commands: vec![
                    argv(&[
                        "keystone-manage",
                        "fernet_setup",
                        "--keystone-user",
                        "keystone",
                        "--keystone-group",
                        "keystone",
                    ]),
                    argv(&[
                        "keystone-manage",
                        "credential_setup",
                        "--keystone-user",
                        "keystone",
                        "--keystone-group",
                        "keystone",
                    ]),
                ],
                env: Vec::new(),
            },
            DoneCheck::Path {
                path: "/etc/keystone/credential-keys/0".into(),
            },
        );
        let url = ctx.public_url_keystone() + "/v3/";
        s.once(
            "keystone.bootstrap",
            "bootstrap keystone's admin user and identity endpoints",
            &["keystone.fernet"],
            vec![argv(&[
                "keystone-manage",
                "bootstrap",
                "--bootstrap-password",
                &placeholder("admin"),
                "--bootstrap-admin-url",
                &url,
                "--bootstrap-internal-url",
                &url,
                "--bootstrap-public-url",
                &url,
                "--bootstrap-region-id",
                &ctx.region,
            ])],
            "/var/log/keystone/keystone-manage.log",
        );
    }
    let ks_ready: &str = if is_leader {
        "keystone.bootstrap"
    } else {
        &leader_keystone
    };
    s.units(
        "keystone.start",
        "start keystone",
        &["keystone.config", ks_ready, infra[0], infra[1]],
        &["keystone.config"],
        &["keystone.service"],
        "/var/log/keystone/keystone.log",
    );
    s.ready(
        "keystone.ready",
        "wait until keystone answers through haproxy",
        &["keystone.start", "haproxy.start"],
        &(ctx.public_url_keystone() + "/v3"),
        "/var/log/keystone/keystone.log",
    );

    if is_leader {
        let env = admin_env(ctx);
        let mut commands = vec![argv(&[
            "sh",
            "-c",
            "openstack project show service >/dev/null 2>&1 || openstack project create --domain default --description 'Service Project' service",
        ])];
        for (user, service, kind, port) in [
            ("glance", "glance", "image", ports::GLANCE.0),
            ("placement", "placement", "placement", ports::PLACEMENT.0),
            ("nova", "nova", "compute", ports::NOVA.0),
            ("neutron", "neutron", "network", ports::NEUTRON.0),
        ] {
            let url = if kind == "compute" {
                format!("https://{}:{port}/v2.1", ctx.api_host)
            } else {
                format!("https://{}:{port}", ctx.api_host)
            };
            commands.push(argv(&[
                "openstack",
                "user",
                "create",
                "--or-show",
                "--domain",
                "default",
                "--password",
                &placeholder(&format!("user-{user}")),
                user,
            ]));
            commands.push(argv(&[
                "openstack",
                "user",
                "set",
                "--password",
                &placeholder(&format!("user-{user}")),
                user,
            ]));
            commands.push(argv(&[
                "openstack",
                "role",
                "add",
                "--project",
                "service",
                "--user",
                user,
                "admin",
            ]));
            commands.push(argv(&["sh", "-c", &format!("openstack service show {service} >/dev/null 2>&1 || openstack service create --name {service} {kind}")]));
            for interface in ["public", "internal", "admin"] {
                commands.push(argv(&[
                    "sh",
                    "-c",
                    &format!(
                        "openstack endpoint list --service {service} --interface {interface} -f value -c URL | grep -qx '{url}' || openstack endpoint create --region {} {service} {interface} {url}",
                        ctx.region
                    ),
                ]));
            }
        }
        let step = s.add(
            "keystone.endpoints",
            "create the service project, the services' users and their endpoints",
            &["keystone.ready"],
            Action::Commands {
                commands,
                env: env.clone(),
            },
            DoneCheck::Command {
                argv: argv(&[
                    "openstack",
                    "endpoint",
                    "list",
                    "--service",
                    "neutron",
                    "--interface",
                    "admin",
                    "-f",
                    "value",
                    "-c",
                    "URL",
                ]),
                contains: Some(format!(":{}", ports::NEUTRON.0)),
            },
        );
        step.log = Some("/var/log/keystone/keystone.log".into());
    }
    let endpoints: &str = if is_leader {
        "keystone.endpoints"
    } else {
        &leader_keystone
    };

    // glance
    s.packages(
        "glance.packages",
        "install glance",
        &["openstack.debconf"],
        &["glance"],
    );
    s.files(
        "glance.config",
        "configure glance",
        &["glance.packages"],
        vec![file(
            "/etc/glance/glance-api.conf",
            0o640,
            Some("root:glance"),
            File::GlanceApiConf.render(ctx),
        )],
    );
    if is_leader {
        s.once(
            "glance.db-sync",
            "create glance's tables",
            &["glance.config", dbs],
            vec![as_user("glance", "glance-manage db_sync")],
            "/var/log/glance/glance-manage.log",
        );
    }
    let glance_db: &str = if is_leader {
        "glance.db-sync"
    } else {
        endpoints
    };
    s.units(
        "glance.start",
        "start glance",
        &["glance.config", glance_db, endpoints],
        &["glance.config"],
        &["glance-api.service"],
        "/var/log/glance/glance-api.log",
    );
    s.ready(
        "glance.ready",
        "wait until glance answers through haproxy",
        &["glance.start", "haproxy.start"],
        &ctx.public_url_glance(),
        "/var/log/glance/glance-api.log",
    );

    // placement
    s.packages(
        "placement.packages",
        "install placement",
        &["openstack.debconf"],
        &["placement-api"],
    );
    s.files(
        "placement.config",
        "configure placement",
        &["placement.packages"],
        vec![
            file(
                "/etc/placement/placement.conf",
                0o640,
                Some("root:placement"),
                File::PlacementConf.render(ctx),
            ),
            file(
                "/etc/default/placement-api",
                0o644,
                None,
                service_default(
                    "placement-api",
                    &ctx.address,
                    ports::PLACEMENT.1,
                    "/etc/placement/placement-api-uwsgi.ini",
                ),
            ),
        ],
    );
    if is_leader {
        s.once(
            "placement.db-sync",
            "create placement's tables",
            &["placement.config", dbs],
            vec![as_user("placement", "placement-manage db sync")],
            "/var/log/placement/placement-api.log",
        );
    }
    let placement_db: &str = if is_leader {
        "placement.db-sync"
    } else {
        endpoints
    };
    s.units(
        "placement.start",
        "start placement",
        &["placement.config", placement_db, endpoints],
        &["placement.config"],
        &["placement-api.service"],
        "/var/log/placement/placement-api.log",
    );
    s.ready(
        "placement.ready",
        "wait until placement answers through haproxy",
        &["placement.start", "haproxy.start"],
        &format!("https://{}:{}", ctx.api_host, ports::PLACEMENT.0),
        "/var/log/placement/placement-api.log",
    );

    // nova (controller)
    s.packages(
        "nova.packages",
        "install the nova controller services",
        &["openstack.debconf"],
        &["nova-api", "nova-conductor", "nova-scheduler"],
    );
    nova_config(s, ctx, &["nova.packages"]);
    if is_leader {
        let nova_log = "/var/log/nova/nova-manage.log";
        s.once(
            "nova.api-db-sync",
            "create nova's API tables",
            &["nova.config", dbs, &bus_user],
            vec![as_user("nova", "nova-manage api_db sync")],
            nova_log,
        );
        s.add(
            "nova.cell0",
            "map cell0",
            &["nova.api-db-sync"],
            Action::Commands {
                commands: vec![as_user("nova", "nova-manage cell_v2 map_cell0")],
                env: Vec::new(),
            },
            DoneCheck::Command {
                argv: as_user("nova", "nova-manage cell_v2 list_cells"),
                contains: Some(" cell0 ".into()),
            },
        );
        s.add(
            "nova.cell1",
            "create cell1",
            &["nova.cell0"],
            Action::Commands {
                commands: vec![as_user(
                    "nova",
                    "nova-manage cell_v2 create_cell --name=cell1 --verbose",
                )],
                env: Vec::new(),
            },
            DoneCheck::Command {
                argv: as_user("nova", "nova-manage cell_v2 list_cells"),
                contains: Some(" cell1 ".into()),
            },
        );
        s.once(
            "nova.db-sync",
            "create nova's cell tables",
            &["nova.cell1"],
            vec![as_user("nova", "nova-manage db sync")],
            nova_log,
        );
    }
    let nova_db: &str = if is_leader { "nova.db-sync" } else { endpoints };
    s.files(
        "nova.api-default",
        "bind nova-api to the internal port",
        &["nova.packages"],
        vec![file(
            "/etc/default/nova-api",
            0o644,
            None,
            service_default(
                "nova-api",
                &ctx.address,
                ports::NOVA.1,
                "/etc/nova/nova-api-uwsgi.ini",
            ),
        )],
    );
    s.units(
        "nova.start",
        "start nova-api, nova-conductor and nova-scheduler",
        &[
            "nova.config",
            "nova.api-default",
            nova_db,
            endpoints,
            "placement.ready",
        ],
        &["nova.config", "nova.api-default"],
        &[
            "nova-api.service",
            "nova-api-metadata.service",
            "nova-conductor.service",
            "nova-scheduler.service",
        ],
        "/var/log/nova/nova-api.log",
    );
    s.ready(
        "nova.ready",
        "wait until nova answers through haproxy",
        &["nova.start", "haproxy.start"],
        &format!("https://{}:{}", ctx.api_host, ports::NOVA.0),
        "/var/log/nova/nova-api.log",
    );

    // neutron (server and agents on the management node: it is the network node)
    s.packages(
        "neutron.packages",
        "install the neutron server and agents",
        &["openstack.debconf"],
        &[
            "neutron-api",
            "neutron-rpc-server",
            "neutron-linuxbridge-agent",
            "neutron-dhcp-agent",
            "neutron-l3-agent",
            "neutron-metadata-agent",
        ],
    );
    neutron_config(s, ctx, &["neutron.packages"], true);
    if is_leader {
        s.once(
            "neutron.db-upgrade",
            "create neutron's tables",
            &["neutron.config", dbs],
            vec![as_user("neutron", "neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head")],
            "/var/log/neutron/neutron-db-manage.log",
        );
    }
    let neutron_db: &str = if is_leader {
        "neutron.db-upgrade"
    } else {
        endpoints
    };
    s.units(
        "neutron.start",
        "start the neutron server and agents",
        &["neutron.config", neutron_db, endpoints, "nova.ready"],
        &["neutron.config"],
        &[
            "neutron-api.service",
            "neutron-rpc-server.service",
            "neutron-linuxbridge-agent.service",
            "neutron-dhcp-agent.service",
            "neutron-l3-agent.service",
            "neutron-metadata-agent.service",
        ],
        "/var/log/neutron/neutron-api.log",
    );
    s.ready(
        "neutron.ready",
        "wait until neutron answers through haproxy",
        &["neutron.start", "haproxy.start"],
        &format!("https://{}:{}", ctx.api_host, ports::NEUTRON.0),
        "/var/log/neutron/neutron-api.log",
    );
}

fn nova_config(s: &mut NodeSteps, ctx: &Ctx, after: &[&str]) {
    if s.steps.iter().any(|st| st.id == s.id("nova.config")) {
        return;
    }
    s.files(
        "nova.config",
        "configure nova",
        after,
        vec![file(
            "/etc/nova/nova.conf",
            0o640,
            Some("root:nova"),
            File::NovaConf.render(ctx),
        )],
    );
}

fn neutron_config(s: &mut NodeSteps, ctx: &Ctx, after: &[&str], network_node: bool) {
    if s.steps.iter().any(|st| st.id == s.id("neutron.config")) {
        return;
    }
    let owner = Some("root:neutron");
    let mut files = vec![
        file(
            "/etc/neutron/neutron.conf",
            0o640,
            owner,
            File::NeutronConf.render(ctx),
        ),
        file(
            "/etc/neutron/plugins/ml2/ml2_conf.ini",
            0o640,
            owner,
            File::Ml2Conf.render(ctx),
        ),
        file(
            "/etc/neutron/plugins/ml2/linuxbridge_agent.ini",
            0o640,
            owner,
            File::LinuxbridgeAgent.render(ctx),
        ),
    ];
    if network_node {
        files.push(file(
            "/etc/neutron/dhcp_agent.ini",
            0o640,
            owner,
            File::DhcpAgent.render(ctx),
        ));
        files.push(file(
            "/etc/neutron/l3_agent.ini",
            0o640,
            owner,
            File::L3Agent.render(ctx),
        ));
        files.push(file(
            "/etc/neutron/metadata_agent.ini",
            0o640,
            owner,
            File::MetadataAgent.render(ctx),
        ));
        files.push(file(
            "/etc/default/neutron-server",
            0o644,
            None,
            service_default(
                "neutron-api",
                &ctx.address,
                ports::NEUTRON.1,
                "/etc/neutron/neutron-api-uwsgi.ini",
            ),
        ));
    }
    s.files("neutron.config", "configure neutron", after, files);
}

fn console_proxy(s: &mut NodeSteps, ctx: &Ctx, mgmt_leader: &str) {
    let endpoints = format!("{mgmt_leader}/keystone.endpoints");
    s.packages(
        "console.packages",
        "install the noVNC console proxy",
        &["hosts"],
        &["nova-consoleproxy"],
    );
    nova_config(s, ctx, &["console.packages"]);
    s.files(
        "console.config",
        "serve noVNC",
        &["console.packages"],
        vec![file(
            "/etc/default/nova-consoleproxy",
            0o644,
            None,
            File::NovaConsoleproxy.render(ctx),
        )],
    );
    s.units(
        "console.start",
        "start the console proxy",
        &["console.config", "nova.config", &endpoints],
        &["console.config", "nova.config"],
        &["nova-novncproxy.service"],
        "/var/log/nova/nova-novncproxy.log",
    );
}

fn compute(s: &mut NodeSteps, ctx: &Ctx, mgmt_leader: &str) {
    let nova_up = format!("{mgmt_leader}/nova.ready");
    let neutron_up = format!("{mgmt_leader}/neutron.ready");
    s.packages(
        "libvirt.packages",
        "install libvirt and QEMU",
        &["hosts"],
        &["libvirt-daemon-system", "qemu-system-x86", "qemu-utils"],
    );
    s.files(
        "libvirt.config",
        "configure libvirt's QEMU driver",
        &["libvirt.packages"],
        vec![file(
            "/etc/libvirt/qemu.conf",
            0o600,
            None,
            File::QemuConf.render(ctx),
        )],
    );
    s.units(
        "libvirt.start",
        "start libvirt",
        &["libvirt.config"],
        &["libvirt.config"],
        &["libvirtd.service"],
        "/var/log/libvirt/libvirtd.log",
    );
    let package = if ctx.virt_type == "kvm" {
        "nova-compute-kvm"
    } else {
        "nova-compute-qemu"
    };
    s.packages(
        "nova.compute-packages",
        &format!("install nova-compute ({package})"),
        &["libvirt.start"],
        &[package],
    );
    nova_config(s, ctx, &["nova.compute-packages"]);
    s.units(
        "nova.compute-start",
        "start nova-compute",
        &[
            "nova.config",
            "nova.compute-packages",
            "libvirt.start",
            &nova_up,
        ],
        &["nova.config"],
        &["nova-compute.service"],
        "/var/log/nova/nova-compute.log",
    );
    if !ctx.management {
        s.packages(
            "neutron.agent-packages",
            "install the linuxbridge agent",
            &["hosts"],
            &["neutron-linuxbridge-agent"],
        );
        neutron_config(s, ctx, &["neutron.agent-packages"], false);
        s.units(
            "neutron.agent-start",
            "start the linuxbridge agent",
            &["neutron.config", &neutron_up],
            &["neutron.config"],
            &["neutron-linuxbridge-agent.service"],
            "/var/log/neutron/neutron-linuxbridge-agent.log",
        );
    }
}
