//! Names: host names and their DNS labels (a node, a cluster, a physical network), and Linux interface
//! names (NICs, bridges).

/// The longest Linux interface name (`IFNAMSIZ` less the terminating NUL).
pub const IFNAME_MAX: usize = 15;

/// Why a host name or DNS label is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing was given.
    #[error("enter a host name")]
    Empty,
    /// Longer than 253 characters.
    #[error("a host name has at most 253 characters")]
    TooLong,
    /// A leading, trailing or double dot.
    #[error("a host name has no empty labels (no leading, trailing or double dots)")]
    EmptyLabel,
    /// A label longer than 63 characters.
    #[error("each part of a host name has at most 63 characters")]
    LabelTooLong,
    /// A character other than a-z, 0-9, `-` (and `.` between labels).
    #[error(
        "a host name uses only lowercase letters a-z, digits 0-9, hyphens and dots (no spaces, no uppercase, no other characters)"
    )]
    Character,
    /// A label that starts or ends with a hyphen.
    #[error("a part of a host name does not start or end with a hyphen")]
    Hyphen,
}

/// Checks one DNS label: 1 to 63 of lowercase ASCII letters, digits and hyphens, not starting or ending
/// with a hyphen.
pub fn check_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    if label.chars().count() > 63 {
        return Err(NameError::LabelTooLong);
    }
    if !label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(NameError::Character);
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::Hyphen);
    }
    Ok(())
}

/// Whether `s` is a single DNS label (see [`check_label`]).
pub fn is_dns_label(s: &str) -> bool {
    check_label(s).is_ok()
}

/// Checks a host name: one or more DNS labels joined by dots, 253 characters at most.
pub fn check_hostname(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > 253 {
        return Err(NameError::TooLong);
    }
    name.split('.').try_for_each(check_label)
}

/// Why a Linux interface name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an interface name {}", self.rule())]
pub enum IfnameError {
    /// Empty or longer than [`IFNAME_MAX`].
    Length,
    /// `.` or `..`.
    Dots,
    /// A character other than a letter, a digit, `-`, `_` or `.`.
    Character,
}

impl IfnameError {
    /// The rule broken, worded to follow "an interface name" or "a bridge name".
    pub fn rule(&self) -> &'static str {
        match self {
            IfnameError::Length => "has 1 to 15 characters",
            IfnameError::Dots => "cannot be . or ..",
            IfnameError::Character => "uses only letters, digits, '-', '_' and '.'",
        }
    }
}

/// Checks a Linux interface name: 1 to 15 of ASCII letters, digits, `-`, `_`, `.`, and not `.` or `..`.
/// (The kernel takes more characters; these are the ones every tool and unit file handles unquoted.)
pub fn check_ifname(name: &str) -> Result<(), IfnameError> {
    if name.is_empty() || name.len() > IFNAME_MAX {
        return Err(IfnameError::Length);
    }
    if name == "." || name == ".." {
        return Err(IfnameError::Dots);
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(IfnameError::Character);
    }
    Ok(())
}

/// Whether `s` is a Linux interface name (see [`check_ifname`]).
pub fn is_ifname(s: &str) -> bool {
    check_ifname(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ifnames() {
        assert!(is_dns_label("node-1"));
        for bad in [
            "",
            "Node1",
            "node_1",
            "-a",
            "a-",
            "nöde",
            &"a".repeat(64),
            "a b",
            "a.b",
        ] {
            assert!(!is_dns_label(bad), "{bad:?}");
        }
        assert!(is_ifname("enp65s0f0np0"));
        assert!(is_ifname("br-mgmt"));
        assert!(is_ifname("bond0.100"));
        for bad in [
            "",
            "a/b",
            "eth0:1",
            "a b",
            "averyveryverylong0",
            ".",
            "..",
            "eth@0",
            "nïc",
        ] {
            assert!(!is_ifname(bad), "{bad:?}");
        }
    }

    #[test]
    fn hostnames_are_lowercase_ascii_labels() {
        for (bad, why) in [
            ("", NameError::Empty),
            ("my node", NameError::Character),
            ("Node1", NameError::Character),
            ("nödé", NameError::Character),
            ("-node", NameError::Hyphen),
            ("node-", NameError::Hyphen),
            ("a..b", NameError::EmptyLabel),
            (".a", NameError::EmptyLabel),
            ("<script>alert(1)</script>", NameError::Character),
        ] {
            assert_eq!(check_hostname(bad), Err(why), "{bad:?}");
        }
        assert_eq!(
            check_hostname(&"a".repeat(64)),
            Err(NameError::LabelTooLong)
        );
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ]
        .join(".");
        assert_eq!(check_hostname(&long), Err(NameError::TooLong));
        check_hostname(&"a".repeat(63)).unwrap();
        check_hostname("node-1.lab.example").unwrap();
    }

    #[test]
    fn ifname_errors_say_which_rule() {
        assert_eq!(
            check_ifname("a-bridge-name-too-long")
                .unwrap_err()
                .to_string(),
            "an interface name has 1 to 15 characters"
        );
        assert_eq!(check_ifname(".."), Err(IfnameError::Dots));
        assert_eq!(check_ifname("br/0"), Err(IfnameError::Character));
    }
}
