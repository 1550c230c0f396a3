//! Errors as operators read them: one line, each cause once.

/// An error and its causes on one line, each cause once: `outer: cause: root cause`. A cause whose text
/// its parent's message already carries (`"reading x: {source}"`) is not repeated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
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
