//! memcached on the management nodes: the services' token cache.

use crate::plan::builder::{NodeSteps, file};
use crate::render::{Ctx, File};

/// Installs, configures and starts memcached.
pub fn steps(s: &mut NodeSteps, ctx: &Ctx) {
    s.packages(
        "memcached.packages",
        "install memcached",
        &["hosts"],
        &["memcached"],
    );
    s.files(
        "memcached.config",
        "configure memcached",
        &["memcached.packages"],
        vec![file(
            "/etc/memcached.conf",
            0o644,
            None,
            File::MemcachedConf.render(ctx),
        )],
    );
    s.units(
        "memcached.start",
        "start memcached",
        &["memcached.config"],
        &["memcached.config"],
        &["memcached.service"],
        "/var/log/memcached.log",
    );
}
