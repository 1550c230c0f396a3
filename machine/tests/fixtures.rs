//! The probes over every fixture machine in `tests/fixtures/machines`: each one probes, and each shows the
//! facts it is there to exercise (see the README beside the machines). How firstboot judges these facts is
//! firstboot's golden reports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests state their expectations by panicking.

use std::path::{Path, PathBuf};

use stackbox_machine::probe::{self, Facts, platform::Firmware};
use stackbox_machine::system::Root;

fn machines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/machines")
}

fn facts(machine: &str) -> Facts {
    let root = Root::at(machines_dir().join(machine).join("root"));
    assert!(!root.is_live());
    probe::probe(&root).unwrap_or_else(|e| panic!("{machine}: {e}"))
}

#[test]
fn every_machine_probes() {
    let mut machines: Vec<String> = std::fs::read_dir(machines_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    machines.sort();
    assert_eq!(machines.len(), 5, "{machines:?}");
    for machine in &machines {
        let f = facts(machine);
        assert!(f.cpu.online > 0, "{machine}: {f:#?}");
        assert!(f.memory_bytes > 0, "{machine}: {f:#?}");
        assert!(!f.nics.is_empty(), "{machine}: {f:#?}");
    }
}

#[test]
fn intel_server_has_four_physical_nics_and_an_nvme_system_disk() {
    let f = facts("intel-server-4nic");
    assert_eq!(f.cpu.virtualization.as_deref(), Some("vmx"));
    assert_eq!(f.nics.iter().filter(|n| n.physical).count(), 4);
    assert!(f.nics.iter().any(|n| n.name == "br-mgmt" && !n.physical));
    assert_eq!(f.platform.firmware, Firmware::Uefi);
    let nvme = f.disks.iter().find(|d| d.name == "nvme0n1").unwrap();
    assert!(nvme.system_disk && !nvme.rotational);
}

#[test]
fn vm_without_virtualization_is_a_qemu_guest_without_kvm() {
    let f = facts("vm-no-virt");
    assert_eq!(f.cpu.virtualization, None);
    assert_eq!(f.platform.vm.as_deref(), Some("qemu"));
    assert_eq!(f.platform.firmware, Firmware::Bios);
}

#[test]
fn captured_container_is_recognised() {
    let f = facts("container-on-ci-vm");
    assert_eq!(f.platform.container.as_deref(), Some("docker"));
    assert_eq!(f.nics.iter().filter(|n| n.is_uplink()).count(), 1);
}

#[test]
fn a_root_that_is_not_a_machine_is_an_error() {
    let err = probe::probe(&Root::at(machines_dir().join("no-such-machine"))).unwrap_err();
    assert!(err.to_string().contains("proc/cpuinfo"), "{err}");
}
