//! Mutations of valid texts for property tests of the workspace's parsers (appliance spec, manifest,
//! cluster configuration, hardware profiles): a few edits (deletions, insertions, replaced lines, odd
//! values, duplicated lines, truncation) of a valid text, so that the parsers see near-misses and not only
//! noise. Each case runs in a forked runner under a timeout, so a hang fails the property too.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// `cases` cases, each in a forked runner with a 10 s timeout.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        timeout: 10_000,
        ..Config::default()
    }
}

/// One edit of a valid text.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // Each variant's doc names its fields.
pub enum Edit {
    /// Delete `len` characters at `at`.
    Delete { at: usize, len: usize },
    /// Insert `text` at `at`.
    Insert { at: usize, text: String },
    /// Replace the whole line `line` with `text`.
    ReplaceLine { line: usize, text: String },
    /// Replace what follows the first `=` (or `  `) of line `line` with `value`.
    SetValue { line: usize, value: String },
    /// Repeat line `line`.
    DuplicateLine { line: usize },
    /// Cut the text at `at`.
    Truncate { at: usize },
}

/// Text that looks like a TOML or JSON value, or garbage.
pub fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("{n}{n}")),
        any::<f64>().prop_map(|f| f.to_string()),
        "\"[^\"\\\\\n]{0,24}\"",
        "\\[(\"[a-z0-9.+@/-]{0,12}\", ?){0,3}\\]",
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("null".to_owned()),
        ".{0,16}",
    ]
}

/// A few edits, positions taken modulo the text's length.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), ".{0,12}").prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), "[ -~\t]{0,40}|.{0,12}")
            .prop_map(|(line, text)| Edit::ReplaceLine { line, text }),
        (any::<usize>(), value()).prop_map(|(line, value)| Edit::SetValue { line, value }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ];
    prop::collection::vec(edit, 1..4)
}

/// Applies `edits` to `text`, on character (not byte) positions.
pub fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut out = text.to_owned();
    for edit in edits {
        let chars: Vec<char> = out.chars().collect();
        let n = chars.len().max(1);
        let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
        let lines_n = lines.len().max(1);
        out = match edit {
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                chars[..at.min(chars.len())]
                    .iter()
                    .chain(&chars[end..])
                    .collect()
            }
            Edit::Insert { at, text } => {
                let at = (at % n).min(chars.len());
                let mut v = chars[..at].iter().collect::<String>();
                v.push_str(text);
                v.extend(&chars[at..]);
                v
            }
            Edit::Truncate { at } => chars[..(at % n).min(chars.len())].iter().collect(),
            Edit::ReplaceLine { line, text } => {
                if let Some(l) = lines.get_mut(line % lines_n) {
                    *l = text.clone();
                }
                lines.join("\n")
            }
            Edit::SetValue { line, value } => {
                if let Some(l) = lines.get_mut(line % lines_n) {
                    let key = l.split_once('=').map(|(k, _)| format!("{k}= "));
                    let key = key.or_else(|| l.split_once("  ").map(|(k, _)| format!("{k}  ")));
                    *l = format!("{}{value}", key.unwrap_or_default());
                }
                lines.join("\n")
            }
            Edit::DuplicateLine { line } => {
                if !lines.is_empty() {
                    let i = line % lines.len();
                    lines.insert(i, lines[i].clone());
                }
                lines.join("\n")
            }
        };
    }
    out
}
