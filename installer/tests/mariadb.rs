//! The database steps of the all-in-one plan against a real MariaDB: a private server on loopback with
//! its own data directory, started by the test (Debian's mariadb-server must be installed; without it the
//! test fails, it does not skip), with the appliance's TLS settings: a certificate from a cluster CA and
//! `require_secure_transport`. Exercises root's unix-socket login, the `stackbox` user over TLS (a plain
//! connection and a server of another CA refused), the steps' own "already done" queries, and the journal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::build_plan;
use stackbox_installer::executor::{Executor, System};
use stackbox_installer::journal::Journal;
use stackbox_installer::plan::{NodeFacts, Plan};
use stackbox_installer::secrets::Secrets;
use stackbox_installer::system::RealSystem;

struct Server {
    child: Child,
    socket: PathBuf,
    port: u16,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a private mariadbd on 127.0.0.1 and waits until it accepts connections on its socket.
fn start_mariadb() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("mysqld.sock");
    let install = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ])
        .arg(format!("--datadir={}", data.display()))
        .output()
        .expect("mariadb-install-db is needed for this test (apt-get install mariadb-server)");
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let port = free_port();
    // The server's certificate from a cluster CA, as `stackboxd certificate --service mariadb` makes it.
    let tls = stackbox_installer::service_tls::ServicePaths {
        ca_cert: dir.path().join("ca.pem"),
        ca_key: dir.path().join("ca-key.pem"),
        assigned: dir.path().join("assigned.pem"),
        cert: dir.path().join("tls/cert.pem"),
        key: dir.path().join("tls/key.pem"),
        group: None,
    };
    stackbox_installer::service_tls::ensure(&tls, &["localhost".into(), "127.0.0.1".into()])
        .unwrap();
    let log = std::fs::File::create(dir.path().join("error.log")).unwrap();
    let child = Command::new("mariadbd")
        .args([
            "--no-defaults",
            "--user=root",
            "--bind-address=127.0.0.1",
            "--skip-log-bin",
            "--require-secure-transport=ON",
        ])
        .arg(format!("--ssl-ca={}", tls.ca_cert.display()))
        .arg(format!("--ssl-cert={}", tls.cert.display()))
        .arg(format!("--ssl-key={}", tls.key.display()))
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--port={port}"))
        .arg(format!(
            "--pid-file={}",
            dir.path().join("mysqld.pid").display()
        ))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("mariadbd is needed for this test (apt-get install mariadb-server)");
    let mut server = Server {
        child,
        socket,
        port,
        ca: tls.ca_cert.clone(),
        _dir: dir,
    };
    // The server announces readiness by accepting on its socket.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&server.socket).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log =
                std::fs::read_to_string(server._dir.path().join("error.log")).unwrap_or_default();
            panic!("mariadbd exited ({status}):\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "mariadbd did not accept connections within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.port = port;
    server
}

/// The all-in-one plan's database steps only.
fn database_steps() -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/allinone.toml");
    let config =
        ClusterConfig::from_toml("allinone", &std::fs::read_to_string(path).unwrap()).unwrap();
    let facts = [("stackbox".to_owned(), NodeFacts::default())].into();
    let mut plan = build_plan(&config, &Catalog::embedded().unwrap(), &facts).unwrap();
    plan.steps
        .retain(|s| s.name == "mariadb.admin" || s.name == "databases");
    assert_eq!(plan.steps.len(), 2);
    plan
}

#[tokio::test]
async fn database_steps_against_a_real_mariadb() {
    let server = start_mariadb();
    let state = tempfile::tempdir().unwrap();
    let secrets = Secrets::load_or_generate(&state.path().join("secrets.toml")).unwrap();
    let system = RealSystem {
        db_host: "127.0.0.1".into(),
        db_port: server.port,
        db_socket: server.socket.clone(),
        db_password: secrets.get("db-stackbox").unwrap().clone(),
        db_ca: server.ca.clone(),
        held_services: Vec::new(),
    };
    let plan = database_steps();

    // Before anything runs, neither step is done.
    assert!(
        !system
            .sql_rows(true, "SELECT 1 FROM mysql.user WHERE User = 'stackbox'")
            .await
            .unwrap()
    );

    let journal = Journal::open(&state.path().join("journal.db"))
        .await
        .unwrap();
    let exec = Executor {
        system: &system,
        journal: &journal,
        secrets: &secrets,
    };
    let mut events = Vec::new();
    let first = exec
        .run(&plan, "stackbox", None, &mut |e| events.push(e))
        .await
        .unwrap();
    assert!(first.complete(), "{first:?} {events:?}");
    assert_eq!(
        first.acted,
        ["stackbox/mariadb.admin", "stackbox/databases"]
    );

    // The services' users can log in over TCP with their generated passwords and see their databases.
    for (user, db) in [
        ("keystone", "keystone"),
        ("nova", "nova_cell0"),
        ("neutron", "neutron"),
    ] {
        let url = format!(
            "mysql://{user}:{}@127.0.0.1:{}/{db}",
            secrets.get(&format!("db-{user}")).unwrap().expose(),
            server.port
        );
        let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS probe (id INT)")
            .execute(&mut conn)
            .await
            .unwrap();
    }

    // A rerun skips both; a lost journal is rebuilt from the database itself.
    let second = exec
        .run(&plan, "stackbox", None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(second.unchanged.len(), 2);
    let fresh = Journal::open(&state.path().join("journal-2.db"))
        .await
        .unwrap();
    let rebuilt = Executor {
        system: &system,
        journal: &fresh,
        secrets: &secrets,
    };
    let third = rebuilt
        .run(&plan, "stackbox", None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        third.already_done,
        ["stackbox/mariadb.admin", "stackbox/databases"]
    );

    // Statements are idempotent: running them again on a database that has everything succeeds.
    if let stackbox_installer::plan::Action::Sql {
        statements,
        local_root,
    } = &plan.steps[1].action
    {
        let filled: Vec<String> = statements
            .iter()
            .map(|s| secrets.fill(s).unwrap())
            .collect();
        system.sql(*local_root, &filled).await.unwrap();
    }

    // A plain connection with the same (right) password is refused by the server: MariaDB says
    // "insecure transport", or, as 10.11 does for a client that never offered TLS, denies the login.
    use sqlx::{ConnectOptions, mysql::MySqlConnectOptions, mysql::MySqlSslMode};
    let plain = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(server.port)
        .username("stackbox")
        .password(secrets.get("db-stackbox").unwrap().expose())
        .ssl_mode(MySqlSslMode::Disabled)
        .connect()
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        plain.contains("insecure transport") || plain.contains("Access denied"),
        "{plain}"
    );
    // A server whose certificate another CA signed is not trusted.
    let other = tempfile::tempdir().unwrap();
    stackbox_installer::certificate::ensure_ca(
        &other.path().join("ca.pem"),
        &other.path().join("ca-key.pem"),
    )
    .unwrap();
    let foreign = RealSystem {
        db_ca: other.path().join("ca.pem"),
        db_password: secrets.get("db-stackbox").unwrap().clone(),
        db_host: system.db_host.clone(),
        db_port: system.db_port,
        db_socket: system.db_socket.clone(),
        held_services: Vec::new(),
    };
    let err = foreign
        .sql(false, &["SELECT 1".to_owned()])
        .await
        .unwrap_err();
    assert!(
        stackbox_common::error::chain(&err).contains("certificate"),
        "{}",
        stackbox_common::error::chain(&err)
    );

    // A wrong password fails, and the failure names the database, not the password.
    let wrong = RealSystem {
        db_password: String::from("not-the-password").into(),
        ..system
    };
    let err = wrong
        .sql(false, &["SELECT 1".to_owned()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("database: ") && err.contains("stackbox"),
        "{err}"
    );
}
