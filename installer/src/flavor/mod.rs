//! The flavors: the cloud software a cluster installs, each a folder of steps over the generic plan
//! (`crate::plan`), one file per service. [`openstack`] is the one installable today; CloudStack will be
//! a sibling folder. [`build_plan`] picks the flavor the configuration names and builds its plan.
//!
//! Imports run flavor -> plan, never back.

pub mod openstack;

use std::collections::BTreeMap;

use crate::config::{ClusterConfig, Flavor};
use crate::plan::{NodeFacts, Plan, PlanError, Planner, Step};

/// A flavor that cannot be installed yet: validation refuses its configurations before it would be
/// asked for steps, so it has none.
struct NotInstallable;

impl Planner for NotInstallable {
    fn steps(
        &self,
        _config: &ClusterConfig,
        _catalog: &stackbox_hardware_profiles::Catalog,
        _facts: &BTreeMap<String, NodeFacts>,
    ) -> Vec<Step> {
        Vec::new()
    }
}

/// The planner of a flavor.
pub fn planner(flavor: Flavor) -> &'static dyn Planner {
    match flavor {
        Flavor::Openstack => &openstack::OpenStack,
        Flavor::Cloudstack => &NotInstallable,
    }
}

/// Builds the plan of a valid configuration with the flavor it names; `facts` per node name (missing
/// nodes: no KVM, not a container).
pub fn build_plan(
    config: &ClusterConfig,
    catalog: &stackbox_hardware_profiles::Catalog,
    facts: &BTreeMap<String, NodeFacts>,
) -> Result<Plan, PlanError> {
    Plan::build(config, catalog, facts, planner(config.flavor))
}
