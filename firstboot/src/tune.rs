//! Kernel tuning for a cloud node: a sysctl drop-in, the modules to load at boot and KVM nesting, written
//! under a [`Root`], applied through /proc/sys, and read back to verify. Running it twice changes nothing
//! the second time.

use std::fmt::Write;

use stackbox_common::cmd::Command;
use stackbox_common::fs::write_if_changed;

use stackbox_machine::system::Root;

/// One kernel parameter stackbox sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sysctl {
    /// Dotted key (`net.ipv4.ip_forward`).
    pub key: &'static str,
    /// The value to set.
    pub value: &'static str,
    /// Why a cloud node needs it; goes into the drop-in as a comment.
    pub why: &'static str,
}

/// The parameters, in the order they are applied: forwarding first, since everything else serves it.
pub const SYSCTLS: &[Sysctl] = &[
    Sysctl {
        key: "net.ipv4.ip_forward",
        value: "1",
        why: "Route VM traffic: neutron's routers and the node's bridges forward packets between networks.",
    },
    Sysctl {
        key: "net.bridge.bridge-nf-call-iptables",
        value: "1",
        why: "Security groups on linuxbridge filter bridged VM traffic through iptables (needs br_netfilter).",
    },
    Sysctl {
        key: "net.bridge.bridge-nf-call-ip6tables",
        value: "1",
        why: "The same for IPv6 VM traffic.",
    },
    Sysctl {
        key: "net.netfilter.nf_conntrack_max",
        value: "1048576",
        why: "Every VM connection through a security group is tracked; the default table overflows and drops packets under load.",
    },
    Sysctl {
        key: "net.core.somaxconn",
        value: "4096",
        why: "API services and haproxy accept bursts of connections; a short listen backlog resets clients.",
    },
    Sysctl {
        key: "net.core.netdev_max_backlog",
        value: "16384",
        why: "Queue more packets per CPU on busy NICs instead of dropping them.",
    },
    Sysctl {
        key: "net.ipv4.tcp_max_syn_backlog",
        value: "8192",
        why: "Half-open connections queued during API bursts.",
    },
    Sysctl {
        key: "net.ipv4.neigh.default.gc_thresh1",
        value: "4096",
        why: "Many VMs on flat networks: keep their ARP entries instead of thrashing the neighbour table.",
    },
    Sysctl {
        key: "net.ipv4.neigh.default.gc_thresh2",
        value: "8192",
        why: "Soft limit of the neighbour table, see gc_thresh1.",
    },
    Sysctl {
        key: "net.ipv4.neigh.default.gc_thresh3",
        value: "16384",
        why: "Hard limit of the neighbour table, see gc_thresh1.",
    },
    Sysctl {
        key: "fs.inotify.max_user_instances",
        value: "8192",
        why: "libvirt, systemd and the OpenStack agents each watch many files; the default of 128 runs out.",
    },
    Sysctl {
        key: "fs.inotify.max_user_watches",
        value: "524288",
        why: "Enough inotify watches for the same services.",
    },
    Sysctl {
        key: "fs.aio-max-nr",
        value: "1048576",
        why: "MariaDB's InnoDB uses native asynchronous I/O and fails to start when the AIO limit is reached.",
    },
    Sysctl {
        key: "vm.swappiness",
        value: "10",
        why: "Keep MariaDB, RabbitMQ and the API services in memory; swap only under real pressure.",
    },
];

/// A kernel module loaded at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelModule {
    /// Module name.
    pub name: &'static str,
    /// Why it is needed.
    pub why: &'static str,
}

/// The modules, loaded before the sysctls are applied (some keys exist only once their module is loaded).
pub const MODULES: &[KernelModule] = &[
    KernelModule {
        name: "br_netfilter",
        why: "bridge netfilter, so security groups see bridged VM traffic (net.bridge.*)",
    },
    KernelModule {
        name: "nf_conntrack",
        why: "connection tracking for security groups (net.netfilter.nf_conntrack_max)",
    },
    KernelModule {
        name: "vhost_net",
        why: "in-kernel virtio-net backend: faster VM networking",
    },
];

/// The sysctl drop-in's path.
pub const SYSCTL_CONF: &str = "/etc/sysctl.d/90-stackbox.conf";
/// The modules-load.d file's path.
pub const MODULES_CONF: &str = "/etc/modules-load.d/stackbox.conf";
/// The modprobe.d file that turns on KVM nesting.
pub const KVM_CONF: &str = "/etc/modprobe.d/stackbox-kvm.conf";

/// A file the tuning writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Absolute path inside the root.
    pub path: &'static str,
    /// The whole contents.
    pub contents: String,
}

/// Everything `tune` writes and sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Files, in the order written.
    pub files: Vec<PlannedFile>,
}

const HEADER: &str = "# Written by `stackboxd tune`; edits are overwritten on the next run.\n";

/// Renders the sysctl drop-in.
pub fn render_sysctl_conf() -> String {
    let mut out = format!("{HEADER}# Kernel parameters for a stackbox cloud node.\n");
    for s in SYSCTLS {
        let _ = write!(out, "\n# {}\n{} = {}\n", s.why, s.key, s.value);
    }
    out
}

/// Renders modules-load.d.
pub fn render_modules_conf() -> String {
    let mut out = format!("{HEADER}# Kernel modules a stackbox cloud node loads at boot.\n");
    for m in MODULES {
        let _ = write!(out, "\n# {}\n{}\n", m.why, m.name);
    }
    out
}

/// Renders the modprobe.d options that enable nested virtualization for the CPU's vendor module, when the
/// CPU can virtualize at all (`vmx` or `svm`). Nesting lets test clouds and CI run hypervisors inside the
/// cloud's own VMs; it takes effect when the module is next loaded (at boot), never under running VMs.
pub fn render_kvm_conf(virtualization: Option<&str>) -> Option<String> {
    let module = match virtualization? {
        "vmx" => "kvm_intel",
        "svm" => "kvm_amd",
        _ => return None,
    };
    Some(format!(
        "{HEADER}# Nested virtualization, so VMs of this cloud can run hypervisors themselves (test clouds, CI).\n# Takes effect when {module} is next loaded, at boot.\noptions {module} nested=1\n"
    ))
}

/// The plan for a machine whose CPU reports `virtualization` (`vmx`, `svm` or none).
pub fn plan(virtualization: Option<&str>) -> Plan {
    let mut files = vec![
        PlannedFile {
            path: SYSCTL_CONF,
            contents: render_sysctl_conf(),
        },
        PlannedFile {
            path: MODULES_CONF,
            contents: render_modules_conf(),
        },
    ];
    if let Some(contents) = render_kvm_conf(virtualization) {
        files.push(PlannedFile {
            path: KVM_CONF,
            contents,
        });
    }
    Plan { files }
}

/// What happened to one kernel parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Already had the value.
    Unchanged,
    /// Written and read back.
    Set {
        /// The value before.
        was: String,
    },
    /// The key cannot be written here (read-only /proc/sys, as in a container): the host owns it.
    ReadOnly(String),
    /// The key does not exist: its module is not loaded, or the kernel lacks the feature.
    Missing,
    /// Written, but the kernel reports another value (it clamps some).
    Mismatch {
        /// What the kernel reports after the write.
        got: String,
    },
    /// Writing failed for another reason.
    Failed(String),
}

impl KeyOutcome {
    /// Whether the operator should look at this.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            KeyOutcome::ReadOnly(_) | KeyOutcome::Missing | KeyOutcome::Mismatch { .. }
        )
    }
}

/// What `tune` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TuneReport {
    /// (path, written) for each file: false when it already held exactly that.
    pub files: Vec<(String, bool)>,
    /// Files that could not be written, with the error: a failure.
    pub file_errors: Vec<(String, String)>,
    /// (module, error) for modules that could not be loaded: warnings.
    pub module_warnings: Vec<(String, String)>,
    /// Each kernel parameter and what happened to it.
    pub keys: Vec<(&'static str, &'static str, KeyOutcome)>,
}

impl TuneReport {
    /// Warnings: modules not loaded and keys read-only, missing or clamped.
    pub fn warnings(&self) -> usize {
        self.module_warnings.len() + self.keys.iter().filter(|(_, _, o)| o.is_warning()).count()
    }

    /// Failures: files not written, keys that failed.
    pub fn failures(&self) -> usize {
        self.file_errors.len()
            + self
                .keys
                .iter()
                .filter(|(_, _, o)| matches!(o, KeyOutcome::Failed(_)))
                .count()
    }

    /// Whether anything was changed.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|(_, w)| *w)
            || self
                .keys
                .iter()
                .any(|(_, _, o)| matches!(o, KeyOutcome::Set { .. }))
    }
}

/// The /proc/sys path of a dotted key.
pub fn proc_sys_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// Compares sysctl values the way the kernel prints them (tabs between fields in multi-value keys).
fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// Writes the plan's files, loads the modules (only when `load_modules`: the running system), then sets and
/// verifies every parameter under `root`'s /proc/sys.
pub fn apply(root: &Root, plan: &Plan, load_modules: bool) -> TuneReport {
    let mut report = TuneReport::default();
    for file in &plan.files {
        match write_if_changed(&root.path(file.path), file.contents.as_bytes(), 0o644) {
            Ok(written) => report.files.push((file.path.to_owned(), written)),
            Err(e) => report
                .file_errors
                .push((file.path.to_owned(), e.to_string())),
        }
    }
    if load_modules {
        for m in MODULES {
            if let Err(e) = Command::new("modprobe").arg(m.name).run() {
                report
                    .module_warnings
                    .push((m.name.to_owned(), e.to_string()));
            }
        }
    }
    for s in SYSCTLS {
        report.keys.push((s.key, s.value, apply_key(root, s)));
    }
    report
}

fn apply_key(root: &Root, s: &Sysctl) -> KeyOutcome {
    let path = root.path(&proc_sys_path(s.key));
    let was = match std::fs::read_to_string(&path) {
        Ok(v) => v.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return KeyOutcome::Missing,
        Err(e) => return KeyOutcome::Failed(format!("reading: {e}")),
    };
    if same_value(&was, s.value) {
        return KeyOutcome::Unchanged;
    }
    if let Err(e) = std::fs::write(&path, format!("{}\n", s.value)) {
        return match e.raw_os_error() {
            Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => {
                KeyOutcome::ReadOnly(e.to_string())
            }
            _ => KeyOutcome::Failed(format!("writing: {e}")),
        };
    }
    match std::fs::read_to_string(&path) {
        Ok(got) if same_value(&got, s.value) => KeyOutcome::Set { was },
        Ok(got) => KeyOutcome::Mismatch {
            got: got.trim().to_owned(),
        },
        Err(e) => KeyOutcome::Failed(format!("reading back: {e}")),
    }
}

/// Describes what `apply` would do, without writing anything: each file (new, changed or unchanged, with
/// its contents) and each parameter's current and wanted value.
pub fn render_dry_run(root: &Root, plan: &Plan, load_modules: bool) -> String {
    let mut out = String::from("stackboxd tune --dry-run: nothing is written\n");
    for file in &plan.files {
        let state = match std::fs::read_to_string(root.path(file.path)) {
            Ok(existing) if existing == file.contents => "unchanged",
            Ok(_) => "changed",
            Err(_) => "new",
        };
        let _ = writeln!(out, "\nfile {} ({state}):", file.path);
        for line in file.contents.lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    let _ = writeln!(out);
    let names: Vec<&str> = MODULES.iter().map(|m| m.name).collect();
    if load_modules {
        let _ = writeln!(out, "load modules: {}", names.join(" "));
    } else {
        let _ = writeln!(
            out,
            "load modules: none (not the running system; they load at its next boot: {})",
            names.join(" ")
        );
    }
    for s in SYSCTLS {
        let current = std::fs::read_to_string(root.path(&proc_sys_path(s.key)));
        let line = match current {
            Ok(v) if same_value(&v, s.value) => format!("keep {} = {}", s.key, s.value),
            Ok(v) => format!("set  {} = {} (now {})", s.key, s.value, v.trim()),
            Err(_) => format!(
                "set  {} = {} (key absent now: its module is not loaded)",
                s.key, s.value
            ),
        };
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Renders what `apply` did, one line per file, module warning and parameter.
pub fn render_report(report: &TuneReport) -> String {
    let mut out = String::new();
    for (path, written) in &report.files {
        let _ = writeln!(
            out,
            "{} {path}",
            if *written { "wrote    " } else { "unchanged" }
        );
    }
    for (path, err) in &report.file_errors {
        let _ = writeln!(out, "FAILED    {path}: {err}");
    }
    for (module, err) in &report.module_warnings {
        let _ = writeln!(out, "WARN      module {module} not loaded: {err}");
    }
    for (key, value, outcome) in &report.keys {
        let line = match outcome {
            KeyOutcome::Unchanged => format!("unchanged {key} = {value}"),
            KeyOutcome::Set { was } => format!("set       {key} = {value} (was {was})"),
            KeyOutcome::ReadOnly(e) => {
                format!("WARN      {key}: read-only here ({e}); the host must set it")
            }
            KeyOutcome::Missing => {
                format!("WARN      {key}: not present; its module is not loaded")
            }
            KeyOutcome::Mismatch { got } => {
                format!("WARN      {key}: wrote {value}, kernel reports {got}")
            }
            KeyOutcome::Failed(e) => format!("FAILED    {key}: {e}"),
        };
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "tune: {} ({} warnings, {} failures)",
        if report.changed() {
            "changed"
        } else {
            "nothing to change"
        },
        report.warnings(),
        report.failures()
    );
    out
}
