//! The installer: the cluster configuration, its validation, the plan of idempotent steps that installs
//! an OpenStack cloud, and the journal and executor that carry the plan out on a node.
//!
//! Nothing here knows about HTTP: the wizard drives it through these types.

pub mod config;
pub mod validate;

pub use config::ClusterConfig;
pub mod plan;
pub mod render;
pub mod secrets;
