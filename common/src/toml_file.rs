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
    let de = toml::Deserializer::parse(text).map_err(|e| make("(document)".to_owned(), e))?;
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
