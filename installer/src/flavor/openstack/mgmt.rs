//! What a management node's OpenStack services wait for: on the leader its own database, bootstrap and
//! catalog steps, on the other management nodes the leader's catalog.

use crate::plan::infrastructure::Leaders;

/// Where a management node's service steps wait: the leader waits for its own database, bootstrap and
/// catalog steps; the other management nodes wait for the leader's catalog, which comes after them all.
pub struct Mgmt {
    /// Whether this node is the management leader.
    pub is_leader: bool,
    /// The management leader's name.
    pub leader: String,
    /// The step after which the services' databases exist.
    pub dbs: String,
    /// The step after which keystone's admin and identity endpoints exist.
    pub keystone: String,
    /// The step after which every service is in keystone's catalog.
    pub endpoints: String,
    /// The step that created the message-bus user (a full id).
    pub bus_user: String,
}

impl Mgmt {
    /// The waits of management node `node`.
    pub fn new(node: &str, leaders: &Leaders) -> Mgmt {
        let is_leader = node == leaders.mgmt;
        let on_leader = |own: &str| {
            if is_leader {
                own.to_owned()
            } else {
                format!("{}/keystone.endpoints", leaders.mgmt)
            }
        };
        Mgmt {
            is_leader,
            leader: leaders.mgmt.clone(),
            dbs: on_leader("databases"),
            keystone: on_leader("keystone.bootstrap"),
            endpoints: on_leader("keystone.endpoints"),
            bus_user: format!("{}/rabbitmq.user", leaders.bus),
        }
    }
}
