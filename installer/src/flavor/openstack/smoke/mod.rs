//! The smoke test: proves the cloud by booting a VM. The plan's last step runs `stackboxd smoke` (see
//! [`step`]) with the admin credentials in its environment; that command calls [`run`], which builds a
//! tiny guest ([`guest`]), and through the `openstack` client ([`client`]) uploads it to glance as kernel,
//! ramdisk and a small disk image, creates a flavor and a tenant (VXLAN) network, boots a server, waits
//! until it is ACTIVE, reads its console log for the marker and the address, and deletes everything it
//! created, also on failure.

pub mod client;
pub mod guest;

use std::path::Path;

use stackbox_common::cmd::CmdError;

use crate::plan::builder::argv;
use crate::plan::{Action, DoneCheck, NodeSteps, SMOKE_COMMAND};

/// Names of what the smoke test creates; a leftover from an interrupted run is deleted first.
const NAME: &str = "stackbox-smoke";
/// The marker the guest prints once it has an address.
pub const MARKER: &str = "STACKBOX-SMOKE-OK";

/// Why the smoke test failed.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// An `openstack` (or guest-building) command failed.
    #[error(transparent)]
    Command(#[from] CmdError),
    /// A file of the guest could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The cloud did not boot the VM, or the VM did not come up.
    #[error("{0}")]
    Failed(String),
}

fn fail(message: impl Into<String>) -> SmokeError {
    SmokeError::Failed(message.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SmokeError + '_ {
    move |source| SmokeError::Io {
        path: path.display().to_string(),
        source,
    }
}

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

/// Runs the smoke test (the `openstack` client's credentials from the process environment plus `env`);
/// returns its report.
pub fn run(env: &[(String, String)]) -> Result<String, SmokeError> {
    let mut client = client::Client {
        env,
        log: String::new(),
    };
    client.cleanup();
    let result = client.run();
    client.cleanup();
    client.note("test resources deleted");
    result.map(|()| client.log)
}
