//! The support bundle (`stackboxd bundle --out FILE`): what an operator sends when asking for help, with
//! no secret in it. This node's part is collected ([`collect`]: journal, answers, hardware report,
//! failed units and their journals, logs, rendered configuration, Galera and RabbitMQ status, ruleset,
//! addresses and routes), redacted at the source ([`redact`]: every secret the appliance generated, in
//! every form, then private keys and password patterns) and checked: a known secret still present refuses
//! the whole bundle (fail closed). The archive (gzip'd tar, mode 0600) opens with `summary.txt` and
//! `redaction-report.txt`; the node's files are under `nodes/NAME/`.
//!
//! Not built yet: the other nodes' parts through their agents (a bundle holds the node it was made on),
//! the diagnoses, and the wizard's download.

pub mod collect;
pub mod redact;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use stackbox_common::cmd::Command;

use collect::{Collected, Part};
use redact::{Leak, Redactor, Report};

/// `stackboxd bundle`'s options.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The archive to write (gzip'd tar, mode 0600); refused when it exists.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Read files under DIR instead of `/` (the commands still run on this machine): for tests and for a
    /// mounted disk.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The wizard's state directory (under --root).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
}

/// Why no bundle was written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The output exists.
    #[error("{0} exists: give another --out (nothing was overwritten)")]
    Exists(String),
    /// The secrets could not be read, so nothing could be redacted by value.
    #[error("reading the secrets to redact ({path}): {reason}")]
    Secrets {
        /// The file.
        path: String,
        /// Why (never its contents).
        reason: String,
    },
    /// A known secret survived redaction.
    #[error(transparent)]
    Leak(#[from] Leak),
    /// Writing the archive.
    #[error("writing {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// tar failed.
    #[error("packing the bundle: {0}")]
    Tar(#[source] stackbox_common::cmd::CmdError),
}

/// A bundle ready to write: its files, redacted and checked, summary first.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// (path in the archive, text).
    pub files: Vec<(String, String)>,
    /// What was redacted.
    pub report: Report,
}

/// The generated secrets of the node under `root` with state directory `state`: the cluster's
/// (`/etc/stackbox/secrets.toml`, when the node is installed), the wizard's setup token, the open join
/// code and RabbitMQ's Erlang cookie.
pub fn known_secrets(root: &Path, state: &Path) -> Result<Vec<(String, String)>, BundleError> {
    let at = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let mut out = Vec::new();
    let secrets = at(Path::new(stackbox_installer::secrets::DEFAULT_PATH));
    if secrets.exists() {
        let fail = |reason: String| BundleError::Secrets {
            path: secrets.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(&secrets).map_err(|e| fail(e.to_string()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|_| fail("not a TOML table".to_owned()))?;
        for (name, value) in table {
            if let Some(v) = value.as_str() {
                out.push((name, v.to_owned()));
            }
        }
    }
    let token = at(&state.join(stackbox_firstboot::identity::TOKEN_FILE));
    if let Ok(t) = std::fs::read_to_string(token) {
        out.push(("setup-token".to_owned(), t.trim().to_owned()));
    }
    let code = at(&state.join(crate::code::CODE_FILE));
    if let Ok(text) = std::fs::read_to_string(code)
        && let Ok(serde_json::Value::Object(o)) = serde_json::from_str(&text)
        && let Some(serde_json::Value::String(c)) = o.get("code")
    {
        out.push(("join-code".to_owned(), c.clone()));
        out.push(("join-code".to_owned(), c.replace('-', "")));
    }
    if let Ok(c) = std::fs::read_to_string(at(Path::new("/var/lib/rabbitmq/.erlang.cookie"))) {
        out.push(("erlang-cookie".to_owned(), c.trim().to_owned()));
    }
    Ok(out)
}

/// The summary page: the node, what failed, the cluster's state as its commands saw it, and what could
/// not be collected.
fn summary(node: &str, c: &Collected) -> String {
    let part = |name: &str| {
        c.parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.text.as_str())
    };
    let mut s = format!(
        "stackbox support bundle\nnode: {node}\nimage version: {}\nmade: {}\n\n",
        crate::image_version(),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    );
    let failed: Vec<&str> = part("status/failed-units.txt")
        .map(|t| t.lines().skip(1).filter(|l| !l.trim().is_empty()).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "failed units: {}",
        if failed.is_empty() {
            "none".to_owned()
        } else {
            failed.len().to_string()
        }
    );
    for line in &failed {
        let _ = writeln!(s, "  {line}");
    }
    if let Some(g) = part("status/galera.txt") {
        for key in [
            "wsrep_cluster_status",
            "wsrep_cluster_size",
            "wsrep_local_state_comment",
        ] {
            if let Some(line) = g.lines().find(|l| l.starts_with(key)) {
                let _ = writeln!(
                    s,
                    "galera: {}",
                    line.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
        }
    }
    if let Some(j) = part("install/journal.txt") {
        let failed = j.lines().filter(|l| l.contains(" failed ")).count();
        let running = j.lines().filter(|l| l.contains(" running ")).count();
        let _ = writeln!(
            s,
            "install journal: {failed} failed steps, {running} interrupted"
        );
    }
    let _ = writeln!(s, "\nfiles: {} (under nodes/{node}/)", c.parts.len());
    if !c.missing.is_empty() {
        let _ = writeln!(s, "not collected ({}):", c.missing.len());
        for (what, why) in &c.missing {
            let _ = writeln!(s, "  {what}: {why}");
        }
    }
    s.push_str("\nEvery secret the appliance generated was redacted at the source (as written, URL-encoded and\nbase64), then private keys and password values; redaction-report.txt counts what, never values.\n");
    s
}

/// Redacts and checks `collected` (node `node`): the bundle's files, summary and report first; a known
/// secret left anywhere refuses it.
pub fn build(node: &str, collected: &Collected, redactor: &Redactor) -> Result<Bundle, Leak> {
    let mut report = Report::default();
    let mut files = Vec::new();
    let summary = redactor.redact("summary.txt", &summary(node, collected), &mut report);
    redactor.check("summary.txt", &summary)?;
    for Part { name, text } in &collected.parts {
        let path = format!("nodes/{node}/{name}");
        let text = redactor.redact(&path, text, &mut report);
        redactor.check(&path, &text)?;
        files.push((path, text));
    }
    let rendered = report.render();
    redactor.check("redaction-report.txt", &rendered)?;
    let mut all = vec![
        ("summary.txt".to_owned(), summary),
        ("redaction-report.txt".to_owned(), rendered),
    ];
    all.extend(files);
    Ok(Bundle { files: all, report })
}

/// Writes `bundle` to `out` (gzip'd tar, 0600): staged in a private directory beside it, packed with tar
/// in the bundle's order, renamed into place last.
pub fn write(out: &Path, bundle: &Bundle) -> Result<(), BundleError> {
    if out.exists() {
        return Err(BundleError::Exists(out.display().to_string()));
    }
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| BundleError::Io { path, source }
    };
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stage = parent.join(format!(".stackbox-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir(&stage).map_err(io(&stage))?;
    std::fs::set_permissions(&stage, std::fs::Permissions::from_mode(0o700)).map_err(io(&stage))?;
    let result = (|| {
        let top = "stackbox-bundle";
        let mut list = String::new();
        for (name, text) in &bundle.files {
            let path = stage.join(top).join(name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io(&path))?;
            f.write_all(text.as_bytes()).map_err(io(&path))?;
            let _ = writeln!(list, "{top}/{name}");
        }
        let list_file = stage.join("files");
        std::fs::write(&list_file, list).map_err(io(&list_file))?;
        let partial = parent.join(format!(".stackbox-bundle-{}.tar.gz", std::process::id()));
        Command::new("tar")
            .arg("-czf")
            .arg(&partial)
            .arg("-C")
            .arg(&stage)
            .args(["--no-recursion", "--owner=0", "--group=0", "-T"])
            .arg(&list_file)
            .run()
            .map_err(BundleError::Tar)?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&partial))?;
        std::fs::rename(&partial, out).map_err(io(out))
    })();
    let _ = std::fs::remove_dir_all(&stage);
    result
}

/// The install journal as text: one line per step (id, state, start, end), then each failed step's
/// error and output tail.
fn journal_text(path: &Path) -> Option<String> {
    if !path.exists() {
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let records = rt.block_on(async {
        let journal = stackbox_installer::journal::Journal::open(path)
            .await
            .ok()?;
        journal.all().await.ok()
    })?;
    let mut s = String::new();
    for r in &records {
        let state = format!("{:?}", r.state).to_lowercase();
        let _ = writeln!(
            s,
            "{} {state} {} {}",
            r.id,
            r.started_at.as_deref().unwrap_or("-"),
            r.finished_at.as_deref().unwrap_or("-")
        );
    }
    for r in records.iter().filter(|r| r.error.is_some()) {
        let _ = writeln!(
            s,
            "\n== {}: {}\n{}",
            r.id,
            r.error.as_deref().unwrap_or(""),
            r.output_tail
        );
    }
    Some(s)
}

/// This node's name: the root's /etc/hostname, else `node`.
fn node_name(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

/// `stackboxd bundle`: collects, redacts, checks and writes this node's bundle.
pub fn run(args: BundleArgs) -> ExitCode {
    match make(&args) {
        Ok(report) => {
            println!(
                "wrote {} ({} redactions; redaction-report.txt lists them)",
                args.out.display(),
                report.total()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd bundle: {}", stackbox_common::error::chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Collects, redacts, checks and writes the bundle `args` asks for; what was redacted.
pub fn make(args: &BundleArgs) -> Result<Report, BundleError> {
    if args.out.exists() {
        return Err(BundleError::Exists(args.out.display().to_string()));
    }
    let secrets = known_secrets(&args.root, &args.state)?;
    let redactor = Redactor::new(secrets.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let node = node_name(&args.root);
    let journal_path = args
        .root
        .join(stackbox_installer::journal::DEFAULT_PATH.trim_start_matches('/'));
    let collected = collect::collect(&args.root, &args.state, journal_text(&journal_path));
    let bundle = build(&node, &collected, &redactor)?;
    write(&args.out, &bundle)?;
    Ok(bundle.report)
}
