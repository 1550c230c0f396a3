//! This node joining a cluster over the wire: the request of [`crate::join`] posted to a member's
//! `/api/v1/cluster/join` ([`crate::client`], the member's certificate pinned), the grant checked, and
//! the node's credentials stored under `STATE/cluster/node/`.
//!
//! Nothing is half-written: the credentials go to a fresh temporary directory beside it, which is
//! renamed into place last, so `STATE/cluster/node/` exists exactly when the join succeeded (and its
//! existence is how a second join knows the node has joined already).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;
use stackbox_common::fs::write_atomic;
use stackbox_common::pki;

use crate::client::{self, ClientError};
use crate::code::JoinCode;
use crate::join::{
    GrantError, JoinGrant, Joiner, NodeCredentials, PendingJoin, RequestError, image_version,
};
use crate::proof::Fingerprint;

/// Where a joined node keeps its credentials, relative to the state directory.
pub const NODE_DIR: &str = "cluster/node";
/// The node certificate, in [`NODE_DIR`].
pub const NODE_CERT: &str = "node.crt";
/// The node's private key (mode 0600), in [`NODE_DIR`].
pub const NODE_KEY: &str = "node.key";
/// The cluster CA's certificate, in [`NODE_DIR`].
pub const CLUSTER_CA: &str = "ca.pem";
/// The member's join route.
pub const JOIN_PATH: &str = "/api/v1/cluster/join";

/// The member to join: its address, the wizard's port and its pinned fingerprint.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The member's address and port.
    pub addr: SocketAddr,
    /// The member's TLS fingerprint, as its console shows it.
    pub fingerprint: Fingerprint,
}

/// This node: where its state is, its name and (optionally) the address it claims.
#[derive(Debug, Clone)]
pub struct JoiningNode {
    /// The state directory (`stackboxd serve --state`): the wizard's certificate is read from it, the
    /// credentials are stored in it.
    pub state_dir: PathBuf,
    /// The node's name (a host name).
    pub name: String,
    /// The management address to claim; `None`: the address this node connects to the member from
    /// (which the member checks against the connection).
    pub address: Option<IpAddr>,
}

/// A member's refusal as it travels: its status, stable reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The stable reason (`wrong-code`, `locked`, `expired`, `address-mismatch`, ...).
    pub reason: String,
    /// The member's message for the operator.
    pub detail: String,
}

/// Why this node did not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The node has credentials already.
    #[error("this node has joined a cluster already ({0} exists)")]
    AlreadyJoined(String),
    /// The node's own wizard certificate (whose fingerprint the member pins) is missing.
    #[error(
        "this node's TLS certificate (start the wizard once with `stackboxd serve --state DIR`, or run first boot)"
    )]
    Identity(#[source] pki::PkiError),
    /// The request could not be made.
    #[error("making the join request")]
    Request(#[source] RequestError),
    /// The member could not be reached, or is not the one pinned.
    #[error("asking the member")]
    Client(#[from] ClientError),
    /// The member refused.
    #[error("the member refused the join ({}): {}", .0.reason, .0.detail)]
    Refused(Refusal),
    /// The member's answer is not a grant nor a refusal.
    #[error("the member's answer (HTTP {0}) is not a join grant or a refusal")]
    Unreadable(u16),
    /// The grant is not to be trusted.
    #[error("checking the member's grant")]
    Grant(#[source] GrantError),
    /// The credentials could not be stored.
    #[error("storing the node's credentials in {path}")]
    Store {
        /// The file or directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl JoinError {
    /// The member's refusal, when it refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            JoinError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

/// The parts of a problem document the joiner reads.
#[derive(Deserialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    detail: String,
}

/// Joins the cluster of `target` with `code` at `now`: checks that this node has not joined, posts the
/// request, checks the grant and stores the credentials. Returns the directory they are in. The
/// pairwise pre-join checks are not run here: `stackboxd cluster join` runs [`crate::precheck`] first.
pub fn join(
    node: &JoiningNode,
    target: &Target,
    code: &JoinCode,
    now: SystemTime,
) -> Result<PathBuf, JoinError> {
    let dir = not_joined(node)?;
    let own = pki::read_certificate(&node.state_dir.join(pki::WIZARD_CERT_FILE))
        .map_err(JoinError::Identity)?;
    let mut joiner = Joiner {
        node: node.name.clone(),
        address: node.address.unwrap_or(target.addr.ip()),
        fingerprint: Fingerprint::of_der(&own),
        image_version: image_version().to_owned(),
    };
    let mut pending: Option<PendingJoin> = None;
    let answer = client::post_json(target.addr, target.fingerprint, JOIN_PATH, |local| {
        joiner.address = node.address.unwrap_or(local);
        let (request, p) = joiner
            .request(code, &target.fingerprint, now)
            .map_err(JoinError::Request)?;
        pending = Some(p);
        serde_json::to_vec(&request).map_err(|_| JoinError::Unreadable(0))
    })
    .map_err(|e| match e {
        // A failure to make the request is the request's, not the wire's.
        ClientError::Body(inner) => match inner.downcast::<JoinError>() {
            Ok(e) => *e,
            Err(other) => JoinError::Client(ClientError::Body(other)),
        },
        other => JoinError::Client(other),
    })?;
    if answer.status != 200 {
        return Err(refusal(answer.status, &answer.body));
    }
    let grant: JoinGrant =
        serde_json::from_slice(&answer.body).map_err(|_| JoinError::Unreadable(200))?;
    let pending = pending.ok_or(JoinError::Unreadable(200))?;
    let credentials = joiner
        .verify_grant(pending, &grant, now)
        .map_err(JoinError::Grant)?;
    store(&node.state_dir, &credentials)?;
    tracing::info!(node = %joiner.node, member = %target.addr, "joined the cluster");
    Ok(dir)
}

/// Where `node`'s credentials will be, when it has not joined yet (checked before anything is asked of
/// a member).
pub fn not_joined(node: &JoiningNode) -> Result<PathBuf, JoinError> {
    let dir = node.state_dir.join(NODE_DIR);
    if dir.exists() {
        return Err(JoinError::AlreadyJoined(dir.display().to_string()));
    }
    Ok(dir)
}

/// A refusal from a problem document (`type` ends with the reason), or an unreadable answer.
fn refusal(status: u16, body: &[u8]) -> JoinError {
    match Refusal::read(status, body) {
        Some(refusal) => JoinError::Refused(refusal),
        None => JoinError::Unreadable(status),
    }
}

impl Refusal {
    /// The member's refusal in a problem document (`type` ends with the reason); `None` when `body` is
    /// not one.
    pub fn read(status: u16, body: &[u8]) -> Option<Refusal> {
        let problem = serde_json::from_slice::<Problem>(body).ok()?;
        Some(Refusal {
            status,
            reason: problem
                .kind
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            detail: problem.detail,
        })
    }
}

/// Stores the credentials under `state_dir`/[`NODE_DIR`]: into a fresh temporary directory first (a
/// leftover of an interrupted run is removed), renamed into place last.
pub fn store(state_dir: &Path, credentials: &NodeCredentials) -> Result<(), JoinError> {
    let dir = state_dir.join(NODE_DIR);
    let partial = state_dir.join(format!("{NODE_DIR}.partial"));
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| JoinError::Store { path, source }
    };
    match std::fs::remove_dir_all(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&partial)(e)),
        _ => {}
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    let files: [(&str, &[u8], u32); 3] = [
        (NODE_KEY, credentials.key.expose().as_bytes(), 0o600),
        (NODE_CERT, credentials.certificate.as_bytes(), 0o644),
        (CLUSTER_CA, credentials.ca.as_bytes(), 0o644),
    ];
    for (name, contents, mode) in files {
        let path = partial.join(name);
        write_atomic(&path, contents, mode).map_err(io(&path))?;
    }
    std::fs::rename(&partial, &dir).map_err(io(&dir))?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io(parent))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn credentials_land_whole_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        // A leftover of an interrupted run is replaced.
        std::fs::create_dir_all(dir.path().join("cluster/node.partial")).unwrap();
        std::fs::write(dir.path().join("cluster/node.partial/junk"), "x").unwrap();
        let credentials = NodeCredentials {
            certificate: "CERT\n".to_owned(),
            key: stackbox_common::secret::Secret::from("KEY\n".to_owned()),
            ca: "CA\n".to_owned(),
        };
        store(dir.path(), &credentials).unwrap();
        let node = dir.path().join(NODE_DIR);
        assert_eq!(
            std::fs::read_to_string(node.join(NODE_KEY)).unwrap(),
            "KEY\n"
        );
        let mode = std::fs::metadata(node.join(NODE_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!node.join("junk").exists());
        assert!(!dir.path().join("cluster/node.partial").exists());
    }

    #[test]
    fn a_refusal_is_read_from_its_problem_document() {
        let body = br#"{"type": "https://stackbox.invalid/problems/wrong-code", "title": "t",
            "status": 403, "detail": "wrong join code: 4 tries left"}"#;
        let Some(r) = refusal(403, body).refusal().cloned() else {
            panic!("not a refusal")
        };
        assert_eq!(r.reason, "wrong-code");
        assert_eq!(r.detail, "wrong join code: 4 tries left");
        assert!(matches!(
            refusal(502, b"<html>"),
            JoinError::Unreadable(502)
        ));
    }

    #[test]
    fn a_joined_node_does_not_join_again_and_needs_its_own_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let node = JoiningNode {
            state_dir: dir.path().to_owned(),
            name: "node-2".to_owned(),
            address: None,
        };
        let target = Target {
            addr: "127.0.0.1:9".parse().unwrap(),
            fingerprint: Fingerprint::of_der(b"m"),
        };
        let code = JoinCode::parse("ABCD-EFGH-JKMN").unwrap();
        let err = join(&node, &target, &code, SystemTime::now()).unwrap_err();
        assert!(matches!(err, JoinError::Identity(_)), "{err:?}");
        std::fs::create_dir_all(dir.path().join(NODE_DIR)).unwrap();
        let err = join(&node, &target, &code, SystemTime::now()).unwrap_err();
        assert!(matches!(err, JoinError::AlreadyJoined(_)), "{err:?}");
    }
}
