//! The real machine's side of an apply: `networkctl` for networkd, `systemd-run` for the revert timer (a
//! transient unit of systemd's, so it fires whatever becomes of stackboxd), `chronyc` for chrony, and the
//! probe of [`super::probe`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use stackbox_common::cmd::Command;

use super::Host;
use super::probe::Probe;
use crate::model::NetworkSettings;

/// The transient unit that reverts an unconfirmed change.
pub const REVERT_UNIT: &str = "stackbox-network-revert";

/// This machine.
pub struct SystemHost {
    /// The `stackboxd` the revert timer runs.
    pub stackboxd: PathBuf,
    /// Cluster peers that must answer on TCP after the change (address and port).
    pub peers: Vec<SocketAddr>,
    /// How long links and addresses may take to settle before the probe fails.
    pub settle: Duration,
}

fn run(command: Command) -> Result<String, String> {
    command
        .run()
        .map(|out| out.stdout)
        .map_err(|e| e.to_string())
}

impl Host for SystemHost {
    fn arm_revert(&self, seconds: u64) -> Result<(), String> {
        self.disarm_revert()?;
        run(Command::new("systemd-run")
            .arg(format!("--unit={REVERT_UNIT}"))
            .arg(format!("--on-active={seconds}s"))
            .arg("--timer-property=AccuracySec=100ms")
            .arg("--description=Revert the unconfirmed stackbox network change")
            .arg("--")
            .arg(&self.stackboxd)
            .args(["network", "revert", "--reason"])
            .arg(format!("no confirmation within {seconds} s")))
        .map(drop)
    }

    fn disarm_revert(&self) -> Result<(), String> {
        // Stopping the timer of a revert that is running leaves the running revert alone.
        let timer = format!("{REVERT_UNIT}.timer");
        let _ = Command::new("systemctl").args(["stop", &timer]).run();
        let _ = Command::new("systemctl")
            .args(["reset-failed", &timer, &format!("{REVERT_UNIT}.service")])
            .run();
        Ok(())
    }

    fn delete_link(&self, name: &str) -> Result<(), String> {
        if super::probe::operstate(name).is_none() {
            return Ok(());
        }
        run(Command::new("ip").args(["link", "delete", "dev", name])).map(drop)
    }

    fn reload(&self, links: &[String]) -> Result<(), String> {
        run(Command::new("networkctl").arg("reload"))?;
        let present: Vec<&String> = links
            .iter()
            .filter(|l| super::probe::operstate(l).is_some())
            .collect();
        if present.is_empty() {
            return Ok(());
        }
        run(Command::new("networkctl").arg("reconfigure").args(present)).map(drop)
    }

    fn reload_time_sources(&self) -> Result<(), String> {
        run(Command::new("chronyc").args(["reload", "sources"])).map(drop)
    }

    fn probe(&self, settings: &NetworkSettings) -> Result<Vec<String>, String> {
        Probe {
            settings,
            peers: &self.peers,
            settle: self.settle,
        }
        .run()
    }
}
