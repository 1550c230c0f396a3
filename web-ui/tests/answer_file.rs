//! The answer file: the example is accepted, every must-fail example is refused with its field named, and
//! the wizard's export reads back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHasher, SaltString};
use stackbox_web::answers::file::{self, Machine};
use stackbox_web::error::FieldError;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/answers/must-fail")
}

fn phc(algorithm: argon2::Algorithm, m: u32, t: u32) -> String {
    let params = argon2::Params::new(m, t, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
        .hash_password(b"correct horse battery staple", &salt)
        .unwrap()
        .to_string()
}

/// A strong hash, made once (argon2 is slow on purpose).
fn strong() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| stackbox_web::auth::hash_password("a long and unusual phrase 7").unwrap())
}

/// The placeholders of the examples, filled.
fn filled(text: &str) -> String {
    text.replace("@STRONG@", strong())
        .replace("@WEAK@", &phc(argon2::Algorithm::Argon2id, 4096, 1))
        .replace("@ARGON2I@", &phc(argon2::Algorithm::Argon2i, 19456, 2))
        .replace(
            "@CODE@",
            &stackbox_cluster::code::JoinCode::generate()
                .unwrap()
                .expose(),
        )
        .replace("REPLACE: stackboxd answers hash-password", strong())
}

const ROLES: &[&str] = &[
    "management",
    "message-bus",
    "storage-metadata",
    "console-proxy",
    "compute",
];

fn judge_roles(chosen: &[String]) -> Vec<FieldError> {
    chosen
        .iter()
        .filter(|r| !ROLES.contains(&r.as_str()))
        .map(|r| FieldError::new("roles", format!("there is no role {r:?}")))
        .collect()
}

fn check(text: &str, live: bool) -> Result<(), Vec<file::AnswerError>> {
    let answers = file::parse(text)?;
    let disks = ["vda".to_owned(), "sdb".to_owned()];
    let nics = ["ens3".to_owned(), "ens4".to_owned()];
    file::validate(
        &answers,
        &Machine {
            live,
            disks: &disks,
            nics: &nics,
            judge_roles: &judge_roles,
        },
    )
}

#[test]
fn the_example_is_accepted_live_and_installed() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/answer-files/node1.toml"),
    )
    .unwrap();
    check(&filled(&text), true).unwrap();
    check(&filled(&text), false).unwrap();
    // Installed, the disk is not needed; live, it is.
    let no_disk = filled("[admin]\npassword_hash = \"@STRONG@\"\n");
    check(&no_disk, false).unwrap();
    assert!(check(&no_disk, true).is_err());
}

#[test]
fn every_must_fail_example_is_refused_with_its_field() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| {
                panic!(
                    "{}: the first line must be `# expect: FIELD: words`",
                    path.display()
                )
            });
        let errors = check(&filled(&text), true).expect_err(&path.display().to_string());
        let said: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            said.iter().any(|e| e.contains(expect)),
            "{}: expected {expect:?} among {said:#?}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} must-fail examples");
}

#[test]
fn the_export_reads_back_once_its_secret_is_filled() {
    let network =
        stackbox_web::network::NetworkForm::defaults(&["ens3".into(), "ens4".into()], "node1");
    let roles = ["management".to_owned(), "compute".to_owned()];
    let settings = stackbox_web::answers::roles::SettingsForm::defaults();
    let text = file::export(Some(&network), Some("lab"), Some(&roles), Some(&settings));
    assert!(text.contains("password_hash = \"\""), "{text}");
    // As exported, the missing secret is refused; filled in, the file is accepted.
    let errors = check(&text, true).unwrap_err();
    assert!(
        errors.iter().any(|e| e.field == "admin.password_hash"),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.field == "disk.target"),
        "{errors:?}"
    );
    let text = text
        .replace(
            "password_hash = \"\"",
            &format!("password_hash = {:?}", strong()),
        )
        .replace("target = \"\"", "target = \"/dev/vda\"");
    check(&text, true).unwrap();
    let answers = file::parse(&text).unwrap();
    assert_eq!(answers.network.unwrap(), network);
    assert_eq!(answers.roles.unwrap(), roles);
}
