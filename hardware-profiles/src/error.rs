//! Errors of loading and using the catalog.

/// What is wrong with the hardware profiles, or with a request against them.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error(transparent)]
    Parse(#[from] stackbox_common::toml_file::TomlError),
    /// A value is well-formed but not acceptable (negative, absurd, inconsistent, unknown name).
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The dotted key path.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
    /// A role was asked for that the catalog does not define.
    #[error("unknown role `{name}` (known roles: {known})")]
    UnknownRole {
        /// The name asked for.
        name: String,
        /// The defined roles, comma-separated.
        known: String,
    },
    /// A profile was asked for that the catalog does not define.
    #[error("unknown profile `{name}` (known profiles: {known})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The defined profiles, comma-separated.
        known: String,
    },
}
