//! Why a step failed, by kind, so the wizard can map each to a status and a remedy.

use stackbox_common::cmd::CmdError;

use crate::secrets::SecretsError;

/// A step that could not be carried out or checked.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// An external command failed (apt-get, keystone-manage, rabbitmqctl, ...).
    #[error(transparent)]
    Command(#[from] CmdError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A database statement or connection failed.
    #[error("database: {0}")]
    Sql(String),
    /// systemd refused or failed a unit.
    #[error("systemd: {0}")]
    Systemd(String),
    /// A secret placeholder could not be filled.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The action succeeded but the step's own check still says it is not done.
    #[error("the step ran but is still not done: {0}")]
    NotDone(String),
    /// This kind of step cannot be carried out yet.
    #[error("not implemented yet: {0}")]
    NotImplemented(&'static str),
}
