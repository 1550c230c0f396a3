//! `stackboxd plan`, `install`, `certificate`, `smoke` and `install-os`: their arguments and their runs. The binary only
//! dispatches here, so the options live beside the code that uses them.
//!
//! Exit status: 0 on success; 1 when the configuration is invalid, a step failed or the command's work
//! failed; 2 for bad arguments (a configuration file that cannot be read or parsed).

use std::path::PathBuf;
use std::process::ExitCode;

use stackbox_common::cli::{out, usage};
use stackbox_common::error::chain;
use stackbox_hardware_profiles::Catalog;
use stackbox_machine::system::Root;

use crate::{install, journal, secrets, to_disk};

/// How a plan is printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// The arguments of `stackboxd plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The cluster configuration (TOML), e.g. examples/allinone.toml.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Judge this node by the hardware probed under DIR (for the nodes whose address is local, or the
    /// only node of a single-node cluster); other nodes are planned without KVM.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

/// The arguments of `stackboxd install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The cluster configuration (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Stop after this step (a name such as keystone.db-sync, or a node/name id).
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<String>,
    /// Which node this is; default: the only node, or the node whose address is on this machine.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The secrets file.
    #[arg(long, value_name = "FILE", default_value = secrets::DEFAULT_PATH)]
    pub secrets: PathBuf,
    /// The journal.
    #[arg(long, value_name = "FILE", default_value = journal::DEFAULT_PATH)]
    pub journal: PathBuf,
    /// Print every step's output, not only its outcome.
    #[arg(long, short)]
    pub verbose: bool,
}

/// The arguments of `stackboxd certificate`.
#[derive(Debug, clap::Args)]
pub struct CertificateArgs {
    /// A name or address the certificate is valid for (the first is its common name); repeatable.
    #[arg(long = "name", value_name = "NAME", required = true)]
    pub names: Vec<String>,
    /// The operator's certificate (PEM, chain included) to install instead of a generated one.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Instead of the endpoint's, the certificate of this node's daemon (in /etc/mysql/tls or
    /// /etc/rabbitmq/tls, the key 0640 root:GROUP): kept when still good, else the one the coordinator
    /// assigned (/etc/stackbox/tls/SERVICE.pem), else made with the cluster CA's key when it is here.
    #[arg(long, value_enum, conflicts_with_all = ["cert", "key"])]
    pub service: Option<crate::service_tls::Service>,
    /// With --service: change nothing, exit 0 when the daemon's certificate is signed by the cluster CA,
    /// names every --name and expires in more than 30 days, else 1 with the reason.
    #[arg(long, requires = "service")]
    pub check: bool,
}

/// The arguments of `stackboxd catalog`.
#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// The region of the endpoints.
    #[arg(long, value_name = "REGION", default_value = "RegionOne")]
    pub region: String,
    /// A service as NAME:TYPE:URL (`glance:image:https://10.20.0.10:9292`): its user NAME (password from
    /// STACKBOX_PASSWORD_NAME) with the admin role in the service project, the service NAME of TYPE, and
    /// its public, internal and admin endpoints at URL; repeatable.
    #[arg(long = "service", value_name = "NAME:TYPE:URL", required = true)]
    pub services: Vec<crate::flavor::openstack::catalog::Entry>,
    /// Change nothing: exit 0 when the catalog holds every service as it would be made, else 1 with what
    /// is missing or different.
    #[arg(long)]
    pub check: bool,
}

/// `stackboxd plan`: prints the plan for a configuration.
pub fn plan(args: PlanArgs) -> ExitCode {
    let config = match crate::load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stackboxd plan: {e}");
            return usage();
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
    if let Err(e) = crate::check_root(&root) {
        eprintln!("stackboxd plan: {e}");
        return usage();
    }
    let facts = crate::local_facts(&config, &root);
    let plan = match crate::build_plan(&config, &catalog, &facts) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("stackboxd plan: {}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    match args.format {
        Format::Text => out(&plan.render_text()),
        Format::Json => match serde_json::to_string_pretty(&plan) {
            Ok(json) => out(&format!("{json}\n")),
            Err(e) => {
                eprintln!("stackboxd plan: serialising the plan: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    ExitCode::SUCCESS
}

/// The arguments of `stackboxd smoke`.
#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// Boot the VM on this compute node (its name as nova knows it), not where the scheduler likes.
    #[arg(long, value_name = "NODE")]
    pub host: Option<String>,
    /// Leave the VM that booted running, with its image, network and flavor (named
    /// stackbox-smoke), to look at it; the next smoke run deletes them first.
    #[arg(long)]
    pub keep: bool,
}

/// `stackboxd install`: runs this node's steps of the plan, journaled, printing each step's outcome.
pub fn install(args: InstallArgs) -> ExitCode {
    let verbose = args.verbose;
    let options = install::Options {
        root: PathBuf::from("/"),
        config: args.config,
        node: args.node,
        secrets: args.secrets,
        journal: args.journal,
        stop_after: args.stop_after,
        facts: Default::default(),
    };
    let failed = |e: &install::InstallError| {
        eprintln!("stackboxd install: {e}");
        if e.is_usage() {
            usage()
        } else {
            ExitCode::FAILURE
        }
    };
    let prepared = match install::prepare(&options) {
        Ok(p) => p,
        Err(e) => return failed(&e),
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
    let result = runtime.block_on(install::execute(&prepared, &mut |event| {
        out(&install::render_event(&event, verbose));
    }));
    match result {
        Ok(summary) => {
            out(&install::render_summary(&summary));
            if summary.failed.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => failed(&e),
    }
}

/// `stackboxd certificate`: makes the cluster CA and the endpoint certificate, or installs the operator's.
pub fn certificate(args: CertificateArgs) -> ExitCode {
    use crate::certificate::{Paths, generate, install_provided};
    if let Some(service) = args.service {
        return service_certificate(service, &args.names, args.check);
    }
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

/// `stackboxd certificate --service`: puts the daemon's certificate in place, or with `check` judges
/// the one in place.
fn service_certificate(
    service: crate::service_tls::Service,
    names: &[String],
    check: bool,
) -> ExitCode {
    use crate::service_tls::{ServicePaths, check as judge, ensure};
    let paths = ServicePaths::of(service);
    if check {
        return match judge(&paths, names) {
            Ok(()) => {
                out(&format!("{} is good\n", paths.cert.display()));
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("stackboxd certificate: {why}");
                ExitCode::FAILURE
            }
        };
    }
    match ensure(&paths, names) {
        Ok(origin) => {
            out(&format!(
                "certificate ready ({origin:?}): {}\n",
                paths.cert.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd certificate: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `stackboxd catalog`: registers the services in keystone's catalog, or with `check` says whether it
/// holds them (the admin's credentials from the `OS_*` variables).
pub fn catalog(args: &CatalogArgs) -> ExitCode {
    use crate::flavor::openstack::catalog::{Keystone, Mode, password_variable, reconcile};
    use crate::flavor::openstack::rest::{Admin, Session, block_on, process_env};
    let password = |user: &str| process_env(&password_variable(user));
    let mode = if args.check { Mode::Look } else { Mode::Act };
    let outcome = block_on(async {
        let admin = Admin::from_process_env()?;
        let session = Session::sign_in(&admin).await?;
        reconcile(
            &Keystone(&session),
            &args.region,
            &args.services,
            password,
            mode,
        )
        .await
    });
    match outcome {
        Ok(changes) if mode == Mode::Look && !changes.is_empty() => {
            eprintln!("stackboxd catalog: {}", changes.join("; "));
            ExitCode::FAILURE
        }
        Ok(changes) => {
            out(&changes.iter().map(|c| format!("{c}\n")).collect::<String>());
            out(&format!(
                "the catalog holds {} services in {}\n",
                args.services.len(),
                args.region
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd catalog: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `stackboxd smoke`: boots a test VM through the cloud (credentials from the environment) and reports.
pub fn smoke(args: &SmokeArgs) -> ExitCode {
    match crate::flavor::openstack::smoke::run(args.host.as_deref(), args.keep) {
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

/// The arguments of `stackboxd install-os`.
#[derive(Debug, clap::Args)]
pub struct InstallOsArgs {
    /// The whole disk to erase and install to (`/dev/sda`, `/dev/nvme0n1`, `/dev/disk/by-id/...`);
    /// default: the answer file's `[disk] target`.
    #[arg(long, value_name = "DEV", required_unless_present = "answers")]
    pub target: Option<PathBuf>,
    /// An answer file, judged whole against this machine before anything is written, and built into the
    /// installed system (/etc/stackbox/answers.toml, 0600), whose wizard then goes on by itself.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// The appliance's root squashfs; default: the live medium's (`/run/live/medium/live/filesystem.squashfs`).
    /// Its SHA-256 must be listed in a SHA256SUMS beside it or one directory up.
    #[arg(long, value_name = "FILE")]
    pub source: Option<PathBuf>,
    /// Erase the disk without asking to type its name.
    #[arg(long)]
    pub yes: bool,
    /// The wizard's state directory, carried to the installed system (certificate, key, answers).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
}

/// The command line's [`to_disk::Ui`]: a line per phase, a bar while the source is read, a typed name.
struct Console {
    yes: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl to_disk::Ui for Console {
    fn phase(&mut self, phase: to_disk::Phase) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        out(&format!(
            "install-os: [{}/{}] {}\n",
            phase.number(),
            to_disk::Phase::ALL.len(),
            phase.describe()
        ));
    }

    fn verified(&mut self, done: u64, total: u64) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "  {bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(done);
    }

    fn confirm(&mut self, target: &to_disk::Target) -> bool {
        out(&format!("install-os: target {}\n", target.describe()));
        if self.yes {
            return true;
        }
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "stackboxd install-os: erasing {} needs a confirmation: run it on a terminal, or add --yes",
                target.disk.name
            );
            return false;
        }
        eprint!(
            "Everything on {} will be erased. Type its name ({}) to go on: ",
            target.dev.display(),
            target.disk.name
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && line.trim() == target.disk.name
    }
}

/// Judges an answer file's text for an install to disk on this machine: its `[disk] target`, or every
/// refusal as `section.field: message` (the wizard's rules live above this crate, so the binary passes them).
pub type AnswersJudge = dyn Fn(&str) -> Result<Option<String>, Vec<String>>;

/// `stackboxd install-os`: installs the appliance to a disk from the live system; with `--answers`, the file
/// is judged by `judge_answers` first.
pub fn install_os(args: InstallOsArgs, judge_answers: &AnswersJudge) -> ExitCode {
    let mut answers = None;
    let mut target = args.target;
    if let Some(file) = &args.answers {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("stackboxd install-os: {}: {e}", file.display());
                return usage();
            }
        };
        match judge_answers(&text) {
            Ok(disk) => target = target.or(disk.map(PathBuf::from)),
            Err(errors) => {
                for e in errors {
                    eprintln!("stackboxd install-os: {}: {e}", file.display());
                }
                eprintln!("stackboxd install-os: the answer file was refused: nothing was written");
                return ExitCode::FAILURE;
            }
        }
        answers = Some(text);
    }
    let Some(target) = target else {
        eprintln!(
            "stackboxd install-os: no disk: give --target or [disk] target in the answer file"
        );
        return usage();
    };
    let options = to_disk::Options {
        root: Root::live(),
        target,
        source: args.source,
        state: Some(args.state),
        scratch: PathBuf::from(to_disk::write::SCRATCH),
        answers,
    };
    let mut console = Console {
        yes: args.yes,
        bar: None,
    };
    match to_disk::install_os(&options, &mut console) {
        Ok(installed) => {
            if let Some(warning) = &installed.reread {
                eprintln!(
                    "stackboxd install-os: the kernel did not re-read the partition table: {warning}"
                );
            }
            out(&format!(
                "install-os: installed to {} (root UUID {}). Remove the USB stick or CD and reboot.\n",
                installed.disk, installed.root_uuid
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd install-os: {e}");
            ExitCode::FAILURE
        }
    }
}
