//! `stackbox`: the build-host tool. The image pipeline (`build`, `verify`, `boot`) is not implemented yet;
//! until it is, this binary says so instead of pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "stackbox: the image pipeline (build, verify, boot) is not implemented yet; see the README"
    );
    ExitCode::from(2)
}
