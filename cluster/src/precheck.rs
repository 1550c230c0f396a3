//! Pairwise checks before a join: the joiner asks a member for a few facts
//! (`POST /api/v1/cluster/precheck`, no session, the member's certificate pinned: [`MemberFacts`]) and
//! judges them against itself before it sends any join request. The request carries the proof that the
//! joiner holds the join code ([`crate::admit::Admission`]): the member lets the joiner's address through
//! its firewall to the cluster ports before it answers, so that the port checks see what a member would. Each failing check is a [`Finding`]
//! with a stable [`CheckId`] and a plain-words message naming the member; all of them are listed, and
//! any one refuses the join (`stackboxd cluster join` exits 1 and writes nothing).
//!
//! | id | refused when |
//! |---|---|
//! | `version-mismatch` | the member runs another image version |
//! | `clock-skew` | the clocks differ by more than [`MAX_SKEW`], after allowing for the round trip |
//! | `name-resolution` | the member's name does not resolve here to the address it is reached at, or this node's name is one the member refuses (or the member's own) |
//! | `port-unreachable` | a cluster port the member listens on cannot be connected to from here |
//! | `mtu` | a don't-fragment ping of the member's data-plane MTU gets no answer |
//!
//! The judging is pure ([`clock_skew_ms`], [`judge_names`], [`port_verdict`], [`ping_payload`], ...);
//! what touches the machine is the thin [`Probe`] ([`LiveProbe`]: getaddrinfo, TCP connects, `ping`
//! through the one command runner) and [`MemberFacts::gather`] on the member (its listening sockets
//! from `/proc/net/tcp` and `/proc/net/tcp6`).
//!
//! What cannot be checked from here, and is not:
//! - reverse lookups (address to name): the standard library has no `getnameinfo`, this workspace has
//!   no unsafe code, and `/etc/hosts` is consulted by the forward lookup already;
//! - whether the member resolves this node's name, or reaches this node's ports: the member answers no
//!   questions about the joiner (the installer names every node in every node's `/etc/hosts` when it
//!   runs);
//! - ports the member does not listen on yet (its roles are not installed, and the image's firewall
//!   drops their packets until they are), and UDP (VXLAN), which does not answer a probe.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stackbox_common::cmd::{CmdError, Command};
use stackbox_installer::flavor::openstack::endpoints::ports as api;
use stackbox_machine::system::Root;

use crate::admit::Admission;
use crate::client::{self, ClientError};
use crate::join::image_version;
use crate::node::Refusal;
use crate::proof::{Fingerprint, RandomError};

/// The member's route.
pub const PRECHECK_PATH: &str = "/api/v1/cluster/precheck";
/// The largest clock difference allowed between two nodes.
pub const MAX_SKEW: Duration = Duration::from_secs(1);
/// How long a TCP connect to a member's port may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The TCP ports of the roles a node may take that other nodes connect to, each with what listens
/// there: Galera, RabbitMQ, memcached and the internal ports of the OpenStack APIs and the dashboard
/// (haproxy's backends).
pub const CLUSTER_PORTS: &[(u16, &str)] = &[
    (3306, "MariaDB"),
    (4444, "Galera state snapshot transfer"),
    (4567, "Galera replication"),
    (4568, "Galera incremental state transfer"),
    (4369, "epmd"),
    (5671, "RabbitMQ AMQP over TLS"),
    (25672, "Erlang distribution (RabbitMQ)"),
    (11211, "memcached"),
    (api::KEYSTONE.1, "keystone (internal)"),
    (api::GLANCE.1, "glance (internal)"),
    (api::PLACEMENT.1, "placement (internal)"),
    (api::NOVA.1, "nova-api (internal)"),
    (api::NEUTRON.1, "neutron (internal)"),
    (api::HORIZON.1, "dashboard (internal)"),
];

/// What a member tells a joiner before a join, and nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberFacts {
    /// The member's node name (a host name).
    pub node: String,
    /// The image version it runs.
    pub image_version: String,
    /// Its clock when it answered, in milliseconds since the Unix epoch.
    pub clock_ms: u64,
    /// Its data-plane MTU, once its network is configured.
    pub mtu: Option<u32>,
    /// Which of [`CLUSTER_PORTS`] it listens on (on an address other than loopback), ascending.
    pub listening: Vec<u16>,
}

impl MemberFacts {
    /// This member's facts at `now`: `node` and `mtu` as its wizard knows them, its listening sockets
    /// read under `root` (`/proc/net/tcp`, `/proc/net/tcp6`; none when they cannot be read).
    pub fn gather(node: &str, mtu: Option<u32>, root: &Root, now: SystemTime) -> MemberFacts {
        let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|path| root.read(path))
            .flat_map(|text| listening_sockets(&text))
            .filter(|(addr, _)| !addr.to_canonical().is_loopback())
            .map(|(_, port)| port)
            .filter(|port| CLUSTER_PORTS.iter().any(|(p, _)| p == port))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        MemberFacts {
            node: node.to_owned(),
            image_version: image_version().to_owned(),
            clock_ms: unix_ms(now),
            mtu,
            listening: ports,
        }
    }
}

/// The listening sockets in the text of `/proc/net/tcp` or `/proc/net/tcp6`: their local address and
/// port. Lines that are not sockets in state `0A` (LISTEN) are skipped. The kernel prints each 32-bit
/// word of an address in the host's byte order, so this reads them back in the host's order.
pub fn listening_sockets(text: &str) -> Vec<(IpAddr, u16)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _slot = fields.next()?.strip_suffix(':')?;
            let local = fields.next()?;
            let _remote = fields.next()?;
            if fields.next()? != "0A" {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            Some((hex_address(addr)?, u16::from_str_radix(port, 16).ok()?))
        })
        .collect()
}

/// An address as `/proc/net/tcp{,6}` prints it: 8 or 32 hex digits, 32-bit words in host order.
fn hex_address(hex: &str) -> Option<IpAddr> {
    if !hex.is_ascii() {
        return None;
    }
    let words = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map(u32::to_ne_bytes))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    match (hex.len(), words.as_slice()) {
        (8, [w]) => Some(IpAddr::from(*w)),
        (32, [a, b, c, d]) => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(w);
            }
            Some(IpAddr::from(bytes))
        }
        _ => None,
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A check's stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    /// The image versions differ.
    VersionMismatch,
    /// The clocks are more than [`MAX_SKEW`] apart.
    ClockSkew,
    /// A name does not resolve, or is refused.
    NameResolution,
    /// A port the member listens on cannot be reached.
    PortUnreachable,
    /// The path does not carry the data-plane MTU.
    Mtu,
}

impl CheckId {
    /// Every check, in the order they run.
    pub const ALL: [CheckId; 5] = [
        CheckId::VersionMismatch,
        CheckId::ClockSkew,
        CheckId::NameResolution,
        CheckId::PortUnreachable,
        CheckId::Mtu,
    ];

    /// The stable id (`version-mismatch`, `clock-skew`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::VersionMismatch => "version-mismatch",
            CheckId::ClockSkew => "clock-skew",
            CheckId::NameResolution => "name-resolution",
            CheckId::PortUnreachable => "port-unreachable",
            CheckId::Mtu => "mtu",
        }
    }

    /// Whether an operator may skip the check (`--skip-check`): only those a legitimate setup may be
    /// unable to pass before the join. No DNS, so the member's name is in no `/etc/hosts` until the
    /// installer writes it there (`name-resolution`); a network that filters ICMP between the nodes
    /// (`mtu`). The others would break the cluster.
    pub fn skippable(self) -> bool {
        matches!(self, CheckId::NameResolution | CheckId::Mtu)
    }

    /// Parses the id of a check an operator may skip (the value of `--skip-check`).
    pub fn parse_skippable(s: &str) -> Result<CheckId, String> {
        let skippable: Vec<&str> = CheckId::ALL
            .iter()
            .filter(|c| c.skippable())
            .map(|c| c.as_str())
            .collect();
        match CheckId::ALL.iter().find(|c| c.as_str() == s) {
            Some(c) if c.skippable() => Ok(*c),
            Some(c) => Err(format!(
                "the check {} cannot be skipped (only {})",
                c.as_str(),
                skippable.join(", ")
            )),
            None => Err(format!(
                "no check is called {s:?} (those that may be skipped: {})",
                skippable.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's failure (or why it was skipped), in plain words that name the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check.
    pub id: CheckId,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.message)
    }
}

/// The member as the messages name it: its node name and the address it is reached at.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// Its node name.
    pub node: &'a str,
    /// Its address.
    pub addr: IpAddr,
}

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "member {} ({})", self.node, self.addr)
    }
}

fn finding(id: CheckId, message: String) -> Finding {
    Finding { id, message }
}

/// `version-mismatch`: the member runs `theirs`, this node `ours`.
pub fn judge_version(member: Named<'_>, theirs: &str, ours: &str) -> Option<Finding> {
    (theirs != ours).then(|| {
        finding(
            CheckId::VersionMismatch,
            format!(
                "{member} runs image version {theirs}, this node {ours}: a node joins only a cluster \
                 of its own version; install the same image on both"
            ),
        )
    })
}

/// The least clock difference, in milliseconds, consistent with a member whose clock read
/// `member_ms` at some moment between `sent_ms` and `received_ms` by this node's clock: the distance
/// of `member_ms` from the round trip's middle, less half the round trip (0 when it lies within).
pub fn clock_skew_ms(member_ms: u64, sent_ms: u64, received_ms: u64) -> u64 {
    // In half-milliseconds, to keep the middle of an odd round trip exact.
    let twice_offset = 2 * i128::from(member_ms) - i128::from(sent_ms) - i128::from(received_ms);
    let round_trip = (i128::from(received_ms) - i128::from(sent_ms)).abs();
    let twice_skew = (twice_offset.abs() - round_trip).max(0);
    u64::try_from((twice_skew + 1) / 2).unwrap_or(u64::MAX)
}

/// `clock-skew`: the member's clock read `member_ms` while this node's went from `sent` to
/// `received`; refused when even the least difference exceeds [`MAX_SKEW`].
pub fn judge_clock(
    member: Named<'_>,
    member_ms: u64,
    sent: SystemTime,
    received: SystemTime,
) -> Option<Finding> {
    let (sent_ms, received_ms) = (unix_ms(sent), unix_ms(received));
    let skew = clock_skew_ms(member_ms, sent_ms, received_ms);
    let limit = u64::try_from(MAX_SKEW.as_millis()).unwrap_or(u64::MAX);
    (skew > limit).then(|| {
        let ahead = 2 * i128::from(member_ms) > i128::from(sent_ms) + i128::from(received_ms);
        finding(
            CheckId::ClockSkew,
            format!(
                "the clock of {member} is at least {:.1} s {} this node's (at most {} s apart is \
                 allowed): let chrony synchronise both with the same time source",
                skew as f64 / 1000.0,
                if ahead { "ahead of" } else { "behind" },
                MAX_SKEW.as_secs()
            ),
        )
    })
}

/// What a name resolves to here: its addresses, or why it does not resolve.
pub type Resolved = Result<Vec<IpAddr>, String>;

/// `name-resolution`: `resolved` is what the member's name resolves to here (or why it did not);
/// `own` is this node's name, which the member must accept and which must not be the member's.
pub fn judge_names(member: Named<'_>, resolved: &Resolved, own: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut refuse = |message: String| found.push(finding(CheckId::NameResolution, message));
    if let Err(e) = stackbox_network::check_hostname(own) {
        refuse(format!(
            "this node's name {own:?} would be refused by {member}: {e}; give another with --name"
        ));
    } else if own.eq_ignore_ascii_case(member.node) {
        refuse(format!(
            "this node has the name of {member}: every node needs its own; give another with --name"
        ));
    }
    let here = member.addr.to_canonical();
    match resolved {
        Err(why) => refuse(format!(
            "the name of {member} does not resolve here ({why}): add `{} {}` to /etc/hosts or to \
             DNS (or, when the installer is to write /etc/hosts, --skip-check name-resolution)",
            member.addr, member.node
        )),
        Ok(addrs) if !addrs.iter().any(|a| a.to_canonical() == here) => {
            let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            refuse(format!(
                "the name of {member} resolves here to {}, not to the address it is reached at: \
                 correct /etc/hosts or DNS",
                if list.is_empty() {
                    "nothing".to_owned()
                } else {
                    list.join(", ")
                }
            ));
        }
        Ok(_) => {}
    }
    found
}

/// What a TCP connect to a port came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortOutcome {
    /// Connected.
    Open,
    /// Refused: the host is reachable, nothing listens (or something between rejects).
    Refused,
    /// No answer within [`CONNECT_TIMEOUT`]: something between drops the packets.
    TimedOut,
    /// Another failure (no route, unreachable), as the OS said it.
    Failed(String),
}

/// Whether a port's `outcome` is acceptable for a member that says it does (`listening`) or does not
/// listen there: `Err` says why not. A port the member does not listen on is fine whatever answers
/// (refused: reachable but closed; a timeout: the firewall keeps it closed until its role is
/// installed); one it listens on must connect.
pub fn port_verdict(listening: bool, outcome: &PortOutcome) -> Result<(), String> {
    if !listening {
        return Ok(());
    }
    match outcome {
        PortOutcome::Open => Ok(()),
        PortOutcome::Refused => Err(
            "the connection was refused although the member listens there: a firewall between \
             the nodes rejects it"
                .to_owned(),
        ),
        PortOutcome::TimedOut => Err(format!(
            "no answer within {} s although the member listens there: a firewall between the nodes \
             drops it",
            CONNECT_TIMEOUT.as_secs()
        )),
        PortOutcome::Failed(why) => Err(format!("the connection failed ({why})")),
    }
}

/// `port-unreachable`: one finding per port the member listens on that `outcomes` (port, outcome)
/// shows unreachable.
pub fn judge_ports(
    member: Named<'_>,
    listening: &[u16],
    outcomes: &[(u16, PortOutcome)],
) -> Vec<Finding> {
    outcomes
        .iter()
        .filter_map(|(port, outcome)| {
            let why = port_verdict(listening.contains(port), outcome).err()?;
            let what = CLUSTER_PORTS
                .iter()
                .find(|(p, _)| p == port)
                .map_or("", |(_, what)| *what);
            Some(finding(
                CheckId::PortUnreachable,
                format!("TCP port {port} ({what}) of {member}: {why}; open it between the nodes"),
            ))
        })
        .collect()
}

/// The payload of a ping whose packet is `mtu` bytes to `addr` (less the IP and ICMP headers: 28
/// bytes for IPv4, 48 for IPv6); `None` when `mtu` is not larger than the headers.
pub fn ping_payload(mtu: u32, addr: IpAddr) -> Option<u32> {
    let headers = if addr.to_canonical().is_ipv4() {
        28
    } else {
        48
    };
    mtu.checked_sub(headers).filter(|p| *p > 0)
}

/// The thin side of the checks: what they ask of this machine. [`LiveProbe`] is the real one; tests
/// pass a fake.
pub trait Probe: Sync {
    /// The addresses `name` resolves to here, or why it does not.
    fn resolve(&self, name: &str) -> Resolved;
    /// A TCP connect to `addr`, within [`CONNECT_TIMEOUT`].
    fn connect(&self, addr: SocketAddr) -> PortOutcome;
    /// One don't-fragment ping of `payload` bytes to `addr`, waiting a second for the answer.
    fn ping(&self, addr: IpAddr, payload: u32) -> Result<(), CmdError>;
}

/// The running machine: getaddrinfo (which reads `/etc/hosts` and asks DNS), connects, `ping`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveProbe;

impl Probe for LiveProbe {
    fn resolve(&self, name: &str) -> Resolved {
        (name, 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|e| e.to_string())
    }

    fn connect(&self, addr: SocketAddr) -> PortOutcome {
        match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => PortOutcome::Open,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => PortOutcome::Refused,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => PortOutcome::TimedOut,
            Err(e) => PortOutcome::Failed(e.to_string()),
        }
    }

    fn ping(&self, addr: IpAddr, payload: u32) -> Result<(), CmdError> {
        Command::new("ping")
            .args(["-M", "do", "-s", &payload.to_string(), "-c", "1", "-W", "1"])
            .arg(addr.to_string())
            .run()
            .map(|_| ())
    }
}

/// `mtu`: a don't-fragment ping at the member's data-plane MTU; skipped (`Err`) when it has none.
fn check_mtu(
    member: Named<'_>,
    mtu: Option<u32>,
    probe: &dyn Probe,
) -> Result<Option<Finding>, Finding> {
    let Some(mtu) = mtu else {
        return Err(finding(
            CheckId::Mtu,
            format!("{member} has no data-plane MTU configured yet (its network step is not done)"),
        ));
    };
    let fail = |message| Ok(Some(finding(CheckId::Mtu, message)));
    let Some(payload) = ping_payload(mtu, member.addr) else {
        return fail(format!(
            "{member} has a data-plane MTU of {mtu} bytes, too small for a ping"
        ));
    };
    match probe.ping(member.addr, payload) {
        Ok(()) => Ok(None),
        Err(e) if e.is_not_found() => fail(format!(
            "`ping` is not installed here (Debian package iputils-ping), so the path to {member} \
             cannot be checked for its data-plane MTU of {mtu} bytes"
        )),
        Err(e) => fail(format!(
            "a don't-fragment ping of {mtu} bytes to {member} got no answer ({e}): the path between \
             the nodes does not carry the data-plane MTU; set the same MTU on the switches and both \
             nodes (or, when ICMP is filtered between them, --skip-check mtu)"
        )),
    }
}

/// What the checks came to: the failures (any refuses the join) and the checks skipped, with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The failed checks, in the order they ran.
    pub failures: Vec<Finding>,
    /// The checks not run, with why.
    pub skipped: Vec<Finding>,
}

impl Outcome {
    /// Whether every check that ran passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The member's answer, with when this node asked and heard back.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The member's facts.
    pub facts: MemberFacts,
    /// When the request went out (this node's clock).
    pub sent: SystemTime,
    /// When the answer came back.
    pub received: SystemTime,
}

/// Runs every check not in `skip` against the member at `addr` that answered `fetched`; `own` is
/// this node's name. The ports the member listens on are probed all at once.
pub fn check_member(
    fetched: &Fetched,
    addr: IpAddr,
    own: &str,
    skip: &[CheckId],
    probe: &dyn Probe,
) -> Outcome {
    let facts = &fetched.facts;
    let member = Named {
        node: &facts.node,
        addr,
    };
    let mut outcome = Outcome::default();
    for id in CheckId::ALL {
        if skip.contains(&id) {
            outcome
                .skipped
                .push(finding(id, format!("--skip-check {id} was given")));
            continue;
        }
        match id {
            CheckId::VersionMismatch => outcome.failures.extend(judge_version(
                member,
                &facts.image_version,
                image_version(),
            )),
            CheckId::ClockSkew => outcome.failures.extend(judge_clock(
                member,
                facts.clock_ms,
                fetched.sent,
                fetched.received,
            )),
            CheckId::NameResolution => {
                let resolved = probe.resolve(&facts.node);
                outcome.failures.extend(judge_names(member, &resolved, own));
            }
            CheckId::PortUnreachable => {
                let outcomes = connect_all(probe, addr, &facts.listening);
                outcome
                    .failures
                    .extend(judge_ports(member, &facts.listening, &outcomes));
            }
            CheckId::Mtu => match check_mtu(member, facts.mtu, probe) {
                Ok(failed) => outcome.failures.extend(failed),
                Err(skipped) => outcome.skipped.push(skipped),
            },
        }
    }
    outcome
}

/// Connects to every one of `ports` of `addr` at once (each on its own thread).
fn connect_all(probe: &dyn Probe, addr: IpAddr, ports: &[u16]) -> Vec<(u16, PortOutcome)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = ports
            .iter()
            .map(|&port| {
                (
                    port,
                    scope.spawn(move || probe.connect(SocketAddr::new(addr, port))),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(port, h)| {
                let outcome = h
                    .join()
                    .unwrap_or_else(|_| PortOutcome::Failed("the probe panicked".to_owned()));
                (port, outcome)
            })
            .collect()
    })
}

/// Why the member's facts could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PrecheckError {
    /// The member could not be reached, or is not the one pinned.
    #[error("asking the member for its pre-join facts")]
    Client(#[from] ClientError),
    /// The admission could not be made (no randomness).
    #[error("making the proof of the join code")]
    Admission(#[source] RandomError),
    /// The member refused the proof of the code (wrong, expired or locked code, another address).
    #[error("the member refused the join ({}): {}", .0.reason, .0.detail)]
    Refused(Refusal),
    /// The answer is not the member's facts.
    #[error(
        "the member's answer to {PRECHECK_PATH} (HTTP {0}) is not its pre-join facts: does it run this node's image version?"
    )]
    Unreadable(u16),
}

/// Asks the member at `addr` (its certificate pinned to `pin`) for its facts, with the proof of the
/// join code that `admission` makes for the address this node connects from; the member lets that
/// address through its firewall before it answers.
pub fn fetch(
    addr: SocketAddr,
    pin: Fingerprint,
    admission: impl FnOnce(IpAddr) -> Result<Admission, RandomError>,
) -> Result<Fetched, PrecheckError> {
    let answer = client::post_json(addr, pin, PRECHECK_PATH, |local| {
        let admission = admission(local)?;
        Ok::<_, RandomError>(serde_json::to_vec(&admission).unwrap_or_default())
    })
    .map_err(|e| match e {
        ClientError::Body(inner) => match inner.downcast::<RandomError>() {
            Ok(e) => PrecheckError::Admission(*e),
            Err(other) => PrecheckError::Client(ClientError::Body(other)),
        },
        other => PrecheckError::Client(other),
    })?;
    if answer.status != 200 {
        return Err(match Refusal::read(answer.status, &answer.body) {
            Some(refusal) => PrecheckError::Refused(refusal),
            None => PrecheckError::Unreadable(answer.status),
        });
    }
    let facts = serde_json::from_slice(&answer.body)
        .map_err(|_| PrecheckError::Unreadable(answer.status))?;
    Ok(Fetched {
        facts,
        sent: answer.sent,
        received: answer.received,
    })
}

/// Fetches the member's facts (with `admission`, as [`fetch`]) and runs the checks not in `skip` on this
/// machine.
pub fn run(
    addr: SocketAddr,
    pin: Fingerprint,
    own: &str,
    skip: &[CheckId],
    admission: impl FnOnce(IpAddr) -> Result<Admission, RandomError>,
) -> Result<(Fetched, Outcome), PrecheckError> {
    let fetched = fetch(addr, pin, admission)?;
    let outcome = check_member(&fetched, addr.ip(), own, skip, &LiveProbe);
    Ok((fetched, outcome))
}

/// The operator's text for a refusal: a line naming the member, then one line per failure.
pub fn render_refusal(member: Named<'_>, outcome: &Outcome) -> String {
    let mut text = format!(
        "the pre-join checks of {member} failed ({} of them); the join request was not sent:\n",
        outcome.failures.len()
    );
    for f in &outcome.failures {
        text.push_str(&format!("  {f}\n"));
    }
    text
}

#[cfg(test)]
mod tests;
