//! Secrets: a string type that never shows itself in `Debug` output or logs, and the generator for
//! passwords and tokens.

/// A secret that must not reach a log: `Debug` never shows it, and there is no `Display`. It serializes
/// as its plain value, for the one place it must travel: mutual TLS between the cluster's nodes (a
/// coordinator handing an agent the cluster's secrets).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the few places that must use it (a config file written 0600, a console
    /// banner, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The random source failed (no entropy available).
#[derive(Debug, thiserror::Error)]
#[error("reading the system's random source: {0}")]
pub struct RandomError(String);

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols), from the OS's random source.
pub fn random_string(alphabet: &[u8], len: usize) -> Result<String, RandomError> {
    assert!(
        !alphabet.is_empty() && alphabet.len() <= 256,
        "alphabet of 1 to 256 symbols"
    );
    // Rejection sampling keeps every symbol equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == len {
                break;
            }
            out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
        }
    }
    Ok(out)
}

/// Letters and digits: safe in URLs (database connection strings), INI files and shell words.
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A 32-character password (about 187 bits) of letters and digits only, so that it needs no quoting in a
/// connection URL or a config file.
pub fn generate_password() -> Result<Secret, RandomError> {
    random_string(PASSWORD_ALPHABET, 32).map(Secret)
}

/// The URL-safe base64 alphabet.
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A Fernet key (keystone's token and credential keys): 32 random bytes in URL-safe base64, 44
/// characters. 43 symbols carry 258 bits, so the last one is drawn from the four whose two low bits
/// encode nothing (`A`, `Q`, `g`, `w`), which makes the text a canonical encoding of 32 bytes.
pub fn generate_fernet_key() -> Result<Secret, RandomError> {
    let mut key = random_string(BASE64URL, 42)?;
    key.push_str(&random_string(b"AQgw", 1)?);
    key.push('=');
    Ok(Secret(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fernet_key_is_32_bytes_of_canonical_base64url() {
        let key = generate_fernet_key().unwrap_or_else(|e| panic!("{e}"));
        let key = key.expose();
        assert_eq!(key.len(), 44);
        assert!(key.ends_with('='));
        // Decode by hand: 43 symbols of 6 bits, the last 2 bits zero, 32 bytes.
        let bits: Vec<u8> = key[..43]
            .bytes()
            .map(|c| {
                BASE64URL
                    .iter()
                    .position(|&a| a == c)
                    .map_or(255, |p| p as u8)
            })
            .collect();
        assert!(bits.iter().all(|&b| b < 64), "{key}");
        assert_eq!(bits[42] & 0b11, 0, "{key}");
    }

    #[test]
    fn passwords_are_long_plain_and_distinct() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(format!("{a:?}"), "Secret([redacted])");
    }

    #[test]
    fn every_symbol_is_drawn() {
        let s = random_string(b"ab", 200).unwrap();
        assert!(s.contains('a') && s.contains('b'));
    }
}
