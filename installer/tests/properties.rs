//! Property tests of the cluster configuration's parser, its validation and the planner: arbitrary text and
//! mutations of the shipped examples must give `Ok` or an error, never a panic or a hang (each case runs in a
//! forked runner under a timeout). Whatever parses and validates must also plan.
//!
//! Case counts are small so that this runs in seconds in CI; `PROPTEST_CASES=N` runs more locally.

#![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

use proptest::prelude::*;
use stackbox_common::test_utils::mutation::{config, edits, mutate};
use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::plan::NodeFacts;

const ALLINONE: &str = include_str!("../../examples/allinone.toml");
const THREE_NODE: &str = include_str!("../../examples/three-node.toml");

/// Parses, validates and, when valid, plans `text`; only a panic or a hang can fail this.
fn take(text: &str) {
    let Ok(config) = ClusterConfig::from_toml("mutated.toml", text) else {
        return;
    };
    let catalog = Catalog::embedded().unwrap();
    let validation = config.validate(&catalog);
    for issue in validation.errors.iter().chain(&validation.warnings) {
        // Echoed values are cut (issue 10, item 14): no message grows with the input.
        assert!(issue.to_string().len() < 1_000, "{issue}");
    }
    if validation.is_ok() {
        let facts = NodeFacts::default();
        let facts = config
            .nodes
            .iter()
            .map(|n| (n.name.clone(), facts))
            .collect();
        let plan = stackbox_installer::build_plan(&config, &catalog, &facts);
        assert!(plan.is_ok(), "a valid configuration must plan: {plan:?}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn any_text_is_refused_or_taken(text in ".{0,200}") {
        take(&text);
    }

    #[test]
    fn any_mutation_of_the_all_in_one_example_is_refused_or_planned(edits in edits()) {
        take(&mutate(ALLINONE, &edits));
    }

    #[test]
    fn any_mutation_of_the_three_node_example_is_refused_or_planned(edits in edits()) {
        take(&mutate(THREE_NODE, &edits));
    }
}
