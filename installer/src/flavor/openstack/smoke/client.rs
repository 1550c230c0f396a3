//! The smoke test's conversation with the cloud through the `openstack` client: upload the guest, make a
//! flavor and a tenant network, boot the server, wait until it is ACTIVE, read its console for the
//! marker, and clean up whatever a run (also an interrupted one) left behind.

use std::path::Path;
use std::time::{Duration, Instant};

use stackbox_common::cmd::Command;

use super::error::{MARKER, NAME, SmokeError, fail};
use super::guest::build_guest;

/// How long the server may take to become ACTIVE, and then to print the marker (TCG is slow).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The `openstack` client with the admin credentials, and the report so far.
pub struct Client<'a> {
    /// Extra environment for every command (the credentials, unless the process has them).
    pub env: &'a [(String, String)],
    /// What happened, one line per stage.
    pub log: String,
}

impl Client<'_> {
    fn openstack(&mut self, args: &[&str]) -> Result<String, SmokeError> {
        let mut cmd = Command::new("openstack").args(args);
        for (k, v) in self.env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run()?;
        Ok(out.stdout.trim().to_owned())
    }

    /// Adds a line to the report.
    pub fn note(&mut self, line: impl Into<String>) {
        self.log.push_str(&line.into());
        self.log.push('\n');
    }

    /// Deletes whatever a run left behind (ignoring what does not exist).
    pub fn cleanup(&mut self) {
        let _ = self.openstack(&["server", "delete", "--wait", NAME]);
        let _ = self.openstack(&["subnet", "delete", NAME]);
        let _ = self.openstack(&["network", "delete", NAME]);
        for image in [NAME, &format!("{NAME}-kernel"), &format!("{NAME}-ramdisk")] {
            let _ = self.openstack(&["image", "delete", image]);
        }
        let _ = self.openstack(&["flavor", "delete", NAME]);
    }

    /// Boots the test VM and reads the marker on its console.
    pub fn run(&mut self) -> Result<(), SmokeError> {
        let (kernel, initrd, disk) = build_guest()?;
        self.note(format!("guest built from {}", kernel.display()));
        self.upload(&kernel, &initrd, &disk)?;
        self.note("images uploaded to glance");
        self.network()?;
        self.note("flavor, network and subnet created");
        self.boot()?;
        self.console()
    }

    /// Uploads kernel, ramdisk and the disk image that boots them.
    fn upload(&mut self, kernel: &Path, initrd: &Path, disk: &Path) -> Result<(), SmokeError> {
        let mut image = |format: &str, file: &Path, name: &str, properties: &[String]| {
            let file = file.to_string_lossy();
            let container = if format == "raw" { "bare" } else { format };
            let mut args = vec![
                "image",
                "create",
                "--disk-format",
                format,
                "--container-format",
                container,
                "--file",
                &file,
            ];
            for p in properties {
                args.extend(["--property", p.as_str()]);
            }
            args.extend(["-f", "value", "-c", "id", name]);
            self.openstack(&args)
        };
        let k = image("aki", kernel, &format!("{NAME}-kernel"), &[])?;
        let r = image("ari", initrd, &format!("{NAME}-ramdisk"), &[])?;
        image(
            "raw",
            disk,
            NAME,
            &[
                format!("kernel_id={k}"),
                format!("ramdisk_id={r}"),
                "os_command_line=console=ttyS0".to_owned(),
            ],
        )?;
        Ok(())
    }

    /// The flavor, the tenant network and its subnet.
    fn network(&mut self) -> Result<(), SmokeError> {
        self.openstack(&[
            "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", NAME,
        ])?;
        self.openstack(&["network", "create", NAME])?;
        self.openstack(&[
            "subnet",
            "create",
            "--network",
            NAME,
            "--subnet-range",
            "192.168.222.0/24",
            NAME,
        ])?;
        Ok(())
    }

    /// Creates the server and waits until it is ACTIVE.
    fn boot(&mut self) -> Result<(), SmokeError> {
        self.openstack(&[
            "server",
            "create",
            "--flavor",
            NAME,
            "--image",
            NAME,
            "--network",
            NAME,
            NAME,
        ])?;
        let started = Instant::now();
        loop {
            let status =
                self.openstack(&["server", "show", NAME, "-f", "value", "-c", "status"])?;
            match status.as_str() {
                "ACTIVE" => break,
                "ERROR" => {
                    let fault = self
                        .openstack(&["server", "show", NAME, "-f", "value", "-c", "fault"])
                        .unwrap_or_default();
                    return Err(fail(format!("the test server went to ERROR: {fault}")));
                }
                _ if started.elapsed() > ACTIVE_TIMEOUT => {
                    return Err(fail(format!(
                        "the test server is still {status} after {}s",
                        ACTIVE_TIMEOUT.as_secs()
                    )));
                }
                _ => std::thread::sleep(Duration::from_secs(2)),
            }
        }
        self.note(format!(
            "server ACTIVE after {:.0}s",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// Reads the console until the marker shows with an address, the kernel panics or time runs out.
    fn console(&mut self) -> Result<(), SmokeError> {
        let booted = Instant::now();
        loop {
            let console = self
                .openstack(&["console", "log", "show", NAME])
                .unwrap_or_default();
            if let Some(line) = console.lines().find(|l| l.contains(MARKER)) {
                let address = line
                    .split("address=")
                    .nth(1)
                    .unwrap_or("none")
                    .trim()
                    .to_owned();
                if address == "none" {
                    return Err(fail(format!(
                        "the test VM booted but got no DHCP address from neutron; its console ends:\n{}",
                        last_lines(&console, 15)
                    )));
                }
                self.note(format!(
                    "console: {} (after {:.0}s)",
                    line.trim(),
                    booted.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if console.contains("Kernel panic") || booted.elapsed() > CONSOLE_TIMEOUT {
                return Err(fail(format!(
                    "no {MARKER} on the test VM's console after {:.0}s; last lines:\n{}",
                    booted.elapsed().as_secs_f64(),
                    last_lines(&console, 10)
                )));
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

/// The last `n` lines of `text`, in order.
fn last_lines(text: &str, n: usize) -> String {
    let tail: Vec<&str> = text.lines().rev().take(n).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}
