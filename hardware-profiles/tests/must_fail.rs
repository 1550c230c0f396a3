//! Every file in `tests/must-fail/` is rejected, with an error that contains the text of its first line
//! (`# expect: ...`). `roles-*.toml` files stand in for `roles.toml`; `profile-*.toml` files are profiles
//! loaded against the shipped roles.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::Path;

use stackbox_hardware_profiles::Catalog;

#[test]
fn must_fail_fixtures_are_rejected_with_their_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/must-fail");
    let shipped_roles =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("roles.toml"))
            .expect("roles.toml");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 15,
        "expected the must-fail fixtures, found {}",
        entries.len()
    );
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name}: first line must be `# expect: ...`"));
        let result = if name.starts_with("roles-") {
            Catalog::from_sources(("roles.toml".into(), text.clone()), vec![])
        } else if name.starts_with("profile-") {
            Catalog::from_sources(
                ("roles.toml".into(), shipped_roles.clone()),
                vec![(name.clone(), text.clone())],
            )
        } else {
            panic!("{name}: fixture names start with roles- or profile-");
        };
        let err = match result {
            Ok(_) => panic!("{name}: was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expect),
            "{name}: error\n  {err}\ndoes not contain\n  {expect}"
        );
    }
}
