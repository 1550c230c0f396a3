//! `stackboxd cluster`: its arguments and runs. The binary only dispatches here.
//!
//! `stackboxd cluster code` prints a fresh join code, when it expires and this member's TLS fingerprint,
//! on stdout only: that is the operator's console. The code is never logged and never taken from a
//! command line. Exit status: 0 with a code, 1 when none could be issued, 2 for bad arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use stackbox_common::cli::out;
use stackbox_common::error::chain;
use stackbox_common::pki;

use crate::code::{CodeStore, Issued};
use crate::galera::{self, Decision};
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
    /// Decide how this node's MariaDB rejoins Galera, before it starts (run by mariadb.service).
    ///
    /// Joins a running member; else lets Galera restore the last primary component this node saved;
    /// else bootstraps when this node provably has the newest data (it left last and cleanly, or it is
    /// the only storage member); else waits, says why on the journal and the console, and looks again
    /// every RETRY seconds. Never bootstraps a node that may be stale.
    GaleraStart(GaleraArgs),
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

/// Runs `stackboxd cluster`.
pub fn run(args: ClusterArgs) -> ExitCode {
    match args.command {
        ClusterCommand::Code(args) => code(&args),
        ClusterCommand::GaleraStart(args) => galera_start(&args),
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

/// `stackboxd cluster galera-start`: decides, acts, and while it must wait, says why and looks again.
fn galera_start(args: &GaleraArgs) -> ExitCode {
    loop {
        match galera::prepare(&args.config, &args.datadir, &args.env_file) {
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
}
