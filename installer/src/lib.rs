//! Cluster configuration, the plan of idempotent steps, roles, journal, executor and agent protocol.
//!
//! Not implemented yet: this crate is a placeholder in the workspace layout of DESIGN.md and exports nothing.
