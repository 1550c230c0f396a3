//! `stackbox`'s arguments and its run: the binary parses and dispatches here, so the build host's options live
//! beside the pipeline that uses them.
//!
//! `build` runs [`crate::build::build`], `verify` runs [`crate::manifest::verify`], `boot` runs
//! [`crate::qemu::boot_interactive`]. Exit status: 0 on success, 1 on any failure (printed once with its causes),
//! 2 for arguments clap rejects.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::build::{BuildOptions, build};
use crate::manifest;
use crate::qemu::{BootFormat, Firmware, boot_interactive};
use crate::spec::parse_formats;

/// The `stackbox` command line.
#[derive(Debug, Parser)]
#[command(
    name = "stackbox",
    version,
    about = "Build, verify and boot the stackbox appliance images"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `stackbox`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the appliance (as root, on Debian 12): ISO, disk images, PXE bundle, root tarball.
    Build(BuildArgs),
    /// Recompute every checksum of a build; non-zero exit on any mismatch or missing file.
    Verify {
        /// The build's output directory.
        dir: PathBuf,
    },
    /// Boot an artifact in QEMU with two NICs and the serial console here; prints the wizard's address.
    Boot {
        /// The build's output directory.
        dir: PathBuf,
        /// What to boot: the ISO as a CD, the ISO as a USB stick, the disk image, or the PXE bundle.
        #[arg(long, value_enum, default_value = "raw")]
        format: BootFormat,
        /// Firmware.
        #[arg(long, value_enum, default_value = "uefi")]
        firmware: Firmware,
        /// Loopback port forwarded to the guest's wizard (8443).
        #[arg(long, default_value_t = 8443)]
        port: u16,
    },
}

/// The arguments of `stackbox build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The appliance spec; the embedded default when omitted.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Where the artifacts, manifest.json and SHA256SUMS go (replaced as a whole at the end).
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Artifact formats, comma-separated (iso,raw,qcow2,pxe,tar); the spec's outputs when omitted.
    #[arg(long, value_name = "LIST")]
    pub formats: Option<String>,
    /// The stage cache (package downloads and stage results, keyed by their inputs).
    #[arg(long, value_name = "DIR", default_value = "cache")]
    pub cache: PathBuf,
    /// Print each stage's time at the end.
    #[arg(long)]
    pub timings: bool,
    /// A Debian mirror URI to build from instead of the host's apt sources.
    #[arg(long, value_name = "URI")]
    pub mirror: Option<String>,
    /// A prebuilt stackboxd instead of `cargo build --release -p stackbox --bin stackboxd`.
    #[arg(long, value_name = "PATH")]
    pub stackboxd: Option<PathBuf>,
    /// The first-boot unit (default: firstboot/systemd/stackbox-firstboot.service of the workspace).
    #[arg(long, value_name = "PATH")]
    pub firstboot_unit: Option<PathBuf>,
    /// An answer file to build into the image (/etc/stackbox/answers.toml, mode 0600): every machine
    /// booted from it installs itself with these answers, erasing the disk its [disk] names. Judge it
    /// first on a machine like the targets: `stackboxd answers check FILE --live`.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// The stackbox workspace to build stackboxd from.
    #[arg(long, value_name = "DIR")]
    pub workspace: PathBuf,
}

impl Cli {
    /// Parses the process's arguments, with `workspace` as the default of `build --workspace` (the binary
    /// passes the root of the workspace it was built from); exits as clap does on bad arguments or `--help`.
    pub fn parse_with_workspace(workspace: &'static str) -> Cli {
        let matches = command_with_workspace(workspace).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// The clap command of [`Cli`] with `workspace` as the default of `build --workspace`.
fn command_with_workspace(workspace: &'static str) -> clap::Command {
    Cli::command().mut_subcommand("build", |build| {
        build.mut_arg("workspace", |arg| {
            arg.required(false).default_value(workspace)
        })
    })
}

/// Runs the command; an error is printed once with its causes and gives exit status 1.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Build(args) => run_build(args),
        Command::Verify { dir } => run_verify(&dir),
        Command::Boot {
            dir,
            format,
            firmware,
            port,
        } => boot_interactive(&dir, format, firmware, port),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stackbox: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `stackbox build`: checks `--formats` before anything runs, builds, and says where the artifacts are.
fn run_build(args: BuildArgs) -> anyhow::Result<()> {
    let formats = args
        .formats
        .as_deref()
        .map(parse_formats)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--formats: {e}"))?;
    let summary = build(&BuildOptions {
        spec: args.spec,
        out: args.out,
        formats,
        cache: args.cache,
        timings: args.timings,
        mirror: args.mirror,
        stackboxd: args.stackboxd,
        firstboot_unit: args.firstboot_unit,
        workspace: args.workspace,
        answers: args.answers,
    })?;
    println!(
        "stackbox: built {} artifacts in {}",
        summary.manifest.artifacts.len(),
        summary.out.display()
    );
    Ok(())
}

/// `stackbox verify`: prints every problem, then fails when there was one.
fn run_verify(dir: &std::path::Path) -> anyhow::Result<()> {
    let report = manifest::verify(dir)?;
    for p in &report.problems {
        eprintln!("stackbox verify: {p}");
    }
    if report.problems.is_empty() {
        println!("stackbox verify: {} files OK", report.ok.len());
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} problem(s) in {}",
            report.problems.len(),
            dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let matches = command_with_workspace("/src/stackbox")
            .try_get_matches_from(args)
            .unwrap();
        Cli::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn build_defaults_to_the_given_workspace() {
        let Command::Build(args) = parse(&["stackbox", "build"]).command else {
            panic!("not a build");
        };
        assert_eq!(args.workspace, PathBuf::from("/src/stackbox"));
        assert_eq!(args.out, PathBuf::from("out"));
        let Command::Build(args) = parse(&["stackbox", "build", "--workspace", "/w"]).command
        else {
            panic!("not a build");
        };
        assert_eq!(args.workspace, PathBuf::from("/w"));
    }

    #[test]
    fn an_answer_file_is_taken_for_the_image() {
        let Command::Build(args) = parse(&["stackbox", "build", "--answers", "node.toml"]).command
        else {
            panic!("not a build");
        };
        assert_eq!(args.answers, Some(PathBuf::from("node.toml")));
        let Command::Build(args) = parse(&["stackbox", "build"]).command else {
            panic!("not a build");
        };
        assert_eq!(args.answers, None);
    }

    #[test]
    fn the_command_line_is_well_formed() {
        command_with_workspace("/src/stackbox").debug_assert();
    }
}
