//! Issue 10, item 4: slow clients cannot hold the wizard. A body announced at 60,000 bytes and sent
//! five bytes in is cut off with 408 and the connection closed; one address gets at most
//! `PER_ADDRESS` connections (the rest are refused with 429 and closed at once); a client outside
//! the allowed subnets is closed after its refusal; and a client from another address is answered
//! while all that goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use stackbox_web::connections::{BODY_TIMEOUT, PER_ADDRESS};

/// Slow connections opened from one address.
const SLOW: usize = 40;

fn code(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn slow_bodies_are_cut_off_and_another_address_is_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    let start = Instant::now();
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let mut c = TlsConn::open(&running, me).unwrap();
            c.send(
                b"POST /login HTTP/1.1\r\nHost: localhost\r\n\
                  Content-Type: application/x-www-form-urlencoded\r\n\
                  Content-Length: 60000\r\n\r\ncsrf=",
            )
            .unwrap();
            std::thread::spawn(move || {
                let resp = c.read_all();
                (code(&resp), start.elapsed())
            })
        })
        .collect();

    // Meanwhile another address is answered.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut c = TlsConn::open(&running, other).unwrap();
    c.send(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = c.read_all();
    assert_eq!(code(&resp), 200, "{resp}");
    assert!(start.elapsed() < BODY_TIMEOUT, "the other address waited");

    let ends: Vec<(u16, Duration)> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let refused = ends
        .iter()
        .filter(|(c, t)| *c == 429 && *t < Duration::from_secs(5))
        .count();
    assert_eq!(refused, SLOW - PER_ADDRESS, "{ends:?}");
    let cut = ends
        .iter()
        .filter(|(c, t)| *c == 408 && *t < BODY_TIMEOUT + Duration::from_secs(5))
        .count();
    assert_eq!(cut, PER_ADDRESS, "{ends:?}");
}

#[test]
fn a_client_outside_the_allowed_subnets_is_closed_after_its_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.allow = Some(vec!["127.0.0.1/32".parse().unwrap()]);
    let running = Running::start(opts);
    let outsider: IpAddr = "127.0.0.3".parse().unwrap();
    let mut c = TlsConn::open(&running, outsider).unwrap();
    let start = Instant::now();
    // Keep-alive asked for: the server closes anyway.
    c.send(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let resp = c.read_all();
    assert_eq!(code(&resp), 403, "{resp}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "closed after {:?}",
        start.elapsed()
    );
}
