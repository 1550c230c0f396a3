//! `stackboxd install-os` on the build host, from the built image's squashfs to loop devices: what it refuses
//! (nothing written), a run killed while it copies (the disk boots nothing), a rerun that completes, and the
//! installed disk booting under BIOS and UEFI with the wizard's certificate carried over.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use stackbox_image::layout::{ROOT_START, SECTOR};
use stackbox_image::qemu::{self, BootFormat, Firmware, Guest};

use super::{BOOT_LIMIT, FIRSTBOOT, free_port, image};

/// A loop device over a sparse file, detached when dropped.
struct Loop {
    dev: PathBuf,
    file: PathBuf,
}

impl Loop {
    fn new(file: PathBuf, bytes: u64) -> Loop {
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(bytes))
            .expect("creating a sparse disk file");
        let out = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file));
        Loop {
            dev: PathBuf::from(out.trim()),
            file,
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn install_os(target: &Path, source: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackboxd"));
    cmd.arg("install-os")
        .arg("--target")
        .arg(target)
        .arg("--source")
        .arg(source)
        .arg("--state")
        .arg(state)
        .arg("--yes");
    cmd
}

/// Runs install-os and expects a refusal that names `words`, with the disk's first MiB untouched.
fn refused(out: Output, words: &str, dev: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(words), "expected {words:?} in: {stderr}");
    assert!(
        head(dev, 1 << 20).iter().all(|&b| b == 0xA5),
        "a refused install-os wrote to {}",
        dev.display()
    );
}

fn head(dev: &Path, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open(dev)
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading the disk's head");
    buf
}

fn mark(dev: &Path) {
    stackbox_image::layout::write_at(dev, 0, &vec![0xA5u8; 1 << 20]).expect("marking the disk");
}

/// Whether the disk has a partition table (an MBR signature or a GPT header).
fn partitioned(dev: &Path) -> bool {
    let h = head(dev, 1024);
    h[510..512] == [0x55, 0xAA] || &h[512..520] == b"EFI PART"
}

#[test]
#[ignore = "boot tier: needs root, loop devices, QEMU and a built image (see the module docs)"]
fn install_os_refuses_survives_a_kill_and_installs_a_disk_that_boots() {
    let img = image();
    let squashfs = img.join("pxe/filesystem.squashfs");
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let state = tmp.path().join("state");
    let identity = stackbox_firstboot::identity::ensure(&state, &["stackbox".into()])
        .expect("a wizard identity");
    std::fs::write(state.join("firstboot.done"), "live\n").unwrap();

    // Too small: judged after the source is verified, before anything is written.
    let small = Loop::new(tmp.path().join("small.raw"), 2 << 30);
    mark(&small.dev);
    refused(
        install_os(&small.dev, &squashfs, &state).output().unwrap(),
        "is too small",
        &small.dev,
    );
    // A disk with a mounted file system.
    let used = Loop::new(tmp.path().join("used.raw"), 64 << 20);
    run(Command::new("mkfs.ext4").arg("-q").arg(&used.dev));
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    run(Command::new("mount").arg(&used.dev).arg(&mnt));
    let out = install_os(&used.dev, &squashfs, &state).output().unwrap();
    run(Command::new("umount").arg(&mnt));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use") && stderr.contains("is mounted at"),
        "{stderr}"
    );
    // The boot medium, in a mount namespace of its own where the disk is the live medium.
    let script = format!(
        "mount -t tmpfs none /run && mkdir -p /run/live/medium && mount -o ro {} /run/live/medium && exec \"$@\"",
        used.dev.display()
    );
    let cmd = install_os(&used.dev, &squashfs, &state);
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("holds the medium this system booted from"),
        "{stderr}"
    );
    drop(used);

    // Killed while it copies the root: no partition table, so nothing boots; a rerun completes.
    let disk = Loop::new(tmp.path().join("disk.raw"), 12 << 30);
    mark(&disk.dev);
    let mut child = install_os(&disk.dev, &squashfs, &state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        eprintln!("{line}");
        if line.contains("copying the root file system") {
            break;
        }
    }
    // mkfs has begun writing the root (it takes seconds here, minutes on a real disk).
    std::thread::sleep(Duration::from_secs(1));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !partitioned(&disk.dev),
        "a killed install-os left a partition table"
    );
    let started = std::time::Instant::now();
    let out = cmd_output(install_os(&disk.dev, &squashfs, &state));
    eprintln!(
        "install-os to a 12 GiB loop device: {:.1} s\n{out}",
        started.elapsed().as_secs_f64()
    );
    assert!(out.contains("installed to"), "{out}");
    assert!(partitioned(&disk.dev));
    check_installed(&disk, &identity, tmp.path());

    // The disk alone boots, under both firmwares, with the certificate the operator already trusted.
    let boot_dir = tmp.path().join("boot");
    std::fs::create_dir_all(&boot_dir).unwrap();
    let file = disk.file.clone();
    drop(disk);
    std::fs::hard_link(&file, boot_dir.join("disk.raw")).unwrap();
    for firmware in [Firmware::Uefi, Firmware::Bios] {
        let (plan, scratch, http) =
            qemu::prepare(&boot_dir, BootFormat::Raw, firmware, free_port())
                .expect("preparing the QEMU boot");
        let mut guest = Guest::spawn(&plan, Some(scratch), http).expect("starting QEMU");
        let line = guest
            .wait_for(FIRSTBOOT, BOOT_LIMIT)
            .unwrap_or_else(|e| panic!("installed disk, {firmware:?}: {e:#}"));
        eprintln!("installed disk, {firmware:?}: {line}");
        assert!(!line.contains("status=fail"), "{line}");
        assert!(
            line.ends_with(&format!("fingerprint={}", identity.fingerprint)),
            "the installed system must keep the wizard's certificate: {line}"
        );
        guest.kill();
    }
}

fn cmd_output(mut cmd: Command) -> String {
    let out = cmd.output().expect("running install-os");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "install-os failed: {text}");
    text
}

/// The installed root, mounted read-only: fstab names its UUID, the state came over without the first-boot
/// marker and with its modes, the machine-id is new.
fn check_installed(
    disk: &Loop,
    identity: &stackbox_firstboot::identity::WizardIdentity,
    tmp: &Path,
) {
    let table = run(Command::new("sfdisk").arg("--dump").arg(&disk.dev));
    assert!(
        table.contains("label: gpt") && table.contains("name=\"root\""),
        "{table}"
    );
    let mnt = tmp.join("installed");
    std::fs::create_dir_all(&mnt).expect("creating a mount point");
    run(Command::new("mount")
        .arg("-o")
        .arg(format!("ro,loop,offset={}", ROOT_START * SECTOR))
        .arg(&disk.dev)
        .arg(&mnt));
    let read = |p: &str| std::fs::read_to_string(mnt.join(p)).unwrap_or_default();
    let fstab = read("etc/fstab");
    let record = read("var/lib/stackbox/installed.json");
    let cert_same = std::fs::read(
        mnt.join("var/lib/stackbox")
            .join(stackbox_firstboot::identity::CERT_FILE),
    )
    .ok()
        == std::fs::read(&identity.cert_path).ok();
    let key_mode = std::fs::metadata(
        mnt.join("var/lib/stackbox")
            .join(stackbox_firstboot::identity::KEY_FILE),
    )
    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    let marker = mnt.join("var/lib/stackbox/firstboot.done").exists();
    let machine_id = read("etc/machine-id");
    let grub = read("boot/grub/grub.cfg");
    run(Command::new("umount").arg(&mnt));
    let uuid =
        serde_json::from_str::<serde_json::Value>(&record).expect("installed.json")["root_uuid"]
            .as_str()
            .expect("installed.json names the root's UUID")
            .to_owned();
    assert!(fstab.contains(&format!("UUID={uuid} / ext4")), "{fstab}");
    assert!(grub.contains(&format!("root=UUID={uuid} ")), "{grub}");
    assert!(cert_same, "the wizard's certificate was not carried over");
    assert_eq!(key_mode.ok(), Some(0o600));
    assert!(!marker, "first boot must run again on the installed disk");
    assert_eq!(machine_id.trim().len(), 32, "{machine_id:?}");
}
