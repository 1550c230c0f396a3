//! `stackboxd check`, `tune` and `firstboot`: their arguments and their runs. The binary only dispatches
//! here, so the options live beside the code that uses them.
//!
//! Exit status: `check` 0 when no check failed, 1 when one did; `tune` 0 unless something failed;
//! `firstboot` 0 or 1; all of them 2 for bad arguments (an unknown profile or role, broken profiles, a
//! `--root` that is not a machine's tree).

use std::path::PathBuf;
use std::process::ExitCode;

use stackbox_common::cli::{out, usage};
use stackbox_hardware_profiles::Catalog;
use stackbox_machine::system::Root;

use crate::check::{Report, Status};
use crate::{firstboot, report, tune};

/// Which machine to judge, under which profile, for which roles.
#[derive(Debug, clap::Args)]
pub struct MachineArgs {
    /// Read /proc, /sys and /dev (and write /etc) under DIR instead of `/`.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The hardware profile: `baremetal` (strict) or `lab` (shortfalls are warnings).
    #[arg(
        long,
        value_name = "NAME",
        env = "STACKBOX_PROFILE",
        default_value = "baremetal"
    )]
    pub profile: String,
    /// The node's intended roles, comma-separated; their requirements add up.
    /// Default: the profile's roles (all of them: an all-in-one node).
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Load the hardware profiles from DIR (roles.toml, profiles/*.toml) instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub profiles_dir: Option<PathBuf>,
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// The arguments of `stackboxd check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub machine: MachineArgs,
    /// Output format; json prints {"profile", "roles", "status", "checks": [...], "facts": {...}}.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// The arguments of `stackboxd tune`.
#[derive(Debug, clap::Args)]
pub struct TuneArgs {
    /// Read and write under DIR instead of `/` (modules are then not loaded).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Print what would be written and set, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The arguments of `stackboxd firstboot`.
#[derive(Debug, clap::Args)]
pub struct FirstbootArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub machine: MachineArgs,
    /// Where the wizard's token and TLS certificate are kept.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
}

/// Loads the catalog and judges the machine; errors are printed and turned into an exit status.
fn judge(m: &MachineArgs) -> Result<Report, ExitCode> {
    let catalog = match &m.profiles_dir {
        Some(dir) => Catalog::load_dir(dir),
        None => Catalog::embedded(),
    };
    let catalog = catalog.map_err(|e| {
        eprintln!("stackboxd: {e}");
        usage()
    })?;
    crate::check(&Root::at(&m.root), &catalog, &m.profile, &m.roles).map_err(|e| {
        // Every way a check cannot be made is a problem with what the operator asked for.
        eprintln!("stackboxd: {e}");
        usage()
    })
}

/// `stackboxd check`: probes, judges and prints the report.
pub fn check(args: CheckArgs) -> ExitCode {
    let report = match judge(&args.machine) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => out(&format!("{json}\n")),
            Err(e) => {
                eprintln!("stackboxd: serialising the report: {e}");
                return ExitCode::FAILURE;
            }
        },
        Format::Text => out(&report::render_text(&report)),
    }
    if report.status == Status::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `stackboxd tune`: plans the kernel tuning for this CPU and applies it (or prints it with `--dry-run`).
pub fn tune(args: TuneArgs) -> ExitCode {
    let root = Root::at(&args.root);
    let cpuinfo = root.read("/proc/cpuinfo").unwrap_or_default();
    let virtualization = stackbox_machine::probe::cpu::parse_cpuinfo(&cpuinfo)
        .ok()
        .and_then(|c| c.virtualization);
    let plan = tune::plan(virtualization.as_deref());
    if args.dry_run {
        out(&tune::render_dry_run(&root, &plan, root.is_live()));
        return ExitCode::SUCCESS;
    }
    let report = tune::apply(&root, &plan, root.is_live());
    out(&tune::render_report(&report));
    if report.failures() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `stackboxd firstboot`: check, save the report, tune, identity, banner; then tells systemd it is ready.
pub fn firstboot(args: FirstbootArgs) -> ExitCode {
    let report = match judge(&args.machine) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let opts = firstboot::Options {
        root: Root::at(&args.machine.root),
        state_dir: args.state,
    };
    match firstboot::run(&opts, &report) {
        Ok(outcome) => {
            eprint!("{}", tune::render_report(&outcome.tune));
            out(&format!("{}\n", outcome.line));
            firstboot::notify_ready(&format!("hardware {}", report.status.as_str()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd firstboot: {e:#}");
            ExitCode::FAILURE
        }
    }
}
