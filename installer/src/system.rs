//! The real machine: apt through the command runner, files through atomic writes, systemd through its
//! D-Bus API (zbus), MariaDB through sqlx. Only primitive verbs: what is more than a command line (the
//! endpoint certificate, the smoke test) is a `stackboxd` subcommand the plan runs as a command.
//!
//! SQL statements are the plan's own (with generated secrets filled in), never operator input: hence
//! `AssertSqlSafe`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::{ConnectOptions, Connection};
use stackbox_common::cmd::Command;
use stackbox_common::fs::write_atomic;
use stackbox_common::secret::Secret;
use systemd_zbus::{ActiveState, ManagerProxy, Mode, UnitProxy};

use crate::error::StepError;
use crate::executor::System;
use crate::plan::FileSpec;
use crate::service_hold::{
    POLICY_RC_D, SYSTEMD_DIR, ServiceStartsHeld, hold_at_boot, not_installed, release_at_boot,
};

/// MariaDB's socket on Debian, for root's unix-socket authentication on the database node.
pub const MYSQL_SOCKET: &str = "/run/mysqld/mysqld.sock";
/// How long a unit may take to become active.
const UNIT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to wait for dpkg's lock: an orphaned transaction of a killed run may hold it for all of a
/// node's packages (`DPkg::Lock::Timeout` below says the same to apt-get).
const PACKAGE_LOCK_TIMEOUT: Duration = Duration::from_secs(900);

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
    /// The CA that signed the database's certificate (the cluster CA).
    pub db_ca: std::path::PathBuf,
    /// The services the plan starts itself: no package's maintainer script starts them while packages
    /// install ([`crate::service_hold`]).
    pub held_services: Vec<String>,
}

fn io(path: &str) -> impl FnOnce(std::io::Error) -> StepError + '_ {
    move |source| StepError::Io {
        path: path.to_owned(),
        source,
    }
}

fn systemd(what: impl Into<String>) -> impl FnOnce(zbus::Error) -> StepError {
    let what = what.into();
    move |source| StepError::Systemd { what, source }
}

fn sql(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StepError {
    let what = what.into();
    move |source| StepError::Sql { what, source }
}

/// The uid and gid of the file's `user:group` owner (root when none is named); an unknown user or
/// group is an error.
fn owner_ids(file: &FileSpec) -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>, StepError> {
    let Some(owner) = &file.owner else {
        return Ok(None);
    };
    let (user, group) = owner.split_once(':').unwrap_or((owner, owner));
    let lookup = |e: nix::Error| StepError::Io {
        path: file.path.clone(),
        source: e.into(),
    };
    let missing = |what: &str| StepError::Io {
        path: file.path.clone(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no {what} named in owner `{owner}` exists"),
        ),
    };
    let uid = nix::unistd::User::from_name(user)
        .map_err(lookup)?
        .ok_or_else(|| missing("user"))?
        .uid;
    let gid = nix::unistd::Group::from_name(group)
        .map_err(lookup)?
        .ok_or_else(|| missing("group"))?
        .gid;
    Ok(Some((uid, gid)))
}

/// Whether the file holds exactly `content` with its mode and its owner (root:root when none is named):
/// a crash between the write and the chown leaves a file that is not done.
fn file_matches(file: &FileSpec, content: &str) -> Result<bool, StepError> {
    use std::os::unix::fs::MetadataExt;
    let existing = match std::fs::read(&file.path) {
        Ok(existing) => existing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(&file.path)(e)),
    };
    let meta = std::fs::metadata(&file.path).map_err(io(&file.path))?;
    let (uid, gid) = match owner_ids(file) {
        Ok(Some((uid, gid))) => (uid.as_raw(), gid.as_raw()),
        Ok(None) => (0, 0),
        // The owner does not exist yet: the file cannot be done.
        Err(_) => return Ok(false),
    };
    Ok(existing == content.as_bytes()
        && meta.permissions().mode() & 0o7777 == file.mode
        && meta.uid() == uid
        && meta.gid() == gid)
}

impl RealSystem {
    async fn connect(&self, local_root: bool) -> Result<sqlx::MySqlConnection, StepError> {
        let (options, what) = if local_root {
            (
                // The local socket is a secure transport already: no TLS over it.
                MySqlConnectOptions::new()
                    .socket(&self.db_socket)
                    .username("root")
                    .ssl_mode(MySqlSslMode::Disabled),
                format!("connecting as root over {}", self.db_socket.display()),
            )
        } else {
            (
                // Over TLS only (the server requires it), the server's certificate verified against
                // the cluster CA for the address connected to.
                MySqlConnectOptions::new()
                    .host(&self.db_host)
                    .port(self.db_port)
                    .username("stackbox")
                    .password(self.db_password.expose())
                    .ssl_mode(MySqlSslMode::VerifyIdentity)
                    .ssl_ca(&self.db_ca),
                format!(
                    "connecting as stackbox to {}:{} over TLS",
                    self.db_host, self.db_port
                ),
            )
        };
        // The plan's statements carry secrets (CREATE USER ... IDENTIFIED BY): sqlx would log each one at
        // debug level, so `STACKBOX_LOG=debug` would print them.
        options
            .disable_statement_logging()
            .connect()
            .await
            .map_err(sql(what))
    }

    async fn manager() -> Result<(zbus::Connection, ManagerProxy<'static>), StepError> {
        let conn = zbus::Connection::system()
            .await
            .map_err(systemd("connecting to the system bus"))?;
        let manager = ManagerProxy::new(&conn)
            .await
            .map_err(systemd("reaching the service manager"))?;
        Ok((conn, manager))
    }

    async fn state(
        conn: &zbus::Connection,
        manager: &ManagerProxy<'_>,
        unit: &str,
    ) -> Result<ActiveState, StepError> {
        let what = || format!("reading the state of {unit}");
        let path = manager.load_unit(unit).await.map_err(systemd(what()))?;
        let proxy = UnitProxy::builder(conn)
            .path(path)
            .map_err(systemd(what()))?
            .build()
            .await
            .map_err(systemd(what()))?;
        proxy.active_state().await.map_err(systemd(what()))
    }
}

impl System for RealSystem {
    async fn packages_installed(&self, packages: &[String]) -> Result<bool, StepError> {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}\\n"])
            .args(packages)
            .run_async()
            .await;
        Ok(match out {
            Ok(out) => {
                out.stdout.lines().count() == packages.len()
                    && out.stdout.lines().all(|l| l == "install ok installed")
            }
            Err(_) => false,
        })
    }

    async fn install_packages(&self, packages: &[String]) -> Result<String, StepError> {
        // No service the plan starts starts with Debian's defaults during the transaction, nor at a
        // boot before its configuration (a power loss): the plan's start steps enable and start each
        // with its configuration.
        let _held = ServiceStartsHeld::hold(Path::new(POLICY_RC_D), &self.held_services)?;
        let new = not_installed(Path::new("/"), &self.held_services);
        hold_at_boot(Path::new(SYSTEMD_DIR), &new)?;
        apt_install(packages).await
    }

    async fn file_matches(&self, file: &FileSpec, content: &str) -> Result<bool, StepError> {
        file_matches(file, content)
    }

    async fn write_file(&self, file: &FileSpec, content: &str) -> Result<(), StepError> {
        write_atomic(Path::new(&file.path), content.as_bytes(), file.mode)
            .map_err(io(&file.path))?;
        if let Some((uid, gid)) = owner_ids(file)? {
            nix::unistd::chown(Path::new(&file.path), Some(uid), Some(gid)).map_err(|e| {
                StepError::Io {
                    path: file.path.clone(),
                    source: e.into(),
                }
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
        // The units start now, with stackbox's configuration: a boot may start them from here on.
        release_at_boot(Path::new(SYSTEMD_DIR), units)?;
        // As `systemctl` asks after a change: read the unit files and drop-ins the plan wrote.
        manager
            .reload()
            .await
            .map_err(systemd("reloading the unit files".to_owned()))?;
        manager
            .enable_unit_files(&names, false, true)
            .await
            .map_err(systemd(format!("enabling {}", names.join(" "))))?;
        // Wait for each job's JobRemoved signal: its result says whether the start worked, without
        // mistaking the moment between stop and start of a restart for a failure.
        let watch = "watching the start jobs";
        manager.subscribe().await.map_err(systemd(watch))?;
        let mut removed = manager
            .receive_job_removed()
            .await
            .map_err(systemd(watch))?;
        for unit in units {
            let job = if restart {
                manager
                    .restart_unit(unit, Mode::Replace)
                    .await
                    .map_err(systemd(format!("restarting {unit}")))?
            } else {
                manager
                    .start_unit(unit, Mode::Replace)
                    .await
                    .map_err(systemd(format!("starting {unit}")))?
            };
            let result = tokio::time::timeout(UNIT_TIMEOUT, async {
                while let Some(signal) = removed.next().await {
                    let args = signal.args().map_err(systemd(watch))?;
                    if args.job().as_str() == job.as_str() {
                        let result: String = (*args.result()).to_owned();
                        return Ok(result);
                    }
                }
                Err(StepError::Unit("the systemd signal stream ended".into()))
            })
            .await
            .map_err(|_| {
                StepError::Unit(format!(
                    "{unit}: no result within {}s",
                    UNIT_TIMEOUT.as_secs()
                ))
            })??;
            if result != "done" {
                return Err(StepError::Unit(format!(
                    "{unit}: start job ended with `{result}`"
                )));
            }
        }
        for unit in units {
            let state = Self::state(&conn, &manager, unit).await?;
            if state != ActiveState::Active {
                return Err(StepError::Unit(format!(
                    "{unit} is {state:?} after its start job finished"
                )));
            }
        }
        Ok(())
    }

    async fn sql(&self, local_root: bool, statements: &[String]) -> Result<(), StepError> {
        let mut conn = self.connect(local_root).await?;
        for (i, statement) in statements.iter().enumerate() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut conn)
                .await
                .map_err(sql(format!("statement {} of {}", i + 1, statements.len())))?;
        }
        conn.close().await.map_err(sql("closing the connection"))
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
            .map_err(sql("the step's query"))?;
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
        let out = cmd.run_async().await?;
        Ok(out.stdout + &out.stderr)
    }

    async fn path_exists(&self, path: &str) -> bool {
        Path::new(path).exists()
    }

    async fn touch(&self, path: &str) -> Result<(), StepError> {
        write_atomic(Path::new(path), b"", 0o644).map_err(io(path))
    }
}

/// Finishes what dpkg left, then installs `packages` with apt-get.
async fn apt_install(packages: &[String]) -> Result<String, StepError> {
    // An installer killed during a previous run may have left dpkg half-way, or its apt-get may still
    // be running and hold the lock (a node's whole transaction takes minutes): wait for the lock
    // (bounded), then finish what dpkg left.
    let deadline = std::time::Instant::now() + PACKAGE_LOCK_TIMEOUT;
    loop {
        let configure = Command::new("dpkg")
            .args(["--force-confdef", "--force-confold", "--configure", "-a"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run_async()
            .await;
        match configure {
            Ok(_) => break,
            Err(e) if e.to_string().contains("lock") && std::time::Instant::now() < deadline => {
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
            "DPkg::Lock::Timeout=900",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
            "install",
        ])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run_async()
        .await?;
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &std::path::Path, owner: Option<&str>) -> FileSpec {
        FileSpec {
            path: path.display().to_string(),
            mode: 0o640,
            owner: owner.map(str::to_owned),
            content: "x = 1\n".into(),
        }
    }

    #[test]
    fn a_file_with_the_wrong_owner_is_not_done() -> Result<(), Box<dyn std::error::Error>> {
        if !nix::unistd::geteuid().is_root() {
            return Err("this test changes owners: run it as root".into());
        }
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("service.conf");
        let f = spec(&path, Some("nobody:nogroup"));
        // The crash between rename and chown: content and mode are right, the owner is root.
        write_atomic(&path, b"x = 1\n", 0o640)?;
        assert!(!file_matches(&f, "x = 1\n")?);
        assert!(file_matches(&spec(&path, None), "x = 1\n")?);
        nix::unistd::chown(
            &path,
            nix::unistd::User::from_name("nobody")?.map(|u| u.uid),
            nix::unistd::Group::from_name("nogroup")?.map(|g| g.gid),
        )?;
        assert!(file_matches(&f, "x = 1\n")?);
        assert!(!file_matches(&spec(&path, None), "x = 1\n")?);
        assert!(!file_matches(
            &spec(&path, Some("no-such-user:root")),
            "x = 1\n"
        )?);
        Ok(())
    }
}
