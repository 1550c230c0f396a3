//! Property tests of the hardware profiles' parsers: arbitrary text and mutations of the shipped
//! `roles.toml` and profiles must load or be refused with an error, never panic or hang (each case runs in a
//! forked runner under a timeout).
//!
//! Case counts are small so that this runs in seconds in CI; `PROPTEST_CASES=N` runs more locally.

use proptest::prelude::*;
use stackbox_common::test_utils::mutation::{config, edits, mutate};
use stackbox_hardware_profiles::Catalog;

const ROLES: &str = include_str!("../roles.toml");
const BAREMETAL: &str = include_str!("../profiles/baremetal.toml");
const LAB: &str = include_str!("../profiles/lab.toml");

/// Loads a catalog from these texts; only a panic or a hang can fail this.
fn take(roles: &str, profile: &str) {
    let loaded = Catalog::from_sources(
        ("roles.toml".to_owned(), roles.to_owned()),
        vec![
            ("profiles/baremetal.toml".to_owned(), profile.to_owned()),
            ("profiles/lab.toml".to_owned(), LAB.to_owned()),
        ],
    );
    if let Err(e) = loaded {
        // Echoed values are cut (issue 10, item 14): no message grows with the input.
        assert!(e.to_string().len() < 1_000, "{e}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn any_text_as_roles_or_profile_is_refused_or_loaded(text in ".{0,200}", as_roles in any::<bool>()) {
        if as_roles { take(&text, BAREMETAL) } else { take(ROLES, &text) }
    }

    #[test]
    fn any_mutation_of_the_roles_is_refused_or_loaded(edits in edits()) {
        take(&mutate(ROLES, &edits), BAREMETAL);
    }

    #[test]
    fn any_mutation_of_a_profile_is_refused_or_loaded(edits in edits()) {
        take(ROLES, &mutate(BAREMETAL, &edits));
    }
}
