//! Why a step failed, by kind, so the wizard can map each to a status and a remedy. Where a lower layer
//! failed, its error is kept as the `#[source]` and the message names only this layer, so that printing
//! the chain (the executor's `error_chain`, with secrets redacted) shows each cause once.

use stackbox_common::cmd::CmdError;

use crate::secrets::SecretsError;

/// A step that could not be carried out or checked.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// An external command failed (apt-get, keystone-manage, rabbitmqctl, ...).
    #[error(transparent)]
    Command(#[from] CmdError),
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A database connection or statement failed.
    #[error("database: {what}")]
    Sql {
        /// What was being done (never a statement: statements hold secrets).
        what: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// systemd could not be reached or refused a request.
    #[error("systemd: {what}")]
    Systemd {
        /// What was being asked.
        what: String,
        /// The D-Bus error.
        #[source]
        source: zbus::Error,
    },
    /// A unit did not become active.
    #[error("systemd: {0}")]
    Unit(String),
    /// A secret placeholder could not be filled.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A wait ran out of time; the source is the last attempt's failure.
    #[error("not ready within {seconds}s")]
    NotReady {
        /// How long it waited.
        seconds: u64,
        /// Why the last attempt failed.
        #[source]
        source: Box<StepError>,
    },
    /// The action succeeded but the step's own check still says it is not done.
    #[error("the step ran but is still not done: {0}")]
    NotDone(String),
    /// This kind of step cannot be carried out yet.
    #[error("not implemented yet: {0}")]
    NotImplemented(&'static str),
}
