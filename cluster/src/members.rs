//! The nodes that joined a member, as the member records them (`STATE/cluster/members.json`): written
//! by the member's join route when it grants a join, read by its wizard's Cluster page (whose joined
//! nodes with roles make the grown configuration), and forgotten by `stackboxd cluster remove`, so that
//! a removed node never comes back into the configuration. Every write is atomic; the read-modify-write
//! is serialised within the process.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use stackbox_common::fs::write_atomic;

use crate::proof::Fingerprint;

/// The nodes that joined this member, relative to the state directory.
pub const MEMBERS_FILE: &str = "cluster/members.json";

/// A node that joined through this member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinedMember {
    /// Its node name.
    pub name: String,
    /// Its management address (the one its request came from).
    pub address: IpAddr,
    /// Its wizard's TLS fingerprint.
    pub fingerprint: Fingerprint,
    /// When it joined, in seconds since the Unix epoch.
    pub joined_at: u64,
    /// Its node certificate's serial (hexadecimal), revoked when it is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a list of members.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

static WRITING: Mutex<()> = Mutex::new(());

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(MEMBERS_FILE)
}

/// The nodes that joined, oldest first (none before the first join).
pub fn load(state_dir: &Path) -> Result<Vec<JoinedMember>, MembersError> {
    let path = path(state_dir);
    let shown = path.display().to_string();
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(MembersError::Io {
            path: shown,
            source,
        }),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| MembersError::Format {
            path: shown,
            source,
        }),
    }
}

fn store(state_dir: &Path, members: &[JoinedMember]) -> Result<(), MembersError> {
    let path = path(state_dir);
    let shown = path.display().to_string();
    let json = serde_json::to_vec_pretty(members).map_err(|source| MembersError::Format {
        path: shown.clone(),
        source,
    })?;
    write_atomic(&path, &json, 0o644).map_err(|source| MembersError::Io {
        path: shown,
        source,
    })
}

/// Adds (or, for a name already there, replaces) a member's record.
pub fn record(state_dir: &Path, joined: JoinedMember) -> Result<(), MembersError> {
    let _guard = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let mut members = load(state_dir)?;
    members.retain(|m| m.name != joined.name);
    members.push(joined);
    store(state_dir, &members)
}

/// Records that member `name`'s node certificate was issued again (a rotation of the CA), with
/// `serial`: the one a removal revokes. Whether there was a record (the CA's holder has none).
pub fn reissued(state_dir: &Path, name: &str, serial: &str) -> Result<bool, MembersError> {
    let _guard = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let mut members = load(state_dir)?;
    let Some(member) = members.iter_mut().find(|m| m.name == name) else {
        return Ok(false);
    };
    member.serial = Some(serial.to_owned());
    store(state_dir, &members)?;
    Ok(true)
}

/// Forgets a member's record; whether there was one.
pub fn forget(state_dir: &Path, name: &str) -> Result<bool, MembersError> {
    let _guard = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let mut members = load(state_dir)?;
    let before = members.len();
    members.retain(|m| m.name != name);
    if members.len() == before {
        return Ok(false);
    }
    store(state_dir, &members)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, last: u8) -> JoinedMember {
        JoinedMember {
            name: name.to_owned(),
            address: IpAddr::from([10, 20, 0, last]),
            fingerprint: Fingerprint::of_der(name.as_bytes()),
            joined_at: 1_800_000_000,
            serial: None,
        }
    }

    #[test]
    fn a_join_is_recorded_a_rejoin_replaces_it_and_a_removal_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        record(dir.path(), member("node2", 12)).unwrap();
        record(dir.path(), member("node3", 13)).unwrap();
        record(dir.path(), member("node2", 22)).unwrap();
        let names: Vec<_> = load(dir.path())
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.address))
            .collect();
        assert_eq!(
            names,
            [
                ("node3".to_owned(), IpAddr::from([10, 20, 0, 13])),
                ("node2".to_owned(), IpAddr::from([10, 20, 0, 22]))
            ]
        );
        assert!(forget(dir.path(), "node3").unwrap());
        assert!(!forget(dir.path(), "node3").unwrap(), "forgotten once");
        assert_eq!(load(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_file_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cluster")).unwrap();
        for bad in [
            "{",
            "[{\"name\": \"node2\"}]",
            "{\"members\": []}",
            "[{\"name\": \"n\", \"address\": \"x\", \"fingerprint\": \"SHA256:00\", \"joined_at\": 1}]",
        ] {
            std::fs::write(dir.path().join(MEMBERS_FILE), bad).unwrap();
            let e = load(dir.path()).unwrap_err();
            assert!(e.to_string().contains("members.json"), "{bad}: {e}");
            assert!(record(dir.path(), member("node2", 12)).is_err(), "{bad}");
            assert!(forget(dir.path(), "node2").is_err(), "{bad}");
            assert_eq!(
                std::fs::read_to_string(dir.path().join(MEMBERS_FILE)).unwrap(),
                bad
            );
        }
    }
}
