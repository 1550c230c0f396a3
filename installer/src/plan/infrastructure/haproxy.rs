//! haproxy on the management nodes: the public TLS 1.3 endpoints of the flavor's APIs, and the endpoint
//! certificate it serves (with the cluster CA), made by `stackboxd certificate` unless the operator gave
//! one.

use crate::certificate::ENDPOINT_PEM;
use crate::config::Tls;
use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::step::{Action, DoneCheck};
use crate::render::{Ctx, File};

/// The command that makes (or, with the operator's files in `tls`, installs) the endpoint certificate
/// for the node's names.
pub fn certificate_command(ctx: &Ctx, tls: &Tls) -> Vec<String> {
    let mut command = argv(&["stackboxd", "certificate"]);
    for name in [&ctx.api_host, &ctx.address, &ctx.node_name] {
        command.extend(["--name".to_owned(), name.clone()]);
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        command.extend([
            "--cert".to_owned(),
            cert.display().to_string(),
            "--key".to_owned(),
            key.display().to_string(),
        ]);
    }
    command
}

/// The certificate, then haproxy's packages, configuration and start.
pub fn steps(s: &mut NodeSteps, ctx: &Ctx, tls: &Tls) {
    s.add(
        "tls.certificate",
        "make the endpoint certificate and the cluster CA",
        &[],
        Action::Commands {
            commands: vec![certificate_command(ctx, tls)],
            env: Vec::new(),
        },
        DoneCheck::Path {
            path: ENDPOINT_PEM.into(),
        },
    );
    s.packages(
        "haproxy.packages",
        "install haproxy",
        &["hosts"],
        &["haproxy"],
    );
    s.files(
        "haproxy.config",
        "configure haproxy's TLS 1.3 endpoints",
        &["haproxy.packages"],
        vec![file(
            "/etc/haproxy/haproxy.cfg",
            0o644,
            None,
            File::HaproxyCfg.render(ctx),
        )],
    );
    s.units(
        "haproxy.start",
        "start haproxy",
        &["haproxy.config", "tls.certificate"],
        &["haproxy.config", "tls.certificate"],
        &["haproxy.service"],
        "/var/log/haproxy.log",
    );
}
