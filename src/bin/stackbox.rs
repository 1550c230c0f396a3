//! `stackbox`: the build-host tool. Parses arguments and dispatches into `stackbox_image`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stackbox_image::build::{BuildOptions, build};
use stackbox_image::qemu::{BootFormat, Firmware, boot_interactive};
use stackbox_image::spec::parse_formats;

#[derive(Parser)]
#[command(
    name = "stackbox",
    version,
    about = "Build, verify and boot the stackbox appliance images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the appliance (as root, on Debian 12): ISO, disk images, PXE bundle, root tarball.
    Build {
        /// The appliance spec; the embedded default when omitted.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Where the artifacts, manifest.json and SHA256SUMS go (replaced as a whole at the end).
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// Artifact formats, comma-separated (iso,raw,qcow2,pxe,tar); the spec's outputs when omitted.
        #[arg(long, value_name = "LIST")]
        formats: Option<String>,
        /// The stage cache (package downloads and stage results, keyed by their inputs).
        #[arg(long, value_name = "DIR", default_value = "cache")]
        cache: PathBuf,
        /// Print each stage's time at the end.
        #[arg(long)]
        timings: bool,
        /// A Debian mirror URI to build from instead of the host's apt sources.
        #[arg(long, value_name = "URI")]
        mirror: Option<String>,
        /// A prebuilt stackboxd instead of `cargo build --release -p stackbox --bin stackboxd`.
        #[arg(long, value_name = "PATH")]
        stackboxd: Option<PathBuf>,
        /// The first-boot unit (default: firstboot/systemd/stackbox-firstboot.service of the workspace).
        #[arg(long, value_name = "PATH")]
        firstboot_unit: Option<PathBuf>,
        /// The stackbox workspace to build stackboxd from.
        #[arg(long, value_name = "DIR", default_value = env!("CARGO_MANIFEST_DIR"))]
        workspace: PathBuf,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build {
            spec,
            out,
            formats,
            cache,
            timings,
            mirror,
            stackboxd,
            firstboot_unit,
            workspace,
        } => match formats.as_deref().map(parse_formats).transpose() {
            Err(e) => Err(anyhow::anyhow!("--formats: {e}")),
            Ok(formats) => build(&BuildOptions {
                spec,
                out,
                formats,
                cache,
                timings,
                mirror,
                stackboxd,
                firstboot_unit,
                workspace,
            })
            .map(|s| {
                println!(
                    "stackbox: built {} artifacts in {}",
                    s.manifest.artifacts.len(),
                    s.out.display()
                );
            }),
        },
        Command::Verify { dir } => stackbox_image::manifest::verify(&dir).and_then(|r| {
            for p in &r.problems {
                eprintln!("stackbox verify: {p}");
            }
            if r.problems.is_empty() {
                println!("stackbox verify: {} files OK", r.ok.len());
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{} problem(s) in {}",
                    r.problems.len(),
                    dir.display()
                ))
            }
        }),
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
