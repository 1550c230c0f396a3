//! The first-boot oneshot: check the hardware, save the report, tune the kernel, make the wizard's token
//! and certificate, write the console banner, print the line tests wait for, tell systemd we are ready and
//! leave the marker that keeps the unit from running again.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use stackbox_common::fs::write_atomic;

use crate::check::{Report, Status};
use crate::identity::{self, WIZARD_PORT, WizardIdentity};
use crate::tune;
use stackbox_machine::system::Root;

/// The marker the unit's `ConditionPathExists=!` tests; written last, only when first boot completed.
pub const MARKER: &str = "/var/lib/stackbox/firstboot.done";
/// The saved hardware report.
pub const HARDWARE_JSON: &str = "/var/lib/stackbox/hardware.json";
/// The console banner agetty shows above the login prompt.
pub const ISSUE_FILE: &str = "/etc/issue.d/stackbox.issue";
/// The prefix of the one console line tests wait for.
pub const LINE_PREFIX: &str = "STACKBOX-FIRSTBOOT";

/// What first boot produced.
#[derive(Debug)]
pub struct Outcome {
    /// The one-line summary printed on the console (no secrets).
    pub line: String,
    /// The banner, token included: for the console and the issue file only.
    pub banner: String,
    /// The kernel tuning's own report.
    pub tune: tune::TuneReport,
}

/// Where first boot reads and writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The system root (`/` on the appliance).
    pub root: Root,
    /// The wizard's state directory (token, TLS).
    pub state_dir: PathBuf,
}

/// The URL the wizard is reached at.
pub fn wizard_url(address: Option<IpAddr>) -> String {
    match address {
        Some(IpAddr::V6(v6)) => format!("https://[{v6}]:{WIZARD_PORT}/"),
        Some(ip) => format!("https://{ip}:{WIZARD_PORT}/"),
        None => format!("https://<no address yet>:{WIZARD_PORT}/"),
    }
}

/// The console line tests and operators wait for; it carries no secret.
pub fn render_line(report: &Report, nics: usize, url: &str, fingerprint: &str) -> String {
    format!(
        "{LINE_PREFIX} status={} profile={} fail={} warn={} nics={nics} url={url} fingerprint={fingerprint}",
        report.status.as_str(),
        report.profile,
        report.count(Status::Fail),
        report.count(Status::Warn),
    )
}

/// The console banner, with the token: shown on the local console only.
pub fn render_banner(report: &Report, url: &str, identity: &WizardIdentity) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stackbox appliance: first boot done; hardware {} (profile {})",
        report.status.as_str().to_uppercase(),
        report.profile
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  Setup wizard:     {url}");
    let _ = writeln!(out, "  One-time token:   {}", identity.token.expose());
    let _ = writeln!(out, "  TLS fingerprint:  {}", identity.fingerprint);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  Compare the fingerprint with the one your browser shows before entering the token."
    );
    for check in report.checks.iter().filter(|c| c.status != Status::Pass) {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            check.status.as_str().to_uppercase(),
            check.id,
            check.summary
        );
    }
    let _ = writeln!(
        out,
        "  Full hardware report: stackboxd check (saved in {HARDWARE_JSON})"
    );
    let _ = writeln!(out);
    out
}

/// Runs first boot: `report` is the hardware check already judged by the caller.
pub fn run(opts: &Options, report: &Report) -> anyhow::Result<Outcome> {
    let root = &opts.root;
    let json = serde_json::to_string_pretty(report).context("serialising the hardware report")?;
    let path = root.path(HARDWARE_JSON);
    write_atomic(&path, format!("{json}\n").as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))?;

    let plan = tune::plan(report.facts.cpu.virtualization.as_deref());
    let tune = tune::apply(root, &plan, root.is_live());
    if tune.failures() > 0 {
        anyhow::bail!("kernel tuning failed:\n{}", tune::render_report(&tune));
    }

    let addresses = if root.is_live() {
        stackbox_machine::probe::net::addresses().unwrap_or_default()
    } else {
        Vec::new()
    };
    let address =
        stackbox_machine::probe::net::pick_management_address(&addresses, &report.facts.nics);
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    if let Some(host) = &report.facts.hostname {
        names.insert(0, host.clone());
    }
    names.extend(
        addresses
            .iter()
            .map(|(_, ip)| *ip)
            .filter(|ip| {
                !ip.is_loopback()
                    && !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
            })
            .map(|ip| ip.to_string()),
    );
    names.dedup();
    let identity = identity::ensure(&opts.state_dir, &names)?;

    let url = wizard_url(address);
    let banner = render_banner(report, &url, &identity);
    let issue = root.path(ISSUE_FILE);
    // Only getty (root) reads the issue file; it holds the token, so nobody else may.
    write_atomic(&issue, banner.as_bytes(), 0o600)
        .with_context(|| format!("writing {}", issue.display()))?;
    if root.is_live() {
        // The token goes to the console device itself, never to stdout, which the journal records.
        if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = console.write_all(format!("\r\n{}", banner.replace('\n', "\r\n")).as_bytes());
        }
    }
    let line = render_line(report, report.facts.nics.len(), &url, &identity.fingerprint);
    let marker = root.path(MARKER);
    write_atomic(&marker, format!("{line}\n").as_bytes(), 0o644)
        .with_context(|| format!("writing {}", marker.display()))?;
    Ok(Outcome { line, banner, tune })
}

/// Tells systemd the oneshot is done (a no-op when not started by systemd).
pub fn notify_ready(status: &str) {
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Status(status),
        sd_notify::NotifyState::Ready,
    ]);
}
