//! The executor against an in-memory machine: journaled skips, redo on changed inputs, resume after an
//! interruption, --stop-after, failures with secrets redacted, and steps found already done.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::build_plan;
use stackbox_installer::error::StepError;
use stackbox_installer::executor::{Again, Event, Executor, System};
use stackbox_installer::journal::{Journal, State};
use stackbox_installer::plan::{FileSpec, NodeFacts, Plan};
use stackbox_installer::secrets::Secrets;

/// A machine in memory; counts what it was asked to do.
#[derive(Default)]
struct Fake {
    packages: Mutex<BTreeSet<String>>,
    files: Mutex<BTreeMap<String, (String, u32)>>,
    active: Mutex<BTreeSet<String>>,
    restarted: Mutex<Vec<String>>,
    paths: Mutex<BTreeSet<String>>,
    commands: Mutex<Vec<Vec<String>>>,
    sql_users: Mutex<BTreeSet<String>>,
    actions: Mutex<usize>,
    /// A command (first word) that fails, once, echoing its arguments and environment like a careless tool
    /// would.
    fail_once: Mutex<Option<String>>,
    /// The firewall chain the kernel holds: the drop-in loaded last by `nft -f`.
    nft_chain: Mutex<String>,
    /// (unit, looks): a unit that a start leaves inactive for this many looks (its service restarting
    /// by itself after a first failed start), then active.
    settles_after: Mutex<Option<(String, usize)>>,
    /// The daemons' certificates in place are stale (of a CA rotated since): their `--check` fails
    /// until `stackboxd certificate --service` puts new ones in place.
    stale_certificates: Mutex<BTreeSet<String>>,
}

impl Fake {
    fn act(&self) {
        *self.actions.lock().unwrap() += 1;
    }
    fn actions(&self) -> usize {
        *self.actions.lock().unwrap()
    }
}

impl Fake {
    /// `nft -c` checks, `nft -f` loads the drop-in, `nft list` shows what is loaded.
    fn nft(&self, argv: &[String]) -> String {
        use stackbox_installer::plan::infrastructure::firewall::DROPIN;
        match argv[1].as_str() {
            "list" => self.nft_chain.lock().unwrap().clone(),
            "-c" => String::new(),
            _ => {
                self.act();
                self.commands.lock().unwrap().push(argv.to_vec());
                let files = self.files.lock().unwrap();
                *self.nft_chain.lock().unwrap() =
                    files.get(DROPIN).map(|f| f.0.clone()).unwrap_or_default();
                String::new()
            }
        }
    }
}

impl System for Fake {
    fn pause(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    async fn packages_installed(&self, packages: &[String]) -> Result<bool, StepError> {
        let have = self.packages.lock().unwrap();
        Ok(packages.iter().all(|p| have.contains(p)))
    }
    async fn install_packages(&self, packages: &[String]) -> Result<String, StepError> {
        self.act();
        self.packages
            .lock()
            .unwrap()
            .extend(packages.iter().cloned());
        Ok(format!("Setting up {}\n", packages.join(" ")))
    }
    async fn file_matches(&self, file: &FileSpec, content: &str) -> Result<bool, StepError> {
        Ok(self.files.lock().unwrap().get(&file.path) == Some(&(content.to_owned(), file.mode)))
    }
    async fn write_file(&self, file: &FileSpec, content: &str) -> Result<(), StepError> {
        self.act();
        self.files
            .lock()
            .unwrap()
            .insert(file.path.clone(), (content.to_owned(), file.mode));
        Ok(())
    }
    async fn units_active(&self, units: &[String]) -> Result<bool, StepError> {
        if let Some((unit, looks)) = self.settles_after.lock().unwrap().as_mut()
            && units.contains(unit)
            && *looks > 0
        {
            *looks -= 1;
            return Ok(false);
        }
        let active = self.active.lock().unwrap();
        Ok(units.iter().all(|u| active.contains(u)))
    }
    async fn start_units(&self, units: &[String], restart: bool) -> Result<(), StepError> {
        self.act();
        if restart {
            self.restarted.lock().unwrap().extend(units.iter().cloned());
        }
        self.active.lock().unwrap().extend(units.iter().cloned());
        Ok(())
    }
    async fn sql(&self, _local_root: bool, statements: &[String]) -> Result<(), StepError> {
        self.act();
        for s in statements {
            if let Some(rest) = s.strip_prefix("CREATE USER IF NOT EXISTS '") {
                self.sql_users
                    .lock()
                    .unwrap()
                    .insert(rest.split('\'').next().unwrap().to_owned());
            }
        }
        Ok(())
    }
    async fn sql_rows(&self, _local_root: bool, query: &str) -> Result<bool, StepError> {
        let users = self.sql_users.lock().unwrap();
        Ok(users
            .iter()
            .any(|u| query.contains(&format!("User = '{u}'"))))
    }
    async fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<String, StepError> {
        // `stackboxd smoke` and `stackboxd certificate` are commands like any other; the fake plays them.
        if argv[..] == ["stackboxd", "smoke"] {
            assert!(
                env.iter()
                    .any(|(k, v)| k == "OS_PASSWORD" && !v.contains("@@secret")),
                "credentials filled in"
            );
            self.act();
            return Ok("server ACTIVE, marker seen\n".into());
        }
        if argv.starts_with(&["stackboxd".to_owned(), "certificate".to_owned()])
            && argv.iter().any(|a| a == "--check")
        {
            let service = argv.iter().skip_while(|a| *a != "--service").nth(1);
            if service.is_some_and(|svc| self.stale_certificates.lock().unwrap().contains(svc)) {
                use std::os::unix::process::ExitStatusExt;
                return Err(StepError::Command(stackbox_common::cmd::CmdError::Failed {
                    argv: argv.join(" "),
                    status: std::process::ExitStatus::from_raw(256),
                    stderr: "/etc/mysql/tls/cert.pem: not signed by the cluster CA".into(),
                }));
            }
            return Ok(String::new());
        }
        if argv.starts_with(&["stackboxd".to_owned(), "certificate".to_owned()]) {
            if let Some(svc) = argv.iter().skip_while(|a| *a != "--service").nth(1) {
                self.stale_certificates.lock().unwrap().remove(svc);
            }
            self.act();
            self.paths
                .lock()
                .unwrap()
                .insert("/etc/haproxy/stackbox.pem".to_owned());
            return Ok(String::new());
        }
        if argv[0] == "nft" {
            return Ok(self.nft(argv));
        }
        let mut fail = self.fail_once.lock().unwrap();
        if fail.as_deref() == Some(argv[0].as_str()) {
            *fail = None;
            let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            return Err(StepError::NotDone(format!(
                "{} crashed with arguments {} and environment {}",
                argv[0],
                argv.join(" "),
                env.join(" ")
            )));
        }
        // Checks (list, show, status) are not actions: they answer from what the actions did.
        let joined = argv.join(" ");
        let is_check = (argv[0] == "openstack"
            && matches!(argv.get(2).map(String::as_str), Some("list" | "show")))
            || [
                "list_users",
                "cluster_status",
                "cell_v2 list_",
                "debconf-get-selections",
                "wsrep_cluster_status",
            ]
            .iter()
            .any(|w| joined.contains(w));
        // Discovering hosts lists them too: it is an action.
        let is_check = is_check && !joined.contains("discover_hosts");
        if is_check {
            let ran: Vec<String> = self
                .commands
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.join(" "))
                .collect();
            let ran = ran.join("\n");
            let mut out = String::new();
            for (action, evidence) in [
                ("map_cell0", " cell0 "),
                ("create_cell", " cell1 "),
                ("discover_hosts", "stackbox"),
                ("rabbitmqctl add_user", "openstack"),
                ("galera_new_cluster", "wsrep_cluster_status\tPrimary"),
                (
                    "sh neutron admin RegionOne https://10.20.0.10:9696",
                    "https://10.20.0.10:9696",
                ),
            ] {
                if ran.contains(action) {
                    out.push_str(evidence);
                    out.push('\n');
                }
            }
            let debconf_ok = !joined.contains("debconf-get-selections")
                || ran.contains("debconf-set-selections");
            return if debconf_ok && (!out.is_empty() || joined.contains("debconf")) {
                Ok(out)
            } else {
                use std::os::unix::process::ExitStatusExt;
                Err(StepError::Command(stackbox_common::cmd::CmdError::Failed {
                    argv: joined,
                    status: std::process::ExitStatus::from_raw(256),
                    stderr: String::new(),
                }))
            };
        }
        if joined.contains("credential_setup") {
            self.paths
                .lock()
                .unwrap()
                .insert("/etc/keystone/credential-keys/0".into());
        }
        self.act();
        self.commands.lock().unwrap().push(argv.to_vec());
        Ok(String::new())
    }
    async fn path_exists(&self, path: &str) -> bool {
        self.paths.lock().unwrap().contains(path)
    }
    async fn touch(&self, path: &str) -> Result<(), StepError> {
        self.paths.lock().unwrap().insert(path.to_owned());
        Ok(())
    }
}

fn example_plan(edit: impl FnOnce(&mut ClusterConfig)) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/allinone.toml");
    let mut config =
        ClusterConfig::from_toml("allinone", &std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut config);
    let facts = [(
        "stackbox".to_owned(),
        NodeFacts {
            kvm: false,
            in_container: true,
            cpus: 2,
        },
    )]
    .into();
    build_plan(&config, &Catalog::embedded().unwrap(), &facts).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    secrets: Secrets,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.db")).await.unwrap();
    let secrets = Secrets::load_or_generate(&dir.path().join("secrets.toml")).unwrap();
    Setup {
        _dir: dir,
        journal,
        secrets,
    }
}

async fn run(
    fake: &Fake,
    s: &Setup,
    plan: &Plan,
    stop_after: Option<&str>,
) -> (stackbox_installer::executor::Summary, Vec<Event>) {
    let mut events = Vec::new();
    let exec = Executor {
        system: fake,
        journal: &s.journal,
        secrets: &s.secrets,
    };
    let summary = exec
        .run(plan, "stackbox", stop_after, &mut |e| events.push(e))
        .await
        .unwrap();
    (summary, events)
}

#[tokio::test]
async fn a_full_run_then_a_rerun_that_does_nothing() {
    let s = setup().await;
    let fake = Fake::default();
    let plan = example_plan(|_| {});
    let (first, events) = run(&fake, &s, &plan, None).await;
    assert!(first.complete(), "{first:?}");
    assert_eq!(
        first.acted.len() + first.already_done.len(),
        plan.steps.len()
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Finished { id, .. } if id == "stackbox/smoke.test"))
    );
    // Files were written with secrets filled in.
    let files = fake.files.lock().unwrap().clone();
    let keystone = &files["/etc/keystone/keystone.conf"].0;
    assert!(keystone.contains(s.secrets.get("db-keystone").unwrap().expose()));
    assert!(!keystone.contains("@@secret"));

    let before = fake.actions();
    let (second, _) = run(&fake, &s, &plan, None).await;
    assert!(second.complete());
    assert!(second.acted.is_empty(), "{second:?}");
    assert_eq!(fake.actions(), before);
    assert_eq!(second.unchanged.len(), plan.steps.len());
}

#[tokio::test]
async fn a_changed_input_redoes_its_step_and_restarts_the_unit() {
    let s = setup().await;
    let fake = Fake::default();
    run(&fake, &s, &example_plan(|_| {}), None).await;
    let changed = example_plan(|c| c.overcommit.cpu = 8.0);
    let (summary, events) = run(&fake, &s, &changed, None).await;
    assert!(summary.complete());
    assert_eq!(
        summary.acted,
        [
            "stackbox/nova.config",
            "stackbox/nova.start",
            "stackbox/console.start",
            "stackbox/nova.compute-start",
            "stackbox/smoke.test"
        ]
    );
    // The unit restarts because its configuration step acted, and the log says so.
    assert!(events.iter().any(
        |e| matches!(e, Event::Started { id, again: Some(Again::Restart { step: Some(w) }), .. }
        if id == "stackbox/nova.compute-start" && w == "stackbox/nova.config")
    ));
    assert!(events.iter().any(
        |e| matches!(e, Event::Started { id, again: Some(Again::InputsChanged), .. }
        if id == "stackbox/nova.config")
    ));
    assert!(
        fake.restarted
            .lock()
            .unwrap()
            .contains(&"nova-compute.service".to_owned())
    );
    assert!(
        fake.files.lock().unwrap()["/etc/nova/nova.conf"]
            .0
            .contains("cpu_allocation_ratio = 8.0")
    );
}

#[tokio::test]
async fn stop_after_pauses_and_the_next_run_goes_on() {
    let s = setup().await;
    let fake = Fake::default();
    let plan = example_plan(|_| {});
    let (paused, events) = run(&fake, &s, &plan, Some("keystone.db-sync")).await;
    assert_eq!(paused.paused.as_deref(), Some("stackbox/keystone.db-sync"));
    assert!(matches!(events.last(), Some(Event::Paused { .. })));
    assert!(
        s.journal
            .get("stackbox/keystone.bootstrap")
            .await
            .unwrap()
            .is_none()
    );
    let (rest, _) = run(&fake, &s, &plan, None).await;
    assert!(rest.complete());
    assert!(
        rest.unchanged
            .contains(&"stackbox/keystone.db-sync".to_owned())
    );
    assert!(
        rest.acted
            .contains(&"stackbox/keystone.bootstrap".to_owned())
    );
    let exec = Executor {
        system: &fake,
        journal: &s.journal,
        secrets: &s.secrets,
    };
    assert!(
        exec.run(&plan, "stackbox", Some("no.such-step"), &mut |_| {})
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_interrupted_step_is_checked_before_it_acts_again() {
    let s = setup().await;
    let fake = Fake::default();
    let plan = example_plan(|_| {});
    run(&fake, &s, &plan, Some("rabbitmq.packages")).await;
    // A kill during the next step: the journal says running, the work itself was done.
    s.journal
        .begin("stackbox/rabbitmq.config", "interrupted")
        .await
        .unwrap();
    let step = plan.step("stackbox/rabbitmq.config").unwrap();
    let exec = Executor {
        system: &fake,
        journal: &s.journal,
        secrets: &s.secrets,
    };
    // Do the step's work by hand, as the killed run had.
    if let stackbox_installer::plan::Action::Files { files } = &step.action {
        for f in files {
            fake.write_file(f, &s.secrets.fill(&f.content).unwrap())
                .await
                .unwrap();
        }
    }
    let before = fake.actions();
    let mut events = Vec::new();
    let summary = exec
        .run(&plan, "stackbox", Some("rabbitmq.config"), &mut |e| {
            events.push(e)
        })
        .await
        .unwrap();
    assert_eq!(
        summary.already_done,
        ["stackbox/rabbitmq.config"],
        "{summary:?}"
    );
    assert_eq!(fake.actions(), before, "nothing is done twice");
    assert_eq!(
        s.journal
            .get("stackbox/rabbitmq.config")
            .await
            .unwrap()
            .unwrap()
            .state,
        State::Done
    );
}

#[tokio::test]
async fn a_failure_is_journaled_with_secrets_redacted_and_a_rerun_resumes() {
    let s = setup().await;
    let fake = Fake::default();
    *fake.fail_once.lock().unwrap() = Some("keystone-manage".into());
    let plan = example_plan(|_| {});
    let (failed, events) = run(&fake, &s, &plan, None).await;
    // keystone's bootstrap is the first command keystone-manage runs as itself (db_sync runs through su).
    assert_eq!(
        failed.failed.as_deref(),
        Some("stackbox/keystone.bootstrap")
    );
    let Some(Event::Failed { error, log, .. }) = events.last() else {
        panic!("{events:?}")
    };
    assert!(error.contains("keystone-manage crashed"), "{error}");
    assert_eq!(
        log.as_deref(),
        Some("/var/log/keystone/keystone-manage.log")
    );
    let bootstrap_failed = s
        .journal
        .get("stackbox/keystone.bootstrap")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bootstrap_failed.state, State::Failed);
    // The admin password travels in the failed step's environment: redacted in the event and the journal.
    let admin = s.secrets.get("admin").unwrap().expose().to_owned();
    assert!(
        !error.contains(&admin) && error.contains("[redacted]"),
        "{error}"
    );
    let row = s
        .journal
        .get("stackbox/keystone.bootstrap")
        .await
        .unwrap()
        .unwrap();
    assert!(!row.error.unwrap().contains(&admin));
    // The rerun redoes the failed step and nothing before it.
    let (paused, _) = run(&fake, &s, &plan, Some("keystone.bootstrap")).await;
    assert_eq!(
        paused.acted,
        ["stackbox/keystone.bootstrap"],
        "the failed step is redone, nothing before it"
    );
    let (done, _) = run(&fake, &s, &plan, None).await;
    assert!(done.complete(), "{done:?}");
}

#[tokio::test]
async fn work_already_on_the_machine_is_recognised() {
    let s = setup().await;
    let fake = Fake::default();
    fake.packages.lock().unwrap().extend(
        [
            "mariadb-server",
            "galera-4",
            "mariadb-backup",
            "python3-pymysql",
        ]
        .map(String::from),
    );
    let (summary, _) = run(&fake, &s, &example_plan(|_| {}), Some("mariadb.packages")).await;
    assert_eq!(summary.already_done, ["stackbox/mariadb.packages"]);
}

#[tokio::test]
async fn a_unit_started_by_its_package_restarts_when_its_config_is_written() {
    let s = setup().await;
    let fake = Fake::default();
    // The package's postinst started the service with its default configuration.
    fake.active
        .lock()
        .unwrap()
        .insert("memcached.service".to_owned());
    let plan = example_plan(|_| {});
    let (summary, _) = run(&fake, &s, &plan, Some("memcached.start")).await;
    assert!(
        summary
            .acted
            .contains(&"stackbox/memcached.config".to_owned())
    );
    assert!(
        summary
            .acted
            .contains(&"stackbox/memcached.start".to_owned()),
        "{summary:?}"
    );
    // Restarted, not merely found running (units whose configuration this run wrote restart too).
    assert!(
        fake.restarted
            .lock()
            .unwrap()
            .contains(&"memcached.service".to_owned())
    );
}

/// Issue 10, item 9 (a): for every unit step and every step it watches, the installer dies right after the
/// watched step (its configuration written and journaled), while the unit already runs the package's
/// defaults (its postinst started it). The next run must restart the unit, so that it runs the new
/// configuration, and must not act on anything else that was done.
#[tokio::test]
async fn a_crash_between_a_config_step_and_its_unit_step_restarts_the_unit() {
    let plan = example_plan(|_| {});
    let pairs: Vec<(String, String)> = plan
        .for_node("stackbox")
        .flat_map(|s| s.watch.iter().map(|w| (w.clone(), s.id.clone())))
        .collect();
    assert!(pairs.len() >= 5, "{pairs:?}");
    for (watched, unit_step) in pairs {
        let s = setup().await;
        let fake = Fake::default();
        let (paused, _) = run(&fake, &s, &plan, Some(&watched)).await;
        assert_eq!(paused.paused.as_deref(), Some(watched.as_str()));
        // The package's postinst started every unit of the step on its default configuration.
        if let stackbox_installer::plan::Action::Units { units } =
            &plan.step(&unit_step).unwrap().action
        {
            fake.active.lock().unwrap().extend(units.iter().cloned());
        }
        fake.restarted.lock().unwrap().clear();
        let (resumed, _) = run(&fake, &s, &plan, None).await;
        assert!(resumed.complete(), "{watched} -> {unit_step}: {resumed:?}");
        assert!(
            resumed.acted.contains(&unit_step),
            "{watched} -> {unit_step}: the unit step did not act after the crash: {resumed:?}"
        );
        assert!(
            !resumed.acted.contains(&watched) && !resumed.already_done.contains(&watched),
            "{watched} was done and journaled: it must be skipped as unchanged"
        );
    }
}

/// Issue 10, item 9 (d): state lost or drifted after a finished install (a config file deleted, a unit
/// stopped, a package removed) is found by a cheap look on the next run and repaired; nothing else acts.
#[tokio::test]
async fn lost_state_is_repaired_on_the_next_run() {
    let s = setup().await;
    let fake = Fake::default();
    let plan = example_plan(|_| {});
    assert!(run(&fake, &s, &plan, None).await.0.complete());
    fake.files
        .lock()
        .unwrap()
        .remove("/etc/keystone/keystone.conf");
    fake.active.lock().unwrap().remove("memcached.service");
    fake.packages.lock().unwrap().remove("glance");
    let (repair, events) = run(&fake, &s, &plan, None).await;
    assert!(repair.complete(), "{repair:?}");
    for (repaired, found) in [
        (
            "stackbox/keystone.config",
            "changed or missing: /etc/keystone/keystone.conf",
        ),
        ("stackbox/memcached.start", "not running: memcached.service"),
        // The node's one transaction installs it again (glance's own step then finds it there).
        ("stackbox/packages", "a package is missing"),
    ] {
        assert!(
            repair.acted.contains(&repaired.to_owned()),
            "{repaired} not repaired: {repair:?}"
        );
        // The log says why a done step acts again, and what the look found.
        let again = events.iter().find_map(|e| match e {
            Event::Started { id, again, .. } if id == repaired => again.clone(),
            _ => None,
        });
        assert_eq!(
            again.map(|a| a.to_string()),
            Some(format!("repair: {found}")),
            "{repaired}"
        );
    }
    assert!(
        fake.files
            .lock()
            .unwrap()
            .contains_key("/etc/keystone/keystone.conf")
    );
    assert!(fake.active.lock().unwrap().contains("memcached.service"));
    // And then all is quiet again.
    let (quiet, _) = run(&fake, &s, &plan, None).await;
    assert!(quiet.acted.is_empty(), "{quiet:?}");
}

/// A daemon's certificate judged stale on a later run (the CA was rotated, or its end is near) is put in
/// place again although the journal has its step done with the same inputs, and the daemon restarts.
#[tokio::test]
async fn a_stale_certificate_is_replaced_on_the_next_run_and_its_daemon_restarts() {
    let s = setup().await;
    let fake = Fake::default();
    let plan = example_plan(|_| {});
    assert!(plan.step("stackbox/tls.mariadb").is_some());
    assert!(run(&fake, &s, &plan, None).await.0.complete());
    let (quiet, _) = run(&fake, &s, &plan, None).await;
    assert!(quiet.acted.is_empty(), "{quiet:?}");
    *fake.stale_certificates.lock().unwrap() = ["mariadb".to_owned(), "rabbitmq".to_owned()].into();
    fake.restarted.lock().unwrap().clear();
    let (renewed, events) = run(&fake, &s, &plan, None).await;
    assert!(renewed.complete(), "{renewed:?}");
    assert!(
        renewed.acted.contains(&"stackbox/tls.mariadb".to_owned()),
        "{renewed:?}"
    );
    let again = events.iter().find_map(|e| match e {
        Event::Started { id, again, .. } if id == "stackbox/tls.mariadb" => again.clone(),
        _ => None,
    });
    let again = again.map(|a| a.to_string()).unwrap_or_default();
    assert!(again.contains("not signed by the cluster CA"), "{again}");
    // (RabbitMQ's start watches its certificate; MariaDB's here is the Galera bootstrap, which does
    // not: see the README's renewal section.)
    assert!(
        renewed.acted.contains(&"stackbox/tls.rabbitmq".to_owned()),
        "{renewed:?}"
    );
    assert!(
        fake.restarted
            .lock()
            .unwrap()
            .iter()
            .any(|u| u.starts_with("rabbitmq")),
        "RabbitMQ reads its new certificate: {:?}",
        fake.restarted.lock().unwrap()
    );
    assert!(fake.stale_certificates.lock().unwrap().is_empty());
    let (quiet, _) = run(&fake, &s, &plan, None).await;
    assert!(quiet.acted.is_empty(), "{quiet:?}");
}

#[tokio::test]
async fn a_unit_that_comes_back_by_itself_after_its_start_is_done_one_that_does_not_fails() {
    let s = setup().await;
    let plan = example_plan(|_| {});
    // placement-api meets its predecessor's port for a few looks, then runs (its Restart= did it).
    let fake = Fake::default();
    *fake.settles_after.lock().unwrap() = Some(("placement-api.service".to_owned(), 3));
    let (summary, _) = run(&fake, &s, &plan, None).await;
    assert!(summary.complete(), "{summary:?}");
    assert_eq!(fake.settles_after.lock().unwrap().as_ref().unwrap().1, 0);
    // One that stays down longer than the settle tries: the step is not done, and says so.
    let s = setup().await;
    let fake = Fake::default();
    *fake.settles_after.lock().unwrap() = Some((
        "placement-api.service".to_owned(),
        stackbox_installer::executor::UNIT_SETTLE_TRIES as usize + 5,
    ));
    let exec = Executor {
        system: &fake,
        journal: &s.journal,
        secrets: &s.secrets,
    };
    let summary = exec
        .run(&plan, "stackbox", None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        summary.failed.as_deref(),
        Some("stackbox/placement.start"),
        "{summary:?}"
    );
}
