//! What every command-line front end of the workspace shares: the exit status for bad arguments, writing to
//! a stdout that may be a closed pipe, and printing an error with its causes once.

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

/// An error and its causes on one line, each cause once: `outer: cause: root cause`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // A message that already ends with its cause (`"reading x: {source}"`) is not repeated.
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("reading x: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn chain_prints_each_cause_once() {
        let e = Outer(std::io::Error::other("disk gone"));
        assert_eq!(chain(&e), "outer: disk gone");
        let e = Repeats(std::io::Error::other("disk gone"));
        assert_eq!(chain(&e), "reading x: disk gone");
    }
}
