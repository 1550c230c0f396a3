//! Zero-touch installs: when the wizard starts and an answer file is found, it answers its own pages and
//! goes on by itself, saying each phase on the console (`STACKBOX-ZEROTOUCH ...` lines) while the wizard
//! shows the same progress to anyone who signs in.
//!
//! Where the answers come from, first found wins: the kernel command line's `stackbox.answers=https://IP:PORT/PATH`
//! with `stackbox.answers-sha256=HEX` (the file's checksum) and/or `stackbox.answers-fingerprint=SHA256:...`
//! (the server's certificate; nothing else is trusted, and a URL with neither is refused), a file system
//! labelled `STACKBOX` holding `answers.toml` (a second USB stick, or a partition), or one built into the image
//! by `stackbox build --answers FILE` ([`BUILT_IN`]). The whole file is judged before anything is done; a refused answer stops there and
//! says why, field by field.
//!
//! On a live system the answers' admin password and network are stored, then the disk is written (the
//! state, answers included, goes with it) and the system reboots into it. On the installed system the
//! cluster, the node's roles and the settings are answered; with all of them (and the network) the cloud
//! is installed, its smoke test included, and the result said.
//! `STATE/zero-touch.json` records what was done, so a restart goes on rather than repeats.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::Command;
use stackbox_common::fs::write_atomic;
use stackbox_machine::system::Root;

use crate::answers::file::{self, AnswerFile, ClusterAnswer, Machine};
use crate::network;
use crate::state::AppState;
use crate::wizard::disk;

/// The prefix of every console line.
pub const CONSOLE_PREFIX: &str = "STACKBOX-ZEROTOUCH";
/// An answer file built into the image.
pub const BUILT_IN: &str = "/etc/stackbox/answers.toml";
/// The label of a file system that carries `answers.toml`.
pub const LABEL: &str = "STACKBOX";
/// The answer file's name on that file system.
pub const FILE_NAME: &str = "answers.toml";
/// What was done, in the state directory.
pub const RECORD: &str = "zero-touch.json";

/// What zero-touch did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Where the answers came from.
    pub origin: String,
    /// The live system's part is done (password and network stored, disk written).
    pub live_done: bool,
    /// The installed system's answers (cluster, roles, settings) are stored.
    pub installed_done: bool,
}

/// The kernel command line's answer file: its URL and what it is trusted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The server's address.
    pub addr: std::net::SocketAddr,
    /// The path on it.
    pub path: String,
    /// The file's SHA-256 (lower-case hex), when given.
    pub sha256: Option<String>,
    /// The server's certificate fingerprint, when given.
    pub fingerprint: Option<stackbox_cluster::proof::Fingerprint>,
}

/// Reads `stackbox.answers=`, `stackbox.answers-sha256=` and `stackbox.answers-fingerprint=` from a kernel
/// command line; `Ok(None)` without the first. An http URL, a host name, a malformed checksum or
/// fingerprint, or neither of them, is refused.
pub fn remote(cmdline: &str) -> Result<Option<Remote>, String> {
    let arg = |key: &str| {
        cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_owned)
    };
    let Some(url) = arg("stackbox.answers=") else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("stackbox.answers={url}: only https:// URLs are fetched"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: std::net::SocketAddr = host
        .parse()
        .or_else(|_| host.parse::<std::net::IpAddr>().map(|ip| (ip, 443).into()))
        .map_err(|_| {
            format!("stackbox.answers={url}: the host must be an IP address (and port)")
        })?;
    let sha256 = arg("stackbox.answers-sha256=")
        .map(|h| {
            (h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| h.to_ascii_lowercase())
                .ok_or_else(|| format!("stackbox.answers-sha256={h}: not 64 hex digits"))
        })
        .transpose()?;
    let fingerprint = arg("stackbox.answers-fingerprint=")
        .map(|f| {
            stackbox_cluster::proof::Fingerprint::parse(&f).map_err(|_| {
                format!("stackbox.answers-fingerprint={f}: not SHA256: and 32 hex pairs")
            })
        })
        .transpose()?;
    if sha256.is_none() && fingerprint.is_none() {
        return Err(format!(
            "stackbox.answers={url} comes with neither stackbox.answers-sha256= nor stackbox.answers-fingerprint=: nothing else is trusted"
        ));
    }
    Ok(Some(Remote {
        addr,
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
        sha256,
        fingerprint,
    }))
}

/// Fetches a remote answer file, checking what the command line trusts it by.
pub fn fetch(remote: &Remote) -> Result<String, String> {
    let answer =
        stackbox_cluster::client::get_document(remote.addr, remote.fingerprint, &remote.path)
            .map_err(|e| format!("fetching the answer file from {}: {e}", remote.addr))?;
    if answer.status != 200 {
        return Err(format!(
            "fetching the answer file from {}{}: HTTP {}",
            remote.addr, remote.path, answer.status
        ));
    }
    if let Some(want) = &remote.sha256 {
        use sha2::Digest;
        let got = hex::encode(sha2::Sha256::digest(&answer.body));
        if got != *want {
            return Err(format!(
                "the answer file from {}{} has the SHA-256 {got}, the command line says {want}: refused",
                remote.addr, remote.path
            ));
        }
    }
    String::from_utf8(answer.body).map_err(|_| "the answer file is not UTF-8".to_owned())
}

/// Finds the answer file: (where it came from, its text); `None` when there is none.
pub fn find(root: &Root) -> Result<Option<(String, String)>, String> {
    if let Some(remote) = remote(&root.read("/proc/cmdline").unwrap_or_default())? {
        // The network may come up after the wizard: try for two minutes.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            match fetch(&remote) {
                Ok(text) => {
                    return Ok(Some((
                        format!("https://{}{}", remote.addr, remote.path),
                        text,
                    )));
                }
                Err(e)
                    if e.contains("refused")
                        || e.contains("presented the certificate")
                        || std::time::Instant::now() > deadline =>
                {
                    return Err(e);
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_secs(5)),
            }
        }
    }
    if root.is_live()
        && let Some(found) = from_label()?
    {
        return Ok(Some(found));
    }
    match std::fs::read_to_string(root.path(BUILT_IN)) {
        Ok(text) => Ok(Some((BUILT_IN.to_owned(), text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{BUILT_IN}: {e}")),
    }
}

/// `answers.toml` from a file system labelled [`LABEL`] (each one is tried), mounted read-only for the time
/// of the read.
fn from_label() -> Result<Option<(String, String)>, String> {
    let Ok(found) = Command::new("blkid")
        .args(["-o", "device", "-t"])
        .arg(format!("LABEL={LABEL}"))
        .run()
    else {
        return Ok(None);
    };
    for dev in found
        .stdout
        .lines()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        if let Some(text) = read_from(dev)? {
            return Ok(Some((format!("{dev} (label {LABEL})"), text)));
        }
    }
    Ok(None)
}

/// `answers.toml` of the file system on `dev`, when it has one.
fn read_from(dev: &str) -> Result<Option<String>, String> {
    let mnt = PathBuf::from("/run/stackbox-answers");
    std::fs::create_dir_all(&mnt).map_err(|e| format!("{}: {e}", mnt.display()))?;
    Command::new("mount")
        .args(["-o", "ro"])
        .arg(dev)
        .arg(&mnt)
        .run()
        .map_err(|e| format!("mounting {dev} (label {LABEL}): {e}"))?;
    let text = std::fs::read_to_string(mnt.join(FILE_NAME));
    let _ = Command::new("umount").arg(&mnt).run();
    match text {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{dev} (label {LABEL}): {FILE_NAME}: {e}")),
    }
}

/// Says a line on the console (the serial console too) and in the journal; never a secret.
fn say(root: &Path, line: &str) {
    let line = format!("{CONSOLE_PREFIX} {line}");
    tracing::info!("{line}");
    println!("{line}");
    if root == Path::new("/")
        && let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console")
    {
        use std::io::Write;
        let _ = console.write_all(format!("\r\n{line}\r\n").as_bytes());
    }
}

/// Runs zero-touch on a thread of its own when an answer file is found.
pub fn start(state: actix_web::web::Data<AppState>) {
    std::thread::spawn(move || {
        let root = state.opts.root.clone();
        if let Err(why) = run(&state) {
            say(&root, &format!("status=stopped {why}"));
        }
    });
}

fn run(state: &AppState) -> Result<(), String> {
    let root_dir = state.opts.root.clone();
    let root = Root::at(&root_dir);
    let Some((origin, text)) = find(&root)? else {
        tracing::info!(
            "no answer file (no {FILE_NAME} on a file system labelled {LABEL}, no {BUILT_IN}): the wizard waits for the operator"
        );
        return Ok(());
    };
    let record_path = state.opts.state_dir.join(RECORD);
    let mut record: Record = std::fs::read_to_string(&record_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    record.origin = origin.clone();
    say(
        &root_dir,
        &format!("phase=answers status=found origin={origin}"),
    );
    // A machine that fails the hardware check is not installed to by itself: the operator decides.
    let report = state.wizard.report();
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status == stackbox_firstboot::check::Status::Fail)
        .collect();
    if !failed.is_empty() {
        for c in &failed {
            say(
                &root_dir,
                &format!("phase=checks status=failed {}: {}", c.id, c.summary),
            );
        }
        return Err(format!(
            "the hardware check failed ({} checks): fix them, or install from the wizard",
            failed.len()
        ));
    }
    say(&root_dir, "phase=checks status=passed");
    let answers = judge(state, &root, &text)?;
    say(&root_dir, "phase=answers status=accepted");
    let live = root.booted_live();
    if live {
        if !record.live_done {
            apply_live(state, &answers)?;
            record.live_done = true;
            keep(&record_path, &record)?;
        }
        let disk = answers.disk.as_ref().ok_or("no [disk] on a live system")?;
        say(
            &root_dir,
            &format!("phase=disk status=running target={}", disk.target),
        );
        let opts = disk::options(&root_dir, &state.opts.state_dir, &disk.target);
        let console = root_dir.clone();
        state.wizard.disks.start(
            opts,
            disk.reboot,
            Box::new(move |l| say(&console, &format!("phase=disk {l}"))),
        )?;
        return Ok(());
    }
    if !record.installed_done {
        apply_network(state, &root_dir)?;
        apply_installed(state, &answers)?;
        record.installed_done = true;
        keep(&record_path, &record)?;
    }
    if let Some(ClusterAnswer::Join { address, .. }) = &answers.cluster {
        say(
            &root_dir,
            &format!(
                "phase=cluster status=joined member={address}; the first node assigns this node's roles and grows the cluster"
            ),
        );
        return Ok(());
    }
    let complete = answers.network.is_some()
        && matches!(answers.cluster, Some(ClusterAnswer::Create { .. }))
        && answers.roles.is_some()
        && answers.settings.is_some();
    if !complete {
        say(
            &root_dir,
            "phase=answers status=stored; the answers end here: the wizard waits for the rest",
        );
        return Ok(());
    }
    cloud(state, &root_dir)
}

/// Installs the cloud from the stored answers (unless it is complete already), saying each tenth of the
/// steps and the result on the console.
fn cloud(state: &AppState, root: &Path) -> Result<(), String> {
    use stackbox_installer::progress::Phase;
    let wizard = &state.wizard;
    if wizard.phase() == Phase::Complete {
        say(root, "phase=cloud status=complete (installed before)");
        return Ok(());
    }
    crate::wizard::finish::start_install(wizard, false)
        .map_err(|e| format!("starting the install: {e}"))?;
    say(root, "phase=cloud status=running");
    let mut said = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let progress = wizard.runner.progress();
        let (finished, total) = progress.counts();
        if total > 0 && finished * 10 / total > said {
            said = finished * 10 / total;
            say(
                root,
                &format!("phase=cloud status=running steps={finished}/{total}"),
            );
        }
        match progress.phase {
            Phase::Complete => {
                say(
                    root,
                    &format!(
                        "phase=cloud status=complete steps={finished}/{total}; sign in to take the admin credentials"
                    ),
                );
                return Ok(());
            }
            Phase::Failed => {
                let step = progress
                    .failure
                    .as_ref()
                    .and_then(|f| f.step.clone())
                    .unwrap_or_default();
                return Err(format!(
                    "phase=cloud status=failed step={step}: the wizard's Install page says why and retries"
                ));
            }
            _ => {}
        }
    }
}

fn keep(path: &Path, record: &Record) -> Result<(), String> {
    let text = serde_json::to_string_pretty(record).map_err(|e| e.to_string())?;
    write_atomic(path, format!("{text}\n").as_bytes(), 0o600)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and judges the answers with the wizard's rules on this machine; every refusal is said.
fn judge(state: &AppState, root: &Root, text: &str) -> Result<AnswerFile, String> {
    let refused = |errors: Vec<file::AnswerError>| {
        for e in &errors {
            say(root.dir(), &format!("phase=answers status=refused {e}"));
        }
        format!("the answer file was refused ({} problems)", errors.len())
    };
    let answers = file::parse(text).map_err(refused)?;
    let disks: Vec<String> = stackbox_machine::probe::block::probe(root)
        .into_iter()
        .map(|d| d.name)
        .collect();
    let nics = state.wizard.nic_names();
    let judge_roles = |chosen: &[String]| match state.wizard.judge_roles(chosen) {
        Ok(Ok((_, report))) => crate::answers::roles::failures(&report),
        Ok(Err(errors)) => errors,
        Err(e) => vec![crate::error::FieldError::new("roles", e.to_string())],
    };
    let machine = Machine {
        live: root.booted_live(),
        disks: &disks,
        nics: &nics,
        judge_roles: &judge_roles,
    };
    file::validate(&answers, &machine).map_err(refused)?;
    Ok(answers)
}

/// On the live system: the admin password and the network (kept in the state that goes to the disk).
fn apply_live(state: &AppState, answers: &AnswerFile) -> Result<(), String> {
    state
        .passwords
        .set_hash(&answers.password_hash)
        .map_err(|e| format!("storing the admin password's hash: {e:#}"))?;
    if let Some(form) = &answers.network {
        let settings = network::validate(form, &state.wizard.nic_names())
            .map_err(|e| format!("network: {e:?}"))?;
        state
            .wizard
            .store_network(&settings)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// On the installed system: the stored network, applied with automatic rollback and kept once its probe
/// passed (no one is there to confirm); the cloud is then built on addresses the host holds.
fn apply_network(state: &AppState, root: &Path) -> Result<(), String> {
    let wizard = &state.wizard;
    let Some(settings) = wizard.answers.network().map_err(|e| e.to_string())? else {
        return Ok(());
    };
    say(root, "phase=network status=applying");
    match wizard
        .network
        .apply_unattended(&settings, &wizard.nic_facts())
    {
        Ok(seen) => {
            say(
                root,
                &format!("phase=network status=applied {}", seen.join("; ")),
            );
            Ok(())
        }
        Err(e) => {
            let why = stackbox_common::error::chain(&e);
            say(root, &format!("phase=network status=failed {why}"));
            Err(format!("network: {why}"))
        }
    }
}

/// A wizard error in words, each refused field named.
fn words(e: &crate::error::WebError) -> String {
    match e {
        crate::error::WebError::Invalid(errors) => errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// On the installed system: the cluster, the node's roles and the settings, as far as the answers go.
fn apply_installed(state: &AppState, answers: &AnswerFile) -> Result<(), String> {
    if !state.passwords.is_set() {
        apply_live(state, answers)?;
    }
    let wizard = &state.wizard;
    match &answers.cluster {
        Some(ClusterAnswer::Create { name, api_address }) => {
            wizard
                .create_cluster(name, api_address)
                .map_err(|e| format!("cluster: {e}"))?;
        }
        Some(ClusterAnswer::Join {
            address,
            code,
            fingerprint,
        }) => {
            // The pre-join checks, the code's key and the pinned request, as the Cluster page's join.
            wizard
                .join_existing(address, code, fingerprint, std::time::SystemTime::now())
                .map_err(|e| format!("joining the member at {address}: {}", words(&e)))?;
            // A joined node's roles are assigned on the first node, which grows the cluster.
            return Ok(());
        }
        None => return Ok(()),
    }
    if let Some(roles) = &answers.roles {
        match wizard
            .assign_roles(roles)
            .map_err(|e| format!("roles: {e}"))?
        {
            crate::wizard::RolesOutcome::Saved(..) => {}
            crate::wizard::RolesOutcome::Refused(errors, _) => {
                let why: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
                return Err(format!("roles: {}", why.join("; ")));
            }
        }
    }
    if let Some(form) = &answers.settings {
        wizard
            .store_settings(form)
            .map_err(|e| format!("settings: {e}"))?;
    }
    Ok(())
}
