//! What the plan puts on command lines, over every example configuration: no secret (a command line is
//! world-readable in /proc/PID/cmdline while it runs) and no configuration value inside a shell script
//! (a value travels as an argv word of its own, never as shell text). Also: every step's check is one the
//! executor can evaluate for its action.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::collections::BTreeMap;
use std::path::Path;

use stackbox_hardware_profiles::Catalog;
use stackbox_installer::ClusterConfig;
use stackbox_installer::build_plan;
use stackbox_installer::plan::{Action, DoneCheck, Plan};

/// Every example configuration, after `edit`, and its plan.
fn example_plans(edit: impl Fn(&mut ClusterConfig)) -> Vec<(String, Plan)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Cluster configurations only: examples/answer-files/ holds answer files.
        if !path.is_file() {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut config =
            ClusterConfig::from_toml(&name, &std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut config);
        let plan = build_plan(&config, &Catalog::embedded().unwrap(), &BTreeMap::new()).unwrap();
        out.push((name, plan));
    }
    assert!(out.len() >= 2);
    out
}

/// Every argv of a plan, with the id of its step.
fn argvs(plan: &Plan) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for step in &plan.steps {
        match &step.action {
            Action::Commands { commands, .. } => {
                out.extend(commands.iter().map(|c| (step.id.clone(), c.clone())));
            }
            Action::Wait { argv, .. } => out.push((step.id.clone(), argv.clone())),
            _ => {}
        }
        if let DoneCheck::Command { argv, .. } = &step.done {
            out.push((step.id.clone(), argv.clone()));
        }
    }
    out
}

#[test]
fn no_command_line_holds_a_secret() {
    for (name, plan) in example_plans(|_| {}) {
        let all = argvs(&plan);
        assert!(all.len() > 20, "{name}");
        for (id, argv) in all {
            assert!(
                !argv.iter().any(|w| w.contains("@@secret:")),
                "{name}: {id} puts a secret on its command line: {argv:?}"
            );
        }
    }
}

#[test]
fn no_shell_script_holds_a_configuration_value() {
    let marker = "zmarker9";
    let plans = example_plans(|c| {
        c.region = format!("{marker}region");
        c.networks.data_nic = format!("{marker}n");
        c.name = format!("{marker}c");
    });
    for (name, plan) in plans {
        for (id, argv) in argvs(&plan) {
            for script in argv.windows(2).filter(|w| w[0] == "-c").map(|w| &w[1]) {
                assert!(
                    !script.contains(marker),
                    "{name}: {id} puts a configuration value into shell text: {script}"
                );
            }
        }
    }
}

#[test]
fn every_check_fits_its_action() {
    for (name, plan) in example_plans(|_| {}) {
        for step in &plan.steps {
            assert!(
                step.done.fits(&step.action),
                "{name}: {}: {:?} cannot be evaluated for {:?}",
                step.id,
                step.done,
                step.action
            );
        }
    }
}

#[test]
fn a_file_with_a_secret_is_not_world_readable() {
    for (name, plan) in example_plans(|_| {}) {
        for step in &plan.steps {
            let Action::Files { files } = &step.action else {
                continue;
            };
            for f in files.iter().filter(|f| f.content.contains("@@secret:")) {
                assert_eq!(
                    f.mode & 0o007,
                    0,
                    "{name}: {} writes {} with mode {:o}",
                    step.id,
                    f.path,
                    f.mode
                );
                if f.mode & 0o070 != 0 {
                    assert!(
                        f.owner.as_deref().is_some_and(|o| !o.ends_with(":root")),
                        "{name}: {} gives {}'s group read access but names no service group",
                        step.id,
                        f.path
                    );
                }
            }
        }
    }
}

#[test]
fn no_command_uses_a_shared_temporary_directory() {
    for (name, plan) in example_plans(|_| {}) {
        for (id, argv) in argvs(&plan) {
            assert!(
                !argv
                    .iter()
                    .any(|w| w.contains("/tmp/") || w.contains("/var/tmp/")),
                "{name}: {id} uses a fixed path in a world-writable directory: {argv:?}"
            );
        }
    }
}
