//! The real machine: apt through the command runner, files through atomic writes, systemd through its
//! D-Bus API (zbus), MariaDB through sqlx, certificates through rcgen.
//!
//! SQL statements are the plan's own (with generated secrets filled in), never operator input: hence
//! `AssertSqlSafe`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection};
use stackbox_common::cmd::Command;
use stackbox_common::fs::write_atomic;
use stackbox_common::secret::Secret;
use systemd_zbus::{ActiveState, ManagerProxy, Mode, UnitProxy};

use crate::error::StepError;
use crate::executor::System;
use crate::plan::FileSpec;

/// MariaDB's socket on Debian, for root's unix-socket authentication on the database node.
pub const MYSQL_SOCKET: &str = "/run/mysqld/mysqld.sock";
/// How long a unit may take to become active.
const UNIT_TIMEOUT: Duration = Duration::from_secs(300);
/// The cluster CA and endpoint certificate.
const CA_CERT: &str = "/etc/stackbox/ca.pem";
const CA_KEY: &str = "/etc/stackbox/ca-key.pem";
const ENDPOINT_PEM: &str = "/etc/haproxy/stackbox.pem";

/// This node.
pub struct RealSystem {
    /// Where the `stackbox` database user connects to.
    pub db_host: String,
    /// The database's TCP port (3306).
    pub db_port: u16,
    /// MariaDB's local socket, for root's unix-socket authentication on the database node.
    pub db_socket: std::path::PathBuf,
    /// That user's password.
    pub db_password: Secret,
    /// A certificate and key (PEM) to serve instead of generated ones.
    pub provided_tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

fn io(path: &str) -> impl FnOnce(std::io::Error) -> StepError + '_ {
    move |source| StepError::Io {
        path: path.to_owned(),
        source,
    }
}

fn systemd(e: zbus::Error) -> StepError {
    StepError::Systemd(e.to_string())
}

fn sql(e: sqlx::Error) -> StepError {
    StepError::Sql(e.to_string())
}

impl RealSystem {
    async fn connect(&self, local_root: bool) -> Result<sqlx::MySqlConnection, StepError> {
        let options = if local_root {
            MySqlConnectOptions::new()
                .socket(&self.db_socket)
                .username("root")
        } else {
            MySqlConnectOptions::new()
                .host(&self.db_host)
                .port(self.db_port)
                .username("stackbox")
                .password(self.db_password.expose())
        };
        options.connect().await.map_err(sql)
    }

    async fn manager() -> Result<(zbus::Connection, ManagerProxy<'static>), StepError> {
        let conn = zbus::Connection::system().await.map_err(systemd)?;
        let manager = ManagerProxy::new(&conn).await.map_err(systemd)?;
        Ok((conn, manager))
    }

    async fn state(
        conn: &zbus::Connection,
        manager: &ManagerProxy<'_>,
        unit: &str,
    ) -> Result<ActiveState, StepError> {
        let path = manager.load_unit(unit).await.map_err(systemd)?;
        let proxy = UnitProxy::builder(conn)
            .path(path)
            .map_err(systemd)?
            .build()
            .await
            .map_err(systemd)?;
        proxy.active_state().await.map_err(systemd)
    }
}

impl System for RealSystem {
    async fn packages_installed(&self, packages: &[String]) -> Result<bool, StepError> {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}\\n"])
            .args(packages)
            .run();
        Ok(match out {
            Ok(out) => {
                out.stdout.lines().count() == packages.len()
                    && out.stdout.lines().all(|l| l == "install ok installed")
            }
            Err(_) => false,
        })
    }

    async fn install_packages(&self, packages: &[String]) -> Result<String, StepError> {
        // An installer killed during a previous run may have left dpkg half-way, or its apt-get may still
        // be running and hold the lock: wait for the lock (bounded), then finish what dpkg left.
        let deadline = std::time::Instant::now() + UNIT_TIMEOUT;
        loop {
            let configure = Command::new("dpkg")
                .args(["--force-confdef", "--force-confold", "--configure", "-a"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run();
            match configure {
                Ok(_) => break,
                Err(e)
                    if e.to_string().contains("lock") && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let out = Command::new("apt-get")
            .args([
                "-y",
                "-q",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=300",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                "install",
            ])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()?;
        Ok(out.stdout)
    }

    async fn file_matches(&self, file: &FileSpec, content: &str) -> Result<bool, StepError> {
        match std::fs::read(&file.path) {
            Ok(existing) => {
                let mode = std::fs::metadata(&file.path)
                    .map_err(io(&file.path))?
                    .permissions()
                    .mode()
                    & 0o7777;
                Ok(existing == content.as_bytes() && mode == file.mode)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(&file.path)(e)),
        }
    }

    async fn write_file(&self, file: &FileSpec, content: &str) -> Result<(), StepError> {
        write_atomic(Path::new(&file.path), content.as_bytes(), file.mode)
            .map_err(io(&file.path))?;
        if let Some(owner) = &file.owner {
            let (user, group) = owner.split_once(':').unwrap_or((owner, owner));
            let uid = nix::unistd::User::from_name(user)
                .map_err(|e| StepError::Io {
                    path: file.path.clone(),
                    source: e.into(),
                })?
                .map(|u| u.uid);
            let gid = nix::unistd::Group::from_name(group)
                .map_err(|e| StepError::Io {
                    path: file.path.clone(),
                    source: e.into(),
                })?
                .map(|g| g.gid);
            nix::unistd::chown(Path::new(&file.path), uid, gid).map_err(|e| StepError::Io {
                path: file.path.clone(),
                source: e.into(),
            })?;
        }
        Ok(())
    }

    async fn units_active(&self, units: &[String]) -> Result<bool, StepError> {
        let (conn, manager) = Self::manager().await?;
        for unit in units {
            if Self::state(&conn, &manager, unit).await? != ActiveState::Active {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn start_units(&self, units: &[String], restart: bool) -> Result<(), StepError> {
        use futures::StreamExt;
        let (conn, manager) = Self::manager().await?;
        let names: Vec<&str> = units.iter().map(String::as_str).collect();
        manager
            .enable_unit_files(&names, false, true)
            .await
            .map_err(systemd)?;
        // Wait for each job's JobRemoved signal: its result says whether the start worked, without
        // mistaking the moment between stop and start of a restart for a failure.
        manager.subscribe().await.map_err(systemd)?;
        let mut removed = manager.receive_job_removed().await.map_err(systemd)?;
        for unit in units {
            let job = if restart {
                manager
                    .restart_unit(unit, Mode::Replace)
                    .await
                    .map_err(systemd)?
            } else {
                manager
                    .start_unit(unit, Mode::Replace)
                    .await
                    .map_err(systemd)?
            };
            let result = tokio::time::timeout(UNIT_TIMEOUT, async {
                while let Some(signal) = removed.next().await {
                    let args = signal.args().map_err(systemd)?;
                    if args.job().as_str() == job.as_str() {
                        let result: String = (*args.result()).to_owned();
                        return Ok(result);
                    }
                }
                Err(StepError::Systemd("the systemd signal stream ended".into()))
            })
            .await
            .map_err(|_| {
                StepError::Systemd(format!(
                    "{unit}: no result within {}s",
                    UNIT_TIMEOUT.as_secs()
                ))
            })??;
            if result != "done" {
                return Err(StepError::Systemd(format!(
                    "{unit}: start job ended with `{result}`"
                )));
            }
        }
        for unit in units {
            let state = Self::state(&conn, &manager, unit).await?;
            if state != ActiveState::Active {
                return Err(StepError::Systemd(format!(
                    "{unit} is {state:?} after its start job finished"
                )));
            }
        }
        Ok(())
    }

    async fn sql(&self, local_root: bool, statements: &[String]) -> Result<(), StepError> {
        let mut conn = self.connect(local_root).await?;
        for statement in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut conn)
                .await
                .map_err(sql)?;
        }
        conn.close().await.map_err(sql)
    }

    async fn sql_rows(&self, local_root: bool, query: &str) -> Result<bool, StepError> {
        let mut conn = match self.connect(local_root).await {
            Ok(c) => c,
            // No server, or no such user yet: not done.
            Err(_) => return Ok(false),
        };
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_all(&mut conn)
            .await
            .map_err(sql)?;
        let _ = conn.close().await;
        Ok(!rows.is_empty())
    }

    async fn run(&self, argv: &[String], env: &[(String, String)]) -> Result<String, StepError> {
        let (program, args) = argv
            .split_first()
            .ok_or(StepError::NotDone("empty command".into()))?;
        let mut cmd = Command::new(program).args(args);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run()?;
        Ok(out.stdout + &out.stderr)
    }

    async fn path_exists(&self, path: &str) -> bool {
        Path::new(path).exists()
    }

    async fn touch(&self, path: &str) -> Result<(), StepError> {
        write_atomic(Path::new(path), b"", 0o644).map_err(io(path))
    }

    async fn certificate(&self, names: &[String]) -> Result<(), StepError> {
        if let Some((cert, key)) = &self.provided_tls {
            let read = |p: &Path| {
                std::fs::read_to_string(p).map_err(|source| StepError::Io {
                    path: p.display().to_string(),
                    source,
                })
            };
            let (cert, key) = (read(cert)?, read(key)?);
            write_atomic(Path::new(CA_CERT), cert.as_bytes(), 0o644).map_err(io(CA_CERT))?;
            return write_atomic(
                Path::new(ENDPOINT_PEM),
                format!("{cert}{key}").as_bytes(),
                0o600,
            )
            .map_err(io(ENDPOINT_PEM));
        }
        let tls = |e: rcgen::Error| StepError::NotDone(format!("making the certificate: {e}"));
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "stackbox cluster CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_key = rcgen::KeyPair::generate().map_err(tls)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
        let mut leaf_params = rcgen::CertificateParams::new(names.to_vec()).map_err(tls)?;
        leaf_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("stackbox"),
        );
        let leaf_key = rcgen::KeyPair::generate().map_err(tls)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(tls)?;
        write_atomic(Path::new(CA_KEY), issuer_key_pem(&issuer).as_bytes(), 0o600)
            .map_err(io(CA_KEY))?;
        write_atomic(Path::new(CA_CERT), ca_cert.pem().as_bytes(), 0o644).map_err(io(CA_CERT))?;
        // Written last: its existence is the step's evidence.
        write_atomic(
            Path::new(ENDPOINT_PEM),
            format!("{}{}", leaf.pem(), leaf_key.serialize_pem()).as_bytes(),
            0o600,
        )
        .map_err(io(ENDPOINT_PEM))
    }

    async fn smoke(&self, env: &[(String, String)]) -> Result<String, StepError> {
        let env = env.to_vec();
        tokio::task::spawn_blocking(move || crate::smoke::run(&env))
            .await
            .map_err(|e| StepError::NotDone(format!("the smoke test did not finish: {e}")))?
    }
}

fn issuer_key_pem(issuer: &rcgen::Issuer<'_, rcgen::KeyPair>) -> String {
    issuer.key().serialize_pem()
}
