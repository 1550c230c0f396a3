//! The smoke test's conversation with the cloud through the `openstack` client: upload the guest, make a
//! flavor, a tenant network with a router and a port, boot the server with a config drive, wait until it
//! is ACTIVE, read its console for the marker, and clean up whatever a run (also an interrupted one) left
//! behind. Every call is timed; a neutron call slower than [`NEUTRON_LIMIT`] fails the test (neutron's
//! API once hung on calls that notify the agents).

use std::path::Path;
use std::time::{Duration, Instant};

use stackbox_common::cmd::Command;

use super::error::{MARKER, NAME, SmokeError, fail};
use super::guest::build_guest;

/// How long the server may take to become ACTIVE, and then to print the marker (TCG is slow).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest any one `openstack` call may run before it is killed.
const CALL_TIMEOUT: Duration = Duration::from_secs(180);
/// The slowest a neutron call may answer, the client's own start (about 2 s) included.
pub const NEUTRON_LIMIT: Duration = Duration::from_secs(30);
/// The config drive's ISO 9660 volume label, and where nova keeps an instance's drive.
const CONFIG_DRIVE_LABEL: &[u8] = b"config-2";
const INSTANCES: &str = "/var/lib/nova/instances";

/// The `openstack` client with the admin credentials, and the report so far.
pub struct Client<'a> {
    /// Extra environment for every command (the credentials, unless the process has them).
    pub env: &'a [(String, String)],
    /// What happened, one line per stage.
    pub log: String,
    /// Each neutron call (`network create`, ...) and how long it took.
    pub neutron_calls: Vec<(String, Duration)>,
    /// The compute node the VM must boot on (the admin's `--availability-zone nova:HOST`), else the
    /// scheduler's choice.
    pub host: Option<&'a str>,
}

/// The neutron commands of the `openstack` client (the first word of a call).
fn is_neutron(args: &[&str]) -> bool {
    matches!(
        args.first(),
        Some(&("network" | "subnet" | "router" | "port"))
    )
}

impl Client<'_> {
    fn openstack(&mut self, args: &[&str]) -> Result<String, SmokeError> {
        // coreutils' timeout bounds a call that never answers; the argv holds no secret.
        let limit = format!("{}", CALL_TIMEOUT.as_secs());
        let mut cmd = Command::new("timeout")
            .args(["--kill-after=10", &limit, "openstack"])
            .args(args);
        for (k, v) in self.env {
            cmd = cmd.env(k, v);
        }
        let started = Instant::now();
        let out = cmd.run();
        if is_neutron(args) {
            let call = args.iter().take(3).copied().collect::<Vec<_>>().join(" ");
            self.neutron_calls.push((call, started.elapsed()));
        }
        Ok(out?.stdout.trim().to_owned())
    }

    /// The neutron calls' times for the report, and an error naming the ones slower than the limit.
    pub fn judge_neutron(&mut self) -> Result<(), SmokeError> {
        let times: Vec<String> = self
            .neutron_calls
            .iter()
            .map(|(call, t)| format!("{call} {:.1}s", t.as_secs_f64()))
            .collect();
        self.note(format!("neutron calls: {}", times.join(", ")));
        let slow: Vec<String> = self
            .neutron_calls
            .iter()
            .filter(|(_, t)| *t > NEUTRON_LIMIT)
            .map(|(call, t)| format!("`{call}` took {:.0}s", t.as_secs_f64()))
            .collect();
        if slow.is_empty() {
            Ok(())
        } else {
            Err(fail(format!(
                "neutron answered slower than {}s: {}",
                NEUTRON_LIMIT.as_secs(),
                slow.join(", ")
            )))
        }
    }

    /// Adds a line to the report.
    pub fn note(&mut self, line: impl Into<String>) {
        self.log.push_str(&line.into());
        self.log.push('\n');
    }

    /// Deletes whatever a run left behind (ignoring what does not exist).
    pub fn cleanup(&mut self) {
        let _ = self.openstack(&["server", "delete", "--wait", NAME]);
        let _ = self.openstack(&["port", "delete", NAME]);
        if self.exists(&["router", "show", NAME]) {
            let _ = self.openstack(&["router", "remove", "subnet", NAME, NAME]);
            let _ = self.openstack(&["router", "delete", NAME]);
        }
        let _ = self.openstack(&["subnet", "delete", NAME]);
        let _ = self.openstack(&["network", "delete", NAME]);
        for image in [NAME, &format!("{NAME}-kernel"), &format!("{NAME}-ramdisk")] {
            let _ = self.openstack(&["image", "delete", image]);
        }
        let _ = self.openstack(&["flavor", "delete", NAME]);
    }

    /// Whether a `show` call finds the resource (not timed: an absent router answers quickly either way).
    fn exists(&mut self, args: &[&str]) -> bool {
        let mut cmd = Command::new("openstack")
            .args(args)
            .args(["-f", "value", "-c", "id"]);
        for (k, v) in self.env {
            cmd = cmd.env(k, v);
        }
        cmd.run().is_ok()
    }

    /// Boots the test VM and reads the marker on its console.
    pub fn run(&mut self) -> Result<(), SmokeError> {
        let (kernel, initrd, disk) = build_guest()?;
        self.note(format!("guest built from {}", kernel.display()));
        self.upload(&kernel, &initrd, &disk)?;
        self.note("images uploaded to glance");
        self.network()?;
        self.note("flavor, network, subnet, router and port created");
        self.boot()?;
        self.config_drive()?;
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
        // A router with an interface on the subnet, and a port: neutron notifies the L3 and DHCP agents.
        self.openstack(&["router", "create", NAME])?;
        self.openstack(&["router", "add", "subnet", NAME, NAME])?;
        self.openstack(&["port", "create", "--network", NAME, NAME])?;
        Ok(())
    }

    /// Creates the server and waits until it is ACTIVE.
    fn boot(&mut self) -> Result<(), SmokeError> {
        let zone = self.host.map(|h| format!("nova:{h}"));
        let mut args = vec![
            "server",
            "create",
            "--flavor",
            NAME,
            "--image",
            NAME,
            "--network",
            NAME,
            "--config-drive",
            "True",
        ];
        if let Some(zone) = &zone {
            args.extend(["--availability-zone", zone.as_str()]);
        }
        args.push(NAME);
        self.openstack(&args)?;
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
        let on = self.openstack(&[
            "server",
            "show",
            NAME,
            "-f",
            "value",
            "-c",
            "OS-EXT-SRV-ATTR:host",
        ])?;
        self.note(format!(
            "server ACTIVE after {:.0}s on {on}",
            started.elapsed().as_secs_f64()
        ));
        match self.host {
            Some(host) if host != on => Err(fail(format!(
                "the test server runs on {on}, not on {host} as asked"
            ))),
            _ => Ok(()),
        }
    }

    /// The server was built with a config drive (nova writes it with genisoimage before the VM starts, so
    /// ACTIVE already proves it could); on this node, its ISO must carry the `config-2` label.
    fn config_drive(&mut self) -> Result<(), SmokeError> {
        let shown = self.openstack(&["server", "show", NAME, "-f", "json"])?;
        let server: serde_json::Value = serde_json::from_str(&shown)
            .map_err(|e| fail(format!("`openstack server show` printed no JSON: {e}")))?;
        let drive = server["config_drive"].as_str().unwrap_or_default();
        let id = server["id"].as_str().unwrap_or_default();
        if !matches!(drive, "True" | "true") || id.is_empty() {
            return Err(fail(format!(
                "the test server has no config drive (config_drive: `{drive}`)"
            )));
        }
        let iso = Path::new(INSTANCES).join(id).join("disk.config");
        match std::fs::read(&iso) {
            Ok(bytes) if volume_label(&bytes).starts_with(CONFIG_DRIVE_LABEL) => {
                self.note(format!("config drive {} labelled config-2", iso.display()));
                Ok(())
            }
            Ok(_) => Err(fail(format!(
                "{} is not a config drive: no config-2 label",
                iso.display()
            ))),
            Err(_) => {
                self.note("config drive attached (the VM runs on another node)");
                Ok(())
            }
        }
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

/// The volume label of an ISO 9660 image: 32 bytes at offset 40 of the primary volume descriptor (sector
/// 16); empty when the image is shorter.
pub fn volume_label(iso: &[u8]) -> &[u8] {
    const AT: usize = 16 * 2048 + 40;
    iso.get(AT..AT + 32).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_volume_labels() {
        let mut iso = vec![0u8; 16 * 2048 + 2048];
        iso[16 * 2048 + 40..16 * 2048 + 48].copy_from_slice(b"config-2");
        assert!(volume_label(&iso).starts_with(CONFIG_DRIVE_LABEL));
        assert!(volume_label(&[0u8; 100]).is_empty());
        assert!(!volume_label(&vec![0u8; 40 * 1024]).starts_with(CONFIG_DRIVE_LABEL));
    }

    #[test]
    fn neutron_calls_are_told_apart() {
        assert!(is_neutron(&["router", "add", "subnet"]));
        assert!(is_neutron(&["port", "create"]));
        assert!(!is_neutron(&["server", "create"]));
        assert!(!is_neutron(&[]));
    }
}
