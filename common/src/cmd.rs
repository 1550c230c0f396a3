//! The one command runner: every external command (mmdebstrap, xorriso, modprobe, mysql, nft, ...) goes
//! through [`Command::run`] (blocking) or [`Command::run_async`] (tokio, for callers that serve requests
//! while they wait, such as a node agent that installs), which check the exit status and put the argv and
//! the tail of stderr into the error. Both share one description of the command and one way of judging
//! its result.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;

/// How many bytes of a failed command's stderr go into the error.
const STDERR_TAIL: usize = 4096;

/// A command that failed to start or exited unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program could not be started at all (usually: not installed).
    #[error("cannot run `{argv}`: {source}")]
    Spawn {
        /// The command line, quoted for a shell.
        argv: String,
        /// Why the spawn failed.
        #[source]
        source: std::io::Error,
    },
    /// The program ran and exited with a non-zero status or was killed by a signal.
    #[error("`{argv}` failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        /// The command line, quoted for a shell.
        argv: String,
        /// The exit status as the OS reports it.
        status: std::process::ExitStatus,
        /// The last few KiB of what the command wrote to stderr.
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

impl CmdError {
    /// True when the program itself was not found, so the caller can name the package to install.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CmdError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What a successful command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
}

/// A command line to run: program, arguments and an optional working directory.
#[derive(Debug, Clone)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

impl Command {
    /// A command that runs `program` (looked up in `PATH`).
    pub fn new(program: impl Into<OsString>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs the command in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets one environment variable for the command.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command line, quoted so that it can be pasted into a shell.
    pub fn argv(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The standard library's command for this one, with stdin closed.
    fn std_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args).stdin(Stdio::null());
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs the command to completion, capturing stdout and stderr; a non-zero exit is an error.
    pub fn run(&self) -> Result<Output, CmdError> {
        tracing::debug!(argv = %self.argv(), "running");
        let out = self.std_command().output();
        self.judge(out)
    }

    /// Runs the command to completion whatever its exit status, for commands whose status is an answer
    /// (`pip check` exits 1 when it found broken requirements): its output and exit code (`None` when a
    /// signal ended it). Only a command that could not start is an error.
    pub fn run_status(&self) -> Result<(Option<i32>, Output), CmdError> {
        tracing::debug!(argv = %self.argv(), "running");
        let out = self
            .std_command()
            .output()
            .map_err(|source| CmdError::Spawn {
                argv: self.argv(),
                source,
            })?;
        Ok((
            out.status.code(),
            Output {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
        ))
    }

    /// [`Command::run`] for async callers: the command runs as a tokio child process, so the runtime keeps
    /// serving other tasks while it waits. If the returned future is dropped, the child is killed.
    pub async fn run_async(&self) -> Result<Output, CmdError> {
        tracing::debug!(argv = %self.argv(), "running");
        let mut command = tokio::process::Command::from(self.std_command());
        command.kill_on_drop(true);
        let out = command.output().await;
        self.judge(out)
    }

    /// Turns a finished process into the command's result: its output, or an error with argv and stderr.
    fn judge(&self, out: std::io::Result<std::process::Output>) -> Result<Output, CmdError> {
        let out = out.map_err(|source| CmdError::Spawn {
            argv: self.argv(),
            source,
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(CmdError::Failed {
                argv: self.argv(),
                status: out.status,
                stderr: tail(&stderr, STDERR_TAIL).to_owned(),
            });
        }
        Ok(Output { stdout, stderr })
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.argv())
    }
}

/// The last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Quotes one word for a POSIX shell, leaving plain words alone.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_captures_stdout() {
        let out = Command::new("sh").args(["-c", "echo hello"]).run().unwrap();
        assert_eq!(out.stdout, "hello\n");
    }

    #[test]
    fn failure_carries_argv_status_and_stderr() {
        let err = Command::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`sh -c 'echo boom >&2; exit 3'`"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.ends_with(": boom"), "{msg}");
    }

    #[test]
    fn run_status_answers_a_failing_commands_output_and_code() {
        let (code, out) = Command::new("sh")
            .args(["-c", "echo broken; echo why >&2; exit 1"])
            .run_status()
            .unwrap();
        assert_eq!(
            (code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(1), "broken\n", "why\n")
        );
        assert!(
            Command::new("stackbox-no-such-program")
                .run_status()
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn missing_program_is_not_found() {
        let err = Command::new("stackbox-no-such-program").run().unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("stackbox-no-such-program"));
    }

    #[tokio::test]
    async fn async_runner_judges_like_the_blocking_one() {
        let out = Command::new("sh")
            .args(["-c", "printf \"$X\""])
            .env("X", "from env")
            .run_async()
            .await
            .unwrap();
        assert_eq!(out.stdout, "from env");
        let err = Command::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run_async()
            .await
            .unwrap_err();
        assert!(err.to_string().ends_with("(exit status: 3): boom"), "{err}");
        let err = Command::new("stackbox-no-such-program")
            .run_async()
            .await
            .unwrap_err();
        assert!(err.is_not_found());
    }

    #[tokio::test]
    async fn async_runner_leaves_the_runtime_free_while_it_waits() {
        // On a current-thread runtime a blocking wait would starve the timer until the command ends.
        let started = std::time::Instant::now();
        let sleep = Command::new("sleep").arg("2");
        let slow = sleep.run_async();
        let quick = tokio::time::sleep(std::time::Duration::from_millis(50));
        tokio::select! {
            _ = slow => panic!("sleep 2 finished before a 50 ms timer"),
            () = quick => {}
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc-1.2"), "abc-1.2");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn tail_respects_char_boundaries() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }
}
