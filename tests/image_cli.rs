//! The `stackbox` binary's argument handling and `verify`, without building an image.

use std::process::Command;

fn stackbox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stackbox"))
        .args(args)
        .output()
        .expect("running stackbox")
}

#[test]
fn unknown_format_is_refused_before_anything_runs() {
    let out = stackbox(&["build", "--formats", "iso,vhd", "--out", "/nonexistent/out"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--formats: unknown format `vhd`"), "{err}");
}

#[test]
fn verify_fails_on_a_missing_artifact_and_passes_on_a_whole_build() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rootfs.tar"), b"tar").unwrap();
    let manifest = stackbox_image::manifest::Manifest {
        manifest_version: 1,
        spec_sha256: String::new(),
        source_date_epoch: 1_735_689_600,
        suite: "bookworm".into(),
        archive_state: Default::default(),
        root_uuid: String::new(),
        kernel: String::new(),
        artifacts: stackbox_image::manifest::artifacts(dir.path()).unwrap(),
        root_packages: vec![],
        pool_packages: vec![],
    };
    stackbox_image::manifest::write(dir.path(), &manifest).unwrap();
    let path = dir.path().to_str().unwrap();
    let ok = stackbox(&["verify", path]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::remove_file(dir.path().join("rootfs.tar")).unwrap();
    let bad = stackbox(&["verify", path]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rootfs.tar: missing"));
}

/// A manifest listing `artifacts`, with placeholder build facts.
fn manifest_of(
    artifacts: Vec<stackbox_image::manifest::Artifact>,
) -> stackbox_image::manifest::Manifest {
    stackbox_image::manifest::Manifest {
        manifest_version: 1,
        spec_sha256: String::new(),
        source_date_epoch: 1_735_689_600,
        suite: "bookworm".into(),
        archive_state: Default::default(),
        root_uuid: String::new(),
        kernel: String::new(),
        artifacts,
        root_packages: vec![],
        pool_packages: vec![],
    }
}

/// A directory with one artifact, its manifest and its sums, as a build leaves it.
fn whole_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("rootfs.tar"), b"tar").expect("writing rootfs.tar");
    let artifacts = stackbox_image::manifest::artifacts(dir.path()).expect("hashing artifacts");
    stackbox_image::manifest::write(dir.path(), &manifest_of(artifacts))
        .expect("writing the manifest");
    dir
}

#[test]
fn verify_fails_when_the_manifest_line_is_deleted_from_the_sums() {
    let dir = whole_build();
    let sums = dir.path().join("SHA256SUMS");
    let text = std::fs::read_to_string(&sums).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.ends_with("manifest.json"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&sums, kept).unwrap();
    let out = stackbox(&["verify", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("manifest.json: not in SHA256SUMS"), "{err}");
}

#[test]
fn verify_fails_on_an_empty_build() {
    let dir = whole_build();
    std::fs::remove_file(dir.path().join("rootfs.tar")).unwrap();
    stackbox_image::manifest::write(dir.path(), &manifest_of(vec![])).unwrap();
    let out = stackbox(&["verify", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("manifest.json: lists no artifacts"), "{err}");
}
