//! `stackboxd`: the service on the appliance. Parses arguments and dispatches into the crates.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use stackbox_firstboot::check::{Report, Status};
use stackbox_firstboot::{CheckError, firstboot, report, tune};
use stackbox_hardware_profiles::Catalog;
use stackbox_machine::system::Root;

/// Exit status for bad arguments (unknown profile or role, a --root that is not a machine's tree).
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "stackboxd",
    version,
    about = "The stackbox appliance service: hardware check, kernel tuning and first boot",
    long_about = "The stackbox appliance service.\n\nOn first boot, `stackboxd firstboot` checks the hardware against a profile, tunes the kernel and prints the setup wizard's address, one-time token and TLS fingerprint on the console. `check` and `tune` run the same steps on their own."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probe the hardware and judge it against a hardware profile and the node's roles.
    ///
    /// Exit status: 0 when no check failed, 1 when one did, 2 for bad arguments.
    Check(CheckArgs),
    /// Tune the kernel for a cloud node: sysctl drop-in, modules to load, KVM nesting.
    ///
    /// Writes /etc/sysctl.d/90-stackbox.conf, /etc/modules-load.d/stackbox.conf and (on a CPU with
    /// VT-x/AMD-V) /etc/modprobe.d/stackbox-kvm.conf, loads the modules, applies every value through
    /// /proc/sys and reads it back. Running it again changes nothing. A key that is read-only (in a
    /// container) is a warning. Exit status: 0 unless something failed.
    Tune(TuneArgs),
    /// The first-boot oneshot: check, save the report, tune, make the wizard's token and certificate,
    /// write the console banner and print the STACKBOX-FIRSTBOOT line.
    Firstboot(FirstbootArgs),
    /// Print the installation plan for a cluster configuration: the steps per node, their dependencies
    /// and the files they write (secrets appear only as placeholders).
    ///
    /// Exit status: 0 with a plan, 1 when the configuration is invalid, 2 for bad arguments.
    Plan(PlanArgs),
    /// Install this node's part of the cloud: run its steps of the plan, journaled, skipping what is done.
    ///
    /// The configuration is validated before anything is touched. Secrets are generated into the secrets
    /// file (mode 0600) when absent. A rerun skips finished steps, redoes changed ones and resumes after a
    /// crash. Exit status: 0 when every step is done (or the run paused as asked), 1 when a step failed or
    /// the configuration is invalid, 2 for bad arguments.
    Install(InstallArgs),
    /// The setup wizard: HTTPS (TLS 1.3 only) pages and the JSON API under /api/v1.
    ///
    /// Uses (and creates when missing) the setup token and TLS certificate in the state directory.
    Serve(stackbox_web::cli::ServeArgs),
    /// Make the endpoint certificate haproxy serves and the cluster CA (a step of the install plan).
    ///
    /// Writes /etc/stackbox/ca-key.pem, /etc/stackbox/ca.pem and, last, /etc/haproxy/stackbox.pem.
    /// With --cert and --key, installs the operator's certificate instead. Exit status: 0 or 1.
    Certificate(CertificateArgs),
    /// Boot a test VM through the cloud and read its console (the install plan's last step).
    ///
    /// Takes the admin credentials from the environment (OS_AUTH_URL, OS_PASSWORD, ...), prints its
    /// report and deletes what it created. Exit status: 0 when the VM came up, 1 otherwise.
    Smoke,
}

#[derive(Args)]
struct CertificateArgs {
    /// A name or address the certificate is valid for (the first is its common name); repeatable.
    #[arg(long = "name", value_name = "NAME", required = true)]
    names: Vec<String>,
    /// The operator's certificate (PEM, chain included) to install instead of a generated one.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

#[derive(Args)]
struct InstallArgs {
    /// The cluster configuration (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Stop after this step (a name such as keystone.db-sync, or a node/name id).
    #[arg(long, value_name = "STEP")]
    stop_after: Option<String>,
    /// Which node this is; default: the only node, or the node whose address is on this machine.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// The secrets file.
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::secrets::DEFAULT_PATH)]
    secrets: PathBuf,
    /// The journal.
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::journal::DEFAULT_PATH)]
    journal: PathBuf,
    /// Print every step's output, not only its outcome.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Args)]
struct PlanArgs {
    /// The cluster configuration (TOML), e.g. examples/allinone.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Judge this node by the hardware probed under DIR (for the nodes whose address is local, or the
    /// only node of a single-node cluster); other nodes are planned without KVM.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

#[derive(Args)]
struct MachineArgs {
    /// Read /proc, /sys and /dev (and write /etc) under DIR instead of `/`.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// The hardware profile: `baremetal` (strict) or `lab` (shortfalls are warnings).
    #[arg(
        long,
        value_name = "NAME",
        env = "STACKBOX_PROFILE",
        default_value = "baremetal"
    )]
    profile: String,
    /// The node's intended roles, comma-separated; their requirements add up.
    /// Default: the profile's roles (all of them: an all-in-one node).
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    roles: Vec<String>,
    /// Load the hardware profiles from DIR (roles.toml, profiles/*.toml) instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// Output format; json prints {"profile", "roles", "status", "checks": [...], "facts": {...}}.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Args)]
struct TuneArgs {
    /// Read and write under DIR instead of `/` (modules are then not loaded).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Print what would be written and set, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct FirstbootArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// Where the wizard's token and TLS certificate are kept.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    state: PathBuf,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STACKBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(args),
        Command::Tune(args) => tune_cmd(args),
        Command::Firstboot(args) => first_boot(args),
        Command::Plan(args) => plan(args),
        Command::Install(args) => install(args),
        Command::Serve(args) => serve(args),
        Command::Certificate(args) => certificate(args),
        Command::Smoke => smoke(),
    }
}

/// An error and its causes, one line, each cause once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn certificate(args: CertificateArgs) -> ExitCode {
    use stackbox_installer::certificate::{Paths, generate, install_provided};
    let paths = Paths::default();
    let result = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => install_provided(&paths, cert, key),
        _ => generate(&paths, &args.names),
    };
    match result {
        Ok(()) => {
            out(&format!(
                "certificate ready: {}\n",
                paths.endpoint.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd certificate: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn smoke() -> ExitCode {
    match stackbox_installer::flavor::openstack::smoke::run(&[]) {
        Ok(report) => {
            out(&report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd smoke: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Loads the catalog and judges the machine; errors are printed and turned into an exit status.
fn judge(m: &MachineArgs) -> Result<Report, ExitCode> {
    let catalog = match &m.profiles_dir {
        Some(dir) => Catalog::load_dir(dir),
        None => Catalog::embedded(),
    };
    let catalog = catalog.map_err(|e| {
        eprintln!("stackboxd: {e}");
        ExitCode::from(EXIT_USAGE)
    })?;
    stackbox_firstboot::check(&Root::at(&m.root), &catalog, &m.profile, &m.roles).map_err(|e| {
        eprintln!("stackboxd: {e}");
        match e {
            CheckError::Usage(_) | CheckError::Profiles(_) | CheckError::Probe(_) => {
                ExitCode::from(EXIT_USAGE)
            }
        }
    })
}

fn check(args: CheckArgs) -> ExitCode {
    let report = match judge(&args.machine) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => out(&format!(
                "{json}
"
            )),
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

fn tune_cmd(args: TuneArgs) -> ExitCode {
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

fn first_boot(args: FirstbootArgs) -> ExitCode {
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
            out(&format!(
                "{}
",
                outcome.line
            ));
            firstboot::notify_ready(&format!("hardware {}", report.status.as_str()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd firstboot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn plan(args: PlanArgs) -> ExitCode {
    let config = match stackbox_installer::load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stackboxd plan: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let catalog = match Catalog::embedded() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stackboxd plan: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = Root::at(&args.root);
    if let Err(e) = stackbox_installer::check_root(&root) {
        eprintln!("stackboxd plan: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let facts = stackbox_installer::local_facts(&config, &root);
    match stackbox_installer::build_plan(&config, &catalog, &facts) {
        Ok(plan) => {
            match args.format {
                Format::Text => out(&plan.render_text()),
                Format::Json => match serde_json::to_string_pretty(&plan) {
                    Ok(json) => out(&format!(
                        "{json}
"
                    )),
                    Err(e) => {
                        eprintln!("stackboxd plan: serialising the plan: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd plan: {}: {e}", args.config.display());
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`stackboxd plan | head`) ends the output quietly instead of panicking.
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn install(args: InstallArgs) -> ExitCode {
    let verbose = args.verbose;
    let options = stackbox_installer::install::Options {
        root: std::path::PathBuf::from("/"),
        config: args.config,
        node: args.node,
        secrets: args.secrets,
        journal: args.journal,
        stop_after: args.stop_after,
    };
    let prepared = match stackbox_installer::install::prepare(&options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("stackboxd install: {e}");
            return if e.is_usage() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stackboxd install: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(stackbox_installer::install::execute(
        &prepared,
        &mut |event| {
            out(&stackbox_installer::install::render_event(&event, verbose));
        },
    ));
    match result {
        Ok(summary) if summary.failed.is_none() => {
            out(&stackbox_installer::install::render_summary(&summary));
            ExitCode::SUCCESS
        }
        Ok(summary) => {
            out(&stackbox_installer::install::render_summary(&summary));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("stackboxd install: {e}");
            if e.is_usage() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn serve(args: stackbox_web::cli::ServeArgs) -> ExitCode {
    stackbox_web::cli::run(args)
}
