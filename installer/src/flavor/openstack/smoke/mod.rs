//! The smoke test: proves the cloud by booting a VM. The plan's last step runs `stackboxd smoke` (see
//! [`step`]) with the admin credentials in its environment; that command calls [`run`], which builds a
//! tiny guest ([`guest`]), and through the `openstack` client ([`client`]) uploads it to glance as kernel,
//! ramdisk and a small disk image, creates a flavor, a tenant (VXLAN) network with a router and a port,
//! boots a server with a config drive, waits until it is ACTIVE, reads its console log for the marker
//! and the address, and deletes everything it created, also on failure; it times every neutron call. [`error`] holds its names and its error.

pub mod client;
pub mod error;
pub mod guest;

use crate::plan::builder::argv;
pub use error::{MARKER, SmokeError};

use crate::plan::{Action, DoneCheck, NodeSteps, SMOKE_COMMAND};

/// The plan's smoke step on the management leader, after the compute hosts are mapped: `stackboxd
/// smoke` with the admin credentials `env`. Never done before it runs: it proves the steps before it.
pub fn step(s: &mut NodeSteps, env: Vec<(String, String)>) {
    let smoke = s.add(
        "smoke.test",
        "boot a test VM, read its console, delete it",
        &["nova.discover-hosts"],
        Action::Commands {
            commands: vec![argv(&SMOKE_COMMAND)],
            env,
        },
        DoneCheck::Never,
    );
    smoke.remedy = Some("Read /var/log/nova/nova-compute.log and the VM's console log; `openstack server list` shows what is left.".into());
}

/// Runs the smoke test (the `openstack` client's credentials from the process environment plus `env`),
/// its VM on `host` when given; returns its report. With `keep`, a VM that booted is left running with
/// its resources (the next run deletes them first).
pub fn run(env: &[(String, String)], host: Option<&str>, keep: bool) -> Result<String, SmokeError> {
    let mut client = client::Client {
        env,
        log: String::new(),
        neutron_calls: Vec::new(),
        host,
    };
    client.cleanup();
    client.neutron_calls.clear();
    let result = client.run();
    if keep && result.is_ok() {
        client.note("test resources kept: the next smoke run deletes them");
    } else {
        client.cleanup();
        client.note("test resources deleted");
    }
    let timely = client.judge_neutron();
    result.and(timely).map(|()| client.log)
}
