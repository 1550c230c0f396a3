//! A checked join, the one sequence the command line and the wizard share: this node has not joined
//! yet, the member passes the pairwise pre-join checks ([`crate::precheck`]), then the join itself
//! ([`crate::node::join`]). A refusal at any point has written nothing.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::admit::Admission;
use crate::code::JoinCode;
use crate::node::{self, JoinError, JoiningNode, Target};
use crate::precheck::{self, CheckId, Finding, Named, PrecheckError};

/// Why a checked join did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CheckedJoinError {
    /// This node has joined already, or its own certificate is missing.
    #[error(transparent)]
    NotReady(JoinError),
    /// The member's facts could not be fetched (wrong fingerprint, no answer).
    #[error(transparent)]
    Fetch(#[from] PrecheckError),
    /// The pre-join checks failed: the text names the member and every failure; `skipped` the checks
    /// not run, with why.
    #[error("{text}")]
    Checks {
        /// The refusal for the operator.
        text: String,
        /// Checks not run.
        skipped: Vec<Finding>,
    },
    /// The member refused, or the join failed.
    #[error(transparent)]
    Join(JoinError),
}

/// A node that joined: where its credentials are, and the checks that were skipped, with why.
#[derive(Debug)]
pub struct Joined {
    /// `STATE/cluster/node/`.
    pub dir: PathBuf,
    /// Checks not run, with why (said to the operator).
    pub skipped: Vec<Finding>,
}

/// Checks the member pairwise, then joins it with `code` at `now`.
pub fn join_checked(
    node: &JoiningNode,
    target: &Target,
    code: &JoinCode,
    skip: &[CheckId],
    now: SystemTime,
) -> Result<Joined, CheckedJoinError> {
    node::not_joined(node).map_err(CheckedJoinError::NotReady)?;
    let admission = |local| {
        Admission::new(
            node.address.unwrap_or(local),
            code,
            &target.fingerprint,
            now,
        )
    };
    let (fetched, outcome) =
        precheck::run(target.addr, target.fingerprint, &node.name, skip, admission)?;
    if !outcome.passed() {
        let member = Named {
            node: &fetched.facts.node,
            addr: target.addr.ip(),
        };
        return Err(CheckedJoinError::Checks {
            text: precheck::render_refusal(member, &outcome)
                .trim_end()
                .to_owned(),
            skipped: outcome.skipped,
        });
    }
    let dir = node::join(node, target, code, now).map_err(CheckedJoinError::Join)?;
    Ok(Joined {
        dir,
        skipped: outcome.skipped,
    })
}
