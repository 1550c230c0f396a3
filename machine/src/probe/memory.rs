//! Memory: the total from /proc/meminfo.

/// Parses `MemTotal:` out of /proc/meminfo, in bytes.
pub fn parse_meminfo_total(text: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .ok_or("no MemTotal line in /proc/meminfo")?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = words
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("bad MemTotal line `{line}`"))?;
    match words.next() {
        Some("kB") => value
            .checked_mul(1024)
            .ok_or_else(|| format!("MemTotal overflows: `{line}`")),
        None => Ok(value),
        Some(unit) => Err(format!("unknown MemTotal unit `{unit}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kb() {
        let text = "MemTotal:       24591900 kB\nMemFree:        23000000 kB\n";
        assert_eq!(parse_meminfo_total(text).unwrap(), 24_591_900 * 1024);
    }

    #[test]
    fn must_fail_meminfo() {
        for bad in [
            "",
            "MemFree: 1 kB",
            "MemTotal: lots kB",
            "MemTotal: 5 MB",
            "MemTotal: 99999999999999999999 kB",
        ] {
            assert!(parse_meminfo_total(bad).is_err(), "{bad:?} accepted");
        }
    }
}
