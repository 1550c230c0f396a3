//! Who may use the wizard: the one-time setup token, the admin password (an argon2 hash in the state
//! directory, mode 0600), sessions with their CSRF tokens (an idle timeout that activity extends, and an
//! absolute one), and the per-address sign-in rate limit with a lockout that doubles each time it is hit,
//! up to minutes (one shared jump host must not lock a team out for long), which `stackboxd unlock` on
//! the console clears.
//!
//! Nothing here logs a token, a password or a session id.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use stackbox_common::fs::write_atomic;

use crate::error::FieldError;

/// The admin password's argon2 hash (PHC string), relative to the state directory.
pub const PASSWORD_FILE: &str = "admin-password.argon2";
/// The shortest admin password accepted.
pub const PASSWORD_MIN_CHARS: usize = 12;
/// The longest admin password accepted (argon2 takes any length; this bounds the work per request).
pub const PASSWORD_MAX_CHARS: usize = 1024;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "stackbox_session";
/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after it began, active or not.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// In the state directory: written by `stackboxd unlock`; a change of its modification time clears
/// every sign-in lockout.
pub const UNLOCK_FILE: &str = "unlock";

/// Random bytes as lowercase hex: session ids and CSRF tokens (32 bytes, 256 bits).
pub fn random_hex() -> anyhow::Result<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).context("reading the system's random source")?;
    Ok(hex::encode(buf))
}

/// Compares two secrets in time that depends only on their lengths' digests, not on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Normalises a setup token as typed: surrounding space dropped, letters uppercased.
pub fn normalise_token(typed: &str) -> String {
    typed.trim().to_ascii_uppercase()
}

/// The argon2id hash (PHC string, random salt, the argon2 crate's default cost) of a password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).context("reading the system's random source")?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("encoding the salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the admin password: {e}"))?
        .to_string())
}

/// The admin password store: one argon2 hash in the state directory.
#[derive(Debug, Clone)]
pub struct PasswordStore {
    path: PathBuf,
    /// How many argon2 verifications ran (shared by the clones): what the sign-in limits bound.
    evaluations: Arc<AtomicU64>,
}

/// Why a password of an acceptable length is still too easy to guess (zxcvbn's estimate below "safely
/// unguessable", score 3): repeats, sequences, keyboard patterns, common passwords and words, dates, and
/// the appliance's own names. `None` when it is strong enough.
pub fn too_guessable(password: &str) -> Option<String> {
    let estimate = zxcvbn::zxcvbn(password, &["stackbox", "admin", "openstack", "cloud"]);
    if estimate.score() >= zxcvbn::Score::Three {
        return None;
    }
    let mut why = "the password is too easy to guess".to_owned();
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            why.push_str(&format!(": {}", warning.to_string().trim_end_matches('.')));
        }
        let tips: Vec<String> = feedback
            .suggestions()
            .iter()
            .map(|s| s.to_string().trim_end_matches('.').to_owned())
            .collect();
        if !tips.is_empty() {
            why.push_str(&format!(" ({})", tips.join("; ")));
        }
    }
    why.push_str("; a few unrelated words or a password manager's random password will do");
    Some(why)
}

impl PasswordStore {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> PasswordStore {
        PasswordStore {
            path: state_dir.join(PASSWORD_FILE),
            evaluations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many argon2 verifications this store (and its clones) ran since the wizard started.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Whether the admin password has been set (then the setup token no longer works).
    pub fn is_set(&self) -> bool {
        self.path.exists()
    }

    /// Checks a new password and its confirmation; the messages say what is accepted.
    pub fn check_new(password: &str, confirm: &str) -> Result<(), Vec<FieldError>> {
        let n = password.chars().count();
        let mut errors = Vec::new();
        if n < PASSWORD_MIN_CHARS {
            errors.push(FieldError::new(
                "password",
                format!("the password needs at least {PASSWORD_MIN_CHARS} characters"),
            ));
        } else if n > PASSWORD_MAX_CHARS {
            errors.push(FieldError::new(
                "password",
                format!("the password has at most {PASSWORD_MAX_CHARS} characters"),
            ));
        } else if let Some(why) = too_guessable(password) {
            errors.push(FieldError::new("password", why));
        }
        if password != confirm {
            errors.push(FieldError::new("confirm", "the two passwords differ"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Hashes and stores the password (argon2id, random salt), mode 0600.
    pub fn set(&self, password: &str) -> anyhow::Result<()> {
        let hash = hash_password(password)?;
        write_atomic(&self.path, format!("{hash}\n").as_bytes(), 0o600)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Stores a hash made elsewhere (an answer file's `admin.password_hash`, already judged), mode 0600.
    pub fn set_hash(&self, phc: &str) -> anyhow::Result<()> {
        write_atomic(&self.path, format!("{}\n", phc.trim()).as_bytes(), 0o600)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Whether `password` matches the stored hash; false when none is stored.
    pub fn verify(&self, password: &str) -> anyhow::Result<bool> {
        let stored = match std::fs::read_to_string(&self.path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let hash = PasswordHash::new(stored.trim())
            .map_err(|e| anyhow::anyhow!("{} holds no argon2 hash: {e}", self.path.display()))?;
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok())
    }
}

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not signed in: may only sign in (the session exists to carry the sign-in form's CSRF token).
    Anonymous,
    /// Signed in with the setup token: must set the admin password first.
    SetupToken,
    /// Signed in as the admin.
    Admin,
}

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// What the session may do.
    pub access: Access,
    /// The token every state-changing request of this session must carry.
    pub csrf: String,
    /// When it began (the absolute timeout counts from here).
    pub created: Instant,
    /// When the session stops working unless a request comes first.
    pub expires: Instant,
}

/// The most sessions kept; the oldest anonymous ones are dropped first.
const MAX_SESSIONS: usize = 4096;

/// Sessions by id, in memory: a restart of the wizard signs everybody out.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    absolute: Duration,
    map: HashMap<String, Session>,
}

impl Sessions {
    /// An empty table whose sessions end `idle` after their last request, and `absolute` after their
    /// creation at the latest.
    pub fn new(idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            idle,
            absolute,
            map: HashMap::new(),
        }
    }

    /// The longest a session can live (its cookie's lifetime: the server ends it sooner when idle).
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    fn expiry(&self, created: Instant, now: Instant) -> Instant {
        (now + self.idle).min(created + self.absolute)
    }

    /// Creates a session; returns its id.
    pub fn create(&mut self, access: Access, now: Instant) -> anyhow::Result<(String, Session)> {
        if self.map.len() >= MAX_SESSIONS {
            self.map.retain(|_, s| s.expires > now);
            if self.map.len() >= MAX_SESSIONS {
                self.map.retain(|_, s| s.access != Access::Anonymous);
            }
            if self.map.len() >= MAX_SESSIONS {
                anyhow::bail!("too many signed-in sessions");
            }
        }
        let id = random_hex()?;
        let session = Session {
            access,
            csrf: random_hex()?,
            created: now,
            expires: self.expiry(now, now),
        };
        self.map.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this id, its idle timeout extended by this request; an expired one is
    /// removed and reported as `Err(())`.
    pub fn get(&mut self, id: &str, now: Instant) -> Option<Result<Session, ()>> {
        let created = self.map.get(id)?.created;
        let expires = self.expiry(created, now);
        let s = self.map.get_mut(id)?;
        if s.expires <= now {
            self.map.remove(id);
            return Some(Err(()));
        }
        s.expires = expires;
        Some(Ok(s.clone()))
    }

    /// Ends a session.
    pub fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }

    /// Ends every session with this access (the setup-token sessions once the password is set).
    pub fn revoke(&mut self, access: Access) {
        self.map.retain(|_, s| s.access != access);
    }
}

/// Failures allowed before a lockout.
pub const MAX_FAILURES: u32 = 5;
/// The first lockout's length; each further one doubles, up to [`LOCKOUT_MAX`].
pub const LOCKOUT_BASE: Duration = Duration::from_secs(30);
/// The longest lockout: minutes, not an hour, as a team behind one jump host shares an address (the
/// argon2 hash and the password rules make guessing at this pace hopeless).
pub const LOCKOUT_MAX: Duration = Duration::from_secs(5 * 60);
/// Failures older than this are forgotten (and so is the lockout count, after a quiet day).
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
struct Record {
    failures: u32,
    last_failure: Instant,
    lockouts: u32,
    locked_until: Option<Instant>,
}

/// Failed sign-ins per client address, and the addresses with an attempt being checked.
#[derive(Debug, Default)]
pub struct RateLimiter {
    map: HashMap<IpAddr, Record>,
    in_flight: HashSet<IpAddr>,
}

/// Why a sign-in attempt was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The address is locked out for this long.
    LockedOut(Duration),
    /// Another attempt from the address is still being checked.
    InFlight,
}

/// The address a failure is counted against: an IPv4 address itself, an IPv6 address's /64 (one
/// host usually holds a whole /64, so counting single addresses would let it rotate through them).
fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// `Err(remaining)` while `ip` is locked out.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.map.get(&limiter_key(ip)).and_then(|r| r.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed sign-in; returns the lockout it started, if any.
    pub fn fail(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.map.len() > 65_536 {
            self.map
                .retain(|_, r| now.duration_since(r.last_failure) < Duration::from_secs(86_400));
        }
        let r = self.map.entry(limiter_key(ip)).or_insert(Record {
            failures: 0,
            last_failure: now,
            lockouts: 0,
            locked_until: None,
        });
        if now.duration_since(r.last_failure) > FAILURE_WINDOW {
            r.failures = 0;
        }
        if now.duration_since(r.last_failure) > Duration::from_secs(86_400) {
            r.lockouts = 0;
        }
        r.failures += 1;
        r.last_failure = now;
        if r.failures >= MAX_FAILURES {
            let factor = 1u32 << r.lockouts.min(16);
            let length = LOCKOUT_BASE.saturating_mul(factor).min(LOCKOUT_MAX);
            r.lockouts += 1;
            r.failures = 0;
            r.locked_until = Some(now + length);
            return Some(length);
        }
        None
    }

    /// Forgets every failure and lockout (`stackboxd unlock`).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Records a successful sign-in: the failures are forgotten, the lockout count is kept.
    pub fn succeed(&mut self, ip: IpAddr) {
        if let Some(r) = self.map.get_mut(&limiter_key(ip)) {
            r.failures = 0;
            r.locked_until = None;
        }
    }

    /// Lets one attempt from `ip` in, or says why not: refused while the address is locked out or
    /// while another of its attempts is being checked. The failure is counted before the check runs
    /// (a success takes it back), so attempts in flight cannot pass the limit; returns the lockout
    /// that counting started, if any.
    fn begin(&mut self, ip: IpAddr, now: Instant) -> Result<Option<Duration>, Refused> {
        self.check(ip, now).map_err(Refused::LockedOut)?;
        if !self.in_flight.insert(limiter_key(ip)) {
            return Err(Refused::InFlight);
        }
        Ok(self.fail(ip, now))
    }

    /// Takes back a failure counted by [`RateLimiter::begin`], with the lockout it started.
    fn take_back(&mut self, ip: IpAddr, started_lockout: bool) {
        if let Some(r) = self.map.get_mut(&limiter_key(ip)) {
            if started_lockout {
                r.lockouts = r.lockouts.saturating_sub(1);
            }
        }
        self.succeed(ip);
    }
}

/// How many argon2 verifications may run at once (each takes about 19 MiB and a core for a while).
pub const VERIFIERS: usize = 2;

/// The sign-in gate: the per-address limiter (one attempt in flight per address, failures counted up
/// front) and the bound on concurrent argon2 verifications. Clones share both.
#[derive(Debug, Clone)]
pub struct SignInGate {
    limiter: Arc<Mutex<RateLimiter>>,
    verifiers: Arc<tokio::sync::Semaphore>,
    /// [`UNLOCK_FILE`] in the state directory, and its modification time when last looked at.
    unlock: Arc<(PathBuf, Mutex<Option<SystemTime>>)>,
}

impl SignInGate {
    /// A gate that lets `verifiers` argon2 verifications run at once, and clears its lockouts when
    /// `stackboxd unlock` touches `unlock_file`.
    pub fn new(verifiers: usize, unlock_file: PathBuf) -> SignInGate {
        let seen = modified(&unlock_file);
        SignInGate {
            limiter: Arc::new(Mutex::new(RateLimiter::new())),
            verifiers: Arc::new(tokio::sync::Semaphore::new(verifiers)),
            unlock: Arc::new((unlock_file, Mutex::new(seen))),
        }
    }

    /// The limiter's table, cleared first when the unlock file changed since the last look.
    pub fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        let mut limiter = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        let (file, seen) = &*self.unlock;
        let now = modified(file);
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if now.is_some() && now != *seen {
            tracing::info!("sign-in lockouts cleared (stackboxd unlock)");
            limiter.clear();
            *seen = now;
        }
        limiter
    }

    /// `Err(remaining)` while `ip` is locked out; counts nothing.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        self.limiter().check(ip, now)
    }

    /// A slot for one argon2 verification, `None` while all are taken; hold it until the
    /// verification has finished (move it into the blocking task).
    pub fn verifier(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.verifiers.clone().try_acquire_owned().ok()
    }

    /// Starts an attempt from `ip` (see [`RateLimiter::begin`]); the attempt is in flight until the
    /// returned guard is dropped.
    pub fn begin(&self, ip: IpAddr, now: Instant) -> Result<Attempt, Refused> {
        let lockout = self.limiter().begin(ip, now)?;
        Ok(Attempt {
            limiter: self.limiter.clone(),
            ip,
            lockout,
        })
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Asks the wizard whose state directory is `state_dir` to clear every sign-in lockout: rewrites
/// [`UNLOCK_FILE`] there (0600, root's), whose new modification time the wizard sees at the next
/// sign-in attempt.
pub fn request_unlock(state_dir: &Path) -> anyhow::Result<()> {
    let path = state_dir.join(UNLOCK_FILE);
    let stamp = humantime_stamp();
    write_atomic(
        &path,
        format!("unlock requested at {stamp}\n").as_bytes(),
        0o600,
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// Seconds since the epoch with nanoseconds: two unlocks within a second still differ in content.
fn humantime_stamp() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09} s since 1970", d.as_secs(), d.subsec_nanos())
}

/// One sign-in attempt in flight, its failure already counted; dropping it ends the attempt (a failure
/// unless [`Attempt::succeed`] was called).
#[derive(Debug)]
pub struct Attempt {
    limiter: Arc<Mutex<RateLimiter>>,
    ip: IpAddr,
    lockout: Option<Duration>,
}

impl Attempt {
    /// The lockout this attempt's failure started, if it fails.
    pub fn lockout(&self) -> Option<Duration> {
        self.lockout
    }

    /// The attempt succeeded: its failure is taken back and the address's failures forgotten.
    pub fn succeed(self) {
        self.lock().take_back(self.ip, self.lockout.is_some());
    }

    fn lock(&self) -> MutexGuard<'_, RateLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let key = limiter_key(self.ip);
        self.lock().in_flight.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn lockout_after_five_failures_backs_off_and_is_per_address() {
        let mut rl = RateLimiter::new();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(rl.fail(a, t0), None);
        }
        assert!(rl.check(a, t0).is_ok());
        assert_eq!(rl.fail(a, t0), Some(LOCKOUT_BASE));
        assert_eq!(rl.check(a, t0), Err(LOCKOUT_BASE));
        assert!(rl.check(b, t0).is_ok());
        let t1 = t0 + LOCKOUT_BASE + Duration::from_secs(1);
        assert!(rl.check(a, t1).is_ok());
        for _ in 0..4 {
            rl.fail(a, t1);
        }
        assert_eq!(rl.fail(a, t1), Some(LOCKOUT_BASE * 2));
        let mut t = t1;
        for _ in 0..10 {
            t += LOCKOUT_MAX;
            for _ in 0..4 {
                rl.fail(a, t);
            }
            let l = rl.fail(a, t).unwrap();
            assert!(l <= LOCKOUT_MAX);
        }
        assert_eq!(rl.check(a, t), Err(LOCKOUT_MAX));
    }

    #[test]
    fn one_attempt_in_flight_per_address_its_failure_counted_up_front() {
        let gate = SignInGate::new(1, PathBuf::from("/nonexistent/stackbox-unlock"));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        let first = gate.begin(a, t0).unwrap();
        assert_eq!(gate.begin(a, t0).unwrap_err(), Refused::InFlight);
        assert!(gate.begin("192.0.2.2".parse().unwrap(), t0).is_ok());
        let slot = gate.verifier().unwrap();
        assert!(gate.verifier().is_none());
        drop(slot);
        drop(first);
        // Four failures counted by attempts that were dropped; the fifth locks out when it starts.
        for _ in 0..3 {
            drop(gate.begin(a, t0).unwrap());
        }
        let fifth = gate.begin(a, t0).unwrap();
        assert_eq!(fifth.lockout(), Some(LOCKOUT_BASE));
        assert!(gate.check(a, t0).is_err());
        // It succeeds: the lockout it started is taken back, the next one is not longer.
        fifth.succeed();
        assert!(gate.check(a, t0).is_ok());
        for _ in 0..4 {
            drop(gate.begin(a, t0).unwrap());
        }
        assert_eq!(gate.begin(a, t0).unwrap().lockout(), Some(LOCKOUT_BASE));
    }

    #[test]
    fn ipv6_failures_count_per_64() {
        let mut rl = RateLimiter::new();
        let t0 = Instant::now();
        for i in 0..5u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i + 1));
            rl.fail(ip, t0);
        }
        let same64: IpAddr = "2001:db8:0:1::ffff".parse().unwrap();
        let other64: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert!(rl.check(same64, t0).is_err());
        assert!(rl.check(other64, t0).is_ok());
    }

    #[test]
    fn sessions_expire() {
        let mut s = Sessions::new(Duration::from_secs(60), Duration::from_secs(150));
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let (id, sess) = s.create(Access::Admin, t0).unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(sess.csrf, id);
        assert!(matches!(s.get(&id, t0), Some(Ok(_))));
        // Idle: a request every 50 s keeps it (each extends it by the idle timeout)...
        for secs in [50, 100] {
            assert!(matches!(s.get(&id, at(secs)), Some(Ok(_))), "at {secs} s");
        }
        // ...up to the absolute timeout: at 140 s it ends at 150, not 200.
        let left = s.get(&id, at(140)).unwrap().unwrap().expires - at(140);
        assert_eq!(left, Duration::from_secs(10));
        assert!(matches!(s.get(&id, at(151)), Some(Err(()))));
        assert!(s.get(&id, t0).is_none(), "an expired session is removed");
        // Idle for longer than the idle timeout: ended, although the absolute one is far.
        let (id, _) = s.create(Access::Admin, t0).unwrap();
        assert!(matches!(s.get(&id, at(61)), Some(Err(()))));
    }

    #[test]
    fn unlock_clears_every_lockout_once_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let gate = SignInGate::new(1, dir.path().join(UNLOCK_FILE));
        let ip: IpAddr = "10.20.0.50".parse().unwrap();
        let t0 = Instant::now();
        let lock_out = || {
            for _ in 0..MAX_FAILURES {
                drop(gate.begin(ip, t0));
            }
            assert!(gate.check(ip, t0).is_err(), "locked out");
        };
        lock_out();
        request_unlock(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(UNLOCK_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(gate.check(ip, t0).is_ok(), "the unlock cleared it");
        // The same request does not clear a later lockout; a new one does.
        lock_out();
        assert!(gate.check(ip, t0).is_err());
        std::thread::sleep(Duration::from_millis(20));
        request_unlock(dir.path()).unwrap();
        assert!(gate.check(ip, t0).is_ok());
    }

    #[test]
    fn password_is_an_argon2_hash_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = PasswordStore::new(dir.path());
        assert!(!store.is_set());
        assert!(!store.verify("anything").unwrap());
        assert!(PasswordStore::check_new("short", "short").is_err());
        assert!(PasswordStore::check_new("long enough pw", "other").is_err());
        PasswordStore::check_new("correct horse battery", "correct horse battery").unwrap();
        store.set("correct horse battery").unwrap();
        let text = std::fs::read_to_string(dir.path().join(PASSWORD_FILE)).unwrap();
        assert!(text.starts_with("$argon2id$"), "{text}");
        assert!(!text.contains("horse"));
        let mode = std::fs::metadata(dir.path().join(PASSWORD_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(store.verify("correct horse battery").unwrap());
        assert!(!store.verify("correct horse battery!").unwrap());
    }

    #[test]
    fn guessable_passwords_of_any_length_are_refused_with_a_reason() {
        // Must fail: blank, repeated, sequences, keyboard walks, common passwords and phrases, the
        // appliance's own name; each long enough to pass the length rule.
        for weak in [
            "            ",
            "aaaaaaaaaaaa",
            "abcdefghijklmnop",
            "123456789012",
            "qwertyuiopasdf",
            "password1234",
            "Password123!",
            "stackboxstackbox",
            "iloveyou12345",
        ] {
            let errors = PasswordStore::check_new(weak, weak).unwrap_err();
            assert!(
                errors[0]
                    .message
                    .starts_with("the password is too easy to guess"),
                "{weak:?}: {errors:?}"
            );
        }
        for strong in [
            "correct horse battery staple",
            "violet-tractor-91-mosaic",
            "Xq7#mL2v!pR9zT4w",
        ] {
            assert_eq!(PasswordStore::check_new(strong, strong), Ok(()), "{strong}");
        }
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal("ABC", "ABC"));
        assert!(!secrets_equal("ABC", "ABD"));
        assert!(!secrets_equal("ABC", "ABCD"));
        assert_eq!(normalise_token(" abcde-fg \n"), "ABCDE-FG");
    }
}
