//! `stackboxd network`: apply a node's network with automatic rollback, confirm it, revert it, and say
//! where it stands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use stackbox_common::cli::{out, usage};
use stackbox_common::error::chain;
use stackbox_machine::system::Root;

use crate::apply::system::SystemHost;
use crate::apply::{ApplyError, DEFAULT_CONFIRM_WITHIN, Network, Paths, Status, describe};
use crate::host::NicFact;
use crate::model::NetworkSettings;

/// `stackboxd network`.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    #[command(subcommand)]
    command: NetworkCommand,
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Apply a network (NICs, bonds, VLAN, bridge, MTU, addresses, NTP) with automatic rollback.
    ///
    /// Checks the file against this machine's NICs, saves stackbox's current networkd files, arms a
    /// revert that runs by itself after --confirm-within seconds (a transient systemd timer: it fires even
    /// if stackboxd dies), then writes the new files and reloads systemd-networkd. It probes the result
    /// (links up, address held, gateway answers ARP, a name server answers, the --peer addresses answer);
    /// a failed probe reverts at once. Confirm with `stackboxd network confirm` (or the wizard, over the
    /// new address) before the deadline, or the previous network comes back; a reboot before the
    /// confirmation boots the previous network. Exit status: 0 when applied and waiting for confirmation,
    /// 1 when refused or reverted, 2 for bad arguments.
    Apply(ApplyArgs),
    /// Keep the network change waiting for confirmation. Exit status: 0, or 1 when none waits.
    Confirm,
    /// Put back the network from before the unconfirmed change (the revert timer runs this).
    ///
    /// Exit status: 0 whether or not a change was waiting, 1 when the revert failed.
    Revert(RevertArgs),
    /// The confirmed network, the change waiting for confirmation, and the last revert with its reason.
    Status(StatusArgs),
}

/// `stackboxd network apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The network, a TOML file (or the wizard's network.json) with the fields of the wizard's network page.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Seconds the operator has to confirm before the previous network comes back.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_CONFIRM_WITHIN,
          value_parser = clap::value_parser!(u64).range(10..=3600))]
    confirm_within: u64,
    /// A cluster peer (ADDRESS:PORT) that must answer on TCP after the change; repeatable.
    #[arg(long, value_name = "ADDRESS:PORT")]
    peer: Vec<SocketAddr>,
    /// Seconds links and addresses (a DHCP lease) may take to come up before the probe fails.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    settle: u64,
}

/// `stackboxd network revert`.
#[derive(Debug, Args)]
pub struct RevertArgs {
    /// Why, for the history and the journal.
    #[arg(long, default_value = "reverted by the operator")]
    reason: String,
    /// Put the files back only (the boot guard, before systemd-networkd starts).
    #[arg(long)]
    at_boot: bool,
}

/// `stackboxd network status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// How to print it.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Runs `stackboxd network`.
pub fn run(args: NetworkArgs) -> ExitCode {
    let host = SystemHost {
        stackboxd: std::env::current_exe().unwrap_or_else(|_| "/usr/bin/stackboxd".into()),
        peers: match &args.command {
            NetworkCommand::Apply(a) => a.peer.clone(),
            _ => Vec::new(),
        },
        settle: Duration::from_secs(match &args.command {
            NetworkCommand::Apply(a) => a.settle,
            _ => 0,
        }),
    };
    let network = Network::new(Paths::system(), &host);
    let result = match args.command {
        NetworkCommand::Apply(a) => apply(&network, &a),
        NetworkCommand::Confirm => network.confirm().map(|s| {
            out(&format!("confirmed: {}\n", describe(&s)));
            ExitCode::SUCCESS
        }),
        NetworkCommand::Revert(r) => network.revert_with(&r.reason, r.at_boot).map(|done| {
            out(if done {
                "reverted: the previous network is back\n"
            } else {
                "nothing to revert: no change was waiting for confirmation\n"
            });
            ExitCode::SUCCESS
        }),
        NetworkCommand::Status(s) => network.status().map(|st| {
            out(&match s.format {
                Format::Json => format!("{}\n", status_json(&st)),
                Format::Text => status_text(&st),
            });
            ExitCode::SUCCESS
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("stackboxd network: {}", chain(&e));
        ExitCode::FAILURE
    })
}

fn apply(network: &Network<'_>, a: &ApplyArgs) -> Result<ExitCode, ApplyError> {
    let settings = match read_settings(&a.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stackboxd network apply: {e}");
            return Ok(usage());
        }
    };
    let nics = nic_facts();
    let (pending, seen) = network.apply(&settings, &nics, a.confirm_within)?;
    for line in seen {
        out(&format!("  ok: {line}\n"));
    }
    out(&format!(
        "applied: {}; confirm within {} s (`stackboxd network confirm`), or it is reverted\n",
        describe(&pending.settings),
        pending.deadline.saturating_sub(pending.applied_at)
    ));
    Ok(ExitCode::SUCCESS)
}

/// The settings in a TOML file, or JSON when the name ends `.json`.
pub fn read_settings(path: &Path) -> Result<NetworkSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.display().to_string();
    if name.ends_with(".json") {
        let mut json = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let key = e.path().to_string();
            format!("{name}: {key}: {}", e.into_inner())
        })
    } else {
        stackbox_common::toml_file::parse(&name, &text).map_err(|e| e.to_string())
    }
}

/// This machine's NICs (and a container's veth uplinks) with their carrier.
pub fn nic_facts() -> Vec<NicFact> {
    stackbox_machine::probe::net::probe(&Root::live())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.is_uplink())
        .map(|n| NicFact {
            name: n.name,
            carrier: n.carrier,
        })
        .collect()
}

fn status_json(st: &Status) -> serde_json::Value {
    serde_json::json!({
        "current": st.current,
        "pending": st.pending.as_ref().map(|(p, left)| serde_json::json!({
            "settings": p.settings,
            "applied_at": p.applied_at,
            "deadline": p.deadline,
            "seconds_left": left,
        })),
        "last_revert": st.last_revert,
        "files": st.files,
    })
}

fn status_text(st: &Status) -> String {
    let mut text = match &st.current {
        Some(s) => format!("current: {}\n", describe(s)),
        None => "current: the image's default (DHCP on every NIC)\n".to_owned(),
    };
    match &st.pending {
        Some((p, left)) => text.push_str(&format!(
            "pending: {}; reverted in {left} s unless confirmed\n",
            describe(&p.settings)
        )),
        None => text.push_str("pending: none\n"),
    }
    if let Some(e) = &st.last_revert {
        text.push_str(&format!("last revert: {} (at {})\n", e.reason, e.at));
    }
    text.push_str(&format!("files: {}\n", st.files.join(", ")));
    text
}
