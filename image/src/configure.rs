//! Stage `configure`: turns the bootstrapped root into the appliance: host name, fstab, networkd DHCP on every
//! wired NIC, the serial console, chrony, nftables, the offline pool's apt source, the `stackboxd` binary and its
//! first-boot unit. Every rendered file comes from a pure `render_*` function with a golden file in
//! `tests/golden/`.
//!
//! # The firewall and its drop-ins (the contract the installer writes against)
//!
//! `/etc/nftables.conf` ([`render_nftables`], loaded by `nftables.service`) starts with `flush ruleset`, defines
//! table `inet stackbox` and ends with `include "/etc/nftables.d/*.nft"` ([`NFTABLES_DROPIN_DIR`]; a glob that
//! matches nothing, or a missing directory, is not an error for `nft`). The chain `input` (hook input, policy
//! drop) accepts loopback, established flows, ICMP, DHCP, SSH (22), the wizard (8443) and the node agent (8444, mutual TLS with cluster certificates only), drops invalid
//! packets, and then, as its last rule, jumps to the chain `roles` ([`NFTABLES_ROLES_CHAIN`]), which the base
//! defines empty. A packet that `roles` does not accept returns to `input` and meets the drop policy.
//!
//! The installer opens exactly the assigned roles' ports by writing one file `/etc/nftables.d/NN-NAME.nft`
//! (files are read in name order) that adds `accept` rules to that chain, for example keystone and VXLAN:
//!
//! ```text
//! table inet stackbox {
//!     chain roles {
//!         tcp dport { 5000 } accept
//!         udp dport { 4789 } accept
//!     }
//! }
//! ```
//!
//! Rules there may match sources too (`ip saddr { 10.0.0.2, 10.0.0.3 } tcp dport 4567 accept`) and may declare
//! sets in the same table. A drop-in must not `flush ruleset`, must not add a chain with a hook or touch other
//! chains, and must not `drop` (the policy does that). To apply it: write it atomically, check the whole with
//! `nft -c -f /etc/nftables.conf`, then reload with `nft -f /etc/nftables.conf` (or `systemctl reload
//! nftables`); since the base flushes first, the reload replaces the ruleset in one transaction, and removing a
//! role is deleting (or rewriting) its file and reloading. `tests/nftables.rs` runs Debian's `nft` on the base
//! and on the base plus the example above.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use stackbox_common::fs::write_atomic;

use crate::spec::Spec;

/// Where the first-boot unit is installed inside the root.
pub const UNIT_DIR: &str = "usr/lib/systemd/system";

/// The inputs of the configure stage besides the spec.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The `stackboxd` binary to install as `/usr/bin/stackboxd`.
    pub stackboxd: PathBuf,
    /// `stackbox-firstboot.service` from the workspace.
    pub firstboot_unit: PathBuf,
    /// The filesystem UUID of the disk image's root.
    pub root_uuid: String,
    /// The FAT volume id of the disk image's ESP (`XXXX-XXXX`).
    pub esp_id: String,
    /// The deb822 apt source for the offline pool.
    pub pool_sources: String,
}

/// `/etc/fstab`. The root is mounted by the initramfs from `root=UUID=...` (disk) or by live-boot (ISO, PXE),
/// which appends its own overlay line, so it is not listed; the ESP is `nofail` because live systems have none.
pub fn render_fstab(esp_id: &str) -> String {
    format!(
        "# stackbox appliance. The root filesystem comes from the kernel command line (root=UUID=... on disk,\n\
         # boot=live on ISO and PXE); live-boot appends its overlay entry below on live systems.\n\
         UUID={esp_id} /boot/efi vfat umask=0077,nofail,x-systemd.device-timeout=10s 0 2\n"
    )
}

/// `/etc/hosts`.
pub fn render_hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )
}

/// systemd-networkd: DHCP on every wired NIC (predictable `en*` names and classic `eth*`).
pub fn render_networkd_dhcp() -> String {
    "# stackbox: DHCP on every wired NIC until the wizard configures the management and data networks.\n\
     [Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\nLinkLocalAddressing=ipv6\n\n[DHCPv4]\nUseDomains=yes\n"
        .to_owned()
}

/// The directory of firewall drop-ins, included by `/etc/nftables.conf` (see the module doc).
pub const NFTABLES_DROPIN_DIR: &str = "/etc/nftables.d";

/// The chain of table `inet stackbox` that drop-ins fill with `accept` rules for role ports.
pub const NFTABLES_ROLES_CHAIN: &str = "roles";

/// `/etc/nftables.conf`: drop inbound except loopback, established flows, ICMP, DHCP, SSH, the wizard (8443) and the node agent (8444);
/// role ports are accepted by the chain `roles`, which the drop-ins in [`NFTABLES_DROPIN_DIR`] fill.
pub fn render_nftables() -> String {
    format!(
        "#!/usr/sbin/nft -f\n\
         # stackbox appliance baseline: inbound traffic is dropped except what the first boot and the wizard need.\n\
         # Role ports (Galera, RabbitMQ, OpenStack APIs, VXLAN) are opened by the installer: it writes a drop-in\n\
         # {NFTABLES_DROPIN_DIR}/NN-NAME.nft that adds accept rules to chain {NFTABLES_ROLES_CHAIN} of this table.\n\
         flush ruleset\n\n\
         table inet stackbox {{\n\
         \t# Filled by the drop-ins; what it does not accept returns to input and is dropped.\n\
         \tchain {NFTABLES_ROLES_CHAIN} {{\n\
         \t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy drop;\n\
         \t\tiif lo accept\n\
         \t\tct state established,related accept\n\
         \t\tct state invalid drop\n\
         \t\tmeta l4proto {{ icmp, icmpv6 }} accept\n\
         \t\tudp dport {{ 68, 546 }} accept\n\
         \t\ttcp dport {{ 22, 8443, 8444 }} accept\n\
         \t\tjump {NFTABLES_ROLES_CHAIN}\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t}}\n\
         }}\n\n\
         # Drop-ins, in name order; none is fine.\n\
         include \"{NFTABLES_DROPIN_DIR}/*.nft\"\n"
    )
}

/// `/etc/default/stackbox`, read by the first-boot unit.
pub fn render_default(profile: &str) -> String {
    format!(
        "# Hardware profile stackboxd judges this machine against (hardware-profiles/).\nSTACKBOX_PROFILE={profile}\n"
    )
}

/// The unit that installs one role package from the offline pool when the kernel command line asks for it
/// (`stackbox.pool_selftest=PACKAGE`), and prints the outcome on the console. It proves on a booted appliance
/// with no network that the pool is complete and that apt trusts it.
pub fn render_pool_selftest_unit() -> String {
    "[Unit]\n\
     Description=stackbox: install a package from the offline pool (self-test)\n\
     # Runs only when the kernel command line has stackbox.pool_selftest=PACKAGE.\n\
     ConditionKernelCommandLine=stackbox.pool_selftest\n\
     After=local-fs.target\n\n\
     [Service]\n\
     Type=oneshot\n\
     ExecStart=/usr/lib/stackbox/pool-selftest\n\
     StandardOutput=journal+console\n\
     StandardError=journal+console\n\n\
     [Install]\n\
     WantedBy=multi-user.target\n"
        .to_owned()
}

/// `stackbox-wizard.service`: the setup wizard (`stackboxd serve`, HTTPS on 8443) from the first boot on.
/// It runs as root because its install step installs the cloud; the certificate and token first boot
/// made are in /var/lib/stackbox. It gets the sandboxing that leaves the install step working; the
/// unit's comments say why each of the rest is left out.
pub fn render_wizard_unit() -> String {
    r#"[Unit]
Description=stackbox setup wizard (HTTPS on port 8443)
Documentation=man:stackboxd(8)
# First boot makes the token and certificate the wizard shows; it runs only once, so this is
# an ordering, not a requirement.
After=stackbox-firstboot.service network-online.target
Wants=network-online.target

[Service]
Type=exec
# STACKBOX_PROFILE (baremetal or lab) chooses how strictly the hardware is judged.
EnvironmentFile=-/etc/default/stackbox
# The openstack client the install step runs keeps its caches under $HOME.
Environment=HOME=/root
ExecStart=/usr/bin/stackboxd serve --state /var/lib/stackbox
Restart=on-failure
RestartSec=2s
# Every connection takes a descriptor; the wizard caps them per address (16) and in all (4096 a worker).
LimitNOFILE=65536
# Sandboxing. The wizard stays root with most capabilities: its install step runs apt and the packages'
# maintainer scripts (which add users, chown, load AppArmor profiles, create setuid files), writes /etc
# and /var/lib, runs commands as service users (su), starts units over D-Bus, applies the network
# (netlink, namespaces) and installs to disk (block devices, mount). So these are NOT set, on purpose:
#  ProtectSystem=, ProtectHome= (apt writes /usr and /etc; the openstack client caches in /root),
#  NoNewPrivileges=, RestrictSUIDSGID= (packages ship setuid helpers; AppArmor transitions of children),
#  ProtectKernelTunables= (postinst scripts apply sysctl), ProtectKernelModules= (it hides
#  /usr/lib/modules, which install-to-disk copies), ProtectClock= and PrivateDevices= (both close the
#  device list: install-to-disk needs the disks), ProtectHostname= (a hostname set in a private UTS
#  namespace would silently not apply), RestrictNamespaces= (network namespaces), MemoryDenyWriteExecute=
#  (rabbitmqctl runs Erlang's JIT), ProcSubset=/ProtectProc= (the hardware report reads /proc).
# What it can bear:
# its own /tmp and /var/tmp (nothing it writes there is read by another service);
PrivateTmp=yes
# the cgroup tree is systemd's (units are started over D-Bus), read-only here;
ProtectControlGroups=yes
# nothing it runs reads or writes the kernel log;
ProtectKernelLogs=yes
# no realtime scheduling, no personality changes, native system calls only;
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native
# sockets: local, IP, netlink (the network apply) and packet (DHCP clients);
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET
# no debugging, raw I/O ports, swap, reboot or obsolete calls (EPERM, not a kill): a reboot goes
# through systemd. @clock stays callable because the hardware report reads the kernel's NTP state with
# adjtimex; setting the clock needs CAP_SYS_TIME, dropped below (chrony sets it as its own service);
SystemCallFilter=~@cpu-emulation @debug @obsolete @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
# and none of the capabilities those need, nor the ones for audit, the kernel log, leases,
# immutable files, accounting or terminals.
CapabilityBoundingSet=~CAP_SYS_TIME CAP_WAKE_ALARM CAP_SYS_BOOT CAP_SYS_PACCT CAP_SYS_TTY_CONFIG CAP_LEASE CAP_LINUX_IMMUTABLE CAP_BLOCK_SUSPEND CAP_AUDIT_CONTROL CAP_SYSLOG CAP_SYS_RAWIO

[Install]
WantedBy=multi-user.target
"#
    .to_owned()
}

/// The script behind [`render_pool_selftest_unit`].
pub fn render_pool_selftest_script() -> String {
    r#"#!/bin/sh
# Installs the package named by stackbox.pool_selftest= from the offline pool, with apt's normal checks
# (InRelease signature against the Debian archive keyring, SHA-256 of every .deb), and reports on the console.
pkg=$(sed -n 's/.*stackbox\.pool_selftest=\([^ ]*\).*/\1/p' /proc/cmdline)
log=/run/stackbox-pool-selftest.log
export DEBIAN_FRONTEND=noninteractive
if apt-get -q update >"$log" 2>&1 \
    && ! grep -Eq '^(W|E|Err):' "$log" \
    && apt-get -q -y install "$pkg" >>"$log" 2>&1 \
    && dpkg-query -W -f='${Status}' "$pkg" | grep -q 'install ok installed'; then
    echo "STACKBOX-POOL-SELFTEST status=pass package=$pkg"
else
    tail -n 40 "$log"
    echo "STACKBOX-POOL-SELFTEST status=fail package=$pkg"
fi
"#
    .to_owned()
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> anyhow::Result<()> {
    let path = root.join(rel);
    // A symlink left by a package (e.g. /etc/resolv.conf) must be replaced, not written through.
    if path.symlink_metadata().is_ok() {
        std::fs::remove_file(&path).with_context(|| format!("replacing {}", path.display()))?;
    }
    write_atomic(&path, text.as_bytes(), mode)
        .with_context(|| format!("writing {}", path.display()))
}

fn enable(root: &Path, wants: &str, unit_path: &str) -> anyhow::Result<()> {
    let name = Path::new(unit_path)
        .file_name()
        .context("unit path has no file name")?;
    let dir = root.join("etc/systemd/system").join(wants);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let link = dir.join(name);
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link).with_context(|| format!("replacing {}", link.display()))?;
    }
    if !root.join(unit_path.trim_start_matches('/')).exists() {
        bail!("cannot enable {unit_path}: not present in the root");
    }
    symlink(unit_path, &link).with_context(|| format!("linking {}", link.display()))
}

/// Applies the appliance configuration to the unpacked root at `root`.
pub fn configure(root: &Path, spec: &Spec, inputs: &Inputs) -> anyhow::Result<()> {
    configure_identity(root, spec, &inputs.esp_id)?;
    configure_network(root)?;
    enable_serial_getty(root, &spec.console.serial)?;
    configure_time_and_firewall(root)?;
    configure_offline_apt(root, &inputs.pool_sources)?;
    install_stackboxd(root, inputs)?;
    install_units(root, spec)
}

/// Host name, hosts, fstab (and the ESP's mount point), locale and time zone.
fn configure_identity(root: &Path, spec: &Spec, esp_id: &str) -> anyhow::Result<()> {
    write(root, "etc/hostname", &format!("{}\n", spec.hostname), 0o644)?;
    write(root, "etc/hosts", &render_hosts(&spec.hostname), 0o644)?;
    write(root, "etc/fstab", &render_fstab(esp_id), 0o644)?;
    std::fs::create_dir_all(root.join("boot/efi")).context("creating /boot/efi")?;
    write(
        root,
        "etc/default/locale",
        &format!("LANG={}\n", spec.locale),
        0o644,
    )?;
    write(root, "etc/timezone", &format!("{}\n", spec.timezone), 0o644)?;
    let zone = format!("/usr/share/zoneinfo/{}", spec.timezone);
    if !root.join(zone.trim_start_matches('/')).exists() {
        bail!("timezone: {zone} does not exist in the root (is tzdata in packages.base?)");
    }
    let localtime = root.join("etc/localtime");
    let _ = std::fs::remove_file(&localtime);
    symlink(&zone, &localtime).context("linking /etc/localtime")?;
    Ok(())
}

/// Network: systemd-networkd with DHCP; resolved provides DNS. No wait-online: the first boot must not hang for
/// minutes on a machine whose NICs are not cabled yet.
fn configure_network(root: &Path) -> anyhow::Result<()> {
    write(
        root,
        "etc/systemd/network/50-stackbox-dhcp.network",
        &render_networkd_dhcp(),
        0o644,
    )?;
    enable(
        root,
        "multi-user.target.wants",
        "/lib/systemd/system/systemd-networkd.service",
    )?;
    enable(
        root,
        "sockets.target.wants",
        "/lib/systemd/system/systemd-networkd.socket",
    )?;
    // The boot guard of `stackboxd network apply`: an unconfirmed change does not survive a restart.
    let guard = stackbox_network::GUARD_UNIT;
    write(
        root,
        &format!("{UNIT_DIR}/{guard}"),
        &stackbox_network::render_guard_unit(),
        0o644,
    )?;
    enable(
        root,
        "sysinit.target.wants",
        &format!("/{UNIT_DIR}/{guard}"),
    )
}

/// Serial console: a login prompt on the console (`serial`, e.g. `ttyS0`) the kernel and first boot write to.
fn enable_serial_getty(root: &Path, serial: &str) -> anyhow::Result<()> {
    enable(
        root,
        "getty.target.wants",
        &format!("/lib/systemd/system/serial-getty@{serial}.service"),
    )
    .or_else(|_| -> anyhow::Result<()> {
        // serial-getty@.service is a template: link the instance to it.
        let dir = root.join("etc/systemd/system/getty.target.wants");
        std::fs::create_dir_all(&dir)?;
        let link = dir.join(format!("serial-getty@{serial}.service"));
        let _ = std::fs::remove_file(&link);
        symlink("/lib/systemd/system/serial-getty@.service", &link)?;
        Ok(())
    })
}

/// Time (chrony) and the baseline firewall (nftables).
fn configure_time_and_firewall(root: &Path) -> anyhow::Result<()> {
    enable(
        root,
        "multi-user.target.wants",
        "/lib/systemd/system/chrony.service",
    )?;
    write(root, "etc/nftables.conf", &render_nftables(), 0o755)?;
    let dropins = root.join(NFTABLES_DROPIN_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&dropins).with_context(|| format!("creating {}", dropins.display()))?;
    enable(
        root,
        "sysinit.target.wants",
        "/lib/systemd/system/nftables.service",
    )
}

/// The offline pool's apt source replaces the network mirrors: the appliance installs roles offline.
fn configure_offline_apt(root: &Path, pool_sources: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(root.join("etc/apt/sources.list"));
    write(
        root,
        "etc/apt/sources.list.d/stackbox-pool.sources",
        pool_sources,
        0o644,
    )?;
    write(
        root,
        "etc/apt/apt.conf.d/50stackbox",
        "// stackbox: roles are installed from the offline pool, which holds each role package with its\n\
         // dependencies but not its recommendations; no translations are shipped.\n\
         Acquire::Languages \"none\";\nAPT::Install-Recommends \"false\";\n",
        0o644,
    )
}

/// `/usr/bin/stackboxd` and its first-boot unit, enabled.
fn install_stackboxd(root: &Path, inputs: &Inputs) -> anyhow::Result<()> {
    let bin = root.join("usr/bin/stackboxd");
    std::fs::copy(&inputs.stackboxd, &bin).with_context(|| {
        format!(
            "installing {} as /usr/bin/stackboxd",
            inputs.stackboxd.display()
        )
    })?;
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .context("chmod /usr/bin/stackboxd")?;
    let unit = std::fs::read_to_string(&inputs.firstboot_unit).with_context(|| {
        format!(
            "reading the first-boot unit {}",
            inputs.firstboot_unit.display()
        )
    })?;
    install_unit(root, "stackbox-firstboot.service", &unit)
}

/// The wizard's unit and its environment file, and the pool self-test with its script.
fn install_units(root: &Path, spec: &Spec) -> anyhow::Result<()> {
    write(
        root,
        "etc/default/stackbox",
        &render_default(&spec.profile),
        0o644,
    )?;
    install_unit(root, "stackbox-wizard.service", &render_wizard_unit())?;
    write(
        root,
        "usr/lib/stackbox/pool-selftest",
        &render_pool_selftest_script(),
        0o755,
    )?;
    install_unit(
        root,
        "stackbox-pool-selftest.service",
        &render_pool_selftest_unit(),
    )
}

/// Writes the unit `name` into [`UNIT_DIR`] and enables it for `multi-user.target`.
fn install_unit(root: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    write(root, &format!("{UNIT_DIR}/{name}"), text, 0o644)?;
    enable(
        root,
        "multi-user.target.wants",
        &format!("/{UNIT_DIR}/{name}"),
    )
}

/// The kernel version installed in the root (`/boot/vmlinuz-VERSION`); exactly one is expected.
pub fn kernel_version(root: &Path) -> anyhow::Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir(root.join("boot"))
        .context("listing /boot of the root")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("vmlinuz-")
                .map(str::to_owned)
        })
        .collect();
    versions.sort();
    match versions.as_slice() {
        [one] => {
            if !root.join(format!("boot/initrd.img-{one}")).is_file() {
                bail!("the root has /boot/vmlinuz-{one} but no initrd.img-{one}");
            }
            Ok(one.clone())
        }
        [] => bail!("the root has no kernel in /boot (is linux-image-amd64 in packages.base?)"),
        many => bail!("the root has several kernels in /boot: {}", many.join(", ")),
    }
}

/// Clamps every modification time in the root that is later than `epoch` to `epoch` (files the build wrote
/// or downloaded), so that filesystems made from the tree do not depend on when the build ran.
pub fn clamp_mtimes(root: &Path, epoch: u64) -> anyhow::Result<()> {
    crate::host::run(
        &stackbox_common::cmd::Command::new("sh")
            .arg("-c")
            .arg("find \"$1\" -newermt \"@$2\" -print0 | xargs -0r touch -h -d \"@$2\"")
            .arg("clamp")
            .arg(root)
            .arg(epoch.to_string()),
    )
    .context("clamping modification times in the root")?;
    Ok(())
}
