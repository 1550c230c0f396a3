//! The Disk step on a live system (the `one-nic-live-usb` fixture: booted from its USB stick, an NVMe disk
//! with an old GPT and an ext4 partition): the disks offered and refused, the typed confirmation, a cluster
//! refused until the system is installed to disk, and the install walked in plan mode (the real install to
//! disk runs in the boot tier). An installed system has nothing to install.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use actix_web::test;
use common::*;
use stackbox_web::app::app as wizard;

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

fn live_options(dir: &std::path::Path) -> stackbox_web::ServeOptions {
    let mut o = options(dir);
    o.root = machine("one-nic-live-usb");
    o
}

#[actix_web::test]
async fn a_live_system_installs_to_a_disk_it_offers_after_the_typed_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(live_options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;

    let r = call(&app, with_session(req("GET", "/api/v1/disks"), &s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = json(&r);
    assert_eq!(doc["live"], true);
    assert!(doc["install"].is_null());
    let disks = doc["disks"].as_array().unwrap();
    let nvme = disks.iter().find(|d| d["name"] == "nvme0n1").unwrap();
    assert!(nvme["refused"].is_null(), "{nvme}");
    assert_eq!(nvme["kind"], "NVMe");
    let holds: Vec<&str> = nvme["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(
        holds,
        ["GPT partition table", "nvme0n1p1: 0.5 GB ext4 \"old-root\""]
    );
    let stick = disks.iter().find(|d| d["name"] == "sdb").unwrap();
    assert!(
        stick["refused"].as_str().unwrap().contains("booted from"),
        "{stick}"
    );

    // The page: every disk, the refused one disabled with its reason; golden.
    let r = call(&app, with_session(req("GET", "/disk"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains(r#"id="target-sdb" disabled aria-describedby="why-sdb""#),
        "{}",
        r.body
    );
    golden("disk-choose.html", &r.body);

    // A cluster made in RAM would be lost at the reboot: refused until the system is on disk.
    let r = call(
        &app,
        json_call(
            "POST",
            "/api/v1/cluster",
            &s,
            Some(&csrf),
            r#"{"name":"lab"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("install it to disk first"), "{}", r.body);

    // Must-fail: the boot medium, a disk that is not there, a confirmation that is not the disk's name.
    for (body, field) in [
        (r#"{"target":"sdb","confirm":"sdb"}"#, "target"),
        (r#"{"target":"sdz","confirm":"sdz"}"#, "target"),
        (r#"{"target":"nvme0n1","confirm":"nvme"}"#, "confirm"),
        (r#"{"target":"nvme0n1","confirm":""}"#, "confirm"),
    ] {
        let r = call(
            &app,
            json_call("POST", "/api/v1/disk/install", &s, Some(&csrf), body),
        )
        .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(json(&r)["errors"][0]["field"], field, "{body}: {}", r.body);
    }
    let r = call(
        &app,
        json_call(
            "POST",
            "/api/v1/disk/install",
            &s,
            Some(&csrf),
            r#"{"target":"nvme0n1","confirm":"nvme0n1","wipe":true}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.body);
    // The form shows a wrong confirmation back beside its field, with nothing started.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/disk"), &s),
            &[("csrf", &csrf), ("target", "nvme0n1"), ("confirm", "sdb")],
        ),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(r#"id="confirm-error""#)
            && r.body.contains("type the disk&#39;s name, nvme0n1"),
        "{}",
        r.body
    );
    let r = call(&app, with_session(req("GET", "/api/v1/disk/install"), &s)).await;
    assert_eq!(r.status, 404, "nothing started: {}", r.body);

    // Confirmed: plan mode walks the phases and writes nothing.
    let r = call(
        &app,
        form(
            with_session(req("POST", "/disk"), &s),
            &[
                ("csrf", &csrf),
                ("target", "nvme0n1"),
                ("confirm", "nvme0n1"),
                ("reboot", "on"),
            ],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/disk")),
        "{}",
        r.body
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let r = call(&app, with_session(req("GET", "/api/v1/disk/install"), &s)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let p = json(&r);
        if p["done"] == true {
            break p;
        }
        assert!(Instant::now() < deadline, "{p}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["plan_only"], true);
    assert_eq!(done["reboot"], false, "plan mode never reboots");
    assert_eq!(done["step"], 7);
    assert_eq!(done["installed"]["disk"], "/dev/nvme0n1");
    let r = call(&app, with_session(req("GET", "/disk"), &s)).await;
    assert!(
        r.body.contains(r#"id="plan-mode""#) && r.body.contains(r#"id="disk-done""#),
        "{}",
        r.body
    );
    golden("disk-done.html", &r.body);
    let r = call(
        &app,
        json_call(
            "POST",
            "/api/v1/cluster",
            &s,
            Some(&csrf),
            r#"{"name":"lab"}"#,
        ),
    )
    .await;
    // After the (walked) install the disk no longer stands in the way; the next step does.
    assert!(!r.body.contains("install it to disk first"), "{}", r.body);
    assert!(r.body.contains("save the network settings"), "{}", r.body);
}

#[actix_web::test]
async fn an_installed_system_has_nothing_to_install_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let (s, csrf) = admin(&app, &token(dir.path())).await;
    let r = call(&app, with_session(req("GET", "/disk"), &s)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#"id="installed""#), "{}", r.body);
    let r = call(
        &app,
        json_call(
            "POST",
            "/api/v1/disk/install",
            &s,
            Some(&csrf),
            r#"{"target":"nvme0n1","confirm":"nvme0n1"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("runs from its disk already"), "{}", r.body);
    let r = call(&app, with_session(req("GET", "/api/v1/disks"), &s)).await;
    assert_eq!(json(&r)["live"], false);
}
