//! How far back the log probes look: the [`Window`] (30 minutes unless the operator widens it with
//! `stackboxd diagnose --since 2h`, or `?since=SECONDS` on the agent's and the wizard's routes), and the
//! [`Cutoff`] it makes on a node's clock. A log line counts when the timestamp it starts with
//! (`2026-11-30 19:17:59.123 ...`, OpenStack's, in the node's time zone; or `2026-11-30T19:17:59.123Z`,
//! `2026-11-30 19:17:59.123+0000: ...`, QEMU's and libvirt's, with their offset) is at or after the
//! cutoff; a line without one (a traceback's) follows the line before it, and the lines before the first
//! stamped line of what was read count as old (their age is unknown). Journals are asked with
//! `--since=@UNIX`.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The diagnose routes' query (`?since=SECONDS`), read as text so that [`Window::from_query`] judges it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SinceQuery {
    /// The window in seconds.
    pub since: Option<String>,
}

impl SinceQuery {
    /// The window it asks for (the default when it names none).
    pub fn window(&self) -> Result<Window, WindowError> {
        Window::from_query(self.since.as_deref())
    }
}

/// A log window: how many seconds back from the node's now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    secs: u64,
}

/// Why a window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a number of seconds (or a duration such as `2h`).
    #[error(
        "`{0}` is not a duration: give seconds, or a number with s, m, h or d (`90`, `30m`, `2h`)"
    )]
    Garbage(String),
    /// Zero, or beyond the largest window.
    #[error("`{0}` is out of range: a window is from 1 second to {max} seconds (30 days)", max = Window::MAX_SECS)]
    OutOfRange(String),
}

impl Default for Window {
    fn default() -> Self {
        Window {
            secs: Self::DEFAULT_SECS,
        }
    }
}

impl Window {
    /// The window when none is asked for: 30 minutes.
    pub const DEFAULT_SECS: u64 = 30 * 60;
    /// The widest window: 30 days (a node's logs rotate well before).
    pub const MAX_SECS: u64 = 30 * 24 * 3600;

    /// A window of `secs` seconds, from 1 to [`Window::MAX_SECS`].
    pub fn from_secs(secs: u64) -> Result<Window, WindowError> {
        if (1..=Self::MAX_SECS).contains(&secs) {
            Ok(Window { secs })
        } else {
            Err(WindowError::OutOfRange(secs.to_string()))
        }
    }

    /// Its length in seconds.
    pub fn secs(&self) -> u64 {
        self.secs
    }

    /// The `since` query parameter of the diagnose routes: whole seconds (`1800`); absent, the default.
    pub fn from_query(since: Option<&str>) -> Result<Window, WindowError> {
        let Some(t) = since else {
            return Ok(Window::default());
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if t.strip_prefix('-').is_some_and(all_digits) {
            return Err(WindowError::OutOfRange(t.to_owned()));
        }
        if !all_digits(t) {
            return Err(WindowError::Garbage(t.to_owned()));
        }
        // More digits than u64 holds is out of range as well.
        let secs = t
            .parse::<u64>()
            .map_err(|_| WindowError::OutOfRange(t.to_owned()))?;
        Window::from_secs(secs)
    }

    /// `stackboxd diagnose --since`'s value: seconds, or a number with `s`, `m`, `h` or `d`.
    pub fn from_arg(text: &str) -> Result<Window, WindowError> {
        let t = text.trim();
        let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => t.split_at(i),
            None => (t, ""),
        };
        let scale = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ if digits.is_empty() && unit.starts_with('-') => {
                return Err(WindowError::OutOfRange(t.to_owned()));
            }
            _ => return Err(WindowError::Garbage(text.to_owned())),
        };
        if digits.is_empty() {
            return Err(WindowError::Garbage(text.to_owned()));
        }
        let secs = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .ok_or_else(|| WindowError::OutOfRange(t.to_owned()))?;
        Window::from_secs(secs)
    }

    /// How the window reads (`30m`, `2h`, `90s`).
    pub fn human(&self) -> String {
        match self.secs {
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    }
}

/// The oldest moment a log line may carry to count, on a node's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    /// Seconds since the epoch.
    unix: i64,
    /// The node's offset from UTC, for timestamps that carry none (OpenStack's).
    offset: UtcOffset,
}

/// `t` as OpenStack's logs write time, to the second (`2026-11-30 19:00:00`), in `t`'s offset.
pub fn log_stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Cutoff {
    /// `window` back from the node's `now` (with the node's UTC offset).
    pub fn new(now: OffsetDateTime, window: Window) -> Cutoff {
        let back = i64::try_from(window.secs()).unwrap_or(i64::MAX);
        Cutoff {
            unix: now.unix_timestamp().saturating_sub(back),
            offset: now.offset(),
        }
    }

    /// Seconds since the epoch (journalctl's `--since=@UNIX`).
    pub fn unix(&self) -> i64 {
        self.unix
    }

    /// The cutoff as the node's logs write time (`2026-11-30 19:00:00`).
    pub fn local(&self) -> String {
        match OffsetDateTime::from_unix_timestamp(self.unix) {
            Ok(t) => log_stamp(t.to_offset(self.offset)),
            Err(_) => format!("@{}", self.unix),
        }
    }

    /// Whether a line stamped `unix` counts.
    pub fn admits(&self, unix: i64) -> bool {
        unix >= self.unix
    }

    /// The lines of `text` within the window, each with its index in `text`: stamped lines by their
    /// time, others as the line before them, the first ones (before any stamp) as old.
    pub fn recent<'a>(&self, text: &'a str) -> Vec<(usize, &'a str)> {
        let mut inside = false;
        text.lines()
            .enumerate()
            .filter(|(_, line)| {
                if let Some(t) = line_time(line, self.offset) {
                    inside = self.admits(t);
                }
                inside
            })
            .collect()
    }
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    part.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// The time a log line starts with, in seconds since the epoch: `YYYY-MM-DD HH:MM:SS` (or with `T`),
/// then optional fractions, then an optional `Z`, `+HHMM` or `+HH:MM` (without one: `local`, the node's
/// offset).
pub fn line_time(line: &str, local: UtcOffset) -> Option<i64> {
    let b = line.as_bytes();
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b" T") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let year = i32::try_from(digits(b, 0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(b, 5, 2)?).ok()?).ok()?;
    let day = u8::try_from(digits(b, 8, 2)?).ok()?;
    let (h, m, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(s).ok()?,
    )
    .ok()?;
    let mut at = 19;
    if b.get(at) == Some(&b'.') || b.get(at) == Some(&b',') {
        at += 1;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
    }
    let offset = match b.get(at) {
        Some(b'Z') => UtcOffset::UTC,
        Some(sign @ (b'+' | b'-')) => {
            let hh = digits(b, at + 1, 2)?;
            let mm_at = if b.get(at + 3) == Some(&b':') {
                at + 4
            } else {
                at + 3
            };
            let mm = digits(b, mm_at, 2).unwrap_or(0);
            let secs = i32::try_from(hh * 3600 + mm * 60).ok()?;
            UtcOffset::from_whole_seconds(if *sign == b'-' { -secs } else { secs }).ok()?
        }
        _ => local,
    };
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        let unix = line_time(text, UtcOffset::UTC).unwrap();
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn timestamps_as_openstack_qemu_and_libvirt_write_them() {
        let utc = UtcOffset::UTC;
        let t = line_time("2026-11-30 19:17:59.123 812 ERROR nova.compute [-] x", utc).unwrap();
        assert_eq!(t, at("2026-11-30 19:17:59").unix_timestamp());
        assert_eq!(
            line_time("2026-11-30T19:17:59.123456Z qemu-system-x86_64: x", utc),
            Some(t)
        );
        assert_eq!(
            line_time("2026-11-30 20:17:59.123+0100: starting up", utc),
            Some(t)
        );
        assert_eq!(line_time("2026-11-30 20:47:59+01:30 x", utc), Some(t));
        // Without an offset, the node's own.
        let plus2 = UtcOffset::from_hms(2, 0, 0).unwrap();
        assert_eq!(line_time("2026-11-30 21:17:59 x", plus2), Some(t));
        for bad in [
            "Traceback (most recent call last):",
            "",
            "2026-11-30",
            "2026-13-01 00:00:00 x",
            "2026-11-30 25:00:00 x",
            "2026/11/30 19:17:59 x",
            "  File \"/usr/lib/python3/dist-packages/nova/x.py\", line 1",
        ] {
            assert_eq!(line_time(bad, utc), None, "{bad}");
        }
    }

    #[test]
    fn an_old_line_is_out_a_fresh_one_in_and_the_boundary_is_in() {
        let now = at("2026-11-30 19:30:00");
        let cut = Cutoff::new(now, Window::default());
        assert_eq!(cut.local(), "2026-11-30 19:00:00");
        let text = "continued from before the tail\n\
                    2026-11-23 19:10:00.000 1 ERROR x [-] last week\n\
                    Traceback (most recent call last): of last week\n\
                    2026-11-30 18:59:59.999 1 ERROR x [-] a second too old\n\
                    2026-11-30 19:00:00.000 1 ERROR x [-] at the boundary\n\
                    Traceback (most recent call last): of the boundary's\n\
                    2026-11-30 19:29:00.000 1 ERROR x [-] fresh\n";
        let kept: Vec<usize> = cut.recent(text).into_iter().map(|(i, _)| i).collect();
        assert_eq!(kept, [4, 5, 6]);
        // A wider window takes last week's as well (and its traceback).
        let week = Cutoff::new(now, Window::from_arg("8d").unwrap());
        let kept: Vec<usize> = week.recent(text).into_iter().map(|(i, _)| i).collect();
        assert_eq!(kept, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn windows_from_the_query_and_the_command_line() {
        assert_eq!(Window::from_query(None).unwrap().secs(), 1800);
        assert_eq!(Window::from_query(Some("7200")).unwrap().secs(), 7200);
        assert_eq!(Window::from_arg("2h").unwrap().secs(), 7200);
        assert_eq!(Window::from_arg("90").unwrap().secs(), 90);
        assert_eq!(Window::from_arg("45m").unwrap().human(), "45m");
        assert_eq!(Window::from_arg("30d").unwrap().human(), "30d");
        // Must fail: negative, zero, huge, garbage.
        for bad in ["-5", "0", "2592001", "99999999999999999999999", "-1h"] {
            assert!(
                matches!(
                    Window::from_query(Some(bad)).or_else(|_| Window::from_arg(bad)),
                    Err(WindowError::OutOfRange(_))
                ),
                "{bad}"
            );
        }
        for bad in ["", "abc", "2h", "1e3", "12 ", " 1", "0x10", "1.5"] {
            assert!(Window::from_query(Some(bad)).is_err(), "query {bad:?}");
        }
        for bad in ["", "abc", "h", "2w", "1.5h", "31d"] {
            assert!(Window::from_arg(bad).is_err(), "arg {bad:?}");
        }
    }
}
