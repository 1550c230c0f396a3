//! The text form of a hardware report, for the console and `stackboxd check`.

use std::fmt::Write;

use crate::check::{Report, Status};

/// Renders a report for a terminal: one line per check, the remedy under each problem, a verdict last.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let f = &report.facts;
    let _ = writeln!(
        out,
        "stackbox hardware check: profile {}, roles {}",
        report.profile,
        report.roles.join(", ")
    );
    let _ = writeln!(
        out,
        "host {}: {} ({} CPUs), {:.1} GiB memory, {}, {}\n",
        f.hostname.as_deref().unwrap_or("(unnamed)"),
        if f.cpu.model.is_empty() {
            "unknown CPU"
        } else {
            f.cpu.model.as_str()
        },
        f.cpu.online,
        f.memory_bytes as f64 / (1u64 << 30) as f64,
        plural(f.nics.len(), "NIC"),
        plural(f.disks.len(), "disk")
    );
    let width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for check in &report.checks {
        let _ = writeln!(
            out,
            "{:<4}  {:<width$}  {}",
            check.status.as_str().to_uppercase(),
            check.id,
            check.summary
        );
        if let Some(remedy) = &check.remedy {
            let _ = writeln!(out, "      {:<width$}  remedy: {remedy}", "");
        }
    }
    let verdict = match report.status {
        Status::Pass => "ready",
        Status::Warn => "usable, with warnings",
        Status::Fail => "NOT ready: fix the failed checks",
    };
    let _ = writeln!(
        out,
        "\nresult: {} ({verdict}; {} passed, {} warned, {} failed)",
        report.status.as_str().to_uppercase(),
        report.count(Status::Pass),
        report.count(Status::Warn),
        report.count(Status::Fail)
    );
    out
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
