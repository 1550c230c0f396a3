//! glance, the image service, on every management node; the leader creates its tables.

use super::context::{File, OpenStackCtx};
use super::mgmt::Mgmt;
use crate::plan::builder::{NodeSteps, as_user, file};

/// glance's steps on a management node.
pub fn steps(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.packages(
        "glance.packages",
        "install glance",
        &["openstack.debconf"],
        &["glance"],
    );
    s.files(
        "glance.config",
        "configure glance",
        &["glance.packages"],
        vec![file(
            "/etc/glance/glance-api.conf",
            0o640,
            Some("root:glance"),
            File::GlanceApiConf.render(ctx),
        )],
    );
    if m.is_leader {
        s.once(
            "glance.db-sync",
            "create glance's tables",
            &["glance.config", &m.dbs],
            vec![as_user("glance", "glance-manage db_sync")],
            "/var/log/glance/glance-manage.log",
        );
    }
    let glance_db: &str = if m.is_leader {
        "glance.db-sync"
    } else {
        &m.endpoints
    };
    s.units(
        "glance.start",
        "start glance",
        &["glance.config", glance_db, &m.endpoints],
        &["glance.config"],
        &["glance-api.service"],
        "/var/log/glance/glance-api.log",
    );
    s.ready(
        "glance.ready",
        "wait until glance answers through haproxy",
        &["glance.start", "haproxy.start"],
        &ctx.public_url_glance(),
        "/var/log/glance/glance-api.log",
    );
}
