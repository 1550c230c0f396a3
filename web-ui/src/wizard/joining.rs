//! Growing the cluster in the wizard, both sides, with no HTTP in it: a member issues a join code for
//! a new node ([`Wizard::issue_join_code`], shown on its Cluster page); a new node joins a member
//! ([`Wizard::join_existing`]) with the member's address, the code and the fingerprint its page shows,
//! through the same checked join as `stackboxd cluster join` (pairwise pre-join checks first), and
//! remembers which member it joined (`STATE/cluster/joined.json`).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use stackbox_cluster::joining::{CheckedJoinError, join_checked};
use stackbox_cluster::node::{JoiningNode, Target};
use stackbox_cluster::{CodeStore, Fingerprint, JoinCode};
use stackbox_common::fs::write_atomic;
use stackbox_common::pki;
use stackbox_common::secret::Secret;

use super::Wizard;
use crate::error::{FieldError, WebError};

/// Where a node that joined through its wizard records the member, relative to the state directory.
pub const JOINED_FILE: &str = "cluster/joined.json";
/// How long a code issued in the wizard stays valid.
pub const CODE_VALIDITY: Duration = Duration::from_secs(60 * 60);

/// The member this node joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinedCluster {
    /// The member's address.
    pub member: IpAddr,
    /// This node's name in the cluster.
    pub node: String,
    /// When it joined, in seconds since the Unix epoch.
    pub joined_at: u64,
}

/// A code for a new node, as the member's page shows it once.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    /// The code.
    pub code: Secret,
    /// This member's TLS fingerprint.
    pub fingerprint: String,
    /// Minutes until it expires.
    pub minutes: u64,
}

impl Wizard {
    /// Issues a join code for a new node (replacing any open one) at `now`; only a node with a
    /// cluster can.
    pub fn issue_join_code(&self, now: SystemTime) -> Result<IssuedCode, WebError> {
        if self.answers.cluster()?.is_none() {
            return Err(WebError::Conflict(
                "create the cluster first: a join code lets a node join this node's cluster".into(),
            ));
        }
        let cert = self.state_dir.join(pki::WIZARD_CERT_FILE);
        let der = pki::read_certificate(&cert).context("this member's TLS certificate")?;
        let issued = CodeStore::new(&self.state_dir)
            .issue(now, CODE_VALIDITY)
            .context("issuing a join code")?;
        Ok(IssuedCode {
            code: Secret::from(issued.code.expose()),
            fingerprint: Fingerprint::of_der(&der).to_string(),
            minutes: CODE_VALIDITY.as_secs() / 60,
        })
    }

    /// The member this node joined, once it has.
    pub fn joined(&self) -> Result<Option<JoinedCluster>, WebError> {
        let path = self.state_dir.join(JOINED_FILE);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            read => {
                let bytes = read.with_context(|| format!("reading {}", path.display()))?;
                Ok(Some(
                    serde_json::from_slice(&bytes)
                        .with_context(|| format!("reading {}", path.display()))?,
                ))
            }
        }
    }

    /// Joins the member at `member` with the code and fingerprint its page showed (refused, with
    /// the fields named, when they are malformed; refused when this node created a cluster of its
    /// own). Blocking: the pre-join checks, the key derivation and the request take a while.
    pub fn join_existing(
        &self,
        member: &str,
        code: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<JoinedCluster, WebError> {
        // The member's address, with its wizard's port when it is not the usual one.
        let address = member
            .trim()
            .parse::<SocketAddr>()
            .or_else(|_| {
                member
                    .trim()
                    .parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, stackbox_firstboot::identity::WIZARD_PORT))
            })
            .map_err(|_| {
                FieldError::new(
                    "member",
                    "the member's management address, such as 10.20.0.11",
                )
            });
        let code = JoinCode::parse(code).map_err(|e| FieldError::new("code", e.to_string()));
        let pin = Fingerprint::parse(fingerprint.trim()).map_err(|_| {
            FieldError::new(
                "fingerprint",
                "the member's fingerprint as its console shows it: SHA256: and 32 pairs of hex digits",
            )
        });
        let (address, code, pin) = match (address, code, pin) {
            (Ok(a), Ok(c), Ok(p)) => (a, c, p),
            (a, c, p) => {
                return Err(WebError::Invalid(
                    [a.err(), c.err(), p.err()].into_iter().flatten().collect(),
                ));
            }
        };
        if self.needs_disk() {
            return Err(WebError::Conflict(
                "this system runs live, from RAM: install it to disk first (the Disk step), or its \
                 cluster credentials are lost at the next reboot"
                    .to_owned(),
            ));
        }
        if let Some(own) = self.answers.cluster()? {
            return Err(WebError::Conflict(format!(
                "this node created the cluster {} already; a node joins before it creates one",
                own.name
            )));
        }
        let name = match self.answers.network()? {
            Some(settings) => settings.hostname,
            None => self.report().facts.hostname.clone().unwrap_or_default(),
        };
        let node = JoiningNode {
            state_dir: self.state_dir.clone(),
            name: name.clone(),
            address: None,
        };
        let target = Target {
            addr: address,
            fingerprint: pin,
        };
        join_checked(&node, &target, &code, &[], now).map_err(|e| match e {
            CheckedJoinError::NotReady(e) => WebError::Conflict(stackbox_common::error::chain(&e)),
            other => WebError::Rejected(anyhow::anyhow!(stackbox_common::error::chain(&other))),
        })?;
        let joined = JoinedCluster {
            member: address.ip(),
            node: name,
            joined_at: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        let path = self.state_dir.join(JOINED_FILE);
        write_atomic(
            &path,
            serde_json::to_string_pretty(&joined)
                .unwrap_or_default()
                .as_bytes(),
            0o644,
        )
        .with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(member = %address, "joined the cluster");
        Ok(joined)
    }
}
