//! The support bundle (`stackboxd bundle --out FILE`): what an operator sends when asking for help, with
//! no secret in it. Each node makes its own part ([`node_part`]): it collects ([`collect`]: journal,
//! answers, hardware report, failed units and their journals, logs, rendered configuration, Galera and
//! RabbitMQ status, ruleset, addresses and routes), redacts at the source ([`redact`]: every secret the
//! appliance generated, in every form, then private keys and password patterns) and checks: a known
//! secret still present refuses the part (fail closed). On a node with cluster credentials the command
//! asks every member's agent for its part (`GET /agent/v1/bundle`, mutual TLS) and lists a node that
//! does not answer with the reason; the parts are checked once more against this node's secrets
//! ([`assemble`]). The archive (gzip'd tar, mode 0600) opens with `summary.txt` and
//! `redaction-report.txt`; each node's files are under `nodes/NAME/`, its diagnoses in
//! `status/diagnoses.txt`.

pub mod collect;
pub mod redact;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::{Deserialize, Serialize};
use stackbox_common::cmd::Command;

use collect::{Collected, Part};

/// The agent's route that answers its node's part ([`NodePart`]).
pub const BUNDLE_PATH: &str = "/agent/v1/bundle";
/// How long a node may take to make its part (RabbitMQ's commands are slow on a loaded node).
pub const PART_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);
/// The largest part taken from a node.
pub const PART_LIMIT: usize = 64 * 1024 * 1024;
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
    /// Only this node, even when it has cluster credentials (no agent is asked).
    #[arg(long)]
    pub this_node: bool,
    /// The agents' port on the other nodes.
    #[arg(long, value_name = "PORT", default_value_t = crate::agent::AGENT_PORT)]
    pub agent_port: u16,
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

/// One node's part of a bundle, redacted and checked on that node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePart {
    /// The node's name.
    pub node: String,
    /// (path under `nodes/NAME/`, text).
    pub files: Vec<(String, String)>,
    /// What was redacted: (file, rule, count).
    pub redactions: Vec<(String, String, usize)>,
    /// What could not be collected: (what, why).
    pub missing: Vec<(String, String)>,
}

impl NodePart {
    fn file(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    }
}

/// Redacts and checks what a node collected: its part, or the leak that refuses it.
pub fn redact_part(
    node: &str,
    collected: &Collected,
    redactor: &Redactor,
) -> Result<NodePart, Leak> {
    let mut report = Report::default();
    let mut files = Vec::new();
    for Part { name, text } in &collected.parts {
        let text = redactor.redact(name, text, &mut report);
        redactor.check(&format!("nodes/{node}/{name}"), &text)?;
        files.push((name.clone(), text));
    }
    let mut missing = Vec::new();
    for (what, why) in &collected.missing {
        let why = redactor.redact(what, why, &mut report);
        redactor.check(&format!("nodes/{node}/{what}"), &why)?;
        missing.push((what.clone(), why));
    }
    Ok(NodePart {
        node: node.to_owned(),
        files,
        redactions: report.entries(),
        missing,
    })
}

/// This node's part, made under `root` with the state directory `state` (at the source: its own
/// secrets redact it).
pub fn node_part(root: &Path, state: &Path) -> Result<NodePart, BundleError> {
    let secrets = known_secrets(root, state)?;
    let redactor = Redactor::new(secrets.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let journal = root.join(stackbox_installer::journal::DEFAULT_PATH.trim_start_matches('/'));
    let collected = collect::collect(root, state, journal_text(&journal));
    Ok(redact_part(&node_name(root), &collected, &redactor)?)
}

/// The summary page: per node, what failed and the cluster's state as its commands saw it, what could
/// not be collected; the nodes whose part is missing, with why.
fn summary(parts: &[(String, Result<NodePart, String>)]) -> String {
    let mut s = format!(
        "stackbox support bundle\nimage version: {}\nmade: {}\nnodes: {}\n",
        crate::image_version(),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        parts.len()
    );
    for (node, part) in parts {
        let _ = writeln!(s, "\n== node: {node}");
        let part = match part {
            Ok(p) => p,
            Err(why) => {
                let _ = writeln!(s, "no part: {why}");
                continue;
            }
        };
        let failed: Vec<&str> = part
            .file("status/failed-units.txt")
            .map(|t| t.lines().skip(1).filter(|l| !l.trim().is_empty()).collect())
            .unwrap_or_default();
        let _ = writeln!(s, "failed units: {}", failed.len());
        for line in &failed {
            let _ = writeln!(s, "  {line}");
        }
        if let Some(g) = part.file("status/galera.txt") {
            for key in [
                "wsrep_cluster_status",
                "wsrep_cluster_size",
                "wsrep_local_state_comment",
            ] {
                if let Some(line) = g.lines().find(|l| l.starts_with(key)) {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    let _ = writeln!(s, "galera: {}", words.join(" "));
                }
            }
        }
        if let Some(j) = part.file("install/journal.txt") {
            let failed = j.lines().filter(|l| l.contains(" failed ")).count();
            let running = j.lines().filter(|l| l.contains(" running ")).count();
            let _ = writeln!(
                s,
                "install journal: {failed} failed steps, {running} interrupted"
            );
        }
        let _ = writeln!(s, "files: {} (under nodes/{node}/)", part.files.len());
        if !part.missing.is_empty() {
            let _ = writeln!(s, "not collected ({}):", part.missing.len());
            for (what, why) in &part.missing {
                let _ = writeln!(s, "  {what}: {why}");
            }
        }
    }
    s.push_str("\nEvery secret the appliance generated was redacted at the source (as written, URL-encoded and\nbase64), then private keys and password values; redaction-report.txt counts what, never values.\n");
    s
}

/// The bundle of `parts` (each node's, or why it is missing), summary and report first, every file
/// checked once more against `redactor` (this node's secrets): a known secret anywhere refuses it.
pub fn assemble(
    parts: &[(String, Result<NodePart, String>)],
    redactor: &Redactor,
) -> Result<Bundle, Leak> {
    let mut report = Report::default();
    let mut files = Vec::new();
    for (node, part) in parts {
        let Ok(part) = part else { continue };
        let prefix = format!("nodes/{node}/");
        report.extend(&prefix, &part.redactions);
        for (name, text) in &part.files {
            let path = format!("{prefix}{name}");
            let text = redactor.redact(&path, text, &mut report);
            redactor.check(&path, &text)?;
            files.push((path, text));
        }
    }
    let summary = redactor.redact("summary.txt", &summary(parts), &mut report);
    redactor.check("summary.txt", &summary)?;
    let rendered = report.render();
    redactor.check("redaction-report.txt", &rendered)?;
    let mut all = vec![
        ("summary.txt".to_owned(), summary),
        ("redaction-report.txt".to_owned(), rendered),
    ];
    all.extend(files);
    Ok(Bundle { files: all, report })
}

/// The private directory a bundle is staged and packed in, beside its output (so that the archive is
/// linked into place on the same file system): `.stackbox-bundle-PID`.
const STAGE_PREFIX: &str = ".stackbox-bundle-";

/// Writes `bundle` to `out` (gzip'd tar, 0600), all or nothing: staged and packed in a private directory
/// beside it, synced, then linked to `out` last, which fails rather than replace a file that appeared
/// meanwhile. A bundle killed before that leaves no `out` (and a previous file untouched); its staging
/// directory is removed by the next bundle written there.
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
    sweep_stale_stages(parent);
    let stage = parent.join(format!("{STAGE_PREFIX}{}", std::process::id()));
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
        let packed = stage.join("bundle.tar.gz");
        Command::new("tar")
            .arg("-czf")
            .arg(&packed)
            .arg("-C")
            .arg(&stage)
            .args(["--no-recursion", "--owner=0", "--group=0", "-T"])
            .arg(&list_file)
            .run()
            .map_err(BundleError::Tar)?;
        std::fs::set_permissions(&packed, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&packed))?;
        // On disk before its name is: a power loss right after must not leave an empty archive.
        std::fs::File::open(&packed)
            .and_then(|f| f.sync_all())
            .map_err(io(&packed))?;
        publish(&packed, out)
    })();
    let _ = std::fs::remove_dir_all(&stage);
    result
}

/// Gives the finished archive `packed` its name `out` in one step that never replaces a file: a hard
/// link (refused when `out` exists); where the file system has none (vfat), a rename after a last check.
fn publish(packed: &Path, out: &Path) -> Result<(), BundleError> {
    match std::fs::hard_link(packed, out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(BundleError::Exists(out.display().to_string()))
        }
        Err(_) if out.exists() => Err(BundleError::Exists(out.display().to_string())),
        Err(_) => std::fs::rename(packed, out).map_err(|source| BundleError::Io {
            path: out.display().to_string(),
            source,
        }),
    }
}

/// Removes the staging directories beside an output that bundles killed midway left (their process is
/// gone); a bundle still running keeps its own.
fn sweep_stale_stages(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STAGE_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::info!(dir = %e.path().display(), "removing a killed bundle's staging directory");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
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

/// The parts of every node of the cluster this node belongs to, asked of their agents at once; this
/// node's own is made here when its agent does not answer. `None`: this node has no cluster
/// configuration or credentials (it is the bundle of itself alone).
fn cluster_parts(args: &BundleArgs) -> Option<Vec<(String, Result<NodePart, String>)>> {
    let state = args
        .root
        .join(args.state.strip_prefix("/").unwrap_or(&args.state));
    // The configuration the last install assigned this node (every installed member has it).
    let assigned = stackbox_installer::runner::CONFIG_PATH.trim_start_matches('/');
    let config = stackbox_installer::load_config(&args.root.join(assigned)).ok()?;
    let tls = crate::agent_client::node_tls(&state).ok()?;
    let me = node_name(&args.root);
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = config
            .nodes
            .iter()
            .map(|n| {
                let link = crate::agent_client::AgentLink {
                    addr: std::net::SocketAddr::new(n.address, args.agent_port),
                    tls: tls.clone(),
                };
                let me = &me;
                scope.spawn(move || {
                    let asked = link
                        .get_large::<NodePart>(BUNDLE_PATH, PART_TIMEOUT, PART_LIMIT)
                        .map_err(|e| stackbox_common::error::chain(&e));
                    let part = match asked {
                        Err(why) if n.name == *me || me.starts_with(&format!("{}.", n.name)) => {
                            tracing::warn!(%why, "this node's agent did not answer: its part is made here");
                            node_part(&args.root, &args.state).map_err(|e| stackbox_common::error::chain(&e))
                        }
                        other => other,
                    };
                    (n.name.clone(), part)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .collect::<Vec<_>>()
    });
    Some(parts)
}

/// Collects, redacts, checks and writes the bundle `args` asks for; what was redacted.
pub fn make(args: &BundleArgs) -> Result<Report, BundleError> {
    if args.out.exists() {
        return Err(BundleError::Exists(args.out.display().to_string()));
    }
    let secrets = known_secrets(&args.root, &args.state)?;
    let redactor = Redactor::new(secrets.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let parts = match (args.this_node, cluster_parts(args)) {
        (false, Some(parts)) => parts,
        _ => {
            let part = node_part(&args.root, &args.state)?;
            vec![(part.node.clone(), Ok(part))]
        }
    };
    let bundle = assemble(&parts, &redactor)?;
    write(&args.out, &bundle)?;
    Ok(bundle.report)
}
