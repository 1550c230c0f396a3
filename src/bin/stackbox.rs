//! `stackbox`: the build-host tool. Parses arguments and runs them through `stackbox_image::cli`.

use std::process::ExitCode;

use stackbox_image::cli::{Cli, run};

fn main() -> ExitCode {
    // `build --workspace` defaults to this workspace, the one `stackboxd` is built from.
    run(Cli::parse_with_workspace(env!("CARGO_MANIFEST_DIR")))
}
