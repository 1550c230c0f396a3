//! The smoke test's names (what it creates, the marker its guest prints) and why it can fail.

use std::path::Path;

use stackbox_common::cmd::CmdError;

/// Names of what the smoke test creates; a leftover from an interrupted run is deleted first.
pub const NAME: &str = "stackbox-smoke";
/// The marker the guest prints once it has an address.
pub const MARKER: &str = "STACKBOX-SMOKE-OK";

/// Why the smoke test failed.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// A guest-building command failed.
    #[error(transparent)]
    Command(#[from] CmdError),
    /// The cloud's API could not be reached or refused a call.
    #[error(transparent)]
    Rest(#[from] crate::flavor::openstack::rest::RestError),
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

/// A failure of the cloud or the VM.
pub fn fail(message: impl Into<String>) -> SmokeError {
    SmokeError::Failed(message.into())
}

/// An I/O failure on `path`.
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SmokeError + '_ {
    move |source| SmokeError::Io {
        path: path.display().to_string(),
        source,
    }
}
