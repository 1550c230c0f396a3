//! The step builder: [`NodeSteps`] adds one node's steps with the shapes the plan uses everywhere
//! (packages, files, units that restart when their configuration changes, commands evidenced by a marker,
//! waiting for an endpoint), and the small helpers that build their arguments.

use super::step::{Action, DoneCheck, FileSpec, Step};

/// Where a step that has no other evidence leaves its marker.
pub const MARKERS: &str = "/var/lib/stackbox/markers";

/// The step that installs all of a node's packages at once ([`NodeSteps::packages_together`]).
pub const ALL_PACKAGES: &str = "packages";

/// Collects the steps of one node into the cluster's list, resolving short names to ids.
pub struct NodeSteps<'a> {
    node: &'a str,
    steps: &'a mut Vec<Step>,
}

impl<'a> NodeSteps<'a> {
    /// Adds `node`'s steps to `steps`.
    pub fn new(node: &'a str, steps: &'a mut Vec<Step>) -> NodeSteps<'a> {
        NodeSteps { node, steps }
    }
}

impl NodeSteps<'_> {
    /// The node's name.
    pub fn node(&self) -> &str {
        self.node
    }

    /// The id of this node's step `name`.
    pub fn id(&self, name: &str) -> String {
        format!("{}/{name}", self.node)
    }

    /// Whether this node already has the step `name` (a file two roles of one node both need).
    pub fn has(&self, name: &str) -> bool {
        let id = self.id(name);
        self.steps.iter().any(|s| s.id == id)
    }

    /// Adds a step; `after` names steps of this node by short name, or other nodes' by full id.
    pub fn add(
        &mut self,
        name: &str,
        title: &str,
        after: &[&str],
        action: Action,
        done: DoneCheck,
    ) -> &mut Step {
        let resolve = |d: &&str| {
            if d.contains('/') {
                (*d).to_owned()
            } else {
                format!("{}/{d}", self.node)
            }
        };
        let after = after.iter().map(resolve).collect();
        self.steps.push(Step {
            id: self.id(name),
            node: self.node.to_owned(),
            name: name.to_owned(),
            title: title.to_owned(),
            after,
            watch: Vec::new(),
            action,
            done,
            log: None,
            remedy: None,
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    /// Installs packages (after the package index is read); a failure points at apt's log.
    pub fn packages(&mut self, name: &str, title: &str, after: &[&str], packages: &[&str]) {
        let mut after = after.to_vec();
        after.push("apt.update");
        self.add(
            name,
            title,
            &after,
            Action::Packages { packages: packages.iter().map(|p| (*p).to_owned()).collect() },
            DoneCheck::PackagesInstalled,
        )
        .remedy = Some("Read /var/log/apt/term.log; `apt-cache policy PACKAGE` shows whether the offline pool (/srv/stackbox/pool) holds it.".into());
    }

    /// Installs every package this node's steps name so far in one apt transaction, before any of their
    /// own package steps: one dependency resolution and one run of dpkg's triggers (the systemd reload,
    /// the shared libraries' cache) instead of one per service. The services' package steps stay: each
    /// then finds its packages installed, and installs them again should one be removed later. `after`
    /// names what every package needs first (the package index always).
    pub fn packages_together(&mut self, after: &[&str]) {
        let id = self.id(ALL_PACKAGES);
        let mut all: Vec<String> = Vec::new();
        for step in self.steps.iter_mut().filter(|s| s.node == self.node) {
            if let Action::Packages { packages } = &step.action {
                for p in packages {
                    if !all.contains(p) {
                        all.push(p.clone());
                    }
                }
                step.after.push(id.clone());
            }
        }
        if all.is_empty() {
            return;
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.packages(
            ALL_PACKAGES,
            "install the packages of every role of this node, in one transaction",
            after,
            &all,
        );
    }

    /// Writes files; done when each has exactly its content and mode.
    pub fn files(&mut self, name: &str, title: &str, after: &[&str], files: Vec<FileSpec>) {
        self.add(
            name,
            title,
            after,
            Action::Files { files },
            DoneCheck::FilesMatch,
        );
    }

    /// Starts units; they restart when a step in `watch` (short names) changed.
    pub fn units(
        &mut self,
        name: &str,
        title: &str,
        after: &[&str],
        watch: &[&str],
        units: &[&str],
        log: &str,
    ) {
        let watch: Vec<String> = watch.iter().map(|w| self.id(w)).collect();
        let step = self.add(
            name,
            title,
            after,
            Action::Units {
                units: units.iter().map(|u| (*u).to_owned()).collect(),
            },
            DoneCheck::UnitsActive,
        );
        step.watch = watch;
        step.log = Some(log.to_owned());
        step.remedy = Some(format!("Read {log} and `journalctl -u {}`.", units[0]));
    }

    /// Runs commands whose success leaves only a marker as evidence.
    pub fn once(
        &mut self,
        name: &str,
        title: &str,
        after: &[&str],
        commands: Vec<Vec<String>>,
        log: &str,
    ) -> &mut Step {
        let marker = format!("{MARKERS}/{}", self.id(name).replace('/', "_"));
        let step = self.add(
            name,
            title,
            after,
            Action::Commands {
                commands,
                env: Vec::new(),
            },
            DoneCheck::Path { path: marker },
        );
        step.log = Some(log.to_owned());
        step
    }

    /// Waits until a service answers through its public endpoint.
    pub fn ready(&mut self, name: &str, title: &str, after: &[&str], url: &str, log: &str) {
        let check = http_ready(url);
        // When haproxy and keepalived restart (the cluster grew), the API address is gone for a few
        // seconds until keepalived holds it again: the wait is done again, so that nothing after it
        // starts a service that calls the API address while it is away.
        let watch: Vec<String> = after
            .iter()
            .filter(|a| **a == "haproxy.start")
            .map(|a| self.id(a))
            .collect();
        self.add(
            name,
            title,
            after,
            Action::Wait {
                argv: check.clone(),
                timeout_secs: 120,
            },
            DoneCheck::Command {
                argv: check,
                contains: None,
            },
        );
        if let Some(step) = self.steps.last_mut() {
            step.log = Some(log.to_owned());
            step.watch = watch;
        }
    }
}

/// Succeeds when `url` answers through haproxy with a status below 500 (a version document, a redirect or
/// an authentication demand all mean the service is up), verifying the endpoint certificate against the
/// cluster CA.
pub fn http_ready(url: &str) -> Vec<String> {
    argv(&[
        "python3",
        "-c",
        "import ssl, sys, urllib.error, urllib.request\n\
         ctx = ssl.create_default_context(cafile='/etc/stackbox/ca.pem')\n\
         try:\n    urllib.request.urlopen(sys.argv[1], context=ctx, timeout=5)\n\
         except urllib.error.HTTPError as e:\n    sys.exit(0 if e.code < 500 else 1)",
        url,
    ])
}

/// A file to write.
pub fn file(path: &str, mode: u32, owner: Option<&str>, content: String) -> FileSpec {
    FileSpec {
        path: path.to_owned(),
        mode,
        owner: owner.map(str::to_owned),
        content,
    }
}

/// An argv from words.
pub fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `su -s /bin/sh -c CMD USER`: the service's management commands run as the service's user.
pub fn as_user(user: &str, cmd: &str) -> Vec<String> {
    argv(&["su", "-s", "/bin/sh", "-c", cmd, user])
}
