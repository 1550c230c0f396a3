//! The only crate that knows there are other nodes. Today: joining a cluster. A member issues a short,
//! expiring, rate-limited join code ([`code`]); the code never crosses the wire, a key derived from it
//! authenticates the join both ways ([`proof`]); the member judges a request and signs the joiner's node
//! certificate with the cluster CA, the joiner checks the answer ([`join`]); how a node's MariaDB rejoins
//! Galera when it starts, after a restart or a power loss ([`galera`]); `stackboxd cluster` is its
//! command line ([`cli`]). The wizard owns the member's route and carries these types as JSON; the
//! joiner's side of the wire is here: one HTTPS request with the member's certificate pinned
//! ([`client`]) and the joining node's run, which stores its credentials whole or not at all ([`node`]).
//! Before it, the joiner checks the member pairwise (image version, clock, names, ports, MTU) from the
//! few facts the member tells a node that proved it holds the code, which it lets through its firewall
//! for them ([`precheck`], [`admit`]).

pub mod admit;
pub mod agent;
pub mod agent_client;
pub mod bundle;
pub mod cli;
pub mod cli_desk;
pub mod cli_install;
pub mod cli_overcommit;
pub mod client;
pub mod code;
pub mod coordinator;
pub mod desk;
pub mod diagnose;
pub mod galera;
pub mod galera_start;
pub mod hardware;
pub mod hypervisor;
pub mod join;
pub mod joining;
pub mod leave;
pub mod members;
pub mod node;
pub mod overcommit;
pub mod precheck;
pub mod proof;
pub mod recover;
pub mod remove;
pub mod revocation;
pub mod rotate;
pub mod status;

pub use code::{CodeStore, JoinCode};
pub use join::{JoinGrant, JoinRefusal, JoinRequest, Joiner, Member, image_version};
pub use proof::Fingerprint;
