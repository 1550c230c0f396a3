//! The join proof: the code never crosses the wire. Both sides derive a key from it ([`JoinKey`]:
//! PBKDF2-HMAC-SHA256, salted with the member's TLS fingerprint, so a key is worth nothing against any
//! other member) and authenticate what they send with HMAC-SHA256 over a canonical encoding: the joiner
//! its request, the member its answer together with the request's nonce (so the joiner knows the member
//! holds the code too). MACs are checked in constant time.
//!
//! The canonical encoding is a context label, then each field as its length (8 bytes, big-endian) and its
//! bytes: no two different field lists encode the same, and a request MAC is never a valid answer MAC.

use hmac::{Hmac, KeyInit, Mac as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::code::JoinCode;

/// PBKDF2 rounds. A key costs a guesser this many HMACs per code tried; a code has about 59 bits and
/// lives an hour, so even a captured MAC cannot be brute-forced in that time.
pub const KDF_ROUNDS: u32 = 100_000;
/// The salt's label: the key is for joining stackbox clusters, version 1.
const KDF_LABEL: &[u8] = b"stackbox join key v1";

/// What a MAC authenticates; each has its own label, so one MAC cannot stand for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A joiner's request.
    Request,
    /// A member's answer to a request.
    Answer,
    /// A node about to join asks to be let through the member's firewall for the pre-join checks.
    Admission,
}

impl Context {
    fn label(self) -> &'static [u8] {
        match self {
            Context::Request => b"stackbox join request v1",
            Context::Answer => b"stackbox join answer v1",
            Context::Admission => b"stackbox join admission v1",
        }
    }
}

/// A SHA-256 certificate fingerprint. Reads `SHA256:AB:CD:...` as the console shows it, with or without
/// the prefix and colons, in either case; shows itself as the console does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// Why a typed fingerprint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a fingerprint is SHA256: followed by 32 bytes in hexadecimal (AB:CD:...), as the member's console shows it"
)]
pub struct FingerprintError;

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Reads a fingerprint as an operator types it.
    pub fn parse(input: &str) -> Result<Fingerprint, FingerprintError> {
        let trimmed = input.trim();
        let body = trimmed
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("sha256:"))
            .map_or(trimmed, |_| &trimmed[7..]);
        let hex_digits: String = body.chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| FingerprintError)?;
        Ok(Fingerprint(out))
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "SHA256:{}", pairs.join(":"))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(s: &str) -> Result<Fingerprint, FingerprintError> {
        Fingerprint::parse(s)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        let s = String::deserialize(d)?;
        Fingerprint::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// 32 bytes as lowercase hexadecimal in JSON.
macro_rules! hex_bytes {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = String::deserialize(d)?;
                let mut out = [0u8; 32];
                hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
                Ok($name(out))
            }
        }
    };
}

/// A request's random nonce: the member's answer is bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonce([u8; 32]);

hex_bytes!(Nonce);

/// The random source failed.
#[derive(Debug, thiserror::Error)]
#[error("reading the system's random source")]
pub struct RandomError(#[source] getrandom::Error);

impl Nonce {
    /// A fresh nonce from the OS's random source.
    pub fn generate() -> Result<Nonce, RandomError> {
        let mut out = [0u8; 32];
        getrandom::fill(&mut out).map_err(RandomError)?;
        Ok(Nonce(out))
    }

    /// The nonce's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// An HMAC-SHA256 tag. It proves knowledge of the key but reveals nothing of it, so it may be shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mac([u8; 32]);

hex_bytes!(Mac);

impl Mac {
    /// All zeroes: the MAC of a message being built, before it is signed.
    pub(crate) const UNSIGNED: Mac = Mac([0; 32]);
}

impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mac({})", hex::encode(self.0))
    }
}

/// The key derived from a join code and the member's fingerprint. Never serialised, never shown.
#[derive(Clone)]
pub struct JoinKey([u8; 32]);

impl std::fmt::Debug for JoinKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinKey([redacted])")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl JoinKey {
    /// Derives the key both sides compute: PBKDF2-HMAC-SHA256 of the code's canonical form, salted with
    /// a label and the member's fingerprint, [`KDF_ROUNDS`] rounds.
    pub fn derive(code: &JoinCode, member: &Fingerprint) -> JoinKey {
        let mut salt = KDF_LABEL.to_vec();
        salt.extend_from_slice(member.as_bytes());
        JoinKey(stackbox_common::kdf::pbkdf2_sha256(
            code.canonical(),
            &salt,
            KDF_ROUNDS,
        ))
    }

    fn hmac(&self, context: Context, fields: &[&[u8]]) -> HmacSha256 {
        // HMAC takes keys of any length; a 32-byte key cannot be refused.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(&canonical(context, fields));
        mac
    }

    /// The MAC of `fields` in `context`.
    pub fn sign(&self, context: Context, fields: &[&[u8]]) -> Mac {
        Mac(self.hmac(context, fields).finalize().into_bytes().into())
    }

    /// Whether `mac` is the MAC of `fields` in `context`, compared in constant time.
    pub fn verify(&self, context: Context, fields: &[&[u8]], mac: &Mac) -> bool {
        self.hmac(context, fields).verify_slice(&mac.0).is_ok()
    }
}

/// The canonical encoding: the context's label, then each field as its length (u64, big-endian) and bytes.
fn canonical(context: Context, fields: &[&[u8]]) -> Vec<u8> {
    let label = context.label();
    let mut out =
        Vec::with_capacity(8 + label.len() + fields.iter().map(|f| 8 + f.len()).sum::<usize>());
    for field in std::iter::once(label).chain(fields.iter().copied()) {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    fn code(s: &str) -> JoinCode {
        JoinCode::parse(s).unwrap()
    }

    #[test]
    fn fingerprints_read_as_typed_and_show_as_the_console_does() {
        let fp = Fingerprint::of_der(b"abc");
        let shown = fp.to_string();
        assert_eq!(shown, stackbox_common::pki::fingerprint(b"abc"));
        let bare: String = shown[7..].chars().filter(|c| *c != ':').collect();
        for typed in [
            shown.clone(),
            shown.to_lowercase(),
            format!("  {shown} "),
            bare.clone(),
            bare.to_lowercase(),
            shown[7..].to_owned(),
        ] {
            assert_eq!(Fingerprint::parse(&typed).unwrap(), fp, "{typed}");
        }
        for bad in [
            "",
            "SHA256:",
            "SHA256:AB",
            &shown[..shown.len() - 1],
            &format!("{shown}:00"),
            "SHA1:AB",
        ] {
            assert_eq!(Fingerprint::parse(bad), Err(FingerprintError), "{bad}");
        }
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(json, format!("\"{shown}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
    }

    #[test]
    fn the_key_depends_on_code_and_member() {
        let member = Fingerprint::of_der(b"member");
        let other = Fingerprint::of_der(b"other");
        let a = JoinKey::derive(&code("ABCD-EFGH-JKMN"), &member);
        let fields: &[&[u8]] = &[b"node-2", b"10.0.0.2"];
        let mac = a.sign(Context::Request, fields);
        assert!(JoinKey::derive(&code("abcdefghjkmn"), &member).verify(
            Context::Request,
            fields,
            &mac
        ));
        assert!(!JoinKey::derive(&code("ABCD-EFGH-JKMP"), &member).verify(
            Context::Request,
            fields,
            &mac
        ));
        assert!(!JoinKey::derive(&code("ABCD-EFGH-JKMN"), &other).verify(
            Context::Request,
            fields,
            &mac
        ));
        assert_eq!(format!("{a:?}"), "JoinKey([redacted])");
    }

    #[test]
    fn a_mac_covers_every_field_its_boundaries_and_its_context() {
        let key = JoinKey::derive(&code("ABCD-EFGH-JKMN"), &Fingerprint::of_der(b"m"));
        let fields: &[&[u8]] = &[b"node-2", b"10.0.0.2"];
        let mac = key.sign(Context::Request, fields);
        assert!(key.verify(Context::Request, fields, &mac));
        assert!(
            !key.verify(Context::Answer, fields, &mac),
            "contexts differ"
        );
        assert!(!key.verify(Context::Request, &[b"node-2", b"10.0.0.3"], &mac));
        assert!(
            !key.verify(Context::Request, &[b"node-21", b"0.0.0.2"], &mac),
            "boundaries count"
        );
        assert!(!key.verify(Context::Request, &[b"node-2"], &mac));
    }

    #[test]
    fn the_derivation_is_pinned() {
        // PBKDF2-HMAC-SHA256 of "ABCDEFGHJKMN", salt = label || SHA-256("m"), 100000 rounds, as computed
        // independently with Python's hashlib.pbkdf2_hmac: a change of rounds, label or salt shows here.
        let key = JoinKey::derive(&code("ABCD-EFGH-JKMN"), &Fingerprint::of_der(b"m"));
        assert_eq!(hex::encode(key.0), PINNED_KEY);
    }

    const PINNED_KEY: &str = "0fafd16e2b913a51d68d12ecdc98d79216b2ae4fcdedcffece73832c7915d7ff";

    #[test]
    fn nonces_are_random_and_travel_as_hex() {
        let a = Nonce::generate().unwrap();
        assert_ne!(a, Nonce::generate().unwrap());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json.len(), 66);
        assert_eq!(serde_json::from_str::<Nonce>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Nonce>("\"abcd\"").is_err());
    }
}
