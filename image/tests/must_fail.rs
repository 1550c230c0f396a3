//! Every file in `tests/must-fail/` is a spec that `Spec::parse` rejects, with an error that contains the text
//! of its first line (`# expect: ...`).

use std::path::Path;

use stackbox_image::spec::Spec;

#[test]
fn must_fail_specs_are_rejected_with_their_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/must-fail");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 12,
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
        let err = match Spec::parse(&name, &text) {
            Ok(_) => panic!("{name}: was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expect),
            "{name}: error\n  {err}\ndoes not contain\n  {expect}"
        );
    }
}
