//! The smoke test's guest: a tiny initramfs from the appliance's own kernel and busybox whose init loads
//! virtio-net, asks for a DHCP lease and prints the marker with the address on the serial console.

use std::path::{Path, PathBuf};

use stackbox_common::cmd::Command;

use super::error::{SmokeError, fail, io};

/// Where the guest is built.
const WORK: &str = "/var/lib/stackbox/smoke";
/// virtio-net and its dependencies, in load order (Debian 12's 6.1 kernel builds them as modules;
/// virtio needs virtio_ring's symbols).
const MODULES: &[&str] = &[
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
];
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

/// The newest kernel under /boot and its version.
fn kernel() -> Result<(PathBuf, String), SmokeError> {
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
pub fn build_guest() -> Result<(PathBuf, PathBuf, PathBuf), SmokeError> {
    let work = Path::new(WORK);
    let tree = work.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    for dir in ["bin", "proc", "sys", "dev", "lib/modules"] {
        std::fs::create_dir_all(tree.join(dir)).map_err(io(&tree))?;
    }
    let (kernel, version) = kernel()?;
    std::fs::copy("/bin/busybox", tree.join("bin/busybox"))
        .map_err(io(Path::new("/bin/busybox")))?;
    // Debian's busybox is linked dynamically: bring its libraries and loader along.
    let ldd = Command::new("ldd").arg("/bin/busybox").run()?;
    for lib in shared_libraries(&ldd.stdout) {
        let target = tree.join(lib.trim_start_matches('/'));
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::copy(&lib, &target).map_err(io(Path::new(&lib)))?;
    }
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

/// The absolute paths in `ldd` output (`libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and the
/// loader's own line).
pub fn shared_libraries(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_from_ldd() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibresolv.so.2 => /lib/x86_64-linux-gnu/libresolv.so.2 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            shared_libraries(out),
            [
                "/lib/x86_64-linux-gnu/libresolv.so.2",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
        assert!(shared_libraries("\tstatically linked\n").is_empty());
    }
}
