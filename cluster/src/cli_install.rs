//! `stackboxd cluster install`, `status` and `remove`: their arguments and runs (the coordinator is
//! [`crate::coordinator`], the status [`crate::status`], the removal [`crate::remove`]).
//!
//! Prints every step's outcome with its node as it happens, then one line for the run. Exit status: 0
//! when every step of every node is done, 1 when a step failed or an agent could not be reached (a
//! rerun goes on where it stopped), 2 for bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use stackbox_common::error::chain;
use stackbox_installer::install::render_event;

use crate::coordinator::{self, CoordError, Report, Setup};

/// What every coordinator run takes besides its configuration.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The wizard's state directory (this node's agent credentials are kept in `cluster/node/`; a
    /// removal writes the configuration without the node to `cluster/config.toml`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// The agents' port.
    #[arg(long, value_name = "PORT", default_value_t = crate::agent::AGENT_PORT)]
    pub agent_port: u16,
    /// Print every step's output too.
    #[arg(short, long)]
    pub verbose: bool,
}

impl RunArgs {
    /// The coordinator's setup for `config`.
    fn setup(&self, config: &std::path::Path) -> Setup {
        Setup {
            config: config.to_owned(),
            state_dir: self.state.clone(),
            port: self.agent_port,
            ..Setup::default()
        }
    }
}

/// The arguments of `stackboxd cluster install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The cluster configuration, every node with its roles (as `examples/three-node.toml`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// The run's closing line.
pub fn render_report(report: &Report) -> String {
    let acted: usize = report.acted.values().map(Vec::len).sum();
    let per_node: Vec<String> = report
        .acted
        .iter()
        .map(|(node, steps)| format!("{node} {}", steps.len()))
        .collect();
    let outcome = match &report.failed {
        Some(f) => format!("failed at {}: {}", f.id, f.error),
        None => "complete".to_owned(),
    };
    format!(
        "cluster install {outcome}: {acted} steps acted ({}), {} already done, in {:.0} s\n",
        if per_node.is_empty() {
            "none".to_owned()
        } else {
            per_node.join(", ")
        },
        report.skipped,
        report.seconds
    )
}

/// Prints a coordinator's events, each line behind its node, and its lines for the operator.
struct Printer {
    verbose: bool,
    stdout: Mutex<std::io::Stdout>,
}

impl Printer {
    fn new(verbose: bool) -> Printer {
        Printer {
            verbose,
            stdout: Mutex::new(std::io::stdout()),
        }
    }

    fn print(&self, text: &str) {
        let mut out = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::io::Write::write_all(&mut *out, text.as_bytes());
        let _ = std::io::Write::flush(&mut *out);
    }
}

impl coordinator::Watch for Printer {
    fn event(&self, node: &str, event: &stackbox_installer::executor::Event) {
        let text = render_event(event, self.verbose);
        let lines: String = text.lines().map(|l| format!("{node:<8} {l}\n")).collect();
        self.print(&lines);
    }

    fn say(&self, line: &str) {
        self.print(&format!("{line}\n"));
    }
}

/// Runs `stackboxd cluster install`.
pub fn install(args: &InstallArgs) -> ExitCode {
    let setup = args.run.setup(&args.config);
    match coordinator::install(&setup, &Printer::new(args.run.verbose)) {
        Ok(report) => {
            print!("{}", render_report(&report));
            if report.failed.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e @ CoordError::Load(_)) => {
            eprintln!("stackboxd cluster install: {}", chain(&e));
            stackbox_common::cli::usage()
        }
        Err(e) => {
            eprintln!("stackboxd cluster install: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The arguments of `stackboxd cluster remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The node to remove, by its name in the configuration.
    pub node: String,
    /// The cluster configuration (the one the last `cluster install` assigned).
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::runner::CONFIG_PATH)]
    pub config: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// Runs `stackboxd cluster remove`.
pub fn remove(args: &RemoveArgs) -> ExitCode {
    let setup = args.run.setup(&args.config);
    match crate::remove::remove(&setup, &args.node, &Printer::new(args.run.verbose)) {
        Ok(report) => {
            print!("{}", render_report(&report));
            if report.failed.is_some() {
                ExitCode::FAILURE
            } else {
                println!("{} removed", args.node);
                ExitCode::SUCCESS
            }
        }
        Err(crate::remove::RemoveError::Coord(e @ CoordError::Load(_))) => {
            eprintln!("stackboxd cluster remove: {}", chain(&e));
            stackbox_common::cli::usage()
        }
        Err(e) => {
            eprintln!("stackboxd cluster remove: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// How `stackboxd cluster status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// The whole status as JSON.
    Json,
}

/// The arguments of `stackboxd cluster status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The cluster configuration (the one the last `cluster install` assigned).
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::runner::CONFIG_PATH)]
    pub config: PathBuf,
    /// The wizard's state directory (this node's agent credentials are in `cluster/node/`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// The agents' port.
    #[arg(long, value_name = "PORT", default_value_t = crate::agent::AGENT_PORT)]
    pub agent_port: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `stackboxd cluster status`: exit 0 healthy, 1 not (or no answer), 2 for bad arguments.
pub fn status(args: &StatusArgs) -> ExitCode {
    let config = match stackbox_installer::load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stackboxd cluster status: {}", chain(&e));
            return stackbox_common::cli::usage();
        }
    };
    let dir = args.state.join(crate::node::NODE_DIR);
    let tls = match crate::agent_client::node_tls(&args.state) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "stackboxd cluster status: this node has no cluster credentials ({}): {}",
                dir.display(),
                chain(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    let status = crate::agent_client::ask_agents(&config, tls, args.agent_port);
    match args.format {
        Format::Text => print!("{}", crate::status::render_text(&status)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        ),
    }
    if status.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
