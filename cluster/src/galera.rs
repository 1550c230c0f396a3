//! How this node's MariaDB rejoins Galera when it starts (at boot, after a power loss, after a restart),
//! decided from what this node can prove: its saved state (`grastate.dat`), whether it saved the last
//! primary component (`gvwstate.dat`), and whether another member's Galera answers.
//!
//! The rules, conservative first:
//! 1. Another member is primary (its agent says so; without cluster credentials, its Galera port
//!    answers): join it (a state transfer brings this node up to date).
//! 2. This node saved a primary component (`gvwstate.dat`, left by a crash or a power loss): it
//!    compares it with the other members' ([`view::judge`], asked of their agents). Left out of a
//!    later one, it is stale: it waits until the others are primary and joins them (rule 1). Once
//!    every member of its component told theirs, it starts and Galera restores the component.
//! 3. This node left last and cleanly (`safe_to_bootstrap: 1`): it holds the newest data; bootstrap.
//! 4. It is the only storage member: nobody can be newer; mark it safe and bootstrap.
//! 5. Otherwise its position may be stale: never guess; wait, say so, and look again.
//!
//! [`decide`] is pure; `stackboxd cluster galera-start` (run by mariadb.service before mariadbd starts,
//! see [`crate::cli`]) gathers the facts and acts on the decision.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

pub mod view;

use view::{PeerGalera, SavedView};

/// Galera's replication port, where a running member answers.
pub const GALERA_PORT: u16 = 4567;
/// Where MariaDB keeps Galera's saved state.
pub const DATADIR: &str = "/var/lib/mysql";
/// The environment file Debian's mariadb.service reads (`galera_new_cluster` writes it too): holding
/// `_WSREP_NEW_CLUSTER=--wsrep-new-cluster`, the start bootstraps. The unit's stackbox drop-in removes it
/// once mariadbd runs, so that no later restart bootstraps by accident.
pub const NEW_CLUSTER_ENV: &str = "/run/mariadb-wsrep-new-cluster";

/// `grastate.dat`: the cluster's identity, this node's last committed position and whether it may
/// bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraState {
    /// The cluster's state UUID.
    pub uuid: String,
    /// The last committed position; -1 while running or after a crash (unknown without recovery).
    pub seqno: i64,
    /// Galera's own judgement: this node left the cluster last, cleanly.
    pub safe_to_bootstrap: bool,
}

/// A `grastate.dat` that cannot be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grastate.dat: {0}")]
pub struct GraStateError(String);

/// Parses `grastate.dat` (`key: value` lines under a comment header).
pub fn parse_grastate(text: &str) -> Result<GraState, GraStateError> {
    let mut uuid = None;
    let mut seqno = None;
    let mut safe = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(GraStateError(format!("`{line}` is not `key: value`")));
        };
        let value = value.trim();
        match key.trim() {
            "uuid" => uuid = Some(value.to_owned()),
            "seqno" => {
                let n = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= -1)
                    .ok_or_else(|| GraStateError(format!("seqno `{value}` is not a position")))?;
                seqno = Some(n);
            }
            "safe_to_bootstrap" => {
                safe = Some(match value {
                    "0" => false,
                    "1" => true,
                    other => {
                        return Err(GraStateError(format!(
                            "safe_to_bootstrap `{other}` is neither 0 nor 1"
                        )));
                    }
                });
            }
            _ => {}
        }
    }
    let uuid = uuid.ok_or_else(|| GraStateError("no uuid".into()))?;
    let hex_and_dashes =
        uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !hex_and_dashes {
        return Err(GraStateError(format!("uuid `{uuid}` is not a UUID")));
    }
    Ok(GraState {
        uuid,
        seqno: seqno.ok_or_else(|| GraStateError("no seqno".into()))?,
        safe_to_bootstrap: safe.ok_or_else(|| GraStateError("no safe_to_bootstrap".into()))?,
    })
}

/// `text` with `safe_to_bootstrap` set to 1 (Galera's own file format, other lines kept).
pub fn mark_safe(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("safe_to_bootstrap:") {
                "safe_to_bootstrap: 1".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What this node knows when its MariaDB starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The saved state; `None` before Galera ever ran here (a fresh install bootstraps through the plan).
    pub grastate: Option<GraState>,
    /// The primary component this node saved (`gvwstate.dat`: it did not leave cleanly).
    pub saved_view: Option<SavedView>,
    /// Whether the other members' agents were asked (this node has cluster credentials).
    pub agents: bool,
    /// What the other members' agents said, by address (those that answered).
    pub peers: Vec<(String, PeerGalera)>,
    /// How many storage members the cluster has, this node included.
    pub members: usize,
    /// The other members whose Galera port answers.
    pub answering: Vec<IpAddr>,
}

/// How MariaDB starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start normally: join a running member, or let Galera restore the saved component. The reason says
    /// which.
    Start(String),
    /// Bootstrap a new primary component from this node (`--wsrep-new-cluster`); `mark_safe` first when
    /// it is the only member after a crash. The reason says why it is provably newest.
    Bootstrap {
        /// Set `safe_to_bootstrap: 1` first.
        mark_safe: bool,
        /// Why this node.
        reason: String,
    },
    /// Do not start: this node cannot prove it is newest and no member answers.
    Wait(String),
}

/// The decision for `facts` (see the module's rules).
pub fn decide(facts: &Facts) -> Decision {
    let Some(state) = &facts.grastate else {
        return Decision::Start("Galera never ran on this node: the install bootstraps it".into());
    };
    if let Some((peer, _)) = facts.peers.iter().find(|(_, p)| p.primary) {
        return Decision::Start(format!("joining {peer}, a member of the primary component"));
    }
    if !facts.agents
        && let Some(peer) = facts.answering.first()
    {
        return Decision::Start(format!("joining the running member {peer}"));
    }
    if let Some(saved) = &facts.saved_view {
        if facts.agents
            && let Err(why) = view::judge(saved, &facts.peers)
        {
            return Decision::Wait(why);
        }
        return Decision::Start(format!(
            "restoring the last primary component (view {}; Galera waits until all its members are back)",
            saved.seq
        ));
    }
    if state.safe_to_bootstrap {
        return Decision::Bootstrap {
            mark_safe: false,
            reason: format!(
                "this node left the cluster last and cleanly (position {}): it has the newest data",
                state.seqno
            ),
        };
    }
    if facts.members <= 1 {
        return Decision::Bootstrap {
            mark_safe: true,
            reason: "the only storage member: no other node can hold newer data".into(),
        };
    }
    Decision::Wait(format!(
        "no other storage member answers on port {GALERA_PORT} and this node did not leave last \
         (position {}): it may be stale, so it waits for the others; start the node that shut down \
         last, or all of them",
        state.seqno
    ))
}

/// The members among `peers` whose Galera port accepts a connection within `timeout`.
pub fn answering(peers: &[IpAddr], timeout: Duration) -> Vec<IpAddr> {
    peers
        .iter()
        .copied()
        .filter(|ip| {
            TcpStream::connect_timeout(&SocketAddr::new(*ip, GALERA_PORT), timeout).is_ok()
        })
        .collect()
}

/// The facts in `datadir` plus the members' answers: their Galera ports, and their agents through
/// `ask` when this node has cluster credentials (`None`: it has none).
pub fn gather(
    datadir: &Path,
    members: usize,
    peers: &[IpAddr],
    ask: Option<&dyn Fn(IpAddr) -> Option<PeerGalera>>,
) -> Result<Facts, GraStateError> {
    let grastate = match std::fs::read_to_string(datadir.join("grastate.dat")) {
        Ok(text) => Some(parse_grastate(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(GraStateError(format!("cannot read it: {e}"))),
    };
    Ok(Facts {
        grastate,
        saved_view: std::fs::read_to_string(datadir.join("gvwstate.dat"))
            .ok()
            .and_then(|t| view::parse_gvwstate(&t).ok()),
        agents: ask.is_some(),
        peers: ask.map_or_else(Vec::new, |ask| {
            peers
                .iter()
                .filter_map(|ip| ask(*ip).map(|p| (ip.to_string(), p)))
                .collect()
        }),
        members,
        answering: answering(peers, Duration::from_secs(2)),
    })
}

/// Why the start could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The cluster configuration could not be read.
    #[error("{path}")]
    Config {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// grastate.dat is not Galera's.
    #[error(transparent)]
    GraState(#[from] GraStateError),
    /// A file could not be written.
    #[error("{path}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The storage members other than the nodes this machine is (the installer's [`local_nodes`]), and how
/// many there are in all; without a configuration (MariaDB not installed by stackbox), none.
///
/// [`local_nodes`]: stackbox_installer::local_nodes
fn members(config: &Path) -> Result<(usize, Vec<IpAddr>), PrepareError> {
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((1, Vec::new())),
        Err(e) => {
            return Err(PrepareError::Config {
                path: config.display().to_string(),
                source: Box::new(e),
            });
        }
    };
    let config = stackbox_installer::ClusterConfig::from_toml(&config.display().to_string(), &text)
        .map_err(|e| PrepareError::Config {
            path: config.display().to_string(),
            source: Box::new(e),
        })?;
    let me: Vec<&str> =
        stackbox_installer::local_nodes(&config, &stackbox_machine::system::Root::live())
            .iter()
            .map(|n| n.name.as_str())
            .collect();
    let storage: Vec<_> = config.nodes_with("storage-metadata").collect();
    let others = storage
        .iter()
        .filter(|n| !me.contains(&n.name.as_str()))
        .map(|n| n.address)
        .collect();
    Ok((storage.len(), others))
}

/// Gathers the facts, decides, and prepares the start: a bootstrap writes the environment file (and,
/// for a lone member after a crash, marks grastate.dat safe first). A wait changes nothing.
pub fn prepare(
    config: &Path,
    datadir: &Path,
    env_file: &Path,
    ask: Option<&dyn Fn(IpAddr) -> Option<PeerGalera>>,
) -> Result<Decision, PrepareError> {
    let (count, peers) = members(config)?;
    let facts = gather(datadir, count, &peers, ask)?;
    let decision = decide(&facts);
    if let Decision::Bootstrap {
        mark_safe: mark, ..
    } = &decision
    {
        let write = |path: &Path, text: String| {
            std::fs::write(path, text).map_err(|source| PrepareError::Write {
                path: path.display().to_string(),
                source,
            })
        };
        if *mark {
            let grastate = datadir.join("grastate.dat");
            let text =
                std::fs::read_to_string(&grastate).map_err(|source| PrepareError::Write {
                    path: grastate.display().to_string(),
                    source,
                })?;
            // In place: the file keeps its owner (mysql) and mode.
            write(&grastate, mark_safe(&text))?;
        }
        write(
            env_file,
            "_WSREP_NEW_CLUSTER='--wsrep-new-cluster'\n".to_owned(),
        )?;
    }
    Ok(decision)
}

impl Decision {
    /// The decision as the status keeps it: what, and why.
    pub fn outcome(&self) -> (crate::galera_start::Outcome, &str) {
        use crate::galera_start::Outcome;
        match self {
            Decision::Start(reason) => (Outcome::Start, reason),
            Decision::Bootstrap { reason, .. } => (Outcome::Bootstrap, reason),
            Decision::Wait(reason) => (Outcome::Wait, reason),
        }
    }
}

/// Writes a line on the system console, where an operator at the machine looks (best effort).
pub fn tell_console(line: &str) {
    use std::io::Write;
    if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
        let _ = writeln!(console, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "# GALERA saved state\nversion: 2.1\nuuid:    593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nseqno:   1\nsafe_to_bootstrap: 1\n";
    const CRASHED: &str = "# GALERA saved state\nversion: 2.1\nuuid:    593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nseqno:   -1\nsafe_to_bootstrap: 0\n";

    const SAVED: &str = "my_uuid: 1bfba9c3-ec2b-11f1-938b-575421989fdd\n#vwbeg\nview_id: 3 1bfba9c3-ec2b-11f1-938a-575421989fdd 10\nmember: 1bfba9c3-ec2b-11f1-938a-575421989fdd 0\nmember: 2501eff1-ec2b-11f1-8ac5-ba150fbf7728 0\n#vwend\n";

    fn facts(text: &str, saved_view: bool, members: usize, answering: &[&str]) -> Facts {
        Facts {
            grastate: Some(parse_grastate(text).unwrap()),
            saved_view: saved_view.then(|| view::parse_gvwstate(SAVED).unwrap()),
            agents: false,
            peers: Vec::new(),
            members,
            answering: answering.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn grastate_as_galera_writes_it() {
        let s = parse_grastate(CLEAN).unwrap();
        assert_eq!(s.seqno, 1);
        assert!(s.safe_to_bootstrap);
        assert_eq!(s.uuid, "593d99d0-ebf9-11f1-91f7-6fa5eeec3715");
        let c = parse_grastate(CRASHED).unwrap();
        assert_eq!((c.seqno, c.safe_to_bootstrap), (-1, false));
        assert!(
            parse_grastate(&mark_safe(CRASHED))
                .unwrap()
                .safe_to_bootstrap
        );
        assert!(mark_safe(CRASHED).contains("seqno:   -1"));
    }

    #[test]
    fn grastate_must_fail() {
        for (text, what) in [
            ("", "no uuid"),
            (
                "uuid: 593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nsafe_to_bootstrap: 1\n",
                "no seqno",
            ),
            (
                "uuid: 593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nseqno: 3\n",
                "no safe_to_bootstrap",
            ),
            (
                "uuid: 593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nseqno: x\nsafe_to_bootstrap: 1\n",
                "not a position",
            ),
            (
                "uuid: 593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nseqno: -2\nsafe_to_bootstrap: 1\n",
                "not a position",
            ),
            (
                "uuid: 593d99d0-ebf9-11f1-91f7-6fa5eeec3715\nseqno: 3\nsafe_to_bootstrap: yes\n",
                "neither 0 nor 1",
            ),
            (
                "uuid: not-a-uuid\nseqno: 3\nsafe_to_bootstrap: 1\n",
                "not a UUID",
            ),
            ("garbage line\n", "is not `key: value`"),
        ] {
            let e = parse_grastate(text).unwrap_err().to_string();
            assert!(e.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_running_member_is_joined_before_anything_else() {
        let d = decide(&facts(CLEAN, true, 3, &["10.20.0.12"]));
        assert_eq!(
            d,
            Decision::Start("joining the running member 10.20.0.12".into())
        );
    }

    #[test]
    fn a_saved_component_is_restored_by_galera() {
        assert!(
            matches!(decide(&facts(CRASHED, true, 3, &[])), Decision::Start(r) if r.contains("restoring"))
        );
        assert!(matches!(
            decide(&facts(CRASHED, true, 1, &[])),
            Decision::Start(_)
        ));
    }

    #[test]
    fn the_node_that_left_last_bootstraps() {
        assert!(matches!(
            decide(&facts(CLEAN, false, 3, &[])),
            Decision::Bootstrap {
                mark_safe: false,
                ..
            }
        ));
    }

    #[test]
    fn a_lone_member_always_comes_back() {
        assert!(matches!(
            decide(&facts(CRASHED, false, 1, &[])),
            Decision::Bootstrap {
                mark_safe: true,
                ..
            }
        ));
        assert!(matches!(
            decide(&facts(CLEAN, false, 1, &[])),
            Decision::Bootstrap {
                mark_safe: false,
                ..
            }
        ));
    }

    #[test]
    fn a_possibly_stale_member_waits_and_says_why() {
        let Decision::Wait(reason) = decide(&facts(CRASHED, false, 3, &[])) else {
            panic!("a stale member must not bootstrap");
        };
        assert!(reason.contains("may be stale"), "{reason}");
    }

    #[test]
    fn a_fresh_node_starts_as_the_plan_says() {
        let d = decide(&Facts {
            grastate: None,
            saved_view: None,
            agents: false,
            peers: Vec::new(),
            members: 3,
            answering: Vec::new(),
        });
        assert!(matches!(d, Decision::Start(_)));
    }

    #[test]
    fn with_agents_a_primary_member_is_joined_and_a_bare_port_is_not_enough() {
        let primary = PeerGalera {
            saved: None,
            primary: true,
        };
        let mut f = facts(CRASHED, true, 3, &["10.0.0.12"]);
        f.agents = true;
        // The port answers but nobody is primary and node3 has not told its state: wait.
        assert!(matches!(decide(&f), Decision::Wait(_)), "{:?}", decide(&f));
        f.peers = vec![("10.0.0.13".into(), primary)];
        let Decision::Start(why) = decide(&f) else {
            panic!("a primary member is joined");
        };
        assert!(why.contains("10.0.0.13"), "{why}");
    }

    #[test]
    fn a_stale_saved_component_waits_for_the_others() {
        let newer = "my_uuid: 2501eff1-ec2b-11f1-8ac6-ba150fbf7728\n#vwbeg\nview_id: 3 2501eff1-ec2b-11f1-8ac5-ba150fbf7728 12\nmember: 2501eff1-ec2b-11f1-8ac5-ba150fbf7728 0\nmember: 3301eff1-ec2b-11f1-8ac5-ba150fbf7728 0\n#vwend\n";
        let mut f = facts(CRASHED, true, 3, &[]);
        f.agents = true;
        f.peers = vec![(
            "10.0.0.13".into(),
            PeerGalera {
                saved: Some(view::parse_gvwstate(newer).unwrap()),
                primary: false,
            },
        )];
        let Decision::Wait(why) = decide(&f) else {
            panic!("a stale node must not restore its component");
        };
        assert!(why.contains("older than 10.0.0.13's"), "{why}");
    }
}
