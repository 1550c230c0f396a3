//! The wizard as it really listens: HTTPS on loopback, TLS 1.3 only. A TLS 1.2 handshake is refused,
//! checked with a rustls client and with `openssl s_client`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn client(
    running: &Running,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_file(running.state_dir.join("tls/wizard.crt")).unwrap();
    roots.add(cert).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn get(
    running: &Running,
    config: rustls::ClientConfig,
    path: &str,
) -> Result<(String, rustls::ProtocolVersion), rustls::Error> {
    let name = ServerName::IpAddress(running.addr.ip().into());
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(running.addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| {
            e.into_inner()
                .and_then(|i| i.downcast::<rustls::Error>().ok())
                .map(|b| *b)
                .unwrap_or(rustls::Error::General("io".into()))
        })?;
    }
    let version = conn.protocol_version().unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    Ok((String::from_utf8_lossy(&out).into_owned(), version))
}

#[test]
fn tls_1_3_is_served_and_tls_1_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));

    let (resp, version) = get(
        &running,
        client(&running, &[&rustls::version::TLS13]),
        "/api/v1/status",
    )
    .unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert!(resp.contains("\"phase\":\"admin-password\""), "{resp}");
    assert!(resp.to_lowercase().contains("content-security-policy:"));
    assert!(
        resp.to_lowercase()
            .contains("strict-transport-security: max-age=31536000\r\n"),
        "{resp}"
    );

    // A client that offers both still gets 1.3.
    let both = client(
        &running,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    assert_eq!(
        get(&running, both, "/api/v1/status").unwrap().1,
        rustls::ProtocolVersion::TLSv1_3
    );

    let err = get(
        &running,
        client(&running, &[&rustls::version::TLS12]),
        "/api/v1/status",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
        ),
        "{err:?}"
    );

    // The same with OpenSSL's client, as an operator would check it.
    let s_client = |flag: &str| {
        let out = std::process::Command::new("openssl")
            .args([
                "s_client",
                flag,
                "-connect",
                &running.addr.to_string(),
                "-servername",
                "localhost",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl is missing: apt-get install openssl (deps/web.txt)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = s_client("-tls1_2");
    assert!(!ok, "TLS 1.2 handshake succeeded:\n{text}");
    assert!(
        text.contains("alert protocol version")
            || text.contains("no protocols available")
            || text.contains("wrong version"),
        "{text}"
    );
    let (ok, text) = s_client("-tls1_3");
    assert!(ok, "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
}

#[test]
fn plain_http_only_redirects_to_https() {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (server, addrs) = stackbox_web::server::bind_redirect(
                "127.0.0.1:0",
                8443,
                vec!["wizard.lab".to_owned(), "127.0.0.1".to_owned()],
            )
            .unwrap();
            tx.send((addrs[0], server.handle())).unwrap();
            server.await.unwrap();
        });
    });
    let (addr, handle) = rx.recv().unwrap();
    let ask = |request: &str| {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        sock.read_to_string(&mut out).unwrap();
        out
    };
    let resp =
        ask("GET /hardware?x=1 HTTP/1.1\r\nHost: wizard.lab:80\r\nConnection: close\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 308"), "{resp}");
    assert!(
        resp.contains("location: https://wizard.lab:8443/hardware?x=1\r\n"),
        "{resp}"
    );
    let resp = ask(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nx=1&y",
    );
    assert!(resp.starts_with("HTTP/1.1 308"), "{resp}");
    assert!(
        resp.contains("location: https://127.0.0.1:8443/login\r\n"),
        "{resp}"
    );
    assert!(
        !resp.to_lowercase().contains("strict-transport-security"),
        "HSTS over plain HTTP: {resp}"
    );
    // A Host that is not one of the wizard's own names never chooses where the client goes.
    for hostile in [
        "evil.example",
        "evil.example:80",
        "evil\"><script>",
        "[2001:db8::666]",
    ] {
        let resp = ask(&format!(
            "GET /login HTTP/1.1\r\nHost: {hostile}\r\nConnection: close\r\n\r\n"
        ));
        assert!(
            resp.contains("location: https://wizard.lab:8443/login\r\n"),
            "{hostile}: {resp}"
        );
    }
    common::futures_lite_block_on(handle.stop(false));
    thread.join().unwrap();
    assert_eq!(
        stackbox_web::server::redirect_location(
            Some("[fe80::1]:80"),
            "/",
            8443,
            &["x".to_owned(), "fe80::1".to_owned()]
        ),
        "https://[fe80::1]:8443/"
    );
    assert_eq!(
        stackbox_web::server::redirect_location(None, "x", 8443, &["fe80::1".to_owned()]),
        "https://[fe80::1]:8443/"
    );
}

#[test]
fn plain_http_on_the_wizards_own_port_is_redirected_to_https_there() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));
    let port = running.addr.port();
    let ask = |request: &[u8]| {
        let mut sock = TcpStream::connect(running.addr).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        sock.write_all(request).unwrap();
        let mut out = Vec::new();
        sock.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    };
    let resp = ask(format!(
        "GET /hardware?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .as_bytes());
    assert!(resp.starts_with("HTTP/1.1 308"), "{resp}");
    assert!(
        resp.contains(&format!(
            "location: https://127.0.0.1:{port}/hardware?x=1\r\n"
        )),
        "{resp}"
    );
    // A hostile Host header never chooses where the client goes; nothing of the wizard itself is
    // served in the clear.
    let resp =
        ask(b"GET /api/v1/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 308"), "{resp}");
    assert!(!resp.contains("evil.example"), "{resp}");
    assert!(!resp.contains("phase"), "{resp}");
    // Garbage that is neither TLS nor HTTP gets a 400 at most, and the port still serves TLS after
    // all of it.
    let resp = ask(b"\x00\x01\x02 not a request\r\n\r\n");
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 400"),
        "{resp}"
    );
    let (resp, version) = get(
        &running,
        client(&running, &[&rustls::version::TLS13]),
        "/api/v1/status",
    )
    .unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
}

/// A TLS 1.3 connection to the wizard that trusts its certificate, reads time out after 10 s.
fn tls13_stream(running: &Running) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let config = client(running, &[&rustls::version::TLS13]);
    let name = ServerName::IpAddress(running.addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(running.addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn a_chunked_body_over_64_kib_is_cut_off_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));
    let mut tls = tls13_stream(&running);
    write!(
        tls,
        "PUT /api/v1/network HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk = "a".repeat(8192);
    for _ in 0..9 {
        // 72 KiB in all; the server may answer and close before the last chunk.
        if write!(tls, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
            break;
        }
    }
    let _ = write!(tls, "0\r\n\r\n");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let resp = String::from_utf8_lossy(&out);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("application/problem+json"), "{resp}");
}

/// A client that sends its whole over-limit body before it reads (as curl and browsers do) reads the
/// 413, not a reset: the refused body is read and dropped first.
#[test]
fn a_whole_body_over_64_kib_sent_before_reading_gets_its_413() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(options(dir.path()));
    for round in 0..5 {
        let mut tls = tls13_stream(&running);
        let body = "a".repeat(300 * 1024);
        let request = format!(
            "POST /network HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes()).unwrap();
        tls.flush().unwrap();
        let mut out = Vec::new();
        let read = tls.read_to_end(&mut out);
        let resp = String::from_utf8_lossy(&out);
        assert!(
            resp.starts_with("HTTP/1.1 413"),
            "round {round}: {read:?} {resp}"
        );
    }
}
