//! The installer: the cluster configuration, its validation, the plan of idempotent steps that installs
//! a cloud, and the journal and executor that carry the plan out on a node.
//!
//! The house: [`config`] and [`validate`] (the answers), [`plan`] (the generic plan: step types, order,
//! the step builder and the infrastructure every flavor shares), [`flavor`] (one folder per flavor, a
//! file per service; imports the plan, never the reverse), [`render`] (generic templates), [`secrets`],
//! [`journal`], [`executor`] (runs steps through a primitive [`executor::System`]: [`system`] for the
//! real machine, [`dry_run`] for plan mode), [`certificate`] (the endpoint certificate that
//! `stackboxd certificate` makes), [`install`] (`stackboxd install`), [`progress`] (phases, step
//! status, events and their fold) and [`runner`] (an installation on its own thread, followed through
//! [`progress`]); [`to_disk`] installs the appliance onto a disk from the live system (`stackboxd
//! install-os`); [`cli`] holds the `stackboxd plan`, `install`, `certificate`, `smoke` and `install-os`
//! commands.
//!
//! Nothing here knows about HTTP: the wizard (and, later, a node agent) drives it through these types.

pub mod certificate;
pub mod cli;
pub mod config;
pub mod dry_run;
pub mod error;
pub mod executor;
pub mod validate;

pub use config::ClusterConfig;
pub mod facts;
pub mod flavor;
pub mod plan;
pub mod render;
pub mod secrets;
pub mod service_tls;
pub mod to_disk;

pub use facts::{RootError, check_root, local_facts, local_nodes};
pub use flavor::build_plan;

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error(transparent)]
    Parse(#[from] config::ParseError),
}

/// Reads and parses a TOML cluster configuration (validation is separate: [`ClusterConfig::validate`]).
pub fn load_config(path: &std::path::Path) -> Result<ClusterConfig, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let file = path.display().to_string();
    let text = stackbox_common::toml_file::utf8(&file, &bytes).map_err(config::ParseError::from)?;
    Ok(ClusterConfig::from_toml(&file, text)?)
}
pub mod install;
pub mod install_log;
pub mod journal;
pub mod progress;
pub mod runner;
pub mod service_hold;
pub mod system;
