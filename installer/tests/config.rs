//! The shipped examples are valid; every file in `tests/must-fail/` is rejected (by the parser or by
//! validation) with an error containing the text of its first line (`# expect: ...`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::Path;

use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;

fn load(path: &Path) -> Result<ClusterConfig, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    load_text(&name, &text)
}

fn load_text(name: &str, text: &str) -> Result<ClusterConfig, String> {
    let config = ClusterConfig::from_toml(name, text).map_err(|e| e.to_string())?;
    let v = config.validate(&Catalog::embedded().unwrap());
    if v.is_ok() {
        Ok(config)
    } else {
        Err(v
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

#[test]
fn examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let allinone = load(&dir.join("allinone.toml")).unwrap();
    assert_eq!(allinone.nodes.len(), 1);
    assert_eq!(allinone.nodes[0].roles.len(), 5);
    let three = load(&dir.join("three-node.toml")).unwrap();
    assert_eq!(three.nodes.len(), 3);
    assert_eq!(three.nodes_with("storage-metadata").count(), 3);
    let v = three.validate(&Catalog::embedded().unwrap());
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn must_fail_configs_are_rejected_with_their_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/must-fail");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 20, "{}", entries.len());
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("`# expect: ...` first line");
        match load(&path) {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(e) => assert!(
                e.contains(expect),
                "{}:\n  {e}\ndoes not contain\n  {expect}",
                path.display()
            ),
        }
    }
}

#[test]
fn two_storage_nodes_warn_about_quorum() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut config = load(&dir.join("three-node.toml")).unwrap();
    config.nodes[2].roles.retain(|r| r != "storage-metadata");
    let v = config.validate(&Catalog::embedded().unwrap());
    assert!(v.is_ok());
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    assert!(v.warnings[0].message.contains("Galera has no quorum"));
}

#[test]
fn json_and_toml_are_one_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let config = load(&dir.join("three-node.toml")).unwrap();
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(ClusterConfig::from_json(&json).unwrap(), config);
    let back = ClusterConfig::from_toml("roundtrip.toml", &config.to_toml()).unwrap();
    assert_eq!(back, config);
    let err = ClusterConfig::from_json(r#"{"name": "x", "networks": {"management_cidr": "10.0.0.0/8", "data_nic": 5}, "nodes": []}"#)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("networks.data_nic: invalid type"), "{err}");
}

#[test]
fn a_huge_bad_value_is_echoed_cut() {
    // Issue 10, item 14: a 10 MB mistake must not become a 10 MB error message.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let text = std::fs::read_to_string(dir.join("allinone.toml")).unwrap();
    let huge = "x".repeat(10_000_000);
    let bad_node = text.replacen("name = \"", &format!("name = \"{huge}"), 1);
    let err = load_text("allinone.toml", &bad_node).unwrap_err();
    assert!(err.len() < 2_000, "{} bytes", err.len());
    let bad_type = text.replacen(
        "first = 1000",
        &format!("first = \"{}\"", "9".repeat(10_000_000)),
        1,
    );
    assert_ne!(bad_type, text);
    let err = load_text("allinone.toml", &bad_type).unwrap_err();
    assert!(err.len() < 2_000, "{} bytes", err.len());
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_line_and_key() {
    // Issue 10, item 14: the error names the field, not only "stream did not contain valid UTF-8".
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let mut bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/allinone.toml"))
            .unwrap();
    let at = bytes.windows(9).position(|w| w == b"RegionOne").unwrap();
    bytes[at] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = stackbox_installer::load_config(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains(":5: region: is not valid UTF-8 text"), "{err}");
}
