//! The appliance's first boot: checks of the probed facts against the hardware profiles, kernel tuning, the
//! wizard's identity and the console banner.
//!
//! The machine itself (`Root` and the probes) lives in `stackbox_machine`; nothing here knows about the
//! wizard's HTTP side or the installer. [`cli`] holds the `stackboxd check`, `tune` and `firstboot`
//! commands.

pub mod check;
pub mod cli;
pub mod firstboot;
pub mod identity;
pub mod report;
pub mod tune;

use stackbox_hardware_profiles::{Catalog, ProfileError};
use stackbox_machine::probe;
use stackbox_machine::system::Root;

/// Why a hardware check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The profile or a role named by the operator is unknown: a usage error.
    #[error(transparent)]
    Usage(ProfileError),
    /// The shipped or given hardware profiles are broken.
    #[error("loading the hardware profiles: {0}")]
    Profiles(#[source] ProfileError),
    /// A probe could not read what every report needs.
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
}

/// Probes `root` and judges it under `profile` for `roles` (the profile's default roles when empty).
pub fn check(
    root: &Root,
    catalog: &Catalog,
    profile: &str,
    roles: &[String],
) -> Result<check::Report, CheckError> {
    let profile = catalog.profile(profile).map_err(CheckError::Usage)?;
    let roles = if roles.is_empty() {
        profile.default_roles.clone()
    } else {
        roles.to_vec()
    };
    let req = catalog.requirements(&roles).map_err(CheckError::Usage)?;
    let facts = probe::probe(root)?;
    Ok(check::judge(facts, profile, &req))
}
