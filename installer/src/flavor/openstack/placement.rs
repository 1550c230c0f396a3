//! placement, the resource inventory nova schedules against, on every management node; the leader
//! creates its tables.

use super::context::{File, OpenStackCtx};
use super::endpoints::ports;
use super::mgmt::Mgmt;
use super::uwsgi::{self, App};
use crate::plan::builder::{NodeSteps, as_user, file};

/// placement's steps on a management node.
pub fn steps(s: &mut NodeSteps, ctx: &OpenStackCtx, m: &Mgmt) {
    s.packages(
        "placement.packages",
        "install placement",
        &["openstack.debconf"],
        &["placement-api"],
    );
    s.files(
        "placement.config",
        "configure placement",
        &["placement.packages"],
        vec![
            file(
                "/etc/placement/placement.conf",
                0o640,
                Some("root:placement"),
                File::PlacementConf.render(ctx),
            ),
            uwsgi::default_file(App::Placement, ctx, ports::PLACEMENT.1),
            uwsgi::ini(App::Placement, ctx),
        ],
    );
    if m.is_leader {
        s.once(
            "placement.db-sync",
            "create placement's tables",
            &["placement.config", &m.dbs],
            vec![as_user("placement", "placement-manage db sync")],
            "/var/log/placement/placement-api.log",
        );
    }
    let placement_db: &str = if m.is_leader {
        "placement.db-sync"
    } else {
        &m.endpoints
    };
    s.units(
        "placement.start",
        "start placement",
        &["placement.config", placement_db, &m.endpoints],
        &["placement.config"],
        &["placement-api.service"],
        "/var/log/placement/placement-api.log",
    );
    s.ready(
        "placement.ready",
        "wait until placement answers through haproxy",
        &["placement.start", "haproxy.start"],
        &format!("https://{}:{}", ctx.api_host, ports::PLACEMENT.0),
        "/var/log/placement/placement-api.log",
    );
}
