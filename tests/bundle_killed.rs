//! `stackboxd bundle --out FILE` killed midway (SIGKILL, the real binary) leaves no FILE, half-written or
//! otherwise, and never destroys a FILE that is there. The bundle is held at a known point by a fake
//! command first on its PATH (`df` while it collects, `tar` while it packs) that says it has started and
//! then waits, so the kill lands where the test wants it, without a fixed sleep.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A node's root with nothing but its name and an empty state directory.
fn root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/stackbox")).unwrap();
    std::fs::write(root.join("etc/hostname"), "node1\n").unwrap();
    root
}

/// A directory with the executable `name`: it writes its pid to `$READY`, then waits until `$GO` exists
/// (its parent killed or not), then does `then`.
fn fake(dir: &Path, name: &str, then: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > \"$READY.tmp\" && mv \"$READY.tmp\" \"$READY\"\n\
             while [ ! -e \"$GO\" ]; do sleep 0.1; done\n{then}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn bundle(root: &Path, out: &Path, bin: Option<&Path>, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stackboxd"));
    c.arg("bundle")
        .arg("--out")
        .arg(out)
        .arg("--root")
        .arg(root)
        .arg("--this-node")
        .env("READY", dir.join("ready"))
        .env("GO", dir.join("go"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(bin) = bin {
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("{}:{path}", bin.display()));
    }
    c
}

/// Waits for the fake command's pid (the bundle reached it), failing if the bundle ended first.
fn reached(child: &mut Child, dir: &Path) -> u32 {
    let ready = dir.join("ready");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(pid) = std::fs::read_to_string(&ready) {
            return pid.trim().parse().unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the bundle ended ({status}) before it reached the fake command");
        }
        assert!(
            Instant::now() < deadline,
            "the bundle never reached the fake command"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// SIGKILL to the bundle; the fake command (its grandchild, under timeout(1)) is let go.
fn kill(mut child: Child, dir: &Path) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    std::fs::write(dir.join("go"), "").unwrap();
}

#[test]
fn a_bundle_killed_while_it_collects_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = root(dir);
    let outs = dir.join("out");
    std::fs::create_dir(&outs).unwrap();
    let out = outs.join("bundle.tar.gz");
    let bin = fake(dir, "df", "exit 0");
    let mut child = bundle(&root, &out, Some(&bin), dir).spawn().unwrap();
    reached(&mut child, dir);
    kill(child, dir);
    assert!(!out.exists(), "a killed bundle left {}", out.display());
    assert!(names(&outs).is_empty(), "left: {:?}", names(&outs));
}

#[test]
fn a_bundle_killed_while_it_packs_leaves_no_file_and_the_next_one_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = root(dir);
    let outs = dir.join("out");
    std::fs::create_dir(&outs).unwrap();
    let out = outs.join("bundle.tar.gz");
    // tar writes the start of an archive, then hangs.
    let bin = fake(dir, "tar", "exit 1");
    let script = std::fs::read_to_string(bin.join("tar")).unwrap();
    let script = script.replacen(
        "#!/bin/sh\n",
        "#!/bin/sh\nprintf 'half an archive' > \"$2\"\n",
        1,
    );
    std::fs::write(bin.join("tar"), script).unwrap();
    let mut child = bundle(&root, &out, Some(&bin), dir).spawn().unwrap();
    reached(&mut child, dir);
    kill(child, dir);
    assert!(
        !out.exists(),
        "a bundle killed while packing left {}",
        out.display()
    );
    // Its private staging directory (with the half archive) is all that is left, under its own name.
    let left = names(&outs);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".stackbox-bundle-"), "{left:?}");
    // The next bundle there is whole, and removes what the killed one left.
    let done = bundle(&root, &out, None, dir).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let listed = Command::new("tar").arg("-tzf").arg(&out).output().unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("stackbox-bundle/summary.txt"),
        "{listed:?}"
    );
    assert_eq!(names(&outs), ["bundle.tar.gz"], "only the bundle is left");
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_file_that_is_there_or_appears_while_the_bundle_runs_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = root(dir);
    let outs = dir.join("out");
    std::fs::create_dir(&outs).unwrap();
    let out = outs.join("bundle.tar.gz");
    // A FILE that is there from the start is refused before anything is collected.
    std::fs::write(&out, "the previous bundle").unwrap();
    let refused = bundle(&root, &out, None, dir).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exists"));
    // One that appears while the bundle collects, or while it packs (after its last look: the archive's
    // link is what refuses it), is kept as it is.
    let which = Command::new("sh")
        .args(["-c", "command -v tar"])
        .output()
        .unwrap();
    let tar = String::from_utf8_lossy(&which.stdout).trim().to_owned();
    assert!(tar.starts_with('/'), "no tar: {which:?}");
    for (name, then) in [
        ("df", "exit 0".to_owned()),
        ("tar", format!("exec {tar} \"$@\"")),
    ] {
        std::fs::remove_file(&out).unwrap();
        let _ = std::fs::remove_dir_all(dir.join("bin"));
        let _ = std::fs::remove_file(dir.join("ready"));
        let _ = std::fs::remove_file(dir.join("go"));
        let bin = fake(dir, name, &then);
        let mut child = bundle(&root, &out, Some(&bin), dir).spawn().unwrap();
        reached(&mut child, dir);
        std::fs::write(&out, "the previous bundle").unwrap();
        std::fs::write(dir.join("go"), "").unwrap();
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("exists: give another --out"),
            "{name}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "the previous bundle",
            "{name}"
        );
        assert_eq!(names(&outs), ["bundle.tar.gz"], "{name}");
    }
}
