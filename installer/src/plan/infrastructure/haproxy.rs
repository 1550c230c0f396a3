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
    let api_address = ctx
        .vrrp
        .as_ref()
        .map(|v| v.address.split('/').next().unwrap_or_default().to_owned());
    let mut names = vec![&ctx.api_host];
    names.extend(api_address.as_ref().filter(|a| **a != ctx.api_host));
    names.extend([&ctx.address, &ctx.node_name]);
    for name in names {
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
    // keepalived keeps the API address (when it is one of its own) on a node whose haproxy runs.
    let (packages, units, title): (&[&str], &[&str], String) = match &ctx.vrrp {
        Some(v) => (
            &["haproxy", "keepalived"],
            &["haproxy.service", "keepalived.service"],
            format!("start haproxy and keepalived (API address {})", v.address),
        ),
        None => (
            &["haproxy"],
            &["haproxy.service"],
            "start haproxy".to_owned(),
        ),
    };
    s.packages("haproxy.packages", "install haproxy", &["hosts"], packages);
    let mut files = vec![file(
        "/etc/haproxy/haproxy.cfg",
        0o644,
        None,
        File::HaproxyCfg.render(ctx),
    )];
    if ctx.vrrp.is_some() {
        files.push(file(
            "/etc/keepalived/keepalived.conf",
            0o644,
            None,
            File::KeepalivedConf.render(ctx),
        ));
    }
    s.files(
        "haproxy.config",
        "configure haproxy's TLS 1.3 endpoints",
        &["haproxy.packages"],
        files,
    );
    s.units(
        "haproxy.start",
        &title,
        &["haproxy.config", "tls.certificate"],
        &["haproxy.config", "tls.certificate"],
        units,
        "/var/log/haproxy.log",
    );
}
