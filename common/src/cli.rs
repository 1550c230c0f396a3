//! What every command-line front end of the workspace shares: the exit status for bad arguments and writing
//! to a stdout that may be a closed pipe. Errors are printed with [`crate::error::chain`].

use std::process::ExitCode;

/// Exit status for bad arguments (unknown profile or role, a configuration that cannot be read, ...).
pub const EXIT_USAGE: u8 = 2;

/// The exit status for a usage error.
pub fn usage() -> ExitCode {
    ExitCode::from(EXIT_USAGE)
}

/// Writes to stdout; a closed pipe (`stackboxd plan | head`) ends the output quietly instead of panicking.
pub fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
