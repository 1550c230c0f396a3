//! Role requirements and named hardware profiles, loaded from TOML and validated.
//!
//! The data lives beside this crate (`roles.toml`, `profiles/*.toml`) and is embedded at build time, so the
//! appliance always has it; [`Catalog::load_dir`] reads an edited copy instead. Every problem is reported
//! with the file, the key and the reason, so an operator who edits a profile knows what to fix.

mod error;
mod model;
mod raw;

pub use error::ProfileError;
pub use model::{
    Catalog, Flavor, Port, Profile, Protocol, Reach, Requirements, Resource, Role, Verdict,
    Verdicts,
};

/// The roles file, embedded.
const ROLES_TOML: &str = include_str!("../roles.toml");
/// The named profiles, embedded: (file name, contents).
const PROFILES_TOML: &[(&str, &str)] = &[
    ("baremetal.toml", include_str!("../profiles/baremetal.toml")),
    ("lab.toml", include_str!("../profiles/lab.toml")),
];

impl Catalog {
    /// The catalog compiled into this binary.
    pub fn embedded() -> Result<Catalog, ProfileError> {
        let profiles = PROFILES_TOML
            .iter()
            .map(|(name, text)| (format!("profiles/{name}"), (*text).to_owned()))
            .collect();
        Catalog::from_sources(("roles.toml".to_owned(), ROLES_TOML.to_owned()), profiles)
    }

    /// Loads `DIR/roles.toml` and every `DIR/profiles/*.toml` (the profile's name is its file stem).
    pub fn load_dir(dir: &std::path::Path) -> Result<Catalog, ProfileError> {
        let read = |path: std::path::PathBuf| {
            let file = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|source| ProfileError::Read {
                file: file.clone(),
                source,
            })?;
            let text = stackbox_common::toml_file::utf8(&file, &bytes)?.to_owned();
            Ok::<_, ProfileError>((file, text))
        };
        let roles = read(dir.join("roles.toml"))?;
        let profiles_dir = dir.join("profiles");
        let entries = std::fs::read_dir(&profiles_dir).map_err(|source| ProfileError::Read {
            file: profiles_dir.display().to_string(),
            source,
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        let profiles = paths.into_iter().map(read).collect::<Result<Vec<_>, _>>()?;
        Catalog::from_sources(roles, profiles)
    }

    /// Builds a catalog from (file name, contents) pairs; file names are used in errors and, for profiles,
    /// their stem is the profile's name.
    pub fn from_sources(
        roles: (String, String),
        profiles: Vec<(String, String)>,
    ) -> Result<Catalog, ProfileError> {
        let roles = raw::parse_roles(&roles.0, &roles.1)?;
        let mut by_name = std::collections::BTreeMap::new();
        for (file, text) in &profiles {
            let profile = raw::parse_profile(file, text, &roles)?;
            by_name.insert(profile.name.clone(), profile);
        }
        if by_name.is_empty() {
            return Err(ProfileError::Invalid {
                file: "profiles/".into(),
                key: "(none)".into(),
                reason: "no profile is defined".into(),
            });
        }
        Ok(Catalog {
            roles,
            profiles: by_name,
        })
    }
}

#[cfg(test)]
mod tests;
