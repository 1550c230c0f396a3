//! The Disk step, on a system that runs live (from the ISO, a USB stick or PXE): which disks the appliance
//! may be installed to, and the install itself ([`stackbox_installer::to_disk`]) on a thread of its own,
//! with one progress that the page, the API and the zero-touch console follow. An installed system skips
//! the step.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use stackbox_image::layout;
use stackbox_installer::to_disk::{self, Installed, Phase, Target, Ui};
use stackbox_machine::probe::block::{self, Disk};
use stackbox_machine::system::Root;

use crate::error::FieldError;

/// Locks a mutex, taking the data of a poisoned one (a panicked thread leaves it consistent: each write is
/// one assignment).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The root's size when the image does not say (a little above today's).
const ROOT_BYTES_FALLBACK: u64 = 2 << 30;

/// One disk as the Disk page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DiskChoice {
    /// Kernel name (`sda`).
    pub name: String,
    /// Device node (`/dev/sda`).
    pub dev: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Vendor model.
    pub model: Option<String>,
    /// `NVMe`, `SSD` or `HDD`.
    pub kind: String,
    /// How it is attached (`nvme`, `sata`, `usb`, `virtio`, ...).
    pub transport: Option<String>,
    /// What it holds now: its partition table and each partition's file system and label.
    pub holds: Vec<String>,
    /// Why it is not offered; `None` when it may be chosen.
    pub refused: Option<String>,
}

/// The least disk size for this image, in bytes.
pub fn need_bytes(root: &Root) -> u64 {
    let tree = root
        .attr(&format!("/{}/{}", layout::BOOT_DIR, layout::ROOT_BYTES))
        .and_then(|s| s.parse().ok())
        .unwrap_or(ROOT_BYTES_FALLBACK);
    layout::min_disk_bytes(tree)
}

/// Every disk of the machine, each offered or refused with the reason.
pub fn choices(root: &Root) -> Vec<DiskChoice> {
    let need = need_bytes(root);
    block::probe(root)
        .into_iter()
        .map(|d| DiskChoice {
            dev: format!("/dev/{}", d.name),
            size_bytes: d.size_bytes,
            model: d.model.clone(),
            kind: d.kind().to_owned(),
            transport: d.transport.clone(),
            holds: holds(root, &d.name),
            refused: refusal(&d, need),
            name: d.name,
        })
        .collect()
}

/// Why a disk is not offered: the rules of `install-os` ([`to_disk::target::refusal`]), and removable
/// media besides (a stick is never a server's system disk).
fn refusal(d: &Disk, need: u64) -> Option<String> {
    if d.removable && !d.boot_medium {
        return Some(format!("{} is removable media", d.name));
    }
    to_disk::target::refusal(d, need).map(|r| r.to_string())
}

/// What a disk holds, from udev's database: the partition table, then each partition's file system and
/// label with its size; "nothing (blank)" when udev knows of nothing.
pub fn holds(root: &Root, name: &str) -> Vec<String> {
    let udev = |dev: &str| -> Vec<(String, String)> {
        let Some(numbers) = root.attr(&format!("/sys/class/block/{dev}/dev")) else {
            return Vec::new();
        };
        root.read(&format!("/run/udev/data/b{numbers}"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    let get = |props: &[(String, String)], key: &str| {
        props.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    let disk = udev(name);
    if let Some(table) = get(&disk, "ID_PART_TABLE_TYPE") {
        out.push(format!("{} partition table", table.to_uppercase()));
    }
    if let Some(fs) = get(&disk, "ID_FS_TYPE") {
        out.push(describe_fs(&fs, get(&disk, "ID_FS_LABEL")));
    }
    for part in root
        .list(&format!("/sys/block/{name}"))
        .into_iter()
        .filter(|p| p.starts_with(name))
    {
        let props = udev(&part);
        let size = root
            .attr(&format!("/sys/block/{name}/{part}/size"))
            .and_then(|s| s.parse::<u64>().ok())
            .map(|s| format!("{:.1} GB ", (s * 512) as f64 / 1e9))
            .unwrap_or_default();
        let fs = get(&props, "ID_FS_TYPE")
            .map(|fs| describe_fs(&fs, get(&props, "ID_FS_LABEL")))
            .unwrap_or_else(|| "no file system known".to_owned());
        out.push(format!("{part}: {size}{fs}"));
    }
    if out.is_empty() {
        out.push("nothing (blank)".to_owned());
    }
    out
}

fn describe_fs(fs: &str, label: Option<String>) -> String {
    match label {
        Some(l) => format!("{fs} \"{l}\""),
        None => fs.to_owned(),
    }
}

/// The install to disk as it goes, for the page, the API and the console.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiskProgress {
    /// The disk being written.
    pub target: String,
    /// The phase under way (`None` before the first).
    pub phase: Option<String>,
    /// Its number from 1, of [`PHASES`].
    pub step: usize,
    /// Bytes of the source verified, and the total.
    pub verified: (u64, u64),
    /// Whether it is over.
    pub done: bool,
    /// What was installed, once it was.
    pub installed: Option<Installed>,
    /// Why it failed (what to do included).
    pub error: Option<String>,
    /// Whether the system reboots into the installed disk when done.
    pub reboot: bool,
    /// Plan mode: the phases are walked and nothing is written.
    pub plan_only: bool,
}

/// How many phases an install to disk has.
pub const PHASES: usize = Phase::ALL.len();

/// The install to disk: at most one at a time.
#[derive(Debug, Default)]
pub struct DiskRun {
    progress: Arc<Mutex<Option<DiskProgress>>>,
}

/// What the thread reports through.
struct Reporter {
    progress: Arc<Mutex<Option<DiskProgress>>>,
    say: Box<dyn Fn(&str) + Send>,
}

impl Ui for Reporter {
    fn phase(&mut self, phase: Phase) {
        (self.say)(&format!(
            "install to disk: [{}/{PHASES}] {}",
            phase.number(),
            phase.describe()
        ));
        if let Some(p) = lock(&self.progress).as_mut() {
            p.phase = Some(phase.describe().to_owned());
            p.step = phase.number();
        }
    }

    fn verified(&mut self, done: u64, total: u64) {
        if let Some(p) = lock(&self.progress).as_mut() {
            p.verified = (done, total);
        }
    }

    fn confirm(&mut self, target: &Target) -> bool {
        (self.say)(&format!("install to disk: target {}", target.describe()));
        true
    }
}

impl DiskRun {
    /// The current or last install, if any.
    pub fn current(&self) -> Option<DiskProgress> {
        lock(&self.progress).clone()
    }

    /// Whether one is under way.
    pub fn running(&self) -> bool {
        lock(&self.progress).as_ref().is_some_and(|p| !p.done)
    }

    /// Starts installing to `opts.target` on a thread (the operator confirmed already); `say` hears each
    /// phase and the result as a line; with `reboot`, the system reboots into the disk once it is written.
    pub fn start(
        &self,
        opts: to_disk::Options,
        reboot: bool,
        say: Box<dyn Fn(&str) + Send>,
    ) -> Result<(), String> {
        self.start_with(opts, reboot, false, say)
    }

    /// [`DiskRun::start`], or in plan mode (`plan_only`) a walk of the phases that writes nothing.
    pub fn start_with(
        &self,
        opts: to_disk::Options,
        reboot: bool,
        plan_only: bool,
        say: Box<dyn Fn(&str) + Send>,
    ) -> Result<(), String> {
        {
            let mut slot = lock(&self.progress);
            if slot.as_ref().is_some_and(|p| !p.done) {
                return Err("an install to disk is already under way".to_owned());
            }
            *slot = Some(DiskProgress {
                target: opts.target.display().to_string(),
                reboot: reboot && !plan_only,
                plan_only,
                ..DiskProgress::default()
            });
        }
        let progress = self.progress.clone();
        std::thread::spawn(move || {
            let mut reporter = Reporter {
                progress: progress.clone(),
                say,
            };
            let result = if plan_only {
                Ok(walk(&opts, &mut reporter))
            } else {
                to_disk::install_os(&opts, &mut reporter)
            };
            let line = match &result {
                Ok(i) => format!(
                    "install to disk: done: {} (root UUID {})",
                    i.disk, i.root_uuid
                ),
                Err(e) => format!("install to disk: FAILED: {e}"),
            };
            (reporter.say)(&line);
            let ok = result.is_ok();
            if let Some(p) = lock(&progress).as_mut() {
                p.done = true;
                match result {
                    Ok(i) => p.installed = Some(i),
                    Err(e) => p.error = Some(e.to_string()),
                }
            }
            if ok && reboot && !plan_only {
                (reporter.say)("install to disk: rebooting into the installed system in 5 s");
                std::thread::sleep(std::time::Duration::from_secs(5));
                let _ = stackbox_common::cmd::Command::new("systemctl")
                    .arg("reboot")
                    .run();
            }
        });
        Ok(())
    }
}

/// Plan mode's install: every phase said in turn, nothing read or written.
fn walk(opts: &to_disk::Options, ui: &mut dyn Ui) -> Installed {
    for phase in Phase::ALL {
        ui.phase(phase);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Installed {
        disk: opts.target.display().to_string(),
        described: "plan mode: nothing was written".to_owned(),
        root_uuid: "plan-mode".to_owned(),
        source: "plan mode".to_owned(),
        sha256: String::new(),
        at: 0,
        reread: None,
    }
}

/// The Disk step's form: the disk, its name typed again, and whether to reboot when done.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DiskForm {
    /// The disk's kernel name (`sda`).
    #[serde(default)]
    pub target: String,
    /// The disk's name typed again: the operator's confirmation that it is erased.
    #[serde(default)]
    pub confirm: String,
    /// Reboot into the installed system when done (a checkbox: `on`, `true` or `yes`).
    #[serde(default)]
    pub reboot: String,
}

/// Judges the form against the disks offered now: the chosen disk's name and device, or the fields' errors.
pub fn judge_form(
    form: &DiskForm,
    offered: &[DiskChoice],
) -> Result<(String, String), Vec<FieldError>> {
    let Some(choice) = offered.iter().find(|c| c.name == form.target.trim()) else {
        return Err(vec![FieldError::new(
            "target",
            "choose one of the disks offered",
        )]);
    };
    if let Some(why) = &choice.refused {
        return Err(vec![FieldError::new("target", why.clone())]);
    }
    if form.confirm.trim() != choice.name {
        return Err(vec![FieldError::new(
            "confirm",
            format!(
                "type the disk's name, {}, to confirm that everything on it is erased",
                choice.name
            ),
        )]);
    }
    Ok((choice.name.clone(), choice.dev.clone()))
}

/// Whether a checkbox's value is on.
pub fn checked(value: &str) -> bool {
    matches!(value, "on" | "true" | "yes" | "1")
}

/// The options of an install to `target` from this live system, carrying the wizard's state.
pub fn options(root: &Path, state_dir: &Path, target: &str) -> to_disk::Options {
    to_disk::Options {
        root: Root::at(root),
        target: PathBuf::from(target),
        source: None,
        state: Some(state_dir.to_owned()),
        scratch: PathBuf::from(to_disk::write::SCRATCH),
        answers: None,
    }
}
