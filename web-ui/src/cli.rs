//! `stackboxd serve`'s arguments and its run: the binary only dispatches here, so the wizard's options
//! live beside the code that uses them.

use std::path::PathBuf;
use std::process::ExitCode;

use stackbox_common::cli::usage;

use crate::state::ServeOptions;

/// The arguments of `stackboxd serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub listen: String,
    /// Where the token, certificate, password hash and settings are kept.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// Client subnets allowed to reach the wizard, comma-separated CIDRs.
    /// Default: loopback and the management address's subnet.
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Read the machine for the hardware report under DIR instead of `/`.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The hardware profile the report is judged under.
    #[arg(
        long,
        value_name = "NAME",
        env = "STACKBOX_PROFILE",
        default_value = "baremetal"
    )]
    pub profile: String,
    /// Also answer plain HTTP on ADDR (e.g. 0.0.0.0:80), with redirects to HTTPS only.
    #[arg(long, value_name = "ADDR")]
    pub redirect_http: Option<String>,
    /// Where the node agent listens: mutual TLS 1.3, cluster certificates only. It starts once this
    /// node has its cluster credentials (created the cluster and ran `stackboxd cluster install`, or
    /// joined one); `off` for none.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8444")]
    pub agent_listen: String,
    /// Plan mode: the install step walks the plan and says what each step would do, touching nothing
    /// (for demonstrations and tests; its files go to DIR/plan/).
    #[arg(long)]
    pub plan_only: bool,
    /// In plan mode, how long each action pretends to take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0, requires = "plan_only")]
    pub plan_pace_ms: u64,
}

/// Runs the wizard until it is stopped; errors are printed with their causes and turned into an exit
/// status (2 for bad arguments, 1 for anything else).
pub fn run(args: ServeArgs) -> ExitCode {
    let mut opts = ServeOptions::new(args.state);
    opts.listen = args.listen;
    opts.root = args.root;
    opts.profile = args.profile;
    opts.redirect_http = args.redirect_http;
    // Every node's agent listens on the same port: joined nodes' hardware is asked there.
    if let Ok(addr) = args.agent_listen.parse::<std::net::SocketAddr>() {
        opts.joined_hardware = stackbox_cluster::hardware::Source::Agents { port: addr.port() };
    }
    opts.agent_listen =
        (args.agent_listen != "off" && !args.plan_only).then_some(args.agent_listen);
    if args.plan_only {
        // No agent answers in plan mode: a joined node's hardware is not known.
        opts.joined_hardware = stackbox_cluster::hardware::Source::Given(Default::default());
        opts.install = stackbox_installer::runner::InstallMode::PlanOnly {
            fail_package_once: None,
            pace: std::time::Duration::from_millis(args.plan_pace_ms),
        };
    }
    if !args.allow.is_empty() {
        match args.allow.iter().map(|c| c.parse()).collect() {
            Ok(nets) => opts.allow = Some(nets),
            Err(e) => {
                eprintln!("stackboxd serve: --allow takes CIDRs such as 10.0.0.0/24: {e}");
                return usage();
            }
        }
    }
    match crate::serve(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> =
                std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect();
            eprintln!("stackboxd serve: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

/// The arguments of `stackboxd answers`.
#[derive(Debug, clap::Args)]
pub struct AnswersArgs {
    #[command(subcommand)]
    command: AnswersCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AnswersCommand {
    /// Judge an answer file with the wizard's rules against this machine (its disks, NICs and hardware),
    /// naming every field that is wrong. Exit status: 0 accepted, 1 refused, 2 unreadable.
    Check {
        /// The answer file (TOML).
        file: PathBuf,
        /// Judge the machine whose /proc, /sys and /dev are under DIR.
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The hardware profile the roles are judged under.
        #[arg(
            long,
            value_name = "NAME",
            env = "STACKBOX_PROFILE",
            default_value = "baremetal"
        )]
        profile: String,
        /// Judge it as on a live system (its [disk] is required and must name a disk here).
        #[arg(long)]
        live: bool,
    },
    /// Read the admin password from stdin (one line) and print its argon2id hash for
    /// `[admin] password_hash`; a password too easy to guess is refused. Exit status: 0 or 1.
    HashPassword,
}

/// The arguments of `stackboxd unlock`.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// The wizard's state directory (as given to `stackboxd serve --state`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
}

/// `stackboxd unlock`: clears every sign-in lockout of the wizard (at its next sign-in attempt).
pub fn unlock(args: &UnlockArgs) -> ExitCode {
    if !args.state.is_dir() {
        eprintln!(
            "stackboxd unlock: {} is not the wizard's state directory (no such directory)",
            args.state.display()
        );
        return usage();
    }
    match crate::auth::request_unlock(&args.state) {
        Ok(()) => {
            println!(
                "sign-in lockouts cleared: every address may sign in again (the wizard sees it at the next attempt)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd unlock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `stackboxd answers`: checks an answer file or hashes an admin password for one.
pub fn answers(args: AnswersArgs) -> ExitCode {
    match args.command {
        AnswersCommand::Check {
            file,
            root,
            profile,
            live,
        } => check_answers(&file, &root, &profile, live),
        AnswersCommand::HashPassword => hash_password(),
    }
}

fn check_answers(
    file: &std::path::Path,
    root: &std::path::Path,
    profile: &str,
    live: bool,
) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("stackboxd answers check: {}: {e}", file.display());
            return usage();
        }
    };
    match judge_answers(&text, root, profile, live) {
        Ok(_) => {
            println!("{}: accepted", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", file.display());
            }
            ExitCode::FAILURE
        }
    }
}

/// Judges an answer file against the machine at `root` under `profile` (as a live system when `live`):
/// the disk its `[disk]` names, or every refusal as `section.field: message`.
pub fn judge_answers(
    text: &str,
    root: &std::path::Path,
    profile: &str,
    live: bool,
) -> Result<Option<String>, Vec<String>> {
    use crate::answers::file as answer_file;
    let words = |errors: Vec<answer_file::AnswerError>| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<String>>()
    };
    let answers = answer_file::parse(text).map_err(words)?;
    let machine_root = stackbox_machine::system::Root::at(root);
    let facts = stackbox_machine::probe::probe(&machine_root)
        .map_err(|e| vec![format!("probing {}: {e}", root.display())])?;
    let catalog = stackbox_hardware_profiles::Catalog::embedded()
        .map_err(|e| vec![format!("the hardware profiles: {e}")])?;
    let profile = catalog
        .profile(profile)
        .map_err(|_| vec![format!("there is no hardware profile {profile:?}")])?;
    let disks: Vec<String> = facts.disks.iter().map(|d| d.name.clone()).collect();
    let nics: Vec<String> = facts.nics.iter().map(|n| n.name.clone()).collect();
    let judge_roles = |chosen: &[String]| match crate::answers::roles::judge_roles(
        chosen, &catalog, profile, &facts,
    ) {
        Ok((_, report)) => crate::answers::roles::failures(&report),
        Err(errors) => errors,
    };
    let machine = answer_file::Machine {
        live: live || machine_root.booted_live(),
        disks: &disks,
        nics: &nics,
        judge_roles: &judge_roles,
    };
    answer_file::validate(&answers, &machine).map_err(words)?;
    Ok(answers.disk.map(|d| d.target))
}

/// [`judge_answers`] for `stackboxd install-os --answers`: this machine, as a live system, under the
/// profile of `/etc/default/stackbox` (`STACKBOX_PROFILE`, else `baremetal`).
pub fn judge_answers_for_install(text: &str) -> Result<Option<String>, Vec<String>> {
    let profile = std::env::var("STACKBOX_PROFILE").unwrap_or_else(|_| "baremetal".to_owned());
    judge_answers(text, std::path::Path::new("/"), &profile, true)
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("stackboxd answers hash-password: reading the password from stdin failed");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if let Err(errors) = crate::auth::PasswordStore::check_new(password, password) {
        for e in errors {
            eprintln!("stackboxd answers hash-password: {}", e.message);
        }
        return ExitCode::FAILURE;
    }
    match crate::auth::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd answers hash-password: {e:#}");
            ExitCode::FAILURE
        }
    }
}
