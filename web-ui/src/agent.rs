//! The node agent's listener: a second HTTPS server beside the wizard, mutual TLS 1.3 with certificates
//! of the cluster CA only (a client without one fails the handshake), serving the agent's routes over
//! [`stackbox_cluster::agent::Agent`]: `GET /agent/v1/health`, `/agent/v1/status`, `/agent/v1/hardware`,
//! `/agent/v1/galera`, `/agent/v1/bundle`, `/agent/v1/port/{port}`, `PUT /agent/v1/assignment`, `POST /agent/v1/csr`,
//! `POST /agent/v1/restart`, `POST /agent/v1/steps` and `POST /agent/v1/leave`. It starts once this node has its cluster credentials
//! (`STATE/cluster/node/`: made when it joined, or by the coordinator on the node that created the
//! cluster), which it waits for. A certificate the cluster revoked (a removed node's) is refused
//! ([`crate::revoking`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, HttpServer, web};
use stackbox_cluster::agent::{
    ASSIGNMENT_PATH, Agent, AgentError, AgentPaths, Assignment, HEALTH_PATH, STATUS_PATH,
    STEPS_PATH, StepRequest,
};
use stackbox_cluster::hardware::HARDWARE_PATH;
use stackbox_cluster::leave::{LEAVE_PATH, LeaveRequest};
use stackbox_cluster::node::{CLUSTER_CA, NODE_CERT, NODE_DIR, NODE_KEY};

/// Why the agent could not listen.
#[derive(Debug, thiserror::Error)]
pub enum AgentListenError {
    /// A credential file is missing, not PEM, or refused by rustls.
    #[error("configuring mutual TLS: {0}")]
    Tls(String),
    /// The address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// How often the listener looks for the node's credentials before it has them.
const WAIT: Duration = Duration::from_secs(2);
/// The largest request (an assignment: configuration, secrets, certificates).
const BODY_LIMIT: usize = 1024 * 1024;

/// The mutual-TLS configuration from the node's credentials in `dir`: the CA certificates it trusts,
/// the CRL and its own certificate are read again whenever their files change (a removal, a CA
/// rotation), see [`crate::revoking`].
pub fn tls_config(dir: &Path) -> Result<rustls::ServerConfig, AgentListenError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // The cluster CA's clients, minus the certificates the cluster revoked.
    let verifier = Arc::new(
        crate::revoking::RevocationAware::new(
            dir.join(CLUSTER_CA),
            provider.clone(),
            dir.join(stackbox_cluster::revocation::AGENT_CRL),
        )
        .map_err(AgentListenError::Tls)?,
    );
    let own = Arc::new(
        crate::revoking::Reloading::new(dir.join(NODE_CERT), dir.join(NODE_KEY), provider.clone())
            .map_err(AgentListenError::Tls)?,
    );
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| AgentListenError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(own);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn problem(status: actix_web::http::StatusCode, detail: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(serde_json::json!({
            "type": "https://stackbox.invalid/problems/agent",
            "title": "The node agent refused or failed",
            "status": status.as_u16(),
            "detail": detail,
        }))
}

fn failed(e: &AgentError) -> HttpResponse {
    let status = match e {
        AgentError::Refused(_) => actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        _ => actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!("agent: {}", stackbox_common::error::chain(e));
    problem(status, stackbox_common::error::chain(e))
}

async fn health(agent: web::Data<Agent>) -> HttpResponse {
    let agent = agent.into_inner();
    match web::block(move || agent.health()).await {
        Ok(h) => HttpResponse::Ok().json(h),
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

async fn hardware(agent: web::Data<Agent>) -> HttpResponse {
    let agent = agent.into_inner();
    match web::block(move || agent.hardware()).await {
        Ok(Ok(h)) => HttpResponse::Ok().json(h),
        Ok(Err(e)) => failed(&e),
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

async fn status(agent: web::Data<Agent>) -> HttpResponse {
    let agent = agent.into_inner();
    let work = move || {
        stackbox_cluster::status::local(
            &agent.paths().config,
            &stackbox_machine::system::Root::at(&agent.paths().root),
            &agent.paths().state,
            agent.running(),
        )
    };
    match web::block(work).await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

async fn assign(agent: web::Data<Agent>, body: web::Json<Assignment>) -> HttpResponse {
    let agent = agent.into_inner();
    match web::block(move || agent.assign(&body)).await {
        Ok(Ok(())) => {
            tracing::info!("agent: took the cluster's assignment");
            HttpResponse::Ok().json(serde_json::json!({"assigned": true}))
        }
        Ok(Err(e)) => failed(&e),
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

async fn certificate_request(agent: web::Data<Agent>) -> HttpResponse {
    let agent = agent.into_inner();
    match web::block(move || agent.certificate_request()).await {
        Ok(Ok(csr)) => {
            tracing::info!("agent: a new key's signing request for the cluster CA's holder");
            HttpResponse::Ok().json(stackbox_cluster::agent::CertificateRequest { csr })
        }
        Ok(Err(e)) => failed(&e),
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

async fn step(agent: web::Data<Agent>, body: web::Json<StepRequest>) -> HttpResponse {
    let request = body.into_inner();
    tracing::info!(step = %request.id, "agent: running a step for the coordinator");
    match agent.run_step(request).await {
        Ok(outcome) => HttpResponse::Ok().json(outcome),
        Err(e) => failed(&e),
    }
}

/// The answer of blocking work that returns a document or an error: 200 with the document, else a 500
/// problem naming the error's chain (or why the work's thread failed).
fn blocked<T: serde::Serialize, E: std::error::Error>(
    done: Result<Result<T, E>, actix_web::error::BlockingError>,
) -> HttpResponse {
    let internal = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
    match done {
        Ok(Ok(doc)) => HttpResponse::Ok().json(doc),
        Ok(Err(e)) => problem(internal, stackbox_common::error::chain(&e)),
        Err(e) => problem(internal, e.to_string()),
    }
}

/// Which processes listen on a port of this node (the admin desk).
async fn port(path: web::Path<u16>) -> HttpResponse {
    let port = path.into_inner();
    blocked(web::block(move || stackbox_cluster::desk::port_holders(port)).await)
}

/// Restarts one of the cloud's services on this node and waits for it (the admin desk).
async fn restart(body: web::Json<stackbox_cluster::desk::RestartRequest>) -> HttpResponse {
    use stackbox_cluster::desk::{self, DeskError};
    let service = body.into_inner().service;
    match web::block(move || desk::restart(&service)).await {
        Ok(Ok(done)) => HttpResponse::Ok().json(done),
        Ok(Err(e @ DeskError::UnknownService(_))) => problem(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        ),
        Ok(Err(e @ DeskError::NotInstalled(_))) => {
            problem(actix_web::http::StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

/// This node's part of a support bundle, redacted and checked here (at the source).
async fn bundle(agent: web::Data<Agent>) -> HttpResponse {
    let agent = agent.into_inner();
    let work =
        move || stackbox_cluster::bundle::node_part(&agent.paths().root, &agent.paths().state);
    blocked(web::block(work).await)
}

/// A libvirt domain's state on this node (the admin desk's hung-VM recovery).
async fn vm_state(path: web::Path<String>) -> HttpResponse {
    let domain = path.into_inner();
    hypervisor_answer(web::block(move || stackbox_cluster::hypervisor::state(&domain)).await)
}

/// Destroys and starts a libvirt domain on this node (when nova cannot recover it).
async fn vm_restart(path: web::Path<String>) -> HttpResponse {
    let domain = path.into_inner();
    hypervisor_answer(web::block(move || stackbox_cluster::hypervisor::restart(&domain)).await)
}

fn hypervisor_answer(
    done: Result<
        Result<
            stackbox_cluster::hypervisor::DomainState,
            stackbox_cluster::hypervisor::HypervisorError,
        >,
        actix_web::error::BlockingError,
    >,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    use stackbox_cluster::hypervisor::HypervisorError;
    match done {
        Ok(Ok(state)) => HttpResponse::Ok().json(state),
        Ok(Err(e @ HypervisorError::BadDomain(_))) => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        Ok(Err(e @ HypervisorError::NoSuchDomain(_))) => {
            problem(StatusCode::NOT_FOUND, e.to_string())
        }
        Ok(Err(e)) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Writes the overcommit ratios into this node's nova.conf and restarts nova-compute (the admin desk).
async fn overcommit(
    agent: web::Data<Agent>,
    body: web::Json<stackbox_installer::config::Overcommit>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    use stackbox_cluster::overcommit::{self, OvercommitError};
    let agent = agent.into_inner();
    let ratios = body.into_inner();
    match web::block(move || overcommit::apply(&agent.paths().root, &ratios)).await {
        Ok(Ok(applied)) => HttpResponse::Ok().json(applied),
        Ok(Err(e @ OvercommitError::Invalid(_))) => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        Ok(Err(e @ OvercommitError::NotCompute)) => problem(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e)) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// This node's diagnosis: the troubleshooting matrix run here, its logs read `?since=SECONDS` back (30
/// minutes when not given; a window that is not a number of seconds from 1 to 30 days is refused).
async fn diagnose(
    agent: web::Data<Agent>,
    query: web::Query<stackbox_cluster::diagnose::SinceQuery>,
) -> HttpResponse {
    let window = match query.window() {
        Ok(w) => w,
        Err(e) => {
            return problem(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                format!("since: {e}"),
            );
        }
    };
    let agent = agent.into_inner();
    let work = move || stackbox_cluster::diagnose::local(&agent.paths().root, window);
    blocked(web::block(work).await)
}

async fn galera() -> HttpResponse {
    let work = || {
        stackbox_cluster::galera::view::local(std::path::Path::new(
            stackbox_cluster::galera::DATADIR,
        ))
    };
    match web::block(work).await {
        Ok(g) => HttpResponse::Ok().json(g),
        Err(e) => problem(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}

async fn leave(agent: web::Data<Agent>, body: web::Json<LeaveRequest>) -> HttpResponse {
    let request = body.into_inner();
    tracing::info!(node = %request.node, "agent: leaving the cluster for the coordinator");
    match agent.leave(request).await {
        Ok(outcome) => HttpResponse::Ok().json(outcome),
        Err(e) => failed(&e),
    }
}

/// The agent's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(BODY_LIMIT))
        .route(HEALTH_PATH, web::get().to(health))
        .route(STATUS_PATH, web::get().to(status))
        .route(HARDWARE_PATH, web::get().to(hardware))
        .route(ASSIGNMENT_PATH, web::put().to(assign))
        .route(
            stackbox_cluster::agent::CSR_PATH,
            web::post().to(certificate_request),
        )
        .route(STEPS_PATH, web::post().to(step))
        .route(LEAVE_PATH, web::post().to(leave))
        .route(stackbox_cluster::bundle::BUNDLE_PATH, web::get().to(bundle))
        .route(
            stackbox_cluster::diagnose::DIAGNOSE_PATH,
            web::get().to(diagnose),
        )
        .route(
            stackbox_cluster::overcommit::OVERCOMMIT_PATH,
            web::post().to(overcommit),
        )
        .route(
            &format!("{}/{{domain}}", stackbox_cluster::hypervisor::VM_PATH),
            web::get().to(vm_state),
        )
        .route(
            &format!(
                "{}/{{domain}}/restart",
                stackbox_cluster::hypervisor::VM_PATH
            ),
            web::post().to(vm_restart),
        )
        .route(
            &format!("{}/{{port}}", stackbox_cluster::desk::PORT_PATH),
            web::get().to(port),
        )
        .route(
            stackbox_cluster::desk::RESTART_PATH,
            web::post().to(restart),
        )
        .route(
            stackbox_cluster::galera::view::GALERA_PATH,
            web::get().to(galera),
        );
}

/// Binds the agent on `listen` with the credentials in `dir`; returns the server (not yet polled) and
/// its addresses.
pub fn bind(
    listen: &str,
    dir: &Path,
    agent: Agent,
) -> Result<(actix_web::dev::Server, Vec<SocketAddr>), AgentListenError> {
    let tls = tls_config(dir)?;
    let agent = web::Data::new(agent);
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(agent.clone())
            .configure(routes)
    })
    .workers(2)
    .shutdown_timeout(2)
    .bind_rustls_0_23(listen, tls)
    .map_err(|source| AgentListenError::Bind {
        addr: listen.to_owned(),
        source,
    })?;
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

/// Waits (without blocking the wizard) until the node has its cluster credentials under
/// `state_dir`, then serves the agent on `listen` until the process ends.
pub async fn serve_when_ready(
    listen: String,
    state_dir: std::path::PathBuf,
    root: std::path::PathBuf,
) {
    let dir = state_dir.join(NODE_DIR);
    let ready = || {
        [CLUSTER_CA, NODE_CERT, NODE_KEY]
            .iter()
            .all(|f| dir.join(f).exists())
    };
    while !ready() {
        actix_web::rt::time::sleep(WAIT).await;
    }
    let agent = Agent::new(AgentPaths {
        root,
        credentials: dir.clone(),
        state: state_dir,
        ..AgentPaths::default()
    });
    match bind(&listen, &dir, agent) {
        Ok((server, addrs)) => {
            for a in &addrs {
                tracing::info!("node agent listening on https://{a}/ (mutual TLS 1.3)");
            }
            if let Err(e) = server.await {
                tracing::error!("node agent: {e}");
            }
        }
        Err(e) => tracing::error!("node agent: {}", stackbox_common::error::chain(&e)),
    }
}
