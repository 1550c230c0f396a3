//! TOML parsing whose errors name the file, the line and the dotted key, for every configuration file an
//! operator edits (hardware profiles, appliance spec, cluster config).

use serde::de::DeserializeOwned;

/// A TOML file that is malformed, has an unknown key or a value of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {reason}")]
pub struct TomlError {
    /// The file, as given by the caller.
    pub file: String,
    /// The line (1-based) of the problem; 0 when the parser gave no position.
    pub line: usize,
    /// The dotted key path, or `(document)` for a syntax error.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// Parses `text` (the contents of `file`) into `T`.
///
/// `T` should use `#[serde(deny_unknown_fields)]` so that a misspelt key is an error, not silently ignored.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, TomlError> {
    let make = |key: String, err: toml::de::Error| TomlError {
        file: file.to_owned(),
        line: err.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        key,
        // serde echoes the offending value whole (`invalid value: string "..."`): cut it.
        reason: crate::text::excerpt(err.message().trim()).into_owned(),
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        // A syntax error has no key path; name the key written on its line when there is one (a
        // duplicate key, a bad value), so the operator knows which setting to fix.
        let key = e
            .span()
            .and_then(|s| key_on_line(text, line_of(text, s.start)))
            .unwrap_or_else(|| "(document)".to_owned());
        make(key, e)
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." || path.is_empty() {
            "(document)".to_owned()
        } else {
            path
        };
        make(key, e.into_inner())
    })
}

/// Checks that `bytes` (the contents of `file`) are UTF-8 text, as TOML must be; the error names the line
/// and the key of the first byte that is not.
pub fn utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, TomlError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let before = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        let line = before.matches('\n').count() + 1;
        let whole = String::from_utf8_lossy(bytes);
        TomlError {
            file: file.to_owned(),
            line,
            key: key_on_line(&whole, line).unwrap_or_else(|| "(document)".to_owned()),
            reason: "is not valid UTF-8 text".to_owned(),
        }
    })
}

/// The dotted key written on `line` (1-based) of a TOML text: the last table header above it and the
/// key before its `=`; `None` when the line holds no `key =`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if i + 1 == line {
            let key = l.split_once('=')?.0.trim().trim_matches('"');
            if key.is_empty() || key.starts_with('#') {
                return None;
            }
            return Some(if table.is_empty() {
                key.to_owned()
            } else {
                format!("{table}.{key}")
            });
        }
        if let Some(header) = l.strip_prefix('[') {
            table = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
        }
    }
    None
}

/// The 1-based line number of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn a_duplicate_key_is_named_with_its_line() {
        let err =
            parse::<Doc>("a.toml", "name = 'x'\n[inner]\ncount = 3\ncount = 4\n").unwrap_err();
        assert_eq!((err.line, err.key.as_str()), (4, "inner.count"), "{err}");
        assert!(err.reason.contains("duplicate key"), "{err}");
    }

    #[test]
    fn invalid_utf8_is_named_with_its_line_and_key() {
        let bytes = b"name = 'x'\n[inner]\ncount = '\xff'\n";
        let err = utf8("a.toml", bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.toml:3: inner.count: is not valid UTF-8 text"
        );
        assert_eq!(utf8("a.toml", b"name = 'x'\n").unwrap(), "name = 'x'\n");
    }

    #[test]
    fn a_huge_bad_value_is_not_echoed_whole() {
        let text = format!(
            "name = 'x'\n[inner]\ncount = '{}'\n",
            "9".repeat(10_000_000)
        );
        let err = parse::<Doc>("a.toml", &text).unwrap_err();
        assert_eq!(err.key, "inner.count");
        assert!(
            err.to_string().len() < 1_000,
            "{} bytes",
            err.to_string().len()
        );
    }

    #[test]
    fn parses_valid() {
        let doc: Doc = parse("a.toml", "name = 'x'\n[inner]\ncount = 3\n").unwrap();
        assert_eq!(doc.inner.count, 3);
    }

    #[test]
    fn unknown_key_names_path_and_line() {
        let err =
            parse::<Doc>("a.toml", "name = 'x'\n[inner]\ncount = 3\ncolour = 1\n").unwrap_err();
        assert_eq!(err.key, "inner.colour");
        assert_eq!(err.line, 4);
        assert!(err.reason.contains("unknown field `colour`"), "{err}");
        assert!(
            err.to_string().starts_with("a.toml:4: inner.colour: "),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_key() {
        let err = parse::<Doc>("a.toml", "name = 'x'\n[inner]\ncount = -2\n").unwrap_err();
        assert_eq!(err.key, "inner.count");
        assert_eq!(err.line, 3);
    }

    #[test]
    fn syntax_error_has_line() {
        let err = parse::<Doc>("a.toml", "name = 'x'\n[inner\n").unwrap_err();
        assert_eq!(err.key, "(document)");
        assert_eq!(err.line, 2);
    }
}
