//! Secrets never reach the log: a whole sign-in, password and API walk with every log level captured,
//! then the capture is searched for the token, the password, session ids and CSRF tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::Layer;

use actix_web::test;
use common::*;
use stackbox_web::app::app as wizard;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn the_log_holds_no_token_password_session_or_csrf_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Every level to the capture, and the wizard's recent lines (what `GET /log` offers) beside it.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_filter(tracing::level_filters::LevelFilter::TRACE),
        )
        .with(stackbox_web::recent_log::layer())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let app = test::init_service(wizard(state(options(dir.path())))).await;
    let tok = token(dir.path());
    let (anon, csrf) = anonymous(&app).await;
    call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", "NOT-THE-TOKEN")],
        ),
    )
    .await;
    let (admin_s, admin_csrf) = admin(&app, &tok).await;
    call(&app, with_session(req("GET", "/api/v1/session"), &admin_s)).await;
    call(
        &app,
        form(
            with_session(req("POST", "/logout"), &admin_s),
            &[("csrf", &admin_csrf)],
        ),
    )
    .await;
    let (anon, csrf) = anonymous(&app).await;
    call(
        &app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", PASSWORD)],
        ),
    )
    .await;

    let kept = stackbox_web::recent_log::download();
    assert!(kept.contains("signed in from 127.0.0.1"), "{kept}");
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap() + &kept;
    assert!(
        log.contains("signed in from 127.0.0.1"),
        "the walk was logged:\n{log}"
    );
    assert!(log.contains("failed sign-in from 127.0.0.1"), "{log}");
    for secret in [
        tok.as_str(),
        PASSWORD,
        "NOT-THE-TOKEN",
        &anon,
        &csrf,
        &admin_s,
        &admin_csrf,
    ] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}
