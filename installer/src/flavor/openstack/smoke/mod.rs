//! The smoke test: proves the cloud by booting a VM. The plan's last step runs `stackboxd smoke` (see
//! [`step`]) with the admin credentials in its environment; that command calls [`run`], which builds a
//! tiny guest ([`guest`]), and over OpenStack's REST APIs ([`client`]) uploads it to glance as kernel,
//! ramdisk and a small disk image, creates a flavor, a tenant (VXLAN) network with a router and a port,
//! boots a server with a config drive, waits until it is ACTIVE, reads its console log for the marker
//! and the address, and deletes everything it created, also on failure; it times every neutron call. [`error`] holds its names and its error.

pub mod client;
pub mod error;
pub mod guest;

use crate::plan::builder::argv;
pub use error::{MARKER, SmokeError};

use super::rest::{Admin, RestError, Session};

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

/// Runs the smoke test as the admin of this process's `OS_*` variables, its VM on `host` when given;
/// returns its report. With `keep`, a VM that booted is left running with its resources (the next run
/// deletes them first).
pub fn run(host: Option<&str>, keep: bool) -> Result<String, SmokeError> {
    let admin = Admin::from_process_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RestError::Runtime)?;
    runtime.block_on(async {
        let session = Session::sign_in(&admin).await?;
        let mut client = client::Client::new(&session, host)?;
        client.cleanup().await?;
        client.neutron_calls.clear();
        let result = client.run().await;
        if keep && result.is_ok() {
            client.note("test resources kept: the next smoke run deletes them");
        } else {
            let cleaned = client.cleanup().await;
            client.note(match &cleaned {
                Ok(()) => "test resources deleted".to_owned(),
                Err(e) => format!("test resources not all deleted: {e}"),
            });
            // A VM that booted but left resources behind is still a failure to report.
            if result.is_ok() {
                cleaned?;
            }
        }
        let timely = client.judge_neutron();
        result.and(timely).map(|()| client.log)
    })
}
