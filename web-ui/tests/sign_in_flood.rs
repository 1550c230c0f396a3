//! Issue 10, item 1: a flood of concurrent wrong passwords from one address. At most the lockout's
//! limit of attempts may reach argon2, every other one is refused at once (429 or 503, with
//! `Retry-After`), and memory stays bounded. Alone in its binary so that the resident memory it
//! measures is this server's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::sync::{Arc, Barrier};

use common::*;

/// Concurrent attempts fired.
const ATTEMPTS: usize = 64;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The status line's code and the `Retry-After` header of a raw response.
fn status_and_retry(resp: &str) -> (u16, Option<String>) {
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let retry = resp.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after:")
            .map(|v| v.trim().to_owned())
    });
    (code, retry)
}

#[test]
fn concurrent_wrong_passwords_reach_argon2_at_most_the_limit_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    stackbox_web::auth::PasswordStore::new(dir.path())
        .set(PASSWORD)
        .unwrap();
    let mut opts = options(dir.path());
    opts.workers = 2;
    let running = Running::start(opts);
    let me: IpAddr = "127.0.0.1".parse().unwrap();

    // One anonymous session carries the form's token for every attempt.
    let mut c = TlsConn::open(&running, me).unwrap();
    c.send(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let page = c.read_all();
    let cookie = page
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: stackbox_session="))
        .and_then(|v| v.split(';').next())
        .expect("no session cookie")
        .to_owned();
    let body = format!("csrf={}&secret=wrong+password+here", csrf_in(&page));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nCookie: stackbox_session={cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );

    let rss_before = status_kib("VmRSS:");
    let evaluations_before = running.state.passwords.evaluations();
    let barrier = Arc::new(Barrier::new(ATTEMPTS));
    let threads: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let barrier = barrier.clone();
            let request = request.clone();
            let mut c = TlsConn::open(&running, me).unwrap();
            std::thread::spawn(move || {
                barrier.wait();
                c.send(request.as_bytes()).unwrap();
                status_and_retry(&c.read_all())
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    let evaluated = running.state.passwords.evaluations() - evaluations_before;
    let grown_mib = status_kib("VmHWM:").saturating_sub(rss_before) / 1024;
    eprintln!("{evaluated} of {ATTEMPTS} evaluated; peak resident memory grew by {grown_mib} MiB");
    for (code, retry) in &answers {
        assert!(
            matches!(code, 401 | 429 | 503),
            "unexpected answer {code}: {answers:?}"
        );
        if *code != 401 {
            assert!(retry.is_some(), "{code} without Retry-After");
        }
    }
    let wrong = answers.iter().filter(|(c, _)| *c == 401).count() as u64;
    assert_eq!(wrong, evaluated, "{answers:?}");
    assert!(
        evaluated <= u64::from(stackbox_web::auth::MAX_FAILURES),
        "{evaluated} attempts reached argon2"
    );
    assert!(grown_mib < 200, "resident memory grew by {grown_mib} MiB");
}
