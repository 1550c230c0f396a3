//! Helpers shared by this workspace's tests: golden-file comparison and, in [`mutation`], mutations of
//! valid texts for property tests.

pub mod mutation;

use std::path::Path;

/// Compares `actual` with the golden file at `path`; with `UPDATE_GOLDEN=1` in the environment it rewrites
/// the file instead, for a reviewer to inspect in the diff.
///
/// # Panics
/// When the file is missing or differs: this is a test assertion.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("creating the golden directory");
        }
        std::fs::write(path, actual).expect("writing the golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendered output (UPDATE_GOLDEN=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
