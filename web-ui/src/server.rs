//! The HTTPS server: rustls with the ring provider, TLS 1.3 only, the certificate and key from the state
//! directory.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use actix_web::{HttpServer, web};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::connections;

mod one_port;
use crate::state::{AppState, ServeOptions};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The wizard's state (identity, hardware report) could not be set up.
    #[error("preparing the wizard's state")]
    State(#[source] anyhow::Error),
    /// The certificate or key could not be read.
    #[error("reading the TLS certificate or key {path}")]
    Pem {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the configuration.
    #[error("configuring TLS")]
    Tls(#[source] rustls::Error),
    /// The address could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("running the server")]
    Run(#[source] std::io::Error),
}

/// The TLS configuration: TLS 1.3 only, ring provider, ALPN h2 and http/1.1.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, ServeError> {
    let pem_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ServeError::Pem {
            path: path.clone(),
            source,
        }
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(pem_err(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_err(key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(ServeError::Tls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(ServeError::Tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Binds the wizard to `opts.listen` around a prepared state; returns the server (not yet polled) and
/// the bound addresses (useful with port 0). Each port serves HTTPS and answers plain HTTP with a
/// redirect to itself over HTTPS (see [`one_port`]).
pub fn bind(
    state: web::Data<AppState>,
) -> Result<(actix_web::dev::Server, Vec<SocketAddr>), ServeError> {
    let sd = &state.opts.state_dir;
    let tls = tls_config(
        &sd.join(stackbox_firstboot::identity::CERT_FILE),
        &sd.join(stackbox_firstboot::identity::KEY_FILE),
    )?;
    let listen = state.opts.listen.clone();
    let bind_err = |source| ServeError::Bind {
        addr: listen.clone(),
        source,
    };
    let mut builder = actix_server::Server::build()
        .max_concurrent_connections(4096)
        .shutdown_timeout(2);
    if state.opts.workers > 0 {
        builder = builder.workers(state.opts.workers);
    }
    let mut addrs = Vec::new();
    for addr in std::net::ToSocketAddrs::to_socket_addrs(listen.as_str()).map_err(bind_err)? {
        let listener = one_port::listener(addr).map_err(bind_err)?;
        let bound = listener.local_addr().map_err(bind_err)?;
        let (st, tls, own) = (state.clone(), tls.clone(), state.own_names.clone());
        builder = builder
            .listen(format!("wizard-{bound}"), listener, move || {
                one_port::service(
                    crate::app::app(st.clone()),
                    tls.clone(),
                    redirect_app(bound.port(), own.clone()),
                )
            })
            .map_err(bind_err)?;
        addrs.push(bound);
    }
    Ok((builder.run(), addrs))
}

/// The `Location` a plain-HTTP request is sent to: the same path on HTTPS at `https_port`, on the
/// request's host (its port dropped) only when that is one of the wizard's `own` names or addresses,
/// else on the first of them: a hostile `Host` header never chooses where a client is sent.
pub fn redirect_location(
    host: Option<&str>,
    path_and_query: &str,
    https_port: u16,
    own: &[String],
) -> String {
    // Drop the port and the brackets: "[::1]:80" -> "::1", "name:80" -> "name".
    let bare = host.map(|host| match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.split(':').next().unwrap_or(host),
    });
    let name = bare
        .and_then(|b| own.iter().find(|n| n.eq_ignore_ascii_case(b)))
        .or_else(|| own.first())
        .map_or("localhost", String::as_str);
    let name = if name.contains(':') {
        format!("[{name}]")
    } else {
        name.to_owned()
    };
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    format!("https://{name}:{https_port}{path}")
}

/// The app that answers every request with a permanent redirect (308) to the wizard's HTTPS address
/// at `https_port` on one of its `own` names (see [`redirect_location`]), and nothing else.
fn redirect_app(
    https_port: u16,
    own: Vec<String>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .wrap(crate::app::security_headers())
        .default_service(web::to(move |req: actix_web::HttpRequest| {
            let to = redirect_location(
                req.headers()
                    .get(actix_web::http::header::HOST)
                    .and_then(|h| h.to_str().ok()),
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/"),
                https_port,
                &own,
            );
            async move {
                actix_web::HttpResponse::PermanentRedirect()
                    .insert_header((actix_web::http::header::LOCATION, to))
                    .finish()
            }
        }))
}

/// A plain-HTTP server (port 80) that answers every request with a redirect to the wizard's HTTPS
/// port (see [`redirect_app`]).
pub fn bind_redirect(
    listen: &str,
    https_port: u16,
    own: Vec<String>,
) -> Result<(actix_web::dev::Server, Vec<SocketAddr>), ServeError> {
    let server = HttpServer::new(move || redirect_app(https_port, own.clone()))
        .workers(1)
        .client_request_timeout(connections::HEAD_TIMEOUT)
        .shutdown_timeout(1)
        .bind(listen)
        .map_err(|source| ServeError::Bind {
            addr: listen.to_owned(),
            source,
        })?;
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

/// `stackboxd serve`: prepares the state, binds and serves until SIGINT or SIGTERM.
pub fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    match connections::raise_file_limit() {
        Ok(n) => tracing::debug!("open-file limit {n}"),
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
    let state = web::Data::new(AppState::new(opts).map_err(ServeError::State)?);
    crate::zero_touch::start(state.clone());
    actix_web::rt::System::new().block_on(async move {
        let (server, addrs) = bind(state.clone())?;
        if let Some(plain) = &state.opts.redirect_http {
            let port = addrs
                .first()
                .map(|a| a.port())
                .unwrap_or(stackbox_firstboot::identity::WIZARD_PORT);
            let (redirect, plain_addrs) = bind_redirect(plain, port, state.own_names.clone())?;
            for a in &plain_addrs {
                tracing::info!("redirecting http://{a}/ to HTTPS");
            }
            actix_web::rt::spawn(redirect);
        }
        if let Some(listen) = &state.opts.agent_listen {
            actix_web::rt::spawn(crate::agent::serve_when_ready(
                listen.clone(),
                state.opts.state_dir.clone(),
                state.opts.root.clone(),
            ));
        }
        for a in &addrs {
            tracing::info!("wizard listening on https://{a}/ (TLS 1.3)");
        }
        eprintln!(
            "stackboxd serve: listening on {} (TLS 1.3), certificate {}",
            addrs
                .iter()
                .map(|a| format!("https://{a}/"))
                .collect::<Vec<_>>()
                .join(", "),
            state.fingerprint
        );
        server.await.map_err(ServeError::Run)
    })
}
