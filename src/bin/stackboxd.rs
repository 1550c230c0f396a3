//! `stackboxd`: the service on the appliance. Parses arguments and dispatches into the crates' `cli`
//! modules, where each subcommand's options and run live.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stackbox_cluster::cli::ClusterArgs;
use stackbox_firstboot::cli::{CheckArgs, FirstbootArgs, TuneArgs};
use stackbox_installer::cli::{CatalogArgs, CertificateArgs, InstallArgs, PlanArgs};
use stackbox_web::cli::ServeArgs;

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
    Serve(ServeArgs),
    /// Make the endpoint certificate haproxy serves, signed by the cluster CA (a step of the install plan).
    ///
    /// Uses the cluster CA made when the cluster was created (/etc/stackbox/ca.pem and ca-key.pem),
    /// making it only when there is none, and writes /etc/haproxy/stackbox.pem last.
    /// With --cert and --key, installs the operator's certificate instead. Exit status: 0 or 1.
    Certificate(CertificateArgs),
    /// Register the OpenStack services in keystone's catalog (a step of the install plan).
    ///
    /// Over keystone's REST API, as the admin of the OS_* variables (OS_AUTH_URL, OS_PASSWORD, OS_CACERT,
    /// ...): the service project; per --service NAME:TYPE:URL the user NAME with the password in
    /// STACKBOX_PASSWORD_NAME and the admin role in the service project, the service NAME of TYPE and its
    /// public, internal and admin endpoints at URL. Each is looked up first and made or corrected only when
    /// missing or different (a second service of one name is never made). With --check, changes nothing.
    /// Exit status: 0 done (or, with --check, the catalog holds it all), 1 otherwise, 2 for bad arguments.
    Catalog(CatalogArgs),
    /// Grow the cluster: issue join codes for new nodes, and join a cluster from a new node.
    ///
    /// `stackboxd cluster code` prints a fresh join code, when it expires and this member's TLS
    /// fingerprint; type them on the new node's "Join an existing cluster" page, or give them to
    /// `stackboxd cluster join ADDRESS` there (the code from a 0600 file or stdin, never the command
    /// line). The code never crosses the wire (a key derived from it authenticates the join both ways),
    /// works once, expires (60 minutes by default) and is locked after 5 wrong tries. It is printed on
    /// this console only, never logged.
    Cluster(ClusterArgs),
    /// Boot a test VM through the cloud and read its console (the install plan's last step).
    ///
    /// Takes the admin credentials from the environment (OS_AUTH_URL, OS_PASSWORD, ...), prints its
    /// report and deletes what it created. Exit status: 0 when the VM came up, 1 otherwise.
    Smoke(stackbox_installer::cli::SmokeArgs),
    /// Install the appliance to a disk from the live system (booted from the ISO, a USB stick or PXE).
    ///
    /// Refuses the boot medium, the running system's disk, a disk that is mounted, swapped on or part of
    /// LVM, dm-crypt or RAID, a read-only disk and one too small. Checks the source's SHA-256 against the
    /// image's SHA256SUMS before writing; writes the GPT layout of disk.raw (BIOS boot partition, ESP with
    /// GRUB at the removable path, ext4 root filling the disk) with a fresh root UUID, machine-id and the
    /// wizard's state, the partition table last: if it fails or is killed, the disk boots nothing and a
    /// rerun starts over. Asks to type the disk's name unless --yes. With --answers, the answer file is
    /// judged whole first (its [disk] target is the default disk) and built into the installed system, whose
    /// wizard goes on by itself. Exit status: 0 installed, 1 refused or failed, 2 for bad arguments.
    InstallOs(stackbox_installer::cli::InstallOsArgs),
    /// Answer files for zero-touch installs: check one against this machine, or hash an admin password
    /// for one.
    ///
    /// An answer file holds the wizard's answers ([disk], [admin], [network], [cluster], [node],
    /// [settings]); the wizard finds it on a file system labelled STACKBOX (answers.toml) or built into
    /// the image (/etc/stackbox/answers.toml) and installs by itself.
    Answers(stackbox_web::cli::AnswersArgs),
    /// Clear the setup wizard's sign-in lockouts, from the console (as root).
    ///
    /// Five wrong passwords from one address lock it out for 30 s, doubling up to 5 minutes; a team
    /// behind one jump host shares that address. This lets everyone sign in again at once: the wizard
    /// sees the request (a file in its state directory) at the next sign-in attempt. Exit status: 0 done,
    /// 1 failed, 2 for bad arguments.
    Unlock(stackbox_web::cli::UnlockArgs),
    /// Apply the node's network (NICs, bonds, VLAN, bridge, MTU, addresses, NTP) with automatic rollback,
    /// confirm or revert it, and show where it stands.
    ///
    /// `apply --config FILE` arms a revert that fires by itself (a systemd timer) unless `confirm` comes
    /// within --confirm-within seconds (120 by default); a failed probe reverts at once, and a restart
    /// before the confirmation boots the previous network. Every apply, confirmation and revert is in
    /// the journal (tag stackbox-network) and in `status`.
    Network(stackbox_network::cli::NetworkArgs),
    /// Write a support bundle of this node, with every secret redacted, to send when asking for help.
    ///
    /// Collects the install journal, the answers, the hardware report, failed units and their journals,
    /// the services' logs, the rendered configuration, Galera's and RabbitMQ's status, the firewall's
    /// ruleset, addresses and routes. Every secret the appliance generated is replaced wherever it
    /// appears (also URL-encoded and base64), then private keys and password values; if a known secret
    /// is still found, no bundle is written. The archive (gzip'd tar, mode 0600) opens with summary.txt
    /// and redaction-report.txt (file, rule, count; never values). Exit status: 0 written, 1 refused or
    /// failed, 2 for bad arguments.
    Bundle(stackbox_cluster::bundle::BundleArgs),
    /// Run the troubleshooting matrix on every node (or one with --node) and print what is wrong.
    ///
    /// Each node's agent checks its services and agents, Galera, RabbitMQ (partitions, missing nodes,
    /// queue backlogs), who holds the cloud's ports, disks, memory, the clock, broken Python
    /// dependencies (`pip check`), and the logs for authentication failures and timeouts (the catalog
    /// is cluster/diagnoses.toml); log lines and journals count from --since back (30 minutes by
    /// default). Each finding comes
    /// with its evidence (log lines with their file and line), its cause, the remedy, and the admin
    /// desk's command where one repairs it. A node that does not answer is named. Exit status: 0 when
    /// every node answered and nothing was found, 1 otherwise.
    Diagnose(stackbox_cluster::diagnose::across::DiagnoseArgs),
}

fn main() -> ExitCode {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The console's log as STACKBOX_LOG says (warnings by default); beside it the wizard's recent
    // lines, which its error pages offer for download.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(
                    tracing_subscriber::EnvFilter::try_from_env("STACKBOX_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                ),
        )
        .with(stackbox_web::recent_log::layer())
        .init();
    match Cli::parse().command {
        Command::Check(args) => stackbox_firstboot::cli::check(args),
        Command::Tune(args) => stackbox_firstboot::cli::tune(args),
        Command::Firstboot(args) => stackbox_firstboot::cli::firstboot(args),
        Command::Plan(args) => stackbox_installer::cli::plan(args),
        Command::Install(args) => stackbox_installer::cli::install(args),
        Command::Serve(args) => stackbox_web::cli::run(args),
        Command::Certificate(args) => stackbox_installer::cli::certificate(args),
        Command::Catalog(args) => stackbox_installer::cli::catalog(&args),
        Command::Cluster(args) => stackbox_cluster::cli::run(args),
        Command::Smoke(args) => stackbox_installer::cli::smoke(&args),
        Command::InstallOs(args) => {
            stackbox_installer::cli::install_os(args, &stackbox_web::cli::judge_answers_for_install)
        }
        Command::Answers(args) => stackbox_web::cli::answers(args),
        Command::Unlock(args) => stackbox_web::cli::unlock(&args),
        Command::Network(args) => stackbox_network::cli::run(args),
        Command::Bundle(args) => stackbox_cluster::bundle::run(args),
        Command::Diagnose(args) => stackbox_cluster::diagnose::across::run(&args),
    }
}
