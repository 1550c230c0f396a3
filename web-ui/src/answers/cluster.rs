//! The cluster step's answer: the single-node cluster the wizard creates, and the rule for its name.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The single-node cluster the wizard creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The cluster's name.
    pub name: String,
    /// Always `single-node` until joining lands.
    pub mode: String,
    /// The members' host names: this node only.
    pub members: Vec<String>,
}

/// Checks a cluster name: the rules of a host name label.
pub fn validate_cluster_name(name: &str) -> Result<(), FieldError> {
    if name.contains('.') {
        return Err(FieldError::new(
            "name",
            "a cluster name is a single label: no dots",
        ));
    }
    stackbox_network::check_hostname(name)
        .map_err(|e| FieldError::new("name", e.to_string().replace("host name", "cluster name")))
}
