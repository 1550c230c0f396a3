//! Helpers for the wizard's tests: a state on a fixture machine, sign-in steps, cookie and CSRF
//! plumbing, and placeholders for random values in golden files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use stackbox_web::{AppState, ServeOptions};

pub mod agent;
pub mod browser;

/// The client address tests use.
pub const CLIENT: &str = "127.0.0.1:40000";
/// The admin password tests set.
pub const PASSWORD: &str = "correct horse battery staple";

/// A fixture machine's root from the firstboot crate.
pub fn machine(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../machine/tests/fixtures/machines")
        .join(name)
        .join("root")
}

/// Options for a wizard on the 4-NIC fixture under the lab profile, state in `dir`, loopback allowed.
pub fn options(dir: &Path) -> ServeOptions {
    let mut o = ServeOptions::new(dir);
    o.root = machine("intel-server-4nic");
    // Never install anything on the test host: the install step walks the plan only.
    o.install = stackbox_installer::runner::InstallMode::PlanOnly {
        fail_package_once: None,
        pace: std::time::Duration::ZERO,
    };
    o.profile = "lab".to_owned();
    o.allow = Some(vec!["127.0.0.0/8".parse().unwrap()]);
    o.listen = "127.0.0.1:0".to_owned();
    o.workers = 1;
    o
}

/// A state from options.
pub fn state(opts: ServeOptions) -> web::Data<AppState> {
    web::Data::new(AppState::new(opts).unwrap())
}

/// The setup token in the state directory.
pub fn token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("setup-token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A response as status, headers we care about, and body text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub set_cookie: Option<String>,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: String,
}

impl Resp {
    /// The session cookie's value, when the response sets it.
    pub fn session(&self) -> Option<String> {
        let sc = self.set_cookie.as_deref()?;
        let v = sc.strip_prefix("stackbox_session=")?;
        let v = v.split(';').next()?;
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// The CSRF token in a page's forms.
    pub fn csrf(&self) -> String {
        csrf_in(&self.body)
    }
}

/// The first `name="csrf" value="..."` in a page.
pub fn csrf_in(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let i = body.find(marker).expect("no csrf field") + marker.len();
    body[i..i + 64].to_owned()
}

/// Turns a service response into a [`Resp`].
pub async fn read<B: MessageBody>(resp: ServiceResponse<B>) -> Resp {
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let get = |n: header::HeaderName| h.get(n).map(|v| v.to_str().unwrap().to_owned());
    let location = get(header::LOCATION);
    let content_type = get(header::CONTENT_TYPE);
    let set_cookie = get(header::SET_COOKIE);
    let body = actix_web::body::to_bytes(resp.into_body())
        .await
        .map_err(Into::<Box<dyn std::error::Error>>::into)
        .unwrap();
    Resp {
        status,
        location,
        content_type,
        set_cookie,
        headers: h,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// A request from the test client's address.
pub fn req(method: &str, uri: &str) -> TestRequest {
    let r = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PUT" => TestRequest::put(),
        "DELETE" => TestRequest::delete(),
        other => panic!("{other}"),
    };
    r.uri(uri).peer_addr(CLIENT.parse::<SocketAddr>().unwrap())
}

/// An API call with the session, the CSRF header when given, and a JSON body.
pub fn json_call(
    method: &str,
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: &str,
) -> TestRequest {
    let mut r = with_session(req(method, path), session)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned());
    if let Some(c) = csrf {
        r = r.insert_header(("x-csrf-token", c));
    }
    r
}

/// Adds the session cookie.
pub fn with_session(r: TestRequest, session: &str) -> TestRequest {
    r.insert_header((header::COOKIE, format!("stackbox_session={session}")))
}

/// A form body from pairs.
pub fn form(r: TestRequest, pairs: &[(&str, &str)]) -> TestRequest {
    let body: String = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    r.insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(body)
}

/// Percent-encodes everything but unreserved characters.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Calls the service.
pub async fn call<S, B>(app: &S, r: TestRequest) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    read(test::call_service(app, r.to_request()).await).await
}

/// GET /login: a fresh anonymous session and its CSRF token.
pub async fn anonymous<S, B>(app: &S) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = call(app, req("GET", "/login")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (r.session().unwrap(), r.csrf())
}

/// Signs in with the setup token: the setup-token session.
pub async fn sign_in_token<S, B>(app: &S, token: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (anon, csrf) = anonymous(app).await;
    let r = call(
        app,
        form(
            with_session(req("POST", "/login"), &anon),
            &[("csrf", &csrf), ("secret", token)],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/set-password"));
    r.session().unwrap()
}

/// Signs in with the token and sets the admin password: the admin session and its CSRF token.
pub async fn admin<S, B>(app: &S, token: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let s = sign_in_token(app, token).await;
    let page = call(app, with_session(req("GET", "/set-password"), &s)).await;
    assert_eq!(page.status, 200);
    let r = call(
        app,
        form(
            with_session(req("POST", "/set-password"), &s),
            &[
                ("csrf", &page.csrf()),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/hardware"));
    let admin = r.session().unwrap();
    let hw = call(app, with_session(req("GET", "/hardware"), &admin)).await;
    assert_eq!(hw.status, 200);
    (admin, hw.csrf())
}

/// Replaces random values (64-hex-digit session ids and CSRF tokens) with `{RANDOM}`.
pub fn placeholders(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            .count();
        if run == 64 {
            out.push_str("{RANDOM}");
            i += 64;
        } else if run > 0 {
            out.push_str(&text[i..i + run]);
            i += run;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Compares with `tests/golden/NAME` after placeholders.
pub fn golden(name: &str, actual: &str) {
    stackbox_common::test_utils::golden(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
        &placeholders(actual),
    );
}

/// A wizard serving HTTPS on loopback in its own thread (its own actix system), as `stackboxd serve`
/// runs it.
pub struct Running {
    pub addr: SocketAddr,
    pub state_dir: PathBuf,
    /// The server's state, for counters the tests read.
    pub state: web::Data<AppState>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts the wizard on 127.0.0.1, a free port, with `opts`.
    pub fn start(opts: ServeOptions) -> Running {
        let state_dir = opts.state_dir.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let state = web::Data::new(AppState::new(opts).unwrap());
                let (server, addrs) = stackbox_web::server::bind(state.clone()).unwrap();
                tx.send((addrs[0], server.handle(), state)).unwrap();
                server.await.unwrap();
            });
        });
        let (addr, handle, state) = rx.recv().expect("the server thread died");
        Running {
            addr,
            state_dir,
            state,
            handle,
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let h = self.handle.clone();
        std::thread::spawn(move || futures_lite_block_on(h.stop(false)))
            .join()
            .ok();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Runs a future to completion on a throwaway single-thread runtime.
pub fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A rustls client (TLS 1.3) that trusts the running wizard's certificate.
pub fn tls_client(running: &Running) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let cert =
        rustls::pki_types::CertificateDer::from_pem_file(running.state_dir.join("tls/wizard.crt"))
            .unwrap();
    roots.add(cert).unwrap();
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A TLS connection to the running wizard from `from` (a loopback address), handshake done.
pub struct TlsConn {
    pub conn: rustls::ClientConnection,
    pub sock: std::net::TcpStream,
}

impl TlsConn {
    /// Connects from `from` (port chosen by the system) and completes the handshake.
    pub fn open(running: &Running, from: std::net::IpAddr) -> std::io::Result<TlsConn> {
        let sock = connect_from(from, running.addr)?;
        sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
        let name = rustls::pki_types::ServerName::IpAddress(running.addr.ip().into());
        let conn = rustls::ClientConnection::new(tls_client(running), name).unwrap();
        let mut c = TlsConn { conn, sock };
        while c.conn.is_handshaking() {
            c.conn.complete_io(&mut c.sock)?;
        }
        Ok(c)
    }

    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut s = rustls::Stream::new(&mut self.conn, &mut self.sock);
        s.write_all(bytes)?;
        s.flush()
    }

    /// Reads until the server closes the connection (or the read timeout passes).
    pub fn read_all(&mut self) -> String {
        use std::io::Read;
        let mut out = Vec::new();
        let mut s = rustls::Stream::new(&mut self.conn, &mut self.sock);
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A TCP connection to `to` from the loopback address `from`.
pub fn connect_from(
    from: std::net::IpAddr,
    to: SocketAddr,
) -> std::io::Result<std::net::TcpStream> {
    let stream = futures_lite_block_on(async move {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(from, 0))?;
        sock.connect(to).await?.into_std()
    })?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A valid network form on the fixture's NICs (static 10.0.0.5/24).
pub fn good_network(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf", csrf),
        ("hostname", "node1"),
        ("management_nic", "eno1"),
        ("data_nic", "eno2"),
        ("mode", "static"),
        ("address", "10.0.0.5/24"),
        ("gateway", "10.0.0.1"),
        ("dns", "10.0.0.53"),
        ("bridge", "br-mgmt"),
        ("vlan", "100"),
        ("mtu", "9000"),
        ("vxlan_min", "1"),
        ("vxlan_max", "1000"),
    ]
}

/// Stores network settings on the machine's first NIC and creates the cluster `lab`.
pub async fn network_and_cluster<S, B>(app: &S, s: &str, csrf: &str)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = call(app, with_session(req("GET", "/api/v1/network"), s)).await;
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let nic = doc["nics"][0].as_str().unwrap().to_owned();
    let mut pairs = good_network(csrf);
    pairs.retain(|(k, _)| *k != "management_nic" && *k != "data_nic");
    pairs.push(("management_nic", &nic));
    pairs.push(("data_nic", &nic));
    let r = call(app, form(with_session(req("POST", "/network"), s), &pairs)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = call(
        app,
        form(
            with_session(req("POST", "/cluster"), s),
            &[("csrf", csrf), ("name", "lab")],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Assigns this node every role and stores the settings.
pub async fn roles_and_settings<S, B>(app: &S, s: &str, csrf: &str)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = call(
        app,
        form(
            with_session(req("POST", "/roles"), s),
            &[
                ("csrf", csrf),
                ("role", "management"),
                ("role", "message-bus"),
                ("role", "storage-metadata"),
                ("role", "console-proxy"),
                ("role", "compute"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"roles-saved\""), "{}", r.body);
    let r = call(
        app,
        form(
            with_session(req("POST", "/settings"), s),
            &[
                ("csrf", csrf),
                ("flavor", "openstack"),
                ("cpu_ratio", "8"),
                ("ram_ratio", "1.5"),
                ("disk_ratio", "1"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// A fixture machine's hardware report, as its agent would send it.
pub fn hardware(fixture: &str) -> stackbox_cluster::hardware::Hardware {
    stackbox_cluster::hardware::Hardware::probe(&stackbox_machine::system::Root::at(machine(
        fixture,
    )))
    .unwrap()
}

/// The nodes that joined this member, as its join route records them: node2 (a server), node3 (a VM
/// without VT-x), node4 (whose agent does not answer) and node5 (claiming node 1's own address).
pub fn record_joins(dir: &Path) {
    let member = |name: &str, address: &str| {
        serde_json::json!({
            "name": name,
            "address": address,
            "fingerprint": stackbox_cluster::Fingerprint::of_der(name.as_bytes()),
            "joined_at": 1_800_000_000,
        })
    };
    let members = serde_json::json!([
        member("node2", "10.0.0.12"),
        member("node3", "10.0.0.13"),
        member("node4", "10.0.0.14"),
        member("node5", "10.0.0.5"),
    ]);
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    std::fs::write(dir.join("cluster/members.json"), members.to_string()).unwrap();
}

/// The fixture's root copied, with `answers` as /etc/stackbox/answers.toml.
pub fn root_with(answers: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", machine("intel-server-4nic").display()))
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success());
    let etc = root.path().join("etc/stackbox");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("answers.toml"), answers).unwrap();
    root
}
