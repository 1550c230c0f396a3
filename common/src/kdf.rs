//! Password-based key derivation: PBKDF2-HMAC-SHA256, instantiated here so that debug builds run it
//! optimised (the workspace profile builds this small crate at `opt-level = 3`; a generic function is
//! compiled in the crate that names its types, and 100,000 unoptimised rounds take a third of a second).

use sha2::Sha256;

/// PBKDF2-HMAC-SHA256 of `password` with `salt`, `rounds` rounds, 32 bytes.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914's PBKDF2-HMAC-SHA256 test vector ("passwd", "salt", 1 round), first 32 bytes.
    #[test]
    fn matches_the_rfc_7914_vector() {
        let key = pbkdf2_sha256(b"passwd", b"salt", 1);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }
}
