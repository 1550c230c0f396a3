//! Zero-touch from a USB stick (and over PXE): the ISO as a USB stick, a blank disk and a small FAT disk
//! labelled STACKBOX that holds an answer file. The live system finds the answers, installs itself to the disk and reboots;
//! QEMU then starts again with the disk alone, which reaches its first-boot line with the certificate of the
//! live boot, and whose wizard, signed in with the answer file's password, resumes at the next step.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stackbox_image::qemu::{self, BootFormat, Firmware, Guest};

use super::{BOOT_LIMIT, FIRSTBOOT, first_boot, free_port, image};

/// The password the answer file's hash is made from (a test's own, on loopback only).
const PASSWORD: &str = "zero touch rack nineteen";
/// The console line of a finished install to disk.
const DISK_DONE: &str = "STACKBOX-ZEROTOUCH phase=disk install to disk: done";
/// Upper bound for the live boot, the SHA-256 of the squashfs and the copy, under TCG.
const INSTALL_LIMIT: Duration = Duration::from_secs(1500);

fn stackboxd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stackboxd"))
}

/// The argon2id hash of [`PASSWORD`], as an operator makes it.
fn password_hash() -> String {
    let mut child = stackboxd()
        .args(["answers", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running stackboxd answers hash-password");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("writing the password");
    let out = child.wait_with_output().expect("hash-password");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A small FAT disk labelled STACKBOX with `answers.toml`.
fn answers_disk(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("answers.toml");
    std::fs::write(&file, text).expect("writing answers.toml");
    let disk = dir.join("answers.img");
    let _ = std::fs::remove_file(&disk);
    let ok =
        |cmd: &mut Command| assert!(cmd.status().expect("running a tool").success(), "{cmd:?}");
    ok(Command::new("mkfs.vfat")
        .args(["-C", "-n", "STACKBOX"])
        .arg(&disk)
        .arg("8192"));
    ok(Command::new("mcopy")
        .arg("-i")
        .arg(&disk)
        .arg(&file)
        .arg("::/answers.toml"));
    disk
}

/// The fingerprint at the end of a first-boot line.
fn fingerprint(line: &str) -> String {
    line.rsplit("fingerprint=")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Signs in to the wizard at `port` with the password; the sign-in's redirect (where the wizard resumes).
fn resumes_at(port: u16, dir: &Path) -> Option<String> {
    let jar = dir.join("cookies");
    let url = format!("https://127.0.0.1:{port}/login");
    let page = Command::new("curl")
        .args(["-sk", "--max-time", "10", "-c"])
        .arg(&jar)
        .arg(&url)
        .output()
        .ok()?;
    let body = String::from_utf8_lossy(&page.stdout);
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    let secret = dir.join("secret");
    std::fs::write(&secret, PASSWORD).ok()?;
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-b",
        ])
        .arg(&jar)
        .arg("--data-urlencode")
        .arg(format!("csrf={csrf}"))
        .arg("--data-urlencode")
        .arg(format!("secret@{}", secret.display()))
        .arg(&url)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The live system (a USB stick, or PXE) installs to the disk by itself; the disk alone boots and resumes
/// the wizard.
fn zero_touch(format: BootFormat, firmware: Firmware) {
    let img = image();
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a scratch directory");
    let answers = format!(
        "[disk]\ntarget = \"/dev/vda\"\nreboot = true\n\n[admin]\npassword_hash = \"{}\"\n",
        password_hash()
    );
    let stick = answers_disk(tmp.path(), &answers);
    // The command an operator checks the file with judges a machine: a captured server has no disk vda.
    let server = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("machine/tests/fixtures/machines/intel-server-4nic/root");
    let check = stackboxd()
        .args(["answers", "check", "--live", "--root"])
        .arg(&server)
        .arg(tmp.path().join("answers.toml"))
        .output()
        .expect("stackboxd answers check");
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        said.contains("disk.target: there is no disk /dev/vda"),
        "{said}"
    );

    let target = tmp.path().join("disk.raw");
    std::fs::File::create(&target)
        .and_then(|f| f.set_len(16 << 30))
        .expect("the blank target disk");
    let (mut plan, scratch, http) =
        qemu::prepare(img, format, firmware, free_port()).expect("preparing the live boot");
    plan.target_disk = Some(target.clone());
    plan.extra_disks = vec![stick];
    let mut guest = Guest::spawn(&plan, Some(scratch), http).expect("starting QEMU");
    // The medium's boot test: this is the tier's only boot of it.
    let live = first_boot(&mut guest, format, firmware);
    let started = Instant::now();
    // Every zero-touch line is shown; a refusal, a stop or a failure ends the test at once.
    let done = loop {
        let left = INSTALL_LIMIT.saturating_sub(started.elapsed());
        let line = guest
            .wait_for("STACKBOX-ZEROTOUCH", left)
            .unwrap_or_else(|e| panic!("zero-touch {format:?}/{firmware:?}: {e:#}"));
        eprintln!(
            "zero-touch {format:?}/{firmware:?} +{:.0} s: {line}",
            started.elapsed().as_secs_f64()
        );
        if line.contains(DISK_DONE) {
            break line;
        }
        if ["status=stopped", "status=refused", "FAILED"]
            .iter()
            .any(|w| line.contains(w))
        {
            panic!(
                "zero-touch {format:?}/{firmware:?} stopped: {line}\nconsole tail:\n{}",
                guest.tail(40)
            );
        }
    };
    eprintln!(
        "zero-touch {format:?}/{firmware:?}: installed to disk {:.0} s after the first-boot line: {done}",
        started.elapsed().as_secs_f64()
    );
    guest
        .wait_exit(Duration::from_secs(180))
        .unwrap_or_else(|e| panic!("zero-touch {format:?}/{firmware:?}: the reboot: {e:#}"));

    let boot_dir = tmp.path().join("installed");
    std::fs::create_dir_all(&boot_dir).expect("a directory for the disk");
    std::fs::hard_link(&target, boot_dir.join("disk.raw")).expect("linking the disk");
    let port = free_port();
    let (plan, scratch, http) =
        qemu::prepare(&boot_dir, BootFormat::Raw, firmware, port).expect("preparing the disk boot");
    let mut guest = Guest::spawn(&plan, Some(scratch), http).expect("starting QEMU");
    let line = guest
        .wait_for(FIRSTBOOT, BOOT_LIMIT)
        .unwrap_or_else(|e| panic!("installed {format:?}/{firmware:?}: {e:#}"));
    eprintln!("installed {format:?}/{firmware:?}: {line}");
    assert_eq!(
        fingerprint(&line),
        fingerprint(&live),
        "the certificate changed"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let resumed = loop {
        match resumes_at(port, tmp.path()) {
            Some(r) if r.starts_with("303") => break r,
            other if Instant::now() > deadline => {
                panic!(
                    "the installed wizard did not sign in: {other:?}\n{}",
                    guest.tail(30)
                )
            }
            _ => std::thread::sleep(Duration::from_secs(3)),
        }
    };
    assert!(
        resumed.ends_with("/network"),
        "the wizard must resume at the network step after the disk: {resumed}"
    );
    guest.kill();
}

#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn zero_touch_from_a_usb_stick_with_uefi() {
    zero_touch(BootFormat::Usb, Firmware::Uefi);
}

#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn zero_touch_from_a_usb_stick_with_bios() {
    zero_touch(BootFormat::Usb, Firmware::Bios);
}

/// PXE: live-boot fetched the squashfs into RAM; install-os checks it against the SHA-256 that boot.ipxe put
/// on the kernel command line.
#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn zero_touch_from_pxe_with_bios() {
    zero_touch(BootFormat::Pxe, Firmware::Bios);
}
