//! The appliance spec (`appliance.toml`): what `stackbox build` puts into the image. A default is embedded so
//! that `stackbox build` alone works; `--spec FILE` replaces it.
//!
//! Parsing goes through [`stackbox_common::toml_file::parse`] with `deny_unknown_fields`, so a misspelt key is
//! an error naming `file:line: key: reason`; the checks that serde cannot express (known suite, known formats,
//! non-empty package sets, sane names) follow in [`Spec::validate`] and name the key the same way.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use stackbox_common::toml_file::{self, TomlError};

/// The default spec, shipped inside the binary.
pub const DEFAULT_SPEC: &str = include_str!("../appliance.toml");

/// The Debian suites this builder knows how to turn into an appliance.
pub const SUPPORTED_SUITES: &[&str] = &["bookworm"];

/// The cloud stacks whose role package sets the builder knows.
pub const SUPPORTED_FLAVORS: &[&str] = &["openstack"];

/// One artifact kind that `stackbox build` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `stackbox.iso`: hybrid ISO, boots as CD and as a USB stick, BIOS and UEFI.
    Iso,
    /// `disk.raw`: GPT disk image with ESP and root, BIOS and UEFI.
    Raw,
    /// `disk.qcow2`: the same disk as qcow2.
    Qcow2,
    /// `pxe/`: kernel, initrd, squashfs root and `boot.ipxe`.
    Pxe,
    /// `rootfs.tar`: the root filesystem for system containers.
    Tar,
}

impl Format {
    /// Every format, in build order.
    pub const ALL: [Format; 5] = [
        Format::Tar,
        Format::Pxe,
        Format::Iso,
        Format::Raw,
        Format::Qcow2,
    ];

    /// The name used in the spec and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Iso => "iso",
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Pxe => "pxe",
            Format::Tar => "tar",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format `{s}` (known: iso, raw, qcow2, pxe, tar)"))
    }
}

/// Parses a comma-separated list of formats (`iso,raw`), as given to `--formats`.
pub fn parse_formats(list: &str) -> Result<Vec<Format>, String> {
    let mut out = Vec::new();
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let f = word.parse()?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err("no format given".to_owned());
    }
    Ok(out)
}

/// The serial console settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// The serial device without `/dev/` (`ttyS0`).
    pub serial: String,
    /// The line speed in baud.
    pub baud: u32,
}

/// Kernel settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// Extra command-line arguments.
    #[serde(default)]
    pub cmdline: Vec<String>,
}

/// Package sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Installed into the root by mmdebstrap.
    pub base: Vec<String>,
}

/// A validated appliance spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The Debian suite (`bookworm`).
    pub suite: String,
    /// The cloud stack (`openstack`).
    pub flavor: String,
    /// The appliance's host name.
    pub hostname: String,
    /// `LANG` of the appliance.
    pub locale: String,
    /// A zone name under `/usr/share/zoneinfo`.
    pub timezone: String,
    /// The epoch every timestamp is clamped to.
    pub source_date_epoch: u64,
    /// The hardware profile stackboxd uses (`lab`, `baremetal`).
    pub profile: String,
    /// The default artifact formats.
    pub outputs: Vec<Format>,
    /// Serial console.
    pub console: Console,
    /// Kernel command line.
    pub kernel: Kernel,
    /// Packages in the root.
    pub packages: Packages,
    /// Role name to the packages that role needs (they go into the offline pool).
    pub roles: BTreeMap<String, Vec<String>>,
}

/// A spec that parsed but does not make sense, naming the file and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Malformed TOML, an unknown key or a value of the wrong type.
    #[error(transparent)]
    Toml(#[from] TomlError),
    /// A value outside what the builder supports.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The spec file, as given.
        file: String,
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl Spec {
    /// The embedded default spec.
    pub fn default_spec() -> Result<Spec, SpecError> {
        Spec::parse("appliance.toml (embedded)", DEFAULT_SPEC)
    }

    /// Parses and validates `text`, the contents of `file`.
    pub fn parse(file: &str, text: &str) -> Result<Spec, SpecError> {
        let spec: Spec = toml_file::parse(file, text)?;
        spec.validate(file)?;
        Ok(spec)
    }

    /// Checks what serde cannot: supported suite and flavor, non-empty sets, names that are safe to use.
    pub fn validate(&self, file: &str) -> Result<(), SpecError> {
        self.check_names()
            .and_then(|()| self.check_boot())
            .and_then(|()| self.check_package_sets())
            .and_then(|()| self.check_epoch())
            .map_err(|(key, reason)| SpecError::Invalid {
                file: file.to_owned(),
                key,
                reason,
            })
    }

    /// Suite, flavor, host name, locale, time zone and profile.
    fn check_names(&self) -> Result<(), Invalid> {
        if !SUPPORTED_SUITES.contains(&self.suite.as_str()) {
            return Err(bad(
                "suite",
                format!(
                    "unknown suite `{}` (supported: {})",
                    self.suite,
                    SUPPORTED_SUITES.join(", ")
                ),
            ));
        }
        if !SUPPORTED_FLAVORS.contains(&self.flavor.as_str()) {
            return Err(bad(
                "flavor",
                format!(
                    "unknown flavor `{}` (supported: {})",
                    self.flavor,
                    SUPPORTED_FLAVORS.join(", ")
                ),
            ));
        }
        if !is_hostname(&self.hostname) {
            return Err(bad(
                "hostname",
                format!(
                    "`{}` is not a valid host name (RFC 1123 label)",
                    self.hostname
                ),
            ));
        }
        if !is_plain_word(&self.locale, "._-@") {
            return Err(bad(
                "locale",
                format!("`{}` is not a locale name", self.locale),
            ));
        }
        if !is_plain_word(&self.timezone, "/_+-") || self.timezone.contains("..") {
            return Err(bad(
                "timezone",
                format!("`{}` is not a zone name", self.timezone),
            ));
        }
        if !is_plain_word(&self.profile, "-_") {
            return Err(bad(
                "profile",
                format!("`{}` is not a profile name", self.profile),
            ));
        }
        Ok(())
    }

    /// Output formats, the serial console and the extra kernel arguments.
    fn check_boot(&self) -> Result<(), Invalid> {
        if self.outputs.is_empty() {
            return Err(bad("outputs", "no output format listed".to_owned()));
        }
        if !self.console.serial.starts_with("tty") || !is_plain_word(&self.console.serial, "") {
            return Err(bad(
                "console.serial",
                format!("`{}` is not a tty name like ttyS0", self.console.serial),
            ));
        }
        if ![9600, 19200, 38400, 57600, 115200].contains(&self.console.baud) {
            return Err(bad(
                "console.baud",
                format!("{} is not a standard serial speed", self.console.baud),
            ));
        }
        for (i, arg) in self.kernel.cmdline.iter().enumerate() {
            if arg.is_empty()
                || arg
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '\'')
            {
                return Err(bad(
                    &format!("kernel.cmdline[{i}]"),
                    format!("`{arg}` must be one word without quotes"),
                ));
            }
        }
        Ok(())
    }

    /// The base packages and every role's package set.
    fn check_package_sets(&self) -> Result<(), Invalid> {
        check_packages(&self.packages.base, "packages.base")?;
        if self.roles.is_empty() {
            return Err(bad("roles", "no role package set is defined".to_owned()));
        }
        for (role, pkgs) in &self.roles {
            if !is_plain_word(role, "-") {
                return Err(bad(&format!("roles.{role}"), "not a role name".to_owned()));
            }
            check_packages(pkgs, &format!("roles.{role}"))?;
        }
        Ok(())
    }

    /// Epochs before 1980 cannot be stored in FAT (the ESP) or ISO 9660 dates.
    fn check_epoch(&self) -> Result<(), Invalid> {
        if self.source_date_epoch < 315_532_800 {
            return Err(bad(
                "source_date_epoch",
                format!(
                    "{} is before 1980-01-01, which FAT and ISO 9660 cannot store",
                    self.source_date_epoch
                ),
            ));
        }
        Ok(())
    }

    /// Every role package, sorted and without duplicates.
    pub fn pool_packages(&self) -> Vec<String> {
        let mut all: Vec<String> = self.roles.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// The kernel command line for a given root argument (`root=UUID=...` or `boot=live ...`).
    pub fn cmdline(&self, root_args: &str) -> String {
        let mut words = vec![
            root_args.to_owned(),
            "console=tty0".to_owned(),
            format!("console={},{}n8", self.console.serial, self.console.baud),
        ];
        words.extend(self.kernel.cmdline.iter().cloned());
        words.join(" ")
    }
}

/// A failed check: the dotted key and what is wrong with it.
type Invalid = (String, String);

fn bad(key: &str, reason: String) -> Invalid {
    (key.to_owned(), reason)
}

fn check_packages(pkgs: &[String], key: &str) -> Result<(), Invalid> {
    if pkgs.is_empty() {
        return Err((key.to_owned(), "the package set is empty".to_owned()));
    }
    for (i, p) in pkgs.iter().enumerate() {
        if !is_package_name(p) {
            return Err((
                format!("{key}[{i}]"),
                format!("`{p}` is not a Debian package name"),
            ));
        }
    }
    Ok(())
}

/// Debian policy 5.6.1: lower-case letters, digits, `+ - .`, at least two characters, starting alphanumeric.
fn is_package_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

fn is_hostname(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_plain_word(s: &str, extra: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        let spec = Spec::default_spec().unwrap();
        assert_eq!(spec.suite, "bookworm");
        assert!(spec.pool_packages().contains(&"mariadb-server".to_owned()));
        assert_eq!(spec.outputs.len(), 5);
    }

    #[test]
    fn cmdline_puts_serial_console_last() {
        let spec = Spec::default_spec().unwrap();
        let line = spec.cmdline("root=UUID=x ro");
        assert!(
            line.starts_with("root=UUID=x ro console=tty0 console=ttyS0,115200n8"),
            "{line}"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!(
            parse_formats("iso,raw,iso").unwrap(),
            vec![Format::Iso, Format::Raw]
        );
        assert!(parse_formats("iso,vhd").unwrap_err().contains("vhd"));
        assert!(parse_formats("").is_err());
    }

    #[test]
    fn package_names() {
        assert!(is_package_name("libstdc++6"));
        assert!(is_package_name("galera-4"));
        assert!(!is_package_name("Mariadb"));
        assert!(!is_package_name("a"));
        assert!(!is_package_name("x y"));
    }
}
