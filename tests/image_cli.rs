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
