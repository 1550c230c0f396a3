//! HTTPS and a plain-HTTP redirect on one port. An operator who types `http://host:8443/` (or whose
//! browser drops the `s`) would otherwise get a TLS alert back as garbage or a reset; instead each
//! connection's first byte says what it is (a TLS record of a handshake starts with 22, an HTTP request
//! with a method's letter) and the connection goes to the HTTPS service or to the redirect app.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, fn_factory, fn_service, map_config,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;

use crate::connections;

/// The content type of a TLS handshake record: every ClientHello starts with it.
const TLS_HANDSHAKE: u8 = 0x16;

/// The listen queue's length (actix-web's default).
const BACKLOG: i32 = 1024;

/// What a connection's first byte says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A TLS handshake.
    Tls,
    /// Anything else: taken for plain HTTP.
    Plain,
    /// Nothing within the wait, or the peer went away.
    Silent,
}

/// Waits up to `wait` for the connection's first byte, leaving it to be read.
pub async fn opening(io: &TcpStream, wait: Duration) -> Opening {
    let mut first = [0u8; 1];
    match tokio::time::timeout(wait, io.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => Opening::Tls,
        Ok(Ok(1)) => Opening::Plain,
        _ => Opening::Silent,
    }
}

/// A listening socket on `addr` as actix-web makes one (address reuse, a deep queue).
pub fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The app's HTTP service (HTTP/1.1 and HTTP/2 over `tls`) and `redirect`'s (HTTP/1.1, plain),
/// behind one listener: each connection goes to the one its first byte asks for.
pub fn service<A, AB, R, RB>(
    app: actix_web::App<A>,
    tls: rustls::ServerConfig,
    redirect: actix_web::App<R>,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = (), InitError = ()>
where
    A: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<AB>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    AB: MessageBody + 'static,
    R: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<RB>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    RB: MessageBody + 'static,
{
    // The apps do not read `AppConfig` (its `secure` and `host` feed only `ConnectionInfo`'s
    // fallbacks; the wizard reads the Host header), so the default one serves both.
    let https = HttpService::build()
        .client_request_timeout(connections::HEAD_TIMEOUT)
        .client_disconnect_timeout(Duration::from_secs(1))
        .on_connect_ext(|io: &_, ext: _| connections::on_connect(io as &dyn std::any::Any, ext))
        .finish(map_config(app.into_factory(), |_| AppConfig::default()))
        .rustls_0_23(tls);
    let plain = HttpService::build()
        .client_request_timeout(connections::HEAD_TIMEOUT)
        .client_disconnect_timeout(Duration::from_secs(1))
        .finish(map_config(redirect.into_factory(), |_| {
            AppConfig::default()
        }))
        .tcp();
    let https = Rc::new(https);
    let plain = Rc::new(plain);
    fn_factory(move || {
        let (https, plain) = (https.new_service(()), plain.new_service(()));
        async move {
            let https = Rc::new(https.await?);
            let plain = Rc::new(plain.await?);
            Ok::<_, ()>(fn_service(move |io: TcpStream| {
                let (https, plain) = (https.clone(), plain.clone());
                async move {
                    match opening(&io, connections::HEAD_TIMEOUT).await {
                        Opening::Tls => https
                            .call(io)
                            .await
                            .map_err(|e| tracing::debug!("HTTPS connection ended: {e:?}")),
                        Opening::Plain => plain
                            .call(io)
                            .await
                            .map_err(|e| tracing::debug!("plain HTTP connection ended: {e:?}")),
                        Opening::Silent => Ok(()),
                    }
                }
            }))
        }
    })
}
