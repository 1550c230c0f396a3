//! Every file in `tests/must-fail-diagnoses/` is refused as a troubleshooting catalog, with an error that
//! contains the text of its first line (`# expect: ...`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::Path;

use stackbox_cluster::diagnose::catalog::Catalog;

#[test]
fn must_fail_catalogs_are_refused_with_their_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/must-fail-diagnoses");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 20, "found {} fixtures", entries.len());
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name}: first line must be `# expect: ...`"));
        let err = match Catalog::parse(&name, &text) {
            Ok(_) => panic!("{name}: was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expect),
            "{name}: error\n  {err}\ndoes not contain\n  {expect}"
        );
        assert!(
            err.starts_with(&name),
            "{name}: the error names the file: {err}"
        );
    }
}

#[test]
fn the_shipped_catalog_is_accepted() {
    let c = Catalog::shipped().unwrap();
    assert!(c.symptoms.len() >= 10);
}
