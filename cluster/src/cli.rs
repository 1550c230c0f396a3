//! `stackboxd cluster`: its arguments and runs. The binary only dispatches here.
//!
//! `stackboxd cluster code` prints a fresh join code, when it expires and this member's TLS fingerprint,
//! on stdout only: that is the operator's console. The code is never logged and never taken from a
//! command line. Exit status: 0 with a code, 1 when none could be issued, 2 for bad arguments.
//!
//! `stackboxd cluster join ADDRESS` joins the member at ADDRESS. The code is read from a file only its
//! owner may read (`--code-file`) or from stdin (`--code-stdin`), never from the command line
//! (`/proc/PID/cmdline` is world-readable; DESIGN's `--code CODE` yields to that rule). Before the
//! join request, the pairwise checks of [`crate::precheck`] run; any failure refuses the join with
//! every failing check listed, and nothing is sent or written. Exit status: 0 joined, 1 refused
//! (by the checks or the member, the reasons printed) or failed, 2 for bad arguments.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use stackbox_common::cli::{out, usage};
use stackbox_common::error::chain;
use stackbox_common::pki;

use crate::code::{CodeError, CodeStore, Issued, JoinCode};
use crate::galera::{self, Decision};
use crate::node::{JoiningNode, Target};
use crate::precheck::CheckId;
use crate::proof::Fingerprint;

/// The arguments of `stackboxd cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The subcommands of `stackboxd cluster`.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Issue a join code for a new node, and show this member's TLS fingerprint.
    ///
    /// Prints the code, when it expires and this member's fingerprint, on this console only (never to
    /// the log). On the new node, choose "Join an existing cluster" and type this member's address, the
    /// code and the fingerprint. The code is accepted once, until it expires, and is locked after 5
    /// wrong tries; issuing a new code replaces the old one.
    Code(CodeArgs),
    /// Join the cluster of the member at ADDRESS with the code and fingerprint its console showed.
    ///
    /// The code is read from a file only its owner may read (--code-file) or from stdin (--code-stdin),
    /// never from the command line. The member's certificate must have the fingerprint given (else
    /// nothing is sent). On success, the node's key (0600), its certificate and the cluster CA are in
    /// STATE/cluster/node/; a failed join leaves nothing there.
    ///
    /// Before the join request, this node checks the member: the same image version, clocks at most
    /// 1 s apart, the member's name resolving here to its address (and this node's name acceptable),
    /// the cluster ports the member listens on reachable from here, and a don't-fragment ping at the
    /// member's data-plane MTU. Any failure refuses the join with every failing check named, and
    /// nothing is sent. Exit status: 0 joined, 1 refused (by the checks or the member, the reasons
    /// printed) or failed, 2 for bad arguments.
    Join(JoinArgs),
    /// Decide how this node's MariaDB rejoins Galera, before it starts (run by mariadb.service).
    ///
    /// Joins a running member; else lets Galera restore the last primary component this node saved;
    /// else bootstraps when this node provably has the newest data (it left last and cleanly, or it is
    /// the only storage member); else waits, says why on the journal and the console, and looks again
    /// every RETRY seconds. Never bootstraps a node that may be stale.
    GaleraStart(GaleraArgs),
    /// Install (or grow) the whole cluster from this node, the one that created it: every node's
    /// steps of the plan run on that node's agent, nodes side by side, each step after its
    /// dependencies on any node.
    ///
    /// Asks every node's agent (port 8444, mutual TLS with cluster certificates) for its hardware,
    /// plans the configuration with it, hands every node the configuration, the cluster's secrets and
    /// certificates, and runs the plan. A rerun (after a failure, a reboot or a killed run) skips
    /// what is done and goes on. Exit status: 0 complete, 1 a step failed or an agent could not be
    /// reached, 2 for bad arguments.
    Install(crate::cli_install::InstallArgs),
    /// Show every member's health as its agent reports it: roles, agent, Galera size and state,
    /// RabbitMQ's running nodes and quorum-queue replicas, which node holds the API address.
    ///
    /// Asks every node of the configuration at once (mutual TLS with this node's cluster
    /// certificate). Exit status: 0 when every agent answered and every storage and bus member sees
    /// all the others, 1 otherwise, 2 for bad arguments.
    Status(crate::cli_install::StatusArgs),
    /// Remove NODE from the cluster, from the node that created it.
    ///
    /// Refused when NODE is not a member, is this node, leads a role (its first node, which
    /// bootstrapped it) or is the last node of one of its roles, and while NODE hosts servers (each is
    /// named: migrate or delete them first). Else NODE's agent lets it leave cleanly (RabbitMQ's quorum
    /// replicas handed back and its cluster left, every unit stopped and disabled, Galera left, its
    /// cluster credentials deleted), nova's and neutron's records of it are deleted, and the
    /// configuration without it (STATE/cluster/config.toml) is installed on the remaining nodes.
    /// Leaving two storage-metadata or message-bus nodes is warned of: their quorum needs a third.
    /// A removal that stopped half-way is run again. Exit status: 0 removed, 1 refused or failed,
    /// 2 for bad arguments.
    Remove(crate::cli_install::RemoveArgs),
    /// Show which process holds PORT on every node (or --node NAME): its name and PID, from `ss`.
    ///
    /// Asks each node's agent (mutual TLS). Exit status: 0 when every node answered, 1 otherwise,
    /// 2 for bad arguments.
    Port(crate::cli_desk::PortArgs),
    /// Recover a hung VM: nova's hard reboot, else a restart at its compute node's hypervisor.
    ///
    /// Reads the server from nova (admin credentials from the environment, an openrc), asks nova for
    /// a hard reboot and waits up to --wait seconds for it to be ACTIVE and running at the hypervisor;
    /// if it is not (nova-compute hung or down), the server's compute node's agent destroys and starts
    /// its libvirt domain and nova's state is reset to active. Every step is printed. Exit status: 0
    /// when the server is back, 1 otherwise, 2 for bad arguments.
    Recover(crate::recover::RecoverArgs),
    /// Set the CPU, RAM and disk overcommit (allocation) ratios on every compute node at once.
    ///
    /// Each compute node's agent writes them into its nova.conf and restarts nova-compute, one node
    /// after the other (each active again before the next; the first that is not stops the run);
    /// the cluster configuration's [overcommit] is updated; then the ratios are read back from
    /// placement (admin credentials from the environment, an openrc) until every compute node shows
    /// them. Bounds: cpu at most 64, ram at most 4, disk at most 10, each above 0. Exit status: 0
    /// applied and shown, 1 otherwise, 2 for bad arguments.
    Overcommit(crate::cli_overcommit::OvercommitArgs),
    /// Restart one of the cloud's services on every node in turn (or --node NAME), each active again
    /// before the next.
    ///
    /// Only the cloud's own services (mariadb, rabbitmq-server, memcached, haproxy, keepalived,
    /// keystone, glance-api, placement-api, nova-*, neutron-*, libvirtd, chrony). Waits up to 90 s for
    /// each to be active; stops at the first node where it is not, printing its journal's end, and
    /// leaves the rest running. A node without the service is skipped. Exit status: 0 when every
    /// restart came back, 1 otherwise, 2 for bad arguments.
    Restart(crate::cli_desk::RestartArgs),
    /// Rotate the cluster CA in three stages, on the node that holds it: trust, sign, retire.
    ///
    /// `trust` makes a new CA and has every node trust it beside the old one (every ca.pem lists
    /// both; MariaDB restarts node by node to read it); give clients the new
    /// /etc/stackbox/ca.pem then. `sign` lets the new CA sign: the API endpoint's certificate (unless
    /// it is your own), every node's agent certificate and every daemon's certificate are issued
    /// again and put in place, then MariaDB, RabbitMQ and haproxy restart node by node. `retire`
    /// checks that every agent presents a certificate of the new CA, then removes the old CA from
    /// every ca.pem (its certificates are refused from then on). `status` says where a rotation
    /// stands. A stage that failed or was killed is run again. Exit status: 0 when the stage is done,
    /// 1 when it failed or does not follow (the message says what to run), 2 for bad arguments.
    RotateCa(crate::rotate::RotateArgs),
}

/// The arguments of `stackboxd cluster galera-start`.
#[derive(Debug, clap::Args)]
pub struct GaleraArgs {
    /// The cluster configuration the installer wrote.
    #[arg(long, value_name = "FILE", default_value = stackbox_installer::runner::CONFIG_PATH)]
    pub config: PathBuf,
    /// MariaDB's data directory (grastate.dat, gvwstate.dat).
    #[arg(long, value_name = "DIR", default_value = galera::DATADIR)]
    pub datadir: PathBuf,
    /// The environment file mariadb.service reads: a bootstrap writes `--wsrep-new-cluster` there.
    #[arg(long, value_name = "FILE", default_value = galera::NEW_CLUSTER_ENV)]
    pub env_file: PathBuf,
    /// Seconds between looks while waiting.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub retry: u64,
    /// The wizard's state directory: with cluster credentials in `cluster/node/`, the other members'
    /// agents are asked for their Galera state.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// The agents' port.
    #[arg(long, value_name = "PORT", default_value_t = crate::agent::AGENT_PORT)]
    pub agent_port: u16,
}

/// The arguments of `stackboxd cluster code`.
#[derive(Debug, clap::Args)]
pub struct CodeArgs {
    /// The wizard's state directory (as `stackboxd serve --state`): the code is kept there (0600),
    /// the fingerprint is that of its TLS certificate.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// Minutes the code stays valid (1 to 1440).
    #[arg(
        long,
        value_name = "MINUTES",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=1440)
    )]
    pub expires: u64,
}

/// The arguments of `stackboxd cluster join`.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The member's management address.
    #[arg(value_name = "ADDRESS")]
    pub address: IpAddr,
    /// Read the join code from FILE (mode 0600 or stricter).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "code_stdin",
        conflicts_with = "code_stdin"
    )]
    pub code_file: Option<PathBuf>,
    /// Read the join code from stdin.
    #[arg(long)]
    pub code_stdin: bool,
    /// The member's TLS fingerprint, as its console shows it (SHA256:AB:CD:...).
    #[arg(long, value_name = "SHA256", value_parser = crate::proof::Fingerprint::parse)]
    pub fingerprint: Fingerprint,
    /// This node's state directory (as `stackboxd serve --state`): its wizard certificate is read
    /// from it, the node's credentials are stored in it.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/stackbox")]
    pub state: PathBuf,
    /// The member's wizard port (`stackboxd serve`'s).
    #[arg(long, value_name = "PORT", default_value_t = 8443, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// This node's name (default: its host name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The management address this node joins with (default: the address it reaches the member from;
    /// the member refuses any other than the one the request comes from).
    #[arg(long, value_name = "ADDRESS")]
    pub node_address: Option<IpAddr>,
    /// Skip a pre-join check that this setup cannot pass before the join (repeatable):
    /// `name-resolution` when there is no DNS and the member is not yet in /etc/hosts (the
    /// installer writes every node there), `mtu` when ICMP is filtered between the nodes. The other
    /// checks cannot be skipped.
    #[arg(long = "skip-check", value_name = "CHECK", value_parser = CheckId::parse_skippable)]
    pub skip_check: Vec<CheckId>,
}

/// Runs `stackboxd cluster`.
pub fn run(args: ClusterArgs) -> ExitCode {
    match args.command {
        ClusterCommand::Code(args) => code(&args),
        ClusterCommand::Join(args) => join(&args),
        ClusterCommand::GaleraStart(args) => galera_start(&args),
        ClusterCommand::Install(args) => crate::cli_install::install(&args),
        ClusterCommand::Status(args) => crate::cli_install::status(&args),
        ClusterCommand::Remove(args) => crate::cli_install::remove(&args),
        ClusterCommand::Port(args) => crate::cli_desk::port(&args),
        ClusterCommand::Recover(args) => crate::recover::run(&args),
        ClusterCommand::Overcommit(args) => crate::cli_overcommit::run(&args),
        ClusterCommand::Restart(args) => crate::cli_desk::restart(&args),
        ClusterCommand::RotateCa(args) => crate::rotate::run(&args),
    }
}

/// Why no code was issued.
#[derive(Debug, thiserror::Error)]
enum CodeCliError {
    #[error(
        "this member's TLS certificate (start the wizard once with `stackboxd serve --state DIR`, or run first boot)"
    )]
    Certificate(#[source] pki::PkiError),
    #[error("issuing the join code")]
    Store(#[source] crate::code::StoreError),
}

/// `stackboxd cluster code`: issues a code and prints it with its expiry and the fingerprint.
fn code(args: &CodeArgs) -> ExitCode {
    match issue(
        &args.state,
        Duration::from_secs(args.expires * 60),
        SystemTime::now(),
    ) {
        Ok((issued, fingerprint)) => {
            out(&render(&issued, &fingerprint, SystemTime::now()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stackboxd cluster code: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Why the join code could not be read (a usage error: exit 2). Never repeats the code.
#[derive(Debug, thiserror::Error)]
pub enum CodeInputError {
    /// The file or stdin could not be read.
    #[error("reading the join code from {0}")]
    Read(String, #[source] std::io::Error),
    /// The file may be read by others than its owner.
    #[error(
        "{path} may be read by others (mode {mode:o}): the join code is a secret; `chmod 600 {path}`"
    )]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// What was read is not a join code.
    #[error("the join code read")]
    Code(#[source] CodeError),
}

/// Reads the join code from `file` (refused when group or others may read it) or, without one, from
/// `stdin` (at most 1 KiB).
pub fn read_code(file: Option<&Path>, stdin: impl Read) -> Result<JoinCode, CodeInputError> {
    use std::os::unix::fs::PermissionsExt;
    let mut text = String::new();
    match file {
        Some(path) => {
            let read = |e| CodeInputError::Read(path.display().to_string(), e);
            let mut f = std::fs::File::open(path).map_err(read)?;
            let mode = f.metadata().map_err(read)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(CodeInputError::Exposed {
                    path: path.display().to_string(),
                    mode,
                });
            }
            f.by_ref()
                .take(1024)
                .read_to_string(&mut text)
                .map_err(read)?;
        }
        None => {
            stdin
                .take(1024)
                .read_to_string(&mut text)
                .map_err(|e| CodeInputError::Read("stdin".to_owned(), e))?;
        }
    }
    JoinCode::parse(&text).map_err(CodeInputError::Code)
}

/// `stackboxd cluster join`: reads the code, joins, says what became of it.
fn join(args: &JoinArgs) -> ExitCode {
    let code = match read_code(args.code_file.as_deref(), std::io::stdin().lock()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stackboxd cluster join: {}", chain(&e));
            return usage();
        }
    };
    let hostname = || {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
    };
    let Some(name) = args.name.clone().or_else(hostname) else {
        eprintln!("stackboxd cluster join: this node has no host name; give one with --name");
        return usage();
    };
    let node = JoiningNode {
        state_dir: args.state.clone(),
        name,
        address: args.node_address,
    };
    let target = Target {
        addr: SocketAddr::new(args.address, args.port),
        fingerprint: args.fingerprint,
    };
    match crate::joining::join_checked(&node, &target, &code, &args.skip_check, SystemTime::now()) {
        Ok(joined) => {
            say_skipped(&joined.skipped);
            out(&format!(
                "joined the cluster of {}: this node's certificate, its key and the cluster CA are in {}\n",
                args.address,
                joined.dir.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let crate::joining::CheckedJoinError::Checks { skipped, .. } = &e {
                say_skipped(skipped);
            }
            eprintln!("stackboxd cluster join: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The pre-join checks that were not run, with why, on stderr.
fn say_skipped(skipped: &[crate::precheck::Finding]) {
    for s in skipped {
        eprintln!(
            "stackboxd cluster join: pre-join check {} skipped: {}",
            s.id, s.message
        );
    }
}

/// `stackboxd cluster galera-start`: decides, acts, and while it must wait, says why and looks again.
fn galera_start(args: &GaleraArgs) -> ExitCode {
    // Without cluster credentials (a cluster of one, or a node that never joined) no agent is asked.
    let tls = crate::agent_client::node_tls(&args.state).ok();
    let ask_agent = |ip: std::net::IpAddr| {
        let tls = tls.clone()?;
        crate::agent_client::AgentLink {
            addr: std::net::SocketAddr::new(ip, args.agent_port),
            tls,
        }
        .galera()
        .ok()
    };
    let ask: Option<&dyn Fn(std::net::IpAddr) -> Option<galera::view::PeerGalera>> =
        if tls.is_some() {
            Some(&ask_agent)
        } else {
            None
        };
    loop {
        let decided = galera::prepare(&args.config, &args.datadir, &args.env_file, ask);
        if let Ok(decision) = &decided
            && let (outcome, reason) = decision.outcome()
            && let Err(e) = crate::galera_start::keep(
                &args.state,
                outcome,
                reason,
                std::time::SystemTime::now(),
            )
        {
            eprintln!("stackboxd cluster galera-start: keeping the decision for the status: {e}");
        }
        match decided {
            Ok(Decision::Wait(reason)) => {
                galera::tell_console(&format!("stackbox: MariaDB waits: {reason}"));
                eprintln!("stackboxd cluster galera-start: waiting: {reason}");
                std::thread::sleep(Duration::from_secs(args.retry.max(1)));
            }
            Ok(Decision::Start(reason)) => {
                eprintln!("stackboxd cluster galera-start: starting: {reason}");
                return ExitCode::SUCCESS;
            }
            Ok(Decision::Bootstrap { reason, .. }) => {
                galera::tell_console(&format!("stackbox: MariaDB bootstraps Galera: {reason}"));
                eprintln!("stackboxd cluster galera-start: bootstrapping: {reason}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("stackboxd cluster galera-start: {}", chain(&e));
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Reads the fingerprint first, so that a member without a certificate issues nothing.
fn issue(
    state: &Path,
    valid_for: Duration,
    now: SystemTime,
) -> Result<(Issued, Fingerprint), CodeCliError> {
    let cert = state.join(pki::WIZARD_CERT_FILE);
    let der = pki::read_certificate(&cert).map_err(CodeCliError::Certificate)?;
    let fingerprint = Fingerprint::of_der(&der);
    let issued = CodeStore::new(state)
        .issue(now, valid_for)
        .map_err(CodeCliError::Store)?;
    Ok((issued, fingerprint))
}

/// The console text: the code, its expiry (UTC, and minutes from `now`) and the fingerprint.
fn render(issued: &Issued, fingerprint: &Fingerprint, now: SystemTime) -> String {
    let expires = time::OffsetDateTime::from(issued.expires);
    let minutes = issued
        .expires
        .duration_since(now)
        .map_or(0, |d| d.as_secs().div_ceil(60));
    format!(
        "join code:    {}\n\
         expires:      {:04}-{:02}-{:02} {:02}:{:02} UTC (in {minutes} min)\n\
         fingerprint:  {fingerprint}\n\
         \n\
         On the new node, choose \"Join an existing cluster\" and enter this member's address, the code\n\
         and the fingerprint. The code works once; 5 wrong tries lock it.\n",
        issued.code.expose(),
        expires.year(),
        u8::from(expires.month()),
        expires.day(),
        expires.hour(),
        expires.minute(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::code::JoinCode;

    #[test]
    fn the_console_text_names_code_expiry_and_fingerprint() {
        let issued = Issued {
            code: JoinCode::parse("ABCD-EFGH-JKMN").unwrap(),
            expires: UNIX_EPOCH + Duration::from_secs(1_800_003_600),
        };
        let fp = Fingerprint::of_der(b"abc");
        let text = render(
            &issued,
            &fp,
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        assert!(text.starts_with("join code:    ABCD-EFGH-JKMN\n"), "{text}");
        assert!(
            text.contains("expires:      2027-01-15 09:00 UTC (in 60 min)\n"),
            "{text}"
        );
        assert!(text.contains(&format!("fingerprint:  {fp}\n")), "{text}");
    }

    #[test]
    fn without_a_certificate_no_code_is_issued() {
        let dir = tempfile::tempdir().unwrap();
        let err = issue(dir.path(), Duration::from_secs(60), SystemTime::now()).unwrap_err();
        let message = chain(&err);
        assert!(message.contains("tls/wizard.crt"), "{message}");
        assert!(!CodeStore::new(dir.path()).path().exists());
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ClusterCommand,
    }

    fn parse(args: &[&str]) -> Result<ClusterCommand, clap::Error> {
        use clap::Parser as _;
        Cli::try_parse_from(std::iter::once("cluster").chain(args.iter().copied()))
            .map(|c| c.command)
    }

    const FP: &str = "SHA256:BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";

    #[test]
    fn join_takes_an_address_a_fingerprint_and_a_code_source() {
        let Ok(ClusterCommand::Join(args)) =
            parse(&["join", "10.0.0.1", "--code-stdin", "--fingerprint", FP])
        else {
            panic!("not parsed")
        };
        assert_eq!(args.port, 8443);
        assert_eq!(args.fingerprint, Fingerprint::of_der(b"abc"));
        assert!(args.code_stdin && args.code_file.is_none());
        let Ok(ClusterCommand::Join(args)) = parse(&[
            "join",
            "fd00::1",
            "--code-file",
            "/run/code",
            "--fingerprint",
            &FP.to_lowercase(),
            "--port",
            "9443",
            "--node-address",
            "fd00::2",
            "--name",
            "node-2",
        ]) else {
            panic!("not parsed")
        };
        assert_eq!(args.port, 9443);
        assert_eq!(args.node_address, Some("fd00::2".parse().unwrap()));
    }

    #[test]
    fn must_fail_join_arguments_are_usage_errors() {
        let short = &FP[..FP.len() - 3];
        let cases: &[&[&str]] = &[
            // No code source, both of them, or the code on the command line.
            &["join", "10.0.0.1", "--fingerprint", FP],
            &[
                "join",
                "10.0.0.1",
                "--code-stdin",
                "--code-file",
                "f",
                "--fingerprint",
                FP,
            ],
            &[
                "join",
                "10.0.0.1",
                "--code",
                "ABCD-EFGH-JKMN",
                "--fingerprint",
                FP,
            ],
            // No fingerprint, or not one.
            &["join", "10.0.0.1", "--code-stdin"],
            &["join", "10.0.0.1", "--code-stdin", "--fingerprint", ""],
            &["join", "10.0.0.1", "--code-stdin", "--fingerprint", short],
            &[
                "join",
                "10.0.0.1",
                "--code-stdin",
                "--fingerprint",
                "SHA1:AB:CD",
            ],
            &[
                "join",
                "10.0.0.1",
                "--code-stdin",
                "--fingerprint",
                &FP.replace("BA", "ZZ"),
            ],
            &[
                "join",
                "10.0.0.1",
                "--code-stdin",
                "--fingerprint",
                &format!("{FP}:00"),
            ],
            // Not an address, or no port.
            &[
                "join",
                "member.example",
                "--code-stdin",
                "--fingerprint",
                FP,
            ],
            &[
                "join",
                "10.0.0.1",
                "--code-stdin",
                "--fingerprint",
                FP,
                "--port",
                "0",
            ],
        ];
        for args in cases {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn the_code_comes_from_a_private_file_or_stdin_and_is_never_repeated() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("code");
        std::fs::write(&file, "abcd-efgh-jkmn\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
        assert_eq!(read_code(Some(&file), std::io::empty()).unwrap(), code);
        assert_eq!(read_code(None, &b" ABCD EFGH JKMN\n"[..]).unwrap(), code);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_code(Some(&file), std::io::empty()).unwrap_err();
        assert!(
            matches!(err, CodeInputError::Exposed { mode: 0o640, .. }),
            "{err:?}"
        );
        let missing = read_code(Some(&dir.path().join("nope")), std::io::empty()).unwrap_err();
        assert!(matches!(missing, CodeInputError::Read(..)), "{missing:?}");
        for bad in ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKM0", "ABCD-EFGH-JKMN-ABCD"] {
            let err = read_code(None, bad.as_bytes()).unwrap_err();
            let message = chain(&err);
            assert!(matches!(err, CodeInputError::Code(_)), "{bad:?}");
            assert!(bad.len() < 4 || !message.contains(&bad[..4]), "{message}");
        }
        let long = "A".repeat(5000);
        assert!(matches!(
            read_code(None, long.as_bytes()),
            Err(CodeInputError::Code(CodeError::Length(1024)))
        ));
    }
}
