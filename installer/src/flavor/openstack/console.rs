//! The noVNC console proxy, on the console-proxy nodes (or the management nodes when none has that
//! role), behind haproxy.

use super::context::{File, OpenStackCtx};
use crate::plan::builder::{NodeSteps, file};

/// The console proxy's steps; it waits for the management leader's endpoints.
pub fn steps(s: &mut NodeSteps, ctx: &OpenStackCtx, mgmt_leader: &str) {
    let endpoints = format!("{mgmt_leader}/keystone.endpoints");
    s.packages(
        "console.packages",
        "install the noVNC console proxy",
        &["hosts"],
        &["nova-consoleproxy"],
    );
    super::nova::config(s, ctx, &["console.packages"]);
    s.files(
        "console.config",
        "serve noVNC",
        &["console.packages"],
        vec![file(
            "/etc/default/nova-consoleproxy",
            0o644,
            None,
            File::NovaConsoleproxy.render(ctx),
        )],
    );
    s.units(
        "console.start",
        "start the console proxy",
        &["console.config", "nova.config", &endpoints],
        &["console.config", "nova.config"],
        &["nova-novncproxy.service"],
        "/var/log/nova/nova-novncproxy.log",
    );
}
