//! The join code: short enough to read off one console and type on another, expiring, and locked after a
//! few wrong tries.
//!
//! A member issues one code at a time into its state directory ([`CodeStore`], file mode 0600); issuing
//! a new one replaces the old. The code never crosses the wire (a key derived from it authenticates the
//! join, see [`crate::proof`]), and it is never logged, never put on a command line nor into an error
//! message: [`JoinCode`] has no `Display` and its `Debug` is redacted. Time is passed in (`now`), so
//! tests never sleep.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use stackbox_common::fs::write_atomic;
use stackbox_common::secret::{RandomError, random_string};

/// The symbols of a code: digits and capital letters without the ambiguous 0/O and 1/I/L (31 symbols,
/// so 12 of them carry about 59 bits).
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a code, dashes and spaces aside.
pub const CODE_LEN: usize = 12;
/// Characters per group when a code is shown (`ABCD-EFGH-JKMN`).
pub const GROUP_LEN: usize = 4;
/// How long a code is valid unless the member says otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(60 * 60);
/// Wrong tries after which a code is locked (refused even when right) until a new one is issued.
pub const MAX_TRIES: u32 = 5;
/// Where the open code is kept, relative to the state directory.
pub const CODE_FILE: &str = "cluster/join-code";
/// The lock that serialises every read-modify-write of [`CODE_FILE`], across processes.
const LOCK_FILE: &str = "cluster/join-code.lock";

/// A join code. It shows itself only through [`JoinCode::expose`]; `Debug` is redacted and comparison
/// takes the same time wherever the codes differ.
#[derive(Clone)]
pub struct JoinCode([u8; CODE_LEN]);

/// Why a typed code is refused. The messages never repeat what was typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Nothing but dashes and spaces.
    #[error("no join code was given")]
    Empty,
    /// Too few or too many characters.
    #[error(
        "a join code has {CODE_LEN} letters and digits (dashes and spaces aside), this one has {0}"
    )]
    Length(usize),
    /// A character no code uses (position counted from 1, dashes and spaces aside).
    #[error(
        "character {0} of the join code is not one a code uses (letters and digits, without 0, O, 1, I and L)"
    )]
    Character(usize),
}

impl JoinCode {
    /// A new code, uniformly random over [`ALPHABET`].
    pub fn generate() -> Result<JoinCode, RandomError> {
        let raw = random_string(ALPHABET, CODE_LEN)?;
        let mut out = [0u8; CODE_LEN];
        out.copy_from_slice(raw.as_bytes());
        Ok(JoinCode(out))
    }

    /// Reads a code as an operator types it: case does not matter, dashes and spaces are ignored.
    pub fn parse(input: &str) -> Result<JoinCode, CodeError> {
        let chars: Vec<char> = input
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect();
        if chars.is_empty() {
            return Err(CodeError::Empty);
        }
        if chars.len() != CODE_LEN {
            return Err(CodeError::Length(chars.len()));
        }
        let mut out = [0u8; CODE_LEN];
        for (i, c) in chars.iter().enumerate() {
            let upper = c.to_ascii_uppercase();
            if !upper.is_ascii() || !ALPHABET.contains(&(upper as u8)) {
                return Err(CodeError::Character(i + 1));
            }
            out[i] = upper as u8;
        }
        Ok(JoinCode(out))
    }

    /// The code in groups (`ABCD-EFGH-JKMN`), for the operator's console only.
    pub fn expose(&self) -> String {
        let groups: Vec<String> = self
            .0
            .chunks(GROUP_LEN)
            .map(|g| g.iter().map(|&b| char::from(b)).collect())
            .collect();
        groups.join("-")
    }

    /// The canonical form the join key is derived from: the 12 capitals and digits, no dashes.
    pub(crate) fn canonical(&self) -> &[u8] {
        &self.0
    }
}

impl std::str::FromStr for JoinCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<JoinCode, CodeError> {
        JoinCode::parse(s)
    }
}

impl PartialEq for JoinCode {
    fn eq(&self, other: &JoinCode) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for JoinCode {}

impl std::fmt::Debug for JoinCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinCode([redacted])")
    }
}

/// A code just issued: the code to show and when it expires.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The code (show it on the console, nowhere else).
    pub code: JoinCode,
    /// When it stops being accepted.
    pub expires: SystemTime,
}

/// The state of the member's code, for a status page (never the code itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeStatus {
    /// No code is open (none was issued, or the last one was used).
    None,
    /// A code is open.
    Open {
        /// When it expires.
        expires: SystemTime,
        /// Wrong tries left before it is locked.
        tries_left: u32,
    },
    /// The code expired.
    Expired,
    /// Too many wrong tries.
    Locked,
}

/// What the caller of [`CodeStore::attempt`] decided about a request, given the open code.
#[derive(Debug)]
pub enum Verdict<T, E> {
    /// The request was not made with this code: counts a try.
    WrongCode,
    /// The request was made with this code but is refused for another reason: nothing changes.
    Refuse(E),
    /// The request is granted: the code is spent.
    Grant(T),
    /// The request was made with this code and is granted without spending it (a node about to join is
    /// let through the firewall for its pre-join checks; its join spends the code).
    Admit(T),
}

/// Why [`CodeStore::attempt`] did not grant.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError<E> {
    /// No code is open.
    #[error("no join code is open on this member")]
    NoCode,
    /// The code expired.
    #[error("the join code expired")]
    Expired,
    /// Too many wrong tries: locked until a new code is issued.
    #[error("the join code is locked after {MAX_TRIES} wrong tries")]
    Locked,
    /// The request was not made with the open code (this try was counted).
    #[error("wrong join code ({tries_left} tries left)")]
    WrongCode {
        /// Wrong tries left before the code is locked.
        tries_left: u32,
    },
    /// The caller refused for its own reason.
    #[error("refused")]
    Refused(E),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The code store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store could not be read, written or locked.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store's file holds something else than a code.
    #[error("{path} is damaged; issue a new join code")]
    Damaged {
        /// The file.
        path: String,
    },
    /// The random source failed.
    #[error("making a join code")]
    Random(#[from] RandomError),
}

/// What the file holds: the code in canonical form and unix seconds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    code: String,
    issued: u64,
    expires: u64,
    failures: u32,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The member's open join code, in its state directory.
#[derive(Debug, Clone)]
pub struct CodeStore {
    state_dir: PathBuf,
}

impl CodeStore {
    /// The store of the state directory `state_dir` (`stackboxd serve --state`).
    pub fn new(state_dir: &Path) -> CodeStore {
        CodeStore {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// The file the open code is kept in.
    pub fn path(&self) -> PathBuf {
        self.state_dir.join(CODE_FILE)
    }

    /// Issues a new code valid for `valid_for` from `now`, replacing any open one (and its try count).
    pub fn issue(&self, now: SystemTime, valid_for: Duration) -> Result<Issued, StoreError> {
        let _lock = self.lock()?;
        let code = JoinCode::generate()?;
        let expires = now + valid_for;
        self.write(&Stored {
            code: String::from_utf8_lossy(code.canonical()).into_owned(),
            issued: secs(now),
            expires: secs(expires),
            failures: 0,
        })?;
        tracing::info!(
            expires = secs(expires),
            "issued a join code (shown on the console only)"
        );
        Ok(Issued { code, expires })
    }

    /// The state of the open code at `now`.
    pub fn status(&self, now: SystemTime) -> Result<CodeStatus, StoreError> {
        let _lock = self.lock()?;
        Ok(match self.read()? {
            None => CodeStatus::None,
            Some(s) if s.failures >= MAX_TRIES => CodeStatus::Locked,
            Some(s) if secs(now) >= s.expires => CodeStatus::Expired,
            Some(s) => CodeStatus::Open {
                expires: UNIX_EPOCH + Duration::from_secs(s.expires),
                tries_left: MAX_TRIES - s.failures,
            },
        })
    }

    /// Withdraws the open code, if any.
    pub fn revoke(&self) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        self.remove()
    }

    /// Judges one join request against the open code, under a lock that no other attempt or issue can
    /// interleave with: refuses without calling `judge` when no code is open, the code expired or it is
    /// locked; otherwise `judge` decides, given the code. [`Verdict::WrongCode`] counts a try (the
    /// fifth locks the code), [`Verdict::Refuse`] and [`Verdict::Admit`] change nothing, [`Verdict::Grant`]
    /// spends the code.
    pub fn attempt<T, E>(
        &self,
        now: SystemTime,
        judge: impl FnOnce(&JoinCode) -> Verdict<T, E>,
    ) -> Result<T, AttemptError<E>> {
        let _lock = self.lock()?;
        let Some(mut stored) = self.read()? else {
            return Err(AttemptError::NoCode);
        };
        if stored.failures >= MAX_TRIES {
            return Err(AttemptError::Locked);
        }
        if secs(now) >= stored.expires {
            return Err(AttemptError::Expired);
        }
        let code = JoinCode::parse(&stored.code).map_err(|_| StoreError::Damaged {
            path: self.path().display().to_string(),
        })?;
        match judge(&code) {
            Verdict::WrongCode => {
                stored.failures += 1;
                self.write(&stored)?;
                tracing::warn!(
                    failures = stored.failures,
                    "a join request was made with a wrong code"
                );
                Err(AttemptError::WrongCode {
                    tries_left: MAX_TRIES - stored.failures,
                })
            }
            Verdict::Refuse(e) => Err(AttemptError::Refused(e)),
            Verdict::Grant(t) => {
                self.remove()?;
                Ok(t)
            }
            Verdict::Admit(t) => Ok(t),
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    fn lock(&self) -> Result<Flock<File>, StoreError> {
        let path = self.state_dir.join(LOCK_FILE);
        let io = Self::io(&path);
        let open = || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
        };
        let file = open().map_err(io)?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| StoreError::Io {
            path: path.display().to_string(),
            source: errno.into(),
        })
    }

    fn read(&self) -> Result<Option<Stored>, StoreError> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io(&path)(e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| StoreError::Damaged {
                path: path.display().to_string(),
            })
    }

    fn write(&self, stored: &Stored) -> Result<(), StoreError> {
        let path = self.path();
        let json = serde_json::to_vec(stored).map_err(|_| StoreError::Damaged {
            path: path.display().to_string(),
        })?;
        write_atomic(&path, &json, 0o600).map_err(Self::io(&path))
    }

    fn remove(&self) -> Result<(), StoreError> {
        let path = self.path();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Self::io(&path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use std::os::unix::fs::PermissionsExt;

    use proptest::prelude::*;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const T0: u64 = 1_800_000_000;

    #[test]
    fn codes_are_grouped_unambiguous_and_distinct() {
        let a = JoinCode::generate().unwrap();
        let b = JoinCode::generate().unwrap();
        assert_ne!(a, b);
        let shown = a.expose();
        assert_eq!(shown.len(), 14, "{shown}");
        assert_eq!(shown.split('-').count(), 3);
        assert!(shown.bytes().all(|c| c == b'-' || ALPHABET.contains(&c)));
        for ambiguous in [b'0', b'O', b'1', b'I', b'L'] {
            assert!(!ALPHABET.contains(&ambiguous));
        }
        assert_eq!(format!("{a:?}"), "JoinCode([redacted])");
    }

    #[test]
    fn typing_is_forgiving_about_case_dashes_and_spaces() {
        let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
        for typed in [
            "abcd-efgh-jkmn",
            "ABCDEFGHJKMN",
            " abcd efgh jkmn ",
            "aBc-dEfGh-JkMn",
        ] {
            assert_eq!(JoinCode::parse(typed).unwrap(), code, "{typed}");
        }
        assert_eq!(code.expose(), "ABCD-EFGH-JKMN");
        assert_eq!("abcdefghjkmn".parse::<JoinCode>().unwrap(), code);
    }

    #[test]
    fn must_fail_codes_are_named_without_repeating_them() {
        let cases: &[(&str, CodeError)] = &[
            ("", CodeError::Empty),
            (" - -- ", CodeError::Empty),
            ("ABCD-EFGH-JKM", CodeError::Length(11)),
            ("ABCD-EFGH-JKMNP", CodeError::Length(13)),
            ("0BCD-EFGH-JKMN", CodeError::Character(1)),
            ("ABCD-EFGH-JKMO", CodeError::Character(12)),
            ("ABCD-1FGH-JKMN", CodeError::Character(5)),
            ("ABCD-EFGH-JKMl", CodeError::Character(12)),
            ("ABCD-EFGH-JKMi", CodeError::Character(12)),
            ("ABCD_EFGH_JKMN", CodeError::Length(14)),
            ("ABCD-EFGH-JKM\u{e9}", CodeError::Character(12)),
            ("ABCD-EFGH-JK+N", CodeError::Character(11)),
        ];
        for (typed, expected) in cases {
            let err = JoinCode::parse(typed).unwrap_err();
            assert_eq!(&err, expected, "{typed:?}");
            let message = err.to_string();
            if typed.len() > 4 {
                assert!(!message.contains(&typed[..4]), "{message}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_parses_to_a_valid_code_or_a_named_error(s in "\\PC{0,20}") {
            match JoinCode::parse(&s) {
                Ok(code) => prop_assert_eq!(JoinCode::parse(&code.expose()).unwrap(), code),
                Err(CodeError::Empty) => prop_assert!(s.chars().all(|c| c == '-' || c.is_whitespace())),
                Err(CodeError::Length(n)) => prop_assert_ne!(n, CODE_LEN),
                Err(CodeError::Character(i)) => prop_assert!((1..=CODE_LEN).contains(&i)),
            }
        }

        #[test]
        fn one_wrong_symbol_fails(pos in 0..CODE_LEN, bad in "[01ILOil\\-_+!./]") {
            let mut typed: Vec<char> = "ABCDEFGHJKMN".chars().collect();
            let bad = bad.chars().next().unwrap();
            typed[pos] = bad;
            let typed: String = typed.into_iter().collect();
            let result = JoinCode::parse(&typed);
            if bad == '-' {
                prop_assert_eq!(result.unwrap_err(), CodeError::Length(CODE_LEN - 1));
            } else {
                prop_assert_eq!(result.unwrap_err(), CodeError::Character(pos + 1));
            }
        }
    }

    fn grant(code: &JoinCode, expected: &JoinCode) -> Verdict<(), &'static str> {
        if code == expected {
            Verdict::Grant(())
        } else {
            Verdict::WrongCode
        }
    }

    #[test]
    fn an_issued_code_is_private_and_accepted_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path());
        assert_eq!(store.status(at(T0)).unwrap(), CodeStatus::None);
        let issued = store.issue(at(T0), DEFAULT_VALIDITY).unwrap();
        assert_eq!(issued.expires, at(T0 + 3600));
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            store.status(at(T0 + 10)).unwrap(),
            CodeStatus::Open {
                expires: at(T0 + 3600),
                tries_left: MAX_TRIES
            }
        );
        let code = issued.code.clone();
        store.attempt(at(T0 + 10), |c| grant(c, &code)).unwrap();
        assert!(!store.path().exists(), "a granted join spends the code");
        let again = store.attempt(at(T0 + 11), |c| grant(c, &code));
        assert!(matches!(again, Err(AttemptError::NoCode)), "{again:?}");
    }

    #[test]
    fn a_code_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path());
        let issued = store.issue(at(T0), Duration::from_secs(600)).unwrap();
        let code = issued.code;
        let late = store.attempt(at(T0 + 600), |c| grant(c, &code));
        assert!(matches!(late, Err(AttemptError::Expired)), "{late:?}");
        assert_eq!(store.status(at(T0 + 600)).unwrap(), CodeStatus::Expired);
        store.attempt(at(T0 + 599), |c| grant(c, &code)).unwrap();
    }

    #[test]
    fn five_wrong_tries_lock_the_code_even_for_the_right_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path());
        let code = store.issue(at(T0), DEFAULT_VALIDITY).unwrap().code;
        let wrong = JoinCode::parse("2222-2222-2222").unwrap();
        for left in (0..MAX_TRIES).rev() {
            match store.attempt(at(T0 + 1), |c| grant(c, &wrong)) {
                Err(AttemptError::WrongCode { tries_left }) => assert_eq!(tries_left, left),
                other => panic!("{other:?}"),
            }
        }
        let right = store.attempt(at(T0 + 2), |c| grant(c, &code));
        assert!(matches!(right, Err(AttemptError::Locked)), "{right:?}");
        assert_eq!(store.status(at(T0 + 2)).unwrap(), CodeStatus::Locked);
        // A new code starts over.
        let fresh = store.issue(at(T0 + 3), DEFAULT_VALIDITY).unwrap().code;
        assert_ne!(fresh, code);
        store.attempt(at(T0 + 4), |c| grant(c, &fresh)).unwrap();
    }

    #[test]
    fn a_new_code_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path());
        let old = store.issue(at(T0), DEFAULT_VALIDITY).unwrap().code;
        let new = store.issue(at(T0 + 1), DEFAULT_VALIDITY).unwrap().code;
        let with_old = store.attempt(at(T0 + 2), |c| grant(c, &old));
        assert!(matches!(
            with_old,
            Err(AttemptError::WrongCode { tries_left: 4 })
        ));
        store.attempt(at(T0 + 2), |c| grant(c, &new)).unwrap();
    }

    #[test]
    fn a_refusal_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path());
        let code = store.issue(at(T0), DEFAULT_VALIDITY).unwrap().code;
        let before = std::fs::read(store.path()).unwrap();
        let refused = store.attempt::<(), _>(at(T0 + 1), |_| Verdict::Refuse("version"));
        assert!(matches!(refused, Err(AttemptError::Refused("version"))));
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
        store.attempt(at(T0 + 2), |c| grant(c, &code)).unwrap();
    }

    #[test]
    fn revoking_closes_the_code_and_a_damaged_store_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::new(dir.path());
        store.issue(at(T0), DEFAULT_VALIDITY).unwrap();
        store.revoke().unwrap();
        assert_eq!(store.status(at(T0)).unwrap(), CodeStatus::None);
        std::fs::write(store.path(), "not json").unwrap();
        let err = store
            .attempt::<(), ()>(at(T0), |_| Verdict::WrongCode)
            .unwrap_err();
        assert!(err.to_string().contains("join-code is damaged"), "{err}");
    }
}
