//! Property tests of the parsers of operator- and network-supplied text: the appliance spec (`Spec::parse`,
//! `parse_formats`), `manifest.json`, `SHA256SUMS` and `stackbox verify` over a directory whose manifest and
//! sums were tampered with. Arbitrary strings and mutations of valid inputs must give `Ok` or an error, never
//! a panic; each case runs under a timeout (proptest's `fork` + `timeout`), so a hang fails too.
//!
//! Case counts are kept small so the whole file runs in a few seconds in a debug build (it runs in CI as part
//! of `cargo test`); `PROPTEST_CASES=N` runs more locally.

use proptest::prelude::*;
use stackbox_common::test_utils::mutation::{config, edits, mutate};
use stackbox_image::manifest::{self, Artifact, MANIFEST, Manifest, SUMS};
use stackbox_image::spec::{DEFAULT_SPEC, Spec, parse_formats};

/// A manifest listing `artifacts`, as a build writes it.
fn manifest_of(artifacts: Vec<Artifact>) -> Manifest {
    Manifest {
        manifest_version: 1,
        spec_sha256: "0".repeat(64),
        source_date_epoch: 1_735_689_600,
        suite: "bookworm".into(),
        archive_state: [(
            "http://deb.debian.org/debian bookworm".into(),
            "1".repeat(64),
        )]
        .into(),
        root_uuid: "8c1b3f5e-0000-4000-8000-000000000000".into(),
        kernel: "6.1.0-99-amd64".into(),
        artifacts,
        root_packages: vec![manifest::Package {
            name: "systemd".into(),
            version: "252.38-1~deb12u1".into(),
            arch: "amd64".into(),
            sha256: "2".repeat(64),
        }],
        pool_packages: vec![],
    }
}

/// The manifest and sums of a small build, as text.
fn valid_build_texts() -> (String, String) {
    let arts = vec![
        Artifact {
            path: "rootfs.tar".into(),
            size: 3,
            sha256: "a".repeat(64),
        },
        Artifact {
            path: "pxe/vmlinuz".into(),
            size: 1,
            sha256: "b".repeat(64),
        },
    ];
    let json =
        serde_json::to_string_pretty(&manifest_of(arts.clone())).expect("serialising a manifest");
    let sums = manifest::render_sums(&arts, &"c".repeat(64));
    (json, sums)
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn spec_parse_takes_any_text(text in ".{0,300}") {
        let _ = Spec::parse("prop.toml", &text);
    }

    #[test]
    fn spec_parse_takes_any_mutation_of_the_default(edits in edits()) {
        let _ = Spec::parse("prop.toml", &mutate(DEFAULT_SPEC, &edits));
    }

    #[test]
    fn parse_formats_takes_any_text(text in ".{0,60}|[a-z0-9, ]{0,30}") {
        let _ = parse_formats(&text);
    }

    #[test]
    fn sums_parse_takes_any_text(text in ".{0,300}|([0-9a-fA-F]{60,66}  ?[^\n]{0,20}\n){0,4}") {
        let _ = manifest::parse_sums(&text);
    }

    #[test]
    fn manifest_and_sums_parse_take_any_mutation(edits in edits(), json_too in any::<bool>()) {
        let (json, sums) = valid_build_texts();
        let _ = manifest::parse_sums(&mutate(&sums, &edits));
        if json_too {
            let _ = serde_json::from_str::<Manifest>(&mutate(&json, &edits));
        }
    }

    #[test]
    fn manifest_parse_takes_any_text(text in ".{0,200}") {
        let _ = serde_json::from_str::<Manifest>(&text);
    }

    #[test]
    fn dpkg_status_takes_any_text(text in ".{0,300}|((Package|Status|Version|Architecture): [^\n]{0,12}\n{1,2}){0,6}") {
        let _ = manifest::parse_dpkg_status(&text);
    }

    #[test]
    fn sums_round_trip(paths in prop::collection::vec("[a-zA-Z0-9._-]{1,12}(/[a-zA-Z0-9._-]{1,12}){0,2}", 0..5),
                       hash in "[0-9a-f]{64}") {
        let arts: Vec<Artifact> = paths
            .iter()
            .map(|p| Artifact { path: p.clone(), size: 0, sha256: hash.clone() })
            .collect();
        let parsed = manifest::parse_sums(&manifest::render_sums(&arts, &hash)).unwrap();
        let mut expected: Vec<(String, String)> =
            paths.iter().map(|p| (hash.clone(), p.clone())).collect();
        expected.push((hash.clone(), MANIFEST.to_owned()));
        prop_assert_eq!(parsed, expected);
    }
}

proptest! {
    // Each case writes a small build to a temporary directory.
    #![proptest_config(config(32))]

    #[test]
    fn verify_takes_any_tampered_manifest_or_sums(edits in edits(), which in 0u8..3) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pxe")).unwrap();
        std::fs::write(dir.path().join("rootfs.tar"), b"tar").unwrap();
        std::fs::write(dir.path().join("pxe/vmlinuz"), b"k").unwrap();
        let arts = manifest::artifacts(dir.path()).unwrap();
        manifest::write(dir.path(), &manifest_of(arts)).unwrap();
        prop_assert!(manifest::verify(dir.path()).unwrap().problems.is_empty());
        for (bit, name) in [(1, MANIFEST), (2, SUMS)] {
            if which == 0 || which == bit {
                let path = dir.path().join(name);
                let text = std::fs::read_to_string(&path).unwrap();
                let mutated = mutate(&text, &edits);
                std::fs::write(&path, &mutated).unwrap();
            }
        }
        let _ = manifest::verify(dir.path());
    }
}
