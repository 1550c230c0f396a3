//! The wizard's recent log lines, kept in memory so that an operator at a browser can download them
//! (`GET /log`, admin only) when an error page names an error id: the journal is on the console, out
//! of the browser's reach. The log holds no secrets (the logs test walks a whole sign-in to prove it).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;

/// How many lines are kept; older ones go first.
pub const KEEP_LINES: usize = 5000;

static LINES: LazyLock<Mutex<VecDeque<String>>> = LazyLock::new(|| Mutex::new(VecDeque::new()));

/// Writes formatted log events into the kept lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut lines = LINES.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines().filter(|l| !l.is_empty()) {
            if lines.len() == KEEP_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The layer that keeps the lines: events at INFO and above, without colours, whatever the
/// console's filter is.
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(|| Writer)
        .with_filter(LevelFilter::INFO)
}

/// The kept lines, oldest first.
pub fn lines() -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect()
}

/// The download: a header saying what it is, then the lines.
pub fn download() -> String {
    let lines = lines();
    let mut out = format!(
        "# stackbox wizard: its last {} log lines (at most {KEEP_LINES}, INFO and above) since it started;\n\
         # the journal has them all: journalctl -u stackbox-wizard\n",
        lines.len()
    );
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
