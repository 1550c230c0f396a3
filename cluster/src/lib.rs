//! The only crate that knows there are other nodes. Today: joining a cluster. A member issues a short,
//! expiring, rate-limited join code ([`code`]); the code never crosses the wire, a key derived from it
//! authenticates the join both ways ([`proof`]); the member judges a request and signs the joiner's node
//! certificate with the cluster CA, the joiner checks the answer ([`join`]); how a node's MariaDB rejoins
//! Galera when it starts, after a restart or a power loss ([`galera`]); `stackboxd cluster` is its
//! command line ([`cli`]). No HTTP here: the wizard owns the routes and carries these types as JSON.

pub mod cli;
pub mod code;
pub mod galera;
pub mod join;
pub mod proof;

pub use code::{CodeStore, JoinCode};
pub use join::{JoinGrant, JoinRefusal, JoinRequest, Joiner, Member};
pub use proof::Fingerprint;
