//! The smoke test: proves the cloud by booting a VM. It builds a tiny guest from the appliance's own
//! kernel and busybox (an initramfs whose init loads virtio-net, asks for a DHCP lease and prints a marker
//! with the address on the serial console), uploads it to glance as kernel, ramdisk and a small disk
//! image, creates a flavor and a tenant (VXLAN) network, boots a server, waits until it is ACTIVE, reads
//! its console log for the marker and the address, and deletes everything it created, also on failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stackbox_common::cmd::Command;

use crate::error::StepError;

/// Names of what the smoke test creates; a leftover from an interrupted run is deleted first.
const NAME: &str = "stackbox-smoke";
/// The marker the guest prints once it has an address.
pub const MARKER: &str = "STACKBOX-SMOKE-OK";
/// Where the guest is built.
const WORK: &str = "/var/lib/stackbox/smoke";
/// virtio-net and its dependencies, in load order (Debian 12's 6.1 kernel builds them as modules).
const MODULES: &[&str] = &[
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
];
/// How long the server may take to become ACTIVE, and then to print the marker (TCG is slow).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The guest's /init: mount, load virtio-net, DHCP, print the marker with the address, stay up.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /lib/modules/*.ko; do insmod "$m"; done
ip link set lo up
ip link set eth0 up
echo "stackbox smoke guest: asking for an address"
for i in 1 2 3 4 5 6 7 8 9 10; do
  udhcpc -i eth0 -n -q -t 5 -s /bin/udhcpc-script && break
done
address=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
echo "STACKBOX-SMOKE-OK address=${address:-none}"
while true; do sleep 3600; done
"#;

/// udhcpc's hook: apply the lease.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
esac
"#;

fn fail(message: impl Into<String>) -> StepError {
    StepError::NotDone(message.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StepError + '_ {
    move |source| StepError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The newest kernel under /boot and its version.
fn kernel() -> Result<(PathBuf, String), StepError> {
    let mut kernels: Vec<String> = std::fs::read_dir("/boot")
        .map_err(io(Path::new("/boot")))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("vmlinuz-"))
        .collect();
    kernels.sort();
    let name = kernels
        .pop()
        .ok_or_else(|| fail("no /boot/vmlinuz-* to boot the test guest with"))?;
    let version = name.trim_start_matches("vmlinuz-").to_owned();
    Ok((Path::new("/boot").join(name), version))
}

/// Builds the guest's initramfs; returns (kernel, initrd, disk).
pub fn build_guest() -> Result<(PathBuf, PathBuf, PathBuf), StepError> {
    let work = Path::new(WORK);
    let tree = work.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    for dir in ["bin", "proc", "sys", "dev", "lib/modules"] {
        std::fs::create_dir_all(tree.join(dir)).map_err(io(&tree))?;
    }
    let (kernel, version) = kernel()?;
    std::fs::copy("/bin/busybox", tree.join("bin/busybox"))
        .map_err(io(Path::new("/bin/busybox")))?;
    for (i, module) in MODULES.iter().enumerate() {
        let from = Path::new("/lib/modules").join(&version).join(module);
        let name = format!(
            "{i:02}-{}",
            from.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        std::fs::copy(&from, tree.join("lib/modules").join(name)).map_err(io(&from))?;
    }
    use std::os::unix::fs::PermissionsExt;
    for (path, text) in [("init", INIT), ("bin/udhcpc-script", UDHCPC_SCRIPT)] {
        let file = tree.join(path);
        std::fs::write(&file, text).map_err(io(&file))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&file))?;
    }
    let initrd = work.join("initrd.gz");
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "cd {} && find . | cpio -o -H newc --quiet | gzip -9 > {}",
                tree.display(),
                initrd.display()
            ),
        ])
        .run()?;
    let disk = work.join("disk.raw");
    std::fs::write(&disk, vec![0u8; 1 << 20]).map_err(io(&disk))?;
    Ok((kernel, initrd, disk))
}

struct Client<'a> {
    env: &'a [(String, String)],
    log: String,
}

impl Client<'_> {
    fn openstack(&mut self, args: &[&str]) -> Result<String, StepError> {
        let mut cmd = Command::new("openstack").args(args);
        for (k, v) in self.env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run()?;
        Ok(out.stdout.trim().to_owned())
    }

    fn note(&mut self, line: impl Into<String>) {
        self.log.push_str(&line.into());
        self.log.push('\n');
    }

    /// Deletes whatever a run left behind (ignoring what does not exist).
    fn cleanup(&mut self) {
        let _ = self.openstack(&["server", "delete", "--wait", NAME]);
        let _ = self.openstack(&["subnet", "delete", NAME]);
        let _ = self.openstack(&["network", "delete", NAME]);
        for image in [NAME, &format!("{NAME}-kernel"), &format!("{NAME}-ramdisk")] {
            let _ = self.openstack(&["image", "delete", image]);
        }
        let _ = self.openstack(&["flavor", "delete", NAME]);
    }

    fn run(&mut self) -> Result<(), StepError> {
        let (kernel, initrd, disk) = build_guest()?;
        self.note(format!("guest built from {}", kernel.display()));
        let k = self.openstack(&[
            "image",
            "create",
            "--disk-format",
            "aki",
            "--container-format",
            "aki",
            "--file",
            &kernel.to_string_lossy(),
            "-f",
            "value",
            "-c",
            "id",
            &format!("{NAME}-kernel"),
        ])?;
        let r = self.openstack(&[
            "image",
            "create",
            "--disk-format",
            "ari",
            "--container-format",
            "ari",
            "--file",
            &initrd.to_string_lossy(),
            "-f",
            "value",
            "-c",
            "id",
            &format!("{NAME}-ramdisk"),
        ])?;
        self.openstack(&[
            "image",
            "create",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            &disk.to_string_lossy(),
            "--property",
            &format!("kernel_id={k}"),
            "--property",
            &format!("ramdisk_id={r}"),
            "--property",
            "os_command_line=console=ttyS0",
            "-f",
            "value",
            "-c",
            "id",
            NAME,
        ])?;
        self.note("images uploaded to glance");
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
        self.note("flavor, network and subnet created");
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
                    return Err(fail(
                        "the test VM booted but got no DHCP address from neutron",
                    ));
                }
                self.note(format!(
                    "console: {} (after {:.0}s)",
                    line.trim(),
                    booted.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if booted.elapsed() > CONSOLE_TIMEOUT {
                let tail: Vec<&str> = console.lines().rev().take(10).collect();
                return Err(fail(format!(
                    "no {MARKER} on the test VM's console after {}s; last lines:\n{}",
                    CONSOLE_TIMEOUT.as_secs(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

/// Runs the smoke test with the admin credentials; returns its report.
pub fn run(env: &[(String, String)]) -> Result<String, StepError> {
    let mut client = Client {
        env,
        log: String::new(),
    };
    client.cleanup();
    let result = client.run();
    client.cleanup();
    client.note("test resources deleted");
    result.map(|()| client.log)
}
