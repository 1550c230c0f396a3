//! The cluster's secrets: generated when absent, kept in one TOML file with mode 0600 (by default
//! `/etc/stackbox/secrets.toml`), substituted into files, SQL and commands' environments (never their argv) only when they are executed, and
//! redacted from anything reported.

use std::collections::BTreeMap;
use std::path::Path;

use stackbox_common::fs::write_atomic;
use stackbox_common::secret::{Secret, generate_password};

/// Where the secrets live on a node.
pub const DEFAULT_PATH: &str = "/etc/stackbox/secrets.toml";

/// Every secret an OpenStack cluster uses.
pub const NAMES: &[&str] = &[
    "admin",
    "db-stackbox",
    "db-sst",
    "db-keystone",
    "db-glance",
    "db-placement",
    "db-nova",
    "db-neutron",
    "rabbit",
    "erlang-cookie",
    "user-glance",
    "user-placement",
    "user-nova",
    "user-neutron",
    "metadata-proxy",
    "fernet-0",
    "fernet-1",
    "credential-0",
    "credential-1",
    "horizon-key",
];

/// Secrets that are keys of a given shape rather than passwords: keystone's Fernet keys, and the
/// dashboard's Django secret key (64 characters: Django's deployment check wants at least 50).
fn generate(name: &str) -> Result<Secret, stackbox_common::secret::RandomError> {
    if name.starts_with("fernet-") || name.starts_with("credential-") {
        stackbox_common::secret::generate_fernet_key()
    } else if name == "horizon-key" {
        Ok(Secret::from(format!(
            "{}{}",
            generate_password()?.expose(),
            generate_password()?.expose()
        )))
    } else {
        generate_password()
    }
}

/// How every secret placeholder begins: `@@secret:NAME@@`.
pub const MARK: &str = "@@secret:";

/// The placeholder that stands for a secret in rendered files, SQL and a command's environment (never in
/// its argv: see [`crate::plan::Plan::build`]).
pub fn placeholder(name: &str) -> String {
    format!("{MARK}{name}@@")
}

/// Why the secrets could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Reading or writing the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the TOML table of strings it should be.
    #[error("{path}: not a table of secrets: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What the parser said (never the contents).
        reason: String,
    },
    /// Generating a secret failed.
    #[error(transparent)]
    Random(#[from] stackbox_common::secret::RandomError),
    /// The file lacks a secret (a joined node's secrets come whole from the cluster, never made here).
    #[error("{path}: the secret `{name}` is missing")]
    Missing {
        /// The file.
        path: String,
        /// The missing secret's name.
        name: String,
    },
    /// A placeholder names a secret that does not exist.
    #[error("unknown secret `{0}` in a placeholder")]
    Unknown(String),
}

/// The loaded secrets.
#[derive(Clone)]
pub struct Secrets {
    values: BTreeMap<String, Secret>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Loads the file as it is and refuses one that lacks a secret: a node agent runs steps with the
    /// cluster's secrets, which the coordinator sent it ([`Secrets::parse`] checked them).
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SecretsError::Io {
            path: shown.clone(),
            source,
        })?;
        Secrets::parse(&text, &shown)
    }

    /// Parses a secrets file's text (`shown` names it in errors) and refuses one that lacks a secret.
    pub fn parse(text: &str, shown: &str) -> Result<Secrets, SecretsError> {
        let raw: BTreeMap<String, String> =
            toml::from_str(text).map_err(|e| SecretsError::Malformed {
                path: shown.to_owned(),
                reason: e.message().to_owned(),
            })?;
        if let Some(name) = NAMES
            .iter()
            .find(|n| raw.get(**n).is_none_or(|v| v.is_empty()))
        {
            return Err(SecretsError::Missing {
                path: shown.to_owned(),
                name: (*name).to_owned(),
            });
        }
        Ok(Secrets {
            values: raw.into_iter().map(|(k, v)| (k, Secret::from(v))).collect(),
        })
    }

    /// Loads the file, generates every missing secret, and writes the file back (mode 0600) when it
    /// generated any.
    pub fn load_or_generate(path: &Path) -> Result<Secrets, SecretsError> {
        let shown = path.display().to_string();
        let mut raw: BTreeMap<String, String> = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| SecretsError::Malformed {
                path: shown.clone(),
                reason: e.message().to_owned(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(SecretsError::Io {
                    path: shown,
                    source,
                });
            }
        };
        let mut generated = false;
        for name in NAMES {
            if raw.get(*name).is_none_or(|v| v.is_empty()) {
                raw.insert((*name).to_owned(), generate(name)?.expose().to_owned());
                generated = true;
            }
        }
        if generated {
            let mut text = String::from(
                "# stackbox cluster secrets: generated, mode 0600; never copy them into tickets or logs.\n",
            );
            text.push_str(&toml::to_string(&raw).map_err(|e| SecretsError::Malformed {
                path: shown.clone(),
                reason: e.to_string(),
            })?);
            write_atomic(path, text.as_bytes(), 0o600).map_err(|source| SecretsError::Io {
                path: shown,
                source,
            })?;
        }
        Ok(Secrets {
            values: raw.into_iter().map(|(k, v)| (k, Secret::from(v))).collect(),
        })
    }

    /// The secret called `name`.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }

    /// Replaces every `@@secret:NAME@@` in `text` with the secret.
    pub fn fill(&self, text: &str) -> Result<String, SecretsError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(MARK) {
            out.push_str(&rest[..at]);
            let after = &rest[at + MARK.len()..];
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                .count();
            let name = &after[..len];
            if !after[len..].starts_with("@@") {
                return Err(SecretsError::Unknown(name.to_owned()));
            }
            let value = self
                .get(name)
                .ok_or_else(|| SecretsError::Unknown(name.to_owned()))?;
            out.push_str(value.expose());
            rest = &after[len + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Replaces every secret's value in `text` with `[redacted]`: for error output and logs.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in self.values.values() {
            if !value.expose().is_empty() {
                out = out.replace(value.expose(), "[redacted]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generated_once_kept_private_and_filled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/stackbox/secrets.toml");
        let first = Secrets::load_or_generate(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = Secrets::load_or_generate(&path).unwrap();
        assert_eq!(first.get("rabbit"), again.get("rabbit"));
        let url = first
            .fill("rabbit://openstack:@@secret:rabbit@@@host:5672/")
            .unwrap();
        assert_eq!(
            url,
            format!(
                "rabbit://openstack:{}@host:5672/",
                first.get("rabbit").unwrap().expose()
            )
        );
        assert_eq!(
            first.redact(&url),
            "rabbit://openstack:[redacted]@host:5672/"
        );
        assert!(!format!("{first:?}").contains(first.get("admin").unwrap().expose()));
    }

    #[test]
    fn unknown_or_broken_placeholders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let s = Secrets::load_or_generate(&dir.path().join("s.toml")).unwrap();
        assert!(
            matches!(s.fill("x @@secret:nope@@"), Err(SecretsError::Unknown(n)) if n == "nope")
        );
        assert!(s.fill("x @@secret:rabbit").is_err());
        assert_eq!(s.fill("no placeholders").unwrap(), "no placeholders");
    }

    #[test]
    fn a_missing_secret_is_added_and_kept_ones_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "admin = \"keep-me\"\n").unwrap();
        let s = Secrets::load_or_generate(&path).unwrap();
        assert_eq!(s.get("admin").unwrap().expose(), "keep-me");
        assert!(s.get("db-nova").is_some());
        std::fs::write(&path, "admin = [1]\n").unwrap();
        assert!(matches!(
            Secrets::load_or_generate(&path),
            Err(SecretsError::Malformed { .. })
        ));
    }
}
