//! Galera's saved primary component (`gvwstate.dat`), as this node and the other members' agents
//! report it (`GET /agent/v1/galera`).
//!
//! Galera restores a saved component only when the nodes it sees are exactly the component's members
//! and all agree it was their last. A node that crashed while the others went on keeps an older saved
//! component that still names everyone; if it comes back beside them after a full power loss, nobody
//! agrees and the cluster stays non-primary for good. So before a node with a saved component starts,
//! it compares its component with the others': one that is newer and leaves it out means this node is
//! stale, and it waits until the others are primary and joins them.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The agent's route for a node's Galera state.
pub const GALERA_PATH: &str = "/agent/v1/galera";

/// A saved primary component: this node's Galera id and the component's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedView {
    /// This node's Galera id (`my_uuid`).
    pub my_uuid: String,
    /// The component's view number: a later component has a higher one.
    pub seq: u64,
    /// The members' Galera ids.
    pub members: Vec<String>,
}

/// What a member's agent says of its Galera.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerGalera {
    /// Its saved primary component, if it has one.
    pub saved: Option<SavedView>,
    /// Its MariaDB runs in a primary component now.
    pub primary: bool,
}

/// A `gvwstate.dat` that cannot be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gvwstate.dat: {0}")]
pub struct GvwStateError(String);

/// Parses `gvwstate.dat`: `my_uuid: ID`, then between `#vwbeg` and `#vwend` the view
/// (`view_id: TYPE ID SEQ`) and a `member: ID SEGMENT` line per member.
pub fn parse_gvwstate(text: &str) -> Result<SavedView, GvwStateError> {
    let fail = |why: String| Err(GvwStateError(why));
    let (mut my_uuid, mut seq, mut members) = (None, None, Vec::new());
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once(':') else {
            continue; // #vwbeg, #vwend, blank lines
        };
        let words: Vec<&str> = value.split_whitespace().collect();
        match (key.trim(), words.as_slice()) {
            ("my_uuid", [id]) if is_uuid(id) => my_uuid = Some((*id).to_owned()),
            ("view_id", [_, id, n]) if is_uuid(id) => match n.parse::<u64>() {
                Ok(n) => seq = Some(n),
                Err(_) => return fail(format!("view number `{n}` is not a number")),
            },
            ("member", [id, ..]) if is_uuid(id) => members.push((*id).to_owned()),
            ("my_uuid" | "view_id" | "member", _) => return fail(format!("`{line}` is malformed")),
            _ => {}
        }
    }
    let Some(my_uuid) = my_uuid else {
        return fail("no my_uuid".into());
    };
    let Some(seq) = seq else {
        return fail("no view_id".into());
    };
    if members.is_empty() {
        return fail("no members".into());
    }
    Ok(SavedView {
        my_uuid,
        seq,
        members,
    })
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Whether two Galera ids name the same node: Galera bumps an id's fourth group (its incarnation) each
/// time the node restores its component, so that group is not compared.
pub fn same_node(a: &str, b: &str) -> bool {
    let groups = |s: &str| -> Vec<String> {
        s.split('-')
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, g)| g.to_ascii_lowercase())
            .collect()
    };
    groups(a) == groups(b)
}

impl SavedView {
    /// Whether the component has the node with Galera id `uuid`.
    pub fn includes(&self, uuid: &str) -> bool {
        self.members.iter().any(|m| same_node(m, uuid))
    }
}

/// What the others say of this node's saved component `mine` (`peers`: the answers of the other
/// members' agents). `Err` says why this node must wait; `Ok` that its component may be restored.
pub fn judge(mine: &SavedView, peers: &[(String, PeerGalera)]) -> Result<(), String> {
    for (peer, said) in peers {
        if let Some(theirs) = &said.saved
            && theirs.seq > mine.seq
            && !theirs.includes(&mine.my_uuid)
        {
            return Err(format!(
                "this node's last primary component (view {}) is older than {peer}'s (view {}), which \
                 does not include it: it waits until the others are primary again, then joins them",
                mine.seq, theirs.seq
            ));
        }
    }
    let missing = mine
        .members
        .iter()
        .filter(|m| !same_node(m, &mine.my_uuid))
        .filter(|m| {
            !peers
                .iter()
                .any(|(_, p)| p.saved.as_ref().is_some_and(|s| same_node(&s.my_uuid, m)))
        })
        .count();
    if missing > 0 {
        return Err(format!(
            "{missing} member(s) of the last primary component (view {}) have not told their state \
             yet: Galera restores it only with all of them",
            mine.seq
        ));
    }
    Ok(())
}

/// This node's Galera as its agent reports it: the saved component in `datadir` (none when unreadable)
/// and whether MariaDB runs in a primary component (as `cluster status` reads it).
pub fn local(datadir: &Path) -> PeerGalera {
    let saved = std::fs::read_to_string(datadir.join("gvwstate.dat"))
        .ok()
        .and_then(|t| parse_gvwstate(&t).ok());
    let primary = crate::status::local_galera().is_ok_and(|g| g.status == "Primary");
    PeerGalera { saved, primary }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

    use super::*;

    // node2's file after node 1 was lost: the component of node2 and node3 (view 10).
    const NODE2: &str = "my_uuid: 1bfba9c3-ec2b-11f1-938b-575421989fdd\n#vwbeg\nview_id: 3 1bfba9c3-ec2b-11f1-938a-575421989fdd 10\nbootstrap: 0\nmember: 1bfba9c3-ec2b-11f1-938a-575421989fdd 0\nmember: 2501eff1-ec2b-11f1-8ac5-ba150fbf7728 0\n#vwend\n";
    // node1's, saved before it was lost: all three (view 7).
    const NODE1: &str = "my_uuid: cc900def-ec2a-11f1-abfd-4e041784abd6\n#vwbeg\nview_id: 3 cc900def-ec2a-11f1-abfd-4e041784abd6 7\nbootstrap: 0\nmember: 1bfba9c3-ec2b-11f1-938a-575421989fdd 0\nmember: 2501eff1-ec2b-11f1-8ac5-ba150fbf7728 0\nmember: cc900def-ec2a-11f1-abfd-4e041784abd6 0\n#vwend\n";
    const NODE3: &str = "my_uuid: 2501eff1-ec2b-11f1-8ac6-ba150fbf7728\n#vwbeg\nview_id: 3 1bfba9c3-ec2b-11f1-938a-575421989fdd 10\nbootstrap: 0\nmember: 1bfba9c3-ec2b-11f1-938a-575421989fdd 0\nmember: 2501eff1-ec2b-11f1-8ac5-ba150fbf7728 0\n#vwend\n";

    fn peer(text: &str) -> PeerGalera {
        PeerGalera {
            saved: Some(parse_gvwstate(text).unwrap()),
            primary: false,
        }
    }

    #[test]
    fn gvwstate_as_galera_writes_it() {
        let v = parse_gvwstate(NODE2).unwrap();
        assert_eq!(v.seq, 10);
        assert_eq!(v.members.len(), 2);
        assert!(v.includes(&v.my_uuid), "the incarnation is not compared");
        assert!(!v.includes("cc900def-ec2a-11f1-abfd-4e041784abd6"));
    }

    #[test]
    fn gvwstate_must_fail() {
        for bad in [
            "",
            "my_uuid: 1bfba9c3-ec2b-11f1-938b-575421989fdd\n",
            "my_uuid: nope\nview_id: 3 1bfba9c3-ec2b-11f1-938a-575421989fdd 10\nmember: 1bfba9c3-ec2b-11f1-938a-575421989fdd 0\n",
            "my_uuid: 1bfba9c3-ec2b-11f1-938b-575421989fdd\nview_id: 3 1bfba9c3-ec2b-11f1-938a-575421989fdd ten\nmember: 1bfba9c3-ec2b-11f1-938a-575421989fdd 0\n",
            "my_uuid: 1bfba9c3-ec2b-11f1-938b-575421989fdd\nview_id: 3 1bfba9c3-ec2b-11f1-938a-575421989fdd 10\n",
        ] {
            assert!(parse_gvwstate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_node_left_out_of_a_later_component_is_stale_and_waits() {
        let mine = parse_gvwstate(NODE1).unwrap();
        let why = judge(&mine, &[("10.0.0.12".into(), peer(NODE2))]).unwrap_err();
        assert!(why.contains("older than 10.0.0.12's (view 10)"), "{why}");
    }

    #[test]
    fn the_last_component_is_restored_once_all_its_members_told_theirs() {
        let mine = parse_gvwstate(NODE2).unwrap();
        // node1 (stale, view 7) answering changes nothing; node3 has not answered yet.
        let why = judge(&mine, &[("10.0.0.11".into(), peer(NODE1))]).unwrap_err();
        assert!(why.contains("1 member(s)"), "{why}");
        assert!(
            judge(
                &mine,
                &[
                    ("10.0.0.11".into(), peer(NODE1)),
                    ("10.0.0.13".into(), peer(NODE3))
                ]
            )
            .is_ok()
        );
        // A member without a saved component (it left cleanly) is not one that told its state.
        assert!(judge(&mine, &[("10.0.0.13".into(), PeerGalera::default())]).is_err());
    }
}
