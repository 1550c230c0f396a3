//! The plan's vocabulary: what a step does ([`Action`]), how it knows it is done ([`DoneCheck`]), the
//! files it writes ([`FileSpec`]) and the step itself ([`Step`]). Flavor-neutral: the executor carries out
//! exactly these primitive actions (packages, files, units, SQL, commands, wait) and checks.

use serde::Serialize;

/// What the plan needs to know of a node's hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct NodeFacts {
    /// /dev/kvm is usable: nova-compute runs `virt_type = kvm`, else `qemu` (emulation).
    pub kvm: bool,
    /// The node is a system container (libvirt cannot manage cgroup controllers there).
    pub in_container: bool,
    /// CPUs online (0: not known); the API services' worker counts follow it.
    pub cpus: u32,
}

/// A file a step writes; `content` may hold `@@secret:NAME@@` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSpec {
    /// Absolute path.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group (`user:group`) when not root.
    pub owner: Option<String>,
    /// The contents.
    pub content: String,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// Installs packages from the offline pool with apt, non-interactively (debconf preseeded).
    Packages {
        /// Package names.
        packages: Vec<String>,
    },
    /// Writes files (atomically, with their modes).
    Files {
        /// The files.
        files: Vec<FileSpec>,
    },
    /// Enables and starts systemd units, and restarts them when a watched step changed.
    Units {
        /// Unit names.
        units: Vec<String>,
    },
    /// Runs SQL statements on the storage-metadata leader.
    Sql {
        /// Statements; may hold secret placeholders.
        statements: Vec<String>,
        /// Connect as root over the local socket (on the database node itself) instead of the
        /// `stackbox` administrative user over TCP.
        local_root: bool,
    },
    /// Runs commands, in order, through the command runner. Work that is more than a command line (the
    /// endpoint certificate, the smoke test) is a `stackboxd` subcommand run this way.
    Commands {
        /// Each command's argv. Never a secret placeholder: a command line is world-readable in
        /// /proc/PID/cmdline; [`crate::plan::Plan`] refuses one, and secrets travel in `env` instead.
        commands: Vec<Vec<String>>,
        /// Extra environment (credentials; may hold secret placeholders).
        env: Vec<(String, String)>,
    },
    /// Waits until a command succeeds (a service answering through its endpoint), polling once a
    /// second up to a deadline.
    Wait {
        /// The command that succeeds once the service is ready.
        argv: Vec<String>,
        /// How long to wait.
        timeout_secs: u64,
    },
}

/// How a step tells that it is already done, before it acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DoneCheck {
    /// Every package is installed (dpkg status).
    PackagesInstalled,
    /// Every file exists with exactly the content (secrets filled in) and mode.
    FilesMatch,
    /// Every unit of the step's `Units` action is active.
    UnitsActive,
    /// One unit is active (for a step that starts it by other means, such as `galera_new_cluster`).
    UnitActive {
        /// The unit.
        unit: String,
    },
    /// The query returns at least one row.
    SqlRows {
        /// The query.
        query: String,
    },
    /// The command succeeds and, when given, its output contains the text.
    Command {
        /// argv.
        argv: Vec<String>,
        /// Text the output must contain.
        contains: Option<String>,
    },
    /// The command succeeds, asked on every run: a step the journal has done with these inputs is asked
    /// again (and redone when it fails), because what the command judges goes stale by itself (a
    /// certificate near its end, one signed by a CA that was rotated since).
    Current {
        /// argv.
        argv: Vec<String>,
    },
    /// The path exists (a file the action produces, or the step's marker under
    /// /var/lib/stackbox/markers, written when the action succeeded).
    Path {
        /// The path.
        path: String,
    },
    /// Never done before it runs: the step proves the steps before it (the smoke test), so its input
    /// hash folds in every earlier step's and it acts again whenever anything before it changed.
    Never,
}

impl Action {
    /// Every word the action puts on a command line.
    pub fn argv_words(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match self {
            Action::Commands { commands, .. } => Box::new(commands.iter().flatten()),
            Action::Wait { argv, .. } => Box::new(argv.iter()),
            _ => Box::new(std::iter::empty()),
        }
    }
}

impl DoneCheck {
    /// Every word the check puts on a command line.
    pub fn argv_words(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match self {
            DoneCheck::Command { argv, .. } | DoneCheck::Current { argv } => Box::new(argv.iter()),
            _ => Box::new(std::iter::empty()),
        }
    }

    /// Whether the executor can evaluate this check for `action`: the checks that read the action's own
    /// list (packages, files, units) need that kind of action; the others stand alone. [`crate::plan::Plan`]
    /// refuses a step whose check does not fit, so such a pair never reaches a machine.
    pub fn fits(&self, action: &Action) -> bool {
        match self {
            DoneCheck::PackagesInstalled => matches!(action, Action::Packages { .. }),
            DoneCheck::FilesMatch => matches!(action, Action::Files { .. }),
            DoneCheck::UnitsActive => matches!(action, Action::Units { .. }),
            DoneCheck::UnitActive { .. }
            | DoneCheck::SqlRows { .. }
            | DoneCheck::Command { .. }
            | DoneCheck::Current { .. }
            | DoneCheck::Path { .. }
            | DoneCheck::Never => true,
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `node/name`: unique in the plan.
    pub id: String,
    /// The node that executes it.
    pub node: String,
    /// Short name (`keystone.db-sync`).
    pub name: String,
    /// What it does, for people.
    pub title: String,
    /// Steps that must be done first (ids).
    pub after: Vec<String>,
    /// Steps whose changes this step must react to (a unit restarts when its configuration changed).
    pub watch: Vec<String>,
    /// What it does.
    pub action: Action,
    /// How it knows it is done.
    pub done: DoneCheck,
    /// The log to read when it fails.
    pub log: Option<String>,
    /// What to try when it fails.
    pub remedy: Option<String>,
}

/// The command a flavor's smoke step runs: `stackboxd smoke` boots a test VM with the admin credentials
/// in its environment and prints its report. A plan-only machine answers it with a report of its own.
pub const SMOKE_COMMAND: [&str; 2] = ["stackboxd", "smoke"];
