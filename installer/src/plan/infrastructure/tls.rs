//! The certificates of the daemons that speak TLS inside the cluster (MariaDB, RabbitMQ), as a step of
//! their node: see [`crate::service_tls`].

use crate::plan::builder::{NodeSteps, argv};
use crate::plan::step::{Action, DoneCheck};
use crate::render::Ctx;
use crate::service_tls::Service;

/// The step `tls.SERVICE`: the daemon's certificate from the cluster CA in place (`stackboxd
/// certificate --service`), after `after` (the daemon's package, which makes its group). Its evidence
/// is the certificate judged good, asked on every run ([`DoneCheck::Current`]), so that a rotated CA or a
/// certificate near its end is replaced by the next install.
pub fn step(s: &mut NodeSteps, ctx: &Ctx, service: Service, after: &[&str]) {
    let mut command = argv(&["stackboxd", "certificate", "--service", service.name()]);
    for name in [&ctx.node_name, &ctx.address] {
        command.extend(["--name".to_owned(), name.clone()]);
    }
    let mut check = command.clone();
    check.push("--check".to_owned());
    s.add(
        &format!("tls.{}", service.name()),
        &format!(
            "put {}'s certificate from the cluster CA in place",
            service.name()
        ),
        after,
        Action::Commands {
            commands: vec![command],
            env: Vec::new(),
        },
        DoneCheck::Current { argv: check },
    );
}
