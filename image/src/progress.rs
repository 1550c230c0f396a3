//! Stage progress: a spinner per stage on a terminal, plain lines otherwise, and the timings table.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How one stage went.
#[derive(Debug, Clone)]
pub struct StageTiming {
    /// Stage name.
    pub name: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether the result came from the cache.
    pub cached: bool,
}

/// Reports stages as they run and remembers their timings.
pub struct Progress {
    tty: bool,
    /// Every finished stage.
    pub timings: Vec<StageTiming>,
}

/// A running stage; pass it to [`Progress::done`] when it finishes.
pub struct Stage {
    name: String,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            timings: Vec::new(),
        }
    }

    /// Starts a stage.
    pub fn start(&mut self, name: &str, what: &str) -> Stage {
        let bar = if self.tty {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {prefix:<12} {msg} [{elapsed}]")
            {
                bar.set_style(style);
            }
            bar.set_prefix(name.to_owned());
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("stackbox: {name}: {what}");
            None
        };
        Stage {
            name: name.to_owned(),
            started: Instant::now(),
            bar,
        }
    }

    /// Finishes a stage, noting whether its result was cached.
    pub fn done(&mut self, stage: Stage, cached: bool) {
        let elapsed = stage.started.elapsed();
        let how = if cached { "cached" } else { "done" };
        match stage.bar {
            Some(bar) => {
                bar.finish_with_message(format!("{how} in {:.1} s", elapsed.as_secs_f64()))
            }
            None => eprintln!(
                "stackbox: {}: {how} in {:.1} s",
                stage.name,
                elapsed.as_secs_f64()
            ),
        }
        self.timings.push(StageTiming {
            name: stage.name,
            elapsed,
            cached,
        });
    }

    /// The timings table printed by `--timings`.
    pub fn render_timings(&self) -> String {
        let mut s = String::from("stage         seconds  cached\n");
        let mut total = 0.0;
        for t in &self.timings {
            let secs = t.elapsed.as_secs_f64();
            total += secs;
            s.push_str(&format!(
                "{:<12} {:>8.1}  {}\n",
                t.name,
                secs,
                if t.cached { "yes" } else { "no" }
            ));
        }
        s.push_str(&format!("{:<12} {:>8.1}\n", "total", total));
        s
    }
}
