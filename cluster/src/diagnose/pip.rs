//! Broken Python dependencies: `python3 -m pip check` (Debian's python3-pip, which python3-neutron
//! depends on, so every node with neutron has it) over the installed packages, on a node with OpenStack's
//! Python packages. Each package pip names is one observation: pip's lines (`X 1.0 requires Y, which is
//! not installed.`, `X 1.0 has requirement Y>=2, but you have Y 1.0.`), then which Debian package
//! installed each package concerned (`dpkg -S` of its metadata directory), or that none did (a
//! `pip install` into /usr/local). A node where pip cannot run says so: the check failed, it did not pass.
//!
//! Debian strips the install requirements of its OpenStack packages' metadata (apt's dependencies hold
//! them), so on a healthy node `pip check` finds nothing: measured on the cluster tier's three nodes
//! (management, compute, storage and bus roles; pip 23.0.1's check over their dist-packages), no line.
//! So every line is reported; there is no list of mismatches Debian ships knowingly.

use std::collections::BTreeMap;

use super::model::{Evidence, Observation, Skip};
use super::system::System;

/// The command.
pub const PIP_CHECK: &[&str] = &["python3", "-m", "pip", "check"];
/// dpkg's record of OpenStack's Python packages: one of them installed is a node this check is for.
const OPENSTACK: &[&str] = &[
    "python3-nova",
    "python3-neutron",
    "python3-keystone",
    "python3-glance",
    "python3-placement",
];
/// The most `dpkg -S` lookups one check makes (each reads dpkg's file lists).
const MOST_LOOKUPS: usize = 12;

/// What one line of `pip check` says is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// `X 1.0 requires Y, which is not installed.`
    Missing {
        /// The package with the requirement, and its version.
        dist: (String, String),
        /// The package it requires.
        requires: String,
    },
    /// `X 1.0 has requirement Y>=2, but you have Y 1.0.`
    Conflict {
        /// The package with the requirement, and its version.
        dist: (String, String),
        /// The requirement (`Y>=2`).
        requirement: String,
        /// The package installed instead, and its version.
        have: (String, String),
    },
    /// A line of another shape (pip's wording of a newer release, unreadable metadata).
    Other(String),
}

impl Broken {
    /// The package the line is about.
    fn subject(&self) -> String {
        match self {
            Broken::Missing { dist, .. } | Broken::Conflict { dist, .. } => {
                format!("python package {} {}", dist.0, dist.1)
            }
            Broken::Other(_) => "pip check".to_owned(),
        }
    }
}

/// `pip check`'s lines, each parsed (its closing line when all is well is no problem).
pub fn parse_pip_check(text: &str) -> Vec<(String, Broken)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "No broken requirements found.")
        .map(|l| (l.to_owned(), parse_line(l)))
        .collect()
}

fn parse_line(line: &str) -> Broken {
    let other = || Broken::Other(line.to_owned());
    let Some(body) = line.strip_suffix('.') else {
        return other();
    };
    if let Some((head, requires)) = body
        .strip_suffix(", which is not installed")
        .and_then(|b| b.split_once(" requires "))
        && let Some(dist) = name_version(head)
        && !requires.contains(' ')
    {
        return Broken::Missing {
            dist,
            requires: requires.to_owned(),
        };
    }
    if let Some((head, rest)) = body.split_once(" has requirement ")
        && let Some((requirement, have)) = rest.rsplit_once(", but you have ")
        && let (Some(dist), Some(have)) = (name_version(head), name_version(have))
    {
        return Broken::Conflict {
            dist,
            requirement: requirement.to_owned(),
            have,
        };
    }
    other()
}

/// `name version`, both single words.
fn name_version(text: &str) -> Option<(String, String)> {
    let (name, version) = text.split_once(' ')?;
    (!name.is_empty() && !version.is_empty() && !version.contains(' '))
        .then(|| (name.to_owned(), version.to_owned()))
}

/// dpkg's search pattern for the metadata directory of the Python package `name` (as pip names it:
/// lower case, `-` for any of `-_.`) at `version`: `nova-26.2.2.egg-info`, `PasteDeploy-3.0.1.dist-info`.
pub fn metadata_pattern(name: &str, version: &str) -> String {
    let mut glob = String::from("/usr/lib/python3*/dist-packages/");
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphabetic() => {
                glob.push('[');
                glob.push(c.to_ascii_lowercase());
                glob.push(c.to_ascii_uppercase());
                glob.push(']');
            }
            '-' | '_' | '.' => glob.push_str("[-_.]"),
            c => glob.push(c),
        }
    }
    glob.push('-');
    glob.push_str(version);
    glob.push_str(".*-info");
    glob
}

/// The Debian package(s) of `dpkg -S`'s first line (`python3-nova: /usr/lib/...`), diversions aside.
pub fn parse_owner(text: &str) -> Option<String> {
    let line = text.lines().find(|l| !l.starts_with("diversion by "))?;
    let (packages, _) = line.split_once(": ")?;
    let packages = packages.trim();
    (!packages.is_empty()).then(|| packages.to_owned())
}

/// Says which Debian package installed the Python package `name` `version`, asking dpkg once per package
/// and at most [`MOST_LOOKUPS`] times.
struct Owners<'a> {
    sys: &'a dyn System,
    known: BTreeMap<(String, String), Option<String>>,
}

impl Owners<'_> {
    fn line(&mut self, (name, version): &(String, String)) -> Option<Evidence> {
        let key = (name.clone(), version.clone());
        if !self.known.contains_key(&key) {
            if self.known.len() >= MOST_LOOKUPS {
                return None;
            }
            let pattern = metadata_pattern(name, version);
            let owner = self
                .sys
                .run(&["dpkg", "-S", &pattern])
                .ok()
                .as_deref()
                .and_then(parse_owner);
            self.known.insert(key.clone(), owner);
        }
        let text = match self.known.get(&key).cloned().flatten() {
            Some(package) => {
                format!("{name} {version} is installed by the Debian package {package}")
            }
            None => format!(
                "{name} {version} is installed by no Debian package (a pip install into /usr/local?)"
            ),
        };
        Some(Evidence {
            source: "dpkg -S".to_owned(),
            line: None,
            text,
        })
    }
}

/// Whether OpenStack's Python packages are installed here (dpkg keeps a file list per installed package).
fn openstack_here(sys: &dyn System) -> bool {
    OPENSTACK
        .iter()
        .any(|p| sys.read(&format!("/var/lib/dpkg/info/{p}.list")).is_some())
}

/// `pip check` on this node: one observation per Python package with a broken requirement.
pub fn pip_check(sys: &dyn System) -> Result<Vec<Observation>, Skip> {
    if !openstack_here(sys) {
        return Err(Skip::NotHere(
            "no OpenStack Python package is installed here".to_owned(),
        ));
    }
    let ran = sys.run_status(PIP_CHECK).map_err(Skip::Failed)?;
    let said = |t: &str| ran.stderr.contains(t) || ran.stdout.contains(t);
    if said("No module named pip") {
        return Err(Skip::Failed(
            "pip is not installed here (Debian's python3-pip): `pip check` cannot run".to_owned(),
        ));
    }
    match ran.code {
        Some(0) => return Ok(Vec::new()),
        Some(1) => {}
        Some(127) => {
            return Err(Skip::Failed(
                "python3 is not installed here: `pip check` cannot run".to_owned(),
            ));
        }
        other => {
            let how = other.map_or("a signal".to_owned(), |c| format!("exit code {c}"));
            return Err(Skip::Failed(format!(
                "`{}` ended with {how}: {}",
                PIP_CHECK.join(" "),
                ran.stderr.trim()
            )));
        }
    }
    let mut lines = parse_pip_check(&ran.stdout);
    if lines.is_empty() {
        // Exit 1 with nothing on stdout: pip could not read some package's metadata; stderr says which.
        lines = ran
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| (l.to_owned(), Broken::Other(l.to_owned())))
            .collect();
    }
    let mut owners = Owners {
        sys,
        known: BTreeMap::new(),
    };
    let mut found: Vec<Observation> = Vec::new();
    for (text, broken) in lines {
        let subject = broken.subject();
        let at = match found.iter().position(|o| o.subject == subject) {
            Some(i) => i,
            None => {
                found.push(Observation {
                    subject,
                    unit: None,
                    evidence: Vec::new(),
                });
                found.len() - 1
            }
        };
        let evidence = &mut found[at].evidence;
        evidence.push(Evidence {
            source: "pip check".to_owned(),
            line: None,
            text,
        });
        let concerned = match &broken {
            Broken::Missing { dist, .. } => vec![dist],
            Broken::Conflict { dist, have, .. } => vec![dist, have],
            Broken::Other(_) => Vec::new(),
        };
        for package in concerned {
            if let Some(line) = owners.line(package)
                && !evidence.contains(&line)
            {
                evidence.push(line);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pip 23.0.1's wording (Debian 12's python3-pip, `pip/_internal/commands/check.py`).
    const BROKEN: &str = "nova 26.2.2 requires oslo-config, which is not installed.\n\
        nova 26.2.2 has requirement sqlalchemy>=1.4.13, but you have sqlalchemy 1.3.24.\n\
        keystone 22.0.2 has requirement webob>=1.7.1; python_version >= \"3\", but you have webob 1.2.\n\
        Error parsing requirements for foo: [Errno 2] No such file or directory\n";

    #[test]
    fn pips_lines_parse_into_missing_and_conflicting_requirements() {
        let lines = parse_pip_check(BROKEN);
        let parsed: Vec<&Broken> = lines.iter().map(|(_, b)| b).collect();
        let nova = ("nova".to_owned(), "26.2.2".to_owned());
        assert_eq!(
            parsed[0],
            &Broken::Missing {
                dist: nova.clone(),
                requires: "oslo-config".to_owned()
            }
        );
        assert_eq!(
            parsed[1],
            &Broken::Conflict {
                dist: nova,
                requirement: "sqlalchemy>=1.4.13".to_owned(),
                have: ("sqlalchemy".to_owned(), "1.3.24".to_owned())
            }
        );
        // A requirement with a marker keeps it whole.
        assert!(matches!(parsed[2], Broken::Conflict { requirement, .. }
            if requirement == "webob>=1.7.1; python_version >= \"3\""));
        assert!(matches!(parsed[3], Broken::Other(_)));
        assert!(parse_pip_check("No broken requirements found.\n").is_empty());
        assert!(parse_pip_check("").is_empty());
    }

    #[test]
    fn metadata_directories_are_found_whatever_their_spelling() {
        let p = metadata_pattern("oslo-config", "9.0.0");
        assert_eq!(
            p,
            "/usr/lib/python3*/dist-packages/[oO][sS][lL][oO][-_.][cC][oO][nN][fF][iI][gG]-9.0.0.*-info"
        );
        assert_eq!(
            parse_owner(
                "python3-oslo.config: /usr/lib/python3/dist-packages/oslo.config-9.0.0.egg-info\n"
            ),
            Some("python3-oslo.config".to_owned())
        );
        assert_eq!(
            parse_owner(
                "diversion by dash from: /bin/sh\npython3-six: /usr/lib/python3/dist-packages/six-1.16.0.egg-info\n"
            ),
            Some("python3-six".to_owned())
        );
        assert_eq!(parse_owner(""), None);
    }
}
