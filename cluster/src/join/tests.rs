//! Unit tests of the join: the happy path with a real cluster CA, and every refusal on either side.

#![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

use super::*;
use crate::code::CodeStatus;

const VERSION: &str = "0.1.0";

/// A member with a real cluster CA in a temporary state directory, and an open code.
struct Fixture {
    _dir: tempfile::TempDir,
    member: Member,
    member_fp: Fingerprint,
    store: CodeStore,
    code: JoinCode,
    now: SystemTime,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (ca, issuer) = pki::new_ca("stackbox cluster CA").unwrap();
    let ca_cert = dir.path().join("ca.pem");
    let ca_key = dir.path().join("ca-key.pem");
    std::fs::write(&ca_cert, ca.pem()).unwrap();
    std::fs::write(&ca_key, issuer.key().serialize_pem()).unwrap();
    let store = CodeStore::new(dir.path());
    let now = SystemTime::now();
    let code = store
        .issue(now, crate::code::DEFAULT_VALIDITY)
        .unwrap()
        .code;
    let member_fp = Fingerprint::of_der(b"member's wizard certificate");
    let member = Member::load(store.clone(), member_fp, VERSION, &ca_cert, &ca_key).unwrap();
    Fixture {
        _dir: dir,
        member,
        member_fp,
        store,
        code,
        now,
    }
}

fn joiner() -> Joiner {
    Joiner {
        node: "node-2".to_owned(),
        address: "10.0.0.2".parse().unwrap(),
        fingerprint: Fingerprint::of_der(b"joiner's wizard certificate"),
        image_version: VERSION.to_owned(),
    }
}

fn tries_left(f: &Fixture) -> u32 {
    match f.store.status(f.now).unwrap() {
        CodeStatus::Open { tries_left, .. } => tries_left,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_join_is_granted_once_with_a_node_certificate_from_the_ca() {
    let f = fixture();
    let joiner = joiner();
    let (request, pending) = joiner.request(&f.code, &f.member_fp, f.now).unwrap();
    // The request travels as JSON and holds neither the code nor the private key.
    let json = serde_json::to_string(&request).unwrap();
    let canonical = f.code.expose().replace('-', "");
    assert!(!json.contains(&canonical) && !json.contains(&f.code.expose()));
    assert!(!json.contains("PRIVATE KEY"));
    let request: JoinRequest = serde_json::from_str(&json).unwrap();

    let grant = f.member.accept(&request, f.now).unwrap();
    let grant: JoinGrant = serde_json::from_str(&serde_json::to_string(&grant).unwrap()).unwrap();
    assert_eq!(f.store.status(f.now).unwrap(), CodeStatus::None, "spent");

    let creds = joiner.verify_grant(pending, &grant, f.now).unwrap();
    assert!(creds.key.expose().contains("PRIVATE KEY"));
    let (_, pem) = x509_parser::pem::parse_x509_pem(creds.certificate.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let v = cert.validity();
    let days = (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400;
    assert_eq!(days, pki::LEAF_DAYS);
    assert!(!cert.is_ca());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(certificate_names(&cert), ["node-2", "10.0.0.2"]);
    assert_eq!(cert.issuer().to_string(), "CN=stackbox cluster CA");

    // The same request again (a replay) finds the code spent.
    let again = f.member.accept(&request, f.now).unwrap_err();
    assert_eq!(again.reason(), "no-code", "{again}");
}

#[test]
fn a_wrong_code_counts_a_try_and_five_lock_out_the_right_one() {
    let f = fixture();
    let wrong = JoinCode::parse("2222-3333-4444").unwrap();
    for left in (0..MAX_TRIES).rev() {
        let (request, _) = joiner().request(&wrong, &f.member_fp, f.now).unwrap();
        match f.member.accept(&request, f.now) {
            Err(JoinRefusal::WrongCode { tries_left }) => assert_eq!(tries_left, left),
            other => panic!("{other:?}"),
        }
    }
    let (right, _) = joiner().request(&f.code, &f.member_fp, f.now).unwrap();
    let refusal = f.member.accept(&right, f.now).unwrap_err();
    assert_eq!(refusal.reason(), "locked");
    assert!(
        refusal.to_string().contains("stackboxd cluster code"),
        "{refusal}"
    );
}

#[test]
fn a_wrong_fingerprint_is_a_wrong_code() {
    let f = fixture();
    let impostor = Fingerprint::of_der(b"someone else's certificate");
    let (request, _) = joiner().request(&f.code, &impostor, f.now).unwrap();
    let refusal = f.member.accept(&request, f.now).unwrap_err();
    assert_eq!(refusal.reason(), "wrong-code");
    assert_eq!(tries_left(&f), MAX_TRIES - 1);
}

#[test]
fn a_tampered_request_is_a_wrong_code() {
    let f = fixture();
    let (mut request, _) = joiner().request(&f.code, &f.member_fp, f.now).unwrap();
    request.address = "10.0.0.99".parse().unwrap();
    let refusal = f.member.accept(&request, f.now).unwrap_err();
    assert_eq!(refusal.reason(), "wrong-code");
}

#[test]
fn an_expired_code_is_refused() {
    let f = fixture();
    let later = f.now + crate::code::DEFAULT_VALIDITY + Duration::from_secs(1);
    let (request, _) = joiner().request(&f.code, &f.member_fp, later).unwrap();
    let refusal = f.member.accept(&request, later).unwrap_err();
    assert_eq!(refusal.reason(), "expired");
    assert!(!refusal.to_string().contains(&f.code.expose()));
}

#[test]
fn stale_and_future_requests_are_refused_without_a_try() {
    let f = fixture();
    let old = f.now - MAX_AGE - Duration::from_secs(1);
    let (request, _) = joiner().request(&f.code, &f.member_fp, old).unwrap();
    match f.member.accept(&request, f.now) {
        Err(JoinRefusal::Stale { skew_secs }) => assert_eq!(skew_secs, 301),
        other => panic!("{other:?}"),
    }
    let ahead = f.now + MAX_AHEAD + Duration::from_secs(2);
    let (request, _) = joiner().request(&f.code, &f.member_fp, ahead).unwrap();
    let refusal = f.member.accept(&request, f.now).unwrap_err();
    assert_eq!(refusal.reason(), "stale-request");
    assert!(refusal.to_string().contains("62 s ahead of"), "{refusal}");
    assert_eq!(tries_left(&f), MAX_TRIES);
    // Within the window, both ways, it is fine.
    let (request, _) = joiner()
        .request(
            &f.code,
            &f.member_fp,
            f.now - MAX_AGE + Duration::from_secs(1),
        )
        .unwrap();
    f.member.accept(&request, f.now).unwrap();
}

#[test]
fn another_image_version_is_refused_and_changes_nothing() {
    let f = fixture();
    let mut other = joiner();
    other.image_version = "0.2.0".to_owned();
    let (request, _) = other.request(&f.code, &f.member_fp, f.now).unwrap();
    let refusal = f.member.accept(&request, f.now).unwrap_err();
    assert_eq!(refusal.reason(), "version-mismatch");
    assert!(refusal.to_string().contains("0.1.0") && refusal.to_string().contains("0.2.0"));
    assert_eq!(tries_left(&f), MAX_TRIES);
    // The retry with the right image works.
    let (request, _) = joiner().request(&f.code, &f.member_fp, f.now).unwrap();
    f.member.accept(&request, f.now).unwrap();
}

#[test]
fn a_bad_csr_or_name_is_refused_and_changes_nothing() {
    let f = fixture();
    let key = JoinKey::derive(&f.code, &f.member_fp);
    let (mut request, _) = joiner().request(&f.code, &f.member_fp, f.now).unwrap();
    request.csr =
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".to_owned();
    request.sign(&key);
    assert_eq!(
        f.member.accept(&request, f.now).unwrap_err().reason(),
        "bad-csr"
    );

    let (mut request, _) = joiner().request(&f.code, &f.member_fp, f.now).unwrap();
    request.node = "Node_2".to_owned();
    request.sign(&key);
    assert_eq!(
        f.member.accept(&request, f.now).unwrap_err().reason(),
        "bad-name"
    );
    assert_eq!(tries_left(&f), MAX_TRIES);
}

#[test]
fn the_joiner_trusts_only_the_member_that_holds_the_code() {
    let f = fixture();
    let joiner = joiner();

    // An answer authenticated with another code.
    let (request, pending) = joiner.request(&f.code, &f.member_fp, f.now).unwrap();
    let mut grant = f.member.accept(&request, f.now).unwrap();
    let good = grant.clone();
    let other = JoinKey::derive(&JoinCode::parse("2222-3333-4444").unwrap(), &f.member_fp);
    grant.mac = other.sign(
        Context::Answer,
        &answer_fields(&request.nonce, &grant.certificate, &grant.ca),
    );
    let err = joiner.verify_grant(pending, &grant, f.now).unwrap_err();
    assert!(matches!(err, GrantError::WrongMac), "{err:?}");

    // The right MAC bound to another request's nonce.
    let f2 = fixture();
    let (_, pending) = joiner.request(&f2.code, &f2.member_fp, f.now).unwrap();
    let err = joiner.verify_grant(pending, &good, f.now).unwrap_err();
    assert!(matches!(err, GrantError::WrongMac), "{err:?}");
}

#[test]
fn the_joiner_checks_the_ca_signed_its_own_certificate() {
    let f = fixture();
    let joiner = joiner();
    let key = JoinKey::derive(&f.code, &f.member_fp);
    let (request, pending) = joiner.request(&f.code, &f.member_fp, f.now).unwrap();
    let mut grant = f.member.accept(&request, f.now).unwrap();
    // Another CA, authenticated with the right code: not the CA that signed the certificate.
    let (other_ca, _) = pki::new_ca("another CA").unwrap();
    grant.ca = other_ca.pem();
    grant.mac = key.sign(
        Context::Answer,
        &answer_fields(&request.nonce, &grant.certificate, &grant.ca),
    );
    let err = joiner.verify_grant(pending, &grant, f.now).unwrap_err();
    assert!(matches!(err, GrantError::NotSigned), "{err:?}");

    // A certificate for another key, signed by the right CA.
    let f = fixture();
    let key = JoinKey::derive(&f.code, &f.member_fp);
    let (request, _) = joiner.request(&f.code, &f.member_fp, f.now).unwrap();
    let (_, pending) = joiner.request(&f.code, &f.member_fp, f.now).unwrap();
    let mut grant = f.member.accept(&request, f.now).unwrap();
    let pending = PendingJoin {
        nonce: request.nonce,
        ..pending
    };
    grant.mac = key.sign(
        Context::Answer,
        &answer_fields(&request.nonce, &grant.certificate, &grant.ca),
    );
    let err = joiner.verify_grant(pending, &grant, f.now).unwrap_err();
    assert!(matches!(err, GrantError::NotOurs("another key")), "{err:?}");
}

#[test]
fn a_member_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Member>();
}

#[test]
fn a_member_without_a_usable_ca_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = CodeStore::new(dir.path());
    let fp = Fingerprint::of_der(b"m");
    let missing = dir.path().join("ca.pem");
    let err = Member::load(store.clone(), fp, VERSION, &missing, &missing).unwrap_err();
    assert!(err.to_string().contains("ca.pem"), "{err}");
    let err = Member::new(store, fp, VERSION, "not a certificate", "not a key").unwrap_err();
    assert!(matches!(err, MemberError::Ca(_)), "{err:?}");
}

#[test]
fn a_request_from_another_address_is_refused_without_a_try() {
    let f = fixture();
    let (request, _) = joiner().request(&f.code, &f.member_fp, f.now).unwrap();
    let peer: IpAddr = "10.0.0.9".parse().unwrap();
    let refusal = f.member.accept_from(&request, peer, f.now).unwrap_err();
    assert_eq!(refusal.reason(), "address-mismatch");
    assert!(refusal.to_string().contains("10.0.0.9"), "{refusal}");
    assert_eq!(tries_left(&f), MAX_TRIES);
    // An IPv4 peer seen as an IPv4-mapped IPv6 address is the same address.
    let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
    f.member.accept_from(&request, mapped, f.now).unwrap();
}

#[test]
fn both_sides_compare_the_workspace_version() {
    assert_eq!(image_version(), VERSION);
}
