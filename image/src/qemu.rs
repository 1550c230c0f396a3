//! The QEMU launcher behind `stackbox boot` and the boot tests: an artifact as disk, CD, USB stick or PXE
//! client, BIOS (SeaBIOS) or UEFI (OVMF), two NICs on QEMU user-mode networking, the serial console on a pipe or
//! on stdio, and the wizard's port forwarded to loopback. KVM is used when `/dev/kvm` really works, TCG
//! otherwise. The PXE path serves the bundle from an HTTP server on 127.0.0.1 (see [`crate::http`]); iPXE gets
//! a small TFTP script that points it there.
//!
//! QEMU is the one long-running, interactive process of the pipeline: it is spawned directly (the command
//! runner captures output and waits), with its argv built by the pure [`args`].

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::host;

/// OVMF firmware (code, variables template).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// The OVMF variable store template, copied per boot.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// iPXE option ROM for virtio-net (BIOS and UEFI), from ipxe-qemu; QEMU loads it by default for virtio-net.
pub const IPXE_ROM: &str = "/usr/lib/ipxe/qemu/efi-virtio.rom";

/// Size of the blank, sparse target disk given to live boots: 100 GB, above every role's minimum.
pub const TARGET_DISK_BYTES: u64 = 100_000_000_000;

/// How the artifact is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BootFormat {
    /// `stackbox.iso` as a CD-ROM.
    Iso,
    /// `stackbox.iso` written raw to a USB stick.
    Usb,
    /// `disk.qcow2` (or `disk.raw`) as a virtio disk.
    Raw,
    /// The PXE bundle through iPXE.
    Pxe,
}

/// The firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    /// SeaBIOS.
    Bios,
    /// OVMF.
    Uefi,
}

/// Everything needed to build QEMU's command line.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The artifact directory.
    pub dir: PathBuf,
    /// How to attach it.
    pub format: BootFormat,
    /// Which firmware.
    pub firmware: Firmware,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// vCPUs.
    pub cpus: u32,
    /// Use KVM (else TCG).
    pub kvm: bool,
    /// Host loopback port forwarded to the guest's wizard port 8443.
    pub wizard_port: u16,
    /// A private copy of the OVMF variables (UEFI only).
    pub ovmf_vars: Option<PathBuf>,
    /// TFTP directory with the iPXE script (PXE only).
    pub tftp_dir: Option<PathBuf>,
    /// Direct kernel boot of the disk: (kernel, initrd, command line). Used by the pool self-test.
    pub direct_kernel: Option<(PathBuf, PathBuf, String)>,
    /// Give the guest no network at all (no NICs).
    pub no_network: bool,
    /// A blank disk to install to, attached to live boots (ISO, USB, PXE) as a real machine would have.
    pub target_disk: Option<PathBuf>,
    /// More raw disks, attached read-only after the target (a small one labelled STACKBOX carries an answer
    /// file).
    pub extra_disks: Vec<PathBuf>,
}

/// The fw_cfg file (beside the TFTP directory) holding COM1's port for SeaBIOS's serial console.
pub const SERCON_FILE: &str = "sercon-port";

/// The TFTP script that points iPXE at the HTTP server and chains the bundle's `boot.ipxe`.
pub const PXE_CHAIN_SCRIPT: &str = "stackbox-chain.ipxe";

/// QEMU's argv (without the program) for `plan`.
pub fn args(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut a = machine_args(plan);
    a.extend(firmware_args(plan)?);
    a.extend(media_args(plan)?);
    if let Some(target) = &plan.target_disk {
        a.push("-drive".into());
        a.push(format!(
            "if=none,id=target0,format=raw,file={}",
            target.display()
        ));
        a.extend(["-device".into(), "virtio-blk-pci,drive=target0".into()]);
    }
    for (i, disk) in plan.extra_disks.iter().enumerate() {
        a.push("-drive".into());
        a.push(format!(
            "if=none,id=extra{i},format=raw,readonly=on,file={}",
            disk.display()
        ));
        a.extend(["-device".into(), format!("virtio-blk-pci,drive=extra{i}")]);
    }
    if !plan.no_network {
        a.extend(network_args(plan)?);
    }
    a.extend(["-device".into(), "virtio-rng-pci".into()]);
    Ok(a)
}

/// The machine: q35, the accelerator, memory, CPUs, no display, the serial console on stdio.
fn machine_args(plan: &Plan) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-machine".into(),
        "q35".into(),
        "-accel".into(),
        if plan.kvm { "kvm" } else { "tcg" }.into(),
        "-m".into(),
        plan.memory_mib.to_string(),
        "-smp".into(),
        plan.cpus.to_string(),
        "-display".into(),
        "none".into(),
        "-vga".into(),
        "none".into(),
        "-serial".into(),
        "stdio".into(),
        "-no-reboot".into(),
    ];
    if plan.kvm {
        a.extend(["-cpu".into(), "host".into()]);
    }
    a
}

/// SeaBIOS's serial console for PXE (so iPXE's messages reach COM1), or OVMF's code and variables for UEFI.
fn firmware_args(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut a = Vec::new();
    if plan.format == BootFormat::Pxe && plan.firmware == Firmware::Bios {
        if let Some(tftp) = &plan.tftp_dir {
            // SeaBIOS mirrors the BIOS console (and so iPXE's messages) to COM1.
            a.push("-fw_cfg".into());
            a.push(format!(
                "name=etc/sercon-port,file={}",
                tftp.with_file_name(SERCON_FILE).display()
            ));
        }
    }
    if plan.firmware == Firmware::Uefi {
        let vars = plan
            .ovmf_vars
            .as_ref()
            .context("UEFI boot needs a copy of the OVMF variables")?;
        a.push("-drive".into());
        a.push(format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
        ));
        a.push("-drive".into());
        a.push(format!(
            "if=pflash,format=raw,unit=1,file={}",
            vars.display()
        ));
    }
    Ok(a)
}

/// The artifact: the ISO as a CD or a USB stick, or the disk image (optionally with a direct kernel boot).
/// A PXE boot attaches nothing.
fn media_args(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut a = Vec::new();
    let iso = plan.dir.join("stackbox.iso");
    match plan.format {
        BootFormat::Iso => {
            a.push("-drive".into());
            a.push(format!(
                "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file={}",
                iso.display()
            ));
            a.extend(["-device".into(), "ide-cd,drive=cd0,bootindex=0".into()]);
        }
        BootFormat::Usb => {
            a.push("-drive".into());
            a.push(format!(
                "if=none,id=usb0,format=raw,snapshot=on,file={}",
                iso.display()
            ));
            a.extend([
                "-device".into(),
                "qemu-xhci,id=xhci".into(),
                "-device".into(),
                "usb-storage,bus=xhci.0,drive=usb0,bootindex=0".into(),
            ]);
        }
        BootFormat::Raw => a.extend(disk_args(plan)?),
        BootFormat::Pxe => {}
    }
    Ok(a)
}

/// The disk image as a virtio disk (a snapshot, so the artifact stays as built), and the direct kernel boot.
fn disk_args(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut a = Vec::new();
    let (file, fmt) = disk_file(&plan.dir)?;
    a.push("-drive".into());
    a.push(format!(
        "if=none,id=disk0,format={fmt},snapshot=on,file={}",
        file.display()
    ));
    // With a direct kernel boot, QEMU's kernel loader takes boot index 0.
    let index = if plan.direct_kernel.is_some() {
        ""
    } else {
        ",bootindex=0"
    };
    a.extend([
        "-device".into(),
        format!("virtio-blk-pci,drive=disk0{index}"),
    ]);
    if let Some((kernel, initrd, cmdline)) = &plan.direct_kernel {
        a.extend([
            "-kernel".into(),
            kernel.display().to_string(),
            "-initrd".into(),
            initrd.display().to_string(),
            "-append".into(),
            cmdline.clone(),
        ]);
    }
    Ok(a)
}

/// Two NICs on user-mode networking: the management NIC with the wizard's port forwarded to loopback (and TFTP
/// for PXE), and a data NIC that reaches nothing.
fn network_args(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut a = Vec::new();
    let mut user0 = format!(
        "user,id=n0,hostfwd=tcp:127.0.0.1:{}-:8443",
        plan.wizard_port
    );
    if plan.format == BootFormat::Pxe {
        let tftp = plan
            .tftp_dir
            .as_ref()
            .context("PXE boot needs a TFTP directory")?;
        user0.push_str(&format!(
            ",tftp={},bootfile={PXE_CHAIN_SCRIPT}",
            tftp.display()
        ));
    }
    a.extend(["-netdev".into(), user0]);
    let mut nic0 = "virtio-net-pci,netdev=n0,mac=52:54:00:5b:00:01".to_owned();
    if plan.format == BootFormat::Pxe {
        // QEMU's default ROM for virtio-net is ipxe-qemu's efi-virtio.rom (BIOS and UEFI iPXE).
        nic0.push_str(",bootindex=0");
    } else {
        nic0.push_str(",romfile=");
    }
    a.extend(["-device".into(), nic0]);
    // The second NIC (data network): user-mode too, restricted so it reaches nothing.
    a.extend([
        "-netdev".into(),
        "user,id=n1,restrict=on".into(),
        "-device".into(),
        "virtio-net-pci,netdev=n1,mac=52:54:00:5b:00:02,romfile=".into(),
    ]);
    Ok(a)
}

/// The disk image in `dir`: `disk.qcow2` if present, else `disk.raw`.
pub fn disk_file(dir: &Path) -> anyhow::Result<(PathBuf, &'static str)> {
    let q = dir.join("disk.qcow2");
    if q.is_file() {
        return Ok((q, "qcow2"));
    }
    let r = dir.join("disk.raw");
    if r.is_file() {
        return Ok((r, "raw"));
    }
    bail!(
        "{} has neither disk.qcow2 nor disk.raw (build with --formats raw or qcow2)",
        dir.display()
    )
}

/// True when `/dev/kvm` can run a guest. The probe is QEMU itself: it starts a guest with no firmware that
/// halts at once; a hang or an error means TCG.
pub fn kvm_usable() -> bool {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    if std::env::var_os("STACKBOX_NO_KVM").is_some() {
        return false;
    }
    // On these build machines /dev/kvm opens but a guest kernel hangs under it, so without an explicit opt-in
    // (STACKBOX_KVM=1) TCG is used: correctness first, speed when the operator vouches for KVM.
    std::env::var_os("STACKBOX_KVM").is_some()
}

/// The signals a boot watcher looks for on the serial console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line containing the awaited marker.
    Ready(String),
    /// A kernel panic, an emergency shell or the initramfs shell.
    Fatal(String),
}

/// Lines on the serial console that mean the boot failed.
pub const FATAL_MARKERS: &[&str] = &[
    "Kernel panic",
    "You are in emergency mode",
    "Give root password for maintenance",
    "Entering emergency mode",
    "(initramfs)",
    "BusyBox v",
    "Failed to start ",
    "No bootable device",
];

/// Classifies one console line.
pub fn classify(line: &str, marker: &str) -> Option<Event> {
    if line.contains(marker) {
        return Some(Event::Ready(line.trim().to_owned()));
    }
    FATAL_MARKERS
        .iter()
        .any(|m| line.contains(m))
        .then(|| Event::Fatal(line.trim().to_owned()))
}

/// A running guest whose serial console is read line by line.
pub struct Guest {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything the console printed so far.
    pub transcript: Vec<String>,
    /// When QEMU was started.
    pub started: Instant,
    _tmp: Option<tempfile::TempDir>,
    _http: Option<crate::http::Server>,
}

impl Guest {
    /// Starts QEMU for `plan` with the console on a pipe. `tmp` and `http` live as long as the guest.
    pub fn spawn(
        plan: &Plan,
        tmp: Option<tempfile::TempDir>,
        http: Option<crate::http::Server>,
    ) -> anyhow::Result<Guest> {
        let argv = args(plan)?;
        let mut child = std::process::Command::new("qemu-system-x86_64")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    anyhow::anyhow!(
                        "qemu-system-x86_64 is not installed: apt-get install qemu-system-x86"
                    )
                } else {
                    anyhow::Error::new(e).context("starting qemu-system-x86_64")
                }
            })?;
        let started = Instant::now();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("qemu stdout")?;
        let stderr = child.stderr.take().context("qemu stderr")?;
        let tx2 = tx.clone();
        std::thread::spawn(move || forward(stdout, tx));
        std::thread::spawn(move || forward_prefixed(stderr, tx2));
        Ok(Guest {
            child,
            lines: rx,
            transcript: Vec::new(),
            started,
            _tmp: tmp,
            _http: http,
        })
    }

    /// Reads console lines until one contains `marker` (returns it), a fatal marker appears, QEMU exits or
    /// `limit` passes (errors, with the tail of the console).
    pub fn wait_for(&mut self, marker: &str, limit: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no `{marker}` on the serial console within {}s; console tail:\n{}",
                    limit.as_secs(),
                    self.tail(40)
                );
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(line) => {
                    let event = classify(&line, marker);
                    self.transcript.push(line);
                    match event {
                        Some(Event::Ready(l)) => return Ok(l),
                        Some(Event::Fatal(l)) => {
                            // Let a few more lines in for context.
                            let until = Instant::now() + Duration::from_secs(2);
                            while let Ok(more) = self
                                .lines
                                .recv_timeout(until.saturating_duration_since(Instant::now()))
                            {
                                self.transcript.push(more);
                            }
                            bail!(
                                "the guest failed to boot: `{l}`; console tail:\n{}",
                                self.tail(60)
                            )
                        }
                        None => {}
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    bail!(
                        "QEMU exited ({status:?}) before `{marker}`; console tail:\n{}",
                        self.tail(60)
                    )
                }
            }
        }
    }

    /// The last `n` console lines.
    pub fn tail(&self, n: usize) -> String {
        let start = self.transcript.len().saturating_sub(n);
        self.transcript[start..].join("\n")
    }

    /// Waits until QEMU exits by itself (the guest powered off or rebooted: QEMU runs with `-no-reboot`),
    /// keeping the console's lines.
    pub fn wait_exit(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "QEMU did not exit within {}s; console tail:\n{}",
                    limit.as_secs(),
                    self.tail(40)
                );
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(line) => self.transcript.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.child.wait().context("waiting for QEMU")?;
                    return Ok(());
                }
            }
        }
    }

    /// Stops QEMU.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.kill();
    }
}

fn forward(r: impl std::io::Read, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = strip_ansi(&String::from_utf8_lossy(&buf));
                if tx
                    .send(line.trim_end_matches(['\r', '\n']).to_owned())
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

fn forward_prefixed(r: impl std::io::Read, tx: mpsc::Sender<String>) {
    let reader = BufReader::new(r);
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if tx.send(format!("[qemu] {line}")).is_err() {
            return;
        }
    }
}

/// Removes ANSI escape sequences (GRUB and systemd colour their output).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Prepares a [`Plan`] for `dir`, with its scratch files (OVMF variables, TFTP script) in a temporary
/// directory and, for PXE, an HTTP server on 127.0.0.1 serving `dir/pxe`.
pub fn prepare(
    dir: &Path,
    format: BootFormat,
    firmware: Firmware,
    wizard_port: u16,
) -> anyhow::Result<(Plan, tempfile::TempDir, Option<crate::http::Server>)> {
    host::check_tools(host::BOOT_TOOLS, &[])?;
    let tmp = tempfile::tempdir().context("creating a scratch directory for QEMU")?;
    let mut plan = Plan {
        dir: dir.to_owned(),
        format,
        firmware,
        memory_mib: 2048,
        cpus: 2,
        kvm: kvm_usable(),
        wizard_port,
        ovmf_vars: None,
        tftp_dir: None,
        direct_kernel: None,
        no_network: false,
        target_disk: None,
        extra_disks: Vec::new(),
    };
    if format != BootFormat::Raw {
        // A live boot is judged by the disk it could install to: give it an empty, sparse one.
        let target = tmp.path().join("target.raw");
        std::fs::File::create(&target)
            .and_then(|f| f.set_len(TARGET_DISK_BYTES))
            .context("creating the blank target disk")?;
        plan.target_disk = Some(target);
    }
    if firmware == Firmware::Uefi {
        for f in [OVMF_CODE, OVMF_VARS] {
            if !Path::new(f).is_file() {
                bail!("{f} is missing: apt-get install ovmf");
            }
        }
        let vars = tmp.path().join("OVMF_VARS.fd");
        std::fs::copy(OVMF_VARS, &vars).context("copying the OVMF variables")?;
        plan.ovmf_vars = Some(vars);
    }
    let mut http = None;
    match format {
        BootFormat::Iso | BootFormat::Usb => {
            if !dir.join("stackbox.iso").is_file() {
                bail!(
                    "{} has no stackbox.iso (build with --formats iso)",
                    dir.display()
                );
            }
        }
        BootFormat::Raw => {
            disk_file(dir)?;
        }
        BootFormat::Pxe => {
            if !Path::new(IPXE_ROM).is_file() {
                bail!("{IPXE_ROM} is missing: apt-get install ipxe-qemu");
            }
            let pxe = dir.join("pxe");
            if !pxe.join("boot.ipxe").is_file() {
                bail!(
                    "{} has no pxe/boot.ipxe (build with --formats pxe)",
                    dir.display()
                );
            }
            let server = crate::http::Server::start(&pxe)?;
            let tftp = tmp.path().join("tftp");
            std::fs::create_dir_all(&tftp)?;
            // 10.0.2.2 is how QEMU user-mode networking lets the guest reach the host's loopback.
            std::fs::write(
                tftp.join(PXE_CHAIN_SCRIPT),
                format!(
                    "#!ipxe\nset base http://10.0.2.2:{}/\nchain ${{base}}boot.ipxe\n",
                    server.port()
                ),
            )?;
            std::fs::write(tmp.path().join(SERCON_FILE), 0x3f8u16.to_le_bytes())?;
            plan.tftp_dir = Some(tftp);
            // The squashfs is copied into RAM by live-boot.
            plan.memory_mib = 4096;
            http = Some(server);
        }
    }
    Ok((plan, tmp, http))
}

/// `stackbox boot`: boots the artifact with the console on this terminal until QEMU exits.
pub fn boot_interactive(
    dir: &Path,
    format: BootFormat,
    firmware: Firmware,
    wizard_port: u16,
) -> anyhow::Result<()> {
    let (plan, _tmp, _http) = prepare(dir, format, firmware, wizard_port)?;
    let argv = args(&plan)?;
    eprintln!(
        "stackbox: booting {} ({:?}, {:?}) under {}; the wizard will be at https://127.0.0.1:{wizard_port}/ \
         (Ctrl-C stops QEMU)",
        dir.display(),
        format,
        firmware,
        if plan.kvm { "KVM" } else { "TCG" }
    );
    let status = std::process::Command::new("qemu-system-x86_64")
        .args(&argv)
        .status()
        .map_err(|e| {
            anyhow::Error::new(e)
                .context("starting qemu-system-x86_64 (apt-get install qemu-system-x86)")
        })?;
    if !status.success() {
        bail!("qemu-system-x86_64 exited with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(format: BootFormat, firmware: Firmware) -> Plan {
        Plan {
            dir: PathBuf::from("/out"),
            format,
            firmware,
            memory_mib: 2048,
            cpus: 2,
            kvm: false,
            wizard_port: 18443,
            ovmf_vars: Some(PathBuf::from("/tmp/vars.fd")),
            tftp_dir: Some(PathBuf::from("/tmp/tftp")),
            direct_kernel: None,
            no_network: false,
            target_disk: None,
            extra_disks: Vec::new(),
        }
    }

    #[test]
    fn usb_uefi_args() {
        let a = args(&plan(BootFormat::Usb, Firmware::Uefi))
            .unwrap()
            .join(" ");
        assert!(a.contains("-accel tcg"), "{a}");
        assert!(
            a.contains("usb-storage,bus=xhci.0,drive=usb0,bootindex=0"),
            "{a}"
        );
        assert!(a.contains("file=/out/stackbox.iso"), "{a}");
        assert!(a.contains(OVMF_CODE), "{a}");
        assert!(a.contains("hostfwd=tcp:127.0.0.1:18443-:8443"), "{a}");
        assert_eq!(a.matches("virtio-net-pci").count(), 2, "{a}");
    }

    #[test]
    fn pxe_args_use_ipxe_and_tftp() {
        let a = args(&plan(BootFormat::Pxe, Firmware::Bios))
            .unwrap()
            .join(" ");
        assert!(a.contains("mac=52:54:00:5b:00:01,bootindex=0"), "{a}");
        assert!(
            a.contains("name=etc/sercon-port,file=/tmp/sercon-port"),
            "{a}"
        );
        assert!(
            a.contains("tftp=/tmp/tftp,bootfile=stackbox-chain.ipxe"),
            "{a}"
        );
        assert!(!a.contains("pflash"), "{a}");
    }

    #[test]
    fn console_classification() {
        assert_eq!(
            classify(
                "STACKBOX-FIRSTBOOT status=pass x",
                "STACKBOX-FIRSTBOOT status="
            ),
            Some(Event::Ready("STACKBOX-FIRSTBOOT status=pass x".into()))
        );
        assert!(matches!(
            classify("[    5.1] Kernel panic - not syncing", "X"),
            Some(Event::Fatal(_))
        ));
        assert!(matches!(
            classify("[FAILED] Failed to start foo.service", "X"),
            Some(Event::Fatal(_))
        ));
        assert_eq!(classify("Welcome", "X"), None);
        assert_eq!(strip_ansi("\u{1b}[0;32m  OK  \u{1b}[0m] x"), "  OK  ] x");
    }
}
