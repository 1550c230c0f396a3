//! Text that goes into messages: a value an operator typed is echoed back cut to a readable length, so a
//! 10 MB mistake does not become a 10 MB error message, log line or HTTP answer.

use std::borrow::Cow;

/// How many bytes of an echoed value a message keeps.
pub const ECHO_MAX: usize = 300;

/// `text` cut to at most [`ECHO_MAX`] bytes at a character boundary, saying how much was left out.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    excerpt_at(text, ECHO_MAX)
}

/// `text` cut to at most `max` bytes at a character boundary, saying how much was left out.
pub fn excerpt_at(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… ({} more bytes)",
        &text[..end],
        text.len() - end
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_at_a_character() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(1_000_000);
        let cut = excerpt(&long);
        assert!(cut.len() < ECHO_MAX + 40, "{}", cut.len());
        assert!(cut.ends_with("… (1999700 more bytes)"), "{cut}");
        assert_eq!(excerpt_at("aé", 2), "a… (2 more bytes)");
    }
}
